//! One image as an OCI image layout in a tar archive, with a Docker `manifest.json` beside it.
//!
//! The archive holds `oci-layout`, `index.json` (one manifest, named by the
//! `org.opencontainers.image.ref.name` and `io.containerd.image.name` annotations),
//! `manifest.json` (`docker load` before Docker 25 reads only this) and `blobs/sha256/*`: the
//! config, the manifest and the layers. Layers are uncompressed tar streams, so a layer's digest
//! is its diff ID and does not depend on a compressor's version or settings; the archive is
//! imported locally, and `skopeo copy --dest-compress` compresses on the way to a registry.
//! Every JSON document is written with sorted keys and the archive itself is a [`Layer`], so the
//! same image always gives the same bytes.

use anyhow::Context;
use oci_spec::image::{
    ANNOTATION_REF_NAME, Arch, ConfigBuilder, Descriptor, HistoryBuilder,
    ImageConfigurationBuilder, ImageIndexBuilder, ImageManifestBuilder, MediaType,
    OciLayoutBuilder, Os, RootFsBuilder, SCHEMA_VERSION, Sha256Digest,
};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::layer::Layer;

/// The annotation containerd (`ctr images import`) names an imported image by.
pub(crate) const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";

/// The creation time written into every config: the epoch, so that it never changes.
const CREATED: &str = "1970-01-01T00:00:00Z";

/// What an image is made of and how it runs.
#[derive(Debug)]
pub(crate) struct Image {
    /// The name as the release manifests use it, e.g. `knative-build-rs/nop:v0.1.0`.
    pub(crate) reference: String,
    /// The user (`uid:gid`) the entrypoint runs as.
    pub(crate) user: String,
    /// `NAME=value` environment entries.
    pub(crate) env: Vec<String>,
    /// The program and its first arguments.
    pub(crate) entrypoint: Vec<String>,
    /// The default arguments after the entrypoint.
    pub(crate) cmd: Vec<String>,
    /// The layers, bottom first, each with the line `docker history` shows for it.
    pub(crate) layers: Vec<(String, Layer)>,
}

/// An image archive and what identifies it.
#[derive(Debug)]
pub(crate) struct Archive {
    /// The tar archive's bytes.
    pub(crate) bytes: Vec<u8>,
    /// `sha256:<hex>` of the image manifest: the digest a registry would report.
    pub(crate) manifest_digest: String,
}

/// The reference with its registry and repository spelled out, as containerd and Kubernetes
/// resolve it: `knative-build-rs/nop:v0.1.0` is `docker.io/knative-build-rs/nop:v0.1.0`.
pub(crate) fn fully_qualified(reference: &str) -> String {
    match reference.split_once('/') {
        None => format!("docker.io/library/{reference}"),
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => {
            reference.to_owned()
        }
        Some(_) => format!("docker.io/{reference}"),
    }
}

/// Builds the archive of `image`.
pub(crate) fn archive(image: &Image) -> anyhow::Result<Archive> {
    let mut blobs = Blobs::default();
    let mut layer_descriptors = Vec::new();
    let mut diff_ids = Vec::new();
    let mut history = Vec::new();
    for (created_by, layer) in &image.layers {
        let descriptor = blobs.add(MediaType::ImageLayer, layer.to_tar()?)?;
        diff_ids.push(descriptor.digest().to_string());
        layer_descriptors.push(descriptor);
        history.push(
            HistoryBuilder::default()
                .created(CREATED)
                .created_by(created_by.as_str())
                .build()?,
        );
    }
    let config = ImageConfigurationBuilder::default()
        .created(CREATED)
        .architecture(Arch::Amd64)
        .os(Os::Linux)
        .config(
            ConfigBuilder::default()
                .user(image.user.as_str())
                .env(image.env.clone())
                .entrypoint(image.entrypoint.clone())
                .cmd(image.cmd.clone())
                .build()?,
        )
        .rootfs(
            RootFsBuilder::default()
                .typ("layers")
                .diff_ids(diff_ids)
                .build()?,
        )
        .history(history)
        .build()?;
    let config = blobs.add(MediaType::ImageConfig, json(&config)?)?;
    let manifest = ImageManifestBuilder::default()
        .schema_version(SCHEMA_VERSION)
        .media_type(MediaType::ImageManifest)
        .config(config.clone())
        .layers(layer_descriptors.clone())
        .build()?;
    let mut manifest = blobs.add(MediaType::ImageManifest, json(&manifest)?)?;
    let manifest_digest = manifest.digest().to_string();
    let name = fully_qualified(&image.reference);
    manifest.set_annotations(Some(
        [
            (ANNOTATION_REF_NAME.to_owned(), name.clone()),
            (ANNOTATION_CONTAINERD_NAME.to_owned(), name),
        ]
        .into(),
    ));
    let index = ImageIndexBuilder::default()
        .schema_version(SCHEMA_VERSION)
        .media_type(MediaType::ImageIndex)
        .manifests(vec![manifest])
        .build()?;
    let layout = OciLayoutBuilder::default()
        .image_layout_version("1.0.0")
        .build()?;
    let docker = [DockerManifest {
        config: blob_path(&config),
        repo_tags: vec![image.reference.clone()],
        layers: layer_descriptors.iter().map(blob_path).collect(),
    }];

    let mut archive = blobs.layer;
    archive.file("oci-layout", 0o644, json(&layout)?);
    archive.file("index.json", 0o644, json(&index)?);
    archive.file("manifest.json", 0o644, json(&docker)?);
    Ok(Archive {
        bytes: archive.to_tar()?,
        manifest_digest,
    })
}

