//! The errors of this crate.

use std::path::PathBuf;

use crate::diagnostics::Report;

use crate::diagnostics::Origin;

/// A string that is not a Go-style duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {reason}")]
pub struct DurationError {
    /// The text that failed to parse.
    pub input: String,
    /// Why it failed.
    pub reason: &'static str,
}

/// Everything that can go wrong in this crate.
///
/// The loader's errors name the file, the document (1-based) and the line, and where the YAML
/// parser knows it, the column: `img.yaml:2:6: document 1: mapping values are not allowed in
/// this context`. An error inside a Secret's `data` or `stringData` names only the field, never
/// the value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The path that was being read.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// The input is not UTF-8 text; nothing of it was loaded.
    #[error("{file}:{line}:{column}: not valid utf-8")]
    NotUtf8 {
        /// The file (or display name) being loaded.
        file: String,
        /// The line of the first invalid byte, 1-based.
        line: usize,
        /// The column of the first invalid byte, in characters, 1-based.
        column: usize,
    },

    /// A document is not valid YAML, or does not fit the type its `kind` names (a wrong type, an
    /// unknown enum value, a missing required field).
    #[error("{}:{line}:{column}: document {}: {message}", origin.file, origin.document)]
    Parse {
        /// The document the error is in.
        origin: Origin,
        /// The line of the error in the file, 1-based. When the parser gives no position, the
        /// line the document starts on.
        line: usize,
        /// The column of the error, 1-based (1 when the parser gives no position).
        column: usize,
        /// The parser's message, without its position.
        message: String,
    },

    /// A document is not a mapping (it is a list, a string, ...), so it cannot be an object.
    #[error("{origin}: document {}: expected a mapping with apiVersion and kind, found {found}", origin.document)]
    NotAnObject {
        /// The document.
        origin: Origin,
        /// What was found instead, such as `a sequence`.
        found: &'static str,
    },

    /// A document has no `apiVersion` or no `kind` (absent, empty, or not a string).
    #[error("{origin}: document {}: missing {field}", origin.document)]
    MissingTypeMeta {
        /// The document.
        origin: Origin,
        /// `apiVersion` or `kind`.
        field: &'static str,
    },

    /// A document's `apiVersion` and `kind` name a resource this crate does not load; it is
    /// reported rather than dropped.
    #[error(
        "{origin}: document {}: unsupported kind {kind:?} of apiVersion {api_version:?} (expected Build, BuildTemplate or ClusterBuildTemplate of build.knative.dev/v1alpha1, or ServiceAccount or Secret of v1)",
        origin.document
    )]
    UnsupportedKind {
        /// The document.
        origin: Origin,
        /// Its `apiVersion`.
        api_version: String,
        /// Its `kind`.
        kind: String,
    },

    /// An object failed validation; the report lists every problem, one per line.
    #[error("{0}")]
    Invalid(#[from] Report),
}
