//! `cargo xtask chaos`: the controller's promises under faults, on a real API server.
//!
//! Needs `KUBEBUILDER_ASSETS` holding `etcd` and `kube-apiserver`; without them it prints one
//! line naming what is missing and exits 0. Otherwise it starts a throw-away control plane
//! ([`throwaway_cluster::ControlPlane`], with an audit log of the controller's requests),
//! applies the release (CRDs, namespace, ServiceAccount, ClusterRole, Role and their bindings;
//! not the Deployment) and runs the controller binary on the host as the release's ServiceAccount
//! (a TokenRequest token), so every scenario runs with exactly the release's permissions. The
//! harness plays the kubelet ([`crate::harness::kubelet`]): it marks each build pod running, ends it
//! as the Build's kind asks, and stops it when the controller lowers its
//! `activeDeadlineSeconds`.
//!
//! Scenarios ([`SCENARIOS`]), one file each under [`scenarios`], each printing what it did
//! and what it found, with counts:
//!
//! - `kill` ([`scenarios::kill`]): the Build mix ([`shared::mix`]) with the controller killed
//!   (SIGKILL) at random moments and restarted each time;
//! - `apiserver` ([`scenarios::apiserver`]): the mix with kube-apiserver stopped and restarted
//!   twice (etcd kept), the controller left alone;
//! - `failover` ([`scenarios::failover`]): the mix with two replicas under
//!   `--leader-election`; the leader is killed and the standby must take over within the
//!   documented bound, never two leading at once;
//! - `bad-input` ([`scenarios::bad_input`]): thousands of generated and mutated Builds,
//!   BuildTemplates, ServiceAccounts and Secrets;
//!
//! and across all of them ([`checks`]): no 403 in the audit log for the controller's
//! ServiceAccount (least privilege, [`checks::privilege`]), and no occurrence of the run's
//! Secret sentinel in the controller's logs, Events, Build statuses or the harness's own
//! output ([`checks::secrets`]).
//!
//! What the scenarios share lives in [`shared`]: the three fault scenarios run the mix through
//! the same stages ([`shared::under_fault`]), and the end-state checker
//! ([`shared::checker`]) works on the recorded stream of Build updates, so it is unit-tested
//! without a server. Everything the run starts is stopped, and its state directory removed,
//! also on error and after SIGINT/SIGTERM.

use std::fmt::Display;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use k8s_openapi::jiff::Timestamp;

mod checks;
mod scenarios;
mod shared;

use throwaway_cluster::{ControlPlane, ControlPlaneInputs};

/// The binaries `KUBEBUILDER_ASSETS` must hold.
pub(crate) const REQUIRED_BINARIES: &[&str] = &["etcd", "kube-apiserver"];

/// The scenario names `--scenario` accepts.
pub(crate) const SCENARIOS: &[&str] = &["kill", "apiserver", "failover", "bad-input"];

/// The release's ServiceAccount, as the API server names its user.
pub(crate) const CONTROLLER_USER: &str = "system:serviceaccount:knative-build:build-controller";

/// The options of `cargo xtask chaos`.
#[derive(Debug, clap::Args)]
pub(crate) struct ChaosArgs {
    /// Run only these scenarios (repeatable; default: all). Names: kill, apiserver, failover,
    /// bad-input.
    #[arg(long = "scenario", value_name = "NAME")]
    scenarios: Vec<String>,
    /// Builds in each fault scenario's mix.
    #[arg(long, default_value_t = 200)]
    builds: usize,
    /// Controller kills in the kill scenario.
    #[arg(long, default_value_t = 50)]
    kills: usize,
    /// Objects the bad-input scenario sends.
    #[arg(long, default_value_t = 10_000)]
    objects: usize,
    /// The random seed (the mix's order, the kill moments, the generated objects).
    #[arg(long, default_value_t = 14)]
    seed: u64,
    /// The controller binary (default: target/debug/build-controller, built first).
    #[arg(long, value_name = "PATH")]
    controller: Option<PathBuf>,
    /// Keep the run's state directory (logs, audit log, recorded Build updates).
    #[arg(long)]
    keep_state: bool,
}

/// The harness's own output: printed to stderr and kept in `harness.log`, which the sentinel
/// check reads too.
static OUTPUT: OnceLock<Mutex<fs::File>> = OnceLock::new();

