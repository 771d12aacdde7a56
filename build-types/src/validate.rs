//! Validation: every rule of Knative Build's admission webhook, and a few more, reporting every
//! problem with its field path instead of stopping at the first one.
//!
//! # How it is built
//!
//! The rules are written by hand: the checks walk a resource, `join` field names and indices
//! onto a [`FieldPath`](crate::diagnostics::FieldPath) (garde's path), and add each problem to a
//! [`Report`](crate::diagnostics::Report).
//! `#[derive(garde::Validate)]` is not used because the specs embed k8s-openapi's `Container`
//! and `Volume`, which do not implement `garde::Validate`, and because most rules here relate
//! several fields (unique names, overlapping target paths) rather than checking one value.
//! garde's types stay out of the public API, so a garde upgrade cannot break callers.
//!
//! # Rules
//!
//! Builds, BuildTemplates and ClusterBuildTemplates:
//! - `metadata.name` has no `.` and is at most 63 characters long.
//!
//! Builds ([`BuildSpec`]):
//! - exactly one of `steps` and `template`; not both `source` and `sources`;
//! - `template.name` is set (an unknown `template.kind` is already rejected when loading);
//!   `template.arguments` have non-empty, unique names;
//! - every source has exactly one of `git`, `gcs` and `custom`; `git.url`, `gcs.location` and
//!   `custom.image` are set;
//! - sources have unique names (at most one may be unnamed); at most one sets `subPath`; at most
//!   one non-custom source leaves `targetPath` empty; a custom source sets no `targetPath`; target
//!   paths do not overlap (`a/b` and `a/b/c` do, `basel` and `baselrocks` do not), name a
//!   directory below `/workspace` and contain no `..`;
//! - every step has an image; non-empty step names are unique;
//! - volumes have non-empty, unique names;
//! - `timeout` is between 0 and [`MAX_TIMEOUT`] (24h), inclusive.
//!
//! Unlike the original webhook, a Build that names a template still has its sources, volumes
//! and timeout checked.
//!
//! Templates ([`BuildTemplateSpec`]):
//! - there is at least one step; every step has an image; non-empty step names are unique;
//! - parameters have unique names matching `[A-Za-z_][A-Za-z0-9_.-]*`;
//! - volumes have non-empty, unique names.

use std::collections::HashMap;
use std::fmt;

use k8s_openapi::api::core::v1::{Container, Volume};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::defaults::MAX_TIMEOUT;
use crate::diagnostics::{FieldPath as Path, Report};
use crate::types::{
    ArgumentSpec, BuildSpec, BuildTemplateSpec, ClusterBuildTemplateSpec, ParameterSpec,
    SourceSpec, TemplateInstantiationSpec,
};
use crate::types::{Build, BuildTemplate, ClusterBuildTemplate};

/// The longest `metadata.name` a Build or template may have.
const MAX_NAME_LENGTH: usize = 63;

/// A value that has passed its validation: only [`Build::into_valid`] makes a `Valid<Build>`,
/// so code that takes one (the pod compiler) need not check those rules again.
#[derive(Debug, Clone, PartialEq)]
pub struct Valid<T>(T);

impl<T> Valid<T> {
    /// The value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Valid<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl Build {
    /// Checks the Build's name and spec; see the module documentation for the list of rules.
    ///
    /// ```
    /// use build_types::{Build, BuildSpec};
    /// let build = Build::new("my.build", BuildSpec::default());
    /// let report = build.validate().unwrap_err();
    /// assert_eq!(
    ///     report.to_string(),
    ///     "metadata.name: invalid name \"my.build\": must not contain \".\"\n\
    ///      spec: expected exactly one of steps and template, got neither"
    /// );
    /// ```
    pub fn validate(&self) -> Result<(), Report> {
        let mut report = Report::new();
        check_metadata(&self.metadata, &Path::new("metadata"), &mut report);
        check_build_spec(&self.spec, &Path::new("spec"), &mut report);
        report.check()
    }

    /// The Build, once [`Build::validate`] finds nothing wrong with it.
    pub fn into_valid(self) -> Result<Valid<Build>, Report> {
        self.validate()?;
        Ok(Valid(self))
    }
}

impl BuildSpec {
    /// Checks the spec alone; paths are relative to it (`steps[1].image`).
    pub fn validate(&self) -> Result<(), Report> {
        let mut report = Report::new();
        check_build_spec(self, &Path::empty(), &mut report);
        report.check()
    }
}

