//! A throw-away etcd and kube-apiserver (and, on request, kube-controller-manager) on
//! 127.0.0.1, started by the script the controller's envtest tests use
//! (`build-controller/tests/envtest/start.sh`) and stopped by its `stop.sh`: shared by
//! `cargo xtask e2e` (which adds a node around it) and `cargo xtask chaos` (which also stops and
//! restarts its API server).
//!
//! [`ControlPlane`] stops its processes when dropped (by their PID files, never by name); its
//! state directory is the caller's to keep or remove.

use std::fs;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use k8s_openapi::api::core::v1::Namespace;
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};

/// The one line a harness prints when `KUBEBUILDER_ASSETS` lacks some of `required`, or `None`
/// when all are there: `skipping <command>: …` naming every missing binary.
pub(crate) fn missing_line(
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
/// line of [`missing_line`] and returns `None`, for the caller to exit 0.
pub(crate) fn assets_or_skip(command: &str, required: &[&str]) -> Option<PathBuf> {
    let assets = std::env::var_os("KUBEBUILDER_ASSETS").map(PathBuf::from);
    match missing_line(command, required, assets.as_deref(), |p| p.is_file()) {
        Some(line) => {
            println!("{line}");
            None
        }
        None => assets,
    }
}

/// Creates the namespace `name`.
pub(crate) async fn create_namespace(client: &Client, name: &str) -> anyhow::Result<()> {
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .with_context(|| format!("creating namespace {name}"))?;
    Ok(())
}

/// What [`ControlPlane::start`] needs.
pub(crate) struct ControlPlaneInputs<'a> {
    /// The workspace root (for the envtest scripts).
    pub(crate) workspace: &'a Path,
    /// `KUBEBUILDER_ASSETS`.
    pub(crate) assets: &'a Path,
    /// The state directory (etcd data, PKI, logs, PID files).
    pub(crate) dir: PathBuf,
    /// Where start.sh's own progress goes.
    pub(crate) log: fs::File,
    /// Extra kube-apiserver flags (word-split: no spaces inside one).
    pub(crate) extra_apiserver_args: Vec<String>,
    /// kube-apiserver's `--disable-admission-plugins` (start.sh's default is `ServiceAccount`:
    /// without a node no pod needs its token; a cluster with a node passes "").
    pub(crate) disabled_admission_plugins: &'a str,
    /// Also start kube-controller-manager with these `--controllers`.
    pub(crate) controller_manager: Option<&'a str>,
}

/// A running control plane; dropping it stops its processes.
pub(crate) struct ControlPlane {
    /// Its state directory.
    pub(crate) dir: PathBuf,
    /// The admin kubeconfig (token auth).
    pub(crate) kubeconfig: PathBuf,
    /// `https://127.0.0.1:PORT`.
    pub(crate) api_url: String,
    /// The API server's CA certificate.
    pub(crate) ca: PathBuf,
    workspace: PathBuf,
    running: bool,
}

impl ControlPlane {
    /// Starts etcd and kube-apiserver (and kube-controller-manager when asked) and waits until
    /// the API server is ready.
    pub(crate) fn start(inputs: ControlPlaneInputs<'_>) -> anyhow::Result<ControlPlane> {
        let dir = inputs.dir;
        fs::create_dir_all(&dir)?;
        let mut command = Command::new("bash");
        command
            .arg(script(inputs.workspace, "start.sh"))
            .arg(&dir)
            .env("KUBEBUILDER_ASSETS", inputs.assets)
            .env(
                "ENVTEST_EXTRA_APISERVER_ARGS",
                inputs.extra_apiserver_args.join(" "),
            )
            .env(
                "ENVTEST_DISABLE_ADMISSION_PLUGINS",
                inputs.disabled_admission_plugins,
            )
            .stdin(Stdio::null())
            .stderr(inputs.log)
            // its own process group: a Ctrl-C on the terminal reaches only xtask, whose guard
            // then stops the control plane in order
            .process_group(0);
        if let Some(controllers) = inputs.controller_manager {
            command
                .env("ENVTEST_WITH_CONTROLLER_MANAGER", "1")
                .env("ENVTEST_KCM_CONTROLLERS", controllers);
        }
        let mut control_plane = ControlPlane {
            kubeconfig: dir.join("kubeconfig"),
            ca: dir.join("pki/ca.crt"),
            api_url: String::new(),
            dir,
            workspace: inputs.workspace.to_path_buf(),
            running: true,
        };
        let output = command
            .output()
            .context("running build-controller/tests/envtest/start.sh")?;
        if !output.status.success() {
            bail!("the control plane did not start ({})", output.status);
        }
        control_plane.api_url = control_plane
            .env_value("ENVTEST_APISERVER_URL")?
            .context("the envtest env file names the API server")?;
        Ok(control_plane)
    }

    /// One `KEY=value` of the env file start.sh writes.
    fn env_value(&self, key: &str) -> anyhow::Result<Option<String>> {
        let env = fs::read_to_string(self.dir.join("env"))?;
        Ok(env
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(str::to_owned))
    }

