//! What the scenarios do with Builds: create one, wait for it to finish or for a step to
//! run, collect a finished Build's evidence (condition, times, pod, every container's logs),
//! check its condition, and follow it with `kubectl build logs -f` as a user would.

use crate::harness::wait_until;
use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;
use build_types::Build;
use k8s_openapi::api::core::v1::ContainerStatus;
use kube::ResourceExt;
use kube::api::{LogParams, PostParams};
use serde_json::{Value, json};

use super::verdict::Checked;
use super::world::{NS, World};
use crate::e2e::images;

pub(super) async fn create_build(world: &World, build: Value) -> anyhow::Result<String> {
    let build: Build = serde_json::from_value(build)?;
    let name = build.name_any();
    world
        .builds()
        .create(&PostParams::default(), &build)
        .await
        .with_context(|| format!("creating Build {name}"))?;
    Ok(name)
}

pub(super) fn succeeded(build: &Build) -> Option<Value> {
    let status = build.status.as_ref()?;
    let condition = status.conditions.iter().find(|c| c.type_ == "Succeeded")?;
    serde_json::to_value(condition).ok()
}

/// `Succeeded=False reason=X message=Y`.
pub(super) fn condition_line(condition: Option<&Value>) -> String {
    let Some(c) = condition else {
        return "no Succeeded condition".to_owned();
    };
    let field = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    format!(
        "Succeeded={} reason={} message={:?}",
        field("status"),
        field("reason"),
        field("message")
    )
}

/// Waits until the Build's Succeeded condition is True or False.
pub(super) async fn wait_done(
    world: &World,
    name: &str,
    timeout: Duration,
) -> anyhow::Result<Build> {
    let api = world.builds();
    wait_until(&format!("Build {name} to finish"), timeout, || async {
        let build = api.get(name).await.ok()?;
        let status = succeeded(&build)
            .and_then(|c| c.get("status").and_then(Value::as_str).map(str::to_owned));
        matches!(status.as_deref(), Some("True" | "False")).then_some(build)
    })
    .await
}

pub(super) fn pod_name(build: &Build) -> Option<String> {
    build
        .status
        .as_ref()?
        .cluster
        .as_ref()
        .map(|c| c.pod_name.clone())
        .filter(|n| !n.is_empty())
}

/// The finished Build's evidence: condition, times, pod, and every container's logs (those that
/// ran must be readable). Returns the logs by container.
pub(super) async fn finished_evidence(
    world: &World,
    build: &Build,
    checked: &mut Checked,
) -> BTreeMap<String, String> {
    let condition = succeeded(build);
    checked.note(condition_line(condition.as_ref()));
    let status = build.status.clone().unwrap_or_default();
    let time = |t: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>| {
        t.map(|t| t.0.to_string()).unwrap_or_else(|| "-".into())
    };
    checked.note(format!(
        "startTime={} completionTime={}",
        time(status.start_time.as_ref()),
        time(status.completion_time.as_ref()),
    ));
    checked.check(
        status.completion_time.is_some(),
        "completionTime is not set",
    );
    let mut logs = BTreeMap::new();
    let Some(pod_name) = pod_name(build) else {
        checked.check(false, "the Build names no pod");
        return logs;
    };
    let Ok(pod) = world.pods().get(&pod_name).await else {
        checked.check(false, format!("pod {pod_name} was not kept"));
        return logs;
    };
    let status = pod.status.clone().unwrap_or_default();
    checked.note(format!(
        "pod {pod_name} kept, phase {}",
        status.phase.unwrap_or_default()
    ));
    let states = status
        .init_container_statuses
        .unwrap_or_default()
        .into_iter()
        .chain(status.container_statuses.unwrap_or_default());
    for state in states {
        if let Some(text) = container_logs(world, &pod_name, &state, checked).await {
            logs.insert(state.name.clone(), text);
        }
    }
    logs
}

/// One container's logs, noted with its exit code (their last 8 lines); a container that ran
/// and whose logs cannot be read fails the check.
async fn container_logs(
    world: &World,
    pod_name: &str,
    state: &ContainerStatus,
    checked: &mut Checked,
) -> Option<String> {
    let ran = state
        .state
        .as_ref()
        .is_some_and(|s| s.terminated.is_some() || s.running.is_some());
    let exit = state
        .state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .map(|t| t.exit_code);
    let params = LogParams {
        container: Some(state.name.clone()),
        ..Default::default()
    };
    match world.pods().logs(pod_name, &params).await {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(8)..].join("\n");
            let exit = exit
                .map(|c| format!("exit {c}"))
                .unwrap_or_else(|| "not terminated".into());
            checked.note(format!(
                "kubectl logs {pod_name} -c {} ({exit}):\n{}",
                state.name,
                if tail.is_empty() { "(empty)" } else { &tail }
            ));
            Some(text)
        }
        Err(error) if ran => {
            checked.check(false, format!("logs of {} unreadable: {error}", state.name));
            None
        }
        Err(_) => {
            checked.note(format!("{}: never started", state.name));
            None
        }
    }
}

/// A step running `script` in the tools image's shell.
pub(super) fn tools_step(name: &str, script: &str) -> Value {
    json!({"name": name, "image": images::TOOLS, "command": ["/bin/sh", "-c", script]})
}

pub(super) fn expect_status(
    checked: &mut Checked,
    build: &Build,
    status: &str,
    reason_contains: Option<&str>,
) {
    let condition = succeeded(build).unwrap_or(Value::Null);
    let got = condition
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or("");
    checked.check(
        got == status,
        format!("Succeeded is {got}, wanted {status}"),
    );
    if let Some(reason) = reason_contains {
        let text = format!(
            "{} {}",
            condition
                .get("reason")
                .and_then(Value::as_str)
                .unwrap_or(""),
            condition
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("")
        );
        checked.check(
            text.contains(reason),
            format!("reason/message do not mention {reason}"),
        );
    }
}

