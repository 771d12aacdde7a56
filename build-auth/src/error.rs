//! The errors of this crate: [`AuthError`], which the planner reports as
//! [`Problem`]s of a [`build_types::Report`] and creds-init as a list.
//!
//! No message ever contains a Secret value: errors name the ServiceAccount, the Secret, the
//! key, the annotation, the URL or host, or a file path, and describe what is wrong with a
//! value without quoting it.

use std::fmt;
use std::path::PathBuf;

use build_types::Problem;

/// One problem found by the planner ([`plan`](crate::plan)) or by creds-init
/// ([`run`](crate::creds_init::run), [`parse_args`](crate::parse_args)).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The ServiceAccount lists a Secret that does not exist (yet). The controller reports
    /// the Build reason `SecretNotFound` and tries again when the Secret appears.
    #[error("serviceaccount {service_account}: secret {secret} does not exist")]
    SecretNotFound {
        /// The ServiceAccount that lists the Secret.
        service_account: String,
        /// The name of the missing Secret.
        secret: String,
    },

    /// A Secret used for credentials lacks a key its type requires, such as `password` in a
    /// `kubernetes.io/basic-auth` Secret.
    #[error(
        "serviceaccount {service_account}: secret {secret} (type {secret_type}): missing key {key}"
    )]
    MissingKey {
        /// The ServiceAccount that lists the Secret.
        service_account: String,
        /// The Secret without the key.
        secret: String,
        /// The Secret's type.
        secret_type: String,
        /// The missing key.
        key: String,
    },

    /// A `build.knative.dev/docker-N` annotation of exactly `index.docker.io`, on any Secret
    /// the ServiceAccount lists: the one value Knative Build refused (its reconciler's
    /// `BadSecretAnnotation`), since Docker clients look Docker Hub up as
    /// `https://index.docker.io/v1/`. Other spellings of Docker Hub are used as written, with a
    /// warning of the plan.
    #[error(
        "serviceaccount {service_account}: secret {secret}: annotation {annotation}: \
         {value:?} is not how Docker clients name Docker Hub; use \"https://index.docker.io/v1/\""
    )]
    DockerHubUrl {
        /// The ServiceAccount that lists the Secret.
        service_account: String,
        /// The annotated Secret.
        secret: String,
        /// The annotation key, such as `build.knative.dev/docker-0`.
        annotation: String,
        /// The annotation value (a registry URL, never a credential).
        value: String,
    },

    /// A credential annotation's value is not a usable URL or host.
    #[error("serviceaccount {service_account}: secret {secret}: annotation {annotation}: {reason}")]
    InvalidAnnotation {
        /// The ServiceAccount that lists the Secret.
        service_account: String,
        /// The annotated Secret.
        secret: String,
        /// The annotation key.
        annotation: String,
        /// What is wrong with the value.
        reason: String,
    },

    /// Two annotations (on one Secret or on two) give the same kind of credentials for the
    /// same URL or host, so it is unclear which one to use.
    #[error(
        "serviceaccount {service_account}: {kind} credentials for {target} given twice \
         ({})",
        which_secrets(first_secret, second_secret)
    )]
    ConflictingAnnotations {
        /// The ServiceAccount that lists the Secrets.
        service_account: String,
        /// The creds-init flag name, such as `basic-git`.
        kind: String,
        /// The URL or host.
        target: String,
        /// The first Secret, by name.
        first_secret: String,
        /// The second Secret (the same as the first when one Secret has both annotations).
        second_secret: String,
    },

    /// A creds-init argument that is not of the form the flag needs.
    #[error("argument {argument:?}: {reason}")]
    MalformedFlag {
        /// The argument as given.
        argument: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A creds-init argument that is not one of its flags.
    #[error(
        "unknown flag {flag:?} (expected -basic-docker, -basic-git, -ssh-git, -docker-config or -docker-cfg)"
    )]
    UnknownFlag {
        /// The flag name, without any value.
        flag: String,
    },

    /// Two creds-init flags (or two Secrets' Docker config files) give the same kind of
    /// credentials for the same URL or host.
    #[error(
        "{kind} credentials for {target} given twice ({})",
        which_secrets(first_secret, second_secret)
    )]
    DuplicateEntry {
        /// The creds-init flag name, such as `basic-docker`.
        kind: String,
        /// The URL or host.
        target: String,
        /// The first Secret, by name.
        first_secret: String,
        /// The second Secret.
        second_secret: String,
    },

    /// A file creds-init needs is not in the Secret's directory.
    #[error("secret {secret}: missing key {key} (no file {})", path.display())]
    MissingSecretFile {
        /// The Secret.
        secret: String,
        /// The key, which is also the file name.
        key: String,
        /// Where the file was looked for.
        path: PathBuf,
    },

    /// A Secret's file holds something creds-init cannot use.
    #[error("secret {secret}: key {key}: {reason}")]
    InvalidSecretFile {
        /// The Secret.
        secret: String,
        /// The key.
        key: String,
        /// What is wrong, without quoting the content.
        reason: String,
    },

    /// `$HOME` cannot be used: unset, not absolute, or not representable in the files
    /// creds-init writes.
    #[error("HOME {home:?}: {reason}")]
    InvalidHome {
        /// The value of `HOME` (empty when unset).
        home: String,
        /// What is wrong with it.
        reason: String,
    },

    /// Reading or writing a file failed.
    #[error("{}: {reason}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error message.
        reason: String,
    },
}

fn which_secrets(first: &str, second: &str) -> String {
    if first == second {
        format!("both by secret {first}")
    } else {
        format!("by secrets {first} and {second}")
    }
}

impl AuthError {
    /// The Secret named by a [`AuthError::SecretNotFound`], if this is one.
    pub fn missing_secret(&self) -> Option<&str> {
        match self {
            AuthError::SecretNotFound { secret, .. } => Some(secret),
            _ => None,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, error: &std::io::Error) -> Self {
        AuthError::Io {
            path: path.into(),
            reason: error.kind().to_string(),
        }
    }
}

impl From<AuthError> for Problem {
    /// An error with the Secret (or flag, or file) it concerns in its message.
    fn from(error: AuthError) -> Problem {
        Problem::error("", error.to_string())
    }
}

/// Errors one per line.
pub(crate) struct Lines<'a>(pub(crate) &'a [AuthError]);

impl fmt::Display for Lines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}
