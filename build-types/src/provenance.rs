//! What a Build was built from and what it produced: the status extension that records, for
//! each source, what was asked for and the commit checked out; for each step, the image as
//! written and the digest that ran; and the results the steps reported.
//!
//! These fields are not Knative Build's. They are optional and left out when empty, so a
//! Knative client, which ignores fields it does not know, reads a Build's status as before.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The type of the condition that says results a step wrote were dropped: `False`, severity
/// `Warning`, reason [`RESULTS_DROPPED`], the message naming each step, line and rule. Absent
/// when every result was kept. It never changes the `Succeeded` condition.
pub const RESULTS_REPORTED: &str = "ResultsReported";

/// The reason of a [`RESULTS_REPORTED`] condition that is `False`.
pub const RESULTS_DROPPED: &str = "ResultsDropped";

/// How a source was fetched: the kind of its `spec` entry.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// `git`: fetched by `git-init`, which reports the commit it checked out.
    Git,
    /// `gcs`: fetched by the GCS fetcher, which reports nothing.
    Gcs,
    /// `custom`: the user's own container, which may report `url`, `revision` and `commit`.
    Custom,
}

/// One source of a Build as it was fetched, in the order of `spec.source` then `spec.sources`.
///
/// An extension of Knative Build's status (Knative clients ignore it).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceStatus {
    /// The source's name, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The init container that fetched it, such as `build-step-git-source-0`.
    pub step: String,
    /// How it was fetched.
    pub kind: SourceKind,
    /// Where from: the git URL (credentials replaced by `***`), the GCS location, or the `url`
    /// a custom source reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// What was asked for: the git revision (branch, tag, ref or SHA) as `git-init` reports it,
    /// else as the spec gives it; the `revision` a custom source reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// The full SHA of the commit checked out, as `git-init` (or a custom source) reported it
    /// once it exited 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The image of the container that fetched it: `image` and `imageID`.
    #[serde(flatten)]
    pub image: ContainerImage,
}

/// The image of one step: as written, and what ran.
///
/// An extension of Knative Build's status (Knative clients ignore it).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StepImage {
    /// The step's container, such as `build-step-build`.
    pub step: String,
    /// The step's image: `image` and `imageID`.
    #[serde(flatten)]
    pub image: ContainerImage,
}

/// A container's image as written in the pod (after template substitution) and as the kubelet
/// ran it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainerImage {
    /// The image as written in the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The image the kubelet ran, as it reports it (`imageID`, such as
    /// `docker.io/library/busybox@sha256:…`, or `sha256:…` for an image known only locally),
    /// once the container has started.
    #[serde(default, rename = "imageID", skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
}

/// A result a step reported: a `KEY=VALUE` line of its termination message, read once the
/// step exited 0. `IMAGE_URL` and `IMAGE_DIGEST` (or `<NAME>_IMAGE_URL` and
/// `<NAME>_IMAGE_DIGEST`) name an image the Build produced.
///
/// An extension of Knative Build's status (Knative clients ignore it).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StepResult {
    /// The key, such as `IMAGE_DIGEST`.
    pub name: String,
    /// The value, such as `sha256:…`.
    pub value: String,
    /// The container that reported it, such as `build-step-build`.
    pub step: String,
}
