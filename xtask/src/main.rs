//! `cargo xtask`: the one entry point for the files this workspace generates and commits.
//!
//! - `cargo xtask crds` writes the CustomResourceDefinitions to `config/`;
//!   `cargo xtask crds --check` only reports whether they are stale.
//! - `cargo xtask test` runs every check (the README's test command).
//!
//! The contents come from the library crates (`build_types::crd_files`), so the tests that
//! guard the committed files render them with the same code. This crate only does the I/O.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

mod crds;
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
    /// Run every check: fmt, clippy -D warnings, tests and doc tests, rustdoc, generated-file
    /// freshness, the example programs. The README's test command.
    Test,
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
    let root = workspace_root();
    match cli.command {
        Command::Crds(CheckArgs { check: false }) => crds::write(&root),
        Command::Crds(CheckArgs { check: true }) => crds::check(&root),
        Command::Test => test::run(&root),
    }
}

/// The workspace's root directory: the parent of this crate's.
fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}
