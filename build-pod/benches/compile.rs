//! How long compiling the seed's img Build (`examples/seed/kubeval-img.yaml` with the `img`
//! template and the `build-bot` ServiceAccount) into its Pod takes. The template is resolved and
//! the credentials planned once, outside the measurement: only `compile_pod` is timed.

// `criterion_group!` defines a public function it cannot document.
#![allow(missing_docs)]

use std::path::Path;

use build_auth::{PlanInputs, plan};
use build_pod::{Images, PodInputs, compile_pod};
use build_template::resolve;
use build_types::{Build, BuildTemplate};
use criterion::{Criterion, black_box, criterion_group, criterion_main};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};

fn seed(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/seed")
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn bench(c: &mut Criterion) {
    let mut build: Build = serde_yaml_ng::from_str(&seed("kubeval-img.yaml")).unwrap();
    build.spec.set_defaults();
    build.metadata.namespace = Some("default".into());
    let template: BuildTemplate = serde_yaml_ng::from_str(&seed("img.yaml")).unwrap();
    let resolved = resolve(&build.spec, Some(&template.spec)).unwrap();
    let build = build.into_valid().unwrap();

    let accounts = seed("serviceaccount.yaml");
    let mut service_account = None;
    let mut secrets = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(&accounts) {
        let value: serde_yaml_ng::Value = serde::Deserialize::deserialize(document).unwrap();
        match value.get("kind").and_then(|k| k.as_str()) {
            Some("ServiceAccount") => {
                service_account = Some(serde_yaml_ng::from_value::<ServiceAccount>(value).unwrap());
            }
            Some("Secret") => secrets.push(serde_yaml_ng::from_value::<Secret>(value).unwrap()),
            _ => {}
        }
    }
    let service_account = service_account.expect("the seed has a ServiceAccount");
    let credentials = plan(&PlanInputs {
        service_account: &service_account,
        secrets: &secrets,
    })
    .unwrap();
    let images = Images {
        creds_init: "ghcr.io/knative-build-rs/creds-init:bench".into(),
        git_init: "ghcr.io/knative-build-rs/git-init:bench".into(),
        gcs_fetcher: "gcr.io/cloud-builders/gcs-fetcher".into(),
        nop: "ghcr.io/knative-build-rs/nop:bench".into(),
    };
    let inputs = PodInputs {
        build: &build,
        steps: &resolved.steps,
        volumes: &resolved.volumes,
        credentials: &credentials,
        images: &images,
    };
    c.bench_function("compile_pod seed img", |b| {
        b.iter(|| compile_pod(black_box(&inputs)).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
