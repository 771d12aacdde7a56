//! The generated CustomResourceDefinitions: the committed files in `config/` are fresh, each CRD
//! fits a client-side `kubectl apply`, the schemas are structural, and the CEL rules accept the
//! seed objects and reject the invalid ones with their messages (evaluated with kube-cel).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use build_types::k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use build_types::{CRD_HEADER, Duration, crd_files, crds};
use kube::core::cel::{
    ErrorKind, ScopeContext, ValidationErrors, Validator, analyze_rule, compile_schema,
};
use serde::Deserialize;
use serde_json::{Value, json};

/// What `kubectl apply` (client-side) can store in its last-applied annotation.
const KUBECTL_APPLY_LIMIT: usize = 256 * 1024;

/// The workspace root, or `None` when this crate is built outside its workspace (from a
/// published package), where `config/` and the seed YAML do not exist.
fn workspace_root() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent()?;
    root.join("xtask/Cargo.toml")
        .exists()
        .then(|| root.to_path_buf())
}

/// The CRDs, made once: generating them takes a while in a debug build.
static CRDS: LazyLock<Vec<CustomResourceDefinition>> = LazyLock::new(crds);

/// Each kind's openAPIV3Schema (of its only version) as JSON.
static SCHEMAS: LazyLock<Vec<(String, Value)>> = LazyLock::new(|| {
    CRDS.iter()
        .map(|crd| {
            let schema = crd.spec.versions[0]
                .schema
                .as_ref()
                .and_then(|schema| schema.open_api_v3_schema.as_ref())
                .expect("every CRD has a schema");
            (
                crd.spec.names.kind.clone(),
                serde_json::to_value(schema).unwrap(),
            )
        })
        .collect()
});

fn schema(kind: &str) -> Value {
    SCHEMAS
        .iter()
        .find(|(k, _)| k == kind)
        .map(|(_, schema)| schema.clone())
        .unwrap_or_else(|| panic!("no CRD of kind {kind}"))
}

/// Validates with a validator per thread, as registering the CEL functions is not free.
fn validate(schema: &Value, object: &Value) -> Result<(), ValidationErrors> {
    thread_local! {
        static VALIDATOR: Validator = Validator::new();
    }
    VALIDATOR.with(|validator| validator.validate(schema, object, None))
}

/// Calls `f` with every schema node and its path (`spec.steps[].name`).
fn visit<'a>(node: &'a Value, path: &str, f: &mut impl FnMut(&str, &'a Value)) {
    f(path, node);
    if let Some(properties) = node.get("properties").and_then(Value::as_object) {
        for (name, child) in properties {
            let child_path = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}.{name}")
            };
            visit(child, &child_path, f);
        }
    }
    if let Some(items) = node.get("items") {
        visit(items, &format!("{path}[]"), f);
    }
    if let Some(additional) = node.get("additionalProperties").filter(|a| a.is_object()) {
        visit(additional, &format!("{path}{{}}"), f);
    }
}

#[test]
fn committed_crds_are_fresh() {
    let Some(root) = workspace_root() else {
        eprintln!("not in the workspace: no config/ to compare");
        return;
    };
    let dir = root.join("config");
    let files = crd_files();
    let mut stale: Vec<String> = files
        .iter()
        .filter(|file| {
            fs::read_to_string(dir.join(&file.name)).ok().as_ref() != Some(&file.contents)
        })
        .map(|file| file.name.clone())
        .collect();
    for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let generated = fs::read_to_string(entry.path())
            .is_ok_and(|contents| contents.lines().next() == Some(CRD_HEADER));
        if generated && !files.iter().any(|file| file.name == name) {
            stale.push(name);
        }
    }
    assert!(
        stale.is_empty(),
        "config/ is stale ({}); run `cargo xtask crds` to refresh it",
        stale.join(", ")
    );
}

#[test]
fn each_crd_fits_a_client_side_kubectl_apply() {
    for crd in CRDS.iter() {
        let size = serde_json::to_vec(&crd).unwrap().len();
        let name = crd.metadata.name.as_deref().unwrap_or_default();
        println!("{name}: {size} bytes as JSON (limit {KUBECTL_APPLY_LIMIT})");
        assert!(
            size < KUBECTL_APPLY_LIMIT,
            "{name} is {size} bytes as JSON, over the {KUBECTL_APPLY_LIMIT} bytes of kubectl's last-applied annotation"
        );
    }
}

