//! `cli`: issue 27's acceptance on a real node: `kubectl build logs -f` follows a running Build
//! by watch through a watch the API server ends mid-build (the Builds CRD changed under it, so
//! the API server closes the old storage's watches), printing each line once and exiting 0;
//! `kubectl build list` and `list -o wide` show it; `kubectl_complete-build`, and kubectl 1.36
//! itself through it when `KUBEBUILDER_ASSETS` holds a kubectl, complete its name.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

use super::builds::{create_build, kubectl_build, ran, tools_step, wait_done};
use super::verdict::Checked;
use super::world::{NS, World};
use crate::harness::wait_until;

/// The verdict's name.
pub(super) const TITLE: &str =
    "cli: logs -f by watch through an ended watch, list, completion, on the real node";

/// The Build followed: ten numbered lines, two seconds apart.
const NAME: &str = "cli-follow";

/// The CRD whose change ends the API server's watches of Builds.
const CRD: &str = "builds.build.knative.dev";

/// Runs the scenario: a follower started on a running Build, the CRD changed and restored
/// under it, then list and completion of the finished Build.
pub(super) async fn run(world: &World, kubeconfig: &Path) -> anyhow::Result<Checked> {
    let mut checked = Checked::new();
    crate::harness::build_debug_binary("build-controller", "kubectl-build")?;
    let complete =
        crate::harness::build_debug_binary("build-controller", "kubectl_complete-build")?;
    follow_through_ended_watch(world, kubeconfig, &mut checked).await?;
    let pod = world
        .builds()
        .get(NAME)
        .await?
        .status
        .and_then(|s| s.cluster)
        .map(|c| c.pod_name)
        .unwrap_or_default();
    list(kubeconfig, &pod, &mut checked).await?;
    completion(kubeconfig, &complete, &mut checked).await?;
    Ok(checked)
}

/// `logs -f` started while the step runs; the Builds CRD gains a printer column and loses it
/// again; the follower must print lines 1 to 10 once each and exit 0.
async fn follow_through_ended_watch(
    world: &World,
    kubeconfig: &Path,
    checked: &mut Checked,
) -> anyhow::Result<()> {
    let script = "for i in 1 2 3 4 5 6 7 8 9 10; do echo line $i; sleep 2; done";
    create_build(
        world,
        json!({"apiVersion": "build.knative.dev/v1alpha1", "kind": "Build",
        "metadata": {"name": NAME}, "spec": {"steps": [tools_step("count", script)]}}),
    )
    .await?;
    let kubeconfig_owned = kubeconfig.to_owned();
    let follower =
        tokio::spawn(async move { kubectl_build(&kubeconfig_owned, &["logs", "-f", NAME]).await });
    wait_until(
        "the step to print its first lines",
        Duration::from_secs(120),
        || async {
            let out = kubectl_build(kubeconfig, &["logs", NAME]).await.ok()?;
            out.1.contains("line 2").then_some(())
        },
    )
    .await?;
    let column = change_crd_and_restore(world).await?;
    checked.note(format!(
        "the Builds CRD gained and lost the printer column {column:?} while the follower ran"
    ));
    let (code, out, err) = follower.await??;
    super::plugin::show(
        checked,
        &format!("logs -f {NAME}"),
        &(code, out.clone(), err),
    );
    checked.check(code == 0, format!("logs -f exited {code}"));
    let once_each = (1..=10).all(|i| out.matches(&format!("[count] line {i}\n")).count() == 1);
    checked.check(
        once_each,
        "every line of the step printed once, through the ended watch",
    );
    let build = wait_done(world, NAME, Duration::from_secs(60)).await?;
    let condition = super::builds::succeeded(&build);
    checked.check(
        condition.as_ref().is_some_and(|c| c["status"] == "True"),
        format!(
            "the Build succeeded: {}",
            super::builds::condition_line(condition.as_ref())
        ),
    );
    Ok(())
}

