//! Why a template cannot be applied.

use std::fmt;

use build_types::TemplateKind;

use crate::Warning;

/// One reason a template cannot be applied to a Build. Argument values never appear in the
/// messages.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The Build names a template, but the caller did not supply it.
    #[error("build.template.name: the build names {} {name:?} but the template was not supplied", .kind.as_str())]
    TemplateNotSupplied {
        /// BuildTemplate or ClusterBuildTemplate.
        kind: TemplateKind,
        /// The template's name.
        name: String,
    },
    /// The caller supplied a template, but the Build names none.
    #[error("build.template: a template was supplied but the build names none")]
    TemplateNotNamed,
    /// The Build gives the same argument twice.
    #[error(
        "build.template.arguments[{index}]: argument {name} is given more than once \
         (first at build.template.arguments[{first}])"
    )]
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
        "build.template.arguments[{index}]: argument {name} matches no parameter of the \
         template ({})",
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
        "build.template.arguments: missing argument for required parameter {name}{}",
        description_suffix(.description)
    )]
    MissingArgument {
        /// The parameter's name.
        name: String,
        /// The parameter's description, if it has one.
        description: Option<String>,
    },
    /// A nested reference such as `${A${B}}`.
    #[error("{path}: nested reference `{text}` is not allowed")]
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

/// Every reason a template cannot be applied to a Build, with the warnings found on the way.
///
/// Displays one line per error; the warnings are not part of the display.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateReport {
    /// The errors, in this order: the template's availability, the arguments (in argument
    /// order), the missing arguments (in parameter order), nested references (in field order).
    /// Never empty in a report returned by [`resolve`](crate::resolve).
    pub errors: Vec<Error>,
    /// The warnings found while applying the template anyway.
    pub warnings: Vec<Warning>,
}

impl fmt::Display for TemplateReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for TemplateReport {}
