//! The provenance of a finished Build as an in-toto Statement v1 with a SLSA Provenance v1
//! predicate, made from the Build alone. Pure.

use std::collections::BTreeMap;

use build_pod::git_init::redact_url;
use build_types::{Build, ConditionStatus, SourceKind, SourceStatus, StepResult};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// The statement's `_type`.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// The statement's `predicateType`: SLSA Provenance v1.
pub const PREDICATE_TYPE: &str = "https://slsa.dev/provenance/v1";
/// The `buildType` of a Knative Build, documented in the README's "Provenance" section: what
/// the parameters and dependencies mean.
pub const BUILD_TYPE: &str =
    "https://github.com/knative-build-rs/knative-build-rs/blob/main/README.md#provenance";
/// The `builder.id` when none is given: this controller. An installation that wants policies
/// to tell its clusters apart names each with `--builder-id`.
pub const DEFAULT_BUILDER_ID: &str =
    "https://github.com/knative-build-rs/knative-build-rs/build-controller";
/// The name of the controller in `builder.version`.
const CONTROLLER: &str = "build-controller";

/// An in-toto Statement v1: the subjects (the images the Build produced) and the provenance.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Statement {
    /// Always [`STATEMENT_TYPE`].
    #[serde(rename = "_type")]
    pub type_: String,
    /// The images the Build reported, each with its digest.
    pub subject: Vec<ResourceDescriptor>,
    /// Always [`PREDICATE_TYPE`].
    pub predicate_type: String,
    /// How the subjects were built.
    pub predicate: Provenance,
}

/// An in-toto ResourceDescriptor: an artifact by name, URI and digests.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct ResourceDescriptor {
    /// A name local to the statement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where the artifact is, globally.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Its digests by algorithm (`sha256`, `gitCommit`), in hex.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub digest: BTreeMap<String, String>,
}

/// A SLSA Provenance v1 predicate.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Provenance {
    /// The inputs of the build.
    pub build_definition: BuildDefinition,
    /// This run of it.
    pub run_details: RunDetails,
}

/// The inputs of a build.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BuildDefinition {
    /// Always [`BUILD_TYPE`].
    pub build_type: String,
    /// What the Build's author chose: the template and its arguments (or the steps), the
    /// sources, the volumes and the ServiceAccount.
    pub external_parameters: Value,
    /// What the controller chose: where the Build ran.
    pub internal_parameters: Value,
    /// The sources at the commits fetched, and every image that ran with its digest.
    pub resolved_dependencies: Vec<ResourceDescriptor>,
}

/// One run of a build.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RunDetails {
    /// Who ran it.
    pub builder: Builder,
    /// When, and which run.
    pub metadata: BuildMetadata,
}

/// The build platform.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Builder {
    /// The platform's identity.
    pub id: String,
    /// The version of each of its parts: `build-controller`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub version: BTreeMap<String, String>,
}

/// When and which run.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BuildMetadata {
    /// The Build's UID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invocation_id: Option<String>,
    /// The Build's `startTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_on: Option<Time>,
    /// The Build's `completionTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_on: Option<Time>,
}

/// Why a Build has no provenance to give.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProvenanceError {
    /// The Build has not succeeded (yet).
    #[error(
        "build {build:?} has not succeeded ({state}): provenance is made for a succeeded build only"
    )]
    NotSucceeded {
        /// The Build's name.
        build: String,
        /// Its state: `running`, or its reason and message.
        state: String,
    },
    /// No step reported an image.
    #[error(
        "build {build:?} reported no image: a step names what it built by writing IMAGE_URL=<image> and IMAGE_DIGEST=<algorithm>:<hex> to /dev/termination-log"
    )]
    NoSubject {
        /// The Build's name.
        build: String,
    },
    /// A step reported half of an image.
    #[error("build step {step:?} reported {present} without {missing}")]
    Unpaired {
        /// The step's container.
        step: String,
        /// The result it reported.
        present: String,
        /// The result it did not.
        missing: String,
    },
    /// A reported digest is not `<algorithm>:<hex>`.
    #[error(
        "build step {step:?} reported {name}={value:?}, which is not a digest (sha256:<64 hex digits>, sha384:<96> or sha512:<128>)"
    )]
    BadDigest {
        /// The step's container.
        step: String,
        /// The result's name.
        name: String,
        /// Its value.
        value: String,
    },
}

