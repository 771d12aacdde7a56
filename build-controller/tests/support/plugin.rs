//! `kubectl build` run in-process, as its binary runs it, against any API server.

use std::future::Future;
use std::io::Write;
use std::sync::{Arc, Mutex};
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

/// What the containers of the seed's img Build write, by container.
pub(crate) const IMG_LOGS: &[(&str, &str)] = &[
    (
        "build-step-credential-initializer",
        "creds-init: wrote ~/.docker/config.json for https://index.docker.io/v1/\n",
    ),
    (
        "build-step-git-source-0",
        "git-init: fetched master of https://github.com/garethr/kubeval.git\n",
    ),
    (
        "build-step-build",
        "INFO[0000] Building garethr/kubeval\nINFO[0042] Built and tagged garethr/kubeval:latest\n",
    ),
    (
        "build-step-push",
        "Pushing garethr/kubeval...\nSuccessfully pushed garethr/kubeval\n",
    ),
];

/// How long a command may take.
const WAIT: Duration = Duration::from_secs(60);

/// What a command printed, and how it ended.
pub(crate) struct Ran {
    pub(crate) exit: PluginExit,
    pub(crate) out: String,
    pub(crate) err: String,
    /// Both, in the order they were written, as a terminal shows them.
    pub(crate) terminal: String,
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
    kubectl_build_scripted(session, style, args, Ends::WithCommand, |_| async {}).await
}

/// Output a command writes, readable while it runs.
#[derive(Clone, Default)]
pub(crate) struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Shared {
    /// What was written so far.
    pub(crate) fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }

    /// Waits (looking every 10 ms) until what was written contains `needle`.
    pub(crate) async fn shows(&self, needle: &str) {
        while !self.text().contains(needle) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits (looking every 10 ms) until `lines` lines were written.
    pub(crate) async fn lines(&self, lines: usize) {
        while self.text().lines().count() < lines {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// The output of a command that is running.
#[derive(Clone, Default)]
pub(crate) struct Live {
    pub(crate) out: Shared,
    pub(crate) err: Shared,
    /// Both, in the order they were written.
    pub(crate) all: Shared,
}

/// A stream that is also written to the terminal's.
struct Also(Shared, Shared);

impl Write for Also {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.1.write_all(bytes)?;
        self.0.write(bytes)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The command's future, writing to `live`.
async fn execute_live(session: &Session, style: Style, args: &[&str], live: &Live) -> PluginExit {
    let cli =
        PluginCli::try_parse_from(std::iter::once("kubectl-build").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    let mut out = Also(live.out.clone(), live.all.clone());
    let mut err = Also(live.err.clone(), live.all.clone());
    let mut io = Io {
        out: &mut out,
        err: &mut err,
        style,
    };
    let result = execute(&cli.command, session, &mut io).await;
    report(result, &mut io)
}

/// When a scripted run ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ends {
    /// Once the command and the script have both ended.
    WithCommand,
    /// Once the script has ended: the command, which does not end by itself (`list -w`), is
    /// then stopped as Ctrl-C would, and its exit is [`PluginExit::Succeeded`]. It must not
    /// end first.
    WithScript,
}

/// Runs `kubectl build ARGS…` in `session` while `script` (given the command's output as it
/// comes) changes the world around it, until it `ends`. Panics if that takes longer than a
/// minute.
pub(crate) async fn kubectl_build_scripted<Fut>(
    session: &Session,
    style: Style,
    args: &[&str],
    ends: Ends,
    script: impl FnOnce(Live) -> Fut,
) -> Ran
where
    Fut: Future<Output = ()>,
{
    let live = Live::default();
    let run = async {
        let command = execute_live(session, style, args, &live);
        match ends {
            Ends::WithCommand => tokio::join!(command, script(live.clone())).0,
            Ends::WithScript => tokio::select! {
                exit = command => panic!(
                    "kubectl build {args:?} ended ({exit:?}):\n{}{}",
                    live.out.text(),
                    live.err.text()
                ),
                () = script(live.clone()) => PluginExit::Succeeded,
            },
        }
    };
    let exit = tokio::time::timeout(WAIT, run)
        .await
        .unwrap_or_else(|_| panic!("kubectl build {args:?} did not end within {WAIT:?}"));
    Ran {
        exit,
        out: live.out.text(),
        err: live.err.text(),
        terminal: live.all.text(),
    }
}
