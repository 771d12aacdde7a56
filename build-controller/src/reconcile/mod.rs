//! One reconcile of one Build: read the caches, call the libraries, write back.
//!
//! What the Build's pod means for the Build is decided by [`build_pod::assess`], a pure
//! function; what a Build without a pod needs is decided by the composition (`build_pod::compose`). This
//! module only reads (the caches, and the API server when the cache may lag), and writes: the
//! pod, a pod stop, the status and its Events.
//!
//! Every write is either idempotent (stopping a pod, a status patch that carries the
//! `resourceVersion` it was computed from) or made safe to repeat by the API server (creating a
//! pod whose name is fixed by the Build gives `AlreadyExists` the second time), so a reconcile
//! can be killed at any line and run again.

mod start;

use std::sync::Arc;
use std::time::Duration;

use build_pod::{
    Assessment, Policy, STOPPED_DEADLINE_SECONDS, Stop, Update, assess, has_ended, is_stopped,
};
use build_types::{Build, BuildStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};
use tracing::{Instrument, debug, info, info_span, warn};

use crate::client::patch_status_version;
use crate::context::Context;
use crate::error::{Error, is_not_found};
use crate::ops::events::{condition_event, success_note, truncate};
use crate::per_build::due_key;
use crate::stores::CachedBuild;
use start::Started;

/// A reconcile woken a little before its deadline requeues for the rest; this keeps it from
/// waking just short of it.
const DEADLINE_SLACK: Duration = Duration::from_millis(100);

/// Reconciles one Build, as the Build cache holds it ([`CachedBuild`]), in this order:
///
/// 1. A finished Build (`Succeeded` `True` or `False`) keeps its condition and
///    `completionTime`; only its `stepStates` and `stepsCompleted` follow its pod as it ends.
///    Once they show the ended pod, the pod cache forgets the pod ([`PodCache`]).
///
///    [`PodCache`]: crate::stores::PodCache
/// 2. Cancelled (`spec.status: BuildCancelled`): its pod is stopped and the Build fails with
///    `BuildCancelled` — unless the pod has already succeeded.
/// 3. An invalid spec fails with `BuildValidationFailed` and every problem in the message.
/// 4. A missing template, ServiceAccount or Secret sets `Unknown` with `TemplateNotFound`,
///    `ServiceAccountNotFound` or `SecretNotFound`; the Build is woken when it appears, and fails
///    with `BuildTimeout` if its timeout (from its creation) passes first.
/// 5. Otherwise its pod is created; `AlreadyExists` for a pod this Build owns is success, for
///    anyone else's pod an error.
/// 6. The pod is mirrored into the status ([`build_pod::status_from_pod`]), written only when it
///    changed, as a merge patch of the status subresource carrying the cached
///    `resourceVersion` (a stale cache gives a 409 Conflict, retried promptly).
/// 7. Past `startTime + timeout` the pod is stopped and the Build fails with `BuildTimeout`;
///    a pod that has succeeded wins over a timeout seen late.
/// 8. An image pull or container configuration error lasting longer than
///    [`Config::image_pull_grace`](crate::Config::image_pull_grace) stops the pod and fails the
///    Build with that reason.
/// 9. A pod deleted under a running Build fails it with `PodDeleted`.
///
/// Rules 1, 2 and 6–9 are [`build_pod::assess`]'s; 3–5 are the composition's.
///
/// Pods are stopped by lowering `spec.activeDeadlineSeconds` to 1, never deleted, so their logs
/// stay readable. Reads come from `ctx.stores`: the only GET is of a pod the status records
/// but the cache lacks (or that `AlreadyExists` names), to tell a deleted pod from a lagging
/// cache, and of a pod about to be stopped on a deadline, so that a success the cache has not
/// seen wins. The writes are the pod create, a pod stop, the status patch and Events (one per
/// change of the `Succeeded` condition's status or reason, plus `Started`). The returned action
/// wakes the Build at its next deadline. A successful reconcile resets the Build's retry
/// backoff.
pub async fn reconcile(cached: Arc<CachedBuild>, ctx: Arc<Context>) -> Result<Action, Error> {
    let key = due_key(&*cached);
    let build = cached.build();
    let namespace = key.namespace.as_deref().unwrap_or_default();
    let span = info_span!("reconcile", namespace = %namespace, name = %key.name);
    let _running = ctx.telemetry.reconcile_started(&key);
    let result = Reconcile::new(&build, &ctx)?.run().instrument(span).await;
    if result.is_ok() {
        ctx.backoff.reset(&key);
    }
    result
}

