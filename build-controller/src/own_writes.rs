//! The record of the controller's own writes (pod creates, status patches), so that the watch
//! event that only echoes one wakes no reconcile.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use build_types::Build;
use kube::Resource;
use kube::runtime::reflector::Store;

use crate::per_build::{PerBuild, due_key};
use crate::stores::{CachedBuild, CachedPod};

/// The versions this controller's own writes made, until their watch events arrive.
pub(crate) struct OwnWrites {
    /// Per Build, its last status patch, until the cache shows a newer version: see
    /// [`OwnWrites::cache_lags_own_write`] and [`OwnWrites::is_own_status_echo`].
    written: PerBuild<Written>,
    /// The pods this controller creates: see [`OwnWrites::is_own_pod_echo`].
    created: Mutex<Created>,
}

/// The notes of the controller's pod creates.
#[derive(Default)]
struct Created {
    /// Per pod UID, the `resourceVersion` this controller created the pod at, and when, until
    /// the pod's first `Apply` watch event (a pod whose first event is a deletion or a relist's
    /// keeps its note until pruned).
    answered: HashMap<String, (String, Instant)>,
    /// Per `namespace/name`, a create sent and not answered yet, since when, and the version
    /// of the watch event already taken for its echo: the watch can bring the new pod before
    /// the create's answer arrives.
    in_flight: HashMap<String, (Option<String>, Instant)>,
}

impl Created {
    /// Drops the notes older than [`CREATED_KEPT`] once there are many.
    fn prune(&mut self) {
        if self.answered.len() + self.in_flight.len() < CREATED_PRUNE_AT {
            return;
        }
        // Pods whose watch event never came (deleted and relisted away), creates whose
        // reconcile was cancelled: drop the old notes.
        let now = Instant::now();
        self.answered
            .retain(|_, (_, at)| now.duration_since(*at) < CREATED_KEPT);
        self.in_flight
            .retain(|_, (_, at)| now.duration_since(*at) < CREATED_KEPT);
        let (answered, in_flight) = (self.answered.len(), self.in_flight.len());
        self.answered.shrink_to(answered * 2);
        self.in_flight.shrink_to(in_flight * 2);
    }
}

/// The key of a create in flight.
fn pod_key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

/// A status patch of one Build that the cache has not moved past yet.
#[derive(Debug)]
struct Written {
    /// The cached `resourceVersion` the patch was made against.
    against: String,
    /// The `resourceVersion` the patch made, as the API server answered.
    made: Option<String>,
    /// Whether a reconcile found the cache still at `against` and left the work to the
    /// Build's next watch event.
    waited: bool,
}

/// Above this many pods created and not yet seen, the oldest notes are dropped.
const CREATED_PRUNE_AT: usize = 1024;
/// How long a note of a created pod waits for the pod's watch event.
const CREATED_KEPT: Duration = Duration::from_secs(60);

impl OwnWrites {
    /// Nothing written yet, for the Builds of `builds`.
    pub(crate) fn new(builds: Store<CachedBuild>) -> Self {
        OwnWrites {
            written: PerBuild::new(builds),
            created: Mutex::default(),
        }
    }

    /// Notes that a status patch against `build` (as cached) succeeded, and made version
    /// `made` when the API server said which.
    pub(crate) fn wrote_status(&self, build: &Build, made: Option<String>) {
        let Some(against) = build.metadata.resource_version.clone() else {
            return;
        };
        let written = Written {
            against,
            made,
            waited: false,
        };
        self.written
            .lock_to_insert()
            .insert(due_key(build), written);
    }

    /// Forgets the note of `build`'s last status patch: the Build has left the watch (deleted,
    /// or settled, which the watch reports as a deletion), so no echo of it will come.
    pub(crate) fn build_gone(&self, build: &CachedBuild) {
        crate::sparse::remove(&mut self.written.lock(), &due_key(build));
    }

