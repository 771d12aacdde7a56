//! `cargo xtask e2e`: the release installed as shipped on a real one-node cluster on this
//! machine, and Builds run on it.
//!
//! Needs root and `KUBEBUILDER_ASSETS` holding etcd, kube-apiserver, kube-controller-manager,
//! kube-scheduler, kubelet and kube-proxy; without them it prints one line naming what is
//! missing and exits 0 before installing or starting anything. Otherwise it installs the Debian
//! packages it needs when missing, builds the release's images with `cargo xtask images` and the
//! scenario images ([`images`]), then runs itself again inside a network namespace of its own
//! ([`throwaway_cluster::Netns`]); there it starts the cluster ([`throwaway_cluster::Cluster`]),
//! installs the release ([`install`]), runs the scenarios ([`scenarios`]) and prints each
//! one's verdict with its evidence and timings. The cluster's guard removes everything it set
//! up, also after SIGINT or SIGTERM; the run outside then deletes the namespace and checks that
//! the host is as it was ([`host`]).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};

mod dockerd;
mod host;
mod images;
pub(crate) mod install;
mod scenarios;

/// The binaries `KUBEBUILDER_ASSETS` must hold.
pub(crate) const REQUIRED_BINARIES: &[&str] = &[
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
];

/// The options of `cargo xtask e2e`.
#[derive(Debug, clap::Args)]
pub(crate) struct E2eArgs {
    /// Run only these scenarios (repeatable; default: all but soak). Names: img, buildkit,
    /// ssh, timing, plugin, metrics, failures, pod-deleted, oom, eviction, drain,
    /// unschedulable, kubelet-restart, containerd-restart, upgrade, leader-lost, uninstall,
    /// soak.
    #[arg(long = "scenario", value_name = "NAME")]
    scenarios: Vec<String>,
    /// Keep the run's state directory (logs, pod logs) after the cluster is removed.
    #[arg(long)]
    keep_state: bool,
    /// The controller's --image-pull-grace, for `--controller host` (the release's Deployment
    /// runs with the release's own setting).
    #[arg(long, default_value = "10s")]
    image_pull_grace: String,
    /// Where the controller runs: `in-cluster`, the release's Deployment as applied (the
    /// default), or `host`, the controller image's binary started on the host with the
    /// release's ServiceAccount token (the earlier side door, kept for debugging).
    #[arg(long, value_enum, default_value_t = ControllerPlace::InCluster)]
    controller: ControllerPlace,
    /// How long the soak creates Builds, as a Go duration.
    #[arg(long, default_value = "60m")]
    soak_duration: String,
    /// Builds the soak creates a minute.
    #[arg(long, default_value_t = 12)]
    soak_rate: u32,
}

/// Where `cargo xtask e2e` runs the controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ControllerPlace {
    /// The release's Deployment, as applied.
    InCluster,
    /// The controller binary as a process of the harness.
    Host,
}

use throwaway_cluster::{interrupted, until_interrupted};

/// The scenarios a run without `--scenario` runs, in this order: `metrics` before the
/// scenarios that change the leader (its count is one process's), the node's faults before
/// the lifecycle, `uninstall` last.
pub(crate) const SCENARIOS: &[&str] = &[
    "img",
    "buildkit",
    "buildah",
    "ssh",
    "timing",
    "plugin",
    "cli",
    "metrics",
    "failures",
    "pod-deleted",
    "oom",
    "eviction",
    "drain",
    "unschedulable",
    "kubelet-restart",
    "containerd-restart",
    "upgrade",
    "leader-lost",
    "uninstall",
];

/// The scenarios that run only when `--scenario` names them: the soak (an hour by default).
pub(crate) const OPT_IN_SCENARIOS: &[&str] = &["soak"];

/// Every scenario `--scenario` accepts.
pub(crate) fn all_scenarios() -> Vec<&'static str> {
    SCENARIOS.iter().chain(OPT_IN_SCENARIOS).copied().collect()
}

/// Checks `--scenario` names; an empty list selects all.
pub(crate) fn selected(names: &[String]) -> anyhow::Result<Vec<&'static str>> {
    if names.is_empty() {
        return Ok(SCENARIOS.to_vec());
    }
    crate::harness::select_scenarios(&all_scenarios(), names)
}

