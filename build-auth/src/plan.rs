//! The credential plan: what the pod compiler adds to a build pod for its credentials.

use k8s_openapi::api::core::v1::{Volume, VolumeMount};

/// What the pod compiler needs to give a build pod its credentials.
///
/// The three data fields are the contract with `build-pod`: `args` go to the
/// `build-step-credential-initializer` container, `volumes` to the pod, and `volume_mounts`
/// to the credential initializer only, never to the steps.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CredentialPlan {
    /// The creds-init arguments, such as `-basic-docker=docker-hub=https://index.docker.io/v1/`.
    pub args: Vec<String>,
    /// One Secret volume per matched Secret.
    pub volumes: Vec<Volume>,
    /// The mounts of those volumes at `/var/build-secrets/<secret>`, for creds-init only.
    pub volume_mounts: Vec<VolumeMount>,
    /// Problems worth showing that do not stop the build.
    pub warnings: Vec<Warning>,
}

/// A problem with a credential that does not stop the build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// The Secret concerned.
    pub secret: String,
    /// What is wrong, without any secret value.
    pub message: String,
}
