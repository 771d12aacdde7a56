//! `kubectl build`, the kubectl plugin: list, follow, describe, start and cancel Builds on a
//! cluster, print their provenance, the offline `validate` and `render`, and shell completion.
//!
//! The binary `kubectl-build` only parses [`PluginCli`], connects ([`Session::connect`]) and
//! calls [`execute`]; `kubectl_complete-build`, which kubectl runs to complete `kubectl build`
//! arguments, only calls [`complete`]. Everything else lives here so that tests drive it with a
//! mocked client and in-memory output ([`Io`]). It reads Builds, pods, templates,
//! ServiceAccounts, Secrets' names, types and annotations (never their values), Events and
//! (to complete `-n`) namespaces; it watches Builds and pods (a follow, `list -w`) instead of
//! reading them again and again; it writes only `create` of a Build (`run`) and the
//! `spec.status` of one (`cancel`).

#[macro_use]
mod help;

mod built;
mod cancel;
mod cli;
mod complete;
mod describe;
mod description;
mod error;
mod exit;
mod io;
mod list;
mod logs;
mod offline;
mod provenance;
mod run;
mod session;
mod steps;
mod watch;

pub use built::Built;
pub use cancel::CancelArgs;
pub use cli::{CompletionArgs, PluginCli, PluginCommand};
pub use complete::{
    COMPLETION_TIMEOUT, Completions, DIRECTIVE_DEFAULT, DIRECTIVE_ERROR, DIRECTIVE_NO_FILE_COMP,
    complete, completion_script,
};
pub use describe::DescribeArgs;
pub use description::{
    AccountDescription, ArgumentDescription, CredentialUse, Description, EventDescription,
    PodDescription, SecretDescription, SourceDescription, StepDescription, TemplateDescription,
};
pub use error::PluginError;
pub use exit::PluginExit;
pub use io::{Io, Style};
pub use list::{ListArgs, ListFormat};
pub use logs::{LogsArgs, ShowArgs};
pub use offline::{Format, ImageArgs, RenderArgs, ValidateArgs, render_files, validate_files};
pub use provenance::*;
pub use run::RunArgs;
pub use session::{ClusterArgs, Session};

/// Runs one command against the session's cluster (`validate` and `render` ignore it).
///
/// # Errors
///
/// A [`PluginError`] when the command could not do its work (exit code 2): the Build is not
/// found, the API server refuses, a flag is wrong. A failed Build is not an error but
/// [`PluginExit::Failed`].
pub async fn execute(
    command: &PluginCommand,
    session: &Session,
    io: &mut Io<'_>,
) -> Result<PluginExit, PluginError> {
    if let Some(result) = execute_offline(command, io) {
        return result;
    }
    match command {
        PluginCommand::List(args) => list::list(session, args, io).await,
        PluginCommand::Logs(args) => logs::logs(session, args, io).await,
        PluginCommand::Describe(args) => describe::describe(session, args, io).await,
        PluginCommand::Run(args) => run::run(session, args, io).await,
        PluginCommand::Cancel(args) => cancel::cancel(session, args, io).await,
        PluginCommand::Provenance(args) => provenance::provenance(session, args, io).await,
        PluginCommand::Validate(_) | PluginCommand::Render(_) | PluginCommand::Completion(_) => {
            unreachable!("execute_offline runs the offline commands")
        }
    }
}

/// Runs `validate`, `render` or `completion`, which need no cluster; `None` for the other
/// commands.
pub fn execute_offline(
    command: &PluginCommand,
    io: &mut Io<'_>,
) -> Option<Result<PluginExit, PluginError>> {
    match command {
        PluginCommand::Validate(args) => Some(validate_files(args, io)),
        PluginCommand::Render(args) => Some(render_files(args, io)),
        PluginCommand::Completion(args) => Some(completion_script(args, io)),
        _ => None,
    }
}

/// The exit of `result`, writing its error (if any) to `io.err` as `error: …`.
pub fn report(result: Result<PluginExit, PluginError>, io: &mut Io<'_>) -> PluginExit {
    match result {
        Ok(exit) => exit,
        Err(error) => {
            let _ = writeln!(io.err, "error: {error}");
            PluginExit::Error
        }
    }
}