/// Runs `cargo xtask e2e`: outside, it prepares everything that needs the host (packages,
/// images, the plugin's binary), runs itself again inside a new network namespace
/// ([`throwaway_cluster::Netns`]), and checks the host afterwards; inside, it runs the cluster.
pub(crate) fn run(root: &Path, args: &E2eArgs) -> anyhow::Result<()> {
    let chosen = selected(&args.scenarios)?;
    args.image_pull_grace
        .parse::<build_types::Duration>()
        .map_err(|e| anyhow::anyhow!("--image-pull-grace: {e}"))?;
    let soak = soak_settings(args)?;
    if let Some(inside) = throwaway_cluster::Inside::from_env() {
        return run_inside(root, args, &chosen, &inside, &soak);
    }
    if throwaway_cluster::assets_or_skip("e2e", REQUIRED_BINARIES).is_none() {
        return Ok(());
    }
    if !is_root() {
        bail!("cargo xtask e2e runs containerd and a kubelet: run it as root");
    }
    install_packages()?;
    let dir = std::env::temp_dir().join(format!("xtask-e2e-{}", std::process::id()));
    prepare(root, &dir)?;
    let runtime = tokio::runtime::Runtime::new().context("starting tokio")?;
    runtime.spawn(throwaway_cluster::watch_signals(
        "e2e",
        "the run inside the network namespace removes the cluster, then the namespace goes",
    ));
    let before = host::HostSnapshot::capture();
    let name = format!("xte2e-{}", std::process::id());
    let status = {
        let namespace = throwaway_cluster::Netns::create(&name)?;
        eprintln!("[netns] created network namespace {name}; running the cluster inside it");
        namespace.run_self(&dir)
    };
    if dir.exists() && !args.keep_state {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let line = before
        .compare(&host::HostSnapshot::capture())
        .and_then(|same| match throwaway_cluster::processes_naming(&dir) {
            left if left.is_empty() => Ok(format!("{same}, 0 processes of the run")),
            left => Err(format!("processes of the run still running: {left:?}")),
        });
    match &line {
        Ok(same) => eprintln!("[host] {same}"),
        Err(changed) => eprintln!("[host] {changed}"),
    }
    let status = status?;
    if !status.success() {
        bail!("the run inside the network namespace failed ({status})");
    }
    line.map_err(anyhow::Error::msg)?;
    Ok(())
}

/// What the run outside the namespace prepares: the release's images (`cargo xtask images`),
/// the scenario images under `dir/images`, and the plugin's debug binary.
fn prepare(root: &Path, dir: &Path) -> anyhow::Result<()> {
    release_images(root)?;
    std::fs::create_dir_all(dir.join("images"))?;
    let t = Instant::now();
    let specs = images::specs();
    for spec in &specs {
        let out = scenario_archive(dir, spec.reference);
        let work = out.with_extension("");
        std::fs::create_dir_all(&work)?;
        images::build(spec, &work, &out).with_context(|| format!("image {}", spec.reference))?;
        std::fs::remove_dir_all(&work)?;
    }
    eprintln!(
        "[images] {} scenario images assembled in {:.1}s",
        specs.len(),
        t.elapsed().as_secs_f64()
    );
    crate::harness::build_debug_binary("build-controller", "kubectl-build")?;
    Ok(())
}

/// Where [`prepare`] writes the archive of the scenario image `reference`.
fn scenario_archive(dir: &Path, reference: &str) -> PathBuf {
    let file = reference.replace(['/', ':'], "_");
    dir.join("images").join(format!("{file}.tar"))
}

/// The run inside the namespace: the cluster, the release installed, the scenarios.
fn run_inside(
    root: &Path,
    args: &E2eArgs,
    chosen: &[&'static str],
    inside: &throwaway_cluster::Inside,
    soak: &scenarios::Soak,
) -> anyhow::Result<()> {
    let Some(assets) = throwaway_cluster::assets_or_skip("e2e", REQUIRED_BINARIES) else {
        return Ok(());
    };
    let started = Instant::now();
    eprintln!(
        "[netns] inside network namespace {}, state in {}",
        inside.name,
        inside.dir.display()
    );
    let tars = image_archives(root, &inside.dir);
    let runtime = tokio::runtime::Runtime::new().context("starting tokio")?;
    let verdicts = runtime.block_on(async {
        tokio::spawn(throwaway_cluster::watch_signals(
            "e2e",
            "stopping the scenarios and removing the cluster",
        ));
        let inputs = throwaway_cluster::ClusterInputs {
            assets: &assets,
            images: &tars,
            pause_image: images::PAUSE,
            dir: inside.dir.clone(),
            keep_state: args.keep_state,
        };
        tokio::select! {
            result = on_cluster(inputs, root, args, chosen, soak) => result,
            () = until_interrupted() => {
                // dropping `on_cluster` drops the cluster guard, which cleans up
                Err(anyhow::anyhow!("interrupted"))
            }
        }
    })?;
    println!("{}", scenarios::summary(&verdicts, started.elapsed()));
    if verdicts.iter().any(|v| v.failed()) {
        bail!("some scenarios failed");
    }
    Ok(())
}

/// The archives the node's containerd imports: the release's images from `cargo xtask
/// images`, then the scenario images [`prepare`] wrote under `dir`.
fn image_archives(root: &Path, dir: &Path) -> Vec<PathBuf> {
    let output = root.join("target/images");
    RELEASE_IMAGES
        .iter()
        .map(|name| output.join(format!("{name}.tar")))
        .chain(
            images::specs()
                .iter()
                .map(|spec| scenario_archive(dir, spec.reference)),
        )
        .collect()
}

/// Starts the cluster, installs the release and runs the scenarios on it; drains the node and
/// removes the cluster afterwards (also when a step failed).
async fn on_cluster(
    inputs: throwaway_cluster::ClusterInputs<'_>,
    root: &Path,
    args: &E2eArgs,
    chosen: &[&'static str],
    soak: &scenarios::Soak,
) -> anyhow::Result<Vec<scenarios::Verdict>> {
    let mut cluster = throwaway_cluster::Cluster::start(inputs).await?;
    let result = install_and_run(&mut cluster, root, args, chosen, soak).await;
    if !interrupted() {
        cluster.drain().await;
    }
    drop(cluster);
    result
}

/// The install's verdict, then, when it passed, the scenarios'.
async fn install_and_run(
    cluster: &mut throwaway_cluster::Cluster,
    root: &Path,
    args: &E2eArgs,
    chosen: &[&'static str],
    soak: &scenarios::Soak,
) -> anyhow::Result<Vec<scenarios::Verdict>> {
    let bins = root.join("target/images/cargo/x86_64-unknown-linux-gnu/release");
    let t = Instant::now();
    let installed = match args.controller {
        ControllerPlace::InCluster => install::install(cluster).await,
        ControllerPlace::Host => {
            install::install_on_host(cluster, &bins, &args.image_pull_grace).await
        }
    };
    let seconds = t.elapsed().as_secs_f64();
    match installed {
        Ok((controller, evidence)) => {
            let verdict = scenarios::install_verdict(Ok(evidence), args.controller, seconds);
            scenarios::run_all(cluster, &controller, verdict, chosen, soak).await
        }
        Err(error) => Ok(vec![scenarios::install_verdict(
            Err(error),
            args.controller,
            seconds,
        )]),
    }
}

/// `--soak-duration` and `--soak-rate`, checked.
fn soak_settings(args: &E2eArgs) -> anyhow::Result<scenarios::Soak> {
    let duration = args
        .soak_duration
        .parse::<build_types::Duration>()
        .ok()
        .and_then(build_types::Duration::to_std)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "--soak-duration: {:?} is not a duration such as 60m",
                args.soak_duration
            )
        })?;
    if args.soak_rate == 0 {
        bail!("--soak-rate: at least 1 Build a minute");
    }
    Ok(scenarios::Soak {
        duration,
        per_minute: args.soak_rate,
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Installs the Debian packages the cluster and the images need, when missing (as `.ci/run`
/// does for git).
fn install_packages() -> anyhow::Result<()> {
    let missing: Vec<&str> = images::HOST_PACKAGES
        .iter()
        .filter(|(_, file)| !Path::new(file).exists())
        .map(|(package, _)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("[e2e] installing: {}", missing.join(" "));
    throwaway_cluster::run_quiet(Command::new("apt-get").args(["update", "-qq"]))?;
    throwaway_cluster::run_quiet(
        Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    Ok(())
}

/// The release's four images, from `cargo xtask images` (static programs, git-init's pinned
/// Debian packages), as archives in `target/images/`.
fn release_images(root: &Path) -> anyhow::Result<()> {
    let t = Instant::now();
    let status = crate::harness::cargo()
        .args(["xtask", "images"])
        .current_dir(root)
        .stdout(std::process::Stdio::null())
        .status()
        .context("running cargo xtask images")?;
    if !status.success() {
        bail!("cargo xtask images failed ({status})");
    }
    eprintln!(
        "[images] release images from cargo xtask images in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The archives `cargo xtask images` writes to `target/images/`.
const RELEASE_IMAGES: &[&str] = &["controller", "creds-init", "git-init", "nop"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_selection() {
        assert_eq!(selected(&[]).unwrap(), SCENARIOS);
        assert!(
            !SCENARIOS.contains(&"soak"),
            "the hour-long soak runs only when asked for"
        );
        assert_eq!(selected(&["soak".to_owned()]).unwrap(), ["soak"]);
        assert!(
            SCENARIOS.iter().all(|s| all_scenarios().contains(s)),
            "every default scenario can be named"
        );
        assert_eq!(selected(&["ssh".to_owned()]).unwrap(), ["ssh"]);
        let error = selected(&["nope".to_owned()]).unwrap_err().to_string();
        assert!(
            error.starts_with("unknown scenario nope; known: img"),
            "{error}"
        );
    }

    #[test]
    fn arguments_parse() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            e2e: E2eArgs,
        }
        let cli = Cli::try_parse_from([
            "e2e",
            "--scenario",
            "img",
            "--scenario",
            "ssh",
            "--keep-state",
        ])
        .unwrap();
        assert_eq!(cli.e2e.scenarios, ["img", "ssh"]);
        assert!(cli.e2e.keep_state);
        assert_eq!(cli.e2e.image_pull_grace, "10s");
    }
}
