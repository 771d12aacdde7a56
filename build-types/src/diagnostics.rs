//! One model for what is wrong with an input, used by every crate of the workspace: a
//! [`Problem`] (where, what, how bad), a [`Report`] of them, and the [`FieldPath`] that says
//! where.
//!
//! Validation, the template engine, the credential planner and the pod compiler all report
//! this way, so a caller (the CLI, the controller's status message, a program embedding the
//! crates) handles one type, and warnings stay structured until they are shown.

use std::fmt;

use serde::Serialize;

/// How bad a [`Problem`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// It stops the Build (or the object) from being applied or run.
    Error,
    /// Worth a look, but it does not stop anything.
    Warning,
}

/// One thing wrong with an input: where, what, and how bad.
///
/// Messages start lower-case, have no trailing period, and never quote a Secret's value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Problem {
    /// The field path, such as `spec.steps[1].image`, or the object concerned, such as
    /// `secret docker-hub`; empty when the problem is with the value as a whole.
    pub path: String,
    /// What is wrong, such as `missing` or `duplicate step name "build"`.
    pub message: String,
    /// Whether it is an error or a warning.
    pub severity: Severity,
}

impl Problem {
    /// An error at `path`.
    pub fn error(path: impl fmt::Display, message: impl Into<String>) -> Problem {
        Problem {
            path: path.to_string(),
            message: message.into(),
            severity: Severity::Error,
        }
    }

    /// A warning at `path`.
    pub fn warning(path: impl fmt::Display, message: impl Into<String>) -> Problem {
        Problem {
            severity: Severity::Warning,
            ..Problem::error(path, message)
        }
    }

    /// Whether this is an error (not a warning).
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Problem {
    /// `path: message`, or just the message when the path is empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every problem found by one check, errors and warnings, in a stable order: the order of the
/// fields in the input, and within a list, the order of its items.
///
/// A `Result<_, Report>` that is an `Err` has at least one error; the warnings found on the way
/// travel with it. Displays as one line per error, `spec.steps[1].image: missing`, without a
/// trailing newline; warnings are not part of the display.
///
/// ```
/// use build_types::BuildSpec;
/// let report = BuildSpec::default().validate().unwrap_err();
/// assert_eq!(report.to_string(), "expected exactly one of steps and template, got neither");
/// assert_eq!(report.errors().count(), 1);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Report {
    problems: Vec<Problem>,
}

impl Report {
    /// An empty report.
    pub fn new() -> Report {
        Report::default()
    }

    /// Adds a problem.
    pub fn push(&mut self, problem: Problem) {
        self.problems.push(problem);
    }

    /// Adds an error at `path`.
    pub fn error(&mut self, path: impl fmt::Display, message: impl Into<String>) {
        self.push(Problem::error(path, message));
    }

    /// Adds a warning at `path`.
    pub fn warning(&mut self, path: impl fmt::Display, message: impl Into<String>) {
        self.push(Problem::warning(path, message));
    }

    /// Adds every problem of `other`, after this report's.
    pub fn append(&mut self, other: Report) {
        self.problems.extend(other.problems);
    }

    /// Every problem, errors and warnings, in order.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// Every problem, errors and warnings, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Problem> {
        self.problems.iter()
    }

    /// How many problems there are, errors and warnings.
    pub fn len(&self) -> usize {
        self.problems.len()
    }

    /// The errors, in order.
    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| p.is_error())
    }

    /// The warnings, in order.
    pub fn warnings(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| !p.is_error())
    }

    /// Whether any problem is an error.
    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }

    /// Whether there is no problem at all.
    pub fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }

    /// `Ok` with the warnings when there is no error, otherwise `Err` with everything.
    pub fn into_result(self) -> Result<Report, Report> {
        if self.has_errors() {
            Err(self)
        } else {
            Ok(self)
        }
    }

    /// `Ok(())` when there is no error (warnings are dropped), otherwise `Err` with
    /// everything.
    pub fn check(self) -> Result<(), Report> {
        self.into_result().map(drop)
    }
}

impl From<Problem> for Report {
    fn from(problem: Problem) -> Report {
        Report {
            problems: vec![problem],
        }
    }
}

impl FromIterator<Problem> for Report {
    fn from_iter<I: IntoIterator<Item = Problem>>(problems: I) -> Report {
        Report {
            problems: problems.into_iter().collect(),
        }
    }
}

