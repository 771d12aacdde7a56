//! The error of the pod compiler. (The in-pod programs have their own:
//! [`GitInitError`](crate::git_init::GitInitError), [`NopError`](crate::nop::NopError).)

use std::fmt;

/// Everything that can go wrong compiling a Pod ([`crate::compile_pod`]).
///
/// Messages start lower-case, carry the field path or container name concerned, and never
/// contain credentials.
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