#[test]
fn files_start_with_the_header_and_parse_back() {
    for file in crd_files() {
        assert!(
            file.contents.starts_with(&format!("{CRD_HEADER}\n")),
            "{}",
            file.name
        );
        let parsed: CustomResourceDefinition = serde_yaml_ng::from_str(&file.contents).unwrap();
        assert_eq!(
            Some(parsed),
            crds()
                .into_iter()
                .find(|crd| file.name == build_types::crd_file_name(crd))
        );
    }
}

/// Why a node is not structural, or not what a Kubernetes 1.33 API server accepts as-is.
fn structural_problems(node: &Value) -> Vec<String> {
    const FORBIDDEN: &[&str] = &[
        "$ref",
        "$schema",
        "id",
        "definitions",
        "dependencies",
        "additionalItems",
        "patternProperties",
        "uniqueItems",
        "allOf",
        "anyOf",
        "oneOf",
        "not",
        "nullable",
        "default",
    ];
    let mut problems: Vec<String> = FORBIDDEN
        .iter()
        .filter(|key| node.get(**key).is_some())
        .map(|key| format!("has {key}"))
        .collect();
    let int_or_string = node.get("x-kubernetes-int-or-string") == Some(&json!(true));
    match node.get("type").and_then(Value::as_str) {
        None if int_or_string => {}
        Some(_) if int_or_string => problems.push("int-or-string with a type".to_owned()),
        None => problems.push("no type".to_owned()),
        Some("array") if !node.get("items").is_some_and(Value::is_object) => {
            problems.push("array without one items schema".to_owned());
        }
        Some("object")
            if node.get("properties").is_some() && node.get("additionalProperties").is_some() =>
        {
            problems.push("both properties and additionalProperties".to_owned());
        }
        Some("array" | "object" | "string" | "integer" | "number" | "boolean") => {}
        Some(other) => problems.push(format!("unknown type {other}")),
    }
    if node
        .get("additionalProperties")
        .is_some_and(|additional| !additional.is_object())
    {
        problems.push("additionalProperties is not a schema".to_owned());
    }
    if let Some(keys) = node
        .get("x-kubernetes-list-map-keys")
        .and_then(Value::as_array)
    {
        let required = &node["items"]["required"];
        for key in keys {
            if !required.as_array().is_some_and(|r| r.contains(key)) {
                problems.push(format!("list-map key {key} is not required"));
            }
        }
    }
    problems
}

#[test]
fn schemas_are_structural() {
    for crd in CRDS.iter() {
        let kind = &crd.spec.names.kind;
        let schema = schema(kind);
        let mut problems = Vec::new();
        visit(&schema, "", &mut |path, node| {
            for problem in structural_problems(node) {
                problems.push(format!("{kind} {path}: {problem}"));
            }
        });
        assert_eq!(problems, Vec::<String>::new());
    }
}

/// Nodes of an embedded Kubernetes type: their own description is ours, none below them.
fn embedded(kind: &str) -> &'static [&'static str] {
    match kind {
        "Build" => &[
            "spec.steps",
            "spec.volumes",
            "spec.affinity",
            "spec.source.custom",
            "spec.sources[].custom",
            "spec.template.env",
            "status.stepStates",
        ],
        _ => &["spec.steps", "spec.volumes"],
    }
}

#[test]
fn own_fields_keep_descriptions_and_embedded_core_types_lose_theirs() {
    for crd in CRDS.iter() {
        let kind = crd.spec.names.kind.clone();
        let schema = schema(&kind);
        let embedded = embedded(&kind);
        let mut problems = Vec::new();
        visit(&schema, "", &mut |path, node| {
            let below_embedded = embedded
                .iter()
                .any(|e| path.len() > e.len() && path.starts_with(e));
            let description = node.get("description").and_then(Value::as_str);
            match description {
                Some(_) if below_embedded => problems.push(format!("{path}: has a description")),
                None if !below_embedded && !path.ends_with("[]") && !path.ends_with("{}") => {
                    problems.push(format!("{path}: has no description"));
                }
                Some(text) if text.contains("[`") => {
                    problems.push(format!("{path}: rustdoc link in {text:?}"));
                }
                _ => {}
            }
        });
        assert_eq!(problems, Vec::<String>::new(), "{kind}");
        for path in embedded {
            let mut found = false;
            visit(&schema, "", &mut |p, _| found |= p == *path);
            assert!(found, "{kind} has no {path}");
        }
    }
}