/// Prints one line of the harness's output.
pub(crate) fn say(line: impl Display) {
    let line = line.to_string();
    eprintln!("{line}");
    if let Some(file) = OUTPUT.get() {
        let mut file = file.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(file, "{line}");
    }
}

/// Checks `--scenario` names; an empty list selects all.
fn selected(names: &[String]) -> anyhow::Result<Vec<&'static str>> {
    crate::harness::select_scenarios(SCENARIOS, names)
}

/// The run's state directory; removed on drop unless kept.
struct StateDir {
    path: PathBuf,
    keep: bool,
}

impl Drop for StateDir {
    fn drop(&mut self) {
        if self.keep {
            eprintln!("[chaos] kept {}", self.path.display());
        } else if fs::remove_dir_all(&self.path).is_ok() {
            eprintln!("[chaos] removed {}", self.path.display());
        }
    }
}

/// What every scenario shares.
pub(crate) struct Env {
    /// The run's state directory.
    pub(crate) dir: PathBuf,
    /// The control plane.
    pub(crate) control_plane: ControlPlane,
    /// The admin client (the harness, and the kubelet it plays).
    pub(crate) admin: kube::Client,
    /// The kubeconfig of the release's ServiceAccount.
    pub(crate) controller_kubeconfig: PathBuf,
    /// The controller binary.
    pub(crate) controller: PathBuf,
    /// The Secrets' sentinel value.
    pub(crate) sentinel: String,
    /// The random seed.
    pub(crate) seed: u64,
    /// When kube-apiserver was down or starting: from its stop to its `/readyz`.
    pub(crate) starting: Mutex<Vec<(Timestamp, Timestamp)>>,
}

impl Env {
    /// A fresh log file path for a controller process of `scenario`.
    pub(crate) fn log_path(&self, name: &str) -> PathBuf {
        self.dir.join("logs").join(format!("{name}.log"))
    }
}

/// One scenario's outcome: its summary line and its problems.
pub(crate) struct Outcome {
    /// The scenario's name.
    pub(crate) name: &'static str,
    /// What it did and found, with counts.
    pub(crate) summary: String,
    /// Every problem found (none: it passed).
    pub(crate) problems: Vec<String>,
    /// Wall time.
    pub(crate) took: Duration,
}

