//! What `git-init` asks of `git`, and what the answers mean; no I/O (a [`Git`] runs `git`).

use super::args::GitInitArgs;
use super::error::GitInitError;
use super::redact::{password, redact, redact_url};

/// What one `git` command did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GitOutput {
    /// Whether it exited with status 0.
    pub success: bool,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

/// Runs `git` for [`fetch`]: the real CLI in [`run`](super::run), a fake in tests.
pub trait Git {
    /// Runs `git` with `args` (which start with `-C <path>` where a directory matters) and
    /// reports how it went; `Err` only when `git` could not be started at all.
    fn run(&mut self, args: &[&str]) -> Result<GitOutput, String>;

    /// Shows a progress line to the user; [`fetch`] has already redacted credentials from it.
    fn log(&mut self, line: &str);
}

/// How the revision was fetched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FetchMode {
    /// `git fetch --depth=1 origin <revision>`: the server serves that revision directly.
    Shallow,
    /// `git fetch origin <revision>` without `--depth`, for servers that cannot do shallow
    /// fetches.
    Direct,
    /// Every branch and tag, then the revision looked up locally (abbreviated SHAs, servers that
    /// do not serve a commit by its SHA).
    Full,
}

/// What [`fetch`] checked out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkout {
    /// The full SHA of the commit now checked out.
    pub commit: String,
    /// How it was fetched.
    pub mode: FetchMode,
}

/// Fetches `args.revision` of `args.url` into `args.path` and checks it out, with its submodules.
///
/// In order: `git init`; the remote `origin`; `git fetch --depth=1 origin <revision>`, falling
/// back to the same without `--depth`, then to fetching every branch and tag and finding the
/// revision among them (a branch, a tag or an abbreviated SHA); `git reset --hard` to the commit,
/// which leaves the repository's default branch pointing at it as Knative Build's `git-init` did;
/// when the commit has a `.gitmodules`, `git submodule update --init --recursive`, shallow first.
///
/// Fails with [`GitInitError::Fetch`] when the URL or the revision cannot be fetched — unlike
/// the original, which ignored git's failures and went on — with [`GitInitError::GitCommand`]
/// when a local step fails, and with [`GitInitError::GitUnavailable`] when `git` cannot be
/// started. Every message and log line has `user:password@` in URLs redacted.
pub fn fetch(git: &mut dyn Git, args: &GitInitArgs) -> Result<Checkout, GitInitError> {
    let dir = args.path.as_str();
    let url = args.url.as_str();
    let revision = args.revision.as_str();
    let mut session = Session {
        git,
        secret: password(url),
    };

    session.require(
        &["init", "-q", dir],
        &format!("initialize a git repository at {dir:?}"),
    )?;
    if !session
        .run(&["-C", dir, "remote", "add", "origin", url])?
        .success
    {
        session.require(
            &["-C", dir, "remote", "set-url", "origin", url],
            "set the remote origin",
        )?;
    }

    let fetch_error = |session: &Session<'_>, detail: &str| GitInitError::Fetch {
        url: redact_url(url),
        revision: revision.to_owned(),
        detail: session.clean(detail),
    };

    let shallow = session.run(&["-C", dir, "fetch", "--depth=1", "origin", revision])?;
    let (commit, mode) = if shallow.success {
        (session.fetch_head(dir)?, FetchMode::Shallow)
    } else if session
        .run(&["-C", dir, "fetch", "origin", revision])?
        .success
    {
        (session.fetch_head(dir)?, FetchMode::Direct)
    } else {
        session
            .git
            .log("cannot fetch the revision directly; fetching every branch and tag");
        let full = session.run(&["-C", dir, "fetch", "--tags", "origin"])?;
        if !full.success {
            return Err(fetch_error(&session, last_line(&full.stderr)));
        }
        let remote_branch = format!("refs/remotes/origin/{revision}^{{commit}}");
        let tag = format!("refs/tags/{revision}^{{commit}}");
        let direct = format!("{revision}^{{commit}}");
        let mut found = None;
        for candidate in [&remote_branch, &tag, &direct] {
            let out = session.run(&["-C", dir, "rev-parse", "--verify", "--quiet", candidate])?;
            if out.success {
                found = Some(out.stdout.trim().to_owned());
                break;
            }
        }
        match found {
            Some(commit) => (commit, FetchMode::Full),
            None => {
                return Err(fetch_error(
                    &session,
                    &format!(
                        "no branch, tag or commit of that name ({})",
                        last_line(&shallow.stderr)
                    ),
                ));
            }
        }
    };

    session.require(
        &["-C", dir, "reset", "-q", "--hard", &commit],
        &format!("check out commit {commit}"),
    )?;
    // Only a repository that has submodules updates them: an image without `git-submodule`
    // can still fetch every other repository.
    let gitmodules = session.run(&["-C", dir, "ls-files", "--error-unmatch", ".gitmodules"])?;
    if gitmodules.success {
        let shallow_submodules = session.run(&[
            "-C",
            dir,
            "submodule",
            "update",
            "--init",
            "--recursive",
            "--depth=1",
        ])?;
        if !shallow_submodules.success {
            session.require(
                &["-C", dir, "submodule", "update", "--init", "--recursive"],
                "update the submodules",
            )?;
        }
    }
    let head = session.require(
        &["-C", dir, "rev-parse", "HEAD"],
        "read the commit checked out",
    )?;
    Ok(Checkout {
        commit: head.stdout.trim().to_owned(),
        mode,
    })
}

