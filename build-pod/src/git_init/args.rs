//! `git-init`'s command line.

use super::error::GitInitError;
use super::redact::redact;

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
    /// use build_pod::git_init::GitInitArgs;
    /// let args = GitInitArgs::parse(["-url", "https://github.com/a/b.git", "--revision=v1"]).unwrap();
    /// assert_eq!(args.revision, "v1");
    /// assert_eq!(args.path, ".");
    /// ```
    pub fn parse<I, S>(args: I) -> Result<Self, GitInitError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let usage = |message: String| GitInitError::Usage { message };
        let mut url = None;
        let mut revision = None;
        let mut path = None;
        let mut args = args.into_iter().map(Into::into);
        while let Some(arg) = args.next() {
            let Some((name, inline)) = build_auth::go_flag::split(&arg) else {
                return Err(usage(format!("unexpected argument {arg:?}")));
            };
            let slot = match name {
                "url" => &mut url,
                "revision" => &mut revision,
                "path" => &mut path,
                _ => return Err(usage(format!("unknown flag {arg:?}"))),
            };
            let value = match inline {
                Some(value) => value.to_owned(),
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
            let GitInitError::Usage { message } = &err else {
                panic!("{argv:?}: {err:?}")
            };
            assert!(message.contains(expected), "{argv:?}: {message}");
            assert!(err.to_string().contains("usage: git-init"), "{err}");
        }
    }
}