pub(super) async fn wait_step_running(
    world: &World,
    build: &str,
    step: &str,
) -> anyhow::Result<String> {
    let container = format!("build-step-{step}");
    wait_until(
        &format!("step {step} of {build} running"),
        Duration::from_secs(90),
        || async {
            let b = world.builds().get(build).await.ok()?;
            let pod = pod_name(&b)?;
            let p = world.pods().get(&pod).await.ok()?;
            let running = p.status?.init_container_statuses?.iter().any(|c| {
                c.name == container && c.state.as_ref().is_some_and(|s| s.running.is_some())
            });
            running.then_some(pod)
        },
    )
    .await
}

/// A stopped Build's pod must stop too (the controller lowers its activeDeadlineSeconds): waits
/// for a terminal phase and notes how long it took.
pub(super) async fn expect_pod_stopped(world: &World, build: &Build, checked: &mut Checked) {
    let Some(pod) = pod_name(build) else { return };
    let t = Instant::now();
    match wait_pod_done(world, &pod).await {
        Ok(phase) => {
            let reason = world
                .pods()
                .get(&pod)
                .await
                .ok()
                .and_then(|p| p.status)
                .and_then(|s| s.reason)
                .unwrap_or_default();
            checked.note(format!("pod {pod} stopped: phase {phase} reason {reason} ({:.1}s after the Build finished)", t.elapsed().as_secs_f64()));
        }
        Err(error) => checked.check(false, format!("the pod did not stop: {error}")),
    }
}

pub(super) async fn wait_pod_done(world: &World, name: &str) -> anyhow::Result<String> {
    wait_until(
        &format!("pod {name} to finish"),
        Duration::from_secs(90),
        || async {
            let phase = world.pods().get(name).await.ok()?.status?.phase?;
            (phase == "Succeeded" || phase == "Failed").then_some(phase)
        },
    )
    .await
}

/// `kubectl build logs -f NAME` started now and run to its end: exit code, stdout, stderr.
pub(super) type Follower = tokio::task::JoinHandle<anyhow::Result<(i32, String, String)>>;

/// Starts following Build `name` with `kubectl build logs -f`, as a user would.
pub(super) fn follow_logs(kubeconfig: &std::path::Path, name: &str) -> Follower {
    let kubeconfig = kubeconfig.to_path_buf();
    let name = name.to_owned();
    tokio::spawn(async move { kubectl_build(&kubeconfig, &["logs", "-f", &name]).await })
}

/// Waits (at most 60 s) for the follower to end; notes what it printed; returns it.
pub(super) async fn followed(
    checked: &mut Checked,
    name: &str,
    follower: Follower,
) -> anyhow::Result<(i32, String, String)> {
    let (code, out, err) = tokio::time::timeout(Duration::from_secs(60), follower).await???;
    checked.note(format!(
        "kubectl build logs -f {name} (exit {code}):\n{}{}",
        out.trim_end(),
        if err.trim().is_empty() {
            String::new()
        } else {
            format!("\n{}", err.trim_end())
        }
    ));
    Ok((code, out, err))
}

/// Waits (at most `timeout`) until Build `name`'s Succeeded message contains `needle`;
/// returns the condition as a line.
pub(super) async fn wait_message(
    world: &World,
    name: &str,
    needle: &str,
    timeout: Duration,
) -> anyhow::Result<String> {
    wait_until(
        &format!("Build {name} to say {needle:?}"),
        timeout,
        || async {
            let build = world.builds().get(name).await.ok()?;
            let condition = succeeded(&build)?;
            let message = condition["message"].as_str().unwrap_or_default();
            message
                .contains(needle)
                .then(|| condition_line(Some(&condition)))
        },
    )
    .await
}

/// Runs `kubectl-build` (the debug build of the workspace's plugin) against the cluster with
/// `args` in namespace [`NS`]; returns its exit code, stdout and stderr.
pub(super) async fn kubectl_build(
    kubeconfig: &std::path::Path,
    args: &[&str],
) -> anyhow::Result<(i32, String, String)> {
    kubectl_build_in(kubeconfig, NS, args).await
}

/// [`kubectl_build`] in namespace `namespace`.
pub(super) async fn kubectl_build_in(
    kubeconfig: &std::path::Path,
    namespace: &str,
    args: &[&str],
) -> anyhow::Result<(i32, String, String)> {
    let binary = crate::harness::workspace_root().join("target/debug/kubectl-build");
    let mut command = Command::new(binary);
    command
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["-n", namespace, "--no-color"])
        .args(args)
        .env("NO_COLOR", "1");
    ran(command).await
}

/// Runs `command` off the async threads, its stdin closed: its exit code (-1 when a signal
/// ended it), stdout and stderr.
pub(super) async fn ran(mut command: Command) -> anyhow::Result<(i32, String, String)> {
    command.stdin(std::process::Stdio::null());
    let out = tokio::task::spawn_blocking(move || command.output()).await??;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn condition_lines() {
        assert_eq!(condition_line(None), "no Succeeded condition");
        let c = json!({"type": "Succeeded", "status": "False", "reason": "BuildTimeout", "message": "m"});
        assert_eq!(
            condition_line(Some(&c)),
            "Succeeded=False reason=BuildTimeout message=\"m\""
        );
    }
}
