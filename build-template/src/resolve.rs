//! Applying a template to a Build.

use std::collections::BTreeMap;

use build_types::{
    BuildSpec, BuildTemplateSpec, ParameterSpec, Problem, Report, TemplateInstantiationSpec,
};
use k8s_openapi::api::core::v1::{Container, EnvVar, Volume};

use crate::error::Error;
use crate::fields::{self, Path};
use crate::syntax::{Finding, Value, parse};
use crate::warning::WarningKind;

/// A Build's steps and volumes, ready to be laid out as a Pod.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Resolved {
    /// The steps: the template's, substituted, with the Build's `template.env` merged in; or the
    /// Build's own, unchanged.
    pub steps: Vec<Container>,
    /// The Build's volumes followed by the template's, substituted; or the Build's own,
    /// unchanged.
    pub volumes: Vec<Volume>,
    /// Problems that do not stop the build (warnings only), in field order.
    pub warnings: Report,
}

/// Resolves a Build's steps and volumes: without a template, the Build's own steps and volumes
/// unchanged (no substitution at all); with one, the template applied.
///
/// `template` is the spec of the BuildTemplate or ClusterBuildTemplate that `build.template`
/// names; finding it is the caller's job. Every problem is collected into the
/// [`Report`]: a template named but not supplied (or supplied but not named), duplicate
/// arguments, arguments that match no parameter, required parameters without an argument,
/// nested references.
///
/// ```
/// use build_template::resolve;
/// use build_types::{ArgumentSpec, BuildSpec, BuildTemplateSpec, ParameterSpec, TemplateInstantiationSpec};
/// use build_types::k8s_openapi::api::core::v1::Container;
///
/// let template = BuildTemplateSpec {
///     parameters: vec![ParameterSpec { name: "IMAGE".into(), ..Default::default() }],
///     steps: vec![Container {
///         name: "build".into(),
///         args: Some(vec!["build".into(), "-t".into(), "${IMAGE}".into(), "${HOME}".into()]),
///         ..Default::default()
///     }],
///     ..Default::default()
/// };
/// let build = BuildSpec {
///     template: Some(TemplateInstantiationSpec {
///         name: "buildkit".into(),
///         arguments: vec![ArgumentSpec { name: "IMAGE".into(), value: "example/app".into() }],
///         ..Default::default()
///     }),
///     ..Default::default()
/// };
///
/// let resolved = resolve(&build, Some(&template)).unwrap();
/// assert_eq!(resolved.steps[0].args.as_deref().unwrap()[2], "example/app");
/// assert_eq!(
///     resolved.warnings.problems()[0].to_string(),
///     "steps[0].args[3]: unknown parameter ${HOME} left as written"
/// );
///
/// let typo = BuildSpec {
///     template: Some(TemplateInstantiationSpec {
///         name: "buildkit".into(),
///         arguments: vec![ArgumentSpec { name: "IMAGES".into(), value: "x".into() }],
///         ..Default::default()
///     }),
///     ..Default::default()
/// };
/// let report = resolve(&typo, Some(&template)).unwrap_err();
/// assert_eq!(
///     report.to_string(),
///     "build.template.arguments[0]: argument IMAGES matches no parameter of the template \
///      (parameters: IMAGE)\n\
///      build.template.arguments: missing argument for required parameter IMAGE"
/// );
/// ```
pub fn resolve(
    build: &BuildSpec,
    template: Option<&BuildTemplateSpec>,
) -> Result<Resolved, Report> {
    match (&build.template, template) {
        (None, None) => Ok(Resolved {
            steps: build.steps.clone(),
            volumes: build.volumes.clone(),
            warnings: Report::new(),
        }),
        (Some(named), None) => Err(Problem::from(Error::TemplateNotSupplied {
            kind: named.kind.unwrap_or_default(),
            name: named.name.clone(),
        })
        .into()),
        (None, Some(_)) => Err(Problem::from(Error::TemplateNotNamed).into()),
        (Some(named), Some(template)) => apply(build, named, template),
    }
}

/// The parameters of a template by name, each with the index of its first and last
/// declaration; the last one is used.
pub(crate) struct Parameters<'t> {
    /// In order of first declaration.
    pub(crate) order: Vec<&'t str>,
    pub(crate) by_name: BTreeMap<&'t str, Declared<'t>>,
}

/// Where a parameter is declared.
pub(crate) struct Declared<'t> {
    pub(crate) first: usize,
    pub(crate) last: usize,
    pub(crate) spec: &'t ParameterSpec,
}

impl<'t> Parameters<'t> {
    /// The parameters, and a warning for each repeated declaration.
    pub(crate) fn new(template: &'t BuildTemplateSpec) -> (Self, Vec<Problem>) {
        let mut parameters = Parameters {
            order: Vec::new(),
            by_name: BTreeMap::new(),
        };
        let mut warnings = Vec::new();
        for (index, spec) in template.parameters.iter().enumerate() {
            let name = spec.name.as_str();
            match parameters.by_name.get_mut(name) {
                Some(declared) => {
                    let kind = WarningKind::DuplicateParameter {
                        name: name.to_owned(),
                        first: declared.first,
                    };
                    warnings.push(kind.at(format_args!("parameters[{index}]")));
                    declared.last = index;
                    declared.spec = spec;
                }
                None => {
                    parameters.order.push(name);
                    parameters.by_name.insert(
                        name,
                        Declared {
                            first: index,
                            last: index,
                            spec,
                        },
                    );
                }
            }
        }
        (parameters, warnings)
    }
}

