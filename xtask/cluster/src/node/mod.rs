//! A throw-away one-node cluster on this machine, and the guard that removes it.
//!
//! Everything runs in the current network namespace, which the caller makes the run's own
//! ([`crate::Netns`]): containerd (own socket, root and state under the run's directory,
//! cgroupfs), a CNI bridge whose address is the pods' gateway, no masquerading (pods reach each
//! other and the namespace, nothing beyond), the control plane ([`crate::ControlPlane`]: etcd,
//! kube-apiserver listening on the namespace's addresses and advertising the bridge's,
//! kube-controller-manager), kube-proxy (so the `kubernetes` Service leads pods to the API
//! server), a kubelet with a client certificate in `system:nodes`, and kube-scheduler. The
//! stages are in `start.rs`, the configuration files in `config.rs`.
//!
//! [`Cluster`] is the cleanup guard: dropping it stops every process it started (by its own
//! handles and PID files, never by name), unmounts what the kubelet and the CNI plugins mounted,
//! deletes the bridge, the cgroups and the hard-coded kubelet and CNI paths that did not exist
//! before, and restores the sysctls the kubelet changes (`host.rs`). It runs on success, on
//! error, on panic and after SIGINT/SIGTERM (caught by [`crate::watch_signals`]).

mod config;
mod host;
mod start;

use std::fs;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, ListParams};
use kube::{Client, ResourceExt};

use crate::api::client_from;
use crate::control_plane::ControlPlane;
use crate::process::{command_line, pids, terminate};
use host::HostState;

/// The bridge the CNI plugin creates; deleted on cleanup.
pub const BRIDGE: &str = "xte2e0";
/// The pods' subnet on that bridge.
pub const POD_SUBNET: &str = "10.244.77.0/24";
/// The bridge's own address, the pods' gateway: the address the API server advertises, so
/// that the `kubernetes` Service leads there. It exists only in the run's network namespace.
pub const GATEWAY: &str = "10.244.77.1";
/// The `kubernetes` Service's cluster IP (the first of start.sh's `--service-cluster-ip-range`).
pub const KUBERNETES_SERVICE_IP: &str = "10.0.0.1";
/// The node's name: the host name, which resolves to 127.0.0.1 here, so that the API server
/// reaches the kubelet (logs, exec) on loopback.
pub const NODE: &str = "vm";

/// A node component [`Cluster::restart`] restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodePart {
    /// The kubelet.
    Kubelet,
    /// The container runtime.
    Containerd,
}

impl NodePart {
    /// The name of its process (and its log).
    pub fn process(self) -> &'static str {
        match self {
            NodePart::Kubelet => "kubelet",
            NodePart::Containerd => "containerd",
        }
    }
}

/// A process this run started.
struct Started {
    name: &'static str,
    child: Child,
}

/// The running cluster; dropping it removes everything it set up.
pub struct Cluster {
    /// The run's state directory.
    pub dir: PathBuf,
    /// The admin kubeconfig.
    pub kubeconfig: PathBuf,
    /// `https://127.0.0.1:PORT`.
    pub api_url: String,
    /// containerd's socket.
    pub socket: PathBuf,
    /// The CA certificate of the API server.
    pub ca: PathBuf,
    started: Vec<Started>,
    control_plane: Option<ControlPlane>,
    before: HostState,
    keep_state: bool,
    assets: PathBuf,
}

/// What [`Cluster::start`] needs.
pub struct ClusterInputs<'a> {
    /// `KUBEBUILDER_ASSETS`.
    pub assets: &'a Path,
    /// The `docker save` archives to import into containerd.
    pub images: &'a [PathBuf],
    /// The sandbox ("pause") image containerd is configured with: one of `images`.
    pub pause_image: &'a str,
    /// The run's state directory (created).
    pub dir: PathBuf,
    /// Keep the state directory (logs) after cleanup.
    pub keep_state: bool,
}

/// Whether the node is Ready and has no taints.
pub fn node_ready(node: &Node) -> bool {
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    let untainted = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .is_none_or(|t| t.is_empty());
    ready && untainted
}

/// Creates (truncating) `logs/<name>.log` under `dir`.
fn log_file(dir: &Path, name: &str) -> anyhow::Result<fs::File> {
    fs::File::create(dir.join("logs").join(format!("{name}.log")))
        .with_context(|| format!("creating the log of {name}"))
}

impl Cluster {
    /// A client with the admin token.
    pub async fn admin_client(&self) -> anyhow::Result<Client> {
        client_from(&self.kubeconfig).await
    }

    /// `KUBEBUILDER_ASSETS`.
    pub fn assets(&self) -> &Path {
        &self.assets
    }

