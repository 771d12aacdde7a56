//! Snapshot tests of pods compiled from YAML the way the controller does it: the template
//! resolved by `build_template::resolve`, the credentials planned by `build_auth::plan`, then
//! `compile_pod`.
//!
//! The seed's Builds come from `examples/seed/`; the other cases are the multi-document files in
//! `tests/fixtures/resolved/` (a Build, and the template, ServiceAccount and Secrets it uses).

use std::path::{Path, PathBuf};

use build_auth::{CredentialPlan, PlanInputs, plan};
use build_pod::{Images, PodInputs, compile_pod};
use build_template::resolve;
use build_types::{Build, BuildTemplate};
use k8s_openapi::api::core::v1::{Pod, Secret, ServiceAccount};
use serde::de::DeserializeOwned;

fn images() -> Images {
    Images {
        creds_init: "ghcr.io/knative-build-rs/creds-init:test".into(),
        git_init: "ghcr.io/knative-build-rs/git-init:test".into(),
        gcs_fetcher: "gcr.io/cloud-builders/gcs-fetcher:test".into(),
        nop: "ghcr.io/knative-build-rs/nop:test".into(),
    }
}

fn seed(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/seed")
        .join(file)
}

/// Every object in the files, sorted by kind.
#[derive(Default)]
struct Objects {
    builds: Vec<Build>,
    templates: Vec<BuildTemplate>,
    service_accounts: Vec<ServiceAccount>,
    secrets: Vec<Secret>,
}

fn typed<T: DeserializeOwned>(value: serde_yaml_ng::Value, path: &Path) -> T {
    serde_yaml_ng::from_value(value).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn load(paths: &[PathBuf]) -> Objects {
    let mut objects = Objects::default();
    for path in paths {
        let text = std::fs::read_to_string(path).unwrap();
        for document in serde_yaml_ng::Deserializer::from_str(&text) {
            let value: serde_yaml_ng::Value = serde::Deserialize::deserialize(document).unwrap();
            match value.get("kind").and_then(|k| k.as_str()) {
                Some("Build") => objects.builds.push(typed(value, path)),
                Some("BuildTemplate") => objects.templates.push(typed(value, path)),
                Some("ServiceAccount") => objects.service_accounts.push(typed(value, path)),
                Some("Secret") => objects.secrets.push(typed(value, path)),
                None if value.is_null() => {}
                other => panic!("{}: unexpected kind {other:?}", path.display()),
            }
        }
    }
    objects
}

/// The pod for the one Build in `paths`, as the controller would compile it, and its plan.
fn render(paths: &[PathBuf]) -> (Pod, CredentialPlan) {
    let objects = load(paths);
    let [build] = objects.builds.as_slice() else {
        panic!("{paths:?}: expected one Build");
    };
    let mut build = build.clone();
    build.spec.set_defaults();
    build
        .metadata
        .namespace
        .get_or_insert_with(|| "default".into());

    let template = build.spec.template.as_ref().map(|t| {
        let found = objects
            .templates
            .iter()
            .find(|bt| bt.metadata.name.as_deref() == Some(t.name.as_str()))
            .unwrap_or_else(|| panic!("{paths:?}: no template {:?}", t.name));
        found.spec.clone()
    });
    let resolved = resolve(&build.spec, template.as_ref()).unwrap_or_else(|e| panic!("{e}"));
    assert!(resolved.warnings.is_empty(), "{:?}", resolved.warnings);

    let account = build.spec.service_account().to_owned();
    let service_account = objects
        .service_accounts
        .iter()
        .find(|sa| sa.metadata.name.as_deref() == Some(account.as_str()))
        .cloned()
        .unwrap_or_else(|| {
            // The implicit `default` account, with no Secrets.
            assert_eq!(account, "default", "{paths:?}: no ServiceAccount {account}");
            let mut sa = ServiceAccount::default();
            sa.metadata.name = Some(account.clone());
            sa
        });
    let credentials = plan(&PlanInputs {
        service_account: &service_account,
        secrets: &objects.secrets,
    })
    .unwrap_or_else(|e| panic!("{e}"));

    let pod = compile_pod(&PodInputs {
        build: &build.clone().into_valid().unwrap_or_else(|r| panic!("{r}")),
        steps: &resolved.steps,
        volumes: &resolved.volumes,
        credentials: &credentials,
        images: &images(),
    })
    .unwrap_or_else(|e| panic!("{e}"));
    (pod, credentials)
}

#[test]
fn seed_buildkit() {
    let (pod, credentials) = render(&[seed("kubeval-buildkit.yaml"), seed("buildkit.yaml")]);
    assert_eq!(credentials, CredentialPlan::default());
    insta::assert_yaml_snapshot!(pod);
}

#[test]
fn seed_img() {
    let (pod, credentials) = render(&[
        seed("kubeval-img.yaml"),
        seed("img.yaml"),
        seed("serviceaccount.yaml"),
    ]);
    assert_eq!(
        credentials.args,
        ["-basic-docker=docker-hub=https://index.docker.io/v1/"]
    );
    insta::assert_yaml_snapshot!(pod);
}

#[test]
fn resolved_fixtures() {
    insta::glob!("fixtures/resolved/*.yaml", |path| {
        let (pod, _) = render(&[path.to_owned()]);
        let yaml = serde_yaml_ng::to_string(&pod).unwrap();
        assert!(!yaml.contains("SENTINEL"), "a secret value reached the pod");
        insta::assert_yaml_snapshot!(pod);
    });
}
