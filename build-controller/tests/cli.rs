//! The offline subcommands, run as a user runs them: the real binary, on the seed's YAML.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use k8s_openapi::api::core::v1::{Container, Pod};

/// The workspace root, so that paths in the output read as in the README.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate lives in the workspace")
        .to_path_buf()
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_build-controller"))
        .args(args)
        .current_dir(root())
        .env_remove("BUILD_CREDS_INIT_IMAGE")
        .env_remove("BUILD_GIT_INIT_IMAGE")
        .env_remove("BUILD_GCS_FETCHER_IMAGE")
        .env_remove("BUILD_NOP_IMAGE")
        .output()
        .expect("the build-controller binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("utf-8 output")
}

fn render_pod(args: &[&str]) -> Pod {
    let output = run(args);
    assert!(
        output.status.success(),
        "render failed: {}",
        text(&output.stderr)
    );
    serde_yaml_ng::from_str(&text(&output.stdout)).expect("render prints a Pod")
}

fn init_container<'a>(pod: &'a Pod, name: &str) -> &'a Container {
    let spec = pod.spec.as_ref().expect("pod spec");
    spec.init_containers
        .iter()
        .flatten()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no init container {name}"))
}

fn init_names(pod: &Pod) -> Vec<&str> {
    let spec = pod.spec.as_ref().expect("pod spec");
    spec.init_containers
        .iter()
        .flatten()
        .map(|c| c.name.as_str())
        .collect()
}

#[test]
fn render_buildkit() {
    let pod = render_pod(&["render", "examples/seed", "--build", "kubeval-buildkit"]);
    assert_eq!(
        init_names(&pod),
        [
            "build-step-credential-initializer",
            "build-step-git-source-0",
            "build-step-build"
        ]
    );
    let build = init_container(&pod, "build-step-build");
    assert!(
        build
            .env
            .iter()
            .flatten()
            .any(|e| e.name == "DOCKER_BUILDKIT" && e.value.as_deref() == Some("1"))
    );
    assert_eq!(
        build.args.as_deref().unwrap_or_default(),
        ["build", "-t", "garethr/kubeval", "."]
    );
    let volumes = pod.spec.as_ref().and_then(|s| s.volumes.as_ref()).unwrap();
    let socket = volumes.iter().find(|v| v.name == "docker-socket").unwrap();
    let host_path = socket.host_path.as_ref().expect("a hostPath volume");
    assert_eq!(host_path.path, "/var/run/docker.sock");
    assert_eq!(host_path.type_.as_deref(), Some("Socket"));
    insta::assert_yaml_snapshot!(pod);
}

#[test]
fn render_img() {
    let pod = render_pod(&["render", "examples/seed", "--build", "kubeval-img"]);
    assert_eq!(
        init_names(&pod),
        [
            "build-step-credential-initializer",
            "build-step-git-source-0",
            "build-step-build",
            "build-step-push"
        ]
    );
    for step in ["build-step-build", "build-step-push"] {
        let container = init_container(&pod, step);
        let privileged = container
            .security_context
            .as_ref()
            .and_then(|s| s.privileged);
        assert_eq!(privileged, Some(true), "{step} is privileged");
    }
    // The docker-hub Secret is mounted into the credential initializer and nowhere else.
    let spec = pod.spec.as_ref().unwrap();
    let secret_volume = spec
        .volumes
        .iter()
        .flatten()
        .find(|v| {
            v.secret
                .as_ref()
                .is_some_and(|s| s.secret_name.as_deref() == Some("docker-hub"))
        })
        .expect("a volume for the docker-hub Secret");
    let mounted_in: Vec<&str> = spec
        .init_containers
        .iter()
        .flatten()
        .chain(&spec.containers)
        .filter(|c| {
            c.volume_mounts
                .iter()
                .flatten()
                .any(|m| m.name == secret_volume.name)
        })
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(mounted_in, ["build-step-credential-initializer"]);
    let creds = init_container(&pod, "build-step-credential-initializer");
    assert_eq!(
        creds.args.as_deref().unwrap_or_default(),
        ["-basic-docker=docker-hub=https://index.docker.io/v1/"]
    );
    assert_eq!(spec.service_account_name.as_deref(), Some("build-bot"));
    insta::assert_yaml_snapshot!(pod);
}

