//! [`Sym`]: a string the caches share between every object that holds the same text.

use std::collections::HashSet;
use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, Mutex, PoisonError};

use serde::de::{Deserialize, Deserializer, Visitor};

/// A string held once however many cached objects carry it: the texts that repeat from pod to
/// pod (phases, condition types and reasons, container names, images, image IDs).
///
/// Each distinct text is one shared allocation; a `Sym` is a pointer to it (16 bytes, where a
/// `String` is 24 and a heap allocation of its own). Texts no object holds any more are dropped
/// from the pool as it grows, so the pool stays the size of what the caches hold.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct Sym(Arc<str>);

impl Sym {
    /// The shared copy of `text`.
    pub(crate) fn new(text: &str) -> Self {
        Sym(POOL
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .intern(text))
    }
}

impl Default for Sym {
    fn default() -> Self {
        Sym::new("")
    }
}

impl Deref for Sym {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Sym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

/// Decodes a string into the pool without an owned copy of its own first.
impl<'de> Deserialize<'de> for Sym {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Text;
        impl Visitor<'_> for Text {
            type Value = Sym;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Sym, E> {
                Ok(Sym::new(text))
            }
        }
        deserializer.deserialize_str(Text)
    }
}

/// The one pool of every cache.
static POOL: Mutex<Pool> = Mutex::new(Pool {
    texts: None,
    purge_at: MIN_PURGE_AT,
});

/// The pool is not purged below this many texts.
const MIN_PURGE_AT: usize = 1024;

/// The shared texts, purged of the ones only the pool holds whenever it has doubled since the
/// last purge: amortised O(1) per text, and never more than twice the texts in use (or
/// [`MIN_PURGE_AT`]).
struct Pool {
    texts: Option<HashSet<Arc<str>>>,
    purge_at: usize,
}

impl Pool {
    fn intern(&mut self, text: &str) -> Arc<str> {
        let texts = self.texts.get_or_insert_with(HashSet::new);
        if let Some(shared) = texts.get(text) {
            return Arc::clone(shared);
        }
        if texts.len() >= self.purge_at {
            texts.retain(|shared| Arc::strong_count(shared) > 1);
            self.purge_at = (texts.len() * 2).max(MIN_PURGE_AT);
        }
        let shared: Arc<str> = Arc::from(text);
        texts.insert(Arc::clone(&shared));
        shared
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_share_one_allocation() {
        let a = Sym::new("build-step-build");
        let b: Sym = serde_json::from_str("\"build-step-build\"").unwrap();
        assert_eq!(a, b);
        assert!(Arc::ptr_eq(&a.0, &b.0));
        assert_eq!(&*b, "build-step-build");
        assert_eq!(format!("{b:?}"), "\"build-step-build\"");
    }

    #[test]
    fn texts_no_one_holds_are_purged_as_the_pool_grows() {
        let mut pool = Pool {
            texts: None,
            purge_at: MIN_PURGE_AT,
        };
        let kept = pool.intern("kept");
        for i in 0..10 * MIN_PURGE_AT {
            pool.intern(&format!("gone-{i}"));
        }
        let texts = pool.texts.as_ref().unwrap();
        assert!(texts.len() <= MIN_PURGE_AT, "{} texts pooled", texts.len());
        assert!(texts.contains("kept"));
        assert!(Arc::ptr_eq(&kept, &pool.intern("kept")));
    }
}
