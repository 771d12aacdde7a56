//! [`remove`]: taking an entry out of a per-Build map, and giving back the memory a burst left.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;

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
    if map.capacity() > MIN_CAPACITY && map.len() * 4 < map.capacity() {
        map.shrink_to((map.len() * 2).max(MIN_CAPACITY));
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

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
