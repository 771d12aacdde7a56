//! [`CachedBuild`]: a Build as the controller's cache holds it.

use std::borrow::Cow;
use std::collections::BTreeMap;

use build_types::{Build, BuildSpec, BuildStatus, SourceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use serde::{Deserialize, Deserializer};

use super::projection::strip_for_cache;

/// A Build as the controller's cache holds it, and as kube-runtime's `Controller` hands it to
/// [`reconcile`](crate::reconcile::reconcile): a Build not yet finished whole; a finished one
/// (`Succeeded` `True` or `False`) as its metadata, its sources and its status.
/// [`build`](CachedBuild::build) gives it back as a `Build`.
///
/// A finished Build's verdict is final, and the mappers that wake Builds look at unfinished
/// ones only; what is still read of it is its identity, its status and how many sources it
/// has (which of its pod's init containers are steps, for the step states that settle after the
/// verdict). Its steps, template, volumes, timeout and the rest of its spec are not kept.
///
/// Whatever the Build, its `managedFields` and `kubectl apply`'s copy of it (the
/// `kubectl.kubernetes.io/last-applied-configuration` annotation) are not kept either. Decoding
/// (the watch's) skips `managedFields` without allocating them.
///
/// Most Builds a controller holds are finished, so this is the size that counts: a `Build` is
/// 1,184 bytes before any of its contents (its spec alone 536, empty or not), a finished
/// `CachedBuild` was 672 with its status decoded; the status is now kept as its JSON,
/// compressed, and decoded when read (a reconcile reads it only when its pod comes back): see
/// the test `a_finished_status_is_kept_compressed`.
#[derive(Clone, Debug, PartialEq)]
pub struct CachedBuild(Kept);

#[derive(Clone, Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "most Builds held are finished: theirs is the variant kept inline, without a \
              second allocation; the few unfinished ones pay for the box"
)]
enum Kept {
    /// Not finished (or finished with a status that does not pack, see [`Packed::of`]): whole.
    Whole(Box<Build>),
    /// Finished.
    Finished(Finished),
}

/// `Build` has no `PartialEq` (the `CustomResource` derive gives it none): field by field.
impl PartialEq for Kept {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Kept::Whole(a), Kept::Whole(b)) => {
                (&a.metadata, &a.spec, &a.status) == (&b.metadata, &b.spec, &b.status)
            }
            (Kept::Finished(a), Kept::Finished(b)) => a == b,
            _ => false,
        }
    }
}

/// What is kept of a finished Build.
#[derive(Clone, Debug, PartialEq)]
struct Finished {
    metadata: ObjectMeta,
    source: Option<Box<SourceSpec>>,
    sources: Box<[SourceSpec]>,
    /// The status as JSON ([`Packed`]).
    status: Packed,
}

/// A finished Build's status as JSON, decoded only when read: a reconcile reads it only when
/// the Build's pod comes back (rule 1), and a restart over thousands of finished Builds
/// reconciles none. The JSON is LZ4-compressed against [`DICTIONARY`], the first status the
/// process packed: finished statuses differ in their names and times and little else (the same
/// keys, reasons, namespace, images and digests), so a bench Build's 644 bytes of JSON keep in
/// about 80 (`cargo bench -p build-controller --bench cache`; the test
/// `a_finished_status_is_kept_compressed`). One allocation, against the
/// dozen of a decoded status (conditions, step states, the status extension).
#[derive(Clone, PartialEq)]
struct Packed(Box<[u8]>);

/// What every [`Packed`] status is compressed against: the JSON of the first status packed,
/// for the life of the process (so that equal statuses pack to equal bytes).
static DICTIONARY: std::sync::OnceLock<Box<[u8]>> = std::sync::OnceLock::new();

impl Packed {
    /// `status` packed, if it comes back from its JSON exactly (the API server's times are
    /// whole seconds; a status made in memory with finer ones stays unpacked).
    fn of(status: &BuildStatus) -> Option<Packed> {
        let json = serde_json::to_vec(status).ok()?;
        let back: BuildStatus = serde_json::from_slice(&json).ok()?;
        if back != *status {
            return None;
        }
        let dictionary = DICTIONARY.get_or_init(|| json.clone().into_boxed_slice());
        let packed = lz4_flex::block::compress_prepend_size_with_dict(&json, dictionary);
        Some(Packed(packed.into_boxed_slice()))
    }

