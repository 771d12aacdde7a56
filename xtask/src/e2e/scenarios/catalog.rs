//! The template catalog (`examples/templates/`) on the real node: a template applied as its
//! file has it but for the step images (this run's stand-ins, since nothing is pulled), and what
//! proves that a Build of it pushed what it says it pushed: its results, the digest the registry
//! serves for the tag, the status's record of the commit and the images that ran, and a signed
//! provenance statement that an independent verifier (securesystemslib, from PyPI) accepts for
//! the registry's digest, and refuses once tampered with.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use build_types::{Build, BuildTemplate};
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{Api, LogParams, PostParams};
use serde_json::{Value, json};

use super::builds::{create_build, kubectl_build_in, ran, wait_done, wait_pod_done};
use super::verdict::Checked;
use super::world::{REGISTRY_USER, World};
use crate::e2e::images;
use throwaway_cluster::Cluster;

/// The catalog's step images and this run's stand-in for each.
const STAND_INS: [(&str, &str); 2] = [
    ("docker:27-cli", images::DOCKER_CLI),
    ("quay.io/containers/buildah:v1.41.5", images::BUILDAH),
];

/// Creates the catalog's `file` in the world's namespace ([`template`]).
pub(super) async fn apply_template(world: &World, file: &str) -> anyhow::Result<()> {
    Api::<BuildTemplate>::namespaced(world.client.clone(), &world.namespace)
        .create(&PostParams::default(), &template(file, &world.namespace)?)
        .await?;
    Ok(())
}

/// The catalog's `file` as a BuildTemplate of `namespace`, each step image replaced by its
/// stand-in and nothing else changed; an image without a stand-in is an error.
fn template(file: &str, namespace: &str) -> anyhow::Result<BuildTemplate> {
    let path = crate::harness::workspace_root()
        .join("examples/templates")
        .join(file);
    let text = std::fs::read_to_string(&path)?;
    let mut value: Value = serde_yaml_ng::from_str(&text)?;
    with_stand_ins(&mut value, file)?;
    value["metadata"]["namespace"] = json!(namespace);
    Ok(serde_json::from_value(value)?)
}

/// Replaces each step's image of the template `value` by its stand-in.
fn with_stand_ins(value: &mut Value, file: &str) -> anyhow::Result<()> {
    let steps = value
        .pointer_mut("/spec/steps")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| anyhow::anyhow!("examples/templates/{file} has no spec.steps"))?;
    for step in steps {
        let image = step["image"].as_str().unwrap_or_default();
        let (_, stand_in) = STAND_INS
            .iter()
            .find(|(catalog, _)| *catalog == image)
            .ok_or_else(|| {
                anyhow::anyhow!("examples/templates/{file}: no stand-in for image {image:?}")
            })?;
        step["image"] = json!(stand_in);
    }
    Ok(())
}

/// A Build `name` of the catalog template `template` in the world's namespace, as
/// ServiceAccount build-bot, from the scenario repository's `main`, with `arguments`; waits
/// until it finished.
pub(super) async fn run_build(
    world: &World,
    name: &str,
    template: &str,
    arguments: &[(&str, &str)],
) -> anyhow::Result<Build> {
    let arguments: Vec<Value> = arguments
        .iter()
        .map(|(name, value)| json!({"name": name, "value": value}))
        .collect();
    create_build(
        world,
        json!({
            "metadata": {"name": name, "namespace": world.namespace},
            "spec": {
                "serviceAccountName": "build-bot",
                "source": {"git": {"url": world.git_url(), "revision": "main"}},
                "template": {"name": template, "arguments": arguments},
            },
        }),
    )
    .await?;
    wait_done(world, name, Duration::from_secs(240)).await
}

/// The checks of a Build that pushed `image` (`registry:5000/repository:tag`) from the scenario
/// repository; the signing key and the envelopes are kept in the run's directory.
pub(super) async fn check_pushed(
    world: &World,
    cluster: &Cluster,
    build: &Build,
    image: &str,
    checked: &mut Checked,
) -> anyhow::Result<()> {
    let dir = cluster.dir.join("provenance");
    let kubeconfig = cluster.kubeconfig.as_path();
    let reported = result(build, "IMAGE_DIGEST");
    checked.note(format!(
        "status.results: IMAGE_URL={} IMAGE_DIGEST={}",
        result(build, "IMAGE_URL").unwrap_or("-"),
        reported.unwrap_or("-")
    ));
    checked.check(
        result(build, "IMAGE_URL") == Some(image),
        format!("the Build's IMAGE_URL result is not {image}"),
    );
    let served = registry_digest(world, image, checked).await?;
    checked.check(
        served.is_some() && reported == served.as_deref(),
        "the Build's IMAGE_DIGEST is not the digest the registry serves for the tag",
    );
    check_recorded(world, build, checked);
    if let Some(digest) = served {
        check_provenance(world, kubeconfig, &dir, build, &digest, checked).await?;
    }
    Ok(())
}

