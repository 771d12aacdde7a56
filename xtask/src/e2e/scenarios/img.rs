//! `img`: an image built with buildah from the git server's repository and pushed to the
//! registry with the build-bot ServiceAccount's basic-auth credentials; the manifest, fetched
//! from a pod, proves the push (and that the registry refuses it without credentials).

use std::time::Duration;

use build_types::BuildTemplate;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, LogParams, PostParams};
use serde_json::json;

use super::builds::{create_build, expect_status, finished_evidence, wait_done, wait_pod_done};
use super::verdict::Checked;
use super::world::{NS, REGISTRY_USER, World};
use crate::e2e::images;

/// The verdict's name.
pub(super) const TITLE: &str = "img: buildah build and push to a registry with basic auth";

/// Runs the scenario: the template, the Build, and the manifest in the registry.
pub(super) async fn run(world: &World) -> anyhow::Result<Checked> {
    let mut checked = Checked::new();
    Api::<BuildTemplate>::namespaced(world.client.clone(), NS)
        .create(&PostParams::default(), &buildah_template()?)
        .await?;
    let image = format!("{}:5000/e2e/app:v1", world.registry_ip);
    let name = create_build(
        world,
        json!({
            "metadata": {"name": "img", "namespace": NS},
            "spec": {
                "serviceAccountName": "build-bot",
                "source": {"git": {"url": world.git_url(), "revision": "main"}},
                "template": {"name": "buildah", "arguments": [{"name": "IMAGE", "value": image}]},
            },
        }),
    )
    .await?;
    let build = wait_done(world, &name, Duration::from_secs(240)).await?;
    let logs = finished_evidence(world, &build, &mut checked).await;
    expect_status(&mut checked, &build, "True", None);
    let build_log = logs.get("build-step-build").cloned().unwrap_or_default();
    checked.check(
        build_log.contains("COMMIT") || build_log.contains("Successfully tagged"),
        "build-step-build does not show buildah's output",
    );
    check_manifest(world, &mut checked).await?;
    Ok(checked)
}

/// The BuildTemplate `buildah`: build the checked-out Dockerfile as `${IMAGE}` and push it,
/// with vfs storage under the Build's home (no overlay inside a container).
fn buildah_template() -> anyhow::Result<BuildTemplate> {
    let storage = [
        "--storage-driver",
        "vfs",
        "--root",
        "/builder/home/containers/storage",
        "--runroot",
        "/builder/home/containers/run",
    ];
    let build_args = [
        storage.as_slice(),
        &[
            "build",
            "--isolation",
            "chroot",
            "-f",
            "Dockerfile",
            "-t",
            "${IMAGE}",
            ".",
        ],
    ]
    .concat();
    let push_args = [
        storage.as_slice(),
        &[
            "push",
            "--tls-verify=false",
            "${IMAGE}",
            "docker://${IMAGE}",
        ],
    ]
    .concat();
    Ok(serde_json::from_value(json!({
        "metadata": {"name": "buildah", "namespace": NS},
        "spec": {
            "parameters": [{"name": "IMAGE", "description": "where the image goes"}],
            "steps": [
                {"name": "build", "image": images::BUILDAH, "securityContext": {"privileged": true},
                 "args": build_args},
                {"name": "push", "image": images::BUILDAH, "securityContext": {"privileged": true},
                 "args": push_args},
            ],
        },
    }))?)
}

/// The side effect: the manifest, fetched from a pod (the host cannot reach pod IPs) with the
/// credentials, and refused without them.
async fn check_manifest(world: &World, checked: &mut Checked) -> anyhow::Result<()> {
    let url = format!("http://{}:5000/v2/e2e/app/manifests/v1", world.registry_ip);
    let accept = "Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";
    let script = format!(
        "echo 'with credentials:'; wget -q -O- --header '{accept}' \"http://{user}:$PASSWORD@${{URL#http://}}\" && echo; echo 'without credentials:'; wget -q -O- --header '{accept}' \"$URL\" 2>&1; echo \"exit $?\"",
        user = REGISTRY_USER
    );
    let probe: Pod = serde_json::from_value(json!({
        "metadata": {"name": "registry-probe"},
        "spec": {"restartPolicy": "Never", "containers": [{
            "name": "wget", "image": images::TOOLS, "command": ["/bin/sh", "-c", script],
            "env": [{"name": "PASSWORD", "value": world.password}, {"name": "URL", "value": url}],
        }]},
    }))?;
    world.pods().create(&PostParams::default(), &probe).await?;
    wait_pod_done(world, "registry-probe").await?;
    let out = world
        .pods()
        .logs("registry-probe", &LogParams::default())
        .await?;
    checked.note(format!(
        "GET {url} from pod registry-probe:\n{}",
        out.trim()
    ));
    let (with, without) = out.split_once("without credentials:").unwrap_or((&out, ""));
    checked.check(
        with.contains("\"schemaVersion\":2") || with.contains("\"schemaVersion\": 2"),
        "no manifest with the credentials",
    );
    checked.check(
        without.contains("401") && !without.contains("schemaVersion"),
        "the registry answered without credentials",
    );
    Ok(())
}
