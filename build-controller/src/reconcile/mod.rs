//! One reconcile of one Build: read the caches, call the libraries, write back.
//!
//! What the Build's pod means for the Build is decided by [`build_pod::assess`], a pure
//! function; what happens to a Build without a pod, by [`build_pod::assess_start`] over the
//! composition ([`build_pod::compose`]) and the pod create. This module only reads (the caches,
//! and the API server when the cache may lag), and writes: the pod, a pod stop, the status and
//! its Events.
//!
//! Every write is either idempotent (stopping a pod, a status patch that carries the
//! `resourceVersion` it was computed from) or made safe to repeat by the API server (creating a
//! pod whose name is fixed by the Build gives `AlreadyExists` the second time), so a reconcile
//! can be killed at any line and run again.

mod io;
mod start;

use std::sync::Arc;

use build_pod::{Assessment, Stop, Update, assess, is_settled};
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use tracing::{Instrument, debug, info_span, warn};

use crate::context::Context;
use crate::error::Error;
use crate::per_build::due_key;
use crate::stores::CachedBuild;
use io::{Reconcile, requeue};
use start::Started;

/// Reconciles one Build, as the Build cache holds it ([`CachedBuild`]), in this order:
///
/// 1. A finished Build (`Succeeded` `True` or `False`) keeps its condition and
///    `completionTime`; only its `stepStates` and `stepsCompleted` follow its pod as it ends.
///    Once its pod has ended (or when it has none) it is marked `settled`
///    ([`build_pod::is_settled`]), which takes it out of the controller's Build watch.
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
/// Rules 1, 2 and 6–9 are [`build_pod::assess`]'s; 3–5 are [`build_pod::assess_start`]'s.
///
/// Pods are stopped by lowering `spec.activeDeadlineSeconds` to 1, never deleted, so their logs
/// stay readable. Reads come from `ctx.stores`: the only GET is of a pod the status records
/// but the cache lacks (or that `AlreadyExists` names), to tell a deleted pod from a lagging
/// cache or from one that has ended (the pod watch leaves ended pods out, so a pod that ends
/// leaves the cache as if deleted, and its last state is read this way), of a pod about to
/// be stopped on a deadline, so that a success the cache has not seen wins, and of the pod of
/// a Build finished with none in sight, before it is marked settled. The writes are the pod create, a pod stop, the status patch and Events (one per
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

