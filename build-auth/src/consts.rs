//! The names this crate shares with Knative Build's users: the annotations it reads on a
//! ServiceAccount's Secrets, where their values are mounted, and Docker Hub's key.

/// The prefix of every annotation this crate reads.
pub const ANNOTATION_PREFIX: &str = "build.knative.dev/";

/// The prefix of the annotations naming a Docker registry: `build.knative.dev/docker-N`.
pub const DOCKER_ANNOTATION_PREFIX: &str = "build.knative.dev/docker-";

/// The prefix of the annotations naming a git server: `build.knative.dev/git-N`.
pub const GIT_ANNOTATION_PREFIX: &str = "build.knative.dev/git-";

/// Where each Secret is mounted in the credential initializer, as
/// `/var/build-secrets/<secret>`, and where creds-init reads them by default.
pub const SECRET_MOUNT_BASE: &str = "/var/build-secrets";

/// The key Docker clients use for Docker Hub in `~/.docker/config.json`.
pub const DOCKER_HUB_URL: &str = "https://index.docker.io/v1/";
