//! Giving back the memory a burst left: [`remove`] takes an entry out of a per-Build map, and
//! [`Compacting`] fills a kube-runtime store as its `Writer` does, rebuilding the store's table
//! once it is mostly empty.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;

use kube::runtime::reflector::{Lookup, Store, store::Writer};
use kube::runtime::watcher::Event;

/// Below this many slots a map is never shrunk: not worth a rehash.
const MIN_CAPACITY: usize = 256;

/// Removes `key` from `map`, then shrinks the map's table to twice what is left when it is less
/// than a quarter full.
///
/// A `HashMap` keeps the table of its largest size: after a burst of 10,000 Builds, the
/// per-Build maps of work in flight (due reconciles, first sightings, failures, own writes)
/// would keep tables for 10,000 entries while holding none. Shrinking to twice what is left
/// only when a quarter or less is used means a map is rehashed at most once per as many
/// removals as it then holds (amortised constant time), and never shrinks while it grows.
pub(crate) fn remove<K, V, Q>(map: &mut HashMap<K, V>, key: &Q) -> Option<V>
where
    K: Eq + Hash + Borrow<Q>,
    Q: Eq + Hash + ?Sized,
{
    let removed = map.remove(key);
    if mostly_empty(map.len(), map.capacity()) {
        map.shrink_to((map.len() * 2).max(MIN_CAPACITY));
    }
    removed
}

/// Whether a table with room for `room` entries, holding `left`, is worth shrinking: a quarter
/// full or less, and larger than [`MIN_CAPACITY`].
fn mostly_empty(left: usize, room: usize) -> bool {
    room > MIN_CAPACITY && left * 4 < room
}

/// Fills a kube-runtime [`Store`] from a watch's events, as its [`Writer`] does, and rebuilds the
/// store's table once a quarter or less of the largest number of objects it has held since its
/// last rebuild is left.
///
/// The store's table, like a `HashMap`'s, keeps the size of the most it has held, and nothing in
/// kube-runtime shrinks it: after 10,000 Builds arrived one by one, thousands of them in flight at
/// once, the Build cache's table alone kept 1.7 MB for none. The rebuild is a relist from the
/// store's own objects (`Init`, an `InitApply` for each, `InitDone`), the way the `Writer` builds a
/// table of the right size for an initial list; readers see the old table until the new one
/// replaces it whole. Each rebuild copies what is left, at most a quarter of as many objects as
/// were removed since the previous one, so it costs amortised constant time a removal.
pub(crate) struct Compacting<K: Lookup + Clone + 'static>
where
    K::DynamicType: Eq + Hash + Clone,
{
    writer: Writer<K>,
    reader: Store<K>,
    /// The most objects the store has held since its table was last built.
    peak: usize,
    /// How many times the table was rebuilt (read by the tests).
    rebuilds: usize,
}

impl<K: Lookup + Clone + 'static> Compacting<K>
where
    K::DynamicType: Eq + Hash + Clone,
{
    /// Fills the store `writer` writes.
    pub(crate) fn new(writer: Writer<K>) -> Self {
        let reader = writer.as_reader();
        Self {
            writer,
            reader,
            peak: 0,
            rebuilds: 0,
        }
    }

    /// Applies one watch event, and rebuilds the table if the event leaves it mostly empty.
    pub(crate) fn apply_watcher_event(&mut self, event: &Event<K>) {
        self.writer.apply_watcher_event(event);
        match event {
            Event::Apply(_) => self.peak = self.peak.max(self.reader.len()),
            // A list builds a new table of its own size.
            Event::InitDone => self.peak = self.reader.len(),
            Event::Delete(_) => {
                let left = self.reader.len();
                if mostly_empty(left, self.peak) {
                    self.rebuild();
                    self.peak = left;
                }
            }
            Event::Init | Event::InitApply(_) => {}
        }
    }

    fn rebuild(&mut self) {
        let objects = self.reader.state();
        self.writer.apply_watcher_event(&Event::Init);
        for object in objects {
            self.writer
                .apply_watcher_event(&Event::InitApply(K::clone(&object)));
        }
        self.writer.apply_watcher_event(&Event::InitDone);
        self.rebuilds += 1;
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::ResourceExt;
    use kube::api::ObjectMeta;
    use kube::runtime::reflector::{self, ObjectRef};

    use super::*;

    fn object(name: usize) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(format!("o{name}")),
                namespace: Some("ns".into()),
                ..ObjectMeta::default()
            },
            ..ConfigMap::default()
        }
    }

    #[test]
    fn a_store_emptied_after_a_burst_is_rebuilt_with_what_is_left() {
        let (store, writer) = reflector::store::<ConfigMap>();
        let mut writer = Compacting::new(writer);
        writer.apply_watcher_event(&Event::Init);
        writer.apply_watcher_event(&Event::InitDone);
        for name in 0..10_000 {
            writer.apply_watcher_event(&Event::Apply(object(name)));
        }
        assert_eq!(writer.rebuilds, 0, "a store filling up is left alone");
        // All but every thousandth removed.
        for name in (0..10_000).filter(|name| name % 1000 != 0) {
            writer.apply_watcher_event(&Event::Delete(object(name)));
        }
        assert!(
            (1..=3).contains(&writer.rebuilds),
            "{} rebuilds for 9,990 removals",
            writer.rebuilds
        );
        let mut left: Vec<String> = store.state().iter().map(|o| o.name_any()).collect();
        left.sort();
        let mut expected: Vec<String> = (0..10).map(|i| format!("o{}", i * 1000)).collect();
        expected.sort();
        assert_eq!(left, expected, "a rebuild keeps every object left");
        assert!(store.get(&ObjectRef::new("o5000").within("ns")).is_some());
        // The store goes on as before: new objects, removals.
        writer.apply_watcher_event(&Event::Apply(object(20_000)));
        writer.apply_watcher_event(&Event::Delete(object(0)));
        assert_eq!(store.len(), 10);
    }

    #[test]
    fn a_small_store_is_never_rebuilt() {
        let (store, writer) = reflector::store::<ConfigMap>();
        let mut writer = Compacting::new(writer);
        for name in 0..MIN_CAPACITY {
            writer.apply_watcher_event(&Event::Apply(object(name)));
        }
        for name in 0..MIN_CAPACITY {
            writer.apply_watcher_event(&Event::Delete(object(name)));
        }
        assert_eq!(writer.rebuilds, 0);
        assert!(store.is_empty());
    }

    #[test]
    fn an_emptied_map_gives_its_table_back() {
        let mut map: HashMap<u32, u32> = (0..10_000).map(|i| (i, i)).collect();
        let full = map.capacity();
        for i in 0..10_000 {
            assert_eq!(remove(&mut map, &i), Some(i));
        }
        assert!(map.is_empty());
        assert!(
            map.capacity() <= 2 * MIN_CAPACITY,
            "{} slots left of {full}",
            map.capacity()
        );
        assert_eq!(remove(&mut map, &1), None);
    }

    #[test]
    fn a_map_in_use_keeps_its_table() {
        let mut map: HashMap<u32, u32> = (0..10_000).map(|i| (i, i)).collect();
        let full = map.capacity();
        // Half the entries gone: still more than a quarter full, so the table is the same size
        // (its capacity counts the slots of removed entries out until the next rehash).
        for i in 0..5_000 {
            remove(&mut map, &i);
        }
        assert!(
            map.capacity() > full * 3 / 4,
            "{} of {full}",
            map.capacity()
        );
    }
}
