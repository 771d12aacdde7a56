//! The images of the helper containers a build pod runs besides the steps.

/// The images of the containers the compiler adds around the steps.
///
/// A plain struct with no default: the controller takes these from its configuration (flags or
/// environment) and `render` from its command line, so which images run is always explicit.
///
/// ```
/// use build_pod::Images;
/// let images = Images {
///     creds_init: "ghcr.io/example/creds-init:v0.1.0".into(),
///     git_init: "ghcr.io/example/git-init:v0.1.0".into(),
///     gcs_fetcher: "gcr.io/cloud-builders/gcs-fetcher".into(),
///     nop: "ghcr.io/example/nop:v0.1.0".into(),
/// };
/// assert!(images.git_init.contains("git-init"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Images {
    /// `build-step-credential-initializer`: writes `~/.docker/config.json`, `~/.gitconfig`,
    /// `~/.git-credentials` and `~/.ssh` from the mounted Secrets (`build-auth`'s `creds-init`).
    pub creds_init: String,
    /// `build-step-git-source-*`: this crate's `git-init`.
    pub git_init: String,
    /// `build-step-gcs-source-*`: a fetcher that takes `--type`, `--location` and `--dest_dir`,
    /// such as `gcr.io/cloud-builders/gcs-fetcher`.
    pub gcs_fetcher: String,
    /// `nop`: the one regular container, which exits at once once every step has run.
    pub nop: String,
}
