//! `kubectl build`, the kubectl plugin: list, follow, describe, start and cancel Builds on a
//! cluster, the offline `validate` and `render`, and shell completion.
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

mod cancel;
mod complete;
mod describe;
mod description;
mod error;
mod io;
mod list;
mod logs;
mod offline;
mod run;
mod session;
mod steps;
mod watch;

use clap::{Parser, Subcommand};

pub use cancel::CancelArgs;
pub use complete::{
    COMPLETION_TIMEOUT, CompletionArgs, Completions, DIRECTIVE_DEFAULT, DIRECTIVE_ERROR,
    DIRECTIVE_NO_FILE_COMP, complete, completion_script,
};
pub use describe::DescribeArgs;
pub use description::{
    AccountDescription, ArgumentDescription, CredentialUse, Description, EventDescription,
    PodDescription, SecretDescription, SourceDescription, StepDescription, TemplateDescription,
};
pub use error::PluginError;
pub use io::{Io, Style};
pub use list::{ListArgs, ListFormat};
pub use logs::{LogsArgs, ShowArgs};
pub use offline::{Format, ImageArgs, RenderArgs, ValidateArgs, render_files, validate_files};
pub use run::RunArgs;
pub use session::{ClusterArgs, Session};

/// List, follow, describe, start and cancel Knative Builds (build.knative.dev/v1alpha1).
///
/// kubeconfig, context and namespace are taken as kubectl takes them: --kubeconfig or
/// KUBECONFIG, --context or the current context, -n or the context's namespace.
#[derive(Parser, Clone, Debug)]
#[command(
    name = "kubectl-build",
    bin_name = "kubectl build",
    version,
    after_help = root_help!()
)]
pub struct PluginCli {
    /// Where the cluster is.
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Never colour the output (colour is also off when stdout is not a terminal or NO_COLOR
    /// is set).
    #[arg(long, global = true)]
    pub no_color: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: PluginCommand,
}

/// The subcommands of `kubectl build`.
#[derive(Subcommand, Clone, Debug)]
pub enum PluginCommand {
    /// List the Builds, newest first: status, reason, age, duration and the step that failed
    /// each; with -w, then a line for each change, until interrupted.
    #[command(after_help = list_help!())]
    List(ListArgs),
    /// Show the logs of every step of a Build, in the order the steps run, each line prefixed
    /// `[step]`. With -f, wait for the pod, stream each step as it starts, say why a step waits,
    /// and exit when the Build finishes: 0 succeeded, 1 failed.
    #[command(after_help = logs_help!())]
    Logs(LogsArgs),
    /// Show a Build: status, times, pod, ServiceAccount and the credentials it brings (names,
    /// types, URLs; never values), sources, template and arguments, steps and recent Events.
    /// With -o yaml or -o json, the same as data.
    #[command(after_help = describe_help!())]
    Describe(DescribeArgs),
    /// Create a Build (from a file, or from a template and flags) and follow it like logs -f.
    #[command(after_help = run_help!())]
    Run(RunArgs),
    /// Cancel a Build (spec.status: BuildCancelled) and wait until it reports it.
    #[command(after_help = cancel_help!())]
    Cancel(CancelArgs),
    /// Check Builds, BuildTemplates, ClusterBuildTemplates, ServiceAccounts and Secrets in YAML
    /// files or directories, without a cluster. Prints one line per object; exits 1 on any
    /// problem.
    #[command(after_help = validate_help!())]
    Validate(ValidateArgs),
    /// Print the Pod each Build in the files would get, exactly as the controller would create
    /// it, without a cluster. Exits 1 when a Build cannot be compiled.
    #[command(after_help = render_help!())]
    Render(RenderArgs),
    /// Print the shell completion script of kubectl-build (typed directly); `kubectl build`
    /// completes through the kubectl_complete-build executable (README: "Use it").
    #[command(after_help = completion_help!())]
    Completion(CompletionArgs),
}

/// How a plugin command ended, as its exit code says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PluginExit {
    /// 0: done; the Build succeeded, or was cancelled.
    Succeeded,
    /// 1: the Build failed (or `validate`/`render` found a problem).
    Failed,
    /// 2: a usage or access error; the Build cannot be found or read.
    Error,
}

impl PluginExit {
    /// The process exit code: 0, 1 or 2.
    pub fn code(self) -> u8 {
        match self {
            PluginExit::Succeeded => 0,
            PluginExit::Failed => 1,
            PluginExit::Error => 2,
        }
    }
}

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
