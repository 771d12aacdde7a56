//! One reconcile's state and what it reads and writes: the pod from the cache or the API
//! server, the pod stop, the status patch, Events. The decisions are made elsewhere
//! ([`build_pod::assess`], [`build_pod::assess_start`]); this only carries them out.

use std::time::Duration;

use build_pod::{Policy, STOPPED_DEADLINE_SECONDS, is_stopped};
use build_types::{Build, BuildStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};
use tracing::{info, warn};

use crate::client::patch_status_version;
use crate::context::Context;
use crate::error::{Error, is_not_found};
use crate::ops::events::{condition_event, success_note, truncate};
use crate::per_build::due_key;

/// A reconcile woken a little before its deadline requeues for the rest; this keeps it from
/// waking just short of it.
const DEADLINE_SLACK: Duration = Duration::from_millis(100);

/// The settings of [`build_pod::assess`], from the controller's.
pub(super) fn policy(ctx: &Context) -> Policy {
    Policy {
        image_pull_grace: ctx.config.image_pull_grace,
    }
}

/// `Action::requeue(after)`, noted in the work queue's depth.
pub(super) fn requeue(ctx: &Context, build: &impl Resource, after: Duration) -> Action {
    ctx.telemetry.reconcile_due_after(due_key(build), after);
    Action::requeue(after)
}

/// The state of one reconcile.
pub(super) struct Reconcile<'a> {
    pub(super) build: &'a Build,
    pub(super) ctx: &'a Context,
    pub(super) namespace: String,
    pub(super) name: String,
    pub(super) uid: String,
    pub(super) pod_name: String,
    pub(super) now: Timestamp,
    pub(super) old: BuildStatus,
    /// Whether this reconcile has read the pod from the API server and found none.
    pub(super) pod_gone: std::sync::atomic::AtomicBool,
}

impl<'a> Reconcile<'a> {
    pub(super) fn new(build: &'a Build, ctx: &'a Context) -> Result<Self, Error> {
        let field = |field| Error::MissingMetadata { field };
        Ok(Reconcile {
            namespace: build.namespace().ok_or(field("namespace"))?,
            name: build.metadata.name.clone().ok_or(field("name"))?,
            uid: build.metadata.uid.clone().ok_or(field("uid"))?,
            pod_name: build_pod::pod_name(build),
            now: (ctx.clock)(),
            old: build.status.clone().unwrap_or_default(),
            pod_gone: std::sync::atomic::AtomicBool::new(false),
            build,
            ctx,
        })
    }

    /// The settings of [`build_pod::assess`], from the controller's.
    pub(super) fn policy(&self) -> Policy {
        policy(self.ctx)
    }

    /// The Build's pod as the pod cache holds it.
    pub(super) fn cached_pod(&self) -> Option<Pod> {
        self.ctx.stores.pod(&self.namespace, &self.pod_name)
    }

