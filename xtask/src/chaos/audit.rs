//! Least privilege, checked by the API server: its audit log records every request of the
//! controller's ServiceAccount (at `Metadata` level: who, what, the response code; never a
//! body), and not one may have been refused with 403.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{CONTROLLER_USER, Env, Outcome};

/// The audit policy: the controller's requests at `Metadata` level, nothing else.
pub(crate) const POLICY: &str = "apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  users: [\"system:serviceaccount:knative-build:build-controller\"]
- level: None
";

/// What the audit log says about one user's requests.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct AuditCounts {
    /// Requests by the user.
    pub(crate) requests: usize,
    /// Requests by verb.
    pub(crate) verbs: BTreeMap<String, usize>,
    /// The refused ones (403), as `verb resource namespace/name`.
    pub(crate) forbidden: Vec<String>,
    /// Lines that were not audit events.
    pub(crate) unreadable: usize,
}

/// Counts `user`'s requests in a JSON-lines audit log.
pub(crate) fn count(log: &str, user: &str) -> AuditCounts {
    let mut counts = AuditCounts::default();
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(event) = serde_json::from_str::<serde_json::Value>(line) else {
            counts.unreadable += 1;
            continue;
        };
        if event["user"]["username"] != user {
            continue;
        }
        counts.requests += 1;
        let verb = event["verb"].as_str().unwrap_or_default().to_owned();
        if event["responseStatus"]["code"] == 403 {
            let object = &event["objectRef"];
            counts.forbidden.push(format!(
                "{verb} {} {}/{}",
                object["resource"].as_str().unwrap_or_default(),
                object["namespace"].as_str().unwrap_or_default(),
                object["name"].as_str().unwrap_or_default()
            ));
        }
        *counts.verbs.entry(verb).or_default() += 1;
    }
    counts
}

/// The least-privilege check over the whole run.
pub(crate) fn check(env: &Env) -> Outcome {
    let log = std::fs::read_to_string(env.dir.join("audit.log")).unwrap_or_default();
    let counts = count(&log, CONTROLLER_USER);
    let mut problems: Vec<String> = counts
        .forbidden
        .iter()
        .map(|f| format!("403 for {CONTROLLER_USER}: {f}"))
        .collect();
    if counts.requests == 0 {
        problems
            .push("the audit log holds no request of the controller: nothing was checked".into());
    }
    let verbs: Vec<String> = counts
        .verbs
        .iter()
        .map(|(v, n)| format!("{v} {n}"))
        .collect();
    Outcome {
        name: "privilege",
        summary: format!(
            "{} requests as {CONTROLLER_USER} in the audit log ({}), {} refused with 403",
            counts.requests,
            verbs.join(", "),
            counts.forbidden.len()
        ),
        problems,
        took: Duration::ZERO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_users_requests_count_and_403s_are_named() {
        let log = [
            r#"{"kind":"Event","verb":"list","user":{"username":"system:serviceaccount:knative-build:build-controller"},"objectRef":{"resource":"builds"},"responseStatus":{"code":200}}"#,
            r#"{"kind":"Event","verb":"delete","user":{"username":"system:serviceaccount:knative-build:build-controller"},"objectRef":{"resource":"pods","namespace":"ns","name":"p"},"responseStatus":{"code":403}}"#,
            r#"{"kind":"Event","verb":"get","user":{"username":"envtest-admin"},"responseStatus":{"code":403}}"#,
            "not json",
        ]
        .join("\n");
        let counts = count(&log, CONTROLLER_USER);
        assert_eq!(counts.requests, 2);
        assert_eq!(counts.forbidden, ["delete pods ns/p"]);
        assert_eq!(counts.unreadable, 1);
        assert_eq!(counts.verbs["list"], 1);
    }

    #[test]
    fn the_policy_names_the_release_account() {
        assert!(POLICY.contains(CONTROLLER_USER));
    }
}
