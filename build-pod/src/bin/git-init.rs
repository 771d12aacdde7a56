//! `git-init`: fetches a git source into a build pod's workspace.
//!
//! `git-init -url URL [-revision REVISION] [-path PATH]` fetches a branch, tag, commit SHA or
//! ref (shallow when the server allows it), checks it out with its submodules and prints the
//! commit. It exits 1 when the repository or revision cannot be fetched and 2 on a bad command
//! line; credentials in URLs are never printed. The logic is `build_pod::git_init`; this file
//! only runs the `git` CLI for it.

use std::path::Path;
use std::process::{Command, ExitCode};

use build_pod::{Git, GitInitArgs, GitOutput, PodError, SshFiles, git_init, redact_url};

/// Runs the real `git`, never prompting for a password.
struct Cli {
    ssh_command: Option<String>,
}

impl Git for Cli {
    fn run(&mut self, args: &[&str]) -> Result<GitOutput, String> {
        let mut command = Command::new("git");
        command.args(args).env("GIT_TERMINAL_PROMPT", "0");
        if let Some(ssh) = &self.ssh_command {
            command.env("GIT_SSH_COMMAND", ssh);
        }
        let output = command.output().map_err(|e| e.to_string())?;
        Ok(GitOutput {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }

    fn log(&mut self, line: &str) {
        eprintln!("{line}");
    }
}

/// `GIT_SSH_COMMAND` for the SSH files `creds-init` wrote under `$HOME`, unless the user chose
/// an ssh command already.
fn ssh_command() -> Option<String> {
    if std::env::var_os("GIT_SSH_COMMAND").is_some() || std::env::var_os("GIT_SSH").is_some() {
        return None;
    }
    let home = std::env::var("HOME").ok()?;
    let dir = Path::new(&home).join(".ssh");
    let files = SshFiles {
        config: dir.join("config").is_file(),
        known_hosts: dir.join("known_hosts").is_file(),
    };
    build_pod::ssh_command(&home, files)
}

fn main() -> ExitCode {
    let args = match GitInitArgs::parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(err) => {
            eprintln!("git-init: {err}");
            return ExitCode::from(2);
        }
    };
    let mut cli = Cli {
        ssh_command: ssh_command(),
    };
    match git_init(&mut cli, &args) {
        Ok(checkout) => {
            println!(
                "checked out {} (revision {:?} of {}) in {:?}",
                checkout.commit,
                args.revision,
                redact_url(&args.url),
                args.path
            );
            ExitCode::SUCCESS
        }
        Err(err @ PodError::GitInitUsage { .. }) => {
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