/// Whether a Build the watch brings needs a reconcile: all do but a finished one that is
/// settled and whose pod is not cached, which rule 1 leaves as it is (if its pod comes, the pod
/// wakes it).
///
/// Where the Build watch leaves settled Builds out (`selecting`), a finished Build not marked
/// settled yet is reconciled once to settle it: its pod may have ended while no controller
/// ran, and a Build finished by an earlier release has no mark at all. Where it does not (a
/// Build CRD from before `settled`, whose schema may drop the mark, so that it would never
/// stick), a finished Build is treated as settled, as before the mark.
pub(crate) fn wakes(ctx: &Context, cached: &CachedBuild, selecting: bool) -> bool {
    if cached.unfinished().is_some() || (selecting && !cached.is_settled()) {
        return true;
    }
    let meta = cached.meta();
    let pod_name = build_pod::pod_name_of(
        meta.name.as_deref().unwrap_or_default(),
        meta.uid.as_deref(),
    );
    let namespace = cached.namespace().unwrap_or_default();
    ctx.stores.pods.get(&namespace, &pod_name).is_some()
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

impl Reconcile<'_> {
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
            // A finished Build's step states follow its pod from the cache, and, until it is
            // settled, from the API server when the cache has lost the pod: the pod watch
            // leaves ended pods out, so one that ends leaves the cache as if deleted.
            match self.cached_pod() {
                None if !self.old.settled && self.old.cluster.is_some() => self.get_pod().await?,
                cached => cached,
            }
            .filter(|pod| self.owns(pod))
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
    /// pod, to record it; when the pod is not created, writes the status
    /// [`build_pod::assess_start`] decided instead.
    async fn decide(&self, mut pod: Option<Pod>) -> Result<Action, Error> {
        loop {
            match assess(self.build, pod.as_ref(), self.now, &self.policy()) {
                Assessment::CreatePod => match self.start().await? {
                    Started::Pod(created) => pod = Some(*created),
                    Started::Not(update) => return self.apply(update, None).await,
                },
                Assessment::Unchanged
                    if !self.old.settled && is_settled(&self.old, pod.as_ref()) =>
                {
                    // Nothing changed but that nothing will: marked settled (once confirmed).
                    return self.apply(Update::new(self.old.clone()), pod).await;
                }
                Assessment::Unchanged => return Ok(Action::await_change()),
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
        // Settled once finished with its pod ended or gone; a pod just stopped has not ended.
        update.status.settled = self.settled(&update.status, pod.as_ref()).await?;
        // A finished Build's status is written only when it moved on (its step states, or
        // being settled).
        if !(self.old.is_done() && update.status == self.old) {
            self.write_status(update.status).await?;
        }
        Ok(match update.recheck_at {
            Some(at) => self.requeue_at(at),
            None => Action::await_change(),
        })
    }
}

#[cfg(test)]
mod tests {
    use build_types::Build;
    use k8s_openapi::api::core::v1::Pod;
    use serde_json::json;

    use super::*;
    use crate::stores::{CachedPod, PodCache, ready_store};

    /// Build `ns/b` with one step; `done`: with the status its ended pod gives.
    fn build(done: bool) -> Build {
        let mut build: Build = serde_json::from_value(json!({
            "apiVersion": "build.knative.dev/v1alpha1", "kind": "Build",
            "metadata": {"name": "b", "namespace": "ns", "uid": "u", "resourceVersion": "1"},
            "spec": {"steps": [{"name": "build", "image": "busybox"}]},
        }))
        .unwrap();
        if done {
            build.status = Some(build_pod::status_from_pod(&pod(&build, 0), &build));
            assert!(build.status.as_ref().unwrap().is_done());
        }
        build
    }

    /// `build`'s pod, ended; its step exited with `exit_code`.
    fn pod(build: &Build, exit_code: i32) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": build_pod::pod_name(build), "namespace": "ns",
                         "resourceVersion": "5",
                         "ownerReferences": [{"apiVersion": "build.knative.dev/v1alpha1",
                             "kind": "Build", "name": "b", "uid": "u", "controller": true}]},
            "spec": {"initContainers": [
                         {"name": "build-step-credential-initializer", "image": "creds-init"},
                         {"name": "build-step-build", "image": "busybox"}],
                     "containers": [{"name": "nop", "image": "nop"}]},
            "status": {"phase": if exit_code == 0 { "Succeeded" } else { "Failed" },
                       "initContainerStatuses": [
                         {"name": "build-step-credential-initializer", "image": "creds-init",
                          "imageID": "", "ready": false, "restartCount": 0,
                          "state": {"terminated": {"exitCode": 0, "reason": "Completed",
                              "startedAt": "2024-01-01T00:00:00Z",
                              "finishedAt": "2024-01-01T00:00:01Z"}}},
                         {"name": "build-step-build", "image": "busybox",
                           "imageID": "", "ready": false, "restartCount": 0,
                           "state": {"terminated": {"exitCode": exit_code, "reason": "Completed",
                               "startedAt": "2024-01-01T00:00:01Z",
                               "finishedAt": "2024-01-01T00:00:02Z"}}}]},
        }))
        .unwrap()
    }

    fn context(build: Build, pods: impl IntoIterator<Item = Pod>) -> Context {
        let mut ctx = crate::context::tests::context();
        ctx.stores.builds = ready_store([CachedBuild::from(build)]);
        ctx.stores.pods = PodCache::of(pods.into_iter().map(CachedPod::from));
        ctx
    }

    #[tokio::test]
    async fn a_settled_build_wakes_a_reconcile_only_while_its_pod_is_cached() {
        let mut done = build(true);
        // Finished, not marked settled yet (its pod may have ended unseen): reconciled once,
        // where the watch leaves settled Builds out; otherwise the mark may never stick.
        let unmarked = CachedBuild::from(done.clone());
        assert!(wakes(&context(done.clone(), []), &unmarked, true));
        assert!(!wakes(&context(done.clone(), []), &unmarked, false));
        done.status.as_mut().unwrap().settled = true;
        let cached = CachedBuild::from(done.clone());
        for selecting in [true, false] {
            assert!(!wakes(&context(done.clone(), []), &cached, selecting));
            assert!(wakes(
                &context(done.clone(), [pod(&done, 0)]),
                &cached,
                selecting
            ));
        }
        let running = build(false);
        assert!(wakes(
            &context(running.clone(), []),
            &CachedBuild::from(running),
            false
        ));
    }
}
