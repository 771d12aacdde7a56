//! The bad-input generator: Builds, BuildTemplates, ClusterBuildTemplates, ServiceAccounts
//! and Secrets generated from properties (odd names, huge strings, unicode, deep nesting,
//! wrong types, references to missing or malformed objects) and mutated from the fuzz corpus
//! (the seed examples, through [`crate::harness::inputs::mutate`] and structural edits). Deterministic
//! for a seed; every Secret carries the run's sentinel.

use serde_json::{Value, json};

use crate::harness::inputs::{Rng, mutate};

pub(super) const NAMESPACE: &str = "chaos-bad-input";

/// The kinds sent, with their REST paths.
pub(super) fn path(kind: &str) -> Option<String> {
    let crd =
        |plural: &str| format!("/apis/build.knative.dev/v1alpha1/namespaces/{NAMESPACE}/{plural}");
    Some(match kind {
        "Build" => crd("builds"),
        "BuildTemplate" => crd("buildtemplates"),
        "ClusterBuildTemplate" => {
            "/apis/build.knative.dev/v1alpha1/clusterbuildtemplates".to_owned()
        }
        "Secret" => format!("/api/v1/namespaces/{NAMESPACE}/secrets"),
        "ServiceAccount" => format!("/api/v1/namespaces/{NAMESPACE}/serviceaccounts"),
        _ => return None,
    })
}

/// The generator: properties, plus mutations of the seed corpus.
pub(crate) struct Generator {
    rng: Rng,
    corpus: Vec<Vec<u8>>,
    sentinel: String,
    count: usize,
}

/// One generated object.
#[derive(Debug)]
pub(crate) struct Generated {
    /// Its kind (as sent; the server may disagree with its body).
    pub(crate) kind: &'static str,
    /// `generated` or `mutated`.
    pub(crate) origin: &'static str,
    /// The JSON body.
    pub(crate) body: Value,
}

const ODD_TEXT: &[&str] = &[
    "",
    " ",
    "ünïcödé",
    "🦀🦀🦀",
    "\u{202e}evil",
    "\u{0}nul",
    "tab\there",
    "line\nbreak",
    "${IMAGE}",
    "${",
    "$${ESCAPED}",
    "${UNDEFINED_PARAM}",
    "${a}${b}${c}",
    "../../etc/passwd",
    "https://github.com/x/y.git",
    "git@github.com:x/y.git",
    "docker.io/library/busybox:latest",
    "busybox@sha256:0000000000000000000000000000000000000000000000000000000000000000",
    "\"quoted\"",
    "'single'",
    "{}",
    "[]",
    "null",
    "-1",
    "9999999999999999999999",
];

impl Generator {
    /// A generator from `seed`, mutating `corpus` (YAML documents), stamping `sentinel` into
    /// every Secret, referring to `count` objects.
    pub(crate) fn new(seed: u64, corpus: Vec<Vec<u8>>, sentinel: &str, count: usize) -> Self {
        Generator {
            rng: Rng::new(seed),
            corpus,
            sentinel: sentinel.to_owned(),
            count: count.max(1),
        }
    }

    fn text(&mut self) -> String {
        match self.rng.below(12) {
            0..=4 => format!("text-{}", self.rng.below(1000)),
            5..=8 => (*self.rng.pick(ODD_TEXT)).to_owned(),
            9 => {
                let unit = *self.rng.pick(&["a", "é", "🦀", "${X}", "\\"]);
                let most = if self.rng.one_in(10) { 60_000 } else { 3_000 };
                unit.repeat(1 + self.rng.below(most))
            }
            10 => {
                let depth = 1 + self.rng.below(2_000);
                format!("{}{}", "[".repeat(depth), "]".repeat(depth))
            }
            _ => format!("${{{}}}", self.name_like()),
        }
    }

    /// A name: mostly valid, referring to objects that may or may not exist; sometimes
    /// malformed.
    fn name_like(&mut self) -> String {
        let index = self.rng.below(self.count);
        match self.rng.below(20) {
            0 => "UPPER-Case".to_owned(),
            1 => "ünï".to_owned(),
            2 => "a".repeat(64 + self.rng.below(300)),
            3 => String::new(),
            4 => format!("-lead-{index}"),
            5 => format!("dots.in.{index}"),
            6 => format!("slash/{index}"),
            _ => format!("fz-{index}"),
        }
    }

