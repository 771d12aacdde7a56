//! `plugin`: issue 11's acceptance on a real node: `kubectl build run -f` of a two-step
//! Build prints both steps in order and exits 0; of a failing Build exits 1 naming the step and
//! its exit code; after a timeout, `kubectl build logs NAME` still prints the step that ran.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::builds::{kubectl_build, tools_step};
use super::verdict::Checked;

/// The verdict's name.
pub(super) const TITLE: &str = "plugin: kubectl build run -f and logs, on the real node";

/// Runs the scenario: its three cases, one after the other, with the workspace's
/// `kubectl-build` against the cluster.
pub(super) async fn run(kubeconfig: &Path) -> anyhow::Result<Checked> {
    let mut checked = Checked::new();
    crate::harness::build_debug_binary("build-controller", "kubectl-build")?;
    let dir = std::env::temp_dir().join(format!("xtask-e2e-plugin-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let plugin = Plugin { kubeconfig, dir };
    let result = async {
        two_steps(&plugin, &mut checked).await?;
        failing(&plugin, &mut checked).await?;
        timeout(&plugin, &mut checked).await
    }
    .await;
    let _ = std::fs::remove_dir_all(&plugin.dir);
    result.map(|()| checked)
}

/// `run -f` of a two-step Build prints both steps in order and exits 0.
async fn two_steps(plugin: &Plugin<'_>, checked: &mut Checked) -> anyhow::Result<()> {
    let spec = json!({"steps": [
        tools_step("first", "echo one from the first step"),
        tools_step("second", "echo two from the second step"),
    ]});
    let (code, out, _) = plugin.run_file(checked, "plugin-two", spec).await?;
    let first = out.find("[first] one from the first step");
    let second = out.find("[second] two from the second step");
    checked.check(
        code == 0,
        format!("run -f of a succeeding Build exited {code}"),
    );
    checked.check(
        matches!((first, second), (Some(a), Some(b)) if a < b),
        "both steps' output, in order, with their [step] prefixes",
    );
    Ok(())
}

/// `run -f` of a failing Build exits 1, its last line naming the step and its exit code.
async fn failing(plugin: &Plugin<'_>, checked: &mut Checked) -> anyhow::Result<()> {
    let spec = json!({"steps": [
        tools_step("ok", "echo fine"),
        tools_step("broken", "echo about to fail; exit 3"),
    ]});
    let (code, out, err) = plugin.run_file(checked, "plugin-failing", spec).await?;
    let last = out
        .lines()
        .chain(err.lines())
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .to_owned();
    checked.check(
        code == 1,
        format!("run -f of a failing Build exited {code}"),
    );
    checked.check(
        last.contains("broken") && last.contains('3'),
        format!("the last line names the failed step and its exit code: {last:?}"),
    );
    Ok(())
}

/// `run -f` of a Build that times out exits 1; `logs NAME` afterwards still prints the step
/// that ran.
async fn timeout(plugin: &Plugin<'_>, checked: &mut Checked) -> anyhow::Result<()> {
    let spec = json!({"timeout": "5s", "steps": [
        tools_step("slow", "echo started the slow step; sleep 300"),
    ]});
    let (code, _, _) = plugin.run_file(checked, "plugin-timeout", spec).await?;
    checked.check(
        code == 1,
        format!("run -f of a Build that times out exited {code}"),
    );
    let logs = kubectl_build(plugin.kubeconfig, &["logs", "plugin-timeout"]).await?;
    show(checked, "logs plugin-timeout", &logs);
    checked.check(
        logs.1.contains("[slow] started the slow step"),
        "after the timeout, logs still prints the step that ran",
    );
    Ok(())
}

/// The plugin against the cluster, with a directory for the Build files it runs.
struct Plugin<'a> {
    kubeconfig: &'a Path,
    dir: PathBuf,
}

impl Plugin<'_> {
    /// Writes Build `name` with `spec` to `<name>.yaml` and runs `kubectl build run -f` on
    /// it, noting what it printed; its exit code, stdout and stderr.
    async fn run_file(
        &self,
        checked: &mut Checked,
        name: &str,
        spec: Value,
    ) -> anyhow::Result<(i32, String, String)> {
        let build = json!({"apiVersion": "build.knative.dev/v1alpha1", "kind": "Build",
                           "metadata": {"name": name}, "spec": spec});
        let path = self.dir.join(format!("{name}.yaml"));
        std::fs::write(&path, serde_json::to_string_pretty(&build)?)?;
        let file = path.display().to_string();
        let ran = kubectl_build(self.kubeconfig, &["run", "-f", &file]).await?;
        show(checked, &format!("run -f {name}.yaml"), &ran);
        Ok(ran)
    }
}

/// Notes what `kubectl build <what>` printed, with its exit code.
pub(super) fn show(checked: &mut Checked, what: &str, (code, out, err): &(i32, String, String)) {
    checked.note(format!("kubectl build {what} (exit {code}):"));
    for line in out.lines().chain(err.lines()) {
        checked.note(format!("  | {line}"));
    }
}