impl IntoIterator for Report {
    type Item = Problem;
    type IntoIter = std::vec::IntoIter<Problem>;

    fn into_iter(self) -> Self::IntoIter {
        self.problems.into_iter()
    }
}

impl<'a> IntoIterator for &'a Report {
    type Item = &'a Problem;
    type IntoIter = std::slice::Iter<'a, Problem>;

    fn into_iter(self) -> Self::IntoIter {
        self.problems.iter()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.errors().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Report {}

/// Where in an input a problem is: `spec.steps[1].image`, `template "img" steps[0].name`.
///
/// Cheap to extend: a path shares its prefix with the paths it was joined from (it is
/// [`garde::Path`], whose components are a shared list), so walking a large input joins
/// without copying, and text is made only when a problem is reported.
///
/// ```
/// use build_types::FieldPath;
/// let steps = FieldPath::new("spec").join("steps");
/// assert_eq!(steps.join(1).join("image").to_string(), "spec.steps[1].image");
/// assert_eq!(FieldPath::empty().join("steps").to_string(), "steps");
/// let template = FieldPath::within("template \"img\"");
/// assert_eq!(template.join("steps").join(0).to_string(), "template \"img\" steps[0]");
/// ```
#[derive(Clone, Debug)]
pub struct FieldPath {
    /// What the fields belong to, when it is not the object checked: `template "img"`.
    within: Option<std::sync::Arc<str>>,
    fields: garde::Path,
}

impl Default for FieldPath {
    fn default() -> Self {
        FieldPath::empty()
    }
}

impl FieldPath {
    /// The path of the value as a whole: displays as nothing.
    pub fn empty() -> FieldPath {
        FieldPath {
            within: None,
            fields: garde::Path::empty(),
        }
    }

    /// A path of one field.
    pub fn new(root: &str) -> FieldPath {
        FieldPath {
            within: None,
            fields: garde::Path::new(root),
        }
    }

    /// The path of another object than the one checked, such as `template "img"`, whose fields
    /// follow after a space: `template "img" steps[0].image`.
    pub fn within(object: impl Into<String>) -> FieldPath {
        FieldPath {
            within: Some(object.into().into()),
            fields: garde::Path::empty(),
        }
    }

    /// This path with a field name (`&str`) or a list index (`usize`) appended.
    pub fn join<'a>(&self, component: impl Into<Component<'a>>) -> FieldPath {
        let fields = match component.into() {
            Component::Field(name) => self.fields.join(name),
            Component::Index(index) => self.fields.join(index),
        };
        FieldPath {
            within: self.within.clone(),
            fields,
        }
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.within, self.fields.is_empty()) {
            (None, _) => fmt::Display::fmt(&self.fields, f),
            (Some(object), true) => f.write_str(object),
            (Some(object), false) => write!(f, "{object} {}", self.fields),
        }
    }
}

/// What a [`FieldPath`] is extended with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Component<'a> {
    /// A field name: `.name`.
    Field(&'a str),
    /// A list index: `[3]`.
    Index(usize),
}

impl<'a> From<&'a str> for Component<'a> {
    fn from(name: &'a str) -> Self {
        Component::Field(name)
    }
}

impl From<usize> for Component<'_> {
    fn from(index: usize) -> Self {
        Component::Index(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_is_an_error_only_with_an_error() {
        let mut report = Report::new();
        report.warning("spec.steps[0]", "unused parameter X");
        assert_eq!(report.clone().into_result().unwrap().warnings().count(), 1);
        report.error(
            FieldPath::new("spec").join("timeout"),
            "must not be negative",
        );
        let report = report.into_result().unwrap_err();
        assert_eq!(report.to_string(), "spec.timeout: must not be negative");
        assert_eq!(report.problems().len(), 2);
    }
}

/// Where a loaded object (or an error about one) came from.
///
/// Displays as `file:line`, such as `examples/seed/img.yaml:1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Origin {
    /// The file's path as it was found (`examples/seed/img.yaml`), or the display name given to
    /// `load_str` (`<stdin>`).
    pub file: String,
    /// The document's position in the file, 1-based, counting empty documents too.
    pub document: usize,
    /// The line the document's content starts on, 1-based: the first line that is not blank, a
    /// comment, a directive or a bare `---`.
    pub line: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}
