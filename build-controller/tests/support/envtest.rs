//! A throw-away control plane (etcd and kube-apiserver, no scheduler, no kubelet), following the
//! envtest convention: the binaries come from the directory named by `KUBEBUILDER_ASSETS`.
//!
//! Started by `tests/envtest/start.sh` (a copy of the team's script: its own CA and serving
//! certificate, token auth, RBAC, `--disable-admission-plugins ServiceAccount`,
//! `--allow-privileged=true`), stopped by `tests/envtest/stop.sh` when dropped. Needs `bash`,
//! `openssl`, `curl` and `python3` besides the binaries.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};

/// A running etcd and kube-apiserver; stopped (and its state deleted) on drop.
pub(crate) struct ControlPlane {
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("envtest")
        .join(name)
}

impl ControlPlane {
    /// Starts a control plane, or returns `None` after printing one line saying what is
    /// missing when `KUBEBUILDER_ASSETS` is unset. Panics when it is set but the control plane
    /// cannot start: the caller asked for these tests.
    pub(crate) fn start() -> Option<ControlPlane> {
        let Some(assets) = std::env::var_os("KUBEBUILDER_ASSETS") else {
            eprintln!(
                "skipping control-plane tests: KUBEBUILDER_ASSETS is not set (it must name a directory holding kube-apiserver and etcd)"
            );
            return None;
        };
        let assets = PathBuf::from(assets);
        for binary in ["kube-apiserver", "etcd"] {
            assert!(
                assets.join(binary).is_file(),
                "KUBEBUILDER_ASSETS={} has no {binary}",
                assets.display()
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("build-controller-envtest-")
            .tempdir()
            .expect("a temporary directory");
        let output = Command::new("bash")
            .arg(script("start.sh"))
            .arg(dir.path())
            .env("KUBEBUILDER_ASSETS", &assets)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .expect("bash runs tests/envtest/start.sh");
        assert!(
            output.status.success(),
            "tests/envtest/start.sh failed ({}); its log is above",
            output.status
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        let kubeconfig = PathBuf::from(
            stdout
                .lines()
                .last()
                .expect("start.sh prints the kubeconfig path last")
                .trim(),
        );
        Some(ControlPlane { dir, kubeconfig })
    }

    /// A client with the admin token.
    pub(crate) async fn client(&self) -> Client {
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig).expect("the kubeconfig loads");
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .expect("the kubeconfig is valid");
        Client::try_from(config).expect("a client")
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        let stopped = Command::new("bash")
            .arg(script("stop.sh"))
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .status();
        if let Err(error) = stopped {
            eprintln!("stopping the control plane: {error}");
        }
    }
}
