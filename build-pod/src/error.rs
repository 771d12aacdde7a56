//! The error of the pod compiler. (The in-pod programs have their own:
//! [`GitInitError`](crate::git_init::GitInitError), [`NopError`](crate::nop::NopError).)

use std::fmt;

use build_types::Report;

/// Everything that can go wrong compiling a Pod ([`crate::compile_pod`]).
///
/// Messages start lower-case, carry the field path or container name concerned, and never
/// contain credentials.
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