/// `Action::requeue(after)`, noted in the work queue's depth.
fn requeue(ctx: &Context, build: &impl Resource, after: Duration) -> Action {
    ctx.telemetry.reconcile_due_after(due_key(build), after);
    Action::requeue(after)
}

/// Decides when a failed reconcile is retried: after `config.conflict_retry` for a 409
/// Conflict, otherwise with exponential backoff per Build (`retry_initial` doubling up to
/// `retry_max`), reset by the next successful reconcile.
pub fn error_policy(build: Arc<CachedBuild>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.telemetry.reconcile_failed(error);
    if error.is_conflict() {
        debug!(
            namespace = build.namespace().unwrap_or_default(),
            name = build.name_any(),
            "stale build in cache, retrying: {error}"
        );
        return requeue(&ctx, &*build, ctx.config.conflict_retry);
    }
    let attempt = ctx.backoff.record_failure(due_key(&*build));
    let delay = ctx.config.retry_delay(attempt);
    warn!(
        namespace = build.namespace().unwrap_or_default(),
        name = build.name_any(),
        error_kind = error.kind(),
        attempt,
        retry_in = ?delay,
        "reconcile failed: {error}"
    );
    requeue(&ctx, &*build, delay)
}

/// The state of one reconcile.
struct Reconcile<'a> {
    build: &'a Build,
    ctx: &'a Context,
    namespace: String,
    name: String,
    uid: String,
    pod_name: String,
    now: Timestamp,
    old: BuildStatus,
}

impl<'a> Reconcile<'a> {
    fn new(build: &'a Build, ctx: &'a Context) -> Result<Self, Error> {
        let field = |field| Error::MissingMetadata { field };
        Ok(Reconcile {
            namespace: build.namespace().ok_or(field("namespace"))?,
            name: build.metadata.name.clone().ok_or(field("name"))?,
            uid: build.metadata.uid.clone().ok_or(field("uid"))?,
            pod_name: build_pod::pod_name(build),
            now: (ctx.clock)(),
            old: build.status.clone().unwrap_or_default(),
            build,
            ctx,
        })
    }

    async fn run(&self) -> Result<Action, Error> {
        // The cache has not seen this controller's last status write yet: the Build's watch
        // event will wake it with the written status; a patch now would only be a Conflict.
        // (Checked first, so that the note is dropped once the cache catches up.)
        if self.ctx.own_writes.cache_lags_own_write(self.build) {
            debug!("cache lags the last status write; waiting for the Build's watch event");
            return Ok(requeue(
                self.ctx,
                self.build,
                self.ctx.config.conflict_retry,
            ));
        }
        // A deleted Build takes its pod with it.
        if self.build.metadata.deletion_timestamp.is_some() {
            return Ok(Action::await_change());
        }
        self.ctx
            .stores
            .wait_until_ready(self.ctx.config.cache_sync_timeout)
            .await?;
        let pod = if self.old.is_done() {
            // A finished Build's step states follow its pod from the cache alone.
            self.cached_pod().filter(|pod| self.owns(pod))
        } else {
            // Only when the status records a pod that the cache lacks is it read from the API
            // server: it is gone, or the cache has not caught up yet.
            let pod = match self.cached_pod() {
                Some(pod) => Some(pod),
                None if self.old.cluster.is_some() => self.get_pod().await?,
                None => None,
            };
            if let Some(pod) = &pod {
                self.check_owner(pod)?;
            }
            pod
        };
        self.decide(pod).await
    }

