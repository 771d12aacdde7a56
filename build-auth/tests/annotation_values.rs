//! Compatibility with Knative Build's Secret annotations: every `build.knative.dev/docker-*`
//! value the original accepted gives the creds-init arguments it gave, the value as written
//! (`pkg/credentials/dockercreds/creds.go`, `MatchingAnnotations`), and only the value it
//! refused, exactly `index.docker.io` (`pkg/reconciler/build/validate_build.go`,
//! `validateSecrets`), is refused here.

use build_auth::k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use build_auth::{AuthError, PlanInputs, parse_args, plan};
use build_types::Problem;

const BASIC_AUTH: &str = "kubernetes.io/basic-auth";
const SSH_AUTH: &str = "kubernetes.io/ssh-auth";

/// What the planner makes of one annotated Secret.
#[derive(Debug, PartialEq, Eq)]
enum Expected {
    /// These creds-init arguments, and no warning.
    Args(&'static [&'static str]),
    /// These arguments, and a warning that names the annotation, the value and Docker Hub's
    /// key `https://index.docker.io/v1/`.
    Warned(&'static [&'static str]),
    /// Refused, as the original refused it: Docker Hub as `index.docker.io`.
    RefusedDockerHub,
    /// Refused with this reason: values the original's creds-init could not parse either.
    Invalid(&'static str),
}

/// Plans the ServiceAccount `bot` listing one Secret `hub` of `secret_type` with the
/// `annotation: value` and the keys its type needs, and checks the outcome.
fn check(secret_type: &str, annotation: &str, value: &str, expected: &Expected) {
    let keys = if secret_type == SSH_AUTH {
        serde_json::json!({"ssh-privatekey": "not-a-real-key"})
    } else {
        serde_json::json!({"username": "someone", "password": "not-a-real-password"})
    };
    let secret: Secret = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "hub", "annotations": {annotation: value}},
        "type": secret_type,
        "stringData": keys,
    }))
    .unwrap();
    let service_account: ServiceAccount = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "bot"},
        "secrets": [{"name": "hub"}],
    }))
    .unwrap();
    let case = format!("{secret_type} {annotation}: {value:?}");
    let outcome = plan(&PlanInputs {
        service_account: &service_account,
        secrets: &[secret],
    });
    match (expected, outcome) {
        (Expected::Args(args), Ok(plan)) => {
            assert_eq!(plan.args, *args, "{case}");
            assert!(plan.warnings.is_empty(), "{case}: {:?}", plan.warnings);
            // creds-init takes every argument the planner gives it.
            parse_args(&plan.args).unwrap_or_else(|errors| panic!("{case}: {errors:?}"));
        }
        (Expected::Warned(args), Ok(plan)) => {
            assert_eq!(plan.args, *args, "{case}");
            assert_eq!(plan.warnings.len(), 1, "{case}: {:?}", plan.warnings);
            let warning = &plan.warnings.problems()[0];
            assert_eq!(warning.path, "Secret \"hub\"", "{case}");
            for part in [
                annotation,
                &format!("{value:?}"),
                "\"https://index.docker.io/v1/\"",
            ] {
                assert!(
                    warning.message.contains(part),
                    "{case}: {}",
                    warning.message
                );
            }
            parse_args(&plan.args).unwrap_or_else(|errors| panic!("{case}: {errors:?}"));
        }
        (Expected::RefusedDockerHub, Err(report)) => {
            assert_eq!(
                report.problems(),
                [Problem::from(AuthError::DockerHubUrl {
                    service_account: "bot".into(),
                    secret: "hub".into(),
                    annotation: annotation.into(),
                    value: value.into(),
                })],
                "{case}"
            );
            assert_eq!(
                report.to_string(),
                format!(
                    "serviceaccount bot: secret hub: annotation {annotation}: {value:?} is not how \
                     Docker clients name Docker Hub; use \"https://index.docker.io/v1/\""
                ),
                "{case}"
            );
        }
        (Expected::Invalid(reason), Err(report)) => {
            assert_eq!(
                report.problems(),
                [Problem::from(AuthError::InvalidAnnotation {
                    service_account: "bot".into(),
                    secret: "hub".into(),
                    annotation: annotation.into(),
                    reason: (*reason).into(),
                })],
                "{case}"
            );
        }
        (expected, outcome) => panic!("{case}: expected {expected:?}, got {outcome:?}"),
    }
}

const DOCKER: &str = "build.knative.dev/docker-0";