    /// A client with the admin token.
    pub(crate) async fn admin_client(&self) -> anyhow::Result<Client> {
        client_from(&self.kubeconfig).await
    }

    /// The running kube-apiserver's pid, from its PID file.
    fn apiserver_pid(&self) -> anyhow::Result<u32> {
        let text = fs::read_to_string(self.dir.join("kube-apiserver.pid"))
            .context("reading kube-apiserver.pid")?;
        Ok(text.trim().parse()?)
    }

    /// Stops kube-apiserver (etcd keeps running) with `signal` (`KILL` or `TERM`), waiting
    /// until it has exited; returns its command line, for [`Self::start_apiserver`].
    pub(crate) fn stop_apiserver(&self, signal: &str) -> anyhow::Result<Vec<String>> {
        let pid = self.apiserver_pid()?;
        let cmdline = fs::read(format!("/proc/{pid}/cmdline"))
            .with_context(|| format!("reading the command line of kube-apiserver {pid}"))?;
        let argv: Vec<String> = cmdline
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let send = |signal: &str| {
            Command::new("kill")
                .arg(format!("-{signal}"))
                .arg(pid.to_string())
                .status()
        };
        if !send(signal)?.success() {
            bail!("kill -{signal} {pid} failed");
        }
        // A stopping API server closes its port at once but may drain its watches for long:
        // SIGKILL after 10 s, as a supervisor would.
        let deadline = Instant::now() + Duration::from_secs(10);
        while process_alive(pid) {
            if Instant::now() > deadline {
                let _ = send("KILL");
                std::thread::sleep(Duration::from_millis(200));
                if process_alive(pid) {
                    bail!("kube-apiserver {pid} still runs after SIGKILL");
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(argv)
    }

    /// Starts kube-apiserver again with the command line [`Self::stop_apiserver`] returned (same
    /// port, same etcd), appending to its log and updating its PID file so `stop.sh` stops
    /// the new one; waits (at most 60 s) until it answers `/readyz`.
    pub(crate) async fn start_apiserver(&self, argv: &[String]) -> anyhow::Result<Duration> {
        let (binary, args) = argv.split_first().context("an empty command line")?;
        let log = fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(self.dir.join("kube-apiserver.log"))?;
        let started = Instant::now();
        let child = Command::new(binary)
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .context("starting kube-apiserver again")?;
        // Not waited for here: stop.sh stops it by its PID file, and the zombie is reaped when
        // xtask exits.
        fs::write(
            self.dir.join("kube-apiserver.pid"),
            format!("{}\n", child.id()),
        )?;
        std::mem::forget(child);
        let client = self.admin_client().await?;
        loop {
            // `/readyz` waits for the server's informers too: until they are synced, its RBAC
            // authorizer refuses what the roles allow (403).
            let ready = match http::Request::get("/readyz").body(Vec::new()) {
                Ok(request) => client.request_text(request).await.is_ok_and(|b| b == "ok"),
                Err(_) => false,
            };
            if ready {
                return Ok(started.elapsed());
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!("kube-apiserver not ready 60s after its restart");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops every process (kube-controller-manager, kube-apiserver, etcd); idempotent.
    pub(crate) fn stop(&mut self) {
        if !std::mem::take(&mut self.running) {
            return;
        }
        let _ = Command::new("bash")
            .arg(script(&self.workspace, "stop.sh"))
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.stop();
    }
}

fn script(workspace: &Path, name: &str) -> PathBuf {
    workspace.join("build-controller/tests/envtest").join(name)
}

/// Whether `pid` runs (a zombie does not).
pub(crate) fn process_alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// A kubeconfig with one user.
pub(crate) fn kubeconfig(server: &str, ca: &Path, user: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster: {{server: \"{server}\", certificate-authority: {ca}}}
users:
- name: user
  user: {user}
contexts:
- name: e2e
  context: {{cluster: e2e, user: user, namespace: default}}
current-context: e2e
",
        ca = ca.display()
    )
}

/// A client from a kubeconfig file.
pub(crate) async fn client_from(path: &Path) -> anyhow::Result<Client> {
    let kubeconfig =
        Kubeconfig::read_from(path).with_context(|| format!("reading {}", path.display()))?;
    let config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    Ok(Client::try_from(config)?)
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

    #[test]
    fn kubeconfig_names_server_ca_and_user() {
        let text = kubeconfig("https://127.0.0.1:1", Path::new("/ca.crt"), "{token: abc}");
        let parsed: Kubeconfig = serde_yaml_ng::from_str(&text).unwrap();
        assert_eq!(
            parsed.clusters[0]
                .cluster
                .as_ref()
                .unwrap()
                .server
                .as_deref(),
            Some("https://127.0.0.1:1")
        );
        assert_eq!(parsed.auth_infos[0].name, "user");
        assert!(text.contains("  user: {token: abc}\n"));
    }

    #[test]
    fn a_running_process_is_alive_and_an_exited_one_is_not() {
        assert!(process_alive(std::process::id()));
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!process_alive(pid));
    }
}
