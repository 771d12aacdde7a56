//! The results format: what a step (or `git-init`) writes to its termination message for the
//! Build's status to carry, and the rules it is read by.
//!
//! A step reports results by writing lines `KEY=VALUE` to `/dev/termination-log`, as Tekton
//! steps report results:
//!
//! ```sh
//! echo "IMAGE_URL=registry.example.com/app:1.0" >> /dev/termination-log
//! echo "IMAGE_DIGEST=sha256:$(cat digest.txt)" >> /dev/termination-log
//! ```
//!
//! Rules, each broken one reported (never failing the Build) by [`parse_results`]:
//! - one result a line, the key before the first `=`, the value after it, as written; blank
//!   lines are skipped;
//! - a key is a letter or `_` then letters, digits and `_`, at most [`MAX_RESULT_NAME_LEN`]
//!   bytes; a value at most [`MAX_RESULT_VALUE_LEN`] bytes;
//! - at most [`MAX_RESULTS_PER_STEP`] results a step; a key written twice keeps its last value.
//!
//! The kubelet keeps at most [`termination_budget`] bytes of each container's message (4 KiB,
//! or less when the pod has more than three containers: 12 KiB are shared by all of them), so
//! the reader drops every result of a message that reaches that size: it may have been cut.

use std::collections::BTreeMap;

/// The key under which a source's container reports the full SHA it checked out (`git-init`
/// does; a custom source may).
pub const SOURCE_COMMIT: &str = "commit";
/// The key under which a source's container reports the revision it was asked for.
pub const SOURCE_REVISION: &str = "revision";
/// The key under which a custom source reports where it fetched from.
pub const SOURCE_URL: &str = "url";

/// The longest result key, in bytes.
pub const MAX_RESULT_NAME_LEN: usize = 64;
/// The longest result value, in bytes.
pub const MAX_RESULT_VALUE_LEN: usize = 1024;
/// The most results one step may report.
pub const MAX_RESULTS_PER_STEP: usize = 16;
/// The kubelet's limit on one container's termination message, in bytes.
pub const KUBELET_CONTAINER_MESSAGE_LIMIT: usize = 4096;
/// The kubelet's limit on all the termination messages of one pod, in bytes, shared evenly by
/// its containers.
pub const KUBELET_POD_MESSAGE_LIMIT: usize = 12 * 1024;

/// The results of one termination message, and what was dropped of it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParsedResults {
    /// The results kept, `(key, value)`, in the order the keys first appear.
    pub results: Vec<(String, String)>,
    /// Why lines were dropped, one sentence each (`line 2: "a b" is not a result name …`).
    pub dropped: Vec<String>,
}

/// Whether `name` may be a result key: a letter or `_`, then letters, digits and `_`, at most
/// [`MAX_RESULT_NAME_LEN`] bytes.
///
/// ```
/// use build_pod::is_result_name;
/// assert!(is_result_name("IMAGE_DIGEST"));
/// assert!(is_result_name("commit"));
/// assert!(!is_result_name("2FAST"));
/// assert!(!is_result_name("image-url"));
/// ```
pub fn is_result_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    first_ok
        && name.len() <= MAX_RESULT_NAME_LEN
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The most bytes of one container's termination message the kubelet keeps in a pod of
/// `containers` containers (init containers included): 12 KiB shared evenly, at most 4 KiB.
///
/// ```
/// use build_pod::termination_budget;
/// assert_eq!(termination_budget(3), 4096);
/// assert_eq!(termination_budget(6), 2048);
/// ```
pub fn termination_budget(containers: usize) -> usize {
    (KUBELET_POD_MESSAGE_LIMIT / containers.max(1)).min(KUBELET_CONTAINER_MESSAGE_LIMIT)
}

