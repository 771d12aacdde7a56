//! `cargo xtask e2e`: the product on a real one-node cluster on this machine.
//!
//! Needs root and `KUBEBUILDER_ASSETS` holding etcd, kube-apiserver, kube-controller-manager,
//! kube-scheduler and kubelet; without them it prints one line naming what is missing and
//! exits 0 before installing or starting anything. Otherwise it installs the Debian packages
//! it needs when missing, builds the release's images with `cargo xtask images` and the
//! scenario images ([`images`]), starts the cluster ([`cluster`]), installs the release, runs the scenarios
//! ([`scenarios`]) and prints each one's verdict with its evidence and timings. The cluster's
//! guard removes everything it set up, also after SIGINT or SIGTERM.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};

mod cluster;
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
];

/// The options of `cargo xtask e2e`.
#[derive(Debug, clap::Args)]
pub(crate) struct E2eArgs {
    /// Run only these scenarios (repeatable; default: all). Names: img, buildkit, failures,
    /// ssh, timing, plugin.
    #[arg(long = "scenario", value_name = "NAME")]
    scenarios: Vec<String>,
    /// Keep the run's state directory (logs, pod logs) after the cluster is removed.
    #[arg(long)]
    keep_state: bool,
    /// The controller's --image-pull-grace in the run.
    #[arg(long, default_value = "10s")]
    image_pull_grace: String,
}

pub(crate) use crate::signals::interrupted;
use crate::signals::until_interrupted;

/// The scenario names `--scenario` accepts.
pub(crate) const SCENARIOS: &[&str] = &["img", "buildkit", "failures", "ssh", "timing", "plugin"];

/// Checks `--scenario` names; an empty list selects all.
pub(crate) fn selected(names: &[String]) -> anyhow::Result<Vec<&'static str>> {
    crate::select_scenarios(SCENARIOS, names)
}

/// Runs `cargo xtask e2e`.
pub(crate) fn run(root: &Path, args: &E2eArgs) -> anyhow::Result<()> {
    let chosen = selected(&args.scenarios)?;
    args.image_pull_grace
        .parse::<build_types::Duration>()
        .map_err(|e| anyhow::anyhow!("--image-pull-grace: {e}"))?;
    let Some(assets) = crate::control_plane::assets_or_skip("e2e", REQUIRED_BINARIES) else {
        return Ok(());
    };
    if !is_root() {
        bail!("cargo xtask e2e runs containerd and a kubelet: run it as root");
    }
    let started = Instant::now();
    install_packages()?;
    let (mut tars, bins) = release_images(root)?;
    let dir = std::env::temp_dir().join(format!("xtask-e2e-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("images"))?;
    let t = Instant::now();
    for spec in images::specs() {
        let file = spec.reference.replace(['/', ':'], "_");
        let out = dir.join("images").join(format!("{file}.tar"));
        let work = dir.join("images").join(&file);
        std::fs::create_dir_all(&work)?;
        images::build(&spec, &work, &out).with_context(|| format!("image {}", spec.reference))?;
        std::fs::remove_dir_all(&work)?;
        tars.push(out);
    }
    eprintln!(
        "[images] {} images assembled in {:.1}s",
        tars.len(),
        t.elapsed().as_secs_f64()
    );

    let runtime = tokio::runtime::Runtime::new().context("starting tokio")?;
    let verdicts = runtime.block_on(async {
        tokio::spawn(crate::signals::watch_signals(
            "e2e",
            "stopping the scenarios and removing the cluster",
        ));
        let inputs = cluster::StartInputs {
            workspace: root,
            assets: &assets,
            images: &tars,
            dir: dir.clone(),
            keep_state: args.keep_state,
        };
        let work = async {
            let mut cluster = cluster::Cluster::start(inputs).await?;
            let result = async {
                let controller =
                    install::install(&mut cluster, &bins, &args.image_pull_grace).await?;
                scenarios::run_all(&mut cluster, &controller, &chosen).await
            }
            .await;
            if !interrupted() {
                cluster.drain().await;
            }
            drop(cluster);
            result
        };
        tokio::pin!(work);
        tokio::select! {
            result = &mut work => result,
            () = until_interrupted() => {
                // dropping `work` drops the cluster guard, which cleans up
                Err(anyhow::anyhow!("interrupted"))
            }
        }
    });
    let verdicts = verdicts?;
    println!("{}", scenarios::summary(&verdicts, started.elapsed()));
    if verdicts.iter().any(|v| v.failed()) {
        bail!("some scenarios failed");
    }
    Ok(())
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
    cluster::run_quiet(Command::new("apt-get").args(["update", "-qq"]))?;
    cluster::run_quiet(
        Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    Ok(())
}

/// The release's four images, from `cargo xtask images` (static programs, git-init's pinned
/// Debian packages): their archives, and the directory holding the programs they carry (the
/// host-run controller is the very binary of the controller image).
fn release_images(root: &Path) -> anyhow::Result<(Vec<PathBuf>, PathBuf)> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let t = Instant::now();
    let status = Command::new(cargo)
        .args(["xtask", "images"])
        .current_dir(root)
        .stdout(std::process::Stdio::null())
        .status()
        .context("running cargo xtask images")?;
    if !status.success() {
        bail!("cargo xtask images failed ({status})");
    }
    let output = root.join("target/images");
    let tars = RELEASE_IMAGES
        .iter()
        .map(|name| output.join(format!("{name}.tar")))
        .collect();
    eprintln!(
        "[images] release images from cargo xtask images in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    Ok((tars, output.join("cargo/x86_64-unknown-linux-gnu/release")))
}

/// The archives `cargo xtask images` writes to `target/images/`.
const RELEASE_IMAGES: &[&str] = &["controller", "creds-init", "git-init", "nop"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_selection() {
        assert_eq!(selected(&[]).unwrap(), SCENARIOS);
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