/// What [`statement`] is made from.
#[derive(Clone, Copy, Debug)]
pub struct StatementInputs<'a> {
    /// The Build, as the API server has it (its whole spec and status).
    pub build: &'a Build,
    /// The `builder.id`, such as [`DEFAULT_BUILDER_ID`].
    pub builder_id: &'a str,
}

/// The provenance of a succeeded Build, from its spec and status alone (the status extension:
/// `sources`, `stepImages`, `results`, `controllerVersion`).
///
/// - `subject`: each image a step reported as `IMAGE_URL` and `IMAGE_DIGEST` (or
///   `<NAME>_IMAGE_URL` and `<NAME>_IMAGE_DIGEST`, both from the same step), in step order,
///   each once.
/// - `externalParameters`: `template` (`kind`, `name`, `arguments` as a map, `env` when set)
///   or `steps` (as written), `sources` (as written, URL credentials replaced by `***`),
///   `volumes` when set, `serviceAccountName`.
/// - `internalParameters`: `namespace` and `podName`, where it ran.
/// - `resolvedDependencies`: each source (git: `git+<url>@<revision>` with its `gitCommit`;
///   GCS: its location; custom: the `url` and `commit` it reported), then every image that ran
///   (the fetchers' and the steps'), named by container, as `oci://<repository>` with the
///   digest of its `imageID`.
/// - `runDetails`: `builder.id`, `builder.version` (`build-controller`: the controller that
///   recorded the status), and `metadata` (`invocationId` the Build's UID, `startedOn` and
///   `finishedOn` its start and completion times).
///
/// # Errors
///
/// [`ProvenanceError`] when the Build has not succeeded or its image results are missing,
/// unpaired or malformed.
pub fn statement(inputs: &StatementInputs<'_>) -> Result<Statement, ProvenanceError> {
    let build = inputs.build;
    check_succeeded(build)?;
    let status = build.status.clone().unwrap_or_default();
    let subject = subjects(&status.results)?;
    if subject.is_empty() {
        return Err(ProvenanceError::NoSubject {
            build: build.name_any(),
        });
    }
    let mut resolved_dependencies: Vec<ResourceDescriptor> =
        status.sources.iter().map(source_dependency).collect();
    let images = status
        .sources
        .iter()
        .map(|s| (&s.step, &s.image))
        .chain(status.step_images.iter().map(|s| (&s.step, &s.image)));
    resolved_dependencies.extend(images.map(|(step, image)| image_dependency(step, image)));
    let cluster = status.cluster.as_ref();
    Ok(Statement {
        type_: STATEMENT_TYPE.to_owned(),
        subject,
        predicate_type: PREDICATE_TYPE.to_owned(),
        predicate: Provenance {
            build_definition: BuildDefinition {
                build_type: BUILD_TYPE.to_owned(),
                external_parameters: external_parameters(build),
                internal_parameters: json!({
                    "namespace": cluster.map(|c| c.namespace.clone()).or_else(|| build.namespace()),
                    "podName": cluster.map(|c| c.pod_name.clone()),
                }),
                resolved_dependencies,
            },
            run_details: RunDetails {
                builder: Builder {
                    id: inputs.builder_id.to_owned(),
                    version: status
                        .controller_version
                        .iter()
                        .map(|v| (CONTROLLER.to_owned(), v.clone()))
                        .collect(),
                },
                metadata: BuildMetadata {
                    invocation_id: build.metadata.uid.clone(),
                    started_on: status.start_time.clone(),
                    finished_on: status.completion_time.clone(),
                },
            },
        },
    })
}

/// `Ok` for a Build whose `Succeeded` condition is `True`.
fn check_succeeded(build: &Build) -> Result<(), ProvenanceError> {
    let condition = build.status.as_ref().and_then(|s| s.succeeded());
    let state = match condition {
        Some(c) if c.status == ConditionStatus::True => return Ok(()),
        Some(c) if c.status == ConditionStatus::Unknown => "still running".to_owned(),
        Some(c) => {
            let reason = c.reason.as_deref().unwrap_or("Failed");
            match c.message.as_deref().filter(|m| !m.is_empty()) {
                Some(message) => format!("{reason}: {message}"),
                None => reason.to_owned(),
            }
        }
        None => "not started".to_owned(),
    };
    Err(ProvenanceError::NotSucceeded {
        build: build.name_any(),
        state,
    })
}