/// A [`Git`] plus the redaction every line passes through.
struct Session<'a> {
    git: &'a mut dyn Git,
    /// The password of the URL, redacted wherever it shows up, even outside a URL.
    secret: Option<String>,
}

impl Session<'_> {
    fn clean(&self, text: &str) -> String {
        let mut text = redact(text);
        if let Some(secret) = &self.secret {
            text = text.replace(secret.as_str(), "***");
        }
        text
    }

    fn run(&mut self, args: &[&str]) -> Result<GitOutput, GitInitError> {
        let line = self.clean(&format!("git {}", args.join(" ")));
        self.git.log(&line);
        let output = self
            .git
            .run(args)
            .map_err(|detail| GitInitError::GitUnavailable { detail })?;
        let show_stderr = !output.success || args.contains(&"fetch") || args.contains(&"submodule");
        if show_stderr {
            for line in output.stderr.lines().filter(|l| !l.trim().is_empty()) {
                let line = self.clean(&format!("  {line}"));
                self.git.log(&line);
            }
        }
        Ok(output)
    }

    fn require(&mut self, args: &[&str], action: &str) -> Result<GitOutput, GitInitError> {
        let output = self.run(args)?;
        if output.success {
            Ok(output)
        } else {
            Err(GitInitError::GitCommand {
                action: action.to_owned(),
                detail: self.clean(last_line(&output.stderr)),
            })
        }
    }

    fn fetch_head(&mut self, dir: &str) -> Result<String, GitInitError> {
        let out = self.require(
            &["-C", dir, "rev-parse", "--verify", "FETCH_HEAD^{commit}"],
            "find the commit fetched",
        )?;
        Ok(out.stdout.trim().to_owned())
    }
}

