//! The credential plan: what the pod compiler adds to a build pod for its credentials.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Secret, SecretVolumeSource, ServiceAccount, Volume, VolumeMount};
use serde::Serialize;
use sha2::{Digest, Sha256};

use build_types::{Problem, Report};

use crate::consts::{DOCKER_ANNOTATION_PREFIX, GIT_ANNOTATION_PREFIX, SECRET_MOUNT_BASE};
use crate::error::AuthError;
use crate::flag::{CredentialFlag, CredentialKind};
use crate::target::{
    GitUrl, REFUSED_DOCKER_HUB_VALUE, SshHost, check_docker_url, is_other_docker_hub_spelling,
};

/// What the pod compiler needs to give a build pod its credentials.
///
/// The three data fields are the contract with `build-pod`: `args` go to the
/// `build-step-credential-initializer` container, `volumes` to the pod, and `volume_mounts`
/// to the credential initializer only, never to the steps.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CredentialPlan {
    /// The creds-init arguments, such as `-basic-docker=docker-hub=https://index.docker.io/v1/`.
    pub args: Vec<String>,
    /// One Secret volume per matched Secret.
    pub volumes: Vec<Volume>,
    /// The mounts of those volumes at `/var/build-secrets/<secret>`, for creds-init only.
    pub volume_mounts: Vec<VolumeMount>,
    /// Problems worth showing that do not stop the build (warnings only), each at the Secret
    /// it concerns (`Secret "docker-hub"`), without any secret value.
    pub warnings: Report,
}

/// What [`plan`] looks at.
#[derive(Clone, Copy, Debug)]
pub struct PlanInputs<'a> {
    /// The Build's ServiceAccount; its `secrets:` list says which Secrets are considered.
    pub service_account: &'a ServiceAccount,
    /// The Secrets of the ServiceAccount's namespace: at least those it lists. Others are
    /// ignored, and so is a Secret whose namespace is set and differs from the
    /// ServiceAccount's.
    pub secrets: &'a [Secret],
}

const BASIC_AUTH: &str = "kubernetes.io/basic-auth";
const SSH_AUTH: &str = "kubernetes.io/ssh-auth";
const DOCKER_CONFIG_JSON: &str = "kubernetes.io/dockerconfigjson";
const DOCKER_CFG: &str = "kubernetes.io/dockercfg";

