//! `plugin`: issue 11's acceptance on a real node: `kubectl build run -f` of a two-step
//! Build prints both steps in order and exits 0; of a failing Build exits 1 naming the step and
//! its exit code; after a timeout, `kubectl build logs NAME` still prints the step that ran.

use serde_json::{Value, json};

use super::builds::{kubectl_build, tools_step};
use super::verdict::Checked;

/// The verdict's name.
pub(super) const TITLE: &str = "plugin: kubectl build run -f and logs, on the real node";

/// Issue 11's acceptance on a real node: `run -f` of a two-step Build prints both steps in
/// order and exits 0; of a failing Build exits 1 naming the step and its exit code; after a
/// timeout, `logs NAME` still prints the step that ran.
pub(super) async fn run(kubeconfig: &std::path::Path) -> anyhow::Result<Checked> {
    let mut checked = Checked::new();
    crate::harness::build_debug_binary("build-controller", "kubectl-build")?;
    let dir = tempfile_dir()?;
    let write = |name: &str, spec: Value| -> anyhow::Result<String> {
        let build = json!({"apiVersion": "build.knative.dev/v1alpha1", "kind": "Build",
                           "metadata": {"name": name}, "spec": spec});
        let path = dir.join(format!("{name}.yaml"));
        std::fs::write(&path, serde_json::to_string_pretty(&build)?)?;
        Ok(path.display().to_string())
    };
    let show = |checked: &mut Checked, what: &str, (code, out, err): &(i32, String, String)| {
        checked.note(format!("kubectl build {what} (exit {code}):"));
        for line in out.lines().chain(err.lines()) {
            checked.note(format!("  | {line}"));
        }
    };

    let two = write(
        "plugin-two",
        json!({"steps": [
            tools_step("first", "echo one from the first step"),
            tools_step("second", "echo two from the second step"),
        ]}),
    )?;
    let run = kubectl_build(kubeconfig, &["run", "-f", &two]).await?;
    show(&mut checked, "run -f plugin-two.yaml", &run);
    let first = run.1.find("[first] one from the first step");
    let second = run.1.find("[second] two from the second step");
    checked.check(
        run.0 == 0,
        format!("run -f of a succeeding Build exited {}", run.0),
    );
    checked.check(
        matches!((first, second), (Some(a), Some(b)) if a < b),
        "both steps' output, in order, with their [step] prefixes",
    );

    let failing = write(
        "plugin-failing",
        json!({"steps": [
            tools_step("ok", "echo fine"),
            tools_step("broken", "echo about to fail; exit 3"),
        ]}),
    )?;
    let run = kubectl_build(kubeconfig, &["run", "-f", &failing]).await?;
    show(&mut checked, "run -f plugin-failing.yaml", &run);
    let last = run
        .1
        .lines()
        .chain(run.2.lines())
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .to_owned();
    checked.check(
        run.0 == 1,
        format!("run -f of a failing Build exited {}", run.0),
    );
    checked.check(
        last.contains("broken") && last.contains('3'),
        format!("the last line names the failed step and its exit code: {last:?}"),
    );

    let slow = write(
        "plugin-timeout",
        json!({"timeout": "5s", "steps": [
            tools_step("slow", "echo started the slow step; sleep 300"),
        ]}),
    )?;
    let run = kubectl_build(kubeconfig, &["run", "-f", &slow]).await?;
    show(&mut checked, "run -f plugin-timeout.yaml", &run);
    checked.check(
        run.0 == 1,
        format!("run -f of a Build that times out exited {}", run.0),
    );
    let logs = kubectl_build(kubeconfig, &["logs", "plugin-timeout"]).await?;
    show(&mut checked, "logs plugin-timeout", &logs);
    checked.check(
        logs.1.contains("[slow] started the slow step"),
        "after the timeout, logs still prints the step that ran",
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(checked)
}

/// A fresh temporary directory for the plugin's Build files.
fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("xtask-e2e-plugin-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