/// A compact view of a CRD: what `kubectl` shows and what the API server enforces beyond types.
fn summary(crd: &CustomResourceDefinition) -> Value {
    let versions: Vec<Value> = crd
        .spec
        .versions
        .iter()
        .map(|version| {
            let schema = serde_json::to_value(
                version
                    .schema
                    .as_ref()
                    .and_then(|schema| schema.open_api_v3_schema.as_ref()),
            )
            .unwrap();
            let mut rules = Vec::new();
            let mut constraints = Vec::new();
            visit(&schema, "", &mut |path, node| {
                for rule in node["x-kubernetes-validations"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    let mut rule = rule.clone();
                    rule["at"] = json!(path);
                    rules.push(rule);
                }
                for key in [
                    "pattern",
                    "x-kubernetes-list-type",
                    "x-kubernetes-list-map-keys",
                    "required",
                ] {
                    let below_embedded = embedded(&crd.spec.names.kind)
                        .iter()
                        .any(|e| path.len() > e.len() && path.starts_with(e));
                    if let Some(value) = node.get(key).filter(|_| !below_embedded) {
                        constraints.push(json!({ "at": path, key: value }));
                    }
                }
            });
            json!({
                "name": version.name,
                "served": version.served,
                "storage": version.storage,
                "subresources": version.subresources,
                "columns": version.additional_printer_columns,
                "rules": rules,
                "constraints": constraints,
            })
        })
        .collect();
    json!({
        "name": crd.metadata.name,
        "group": crd.spec.group,
        "scope": crd.spec.scope,
        "names": crd.spec.names,
        "versions": versions,
    })
}

#[test]
fn summaries() {
    for crd in CRDS.iter() {
        let name = crd.spec.names.kind.to_ascii_lowercase();
        insta::assert_yaml_snapshot!(name, summary(crd));
    }
}

#[test]
fn rules_compile_do_not_iterate_and_sit_outside_lists() {
    for crd in CRDS.iter() {
        let kind = &crd.spec.names.kind;
        let schema = schema(kind);
        let mut count = 0;
        visit(&schema, "", &mut |path, node| {
            let Some(rules) = node["x-kubernetes-validations"].as_array() else {
                return;
            };
            // A rule inside a list runs once per item, and the API server multiplies its cost
            // estimate by the list's largest possible size; none of ours does.
            assert!(!path.contains("[]"), "{kind} {path}: rule inside a list");
            let compiled = compile_schema(node);
            assert!(
                !compiled.has_errors(),
                "{kind} {path}: {:?}",
                compiled.compilation_errors()
            );
            for rule in rules {
                let text = rule["rule"].as_str().unwrap();
                count += 1;
                for iterating in [".all(", ".exists(", ".exists_one(", ".map(", ".filter("] {
                    assert!(!text.contains(iterating), "{kind} {path}: {text} iterates");
                }
                let warnings = analyze_rule(text, &compiled, ScopeContext::CrdValidation);
                assert!(warnings.is_empty(), "{kind} {path}: {warnings:?}");
            }
        });
        let expected = if kind == "Build" { 5 } else { 0 };
        assert_eq!(count, expected, "{kind}");
    }
}

