//! The YAML loader: multi-document files, or directories of them, into typed objects that
//! remember where they came from.
//!
//! # What a partially bad input yields
//!
//! Loading never stops at the first bad document. The input is split into documents at their
//! `---` and `...` markers (which YAML forbids inside any scalar, so the split is exact), and
//! each document is parsed on its own, so a syntax error in one document does not hide the
//! others. The result, [`Loaded`], holds every object that loaded, every warning and every
//! error, in input order; a caller decides whether any error fails the whole run.
//!
//! Empty documents (a trailing `---`, a document of comments) are skipped. Fields the types do
//! not know (a typo such as `serviceAcountName`) become [`LoadWarning::UnknownField`]s with
//! their field path, found with `serde_ignored`. A document that fails to parse inside a
//! Secret's `data` or `stringData` is reported by field path only, without the parser's message,
//! which may quote part of the value.

use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Serialize, Serializer};

use crate::diagnostics::Report;

use crate::diagnostics::Origin;
use crate::error::Error;

use crate::types::{Build, BuildTemplate, ClusterBuildTemplate};

/// One object of a kind this crate loads.
#[derive(Debug, Clone)]
#[allow(
    clippy::large_enum_variant,
    reason = "objects are loaded a handful at a time; boxing would only make matching clumsier"
)]
pub enum Object {
    /// A `build.knative.dev/v1alpha1` Build.
    Build(Build),
    /// A `build.knative.dev/v1alpha1` BuildTemplate.
    BuildTemplate(BuildTemplate),
    /// A `build.knative.dev/v1alpha1` ClusterBuildTemplate.
    ClusterBuildTemplate(ClusterBuildTemplate),
    /// A `v1` ServiceAccount, whose annotated Secrets supply a Build's credentials.
    ServiceAccount(ServiceAccount),
    /// A `v1` Secret.
    Secret(Secret),
}

impl Object {
    /// The object's kind, such as `Build`.
    pub fn kind(&self) -> &'static str {
        match self {
            Object::Build(_) => "Build",
            Object::BuildTemplate(_) => "BuildTemplate",
            Object::ClusterBuildTemplate(_) => "ClusterBuildTemplate",
            Object::ServiceAccount(_) => "ServiceAccount",
            Object::Secret(_) => "Secret",
        }
    }

    /// The object's metadata.
    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            Object::Build(o) => &o.metadata,
            Object::BuildTemplate(o) => &o.metadata,
            Object::ClusterBuildTemplate(o) => &o.metadata,
            Object::ServiceAccount(o) => &o.metadata,
            Object::Secret(o) => &o.metadata,
        }
    }

    /// The object's `metadata.name`, or `""` when it has none.
    pub fn name(&self) -> &str {
        self.metadata().name.as_deref().unwrap_or_default()
    }

    /// Validates a Build, BuildTemplate or ClusterBuildTemplate; ServiceAccounts and Secrets
    /// have no rules here and are always `Ok`.
    pub fn validate(&self) -> Result<(), Report> {
        match self {
            Object::Build(o) => o.validate(),
            Object::BuildTemplate(o) => o.validate(),
            Object::ClusterBuildTemplate(o) => o.validate(),
            Object::ServiceAccount(_) | Object::Secret(_) => Ok(()),
        }
    }

    /// The Build, if this is one.
    pub fn as_build(&self) -> Option<&Build> {
        match self {
            Object::Build(o) => Some(o),
            _ => None,
        }
    }

    /// The BuildTemplate, if this is one.
    pub fn as_build_template(&self) -> Option<&BuildTemplate> {
        match self {
            Object::BuildTemplate(o) => Some(o),
            _ => None,
        }
    }

    /// The ClusterBuildTemplate, if this is one.
    pub fn as_cluster_build_template(&self) -> Option<&ClusterBuildTemplate> {
        match self {
            Object::ClusterBuildTemplate(o) => Some(o),
            _ => None,
        }
    }

    /// The ServiceAccount, if this is one.
    pub fn as_service_account(&self) -> Option<&ServiceAccount> {
        match self {
            Object::ServiceAccount(o) => Some(o),
            _ => None,
        }
    }

    /// The Secret, if this is one.
    pub fn as_secret(&self) -> Option<&Secret> {
        match self {
            Object::Secret(o) => Some(o),
            _ => None,
        }
    }
}

/// Serializes as the object itself, with its `apiVersion` and `kind`.
impl Serialize for Object {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Object::Build(o) => o.serialize(serializer),
            Object::BuildTemplate(o) => o.serialize(serializer),
            Object::ClusterBuildTemplate(o) => o.serialize(serializer),
            Object::ServiceAccount(o) => o.serialize(serializer),
            Object::Secret(o) => o.serialize(serializer),
        }
    }
}

/// An object and where it came from.
#[derive(Debug, Clone, Serialize)]
pub struct LoadedObject {
    /// The file, document and line it was loaded from.
    pub origin: Origin,
    /// The object.
    pub object: Object,
}

/// Something odd about an input that did not stop it from loading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
pub enum LoadWarning {
    /// A field the type does not know, which was ignored: usually a typo.
    #[error("{origin}: document {}: unknown field {path}, ignored", origin.document)]
    UnknownField {
        /// The document it is in.
        origin: Origin,
        /// Its path in the document, such as `spec.serviceAcountName` or
        /// `spec.steps[0].imag`.
        path: String,
    },
}

/// Everything one load produced: the objects, the warnings and the errors, each in input order
/// (files sorted by path, then documents in file order).
#[derive(Debug, Default)]
pub struct Loaded {
    /// The objects that loaded.
    pub objects: Vec<LoadedObject>,
    /// Oddities that did not stop an object from loading, such as unknown fields.
    pub warnings: Vec<LoadWarning>,
    /// Documents and files that could not be loaded.
    pub errors: Vec<Error>,
}

impl Loaded {
    /// Whether nothing failed to load (warnings aside).
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// Moves everything from `other` to the end of this one.
    pub fn append(&mut self, mut other: Loaded) {
        self.objects.append(&mut other.objects);
        self.warnings.append(&mut other.warnings);
        self.errors.append(&mut other.errors);
    }

    /// The Builds, with their origins.
    pub fn builds(&self) -> impl Iterator<Item = (&Origin, &Build)> {
        self.objects
            .iter()
            .filter_map(|o| Some((&o.origin, o.object.as_build()?)))
    }

    /// The BuildTemplates, with their origins.
    pub fn build_templates(&self) -> impl Iterator<Item = (&Origin, &BuildTemplate)> {
        self.objects
            .iter()
            .filter_map(|o| Some((&o.origin, o.object.as_build_template()?)))
    }

    /// The ClusterBuildTemplates, with their origins.
    pub fn cluster_build_templates(
        &self,
    ) -> impl Iterator<Item = (&Origin, &ClusterBuildTemplate)> {
        self.objects
            .iter()
            .filter_map(|o| Some((&o.origin, o.object.as_cluster_build_template()?)))
    }

    /// The ServiceAccounts, with their origins.
    pub fn service_accounts(&self) -> impl Iterator<Item = (&Origin, &ServiceAccount)> {
        self.objects
            .iter()
            .filter_map(|o| Some((&o.origin, o.object.as_service_account()?)))
    }

    /// The Secrets, with their origins.
    pub fn secrets(&self) -> impl Iterator<Item = (&Origin, &Secret)> {
        self.objects
            .iter()
            .filter_map(|o| Some((&o.origin, o.object.as_secret()?)))
    }
}
