//! The per-Build retry backoff: how many reconciles of a Build failed in a row.

use kube::runtime::reflector::{ObjectRef, Store};

use crate::per_build::PerBuild;
use crate::stores::CachedBuild;

/// Failures in a row per Build, for the exponential backoff of
/// [`error_policy`](crate::reconcile::error_policy); reset by a successful reconcile.
pub(crate) struct Backoff {
    failures: PerBuild<u32>,
}

impl Backoff {
    /// No failures yet, for the Builds of `builds`.
    pub(crate) fn new(builds: Store<CachedBuild>) -> Self {
        Backoff {
            failures: PerBuild::new(builds),
        }
    }

    /// Records one more failure for `build`; returns how many in a row.
    pub(crate) fn record_failure(&self, build: ObjectRef<CachedBuild>) -> u32 {
        let mut map = self.failures.lock_to_insert();
        let attempts = map.entry(build).or_insert(0);
        *attempts = attempts.saturating_add(1);
        *attempts
    }

    /// Forgets the failures of `build` after a successful reconcile.
    pub(crate) fn reset(&self, build: &ObjectRef<CachedBuild>) {
        crate::sparse::remove(&mut self.failures.lock(), build);
    }

    /// Failures in a row recorded for `build`.
    pub(crate) fn failures_in_a_row(&self, build: &ObjectRef<CachedBuild>) -> u32 {
        self.failures.lock().get(build).copied().unwrap_or(0)
    }
}