/// Reads the results of a termination message by the rules of this module. Pure; never fails:
/// what breaks a rule is dropped and said in [`ParsedResults::dropped`].
///
/// ```
/// use build_pod::parse_results;
/// let parsed = parse_results("IMAGE_URL=r.example/app\n\nIMAGE_DIGEST=sha256:ab\nnot a result\n");
/// assert_eq!(parsed.results[1], ("IMAGE_DIGEST".to_owned(), "sha256:ab".to_owned()));
/// assert_eq!(parsed.dropped, ["line 4 is not KEY=VALUE: \"not a result\""]);
/// ```
pub fn parse_results(message: &str) -> ParsedResults {
    let mut parsed = ParsedResults::default();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut over_limit = Vec::new();
    for (number, line) in message.split('\n').enumerate().map(|(i, l)| (i + 1, l)) {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            parsed.dropped.push(format!(
                "line {number} is not KEY=VALUE: {:?}",
                shorten(line, 40)
            ));
            continue;
        };
        if !is_result_name(key) {
            parsed.dropped.push(format!(
                "line {number}: {:?} is not a result name (a letter or '_', then letters, digits and '_', at most {MAX_RESULT_NAME_LEN} bytes)",
                shorten(key, MAX_RESULT_NAME_LEN)
            ));
            continue;
        }
        if value.len() > MAX_RESULT_VALUE_LEN {
            parsed.dropped.push(format!(
                "line {number}: the value of {key} is {} bytes, more than {MAX_RESULT_VALUE_LEN}",
                value.len()
            ));
            continue;
        }
        if let Some(&at) = index.get(key) {
            parsed.dropped.push(format!(
                "line {number}: {key} written again; its last value is kept"
            ));
            parsed.results[at].1 = value.to_owned();
            continue;
        }
        if parsed.results.len() == MAX_RESULTS_PER_STEP {
            over_limit.push(key.to_owned());
            continue;
        }
        index.insert(key.to_owned(), parsed.results.len());
        parsed.results.push((key.to_owned(), value.to_owned()));
    }
    if !over_limit.is_empty() {
        parsed.dropped.push(format!(
            "more than {MAX_RESULTS_PER_STEP} results: {} dropped",
            over_limit.join(", ")
        ));
    }
    parsed
}

/// Writes results in the format [`parse_results`] reads: one `KEY=VALUE` line each. A line
/// break in a value becomes a space, so every value stays on its line.
///
/// ```
/// use build_pod::{format_results, parse_results};
/// let text = format_results(&[("commit", "0a1b"), ("revision", "main")]);
/// assert_eq!(text, "commit=0a1b\nrevision=main\n");
/// assert_eq!(parse_results(&text).results.len(), 2);
/// ```
pub fn format_results(results: &[(&str, &str)]) -> String {
    results
        .iter()
        .map(|(key, value)| format!("{key}={}\n", value.replace(['\n', '\r'], " ")))
        .collect()
}

/// At most `max` bytes of `text`, cut at a character boundary, with `...` when cut.
fn shorten(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The results and drops of `message`.
    fn check(message: &str, results: &[(&str, &str)], dropped: &[&str]) {
        let parsed = parse_results(message);
        let got: Vec<(&str, &str)> = parsed
            .results
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(got, results, "{message:?}");
        assert_eq!(parsed.dropped, dropped, "{message:?}");
    }

    #[test]
    fn reads_lines_and_reports_every_broken_rule() {
        check("", &[], &[]);
        check("A=1\r\nB=x=y\n\n  \n", &[("A", "1"), ("B", "x=y")], &[]);
        check("EMPTY=", &[("EMPTY", "")], &[]);
        check("_x9= spaced \n", &[("_x9", " spaced ")], &[]);
        check(
            "Sleep expired",
            &[],
            &["line 1 is not KEY=VALUE: \"Sleep expired\""],
        );
        check(
            "A=1\nimage-url=x\n9A=2",
            &[("A", "1")],
            &[
                "line 2: \"image-url\" is not a result name (a letter or '_', then letters, digits and '_', at most 64 bytes)",
                "line 3: \"9A\" is not a result name (a letter or '_', then letters, digits and '_', at most 64 bytes)",
            ],
        );
        check(
            "A=1\nB=2\nA=3",
            &[("A", "3"), ("B", "2")],
            &["line 3: A written again; its last value is kept"],
        );
        let long = format!("V={}", "x".repeat(MAX_RESULT_VALUE_LEN + 1));
        check(
            &long,
            &[],
            &["line 1: the value of V is 1025 bytes, more than 1024"],
        );
        let name = "N".repeat(MAX_RESULT_NAME_LEN + 1);
        assert!(!is_result_name(&name));
        assert!(is_result_name(&name[1..]));
    }

    #[test]
    fn keeps_at_most_the_limit_of_results() {
        let message: String = (0..MAX_RESULTS_PER_STEP + 2)
            .map(|i| format!("K{i}=v\n"))
            .collect();
        let parsed = parse_results(&message);
        assert_eq!(parsed.results.len(), MAX_RESULTS_PER_STEP);
        assert_eq!(parsed.dropped, ["more than 16 results: K16, K17 dropped"]);
    }

    #[test]
    fn formatted_results_read_back() {
        let text = format_results(&[("A", "two\nlines"), ("B", "")]);
        assert_eq!(text, "A=two lines\nB=\n");
        let parsed = parse_results(&text);
        assert_eq!(
            parsed.results,
            [
                ("A".into(), "two lines".into()),
                ("B".into(), String::new())
            ]
        );
    }

    #[test]
    fn the_budget_is_the_kubelets() {
        assert_eq!(termination_budget(0), 4096);
        assert_eq!(termination_budget(2), 4096);
        assert_eq!(termination_budget(4), 3072);
        assert_eq!(termination_budget(12), 1024);
    }
}
