//! Seeded random inputs, the same on every machine: a generator ([`Rng`]), a mutator of byte
//! strings ([`mutate`]) and the seed corpus of each fuzz target ([`corpus`]). `cargo xtask
//! fuzz` runs its targets over them; `cargo xtask chaos` draws its Build mix, kill moments and
//! bad input from them.

use std::path::{Path, PathBuf};

use anyhow::Context;

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

/// The built-in seeds of each fuzz target, by name.
pub(crate) const SEEDS: &[(&str, &[&str])] = &[
    (
        "load",
        &[
            "kind: Build\napiVersion: build.knative.dev/v1alpha1\nmetadata: {name: a}\nspec: {steps: [{name: s, image: busybox}]}\n",
        ],
    ),
    (
        "substitute",
        &[
            "${IMAGE}",
            "build ${IMAGE} --tag=${TAG}\0IMAGE=busybox\0TAG=v1",
            "$${ESCAPED} ${A} ${B}\0A=${B}\0B=x",
            "plain text, no dollars",
            "${unterminated",
            "${}\0=empty",
        ],
    ),
];

/// The seed corpus of a target: its built-in seeds, the seed examples (for `load`), and the
/// files under `fuzz/corpus/<target>/` and `fuzz/artifacts/<target>/`.
pub(crate) fn corpus(root: &Path, target: &str) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut inputs: Vec<Vec<u8>> = SEEDS
        .iter()
        .filter(|(name, _)| *name == target)
        .flat_map(|(_, seeds)| seeds.iter().map(|s| s.as_bytes().to_vec()))
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
