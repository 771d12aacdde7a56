//! Why a template cannot be applied.

use build_types::{Problem, TemplateKind};

/// One reason a template cannot be applied to a Build. Argument values never appear in the
/// messages.
///
/// Displays as the message alone; [`Error::path`] says where, and a [`Problem`] made from the
/// error carries both (`build.template.arguments[0]: argument IMAGES matches no parameter`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The Build names a template, but the caller did not supply it.
    #[error("the build names {} {name:?} but the template was not supplied", .kind.as_str())]
    TemplateNotSupplied {
        /// BuildTemplate or ClusterBuildTemplate.
        kind: TemplateKind,
        /// The template's name.
        name: String,
    },
    /// The caller supplied a template, but the Build names none.
    #[error("a template was supplied but the build names none")]
    TemplateNotNamed,
    /// The Build gives the same argument twice.
    #[error("argument {name} is given more than once (first at build.template.arguments[{first}])")]
    DuplicateArgument {
        /// The argument's name.
        name: String,
        /// Where it is repeated.
        index: usize,
        /// Where it is first given.
        first: usize,
    },
    /// The Build gives an argument that matches no parameter of the template. Knative Build
    /// ignored it, so a misspelt argument silently fell back to the parameter's default.
    #[error(
        "argument {name} matches no parameter of the template ({})",
        parameter_list(.parameters)
    )]
    UnknownArgument {
        /// The argument's name.
        name: String,
        /// Where it is given.
        index: usize,
        /// The template's parameters, in declaration order.
        parameters: Vec<String>,
    },
    /// A parameter without a default that the Build gives no argument for.
    #[error(
        "missing argument for required parameter {name}{}",
        description_suffix(.description)
    )]
    MissingArgument {
        /// The parameter's name.
        name: String,
        /// The parameter's description, if it has one.
        description: Option<String>,
    },
    /// A nested reference such as `${A${B}}`.
    #[error("nested reference `{text}` is not allowed")]
    NestedReference {
        /// The field it is in.
        path: String,
        /// The text from the outer `${` to its matching `}`.
        text: String,
    },
}

fn parameter_list(parameters: &[String]) -> String {
    if parameters.is_empty() {
        "the template has no parameters".to_owned()
    } else {
        format!("parameters: {}", parameters.join(", "))
    }
}

fn description_suffix(description: &Option<String>) -> String {
    match description.as_deref().map(str::trim) {
        Some(text) if !text.is_empty() => format!(" ({text:?})"),
        _ => String::new(),
    }
}

impl Error {
    /// Where the problem is: `build.template.arguments[1]`, `steps[0].args[2]`.
    pub fn path(&self) -> String {
        match self {
            Error::TemplateNotSupplied { .. } => "build.template.name".to_owned(),
            Error::TemplateNotNamed => "build.template".to_owned(),
            Error::DuplicateArgument { index, .. } | Error::UnknownArgument { index, .. } => {
                format!("build.template.arguments[{index}]")
            }
            Error::MissingArgument { .. } => "build.template.arguments".to_owned(),
            Error::NestedReference { path, .. } => path.clone(),
        }
    }
}

impl From<Error> for Problem {
    fn from(error: Error) -> Problem {
        Problem::error(error.path(), error.to_string())
    }
}