/// The last non-empty line of git's output: where it says what went wrong.
fn last_line(text: &str) -> &str {
    text.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("git gave no reason")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake git: answers by the command's subcommand, records what was run and logged.
    struct Fake {
        fail: Vec<&'static str>,
        ran: Vec<String>,
        logged: Vec<String>,
    }

    impl Git for Fake {
        fn run(&mut self, args: &[&str]) -> Result<GitOutput, String> {
            let line = args.join(" ");
            self.ran.push(line.clone());
            let failing = self.fail.iter().any(|f| line.contains(f));
            Ok(GitOutput {
                success: !failing,
                stdout: if line.contains("rev-parse") {
                    "abc123\n".into()
                } else {
                    String::new()
                },
                stderr: if failing {
                    "fatal: could not read from 'https://me:hunter22@h/r.git'\n".into()
                } else {
                    String::new()
                },
            })
        }

        fn log(&mut self, line: &str) {
            self.logged.push(line.to_owned());
        }
    }

    fn run(fail: Vec<&'static str>) -> (Result<Checkout, GitInitError>, Fake) {
        let mut fake = Fake {
            fail,
            ran: vec![],
            logged: vec![],
        };
        let args =
            GitInitArgs::parse(["-url", "https://me:hunter22@h/r.git", "-revision", "v1"]).unwrap();
        (fetch(&mut fake, &args), fake)
    }

    #[test]
    fn shallow_first() {
        let (result, fake) = run(vec![]);
        assert_eq!(
            result.unwrap(),
            Checkout {
                commit: "abc123".into(),
                mode: FetchMode::Shallow
            }
        );
        assert!(
            fake.ran
                .iter()
                .any(|l| l.contains("fetch --depth=1 origin v1"))
        );
        assert!(!fake.ran.iter().any(|l| l.contains("fetch --tags")));
    }

    #[test]
    fn falls_back_to_direct_then_full() {
        let (result, _) = run(vec!["--depth=1 origin"]);
        assert_eq!(result.unwrap().mode, FetchMode::Direct);
        let (result, fake) = run(vec!["fetch --depth=1 origin", "fetch origin v1"]);
        assert_eq!(result.unwrap().mode, FetchMode::Full);
        assert!(
            fake.ran
                .iter()
                .any(|l| l.ends_with("rev-parse --verify --quiet refs/remotes/origin/v1^{commit}"))
        );
    }

    #[test]
    fn fails_when_nothing_can_be_fetched_and_never_leaks_the_password() {
        let (result, fake) = run(vec!["fetch"]);
        let err = result.unwrap_err();
        assert!(matches!(err, GitInitError::Fetch { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.starts_with("cannot fetch revision \"v1\" from https://***@h/r.git: "),
            "{text}"
        );
        for line in fake.logged.iter().chain([&text]) {
            assert!(!line.contains("hunter22"), "{line}");
        }
        assert!(!fake.ran.iter().any(|l| l.contains("reset")));
    }

    #[test]
    fn fails_when_the_revision_is_unknown() {
        let (result, _) = run(vec![
            "fetch --depth=1",
            "fetch origin v1",
            "rev-parse --verify --quiet",
        ]);
        let err = result.unwrap_err().to_string();
        assert!(
            err.contains("no branch, tag or commit of that name"),
            "{err}"
        );
        assert!(!err.contains("hunter22"), "{err}");
    }

    #[test]
    fn submodules_fall_back_to_a_full_update() {
        let (result, fake) = run(vec!["--recursive --depth=1"]);
        assert!(result.is_ok());
        assert!(
            fake.ran
                .iter()
                .any(|l| l.ends_with("submodule update --init --recursive"))
        );
        let (result, _) = run(vec!["submodule"]);
        assert!(
            matches!(result.unwrap_err(), GitInitError::GitCommand { action, .. } if action == "update the submodules")
        );
    }

    #[test]
    fn repositories_without_submodules_never_run_git_submodule() {
        let (result, fake) = run(vec!["ls-files --error-unmatch .gitmodules"]);
        assert!(result.is_ok());
        assert!(
            fake.ran
                .iter()
                .any(|l| l.ends_with("ls-files --error-unmatch .gitmodules"))
        );
        assert!(
            !fake.ran.iter().any(|l| l.contains("submodule")),
            "{:?}",
            fake.ran
        );
    }

    #[test]
    fn git_missing() {
        struct NoGit;
        impl Git for NoGit {
            fn run(&mut self, _: &[&str]) -> Result<GitOutput, String> {
                Err("No such file or directory".into())
            }
            fn log(&mut self, _: &str) {}
        }
        let args = GitInitArgs::parse(["-url", "u"]).unwrap();
        assert_eq!(
            fetch(&mut NoGit, &args).unwrap_err().to_string(),
            "cannot run git: No such file or directory"
        );
    }
}
