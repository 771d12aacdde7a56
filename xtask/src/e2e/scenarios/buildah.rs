//! `buildah`: the catalog's unprivileged template (`examples/templates/buildah.yaml`) in a
//! namespace whose Pod Security level is `baseline` (enforced, warned and audited). The Build
//! builds the repository's Dockerfile and pushes it with basic auth, and the catalog's checks
//! ([`super::catalog::check_pushed`]) prove the push and attest it. Its pod has `privileged`
//! nowhere and passes admission again without a warning (a server-side dry run of the same
//! pod with kubectl); the same dry run in a `restricted` namespace records what that level
//! refuses. A second Build of `Dockerfile.run` shows the template's documented limit: a RUN
//! instruction fails, and says why.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use build_types::Build;
use k8s_openapi::api::core::v1::{Namespace, Pod, Secret, ServiceAccount};
use kube::api::Api;
use serde_json::{Value, json};
use throwaway_cluster::Cluster;

use super::builds::{
    create_build, expect_status, finished_evidence, pod_name, ran, tools_step, wait_done,
};
use super::catalog;
use super::verdict::Checked;
use super::world::{DOCKERFILE_RUN, World, create, registry_secret};

/// The namespace at Pod Security `baseline`.
const BASELINE: &str = "e2e-baseline";
/// The namespace at Pod Security `restricted` (only dry runs go there).
const RESTRICTED: &str = "e2e-restricted";

/// The verdict's name.
pub(super) const TITLE: &str = "buildah: the catalog's unprivileged template in a Pod Security baseline namespace, pushed with basic auth, attested; a restricted Build at restricted";

/// Runs the scenario.
pub(super) async fn run(world: &World, cluster: &Cluster) -> anyhow::Result<Checked> {
    let mut checked = Checked::new();
    namespaces(world).await?;
    let world = world.elsewhere(BASELINE);
    catalog::apply_template(&world, "buildah.yaml").await?;
    let image = format!("{}:5000/e2e/app:buildah", world.registry_ip);
    let build = build(&world, "buildah", &image, "Dockerfile").await?;
    finished_evidence(&world, &build, &mut checked).await;
    expect_status(&mut checked, &build, "True", None);
    let pod = match pod_name(&build) {
        Some(name) => world.pods().get(&name).await?,
        None => anyhow::bail!("the Build names no pod"),
    };
    check_unprivileged(&pod, &mut checked);
    check_admission(cluster, &pod, &mut checked).await?;
    catalog::check_pushed(&world, cluster, &build, &image, &mut checked).await?;
    check_run_limit(&world, &mut checked).await?;
    check_restricted_build(&world.elsewhere(RESTRICTED), &mut checked).await?;
    Ok(checked)
}

/// The two namespaces, each labelled with its level, with ServiceAccount build-bot and its
/// registry Secret.
async fn namespaces(world: &World) -> anyhow::Result<()> {
    for (namespace, level) in [(BASELINE, "baseline"), (RESTRICTED, "restricted")] {
        let labels: serde_json::Map<String, Value> = ["enforce", "warn", "audit"]
            .iter()
            .map(|mode| (format!("pod-security.kubernetes.io/{mode}"), json!(level)))
            .collect();
        create(
            &Api::<Namespace>::all(world.client.clone()),
            json!({"metadata": {"name": namespace, "labels": labels}}),
        )
        .await?;
        create(
            &Api::<ServiceAccount>::namespaced(world.client.clone(), namespace),
            json!({"metadata": {"name": "build-bot"}, "secrets": [{"name": "registry-creds"}]}),
        )
        .await?;
        create(
            &Api::<Secret>::namespaced(world.client.clone(), namespace),
            registry_secret(&world.registry_ip, &world.password),
        )
        .await?;
    }
    Ok(())
}

/// A Build `name` of the template, pushing `image` built from `dockerfile`; waits until it
/// finished.
async fn build(world: &World, name: &str, image: &str, dockerfile: &str) -> anyhow::Result<Build> {
    let arguments = [
        ("IMAGE", image),
        ("DOCKERFILE", dockerfile),
        ("TLS_VERIFY", "false"),
    ];
    catalog::run_build(world, name, "buildah", &arguments).await
}

/// No container of the pod is privileged or may gain privilege, and the template's steps drop
/// every capability they do not name.
fn check_unprivileged(pod: &Pod, checked: &mut Checked) {
    let spec = pod.spec.clone().unwrap_or_default();
    let containers = spec
        .init_containers
        .unwrap_or_default()
        .into_iter()
        .chain(spec.containers);
    for container in containers {
        let context = container.security_context.clone().unwrap_or_default();
        let capabilities = context.capabilities.clone().unwrap_or_default();
        checked.note(format!(
            "{}: privileged {:?}, allowPrivilegeEscalation {:?}, capabilities add {:?} drop {:?}",
            container.name,
            context.privileged,
            context.allow_privilege_escalation,
            capabilities.add.unwrap_or_default(),
            capabilities.drop.clone().unwrap_or_default(),
        ));
        checked.check(
            context.privileged != Some(true),
            format!("{} is privileged", container.name),
        );
        if matches!(
            container.name.as_str(),
            "build-step-build" | "build-step-push"
        ) {
            checked.check(
                context.allow_privilege_escalation == Some(false)
                    && capabilities.drop.unwrap_or_default() == ["ALL"],
                format!(
                    "{} may gain privilege or keeps capabilities it does not name",
                    container.name
                ),
            );
        }
    }
}