    /// A value of a wrong type, or a deeply nested one.
    fn wrong_type(&mut self) -> Value {
        match self.rng.below(6) {
            0 => json!(self.rng.below(1000)),
            1 => json!(true),
            2 => Value::Null,
            3 => json!([self.text(), 1, {"x": []}]),
            4 => json!({"unexpected": self.text()}),
            _ => {
                let mut value = json!("bottom");
                for _ in 0..1 + self.rng.below(200) {
                    value = json!({"nested": value});
                }
                value
            }
        }
    }

    /// `value`, or sometimes a wrong-typed or nested replacement for it.
    fn maybe_wrong(&mut self, value: Value) -> Value {
        if self.rng.one_in(25) {
            self.wrong_type()
        } else {
            value
        }
    }

    fn metadata(&mut self, index: usize) -> Value {
        let name = if self.rng.one_in(15) {
            self.name_like()
        } else {
            format!("fz-{index}")
        };
        let mut metadata = json!({"name": name});
        if self.rng.one_in(6) {
            let key = if self.rng.one_in(3) {
                self.text()
            } else {
                "chaos/note".to_owned()
            };
            let value = self.text();
            metadata["annotations"] = json!({ key: value });
        }
        if self.rng.one_in(10) {
            metadata["labels"] = json!({"chaos": self.text()});
        }
        metadata
    }

    fn step(&mut self) -> Value {
        let mut step = json!({"name": self.name_like(), "image": self.text()});
        if self.rng.one_in(2) {
            let args: Vec<String> = (0..self.rng.below(6)).map(|_| self.text()).collect();
            step["args"] = json!(args);
        }
        if self.rng.one_in(3) {
            let env: Vec<Value> = (0..self.rng.below(4))
                .map(|_| json!({"name": self.text(), "value": self.text()}))
                .collect();
            step["env"] = json!(env);
        }
        if self.rng.one_in(5) {
            step["workingDir"] = json!(self.text());
        }
        if self.rng.one_in(6) {
            step["volumeMounts"] = json!([{"name": self.name_like(), "mountPath": self.text()}]);
        }
        let step = self.maybe_wrong(step);
        if self.rng.one_in(40) {
            // a field the schema does not know: pruned by the server
            return json!({"name": "deep", "image": "busybox", "unknown": self.wrong_type()});
        }
        step
    }

    fn steps(&mut self) -> Value {
        let steps: Vec<Value> = (0..self.rng.below(6)).map(|_| self.step()).collect();
        json!(steps)
    }

    fn build(&mut self, index: usize) -> Value {
        let mut spec = json!({});
        match self.rng.below(10) {
            0..=5 => spec["steps"] = self.steps(),
            6..=8 => {
                let mut template = json!({"name": self.name_like()});
                if self.rng.one_in(3) {
                    template["kind"] =
                        json!(
                            *self
                                .rng
                                .pick(&["BuildTemplate", "ClusterBuildTemplate", "Bogus"])
                        );
                }
                let arguments: Vec<Value> = (0..self.rng.below(4))
                    .map(|_| json!({"name": self.text(), "value": self.text()}))
                    .collect();
                template["arguments"] = json!(arguments);
                spec["template"] = self.maybe_wrong(template);
            }
            _ => {
                // both, or neither: the CRD's CEL rule refuses these
                if self.rng.one_in(2) {
                    spec["steps"] = self.steps();
                    spec["template"] = json!({"name": self.name_like()});
                }
            }
        }
        if self.rng.one_in(3) {
            spec["serviceAccountName"] = json!(self.name_like());
        }
        if self.rng.one_in(4) {
            let timeout = *self.rng.pick(&[
                "1s", "10m", "24h", "25h", "-1s", "0s", "1h30m", "abc", "1e9h", "999999h", "3s",
            ]);
            spec["timeout"] = json!(timeout);
        }
        if self.rng.one_in(5) {
            spec["source"] = match self.rng.below(4) {
                0 => json!({"git": {"url": self.text(), "revision": self.text()}}),
                1 => json!({"gcs": {"type": "Archive", "location": self.text()}}),
                2 => json!({"custom": self.step()}),
                _ => json!({"git": {"url": "https://github.com/x/y.git"}, "subPath": self.text()}),
            };
        }
        if self.rng.one_in(10) {
            spec["volumes"] = json!([{"name": self.name_like(), "emptyDir": {}}]);
        }
        if self.rng.one_in(15) {
            spec["nodeSelector"] = json!({self.text(): self.text()});
        }
        if self.rng.one_in(20) {
            spec["status"] = json!(*self.rng.pick(&["BuildCancelled", "Bogus", ""]));
        }
        json!({
            "apiVersion": "build.knative.dev/v1alpha1",
            "kind": "Build",
            "metadata": self.metadata(index),
            "spec": spec,
        })
    }

