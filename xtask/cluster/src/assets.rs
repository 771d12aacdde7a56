//! Where the binaries come from: the directory `KUBEBUILDER_ASSETS` names (the envtest
//! convention), and the one line a harness prints, to skip, when some are missing.

use std::path::{Path, PathBuf};

/// The one line a harness prints when `KUBEBUILDER_ASSETS` lacks some of `required`, or `None`
/// when all are there: `skipping <command>: …` naming every missing binary.
///
/// ```
/// let line = throwaway_cluster::missing_line("chaos", &["etcd"], None, |_| true);
/// assert_eq!(
///     line.as_deref(),
///     Some("skipping chaos: KUBEBUILDER_ASSETS is not set (it must name a directory holding etcd)")
/// );
/// ```
pub fn missing_line(
    command: &str,
    required: &[&str],
    assets: Option<&Path>,
    present: impl Fn(&Path) -> bool,
) -> Option<String> {
    let wanted = required.join(", ");
    let Some(assets) = assets else {
        return Some(format!(
            "skipping {command}: KUBEBUILDER_ASSETS is not set (it must name a directory holding {wanted})"
        ));
    };
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|b| !present(&assets.join(b)))
        .collect();
    if missing.is_empty() {
        return None;
    }
    Some(format!(
        "skipping {command}: KUBEBUILDER_ASSETS={} has no {}",
        assets.display(),
        missing.join(", ")
    ))
}

/// `KUBEBUILDER_ASSETS` when it holds every binary in `required`; otherwise prints the one
/// line of [`missing_line`] and returns `None`, for the caller to skip (exit 0, or return
/// from the test).
pub fn assets_or_skip(command: &str, required: &[&str]) -> Option<PathBuf> {
    let assets = std::env::var_os("KUBEBUILDER_ASSETS").map(PathBuf::from);
    match missing_line(command, required, assets.as_deref(), |p| p.is_file()) {
        Some(line) => {
            println!("{line}");
            None
        }
        None => assets,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const E2E: &[&str] = &[
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kubelet",
    ];

    #[test]
    fn unset_assets_name_every_binary() {
        assert_eq!(
            missing_line("e2e", E2E, None, |_| true).unwrap(),
            "skipping e2e: KUBEBUILDER_ASSETS is not set (it must name a directory holding etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet)"
        );
    }

    #[test]
    fn missing_binaries_in_one_line() {
        let line = missing_line(
            "chaos",
            &["etcd", "kube-apiserver"],
            Some(Path::new("/k8s")),
            |p| !p.ends_with("kube-apiserver"),
        );
        assert_eq!(
            line.unwrap(),
            "skipping chaos: KUBEBUILDER_ASSETS=/k8s has no kube-apiserver"
        );
    }

    #[test]
    fn nothing_missing_means_no_line() {
        assert_eq!(
            missing_line("e2e", E2E, Some(Path::new("/k8s")), |_| true),
            None
        );
    }
}