impl BuildTemplate {
    /// Checks the template's name and spec.
    pub fn validate(&self) -> Result<(), Report> {
        validate_template(&self.metadata, &self.spec)
    }
}

impl ClusterBuildTemplate {
    /// Checks the template's name and spec.
    pub fn validate(&self) -> Result<(), Report> {
        validate_template(&self.metadata, self.template_spec())
    }
}

impl BuildTemplateSpec {
    /// Checks the spec alone; paths are relative to it (`steps[1].image`).
    ///
    /// ```
    /// use build_types::{BuildTemplateSpec, ParameterSpec};
    /// let spec = BuildTemplateSpec {
    ///     parameters: vec![ParameterSpec { name: "1X".into(), ..Default::default() }],
    ///     ..Default::default()
    /// };
    /// assert_eq!(
    ///     spec.validate().unwrap_err().to_string(),
    ///     "parameters[0].name: invalid parameter name \"1X\": must match [A-Za-z_][A-Za-z0-9_.-]*\n\
    ///      steps: missing"
    /// );
    /// ```
    pub fn validate(&self) -> Result<(), Report> {
        let mut report = Report::new();
        check_template_spec(self, &Path::empty(), &mut report);
        report.check()
    }
}

impl ClusterBuildTemplateSpec {
    /// Checks the spec alone; paths are relative to it (`steps[1].image`).
    pub fn validate(&self) -> Result<(), Report> {
        self.0.validate()
    }
}

fn validate_template(meta: &ObjectMeta, spec: &BuildTemplateSpec) -> Result<(), Report> {
    let mut report = Report::new();
    check_metadata(meta, &Path::new("metadata"), &mut report);
    check_template_spec(spec, &Path::new("spec"), &mut report);
    report.check()
}

fn problem(report: &mut Report, path: Path, message: impl fmt::Display) {
    report.error(path, message.to_string());
}

fn check_metadata(meta: &ObjectMeta, path: &Path, report: &mut Report) {
    let Some(name) = meta.name.as_deref() else {
        return;
    };
    let path = path.join("name");
    if name.contains('.') {
        problem(
            report,
            path.clone(),
            format_args!("invalid name {name:?}: must not contain \".\""),
        );
    }
    let length = name.chars().count();
    if length > MAX_NAME_LENGTH {
        problem(
            report,
            path,
            format_args!("name is {length} characters long, at most {MAX_NAME_LENGTH} are allowed"),
        );
    }
}

fn check_build_spec(spec: &BuildSpec, path: &Path, report: &mut Report) {
    match (spec.steps.is_empty(), spec.template.is_some()) {
        (true, false) => problem(
            report,
            path.clone(),
            "expected exactly one of steps and template, got neither",
        ),
        (false, true) => problem(
            report,
            path.clone(),
            "expected exactly one of steps and template, got both",
        ),
        _ => {}
    }
    if spec.source.is_some() && !spec.sources.is_empty() {
        problem(
            report,
            path.clone(),
            "expected at most one of source and sources, got both",
        );
    }

    let mut sources: Vec<(Path, &SourceSpec)> = Vec::new();
    if let Some(source) = &spec.source {
        sources.push((path.join("source"), source));
    }
    let sources_path = path.join("sources");
    sources.extend(
        spec.sources
            .iter()
            .enumerate()
            .map(|(i, source)| (sources_path.join(i), source)),
    );
    check_sources(&sources, report);

    check_steps(&spec.steps, &path.join("steps"), report);
    check_volumes(&spec.volumes, &path.join("volumes"), report);
    if let Some(template) = &spec.template {
        check_template_instantiation(template, &path.join("template"), report);
    }
    if let Some(timeout) = spec.timeout {
        let path = path.join("timeout");
        if timeout.is_negative() {
            problem(report, path, format_args!("{timeout} must not be negative"));
        } else if timeout > MAX_TIMEOUT {
            problem(
                report,
                path,
                format_args!("{timeout} is longer than the maximum of {MAX_TIMEOUT}"),
            );
        }
    }
}

/// The first source that claimed something, to name it in a later problem.
type Claim = Option<Path>;

