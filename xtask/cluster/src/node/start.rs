//! Starting the node cluster, component by component: the pod bridge, containerd, the control
//! plane, the node's identity, the kubelet, kube-proxy and kube-scheduler.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleRef, Subject};
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};

use super::config::{
    apiserver_args, cni_conflist, containerd_config, controllers, kube_proxy_config, kubelet_config,
};
use super::host::HostState;
use super::{
    BRIDGE, Cluster, ClusterInputs, GATEWAY, KUBERNETES_SERVICE_IP, NODE, NodePart, ctr, log_file,
    node_ready,
};
use crate::api::kubeconfig;
use crate::control_plane::{ControlPlane, ControlPlaneInputs};
use crate::process::{free_port, run_quiet};
use crate::signals::interrupted;

/// The pod bridge with the gateway's address, up, before the CNI plugin first uses it (it
/// takes the existing bridge as it is).
fn bridge_up() -> anyhow::Result<()> {
    run_quiet(Command::new("ip").args(["link", "add", BRIDGE, "type", "bridge"]))?;
    run_quiet(Command::new("ip").args(["addr", "add", &format!("{GATEWAY}/24"), "dev", BRIDGE]))?;
    run_quiet(Command::new("ip").args(["link", "set", BRIDGE, "up"]))?;
    Ok(())
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
    /// [`crate::Netns`]); root only. On error the partial cluster is cleaned up (the guard is
    /// dropped).
    pub async fn start(inputs: ClusterInputs<'_>) -> anyhow::Result<Cluster> {
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
            assets: inputs.assets.to_path_buf(),
        };
        let t0 = Instant::now();
        let say = |what: String| eprintln!("[cluster] {:>5.1}s {what}", t0.elapsed().as_secs_f64());
        bridge_up()?;
        cluster
            .start_containerd(inputs.images, inputs.pause_image)
            .await?;
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
    async fn start_containerd(&mut self, images: &[PathBuf], pause: &str) -> anyhow::Result<()> {
        let dir = self.dir.clone();
        fs::write(
            dir.join("containerd/config.toml"),
            containerd_config(&dir, pause),
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
    pub async fn restart(&mut self, part: NodePart, down: Duration) -> anyhow::Result<u32> {
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
    fn kubelet_command(&self) -> Command {
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
    async fn wait_node_ready(&mut self, client: &Client) -> anyhow::Result<()> {
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
}