/// Where `value` breaks the schema's types, `required`, `enum`s and `pattern`s, or has a field
/// the API server would prune: the checks a kube-apiserver makes before the CEL rules.
fn schema_problems(schema: &Value, value: &Value, path: &str, problems: &mut Vec<String>) {
    if schema.get("x-kubernetes-int-or-string") == Some(&json!(true)) {
        if !(value.is_string() || value.is_i64() || value.is_u64()) {
            problems.push(format!("{path}: not an int or string"));
        }
        return;
    }
    let type_ok = match schema["type"].as_str() {
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        _ => false,
    };
    if !type_ok {
        problems.push(format!("{path}: not of type {}", schema["type"]));
        return;
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        problems.push(format!("{path}: {value} is not one of {allowed:?}"));
    }
    if let (Some(pattern), Some(text)) = (schema["pattern"].as_str(), value.as_str()) {
        assert!(
            !pattern.contains(['\'', '\\']),
            "pattern {pattern} needs quoting in CEL"
        );
        let matcher = json!({
            "type": "string",
            "x-kubernetes-validations": [{ "rule": format!("self.matches('{pattern}')") }],
        });
        if validate(&matcher, value).is_err() {
            problems.push(format!("{path}: {text:?} does not match {pattern}"));
        }
    }
    if let Some(object) = value.as_object() {
        for key in schema["required"].as_array().into_iter().flatten() {
            if !object.contains_key(key.as_str().unwrap()) {
                problems.push(format!("{path}.{}: required", key.as_str().unwrap()));
            }
        }
        for (key, child) in object {
            let child_path = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            if path.is_empty() && ["apiVersion", "kind", "metadata"].contains(&key.as_str()) {
                continue;
            }
            match (
                schema["properties"].get(key),
                schema.get("additionalProperties"),
            ) {
                (Some(child_schema), _) | (None, Some(child_schema)) => {
                    schema_problems(child_schema, child, &child_path, problems);
                }
                (None, None) => problems.push(format!("{child_path}: unknown field")),
            }
        }
    }
    if let (Some(items), Some(keys)) = (
        value.as_array(),
        schema["x-kubernetes-list-map-keys"].as_array(),
    ) {
        let mut seen = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let key: Vec<&Value> = keys.iter().map(|k| &item[k.as_str().unwrap()]).collect();
            if seen.contains(&key) {
                problems.push(format!("{path}[{index}]: duplicate {key:?}"));
            }
            seen.push(key);
        }
    }
    if let Some(items) = value.as_array() {
        for (index, item) in items.iter().enumerate() {
            schema_problems(
                &schema["items"],
                item,
                &format!("{path}[{index}]"),
                problems,
            );
        }
    }
}

/// Everything a kube-apiserver would say about `object`, as `path: message` lines: schema
/// problems, then the CEL rules' messages (evaluated by kube-cel), each sorted.
fn problems(object: &Value) -> Vec<String> {
    let kind = object["kind"].as_str().expect("objects have a kind");
    let schema = schema(kind);
    let mut problems = Vec::new();
    schema_problems(&schema, object, "", &mut problems);
    problems.sort();
    let mut rule_problems: Vec<String> = match validate(&schema, object) {
        Ok(()) => Vec::new(),
        Err(errors) => errors
            .iter()
            .map(|error| {
                assert_eq!(error.kind, ErrorKind::ValidationFailure, "{error}");
                format!("{}: {}", error.field_path, error.message)
            })
            .collect(),
    };
    rule_problems.sort();
    problems.extend(rule_problems);
    problems
}