    /// Lowers the pod's `activeDeadlineSeconds` so the kubelet stops it and its logs stay
    /// readable. Nothing to do for a pod that has finished or is already stopping.
    pub(super) async fn stop_pod(&self, pod: &Pod) -> Result<(), Error> {
        if is_stopped(pod) {
            return Ok(());
        }
        let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &self.namespace);
        let patch = json!({"spec": {"activeDeadlineSeconds": STOPPED_DEADLINE_SECONDS}});
        api.patch(&self.pod_name, &self.patch_params(), &Patch::Merge(&patch))
            .await
            .map_err(|source| Error::StopPod {
                namespace: self.namespace.clone(),
                name: self.pod_name.clone(),
                source,
            })?;
        self.ctx.telemetry.pod_stopped();
        info!(pod = %self.pod_name, "stopped build pod");
        Ok(())
    }

    /// Writes `status` (with `observedGeneration`) if it differs from the cached one, as a
    /// merge patch that carries the cached `resourceVersion`: a stale cache gives a 409
    /// Conflict instead of overwriting a newer status. Then publishes the Event for a change of
    /// the `Succeeded` condition.
    pub(super) async fn write_status(&self, mut status: BuildStatus) -> Result<(), Error> {
        status.observed_generation = self.build.metadata.generation;
        if self.build.status.as_ref() == Some(&status) {
            return Ok(());
        }
        let patch = status_patch(self.build, &status)?;
        // Of the answer (the Build as patched) only the version made is read.
        let url = Build::url_path(&(), Some(&self.namespace));
        let params = self.patch_params();
        let made = patch_status_version(
            &self.ctx.client,
            &url,
            &self.name,
            &params,
            &Patch::Merge(&patch),
        )
        .await
        .map_err(|source| Error::PatchStatus {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            source,
        })?;
        self.ctx.own_writes.wrote_status(self.build, made);
        self.ctx.telemetry.status_written();
        if status.is_done() && !self.old.is_done() {
            self.ctx.telemetry.build_finished(&status);
            self.ctx.telemetry.build_forgotten(&self.uid);
        }
        if let Some((type_, reason, note)) =
            condition_event(self.old.succeeded(), status.succeeded())
        {
            let note = match type_ {
                EventType::Normal => success_note(&self.name, &status),
                EventType::Warning => note,
            };
            self.publish(type_, reason, note).await;
        }
        Ok(())
    }

    /// Publishes an Event on the Build. A failure is logged, not returned: the status it
    /// accompanies is already written, and a retry would not publish it again.
    pub(super) async fn publish(&self, type_: EventType, reason: &str, note: String) {
        let event = Event {
            type_,
            reason: reason.to_owned(),
            note: Some(truncate(note, 1024)),
            action: "Reconcile".to_owned(),
            secondary: None,
        };
        let regarding = self.build.object_ref(&());
        let recorder = &self.ctx.recorder;
        // Waiting for a missing object may repeat; everything else is a Build's once.
        let repeats = reason
            .parse::<build_types::Reason>()
            .is_ok_and(build_types::Reason::is_waiting);
        let published = if repeats {
            recorder.publish(&event, &regarding, self.now).await
        } else {
            recorder.publish_one_off(&event, &regarding, self.now).await
        };
        match published {
            Ok(()) => self.ctx.telemetry.event_published(),
            Err(error) => warn!(reason, "publishing event failed: {error}"),
        }
    }

    /// Reads the pod from the API server: only to confirm what the cache says.
    pub(super) async fn get_pod(&self) -> Result<Option<Pod>, Error> {
        let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &self.namespace);
        match api.get(&self.pod_name).await {
            Ok(pod) => Ok(Some(pod)),
            Err(error) if is_not_found(&error) => {
                self.pod_gone
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                Ok(None)
            }
            Err(source) => Err(Error::GetPod {
                namespace: self.namespace.clone(),
                name: self.pod_name.clone(),
                source,
            }),
        }
    }

    /// Whether a Build whose status is `status` is settled with `pod`, the pod this reconcile
    /// assessed it with ([`build_pod::is_settled`]). Without a pod, only once the API server
    /// has said there is none: a pod the cache has not seen yet (created by a previous leader,
    /// or by a create whose answer was lost) would otherwise run on unstopped, its Build gone
    /// from the watch (found by `cargo xtask chaos`, scenario `failover`). A pod found then
    /// leaves the Build unsettled, and its watch event wakes the Build (rule 1 stops it).
    pub(super) async fn settled(
        &self,
        status: &BuildStatus,
        pod: Option<&Pod>,
    ) -> Result<bool, Error> {
        if !build_pod::is_settled(status, pod) {
            return Ok(false);
        }
        if pod.is_some() || self.pod_gone.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(true);
        }
        Ok(self.get_pod().await?.is_none())
    }

    /// Whether this Build controls the pod (same UID).
    pub(super) fn owns(&self, pod: &Pod) -> bool {
        pod.owner_references().iter().any(|o| o.uid == self.uid)
    }

    /// A pod of our pod's name must be controlled by this Build.
    pub(super) fn check_owner(&self, pod: &Pod) -> Result<(), Error> {
        if self.owns(pod) {
            return Ok(());
        }
        let owners = pod.owner_references();
        let owners = if owners.is_empty() {
            "none".to_owned()
        } else {
            owners
                .iter()
                .map(|o| format!("{}/{} ({})", o.kind, o.name, o.uid))
                .collect::<Vec<_>>()
                .join(", ")
        };
        Err(Error::PodNotOwned {
            namespace: self.namespace.clone(),
            name: self.pod_name.clone(),
            build: self.name.clone(),
            build_uid: self.uid.clone(),
            owners,
        })
    }

    fn patch_params(&self) -> PatchParams {
        PatchParams {
            field_manager: Some(self.ctx.config.controller_name.clone()),
            ..PatchParams::default()
        }
    }

    /// Wakes the Build again at `at` (a deadline), a little after it.
    pub(super) fn requeue_at(&self, at: Timestamp) -> Action {
        let wait = Duration::try_from(at.duration_since(self.now)).unwrap_or(Duration::ZERO);
        requeue(self.ctx, self.build, wait + DEADLINE_SLACK)
    }
}

/// The merge patch of the status subresource: `status` in full, `null` for fields it no longer
/// has, and the cached `resourceVersion` as the precondition.
fn status_patch(build: &Build, status: &BuildStatus) -> Result<Value, Error> {
    let mut new = serde_json::to_value(status).map_err(Error::Encode)?;
    let old =
        serde_json::to_value(build.status.clone().unwrap_or_default()).map_err(Error::Encode)?;
    if let (Value::Object(new), Value::Object(old)) = (&mut new, old) {
        for key in old.keys() {
            new.entry(key.clone()).or_insert(Value::Null);
        }
    }
    let mut metadata = serde_json::Map::new();
    if let Some(version) = &build.metadata.resource_version {
        metadata.insert("resourceVersion".into(), Value::String(version.clone()));
    }
    Ok(json!({
        "apiVersion": Build::api_version(&()),
        "kind": Build::kind(&()),
        "metadata": metadata,
        "status": new,
    }))
}