#[test]
fn docker_annotation_values() {
    use Expected::*;
    let table: &[(&str, Expected)] = &[
        // Docker Hub as Docker clients name it.
        (
            "https://index.docker.io/v1/",
            Args(&["-basic-docker=hub=https://index.docker.io/v1/"]),
        ),
        // The one value the original refused.
        ("index.docker.io", RefusedDockerHub),
        // Other spellings of Docker Hub: the original passed them on as written.
        (
            "https://index.docker.io",
            Warned(&["-basic-docker=hub=https://index.docker.io"]),
        ),
        (
            "https://index.docker.io/",
            Warned(&["-basic-docker=hub=https://index.docker.io/"]),
        ),
        (
            "https://index.docker.io/v1",
            Warned(&["-basic-docker=hub=https://index.docker.io/v1"]),
        ),
        (
            "https://index.docker.io/v2/",
            Warned(&["-basic-docker=hub=https://index.docker.io/v2/"]),
        ),
        (
            "index.docker.io/v1/",
            Warned(&["-basic-docker=hub=index.docker.io/v1/"]),
        ),
        (
            "http://index.docker.io/v1/",
            Warned(&["-basic-docker=hub=http://index.docker.io/v1/"]),
        ),
        (
            "INDEX.DOCKER.IO",
            Warned(&["-basic-docker=hub=INDEX.DOCKER.IO"]),
        ),
        ("docker.io", Warned(&["-basic-docker=hub=docker.io"])),
        (
            "https://docker.io",
            Warned(&["-basic-docker=hub=https://docker.io"]),
        ),
        // Other registries, in every form the original passed on.
        ("gcr.io", Args(&["-basic-docker=hub=gcr.io"])),
        (
            "https://gcr.io",
            Args(&["-basic-docker=hub=https://gcr.io"]),
        ),
        (
            "https://us.gcr.io/v1/",
            Args(&["-basic-docker=hub=https://us.gcr.io/v1/"]),
        ),
        ("quay.io", Args(&["-basic-docker=hub=quay.io"])),
        (
            "registry.example.com:5000",
            Args(&["-basic-docker=hub=registry.example.com:5000"]),
        ),
        (
            "http://localhost:5000",
            Args(&["-basic-docker=hub=http://localhost:5000"]),
        ),
        (
            "https://index.docker.io.example.com/v1/",
            Args(&["-basic-docker=hub=https://index.docker.io.example.com/v1/"]),
        ),
        // The original's creds-init split its flag on '=' and failed on these; here the
        // planner says so before a pod is made.
        (
            "https://registry.example.com/?a=b",
            Invalid("the value must not contain '=' (creds-init flags are <secret>=<url>)"),
        ),
    ];
    for (value, expected) in table {
        check(BASIC_AUTH, DOCKER, value, expected);
    }
}

/// The original's refusal looked at every listed Secret's `build.knative.dev/docker-*`
/// annotations, whatever the Secret's type, and at nothing else (its `validation_test.go`
/// cases `unrelated` and `docker-0`).
#[test]
fn the_refusal_covers_what_the_original_covered() {
    use Expected::*;
    check(SSH_AUTH, DOCKER, "index.docker.io", &RefusedDockerHub);
    check(
        "Opaque",
        "build.knative.dev/docker-7",
        "index.docker.io",
        &RefusedDockerHub,
    );
    check(BASIC_AUTH, "unrelated", "index.docker.io", &Args(&[]));
    check(BASIC_AUTH, "docker-0", "index.docker.io", &Args(&[]));
    // A git annotation is not a Docker one.
    check(
        BASIC_AUTH,
        "build.knative.dev/git-0",
        "index.docker.io",
        &Args(&["-basic-git=hub=index.docker.io"]),
    );
}

/// Git URLs Knative Build's creds-init took (anything Go's `url.Parse` takes): other schemes,
/// a user name (replaced by the Secret's), a query. Only what would break `~/.gitconfig` (a
/// quote or backslash) is refused, and what its creds-init could not parse (`=`, white space).
#[test]
fn git_annotation_values() {
    use Expected::*;
    let git = "build.knative.dev/git-0";
    let cases: [(&str, &'static [&'static str]); 6] = [
        ("https://github.com", &["-basic-git=hub=https://github.com"]),
        ("github.com", &["-basic-git=hub=github.com"]),
        (
            "ssh://github.com/org",
            &["-basic-git=hub=ssh://github.com/org"],
        ),
        (
            "git://git.example.com",
            &["-basic-git=hub=git://git.example.com"],
        ),
        (
            "https://someone@github.com/org",
            &["-basic-git=hub=https://someone@github.com/org"],
        ),
        (
            "https://github.com/org?tab",
            &["-basic-git=hub=https://github.com/org?tab"],
        ),
    ];
    for (value, args) in cases {
        check(BASIC_AUTH, git, value, &Args(args));
    }
    check(
        BASIC_AUTH,
        git,
        "https://github.com/\"x",
        &Invalid("a git URL must not contain '\"' or '\\'"),
    );
}