    /// The status, decoded; [`Packed::of`] checked that it decodes to what was packed.
    fn unpack(&self) -> BuildStatus {
        let dictionary = DICTIONARY
            .get()
            .map_or(&[][..], |dictionary| &dictionary[..]);
        lz4_flex::block::decompress_size_prepended_with_dict(&self.0, dictionary)
            .ok()
            .and_then(|json| serde_json::from_slice(&json).ok())
            .unwrap_or_default()
    }
}

/// Shows the size, not the JSON.
impl std::fmt::Debug for Packed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Packed({} bytes)", self.0.len())
    }
}

impl CachedBuild {
    /// The Build with what the cache keeps of it: all of it while it is not finished; once it
    /// is, its metadata, `spec.source`, `spec.sources` and status, the rest of the spec empty.
    pub fn build(&self) -> Cow<'_, Build> {
        match &self.0 {
            Kept::Whole(build) => Cow::Borrowed(build),
            Kept::Finished(finished) => Cow::Owned(Build {
                metadata: finished.metadata.clone(),
                spec: BuildSpec {
                    source: finished.source.as_deref().cloned(),
                    sources: finished.sources.to_vec(),
                    ..BuildSpec::default()
                },
                status: Some(finished.status.unpack()),
            }),
        }
    }

    /// The whole Build, while it is not finished.
    pub fn unfinished(&self) -> Option<&Build> {
        match &self.0 {
            Kept::Whole(build) if !build.status.as_ref().is_some_and(BuildStatus::is_done) => {
                Some(build)
            }
            Kept::Whole(_) | Kept::Finished(_) => None,
        }
    }

    /// The Build's status (a finished one's decoded).
    pub fn status(&self) -> Option<Cow<'_, BuildStatus>> {
        match &self.0 {
            Kept::Whole(build) => build.status.as_ref().map(Cow::Borrowed),
            Kept::Finished(finished) => Some(Cow::Owned(finished.status.unpack())),
        }
    }

    /// Whether the Build has finished (`Succeeded` `True` or `False`).
    pub fn is_finished(&self) -> bool {
        self.unfinished().is_none()
    }

    /// Whether the Build's status is marked settled ([`BuildStatus::settled`]) (a finished
    /// one's decoded: the Build watch brings settled Builds only where the API server cannot
    /// leave them out).
    pub fn is_settled(&self) -> bool {
        self.status().is_some_and(|status| status.settled)
    }
}

/// Keeps what [`CachedBuild`] keeps of `build`: the same as decoding it straight into a
/// `CachedBuild`.
impl From<Build> for CachedBuild {
    fn from(mut build: Build) -> Self {
        strip_for_cache(&mut build);
        let packed = build
            .status
            .as_ref()
            .filter(|status| status.is_done())
            .and_then(Packed::of);
        match packed {
            Some(status) => CachedBuild(Kept::Finished(Finished {
                metadata: build.metadata,
                source: build.spec.source.map(Box::new),
                sources: build.spec.sources.into_boxed_slice(),
                status,
            })),
            None => CachedBuild(Kept::Whole(Box::new(build))),
        }
    }
}

/// A Build as the API server sends it; `metadata.managedFields` is skipped unread.
#[derive(Deserialize)]
struct Wire {
    #[serde(default)]
    metadata: Meta,
    #[serde(default)]
    spec: BuildSpec,
    #[serde(default)]
    status: Option<BuildStatus>,
}

/// `ObjectMeta` but `managedFields`.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Meta {
    annotations: Option<BTreeMap<String, String>>,
    creation_timestamp: Option<Time>,
    deletion_grace_period_seconds: Option<i64>,
    deletion_timestamp: Option<Time>,
    finalizers: Option<Vec<String>>,
    generate_name: Option<String>,
    generation: Option<i64>,
    labels: Option<BTreeMap<String, String>>,
    name: Option<String>,
    namespace: Option<String>,
    owner_references: Option<Vec<OwnerReference>>,
    resource_version: Option<String>,
    self_link: Option<String>,
    uid: Option<String>,
}

