//! What a scenario ends with: its [`Verdict`] (outcome, evidence, duration), as the run prints
//! it, and [`Checked`], what a scenario body collects on the way: the evidence a person would
//! look at, and the failures.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// How a scenario ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// It did what it should.
    Pass,
    /// It did not; why.
    Fail(String),
    /// It could not run here; why.
    NotRun(String),
}

/// One scenario's verdict: outcome, evidence, duration.
#[derive(Debug, Clone)]
pub(crate) struct Verdict {
    pub(crate) name: String,
    pub(crate) outcome: Outcome,
    pub(crate) evidence: Vec<String>,
    pub(crate) seconds: f64,
}

impl Verdict {
    /// The verdict `name` of a body that ended with `result` after `seconds`: it passed when
    /// it checked nothing that failed.
    pub(super) fn of(name: &str, result: anyhow::Result<Checked>, seconds: f64) -> Verdict {
        let (outcome, evidence) = match result {
            Ok(checked) if checked.failures.is_empty() => (Outcome::Pass, checked.evidence),
            Ok(checked) => (Outcome::Fail(checked.failures.join("; ")), checked.evidence),
            Err(error) => (Outcome::Fail(format!("{error:#}")), vec![]),
        };
        Verdict {
            name: name.to_owned(),
            outcome,
            evidence,
            seconds,
        }
    }

    /// Whether the run should fail because of it.
    pub(crate) fn failed(&self) -> bool {
        matches!(self.outcome, Outcome::Fail(_))
    }
}

/// A verdict as printed: a headline, then the evidence indented.
pub(crate) fn format_verdict(verdict: &Verdict) -> String {
    let (word, why) = match &verdict.outcome {
        Outcome::Pass => ("PASS", String::new()),
        Outcome::Fail(why) => ("FAIL", format!(": {why}")),
        Outcome::NotRun(why) => ("NOT RUN", format!(": {why}")),
    };
    let mut out = format!(
        "{word:<7} {} ({:.1}s){why}\n",
        verdict.name, verdict.seconds
    );
    for line in &verdict.evidence {
        for (i, part) in line.lines().enumerate() {
            let indent = if i == 0 { "        " } else { "          | " };
            let _ = writeln!(out, "{indent}{part}");
        }
    }
    out
}

/// Every verdict, then one count line.
pub(crate) fn summary(verdicts: &[Verdict], elapsed: Duration) -> String {
    let mut out = String::from("\n=== cargo xtask e2e ===\n");
    for verdict in verdicts {
        out.push_str(&format_verdict(verdict));
    }
    let count = |f: fn(&Outcome) -> bool| verdicts.iter().filter(|v| f(&v.outcome)).count();
    let _ = write!(
        out,
        "=== {} passed, {} failed, {} not run, in {:.0}s ===",
        count(|o| matches!(o, Outcome::Pass)),
        count(|o| matches!(o, Outcome::Fail(_))),
        count(|o| matches!(o, Outcome::NotRun(_))),
        elapsed.as_secs_f64()
    );
    out
}

/// A verdict for a scenario that does not apply to this run's controller.
pub(super) fn not_run(name: &str, why: &str) -> Verdict {
    Verdict {
        name: name.to_owned(),
        outcome: Outcome::NotRun(why.to_owned()),
        evidence: vec![],
        seconds: 0.0,
    }
}

pub(super) type Boxed<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Verdict> + Send + 'a>>;

pub(super) fn boxed<'a>(f: impl std::future::Future<Output = Verdict> + Send + 'a) -> Boxed<'a> {
    Box::pin(f)
}

/// What a scenario body returns: pass or fail, with evidence either way.
pub(super) struct Checked {
    evidence: Vec<String>,
    failures: Vec<String>,
}

impl Checked {
    /// Nothing noted, nothing failed yet.
    pub(super) fn new() -> Checked {
        Checked::with_evidence(Vec::new())
    }
    /// `evidence` noted, nothing failed.
    pub(super) fn with_evidence(evidence: Vec<String>) -> Checked {
        Checked {
            evidence,
            failures: Vec::new(),
        }
    }
    /// Notes a line of evidence.
    pub(super) fn note(&mut self, line: impl Into<String>) {
        self.evidence.push(line.into());
    }
    /// Fails with `what` unless `ok`.
    pub(super) fn check(&mut self, ok: bool, what: impl Into<String>) {
        if !ok {
            self.failures.push(what.into());
        }
    }
}

/// Runs a scenario's body and times it; its verdict.
pub(super) async fn timed(
    name: &str,
    body: impl std::future::Future<Output = anyhow::Result<Checked>>,
) -> Verdict {
    let t = Instant::now();
    let result = body.await;
    Verdict::of(name, result, t.elapsed().as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(outcome: Outcome) -> Verdict {
        Verdict {
            name: "failure: a failing step".into(),
            outcome,
            evidence: vec![
                "Succeeded=False reason=BuildFailed message=\"x\"".into(),
                "kubectl logs p -c c (exit 3):\nline 1\nline 2".into(),
            ],
            seconds: 4.25,
        }
    }

    #[test]
    fn a_passing_verdict_shows_its_evidence() {
        assert_eq!(
            format_verdict(&verdict(Outcome::Pass)),
            "PASS    failure: a failing step (4.2s)\n        Succeeded=False reason=BuildFailed message=\"x\"\n        kubectl logs p -c c (exit 3):\n          | line 1\n          | line 2\n"
        );
    }

    #[test]
    fn failed_and_not_run_say_why() {
        assert!(
            format_verdict(&verdict(Outcome::Fail(
                "Succeeded is True, wanted False".into()
            )))
            .starts_with(
                "FAIL    failure: a failing step (4.2s): Succeeded is True, wanted False\n"
            )
        );
        assert!(
            format_verdict(&verdict(Outcome::NotRun("no Docker daemon".into())))
                .starts_with("NOT RUN failure: a failing step (4.2s): no Docker daemon\n")
        );
    }

    #[test]
    fn summary_counts() {
        let all = [
            verdict(Outcome::Pass),
            verdict(Outcome::Fail("x".into())),
            verdict(Outcome::NotRun("y".into())),
        ];
        let text = summary(&all, Duration::from_secs(61));
        assert!(
            text.ends_with("=== 1 passed, 1 failed, 1 not run, in 61s ==="),
            "{text}"
        );
        assert!(all[1].failed() && !all[2].failed());
    }
}
