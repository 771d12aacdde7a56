//! Installs the product the way a user does: `config/release.yaml` applied as generated, every
//! object, the Deployment included ([`install`]), and the proof that it came up as shipped:
//! both replicas Ready through their probes, exactly one holding the Lease, no Pod Security
//! warning.
//!
//! `--controller host` keeps the earlier side door ([`install_on_host`]): the release without
//! its Deployment, and the controller image's binary started by the harness with a
//! TokenRequest token of the release's ServiceAccount.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DynamicObject, ListParams};
use kube::{Client, ResourceExt};
use throwaway_cluster::{Cluster, ctr, interrupted, run_quiet};

use crate::harness::release::{
    apply_objects, apply_params, apply_release, kind, release_objects, service_account_kubeconfig,
    wait_crds,
};

/// The release's namespace.
pub(crate) const RELEASE_NS: &str = "knative-build";
/// The release's Deployment, Lease and Service name.
pub(crate) const RELEASE_NAME: &str = "build-controller";
/// The label selector of the release's controller pods.
pub(crate) const CONTROLLER_SELECTOR: &str =
    "app.kubernetes.io/name=build-controller,app.kubernetes.io/component=controller";

/// The controller of the run.
pub(crate) enum Controller {
    /// The release's Deployment, with its `BUILD_IMAGE_PULL_GRACE`.
    InCluster {
        /// The Deployment's image pull grace (the binary's default when it sets none).
        image_pull_grace: String,
    },
    /// A process of the harness (`--controller host`).
    Host(HostController),
}

/// `build-controller run`'s default `--image-pull-grace` (see its `--help`).
const DEFAULT_IMAGE_PULL_GRACE: &str = "5m";

impl Controller {
    /// How long an image pull may fail before the Build fails with it.
    pub(crate) fn image_pull_grace(&self) -> std::time::Duration {
        let text = match self {
            Controller::InCluster { image_pull_grace } => image_pull_grace,
            Controller::Host(host) => &host.image_pull_grace,
        };
        text.parse::<build_types::Duration>()
            .ok()
            .and_then(build_types::Duration::to_std)
            .unwrap_or(std::time::Duration::from_secs(300))
    }

    /// Kills the controller that leads with SIGKILL, as a crash would; says what it did.
    pub(crate) async fn crash(&self, cluster: &mut Cluster) -> anyhow::Result<String> {
        match self {
            Controller::InCluster { .. } => {
                let client = cluster.admin_client().await?;
                let leader = lease_holder(&client)
                    .await?
                    .context("no replica holds the Lease")?;
                let pod = Api::<Pod>::namespaced(client, RELEASE_NS)
                    .get(&leader)
                    .await?;
                let id = container_id(&pod).context("the leader's container has no id")?;
                run_quiet(
                    ctr(&cluster.socket)
                        .args(["-n", "k8s.io", "tasks", "kill", "-s", "SIGKILL", &id]),
                )?;
                Ok(format!(
                    "killed the leading replica's controller (pod {leader}, SIGKILL through containerd)"
                ))
            }
            Controller::Host(_) => {
                let pid = cluster.kill_process("build-controller");
                Ok(format!(
                    "killed the controller (SIGKILL, pid {})",
                    pid.unwrap_or_default()
                ))
            }
        }
    }

    /// Brings the controller back after [`Self::crash`]; says how.
    pub(crate) fn recover(&self, cluster: &mut Cluster) -> anyhow::Result<String> {
        match self {
            Controller::InCluster { .. } => Ok(
                "the kubelet restarts the container; whichever replica takes the Lease goes on"
                    .to_owned(),
            ),
            Controller::Host(host) => {
                host.start(cluster)?;
                Ok("started it again".to_owned())
            }
        }
    }
}

/// The container id containerd knows the pod's first container by.
pub(crate) fn container_id(pod: &Pod) -> Option<String> {
    let status = pod.status.as_ref()?.container_statuses.as_ref()?.first()?;
    let id = status.container_id.as_deref()?;
    Some(id.trim_start_matches("containerd://").to_owned())
}

/// The Lease's holder: a controller pod's name.
pub(crate) async fn lease_holder(client: &Client) -> anyhow::Result<Option<String>> {
    let lease = Api::<Lease>::namespaced(client.clone(), RELEASE_NS)
        .get_opt(RELEASE_NAME)
        .await?;
    Ok(lease
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
        .filter(|h| !h.is_empty()))
}

/// How to (re)start the controller on the host.
pub(crate) struct HostController {
    /// The ServiceAccount kubeconfig it runs with.
    pub(crate) kubeconfig: PathBuf,
    binary: PathBuf,
    image_pull_grace: String,
}

