//! The logic of `git-init`, the program that fetches a git source inside a build pod.
//!
//! This module decides which `git` commands to run and what their results mean; it never runs
//! them itself. The `git-init` binary supplies a [`Git`] that runs the real `git` CLI, tests
//! supply fakes, and so the crate stays free of I/O.

use crate::error::PodError;

/// How `git-init` is called; shown with every command-line error.
pub const GIT_INIT_USAGE: &str = "usage: git-init -url URL [-revision REVISION] [-path PATH]\n  \
     -url URL            the repository to fetch\n  \
     -revision REVISION  a branch, tag, commit SHA or ref such as refs/pull/7/head \
     (default: the remote's HEAD)\n  \
     -path PATH          where to check it out (default: the current directory, /workspace in a build pod)\n\
     Flags may also be written --url, -url=URL or --url=URL.";

/// The revision fetched when none is given: the remote's default branch.
pub const DEFAULT_REVISION: &str = "HEAD";

/// What `git-init` fetches and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitInitArgs {
    /// The repository URL, trimmed of surrounding whitespace.
    pub url: String,
    /// The branch, tag, commit SHA (full or abbreviated) or ref to check out.
    pub revision: String,
    /// The directory to check it out in, created when missing; relative paths are relative to
    /// the current directory.
    pub path: String,
}

impl GitInitArgs {
    /// Parses `git-init`'s flags (without the program name): `-url`, `-revision` and `-path`,
    /// each also accepted as `--url`, `-url=V` or `--url=V`, as Go's `flag` package does.
    ///
    /// `-url` is required; `-revision` defaults to [`DEFAULT_REVISION`] and `-path` to `.`.
    /// Values starting with `-` are refused, so they can never be taken for git options.
    ///
    /// ```
    /// use build_pod::GitInitArgs;
    /// let args = GitInitArgs::parse(["-url", "https://github.com/a/b.git", "--revision=v1"]).unwrap();
    /// assert_eq!(args.revision, "v1");
    /// assert_eq!(args.path, ".");
    /// ```
    pub fn parse<I, S>(args: I) -> Result<Self, PodError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let usage = |message: String| PodError::GitInitUsage { message };
        let mut url = None;
        let mut revision = None;
        let mut path = None;
        let mut args = args.into_iter().map(Into::into);
        while let Some(arg) = args.next() {
            let Some(flag) = arg
                .strip_prefix("--")
                .or_else(|| arg.strip_prefix('-'))
                .filter(|f| !f.is_empty() && !f.starts_with('-'))
            else {
                return Err(usage(format!("unexpected argument {arg:?}")));
            };
            let (name, inline) = match flag.split_once('=') {
                Some((name, value)) => (name, Some(value.to_owned())),
                None => (flag, None),
            };
            let slot = match name {
                "url" => &mut url,
                "revision" => &mut revision,
                "path" => &mut path,
                _ => return Err(usage(format!("unknown flag {arg:?}"))),
            };
            let value = match inline {
                Some(value) => value,
                None => args
                    .next()
                    .ok_or_else(|| usage(format!("flag -{name} needs a value")))?,
            };
            if value.trim_start().starts_with('-') {
                return Err(usage(format!(
                    "the value of -{name} must not start with '-', got {:?}",
                    redact(&value)
                )));
            }
            *slot = Some(value);
        }
        let url = url
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty())
            .ok_or_else(|| usage("flag -url is required".to_owned()))?;
        let revision = revision
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| DEFAULT_REVISION.to_owned());
        let path = path
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| ".".to_owned());
        Ok(GitInitArgs {
            url,
            revision,
            path,
        })
    }
}

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

/// Runs `git` for [`git_init`]: the real CLI in the `git-init` binary, a fake in tests.
pub trait Git {
    /// Runs `git` with `args` (which start with `-C <path>` where a directory matters) and
    /// reports how it went; `Err` only when `git` could not be started at all.
    fn run(&mut self, args: &[&str]) -> Result<GitOutput, String>;

