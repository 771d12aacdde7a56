//! What the controller keeps per Build between reconciles: the key a Build is known by
//! ([`due_key`]), and a map under that key that forgets deleted Builds ([`PerBuild`]).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Resource, ResourceExt};

use crate::stores::CachedBuild;

/// How the controller knows a Build across reconciles — in [`Telemetry`]'s work queue, in
/// its retry backoff and its record of its own writes: by name and namespace, as
/// kube-runtime's scheduler does.
///
/// [`Telemetry`]: crate::ops::metrics::Telemetry
pub(crate) fn due_key(build: &impl Resource) -> ObjectRef<CachedBuild> {
    ObjectRef::new(&build.name_any()).within(&build.namespace().unwrap_or_default())
}

/// A map from Builds ([`due_key`]) to `V`, shared by concurrent reconciles, which drops the
/// entries of Builds no longer cached when it may hold many of them.
pub(crate) struct PerBuild<V> {
    map: Mutex<HashMap<ObjectRef<CachedBuild>, V>>,
    /// The Build cache, which says which Builds still exist.
    builds: Store<CachedBuild>,
}

impl<V> PerBuild<V> {
    /// An empty map whose entries live as long as their Builds are in `builds`.
    pub(crate) fn new(builds: Store<CachedBuild>) -> Self {
        PerBuild {
            map: Mutex::default(),
            builds,
        }
    }

    /// The map, locked (a reconcile that panicked holding it leaves it usable).
    pub(crate) fn lock(&self) -> MutexGuard<'_, HashMap<ObjectRef<CachedBuild>, V>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The map, locked to add an entry: first, when it may hold many entries of deleted Builds
    /// (more than 4096, and more than twice the Builds cached), those are dropped. A map of
    /// live Builds is never scanned, however many there are; after a scan it holds at most one
    /// entry per cached Build, so the next scan comes only after as many inserts again
    /// (amortised constant time).
    pub(crate) fn lock_to_insert(&self) -> MutexGuard<'_, HashMap<ObjectRef<CachedBuild>, V>> {
        let mut map = self.lock();
        if map.len() > 4096 && map.len() > 2 * self.builds.len() {
            map.retain(|key, _| self.builds.get(key).is_some());
        }
        map
    }
}
