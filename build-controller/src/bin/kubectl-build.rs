//! `kubectl-build`, the kubectl plugin (`kubectl build …`): list, logs, describe, run, cancel
//! and provenance of Knative Builds, the offline validate and render, and the completion
//! scripts. The logic is `build_controller::plugin::{PluginCli, execute}`; this file parses,
//! connects and sets the exit code.

use std::process::ExitCode;

use build_controller::plugin::{
    Io, PluginCli, PluginError, Session, Style, execute, execute_offline, report,
};
use clap::Parser;

fn main() -> ExitCode {
    let cli = PluginCli::parse();
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    let mut io = Io {
        out: &mut stdout,
        err: &mut stderr,
        style: Style::detect(cli.no_color),
    };
    let result = match execute_offline(&cli.command, &mut io) {
        Some(result) => result,
        None => match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime.block_on(async {
                let session = Session::connect(&cli.cluster).await?;
                execute(&cli.command, &session, &mut io).await
            }),
            Err(error) => Err(PluginError::Output(error)),
        },
    };
    ExitCode::from(report(result, &mut io).code())
}
