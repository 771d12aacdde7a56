//! [`PodCache`]: the cache of the build pods still running.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use kube::ResourceExt;
use kube::runtime::watcher::Event;

use super::pod::CachedPod;

/// The controller's cache of build pods, by namespace and name: what the pod watch has
/// delivered. The watch leaves ended pods out (`status.phase` neither `Succeeded` nor `Failed`),
/// so the cache holds the pods of running Builds only: a pod that ends leaves it as if deleted,
/// and a controller holding thousands of finished Builds holds none of their pods. One map
/// keyed by `namespace/name`, smaller than kube-runtime's `Store`. Cloning gives another handle
/// on the same cache.
#[derive(Clone, Default)]
pub struct PodCache {
    pods: Arc<RwLock<Pods>>,
}

/// The cached pods, each under its key ([`key`]).
type Pods = HashMap<Box<str>, Arc<CachedPod>>;

/// The key of the pod `name` in `namespace`: `namespace/name` (names have no `/`).
fn key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

/// The key of `pod`.
fn key_of(pod: &CachedPod) -> Box<str> {
    key(
        pod.namespace().as_deref().unwrap_or_default(),
        &pod.name_any(),
    )
    .into_boxed_str()
}

impl PodCache {
    /// The pod `name` in `namespace`, if cached.
    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<CachedPod>> {
        self.read().get(key(namespace, name).as_str()).cloned()
    }

    /// How many pods are cached.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether no pod is cached.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// A writer that fills this cache from watch events.
    pub fn writer(&self) -> PodCacheWriter {
        PodCacheWriter {
            cache: self.clone(),
            listing: None,
        }
    }

    /// A cache holding `pods`, as after an initial list of them: for tests, and for programs
    /// that fill [`Stores`](super::Stores) themselves.
    pub fn of(pods: impl IntoIterator<Item = CachedPod>) -> Self {
        let cache = PodCache::default();
        let mut writer = cache.writer();
        writer.apply_watcher_event(&Event::Init);
        for pod in pods {
            writer.apply_watcher_event(&Event::InitApply(pod));
        }
        writer.apply_watcher_event(&Event::InitDone);
        cache
    }

    fn read(&self) -> RwLockReadGuard<'_, Pods> {
        // A panic while holding the lock cannot leave the map half-changed: each change is one
        // insert, remove or swap.
        self.pods.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Pods> {
        self.pods.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Shows only how many pods are cached.
impl std::fmt::Debug for PodCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodCache")
            .field("pods", &self.len())
            .finish()
    }
}

/// Fills a [`PodCache`] from the pod watch's events, as kube-runtime's store `Writer` fills a
/// `Store`: an initial list (`Init`, `InitApply`…, `InitDone`) replaces the whole cache when it
/// is complete, so the pods being listed are read as before until then.
pub struct PodCacheWriter {
    cache: PodCache,
    listing: Option<Pods>,
}

impl PodCacheWriter {
    /// Applies one watch event.
    pub fn apply_watcher_event(&mut self, event: &Event<CachedPod>) {
        match event {
            Event::Init => self.listing = Some(Pods::new()),
            Event::InitApply(pod) => {
                self.listing
                    .get_or_insert_default()
                    .insert(key_of(pod), Arc::new(pod.clone()));
            }
            Event::InitDone => {
                let mut listed = self.listing.take().unwrap_or_default();
                listed.shrink_to_fit();
                *self.cache.write() = listed;
            }
            Event::Apply(pod) => {
                self.cache
                    .write()
                    .insert(key_of(pod), Arc::new(pod.clone()));
            }
            Event::Delete(pod) => {
                crate::sparse::remove(&mut self.cache.write(), &*key_of(pod));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::Pod;
    use serde_json::json;

    use super::*;

    fn pod(name: &str, version: &str) -> CachedPod {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "ns", "resourceVersion": version}
        }))
        .unwrap();
        CachedPod::from(pod)
    }

    #[test]
    fn a_relist_replaces_the_cache_when_complete() {
        let cache = PodCache::of([pod("gone", "1")]);
        let mut writer = cache.writer();
        writer.apply_watcher_event(&Event::Init);
        writer.apply_watcher_event(&Event::InitApply(pod("a", "1")));
        // Until the list is complete, the cache reads as before.
        assert!(cache.get("ns", "a").is_none());
        assert!(cache.get("ns", "gone").is_some());
        writer.apply_watcher_event(&Event::InitDone);
        assert!(cache.get("ns", "a").is_some(), "a listed pod is cached");
        assert!(
            cache.get("ns", "gone").is_none(),
            "a pod not listed is dropped"
        );

        writer.apply_watcher_event(&Event::Delete(pod("a", "2")));
        assert!(cache.is_empty());
    }
}
