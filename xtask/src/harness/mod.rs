//! What the harnesses (`e2e`, `chaos`, `bench-controller`, `fuzz`, `images`) share, below them
//! all: the workspace's root, debug binaries built on demand, `--scenario` selection, the
//! controller as a measured process ([`process`]), seeded random inputs ([`inputs`]), waiting for a condition
//! ([`wait_until`]), the
//! stand-in kubelet's status patches ([`kubelet`]) and the release applied as generated
//! ([`release`]). A harness uses these and the `throwaway-cluster` crate, never a sibling
//! harness's module nor `main.rs`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::bail;
use throwaway_cluster::interrupted;

pub(crate) mod inputs;
pub(crate) mod kubelet;
pub(crate) mod process;
pub(crate) mod release;

/// The workspace's root directory: the parent of this crate's.
pub(crate) fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// Checks a harness's `--scenario` names against the `known` ones; an empty list selects all.
pub(crate) fn select_scenarios(
    known: &[&'static str],
    names: &[String],
) -> anyhow::Result<Vec<&'static str>> {
    if names.is_empty() {
        return Ok(known.to_vec());
    }
    names
        .iter()
        .map(|name| {
            known
                .iter()
                .find(|s| **s == name.as_str())
                .copied()
                .ok_or_else(|| {
                    anyhow::anyhow!("unknown scenario {name}; known: {}", known.join(", "))
                })
        })
        .collect()
}

/// `cargo` (the one running xtask, or the one on `PATH`) in the workspace's root.
pub(crate) fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(workspace_root());
    command
}

/// Builds the binary `bin` of the workspace's `package` with the debug profile and returns its
/// path under `target/debug`.
pub(crate) fn build_debug_binary(package: &str, bin: &str) -> anyhow::Result<PathBuf> {
    build_binary(package, bin, &[], "debug")
}

/// Builds the binary `bin` of the workspace's `package` with the release profile and returns
/// its path under `target/release`.
pub(crate) fn build_release_binary(package: &str, bin: &str) -> anyhow::Result<PathBuf> {
    build_binary(package, bin, &["--release"], "release")
}

/// `cargo build -q -p package --bin bin` with `profile_args`; `target/<dir>/<bin>`.
fn build_binary(
    package: &str,
    bin: &str,
    profile_args: &[&str],
    dir: &str,
) -> anyhow::Result<PathBuf> {
    let status = cargo()
        .args(["build", "-q", "-p", package, "--bin", bin])
        .args(profile_args)
        .status()?;
    if !status.success() {
        anyhow::bail!("building {bin} of {package} ({dir}) failed");
    }
    Ok(workspace_root().join("target").join(dir).join(bin))
}

/// Polls every 250 ms until `probe` returns something.
pub(crate) async fn wait_until<T, F, Fut>(
    what: &str,
    timeout: Duration,
    mut probe: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(found) = probe().await {
            return Ok(found);
        }
        if interrupted() {
            bail!("interrupted while waiting for {what}");
        }
        if Instant::now() > deadline {
            bail!("{what}: not after {}s", timeout.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
