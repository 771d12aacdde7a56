//! Snapshot tests of compiled pods for Builds that need no template or credentials (their steps
//! and volumes are the Build's own), and the compiler's errors.
//!
//! Each `tests/fixtures/compile/*.yaml` holds one Build; its pod is snapshotted.

use build_auth::CredentialPlan;
use build_pod::{CREDS_INIT_CONTAINER, Images, PodError, PodInputs, PodLayout, compile_pod};
use build_types::{Build, BuildSpec, Duration, TemplateInstantiationSpec, Valid};
use k8s_openapi::api::core::v1::{
    Container, EmptyDirVolumeSource, Pod, SecretVolumeSource, Volume, VolumeMount,
};

fn images() -> Images {
    Images {
        creds_init: "ghcr.io/knative-build-rs/creds-init:test".into(),
        git_init: "ghcr.io/knative-build-rs/git-init:test".into(),
        gcs_fetcher: "gcr.io/cloud-builders/gcs-fetcher:test".into(),
        nop: "ghcr.io/knative-build-rs/nop:test".into(),
    }
}

fn load(path: &std::path::Path) -> Build {
    let text = std::fs::read_to_string(path).unwrap();
    let mut build: Build =
        serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    build.spec.set_defaults();
    build
}

/// Compiles a Build whose steps and volumes are its own.
fn compile(build: &Build, credentials: &CredentialPlan) -> Result<Pod, PodError> {
    compile_pod(&PodInputs {
        build: &valid(build),
        steps: &build.spec.steps,
        volumes: &build.spec.volumes,
        credentials,
        images: &images(),
    })
}

#[test]
fn fixtures() {
    insta::glob!("fixtures/compile/*.yaml", |path| {
        let build = load(path);
        let pod = compile(&build, &CredentialPlan::default()).unwrap();
        let again = compile(&build, &CredentialPlan::default()).unwrap();
        assert_eq!(pod, again, "not deterministic");
        insta::assert_yaml_snapshot!(pod);
    });
}

/// `PodLayout`, which the status mapping and the plugin read pods by, says which container of
/// every compiled pod is which.
#[test]
fn the_layout_describes_every_compiled_pod() {
    insta::glob!("fixtures/compile/*.yaml", |path| {
        let build = load(path);
        let pod = compile(&build, &CredentialPlan::default()).unwrap();
        let names: Vec<String> = pod
            .spec
            .unwrap()
            .init_containers
            .unwrap()
            .into_iter()
            .map(|c| c.name)
            .collect();
        let layout = PodLayout::of(&build);
        let mut expected = vec![CREDS_INIT_CONTAINER.to_owned()];
        for (index, source) in build.spec.all_sources().into_iter().enumerate() {
            expected.extend(PodLayout::source_container_name(source, index));
        }
        let helpers = expected.len();
        for (index, step) in build.spec.steps.iter().enumerate() {
            expected.push(PodLayout::step_container_name(step, index));
        }
        let at = path.display();
        assert_eq!(names, expected, "{at}");
        assert_eq!(layout.helpers(), 0..helpers, "{at}");
        assert_eq!(layout.steps(names.len()), helpers..names.len(), "{at}");
        let is_helper = |i| layout.is_helper(i);
        assert!(
            (0..names.len()).all(|i| is_helper(i) == (i < helpers)),
            "{at}"
        );
    });
}