/// Adds a printer column to the Builds CRD's served version, waits, and puts the versions back
/// exactly as they were (the release's CRD stays as shipped); the column's name.
async fn change_crd_and_restore(world: &World) -> anyhow::Result<String> {
    let crds: Api<CustomResourceDefinition> = Api::all(world.client.clone());
    let crd = crds.get(CRD).await?;
    let shipped = serde_json::to_value(&crd.spec.versions)?;
    let column = "E2EWatchEnder".to_owned();
    let mut changed = shipped.clone();
    let columns = changed[0]
        .as_object_mut()
        .ok_or_else(|| anyhow::anyhow!("{CRD}: versions[0] is not an object"))?
        .entry("additionalPrinterColumns")
        .or_insert_with(|| json!([]));
    if let Some(columns) = columns.as_array_mut() {
        columns.push(json!({"name": column, "type": "string", "jsonPath": ".metadata.name"}));
    }
    set_versions(&crds, changed).await?;
    tokio::time::sleep(Duration::from_secs(6)).await;
    set_versions(&crds, shipped).await?;
    Ok(column)
}

/// Replaces the Builds CRD's `spec.versions` (a merge patch replaces a list whole).
async fn set_versions(crds: &Api<CustomResourceDefinition>, versions: Value) -> anyhow::Result<()> {
    let patch = json!({"spec": {"versions": versions}});
    crds.patch(CRD, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

/// `list` and `list -o wide` show the finished Build, its status and (wide) its pod.
async fn list(kubeconfig: &Path, pod: &str, checked: &mut Checked) -> anyhow::Result<()> {
    let plain = kubectl_build(kubeconfig, &["list"]).await?;
    super::plugin::show(checked, "list", &plain);
    let row = plain
        .1
        .lines()
        .find(|l| l.starts_with(NAME))
        .unwrap_or_default();
    checked.check(
        plain.0 == 0 && row.contains("Succeeded"),
        format!("list shows {NAME} Succeeded: {row:?}"),
    );
    let wide = kubectl_build(kubeconfig, &["list", "-o", "wide"]).await?;
    super::plugin::show(checked, "list -o wide", &wide);
    let row = wide
        .1
        .lines()
        .find(|l| l.starts_with(NAME))
        .unwrap_or_default();
    checked.check(
        wide.0 == 0 && !pod.is_empty() && row.contains(pod),
        format!("list -o wide shows the Build's pod: {row:?}"),
    );
    Ok(())
}

/// `kubectl_complete-build -n NS logs cli-` offers the Build with its status; so does
/// `kubectl __complete build …` with both binaries first on PATH, when there is a kubectl.
async fn completion(
    kubeconfig: &Path,
    complete: &Path,
    checked: &mut Checked,
) -> anyhow::Result<()> {
    let words = ["-n", NS, "logs", "cli-"];
    let mut direct = Command::new(complete);
    direct.args(words).env("KUBECONFIG", kubeconfig);
    let (_, direct, _) = ran(direct).await?;
    checked.note(format!(
        "kubectl_complete-build {}: {direct:?}",
        words.join(" ")
    ));
    checked.check(
        offers(&direct),
        format!("kubectl_complete-build offers {NAME} with its status and ends with :4"),
    );
    let Some(kubectl) = std::env::var_os("KUBEBUILDER_ASSETS")
        .map(|assets| Path::new(&assets).join("kubectl"))
        .filter(|k| k.is_file())
    else {
        checked.note("no kubectl in KUBEBUILDER_ASSETS: kubectl __complete not tried");
        return Ok(());
    };
    let bin = complete.parent().unwrap_or(Path::new("."));
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut through_kubectl = Command::new(kubectl);
    through_kubectl
        .args(["__complete", "build"])
        .args(words)
        .env("KUBECONFIG", kubeconfig)
        .env("PATH", path);
    let (_, through_kubectl, _) = ran(through_kubectl).await?;
    checked.note(format!(
        "kubectl __complete build {}: {through_kubectl:?}",
        words.join(" ")
    ));
    checked.check(
        offers(&through_kubectl),
        format!("kubectl __complete build offers {NAME} through kubectl_complete-build"),
    );
    Ok(())
}

/// Whether a completion's output offers the Build (`name<TAB>Succeeded`) and ends `:4`.
fn offers(out: &str) -> bool {
    out.lines().any(|l| l == format!("{NAME}\tSucceeded"))
        && out.lines().rfind(|l| !l.is_empty()) == Some(":4")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_completion_offers_the_build_only_with_its_status_and_the_directive() {
        assert!(offers("cli-follow\tSucceeded\n:4\n"));
        assert!(!offers("cli-follow\tSucceeded\n"));
        assert!(!offers("cli-other\tSucceeded\n:4\n"));
        assert!(!offers(":1\n"));
    }
}