    /// Opens (appending) `logs/<name>.log` for a process or a scenario's own output.
    pub fn log(&self, name: &str) -> anyhow::Result<fs::File> {
        Ok(fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("logs").join(format!("{name}.log")))?)
    }

    fn spawn(&mut self, name: &'static str, command: &mut Command) -> anyhow::Result<()> {
        let log = log_file(&self.dir, name)?;
        self.spawn_logging(name, command, log)
    }

    /// Starts a process the guard stops, appending to `logs/<name>.log` (restarts keep the
    /// earlier output).
    pub fn spawn_appending(
        &mut self,
        name: &'static str,
        command: &mut Command,
    ) -> anyhow::Result<()> {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("logs").join(format!("{name}.log")))?;
        self.spawn_logging(name, command, log)
    }

    /// Kills a process this run started with SIGKILL, as a crash would.
    pub fn kill_process(&mut self, name: &str) -> Option<u32> {
        let index = self.started.iter().position(|s| s.name == name)?;
        let mut started = self.started.remove(index);
        let pid = started.child.id();
        let _ = started.child.kill();
        let _ = started.child.wait();
        Some(pid)
    }

    fn spawn_logging(
        &mut self,
        name: &'static str,
        command: &mut Command,
        log: fs::File,
    ) -> anyhow::Result<()> {
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            // its own process group: a Ctrl-C on the terminal reaches only xtask, which then
            // tears the cluster down in order
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        self.started.push(Started { name, child });
        Ok(())
    }

    fn alive(&mut self, name: &str) -> bool {
        self.started
            .iter_mut()
            .find(|s| s.name == name)
            .is_some_and(|s| matches!(s.child.try_wait(), Ok(None)))
    }

    /// Deletes every pod and waits (at most 60 s) for the kubelet to tear them down, so that
    /// sandboxes, network namespaces and volume mounts go the ordinary way before the guard
    /// stops the kubelet.
    pub async fn drain(&self) {
        let Ok(client) = self.admin_client().await else {
            return;
        };
        let pods: Api<Pod> = Api::all(client.clone());
        let Ok(list) = pods.list(&ListParams::default()).await else {
            return;
        };
        for pod in list {
            let ns = pod.namespace().unwrap_or_default();
            let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
            let _ = api
                .delete(
                    &pod.name_any(),
                    &DeleteParams {
                        grace_period_seconds: Some(0),
                        ..Default::default()
                    },
                )
                .await;
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let no_tasks = task_ids(&self.socket).is_some_and(|ids| ids.is_empty());
            if no_tasks && self.before.new_netns().is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        eprintln!("[cluster] pods not torn down after 60s; stopping them the hard way");
    }

    /// Stops a process this run started (TERM, then KILL after 10 s).
    pub fn stop_process(&mut self, name: &str) {
        if let Some(index) = self.started.iter().position(|s| s.name == name) {
            let mut started = self.started.remove(index);
            terminate(&mut started.child);
        }
    }

    /// Stops and removes everything [`Cluster::start`] set up, in order, and says in one line
    /// what it did.
    fn teardown(&mut self) {
        let t0 = Instant::now();
        let mut steps = Vec::new();
        for name in ["kube-scheduler", "kubelet"] {
            self.stop_process(name);
        }
        steps.extend(kill_tasks(&self.socket));
        self.before.kill_new_cgroups();
        if let Some(mut control_plane) = self.control_plane.take() {
            control_plane.stop();
            steps.push("stopped the control plane".to_owned());
        }
        steps.extend(self.stop_every_process());
        steps.extend(kill_leftover_shims(&self.socket));
        steps.extend(self.before.unmount_new(&self.dir));
        self.before.remove_new_netns();
        steps.extend(delete_bridge());
        steps.extend(self.before.remove_new_cgroups());
        steps.extend(self.before.remove_new_paths());
        steps.extend(self.before.restore_sysctls());
        steps.push(self.remove_state());
        eprintln!(
            "[cleanup] {:.1}s: {}",
            t0.elapsed().as_secs_f64(),
            steps.join("; ")
        );
    }

    /// Stops what still runs of the processes this run started, the last started first.
    fn stop_every_process(&mut self) -> Vec<String> {
        let names: Vec<&'static str> = self.started.iter().rev().map(|s| s.name).collect();
        names
            .into_iter()
            .map(|name| {
                self.stop_process(name);
                format!("stopped {name}")
            })
            .collect()
    }

    /// Removes the state directory, unless it is to be kept.
    fn remove_state(&self) -> String {
        if self.keep_state {
            format!("kept {}", self.dir.display())
        } else if fs::remove_dir_all(&self.dir).is_ok() {
            format!("removed {}", self.dir.display())
        } else {
            format!("could not remove {}", self.dir.display())
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// `ctr` on this run's containerd.
pub fn ctr(socket: &Path) -> Command {
    let mut command = Command::new("ctr");
    command.arg("-a").arg(socket).stdin(Stdio::null());
    command
}

/// The ids of the tasks in containerd's `k8s.io` namespace; `None` when `ctr` fails.
fn task_ids(socket: &Path) -> Option<Vec<String>> {
    let output = ctr(socket)
        .args(["-n", "k8s.io", "tasks", "ls", "-q"])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let text = String::from_utf8_lossy(&output.stdout);
    Some(text.split_whitespace().map(str::to_owned).collect())
}

/// Kills and deletes what still runs in containerd (the shims exit with their tasks).
fn kill_tasks(socket: &Path) -> Option<String> {
    let answers = ctr(socket)
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    let ids = task_ids(socket).filter(|_| answers).unwrap_or_default();
    if ids.is_empty() {
        return None;
    }
    for id in &ids {
        let _ = ctr(socket)
            .args(["-n", "k8s.io", "tasks", "kill", "-s", "SIGKILL", id])
            .output();
    }
    std::thread::sleep(Duration::from_secs(1));
    for id in &ids {
        let _ = ctr(socket)
            .args(["-n", "k8s.io", "tasks", "rm", "-f", id])
            .output();
    }
    Some(format!("killed {} containers", ids.len()))
}

/// SIGKILLs the shims left behind: only ours, named by our socket on their command line.
fn kill_leftover_shims(socket: &Path) -> Vec<String> {
    let marker = format!("-address {} ", socket.display());
    pids()
        .into_iter()
        .filter(|pid| command_line(*pid).contains(&marker))
        .map(|pid| {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            format!("killed leftover shim {pid}")
        })
        .collect()
}

/// Deletes the pod bridge when it exists.
fn delete_bridge() -> Option<String> {
    if !Path::new("/sys/class/net").join(BRIDGE).exists() {
        return None;
    }
    let _ = Command::new("ip").args(["link", "del", BRIDGE]).status();
    Some(format!("deleted bridge {BRIDGE}"))
}