fn apply(
    build: &BuildSpec,
    named: &TemplateInstantiationSpec,
    template: &BuildTemplateSpec,
) -> Result<Resolved, Report> {
    let (parameters, mut warnings) = Parameters::new(template);
    let mut errors = Vec::new();

    let mut given: BTreeMap<&str, usize> = BTreeMap::new();
    for (index, argument) in named.arguments.iter().enumerate() {
        let name = argument.name.as_str();
        if let Some(&first) = given.get(name) {
            errors.push(Error::DuplicateArgument {
                name: name.to_owned(),
                index,
                first,
            });
            continue;
        }
        given.insert(name, index);
        if !parameters.by_name.contains_key(name) {
            errors.push(Error::UnknownArgument {
                name: name.to_owned(),
                index,
                parameters: parameters.order.iter().map(|&p| p.to_owned()).collect(),
            });
        }
    }

    let mut values: BTreeMap<&str, Option<&str>> = BTreeMap::new();
    for &name in &parameters.order {
        let spec = parameters.by_name[name].spec;
        let value = match given.get(name) {
            Some(&index) => Some(named.arguments[index].value.as_str()),
            None => spec.default.as_deref(),
        };
        if value.is_none() {
            errors.push(Error::MissingArgument {
                name: name.to_owned(),
                description: spec.description.clone(),
            });
        }
        values.insert(name, value);
    }

    let mut lookup = |name: &str| match values.get(name) {
        Some(Some(value)) => Value::Known(value),
        Some(None) => Value::Declared,
        None => Value::Unknown,
    };
    let mut visit = |path: &Path, field: &mut String| {
        substitute_field(field, &mut lookup, &mut |finding| match finding {
            Finding::Warning(kind) => warnings.push(kind.at(path)),
            Finding::Nested(text) => errors.push(Error::NestedReference {
                path: path.to_string(),
                text,
            }),
        });
    };

    let mut path = Path::default();
    let mut steps = template.steps.clone();
    fields::each(
        &mut steps,
        "steps",
        &mut path,
        &mut visit,
        fields::container,
    );
    let mut env = named.env.clone();
    path.field("build", |path| {
        path.field("template", |path| {
            fields::each(&mut env, "env", path, &mut visit, fields::env_var);
        });
    });
    let mut volumes = build.volumes.clone();
    path.field("build", |path| {
        fields::each(&mut volumes, "volumes", path, &mut visit, fields::volume);
    });
    let mut template_volumes = template.volumes.clone();
    fields::each(
        &mut template_volumes,
        "volumes",
        &mut path,
        &mut visit,
        fields::volume,
    );
    volumes.append(&mut template_volumes);

    for step in &mut steps {
        merge_env(step, &env);
    }

    // Errors first, as found; then the warnings found on the way.
    let report: Report = errors
        .into_iter()
        .map(Problem::from)
        .chain(warnings)
        .collect();
    let warnings = report.into_result()?;
    Ok(Resolved {
        steps,
        volumes,
        warnings,
    })
}

/// Substitutes one field in place, reporting what it finds.
fn substitute_field<'v>(
    field: &mut String,
    lookup: &mut dyn FnMut(&str) -> Value<'v>,
    report: &mut dyn FnMut(Finding),
) {
    if !field.contains('$') {
        return;
    }
    let parsed = parse(field);
    if parsed.is_plain() {
        return;
    }
    let mut out = String::with_capacity(field.len());
    parsed.render_into(&mut out, lookup, report);
    *field = out;
}

/// Merges the Build's `template.env` into a step: a variable of the same name is replaced where
/// it stands, the others are appended in order.
fn merge_env(step: &mut Container, overrides: &[EnvVar]) {
    if overrides.is_empty() {
        return;
    }
    let env = step.env.get_or_insert_with(Vec::new);
    for var in overrides {
        let mut replaced = false;
        for existing in env.iter_mut().filter(|existing| existing.name == var.name) {
            existing.clone_from(var);
            replaced = true;
        }
        if !replaced {
            env.push(var.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var(name: &str, value: &str) -> EnvVar {
        EnvVar {
            name: name.into(),
            value: Some(value.into()),
            ..Default::default()
        }
    }

    fn check(step_env: &[EnvVar], overrides: &[EnvVar], expected: &[EnvVar]) {
        let mut step = Container {
            env: (!step_env.is_empty()).then(|| step_env.to_vec()),
            ..Default::default()
        };
        merge_env(&mut step, overrides);
        assert_eq!(step.env.unwrap_or_default(), expected);
    }

    #[test]
    fn env_merge() {
        check(&[], &[], &[]);
        check(&[var("A", "1")], &[], &[var("A", "1")]);
        check(&[], &[var("A", "b")], &[var("A", "b")]);
        check(
            &[var("A", "1"), var("B", "2"), var("C", "3")],
            &[var("D", "d"), var("B", "b"), var("E", "e")],
            &[
                var("A", "1"),
                var("B", "b"),
                var("C", "3"),
                var("D", "d"),
                var("E", "e"),
            ],
        );
        // A repeated override: the later one wins, like a later argument would.
        check(
            &[var("A", "1")],
            &[var("B", "x"), var("B", "y")],
            &[var("A", "1"), var("B", "y")],
        );
    }
}
