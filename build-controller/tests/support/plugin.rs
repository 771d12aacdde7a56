//! `kubectl build` run in-process, as its binary runs it, against any API server.

use std::time::Duration;

use build_controller::plugin::{Io, PluginCli, PluginExit, Session, Style, execute, report};
use clap::Parser as _;

/// `kubectl build run` of the seed's `kubeval-img` Build from its `img` template.
pub(crate) const RUN_IMG: &[&str] = &[
    "run",
    "--template",
    "img",
    "--arg",
    "IMAGE=garethr/kubeval",
    "--git",
    "https://github.com/garethr/kubeval.git@master",
    "--service-account",
    "build-bot",
    "--timeout",
    "20m",
];

/// How long a command may take.
const WAIT: Duration = Duration::from_secs(60);

/// What a command printed, and how it ended.
pub(crate) struct Ran {
    pub(crate) exit: PluginExit,
    pub(crate) out: String,
    pub(crate) err: String,
}

impl Ran {
    /// The exit code, stdout and stderr, for a snapshot or a log.
    pub(crate) fn transcript(&self) -> String {
        format!(
            "exit code: {}\n--- stdout\n{}--- stderr\n{}",
            self.exit.code(),
            self.out,
            self.err
        )
    }
}

/// Runs `kubectl build ARGS…` in `session`, printing in `style`; panics if it takes longer
/// than a minute.
pub(crate) async fn kubectl_build(session: &Session, style: Style, args: &[&str]) -> Ran {
    let cli =
        PluginCli::try_parse_from(std::iter::once("kubectl-build").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut io = Io {
        out: &mut out,
        err: &mut err,
        style,
    };
    let exit = tokio::time::timeout(WAIT, async {
        let result = execute(&cli.command, session, &mut io).await;
        report(result, &mut io)
    })
    .await
    .unwrap_or_else(|_| panic!("kubectl build {args:?} did not finish within {WAIT:?}"));
    Ran {
        exit,
        out: String::from_utf8(out).unwrap(),
        err: String::from_utf8(err).unwrap(),
    }
}
