//! `cargo xtask test`: every check a change must pass, in the order that fails fastest.
//!
//! Formatting, clippy with `-D warnings` on every target, the workspace's unit, integration and
//! doc tests (which include the generated-file freshness tests), rustdoc with `-D warnings`, the
//! generated files' `--check`, the example programs, and the fuzz targets on stable over their
//! seed corpus and a fixed number of seeded mutations (`cargo xtask fuzz`).

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, bail};

/// One step: a name for the summary and the command line after `cargo`.
struct Step {
    name: &'static str,
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
}

const STEPS: &[Step] = &[
    Step {
        name: "format",
        args: &["fmt", "--all", "--check"],
        env: &[],
    },
    Step {
        name: "clippy",
        args: &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
        env: &[],
    },
    Step {
        name: "tests",
        args: &["test", "--workspace", "--locked"],
        // Snapshots are compared, never written: review changes with `cargo insta review`
        // or INSTA_UPDATE=always, then commit the .snap files.
        env: &[("INSTA_UPDATE", "no")],
    },
    Step {
        name: "docs",
        args: &["doc", "--workspace", "--no-deps", "--locked"],
        env: &[("RUSTDOCFLAGS", "-D warnings")],
    },
    Step {
        // The leaf crate must stay publishable on its own (the others follow once it is
        // published, as their path dependencies carry versions).
        name: "package build-types",
        args: &["package", "-p", "build-types", "--allow-dirty", "--quiet"],
        env: &[],
    },
    Step {
        name: "generated CRDs",
        args: &["xtask", "crds", "--check"],
        env: &[],
    },
    Step {
        name: "generated release manifests",
        args: &["xtask", "manifests", "--check"],
        env: &[],
    },
    Step {
        name: "example compile_img",
        args: &[
            "run",
            "-q",
            "--locked",
            "-p",
            "build-examples",
            "--example",
            "compile_img",
        ],
        env: &[],
    },
    Step {
        // Without a cluster the example says so and exits 0; pointing KUBECONFIG at nothing
        // keeps a developer's own cluster out of the test run.
        name: "example embed_controller",
        args: &[
            "run",
            "-q",
            "--locked",
            "-p",
            "build-examples",
            "--example",
            "embed_controller",
        ],
        env: &[("KUBECONFIG", "/nonexistent/kubeconfig")],
    },
    Step {
        // The fuzz targets' bodies, without libFuzzer: the seed corpus and 20,000 mutations
        // each from a fixed seed, so a crash in the corpus fails the build; `cargo fuzz run`
        // stays the long, coverage-guided run (fuzz/README.md).
        name: "fuzz targets (fixed iterations)",
        args: &["xtask", "fuzz", "--iterations", "20000"],
        env: &[],
    },
];

/// Runs every step, stopping at the first failure.
pub(crate) fn run(root: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut timings = Vec::new();
    for step in STEPS {
        eprintln!("==> {} (cargo {})", step.name, step.args.join(" "));
        let step_started = Instant::now();
        let mut command = crate::harness::cargo();
        command.args(step.args).current_dir(root);
        for (key, value) in step.env {
            if std::env::var_os(key).is_none() || *key == "KUBECONFIG" {
                command.env(key, value);
            }
        }
        let status = command
            .status()
            .with_context(|| format!("running cargo {}", step.args.join(" ")))?;
        let seconds = step_started.elapsed().as_secs_f64();
        timings.push((step.name, seconds));
        if !status.success() {
            bail!(
                "{} failed ({status}); rerun: cargo {}",
                step.name,
                step.args.join(" ")
            );
        }
    }
    eprintln!(
        "==> all checks passed in {:.0}s",
        started.elapsed().as_secs_f64()
    );
    for (name, seconds) in timings {
        eprintln!("    {name:<26} {seconds:>6.1}s");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    /// ARCHITECTURE.md's invariant: no file of a crate imports, through its `use` lines and
    /// paths, a file that imports it back (`xtask/cycles.py` reads them; it says which).
    #[test]
    fn no_import_circles() {
        let root = crate::harness::workspace_root();
        for src in [
            "build-types/src",
            "build-template/src",
            "build-auth/src",
            "build-pod/src",
            "build-controller/src",
            "xtask/src",
            "xtask/cluster/src",
        ] {
            let out = Command::new("python3")
                .arg(root.join("xtask/cycles.py"))
                .arg(root.join(src))
                .output()
                .expect("python3 runs xtask/cycles.py");
            assert!(
                out.status.success(),
                "{src} has an import circle:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
