//! `cargo xtask`: the one entry point for the files this workspace generates and commits.
//!
//! - `cargo xtask crds` writes the CustomResourceDefinitions to `config/`;
//!   `cargo xtask crds --check` only reports whether they are stale.
//! - `cargo xtask manifests` writes the release manifests to `config/release.yaml`
//!   (`--check` likewise).
//! - `cargo xtask test` runs every check (the README's test command).
//! - `cargo xtask images` builds the release's images as OCI archives in `target/images/`,
//!   without a registry or a container daemon.
//! - `cargo xtask bench-controller` measures the controller on a real API server.
//! - `cargo xtask e2e` installs the release as shipped on a real one-node cluster on this
//!   machine, in a network namespace of its own (root, `KUBEBUILDER_ASSETS`); without the
//!   binaries it says which are missing and exits 0.
//! - `cargo xtask chaos` proves the controller's promises under faults (SIGKILL, API server
//!   restarts, leader failover, least privilege, bad input, Secret sentinels) on a real API
//!   server (`KUBEBUILDER_ASSETS`); without the binaries it says which are missing and exits 0.
//! - `cargo xtask fuzz` runs the fuzz targets on stable Rust over their seed corpus and a fixed
//!   number of seeded mutations.
//!
//! The contents come from the library crates (`build_types::crd_files`,
//! `build_controller::release::manifests::release_yaml`), so the tests that guard the committed files render them
//! with the same code. This crate only does the I/O.
//!
//! The harnesses (`e2e`, `chaos`, `bench_controller`, `fuzz`, `images`) share what lies below
//! them: [`harness`] (the workspace root, builds, `--scenario` selection, the controller
//! process, seeded inputs, the stand-in kubelet, the release applied) and the
//! `throwaway-cluster` crate (`xtask/cluster/`: the control plane, the node, the network
//! namespace), which the controller's envtest tests use too. None imports from a sibling or
//! from this file, which only parses the command line.

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

mod bench_controller;
mod chaos;
mod crds;
mod e2e;
mod fuzz;
mod harness;
mod images;
mod manifests;
mod test;

/// Generates the workspace's committed files.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write the CustomResourceDefinitions to config/.
    Crds(CheckArgs),
    /// Write the release manifests (CRDs, namespace, RBAC, Deployment, Service) to
    /// config/release.yaml.
    Manifests(CheckArgs),
    /// Run every check: fmt, clippy -D warnings, tests and doc tests, rustdoc, generated-file
    /// freshness, the example programs. The README's test command.
    Test,
    /// Measure the controller against the cluster KUBECONFIG names: N Builds to pods and
    /// statuses, against a baseline of N plain pod creates.
    BenchController(bench_controller::BenchArgs),
    /// Start a throw-away one-node cluster in a network namespace of its own (root;
    /// KUBEBUILDER_ASSETS with etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
    /// kubelet, kube-proxy), install the release as shipped, run the end-to-end scenarios, and
    /// remove the cluster.
    E2e(e2e::E2eArgs),
    /// Prove the controller's promises under faults on a throw-away control plane
    /// (KUBEBUILDER_ASSETS with etcd and kube-apiserver): SIGKILLs, API server restarts, leader
    /// failover, bad input at scale, as the release's ServiceAccount, with Secret sentinels.
    Chaos(chaos::ChaosArgs),
    /// Run the fuzz targets on stable Rust (no libFuzzer): the seed corpus, then a fixed
    /// number of seeded mutations; a panic fails with the input saved.
    Fuzz(fuzz::FuzzArgs),
    /// Build the images (controller, creds-init, git-init, nop) as OCI image archives in
    /// target/images/, offline and reproducibly, and print each one's digest.
    Images(images::ImagesArgs),
}

/// The options every generating subcommand takes.
#[derive(Debug, Args)]
struct CheckArgs {
    /// Write nothing; exit non-zero if a generated file is missing, stale or left over.
    #[arg(long)]
    check: bool,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line, without the backtrace `anyhow` adds under RUST_BACKTRACE.
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let root = harness::workspace_root();
    match cli.command {
        Command::Crds(CheckArgs { check: false }) => crds::write(&root),
        Command::Crds(CheckArgs { check: true }) => crds::check(&root),
        Command::Manifests(CheckArgs { check: false }) => manifests::write(&root),
        Command::Manifests(CheckArgs { check: true }) => manifests::check(&root),
        Command::Test => test::run(&root),
        Command::BenchController(args) => bench_controller::run(&root, &args),
        Command::E2e(args) => e2e::run(&root, &args),
        Command::Chaos(args) => chaos::run(&root, &args),
        Command::Fuzz(args) => fuzz::run(&root, &args),
        Command::Images(args) => images::run(&root, &args),
    }
}