/// The value of the Build's result `name`.
fn result<'b>(build: &'b Build, name: &str) -> Option<&'b str> {
    let status = build.status.as_ref()?;
    status
        .results
        .iter()
        .find(|r| r.name == name)
        .map(|r| r.value.as_str())
}

/// The status's record of what ran: the commit the source was checked out at (the git
/// server's), and a digest for each step image.
fn check_recorded(world: &World, build: &Build, checked: &mut Checked) {
    let status = build.status.clone().unwrap_or_default();
    let commits: Vec<&str> = status
        .sources
        .iter()
        .filter_map(|s| s.commit.as_deref())
        .collect();
    checked.note(format!(
        "status.sources commit {commits:?}, the git server's main {}",
        world.commit
    ));
    checked.check(
        commits == [world.commit.as_str()],
        "status.sources does not record the commit the git server serves",
    );
    for step in &status.step_images {
        checked.note(format!(
            "status.stepImages {}: {} ran as {}",
            step.step,
            step.image.image.as_deref().unwrap_or("-"),
            step.image.image_id.as_deref().unwrap_or("-")
        ));
        checked.check(
            step.image
                .image_id
                .as_deref()
                .is_some_and(|id| id.contains("sha256:")),
            format!("status.stepImages has no digest for {}", step.step),
        );
    }
    checked.check(!status.step_images.is_empty(), "status.stepImages is empty");
}

/// The digest the registry serves for `image`'s tag (its `Docker-Content-Digest`), asked from a
/// pod with the credentials; also checks that it refuses the same request without them.
async fn registry_digest(
    world: &World,
    image: &str,
    checked: &mut Checked,
) -> anyhow::Result<Option<String>> {
    let (host, reference) = image
        .split_once('/')
        .ok_or_else(|| anyhow::anyhow!("{image} names no registry"))?;
    let (repository, tag) = reference
        .rsplit_once(':')
        .ok_or_else(|| anyhow::anyhow!("{image} has no tag"))?;
    let path = format!("{host}/v2/{repository}/manifests/{tag}");
    let accept = "Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";
    let script = format!(
        "echo 'with credentials:'; wget -S -O /dev/null --header '{accept}' \"http://{REGISTRY_USER}:$PASSWORD@$URL\" 2>&1; echo 'without credentials:'; wget -q -O- --header '{accept}' \"http://$URL\" 2>&1; echo \"exit $?\""
    );
    let name = format!("registry-probe-{}", tag.replace(['.', '_'], "-"));
    let probe: Pod = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"restartPolicy": "Never", "containers": [{
            "name": "wget", "image": images::TOOLS, "command": ["/bin/sh", "-c", script],
            "env": [{"name": "PASSWORD", "value": world.password}, {"name": "URL", "value": path}],
        }]},
    }))?;
    world.pods().create(&PostParams::default(), &probe).await?;
    wait_pod_done(world, &name).await?;
    let out = world.pods().logs(&name, &LogParams::default()).await?;
    checked.note(format!(
        "GET http://{path} from pod {name}:\n{}",
        out.trim()
    ));
    let (with, without) = out.split_once("without credentials:").unwrap_or((&out, ""));
    checked.check(
        without.contains("401") && !without.contains("schemaVersion"),
        "the registry answered without credentials",
    );
    let digest = with.lines().find_map(|line| {
        let (key, value) = line.trim().split_once(':')?;
        key.eq_ignore_ascii_case("Docker-Content-Digest")
            .then(|| value.trim().to_owned())
    });
    checked.check(
        digest.is_some(),
        "the registry served no digest for the tag",
    );
    Ok(digest)
}

/// `kubectl build provenance NAME --key` with a fresh Ed25519 key: verified by securesystemslib
/// against the public key, its subject the registry's digest; the same envelope with another
/// digest in its statement fails verification.
async fn check_provenance(
    world: &World,
    kubeconfig: &Path,
    dir: &Path,
    build: &Build,
    digest: &str,
    checked: &mut Checked,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let name = build.name_any();
    let key = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub.pem"));
    let key_arg = key.display().to_string();
    openssl(&["genpkey", "-algorithm", "ed25519", "-out"], &key).await?;
    openssl(&["pkey", "-pubout", "-in", &key_arg, "-out"], &public).await?;
    let (code, envelope, stderr) = kubectl_build_in(
        kubeconfig,
        &world.namespace,
        &["provenance", &name, "--key", &key_arg],
    )
    .await?;
    checked.check(
        code == 0,
        format!(
            "kubectl build provenance --key exited {code}: {}",
            stderr.trim()
        ),
    );
    let signed = dir.join(format!("{name}.dsse.json"));
    std::fs::write(&signed, &envelope)?;
    let (verified, said) = verify(&signed, &public).await?;
    checked.note(format!("verify_dsse.py {name}.dsse.json: {said}"));
    checked.check(verified, "securesystemslib did not verify the envelope");
    let statement = payload(&envelope)?;
    let subject = statement
        .pointer("/subject/0/digest/sha256")
        .and_then(Value::as_str)
        .map(|hex| format!("sha256:{hex}"));
    checked.check(
        subject.as_deref() == Some(digest),
        format!("the statement's subject digest {subject:?} is not the registry's {digest}"),
    );
    let tampered = dir.join(format!("{name}.tampered.dsse.json"));
    std::fs::write(&tampered, tamper(&envelope)?)?;
    let (verified, said) = verify(&tampered, &public).await?;
    checked.note(format!(
        "verify_dsse.py on the envelope with another subject digest: {said}"
    ));
    checked.check(!verified, "securesystemslib verified a tampered envelope");
    Ok(())
}

