//! Typed Knative Build resources: [`Build`], [`BuildTemplate`] and [`ClusterBuildTemplate`]
//! in `build.knative.dev/v1alpha1`, with the JSON field names of Knative Build v0.7 so existing
//! YAML loads unchanged.
//!
//! Besides the types, this crate holds what every consumer of them needs: Go-style
//! [`Duration`]s, explicit defaulting ([`BuildSpec::set_defaults`]), the `Succeeded` condition
//! helpers, validation that collects every problem with its field path ([`Build::validate`],
//! [`Report`], the one diagnostics model of the workspace), a multi-document YAML loader whose errors name the file, document,
//! line and column (`load_path`, `load_str`; the `yaml` feature, on by default), and the generated CustomResourceDefinitions.
//! The status also carries an extension Knative clients ignore: what each source was fetched
//! at ([`SourceStatus`]), each step's image and the digest that ran ([`StepImage`]), and the
//! results the steps reported ([`StepResult`]).
//!
//! It deliberately does no I/O beyond reading files it is pointed at, talks to no cluster, and
//! knows nothing of templates' `${PARAM}` substitution (`build-template`), credentials
//! (`build-auth`) or pods (`build-pod`).

mod condition;
mod crd;
mod defaults;
mod diagnostics;
mod duration;
mod error;
mod load;
#[cfg(feature = "yaml")]
mod parse;
mod provenance;
mod reason;
mod types;
mod validate;

pub use condition::SUCCEEDED;
pub use crd::{CRD_HEADER, CrdFile, crd_file_name, crds};
#[cfg(feature = "yaml")]
pub use crd::{crd_files, crd_yaml};
pub use defaults::{DEFAULT_SERVICE_ACCOUNT, DEFAULT_TIMEOUT, MAX_TIMEOUT};
pub use diagnostics::{Component, FieldPath, Origin, Problem, Report, Severity};
pub use duration::Duration;
pub use error::{DurationError, Error};
pub use load::{LoadWarning, Loaded, LoadedObject, Object};
#[cfg(feature = "yaml")]
pub use parse::{load_bytes, load_path, load_str};
pub use provenance::{
    ContainerImage, RESULTS_DROPPED, RESULTS_REPORTED, SourceKind, SourceStatus, StepImage,
    StepResult,
};
pub use reason::{Reason, UnknownReason};
pub use types::*;
pub use validate::Valid;

/// Re-exported so that users of these types name the same `k8s-openapi` version.
pub use k8s_openapi;
