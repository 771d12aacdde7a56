//! `cargo xtask fuzz`: the fuzz targets on stable Rust, without libFuzzer, for CI.
//!
//! The targets' bodies live in `fuzz/src/lib.rs` (the same functions `cargo fuzz` calls), and
//! are included here. Each target runs over its seed corpus (the seed examples and every file
//! under `fuzz/corpus/<target>/` and `fuzz/artifacts/<target>/` when present) and then over a
//! fixed number of mutations of it, from a fixed seed: the same inputs on every run, so a crash
//! fails the build reproducibly. A crashing input is written to `target/fuzz-crashes/` and
//! named in the error, with the command that replays it under `cargo fuzz`.
//!
//! [`Rng`] and [`mutate`] are shared with `cargo xtask chaos`, whose bad-input scenario mutates
//! the same corpus.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};

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

/// A small, fast, seeded pseudo-random generator (SplitMix64): the same seed gives the same
/// sequence on every machine.
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (0 when `bound` is 0).
    pub(crate) fn below(&mut self, bound: usize) -> usize {
        if bound == 0 {
            return 0;
        }
        (self.next_u64() % bound as u64) as usize
    }

    /// True with probability `1 / n`.
    pub(crate) fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    /// One element of a non-empty slice.
    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// Shuffles in place (Fisher–Yates).
    pub(crate) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// Tokens the mutator inserts: YAML structure, the substitution syntax, odd numbers and
/// unicode that parsers get wrong.
const TOKENS: &[&str] = &[
    "${",
    "}",
    "$",
    "$$",
    "${IMAGE}",
    ":",
    ": ",
    "- ",
    "\n",
    "\n  ",
    "\n- ",
    "{",
    "[",
    "]",
    "\"",
    "'",
    "&a ",
    "*a",
    "!!binary ",
    "!!str ",
    "<<: ",
    "\t",
    "\0",
    "~",
    "---\n",
    "#",
    "null",
    "-1",
    "1e999",
    "0x1F",
    "9223372036854775808",
    "é",
    "🦀",
    "\u{202e}",
    "\u{feff}",
    "\r\n",
    "kind: Build\n",
    "apiVersion: build.knative.dev/v1alpha1\n",
    "steps: ",
    "template: ",
    "timeout: ",
    "name: ",
    "=",
    "\\u0000",
    "\\",
];

/// Inputs are capped at this size: a mutation that would grow past it is not applied.
pub(crate) const MAX_INPUT: usize = 64 * 1024;

/// Applies one to four random edits to `input`: a flipped bit, a replaced or deleted range, an
/// inserted token, a duplicated range (which nests and grows), or a splice from another
/// corpus entry.
pub(crate) fn mutate(input: &[u8], corpus: &[Vec<u8>], rng: &mut Rng) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = out.len();
        match rng.below(7) {
            0 if len > 0 => {
                let at = rng.below(len);
                out[at] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let at = rng.below(len);
                out[at] = rng.next_u64() as u8;
            }
            2 if len > 0 => {
                let at = rng.below(len);
                let end = (at + 1 + rng.below(16)).min(len);
                out.drain(at..end);
            }
            3 if len > 0 => {
                let at = rng.below(len);
                let end = (at + 1 + rng.below(64)).min(len);
                let copy = out[at..end].to_vec();
                let most = if rng.one_in(8) { 200 } else { 4 };
                let times = 1 + rng.below(most);
                if len + copy.len() * times <= MAX_INPUT {
                    let insert_at = rng.below(len + 1);
                    let repeated: Vec<u8> = copy.repeat(times);
                    out.splice(insert_at..insert_at, repeated);
                }
            }
            4 if !corpus.is_empty() => {
                let other = rng.pick(corpus);
                if !other.is_empty() {
                    let from = rng.below(other.len());
                    let to = (from + 1 + rng.below(256)).min(other.len());
                    let at = rng.below(len + 1);
                    if len + (to - from) <= MAX_INPUT {
                        out.splice(at..at, other[from..to].iter().copied());
                    }
                }
            }
            5 if len > 1 => {
                out.truncate(rng.below(len));
            }
            _ => {
                let token = rng.pick(TOKENS).as_bytes();
                let at = rng.below(len + 1);
                if len + token.len() <= MAX_INPUT {
                    out.splice(at..at, token.iter().copied());
                }
            }
        }
    }
    out
}

/// One fuzz target: its name, its body and its built-in seeds.
struct Target {
    name: &'static str,
    body: fn(&[u8]),
    seeds: &'static [&'static str],
}

const TARGETS: &[Target] = &[
    Target {
        name: "load",
        body: targets::load,
        seeds: &[
            "kind: Build\napiVersion: build.knative.dev/v1alpha1\nmetadata: {name: a}\nspec: {steps: [{name: s, image: busybox}]}\n",
        ],
    },
    Target {
        name: "substitute",
        body: targets::substitute,
        seeds: &[
            "${IMAGE}",
            "build ${IMAGE} --tag=${TAG}\0IMAGE=busybox\0TAG=v1",
            "$${ESCAPED} ${A} ${B}\0A=${B}\0B=x",
            "plain text, no dollars",
            "${unterminated",
            "${}\0=empty",
        ],
    },
];

/// The seed corpus of a target: its built-in seeds, the seed examples (for `load`), and the
/// files under `fuzz/corpus/<target>/` and `fuzz/artifacts/<target>/`.
pub(crate) fn corpus(root: &Path, target: &str) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut inputs: Vec<Vec<u8>> = TARGETS
        .iter()
        .filter(|t| t.name == target)
        .flat_map(|t| t.seeds.iter().map(|s| s.as_bytes().to_vec()))
        .collect();
    let mut dirs = vec![
        root.join("fuzz/corpus").join(target),
        root.join("fuzz/artifacts").join(target),
    ];
    if target == "load" {
        dirs.insert(0, root.join("examples/seed"));
    }
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| Some(e.ok()?.path()))
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for file in files {
            inputs
                .push(std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?);
        }
    }
    Ok(inputs)
}

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
    fn the_generator_is_deterministic_and_in_range() {
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        let xs: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..5).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs[0], xs[1]);
        assert!((0..1000).all(|_| a.below(7) < 7));
        assert_eq!(a.below(0), 0);
        let mut items = [1, 2, 3, 4, 5, 6, 7, 8];
        a.shuffle(&mut items);
        let mut sorted = items;
        sorted.sort_unstable();
        assert_eq!(sorted, [1, 2, 3, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn mutations_change_inputs_and_stay_bounded() {
        let corpus = vec![b"kind: Build\nspec: {}\n".to_vec()];
        let mut rng = Rng::new(3);
        let mut changed = 0;
        let mut input = corpus[0].clone();
        for _ in 0..2000 {
            let next = mutate(&input, &corpus, &mut rng);
            assert!(next.len() <= MAX_INPUT);
            if next != input {
                changed += 1;
            }
            input = next;
        }
        assert!(
            changed > 1500,
            "only {changed} of 2000 mutations changed anything"
        );
    }

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

    #[test]
    fn the_load_corpus_holds_the_seed_examples() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let corpus = corpus(root, "load").unwrap();
        assert!(corpus.len() >= 6, "{}", corpus.len());
        assert!(
            corpus
                .iter()
                .any(|c| String::from_utf8_lossy(c).contains("BuildTemplate"))
        );
    }
}
