//! The crate's one error type.

use std::fmt;

use build_types::Report;

/// Everything that can go wrong in this crate: compiling a Pod ([`crate::compile_pod`]) or
/// fetching a git source ([`crate::git_init`]).
///
/// Messages start lower-case, carry the field path or container name concerned, and never
/// contain credentials: URLs are redacted before they are stored here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PodError {
    /// The resolved Build cannot be laid out as a Pod; every problem found, not just the first.
    #[error("cannot compile a pod for build {build:?}: {}", Errors(.problems))]
    Invalid {
        /// The Build's name.
        build: String,
        /// Each problem with its field path, in the order found.
        problems: Report,
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

/// A report's errors on one line, separated by `; `.
struct Errors<'a>(&'a Report);

impl fmt::Display for Errors<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.errors().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}
