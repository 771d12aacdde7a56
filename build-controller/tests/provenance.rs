//! `kubectl build provenance`: the statement made from a succeeded Build (a snapshot of the
//! pure function), the command against the fake API server (the statement, a DSSE envelope
//! signed with an Ed25519 or a P-256 key that verifies against its public key, and the exit
//! codes of a Build that cannot be attested and of a key that cannot sign).

mod support;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use build_controller::plugin::{
    DEFAULT_BUILDER_ID, Envelope, IN_TOTO_PAYLOAD_TYPE, PluginExit, Session, Statement,
    StatementInputs, Style, pae, statement,
};
use build_types::Build;
use serde_json::{Value, json};
use support::fake_api::FakeApi;
use support::fixtures::{NS, UID, from, to_json};
use support::plugin::Ran;

const DIGEST: &str = "sha256:5a3e1a7d6e0b3c9f8a7e6d5c4b3a29180f7e6d5c4b3a29180f7e6d5c4b3a2918";
const COMMIT: &str = "3f786850e387550fdab836ed7e6dc881de23001b";

/// The path of a fixture key.
fn key(name: &str) -> String {
    format!(
        "{}/tests/fixtures/provenance/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// A Build of the `kaniko` template from a git source, as the controller leaves it when it
/// succeeded.
fn succeeded_build() -> Build {
    from(json!({
        "apiVersion": "build.knative.dev/v1alpha1", "kind": "Build",
        "metadata": {"name": "app", "namespace": NS, "uid": UID, "resourceVersion": "7"},
        "spec": {
            "serviceAccountName": "build-bot",
            "source": {"git": {"url": "https://robot:t0ken@github.com/example/app.git", "revision": "main"}},
            "template": {"name": "kaniko", "kind": "ClusterBuildTemplate",
                         "arguments": [{"name": "IMAGE", "value": "registry.example.com/app:1.0"}]},
        },
        "status": {
            "builder": "Cluster",
            "cluster": {"namespace": NS, "podName": "app-pod-4f2a9c"},
            "startTime": "2024-01-01T00:01:00Z",
            "completionTime": "2024-01-01T00:05:01Z",
            "conditions": [{"type": "Succeeded", "status": "True", "reason": "Succeeded",
                            "lastTransitionTime": "2024-01-01T00:05:01Z"}],
            "stepsCompleted": ["build-step-build-and-push"],
            "sources": [{"step": "build-step-git-source-0", "kind": "git",
                         "url": "https://***@github.com/example/app.git", "revision": "main",
                         "commit": COMMIT, "image": "example.com/git-init:v0.1.0",
                         "imageID": format!("example.com/git-init@sha256:{}", "1".repeat(64))}],
            "stepImages": [{"step": "build-step-build-and-push",
                            "image": "gcr.io/kaniko-project/executor:v1.23.0",
                            "imageID": format!("gcr.io/kaniko-project/executor@sha256:{}", "2".repeat(64))}],
            "results": [
                {"name": "IMAGE_URL", "value": "registry.example.com/app:1.0", "step": "build-step-build-and-push"},
                {"name": "IMAGE_DIGEST", "value": DIGEST, "step": "build-step-build-and-push"},
            ],
            "controllerVersion": "0.1.0",
        },
    }))
}

/// Runs `kubectl build ARGS…` against a fake API server holding `build`.
async fn kubectl_build(build: &Build, args: &[&str]) -> Ran {
    let api = FakeApi::default();
    api.insert("builds", to_json(build));
    let session = Session::new(api.client("plugin", NS), NS);
    let style = Style {
        color: false,
        progress: false,
    };
    support::plugin::kubectl_build(&session, style, args).await
}

#[test]
fn the_statement_of_a_succeeded_build() {
    let build = succeeded_build();
    let statement = statement(&StatementInputs {
        build: &build,
        builder_id: DEFAULT_BUILDER_ID,
    })
    .unwrap();
    insta::assert_json_snapshot!(statement);
}

#[tokio::test]
async fn the_command_prints_the_statement() {
    let build = succeeded_build();
    let ran = kubectl_build(&build, &["provenance", "app"]).await;
    assert_eq!(ran.exit, PluginExit::Succeeded, "{}", ran.transcript());
    let printed: Statement = serde_json::from_str(&ran.out).unwrap();
    let expected = statement(&StatementInputs {
        build: &build,
        builder_id: DEFAULT_BUILDER_ID,
    })
    .unwrap();
    assert_eq!(printed, expected);
    assert!(!ran.out.contains("t0ken"), "{}", ran.out);

    let ran = kubectl_build(
        &build,
        &[
            "provenance",
            "app",
            "--builder-id",
            "https://ci.example.com/cluster-1",
        ],
    )
    .await;
    let printed: Value = serde_json::from_str(&ran.out).unwrap();
    assert_eq!(
        printed["predicate"]["runDetails"]["builder"]["id"],
        "https://ci.example.com/cluster-1"
    );
}

/// Verifies `envelope`'s one signature with the public key in `public_pem` and returns its
/// payload.
fn verified(envelope: &Envelope, public_pem: &str) -> Vec<u8> {
    use p256::pkcs8::DecodePublicKey as _;
    let payload = STANDARD.decode(&envelope.payload).unwrap();
    let signed = pae(&envelope.payload_type, &payload);
    let signature = STANDARD.decode(&envelope.signatures[0].sig).unwrap();
    if let Ok(key) = ed25519_dalek::VerifyingKey::from_public_key_pem(public_pem) {
        let signature = ed25519_dalek::Signature::from_slice(&signature).unwrap();
        key.verify_strict(&signed, &signature).unwrap();
    } else {
        use p256::ecdsa::signature::Verifier as _;
        let key = p256::ecdsa::VerifyingKey::from_public_key_pem(public_pem).unwrap();
        let signature = p256::ecdsa::Signature::from_der(&signature).unwrap();
        key.verify(&signed, &signature).unwrap();
    }
    payload
}

#[tokio::test]
async fn with_a_key_it_prints_a_signed_envelope() {
    let build = succeeded_build();
    // What `openssl pkey -in KEY -pubout -outform DER | sha256sum` prints for each key.
    for (name, keyid) in [
        (
            "test-ed25519",
            "2b58f5e56fa8eafbdaf48856c4c69ddd4a426b4a5385501a6a0cdd93f5d1971a",
        ),
        (
            "test-p256",
            "901480ff18c25facebc5c692409d9de434d9a159ee7996d1a5f761f078de1533",
        ),
    ] {
        let file = key(&format!("{name}.pem"));
        let ran = kubectl_build(&build, &["provenance", "app", "--key", &file]).await;
        assert_eq!(ran.exit, PluginExit::Succeeded, "{}", ran.transcript());
        let envelope: Envelope = serde_json::from_str(&ran.out).unwrap();
        assert_eq!(envelope.payload_type, IN_TOTO_PAYLOAD_TYPE);
        assert_eq!(envelope.signatures.len(), 1);
        assert_eq!(envelope.signatures[0].keyid, keyid, "{name}");
        let public = std::fs::read_to_string(key(&format!("{name}.pub.pem"))).unwrap();
        let payload = verified(&envelope, &public);
        let statement: Statement = serde_json::from_slice(&payload).unwrap();
        assert_eq!(statement.subject[0].digest["sha256"], &DIGEST[7..]);
    }
}

#[tokio::test]
async fn a_build_without_provenance_exits_1_and_says_why() {
    let running = {
        let mut build = succeeded_build();
        build.status.as_mut().unwrap().conditions[0].status = build_types::ConditionStatus::Unknown;
        build
    };
    let ran = kubectl_build(&running, &["provenance", "app"]).await;
    assert_eq!(ran.exit, PluginExit::Failed);
    assert_eq!(ran.out, "");
    assert_eq!(
        ran.err,
        "error: build \"app\" has not succeeded (still running): provenance is made for a succeeded build only\n"
    );

    let no_image = {
        let mut build = succeeded_build();
        build.status.as_mut().unwrap().results.clear();
        build
    };
    let ran = kubectl_build(&no_image, &["provenance", "app"]).await;
    assert_eq!(ran.exit, PluginExit::Failed);
    assert!(ran.err.contains("reported no image: a step names what it built by writing IMAGE_URL=<image> and IMAGE_DIGEST=<algorithm>:<hex> to /dev/termination-log"), "{}", ran.err);

    let bad_digest = {
        let mut build = succeeded_build();
        build.status.as_mut().unwrap().results[1].value = "latest".into();
        build
    };
    let ran = kubectl_build(&bad_digest, &["provenance", "app"]).await;
    assert_eq!(ran.exit, PluginExit::Failed);
    assert_eq!(
        ran.err,
        "error: build step \"build-step-build-and-push\" reported IMAGE_DIGEST=\"latest\", which is not a digest (sha256:<64 hex digits>, sha384:<96> or sha512:<128>)\n"
    );

    let unpaired = {
        let mut build = succeeded_build();
        build.status.as_mut().unwrap().results.remove(0);
        build
    };
    let ran = kubectl_build(&unpaired, &["provenance", "app"]).await;
    assert_eq!(
        ran.err,
        "error: build step \"build-step-build-and-push\" reported IMAGE_DIGEST without IMAGE_URL\n"
    );
}

#[tokio::test]
async fn a_key_that_cannot_sign_exits_2_before_reading_the_build() {
    let build = succeeded_build();
    for (name, message) in [
        (
            "test-p384.pem",
            "holds a key of algorithm 1.2.840.10045.2.1 (curve 1.3.132.0.34); only Ed25519 and ECDSA P-256 keys can sign",
        ),
        (
            "test-p256-sec1.pem",
            "holds a \"EC PRIVATE KEY\" PEM block, not an unencrypted PKCS#8 \"PRIVATE KEY\" (convert it with: openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.pkcs8)",
        ),
        (
            "test-p256.pub.pem",
            "holds a \"PUBLIC KEY\" PEM block, not an unencrypted PKCS#8 \"PRIVATE KEY\"",
        ),
        (
            "README.md",
            "not a PEM file (expected \"-----BEGIN PRIVATE KEY-----\", PKCS#8)",
        ),
    ] {
        let file = key(name);
        let ran = kubectl_build(&build, &["provenance", "no-such-build", "--key", &file]).await;
        assert_eq!(ran.exit, PluginExit::Error, "{name}");
        assert_eq!(ran.err, format!("error: key {file}: {message}\n"));
        assert!(!ran.err.contains("MIG"), "no key material: {}", ran.err);
    }
    let ran = kubectl_build(&build, &["provenance", "app", "--key", "/no/such/key.pem"]).await;
    assert_eq!(ran.exit, PluginExit::Error);
    assert!(
        ran.err.starts_with("error: reading /no/such/key.pem: "),
        "{}",
        ran.err
    );
}

/// Whether `python3` can import securesystemslib (and the `cryptography` it verifies with).
fn securesystemslib() -> bool {
    std::process::Command::new("python3")
        .args(["-c", "import securesystemslib, cryptography"])
        .output()
        .is_ok_and(|out| out.status.success())
}

/// Runs the independent verifier (`verify_dsse.py`, securesystemslib's DSSE `Envelope.verify`)
/// on `envelope` against the public key `public`: whether it verified, and what it printed.
fn python_verifies(dir: &std::path::Path, envelope: &Value, public: &str) -> (bool, String) {
    let file = dir.join("envelope.json");
    std::fs::write(&file, envelope.to_string()).unwrap();
    let out = std::process::Command::new("python3")
        .arg(key("verify_dsse.py"))
        .arg(&file)
        .arg(key(public))
        .output()
        .unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), printed.trim().to_owned())
}