    fn template(&mut self, index: usize, kind: &'static str) -> Value {
        let parameters: Vec<Value> = (0..self.rng.below(4))
            .map(|_| {
                let mut parameter = json!({"name": self.name_like()});
                if self.rng.one_in(2) {
                    parameter["default"] = json!(self.text());
                }
                parameter
            })
            .collect();
        json!({
            "apiVersion": "build.knative.dev/v1alpha1",
            "kind": kind,
            "metadata": self.metadata(index),
            "spec": {"parameters": parameters, "steps": self.steps()},
        })
    }

    fn secret(&mut self, index: usize) -> Value {
        let kind = *self.rng.pick(&[
            "Opaque",
            "kubernetes.io/basic-auth",
            "kubernetes.io/ssh-auth",
            "kubernetes.io/dockerconfigjson",
            "bogus/type",
        ]);
        let key = *self.rng.pick(&["docker", "git", "Docker", "git-x"]);
        let annotation = format!("build.knative.dev/{key}-{}", self.rng.below(20));
        let mut metadata = self.metadata(index);
        metadata["annotations"] = json!({ annotation: self.text() });
        let mut data = json!({
            "username": self.text(),
            "password": self.sentinel,
        });
        if self.rng.one_in(3) {
            data["ssh-privatekey"] = json!(format!("-----BEGIN KEY-----\n{}\n", self.sentinel));
            data["known_hosts"] = json!(self.text());
        }
        if self.rng.one_in(4) {
            data[".dockerconfigjson"] = json!(
                json!({"auths": {self.text(): {"username": "u", "password": self.sentinel}}})
                    .to_string()
            );
        }
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": metadata, "type": kind, "stringData": data})
    }

    fn account(&mut self, index: usize) -> Value {
        let secrets: Vec<Value> = (0..self.rng.below(4))
            .map(|_| json!({"name": self.name_like()}))
            .collect();
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": self.metadata(index), "secrets": secrets})
    }

    /// A seed document mutated as bytes, or edited as a tree; `None` when the mutation no
    /// longer parses as an object of a kind that is sent.
    fn mutated(&mut self, index: usize) -> Option<Value> {
        if self.corpus.is_empty() {
            return None;
        }
        let seed = self.rng.pick(&self.corpus).clone();
        let mut value: Value = if self.rng.one_in(2) {
            let bytes = mutate(&seed, &self.corpus, &mut self.rng);
            serde_yaml_ng::from_slice(&bytes).ok()?
        } else {
            let mut value: Value = serde_yaml_ng::from_slice(&seed).ok()?;
            for _ in 0..1 + self.rng.below(3) {
                let replacement = if self.rng.one_in(2) {
                    json!(self.text())
                } else {
                    self.wrong_type()
                };
                replace_random_node(&mut value, replacement, &mut self.rng);
            }
            value
        };
        let kind = value.get("kind")?.as_str()?;
        path(kind)?;
        let object = value.as_object_mut()?;
        let metadata = object.entry("metadata").or_insert_with(|| json!({}));
        if let Some(metadata) = metadata.as_object_mut() {
            metadata.remove("namespace");
            if !self.rng.one_in(10) {
                metadata.insert("name".into(), json!(format!("fz-{index}")));
            }
        }
        Some(value)
    }

    /// The next object.
    pub(crate) fn next(&mut self, index: usize) -> Generated {
        let mutated = if self.rng.one_in(3) {
            // a mutation that no longer parses as an object is tried again, up to four times
            (0..4).find_map(|_| self.mutated(index))
        } else {
            None
        };
        if let Some(mut body) = mutated {
            let kind = kind_of(&body);
            if kind == "Secret" {
                stamp_secret(&mut body, &self.sentinel);
            }
            return Generated {
                kind,
                origin: "mutated",
                body,
            };
        }
        let (kind, body) = match self.rng.below(20) {
            0..=8 => ("Build", self.build(index)),
            9..=11 => ("BuildTemplate", self.template(index, "BuildTemplate")),
            12 => (
                "ClusterBuildTemplate",
                self.template(index, "ClusterBuildTemplate"),
            ),
            13..=16 => ("Secret", self.secret(index)),
            _ => ("ServiceAccount", self.account(index)),
        };
        Generated {
            kind,
            origin: "generated",
            body,
        }
    }
}

