//! How a template is applied to a Build, beyond single strings: steps, volumes, `template.env`,
//! Builds without a template, the two kinds of template, and linting.

use build_template::{Error, lint_template, resolve};
use build_types::k8s_openapi::api::core::v1::{Container, EnvVar, Volume};
use build_types::{
    ArgumentSpec, Build, BuildSpec, BuildTemplate, BuildTemplateSpec, ClusterBuildTemplate,
    TemplateInstantiationSpec, TemplateKind,
};
use build_types::{Problem, Report};

fn from_yaml<T: serde::de::DeserializeOwned>(yaml: &str) -> T {
    serde_yaml_ng::from_str(yaml).unwrap()
}

const TEMPLATE: &str = r#"
parameters:
- name: IMAGE
- name: DIR
  default: /workspace
steps:
- name: build-${IMAGE}
  image: docker
  args: ["build", "-t", "${IMAGE}", "${DIR}"]
  env:
  - name: A
    value: template-a
  - name: B
    value: template-b
- name: push
  image: docker
  args: ["push", "${IMAGE}"]
volumes:
- name: cache-${IMAGE}
  emptyDir: {}
"#;

const BUILD: &str = r#"
steps:
- name: replaced
  image: busybox
volumes:
- name: own-${IMAGE}
  persistentVolumeClaim:
    claimName: claim-${DIR}
template:
  name: t
  arguments:
  - name: IMAGE
    value: app
  env:
  - name: B
    value: build-b ${DIR}
  - name: C
    value: build-c
"#;

#[test]
fn template_replaces_steps_and_appends_volumes() {
    let template: BuildTemplateSpec = from_yaml(TEMPLATE);
    let build: BuildSpec = from_yaml(BUILD);
    let resolved = resolve(&build, Some(&template)).unwrap();
    assert!(resolved.warnings.is_empty(), "{:?}", resolved.warnings);
    let names: Vec<&str> = resolved.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["build-app", "push"]);
    let volumes: Vec<&str> = resolved.volumes.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(volumes, ["own-app", "cache-app"]);
    insta::assert_yaml_snapshot!(resolved.steps);
    insta::assert_yaml_snapshot!(resolved.volumes);
}

fn env(step: &Container) -> Vec<(&str, &str)> {
    step.env
        .iter()
        .flatten()
        .map(|v| (v.name.as_str(), v.value.as_deref().unwrap_or("")))
        .collect()
}

#[test]
fn template_env_is_merged_into_every_step() {
    let template: BuildTemplateSpec = from_yaml(TEMPLATE);
    let build: BuildSpec = from_yaml(BUILD);
    let resolved = resolve(&build, Some(&template)).unwrap();
    assert_eq!(
        env(&resolved.steps[0]),
        [
            ("A", "template-a"),
            ("B", "build-b /workspace"),
            ("C", "build-c")
        ]
    );
    assert_eq!(
        env(&resolved.steps[1]),
        [("B", "build-b /workspace"), ("C", "build-c")]
    );
}

#[test]
fn build_without_template_is_not_substituted() {
    let build: BuildSpec = from_yaml(
        r#"
steps:
- name: own-${X}
  image: busybox
  args: ["${X}", "$${X}"]
  env:
  - name: A
    value: ${X}
volumes:
- name: v-${X}
  emptyDir: {}
"#,
    );
    let resolved = resolve(&build, None).unwrap();
    assert_eq!(resolved.steps, build.steps);
    assert_eq!(resolved.volumes, build.volumes);
    assert!(resolved.warnings.is_empty(), "{:?}", resolved.warnings);
}

#[test]
fn build_template_and_cluster_build_template_behave_the_same() {
    let namespaced: BuildTemplate = from_yaml(&format!(
        "apiVersion: build.knative.dev/v1alpha1\nkind: BuildTemplate\nmetadata:\n  name: t\nspec:\n{}",
        indent(TEMPLATE)
    ));
    let cluster: ClusterBuildTemplate = from_yaml(&format!(
        "apiVersion: build.knative.dev/v1alpha1\nkind: ClusterBuildTemplate\nmetadata:\n  name: t\nspec:\n{}",
        indent(TEMPLATE)
    ));
    let mut build: BuildSpec = from_yaml(BUILD);
    let from_namespaced = resolve(&build, Some(&namespaced.spec)).unwrap();
    build.template.as_mut().unwrap().kind = Some(TemplateKind::ClusterBuildTemplate);
    let from_cluster = resolve(&build, Some(cluster.template_spec())).unwrap();
    assert_eq!(from_namespaced, from_cluster);
    assert_eq!(from_cluster.steps[0].name, "build-app");
}

