//! One reconcile of one Build: read the caches, call the libraries, write back.
//!
//! Every write is either idempotent (stopping a pod, a status patch that carries the
//! `resourceVersion` it was computed from) or made safe to repeat by the API server (creating a
//! pod whose name is fixed by the Build gives `AlreadyExists` the second time), so a reconcile
//! can be killed at any line and run again.

use std::sync::Arc;
use std::time::Duration;

use build_pod::status_from_pod;
use build_types::{Build, BuildStatus, Condition, ConditionStatus, SUCCEEDED};
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use serde_json::{Value, json};
use tracing::{Instrument, debug, info, info_span, warn};

use crate::compose::{ComposeError, ComposeInputs, compose};
use crate::context::{Context, Metrics};
use crate::error::{Error, is_api_reason, is_not_found};

/// The reason a Build is failed with when its timeout passes.
pub const REASON_TIMEOUT: &str = build_pod::REASON_BUILD_TIMEOUT;
/// The reason a Build is failed with when it is cancelled.
pub const REASON_CANCELLED: &str = "BuildCancelled";
/// The reason a Build is failed with when its spec is invalid.
pub const REASON_INVALID: &str = "BuildValidationFailed";
/// The reason a running Build is failed with when its pod disappears.
pub const REASON_POD_DELETED: &str = "PodDeleted";
/// The reason a Build is failed with when the API server rejects its pod as invalid (400/422):
/// retrying the same pod could never succeed.
pub const REASON_EXECUTE_FAILED: &str = "BuildExecuteFailed";

/// The container waiting reasons that fail a Build once they persist past
/// [`Config::image_pull_grace`](crate::Config::image_pull_grace): the pod compiler's
/// fail-fast list, so the status mapping and the controller cannot drift apart.
pub const STUCK_WAITING_REASONS: &[&str] = build_pod::FAIL_FAST_WAITING_REASONS;

/// The `activeDeadlineSeconds` a stopped pod gets: the smallest the API server accepts.
const STOPPED_DEADLINE_SECONDS: i64 = 1;

/// A reconcile woken a little before its deadline requeues for the rest; this keeps it from
/// waking just short of it.
const DEADLINE_SLACK: Duration = Duration::from_millis(100);

/// Reconciles one Build, in this order:
///
/// 1. A finished Build (`Succeeded` `True` or `False`) keeps its condition and
///    `completionTime`; only its `stepStates` and `stepsCompleted` follow its pod as it ends.
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
/// Pods are stopped by lowering `spec.activeDeadlineSeconds` to 1, never deleted, so their logs
/// stay readable. Reads come from `ctx.stores`: the only GET is of a pod the status records
/// but the cache lacks (or that `AlreadyExists` names), to tell a deleted pod from a lagging
/// cache. The writes are the pod create, a pod stop, the status patch and Events (one per
/// change of the `Succeeded` condition's status or reason, plus `Started`). The returned action
/// wakes the Build at its next deadline. A successful reconcile resets the Build's retry
/// backoff.
pub async fn reconcile(build: Arc<Build>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = build.namespace().unwrap_or_default();
    let name = build.name_any();
    let span = info_span!("reconcile", namespace = %namespace, name = %name);
    // Waits for a worker slot first: the time spent waiting shows as the queue's depth.
    let _worker = ctx
        .telemetry
        .reconcile_started()
        .instrument(span.clone())
        .await;
    // The reconcile itself is a large future (every request it may make is a state in it);
    // boxing it only once it has a worker keeps each of the reconciles waiting for one small,
    // which matters when thousands are due at once.
    Box::pin(
        async {
            Metrics::inc(&ctx.metrics.reconciliations);
            let result = Reconcile::new(&build, &ctx)?.run().await;
            if result.is_ok() {
                ctx.reset_backoff(&ObjectRef::from_obj(&*build));
            }
            result
        }
        .instrument(span),
    )
    .await
}

