//! Table tests for the language and for applying a template, through [`resolve`].
//!
//! Every case is one string put in `args[0]` of a one-step template, with parameters and
//! arguments; the expected outcome is written as text: `=> <the argument>` then the warnings,
//! or the errors then the warnings.

use build_template::resolve;
use build_types::{ArgumentSpec, BuildSpec, BuildTemplateSpec, ParameterSpec};
use build_types::{TemplateInstantiationSpec, k8s_openapi::api::core::v1::Container};

struct Case {
    input: &'static str,
    parameters: Vec<ParameterSpec>,
    arguments: Vec<ArgumentSpec>,
}

fn case(input: &'static str) -> Case {
    Case {
        input,
        parameters: Vec::new(),
        arguments: Vec::new(),
    }
}

impl Case {
    /// A parameter with a default.
    fn default(mut self, name: &str, default: &str) -> Self {
        self.parameters.push(ParameterSpec {
            name: name.into(),
            description: None,
            default: Some(default.into()),
        });
        self
    }

    /// A parameter without a default.
    fn required(mut self, name: &str, description: Option<&str>) -> Self {
        self.parameters.push(ParameterSpec {
            name: name.into(),
            description: description.map(Into::into),
            default: None,
        });
        self
    }

    /// An argument of the Build.
    fn arg(mut self, name: &str, value: &str) -> Self {
        self.arguments.push(ArgumentSpec {
            name: name.into(),
            value: value.into(),
        });
        self
    }
}

