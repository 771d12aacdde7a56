//! What a Build built, from what, against the real API server: the kubelet's part is played by
//! a status patch whose terminated init containers carry termination messages (git-init's
//! commit, a step's image results) and image IDs; the controller records them in the Build's
//! status, and `kubectl build provenance` names the reported digest, signed with `--key`.

use base64::Engine as _;
use build_controller::plugin::{Envelope, PluginExit, Session, Statement, Style};
use build_types::{Build, ConditionStatus};
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use serde_json::{Value, json};

use super::support::plugin::{Ran, kubectl_build};
use super::{bind, container_status, create, namespace, now, patch_pod_status};
use super::{terminated, wait_for_end, wait_for_pod};

const COMMIT: &str = "9fceb02d0ae598e95dc970b74767f19372d61af8";
const DIGEST: &str = "sha256:6b3a8f0e5d2c1b4a79685746352413029f8e7d6c5b4a39281706f5e4d3c2b1a0";

/// The Build: a git source and two steps, the first of which reports the image it pushed.
fn app() -> Build {
    serde_json::from_value(json!({
        "apiVersion": "build.knative.dev/v1alpha1", "kind": "Build",
        "metadata": {"name": "app"},
        "spec": {
            "source": {"git": {"url": "https://github.com/example/app.git", "revision": "v1.0"}},
            "steps": [
                {"name": "build", "image": "gcr.io/kaniko-project/executor:v1.23.0",
                 "args": ["--destination=registry.example.com/app:1.0"]},
                {"name": "check", "image": "busybox:1.36", "args": ["true"]},
            ],
        },
    }))
    .unwrap()
}

/// What the kubelet reports of each container once the pod has run: exit 0, the digest of the
/// image it ran, and what git-init and the build step wrote to their termination messages.
fn kubelet_status(pod: &Pod) -> Value {
    let spec = pod.spec.clone().unwrap();
    let ended = |container: &k8s_openapi::api::core::v1::Container| {
        let image = container.image.clone().unwrap_or_default();
        let mut status = container_status(&container.name, &image, terminated(0));
        let repository = image.split(':').next().unwrap_or_default().to_owned();
        status["imageID"] = json!(format!("{repository}@sha256:{}", "e".repeat(64)));
        let message = match container.name.as_str() {
            "build-step-git-source-0" => format!("commit={COMMIT}\nrevision=v1.0\n"),
            "build-step-build" => {
                format!("IMAGE_URL=registry.example.com/app:1.0\nIMAGE_DIGEST={DIGEST}\n")
            }
            _ => String::new(),
        };
        if !message.is_empty() {
            status["state"]["terminated"]["message"] = json!(message);
        }
        status
    };
    let init: Vec<Value> = spec.init_containers.iter().flatten().map(ended).collect();
    let main: Vec<Value> = spec.containers.iter().map(ended).collect();
    json!({"status": {"phase": "Succeeded", "startTime": now(),
                      "initContainerStatuses": init, "containerStatuses": main}})
}

/// The Build succeeds with its status recording the commit, the digests and the results, and
/// its provenance names the digest the build step reported.
pub(super) async fn a_build_reports_what_it_built(client: &Client) {
    let ns = namespace(client, "provenance").await;
    create(client, &ns, &app()).await;
    let pod = wait_for_pod(client, &ns, "app").await;
    bind(client, &pod).await;
    patch_pod_status(client, &pod, kubelet_status(&pod)).await;
    let status = wait_for_end(client, &ns, "app").await;
    println!(
        "the Build's status extension:\n{}",
        serde_yaml_ng::to_string(&json!({
            "sources": status.sources, "stepImages": status.step_images,
            "results": status.results, "controllerVersion": status.controller_version,
        }))
        .unwrap()
    );
    assert_eq!(
        status.succeeded().unwrap().status,
        ConditionStatus::True,
        "{status:?}"
    );
    assert_eq!(status.sources[0].commit.as_deref(), Some(COMMIT));
    assert_eq!(status.sources[0].revision.as_deref(), Some("v1.0"));
    let images: Vec<_> = status.step_images.iter().map(|s| &s.image).collect();
    assert_eq!(
        images[0].image_id.as_deref(),
        Some(format!("gcr.io/kaniko-project/executor@sha256:{}", "e".repeat(64)).as_str())
    );
    let results: Vec<(&str, &str)> = status
        .results
        .iter()
        .map(|r| (r.name.as_str(), r.value.as_str()))
        .collect();
    assert_eq!(
        results,
        [
            ("IMAGE_URL", "registry.example.com/app:1.0"),
            ("IMAGE_DIGEST", DIGEST)
        ]
    );
    the_provenance_names_the_digest(client, &ns).await;
}

/// `kubectl build provenance app`, then with `--key`.
async fn the_provenance_names_the_digest(client: &Client, ns: &str) {
    let session = Session::new(client.clone(), ns);
    let Ran { exit, out, err, .. } =
        kubectl_build(&session, Style::default(), &["provenance", "app"]).await;
    println!("kubectl build provenance app:\n{out}{err}");
    assert_eq!(exit, PluginExit::Succeeded, "{err}");
    let statement: Statement = serde_json::from_str(&out).unwrap();
    assert_eq!(
        statement.subject[0].name.as_deref(),
        Some("registry.example.com/app:1.0")
    );
    assert_eq!(statement.subject[0].digest["sha256"], &DIGEST[7..]);
    let git = &statement.predicate.build_definition.resolved_dependencies[0];
    assert_eq!(
        git.uri.as_deref(),
        Some("git+https://github.com/example/app.git@v1.0")
    );
    assert_eq!(git.digest["gitCommit"], COMMIT);

    let key = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/provenance/test-ed25519.pem"
    );
    let Ran { exit, out, err, .. } = kubectl_build(
        &session,
        Style::default(),
        &["provenance", "app", "--key", key],
    )
    .await;
    println!("kubectl build provenance app --key test-ed25519.pem:\n{out}{err}");
    assert_eq!(exit, PluginExit::Succeeded, "{err}");
    let envelope: Envelope = serde_json::from_str(&out).unwrap();
    let payload = base64::engine::general_purpose::STANDARD
        .decode(&envelope.payload)
        .unwrap();
    let signed: Statement = serde_json::from_slice(&payload).unwrap();
    assert_eq!(signed, statement);
}
