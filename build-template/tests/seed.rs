//! The seed's Builds with the templates they name, resolved: one snapshot per Build.

use std::path::Path;

use build_template::resolve;
use build_types::k8s_openapi::api::core::v1::{Container, Volume};
use build_types::{Build, BuildTemplate};

/// What a snapshot shows: the resolved steps and volumes.
#[derive(serde::Serialize)]
struct Snapshot<'a> {
    steps: &'a [Container],
    volumes: &'a [Volume],
}

fn load<T: serde::de::DeserializeOwned>(path: &Path) -> T {
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn seed_builds_resolve() {
    insta::glob!("../../examples/seed", "kubeval-*.yaml", |path| {
        let build: Build = load(path);
        let named = build
            .spec
            .template
            .as_ref()
            .expect("the seed's builds name a template");
        let template: BuildTemplate = load(&path.with_file_name(format!("{}.yaml", named.name)));
        let resolved = resolve(&build.spec, Some(&template.spec)).unwrap();
        assert!(resolved.warnings.is_empty(), "{:?}", resolved.warnings);
        insta::assert_yaml_snapshot!(Snapshot {
            steps: &resolved.steps,
            volumes: &resolved.volumes,
        });
    });
}

#[test]
fn seed_templates_lint_clean() {
    insta::glob!("../../examples/seed", "{buildkit,img}.yaml", |path| {
        let template: BuildTemplate = load(path);
        assert!(build_template::lint_template(&template.spec).is_empty());
    });
}
