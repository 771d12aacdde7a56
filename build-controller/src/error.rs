//! The controller's errors: what a reconcile or the controller's start-up can fail with.

/// Why a reconcile (or [`run`](crate::run)) failed.
///
/// A failed reconcile is retried by [`error_policy`](crate::reconcile::error_policy) with per-Build
/// exponential backoff; a [conflict](Error::is_conflict) is retried promptly. None of these
/// messages ever contains a Secret's data.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Build from the watch cache lacks a field every stored object has.
    #[error("build has no metadata.{field}")]
    MissingMetadata {
        /// `name`, `namespace` or `uid`.
        field: &'static str,
    },

    /// The watch caches of Pods, templates, ServiceAccounts or Secrets did not finish their
    /// initial list in time (the controller's RBAC may not allow listing them).
    #[error("watch caches not synced within {waited:?}")]
    CachesNotReady {
        /// How long the reconcile waited.
        waited: std::time::Duration,
    },

    /// Creating the build pod failed.
    #[error("creating pod {namespace}/{name}: {source}")]
    CreatePod {
        /// The Build's namespace.
        namespace: String,
        /// The pod's name.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },

    /// Reading the build pod (to confirm it is missing, or whose it is) failed.
    #[error("reading pod {namespace}/{name}: {source}")]
    GetPod {
        /// The Build's namespace.
        namespace: String,
        /// The pod's name.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },

    /// Stopping the build pod (lowering `spec.activeDeadlineSeconds`) failed.
    #[error("stopping pod {namespace}/{name}: {source}")]
    StopPod {
        /// The Build's namespace.
        namespace: String,
        /// The pod's name.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },

    /// Writing the Build's status failed; a 409 Conflict means the cached Build was stale.
    #[error("patching status of build {namespace}/{name}: {source}")]
    PatchStatus {
        /// The Build's namespace.
        namespace: String,
        /// The Build's name.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },

    /// A pod with the build pod's name exists but belongs to something else.
    #[error(
        "pod {namespace}/{name} exists but is not owned by build {build:?} (uid {build_uid}); owners: {owners}"
    )]
    PodNotOwned {
        /// The Build's namespace.
        namespace: String,
        /// The pod's name.
        name: String,
        /// The Build's name.
        build: String,
        /// The Build's UID.
        build_uid: String,
        /// The pod's controller owner references, as `Kind/name (uid)`, or `none`.
        owners: String,
    },

    /// The Build's status could not be encoded as a patch.
    #[error("encoding status patch: {0}")]
    Encode(#[source] serde_json::Error),

    /// The `builds.build.knative.dev` CustomResourceDefinition is not served by the cluster.
    #[error(
        "the API server does not serve builds.build.knative.dev/v1alpha1 (are the CRDs installed?): {0}"
    )]
    CrdNotInstalled(#[source] kube::Error),

    /// The start-up check that the controller can list Builds failed.
    #[error("listing builds at start-up: {0}")]
    Preflight(#[source] kube::Error),
}

impl Error {
    /// Whether this is an HTTP 409 Conflict from an optimistic-concurrency write: the cached
    /// object was stale, and a prompt retry with a fresher one will do.
    pub fn is_conflict(&self) -> bool {
        match self {
            Error::PatchStatus { source, .. } | Error::StopPod { source, .. } => {
                is_api_reason(source, "Conflict")
            }
            _ => false,
        }
    }

    /// A short, stable label for this kind of error, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::MissingMetadata { .. } => "missing_metadata",
            Error::CachesNotReady { .. } => "caches_not_ready",
            Error::CreatePod { .. } => "create_pod",
            Error::GetPod { .. } => "get_pod",
            Error::StopPod { .. } => "stop_pod",
            Error::PatchStatus { .. } if self.is_conflict() => "conflict",
            Error::PatchStatus { .. } => "patch_status",
            Error::PodNotOwned { .. } => "pod_not_owned",
            Error::Encode(_) => "encode",
            Error::CrdNotInstalled(_) => "crd_not_installed",
            Error::Preflight(_) => "preflight",
        }
    }
}

/// Whether `error` is an API status with the given `reason` (`AlreadyExists`, `Conflict`, …).
pub(crate) fn is_api_reason(error: &kube::Error, reason: &str) -> bool {
    matches!(error, kube::Error::Api(status) if status.reason == reason)
}

/// Whether `error` is an HTTP 404 from the API server.
pub(crate) fn is_not_found(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 404)
}
