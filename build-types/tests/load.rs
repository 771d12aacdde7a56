//! The YAML loader: the seed files round-trip, bad input is reported with file, document, line
//! and column, and nothing panics.

use std::fmt::Write as _;
use std::path::Path;

use build_types::{Error, Loaded, Object, load_bytes, load_path, load_str};
use proptest::prelude::*;

/// Everything a load produced, one line per object, warning and error.
fn summary(loaded: &Loaded) -> String {
    let mut out = String::new();
    for object in &loaded.objects {
        let o = &object.object;
        writeln!(out, "object: {} {} {}", object.origin, o.kind(), o.name()).unwrap();
    }
    for warning in &loaded.warnings {
        writeln!(out, "warning: {warning}").unwrap();
    }
    for error in &loaded.errors {
        writeln!(out, "error: {error}").unwrap();
    }
    out
}

/// Loads `yaml` as `name` and snapshots the summary, with the input as the description.
fn check(name: &str, yaml: &str) -> Loaded {
    let loaded = load_str(&format!("{name}.yaml"), yaml);
    insta::with_settings!({ description => yaml, omit_expression => true }, {
        insta::assert_snapshot!(name, summary(&loaded));
    });
    loaded
}

/// The documents of a YAML stream as JSON values, empty ones left out.
fn documents_as_json(yaml: &str) -> Vec<serde_json::Value> {
    serde_yaml_ng::Deserializer::from_str(yaml)
        .map(|document| {
            <serde_json::Value as serde::Deserialize>::deserialize(document)
                .expect("the seed is valid YAML")
        })
        .filter(|value| !value.is_null())
        .collect()
}

#[test]
fn seed_files_load_and_round_trip() {
    insta::glob!("../../examples/seed", "*.yaml", |path| {
        let text = std::fs::read_to_string(path).unwrap();
        let name = format!(
            "examples/seed/{}",
            path.file_name().unwrap().to_string_lossy()
        );
        let loaded = load_str(&name, &text);
        assert!(loaded.errors.is_empty(), "{}", summary(&loaded));
        assert!(loaded.warnings.is_empty(), "{}", summary(&loaded));

        let original = documents_as_json(&text);
        let reserialised: Vec<serde_json::Value> = loaded
            .objects
            .iter()
            .map(|o| serde_json::to_value(&o.object).unwrap())
            .collect();
        assert_eq!(original, reserialised, "{name} changed in the round trip");

        insta::assert_yaml_snapshot!(loaded.objects);
    });
}

#[test]
fn the_seed_directory_loads_sorted_with_origins() {
    let loaded = load_path(Path::new("../examples/seed"));
    insta::assert_snapshot!(summary(&loaded));
}

#[test]
fn the_mis_indented_seed_fails_with_file_document_line_and_column() {
    let loaded = load_path("tests/fixtures/kubeval-img-as-printed.yaml");
    assert!(loaded.objects.is_empty());
    assert!(
        matches!(
            loaded.errors.as_slice(),
            [Error::Parse { origin, line: 2, column: 6, .. }] if origin.document == 1
        ),
        "{:?}",
        loaded.errors
    );
    insta::assert_snapshot!(summary(&loaded));
}

#[test]
fn every_bad_document_is_reported_and_the_good_ones_still_load() {
    let loaded = check(
        "mixed_documents",
        "\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: first
---
apiVersion: v1
 kind: ServiceAccount
---
# a comment, then a document that is not a mapping
- a
- b
---
metadata:
  name: no-type
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
---
apiVersion: build.knative.dev/v1alpha1
kind: Build
metadata:
  name: bad-timeout
spec:
  timeout: soon
  steps:
  - image: busybox
---
apiVersion: v1
kind: Secret
metadata:
  name: last
---
",
    );
    assert_eq!(loaded.objects.len(), 2);
    assert_eq!(loaded.errors.len(), 6);
}

#[test]
fn unknown_fields_are_warnings_with_their_paths() {
    let loaded = check(
        "unknown_fields",
        "\
apiVersion: build.knative.dev/v1alpha1
kind: Build
metadata:
  name: typos
  lables: {a: b}
spec:
  serviceAcountName: build-bot
  source:
    git:
      url: https://example.com/repo.git
      revison: main
  steps:
  - name: build
    image: busybox
    comand: [make]
status:
  builder: Cluster
  bogus: 1
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: bot
secret:
- name: typo
",
    );
    assert_eq!(loaded.objects.len(), 2);
    assert!(loaded.errors.is_empty());
    assert_eq!(loaded.warnings.len(), 6);
}