impl Outcome {
    /// Whether it passed: no problem found.
    fn passed(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Runs `cargo xtask chaos`.
pub(crate) fn run(root: &Path, args: &ChaosArgs) -> anyhow::Result<()> {
    let chosen = selected(&args.scenarios)?;
    let Some(assets) = throwaway_cluster::assets_or_skip("chaos", REQUIRED_BINARIES) else {
        return Ok(());
    };
    if args.builds == 0 {
        bail!("--builds must be at least 1");
    }
    let controller = match &args.controller {
        Some(path) => path.clone(),
        None => crate::harness::build_debug_binary("build-controller", "build-controller")?,
    };
    let started = Instant::now();
    let state = StateDir {
        path: std::env::temp_dir().join(format!("xtask-chaos-{}", std::process::id())),
        keep: args.keep_state,
    };
    fs::create_dir_all(state.path.join("logs"))?;
    let _ = OUTPUT.set(Mutex::new(fs::File::create(
        state.path.join("harness.log"),
    )?));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting tokio")?;
    let outcomes = runtime.block_on(async {
        tokio::spawn(throwaway_cluster::watch_signals(
            "chaos",
            "stopping the scenarios and the control plane",
        ));
        let work = async {
            let env = setup(root, &assets, &state.path, &controller, args.seed).await?;
            let mut outcomes = Vec::new();
            for name in &chosen {
                outcomes.push(run_scenario(&env, args, name).await?);
            }
            outcomes.push(checks::privilege::check(&env));
            outcomes.push(checks::secrets::check(&env).await?);
            anyhow::Ok(outcomes)
        };
        tokio::select! {
            result = work => result,
            () = throwaway_cluster::until_interrupted() => Err(anyhow::anyhow!("interrupted")),
        }
    });
    let outcomes = outcomes?;
    let failed = summarize(started, &outcomes);
    drop(runtime);
    drop(state);
    if !failed.is_empty() {
        bail!("failed: {}", failed.join(", "));
    }
    Ok(())
}

/// Runs scenario `name`, timed, and says its verdict and its first 30 problems.
async fn run_scenario(env: &Env, args: &ChaosArgs, name: &'static str) -> anyhow::Result<Outcome> {
    let t0 = Instant::now();
    say(format!("[{name}] starting"));
    let mut outcome = scenarios::run(env, args, name).await?;
    outcome.took = t0.elapsed();
    say(format!(
        "[{name}] {} in {:.0}s: {}",
        if outcome.passed() { "PASSED" } else { "FAILED" },
        outcome.took.as_secs_f64(),
        outcome.summary
    ));
    for problem in outcome.problems.iter().take(30) {
        say(format!("[{name}]   problem: {problem}"));
    }
    if outcome.problems.len() > 30 {
        say(format!(
            "[{name}]   … and {} more",
            outcome.problems.len() - 30
        ));
    }
    Ok(outcome)
}

/// Says the run's time and one line per outcome; returns the names of those that failed.
fn summarize(started: Instant, outcomes: &[Outcome]) -> Vec<&'static str> {
    say(format!(
        "chaos: {:.0}s in all",
        started.elapsed().as_secs_f64()
    ));
    for outcome in outcomes {
        say(format!(
            "  {:<10} {:<6} {:>5.0}s  {}",
            outcome.name,
            if outcome.passed() { "ok" } else { "FAILED" },
            outcome.took.as_secs_f64(),
            outcome.summary
        ));
    }
    outcomes
        .iter()
        .filter(|o| !o.passed())
        .map(|o| o.name)
        .collect()
}

/// Starts the control plane (with the audit log), applies the release, and writes the
/// ServiceAccount's kubeconfig.
async fn setup(
    root: &Path,
    assets: &Path,
    dir: &Path,
    controller: &Path,
    seed: u64,
) -> anyhow::Result<Env> {
    let t0 = Instant::now();
    let policy = dir.join("audit-policy.yaml");
    fs::write(&policy, checks::privilege::POLICY)?;
    let control_plane = ControlPlane::start(ControlPlaneInputs {
        assets,
        dir: dir.join("cp"),
        log: fs::File::create(dir.join("logs/envtest-start.log"))?.into(),
        extra_apiserver_args: vec![
            format!("--audit-policy-file={}", policy.display()),
            format!("--audit-log-path={}", dir.join("audit.log").display()),
            "--audit-log-format=json".to_owned(),
            "--audit-log-maxsize=0".to_owned(),
        ],
        disabled_admission_plugins: "ServiceAccount",
        controller_manager: None,
    })
    .with_context(|| format!("see {}", dir.join("logs/envtest-start.log").display()))?;
    say(format!(
        "[setup] {:.1}s control plane up at {}",
        t0.elapsed().as_secs_f64(),
        control_plane.api_url
    ));
    let admin = control_plane.admin_client().await?;
    let (applied, skipped) = crate::harness::release::apply_release(&admin, root).await?;
    let controller_kubeconfig = dir.join("controller.kubeconfig");
    crate::harness::release::service_account_kubeconfig(
        &admin,
        &control_plane.api_url,
        &control_plane.ca,
        &controller_kubeconfig,
    )
    .await?;
    say(format!(
        "[setup] {:.1}s applied config/release.yaml ({} objects; not applied: {}); the controller runs as {CONTROLLER_USER}",
        t0.elapsed().as_secs_f64(),
        applied.len(),
        skipped.join(", ")
    ));
    let sentinel = format!(
        "chaos-sentinel-{:016x}",
        crate::harness::inputs::Rng::new(seed ^ u64::from(std::process::id())).next_u64()
    );
    Ok(Env {
        dir: dir.to_path_buf(),
        control_plane,
        admin,
        controller_kubeconfig,
        controller: controller.to_path_buf(),
        sentinel,
        seed,
        starting: Mutex::new(Vec::new()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_selection() {
        assert_eq!(selected(&[]).unwrap(), SCENARIOS);
        assert_eq!(selected(&["kill".to_owned()]).unwrap(), ["kill"]);
        let error = selected(&["nope".to_owned()]).unwrap_err().to_string();
        assert!(
            error.starts_with("unknown scenario nope; known: kill"),
            "{error}"
        );
    }

    #[test]
    fn the_skip_line_names_the_missing_binaries() {
        let line = throwaway_cluster::missing_line("chaos", REQUIRED_BINARIES, None, |_| true);
        assert_eq!(
            line.unwrap(),
            "skipping chaos: KUBEBUILDER_ASSETS is not set (it must name a directory holding etcd, kube-apiserver)"
        );
    }
}