/// Decodes a Build straight into what [`CachedBuild`] keeps.
impl<'de> Deserialize<'de> for CachedBuild {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let Wire {
            metadata: meta,
            spec,
            status,
        } = Wire::deserialize(deserializer)?;
        let metadata = ObjectMeta {
            annotations: meta.annotations,
            creation_timestamp: meta.creation_timestamp,
            deletion_grace_period_seconds: meta.deletion_grace_period_seconds,
            deletion_timestamp: meta.deletion_timestamp,
            finalizers: meta.finalizers,
            generate_name: meta.generate_name,
            generation: meta.generation,
            labels: meta.labels,
            managed_fields: None,
            name: meta.name,
            namespace: meta.namespace,
            owner_references: meta.owner_references,
            resource_version: meta.resource_version,
            self_link: meta.self_link,
            uid: meta.uid,
        };
        Ok(CachedBuild::from(Build {
            metadata,
            spec,
            status,
        }))
    }
}

/// The Build kind's identity, so that a watch of Builds fills a cache of `CachedBuild`s.
impl kube::Resource for CachedBuild {
    type DynamicType = ();
    type Scope = k8s_openapi::NamespaceResourceScope;

    super::projection::identity_of!(Build);

    fn meta(&self) -> &ObjectMeta {
        match &self.0 {
            Kept::Whole(build) => &build.metadata,
            Kept::Finished(finished) => &finished.metadata,
        }
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        match &mut self.0 {
            Kept::Whole(build) => &mut build.metadata,
            Kept::Finished(finished) => &mut finished.metadata,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn finished(at: &str) -> Build {
        serde_json::from_value(json!({
            "apiVersion": "build.knative.dev/v1alpha1", "kind": "Build",
            "metadata": {"name": "b", "namespace": "ns", "uid": "u", "resourceVersion": "3"},
            "spec": {"steps": [{"name": "build", "image": "busybox"}]},
            "status": {
                "cluster": {"namespace": "ns", "podName": "b-pod-1"},
                "conditions": [{"type": "Succeeded", "status": "True", "reason": "Succeeded",
                                "lastTransitionTime": at}],
                "startTime": "2024-01-01T00:00:00Z", "completionTime": at,
                "stepStates": [{"terminated": {"exitCode": 0, "reason": "Completed",
                    "startedAt": "2024-01-01T00:00:01Z", "finishedAt": at}}],
                "stepsCompleted": ["build-step-build"],
                "stepImages": [{"step": "build-step-build", "image": "busybox"}],
                "controllerVersion": "0.1.0",
            },
        }))
        .unwrap()
    }

    #[test]
    fn a_finished_status_is_kept_compressed() {
        let build = finished("2024-01-01T00:00:02Z");
        let cached = CachedBuild::from(build.clone());
        assert!(matches!(cached.0, Kept::Finished(_)));
        // Another finished status (another time) keeps as a fraction of its JSON, and both
        // decode to what they were, whichever of them gave the dictionary.
        let other = finished("2024-01-01T00:03:04Z");
        let other_cached = CachedBuild::from(other.clone());
        let Kept::Finished(Finished { status, .. }) = &other_cached.0 else {
            panic!("finished, kept packed")
        };
        let json = serde_json::to_vec(&other.status).unwrap();
        assert!(
            status.0.len() * 3 < json.len(),
            "{} bytes packed of {} of JSON",
            status.0.len(),
            json.len()
        );
        assert_eq!(other_cached.status().as_deref(), other.status.as_ref());
        assert!(cached.is_finished() && cached.unfinished().is_none());
        assert_eq!(cached.status().as_deref(), build.status.as_ref());
        assert_eq!(cached.build().status, build.status);
        assert!(
            size_of::<CachedBuild>() <= 400,
            "{} bytes inline",
            size_of::<CachedBuild>()
        );

        // A status made in memory with a time finer than the API server's stays whole, and
        // still reads as finished.
        let mut fine = build;
        let now = k8s_openapi::jiff::Timestamp::from_millisecond(1_704_067_202_500).unwrap();
        fine.status.as_mut().unwrap().completion_time = Some(Time(now));
        let cached = CachedBuild::from(fine.clone());
        assert!(matches!(cached.0, Kept::Whole(_)));
        assert!(cached.is_finished() && cached.unfinished().is_none());
        assert_eq!(cached.status().as_deref(), fine.status.as_ref());
    }
}