/// The credential plan for a Build run as `inputs.service_account`.
///
/// For each Secret the ServiceAccount lists (in name order):
/// - `kubernetes.io/basic-auth`: each `build.knative.dev/docker-*` annotation gives
///   `-basic-docker=<secret>=<url>`, the value as written (a Docker Hub URL in another form
///   than `https://index.docker.io/v1/`, such as `https://index.docker.io` or `docker.io`,
///   also gives a warning: Docker clients look Docker Hub up by that exact key), each `build.knative.dev/git-*` annotation
///   `-basic-git=<secret>=<url>`; the Secret needs the keys `username` and `password`;
/// - `kubernetes.io/ssh-auth`: each git annotation gives `-ssh-git=<secret>=<host>`; the
///   Secret needs `ssh-privatekey` (and may have `known_hosts`);
/// - `kubernetes.io/dockerconfigjson` gives `-docker-config=<secret>` and
///   `kubernetes.io/dockercfg` gives `-docker-cfg=<secret>`, annotated or not;
/// - an annotation the Secret's type cannot serve is a warning; other Secrets (such as
///   the ServiceAccount's token) are ignored.
///
/// Keys count whether they are in `data` or `stringData`. Arguments are sorted: Docker
/// before git, then by URL or host. Every Secret that gives an argument gets one volume
/// (named `secret-volume-<name>-<hash>`, a valid DNS label) mounted read-only at
/// `/var/build-secrets/<secret>`.
///
/// # Errors
///
/// A [`Report`] with every problem found (an [`AuthError`] each): a listed Secret that does not exist
/// ([`AuthError::SecretNotFound`]), a missing key, an unusable annotation value, a
/// `build.knative.dev/docker-*` annotation of exactly `index.docker.io` on any listed Secret
/// ([`AuthError::DockerHubUrl`], the one value Knative Build refused), or two annotations for
/// the same URL or host.
///
/// # Example
///
/// ```
/// use build_auth::k8s_openapi::api::core::v1::{ObjectReference, Secret, ServiceAccount};
/// use build_auth::{PlanInputs, plan};
///
/// let service_account: ServiceAccount = serde_json::from_value(serde_json::json!({
///     "apiVersion": "v1", "kind": "ServiceAccount",
///     "metadata": {"name": "build-bot"},
///     "secrets": [{"name": "docker-hub"}],
/// })).unwrap();
/// let secret: Secret = serde_json::from_value(serde_json::json!({
///     "apiVersion": "v1", "kind": "Secret",
///     "metadata": {
///         "name": "docker-hub",
///         "annotations": {"build.knative.dev/docker-0": "https://index.docker.io/v1/"},
///     },
///     "type": "kubernetes.io/basic-auth",
///     "stringData": {"username": "someone", "password": "not-a-real-password"},
/// })).unwrap();
///
/// let plan = plan(&PlanInputs { service_account: &service_account, secrets: &[secret] }).unwrap();
/// assert_eq!(plan.args, ["-basic-docker=docker-hub=https://index.docker.io/v1/"]);
/// assert_eq!(plan.volume_mounts[0].mount_path, "/var/build-secrets/docker-hub");
/// ```
pub fn plan(inputs: &PlanInputs<'_>) -> Result<CredentialPlan, Report> {
    let sa = inputs.service_account;
    let sa_name = sa.metadata.name.as_deref().unwrap_or("<unnamed>");
    let sa_namespace = sa.metadata.namespace.as_deref();
    let listed: BTreeSet<&str> = sa
        .secrets
        .iter()
        .flatten()
        .filter_map(|reference| reference.name.as_deref())
        .collect();

    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut flags: Vec<CredentialFlag> = Vec::new();
    for name in listed {
        let found = inputs
            .secrets
            .iter()
            .find(|secret| is_listed(secret, name, sa_namespace));
        let Some(secret) = found else {
            errors.push(AuthError::SecretNotFound {
                service_account: sa_name.to_owned(),
                secret: name.to_owned(),
            });
            continue;
        };
        let mut examined = Examined {
            service_account: sa_name,
            secret: name,
            errors: &mut errors,
            warnings: &mut warnings,
            flags: Vec::new(),
        };
        examined.examine(secret);
        let mut secret_flags = examined.flags;
        dedup_identical(name, &mut secret_flags, &mut warnings);
        flags.extend(secret_flags);
    }
    check_conflicts(sa_name, &flags, &mut errors);
    if !errors.is_empty() {
        let problems = errors.into_iter().map(Problem::from).chain(warnings);
        return Err(problems.collect());
    }

    flags.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    let matched: BTreeSet<&str> = flags.iter().map(CredentialFlag::secret).collect();
    Ok(CredentialPlan {
        args: flags.iter().map(ToString::to_string).collect(),
        volumes: matched.iter().map(|secret| volume(secret)).collect(),
        volume_mounts: matched.iter().map(|secret| volume_mount(secret)).collect(),
        warnings: warnings.into_iter().collect(),
    })
}

/// The Secrets the ServiceAccount lists that are not among `inputs.secrets`, sorted: those
/// [`plan`] reports as not existing. A controller waits for them (the reason `SecretNotFound`)
/// rather than failing the Build.
pub fn missing_secrets<'a>(inputs: &PlanInputs<'a>) -> Vec<&'a str> {
    let namespace = inputs.service_account.metadata.namespace.as_deref();
    let listed: BTreeSet<&str> = inputs
        .service_account
        .secrets
        .iter()
        .flatten()
        .filter_map(|reference| reference.name.as_deref())
        .collect();
    listed
        .into_iter()
        .filter(|name| {
            !inputs
                .secrets
                .iter()
                .any(|secret| is_listed(secret, name, namespace))
        })
        .collect()
}

/// Whether `secret` is the Secret `name` of the ServiceAccount's namespace.
fn is_listed(secret: &Secret, name: &str, namespace: Option<&str>) -> bool {
    secret.metadata.name.as_deref() == Some(name)
        && match (namespace, secret.metadata.namespace.as_deref()) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
}

/// The volume name for a Secret: `secret-volume-<name>-<hash>`, at most 63 characters.
///
/// The name is lower-cased, characters other than letters and digits become `-`, and it is
/// cut to fit; the first 8 hex digits of the SHA-256 of the full Secret name keep names
/// that differ only in the cut or replaced part apart.
pub fn volume_name(secret: &str) -> String {
    const PREFIX: &str = "secret-volume-";
    const HASH_LEN: usize = 8;
    const MAX_LABEL: usize = 63;
    let room = MAX_LABEL - PREFIX.len() - 1 - HASH_LEN;
    let sanitized: String = secret
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(room)
        .collect();
    let digest = Sha256::digest(secret.as_bytes());
    let hash: String = digest
        .iter()
        .take(HASH_LEN / 2)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("{PREFIX}{}-{hash}", sanitized.trim_matches('-'))
}

fn volume(secret: &str) -> Volume {
    Volume {
        name: volume_name(secret),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret.to_owned()),
            ..SecretVolumeSource::default()
        }),
        ..Volume::default()
    }
}