/// The images the results name, in step order, each once.
fn subjects(results: &[StepResult]) -> Result<Vec<ResourceDescriptor>, ProvenanceError> {
    let value_of = |step: &str, name: &str| {
        results
            .iter()
            .find(|r| r.step == step && r.name == name)
            .map(|r| r.value.as_str())
    };
    let unpaired = |result: &StepResult, missing: String| ProvenanceError::Unpaired {
        step: result.step.clone(),
        present: result.name.clone(),
        missing,
    };
    for result in results {
        if let Some(prefix) = image_prefix(&result.name, "IMAGE_DIGEST") {
            let url = format!("{prefix}IMAGE_URL");
            if value_of(&result.step, &url).is_none() {
                return Err(unpaired(result, url));
            }
        }
    }
    let mut subjects: Vec<ResourceDescriptor> = Vec::new();
    for result in results {
        let Some(prefix) = image_prefix(&result.name, "IMAGE_URL") else {
            continue;
        };
        let name = format!("{prefix}IMAGE_DIGEST");
        let value = value_of(&result.step, &name).ok_or_else(|| unpaired(result, name.clone()))?;
        let digest = parse_digest(value).ok_or_else(|| ProvenanceError::BadDigest {
            step: result.step.clone(),
            name,
            value: value.to_owned(),
        })?;
        let subject = ResourceDescriptor {
            name: Some(result.value.clone()),
            uri: None,
            digest: BTreeMap::from([digest]),
        };
        if !subjects.contains(&subject) {
            subjects.push(subject);
        }
    }
    Ok(subjects)
}

/// The `<NAME>_` before `suffix` (`""` for `suffix` alone), when `name` is an image result.
fn image_prefix<'a>(name: &'a str, suffix: &str) -> Option<&'a str> {
    name.strip_suffix(suffix)
        .filter(|prefix| prefix.is_empty() || prefix.ends_with('_'))
}

/// `sha256:<hex>` (or `sha384`, `sha512`) as `(algorithm, hex)`, the hex in lower case and of
/// the algorithm's length.
fn parse_digest(text: &str) -> Option<(String, String)> {
    let (algorithm, hex) = text.split_once(':')?;
    let length = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return None,
    };
    let well_formed = hex.len() == length
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    well_formed.then(|| (algorithm.to_owned(), hex.to_owned()))
}

/// What the Build's author chose.
fn external_parameters(build: &Build) -> Value {
    let spec = &build.spec;
    let mut parameters = Map::new();
    match &spec.template {
        Some(template) => {
            let arguments: BTreeMap<&str, &str> = template
                .arguments
                .iter()
                .map(|a| (a.name.as_str(), a.value.as_str()))
                .collect();
            let mut value = json!({
                "kind": template.kind.unwrap_or_default().as_str(),
                "name": template.name,
                "arguments": arguments,
            });
            if !template.env.is_empty() {
                value["env"] = json!(template.env);
            }
            parameters.insert("template".into(), value);
        }
        None => {
            parameters.insert("steps".into(), json!(spec.steps));
        }
    }
    let sources: Vec<Value> = spec
        .all_sources()
        .into_iter()
        .map(|source| {
            let mut source = source.clone();
            if let Some(git) = source.git.as_mut() {
                git.url = redact_url(&git.url);
            }
            json!(source)
        })
        .collect();
    parameters.insert("sources".into(), Value::Array(sources));
    if !spec.volumes.is_empty() {
        parameters.insert("volumes".into(), json!(spec.volumes));
    }
    parameters.insert("serviceAccountName".into(), json!(spec.service_account()));
    Value::Object(parameters)
}

/// A source at what was fetched.
fn source_dependency(source: &SourceStatus) -> ResourceDescriptor {
    let uri = match source.kind {
        SourceKind::Git => source.url.as_deref().map(|url| {
            let at = source
                .revision
                .as_deref()
                .map(|r| format!("@{r}"))
                .unwrap_or_default();
            format!("git+{}{at}", as_uri(url))
        }),
        SourceKind::Gcs | SourceKind::Custom => source.url.clone(),
    };
    let digest = source
        .commit
        .iter()
        .map(|commit| ("gitCommit".to_owned(), commit.clone()))
        .collect();
    ResourceDescriptor {
        name: source.name.clone(),
        uri,
        digest,
    }
}