impl HostController {
    /// Starts the controller process (again), logging to `logs/build-controller.log`.
    pub(crate) fn start(&self, cluster: &mut Cluster) -> anyhow::Result<()> {
        let port = throwaway_cluster::free_port()?;
        let mut command = Command::new(&self.binary);
        command
            .arg("run")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg(format!("--metrics-address=127.0.0.1:{port}"))
            .args([
                "--leader-election",
                "--leader-election-namespace=knative-build",
                "--leader-election-lease=build-controller",
            ])
            .arg(format!("--image-pull-grace={}", self.image_pull_grace))
            .env("POD_NAMESPACE", "knative-build")
            .env("RUST_LOG", "info")
            .env_remove("KUBECONFIG");
        cluster.spawn_appending("build-controller", &mut command)
    }
}

/// Applies the whole release as generated and waits until it runs as shipped: the CRDs
/// established, both replicas Ready through their probes, one of them holding the Lease.
/// Fails on any Pod Security warning. Returns the controller and the evidence.
pub(crate) async fn install(cluster: &mut Cluster) -> anyhow::Result<(Controller, Vec<String>)> {
    let t0 = Instant::now();
    let client = cluster.admin_client().await?;
    let yaml =
        std::fs::read_to_string(crate::harness::workspace_root().join("config/release.yaml"))?;
    let objects = release_objects(&yaml)?;
    let applied = apply_objects(&client, &objects, &apply_params()).await?;
    let mut evidence = vec![format!(
        "applied config/release.yaml as generated, {} objects: {}",
        applied.names.len(),
        applied.names.join(", ")
    )];
    if !applied.warnings.is_empty() {
        bail!("the API server warned: {}", applied.warnings.join("; "));
    }
    evidence.push(format!(
        "the API server returned no warning (Pod Security `restricted` included); the control, the same Deployment on the host's network applied as a dry run, is warned about: {}",
        pod_security_control(&client, &objects).await?
    ));
    wait_crds(&client).await?;
    let (pods, waited) = wait_replicas_ready(&client, 2).await?;
    evidence.push(format!(
        "Deployment {RELEASE_NS}/{RELEASE_NAME}: 2 of 2 replicas Ready through their probes {:.1}s after the apply: {}",
        waited.as_secs_f64(),
        pods.join(", ")
    ));
    let holder = wait_lease_holder(&client, &pods).await?;
    evidence.push(format!(
        "Lease {RELEASE_NS}/{RELEASE_NAME} held by {holder}"
    ));
    for line in &evidence {
        eprintln!("[install] {line}");
    }
    eprintln!("[install] {:>5.1}s installed", t0.elapsed().as_secs_f64());
    let image_pull_grace = deployment_env(&objects, "BUILD_IMAGE_PULL_GRACE")
        .unwrap_or_else(|| DEFAULT_IMAGE_PULL_GRACE.to_owned());
    Ok((Controller::InCluster { image_pull_grace }, evidence))
}

/// The value of `name` in the environment of the release's controller container.
fn deployment_env(objects: &[DynamicObject], name: &str) -> Option<String> {
    let deployment = objects.iter().find(|o| kind(o) == "Deployment")?;
    deployment
        .data
        .pointer("/spec/template/spec/containers/0/env")?
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)?["value"]
        .as_str()
        .map(str::to_owned)
}

/// Shows that a Pod Security warning would be seen: the release's Deployment on the host's
/// network, applied as a dry run, must be warned about. Returns the warning.
async fn pod_security_control(
    client: &Client,
    objects: &[DynamicObject],
) -> anyhow::Result<String> {
    let mut deployment = objects
        .iter()
        .find(|o| kind(o) == "Deployment")
        .cloned()
        .context("the release has a Deployment")?;
    let spec = deployment
        .data
        .pointer_mut("/spec/template/spec")
        .context("the release's Deployment has a pod template")?;
    spec["hostNetwork"] = serde_json::Value::Bool(true);
    let applied = apply_objects(client, &[deployment], &apply_params().dry_run()).await?;
    applied
        .warnings
        .into_iter()
        .find(|w| w.contains("PodSecurity"))
        .context("a pod on the host's network in the restricted namespace drew no Pod Security warning: the check for warnings proves nothing")
}

