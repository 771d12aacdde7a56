//! Snapshot tests of credential plans: each `fixtures/plan/*.yaml` holds a ServiceAccount
//! and the Secrets of its namespace, and its snapshot the plan or the errors.

use std::path::Path;

use build_auth::k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use build_auth::{AuthError, CredentialPlan, PlanInputs, missing_secrets, plan};
use build_types::Problem;
use serde::Deserialize as _;

/// A ServiceAccount and Secrets, from a multi-document YAML file.
fn load(path: &Path) -> (ServiceAccount, Vec<Secret>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut service_account = None;
    let mut secrets = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(&text) {
        let value = serde_yaml_ng::Value::deserialize(document).unwrap();
        match value["kind"].as_str() {
            Some("ServiceAccount") => {
                assert!(service_account.is_none(), "two ServiceAccounts in {path:?}");
                service_account = Some(serde_yaml_ng::from_value(value).unwrap());
            }
            Some("Secret") => secrets.push(serde_yaml_ng::from_value(value).unwrap()),
            other => panic!("{path:?}: unexpected kind {other:?}"),
        }
    }
    (service_account.expect("no ServiceAccount"), secrets)
}

/// What a plan snapshot shows.
#[derive(serde::Serialize)]
enum Outcome {
    Plan(CredentialPlan),
    Errors {
        /// The report's Display, one line per error.
        errors: Vec<String>,
        /// What the controller maps to the reason `SecretNotFound`.
        missing_secrets: Vec<String>,
    },
}

fn outcome(path: &Path) -> Outcome {
    let (service_account, secrets) = load(path);
    let inputs = PlanInputs {
        service_account: &service_account,
        secrets: &secrets,
    };
    match plan(&inputs) {
        Ok(plan) => Outcome::Plan(plan),
        Err(report) => {
            assert_eq!(
                report.to_string().lines().count(),
                report.errors().count(),
                "one line per error"
            );
            Outcome::Errors {
                errors: report.to_string().lines().map(str::to_owned).collect(),
                missing_secrets: missing_secrets(&inputs)
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
            }
        }
    }
}

#[test]
fn plans() {
    insta::glob!("fixtures/plan/*.yaml", |path| {
        insta::assert_yaml_snapshot!(outcome(path));
    });
}

#[test]
fn the_seed_service_account_plans() {
    let seed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/seed/serviceaccount.yaml");
    insta::assert_yaml_snapshot!(outcome(&seed));
}

#[test]
fn missing_secrets_are_told_apart() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/plan/missing-secret.yaml");
    let (service_account, secrets) = load(&path);
    let inputs = PlanInputs {
        service_account: &service_account,
        secrets: &secrets,
    };
    let report = plan(&inputs).unwrap_err();
    assert_eq!(missing_secrets(&inputs), ["elsewhere", "not-created-yet"]);
    assert_eq!(
        report.problems()[1],
        Problem::from(AuthError::SecretNotFound {
            service_account: "build-bot".into(),
            secret: "not-created-yet".into(),
        })
    );

    let other = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/plan/errors.yaml");
    let (service_account, secrets) = load(&other);
    let inputs = PlanInputs {
        service_account: &service_account,
        secrets: &secrets,
    };
    assert!(plan(&inputs).is_err());
    assert!(missing_secrets(&inputs).is_empty());
}

#[test]
fn the_plan_does_not_depend_on_input_order() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/plan/mixed.yaml");
    let (mut service_account, mut secrets) = load(&path);
    let first = plan(&PlanInputs {
        service_account: &service_account,
        secrets: &secrets,
    })
    .unwrap();
    secrets.reverse();
    if let Some(listed) = service_account.secrets.as_mut() {
        listed.reverse();
    }
    let second = plan(&PlanInputs {
        service_account: &service_account,
        secrets: &secrets,
    })
    .unwrap();
    assert_eq!(first, second);
}

#[test]
fn volumes_and_mounts_pair_up() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/plan/mixed.yaml");
    let (service_account, secrets) = load(&path);
    let plan = plan(&PlanInputs {
        service_account: &service_account,
        secrets: &secrets,
    })
    .unwrap();
    assert_eq!(plan.volumes.len(), plan.volume_mounts.len());
    for (volume, mount) in plan.volumes.iter().zip(&plan.volume_mounts) {
        assert_eq!(volume.name, mount.name);
        let secret = volume
            .secret
            .as_ref()
            .unwrap()
            .secret_name
            .as_deref()
            .unwrap();
        assert_eq!(
            mount.mount_path,
            format!("{}/{secret}", build_auth::SECRET_MOUNT_BASE)
        );
        assert!(volume.name.len() <= 63);
        assert!(
            plan.args
                .iter()
                .any(|arg| arg.contains(&format!("={secret}"))),
            "{secret} has a volume but no argument"
        );
    }
}
