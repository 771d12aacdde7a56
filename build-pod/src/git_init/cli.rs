//! `git-init` with the real `git` CLI: the program's I/O.

use std::fmt;
use std::path::Path;
use std::process::Command;

use build_auth::ssh;

use super::args::GitInitArgs;
use super::error::GitInitError;
use super::fetch::{Checkout, Git, GitOutput, fetch};
use super::redact::redact_url;

/// What [`run`] works from: the command line and what it needs of the environment.
#[derive(Clone, Copy, Debug)]
pub struct RunInputs<'a> {
    /// The arguments, without the program name, such as `-url https://github.com/a/b.git`.
    pub args: &'a [String],
    /// `$HOME`, where `creds-init` wrote `~/.ssh`; `None` when unset.
    pub home: Option<&'a str>,
    /// Whether `GIT_SSH_COMMAND` or `GIT_SSH` is set: the user chose an ssh command, and
    /// `git-init` leaves it alone.
    pub ssh_command_set: bool,
}

/// What [`run`] checked out. Displays as the line `git-init` prints, with any credentials in
/// the URL redacted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetched {
    /// What was asked for.
    pub args: GitInitArgs,
    /// What was checked out.
    pub checkout: Checkout,
}

impl Fetched {
    /// What `git-init` writes to its termination message when it succeeds, in the results
    /// format ([`format_results`](crate::format_results)): `commit=<full SHA>` and
    /// `revision=<what was asked for>`, which the Build's `status.sources` records.
    ///
    /// ```
    /// use build_pod::git_init::{Checkout, FetchMode, Fetched, GitInitArgs};
    /// let fetched = Fetched {
    ///     args: GitInitArgs::parse(["-url", "https://github.com/a/b.git", "-revision", "main"]).unwrap(),
    ///     checkout: Checkout { commit: "0a1b".into(), mode: FetchMode::Shallow },
    /// };
    /// assert_eq!(fetched.termination_message(), "commit=0a1b\nrevision=main\n");
    /// ```
    pub fn termination_message(&self) -> String {
        crate::format_results(&[
            (crate::SOURCE_COMMIT, &self.checkout.commit),
            (crate::SOURCE_REVISION, &self.args.revision),
        ])
    }
}

impl fmt::Display for Fetched {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "checked out {} (revision {:?} of {}) in {:?}",
            self.checkout.commit,
            self.args.revision,
            redact_url(&self.args.url),
            self.args.path
        )
    }
}

/// Runs `git-init`: parses `inputs.args` ([`GitInitArgs::parse`]) and [`fetch`]es with the
/// real `git`, which never prompts for a password and, unless the user chose an ssh command,
/// uses the `~/.ssh` files `creds-init` wrote ([`build_auth::ssh::command`]). git's progress
/// goes to standard error, redacted.
///
/// # Errors
///
/// [`GitInitError::Usage`] for a bad command line, else what [`fetch`] fails with.
pub fn run(inputs: &RunInputs<'_>) -> Result<Fetched, GitInitError> {
    let args = GitInitArgs::parse(inputs.args.iter().cloned())?;
    let ssh_command = if inputs.ssh_command_set {
        None
    } else {
        inputs
            .home
            .and_then(|home| ssh::command(home, ssh_files(home)))
    };
    let checkout = fetch(&mut Cli { ssh_command }, &args)?;
    Ok(Fetched { args, checkout })
}

/// Which of the files `creds-init` may have written under `home` exist.
fn ssh_files(home: &str) -> ssh::Files {
    let dir = Path::new(home).join(ssh::DIR);
    ssh::Files {
        config: dir.join(ssh::CONFIG).is_file(),
        known_hosts: dir.join(ssh::KNOWN_HOSTS).is_file(),
    }
}

/// The real `git` with `args`: never prompting for a password, with `ssh` as its ssh command
/// when given, and trusting the checkout whoever owns it. git-init runs as user 65532 while
/// `/workspace`, an emptyDir, belongs to root, and git refuses a repository another user owns
/// ("detected dubious ownership") unless `safe.directory` says otherwise; that setting is read
/// only from the global or system configuration or the command line, which `GIT_CONFIG_COUNT`
/// stands for: the setting is added after any `GIT_CONFIG_COUNT` entries git-init was given.
/// The checkout is the pod's own emptyDir, written only by the containers before.
fn git_command(args: &[&str], ssh: Option<&str>) -> Command {
    let given: usize = std::env::var("GIT_CONFIG_COUNT")
        .ok()
        .and_then(|count| count.trim().parse().ok())
        .unwrap_or(0);
    let mut command = Command::new("git");
    command
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_COUNT", (given + 1).to_string())
        .env(format!("GIT_CONFIG_KEY_{given}"), "safe.directory")
        .env(format!("GIT_CONFIG_VALUE_{given}"), "*");
    if let Some(ssh) = ssh {
        command.env("GIT_SSH_COMMAND", ssh);
    }
    command
}

/// Runs the real `git`, never prompting for a password.
struct Cli {
    ssh_command: Option<String>,
}

impl Git for Cli {
    fn run(&mut self, args: &[&str]) -> Result<GitOutput, String> {
        let output = git_command(args, self.ssh_command.as_deref())
            .output()
            .map_err(|e| e.to_string())?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A repository another user owns: git refuses it without `safe.directory`, and
    /// [`git_command`] works in it. Needs to be able to chown (root); says so and passes
    /// otherwise.
    #[test]
    fn git_trusts_a_checkout_another_user_owns() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("workspace");
        std::fs::create_dir(&repo).unwrap();
        let repo_arg = repo.to_str().unwrap();
        let init = git_command(&["init", "-q", repo_arg], None)
            .output()
            .unwrap();
        assert!(init.status.success());
        if let Err(error) = std::os::unix::fs::chown(&repo, Some(65534), Some(65534)) {
            eprintln!("skipped: cannot chown a directory to another user here ({error})");
            return;
        }
        let plain = Command::new("git")
            .args(["-C", repo_arg, "status", "--short"])
            .env("HOME", dir.path())
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&plain.stderr).contains("dubious ownership"),
            "git did not refuse the repository: {plain:?}"
        );
        let trusted = git_command(&["-C", repo_arg, "status", "--short"], None)
            .env("HOME", dir.path())
            .output()
            .unwrap();
        assert!(trusted.status.success(), "{trusted:?}");
    }
}
