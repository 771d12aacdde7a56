//! The one composition of the library crates, shared by the controller and the offline
//! `render`: a Build plus what it refers to goes in, the Pod it runs in comes out.

use build_auth::PlanInputs;
use build_types::{Build, BuildTemplateSpec, Problem, Reason, Report, TemplateKind};
use k8s_openapi::api::core::v1::{Pod, Secret, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::compile::{PodInputs, compile_pod};
use crate::error::PodError;
use crate::images::Images;

/// The ServiceAccount every namespace has. When it cannot be found it is taken to exist with no
/// Secrets, as it does on every cluster (its token controller creates it), so that a Build which
/// names no ServiceAccount renders offline and runs on a test control plane.
pub const IMPLICIT_SERVICE_ACCOUNT: &str = build_types::DEFAULT_SERVICE_ACCOUNT;

/// The namespace an object without one is taken to live in.
pub const DEFAULT_NAMESPACE: &str = "default";

/// What a Build refers to besides itself: its template, its ServiceAccount and that account's
/// Secrets. The controller answers from its watch caches; `render` from the loaded files.
pub trait Lookup {
    /// The spec of the namespaced BuildTemplate `name` in `namespace`.
    fn build_template(&self, namespace: &str, name: &str) -> Option<BuildTemplateSpec>;
    /// The spec of the ClusterBuildTemplate `name`.
    fn cluster_build_template(&self, name: &str) -> Option<BuildTemplateSpec>;
    /// The ServiceAccount `name` in `namespace`.
    fn service_account(&self, namespace: &str, name: &str) -> Option<ServiceAccount>;
    /// The Secret `name` in `namespace`.
    fn secret(&self, namespace: &str, name: &str) -> Option<Secret>;
}

/// The inputs of [`compose`].
pub struct ComposeInputs<'a> {
    /// The Build as stored: [`compose`] applies the defaults itself.
    pub build: &'a Build,
    /// Where the template, ServiceAccount and Secrets are found.
    pub lookup: &'a dyn Lookup,
    /// The images of the helper containers.
    pub images: &'a Images,
}

/// A Build compiled into its Pod.
#[derive(Debug, Clone)]
pub struct Composed {
    /// The Pod, exactly as the controller creates it.
    pub pod: Pod,
    /// Problems that do not stop the build (unknown `${NAME}` references, credential annotations
    /// that cannot be served): warnings only.
    pub warnings: Report,
}

/// Why a Build cannot be compiled into a Pod (yet).
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// The Build's spec breaks a validation rule.
    #[error("{0}")]
    Invalid(Report),
    /// The template the Build names does not exist (yet).
    #[error("{} {name:?} not found{}", kind.as_str(), in_namespace(.namespace))]
    TemplateNotFound {
        /// BuildTemplate or ClusterBuildTemplate.
        kind: TemplateKind,
        /// The template's name.
        name: String,
        /// Where a BuildTemplate was looked for; `None` for a ClusterBuildTemplate.
        namespace: Option<String>,
    },
    /// The Build's ServiceAccount does not exist (yet).
    #[error("ServiceAccount {name:?} not found in namespace {namespace:?}")]
    ServiceAccountNotFound {
        /// The ServiceAccount's name.
        name: String,
        /// The Build's namespace.
        namespace: String,
    },
    /// A Secret the ServiceAccount lists does not exist (yet).
    #[error(
        "Secret {secret:?} listed by ServiceAccount {service_account:?} not found in namespace {namespace:?}"
    )]
    SecretNotFound {
        /// The Secret's name.
        secret: String,
        /// The ServiceAccount that lists it.
        service_account: String,
        /// The Build's namespace.
        namespace: String,
    },
    /// The template cannot be applied with the Build's arguments.
    #[error("{0}")]
    Template(Report),
    /// The ServiceAccount's Secrets cannot serve as credentials.
    #[error("{0}")]
    Credentials(Report),
    /// The resolved build cannot be laid out as a Pod.
    #[error("{0}")]
    Pod(PodError),
}

fn in_namespace(namespace: &Option<String>) -> String {
    namespace
        .as_ref()
        .map(|ns| format!(" in namespace {ns:?}"))
        .unwrap_or_default()
}