fn outcome(case: Case) -> String {
    let template = BuildTemplateSpec {
        parameters: case.parameters,
        steps: vec![Container {
            name: "step".into(),
            args: Some(vec![case.input.into()]),
            ..Default::default()
        }],
        volumes: Vec::new(),
    };
    let build = BuildSpec {
        template: Some(TemplateInstantiationSpec {
            name: "t".into(),
            arguments: case.arguments,
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut lines = Vec::new();
    match resolve(&build, Some(&template)) {
        Ok(resolved) => {
            lines.push(format!(
                "=> {}",
                resolved.steps[0].args.as_ref().unwrap()[0]
            ));
            lines.extend(resolved.warnings.iter().map(|w| format!("warning: {w}")));
        }
        Err(report) => {
            lines.extend(report.errors().map(|e| format!("error: {e}")));
            lines.extend(report.warnings().map(|w| format!("warning: {w}")));
        }
    }
    lines.join("\n")
}

#[track_caller]
fn check(case: Case, expected: &str) {
    let input = case.input;
    assert_eq!(outcome(case), expected.trim(), "input {input:?}");
}

#[test]
fn references_are_substituted() {
    check(case("$BAR ${FOO}").default("FOO", "world"), "=> $BAR world");
    check(
        case("${A}${B}").default("A", "1").default("B", "2"),
        "=> 12",
    );
    check(case("${a.b-c_1}").default("a.b-c_1", "x"), "=> x");
    check(case("${FOO}${FOO}").default("FOO", "ab"), "=> abab");
    check(
        case("no dollar at all").default("FOO", "x"),
        "=> no dollar at all",
    );
    check(case("é ${FOO} ü").default("FOO", "ñ"), "=> é ñ ü");
}

#[test]
fn defaults_and_arguments() {
    check(case("[${FOO}]").default("FOO", ""), "=> []");
    check(
        case("${FOO}").default("FOO", "default").arg("FOO", "given"),
        "=> given",
    );
    check(
        case("${FOO}").required("FOO", None).arg("FOO", "given"),
        "=> given",
    );
    check(
        case("[${FOO}]").required("FOO", None).arg("FOO", ""),
        "=> []",
    );
}

#[test]
fn single_pass() {
    check(
        case("${FOO}")
            .default("FOO", "${BAR}")
            .default("BAR", "bar"),
        "=> ${BAR}",
    );
    check(
        case("${BAR} ${FOO}")
            .default("BAR", "${FOO}")
            .default("FOO", "${BAR}"),
        "=> ${FOO} ${BAR}",
    );
    check(case("${FOO}").default("FOO", "$${X}"), "=> $${X}");
    check(
        case("${FOO}").arg("FOO", "${A${B}}").required("FOO", None),
        "=> ${A${B}}",
    );
}

#[test]
fn escapes() {
    check(case("$${FOO}").default("FOO", "x"), "=> ${FOO}");
    check(case("$$${FOO}").default("FOO", "x"), "=> $${FOO}");
    check(case("$$ ${FOO}").default("FOO", "x"), "=> $$ x");
    check(case("$${HOME}"), "=> ${HOME}");
}

#[test]
fn unknown_references_stay() {
    check(
        case("${FOO}"),
        "
=> ${FOO}
warning: steps[0].args[0]: unknown parameter ${FOO} left as written",
    );
    check(
        case("echo ${HOME} ${IMAGE}").default("IMAGE", "i"),
        "
=> echo ${HOME} i
warning: steps[0].args[0]: unknown parameter ${HOME} left as written",
    );
}

#[test]
fn unterminated_and_malformed_stay() {
    check(
        case("hello ${FOO").default("FOO", "x"),
        "
=> hello ${FOO
warning: steps[0].args[0]: unterminated `${FOO` left as written",
    );
    check(
        case("${FOO:-x} ${1}").default("FOO", "x"),
        "
=> ${FOO:-x} ${1}
warning: steps[0].args[0]: `${FOO` is not a parameter reference (`${NAME}` with NAME matching [A-Za-z_][A-Za-z0-9_.-]*), left as written
warning: steps[0].args[0]: `${1}` is not a parameter reference (`${NAME}` with NAME matching [A-Za-z_][A-Za-z0-9_.-]*), left as written",
    );
    check(
        case("${FOO:-${BAR}}").default("BAR", "b").default("FOO", "f"),
        "
=> ${FOO:-b}
warning: steps[0].args[0]: `${FOO` is not a parameter reference (`${NAME}` with NAME matching [A-Za-z_][A-Za-z0-9_.-]*), left as written",
    );
}

#[test]
fn nested_references_are_errors() {
    check(
        case("a ${A${B}} b").default("A", "x").default("B", "y"),
        "error: steps[0].args[0]: nested reference `${A${B}}` is not allowed",
    );
}

#[test]
fn argument_errors_are_all_collected() {
    check(
        case("${IMAGE}")
            .required("IMAGE", Some("Where to publish the resulting image."))
            .default("TAG", "latest")
            .arg("TAG", "v1")
            .arg("IMAGEE", "x")
            .arg("TAG", "v2"),
        r#"
error: build.template.arguments[1]: argument IMAGEE matches no parameter of the template (parameters: IMAGE, TAG)
error: build.template.arguments[2]: argument TAG is given more than once (first at build.template.arguments[0])
error: build.template.arguments: missing argument for required parameter IMAGE ("Where to publish the resulting image.")"#,
    );
    // A typo never falls back to the default.
    check(
        case("${TAG}").default("TAG", "latest").arg("TAGG", "v1"),
        "error: build.template.arguments[0]: argument TAGG matches no parameter of the template (parameters: TAG)",
    );
    check(
        case("x").arg("A", "1"),
        "error: build.template.arguments[0]: argument A matches no parameter of the template (the template has no parameters)",
    );
    // Warnings found on the way are kept in the report.
    check(
        case("${A} ${HOME}").required("A", None),
        "
error: build.template.arguments: missing argument for required parameter A
warning: steps[0].args[0]: unknown parameter ${HOME} left as written",
    );
}

#[test]
fn repeated_parameters_use_the_last_declaration() {
    check(
        case("${A}").default("A", "first").default("A", "last"),
        "
=> last
warning: parameters[1]: parameter A is already declared at parameters[0]; the last declaration is used",
    );
}