/// The objects in `examples/seed/`, each YAML document one value; `None` outside the workspace.
fn seeds() -> Option<Vec<(String, Value)>> {
    let root = workspace_root()?;
    let mut paths: Vec<PathBuf> = fs::read_dir(root.join("examples/seed"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    let mut seeds = Vec::new();
    for path in paths {
        let text = fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        for document in serde_yaml_ng::Deserializer::from_str(&text) {
            seeds.push((name.clone(), Value::deserialize(document).unwrap()));
        }
    }
    Some(seeds)
}

/// A valid templated Build, the seed `kubeval-img.yaml` (kept here so that these tests also
/// run outside the workspace).
fn base_build() -> Value {
    json!({
        "apiVersion": "build.knative.dev/v1alpha1",
        "kind": "Build",
        "metadata": { "name": "kubeval-img" },
        "spec": {
            "serviceAccountName": "build-bot",
            "source": {
                "git": { "url": "https://github.com/garethr/kubeval.git", "revision": "master" }
            },
            "template": {
                "name": "img",
                "arguments": [{ "name": "IMAGE", "value": "garethr/kubeval" }]
            }
        }
    })
}

#[test]
fn seeds_pass_the_schema_and_the_rules() {
    let Some(seeds) = seeds() else {
        eprintln!("not in the workspace: no examples/seed to check");
        return;
    };
    let base = seeds.iter().find(|(file, _)| file == "kubeval-img.yaml");
    assert_eq!(base.map(|(_, build)| build), Some(&base_build()));
    let mut checked = Vec::new();
    for (file, object) in seeds {
        let kind = object["kind"].as_str().unwrap_or_default().to_owned();
        if !["Build", "BuildTemplate"].contains(&kind.as_str()) {
            continue;
        }
        assert_eq!(problems(&object), Vec::<String>::new(), "{file}");
        checked.push(format!("{file} {kind}"));
        if kind == "BuildTemplate" {
            let mut cluster = object.clone();
            cluster["kind"] = json!("ClusterBuildTemplate");
            assert_eq!(
                problems(&cluster),
                Vec::<String>::new(),
                "{file} as cluster"
            );
            checked.push(format!("{file} ClusterBuildTemplate"));
        }
    }
    assert_eq!(
        checked,
        [
            "buildkit.yaml BuildTemplate",
            "buildkit.yaml ClusterBuildTemplate",
            "img.yaml BuildTemplate",
            "img.yaml ClusterBuildTemplate",
            "kubeval-buildkit.yaml Build",
            "kubeval-img.yaml Build",
        ]
    );
}

const BOTH: &str = "spec: expected exactly one, got both: steps, template";
const NEITHER: &str = "spec: expected exactly one, got neither: steps, template";
const TIMEOUT: &str = "spec.timeout: must be between 0s and 24h";
const TEMPLATE_NAME: &str = "spec.template.name: must name a BuildTemplate or ClusterBuildTemplate";
const SOURCES: &str = "spec: expected exactly one, got both: source, sources";

/// The [`base_build`] with `patch` merged into its spec (a `null` removes a field),
/// checked to give exactly `expected`.
fn check_build(patch: Value, expected: &[&str]) {
    let mut build = base_build();
    let spec = build["spec"].as_object_mut().unwrap();
    for (key, value) in patch.as_object().unwrap() {
        if value.is_null() {
            spec.remove(key);
        } else {
            spec.insert(key.clone(), value.clone());
        }
    }
    assert_eq!(problems(&build), expected, "spec patched with {patch}");
}

#[test]
fn steps_and_template_exactly_one() {
    let steps = json!([{ "image": "busybox", "args": ["true"] }]);
    check_build(json!({}), &[]);
    check_build(json!({ "steps": steps }), &[BOTH]);
    check_build(json!({ "template": null }), &[NEITHER]);
    check_build(json!({ "template": null, "steps": steps }), &[]);
    // An empty list counts as no steps, as `len(steps) == 0` did in Knative Build.
    check_build(json!({ "steps": [] }), &[]);
    check_build(json!({ "template": null, "steps": [] }), &[NEITHER]);
}

#[test]
fn unnamed_steps_and_custom_sources_are_fine() {
    let step = json!({ "image": "busybox" });
    check_build(json!({ "template": null, "steps": [step, step] }), &[]);
    check_build(json!({ "source": { "custom": step } }), &[]);
    check_build(
        json!({ "source": null, "sources": [{ "custom": step }] }),
        &[],
    );
}

#[test]
fn timeout_within_zero_and_24h() {
    for ok in ["0", "0s", "10m", "1h30m", "24h", "23h59m59.999s", "1.5h"] {
        check_build(json!({ "timeout": ok }), &[]);
    }
    for out_of_bounds in ["25h", "24h0m0.001s", "-1s", "-1ns"] {
        check_build(json!({ "timeout": out_of_bounds }), &[TIMEOUT]);
    }
}

/// kube-cel's `duration()` (from the `cel` crate) does not read the micro sign that Go's
/// `time.ParseDuration`, and so the API server, accepts; `us` works in both. Client-side checks
/// of a `500µs` timeout therefore fail where the API server passes it. This test notices when
/// kube-cel closes the gap.
#[test]
fn kube_cel_gap_micro_sign_durations() {
    check_build(json!({ "timeout": "500us" }), &[]);
    for micro in ["500µs", "500μs"] {
        let mut build = base_build();
        build["spec"]["timeout"] = json!(micro);
        let problems = problems_allowing_evaluation_errors(&build);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("spec.timeout: rule evaluation error"),
            "{problems:?}"
        );
    }
}

#[test]
fn timeout_must_be_a_go_duration() {
    let mut build = base_build();
    build["spec"]["timeout"] = json!("ten minutes");
    let problems = problems_allowing_evaluation_errors(&build);
    assert!(
        problems[0].starts_with("spec.timeout: \"ten minutes\" does not match "),
        "{problems:?}"
    );
}

/// Like [`problems`], but a rule that cannot be evaluated (as `duration()` of a non-duration)
/// is reported rather than failing the test.
fn problems_allowing_evaluation_errors(object: &Value) -> Vec<String> {
    let schema = schema(object["kind"].as_str().unwrap());
    let mut problems = Vec::new();
    schema_problems(&schema, object, "", &mut problems);
    if let Err(errors) = validate(&schema, object) {
        problems.extend(errors.iter().map(ToString::to_string));
    }
    problems
}

#[test]
fn template_needs_a_name() {
    check_build(json!({ "template": { "name": "" } }), &[TEMPLATE_NAME]);
    check_build(
        json!({ "template": { "kind": "BuildTemplate" } }),
        &[TEMPLATE_NAME],
    );
    check_build(
        json!({ "template": { "name": "img", "kind": "ClusterBuildTemplate" } }),
        &[],
    );
}

#[test]
fn source_and_sources_not_both() {
    let git = json!({ "git": { "url": "https://example.com/repo.git", "revision": "main" } });
    check_build(json!({ "sources": [git] }), &[SOURCES]);
    check_build(json!({ "sources": [] }), &[]);
    check_build(json!({ "source": null, "sources": [git, git] }), &[]);
}

#[test]
fn volume_and_parameter_names_are_unique() {
    let volume = json!({ "name": "cache", "emptyDir": {} });
    check_build(
        json!({ "volumes": [volume, volume] }),
        &["spec.volumes[1]: duplicate [String(\"cache\")]"],
    );
    let template = json!({
        "apiVersion": "build.knative.dev/v1alpha1",
        "kind": "BuildTemplate",
        "metadata": { "name": "t" },
        "spec": {
            "parameters": [{ "name": "IMAGE" }, { "name": "IMAGE", "default": "x" }],
            "steps": [{ "image": "busybox" }],
            "volumes": [volume, { "name": "other", "emptyDir": {} }],
        },
    });
    for kind in ["BuildTemplate", "ClusterBuildTemplate"] {
        let mut template = template.clone();
        template["kind"] = json!(kind);
        assert_eq!(
            problems(&template),
            ["spec.parameters[1]: duplicate [String(\"IMAGE\")]"],
            "{kind}"
        );
    }
}

#[test]
fn several_broken_rules_are_all_reported() {
    check_build(
        json!({ "steps": [{ "image": "busybox" }], "timeout": "48h", "sources": [{}] }),
        &[TIMEOUT, SOURCES, BOTH],
    );
}

/// The `timeout` pattern accepts what the Go-duration parser accepts.
#[test]
fn timeout_pattern_agrees_with_the_duration_parser() {
    let schema = schema("Build");
    let pattern = schema["properties"]["spec"]["properties"]["timeout"]["pattern"]
        .as_str()
        .unwrap();
    let matcher = json!({
        "type": "string",
        "x-kubernetes-validations": [{ "rule": format!("self.matches('{pattern}')") }],
    });
    for text in [
        "0",
        "-0",
        "+0",
        "10m",
        "1h30m",
        "1.5h",
        ".5s",
        "5.s",
        "500µs",
        "500μs",
        "1us",
        "1ns",
        "1ms",
        "-1s",
        "+2h",
        "1h2m3s4ms5us6ns",
        "",
        "1",
        "00",
        "10 m",
        "1d",
        "h",
        ".s",
        "1mm",
        "1hm",
        "s1",
        "--1s",
        "1.2.3s",
        "1e3s",
        "1H",
    ] {
        let matches = validate(&matcher, &json!(text)).is_ok();
        let parses = text.parse::<Duration>().is_ok();
        assert_eq!(
            matches, parses,
            "{text:?}: pattern {matches}, parser {parses}"
        );
    }
}