    /// Acts on what [`assess`] makes of the Build and its pod: once more after creating the
    /// pod, to record it.
    async fn decide(&self, mut pod: Option<Pod>) -> Result<Action, Error> {
        loop {
            match assess(self.build, pod.as_ref(), self.now, &self.policy()) {
                Assessment::CreatePod => match self.start().await? {
                    Started::Pod(created) => pod = Some(*created),
                    Started::Not(action) => return Ok(action),
                },
                Assessment::Unchanged => {
                    if let Some(pod) = &pod {
                        self.forget_if_settled(self.old.is_done(), pod);
                    }
                    return Ok(Action::await_change());
                }
                Assessment::Update(update) => return self.apply(update, pod).await,
            }
        }
    }

    /// Stops the pod if the update says so, and writes the status.
    async fn apply(&self, mut update: Update, mut pod: Option<Pod>) -> Result<Action, Error> {
        if update.stop == Stop::Confirm {
            // About to fail the Build on the cached pod's word: read the pod itself first, so
            // that a success the cache has not seen yet wins over a late timeout
            // (knative/build#599).
            if let Some(fresh) = self.get_pod().await? {
                if let Assessment::Update(confirmed) =
                    assess(self.build, Some(&fresh), self.now, &self.policy())
                {
                    update = confirmed;
                }
                pod = Some(fresh);
            }
        }
        if update.stop != Stop::No
            && let Some(pod) = &pod
        {
            self.stop_pod(pod).await?;
        }
        // A finished Build's status is written only when its step states moved on.
        if !(self.old.is_done() && update.status == self.old) {
            let done = update.status.is_done();
            self.write_status(update.status).await?;
            // The status as stored now shows the pod: its watch event wakes no reconcile
            // (`OwnWrites::is_own_status_echo`), so this one is the last to read the pod.
            if let Some(pod) = &pod {
                self.forget_if_settled(done, pod);
            }
        }
        Ok(match update.recheck_at {
            Some(at) => self.requeue_at(at),
            None => Action::await_change(),
        })
    }

    fn policy(&self) -> Policy {
        Policy {
            image_pull_grace: self.ctx.config.image_pull_grace,
        }
    }

    /// A finished Build (`done`: its status as stored) whose status shows its ended pod will
    /// not read that pod again: the cache forgets it, unless a newer version has arrived since.
    /// The watch brings it back if it changes, and a relist brings back every pod.
    fn forget_if_settled(&self, done: bool, pod: &Pod) {
        if !(done && has_ended(pod)) {
            return;
        }
        if let Some(version) = &pod.metadata.resource_version
            && self
                .ctx
                .stores
                .pods
                .forget(&self.namespace, &self.pod_name, version)
        {
            debug!(pod = %self.pod_name, "build settled on its ended pod; pod forgotten from the cache");
        }
    }

    fn cached_pod(&self) -> Option<Pod> {
        self.ctx.stores.pod(&self.namespace, &self.pod_name)
    }

    /// Lowers the pod's `activeDeadlineSeconds` so the kubelet stops it and its logs stay
    /// readable. Nothing to do for a pod that has finished or is already stopping.
    async fn stop_pod(&self, pod: &Pod) -> Result<(), Error> {
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
    async fn write_status(&self, mut status: BuildStatus) -> Result<(), Error> {
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
    async fn publish(&self, type_: EventType, reason: &str, note: String) {
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
    async fn get_pod(&self) -> Result<Option<Pod>, Error> {
        let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &self.namespace);
        match api.get(&self.pod_name).await {
            Ok(pod) => Ok(Some(pod)),
            Err(error) if is_not_found(&error) => Ok(None),
            Err(source) => Err(Error::GetPod {
                namespace: self.namespace.clone(),
                name: self.pod_name.clone(),
                source,
            }),
        }
    }

    /// Whether this Build controls the pod (same UID).
    fn owns(&self, pod: &Pod) -> bool {
        pod.owner_references().iter().any(|o| o.uid == self.uid)
    }

    /// A pod of our pod's name must be controlled by this Build.
    fn check_owner(&self, pod: &Pod) -> Result<(), Error> {
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

    fn requeue_at(&self, at: Timestamp) -> Action {
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