#[test]
fn errors_in_later_documents_give_file_lines() {
    let loaded = check(
        "later_document_errors",
        "\
# leading comment
---
apiVersion: build.knative.dev/v1alpha1
kind: BuildTemplate
metadata:
  name: ok
spec:
  steps:
  - image: busybox
---


apiVersion: build.knative.dev/v1alpha1
kind: Build
metadata:
  name: bad-kind
spec:
  template:
    name: ok
    kind: Template
---
apiVersion: build.knative.dev/v1alpha1
kind: Build
metadata: {name: [unclosed
",
    );
    assert_eq!(loaded.objects.len(), 1);
    assert_eq!(loaded.objects[0].origin.line, 3);
    let positions: Vec<(usize, usize, usize)> = loaded
        .errors
        .iter()
        .map(|e| match e {
            Error::Parse {
                origin,
                line,
                column,
                ..
            } => (origin.document, *line, *column),
            other => panic!("expected a parse error, got {other}"),
        })
        .collect();
    assert_eq!(positions, [(2, 20, 11), (3, 25, 1)]);
}

#[test]
fn missing_type_meta_names_the_document() {
    check(
        "missing_type_meta",
        "\
---
kind: Build
metadata: {name: a}
---
apiVersion: build.knative.dev/v1alpha1
metadata: {name: b}
---
apiVersion: 7
kind: \"\"
---
just a string
",
    );
}

#[test]
fn empty_documents_are_skipped_but_counted() {
    let loaded = check(
        "empty_documents",
        "---\n# nothing\n---\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: a}\n...\n---\n",
    );
    assert!(loaded.is_ok());
    assert_eq!(loaded.objects.len(), 1);
    assert_eq!(loaded.objects[0].origin.document, 3);
    assert_eq!(loaded.objects[0].origin.line, 5);
}

#[test]
fn empty_input_loads_nothing() {
    for input in ["", "\n", "# only a comment\n", "---\n", "...\n"] {
        let loaded = load_str("empty.yaml", input);
        assert!(loaded.objects.is_empty() && loaded.is_ok(), "{input:?}");
    }
}

#[test]
fn bytes_that_are_not_utf8_are_an_error_with_a_position() {
    let loaded = load_bytes("<stdin>", b"apiVersion: v1\nkind: S\xffecret\n");
    assert_eq!(summary(&loaded), "error: <stdin>:2:8: not valid utf-8\n");
}

#[test]
fn directories_load_recursively_in_path_order() {
    let dir = tempfile::tempdir().unwrap();
    let write = |relative: &str, name: &str| {
        let path = dir.path().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(
            path,
            format!("apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: {name}}}\n"),
        )
        .unwrap();
    };
    write("b.yaml", "b");
    write("a/z.yml", "a-z");
    write("a/b/c.yaml", "a-b-c");
    write("c.txt", "ignored");
    write("a.yaml", "a");

    let loaded = load_path(dir.path());
    assert!(loaded.is_ok(), "{}", summary(&loaded));
    let names: Vec<&str> = loaded.objects.iter().map(|o| o.object.name()).collect();
    assert_eq!(names, ["a-b-c", "a-z", "a", "b"]);
    let file = &loaded.objects[0].origin.file;
    assert!(file.ends_with("c.yaml") && file.starts_with(&*dir.path().to_string_lossy()));

    // A file named directly loads whatever its extension.
    let loaded = load_path(dir.path().join("c.txt"));
    assert_eq!(loaded.objects[0].object.name(), "ignored");
}

#[test]
fn a_missing_path_is_an_io_error() {
    let loaded = load_path("tests/fixtures/no-such-file.yaml");
    assert!(loaded.objects.is_empty());
    assert!(
        matches!(loaded.errors.as_slice(), [Error::Io { path, .. }] if path.ends_with("no-such-file.yaml"))
    );
}

#[test]
fn typed_accessors_select_by_kind() {
    let loaded = load_path("../examples/seed");
    assert_eq!(loaded.builds().count(), 2);
    assert_eq!(loaded.build_templates().count(), 2);
    assert_eq!(loaded.cluster_build_templates().count(), 0);
    assert_eq!(loaded.service_accounts().count(), 1);
    let (origin, secret) = loaded.secrets().next().unwrap();
    assert_eq!(origin.to_string(), "../examples/seed/serviceaccount.yaml:2");
    assert_eq!(secret.metadata.name.as_deref(), Some("docker-hub"));
    assert!(matches!(loaded.objects[0].object, Object::BuildTemplate(_)));
}

/// Pieces that make YAML-like text reaching every branch of the loader.
fn yamlish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("---".to_owned()),
        Just("...".to_owned()),
        Just("\n".to_owned()),
        Just("\r".to_owned()),
        Just("  ".to_owned()),
        Just("- ".to_owned()),
        Just(": ".to_owned()),
        Just("apiVersion: build.knative.dev/v1alpha1\n".to_owned()),
        Just("apiVersion: v1\n".to_owned()),
        Just("kind: Build\n".to_owned()),
        Just("kind: BuildTemplate\n".to_owned()),
        Just("kind: Secret\n".to_owned()),
        Just("metadata:\n  name: x\n".to_owned()),
        Just("spec:\n  steps:\n  - image: busybox\n".to_owned()),
        Just("spec:\n".to_owned()),
        Just("  timeout: 1h\n".to_owned()),
        Just("{".to_owned()),
        Just("[".to_owned()),
        Just("&a ".to_owned()),
        Just("*a".to_owned()),
        Just("!tag ".to_owned()),
        Just("%YAML 1.2\n".to_owned()),
        Just("# c\n".to_owned()),
        Just("\"".to_owned()),
        Just("|\n".to_owned()),
        "[a-z0-9 \t:\\-]{0,8}",
    ];
    proptest::collection::vec(piece, 0..40).prop_map(|pieces| pieces.concat())
}