fn volume_mount(secret: &str) -> VolumeMount {
    VolumeMount {
        name: volume_name(secret),
        mount_path: format!("{SECRET_MOUNT_BASE}/{secret}"),
        read_only: Some(true),
        ..VolumeMount::default()
    }
}

/// One Secret being looked at, with where its findings go.
struct Examined<'a> {
    service_account: &'a str,
    secret: &'a str,
    errors: &'a mut Vec<AuthError>,
    warnings: &'a mut Vec<Problem>,
    flags: Vec<CredentialFlag>,
}

impl Examined<'_> {
    fn examine(&mut self, secret: &Secret) {
        let secret_type = secret.type_.as_deref().unwrap_or("Opaque");
        let annotations: BTreeMap<&str, &str> = secret
            .metadata
            .annotations
            .iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let docker: Vec<(&str, &str)> = annotations
            .iter()
            .filter(|(k, _)| k.starts_with(DOCKER_ANNOTATION_PREFIX))
            .map(|(k, v)| (*k, *v))
            .filter(|(annotation, value)| !self.refused_docker_hub(annotation, value))
            .collect();
        let git: Vec<(&str, &str)> = annotations
            .iter()
            .filter(|(k, _)| k.starts_with(GIT_ANNOTATION_PREFIX))
            .map(|(k, v)| (*k, *v))
            .collect();

        let required: &[&str] = match secret_type {
            BASIC_AUTH => {
                for (annotation, value) in docker {
                    self.docker_annotation(annotation, value);
                }
                for (annotation, value) in git {
                    self.git_annotation(annotation, value);
                }
                &["username", "password"]
            }
            SSH_AUTH => {
                self.cannot_serve(secret_type, &docker);
                for (annotation, value) in git {
                    self.ssh_annotation(annotation, value);
                }
                &["ssh-privatekey"]
            }
            DOCKER_CONFIG_JSON => {
                self.docker_file(secret_type, ".dockerconfigjson", &annotations);
                self.flags.push(CredentialFlag::DockerConfig {
                    secret: self.secret.to_owned(),
                });
                &[".dockerconfigjson"]
            }
            DOCKER_CFG => {
                self.docker_file(secret_type, ".dockercfg", &annotations);
                self.flags.push(CredentialFlag::DockerCfg {
                    secret: self.secret.to_owned(),
                });
                &[".dockercfg"]
            }
            _ => {
                self.cannot_serve(secret_type, &docker);
                self.cannot_serve(secret_type, &git);
                &[]
            }
        };
        if !self.flags.is_empty() {
            for key in required {
                if !has_key(secret, key) {
                    self.errors.push(AuthError::MissingKey {
                        service_account: self.service_account.to_owned(),
                        secret: self.secret.to_owned(),
                        secret_type: secret_type.to_owned(),
                        key: (*key).to_owned(),
                    });
                }
            }
        }
    }

    /// Docker config Secrets need no annotation; warns about any they have.
    fn docker_file(&mut self, secret_type: &str, key: &str, annotations: &BTreeMap<&str, &str>) {
        for annotation in annotations.keys().filter(|k| {
            k.starts_with(DOCKER_ANNOTATION_PREFIX) || k.starts_with(GIT_ANNOTATION_PREFIX)
        }) {
            self.warnings.push(warning(
                self.secret.to_owned(),
                format!(
                    "annotation {annotation} ignored: Secrets of type {secret_type} are used \
                     for the registries in their {key} key"
                ),
            ));
        }
    }

    fn cannot_serve(&mut self, secret_type: &str, annotations: &[(&str, &str)]) {
        for (annotation, _) in annotations {
            self.warnings.push(warning(
                self.secret.to_owned(),
                format!(
                    "annotation {annotation} ignored: Secrets of type {secret_type} cannot serve it"
                ),
            ));
        }
    }

    fn invalid(&mut self, annotation: &str, reason: String) {
        self.errors.push(AuthError::InvalidAnnotation {
            service_account: self.service_account.to_owned(),
            secret: self.secret.to_owned(),
            annotation: annotation.to_owned(),
            reason,
        });
    }

    /// Knative Build refused a Build whose ServiceAccount listed a Secret, of any type, with a
    /// Docker annotation of exactly `index.docker.io`; so does this. Returns whether it did.
    fn refused_docker_hub(&mut self, annotation: &str, value: &str) -> bool {
        if value != REFUSED_DOCKER_HUB_VALUE {
            return false;
        }
        self.errors.push(AuthError::DockerHubUrl {
            service_account: self.service_account.to_owned(),
            secret: self.secret.to_owned(),
            annotation: annotation.to_owned(),
            value: value.to_owned(),
        });
        true
    }

    fn docker_annotation(&mut self, annotation: &str, value: &str) {
        if let Err(reason) = check_docker_url(value) {
            self.invalid(annotation, reason);
            return;
        }
        if is_other_docker_hub_spelling(value) {
            self.warnings.push(warning(
                self.secret.to_owned(),
                format!(
                    "annotation {annotation}: {value:?} is used as written, but Docker clients \
                     look up Docker Hub's credentials under {:?}",
                    crate::consts::DOCKER_HUB_URL
                ),
            ));
        }
        self.flags.push(CredentialFlag::BasicDocker {
            secret: self.secret.to_owned(),
            url: value.to_owned(),
        });
    }

    fn git_annotation(&mut self, annotation: &str, value: &str) {
        match GitUrl::parse(value) {
            Err(reason) => self.invalid(annotation, reason),
            Ok(_) => self.flags.push(CredentialFlag::BasicGit {
                secret: self.secret.to_owned(),
                url: value.to_owned(),
            }),
        }
    }

    fn ssh_annotation(&mut self, annotation: &str, value: &str) {
        match SshHost::parse(value) {
            Err(reason) => self.invalid(annotation, reason),
            Ok(_) => self.flags.push(CredentialFlag::SshGit {
                secret: self.secret.to_owned(),
                host: value.to_owned(),
            }),
        }
    }
}

