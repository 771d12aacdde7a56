//! The `build.knative.dev/v1alpha1` resources, field for field as Knative Build v0.7 wrote them.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Affinity, Container, ContainerState, EnvVar, Volume};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::Duration;
use crate::provenance::{SourceStatus, StepImage, StepResult};

/// The API group of every resource in this crate.
pub const GROUP: &str = "build.knative.dev";
/// The API version of every resource in this crate.
pub const VERSION: &str = "v1alpha1";

/// What a Build runs: its sources, its steps (or the template that supplies them), and where.
///
/// The generated [`Build`] resource wraps this spec together with a [`BuildStatus`].
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "build.knative.dev",
    version = "v1alpha1",
    kind = "Build",
    namespaced,
    status = "BuildStatus",
    category = "all",
    category = "knative",
    selectable = ".status.settled",
    printcolumn = r#"{"name":"Succeeded","type":"string","jsonPath":".status.conditions[?(@.type==\"Succeeded\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Succeeded\")].reason"}"#,
    printcolumn = r#"{"name":"StartTime","type":"date","jsonPath":".status.startTime"}"#,
    printcolumn = r#"{"name":"CompletionTime","type":"date","jsonPath":".status.completionTime"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct BuildSpec {
    /// The single source the steps work on, fetched into `/workspace` before the first step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceSpec>,

    /// Several sources, each fetched before the first step; use instead of `source`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<SourceSpec>,

    /// The containers to run in order, each to completion; use instead of `template`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<Container>,

    /// Volumes the steps may mount, in addition to the implicit `/workspace` and `/builder/home`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,

    /// The ServiceAccount the build runs as; its annotated Secrets supply credentials.
    /// Defaults to `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,

    /// The BuildTemplate or ClusterBuildTemplate that supplies the steps, with its arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<TemplateInstantiationSpec>,

    /// Node labels the build pod must be scheduled onto.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<BTreeMap<String, String>>,

    /// How long the whole build may run, as a Go duration (`10m`, `1h30m`). Defaults to `10m`;
    /// at most `24h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Duration>,

    /// Scheduling constraints for the build pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,

    /// Set to `BuildCancelled` to cancel a running build. Knative Build wrote this key as
    /// `Status`; both spellings are accepted.
    #[serde(
        default,
        rename = "status",
        alias = "Status",
        skip_serializing_if = "Option::is_none"
    )]
    pub cancel: Option<BuildSpecStatus>,
}

/// The values `spec.status` may take.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum BuildSpecStatus {
    /// The user asked for the build to stop.
    BuildCancelled,
}

/// Where a build's input comes from: exactly one of `git`, `gcs` or `custom`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceSpec {
    /// A git repository and revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitSourceSpec>,

    /// An archive or manifest in Google Cloud Storage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcs: Option<GcsSourceSpec>,

    /// A container that fetches the source itself.
    // Boxed: a `Container` is over 2 KiB inline, and every Build in a controller's cache carries
    // its sources whether or not they are custom.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<Box<Container>>,

    /// The directory within the source that the steps see as `/workspace`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_path: Option<String>,

    /// The source's name, used in its container's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,

    /// Where under `/workspace` this source is placed (not for custom sources).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_path: Option<String>,
}

/// A git repository to clone.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitSourceSpec {
    /// The repository URL.
    pub url: String,
    /// A branch, tag, commit SHA or ref (`refs/pull/7/head`).
    #[serde(default)]
    pub revision: String,
}

/// An object in Google Cloud Storage to fetch.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GcsSourceSpec {
    /// How the object is laid out.
    #[serde(rename = "type")]
    pub type_: GcsSourceType,
    /// The object's location, `gs://bucket/path`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub location: String,
}

/// The layout of a GCS source.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum GcsSourceType {
    /// A zip archive.
    #[default]
    Archive,
    /// A source manifest, as written by `gcloud builds`.
    Manifest,
}