impl ComposeError {
    /// The reason a Build's `Succeeded` condition carries for this error.
    pub fn reason(&self) -> Reason {
        match self {
            ComposeError::Invalid(_) | ComposeError::Template(_) | ComposeError::Pod(_) => {
                Reason::BuildValidationFailed
            }
            ComposeError::TemplateNotFound { .. } => Reason::TemplateNotFound,
            ComposeError::ServiceAccountNotFound { .. } => Reason::ServiceAccountNotFound,
            ComposeError::SecretNotFound { .. } => Reason::SecretNotFound,
            ComposeError::Credentials(_) => Reason::CredentialsInvalid,
        }
    }

    /// Every problem behind this error, with its field path where it has one: the errors (at
    /// least one) and the warnings found on the way.
    pub fn report(&self) -> Report {
        match self {
            ComposeError::Invalid(report)
            | ComposeError::Template(report)
            | ComposeError::Credentials(report) => report.clone(),
            ComposeError::Pod(PodError::Invalid { problems, .. }) => problems.clone(),
            other => Problem::error("", other.to_string()).into(),
        }
    }

    /// Whether the Build waits for an object that may still appear (a template, ServiceAccount
    /// or Secret), rather than being wrong in itself.
    pub fn is_missing_dependency(&self) -> bool {
        self.reason().is_waiting()
    }
}

/// Compiles a Build into the Pod that runs it.
///
/// In order: defaults, validation, the template (looked up and applied), the ServiceAccount and
/// its Secrets (looked up and planned), the Pod. The first missing object stops the composition
/// with the matching `*NotFound` error, so the caller can wait for it to appear.
pub fn compose(inputs: &ComposeInputs<'_>) -> Result<Composed, ComposeError> {
    let mut build = inputs.build.clone();
    build.spec.set_defaults();
    if build.metadata.namespace.is_none() {
        build.metadata.namespace = Some(DEFAULT_NAMESPACE.to_owned());
    }
    let namespace = build.metadata.namespace.clone().unwrap_or_default();
    let build = build.into_valid().map_err(ComposeError::Invalid)?;

    let template = match &build.spec.template {
        None => None,
        Some(template) => {
            let kind = template.kind.unwrap_or_default();
            let found = match kind {
                TemplateKind::BuildTemplate => {
                    inputs.lookup.build_template(&namespace, &template.name)
                }
                TemplateKind::ClusterBuildTemplate => {
                    inputs.lookup.cluster_build_template(&template.name)
                }
            };
            Some(found.ok_or_else(|| ComposeError::TemplateNotFound {
                kind,
                name: template.name.clone(),
                namespace: (kind == TemplateKind::BuildTemplate).then(|| namespace.clone()),
            })?)
        }
    };
    let resolved =
        build_template::resolve(&build.spec, template.as_ref()).map_err(ComposeError::Template)?;

    let account_name = build.spec.service_account().to_owned();
    let service_account = match inputs.lookup.service_account(&namespace, &account_name) {
        Some(account) => account,
        None if account_name == IMPLICIT_SERVICE_ACCOUNT => ServiceAccount {
            metadata: ObjectMeta {
                name: Some(account_name.clone()),
                namespace: Some(namespace.clone()),
                ..Default::default()
            },
            ..Default::default()
        },
        None => {
            return Err(ComposeError::ServiceAccountNotFound {
                name: account_name,
                namespace,
            });
        }
    };
    let listed = service_account.secrets.iter().flatten();
    let mut secrets = Vec::new();
    for reference in listed {
        let Some(name) = reference.name.as_deref() else {
            continue;
        };
        match inputs.lookup.secret(&namespace, name) {
            Some(secret) => secrets.push(secret),
            None => {
                return Err(ComposeError::SecretNotFound {
                    secret: name.to_owned(),
                    service_account: account_name,
                    namespace,
                });
            }
        }
    }
    let credentials = build_auth::plan(&PlanInputs {
        service_account: &service_account,
        secrets: &secrets,
    })
    .map_err(ComposeError::Credentials)?;

    let pod = compile_pod(&PodInputs {
        build: &build,
        steps: &resolved.steps,
        volumes: &resolved.volumes,
        credentials: &credentials,
        images: inputs.images,
    })
    .map_err(ComposeError::Pod)?;

    let mut warnings = resolved.warnings;
    warnings.append(credentials.warnings);
    Ok(Composed { pod, warnings })
}
