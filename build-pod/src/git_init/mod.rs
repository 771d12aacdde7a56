//! `git-init`, the program that fetches a git source inside a build pod.
//!
//! [`run`] is the whole program but its printing and exit code: it parses the command line,
//! points `ssh` at the files `creds-init` wrote under `$HOME/.ssh` ([`build_auth::ssh`]), runs
//! the real `git` CLI and says what it checked out, or why not ([`GitInitError`]). The `git-init`
//! binary is a thin wrapper around it. [`run`] and the `git` it starts are the only I/O here:
//! [`fetch`], which decides which `git` commands to run and what their results mean, works
//! through the [`Git`] trait, which tests implement with fakes.

mod args;
mod cli;
mod error;
mod fetch;
mod redact;

pub use args::{DEFAULT_REVISION, GitInitArgs};
pub use cli::{Fetched, RunInputs, run};
pub use error::{GitInitError, USAGE};
pub use fetch::{Checkout, FetchMode, Git, GitOutput, fetch};
pub use redact::{redact, redact_url};
