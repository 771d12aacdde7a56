//! "Never two reconciling at once", checked two ways: from the Lease as the harness saw it
//! (each change of holder comes after the previous holder's lease ran out, or after it
//! released it), and from the replicas' own logs (text or JSON: each replica reconciles only
//! after it logged `became leader`, and the replicas' leading intervals do not overlap).

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// The Lease at one moment.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct LeaseSeen {
    /// `holderIdentity`.
    pub(crate) holder: Option<String>,
    /// `acquireTime`.
    pub(crate) acquired: Option<Timestamp>,
    /// `renewTime`.
    pub(crate) renewed: Option<Timestamp>,
    /// `leaseDurationSeconds`.
    pub(crate) duration_seconds: i64,
}

impl LeaseSeen {
    /// What `lease` says.
    pub(crate) fn of(lease: &Lease) -> LeaseSeen {
        let spec = lease.spec.clone().unwrap_or_default();
        LeaseSeen {
            holder: spec.holder_identity,
            acquired: spec.acquire_time.map(|t| t.0),
            renewed: spec.renew_time.map(|t| t.0),
            duration_seconds: i64::from(spec.lease_duration_seconds.unwrap_or_default()),
        }
    }
}

/// Checks every change of holder in a sequence of observations: the new holder's
/// `acquireTime` must not be before the previous holder's last `renewTime` plus its lease
/// duration (unless the previous holder released it: no holder seen in between). Returns the
/// handovers seen (`a → b after Xs`) and the problems.
pub(crate) fn check_handovers(seen: &[LeaseSeen]) -> (Vec<String>, Vec<String>) {
    let mut handovers = Vec::new();
    let mut problems = Vec::new();
    let mut last_held: Option<&LeaseSeen> = None;
    let mut released = false;
    for now in seen {
        let Some(holder) = &now.holder else {
            released = true;
            continue;
        };
        match last_held {
            Some(before) if before.holder.as_ref() != Some(holder) => {
                let expiry = before
                    .renewed
                    .map(|r| r + SignedDuration::from_secs(before.duration_seconds));
                let takeover = now.acquired;
                match (expiry, takeover) {
                    (Some(expiry), Some(takeover)) => {
                        let margin = takeover.duration_since(expiry);
                        handovers.push(format!(
                            "{} → {holder}, {:.1}s after the lease ran out",
                            before.holder.as_deref().unwrap_or_default(),
                            margin.as_secs_f64()
                        ));
                        if margin.is_negative() && !released {
                            problems.push(format!(
                                "{holder} took the lease at {takeover}, {:.1}s before {}'s ran out at {expiry}",
                                -margin.as_secs_f64(),
                                before.holder.as_deref().unwrap_or_default()
                            ));
                        }
                    }
                    _ => problems.push(format!(
                        "a handover to {holder} without renew or acquire times: {now:?}"
                    )),
                }
            }
            _ => {}
        }
        released = false;
        last_held = Some(now);
    }
    (handovers, problems)
}

/// What one replica's log says about its leadership.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct LeaderLog {
    /// When it logged `became leader`.
    pub(crate) became_leader: Option<Timestamp>,
    /// When it first created or stopped a build pod.
    pub(crate) first_action: Option<Timestamp>,
    /// Its last line's time.
    pub(crate) last_line: Option<Timestamp>,
    /// Pod creations and stops it logged.
    pub(crate) actions: usize,
}

/// The time and message of one log line, text (`2026-…Z  INFO target: message fields`) or
/// JSON (`{"timestamp": …, "fields": {"message": …}}`).
fn parse_line(line: &str) -> Option<(Timestamp, String)> {
    if line.starts_with('{') {
        let value: serde_json::Value = serde_json::from_str(line).ok()?;
        let time = value["timestamp"].as_str()?.parse().ok()?;
        let message = value["fields"]["message"].as_str().unwrap_or_default();
        return Some((time, message.to_owned()));
    }
    let (time, rest) = line.split_once(' ')?;
    Some((time.parse().ok()?, rest.to_owned()))
}

/// Reads a replica's log.
pub(crate) fn leader_log(text: &str) -> LeaderLog {
    let mut log = LeaderLog::default();
    for (time, message) in text.lines().filter_map(parse_line) {
        log.last_line = Some(time);
        if message.contains("became leader") && log.became_leader.is_none() {
            log.became_leader = Some(time);
        }
        if message.contains("created build pod") || message.contains("stopped build pod") {
            log.actions += 1;
            log.first_action.get_or_insert(time);
        }
    }
    log
}

