//! What can stop `git-init`, and its usage, which every command-line error shows.

/// How `git-init` is called; shown with every command-line error.
pub const USAGE: &str = "usage: git-init -url URL [-revision REVISION] [-path PATH]\n  \
     -url URL            the repository to fetch\n  \
     -revision REVISION  a branch, tag, commit SHA or ref such as refs/pull/7/head \
     (default: the remote's HEAD)\n  \
     -path PATH          where to check it out (default: the current directory, /workspace in a build pod)\n\
     Flags may also be written --url, -url=URL or --url=URL.";

/// Why `git-init` checked nothing out. Messages start lower-case and never contain
/// credentials: URLs and git's output are redacted before they are stored here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GitInitError {
    /// `git-init` was called with flags it does not understand. The binary exits 2.
    #[error("{message}\n{USAGE}")]
    Usage {
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
    Fetch {
        /// The repository URL, with any `user:password@` redacted.
        url: String,
        /// The revision asked for.
        revision: String,
        /// git's own message (redacted), or why the revision was not found.
        detail: String,
    },
}

impl GitInitError {
    /// Whether the command line is to blame ([`GitInitError::Usage`]).
    pub fn is_usage(&self) -> bool {
        matches!(self, GitInitError::Usage { .. })
    }
}