/// One entry of Docker's `manifest.json`, the format `docker save` writes.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifest {
    config: String,
    repo_tags: Vec<String>,
    layers: Vec<String>,
}

/// The content-addressed blobs of the archive, as files of its tar stream.
#[derive(Default)]
struct Blobs {
    layer: Layer,
}

impl Blobs {
    /// Stores `data` under `blobs/sha256/<hex>` and describes it.
    fn add(&mut self, media_type: MediaType, data: Vec<u8>) -> anyhow::Result<Descriptor> {
        let hex = format!("{:x}", Sha256::digest(&data));
        let digest: Sha256Digest = hex.parse().context("a sha256 digest")?;
        let descriptor = Descriptor::new(media_type, data.len() as u64, digest);
        self.layer.file(&blob_path(&descriptor), 0o644, data);
        Ok(descriptor)
    }
}

/// Where a blob lives in the archive: `blobs/sha256/<hex>`.
fn blob_path(descriptor: &Descriptor) -> String {
    let digest = descriptor.digest();
    format!("blobs/{}/{}", digest.algorithm(), digest.digest())
}

/// `value` as compact JSON with every object's keys sorted (the OCI types keep annotations in
/// hash maps, whose order changes from run to run).
fn json(value: &impl Serialize) -> anyhow::Result<Vec<u8>> {
    let mut value = serde_json::to_value(value).context("serializing JSON")?;
    sort_keys(&mut value);
    serde_json::to_vec(&value).context("serializing JSON")
}

/// Sorts the keys of every object in `value`, however `serde_json` keeps its maps.
fn sort_keys(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.sort_keys();
            map.values_mut().for_each(sort_keys);
        }
        Value::Array(items) => items.iter_mut().for_each(sort_keys),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::io::Read;

    use super::*;

    /// The files of an archive, by path.
    fn files(archive: &[u8]) -> BTreeMap<String, Vec<u8>> {
        tar::Archive::new(archive)
            .entries()
            .unwrap()
            .map(Result::unwrap)
            .filter(|entry| entry.header().entry_type().is_file())
            .map(|mut entry| {
                let path = entry.path().unwrap().to_string_lossy().into_owned();
                let mut data = Vec::new();
                entry.read_to_end(&mut data).unwrap();
                (path, data)
            })
            .collect()
    }

    fn parse(data: &[u8]) -> Value {
        serde_json::from_slice(data).unwrap()
    }

    fn nop() -> Image {
        let mut layer = Layer::default();
        layer.file("ko-app/nop", 0o755, "#!nop");
        Image {
            reference: "knative-build-rs/nop:v0.1.0".to_owned(),
            user: "65532:65532".to_owned(),
            env: vec![],
            entrypoint: vec!["/ko-app/nop".to_owned()],
            cmd: vec![],
            layers: vec![("nop".to_owned(), layer)],
        }
    }

    #[test]
    fn fully_qualified_names() {
        let check = |short: &str, long: &str| assert_eq!(fully_qualified(short), long);
        check(
            "knative-build-rs/nop:v0.1.0",
            "docker.io/knative-build-rs/nop:v0.1.0",
        );
        check("busybox:1", "docker.io/library/busybox:1");
        check(
            "gcr.io/cloud-builders/gcs-fetcher",
            "gcr.io/cloud-builders/gcs-fetcher",
        );
        check("localhost/x:1", "localhost/x:1");
    }

    #[test]
    fn the_layout_names_the_image_and_every_digest_matches_its_blob() {
        let archive = archive(&nop()).unwrap();
        let files = files(&archive.bytes);
        assert_eq!(parse(&files["oci-layout"])["imageLayoutVersion"], "1.0.0");

        let index = parse(&files["index.json"]);
        let manifests = index["manifests"].as_array().unwrap();
        assert_eq!(manifests.len(), 1);
        let name = "docker.io/knative-build-rs/nop:v0.1.0";
        assert_eq!(manifests[0]["annotations"][ANNOTATION_REF_NAME], name);
        assert_eq!(
            manifests[0]["annotations"][ANNOTATION_CONTAINERD_NAME],
            name
        );
        assert_eq!(manifests[0]["digest"], archive.manifest_digest.as_str());

        let blob = |digest: &Value| {
            let path = format!("blobs/{}", digest.as_str().unwrap().replace(':', "/"));
            let data = &files[&path];
            assert_eq!(
                format!("sha256:{:x}", Sha256::digest(data)),
                digest.as_str().unwrap()
            );
            data
        };
        let manifest = parse(blob(&manifests[0]["digest"]));
        let config = parse(blob(&manifest["config"]["digest"]));
        assert_eq!(config["config"]["User"], "65532:65532");
        assert_eq!(config["config"]["Entrypoint"][0], "/ko-app/nop");
        let layer = &manifest["layers"][0];
        assert_eq!(layer["mediaType"], "application/vnd.oci.image.layer.v1.tar");
        assert_eq!(config["rootfs"]["diff_ids"][0], layer["digest"]);
        blob(&layer["digest"]);

        let docker = parse(&files["manifest.json"]);
        assert_eq!(docker[0]["RepoTags"][0], "knative-build-rs/nop:v0.1.0");
        let config_path = format!(
            "blobs/{}",
            manifest["config"]["digest"]
                .as_str()
                .unwrap()
                .replace(':', "/")
        );
        assert_eq!(docker[0]["Config"], config_path.as_str());
    }

    #[test]
    fn the_same_image_gives_the_same_archive() {
        let one = archive(&nop()).unwrap();
        let other = archive(&nop()).unwrap();
        assert_eq!(one.manifest_digest, other.manifest_digest);
        assert_eq!(one.bytes, other.bytes);
    }
}