    /// Whether `build`, as cached, is still the version this controller last patched the
    /// status of: the patch succeeded, but its watch event has not reached the cache yet.
    ///
    /// A reconcile of such a Build (woken by its pod's watch event, which often comes first)
    /// would compute a status from a stale one and be refused with a 409 Conflict, as the
    /// patch carries the cached `resourceVersion`; the reconcile after the Build's own watch
    /// event does the work instead (and that event is therefore not taken for a mere echo, see
    /// [`OwnWrites::is_own_status_echo`]). Once the cache shows another version, the note is
    /// dropped.
    pub(crate) fn cache_lags_own_write(&self, build: &Build) -> bool {
        let mut map = self.written.lock();
        let key = due_key(build);
        match map.get_mut(&key) {
            None => false,
            Some(written) if Some(&written.against) == build.metadata.resource_version.as_ref() => {
                written.waited = true;
                true
            }
            Some(_) => {
                crate::sparse::remove(&mut map, &key);
                false
            }
        }
    }

    /// Whether `build`, just arrived in the cache from the watch, is only the echo of this
    /// controller's last status patch: the version that patch made, with no reconcile waiting
    /// for it. Such an event wakes no reconcile. The patch carried the version it was made
    /// against, so the Build it made is the one its reconcile decided on, plus the status
    /// written; reconciling it again would find nothing to do. Any other version drops the
    /// note.
    pub(crate) fn is_own_status_echo(&self, build: &CachedBuild) -> bool {
        let mut map = self.written.lock();
        let key = due_key(build);
        let Some(written) = map.get(&key) else {
            return false;
        };
        let version = build.meta().resource_version.as_ref();
        if version == Some(&written.against) {
            // A relist's copy of the version patched: the echo is still to come.
            return false;
        }
        let echo = !written.waited && written.made.is_some() && written.made.as_ref() == version;
        crate::sparse::remove(&mut map, &key);
        echo
    }

    /// Notes that this controller is about to create the pod `name` in `namespace`.
    pub(crate) fn creating_pod(&self, namespace: &str, name: &str) {
        let mut created = self.created.lock().unwrap_or_else(|e| e.into_inner());
        created.prune();
        created
            .in_flight
            .insert(pod_key(namespace, name), (None, Instant::now()));
    }

    /// Notes that the create of the pod `name` in `namespace` failed.
    pub(crate) fn create_failed(&self, namespace: &str, name: &str) {
        let mut created = self.created.lock().unwrap_or_else(|e| e.into_inner());
        crate::sparse::remove(&mut created.in_flight, &pod_key(namespace, name));
    }

    /// Notes that this controller created `pod` (the API server's answer), unless its watch
    /// event has already come and been taken for the echo.
    pub(crate) fn created_pod(&self, pod: &CachedPod) {
        let (Some(uid), Some(version)) = (&pod.meta().uid, &pod.meta().resource_version) else {
            return;
        };
        let key = pod_key(
            pod.meta().namespace.as_deref().unwrap_or_default(),
            pod.meta().name.as_deref().unwrap_or_default(),
        );
        let mut created = self.created.lock().unwrap_or_else(|e| e.into_inner());
        let echoed = crate::sparse::remove(&mut created.in_flight, &key)
            .is_some_and(|(echo, _)| echo.as_ref() == Some(version));
        if !echoed {
            created.prune();
            created
                .answered
                .insert(uid.clone(), (version.clone(), Instant::now()));
        }
    }

