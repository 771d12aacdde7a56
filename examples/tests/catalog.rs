//! The template catalog (`examples/templates/`): every template loads and lints clean, a Build
//! of each compiles into a Pod with no warning, each reports its image's digest, and the
//! unprivileged one's Pod asks for nothing Pod Security `baseline` refuses.

use std::collections::BTreeSet;

use build_pod::{Images, Offline};
use k8s_openapi::api::core::v1::{Container, Pod};

/// The catalog's templates, by name.
const TEMPLATES: [&str; 3] = ["buildkit", "buildah-privileged", "buildah"];

/// The capabilities Pod Security `baseline` lets a container add.
const BASELINE_CAPABILITIES: [&str; 13] = [
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

fn images() -> Images {
    Images {
        creds_init: "example.com/creds-init:dev".into(),
        git_init: "example.com/git-init:dev".into(),
        gcs_fetcher: "example.com/gcs-fetcher:dev".into(),
        nop: "example.com/nop:dev".into(),
    }
}

/// The catalog with one Build of each template (from a git source, as ServiceAccount
/// `build-bot` with a registry Secret), loaded offline.
fn catalog_with_builds() -> (tempfile::TempDir, Offline) {
    let dir = tempfile::tempdir().unwrap();
    let mut yaml = String::from(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: build-bot}\nsecrets: [{name: registry}]\n---\n\
         apiVersion: v1\nkind: Secret\nmetadata:\n  name: registry\n  annotations: {build.knative.dev/docker-0: https://registry.example.com}\n\
         type: kubernetes.io/basic-auth\nstringData: {username: u, password: p}\n",
    );
    for name in TEMPLATES {
        yaml.push_str(&format!(
            "---\napiVersion: build.knative.dev/v1alpha1\nkind: Build\nmetadata: {{name: {name}}}\nspec:\n  serviceAccountName: build-bot\n  \
             source: {{git: {{url: https://github.com/example/app.git, revision: main}}}}\n  \
             template: {{name: {name}, arguments: [{{name: IMAGE, value: registry.example.com/app:1}}]}}\n"
        ));
    }
    std::fs::write(dir.path().join("builds.yaml"), yaml).unwrap();
    let offline = Offline::load(&[build_examples::templates_dir(), dir.path().to_path_buf()]);
    (dir, offline)
}

fn compiled(offline: &Offline, name: &str) -> Pod {
    let rendered = offline.render(&images(), Some(name));
    let one = rendered
        .first()
        .unwrap_or_else(|| panic!("no Build {name}"));
    one.pod()
        .unwrap_or_else(|| {
            panic!(
                "Build {name} does not compile: {:?}",
                one.result.as_ref().err()
            )
        })
        .clone()
}

fn containers(pod: &Pod) -> Vec<&Container> {
    let spec = pod.spec.as_ref().unwrap();
    spec.init_containers
        .iter()
        .flatten()
        .chain(&spec.containers)
        .collect()
}

#[test]
fn every_template_and_a_build_of_each_check_clean() {
    let (_dir, offline) = catalog_with_builds();
    assert!(
        offline.loaded().errors.is_empty(),
        "{:?}",
        offline.loaded().errors
    );
    let checked = offline.validate(&images());
    let kinds: BTreeSet<(&str, &str)> = checked.iter().map(|c| (c.kind, c.name)).collect();
    for name in TEMPLATES {
        assert!(kinds.contains(&("BuildTemplate", name)), "{kinds:?}");
        assert!(kinds.contains(&("Build", name)), "{kinds:?}");
    }
    for one in &checked {
        assert!(
            one.report.is_empty(),
            "{} {} ({}): {}",
            one.kind,
            one.name,
            one.origin,
            one.report
        );
    }
}

#[test]
fn every_template_reports_the_image_and_its_digest() {
    let (_dir, offline) = catalog_with_builds();
    for name in TEMPLATES {
        let pod = compiled(&offline, name);
        let push = containers(&pod)
            .into_iter()
            .find(|c| c.name == "build-step-push")
            .unwrap_or_else(|| panic!("{name} has no step push"));
        let script = push.args.iter().flatten().cloned().collect::<String>();
        for key in ["IMAGE_URL=", "IMAGE_DIGEST="] {
            assert!(
                script.contains(key) && script.contains("/dev/termination-log"),
                "{name}'s push step does not write {key} to its termination message"
            );
        }
    }
}

#[test]
fn the_unprivileged_template_asks_for_nothing_baseline_refuses() {
    let (_dir, offline) = catalog_with_builds();
    let pod = compiled(&offline, "buildah");
    let spec = pod.spec.as_ref().unwrap();
    assert!(spec.volumes.iter().flatten().all(|v| v.host_path.is_none()));
    for flag in [spec.host_network, spec.host_pid, spec.host_ipc] {
        assert_ne!(flag, Some(true));
    }
    for container in containers(&pod) {
        let context = container.security_context.clone().unwrap_or_default();
        assert_ne!(context.privileged, Some(true), "{}", container.name);
        let capabilities = context.capabilities.clone().unwrap_or_default();
        let added = capabilities.add.unwrap_or_default();
        for capability in &added {
            assert!(
                BASELINE_CAPABILITIES.contains(&capability.as_str()),
                "{} adds {capability}",
                container.name
            );
        }
        if ["build-step-build", "build-step-push"].contains(&container.name.as_str()) {
            assert_eq!(context.allow_privilege_escalation, Some(false));
            let dropped = capabilities.drop.unwrap_or_default();
            assert!(dropped.contains(&"ALL".to_owned()), "{}", container.name);
        }
    }
}

#[test]
fn the_catalogs_buildkit_build_step_is_the_seeds_but_for_its_image() {
    let read = |path: std::path::PathBuf| -> serde_json::Value {
        serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let seed = read(build_examples::seed_dir().join("buildkit.yaml"));
    let catalog = read(build_examples::templates_dir().join("buildkit.yaml"));
    let mut step = catalog["spec"]["steps"][0].clone();
    assert_eq!(step["image"], "docker:27-cli");
    step["image"] = seed["spec"]["steps"][0]["image"].clone();
    assert_eq!(step, seed["spec"]["steps"][0]);
    assert_eq!(catalog["spec"]["volumes"], seed["spec"]["volumes"]);
    assert_eq!(catalog["metadata"]["name"], seed["metadata"]["name"]);
}