/// A git URL as a URI naming the repository: `git@host:path` becomes `ssh://git@host/path`, and
/// credentials (`***@` once redacted) are left out.
fn as_uri(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return match url.split_once(':') {
            Some((host, path)) if !host.contains('/') => format!("ssh://{host}/{path}"),
            _ => url.to_owned(),
        };
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let host = authority
        .rsplit_once('@')
        .map_or(
            authority,
            |(userinfo, host)| {
                if userinfo == "***" { host } else { authority }
            },
        );
    format!("{scheme}://{host}{path}")
}

/// An image that ran, by its container: `oci://<repository>` and the digest of its `imageID`.
fn image_dependency(step: &str, image: &build_types::ContainerImage) -> ResourceDescriptor {
    // `docker.io/library/busybox@sha256:…`, `docker-pullable://busybox@sha256:…`, `sha256:…`.
    let id = image
        .image_id
        .as_deref()
        .map(|id| id.split_once("://").map_or(id, |(_, rest)| rest));
    let (id_repository, id_digest) = match id.and_then(|id| id.rsplit_once('@')) {
        Some((repository, digest)) => (Some(repository), Some(digest)),
        None => (None, id),
    };
    let repository = id_repository
        .map(str::to_owned)
        .or_else(|| image.image.as_deref().map(repository_of));
    ResourceDescriptor {
        name: Some(step.to_owned()),
        uri: repository.map(|r| format!("oci://{r}")),
        digest: id_digest.and_then(parse_digest).into_iter().collect(),
    }
}

/// An image reference without its tag and digest: `registry:5000/app:1.0@sha256:…` →
/// `registry:5000/app`.
fn repository_of(image: &str) -> String {
    let image = image.split('@').next().unwrap_or(image);
    let name_start = image.rfind('/').map_or(0, |slash| slash + 1);
    match image[name_start..].find(':') {
        Some(colon) => image[..name_start + colon].to_owned(),
        None => image.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_and_repositories() {
        let hex = "a".repeat(64);
        assert_eq!(
            parse_digest(&format!("sha256:{hex}")),
            Some(("sha256".into(), hex.clone()))
        );
        for bad in [
            "sha256:ABC",
            "md5:00",
            "sha256",
            "",
            &format!("sha256:{hex}0"),
        ] {
            assert_eq!(parse_digest(bad), None, "{bad}");
        }
        for (image, repository) in [
            ("busybox", "busybox"),
            ("busybox:1.36", "busybox"),
            ("registry:5000/app:1.0", "registry:5000/app"),
            ("registry:5000/app", "registry:5000/app"),
            ("gcr.io/a/b@sha256:00", "gcr.io/a/b"),
        ] {
            assert_eq!(repository_of(image), repository, "{image}");
        }
        assert_eq!(
            as_uri("git@github.com:org/repo.git"),
            "ssh://git@github.com/org/repo.git"
        );
        assert_eq!(as_uri("https://h/r.git"), "https://h/r.git");
        assert_eq!(as_uri("https://***@h/r.git"), "https://h/r.git");
        assert_eq!(as_uri("ssh://git@h:22/r.git"), "ssh://git@h:22/r.git");
    }

    #[test]
    fn image_ids_in_every_spelling() {
        let hex = "b".repeat(64);
        let image = |written: &str, id: &str| build_types::ContainerImage {
            image: Some(written.into()),
            image_id: Some(id.into()).filter(|id: &String| !id.is_empty()),
        };
        for (written, id, uri, digest) in [
            (
                "busybox:1.36",
                format!("docker.io/library/busybox@sha256:{hex}"),
                "oci://docker.io/library/busybox",
                true,
            ),
            (
                "busybox:1.36",
                format!("docker-pullable://busybox@sha256:{hex}"),
                "oci://busybox",
                true,
            ),
            ("app:dev", format!("sha256:{hex}"), "oci://app", true),
            ("app:dev", String::new(), "oci://app", false),
        ] {
            let dependency = image_dependency("build-step-x", &image(written, &id));
            assert_eq!(dependency.uri.as_deref(), Some(uri), "{id}");
            assert_eq!(dependency.digest.contains_key("sha256"), digest, "{id}");
        }
    }
}