#[test]
fn render_is_reproducible_and_json_matches_yaml() {
    let yaml = render_pod(&["render", "examples/seed", "--build", "kubeval-img"]);
    let again = render_pod(&["render", "examples/seed", "--build", "kubeval-img"]);
    assert_eq!(yaml, again);
    let output = run(&[
        "render",
        "examples/seed",
        "--build",
        "kubeval-img",
        "-o",
        "json",
    ]);
    assert!(output.status.success());
    let json: Pod = serde_json::from_slice(&output.stdout).expect("JSON output is a Pod");
    assert_eq!(json, yaml);
}

#[test]
fn render_all_builds_prints_one_document_each() {
    let output = run(&["render", "examples/seed"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    let pods: Vec<Pod> = serde_yaml_ng::Deserializer::from_str(&stdout)
        .map(|doc| serde::Deserialize::deserialize(doc).expect("each document is a Pod"))
        .collect();
    let names: Vec<_> = pods
        .iter()
        .filter_map(|p| p.metadata.name.as_deref())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names[0].starts_with("kubeval-buildkit-pod-"), "{names:?}");
    assert!(names[1].starts_with("kubeval-img-pod-"), "{names:?}");
}

#[test]
fn validate_seed() {
    let output = run(&["validate", "examples/seed"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    insta::assert_snapshot!(text(&output.stdout));
}

#[test]
fn validate_mis_indented_file_names_line_and_column() {
    let output = run(&[
        "validate",
        "build-types/tests/fixtures/kubeval-img-as-printed.yaml",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    // file:line:column of the first mis-indented mapping (` kind: Build`).
    assert!(
        stderr.contains("build-types/tests/fixtures/kubeval-img-as-printed.yaml:2:6: document 1:"),
        "{stderr}"
    );
    assert!(text(&output.stdout).is_empty(), "nothing loaded silently");
}

/// Writes `files` into a fresh directory and returns it.
fn scratch(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in files {
        std::fs::write(dir.path().join(name), content).unwrap();
    }
    dir
}

const BUILD_WITH_MISSING_TEMPLATE: &str = "\
apiVersion: build.knative.dev/v1alpha1
kind: Build
metadata:
  name: lost
  namespace: ci
spec:
  template:
    name: kaniko
";

#[test]
fn missing_pieces_are_named() {
    let dir = scratch(&[("build.yaml", BUILD_WITH_MISSING_TEMPLATE)]);
    let path = dir.path().to_str().unwrap();
    for subcommand in ["render", "validate"] {
        let output = run(&[subcommand, path]);
        assert_eq!(output.status.code(), Some(1), "{subcommand}");
        let all = text(&output.stdout) + &text(&output.stderr);
        assert!(
            all.contains(r#"BuildTemplate "kaniko" not found in namespace "ci""#),
            "{subcommand}: {all}"
        );
        assert!(all.contains("build.yaml:1"), "{subcommand}: {all}");
    }

    let dir = scratch(&[("sa.yaml", &robot_build_with_account("other"))]);
    let output = run(&["render", dir.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains(r#"ServiceAccount "robot" not found in namespace "default""#),
        "{}",
        text(&output.stderr)
    );
}

/// A Build running as ServiceAccount `robot`, and a ServiceAccount `account` listing the
/// Secret `absent`, which does not exist.
fn robot_build_with_account(account: &str) -> String {
    format!(
        "\
apiVersion: build.knative.dev/v1alpha1
kind: Build
metadata:
  name: robot
spec:
  serviceAccountName: robot
  steps:
  - image: busybox
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {account}
secrets:
- name: absent
"
    )
}

#[test]
fn missing_secret_is_named() {
    let dir = scratch(&[("sa.yaml", &robot_build_with_account("robot"))]);
    let output = run(&["render", dir.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(r#"Secret "absent" listed by ServiceAccount "robot" not found"#),
        "{stderr}"
    );
}

#[test]
fn unknown_build_name_is_an_error() {
    let output = run(&["render", "examples/seed", "--build", "nope"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains(r#"no Build named "nope""#));
}

const SENTINEL_USER: &str = "sentinel-user-7c1d";
const SENTINEL_PASSWORD: &str = "sentinel-pass-9f3e";

#[test]
fn secret_values_never_printed() {
    let secret = format!(
        "\
apiVersion: v1
kind: Secret
metadata:
  name: hub
  annotations:
    build.knative.dev/docker-0: https://index.docker.io/v1/
    build.knative.dev/git-0: index.docker.io
type: kubernetes.io/basic-auth
stringData:
  username: {SENTINEL_USER}
  password: {SENTINEL_PASSWORD}
---
apiVersion: v1
kind: Secret
metadata:
  name: broken
  annotations:
    build.knative.dev/docker-0: index.docker.io
type: kubernetes.io/basic-auth
stringData:
  password: {SENTINEL_PASSWORD}
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: bot
secrets:
- name: hub
- name: broken
---
apiVersion: build.knative.dev/v1alpha1
kind: Build
metadata:
  name: b
spec:
  serviceAccountName: bot
  steps:
  - image: busybox
"
    );
    let dir = scratch(&[("all.yaml", &secret)]);
    let path = dir.path().to_str().unwrap();
    for args in [
        vec!["render", path],
        vec!["render", path, "-o", "json"],
        vec!["validate", path],
    ] {
        let output = run(&args);
        let all = text(&output.stdout) + &text(&output.stderr);
        assert!(!all.contains(SENTINEL_USER), "{args:?}: {all}");
        assert!(!all.contains(SENTINEL_PASSWORD), "{args:?}: {all}");
        // The run did look at the Secret: the broken one is reported by name.
        assert!(all.contains("broken"), "{args:?}: {all}");
    }
}

/// The README shows the output of its main command; it must be the real output.
#[test]
fn readme_shows_the_real_render_output() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let start = readme
        .find("<!-- render-output:start -->\n```yaml\n")
        .expect("README has the render-output block");
    let body = &readme[start..];
    let body = &body[body.find("```yaml\n").unwrap() + "```yaml\n".len()..];
    let shown = &body[..body.find("```\n<!-- render-output:end -->").unwrap()];
    let output = run(&["render", "examples/seed", "--build", "kubeval-buildkit"]);
    assert!(output.status.success());
    assert_eq!(
        shown,
        text(&output.stdout),
        "README.md's render output is stale: paste the output of \
         `cargo run -p build-controller -- render examples/seed --build kubeval-buildkit`"
    );
}

#[test]
fn validate_warns_about_template_references_and_typos() {
    let yaml = "\
apiVersion: build.knative.dev/v1alpha1
kind: BuildTemplate
metadata:
  name: kaniko
spec:
  parameters:
  - name: IMAGE
  - name: UNUSED
    default: x
  steps:
  - name: build
    image: gcr.io/kaniko-project/executor
    args: [\"--destination=${IMAGE}\", \"--cache-dir=${CACHE}\"]
---
apiVersion: build.knative.dev/v1alpha1
kind: Build
metadata:
  name: typo
spec:
  serviceAcountName: robot
  steps:
  - image: busybox
";
    let dir = scratch(&[("t.yaml", yaml)]);
    let output = run(&["validate", dir.path().to_str().unwrap()]);
    let stdout = text(&output.stdout);
    let stderr = text(&output.stderr);
    assert!(
        output.status.success(),
        "warnings alone pass: {stdout}{stderr}"
    );
    assert!(stdout.contains("BuildTemplate kaniko: ok"), "{stdout}");
    assert!(
        stdout.contains("BuildTemplate kaniko: warning:"),
        "{stdout}"
    );
    assert!(
        stdout.contains("CACHE"),
        "unknown reference named: {stdout}"
    );
    assert!(
        stdout.contains("UNUSED"),
        "unused parameter named: {stdout}"
    );
    assert!(
        stderr.contains("unknown field spec.serviceAcountName"),
        "{stderr}"
    );
}

/// Text logs written to a file or a pipe carry no colour codes: `run` logs its start, then
/// fails on the missing kubeconfig.
#[test]
fn text_logs_to_a_pipe_have_no_colour() {
    let out = Command::new(env!("CARGO_BIN_EXE_build-controller"))
        .args([
            "run",
            "--kubeconfig",
            "/nonexistent/kubeconfig",
            "--metrics-address",
            "127.0.0.1:0",
        ])
        .env_remove("NO_COLOR")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let logs = text(&out.stdout);
    assert!(logs.contains("starting build-controller"), "{logs}");
    assert!(!logs.contains('\u{1b}'), "colour codes in {logs:?}");
    assert!(text(&out.stderr).contains("/nonexistent/kubeconfig"));
}
