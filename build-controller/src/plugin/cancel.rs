//! `kubectl build cancel BUILD`: ask the controller to stop a Build, and wait until it has.

use build_types::ConditionStatus;
use clap::Args;
use kube::api::{Patch, PatchParams};
use serde_json::json;

use super::error::PluginError;
use super::exit::PluginExit;
use super::io::Io;
use super::session::Session;
use super::steps::{is_done, succeeded};
use super::watch::Watched;

/// `kubectl build cancel`.
#[derive(Args, Clone, Debug)]
pub struct CancelArgs {
    /// The Build's name.
    pub build: String,
    /// Only ask for the cancel (set `spec.status: BuildCancelled`); do not wait until the Build
    /// reports it.
    #[arg(long)]
    pub no_wait: bool,
}

/// Sets `spec.status: BuildCancelled` and waits until the Build's `Succeeded` condition says
/// `BuildCancelled` (exit 0), or that it finished otherwise first (exit 1), watching the Build.
pub(crate) async fn cancel(
    session: &Session,
    args: &CancelArgs,
    io: &mut Io<'_>,
) -> Result<PluginExit, PluginError> {
    let name = &args.build;
    let build = session.build(name).await?;
    if is_done(&build) {
        let reason = succeeded(&build)
            .and_then(|c| c.reason.clone())
            .unwrap_or_default();
        writeln!(
            io.err,
            "build {name:?} has already finished ({reason}); nothing to cancel"
        )?;
        return Ok(PluginExit::Succeeded);
    }
    let patch = json!({"spec": {"status": "BuildCancelled"}});
    session
        .builds()
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| match e {
            e if crate::error::is_not_found(&e) => PluginError::BuildNotFound {
                namespace: session.namespace.clone(),
                name: name.clone(),
            },
            e => PluginError::api(format!("cancelling build {name:?}"), e),
        })?;
    writeln!(io.out, "build.build.knative.dev/{name} cancel requested")?;
    if args.no_wait {
        return Ok(PluginExit::Succeeded);
    }
    writeln!(
        io.err,
        "waiting for the controller to stop build {name:?} (--no-wait not to wait)"
    )?;
    let mut builds = Watched::start(session.builds(), "build", name);
    loop {
        let Some(build) = builds.current().await? else {
            return Err(PluginError::BuildNotFound {
                namespace: session.namespace.clone(),
                name: name.clone(),
            });
        };
        let Some(condition) = succeeded(&build).filter(|_| is_done(&build)) else {
            builds.changed().await?;
            continue;
        };
        let reason = condition.reason.as_deref().unwrap_or_default();
        if reason == build_types::Reason::BuildCancelled.as_str() {
            writeln!(io.out, "build.build.knative.dev/{name} cancelled")?;
            return Ok(PluginExit::Succeeded);
        }
        let outcome = if condition.status == ConditionStatus::True {
            "succeeded"
        } else {
            "failed"
        };
        writeln!(
            io.err,
            "build {name:?} {outcome} before it could be cancelled: {reason}: {}",
            condition.message.as_deref().unwrap_or_default()
        )?;
        return Ok(PluginExit::Failed);
    }
}