    /// Shows a progress line to the user; `git_init` has already redacted credentials from it.
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

/// What [`git_init`] checked out.
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
/// Fails with [`PodError::GitFetch`] when the URL or the revision cannot be fetched — unlike the
/// original, which ignored git's failures and went on — and with [`PodError::GitCommand`] when a
/// local step fails. Every message and log line has `user:password@` in URLs redacted.
pub fn git_init(git: &mut dyn Git, args: &GitInitArgs) -> Result<Checkout, PodError> {
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

    let fetch_error = |session: &Session<'_>, detail: &str| PodError::GitFetch {
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

    fn run(&mut self, args: &[&str]) -> Result<GitOutput, PodError> {
        let line = self.clean(&format!("git {}", args.join(" ")));
        self.git.log(&line);
        let output = self
            .git
            .run(args)
            .map_err(|detail| PodError::GitUnavailable { detail })?;
        let show_stderr = !output.success || args.contains(&"fetch") || args.contains(&"submodule");
        if show_stderr {
            for line in output.stderr.lines().filter(|l| !l.trim().is_empty()) {
                let line = self.clean(&format!("  {line}"));
                self.git.log(&line);
            }
        }
        Ok(output)
    }

    fn require(&mut self, args: &[&str], action: &str) -> Result<GitOutput, PodError> {
        let output = self.run(args)?;
        if output.success {
            Ok(output)
        } else {
            Err(PodError::GitCommand {
                action: action.to_owned(),
                detail: self.clean(last_line(&output.stderr)),
            })
        }
    }

    fn fetch_head(&mut self, dir: &str) -> Result<String, PodError> {
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

/// The password in a URL's `user:password@`, if it has one.
fn password(url: &str) -> Option<String> {
    let (_, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let (userinfo, _) = authority.rsplit_once('@')?;
    let (_, password) = userinfo.split_once(':')?;
    (!password.is_empty()).then(|| password.to_owned())
}

/// `url` with the user and password before `@` replaced by `***`.
///
/// ```
/// use build_pod::redact_url;
/// assert_eq!(redact_url("https://me:s3cret@github.com/a/b.git"), "https://***@github.com/a/b.git");
/// assert_eq!(redact_url("https://github.com/a/b.git"), "https://github.com/a/b.git");
/// assert_eq!(redact_url("git@github.com:a/b.git"), "git@github.com:a/b.git");
/// ```
pub fn redact_url(url: &str) -> String {
    redact(url)
}

/// `text` with the `user:password@` of every `scheme://` URL in it replaced by `***@`.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(before);
        let end = after
            .find(|c: char| {
                c == '/' || c == '?' || c == '#' || c.is_whitespace() || "'\"<>`".contains(c)
            })
            .unwrap_or(after.len());
        let authority = &after[..end];
        match authority.rfind('@') {
            Some(userinfo_end) => {
                out.push_str("***");
                out.push_str(&authority[userinfo_end..]);
            }
            None => out.push_str(authority),
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// Which of the files `creds-init` may have written under `$HOME/.ssh` exist.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SshFiles {
    /// `$HOME/.ssh/config` exists.
    pub config: bool,
    /// `$HOME/.ssh/known_hosts` exists.
    pub known_hosts: bool,
}

/// The `GIT_SSH_COMMAND` that makes `ssh` use the SSH files `creds-init` wrote under `home`.
///
/// `ssh` looks in the home directory of the user's passwd entry (`/root`), not in `$HOME`
/// (`/builder/home`); Knative Build's `git-init` worked around that by symlinking `/root/.ssh`.
/// Pointing `ssh` at the files is the same without touching the filesystem. `None` when there
/// is nothing to point at.
///
/// ```
/// use build_pod::{ssh_command, SshFiles};
/// let files = SshFiles { config: true, known_hosts: true };
/// assert_eq!(
///     ssh_command("/builder/home", files).unwrap(),
///     "ssh -F '/builder/home/.ssh/config' -o 'UserKnownHostsFile=/builder/home/.ssh/known_hosts'"
/// );
/// assert_eq!(ssh_command("/builder/home", SshFiles::default()), None);
/// ```
pub fn ssh_command(home: &str, files: SshFiles) -> Option<String> {
    if !files.config && !files.known_hosts {
        return None;
    }
    let dir = format!("{}/.ssh", home.trim_end_matches('/'));
    let mut command = "ssh".to_owned();
    if files.config {
        command.push_str(&format!(" -F {}", shell_quote(&format!("{dir}/config"))));
    }
    if files.known_hosts {
        command.push_str(&format!(
            " -o {}",
            shell_quote(&format!("UserKnownHostsFile={dir}/known_hosts"))
        ));
    }
    Some(command)
}

fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flags_in_every_spelling() {
        let expected = GitInitArgs {
            url: "https://h/r.git".into(),
            revision: "refs/pull/7/head".into(),
            path: "src".into(),
        };
        for argv in [
            vec![
                "-url",
                "https://h/r.git",
                "-revision",
                "refs/pull/7/head",
                "-path",
                "src",
            ],
            vec![
                "--url",
                " https://h/r.git ",
                "--revision",
                "refs/pull/7/head",
                "--path",
                "src",
            ],
            vec![
                "-url=https://h/r.git",
                "--revision=refs/pull/7/head",
                "-path=src",
            ],
        ] {
            assert_eq!(
                GitInitArgs::parse(argv.clone()).unwrap(),
                expected,
                "{argv:?}"
            );
        }
        let defaults = GitInitArgs::parse(["-url", "u"]).unwrap();
        assert_eq!(
            (defaults.revision.as_str(), defaults.path.as_str()),
            ("HEAD", ".")
        );
    }

    #[test]
    fn rejects_bad_command_lines() {
        for (argv, expected) in [
            (vec![], "flag -url is required"),
            (vec!["-url"], "flag -url needs a value"),
            (vec!["-branch", "x"], "unknown flag \"-branch\""),
            (vec!["positional"], "unexpected argument \"positional\""),
            (vec!["---url", "x"], "unexpected argument \"---url\""),
            (
                vec!["-url", "u", "-revision", "--upload-pack=evil"],
                "must not start with '-'",
            ),
        ] {
            let err = GitInitArgs::parse(argv.clone()).unwrap_err();
            let PodError::GitInitUsage { message } = &err else {
                panic!("{argv:?}: {err:?}")
            };
            assert!(message.contains(expected), "{argv:?}: {message}");
            assert!(err.to_string().contains("usage: git-init"), "{err}");
        }
    }

    #[test]
    fn redacts_userinfo_everywhere() {
        for (text, redacted) in [
            ("https://u:p@h/r.git", "https://***@h/r.git"),
            ("https://token@h/r", "https://***@h/r"),
            ("http://h:8080/r", "http://h:8080/r"),
            (
                "fatal: repository 'https://u:p@h/r.git/' not found",
                "fatal: repository 'https://***@h/r.git/' not found",
            ),
            (
                "a https://x:y@h b ssh://git@h:22/r",
                "a https://***@h b ssh://***@h:22/r",
            ),
            ("no url here", "no url here"),
            ("https://u:p@h", "https://***@h"),
        ] {
            assert_eq!(redact(text), redacted, "{text}");
        }
        assert_eq!(password("https://u:p4ss@h/r"), Some("p4ss".into()));
        assert_eq!(password("https://u@h/r"), None);
    }

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

    fn run(fail: Vec<&'static str>) -> (Result<Checkout, PodError>, Fake) {
        let mut fake = Fake {
            fail,
            ran: vec![],
            logged: vec![],
        };
        let args =
            GitInitArgs::parse(["-url", "https://me:hunter22@h/r.git", "-revision", "v1"]).unwrap();
        (git_init(&mut fake, &args), fake)
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
        assert!(matches!(err, PodError::GitFetch { .. }), "{err:?}");
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
            matches!(result.unwrap_err(), PodError::GitCommand { action, .. } if action == "update the submodules")
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
            git_init(&mut NoGit, &args).unwrap_err().to_string(),
            "cannot run git: No such file or directory"
        );
    }
}