fn assert_well_formed(input: &str, loaded: &Loaded) {
    let lines = input.split(['\n', '\r']).count();
    for error in &loaded.errors {
        let message = error.to_string();
        assert!(message.starts_with("fuzz.yaml:"), "{message}");
        if let Error::Parse { line, column, .. } = error {
            assert!(
                *line >= 1 && *line <= lines + 1,
                "{message} (of {lines} lines)"
            );
            assert!(*column >= 1, "{message}");
        }
    }
    for object in &loaded.objects {
        assert!(object.origin.line >= 1 && object.origin.line <= lines);
    }
}

proptest! {
    #[test]
    fn arbitrary_strings_never_panic(input in any::<String>()) {
        let loaded = load_str("fuzz.yaml", &input);
        assert_well_formed(&input, &loaded);
    }

    #[test]
    fn yaml_like_strings_never_panic(input in yamlish()) {
        let loaded = load_str("fuzz.yaml", &input);
        assert_well_formed(&input, &loaded);
    }

    #[test]
    fn arbitrary_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..200)) {
        let loaded = load_bytes("fuzz.yaml", &input);
        if let Ok(text) = std::str::from_utf8(&input) {
            assert_well_formed(text, &loaded);
        }
    }
}

#[test]
fn pathological_inputs_are_errors_not_panics() {
    let deep = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {}",
        "[".repeat(10_000)
    );
    let mut laughs =
        String::from("apiVersion: v1\nkind: Secret\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let prev = i - 1;
        laughs.push_str(&format!(
            "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
        ));
    }
    let many = "---\n".repeat(50_000);
    for (name, input) in [("deep", deep), ("laughs", laughs), ("many", many)] {
        let loaded = load_str(name, &input);
        assert!(loaded.objects.is_empty(), "{name}");
        if name == "many" {
            assert!(loaded.is_ok());
        } else {
            assert_eq!(loaded.errors.len(), 1, "{name}: {}", summary(&loaded));
        }
    }
}

#[test]
fn errors_in_secret_data_do_not_quote_the_value() {
    let loaded = check(
        "secret_data_errors",
        "\
apiVersion: v1
kind: Secret
metadata: {name: a}
data:
  password: hunter2!
---
apiVersion: v1
kind: Secret
metadata: {name: b}
stringData:
  password: !hunter2 {hunter: 2}
---
apiVersion: v1
kind: Secret
metadata: {name: c}
type: 7
data: [hunter2]
",
    );
    assert_eq!(loaded.errors.len(), 3);
    // base64's own message would give away a character of the value and its offset.
    assert!(
        loaded.errors[0]
            .to_string()
            .ends_with("document 1: data.password: invalid value (not shown, it may be secret)"),
        "{}",
        loaded.errors[0]
    );
}
