//! A throw-away one-node cluster on this machine, and the guard that removes it.
//!
//! Everything runs in the run's own network namespace ([`super::netns`]): containerd (own
//! socket, root and state under the run's directory, cgroupfs), a CNI bridge whose address is
//! the pods' gateway, no masquerading (pods reach each other and the namespace, nothing
//! beyond), etcd, kube-apiserver (listening on the namespace's addresses, advertising the
//! bridge's) and kube-controller-manager (started by the same script the controller's envtest
//! tests use, `build-controller/tests/envtest/start.sh`), kube-proxy (so the `kubernetes`
//! Service leads pods to the API server), a kubelet with a client certificate in
//! `system:nodes`, and kube-scheduler.
//!
//! [`Cluster`] is the cleanup guard: dropping it stops every process it started (by its own
//! handles and PID files, never by name), unmounts what the kubelet and the CNI plugins mounted,
//! deletes the bridge, the cgroups and the hard-coded kubelet and CNI paths that did not exist
//! before, and restores the sysctls the kubelet changes. It runs on success, on error, on panic
//! and after SIGINT/SIGTERM (the signals are caught, see `super::signals`).

use std::collections::BTreeSet;
use std::fs;
use std::io::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleRef, Subject};
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, PostParams};
use kube::{Client, ResourceExt};

use super::interrupted;
pub(crate) use throwaway_cluster::run_quiet;
use throwaway_cluster::{
    ControlPlane, ControlPlaneInputs, client_from, free_port, kubeconfig, pids, terminate,
};

/// The bridge the CNI plugin creates; deleted on cleanup.
pub(crate) const BRIDGE: &str = "xte2e0";
/// The pods' subnet on that bridge.
pub(crate) const POD_SUBNET: &str = "10.244.77.0/24";
/// The bridge's own address, the pods' gateway: the address the API server advertises, so
/// that the `kubernetes` Service leads there. It exists only in the run's network namespace.
pub(crate) const GATEWAY: &str = "10.244.77.1";
/// The `kubernetes` Service's cluster IP (the first of start.sh's `--service-cluster-ip-range`).
pub(crate) const KUBERNETES_SERVICE_IP: &str = "10.0.0.1";
/// kube-controller-manager's controllers: what a Deployment, a Service and a deleted
/// namespace or CRD need, the node's lifecycle, and pod eviction's disruption budgets.
const CONTROLLERS: &str = "garbage-collector-controller,namespace-controller,serviceaccount-controller,clusterrole-aggregation-controller,root-ca-certificate-publisher-controller,node-lifecycle-controller,replicaset-controller,deployment-controller,endpoints-controller,endpointslice-controller,disruption-controller";
/// The node's name: the host name, which resolves to 127.0.0.1 here, so that the API server
/// reaches the kubelet (logs, exec) on loopback.
pub(crate) const NODE: &str = "vm";

/// The sysctls the kubelet rewrites (`vm.overcommit_memory=1`, `kernel.panic=10`,
/// `kernel.panic_on_oops=1`) and those it may: restored on cleanup.
const SYSCTLS: &[&str] = &[
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
];

/// Fixed host paths the kubelet, containerd's shims and the CNI plugins create whatever their
/// configuration says; removed on cleanup when they did not exist before.
const HOST_PATHS: &[&str] = &[
    "/var/lib/kubelet",
    "/var/log/containers",
    "/var/log/pods",
    "/var/lib/cni",
    "/run/containerd",
    "/run/netns",
    "/etc/cni",
    "/opt/cni",
];

/// What the machine looked like before the run.
#[derive(Debug, Default)]
struct HostState {
    sysctls: Vec<(String, String)>,
    existing_paths: BTreeSet<String>,
    netns: BTreeSet<String>,
    cgroups: BTreeSet<PathBuf>,
}

impl HostState {
    fn capture() -> HostState {
        let sysctls = SYSCTLS
            .iter()
            .filter_map(|key| {
                let value = fs::read_to_string(Path::new("/proc/sys").join(key)).ok()?;
                Some(((*key).to_owned(), value.trim().to_owned()))
            })
            .collect();
        HostState {
            sysctls,
            existing_paths: HOST_PATHS
                .iter()
                .filter(|path| Path::new(path).exists())
                .map(|path| (*path).to_owned())
                .collect(),
            netns: list_dir("/run/netns"),
            cgroups: kube_cgroups(),
        }
    }
}

