//! Checking a template on its own, without a Build.

use std::collections::BTreeSet;

use build_types::BuildTemplateSpec;

use crate::fields::{self, Path};
use crate::resolve::Parameters;
use crate::syntax::{Segment, parse};
use build_types::Report;

use crate::warning::WarningKind;

/// Checks a template without applying it: references to names that are not parameters,
/// unterminated, malformed and nested references in the substituted fields, parameters no field
/// refers to, and parameters declared twice.
///
/// The warnings come in this order: parameters declared twice, unused parameters (both in
/// declaration order), then problems in fields (in field order: steps, then volumes). A nested reference is reported here as a warning but makes
/// [`resolve`](crate::resolve) fail.
///
/// ```
/// use build_template::lint_template;
/// use build_types::{BuildTemplateSpec, ParameterSpec};
/// use build_types::k8s_openapi::api::core::v1::Container;
///
/// let template = BuildTemplateSpec {
///     parameters: vec![ParameterSpec { name: "TAG".into(), ..Default::default() }],
///     steps: vec![Container {
///         name: "build".into(),
///         image: Some("${IMAGE}".into()),
///         ..Default::default()
///     }],
///     ..Default::default()
/// };
/// let warnings: Vec<String> = lint_template(&template).iter().map(ToString::to_string).collect();
/// assert_eq!(
///     warnings,
///     [
///         "parameters[0]: parameter TAG is never referenced",
///         "steps[0].image: unknown parameter ${IMAGE} left as written",
///     ]
/// );
/// ```
pub fn lint_template(template: &BuildTemplateSpec) -> Report {
    let (parameters, mut warnings) = Parameters::new(template);
    let mut used = BTreeSet::new();
    let mut field_warnings = Vec::new();

    let mut visit = |path: &Path, field: &mut String| {
        if !field.contains('$') {
            return;
        }
        for segment in parse(field).segments() {
            let kind = match *segment {
                Segment::Text(_) | Segment::Escape(_) => continue,
                Segment::Reference(name) if parameters.by_name.contains_key(name) => {
                    used.insert(name.to_owned());
                    continue;
                }
                Segment::Reference(name) => WarningKind::UnknownParameter {
                    name: name.to_owned(),
                },
                Segment::Unterminated(text) => WarningKind::UnterminatedReference {
                    text: text.to_owned(),
                },
                Segment::Malformed(text) => WarningKind::MalformedReference {
                    text: text.to_owned(),
                },
                Segment::Nested(text) => WarningKind::NestedReference {
                    text: text.to_owned(),
                },
            };
            field_warnings.push(kind.at(path));
        }
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
    let mut volumes = template.volumes.clone();
    fields::each(
        &mut volumes,
        "volumes",
        &mut path,
        &mut visit,
        fields::volume,
    );

    for &name in &parameters.order {
        if !used.contains(name) {
            let kind = WarningKind::UnusedParameter {
                name: name.to_owned(),
            };
            warnings.push(kind.at(format_args!(
                "parameters[{}]",
                parameters.by_name[name].last
            )));
        }
    }
    warnings.into_iter().chain(field_warnings).collect()
}