    /// Whether `pod`, a watch event, is only the echo of this controller's create: the version
    /// the create made (or, while the create is still unanswered, the first version the watch
    /// brings of the pod it creates). The reconcile that created the pod goes on with that same
    /// version, so the event wakes no reconcile. Asked about any version, it drops the note.
    pub(crate) fn is_own_pod_echo(&self, pod: &CachedPod) -> bool {
        let Some(uid) = &pod.meta().uid else {
            return false;
        };
        let mut created = self.created.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((version, _)) = crate::sparse::remove(&mut created.answered, uid.as_str()) {
            return pod.meta().resource_version.as_ref() == Some(&version);
        }
        let key = pod_key(
            pod.meta().namespace.as_deref().unwrap_or_default(),
            pod.meta().name.as_deref().unwrap_or_default(),
        );
        match created.in_flight.get_mut(&key) {
            Some((echo @ None, _)) => {
                echo.clone_from(&pod.meta().resource_version);
                echo.is_some()
            }
            _ => false,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use k8s_openapi::api::core::v1::Pod;
    use serde_json::json;

    use super::*;
    use crate::stores::ready_store;

    /// A record over an empty Build cache.
    fn own_writes() -> OwnWrites {
        OwnWrites::new(ready_store([]))
    }

    /// Build `ns/b` at `version`.
    pub(crate) fn build(version: &str) -> Build {
        serde_json::from_value(json!({
            "apiVersion": "build.knative.dev/v1alpha1", "kind": "Build",
            "metadata": {"name": "b", "namespace": "ns", "uid": "u", "resourceVersion": version},
            "spec": {},
        }))
        .unwrap()
    }

    fn cached(version: &str) -> CachedBuild {
        CachedBuild::from(build(version))
    }

    /// Pod `ns/p` at `version`.
    pub(crate) fn pod(version: &str) -> CachedPod {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "pod-u", "resourceVersion": version}
        }))
        .unwrap();
        CachedPod::from(pod)
    }

    #[test]
    fn a_build_that_leaves_the_watch_takes_its_note_with_it() {
        let writes = own_writes();
        writes.wrote_status(&build("1"), Some("2".into()));
        assert!(writes.cache_lags_own_write(&build("1")));
        writes.build_gone(&cached("1"));
        assert!(writes.written.lock().is_empty());
        assert!(!writes.cache_lags_own_write(&build("1")));
    }

    #[test]
    fn the_echo_of_a_status_patch_is_told_once_unless_a_reconcile_waited_for_it() {
        let writes = own_writes();
        writes.wrote_status(&build("1"), Some("2".into()));
        assert!(
            !writes.is_own_status_echo(&cached("1")),
            "a relist's copy of 1"
        );
        assert!(writes.is_own_status_echo(&cached("2")));
        assert!(!writes.is_own_status_echo(&cached("2")), "told once");

        // A reconcile found the cache at the patched version: the echo must wake it again.
        writes.wrote_status(&build("2"), Some("3".into()));
        assert!(writes.cache_lags_own_write(&build("2")));
        assert!(!writes.is_own_status_echo(&cached("3")));
        assert!(!writes.cache_lags_own_write(&build("3")), "note dropped");

        // Another version than the patch made: someone else wrote; the note goes.
        writes.wrote_status(&build("3"), Some("4".into()));
        assert!(!writes.is_own_status_echo(&cached("5")));
        assert!(
            !writes.is_own_status_echo(&cached("4")),
            "note dropped with 5"
        );

        // An answer without a version: never taken for an echo.
        writes.wrote_status(&build("5"), None);
        assert!(!writes.is_own_status_echo(&cached("6")));
    }

    #[test]
    fn the_echo_of_a_pod_create_is_told_once() {
        let writes = own_writes();
        assert!(!writes.is_own_pod_echo(&pod("7")), "not created here");
        writes.created_pod(&pod("7"));
        assert!(writes.is_own_pod_echo(&pod("7")));
        assert!(!writes.is_own_pod_echo(&pod("7")), "told once");

        // The pod changed before its first event: that event is news.
        writes.created_pod(&pod("7"));
        assert!(!writes.is_own_pod_echo(&pod("8")));
        assert!(!writes.is_own_pod_echo(&pod("7")), "note dropped with 8");
    }

    #[test]
    fn the_echo_of_a_pod_create_can_come_before_its_answer() {
        let writes = own_writes();
        writes.creating_pod("ns", "p");
        assert!(
            writes.is_own_pod_echo(&pod("7")),
            "the first event while in flight"
        );
        assert!(!writes.is_own_pod_echo(&pod("8")), "a second one is news");
        writes.created_pod(&pod("7"));
        assert!(
            !writes.is_own_pod_echo(&pod("7")),
            "the answer adds no note for an echo already taken"
        );

        // The answer first, as usual: its note tells the echo.
        writes.creating_pod("ns", "p");
        writes.created_pod(&pod("9"));
        assert!(writes.is_own_pod_echo(&pod("9")));

        // A failed create leaves nothing: a pod of that name is someone else's.
        writes.creating_pod("ns", "p");
        writes.create_failed("ns", "p");
        assert!(!writes.is_own_pod_echo(&pod("10")));
    }
}