/// `openssl ARGS... OUT`.
async fn openssl(args: &[&str], out: &Path) -> anyhow::Result<()> {
    let mut command = Command::new("openssl");
    command.args(args).arg(out);
    let (code, _, stderr) = ran(command).await?;
    anyhow::ensure!(code == 0, "openssl {args:?} failed: {}", stderr.trim());
    Ok(())
}

/// Runs the independent verifier (`build-controller/tests/fixtures/provenance/verify_dsse.py`,
/// securesystemslib's DSSE verification): whether it verified, and what it printed.
async fn verify(envelope: &Path, public: &Path) -> anyhow::Result<(bool, String)> {
    let script = crate::harness::workspace_root()
        .join("build-controller/tests/fixtures/provenance/verify_dsse.py");
    let mut command = Command::new("python3");
    command.arg(script).arg(envelope).arg(public);
    let (code, stdout, stderr) = ran(command).await?;
    let said = format!("{}{}", stdout.trim(), stderr.trim());
    if stderr.contains("ModuleNotFoundError") {
        anyhow::bail!(
            "the verifier needs securesystemslib: python3 -m pip install 'securesystemslib[crypto]>=1,<2' ({said})"
        );
    }
    Ok((code == 0, said))
}

/// The in-toto statement an envelope carries.
fn payload(envelope: &str) -> anyhow::Result<Value> {
    let envelope: Value = serde_json::from_str(envelope)?;
    let encoded = envelope["payload"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("the envelope has no payload"))?;
    Ok(serde_json::from_slice(&STANDARD.decode(encoded)?)?)
}

/// The envelope with its statement's first subject digest changed, signatures kept.
fn tamper(envelope: &str) -> anyhow::Result<String> {
    let mut statement = payload(envelope)?;
    let digest = statement
        .pointer_mut("/subject/0/digest/sha256")
        .ok_or_else(|| anyhow::anyhow!("the statement has no subject digest"))?;
    *digest = json!("0".repeat(64));
    let mut envelope: Value = serde_json::from_str(envelope)?;
    envelope["payload"] = json!(STANDARD.encode(serde_json::to_vec(&statement)?));
    Ok(envelope.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalog_image_has_a_stand_in_and_only_images_change() {
        for file in ["buildkit.yaml", "buildah-privileged.yaml", "buildah.yaml"] {
            let path = crate::harness::workspace_root()
                .join("examples/templates")
                .join(file);
            let original: Value =
                serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
            let mut replaced = original.clone();
            with_stand_ins(&mut replaced, file).unwrap();
            let steps = replaced["spec"]["steps"].as_array().unwrap();
            for (index, step) in steps.iter().enumerate() {
                assert!(step["image"].as_str().unwrap().starts_with("e2e.local/"));
                let mut back = step.clone();
                back["image"] = original["spec"]["steps"][index]["image"].clone();
                assert_eq!(back, original["spec"]["steps"][index], "{file}");
            }
        }
        let mut unknown = json!({"spec": {"steps": [{"image": "example.com/other:1"}]}});
        assert!(with_stand_ins(&mut unknown, "x.yaml").is_err());
    }

    #[test]
    fn a_tampered_envelope_carries_another_digest_and_the_same_signatures() {
        let statement =
            json!({"subject": [{"name": "r/app:1", "digest": {"sha256": "ab".repeat(32)}}]});
        let envelope = json!({
            "payload": STANDARD.encode(statement.to_string()),
            "payloadType": "application/vnd.in-toto+json",
            "signatures": [{"keyid": "k", "sig": "c2ln"}],
        })
        .to_string();
        let tampered: Value = serde_json::from_str(&tamper(&envelope).unwrap()).unwrap();
        assert_eq!(
            payload(&tampered.to_string()).unwrap()["subject"][0]["digest"]["sha256"],
            "0".repeat(64)
        );
        let original: Value = serde_json::from_str(&envelope).unwrap();
        assert_eq!(tampered["signatures"], original["signatures"]);
    }
}
