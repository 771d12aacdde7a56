//! The crate's one error type.

use std::fmt;

/// Everything that can go wrong in this crate: compiling a Pod ([`crate::compile_pod`]) or
/// fetching a git source ([`crate::git_init`]).
///
/// Messages start lower-case, carry the field path or container name concerned, and never
/// contain credentials: URLs are redacted before they are stored here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PodError {
    /// The resolved Build cannot be laid out as a Pod; every problem found, not just the first.
    #[error("cannot compile a pod for build {build:?}: {}", Problems(.problems))]
    Invalid {
        /// The Build's name.
        build: String,
        /// Each problem with its field path, in the order found.
        problems: Vec<Problem>,
    },

    /// `git-init` was called with flags it does not understand.
    #[error("{message}\n{}", crate::git_init::GIT_INIT_USAGE)]
    GitInitUsage {
        /// What is wrong with the command line.
        message: String,
    },

    /// The `git` program could not be started.
    #[error("cannot run git: {detail}")]
    GitUnavailable {
        /// Why, as the operating system said.
        detail: String,
    },

    /// A local git operation (not a fetch) failed.
    #[error("cannot {action}: {detail}")]
    GitCommand {
        /// What `git-init` was doing, such as `initialize a repository at "/workspace"`.
        action: String,
        /// git's own message, redacted.
        detail: String,
    },

    /// The repository or the revision cannot be fetched.
    #[error("cannot fetch revision {revision:?} from {url}: {detail}")]
    GitFetch {
        /// The repository URL, with any `user:password@` redacted.
        url: String,
        /// The revision asked for.
        revision: String,
        /// git's own message (redacted), or why the revision was not found.
        detail: String,
    },
}

/// One reason a Build cannot be compiled, with the field path it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where: `spec.sources[1].git.url`, `template "img" steps[0].volumeMounts[0].name`.
    pub path: String,
    /// What is wrong, lower-case, without a trailing period.
    pub message: String,
}

impl Problem {
    pub(crate) fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

struct Problems<'a>(&'a [Problem]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}