fn list_dir(path: &str) -> BTreeSet<String> {
    fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// `kubepods` and `k8s.io` under every cgroup hierarchy (v1 controllers or the v2 root).
fn kube_cgroups() -> BTreeSet<PathBuf> {
    let mut found = BTreeSet::new();
    let mut roots = vec![PathBuf::from("/sys/fs/cgroup")];
    if let Ok(entries) = fs::read_dir("/sys/fs/cgroup") {
        roots.extend(entries.filter_map(|e| e.ok()).map(|e| e.path()));
    }
    for root in roots {
        for name in ["kubepods", "kubepods.slice", "k8s.io"] {
            let path = root.join(name);
            if path.is_dir() {
                found.insert(path);
            }
        }
    }
    found
}

/// A node component [`Cluster::restart`] restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NodePart {
    /// The kubelet.
    Kubelet,
    /// The container runtime.
    Containerd,
}

impl NodePart {
    /// The name of its process (and its log).
    pub(crate) fn process(self) -> &'static str {
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
pub(crate) struct Cluster {
    /// The run's state directory.
    pub(crate) dir: PathBuf,
    /// The admin kubeconfig.
    pub(crate) kubeconfig: PathBuf,
    /// `https://127.0.0.1:PORT`.
    pub(crate) api_url: String,
    /// containerd's socket.
    pub(crate) socket: PathBuf,
    /// The CA certificate of the API server.
    pub(crate) ca: PathBuf,
    started: Vec<Started>,
    control_plane: Option<ControlPlane>,
    before: HostState,
    keep_state: bool,
    workspace: PathBuf,
    assets: PathBuf,
}

/// What [`Cluster::start`] needs.
pub(crate) struct StartInputs<'a> {
    /// The workspace root (for the envtest script).
    pub(crate) workspace: &'a Path,
    /// `KUBEBUILDER_ASSETS`.
    pub(crate) assets: &'a Path,
    /// The `docker save` archives to import.
    pub(crate) images: &'a [PathBuf],
    /// The run's state directory (created).
    pub(crate) dir: PathBuf,
    /// Keep the state directory (logs) after cleanup.
    pub(crate) keep_state: bool,
}

