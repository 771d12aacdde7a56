//! A throw-away etcd and kube-apiserver (and, on request, kube-controller-manager) on
//! 127.0.0.1, started by this crate's `envtest/start.sh` and stopped by its `stop.sh`: the
//! control plane of `build-controller`'s envtest tests, of `cargo xtask chaos` (which also stops
//! and restarts its API server) and of the node cluster ([`crate::Cluster`]).
//!
//! [`ControlPlane`] stops its processes when dropped (by their PID files, never by name); its
//! state directory is the caller's to keep or remove. Besides the binaries, the scripts need
//! `bash`, `openssl`, `curl` and `python3`.

use std::fs;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use kube::Client;

use crate::api::client_from;
use crate::process::process_alive;

/// What [`ControlPlane::start`] needs.
pub struct ControlPlaneInputs<'a> {
    /// `KUBEBUILDER_ASSETS`.
    pub assets: &'a Path,
    /// The state directory (etcd data, PKI, logs, PID files).
    pub dir: PathBuf,
    /// Where start.sh's own progress goes (a log file, or the caller's stderr).
    pub log: Stdio,
    /// Extra kube-apiserver flags (word-split: no spaces inside one).
    pub extra_apiserver_args: Vec<String>,
    /// kube-apiserver's `--disable-admission-plugins` (start.sh's default is `ServiceAccount`:
    /// without a node no pod needs its token; a cluster with a node passes "").
    pub disabled_admission_plugins: &'a str,
    /// Also start kube-controller-manager with these `--controllers`.
    pub controller_manager: Option<&'a str>,
}

/// A running control plane; dropping it stops its processes.
pub struct ControlPlane {
    /// Its state directory.
    pub dir: PathBuf,
    /// The admin kubeconfig (token auth).
    pub kubeconfig: PathBuf,
    /// `https://127.0.0.1:PORT`.
    pub api_url: String,
    /// The API server's CA certificate.
    pub ca: PathBuf,
    running: bool,
}

impl ControlPlane {
    /// Starts etcd and kube-apiserver (and kube-controller-manager when asked) and waits until
    /// the API server is ready.
    pub fn start(inputs: ControlPlaneInputs<'_>) -> anyhow::Result<ControlPlane> {
        let dir = inputs.dir;
        fs::create_dir_all(&dir)?;
        let mut command = Command::new("bash");
        command
            .arg(script("start.sh"))
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
            running: true,
        };
        let output = command.output().context("running envtest/start.sh")?;
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
    ///
    /// ```no_run
    /// # async fn f(assets: &std::path::Path) -> anyhow::Result<()> {
    /// use throwaway_cluster::{ControlPlane, ControlPlaneInputs};
    /// let control_plane = ControlPlane::start(ControlPlaneInputs {
    ///     assets,
    ///     dir: std::env::temp_dir().join("my-control-plane"),
    ///     log: std::process::Stdio::inherit(),
    ///     extra_apiserver_args: vec![],
    ///     disabled_admission_plugins: "ServiceAccount",
    ///     controller_manager: None,
    /// })?;
    /// let client = control_plane.admin_client().await?;
    /// # Ok(()) }
    /// ```
    pub async fn admin_client(&self) -> anyhow::Result<Client> {
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
    pub fn stop_apiserver(&self, signal: &str) -> anyhow::Result<Vec<String>> {
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
    pub async fn start_apiserver(&self, argv: &[String]) -> anyhow::Result<Duration> {
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
    pub fn stop(&mut self) {
        if !std::mem::take(&mut self.running) {
            return;
        }
        let _ = Command::new("bash")
            .arg(script("stop.sh"))
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

/// This crate's envtest script `name`.
fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("envtest")
        .join(name)
}
