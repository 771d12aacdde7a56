//! Least privilege, checked by the API server: its audit log records every request of the
//! controller's ServiceAccount (at `Metadata` level: who, what, the response code; never a
//! body), and not one may have been refused with 403.
//!
//! With one exception, reported on its own: a kube-apiserver that has just started serves
//! requests (and refuses them with 403) for a moment before its RBAC authorizer's informers
//! have synced, before its `/readyz` says ok. A 403 inside such a window, for a verb and
//! resource that the same account was granted at other times, is the server starting, not a
//! permission the release lacks.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

use crate::chaos::{CONTROLLER_USER, Env, Outcome};

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
    /// The refused ones (403).
    pub(crate) forbidden: Vec<Forbidden>,
    /// The (verb, resource) pairs that were granted at least once.
    pub(crate) granted: BTreeSet<(String, String)>,
    /// Lines that were not audit events.
    pub(crate) unreadable: usize,
}

/// One request refused with 403.
#[derive(Debug, PartialEq)]
pub(crate) struct Forbidden {
    /// When the server answered.
    pub(crate) at: Option<Timestamp>,
    /// The verb.
    pub(crate) verb: String,
    /// The resource (with its subresource: `builds/status`).
    pub(crate) resource: String,
    /// `verb resource namespace/name`.
    pub(crate) what: String,
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
        let object = &event["objectRef"];
        let mut resource = object["resource"].as_str().unwrap_or_default().to_owned();
        if let Some(sub) = object["subresource"].as_str() {
            resource = format!("{resource}/{sub}");
        }
        if event["responseStatus"]["code"] == 403 {
            counts.forbidden.push(Forbidden {
                at: event["stageTimestamp"]
                    .as_str()
                    .and_then(|t| t.parse().ok()),
                what: format!(
                    "{verb} {resource} {}/{}",
                    object["namespace"].as_str().unwrap_or_default(),
                    object["name"].as_str().unwrap_or_default()
                ),
                verb: verb.clone(),
                resource,
            });
        } else {
            counts.granted.insert((verb.clone(), resource));
        }
        *counts.verbs.entry(verb).or_default() += 1;
    }
    counts
}

/// Splits the 403s: those inside a window in which an API server was starting (`starting`:
/// from its stop to its `/readyz`), for a verb and resource granted at other times, are
/// excused; the others are problems.
pub(crate) fn judge<'a>(
    counts: &'a AuditCounts,
    starting: &[(Timestamp, Timestamp)],
) -> (Vec<&'a Forbidden>, Vec<&'a Forbidden>) {
    counts.forbidden.iter().partition(|f| {
        let during_start =
            f.at.is_some_and(|at| starting.iter().any(|(from, to)| *from <= at && at <= *to));
        during_start
            && counts
                .granted
                .contains(&(f.verb.clone(), f.resource.clone()))
    })
}

/// The least-privilege check over the whole run.
pub(crate) fn check(env: &Env) -> Outcome {
    let log = std::fs::read_to_string(env.dir.join("audit.log")).unwrap_or_default();
    let counts = count(&log, CONTROLLER_USER);
    let starting = env
        .starting
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let (excused, refused) = judge(&counts, &starting);
    let mut problems: Vec<String> = refused
        .iter()
        .map(|f| format!("403 for {CONTROLLER_USER}: {}", f.what))
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
            "{} requests as {CONTROLLER_USER} in the audit log ({}), {} refused with 403; besides, {} refused while a restarted kube-apiserver was not ready yet (its RBAC informers unsynced, {} windows), each for a verb and resource granted at other times",
            counts.requests,
            verbs.join(", "),
            refused.len(),
            excused.len(),
            starting.len()
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
        assert_eq!(counts.forbidden.len(), 1);
        assert_eq!(counts.forbidden[0].what, "delete pods ns/p");
        assert_eq!(counts.unreadable, 1);
        assert_eq!(counts.verbs["list"], 1);
    }

    #[test]
    fn only_403s_while_a_server_starts_for_granted_verbs_are_excused() {
        let line = |at: &str, verb: &str, resource: &str, code: u16| {
            format!(
                r#"{{"verb":"{verb}","stageTimestamp":"{at}","user":{{"username":"{CONTROLLER_USER}"}},"objectRef":{{"resource":"{resource}","namespace":"ns"}},"responseStatus":{{"code":{code}}}}}"#
            )
        };
        let log = [
            line("2026-01-01T00:00:01Z", "list", "builds", 200),
            // while the server starts, for a granted verb: excused
            line("2026-01-01T00:00:10.5Z", "list", "builds", 403),
            // while the server starts, but never granted: a real gap
            line("2026-01-01T00:00:10.6Z", "delete", "pods", 403),
            // outside any start: a real gap though granted elsewhere
            line("2026-01-01T00:00:30Z", "list", "builds", 403),
        ]
        .join("\n");
        let counts = count(&log, CONTROLLER_USER);
        let starting = [(
            "2026-01-01T00:00:05Z".parse().unwrap(),
            "2026-01-01T00:00:11Z".parse().unwrap(),
        )];
        let (excused, refused) = judge(&counts, &starting);
        assert_eq!(excused.len(), 1);
        assert_eq!(excused[0].what, "list builds ns/");
        let refused: Vec<&str> = refused.iter().map(|f| f.what.as_str()).collect();
        assert_eq!(refused, ["delete pods ns/", "list builds ns/"]);
        assert!(judge(&counts, &[]).0.is_empty());
    }

    #[test]
    fn the_policy_names_the_release_account() {
        assert!(POLICY.contains(CONTROLLER_USER));
    }
}
