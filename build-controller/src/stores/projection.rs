//! What the caches keep of an object: all but its `managedFields`, `kubectl apply`'s copy and,
//! for a Secret, its values ([`strip_for_cache`], [`strip_secret_for_cache`]); and, for the
//! compact projections the caches hold ([`CachedBuild`](super::CachedBuild),
//! [`CachedPod`](super::CachedPod)), the `kube::Resource` identity of the type each projects
//! ([`identity_of!`]).

use k8s_openapi::api::core::v1::Secret;
use kube::Resource;

/// The annotation `kubectl apply` leaves on objects: a full copy of the applied object (for a
/// Secret, its data in clear), so it is never kept in a cache.
pub(super) const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The `kind`, `group`, `version` and `plural` of a `kube::Resource` impl: those of `$of`, whose
/// projection the implementing type is.
macro_rules! identity_of {
    ($of:ty) => {
        fn kind(_: &()) -> std::borrow::Cow<'_, str> {
            <$of as kube::Resource>::kind(&())
        }

        fn group(_: &()) -> std::borrow::Cow<'_, str> {
            <$of as kube::Resource>::group(&())
        }

        fn version(_: &()) -> std::borrow::Cow<'_, str> {
            <$of as kube::Resource>::version(&())
        }

        fn plural(_: &()) -> std::borrow::Cow<'_, str> {
            <$of as kube::Resource>::plural(&())
        }
    };
}
pub(super) use identity_of;

/// Drops what a cache never needs: `managedFields` and `kubectl apply`'s copy of the object.
pub fn strip_for_cache<K: Resource>(object: &mut K) {
    let meta = object.meta_mut();
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
    }
}

/// [`strip_for_cache`], and for a Secret also its values: the controller plans credentials
/// from key names alone (which keys a Secret has), and the values are read only by
/// `creds-init` inside the pod, from the mounted volume. So no Secret value is held in the
/// controller's memory, where a heap dump or a stray `Debug` could show it.
pub(crate) fn strip_secret_for_cache(secret: &mut Secret) {
    strip_for_cache(secret);
    for value in secret.data.iter_mut().flat_map(|data| data.values_mut()) {
        value.0.clear();
    }
    for value in secret
        .string_data
        .iter_mut()
        .flat_map(|data| data.values_mut())
    {
        value.clear();
    }
}