/// Waits (at most 180 s) until the release's Deployment has rolled out to `replicas` Ready
/// pods of its current template, and no other; returns their names and the time it took.
pub(crate) async fn wait_replicas_ready(
    client: &Client,
    replicas: i32,
) -> anyhow::Result<(Vec<String>, Duration)> {
    let t = Instant::now();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), RELEASE_NS);
    let pods: Api<Pod> = Api::namespaced(client.clone(), RELEASE_NS);
    loop {
        let deployment = deployments.get(RELEASE_NAME).await?;
        let generation = deployment.metadata.generation.unwrap_or_default();
        let status = deployment.status.clone().unwrap_or_default();
        let listed = pods
            .list(&ListParams::default().labels(CONTROLLER_SELECTOR))
            .await?;
        let ready: Vec<String> = listed
            .items
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none() && pod_ready(p))
            .map(ResourceExt::name_any)
            .collect();
        let rolled_out = status.observed_generation == Some(generation)
            && status.updated_replicas == Some(replicas)
            && status.ready_replicas == Some(replicas)
            && status.replicas == Some(replicas);
        if rolled_out && ready.len() == replicas as usize && listed.items.len() == replicas as usize
        {
            return Ok((ready, t.elapsed()));
        }
        if interrupted() {
            bail!("interrupted while waiting for the controller's replicas");
        }
        if t.elapsed() > Duration::from_secs(180) {
            bail!(
                "Deployment {RELEASE_NS}/{RELEASE_NAME} not rolled out to {replicas} Ready replicas after 180s: {:?}; pods: {}",
                status,
                describe_pods(&listed.items)
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Whether the pod's Ready condition is True.
pub(crate) fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// One line per pod: name, phase, and each container's state.
fn describe_pods(pods: &[Pod]) -> String {
    pods.iter()
        .map(|p| {
            let status = p.status.clone().unwrap_or_default();
            let containers: Vec<String> = status
                .container_statuses
                .unwrap_or_default()
                .iter()
                .map(|c| {
                    let state = c.state.clone().unwrap_or_default();
                    let how = if let Some(w) = state.waiting {
                        format!("waiting {}", w.reason.unwrap_or_default())
                    } else if let Some(t) = state.terminated {
                        format!("terminated {}", t.reason.unwrap_or_default())
                    } else {
                        "running".to_owned()
                    };
                    format!(
                        "{} {how} ready={} restarts={}",
                        c.name, c.ready, c.restart_count
                    )
                })
                .collect();
            format!(
                "{} {} [{}]",
                p.name_any(),
                status.phase.unwrap_or_default(),
                containers.join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Waits (at most 60 s) until one of `pods` holds the Lease; returns it.
async fn wait_lease_holder(client: &Client, pods: &[String]) -> anyhow::Result<String> {
    let t = Instant::now();
    loop {
        if let Some(holder) = lease_holder(client).await?
            && pods.contains(&holder)
        {
            return Ok(holder);
        }
        if t.elapsed() > Duration::from_secs(60) {
            bail!("no controller pod holds Lease {RELEASE_NS}/{RELEASE_NAME} after 60s");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `--controller host`: applies the release but its Deployment, and starts the controller
/// image's binary on the host under the release's ServiceAccount.
pub(crate) async fn install_on_host(
    cluster: &mut Cluster,
    bins: &Path,
    image_pull_grace: &str,
) -> anyhow::Result<(Controller, Vec<String>)> {
    let t0 = Instant::now();
    let client = cluster.admin_client().await?;
    let (names, skipped) = apply_release(&client, &crate::harness::workspace_root()).await?;
    let mut evidence = vec![format!(
        "applied config/release.yaml: {}; not applied: {}",
        names.join(", "),
        skipped.join(", ")
    )];
    let kubeconfig = cluster.dir.join("controller.kubeconfig");
    service_account_kubeconfig(&client, &cluster.api_url, &cluster.ca, &kubeconfig).await?;
    let controller = HostController {
        kubeconfig,
        binary: bins.join("build-controller"),
        image_pull_grace: image_pull_grace.to_owned(),
    };
    controller.start(cluster)?;
    evidence.push(
        "build-controller started on the host as system:serviceaccount:knative-build:build-controller (--controller host)".to_owned(),
    );
    for line in &evidence {
        eprintln!("[install] {line}");
    }
    eprintln!("[install] {:>5.1}s installed", t0.elapsed().as_secs_f64());
    Ok((Controller::Host(controller), evidence))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_container_id_without_its_runtime_prefix() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "status": {"containerStatuses": [{
                "name": "controller", "image": "i", "imageID": "", "ready": true, "restartCount": 0,
                "containerID": "containerd://0123abcd",
            }]},
        }))
        .unwrap();
        assert_eq!(container_id(&pod).as_deref(), Some("0123abcd"));
        assert_eq!(container_id(&Pod::default()), None);
    }
}
