//! `cargo xtask fuzz`: the fuzz targets on stable Rust, without libFuzzer, for CI.
//!
//! The targets' bodies live in `fuzz/src/lib.rs` (the same functions `cargo fuzz` calls), and
//! are included here. Each target runs over its seed corpus (the seed examples and every file
//! under `fuzz/corpus/<target>/` and `fuzz/artifacts/<target>/` when present) and then over a
//! fixed number of mutations of it, from a fixed seed: the same inputs on every run, so a crash
//! fails the build reproducibly. A crashing input is written to `target/fuzz-crashes/` and
//! named in the error, with the command that replays it under `cargo fuzz`.
//!
//! The generator, the mutator and the corpus ([`crate::harness::inputs`]) are shared with `cargo xtask chaos`,
//! whose bad-input scenario mutates the same corpus.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, bail};

use crate::harness::inputs::{Rng, corpus, mutate};

#[allow(unreachable_pub)]
#[path = "../../fuzz/src/lib.rs"]
mod targets;

/// The options of `cargo xtask fuzz`.
#[derive(Debug, clap::Args)]
pub(crate) struct FuzzArgs {
    /// Mutated inputs per target, after the seed corpus.
    #[arg(long, default_value_t = 3000)]
    iterations: usize,
    /// The mutator's seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Run only this target (load, substitute).
    #[arg(long)]
    target: Option<String>,
}

/// One fuzz target: its name and its body (its built-in seeds are in [`crate::harness::inputs::SEEDS`]).
struct Target {
    name: &'static str,
    body: fn(&[u8]),
}

const TARGETS: &[Target] = &[
    Target {
        name: "load",
        body: targets::load,
    },
    Target {
        name: "substitute",
        body: targets::substitute,
    },
];

/// What one target's run did.
#[derive(Debug, PartialEq)]
struct Run {
    seeds: usize,
    mutations: usize,
    /// The first input that panicked, and the panic's message.
    crash: Option<(Vec<u8>, String)>,
}

/// Runs `body` over `corpus` and then `iterations` mutations of it from `seed`; stops at the
/// first panic.
fn run_target(body: fn(&[u8]), corpus: &[Vec<u8>], iterations: usize, seed: u64) -> Run {
    let attempt = |input: &[u8]| {
        std::panic::catch_unwind(|| body(input)).map_err(|payload| {
            payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "a panic without a message".to_owned())
        })
    };
    let mut run = Run {
        seeds: 0,
        mutations: 0,
        crash: None,
    };
    for input in corpus {
        run.seeds += 1;
        if let Err(message) = attempt(input) {
            run.crash = Some((input.clone(), message));
            return run;
        }
    }
    let mut rng = Rng::new(seed);
    let fallback = [Vec::new()];
    let pool: &[Vec<u8>] = if corpus.is_empty() { &fallback } else { corpus };
    for _ in 0..iterations {
        let chosen: &Vec<u8> = rng.pick(pool);
        let input = mutate(chosen, corpus, &mut rng);
        run.mutations += 1;
        if let Err(message) = attempt(&input) {
            run.crash = Some((input, message));
            return run;
        }
    }
    run
}

/// Runs `cargo xtask fuzz`.
pub(crate) fn run(root: &Path, args: &FuzzArgs) -> anyhow::Result<()> {
    let chosen: Vec<&Target> = match &args.target {
        Some(name) => vec![
            TARGETS
                .iter()
                .find(|t| t.name == name)
                .with_context(|| format!("unknown target {name}; known: load, substitute"))?,
        ],
        None => TARGETS.iter().collect(),
    };
    for target in chosen {
        let started = Instant::now();
        let corpus = corpus(root, target.name)?;
        let run = run_target(target.body, &corpus, args.iterations, args.seed);
        if let Some((input, message)) = run.crash {
            let dir = root.join("target/fuzz-crashes");
            std::fs::create_dir_all(&dir)?;
            let file = dir.join(format!(
                "{}-seed{}-{}",
                target.name,
                args.seed,
                run.seeds + run.mutations
            ));
            std::fs::write(&file, &input)?;
            bail!(
                "fuzz target {} panicked on input {} of {} (saved to {}): {message}; replay: cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run {} {}",
                target.name,
                run.seeds + run.mutations,
                corpus.len() + args.iterations,
                file.display(),
                target.name,
                file.display()
            );
        }
        println!(
            "fuzz {}: {} seeds and {} mutations (seed {}), no panic, {:.1}s",
            target.name,
            run.seeds,
            run.mutations,
            args.seed,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_body_is_reported_with_its_input() {
        fn body(data: &[u8]) {
            assert!(!data.contains(&b'!'), "found a bang");
        }
        let run = run_target(body, &[b"calm".to_vec()], 10_000, 1);
        let (input, message) = run.crash.expect("the mutator inserts a '!' eventually");
        assert!(input.contains(&b'!'));
        assert!(message.contains("found a bang"), "{message}");
        assert_eq!(run.seeds, 1);

        let crash_in_corpus = run_target(body, &[b"calm".to_vec(), b"boom!".to_vec()], 5, 1);
        assert_eq!(crash_in_corpus.seeds, 2);
        assert_eq!(crash_in_corpus.mutations, 0);
        assert_eq!(crash_in_corpus.crash.unwrap().0, b"boom!");
    }

    #[test]
    fn a_clean_body_runs_every_input() {
        fn body(_: &[u8]) {}
        let run = run_target(body, &[b"a".to_vec(), b"b".to_vec()], 100, 9);
        assert_eq!(
            run,
            Run {
                seeds: 2,
                mutations: 100,
                crash: None
            }
        );
    }
}
