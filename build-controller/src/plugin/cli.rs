//! The command line of `kubectl build` (clap's model): read by the binary to parse, by
//! `complete` to complete and by `completion` to print the shells' scripts.

use clap::{Args, Parser, Subcommand};

use super::cancel::CancelArgs;
use super::describe::DescribeArgs;
use super::list::ListArgs;
use super::logs::LogsArgs;
use super::offline::{RenderArgs, ValidateArgs};
use super::provenance::ProvenanceArgs;
use super::run::RunArgs;
use super::session::ClusterArgs;

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
    /// Print the provenance of a succeeded Build: an in-toto Statement v1 with a SLSA
    /// Provenance v1 predicate (the images it reported, its sources' commits and its images'
    /// digests, its template and arguments); with --key, signed in a DSSE envelope.
    #[command(after_help = provenance_help!())]
    Provenance(ProvenanceArgs),
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

/// `kubectl build completion`.
#[derive(Args, Clone, Debug)]
pub struct CompletionArgs {
    /// The shell to print the script for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}