fn check_sources(sources: &[(Path, &SourceSpec)], report: &mut Report) {
    let mut names: HashMap<&str, Path> = HashMap::new();
    let mut sub_path: Claim = None;
    let mut at_root: Claim = None;
    let mut targets: Vec<(&str, Path)> = Vec::new();

    for (path, source) in sources {
        check_source_kind(source, path, report);

        let name = source.name.as_deref().unwrap_or_default();
        match names.get(name) {
            Some(first) if name.is_empty() => problem(
                report,
                path.join("name"),
                format_args!("missing; only one source may be unnamed, and {first} is"),
            ),
            Some(_) => problem(
                report,
                path.join("name"),
                format_args!("duplicate source name {name:?}"),
            ),
            None => {
                names.insert(name, path.clone());
            }
        }

        if source.sub_path.as_deref().is_some_and(|s| !s.is_empty()) {
            match &sub_path {
                Some(first) => problem(
                    report,
                    path.join("subPath"),
                    format_args!("only one source may set subPath, and {first} does"),
                ),
                None => sub_path = Some(path.clone()),
            }
        }

        let target = source.target_path.as_deref().filter(|t| !t.is_empty());
        match (target, source.custom.is_some()) {
            (None, true) => {}
            (None, false) => match &at_root {
                Some(first) => problem(
                    report,
                    path.join("targetPath"),
                    format_args!(
                        "missing; only one source may leave targetPath empty, and {first} does"
                    ),
                ),
                None => at_root = Some(path.clone()),
            },
            (Some(target), true) => problem(
                report,
                path.join("targetPath"),
                format_args!("must not be set on a custom source (got {target:?})"),
            ),
            (Some(target), false) => {
                let target_path = path.join("targetPath");
                if path_components(target).next().is_none() {
                    problem(
                        report,
                        target_path.clone(),
                        format_args!("{target:?} does not name a directory below /workspace"),
                    );
                }
                if path_components(target).any(|c| c == "..") {
                    problem(
                        report,
                        target_path.clone(),
                        format_args!("{target:?} must not contain \"..\""),
                    );
                }
                for (other, other_path) in &targets {
                    if target_paths_overlap(target, other) {
                        problem(
                            report,
                            target_path.clone(),
                            format_args!("{target:?} overlaps {other:?} of {other_path}"),
                        );
                    }
                }
                targets.push((target, path.clone()));
            }
        }
    }
}

fn check_source_kind(source: &SourceSpec, path: &Path, report: &mut Report) {
    let kinds: Vec<&str> = [
        source.git.as_ref().map(|_| "git"),
        source.gcs.as_ref().map(|_| "gcs"),
        source.custom.as_ref().map(|_| "custom"),
    ]
    .into_iter()
    .flatten()
    .collect();
    match kinds.as_slice() {
        [] => problem(
            report,
            path.clone(),
            "expected exactly one of git, gcs and custom, got none",
        ),
        [_] => {}
        [init @ .., last] => problem(
            report,
            path.clone(),
            format_args!(
                "expected exactly one of git, gcs and custom, got {} and {last}",
                init.join(", ")
            ),
        ),
    }
    if let Some(git) = &source.git
        && git.url.trim().is_empty()
    {
        problem(report, path.join("git").join("url"), "missing");
    }
    if let Some(gcs) = &source.gcs
        && gcs.location.trim().is_empty()
    {
        problem(report, path.join("gcs").join("location"), "missing");
    }
    if let Some(custom) = &source.custom {
        check_image(custom, &path.join("custom"), report);
    }
}

/// The components of a target path, ignoring empty ones and `.`: `/a//./b/` is `a`, `b`.
fn path_components(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|c| !c.is_empty() && *c != ".")
}

/// Whether two target paths under `/workspace` overlap: one is the other or lies inside it,
/// compared by whole components (`a/b` and `a/b/c` overlap, `basel` and `baselrocks` do not).
fn target_paths_overlap(a: &str, b: &str) -> bool {
    path_components(a)
        .zip(path_components(b))
        .all(|(a, b)| a == b)
}

fn check_image(container: &Container, path: &Path, report: &mut Report) {
    if container
        .image
        .as_deref()
        .is_none_or(|i| i.trim().is_empty())
    {
        problem(report, path.join("image"), "missing");
    }
}

fn check_steps(steps: &[Container], path: &Path, report: &mut Report) {
    let mut names: HashMap<&str, usize> = HashMap::new();
    for (i, step) in steps.iter().enumerate() {
        let step_path = path.join(i);
        check_image(step, &step_path, report);
        let name = step.name.as_str();
        if name.is_empty() {
            continue;
        }
        if names.insert(name, i).is_some() {
            problem(
                report,
                step_path.join("name"),
                format_args!("duplicate step name {name:?}"),
            );
        }
    }
}

