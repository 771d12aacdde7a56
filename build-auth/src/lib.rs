//! Credentials for build pods, from the annotated Secrets of a Build's ServiceAccount.
//!
//! Two halves, as in Knative Build:
//!
//! - [`plan`], a pure function: a ServiceAccount and the Secrets of its namespace in, a
//!   [`CredentialPlan`] out (the `creds-init` arguments, one Secret volume per Secret used,
//!   and its mount at `/var/build-secrets/<secret>` for the credential initializer only).
//!   Secrets say what they are for with annotations such as
//!   `build.knative.dev/docker-0: https://index.docker.io/v1/` or
//!   `build.knative.dev/git-0: github.com`. A Docker annotation's value is passed on as
//!   written, as Knative Build did; like Knative Build, the planner refuses exactly
//!   `index.docker.io`, and it warns about Docker Hub in any other form than
//!   [`DOCKER_HUB_URL`], the key Docker clients look it up by.
//! - [`creds_init`], the `creds-init` program that runs first in every build pod
//!   ([`creds_init::run`], with its own [`CredsInitError`](creds_init::CredsInitError); the
//!   binary is a thin wrapper): it reads the mounted Secrets and writes
//!   `~/.docker/config.json`, `~/.gitconfig`, `~/.git-credentials` and `~/.ssh/*`. This is the
//!   only code here that does I/O.
//!
//! [`ssh`] is the `~/.ssh` layout creds-init writes and `build-pod`'s `git-init` reads (the
//! directory, file names, modes and the ssh command line that points `ssh` at them), and
//! [`write_termination_message`] how both programs report a failure to the kubelet, and
//! [`go_flag`] the Go `flag` syntax of their command lines.
//!
//! The crate deliberately talks to no cluster (the controller fetches the ServiceAccount and
//! Secrets) and builds no pods (`build-pod` places the plan into one). No error, warning,
//! summary or `Debug` output ever contains a Secret value.

mod consts;
pub mod creds_init;
mod error;
mod flag;
pub mod go_flag;
mod plan;
mod render;
pub mod ssh;
mod target;
mod termination;

pub use consts::{
    ANNOTATION_PREFIX, DOCKER_ANNOTATION_PREFIX, DOCKER_HUB_URL, GIT_ANNOTATION_PREFIX,
    SECRET_MOUNT_BASE,
};
pub use error::AuthError;
pub use flag::{CredentialFlag, CredentialKind, parse_args};
pub use plan::{CredentialPlan, PlanInputs, missing_secrets, plan, volume_name};
pub use termination::{TERMINATION_LOG, TERMINATION_LOG_ENV, write_termination_message};

/// Re-exported so that callers name the same `k8s-openapi` version.
pub use k8s_openapi;