/// The Build's pod created again, as a server-side dry run, in [`BASELINE`] (admitted, no
/// warning) and in [`RESTRICTED`] (refused: its message is noted).
async fn check_admission(
    cluster: &Cluster,
    pod: &Pod,
    checked: &mut Checked,
) -> anyhow::Result<()> {
    let kubectl = cluster.assets().join("kubectl");
    if !kubectl.exists() {
        checked.check(false, format!("no {} for the dry runs", kubectl.display()));
        return Ok(());
    }
    let mut again = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "admission-dry-run"},
        "spec": serde_json::to_value(pod.spec.clone().unwrap_or_default())?,
    });
    again["spec"]
        .as_object_mut()
        .map(|spec| spec.remove("nodeName"));
    let file = cluster.dir.join("admission-dry-run.json");
    std::fs::write(&file, again.to_string())?;
    let (code, _, stderr) = dry_run(&kubectl, &cluster.kubeconfig, BASELINE, &file).await?;
    checked.note(format!(
        "kubectl create --dry-run=server -n {BASELINE}: exit {code}{}",
        if stderr.trim().is_empty() {
            String::new()
        } else {
            format!(", {}", stderr.trim())
        }
    ));
    checked.check(code == 0, "the pod is not admitted at baseline");
    checked.check(!stderr.contains("Warning:"), "admission at baseline warned");
    let (code, _, stderr) = dry_run(&kubectl, &cluster.kubeconfig, RESTRICTED, &file).await?;
    checked.note(format!(
        "kubectl create --dry-run=server -n {RESTRICTED}: exit {code}, {}",
        stderr.trim()
    ));
    checked.check(
        code != 0 && stderr.contains("restricted"),
        "the restricted level did not refuse the pod (README says it does: update it)",
    );
    Ok(())
}

/// `kubectl create --dry-run=server -n NAMESPACE -f FILE`.
async fn dry_run(
    kubectl: &Path,
    kubeconfig: &Path,
    namespace: &str,
    file: &Path,
) -> anyhow::Result<(i32, String, String)> {
    let mut command = Command::new(kubectl);
    command
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args([
            "create",
            "--dry-run=server",
            "-o",
            "name",
            "-n",
            namespace,
            "-f",
        ])
        .arg(file);
    ran(command).await
}

/// The documented limit: a RUN instruction needs a mount namespace, which the template does
/// not allow; the Build fails at the RUN (where buildah's runner stops is in its log: the
/// catalog's README quotes both errors it can give).
async fn check_run_limit(world: &World, checked: &mut Checked) -> anyhow::Result<()> {
    let image = format!("{}:5000/e2e/app:buildah-run", world.registry_ip);
    let build = build(world, "buildah-run", &image, DOCKERFILE_RUN).await?;
    let logs = finished_evidence(world, &build, checked).await;
    expect_status(checked, &build, "False", None);
    let step = logs.get("build-step-build").cloned().unwrap_or_default();
    checked.check(
        step.contains("building at STEP \"RUN "),
        "the Build did not fail at its RUN instruction (the catalog's README says it does: update it)",
    );
    Ok(())
}

/// A Build whose one step meets Pod Security `restricted` (a non-root user, no escalation, no
/// capability, RuntimeDefault seccomp), with its credentials and git source, in [`RESTRICTED`]:
/// the pod is admitted, so the containers the controller adds meet the level too, and it
/// succeeds.
async fn check_restricted_build(world: &World, checked: &mut Checked) -> anyhow::Result<()> {
    let mut step = tools_step("show", "id; cat /workspace/hello.txt");
    step["securityContext"] = json!({
        "runAsNonRoot": true, "runAsUser": 65532, "allowPrivilegeEscalation": false,
        "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"},
    });
    let name = create_build(
        world,
        json!({
            "metadata": {"name": "restricted", "namespace": RESTRICTED},
            "spec": {
                "serviceAccountName": "build-bot",
                "source": {"git": {"url": world.git_url(), "revision": "main"}},
                "steps": [step],
            },
        }),
    )
    .await?;
    let build = wait_done(world, &name, Duration::from_secs(120)).await?;
    let logs = finished_evidence(world, &build, checked).await;
    expect_status(checked, &build, "True", None);
    checked.check(
        logs.get("build-step-show")
            .is_some_and(|log| log.contains("uid=65532") && log.contains("hello from the e2e")),
        "the restricted Build's step did not run as 65532 over the checked-out source",
    );
    Ok(())
}