impl GcsSourceType {
    /// The name as it appears in YAML and on the fetcher's command line.
    pub const fn as_str(self) -> &'static str {
        match self {
            GcsSourceType::Archive => "Archive",
            GcsSourceType::Manifest => "Manifest",
        }
    }
}

/// A reference to a template and the arguments it is instantiated with.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateInstantiationSpec {
    /// The template's name.
    #[serde(default)]
    pub name: String,

    /// Which kind of template `name` refers to. Defaults to `BuildTemplate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<TemplateKind>,

    /// Values for the template's parameters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arguments: Vec<ArgumentSpec>,

    /// Environment variables added to every step of the template.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
}

/// The kinds of template a Build can name.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum TemplateKind {
    /// A namespaced [`BuildTemplate`] in the Build's namespace.
    #[default]
    BuildTemplate,
    /// A cluster-scoped [`ClusterBuildTemplate`].
    ClusterBuildTemplate,
}

impl TemplateKind {
    /// The kind's name as it appears in YAML.
    pub const fn as_str(self) -> &'static str {
        match self {
            TemplateKind::BuildTemplate => "BuildTemplate",
            TemplateKind::ClusterBuildTemplate => "ClusterBuildTemplate",
        }
    }
}

/// One argument to a template parameter.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArgumentSpec {
    /// The parameter's name.
    pub name: String,
    /// The value substituted for `${name}`.
    #[serde(default)]
    pub value: String,
}

/// What the controller has observed of a Build.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BuildStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// The conditions of the build; `Succeeded` is the one that says how it went.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,

    /// What ran the build: always `Cluster` here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builder: Option<BuildProvider>,

    /// Where the build runs: its namespace and pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterSpec>,

    /// When the build pod started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,

    /// When the build finished, successfully or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,

    /// The state of each step's container, in step order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub step_states: Vec<ContainerState>,

    /// The names of the step containers that have finished, in order.
    #[serde(default)]
    pub steps_completed: Vec<String>,

    /// Extension (not Knative Build's; Knative clients ignore it): each source as fetched, in
    /// the order of `spec.source` then `spec.sources`: what was asked for and the commit
    /// checked out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<SourceStatus>,

    /// Extension (not Knative Build's; Knative clients ignore it): each step's image as written
    /// and the image that ran, in step order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub step_images: Vec<StepImage>,

    /// Extension (not Knative Build's; Knative clients ignore it): the `KEY=VALUE` results the
    /// steps wrote to their termination message, in step order; read from steps that exited 0.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<StepResult>,

    /// Extension (not Knative Build's; Knative clients ignore it): the version of the
    /// controller that recorded `sources`, `stepImages` and `results`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller_version: Option<String>,

    /// Extension (not Knative Build's; Knative clients ignore it): `true` once nothing about
    /// the Build changes any more: it has finished and its pod has ended (or it has none). Left
    /// out while `false`. A selectable field (`kubectl get builds --field-selector
    /// status.settled=true`, Kubernetes 1.32 or later); the controller watches only the Builds
    /// where it is not `true`, so it holds no settled Build in memory and a restart lists none.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub settled: bool,
}

/// What executes a build.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum BuildProvider {
    /// A pod on the cluster the Build lives in.
    #[default]
    Cluster,
}

/// The pod that runs a build.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSpec {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name, for `kubectl logs`.
    pub pod_name: String,
}

/// A Knative-style condition: one aspect of a resource's state.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// The aspect this condition describes, such as `Succeeded`.
    #[serde(rename = "type")]
    pub type_: String,

    /// `True`, `False` or `Unknown`.
    pub status: ConditionStatus,

    /// How much a `False` matters: `Error` (the default when empty), `Warning` or `Info`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<ConditionSeverity>,

    /// When `status` last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,

    /// A one-word, CamelCase reason for the last transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,

    /// A human-readable explanation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The value of a condition.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ConditionStatus {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// Not known yet.
    Unknown,
}

/// The severity of a condition.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ConditionSeverity {
    /// A failure.
    Error,
    /// Worth a look, not a failure.
    Warning,
    /// For information only.
    Info,
}