/// Every container the compiler adds (not a step, not a custom source) meets Pod Security
/// `restricted`: no escalation, no capability, RuntimeDefault seccomp, and for the
/// controller's own images a non-root user; the GCS fetcher's user is left to its image.
#[test]
fn the_containers_the_compiler_adds_meet_restricted() {
    let images = images();
    insta::glob!("fixtures/compile/*.yaml", |path| {
        let pod = compile(&load(path), &CredentialPlan::default()).unwrap();
        let spec = pod.spec.unwrap();
        let added = spec
            .init_containers
            .unwrap()
            .into_iter()
            .chain(spec.containers)
            .filter_map(|c| {
                let image = c.image.clone().unwrap_or_default();
                let ours = [&images.creds_init, &images.git_init, &images.nop].contains(&&image);
                (ours || image == images.gcs_fetcher).then_some((c, ours))
            });
        for (container, ours) in added {
            let at = format!("{}: {}", path.display(), container.name);
            let context = container.security_context.expect(&at);
            assert_eq!(context.allow_privilege_escalation, Some(false), "{at}");
            let capabilities = context.capabilities.expect(&at);
            assert_eq!(capabilities.drop, Some(vec!["ALL".to_owned()]), "{at}");
            assert_eq!(capabilities.add, None, "{at}");
            assert_eq!(
                context.seccomp_profile.expect(&at).type_,
                "RuntimeDefault",
                "{at}"
            );
            let user = ours.then_some(build_pod::HELPER_USER);
            assert_eq!(context.run_as_non_root, ours.then_some(true), "{at}");
            assert_eq!(context.run_as_user, user, "{at}");
            assert_eq!(context.run_as_group, user, "{at}");
        }
    });
}

/// The Build, validated as the composition does before compiling.
fn valid(build: &Build) -> Valid<Build> {
    build
        .clone()
        .into_valid()
        .unwrap_or_else(|report| panic!("{report}"))
}

fn step(name: &str) -> Container {
    Container {
        name: name.into(),
        image: Some("alpine".into()),
        ..Container::default()
    }
}

fn build_with_steps(steps: Vec<Container>) -> Build {
    let mut build = Build::new(
        "b",
        BuildSpec {
            steps,
            ..BuildSpec::default()
        },
    );
    build.metadata.namespace = Some("default".into());
    build.spec.set_defaults();
    build
}

fn problems(result: Result<Pod, PodError>) -> Vec<String> {
    match result {
        Err(PodError::Invalid { problems, .. }) => {
            problems.iter().map(ToString::to_string).collect()
        }
        other => panic!("expected problems, got {other:?}"),
    }
}

fn empty_dir(name: &str) -> Volume {
    Volume {
        name: name.into(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Volume::default()
    }
}

#[test]
fn reserved_and_duplicate_volume_names() {
    let mut build = build_with_steps(vec![step("a")]);
    build.spec.volumes = vec![
        empty_dir("workspace"),
        empty_dir("cache"),
        empty_dir("home"),
    ];
    let steps = std::mem::take(&mut build.spec.steps);
    build.spec.template = Some(TemplateInstantiationSpec {
        name: "tpl".into(),
        ..TemplateInstantiationSpec::default()
    });
    // as build_template::resolve returns them: the Build's volumes, then the template's
    let mut volumes = build.spec.volumes.clone();
    volumes.push(empty_dir("cache"));
    let credentials = CredentialPlan {
        volumes: vec![empty_dir("cache")],
        ..CredentialPlan::default()
    };
    let result = compile_pod(&PodInputs {
        build: &valid(&build),
        steps: &steps,
        volumes: &volumes,
        credentials: &credentials,
        images: &images(),
    });
    assert_eq!(
        problems(result),
        [
            "spec.volumes[0].name: \"workspace\" is reserved for the implicit volume mounted at /workspace",
            "spec.volumes[2].name: \"home\" is reserved for the implicit volume mounted at /builder/home",
            "template \"tpl\" volumes[0].name: \"cache\" is already used by spec.volumes[1]",
            "credentials.volumes[0].name: \"cache\" is already used by spec.volumes[1]",
        ]
    );
}

/// What validation cannot see: the resolved steps (a template's), volumes and mounts, the
/// container names they make, the credential plan, and what the pod needs of the Build.
#[test]
fn every_problem_is_reported_with_its_path() {
    let mut own = step("a");
    own.volume_mounts = Some(vec![VolumeMount {
        name: "nowhere".into(),
        mount_path: "/x".into(),
        ..VolumeMount::default()
    }]);
    let mut imageless = step("b");
    imageless.image = None;
    // The Build names a template; these are the template's steps, as resolved.
    let steps = vec![own, imageless, step("a"), step(&"x".repeat(60))];
    let mut build = build_with_steps(vec![]);
    build.spec.template = Some(TemplateInstantiationSpec {
        name: "tpl".into(),
        ..TemplateInstantiationSpec::default()
    });
    build.spec.timeout = Some(Duration::ZERO);
    build.spec.sources = vec![build_types::SourceSpec {
        git: Some(build_types::GitSourceSpec {
            url: "https://example.com/app.git".into(),
            ..Default::default()
        }),
        ..Default::default()
    }];
    let credentials = CredentialPlan {
        volume_mounts: vec![VolumeMount {
            name: "secret-missing".into(),
            mount_path: "/var/build-secrets/missing".into(),
            ..VolumeMount::default()
        }],
        ..CredentialPlan::default()
    };
    let err = compile_pod(&PodInputs {
        build: &valid(&build),
        steps: &steps,
        volumes: &[],
        credentials: &credentials,
        images: &images(),
    })
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        [
            "cannot compile a pod for build \"b\": spec.sources[0].git.revision: missing",
            "template \"tpl\" steps[1].image: missing",
            "template \"tpl\" steps[2].name: container name \"build-step-a\" is already used by template \"tpl\" steps[0]",
            &format!(
                "template \"tpl\" steps[3].name: container name \"build-step-{}\" is longer than 63 characters",
                "x".repeat(60)
            ),
            "credentials.volumeMounts[0].name: no volume named \"secret-missing\"",
            "template \"tpl\" steps[0].volumeMounts[0].name: no volume named \"nowhere\"",
            "spec.timeout: must be positive, got \"0s\"",
        ]
        .join("; ")
    );
}

