//! `nop`, the one regular container of a build pod ([`NOP_CONTAINER`](crate::NOP_CONTAINER)).
//!
//! Every build step runs as an init container; a pod needs at least one regular container, and
//! this one runs once the steps have all succeeded, prints [`MESSAGE`] and exits 0 at once, as
//! Knative Build's `nop` did. The `nop` binary is a thin wrapper around [`run`]; it ignores its
//! arguments.

use std::io::Write;

/// What `nop` prints: the line Knative Build's `nop` printed.
pub const MESSAGE: &str = "Build successful";

/// Why `nop` failed: only its output can fail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NopError {
    /// Writing [`MESSAGE`] failed.
    #[error("cannot write to standard output: {reason}")]
    Output {
        /// The operating system's error.
        reason: String,
    },
}

/// Writes [`MESSAGE`] and a line break to `out`.
///
/// ```
/// let mut out = Vec::new();
/// build_pod::nop::run(&mut out).unwrap();
/// assert_eq!(out, b"Build successful\n");
/// ```
///
/// # Errors
///
/// [`NopError::Output`] when `out` cannot be written to.
pub fn run(out: &mut dyn Write) -> Result<(), NopError> {
    writeln!(out, "{MESSAGE}")
        .and_then(|()| out.flush())
        .map_err(|error| NopError::Output {
            reason: error.kind().to_string(),
        })
}