/// The kind a body names (one of the sent kinds, which the caller checked).
fn kind_of(body: &Value) -> &'static str {
    match body["kind"].as_str().unwrap_or_default() {
        "Build" => "Build",
        "BuildTemplate" => "BuildTemplate",
        "ClusterBuildTemplate" => "ClusterBuildTemplate",
        "Secret" => "Secret",
        _ => "ServiceAccount",
    }
}

/// Makes a Secret carry the sentinel, whatever the mutation did to it.
fn stamp_secret(body: &mut Value, sentinel: &str) {
    let Some(object) = body.as_object_mut() else {
        return;
    };
    let data = object.entry("stringData").or_insert_with(|| json!({}));
    if !data.is_object() {
        *data = json!({});
    }
    data["password"] = json!(sentinel);
}

/// Replaces one node of `value`, chosen by a random walk, with `replacement`.
fn replace_random_node(value: &mut Value, replacement: Value, rng: &mut Rng) {
    let mut node = value;
    loop {
        let next_index = match node {
            Value::Object(map) if !map.is_empty() && !rng.one_in(4) => rng.below(map.len()),
            Value::Array(items) if !items.is_empty() && !rng.one_in(4) => rng.below(items.len()),
            _ => {
                *node = replacement;
                return;
            }
        };
        node = match node {
            Value::Object(map) => map.values_mut().nth(next_index).expect("in range"),
            Value::Array(items) => &mut items[next_index],
            _ => unreachable!("only containers are walked into"),
        };
    }
}

/// Splits the seed examples into one YAML document each.
pub(crate) fn seed_documents(root: &std::path::Path) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut documents = Vec::new();
    for input in crate::harness::inputs::corpus(root, "load")? {
        let text = String::from_utf8_lossy(&input).into_owned();
        for document in text.split("\n---") {
            if document.contains("kind:") {
                documents.push(document.trim_start_matches('-').as_bytes().to_vec());
            }
        }
    }
    Ok(documents)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn generator(count: usize) -> Generator {
        let root = crate::harness::workspace_root();
        Generator::new(5, seed_documents(&root).unwrap(), "the-sentinel", count)
    }

    #[test]
    fn the_generator_is_deterministic() {
        let a: Vec<Value> = (0..200).map(|i| generator(200).next(i).body).collect();
        let mut g = generator(200);
        let b: Vec<Value> = (0..200).map(|i| g.next(i).body).collect();
        // the same generator state for the same index sequence
        let mut g2 = generator(200);
        let c: Vec<Value> = (0..200).map(|i| g2.next(i).body).collect();
        assert_eq!(b, c);
        assert_eq!(a.len(), 200);
    }

    #[test]
    fn every_kind_and_both_origins_appear_and_secrets_carry_the_sentinel() {
        let mut g = generator(2000);
        let mut kinds = BTreeMap::new();
        let mut mutated = 0;
        let mut huge = 0;
        for i in 0..2000 {
            let object = g.next(i);
            *kinds.entry(object.kind).or_insert(0) += 1;
            if object.origin == "mutated" {
                mutated += 1;
            }
            let text = object.body.to_string();
            if text.len() > 50_000 {
                huge += 1;
            }
            assert!(path(object.kind).is_some());
            assert_eq!(object.body["kind"], object.kind, "{text:.200}");
            if object.kind == "Secret" {
                assert!(text.contains("the-sentinel"), "{text:.300}");
            }
        }
        for kind in [
            "Build",
            "BuildTemplate",
            "ClusterBuildTemplate",
            "Secret",
            "ServiceAccount",
        ] {
            assert!(kinds.get(kind).copied().unwrap_or(0) > 10, "{kinds:?}");
        }
        assert!(mutated > 100, "{mutated} mutated");
        assert!(huge > 0, "no huge object");
    }

    #[test]
    fn a_random_node_is_replaced() {
        let mut rng = Rng::new(2);
        let mut changed = 0;
        for _ in 0..50 {
            let mut value = json!({"a": [1, 2, {"b": "c"}], "d": "e"});
            replace_random_node(&mut value, json!("X"), &mut rng);
            if value.to_string().contains("\"X\"") {
                changed += 1;
            }
        }
        assert_eq!(changed, 50);
    }
}