/// Decides when a failed reconcile is retried: after `config.conflict_retry` for a 409
/// Conflict, otherwise with exponential backoff per Build (`retry_initial` doubling up to
/// `retry_max`), reset by the next successful reconcile.
pub fn error_policy(build: Arc<Build>, error: &Error, ctx: Arc<Context>) -> Action {
    Metrics::inc(&ctx.metrics.failures);
    ctx.telemetry.reconcile_failed(error);
    if error.is_conflict() {
        Metrics::inc(&ctx.metrics.conflicts);
        debug!(
            namespace = build.namespace().unwrap_or_default(),
            name = build.name_any(),
            "stale build in cache, retrying: {error}"
        );
        return Action::requeue(ctx.config.conflict_retry);
    }
    let attempt = ctx.record_failure(ObjectRef::from_obj(&*build));
    let delay = ctx.config.retry_delay(attempt);
    warn!(
        namespace = build.namespace().unwrap_or_default(),
        name = build.name_any(),
        error_kind = error.kind(),
        attempt,
        retry_in = ?delay,
        "reconcile failed: {error}"
    );
    Action::requeue(delay)
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

/// What the pod says and what to do about it.
struct Assessment {
    status: BuildStatus,
    stop_pod: bool,
    requeue_at: Option<Timestamp>,
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
        if self.ctx.cache_lags_own_write(self.build) {
            debug!("cache lags the last status write; waiting for the Build's watch event");
            return Ok(Action::requeue(self.ctx.config.conflict_retry));
        }
        // A deleted Build takes its pod with it.
        if self.build.metadata.deletion_timestamp.is_some() {
            return Ok(Action::await_change());
        }
        self.ctx
            .stores
            .wait_until_ready(self.ctx.config.cache_sync_timeout)
            .await?;
        // 1. A finished Build keeps its verdict; only its step states follow the pod.
        if self.old.is_done() {
            return self.settle().await;
        }

        // The pod, from the cache. Only when the status records a pod that the cache lacks is
        // it read from the API server: it is gone, or the cache has not caught up yet.
        let recorded = self.old.cluster.is_some();
        let pod = match self.ctx.stores.pod(&self.namespace, &self.pod_name) {
            Some(pod) => Some(pod),
            None if recorded => self.get_pod().await?,
            None => None,
        };
        if let Some(pod) = &pod {
            self.check_owner(pod)?;
        }

        // 2. Cancelled: stop the pod, unless it has already succeeded.
        if self.build.spec.is_cancelled() && pod.as_ref().is_none_or(|p| phase(p) != "Succeeded") {
            return self.cancel(pod.as_ref()).await;
        }

        match pod {
            // 6–8.
            Some(pod) => self.follow(&pod).await,
            // 9. The pod was recorded as started and is gone.
            None if recorded => self.pod_deleted().await,
            // 3–5. No pod yet.
            None => self.start().await,
        }
    }

    /// Compiles the Build and creates its pod, or records why it cannot.
    async fn start(&self) -> Result<Action, Error> {
        let composed = compose(&ComposeInputs {
            build: self.build,
            lookup: &self.ctx.stores,
            images: &self.ctx.config.images,
        });
        let composed = match composed {
            Ok(composed) => composed,
            Err(error) if error.is_missing_dependency() => return self.wait_for(&error).await,
            Err(error) => {
                // 3. Invalid: every problem is in the message.
                return self
                    .fail(self.old.clone(), error.reason(), error.to_string())
                    .await;
            }
        };
        // 4. It waited for a template, ServiceAccount or Secret that appeared only after the
        // timeout passed (while the controller was down, or a wake-up was missed): too late.
        let waited = self.old.succeeded().is_some_and(|c| {
            c.status == ConditionStatus::Unknown
                && c.reason
                    .as_deref()
                    .is_some_and(is_missing_dependency_reason)
        });
        if waited && self.now >= self.creation_deadline() {
            let waited_for = self
                .old
                .succeeded()
                .and_then(|c| c.message.clone())
                .unwrap_or_default();
            return self
                .fail(
                    self.old.clone(),
                    REASON_TIMEOUT,
                    format!("{}; it waited for: {waited_for}", self.timeout_message()),
                )
                .await;
        }
        for warning in &composed.warnings {
            info!(warning = %warning, "build compiled with a warning");
        }
        let mut pod = composed.pod;
        self.adopt(&mut pod);

        // 5. Create the pod; AlreadyExists for our own pod is success.
        let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &self.namespace);
        let params = PostParams {
            field_manager: Some(self.ctx.config.controller_name.clone()),
            ..PostParams::default()
        };
        let pod = match api.create(&params, &pod).await {
            Ok(created) => {
                Metrics::inc(&self.ctx.metrics.pods_created);
                self.ctx.telemetry.pod_created(self.build, self.now);
                info!(pod = %self.pod_name, "created build pod");
                let note = match composed.warnings.as_slice() {
                    [] => format!("Created pod {:?}", self.pod_name),
                    warnings => format!(
                        "Created pod {:?}; warnings: {}",
                        self.pod_name,
                        warnings.join("; ")
                    ),
                };
                self.publish(EventType::Normal, "Started", note).await;
                created
            }
            Err(error) if is_api_reason(&error, "AlreadyExists") => {
                debug!(pod = %self.pod_name, "build pod already exists");
                let existing = match self.ctx.stores.pod(&self.namespace, &self.pod_name) {
                    Some(pod) => Some(pod),
                    None => self.get_pod().await?,
                };
                let Some(existing) = existing else {
                    // Deleted again between the create and the read: start over.
                    return Err(Error::CreatePod {
                        namespace: self.namespace.clone(),
                        name: self.pod_name.clone(),
                        source: error,
                    });
                };
                self.check_owner(&existing)?;
                existing
            }
            // The API server says the pod itself is wrong: the same pod will never be accepted.
            Err(kube::Error::Api(response)) if matches!(response.code, 400 | 422) => {
                let message = format!(
                    "the API server rejected pod {:?}: {}",
                    self.pod_name, response.message
                );
                return self
                    .fail(self.old.clone(), REASON_EXECUTE_FAILED, message)
                    .await;
            }
            // Anything else may pass (quota, a webhook, the network): retry with backoff, but
            // not past the timeout.
            Err(source) => {
                if self.now >= self.creation_deadline() {
                    let message = format!(
                        "{}; its pod could not be created: {source}",
                        self.timeout_message()
                    );
                    return self.fail(self.old.clone(), REASON_TIMEOUT, message).await;
                }
                return Err(Error::CreatePod {
                    namespace: self.namespace.clone(),
                    name: self.pod_name.clone(),
                    source,
                });
            }
        };
        self.follow(&pod).await
    }

    /// The Build's creation time plus its timeout: the deadline while it has no pod.
    fn creation_deadline(&self) -> Timestamp {
        let created = self
            .build
            .metadata
            .creation_timestamp
            .as_ref()
            .map_or(self.now, |t| t.0);
        add(created, self.build.spec.timeout_or_default())
    }

    /// Fails the Build with `reason` and `message`, finishing `status`, and writes it.
    async fn fail(
        &self,
        mut status: BuildStatus,
        reason: &str,
        message: String,
    ) -> Result<Action, Error> {
        self.finish(&mut status, reason, message);
        self.write_status(status).await?;
        Ok(Action::await_change())
    }

    /// Marks `status` failed now: `Succeeded` False with `reason` and `message`, and
    /// `completionTime`.
    fn finish(&self, status: &mut BuildStatus, reason: &str, message: String) {
        status.set_condition(
            Condition::succeeded(ConditionStatus::False, reason, message),
            Time(self.now),
        );
        status.completion_time = Some(Time(self.now));
    }

    /// Rule 1. The verdict of a finished Build (its `Succeeded` condition and `completionTime`)
    /// never changes, but a pod stopped for a timeout or a cancel goes on ending after it was
    /// given: its killed step terminates (exit 137 or 143) seconds later. The step states follow
    /// the pod (from the cache only) until it has finished too.
    async fn settle(&self) -> Result<Action, Error> {
        let Some(pod) = self.ctx.stores.pod(&self.namespace, &self.pod_name) else {
            return Ok(Action::await_change());
        };
        if pod.owner_references().iter().all(|o| o.uid != self.uid) {
            return Ok(Action::await_change());
        }
        // A failed Build's pod must not run on. One can appear only now: created by a request
        // that seemed to fail (the API server went down before answering) and retried until
        // the Build timed out with no pod known.
        if self
            .old
            .succeeded()
            .is_some_and(|c| c.status == ConditionStatus::False)
        {
            self.stop_pod(&pod).await?;
        }
        let mirrored = status_from_pod(&pod, self.build);
        if mirrored.step_states == self.old.step_states
            && mirrored.steps_completed == self.old.steps_completed
        {
            return Ok(Action::await_change());
        }
        let mut status = self.old.clone();
        status.step_states = mirrored.step_states;
        status.steps_completed = mirrored.steps_completed;
        self.write_status(status).await?;
        Ok(Action::await_change())
    }

    /// 4. A template, ServiceAccount or Secret is missing: wait for it, until the timeout.
    async fn wait_for(&self, missing: &ComposeError) -> Result<Action, Error> {
        let deadline = self.creation_deadline();
        if self.now >= deadline {
            let message = format!("{}; still waiting: {missing}", self.timeout_message());
            return self.fail(self.old.clone(), REASON_TIMEOUT, message).await;
        }
        let mut status = self.old.clone();
        status.set_condition(
            Condition::succeeded(
                ConditionStatus::Unknown,
                missing.reason(),
                missing.to_string(),
            ),
            Time(self.now),
        );
        self.write_status(status).await?;
        Ok(self.requeue_at(deadline))
    }

    /// 2. Stop the pod (if any) and fail the Build as cancelled.
    async fn cancel(&self, pod: Option<&Pod>) -> Result<Action, Error> {
        let mut status = self.old.clone();
        if let Some(pod) = pod {
            self.stop_pod(pod).await?;
            status = self.mirror(pod);
        }
        let message = format!("Build {:?} was cancelled", self.name);
        self.fail(status, REASON_CANCELLED, message).await
    }

    /// 9. The pod went away before the Build finished.
    async fn pod_deleted(&self) -> Result<Action, Error> {
        let message = format!(
            "pod {:?} was deleted before build {:?} finished",
            self.pod_name, self.name
        );
        self.fail(self.old.clone(), REASON_POD_DELETED, message)
            .await
    }

    /// 6–8. Mirror the pod into the status; stop it on a timeout or a persistent image error.
    async fn follow(&self, pod: &Pod) -> Result<Action, Error> {
        let mut assessment = self.assess(pod);
        let mut pod = std::borrow::Cow::Borrowed(pod);
        if assessment.stop_pod {
            // About to fail the Build on the cached pod's word: read the pod itself first, so
            // that a success the cache has not seen yet wins over a late timeout
            // (knative/build#599).
            if let Some(fresh) = self.get_pod().await? {
                assessment = self.assess(&fresh);
                pod = std::borrow::Cow::Owned(fresh);
            }
        }
        if assessment.stop_pod {
            self.stop_pod(&pod).await?;
        }
        self.write_status(assessment.status).await?;
        Ok(match assessment.requeue_at {
            Some(at) => self.requeue_at(at),
            None => Action::await_change(),
        })
    }

    /// What the pod says, with the timeout and the image pull grace applied.
    fn assess(&self, pod: &Pod) -> Assessment {
        let mut status = self.mirror(pod);
        if status.is_done() {
            // The pod's own verdict wins over a timeout that passed since (knative/build#599).
            status.completion_time.get_or_insert(Time(self.now));
            // Except where the verdict is our own stop, for an image error, read back as a
            // deadline: a previous reconcile stopped the pod and was interrupted before it
            // wrote why.
            if let Some(condition) = self.stopped_for_image_error(pod, &status) {
                status.set_condition(condition, Time(self.now));
            }
            return Assessment {
                status,
                stop_pod: false,
                requeue_at: None,
            };
        }

        // 8. Image pull and container configuration errors past the grace period.
        let mut grace_deadline = None;
        if let Some((container, reason, message)) = stuck_container(pod) {
            let deadline = add(waiting_since(pod), self.ctx.config.image_pull_grace.into());
            if self.now >= deadline {
                let text = waiting_text(&container, &reason, &message);
                self.finish(&mut status, &reason, text);
                return Assessment {
                    status,
                    stop_pod: true,
                    requeue_at: None,
                };
            }
            grace_deadline = Some(deadline);
        }

        // 7. The timeout, from the start time.
        let start = status.start_time.as_ref().map_or(self.now, |t| t.0);
        let deadline = add(start, self.build.spec.timeout_or_default());
        if self.now >= deadline {
            self.finish(&mut status, REASON_TIMEOUT, self.timeout_message());
            return Assessment {
                status,
                stop_pod: true,
                requeue_at: None,
            };
        }
        Assessment {
            status,
            stop_pod: false,
            requeue_at: Some(grace_deadline.map_or(deadline, |g| g.min(deadline))),
        }
    }

    /// The condition to report instead of `BuildTimeout` when the pod failed on a deadline that
    /// this controller lowered for an image error (step 8), not on the Build's own timeout.
    fn stopped_for_image_error(&self, pod: &Pod, status: &BuildStatus) -> Option<Condition> {
        let timed_out = status
            .succeeded()
            .is_some_and(|c| c.reason.as_deref() == Some(REASON_TIMEOUT));
        let stopped_by_us = pod.spec.as_ref().and_then(|s| s.active_deadline_seconds)
            == Some(STOPPED_DEADLINE_SECONDS);
        let start = status.start_time.as_ref().map_or(self.now, |t| t.0);
        let build_deadline = add(start, self.build.spec.timeout_or_default());
        if !timed_out || !stopped_by_us || self.now >= build_deadline {
            return None;
        }
        if let Some((container, reason, message)) = stuck_container(pod) {
            return Some(Condition::succeeded(
                ConditionStatus::False,
                reason.clone(),
                waiting_text(&container, &reason, &message),
            ));
        }
        let old = self.old.succeeded()?;
        let reason = old.reason.as_deref()?;
        STUCK_WAITING_REASONS.contains(&reason).then(|| {
            Condition::succeeded(
                ConditionStatus::False,
                reason,
                old.message.clone().unwrap_or_default(),
            )
        })
    }

    /// The Build's status as its pod shows it ([`status_from_pod`]), keeping the start time
    /// first recorded (when the pod was created), from which the timeout runs.
    fn mirror(&self, pod: &Pod) -> BuildStatus {
        let mut status = status_from_pod(pod, self.build);
        if let Some(start) = &self.old.start_time {
            status.start_time = Some(start.clone());
        }
        status.start_time.get_or_insert(Time(self.now));
        status
    }

    /// Lowers the pod's `activeDeadlineSeconds` so the kubelet stops it and its logs stay
    /// readable. Nothing to do for a pod that has finished or is already stopping.
    async fn stop_pod(&self, pod: &Pod) -> Result<(), Error> {
        let finished = matches!(phase(pod), "Succeeded" | "Failed");
        let stopping = pod
            .spec
            .as_ref()
            .and_then(|s| s.active_deadline_seconds)
            .is_some_and(|d| d <= STOPPED_DEADLINE_SECONDS);
        if finished || stopping {
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
        Metrics::inc(&self.ctx.metrics.pods_stopped);
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
        let api: Api<Build> = Api::namespaced(self.ctx.client.clone(), &self.namespace);
        api.patch_status(&self.name, &self.patch_params(), &Patch::Merge(&patch))
            .await
            .map_err(|source| Error::PatchStatus {
                namespace: self.namespace.clone(),
                name: self.name.clone(),
                source,
            })?;
        self.ctx.wrote_status(self.build);
        Metrics::inc(&self.ctx.metrics.status_patches);
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
        let published = if is_missing_dependency_reason(reason) {
            recorder.publish(&event, &regarding, self.now).await
        } else {
            recorder.publish_one_off(&event, &regarding, self.now).await
        };
        match published {
            Ok(()) => Metrics::inc(&self.ctx.metrics.events_published),
            Err(error) => warn!(reason, "publishing event failed: {error}"),
        }
    }

    /// Reads the pod from the API server: only to confirm a pod missing from the cache.
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

    /// A pod of our pod's name must be controlled by this Build (same UID).
    fn check_owner(&self, pod: &Pod) -> Result<(), Error> {
        let owners = pod.owner_references();
        if owners.iter().any(|o| o.uid == self.uid) {
            return Ok(());
        }
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

    /// Makes sure the compiled pod has our name, namespace and controller owner reference.
    fn adopt(&self, pod: &mut Pod) {
        pod.metadata.name = Some(self.pod_name.clone());
        pod.metadata.namespace = Some(self.namespace.clone());
        let owners = pod.metadata.owner_references.get_or_insert_with(Vec::new);
        if !owners.iter().any(|o| o.uid == self.uid) {
            owners.push(OwnerReference {
                api_version: Build::api_version(&()).into_owned(),
                kind: Build::kind(&()).into_owned(),
                name: self.name.clone(),
                uid: self.uid.clone(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            });
        }
    }

    fn patch_params(&self) -> PatchParams {
        PatchParams {
            field_manager: Some(self.ctx.config.controller_name.clone()),
            ..PatchParams::default()
        }
    }

    fn timeout_message(&self) -> String {
        format!(
            "Build {:?} failed to finish within {:?}",
            self.name,
            self.build.spec.timeout_or_default().to_string()
        )
    }

    fn requeue_at(&self, at: Timestamp) -> Action {
        let wait = Duration::try_from(at.duration_since(self.now)).unwrap_or(Duration::ZERO);
        Action::requeue(wait + DEADLINE_SLACK)
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

/// The Event for a change of the `Succeeded` condition's status or reason, if it deserves one.
fn condition_event(
    old: Option<&Condition>,
    new: Option<&Condition>,
) -> Option<(EventType, &'static str, String)> {
    let new = new.filter(|c| c.type_ == SUCCEEDED)?;
    let key = |c: &Condition| (c.status, c.reason.clone());
    if old.map(key) == Some(key(new)) {
        return None;
    }
    let reason = new.reason.as_deref().unwrap_or_default();
    let message = new.message.clone().unwrap_or_default();
    let note = if message.is_empty() {
        reason.to_owned()
    } else {
        message
    };
    match new.status {
        ConditionStatus::True => Some((EventType::Normal, "Succeeded", note)),
        ConditionStatus::False => {
            let event_reason = match reason {
                REASON_TIMEOUT => REASON_TIMEOUT,
                REASON_CANCELLED => REASON_CANCELLED,
                REASON_INVALID => REASON_INVALID,
                _ => "Failed",
            };
            let note = if event_reason == "Failed" && !reason.is_empty() && note != reason {
                format!("{reason}: {note}")
            } else {
                note
            };
            Some((EventType::Warning, event_reason, note))
        }
        ConditionStatus::Unknown => {
            let waiting = match reason {
                "TemplateNotFound" => "TemplateNotFound",
                "ServiceAccountNotFound" => "ServiceAccountNotFound",
                "SecretNotFound" => "SecretNotFound",
                _ => return None,
            };
            Some((EventType::Warning, waiting, note))
        }
    }
}

/// The note of a Build's `Succeeded` Event: what succeeded, how long it took and how many steps
/// it ran (`Build "app" succeeded in 1m23s (3 steps)`).
fn success_note(name: &str, status: &BuildStatus) -> String {
    let took = match (&status.start_time, &status.completion_time) {
        (Some(start), Some(end)) => {
            let nanos = end.0.duration_since(start.0).as_nanos().max(0);
            // Whole seconds: the pod's timestamps have no finer grain.
            let seconds = std::time::Duration::from_secs(
                u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX),
            );
            format!(" in {}", build_types::Duration::from(seconds))
        }
        _ => String::new(),
    };
    let steps = match status.step_states.len() {
        1 => " (1 step)".to_owned(),
        n => format!(" ({n} steps)"),
    };
    format!("Build {name:?} succeeded{took}{steps}")
}

/// The pod's phase, or `""`.
fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default()
}

fn container_statuses(pod: &Pod) -> impl Iterator<Item = &ContainerStatus> {
    let status = pod.status.as_ref();
    let init = status.and_then(|s| s.init_container_statuses.as_ref());
    let main = status.and_then(|s| s.container_statuses.as_ref());
    init.into_iter().flatten().chain(main.into_iter().flatten())
}

/// The first container waiting for one of [`STUCK_WAITING_REASONS`]: its name, reason and
/// message.
fn stuck_container(pod: &Pod) -> Option<(String, String, String)> {
    container_statuses(pod).find_map(|status| {
        let waiting = status.state.as_ref()?.waiting.as_ref()?;
        let reason = waiting.reason.as_deref()?;
        STUCK_WAITING_REASONS.contains(&reason).then(|| {
            (
                status.name.clone(),
                reason.to_owned(),
                waiting.message.clone().unwrap_or_default(),
            )
        })
    })
}

/// Since when the pod's current container has been waiting: the latest of the pod's start (or
/// creation) and the end of any container that has finished before it.
fn waiting_since(pod: &Pod) -> Timestamp {
    let started = pod
        .status
        .as_ref()
        .and_then(|s| s.start_time.as_ref())
        .or(pod.metadata.creation_timestamp.as_ref())
        .map(|t| t.0);
    let finished = container_statuses(pod).filter_map(|status| {
        let terminated = status.state.as_ref()?.terminated.as_ref()?;
        terminated.finished_at.as_ref().map(|t| t.0)
    });
    started
        .into_iter()
        .chain(finished)
        .max()
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

/// The message of a Build failed for a container stuck waiting.
fn waiting_text(container: &str, reason: &str, message: &str) -> String {
    if message.is_empty() {
        format!("container {container:?} is waiting: {reason}")
    } else {
        format!("container {container:?} is waiting: {reason}: {message}")
    }
}

/// Whether a `Succeeded` reason says the Build waits for a template, ServiceAccount or Secret.
fn is_missing_dependency_reason(reason: &str) -> bool {
    matches!(
        reason,
        "TemplateNotFound" | "ServiceAccountNotFound" | "SecretNotFound"
    )
}

fn add(at: Timestamp, duration: build_types::Duration) -> Timestamp {
    at.checked_add(SignedDuration::from_nanos(duration.as_nanos()))
        .unwrap_or(Timestamp::MAX)
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max.saturating_sub(3);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str("...");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn condition(status: ConditionStatus, reason: &str) -> Condition {
        Condition::succeeded(status, reason, format!("{reason} happened"))
    }

    #[test]
    fn events_only_on_a_change_of_status_or_reason() {
        let waiting = condition(ConditionStatus::Unknown, "TemplateNotFound");
        assert_eq!(
            condition_event(None, Some(&waiting)).map(|(t, r, _)| (t, r)),
            Some((EventType::Warning, "TemplateNotFound"))
        );
        assert_eq!(condition_event(Some(&waiting), Some(&waiting)), None);
        let mut reworded = waiting.clone();
        reworded.message = Some("other words".into());
        assert_eq!(condition_event(Some(&waiting), Some(&reworded)), None);

        let building = condition(ConditionStatus::Unknown, "Building");
        assert_eq!(condition_event(Some(&waiting), Some(&building)), None);
    }

    #[test]
    fn event_reasons() {
        let check = |status, reason: &str, expected: (EventType, &str)| {
            let got = condition_event(None, Some(&condition(status, reason)));
            assert_eq!(got.map(|(t, r, _)| (t, r)), Some(expected), "{reason}");
        };
        check(
            ConditionStatus::True,
            "Succeeded",
            (EventType::Normal, "Succeeded"),
        );
        check(
            ConditionStatus::False,
            REASON_TIMEOUT,
            (EventType::Warning, REASON_TIMEOUT),
        );
        check(
            ConditionStatus::False,
            REASON_CANCELLED,
            (EventType::Warning, REASON_CANCELLED),
        );
        check(
            ConditionStatus::False,
            REASON_INVALID,
            (EventType::Warning, REASON_INVALID),
        );
        check(
            ConditionStatus::False,
            REASON_POD_DELETED,
            (EventType::Warning, "Failed"),
        );
        check(
            ConditionStatus::False,
            "ImagePullBackOff",
            (EventType::Warning, "Failed"),
        );
        check(
            ConditionStatus::Unknown,
            "SecretNotFound",
            (EventType::Warning, "SecretNotFound"),
        );
    }

    #[test]
    fn failed_event_note_names_the_reason() {
        let (_, _, note) =
            condition_event(None, Some(&condition(ConditionStatus::False, "PodDeleted"))).unwrap();
        assert_eq!(note, "PodDeleted: PodDeleted happened");
    }

    #[test]
    fn success_note_says_what_succeeded_and_how_long_it_took() {
        let status: BuildStatus = serde_json::from_value(json!({
            "startTime": "2024-01-01T00:00:05Z",
            "completionTime": "2024-01-01T00:01:28Z",
            "stepStates": [{"terminated": {"exitCode": 0}}, {"terminated": {"exitCode": 0}}],
        }))
        .unwrap();
        assert_eq!(
            success_note("app", &status),
            "Build \"app\" succeeded in 1m23s (2 steps)"
        );
        assert_eq!(
            success_note("app", &BuildStatus::default()),
            "Build \"app\" succeeded (0 steps)"
        );
    }

    #[test]
    fn truncation_keeps_char_boundaries() {
        assert_eq!(truncate("abcdef".into(), 10), "abcdef");
        assert_eq!(truncate("abcdef".into(), 5), "ab...");
        assert_eq!(truncate("ééééé".into(), 6), "é...");
    }

    #[test]
    fn waiting_since_is_the_latest_start_or_finish() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p", "creationTimestamp": "2024-01-01T00:00:00Z"},
            "status": {
                "startTime": "2024-01-01T00:00:05Z",
                "initContainerStatuses": [
                    {"name": "a", "image": "a", "imageID": "", "ready": false, "restartCount": 0,
                     "state": {"terminated": {"exitCode": 0, "finishedAt": "2024-01-01T00:01:00Z"}}},
                    {"name": "b", "image": "b", "imageID": "", "ready": false, "restartCount": 0,
                     "state": {"waiting": {"reason": "ImagePullBackOff", "message": "back-off"}}},
                ],
            },
        }))
        .unwrap();
        assert_eq!(
            waiting_since(&pod),
            "2024-01-01T00:01:00Z".parse::<Timestamp>().unwrap()
        );
        assert_eq!(
            stuck_container(&pod),
            Some(("b".into(), "ImagePullBackOff".into(), "back-off".into()))
        );
    }
}
