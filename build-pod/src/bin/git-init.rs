//! `git-init`: fetches a git source into a build pod's workspace.
//!
//! `git-init -url URL [-revision REVISION] [-path PATH]` fetches a branch, tag, commit SHA or
//! ref (shallow when the server allows it), checks it out with its submodules and prints the
//! commit, which it also writes to its termination message as `commit=<SHA>` and
//! `revision=<REVISION>` lines for the Build's status. It exits 1 when the repository or
//! revision cannot be fetched and 2 on a bad command line; credentials in URLs are never
//! printed. The logic is `build_pod::git_init`; this file
//! reads the environment, prints and picks the exit code.

use std::process::ExitCode;

use build_pod::git_init::{RunInputs, run};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let home = std::env::var("HOME").ok();
    let ssh_command_set =
        std::env::var_os("GIT_SSH_COMMAND").is_some() || std::env::var_os("GIT_SSH").is_some();
    match run(&RunInputs {
        args: &args,
        home: home.as_deref(),
        ssh_command_set,
    }) {
        Ok(fetched) => {
            println!("{fetched}");
            build_auth::write_termination_message(&fetched.termination_message());
            ExitCode::SUCCESS
        }
        Err(err) if err.is_usage() => {
            eprintln!("git-init: {err}");
            ExitCode::from(2)
        }
        Err(err) => {
            eprintln!("git-init: error: {err}");
            build_auth::write_termination_message(&format!("git-init: {err}"));
            ExitCode::FAILURE
        }
    }
}