/// The steps, parameters and volumes a template supplies to the Builds that name it.
///
/// Shared by [`BuildTemplate`] (namespaced) and [`ClusterBuildTemplate`] (cluster-scoped).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "build.knative.dev",
    version = "v1alpha1",
    kind = "BuildTemplate",
    namespaced,
    category = "all",
    category = "knative",
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct BuildTemplateSpec {
    /// The parameters the steps refer to as `${NAME}`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<ParameterSpec>,

    /// The containers to run in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<Container>,

    /// Volumes the steps may mount; added after the Build's own volumes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
}

/// The spec of a [`ClusterBuildTemplate`]: the same fields as a [`BuildTemplateSpec`].
///
/// A separate type only because the `CustomResource` derive makes one resource per spec type;
/// convert with `From`/`Into` or borrow with [`ClusterBuildTemplate::template_spec`].
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "build.knative.dev",
    version = "v1alpha1",
    kind = "ClusterBuildTemplate",
    category = "all",
    category = "knative",
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(transparent)]
pub struct ClusterBuildTemplateSpec(pub BuildTemplateSpec);

impl ClusterBuildTemplate {
    /// The template's steps, parameters and volumes.
    pub fn template_spec(&self) -> &BuildTemplateSpec {
        &self.spec.0
    }
}

impl From<BuildTemplateSpec> for ClusterBuildTemplateSpec {
    fn from(spec: BuildTemplateSpec) -> Self {
        ClusterBuildTemplateSpec(spec)
    }
}

impl From<ClusterBuildTemplateSpec> for BuildTemplateSpec {
    fn from(spec: ClusterBuildTemplateSpec) -> Self {
        spec.0
    }
}

/// One parameter of a template.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ParameterSpec {
    /// The name the steps refer to as `${name}`.
    pub name: String,

    /// What the parameter is for; shown when a required argument is missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,

    /// The value used when the Build gives no argument. Absent means the parameter is required;
    /// `default: ""` means it is optional and empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

#[cfg(test)]
mod extension_tests {
    use serde_json::json;

    use super::BuildStatus;
    use crate::provenance::{ContainerImage, SourceKind, SourceStatus, StepImage, StepResult};

    #[test]
    fn the_extension_is_left_out_when_empty_and_named_in_camel_case() {
        let empty = serde_json::to_value(BuildStatus::default()).unwrap();
        assert_eq!(empty, json!({"stepsCompleted": []}));

        let status = BuildStatus {
            sources: vec![SourceStatus {
                name: None,
                step: "build-step-git-source-0".into(),
                kind: SourceKind::Git,
                url: Some("https://github.com/a/b.git".into()),
                revision: Some("main".into()),
                commit: Some("0123".into()),
                image: ContainerImage {
                    image: Some("git-init".into()),
                    image_id: Some("sha256:aa".into()),
                },
            }],
            step_images: vec![StepImage {
                step: "build-step-build".into(),
                image: ContainerImage {
                    image: Some("busybox".into()),
                    image_id: None,
                },
            }],
            results: vec![StepResult {
                name: "IMAGE_DIGEST".into(),
                value: "sha256:bb".into(),
                step: "build-step-build".into(),
            }],
            controller_version: Some("0.1.0".into()),
            settled: true,
            ..BuildStatus::default()
        };
        let value = serde_json::to_value(&status).unwrap();
        assert_eq!(
            value,
            json!({
                "stepsCompleted": [],
                "sources": [{
                    "step": "build-step-git-source-0",
                    "kind": "git",
                    "url": "https://github.com/a/b.git",
                    "revision": "main",
                    "commit": "0123",
                    "image": "git-init",
                    "imageID": "sha256:aa",
                }],
                "stepImages": [{"step": "build-step-build", "image": "busybox"}],
                "results": [{"name": "IMAGE_DIGEST", "value": "sha256:bb", "step": "build-step-build"}],
                "controllerVersion": "0.1.0",
                "settled": true,
            })
        );
        let back: BuildStatus = serde_json::from_value(value).unwrap();
        assert_eq!(back, status);
    }
}