/// Checks the replicas' logs (`name`, log, and when the process ended if it was killed):
/// nobody acts before leading, and leading intervals do not overlap.
pub(crate) fn check_logs(replicas: &[(String, LeaderLog, Option<Timestamp>)]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut intervals = Vec::new();
    for (name, log, killed) in replicas {
        match (log.became_leader, log.first_action) {
            (None, Some(first)) => problems.push(format!(
                "{name} created or stopped pods ({}, the first at {first}) without becoming leader",
                log.actions
            )),
            (Some(leading), Some(first)) if first < leading => problems.push(format!(
                "{name} acted at {first}, before it became leader at {leading}"
            )),
            _ => {}
        }
        if let Some(start) = log.became_leader {
            let end = killed.or(log.last_line).unwrap_or(start);
            intervals.push((start, end, name));
        }
    }
    intervals.sort();
    for pair in intervals.windows(2) {
        let (_, first_end, first) = pair[0];
        let (second_start, _, second) = pair[1];
        if second_start < first_end {
            problems.push(format!(
                "{second} became leader at {second_start} while {first} still led (until {first_end})"
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(holder: Option<&str>, acquired: &str, renewed: &str) -> LeaseSeen {
        LeaseSeen {
            holder: holder.map(Into::into),
            acquired: Some(acquired.parse().unwrap()),
            renewed: Some(renewed.parse().unwrap()),
            duration_seconds: 15,
        }
    }

    #[test]
    fn a_takeover_after_expiry_is_fine_and_one_before_is_not() {
        let fine = [
            seen(Some("a"), "2026-01-01T00:00:00Z", "2026-01-01T00:00:10Z"),
            seen(Some("a"), "2026-01-01T00:00:00Z", "2026-01-01T00:00:12Z"),
            seen(Some("b"), "2026-01-01T00:00:28Z", "2026-01-01T00:00:28Z"),
        ];
        let (handovers, problems) = check_handovers(&fine);
        assert_eq!(handovers, ["a → b, 1.0s after the lease ran out"]);
        assert!(problems.is_empty(), "{problems:?}");

        let early = [
            seen(Some("a"), "2026-01-01T00:00:00Z", "2026-01-01T00:00:12Z"),
            seen(Some("b"), "2026-01-01T00:00:20Z", "2026-01-01T00:00:20Z"),
        ];
        let (_, problems) = check_handovers(&early);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].starts_with("b took the lease"), "{problems:?}");

        let released = [
            seen(Some("a"), "2026-01-01T00:00:00Z", "2026-01-01T00:00:12Z"),
            seen(None, "2026-01-01T00:00:00Z", "2026-01-01T00:00:13Z"),
            seen(Some("b"), "2026-01-01T00:00:14Z", "2026-01-01T00:00:14Z"),
        ];
        assert!(check_handovers(&released).1.is_empty());
    }

    const TEXT: &str = "2026-01-01T00:00:01.000000Z  INFO build_controller: starting build-controller\n\
        2026-01-01T00:00:02.000000Z  INFO build_controller::leader: became leader lease=l identity=a\n\
        2026-01-01T00:00:03.000000Z  INFO reconcile{namespace=n name=b}: build_controller::reconcile: created build pod pod=p\n";

    #[test]
    fn text_and_json_logs_are_read() {
        let text = leader_log(TEXT);
        assert_eq!(
            text.became_leader,
            Some("2026-01-01T00:00:02Z".parse().unwrap())
        );
        assert_eq!(text.actions, 1);
        let json = leader_log(
            r#"{"timestamp":"2026-01-01T00:00:05.5Z","level":"INFO","fields":{"message":"became leader"}}
{"timestamp":"2026-01-01T00:00:06Z","level":"INFO","fields":{"message":"stopped build pod","pod":"p"},"span":{"name":"reconcile"}}"#,
        );
        assert_eq!(
            json.became_leader,
            Some("2026-01-01T00:00:05.5Z".parse().unwrap())
        );
        assert_eq!(json.actions, 1);
        assert_eq!(
            json.last_line,
            Some("2026-01-01T00:00:06Z".parse().unwrap())
        );
    }

    #[test]
    fn overlapping_leaders_and_acting_standbys_are_caught() {
        let a = leader_log(TEXT);
        let killed_at: Timestamp = "2026-01-01T00:00:04Z".parse().unwrap();
        let b_fine = LeaderLog {
            became_leader: Some("2026-01-01T00:00:20Z".parse().unwrap()),
            first_action: Some("2026-01-01T00:00:21Z".parse().unwrap()),
            last_line: Some("2026-01-01T00:00:30Z".parse().unwrap()),
            actions: 3,
        };
        assert!(
            check_logs(&[("a".into(), a, Some(killed_at)), ("b".into(), b_fine, None)]).is_empty()
        );

        let a = leader_log(TEXT);
        let b_early = LeaderLog {
            became_leader: Some("2026-01-01T00:00:03Z".parse().unwrap()),
            first_action: Some("2026-01-01T00:00:02.5Z".parse().unwrap()),
            last_line: Some("2026-01-01T00:00:30Z".parse().unwrap()),
            actions: 3,
        };
        let problems = check_logs(&[
            ("a".into(), a, Some(killed_at)),
            ("b".into(), b_early, None),
        ]);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("before it became leader"));
        assert!(problems[1].contains("while a still led"));
    }
}
