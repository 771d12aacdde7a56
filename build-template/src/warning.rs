//! Problems that do not stop a template from being applied.

use std::fmt;

use build_types::Problem;

/// What a warning of the template engine is about; [`WarningKind::at`] makes it a
/// [`Problem`] at a field path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WarningKind {
    /// `${NAME}` where `NAME` is not a parameter of the template; left as written, since shell
    /// scripts in `args` use `${HOME}` and friends.
    UnknownParameter {
        /// The name referred to.
        name: String,
    },
    /// A `${` that is never closed, left as written.
    UnterminatedReference {
        /// The `${` and the name characters after it.
        text: String,
    },
    /// A `${` not followed by a parameter name and `}` (`${FOO:-x}`, `${1}`), left as written.
    MalformedReference {
        /// The `${` and the name characters after it (and the `}` when one follows).
        text: String,
    },
    /// A nested reference such as `${A${B}}`. Only [`lint_template`](crate::lint_template)
    /// reports it as a warning; applying the template makes it an
    /// [`Error::NestedReference`](crate::error::Error::NestedReference).
    NestedReference {
        /// The text from the outer `${` to its matching `}`.
        text: String,
    },
    /// A parameter that no substituted field refers to.
    UnusedParameter {
        /// The parameter's name.
        name: String,
    },
    /// A parameter declared more than once; the last declaration is the one used.
    DuplicateParameter {
        /// The parameter's name.
        name: String,
        /// The index of its first declaration in `parameters`.
        first: usize,
    },
}

impl fmt::Display for WarningKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WarningKind::UnknownParameter { name } => {
                write!(f, "unknown parameter ${{{name}}} left as written")
            }
            WarningKind::UnterminatedReference { text } => {
                write!(f, "unterminated `{text}` left as written")
            }
            WarningKind::MalformedReference { text } => write!(
                f,
                "`{text}` is not a parameter reference (`${{NAME}}` with NAME matching \
                 [A-Za-z_][A-Za-z0-9_.-]*), left as written"
            ),
            WarningKind::NestedReference { text } => write!(
                f,
                "nested reference `{text}` is not allowed; builds using this template will fail"
            ),
            WarningKind::UnusedParameter { name } => {
                write!(f, "parameter {name} is never referenced")
            }
            WarningKind::DuplicateParameter { name, first } => write!(
                f,
                "parameter {name} is already declared at parameters[{first}]; the last \
                 declaration is used"
            ),
        }
    }
}

impl WarningKind {
    /// This warning at `path`: `steps[0].args[2]: unknown parameter ${FOO} left as written`.
    pub fn at(&self, path: impl fmt::Display) -> Problem {
        Problem::warning(path, self.to_string())
    }
}
