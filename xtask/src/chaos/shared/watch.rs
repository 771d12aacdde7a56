//! The harness's two watches during a fault scenario: every update of every Build (kept as
//! the checker's history and recorded as JSON lines, so the verdict can be replayed from the
//! file), and every distinct state of the leader-election Lease.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use build_types::Build;
use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};

use super::checker::{History, Observation};
use super::leader::LeaseSeen;

/// Records every Build update into `history` and, as JSON lines, into `recording`.
pub(crate) async fn watch_builds(
    api: Api<Build>,
    history: Arc<Mutex<History>>,
    recording: std::fs::File,
) {
    use std::io::Write as _;
    let mut recording = std::io::BufWriter::new(recording);
    let mut stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .applied_objects()
        .boxed();
    while let Some(item) = stream.next().await {
        let Ok(build) = item else { continue };
        let observation = Observation::of(&build);
        if let Ok(line) = serde_json::to_string(&observation) {
            let _ = writeln!(recording, "{line}");
            let _ = recording.flush();
        }
        history
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .observe(&observation);
    }
}

/// Polls the Lease every 100 ms, recording each distinct state.
pub(crate) async fn watch_lease(api: Api<Lease>, name: String, seen: Arc<Mutex<Vec<LeaseSeen>>>) {
    loop {
        if let Ok(Some(lease)) = api.get_opt(&name).await {
            let now = LeaseSeen::of(&lease);
            let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
            if seen.last() != Some(&now) {
                seen.push(now);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