/// The envelopes the command signs verify with securesystemslib, installed from PyPI, against
/// the public keys alone; an envelope whose payload was changed after signing does not.
#[tokio::test]
async fn an_independent_verifier_accepts_the_envelope_and_refuses_a_tampered_one() {
    if !securesystemslib() {
        println!(
            "skipping: python3 cannot import securesystemslib (pip install 'securesystemslib[crypto]'; .ci/run does)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let build = succeeded_build();
    for name in ["test-ed25519", "test-p256"] {
        let file = key(&format!("{name}.pem"));
        let public = format!("{name}.pub.pem");
        let ran = kubectl_build(&build, &["provenance", "app", "--key", &file]).await;
        assert_eq!(ran.exit, PluginExit::Succeeded, "{}", ran.transcript());
        let envelope: Value = serde_json::from_str(&ran.out).unwrap();

        let (ok, printed) = python_verifies(dir.path(), &envelope, &public);
        println!("{name}, as signed: {printed}");
        assert!(ok, "{name}: {printed}");
        assert!(
            printed.contains(&format!("registry.example.com/app:1.0@{DIGEST}")),
            "{printed}"
        );

        // The same signature over a statement naming another digest.
        let payload = STANDARD
            .decode(envelope["payload"].as_str().unwrap())
            .unwrap();
        let forged = String::from_utf8(payload)
            .unwrap()
            .replace(&DIGEST[7..], &"0".repeat(64));
        let mut tampered = envelope.clone();
        tampered["payload"] = json!(STANDARD.encode(forged));
        let (ok, printed) = python_verifies(dir.path(), &tampered, &public);
        println!("{name}, payload tampered: {printed}");
        assert!(!ok, "{name}: a tampered envelope verified: {printed}");
        assert!(
            printed.starts_with("not verified: VerificationError"),
            "{printed}"
        );

        // Signed, but checked against the other key.
        let other = if name == "test-p256" {
            "test-ed25519.pub.pem"
        } else {
            "test-p256.pub.pem"
        };
        let (ok, printed) = python_verifies(dir.path(), &envelope, other);
        println!("{name}, checked with {other}: {printed}");
        assert!(!ok, "{name}: verified with the wrong key: {printed}");
    }
}

/// `kubectl build describe` shows the commit, the images that ran and the results.
#[tokio::test]
async fn describe_shows_what_was_built() {
    let mut build = succeeded_build();
    build.status.as_mut().unwrap().set_condition(
        build_types::Condition {
            type_: build_types::RESULTS_REPORTED.into(),
            ..build_types::Condition::succeeded(
                build_types::ConditionStatus::False,
                build_types::RESULTS_DROPPED,
                "build step \"build-step-build-and-push\": line 3 is not KEY=VALUE: \"done\"",
            )
        },
        from(json!("2024-01-01T00:05:01Z")),
    );
    let ran = kubectl_build(&build, &["describe", "app"]).await;
    assert_eq!(ran.exit, PluginExit::Succeeded, "{}", ran.transcript());
    let shown = format!(
        "Built from:
  build-step-git-source-0: git https://***@github.com/example/app.git @ main: commit {COMMIT}
Images run:
  build-step-git-source-0: example.com/git-init:v0.1.0 (example.com/git-init@sha256:{ones})
  build-step-build-and-push: gcr.io/kaniko-project/executor:v1.23.0 (gcr.io/kaniko-project/executor@sha256:{twos})
Results:
  build-step-build-and-push: IMAGE_URL=registry.example.com/app:1.0
  build-step-build-and-push: IMAGE_DIGEST={DIGEST}
Results dropped:  build step \"build-step-build-and-push\": line 3 is not KEY=VALUE: \"done\"
",
        ones = "1".repeat(64),
        twos = "2".repeat(64),
    );
    println!("{}", ran.out);
    assert!(ran.out.contains(&shown), "{}", ran.out);
}
