//! Secrets never leak: every Secret of the run carries the run's sentinel value, and after the
//! run it must occur nowhere else: not in the controller's logs (text and JSON), not in
//! Events, not in Build statuses, not in the harness's own output. Searched as written and
//! base64-encoded (as a Secret's `data` holds it, and as a Docker `auth` would).
//!
//! To show the search can find it, the same search over the Secrets themselves must find it.

use std::time::Duration;

use base64::Engine as _;
use build_types::Build;
use k8s_openapi::api::core::v1::{Event, Secret};
use kube::api::{Api, ListParams};

use crate::chaos::{Env, Outcome, say};

/// The forms the sentinel is searched in.
pub(crate) fn needles(sentinel: &str) -> Vec<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    vec![
        sentinel.to_owned(),
        b64.encode(sentinel),
        b64.encode(format!("chaos:{sentinel}")),
    ]
}

/// How many times any of `needles` occurs in `haystack`.
pub(crate) fn hits(haystack: &str, needles: &[String]) -> usize {
    needles
        .iter()
        .map(|n| haystack.matches(n.as_str()).count())
        .sum()
}

/// Searches every place the sentinel must not be, and the Secrets, where it must be.
pub(crate) async fn check(env: &Env) -> anyhow::Result<Outcome> {
    let needles = needles(&env.sentinel);
    let mut places = vec![search_logs(env, &needles)?];
    places.extend(search_the_api(env, &needles).await?);
    // last: the harness's output up to here
    let own = std::fs::read_to_string(env.dir.join("harness.log")).unwrap_or_default();
    places.push((
        "the harness's output".to_owned(),
        own.len(),
        hits(&own, &needles),
    ));

    let secrets = Api::<Secret>::all(env.admin.clone())
        .list(&ListParams::default())
        .await?;
    let carrying = secrets
        .items
        .iter()
        .filter(|s| hits(&serde_json::to_string(s).unwrap_or_default(), &needles) > 0)
        .count();

    let total: usize = places.iter().map(|(_, _, n)| n).sum();
    let mut problems: Vec<String> = places
        .iter()
        .filter(|(_, _, n)| *n > 0)
        .map(|(place, _, n)| format!("the sentinel occurs {n} times in {place}"))
        .collect();
    if carrying == 0 {
        problems.push("no Secret carries the sentinel: the search proves nothing".to_owned());
    }
    let searched: Vec<String> = places
        .iter()
        .map(|(place, bytes, n)| format!("{place} ({} KiB): {n}", bytes / 1024))
        .collect();
    Ok(Outcome {
        name: "secrets",
        summary: format!(
            "sentinel hits {total}: {}; {carrying} of {} Secrets carry it",
            searched.join(", "),
            secrets.items.len()
        ),
        problems,
        took: Duration::ZERO,
    })
}

/// One place searched: what it is, its size in bytes, and the sentinel's occurrences.
type Place = (String, usize, usize);

/// Searches every controller log of the run, saying which file holds an occurrence.
fn search_logs(env: &Env, needles: &[String]) -> anyhow::Result<Place> {
    let mut log_bytes = 0;
    let mut log_files = 0;
    let mut log_hits = 0;
    let mut entries: Vec<_> = std::fs::read_dir(env.dir.join("logs"))?
        .filter_map(|e| Some(e.ok()?.path()))
        .collect();
    entries.sort();
    for path in entries {
        let text = String::from_utf8_lossy(&std::fs::read(&path)?).into_owned();
        log_files += 1;
        log_bytes += text.len();
        let found = hits(&text, needles);
        if found > 0 {
            say(format!(
                "[secrets] {} occurrences in {}",
                found,
                path.display()
            ));
        }
        log_hits += found;
    }
    Ok((format!("{log_files} controller logs"), log_bytes, log_hits))
}

/// Searches every Event and every Build status in the cluster.
async fn search_the_api(env: &Env, needles: &[String]) -> anyhow::Result<[Place; 2]> {
    let events = Api::<Event>::all(env.admin.clone())
        .list(&ListParams::default())
        .await?;
    let text = serde_json::to_string(&events.items)?;
    let events = (
        format!("{} Events", events.items.len()),
        text.len(),
        hits(&text, needles),
    );

    let builds = Api::<Build>::all(env.admin.clone())
        .list(&ListParams::default())
        .await?;
    let statuses: Vec<_> = builds.items.iter().map(|b| &b.status).collect();
    let text = serde_json::to_string(&statuses)?;
    let statuses = (
        format!("{} Build statuses", builds.items.len()),
        text.len(),
        hits(&text, needles),
    );
    Ok([events, statuses])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_encoded_forms_are_found() {
        let needles = needles("s3cr3t-sentinel");
        assert_eq!(hits("nothing here", &needles), 0);
        assert_eq!(hits("password=s3cr3t-sentinel", &needles), 1);
        // as a Secret's data holds it
        assert_eq!(hits(r#"{"password":"czNjcjN0LXNlbnRpbmVs"}"#, &needles), 1);
        // as a Docker auth would: "chaos:" is six bytes, so the sentinel's own encoding
        // follows aligned inside it and both forms match
        let auth = base64::engine::general_purpose::STANDARD.encode("chaos:s3cr3t-sentinel");
        assert_eq!(hits(&format!("auth: {auth}"), &needles), 2);
    }
}