#[test]
fn credentials_mount_into_the_initializer_only() {
    let build = build_with_steps(vec![step("a"), step("b")]);
    let credentials = CredentialPlan {
        args: vec!["-basic-docker=docker-hub=https://index.docker.io/v1/".into()],
        volumes: vec![Volume {
            name: "secret-volume-docker-hub".into(),
            secret: Some(SecretVolumeSource {
                secret_name: Some("docker-hub".into()),
                ..SecretVolumeSource::default()
            }),
            ..Volume::default()
        }],
        volume_mounts: vec![VolumeMount {
            name: "secret-volume-docker-hub".into(),
            mount_path: "/var/build-secrets/docker-hub".into(),
            ..VolumeMount::default()
        }],
        warnings: Default::default(),
    };
    let pod = compile(&build, &credentials).unwrap();
    let spec = pod.spec.unwrap();
    let init = spec.init_containers.unwrap();
    let mounts_secret = |c: &Container| {
        c.volume_mounts
            .iter()
            .flatten()
            .any(|m| m.name == "secret-volume-docker-hub")
    };
    assert!(mounts_secret(&init[0]));
    assert_eq!(init[0].args, Some(credentials.args.clone()));
    assert!(init[1..].iter().all(|c| !mounts_secret(c)));
    let names: Vec<_> = spec.volumes.unwrap().into_iter().map(|v| v.name).collect();
    assert_eq!(names, ["workspace", "home", "secret-volume-docker-hub"]);
}

#[test]
fn offline_build_gets_the_placeholder_uid() {
    let build = build_with_steps(vec![step("a")]);
    let pod = compile(&build, &CredentialPlan::default()).unwrap();
    let owner = &pod.metadata.owner_references.unwrap()[0];
    assert_eq!(owner.uid, build_pod::OFFLINE_UID);
    assert_eq!(owner.controller, Some(true));
    assert_eq!(pod.metadata.name, Some(build_pod::pod_name(&build)));
}

/// The API server rejects a pod whose container name is not a DNS label; the compiler says so
/// up front, naming the step, instead of leaving the controller to retry a doomed create.
#[test]
fn container_names_must_be_dns_labels() {
    let build = build_with_steps(vec![step("Build_Step"), step("push-"), step("ok-1")]);
    let problems = problems(compile(&build, &CredentialPlan::default()));
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].starts_with(
            "spec.steps[0].name: container name \"build-step-Build_Step\" is not a DNS label"
        ),
        "{problems:?}"
    );
    assert!(
        problems[1].starts_with(
            "spec.steps[1].name: container name \"build-step-push-\" is not a DNS label"
        ),
        "{problems:?}"
    );
}
