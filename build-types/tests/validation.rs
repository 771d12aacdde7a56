//! Validation: one snapshot per rule, each showing the full report for a small input.

use std::fmt::Write as _;

use build_types::{BuildSpec, BuildTemplateSpec, Object, Report, load_str};

/// Loads `yaml`, validates every object, and returns the full report text: load errors and
/// warnings first, then one line per object (`file:line kind name: ok`, or its problems).
fn report(name: &str, yaml: &str) -> (String, Vec<Result<(), Report>>) {
    let loaded = load_str(&format!("{name}.yaml"), yaml);
    let mut out = String::new();
    for error in &loaded.errors {
        writeln!(out, "error: {error}").unwrap();
    }
    for warning in &loaded.warnings {
        writeln!(out, "warning: {warning}").unwrap();
    }
    let mut results = Vec::new();
    for object in &loaded.objects {
        let o: &Object = &object.object;
        let result = o.validate();
        match &result {
            Ok(()) => writeln!(out, "{} {} {}: ok", object.origin, o.kind(), o.name()).unwrap(),
            Err(report) => {
                writeln!(out, "{} {} {}:", object.origin, o.kind(), o.name()).unwrap();
                for problem in report {
                    writeln!(out, "  {problem}").unwrap();
                }
            }
        }
        results.push(result);
    }
    (out, results)
}

/// Snapshots the report of an input that must be rejected, by loading or by validation.
fn check(name: &str, yaml: &str) {
    let (text, results) = report(name, yaml);
    assert!(
        text.starts_with("error: ") || results.iter().any(Result::is_err),
        "{name} should be rejected:\n{text}"
    );
    insta::with_settings!({ description => yaml, omit_expression => true }, {
        insta::assert_snapshot!(name, text);
    });
}

/// Snapshots the report of an input that must load and validate without any problem.
fn check_valid(name: &str, yaml: &str) {
    let (text, results) = report(name, yaml);
    assert!(
        !results.is_empty() && results.iter().all(Result::is_ok) && !text.contains("error: "),
        "{name} should be valid:\n{text}"
    );
    insta::with_settings!({ description => yaml, omit_expression => true }, {
        insta::assert_snapshot!(name, text);
    });
}

const BUILD: &str = "apiVersion: build.knative.dev/v1alpha1\nkind: Build\n";
const TEMPLATE: &str = "apiVersion: build.knative.dev/v1alpha1\nkind: BuildTemplate\n";
const CLUSTER_TEMPLATE: &str =
    "apiVersion: build.knative.dev/v1alpha1\nkind: ClusterBuildTemplate\n";

fn build(rest: &str) -> String {
    format!("{BUILD}{rest}")
}

fn template(rest: &str) -> String {
    format!("{TEMPLATE}{rest}")
}