fn has_key(secret: &Secret, key: &str) -> bool {
    secret.data.as_ref().is_some_and(|d| d.contains_key(key))
        || secret
            .string_data
            .as_ref()
            .is_some_and(|d| d.contains_key(key))
}

/// A warning about the Secret `secret`.
fn warning(secret: String, message: String) -> Problem {
    Problem::warning(format_args!("Secret {secret:?}"), message)
}

/// Two annotations of one Secret with the same value give one argument, and a warning.
fn dedup_identical(secret: &str, flags: &mut Vec<CredentialFlag>, warnings: &mut Vec<Problem>) {
    let mut seen = BTreeSet::new();
    flags.retain(|flag| {
        let arg = flag.to_string();
        if seen.contains(&arg) {
            warnings.push(warning(
                secret.to_owned(),
                format!(
                    "two annotations give {} credentials for {}; used once",
                    flag.kind(),
                    flag.target().unwrap_or(secret)
                ),
            ));
            false
        } else {
            seen.insert(arg);
            true
        }
    });
}

/// The key under which creds-init would store a flag's credentials, for the kinds where two
/// flags for one key conflict.
pub(crate) fn conflict_key(flag: &CredentialFlag) -> Option<String> {
    match flag {
        CredentialFlag::BasicDocker { url, .. } => Some(url.clone()),
        CredentialFlag::BasicGit { url, .. } => GitUrl::parse(url).ok().map(|u| u.normalized()),
        CredentialFlag::SshGit { host, .. } => SshHost::parse(host).ok().map(|h| h.host),
        CredentialFlag::DockerCfg { .. } | CredentialFlag::DockerConfig { .. } => None,
    }
}

fn check_conflicts(sa_name: &str, flags: &[CredentialFlag], errors: &mut Vec<AuthError>) {
    let mut seen: BTreeMap<(CredentialKind, String), &str> = BTreeMap::new();
    let mut sorted: Vec<&CredentialFlag> = flags.iter().collect();
    sorted.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    for flag in sorted {
        let Some(key) = conflict_key(flag) else {
            continue;
        };
        match seen.get(&(flag.kind(), key.clone())) {
            Some(first) => errors.push(AuthError::ConflictingAnnotations {
                service_account: sa_name.to_owned(),
                kind: flag.kind().to_string(),
                target: key,
                first_secret: (*first).to_owned(),
                second_secret: flag.secret().to_owned(),
            }),
            None => {
                seen.insert((flag.kind(), key), flag.secret());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_dns_label(name: &str) -> bool {
        !name.is_empty()
            && name.len() <= 63
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !name.starts_with('-')
            && !name.ends_with('-')
    }

    #[test]
    fn volume_names_are_dns_labels() {
        let long = "a".repeat(253);
        let dotted = format!("{}.{}", "b".repeat(60), "c".repeat(60));
        for secret in ["docker-hub", "a.b", "a-b", "x", &long, &dotted, "a-.-b"] {
            let name = volume_name(secret);
            assert!(is_dns_label(&name), "{secret} -> {name}");
        }
        assert_eq!(volume_name("docker-hub"), volume_name("docker-hub"));
        assert_ne!(volume_name("a.b"), volume_name("a-b"));
        assert_ne!(volume_name(&long), volume_name(&"a".repeat(252)));
        assert!(volume_name("docker-hub").starts_with("secret-volume-docker-hub-"));
    }
}