fn indent(yaml: &str) -> String {
    yaml.lines().map(|line| format!("  {line}\n")).collect()
}

#[test]
fn template_must_be_supplied_when_named_and_only_then() {
    let mut build: BuildSpec = from_yaml(BUILD);
    build.template.as_mut().unwrap().kind = Some(TemplateKind::ClusterBuildTemplate);
    let report = resolve(&build, None).unwrap_err();
    assert_eq!(
        report.problems(),
        [Problem::from(Error::TemplateNotSupplied {
            kind: TemplateKind::ClusterBuildTemplate,
            name: "t".into()
        })]
    );
    assert_eq!(
        report.to_string(),
        r#"build.template.name: the build names ClusterBuildTemplate "t" but the template was not supplied"#
    );

    let template: BuildTemplateSpec = from_yaml(TEMPLATE);
    let report = resolve(&BuildSpec::default(), Some(&template)).unwrap_err();
    assert_eq!(
        report.to_string(),
        "build.template: a template was supplied but the build names none"
    );
}

#[test]
fn report_collects_every_error_one_line_each() {
    let template: BuildTemplateSpec = from_yaml(
        r#"
parameters:
- name: IMAGE
  description: Where to publish the resulting image.
- name: TAG
  description: "  "
steps:
- name: s
  args: ["${A${B}}", "${HOME}"]
volumes:
- name: ${X${Y}}
"#,
    );
    let build = BuildSpec {
        template: Some(TemplateInstantiationSpec {
            name: "t".into(),
            arguments: vec![
                ArgumentSpec {
                    name: "IMAGEE".into(),
                    value: "secret-looking-value".into(),
                },
                ArgumentSpec {
                    name: "IMAGEE".into(),
                    value: "secret-looking-value".into(),
                },
            ],
            env: vec![EnvVar {
                name: "E".into(),
                value: Some("${E${F}}".into()),
                value_from: None,
            }],
            ..Default::default()
        }),
        volumes: vec![Volume {
            name: "${HOME}".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let report: Report = resolve(&build, Some(&template)).unwrap_err();
    let text = report.to_string();
    assert!(!text.contains("secret-looking-value"), "{text}");
    insta::assert_snapshot!(text);
    let warnings: Vec<String> = report.warnings().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        [
            "steps[0].args[1]: unknown parameter ${HOME} left as written",
            "build.volumes[0].name: unknown parameter ${HOME} left as written",
        ]
    );
}

#[test]
fn lint_reports_unknown_references_and_unused_parameters() {
    let template: BuildTemplateSpec = from_yaml(
        r#"
parameters:
- name: IMAGE
- name: UNUSED
  default: x
- name: ESCAPED
- name: IMAGE
steps:
- name: s
  image: ${IMAGE}
  args: ["${HOME}", "$${ESCAPED}", "${A${B}}", "${1}", "tail ${X"]
volumes:
- name: v
  configMap:
    name: ${CONFIG}
"#,
    );
    let warnings: Vec<String> = lint_template(&template)
        .iter()
        .map(ToString::to_string)
        .collect();
    insta::assert_yaml_snapshot!(warnings);
}

#[test]
fn seed_style_build_from_a_full_build_resource() {
    // The whole resource loads straight into the types; resolve takes its spec.
    let build: Build = from_yaml(
        r#"
apiVersion: build.knative.dev/v1alpha1
kind: Build
metadata:
  name: b
spec:
  template:
    name: t
    arguments:
    - name: IMAGE
      value: app
"#,
    );
    let template: BuildTemplateSpec = from_yaml(TEMPLATE);
    let resolved = resolve(&build.spec, Some(&template)).unwrap();
    assert_eq!(resolved.steps[1].args.as_deref().unwrap(), ["push", "app"]);
}