#[test]
fn valid_steps_build() {
    check_valid(
        "valid_steps_build",
        &build(
            "\
metadata:
  name: steps
spec:
  sources:
  - name: app
    git: {url: https://example.com/app.git, revision: main}
  - name: lib
    git: {url: https://example.com/lib.git}
    targetPath: basel
    subPath: src
  - name: other
    gcs: {type: Archive, location: gs://bucket/other.zip}
    targetPath: baselrocks
  - name: fetch
    custom: {image: fetcher}
  steps:
  - name: build
    image: busybox
  - image: busybox
  - image: busybox
  volumes:
  - name: cache
    emptyDir: {}
  timeout: 24h
",
        ),
    );
}

#[test]
fn valid_templated_build() {
    check_valid(
        "valid_templated_build",
        &build(
            "\
metadata:
  name: templated
spec:
  source:
    git: {url: https://example.com/app.git, revision: main}
  template:
    name: img
    kind: ClusterBuildTemplate
    arguments:
    - {name: IMAGE, value: example/app}
  timeout: 0s
",
        ),
    );
}

#[test]
fn valid_templates() {
    check_valid(
        "valid_templates",
        &format!(
            "{TEMPLATE}metadata: {{name: t}}\nspec:\n  parameters:\n  - name: _a.b-c\n  - name: IMAGE\n  steps:\n  - image: busybox\n---\n{CLUSTER_TEMPLATE}metadata: {{name: c}}\nspec:\n  steps:\n  - name: one\n    image: busybox\n  volumes:\n  - name: v\n    emptyDir: {{}}\n"
        ),
    );
}

#[test]
fn name_with_a_dot() {
    check(
        "name_with_a_dot",
        &build("metadata: {name: my.build}\nspec:\n  steps: [{image: busybox}]\n"),
    );
}

#[test]
fn name_too_long() {
    let name = "a".repeat(64);
    check(
        "name_too_long",
        &build(&format!(
            "metadata: {{name: {name}}}\nspec:\n  steps: [{{image: busybox}}]\n"
        )),
    );
}

#[test]
fn neither_steps_nor_template() {
    check(
        "neither_steps_nor_template",
        &build("metadata: {name: b}\nspec:\n  serviceAccountName: bot\n"),
    );
}

#[test]
fn both_steps_and_template() {
    check(
        "both_steps_and_template",
        &build(
            "metadata: {name: b}\nspec:\n  steps: [{image: busybox}]\n  template: {name: img}\n",
        ),
    );
}

#[test]
fn template_without_name() {
    check(
        "template_without_name",
        &build("metadata: {name: b}\nspec:\n  template:\n    kind: BuildTemplate\n"),
    );
}

#[test]
fn template_of_unknown_kind() {
    check(
        "template_of_unknown_kind",
        &build("metadata: {name: b}\nspec:\n  template:\n    name: img\n    kind: Template\n"),
    );
}

#[test]
fn duplicate_argument_names() {
    check(
        "duplicate_argument_names",
        &build(
            "metadata: {name: b}\nspec:\n  template:\n    name: img\n    arguments:\n    - {name: IMAGE, value: a}\n    - {name: IMAGE, value: b}\n    - {name: '', value: c}\n",
        ),
    );
}

#[test]
fn source_and_sources() {
    check(
        "source_and_sources",
        &build(
            "\
metadata: {name: b}
spec:
  source:
    git: {url: https://example.com/a.git}
  sources:
  - name: b
    git: {url: https://example.com/b.git}
    targetPath: b
  steps: [{image: busybox}]
",
        ),
    );
}

#[test]
fn source_without_git_gcs_or_custom() {
    check(
        "source_without_git_gcs_or_custom",
        &build(
            "metadata: {name: b}\nspec:\n  source: {name: nothing}\n  steps: [{image: busybox}]\n",
        ),
    );
}

#[test]
fn source_with_two_kinds() {
    check(
        "source_with_two_kinds",
        &build(
            "\
metadata: {name: b}
spec:
  sources:
  - name: two
    git: {url: https://example.com/a.git}
    gcs: {type: Archive, location: gs://b/a.zip}
  - name: three
    git: {url: https://example.com/a.git}
    gcs: {type: Manifest, location: gs://b/m.json}
    custom: {image: fetcher}
    targetPath: three
  steps: [{image: busybox}]
",
        ),
    );
}

#[test]
fn empty_git_url_gcs_location_and_custom_image() {
    check(
        "empty_git_url_gcs_location_and_custom_image",
        &build(
            "\
metadata: {name: b}
spec:
  sources:
  - name: git
    git: {url: '', revision: main}
  - name: gcs
    gcs: {type: Archive}
    targetPath: gcs
  - name: custom
    custom: {name: fetch}
  steps: [{image: busybox}]
",
        ),
    );
}

#[test]
fn duplicate_source_names() {
    check(
        "duplicate_source_names",
        &build(
            "\
metadata: {name: b}
spec:
  sources:
  - name: repo
    git: {url: https://example.com/a.git}
  - name: repo
    git: {url: https://example.com/b.git}
    targetPath: b
  steps: [{image: busybox}]
",
        ),
    );
}

#[test]
fn two_unnamed_sources() {
    check(
        "two_unnamed_sources",
        &build(
            "\
metadata: {name: b}
spec:
  sources:
  - git: {url: https://example.com/a.git}
  - git: {url: https://example.com/b.git}
    targetPath: b
  steps: [{image: busybox}]
",
        ),
    );
}

#[test]
fn two_sub_paths() {
    check(
        "two_sub_paths",
        &build(
            "\
metadata: {name: b}
spec:
  sources:
  - name: a
    git: {url: https://example.com/a.git}
    subPath: src
  - name: b
    git: {url: https://example.com/b.git}
    targetPath: b
    subPath: lib
  steps: [{image: busybox}]
",
        ),
    );
}

#[test]
fn two_sources_without_target_path() {
    check(
        "two_sources_without_target_path",
        &build(
            "\
metadata: {name: b}
spec:
  sources:
  - name: a
    git: {url: https://example.com/a.git}
  - name: custom
    custom: {image: fetcher}
  - name: b
    gcs: {type: Archive, location: gs://b/b.zip}
  steps: [{image: busybox}]
",
        ),
    );
}

#[test]
fn target_path_on_a_custom_source() {
    check(
        "target_path_on_a_custom_source",
        &build(
            "metadata: {name: b}\nspec:\n  source:\n    custom: {image: fetcher}\n    targetPath: src\n  steps: [{image: busybox}]\n",
        ),
    );
}

#[test]
fn overlapping_target_paths() {
    check(
        "overlapping_target_paths",
        &build(
            "\
metadata: {name: b}
spec:
  sources:
  - name: ab
    git: {url: https://example.com/a.git}
    targetPath: a/b
  - name: basel
    git: {url: https://example.com/a.git}
    targetPath: basel
  - name: abc
    git: {url: https://example.com/a.git}
    targetPath: a/b/c
  - name: baselrocks
    git: {url: https://example.com/a.git}
    targetPath: baselrocks
  - name: a
    git: {url: https://example.com/a.git}
    targetPath: /a/
  steps: [{image: busybox}]
",
        ),
    );
}

#[test]
fn identical_target_paths() {
    check(
        "identical_target_paths",
        &build(
            "\
metadata: {name: b}
spec:
  sources:
  - name: one
    git: {url: https://example.com/a.git}
    targetPath: src
  - name: two
    git: {url: https://example.com/a.git}
    targetPath: ./src/
  steps: [{image: busybox}]
",
        ),
    );
}

#[test]
fn target_paths_outside_the_workspace() {
    check(
        "target_paths_outside_the_workspace",
        &build(
            "\
metadata: {name: b}
spec:
  sources:
  - name: up
    git: {url: https://example.com/a.git}
    targetPath: ../etc
  - name: root
    git: {url: https://example.com/a.git}
    targetPath: /
  steps: [{image: busybox}]
",
        ),
    );
}

#[test]
fn step_without_image() {
    check(
        "step_without_image",
        &build(
            "metadata: {name: b}\nspec:\n  steps:\n  - name: one\n    image: busybox\n  - name: two\n  - name: three\n    image: ''\n",
        ),
    );
}

#[test]
fn duplicate_step_names() {
    check(
        "duplicate_step_names",
        &build(
            "metadata: {name: b}\nspec:\n  steps:\n  - {name: build, image: a}\n  - {image: b}\n  - {image: c}\n  - {name: build, image: d}\n",
        ),
    );
}

#[test]
fn duplicate_volume_names() {
    check(
        "duplicate_volume_names",
        &build(
            "metadata: {name: b}\nspec:\n  steps: [{image: busybox}]\n  volumes:\n  - {name: cache, emptyDir: {}}\n  - {name: cache, emptyDir: {}}\n  - {name: '', emptyDir: {}}\n",
        ),
    );
}

#[test]
fn timeout_too_long() {
    check(
        "timeout_too_long",
        &build("metadata: {name: b}\nspec:\n  steps: [{image: busybox}]\n  timeout: 24h0m1s\n"),
    );
}

#[test]
fn negative_timeout() {
    check(
        "negative_timeout",
        &build("metadata: {name: b}\nspec:\n  steps: [{image: busybox}]\n  timeout: -1s\n"),
    );
}

#[test]
fn templated_build_still_gets_sources_volumes_and_timeout_checked() {
    check(
        "templated_build_still_checked",
        &build(
            "\
metadata: {name: b}
spec:
  sources:
  - name: a
    git: {url: https://example.com/a.git}
    subPath: x
  - name: b
    git: {url: https://example.com/b.git}
    subPath: y
  template: {name: img}
  volumes:
  - {name: v, emptyDir: {}}
  - {name: v, emptyDir: {}}
  timeout: 25h
",
        ),
    );
}

#[test]
fn every_problem_at_once() {
    check(
        "every_problem_at_once",
        &build(
            "\
metadata:
  name: this.name.is.far.too.long.for.a.kubernetes.object.and.has.dots.in.it
spec:
  source:
    git: {url: ''}
    custom: {image: fetch}
    targetPath: x
  sources:
  - {name: a}
  - {name: a, gcs: {type: Archive, location: gs://b/a.zip}, targetPath: x/y}
  steps:
  - {name: s}
  - {name: s}
  template: {name: ''}
  volumes: [{name: v, emptyDir: {}}, {name: v, emptyDir: {}}]
  timeout: 48h
",
        ),
    );
}

#[test]
fn template_step_without_image() {
    check(
        "template_step_without_image",
        &template("metadata: {name: t}\nspec:\n  steps:\n  - name: build\n"),
    );
}

#[test]
fn template_duplicate_step_names() {
    check(
        "template_duplicate_step_names",
        &template(
            "metadata: {name: t}\nspec:\n  steps:\n  - {name: build, image: a}\n  - {name: build, image: b}\n",
        ),
    );
}

#[test]
fn template_duplicate_parameter_names() {
    check(
        "template_duplicate_parameter_names",
        &template(
            "metadata: {name: t}\nspec:\n  parameters:\n  - name: IMAGE\n  - name: IMAGE\n    default: x\n  steps: [{image: busybox}]\n",
        ),
    );
}

#[test]
fn template_invalid_parameter_names() {
    check(
        "template_invalid_parameter_names",
        &template(
            "metadata: {name: t}\nspec:\n  parameters:\n  - name: 1IMAGE\n  - name: MY IMAGE\n  - name: ''\n  - name: ok.name-1\n  steps: [{image: busybox}]\n",
        ),
    );
}

#[test]
fn template_duplicate_volume_names() {
    check(
        "template_duplicate_volume_names",
        &template(
            "metadata: {name: t}\nspec:\n  steps: [{image: busybox}]\n  volumes:\n  - {name: socket, hostPath: {path: /var/run/docker.sock}}\n  - {name: socket, emptyDir: {}}\n",
        ),
    );
}

#[test]
fn template_without_steps() {
    check(
        "template_without_steps",
        &template("metadata: {name: t}\nspec:\n  parameters: [{name: IMAGE}]\n"),
    );
}

#[test]
fn template_name_with_a_dot() {
    check(
        "template_name_with_a_dot",
        &template("metadata: {name: t.v1}\nspec:\n  steps: [{image: busybox}]\n"),
    );
}

#[test]
fn cluster_template_problems() {
    check(
        "cluster_template_problems",
        &format!(
            "{CLUSTER_TEMPLATE}metadata: {{name: c.t}}\nspec:\n  parameters: [{{name: A}}, {{name: A}}, {{name: -B}}]\n  steps: [{{name: x}}, {{name: x, image: a}}]\n  volumes: [{{name: v, emptyDir: {{}}}}, {{name: v, emptyDir: {{}}}}]\n"
        ),
    );
}

#[test]
fn specs_validate_with_paths_relative_to_themselves() {
    let spec: BuildSpec =
        serde_yaml_ng::from_str("steps: [{name: a}, {name: a, image: b}]\n").unwrap();
    assert_eq!(
        spec.validate().unwrap_err().to_string(),
        "steps[0].image: missing\nsteps[1].name: duplicate step name \"a\""
    );
    let template: BuildTemplateSpec = serde_yaml_ng::from_str("steps: [{image: b}]\n").unwrap();
    assert_eq!(template.validate(), Ok(()));
}

#[test]
fn reports_keep_a_stable_order_and_structure() {
    let spec: BuildSpec =
        serde_yaml_ng::from_str("timeout: 25h\nvolumes: [{name: v}, {name: v}]\n").unwrap();
    let report = spec.validate().unwrap_err();
    let problems: Vec<(&str, &str)> = report
        .iter()
        .map(|p| (p.path.as_str(), p.message.as_str()))
        .collect();
    assert_eq!(
        problems,
        [
            (
                "",
                "expected exactly one of steps and template, got neither"
            ),
            ("volumes[1].name", "duplicate volume name \"v\""),
            ("timeout", "25h0m0s is longer than the maximum of 24h0m0s"),
        ]
    );
    assert_eq!(report.len(), 3);
    let error = build_types::Error::from(report);
    assert!(
        error
            .to_string()
            .ends_with("timeout: 25h0m0s is longer than the maximum of 24h0m0s")
    );
}
