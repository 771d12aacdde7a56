//! The termination message of the in-pod programs (`creds-init`, `git-init`): one line saying
//! why they failed, read back by the kubelet into the container's status, where the controller
//! quotes it in the Build's failure message; and, when `git-init` succeeds, the commit it
//! checked out (`build_pod`'s results format), which the Build's status records.

use std::path::PathBuf;

/// Where the kubelet reads a container's termination message: Kubernetes' default
/// `terminationMessagePath`.
pub const TERMINATION_LOG: &str = "/dev/termination-log";

/// Overrides [`TERMINATION_LOG`] (for tests, or a container with another
/// `terminationMessagePath`).
pub const TERMINATION_LOG_ENV: &str = "BUILD_TERMINATION_LOG";

/// Writes `message` as the container's termination message, if there is a file to write it to:
/// the kubelet creates [`TERMINATION_LOG`] in every container, and outside a pod nothing is
/// written. Best effort: a program that is failing anyway does not fail again over this, and
/// one that succeeded only goes without its report.
/// `message` must already be free of secrets (every error of these programs is).
pub fn write_termination_message(message: &str) {
    let path = std::env::var_os(TERMINATION_LOG_ENV)
        .filter(|path| !path.is_empty())
        .map_or_else(|| PathBuf::from(TERMINATION_LOG), PathBuf::from);
    if path.is_file() || path.exists() {
        // The kubelet keeps at most 4096 bytes of it.
        let _ignored = std::fs::write(&path, message);
    }
}