fn check_volumes(volumes: &[Volume], path: &Path, report: &mut Report) {
    let mut names: HashMap<&str, usize> = HashMap::new();
    for (i, volume) in volumes.iter().enumerate() {
        let name = volume.name.as_str();
        let name_path = path.join(i).join("name");
        if name.is_empty() {
            problem(report, name_path, "missing");
        } else if names.insert(name, i).is_some() {
            problem(
                report,
                name_path,
                format_args!("duplicate volume name {name:?}"),
            );
        }
    }
}

fn check_template_instantiation(
    template: &TemplateInstantiationSpec,
    path: &Path,
    report: &mut Report,
) {
    if template.name.trim().is_empty() {
        problem(report, path.join("name"), "missing");
    }
    check_arguments(&template.arguments, &path.join("arguments"), report);
}

fn check_arguments(arguments: &[ArgumentSpec], path: &Path, report: &mut Report) {
    let mut names: HashMap<&str, usize> = HashMap::new();
    for (i, argument) in arguments.iter().enumerate() {
        let name = argument.name.as_str();
        let name_path = path.join(i).join("name");
        if name.is_empty() {
            problem(report, name_path, "missing");
        } else if names.insert(name, i).is_some() {
            problem(
                report,
                name_path,
                format_args!("duplicate argument name {name:?}"),
            );
        }
    }
}

fn check_template_spec(spec: &BuildTemplateSpec, path: &Path, report: &mut Report) {
    check_parameters(&spec.parameters, &path.join("parameters"), report);
    let steps_path = path.join("steps");
    if spec.steps.is_empty() {
        problem(report, steps_path.clone(), "missing");
    }
    check_steps(&spec.steps, &steps_path, report);
    check_volumes(&spec.volumes, &path.join("volumes"), report);
}

fn check_parameters(parameters: &[ParameterSpec], path: &Path, report: &mut Report) {
    let mut names: HashMap<&str, usize> = HashMap::new();
    for (i, parameter) in parameters.iter().enumerate() {
        let name = parameter.name.as_str();
        let name_path = path.join(i).join("name");
        if name.is_empty() {
            problem(report, name_path, "missing");
            continue;
        }
        if !is_parameter_name(name) {
            problem(
                report,
                name_path.clone(),
                format_args!(
                    "invalid parameter name {name:?}: must match [A-Za-z_][A-Za-z0-9_.-]*"
                ),
            );
        }
        if names.insert(name, i).is_some() {
            problem(
                report,
                name_path,
                format_args!("duplicate parameter name {name:?}"),
            );
        }
    }
}

/// Whether `name` matches `[A-Za-z_][A-Za-z0-9_.-]*`.
fn is_parameter_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_target_paths_overlap() {
        assert!(target_paths_overlap("a/b", "a/b/c"));
        assert!(target_paths_overlap("a/b/c", "a/b"));
        assert!(target_paths_overlap("a", "a/b/c/d"));
    }

    #[test]
    fn equal_target_paths_overlap() {
        assert!(target_paths_overlap("a/b", "a/b"));
        assert!(target_paths_overlap("/a/b/", "a//b"));
        assert!(target_paths_overlap("./a/b", "a/./b"));
    }

    #[test]
    fn prefixes_of_a_component_do_not_overlap() {
        assert!(!target_paths_overlap("basel", "baselrocks"));
        assert!(!target_paths_overlap("a/basel", "a/baselrocks/x"));
    }

    #[test]
    fn siblings_do_not_overlap() {
        assert!(!target_paths_overlap("a/b", "a/c"));
        assert!(!target_paths_overlap("a/b/c", "a/d/c"));
        assert!(!target_paths_overlap("x", "y"));
    }

    #[test]
    fn the_root_overlaps_everything() {
        assert!(target_paths_overlap("/", "a"));
        assert!(target_paths_overlap("a", "."));
    }

    #[test]
    fn parameter_names() {
        for good in ["IMAGE", "_x", "a.b-c_d", "x1"] {
            assert!(is_parameter_name(good), "{good}");
        }
        for bad in ["", "1X", "-a", ".a", "a b", "a$", "é"] {
            assert!(!is_parameter_name(bad), "{bad}");
        }
    }
}
