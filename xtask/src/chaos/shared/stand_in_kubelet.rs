//! The kubelet the harness plays (there is no node): for each build pod of a planned Build it
//! marks the pod running, cancels the Build if its kind asks, ends the pod as the kind asks,
//! and fails the pod with `DeadlineExceeded` when the controller lowers its
//! `activeDeadlineSeconds` to stop it. Requests ride out API server outages.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use build_pod::BUILD_NAME_LABEL;
use build_types::Build;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use serde_json::json;

use super::api::retry;
use super::mix::Kind;
use crate::harness::kubelet::{self, Outcome as PodOutcome};

/// What the stand-in kubelet did, and what failed.
#[derive(Default)]
pub(crate) struct KubeletStats {
    running: AtomicUsize,
    ended: AtomicUsize,
    stopped: AtomicUsize,
    cancelled: AtomicUsize,
    errors: Mutex<Vec<String>>,
}

impl KubeletStats {
    /// What the stand-in did: `N running, N ended, N stopped, N cancels`.
    pub(crate) fn counts(&self) -> String {
        format!(
            "{} running, {} ended, {} stopped, {} cancels",
            self.running.load(Ordering::Relaxed),
            self.ended.load(Ordering::Relaxed),
            self.stopped.load(Ordering::Relaxed),
            self.cancelled.load(Ordering::Relaxed),
        )
    }

    /// The requests that failed, as `kubelet: …` problems.
    pub(crate) fn problems(&self) -> Vec<String> {
        let errors = self
            .errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        errors.iter().map(|e| format!("kubelet: {e}")).collect()
    }
}

/// What the stand-in kubelet has done to one pod.
#[derive(Default)]
struct PodStage {
    running: bool,
    ended: bool,
}

/// Sends one of the kubelet's status patches.
async fn patch_pod(pods: &Api<Pod>, pod: &Pod, outcome: PodOutcome) -> anyhow::Result<()> {
    let name = pod.name_any();
    let patch = Patch::Merge(kubelet::patch(pod, &Timestamp::now().to_string(), outcome));
    let params = PatchParams::default();
    retry(&format!("patching pod {name} to {outcome:?}"), || {
        pods.patch_status(&name, &params, &patch)
    })
    .await
    .map(|_| ())
}

/// Moves one pod along, serialized per pod by its stage's lock.
async fn advance(
    pods: Api<Pod>,
    builds: Api<Build>,
    pod: Pod,
    kind: Kind,
    stage: Arc<tokio::sync::Mutex<PodStage>>,
    stats: Arc<KubeletStats>,
) -> anyhow::Result<()> {
    let mut stage = stage.lock().await;
    if stage.ended {
        return Ok(());
    }
    let stopped = pod
        .spec
        .as_ref()
        .and_then(|s| s.active_deadline_seconds)
        .is_some_and(|d| d <= 1);
    if stopped {
        // the kubelet notices the deadline, kills the running step and fails the pod
        tokio::time::sleep(Duration::from_millis(300)).await;
        patch_pod(&pods, &pod, PodOutcome::DeadlineExceeded).await?;
        stage.ended = true;
        stats.stopped.fetch_add(1, Ordering::Relaxed);
        return Ok(());
    }
    if stage.running {
        return Ok(());
    }
    patch_pod(&pods, &pod, PodOutcome::Running).await?;
    stage.running = true;
    stats.running.fetch_add(1, Ordering::Relaxed);
    let build = pod
        .labels()
        .get(BUILD_NAME_LABEL)
        .cloned()
        .unwrap_or_default();
    if kind == Kind::Cancelled {
        let patch = Patch::Merge(json!({"spec": {"status": "BuildCancelled"}}));
        let params = PatchParams::default();
        retry(&format!("cancelling {build}"), || {
            builds.patch(&build, &params, &patch)
        })
        .await?;
        stats.cancelled.fetch_add(1, Ordering::Relaxed);
    }
    if let Some(end) = kind.pod_ends() {
        let spread = build.bytes().map(u64::from).sum::<u64>() % 1500;
        tokio::time::sleep(Duration::from_millis(500 + spread)).await;
        patch_pod(&pods, &pod, end).await?;
        stage.ended = true;
        stats.ended.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// Plays the kubelet for the namespace's build pods until aborted.
pub(crate) async fn play_kubelet(
    client: Client,
    namespace: String,
    planned: Arc<HashSet<String>>,
    stats: Arc<KubeletStats>,
) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    let builds: Api<Build> = Api::namespaced(client, &namespace);
    let mut stream = watcher(
        pods.clone(),
        watcher::Config::default().labels(BUILD_NAME_LABEL),
    )
    .default_backoff()
    .applied_objects()
    .boxed();
    let mut stages: HashMap<String, Arc<tokio::sync::Mutex<PodStage>>> = HashMap::new();
    while let Some(item) = stream.next().await {
        let Ok(pod) = item else { continue };
        let phase = pod
            .status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .unwrap_or_default();
        if matches!(phase, "Succeeded" | "Failed") {
            continue;
        }
        let Some(kind) = pod
            .labels()
            .get(BUILD_NAME_LABEL)
            .filter(|b| planned.contains(b.as_str()))
            .and_then(|b| Kind::of(b))
        else {
            continue;
        };
        let stage = stages.entry(pod.name_any()).or_default().clone();
        let (pods, builds, stats) = (pods.clone(), builds.clone(), stats.clone());
        tokio::spawn(async move {
            if let Err(error) = advance(pods, builds, pod, kind, stage, stats.clone()).await {
                stats
                    .errors
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(format!("{error:#}"));
            }
        });
    }
}