/// containerd's configuration: its own root, state and socket under `dir`, cgroupfs, the
/// imported sandbox image, the CNI configuration of this run.
pub(crate) fn containerd_config(dir: &Path, pause: &str) -> String {
    let d = dir.display();
    format!(
        r#"version = 2
root = "{d}/containerd/root"
state = "{d}/containerd/state"
[grpc]
  address = "{d}/containerd/containerd.sock"
[ttrpc]
  address = "{d}/containerd/containerd.sock.ttrpc"
[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "{pause}"
    disable_apparmor = true
    # no CAP_SYS_RESOURCE here: runc cannot set the sandbox's oom_score_adj -998
    restrict_oom_score_adj = true
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          SystemdCgroup = false
          Root = "{d}/containerd/runc"
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "{d}/cni/net.d"
      max_conf_num = 1
"#
    )
}

/// The CNI network: the bridge [`bridge_up`] made, the pods' gateway, no masquerading (pods
/// reach each other and the run's namespace, nothing beyond).
pub(crate) fn cni_conflist(dir: &Path) -> String {
    serde_json::json!({
        "cniVersion": "0.4.0",
        "name": "xtask-e2e",
        "plugins": [{
            "type": "bridge",
            "bridge": BRIDGE,
            "isGateway": true,
            "isDefaultGateway": true,
            "ipMasq": false,
            "hairpinMode": false,
            "ipam": {
                "type": "host-local",
                "dataDir": format!("{}/cni/ipam", dir.display()),
                "ranges": [[{"subnet": POD_SUBNET}]],
            },
        }],
    })
    .to_string()
}

/// The kubelet's configuration file.
pub(crate) fn kubelet_config(dir: &Path, port: u16, healthz_port: u16) -> String {
    let d = dir.display();
    format!(
        "apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: {port}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: {healthz_port}
containerRuntimeEndpoint: unix://{d}/containerd/containerd.sock
imageServiceEndpoint: unix://{d}/containerd/containerd.sock
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
oomScoreAdj: 0
authentication:
  anonymous: {{enabled: true}}
  webhook: {{enabled: false}}
authorization:
  mode: AlwaysAllow
resolvConf: {d}/kubelet/resolv.conf
podLogsDir: {d}/pod-logs
evictionHard: {{}}
evictionPressureTransitionPeriod: 0s
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
imageMinimumGCAge: 87600h
serializeImagePulls: false
registerNode: true
maxPods: 110
"
    )
}

/// kube-apiserver's flags on top of start.sh's: reachable from pods through the `kubernetes`
/// Service (every address of the namespace, the bridge's advertised, the endpoint reconciler
/// on). (The ServiceAccount admission plugin, which start.sh turns off, is back on through
/// `disabled_admission_plugins`, so pods get their projected token as on any cluster.)
fn apiserver_args() -> Vec<String> {
    vec![
        // the API server reaches the kubelet (logs, exec) at the node's host name
        "--kubelet-preferred-address-types=Hostname".to_owned(),
        "--bind-address=0.0.0.0".to_owned(),
        format!("--advertise-address={GATEWAY}"),
        "--endpoint-reconciler-type=lease".to_owned(),
    ]
}

/// kube-proxy's configuration: iptables mode in the run's namespace, and no conntrack sysctl
/// written (those are the host's: `maxPerCore` and the timeouts 0 leave them as they are).
pub(crate) fn kube_proxy_config(kubeconfig: &Path, healthz: u16, metrics: u16) -> String {
    format!(
        "apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: {kubeconfig}
mode: iptables
hostnameOverride: {NODE}
clusterCIDR: {POD_SUBNET}
healthzBindAddress: 127.0.0.1:{healthz}
metricsBindAddress: 127.0.0.1:{metrics}
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
iptables:
  syncPeriod: 10s
  minSyncPeriod: 0s
",
        kubeconfig = kubeconfig.display()
    )
}

/// The pod bridge with the gateway's address, up, before the CNI plugin first uses it (it
/// takes the existing bridge as it is).
fn bridge_up() -> anyhow::Result<()> {
    run_quiet(Command::new("ip").args(["link", "add", BRIDGE, "type", "bridge"]))?;
    run_quiet(Command::new("ip").args(["addr", "add", &format!("{GATEWAY}/24"), "dev", BRIDGE]))?;
    run_quiet(Command::new("ip").args(["link", "set", BRIDGE, "up"]))?;
    Ok(())
}

/// Whether the node is Ready and has no taints.
pub(crate) fn node_ready(node: &Node) -> bool {
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

/// [`CONTROLLERS`], plus the publisher of `openshift-service-ca.crt` where the
/// kube-controller-manager binary has it: binaries built from OpenShift's fork of Kubernetes
/// (as microshift carries it) also project that ConfigMap into every pod's token volume, and
/// a pod waits for it until that controller has published it in the pod's namespace.
fn controllers(kube_controller_manager: &Path) -> String {
    const OPENSHIFT_PUBLISHER: &str = "service-ca-certificate-publisher-controller";
    let help = Command::new(kube_controller_manager)
        .arg("--help")
        .stdin(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if help.contains(OPENSHIFT_PUBLISHER) {
        format!("{CONTROLLERS},{OPENSHIFT_PUBLISHER}")
    } else {
        CONTROLLERS.to_owned()
    }
}

fn log_file(dir: &Path, name: &str) -> anyhow::Result<fs::File> {
    fs::File::create(dir.join("logs").join(format!("{name}.log")))
        .with_context(|| format!("creating the log of {name}"))
}

async fn wait_for<F: FnMut() -> bool>(
    what: &str,
    timeout: Duration,
    mut done: F,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    while !done() {
        if interrupted() {
            bail!("interrupted while waiting for {what}");
        }
        if Instant::now() > deadline {
            bail!("{what}: not after {}s", timeout.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

impl Cluster {
    /// Starts the cluster in the current network namespace (the run's own, see
    /// [`super::netns`]). On error the partial cluster is cleaned up (the guard is dropped).
    pub(crate) async fn start(inputs: StartInputs<'_>) -> anyhow::Result<Cluster> {
        let dir = inputs.dir.clone();
        if Path::new("/sys/class/net").join(BRIDGE).exists() {
            bail!(
                "a network interface {BRIDGE} exists already: is another `cargo xtask e2e` running?"
            );
        }
        for sub in [
            "logs",
            "containerd",
            "cni/net.d",
            "kubelet/pki",
            "kubelet/root",
            "pod-logs",
            "kube-proxy",
        ] {
            fs::create_dir_all(dir.join(sub))?;
        }
        let mut cluster = Cluster {
            socket: dir.join("containerd/containerd.sock"),
            kubeconfig: dir.join("cp/kubeconfig"),
            ca: dir.join("cp/pki/ca.crt"),
            api_url: String::new(),
            dir: dir.clone(),
            started: Vec::new(),
            control_plane: None,
            before: HostState::capture(),
            keep_state: inputs.keep_state,
            workspace: inputs.workspace.to_path_buf(),
            assets: inputs.assets.to_path_buf(),
        };
        let t0 = Instant::now();
        let say = |what: String| eprintln!("[cluster] {:>5.1}s {what}", t0.elapsed().as_secs_f64());
        bridge_up()?;
        cluster.start_containerd(inputs.images).await?;
        say(format!(
            "pod bridge {BRIDGE} at {GATEWAY}; containerd up, {} images imported",
            inputs.images.len()
        ));
        cluster.start_control_plane()?;
        say(format!("control plane up at {}", cluster.api_url));
        let client = cluster.admin_client().await?;
        cluster.node_identity(&client).await?;
        cluster.start_kubelet(&client).await?;
        say(format!("node {NODE} Ready"));
        cluster.start_kube_proxy().await?;
        say(format!(
            "kube-proxy up: the kubernetes Service {KUBERNETES_SERVICE_IP}:443 leads to {GATEWAY}"
        ));
        cluster.start_scheduler()?;
        say("kube-scheduler started".to_owned());
        Ok(cluster)
    }

    /// containerd with this run's configuration, and the images imported into it.
    async fn start_containerd(&mut self, images: &[PathBuf]) -> anyhow::Result<()> {
        let dir = self.dir.clone();
        fs::write(
            dir.join("containerd/config.toml"),
            containerd_config(&dir, super::images::PAUSE),
        )?;
        fs::write(
            dir.join("cni/net.d/10-xtask-e2e.conflist"),
            cni_conflist(&dir),
        )?;
        self.spawn_appending("containerd", &mut self.containerd_command())?;
        self.wait_containerd().await?;
        for image in images {
            run_quiet(
                ctr(&self.socket)
                    .args(["-n", "k8s.io", "images", "import"])
                    .arg(image),
            )?;
        }
        Ok(())
    }

    /// etcd, kube-apiserver and kube-controller-manager. The API server listens on every
    /// address of the run's namespace and advertises the bridge's, so that the `kubernetes`
    /// Service leads pods to it; the ServiceAccount admission plugin is on, so that pods get
    /// their token as on any cluster.
    fn start_control_plane(&mut self) -> anyhow::Result<()> {
        let controllers = controllers(&self.assets.join("kube-controller-manager"));
        let control_plane = ControlPlane::start(ControlPlaneInputs {
            assets: &self.assets,
            dir: self.dir.join("cp"),
            log: log_file(&self.dir, "envtest-start")?.into(),
            extra_apiserver_args: apiserver_args(),
            disabled_admission_plugins: "",
            controller_manager: Some(&controllers),
        })
        .with_context(|| format!("see {}", self.dir.join("logs/envtest-start.log").display()))?;
        self.api_url = control_plane.api_url.clone();
        self.control_plane = Some(control_plane);
        Ok(())
    }

    /// kube-proxy (iptables mode, in the run's namespace only), waiting until it has written
    /// the `kubernetes` Service's rule.
    async fn start_kube_proxy(&mut self) -> anyhow::Result<()> {
        let config = self.dir.join("kube-proxy/config.yaml");
        fs::write(
            &config,
            kube_proxy_config(&self.kubeconfig, free_port()?, free_port()?),
        )?;
        let binary = self.assets.join("kube-proxy");
        self.spawn(
            "kube-proxy",
            Command::new(binary)
                .arg("--config")
                .arg(&config)
                .arg("--v=1"),
        )?;
        let rule = format!("-d {KUBERNETES_SERVICE_IP}/32");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let rules = run_quiet(Command::new("iptables-save").args(["-t", "nat"]))?;
            if rules.contains(&rule) {
                return Ok(());
            }
            if !self.alive("kube-proxy") {
                bail!(
                    "kube-proxy exited; see {}",
                    self.dir.join("logs/kube-proxy.log").display()
                );
            }
            if interrupted() {
                bail!("interrupted while waiting for kube-proxy");
            }
            if Instant::now() > deadline {
                bail!(
                    "kube-proxy wrote no rule for {KUBERNETES_SERVICE_IP} in 60s; see {}",
                    self.dir.join("logs/kube-proxy.log").display()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The node's identity: a client certificate in `system:nodes`, bound to `system:node`
    /// (the envtest API server runs RBAC only, no Node authorizer), and its kubeconfig.
    async fn node_identity(&self, client: &Client) -> anyhow::Result<()> {
        let dir = &self.dir;
        let cp = dir.join("cp");
        let pki = dir.join("kubelet/pki");
        run_quiet(
            Command::new("openssl")
                .args(["req", "-newkey", "rsa:2048", "-nodes", "-subj"])
                .arg(format!("/O=system:nodes/CN=system:node:{NODE}"))
                .arg("-keyout")
                .arg(pki.join("node.key"))
                .arg("-out")
                .arg(pki.join("node.csr")),
        )?;
        fs::write(
            pki.join("node.ext"),
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n",
        )?;
        run_quiet(
            Command::new("openssl")
                .args(["x509", "-req", "-days", "2", "-in"])
                .arg(pki.join("node.csr"))
                .arg("-CA")
                .arg(cp.join("pki/ca.crt"))
                .arg("-CAkey")
                .arg(cp.join("pki/ca.key"))
                .arg("-CAcreateserial")
                .arg("-extfile")
                .arg(pki.join("node.ext"))
                .arg("-out")
                .arg(pki.join("node.crt")),
        )?;
        let bindings: Api<ClusterRoleBinding> = Api::all(client.clone());
        bindings
            .create(
                &PostParams::default(),
                &ClusterRoleBinding {
                    metadata: ObjectMeta {
                        name: Some("xtask-e2e-system-nodes".into()),
                        ..Default::default()
                    },
                    role_ref: RoleRef {
                        api_group: "rbac.authorization.k8s.io".into(),
                        kind: "ClusterRole".into(),
                        name: "system:node".into(),
                    },
                    subjects: Some(vec![Subject {
                        kind: "Group".into(),
                        name: "system:nodes".into(),
                        api_group: Some("rbac.authorization.k8s.io".into()),
                        ..Default::default()
                    }]),
                },
            )
            .await
            .context("binding system:node to system:nodes")?;
        let user = format!(
            "{{client-certificate: {}, client-key: {}}}",
            pki.join("node.crt").display(),
            pki.join("node.key").display()
        );
        fs::write(
            dir.join("kubelet/kubeconfig"),
            kubeconfig(&self.api_url, &self.ca, &user),
        )?;
        Ok(())
    }

    /// The kubelet, waiting until the node is Ready and untainted.
    async fn start_kubelet(&mut self, client: &Client) -> anyhow::Result<()> {
        let dir = self.dir.clone();
        fs::write(dir.join("kubelet/resolv.conf"), "nameserver 127.0.0.1\n")?;
        fs::write(
            dir.join("kubelet/config.yaml"),
            kubelet_config(&dir, free_port()?, free_port()?),
        )?;
        self.spawn_appending("kubelet", &mut self.kubelet_command())?;
        self.wait_node_ready(client).await
    }

    /// containerd's command line (the same for a restart).
    fn containerd_command(&self) -> Command {
        let mut command = Command::new("containerd");
        command
            .arg("--config")
            .arg(self.dir.join("containerd/config.toml"));
        command
    }

    /// Waits (at most 20 s) until containerd answers.
    async fn wait_containerd(&self) -> anyhow::Result<()> {
        let socket = self.socket.clone();
        wait_for("containerd", Duration::from_secs(20), || {
            ctr(&socket)
                .arg("version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .await
    }

    /// Kills the node component `part` with SIGKILL, as a crash would, waits `down`, and
    /// starts it again with the same command line and state; waits until it serves again
    /// (containerd answers; the node is Ready). Returns the killed PID.
    pub(crate) async fn restart(&mut self, part: NodePart, down: Duration) -> anyhow::Result<u32> {
        let name = part.process();
        let pid = self
            .kill_process(name)
            .with_context(|| format!("{name} is not running"))?;
        tokio::time::sleep(down).await;
        match part {
            NodePart::Kubelet => {
                self.spawn_appending(name, &mut self.kubelet_command())?;
                let client = self.admin_client().await?;
                self.wait_node_ready(&client).await?;
            }
            NodePart::Containerd => {
                self.spawn_appending(name, &mut self.containerd_command())?;
                self.wait_containerd().await?;
            }
        }
        Ok(pid)
    }

    /// The kubelet's command line (the same for a restart: same state, same identity).
    pub(crate) fn kubelet_command(&self) -> Command {
        let dir = &self.dir;
        let mut command = Command::new(self.assets.join("kubelet"));
        command
            .arg("--config")
            .arg(dir.join("kubelet/config.yaml"))
            .arg("--kubeconfig")
            .arg(dir.join("kubelet/kubeconfig"))
            .arg("--root-dir")
            .arg(dir.join("kubelet/root"))
            .arg("--cert-dir")
            .arg(dir.join("kubelet/pki"))
            .args(["--hostname-override", NODE, "--v=2"])
            // the namespace has no default route to find the node's address by
            .args(["--node-ip", GATEWAY])
            // no iptables on its PATH: kube-proxy alone writes the namespace's rules
            .env("PATH", "/usr/local/bin:/usr/bin:/bin");
        command
    }

    /// Waits (at most 90 s) until the node is Ready and has no taints.
    pub(crate) async fn wait_node_ready(&mut self, client: &Client) -> anyhow::Result<()> {
        let nodes: Api<Node> = Api::all(client.clone());
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if interrupted() {
                bail!("interrupted while waiting for the node");
            }
            if let Some(node) = nodes.get_opt(NODE).await?
                && node_ready(&node)
            {
                return Ok(());
            }
            if !self.alive("kubelet") {
                bail!(
                    "the kubelet exited; see {}",
                    self.dir.join("logs/kubelet.log").display()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "node {NODE} not Ready and untainted after 90s; see {}",
                    self.dir.join("logs/kubelet.log").display()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// kube-scheduler, with the admin kubeconfig.
    fn start_scheduler(&mut self) -> anyhow::Result<()> {
        let admin = self.dir.join("cp/kubeconfig");
        let binary = self.assets.join("kube-scheduler");
        self.spawn(
            "kube-scheduler",
            Command::new(binary)
                .arg("--kubeconfig")
                .arg(&admin)
                .arg("--authentication-kubeconfig")
                .arg(&admin)
                .arg("--authorization-kubeconfig")
                .arg(&admin)
                .args([
                    "--leader-elect=false",
                    "--bind-address",
                    "127.0.0.1",
                    "--v=1",
                ])
                .arg("--secure-port")
                .arg(free_port()?.to_string()),
        )
    }

    /// A client with the admin token.
    pub(crate) async fn admin_client(&self) -> anyhow::Result<Client> {
        client_from(&self.kubeconfig).await
    }

    /// The workspace root.
    pub(crate) fn workspace(&self) -> &Path {
        &self.workspace
    }

    /// `KUBEBUILDER_ASSETS`.
    pub(crate) fn assets(&self) -> &Path {
        &self.assets
    }

    /// Opens (appending) `logs/<name>.log` for a process or a scenario's own output.
    pub(crate) fn log(&self, name: &str) -> anyhow::Result<fs::File> {
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
    pub(crate) fn spawn_appending(
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
    pub(crate) fn kill_process(&mut self, name: &str) -> Option<u32> {
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
    pub(crate) async fn drain(&self) {
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
            let tasks = ctr(&self.socket)
                .args(["-n", "k8s.io", "tasks", "ls", "-q"])
                .output();
            let no_tasks = tasks
                .is_ok_and(|o| o.status.success() && o.stdout.iter().all(u8::is_ascii_whitespace));
            let new_netns = list_dir("/run/netns")
                .difference(&self.before.netns)
                .count();
            if no_tasks && new_netns == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        eprintln!("[cluster] pods not torn down after 60s; stopping them the hard way");
    }

    /// Stops a process this run started (TERM, then KILL after 10 s).
    pub(crate) fn stop_process(&mut self, name: &str) {
        if let Some(index) = self.started.iter().position(|s| s.name == name) {
            let mut started = self.started.remove(index);
            terminate(&mut started.child);
        }
    }

    fn teardown(&mut self) {
        let t0 = Instant::now();
        let mut steps = Vec::new();
        for name in ["kube-scheduler", "kubelet"] {
            self.stop_process(name);
        }
        // what still runs in containerd: kill and delete the tasks (their shims exit with them)
        if ctr(&self.socket)
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            let tasks = ctr(&self.socket)
                .args(["-n", "k8s.io", "tasks", "ls", "-q"])
                .output();
            let ids: Vec<String> = tasks
                .map(|o| {
                    String::from_utf8_lossy(&o.stdout)
                        .split_whitespace()
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            for id in &ids {
                let _ = ctr(&self.socket)
                    .args(["-n", "k8s.io", "tasks", "kill", "-s", "SIGKILL", id])
                    .output();
            }
            if !ids.is_empty() {
                std::thread::sleep(Duration::from_secs(1));
                steps.push(format!("killed {} containers", ids.len()));
            }
            for id in &ids {
                let _ = ctr(&self.socket)
                    .args(["-n", "k8s.io", "tasks", "rm", "-f", id])
                    .output();
            }
        }
        // processes still in the pods' cgroups
        for cgroup in kube_cgroups().difference(&self.before.cgroups) {
            kill_cgroup_tree(cgroup);
        }
        if let Some(mut control_plane) = self.control_plane.take() {
            control_plane.stop();
            steps.push("stopped the control plane".to_owned());
        }
        let names: Vec<&'static str> = self.started.iter().rev().map(|s| s.name).collect();
        for name in names {
            self.stop_process(name);
            steps.push(format!("stopped {name}"));
        }
        // shims left behind: only ours, named by our socket on their command line
        let marker = format!("-address {} ", self.socket.display());
        for pid in pids() {
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(&marker) {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
                steps.push(format!("killed leftover shim {pid}"));
            }
        }
        // mounts: under the state dir, new network namespaces, the kubelet's fixed paths when new
        let mut prefixes = vec![format!("{}/", self.dir.display())];
        for path in HOST_PATHS {
            if !self.before.existing_paths.contains(*path) {
                prefixes.push(format!("{path}/"));
            }
        }
        let mounts = fs::read_to_string("/proc/mounts").unwrap_or_default();
        let mut targets: Vec<String> = mounts
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .map(|m| m.replace("\\040", " "))
            .filter(|m| {
                prefixes.iter().any(|p| m.starts_with(p.as_str()))
                    || (m.starts_with("/run/netns/")
                        && !self
                            .before
                            .netns
                            .contains(m.trim_start_matches("/run/netns/")))
            })
            .collect();
        targets.sort_by(|a, b| b.cmp(a));
        for target in &targets {
            let _ = Command::new("umount")
                // -n: no /run/mount on the host for the utab
                .args(["-l", "-n", target])
                .stderr(Stdio::null())
                .status();
        }
        if !targets.is_empty() {
            steps.push(format!("unmounted {}", targets.len()));
        }
        for netns in list_dir("/run/netns").difference(&self.before.netns) {
            let _ = fs::remove_file(Path::new("/run/netns").join(netns));
        }
        if Path::new("/sys/class/net").join(BRIDGE).exists() {
            let _ = Command::new("ip").args(["link", "del", BRIDGE]).status();
            steps.push(format!("deleted bridge {BRIDGE}"));
        }
        let mut removed = 0;
        for cgroup in kube_cgroups().difference(&self.before.cgroups) {
            removed += remove_cgroup_tree(cgroup);
        }
        if removed > 0 {
            steps.push(format!("removed {removed} cgroups"));
        }
        // another containerd on the machine (not ours: ours is stopped) may use the shims'
        // fixed paths under /run/containerd; leave them then
        let others = other_containerds();
        for path in HOST_PATHS {
            if !self.before.existing_paths.contains(*path) && Path::new(path).exists() {
                if *path == "/run/containerd" && !others.is_empty() {
                    steps.push(format!(
                        "left {path}: in use by containerd pid {}",
                        others.join(", ")
                    ));
                    continue;
                }
                let _ = fs::remove_dir_all(path);
                steps.push(format!("removed {path}"));
            }
        }
        let mut restored = Vec::new();
        for (key, value) in &self.before.sysctls {
            let file = Path::new("/proc/sys").join(key);
            let now = fs::read_to_string(&file).unwrap_or_default();
            if now.trim() != value {
                if let Ok(mut f) = fs::OpenOptions::new().write(true).open(&file) {
                    let _ = writeln!(f, "{value}");
                }
                restored.push(format!("{}={value}", key.replace('/', ".")));
            }
        }
        if !restored.is_empty() {
            steps.push(format!("restored {}", restored.join(" ")));
        }
        if self.keep_state {
            steps.push(format!("kept {}", self.dir.display()));
        } else if fs::remove_dir_all(&self.dir).is_ok() {
            steps.push(format!("removed {}", self.dir.display()));
        } else {
            steps.push(format!("could not remove {}", self.dir.display()));
        }
        eprintln!(
            "[cleanup] {:.1}s: {}",
            t0.elapsed().as_secs_f64(),
            steps.join("; ")
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// `ctr` on this run's containerd.
pub(crate) fn ctr(socket: &Path) -> Command {
    let mut command = Command::new("ctr");
    command.arg("-a").arg(socket).stdin(Stdio::null());
    command
}

/// containerd processes still running (after ours stopped: someone else's).
fn other_containerds() -> Vec<String> {
    pids()
        .into_iter()
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "containerd")
        })
        .map(|pid| pid.to_string())
        .collect()
}

fn cgroup_dirs(root: &Path, out: &mut Vec<PathBuf>) {
    out.push(root.to_path_buf());
    if let Ok(entries) = fs::read_dir(root) {
        for entry in entries.filter_map(|e| e.ok()) {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                cgroup_dirs(&entry.path(), out);
            }
        }
    }
}

fn kill_cgroup_tree(root: &Path) {
    let mut dirs = Vec::new();
    cgroup_dirs(root, &mut dirs);
    for dir in dirs {
        for pid in fs::read_to_string(dir.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
        {
            let _ = Command::new("kill").args(["-KILL", pid]).status();
        }
    }
}

fn remove_cgroup_tree(root: &Path) -> usize {
    let mut dirs = Vec::new();
    cgroup_dirs(root, &mut dirs);
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    let mut removed = 0;
    for dir in dirs {
        // a cgroup goes with rmdir once its processes are gone; retry briefly while they exit
        for _ in 0..20 {
            if fs::remove_dir(&dir).is_ok() || !dir.exists() {
                removed += 1;
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containerd_keeps_everything_under_the_run_directory() {
        let config = containerd_config(Path::new("/tmp/run"), "e2e.local/pause:e2e");
        assert!(config.contains(r#"address = "/tmp/run/containerd/containerd.sock""#));
        assert!(config.contains(r#"root = "/tmp/run/containerd/root""#));
        assert!(config.contains(r#"conf_dir = "/tmp/run/cni/net.d""#));
        assert!(config.contains(r#"sandbox_image = "e2e.local/pause:e2e""#));
        assert!(config.contains("SystemdCgroup = false"));
    }

    #[test]
    fn the_pod_network_is_not_masqueraded() {
        let conf: serde_json::Value = serde_json::from_str(&cni_conflist(Path::new("/r"))).unwrap();
        let bridge = &conf["plugins"][0];
        assert_eq!(bridge["bridge"], BRIDGE);
        assert_eq!(bridge["isGateway"], true);
        assert_eq!(bridge["isDefaultGateway"], true);
        assert_eq!(bridge["ipMasq"], false);
        assert_eq!(bridge["ipam"]["dataDir"], "/r/cni/ipam");
        assert!(BRIDGE.len() <= 15, "interface names are at most 15 bytes");
    }

    #[test]
    fn kubelet_listens_on_loopback_with_the_given_ports() {
        let config = kubelet_config(Path::new("/r"), 41000, 41001);
        assert!(config.contains("address: 127.0.0.1\nport: 41000\n"));
        assert!(config.contains("healthzPort: 41001\n"));
        assert!(
            config.contains("containerRuntimeEndpoint: unix:///r/containerd/containerd.sock\n")
        );
        assert!(config.contains("podLogsDir: /r/pod-logs\n"));
    }
}
