//! The scenario images `cargo xtask e2e` imports into the node's containerd next to the
//! release's own four (which come from `cargo xtask images`): never pulled, built here, offline,
//! from files already on this machine.
//!
//! A documented stand-in: each image is one layer holding host binaries installed from Debian
//! packages, the shared libraries `ldd` names, and busybox for a shell, written as a `docker
//! save` archive that `ctr images import` reads (files owned by root, timestamps zero, entries
//! sorted). Building them from pinned packages with `cargo xtask images`' Debian layer code is
//! left to do: that code pins only git-init's packages today.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

/// The sandbox ("pause") image containerd is configured with.
pub(crate) const PAUSE: &str = "e2e.local/pause:e2e";
/// busybox: the shell steps and the probe pods.
pub(crate) const TOOLS: &str = "e2e.local/tools:e2e";
/// git daemon and sshd serving the scenario repository.
pub(crate) const GIT_SERVER: &str = "e2e.local/git-server:e2e";
/// The distribution registry.
pub(crate) const REGISTRY: &str = "e2e.local/registry:e2e";
/// buildah, the image builder of the img flow.
pub(crate) const BUILDAH: &str = "e2e.local/buildah:e2e";
/// Debian's `docker` client (20.10, the node's daemon's version), in place of the seed
/// buildkit template's `docker:18.06`: its entrypoint is the client, as that image's is.
pub(crate) const DOCKER_CLI: &str = "e2e.local/docker-cli:e2e";

/// One image to assemble.
pub(crate) struct ImageSpec {
    /// `name:tag`.
    pub(crate) reference: &'static str,
    /// Host files copied at the same path, each with the libraries `ldd` lists.
    pub(crate) binaries: Vec<PathBuf>,
    /// Files written into the image: (path, contents, mode).
    pub(crate) files: Vec<(&'static str, Vec<u8>, u32)>,
    /// Symlinks: (path, target).
    pub(crate) links: Vec<(&'static str, &'static str)>,
    /// The image's entrypoint.
    pub(crate) entrypoint: Vec<String>,
}

/// The Debian packages whose files the images copy, with a file each that proves it is
/// installed.
pub(crate) const HOST_PACKAGES: &[(&str, &str)] = &[
    ("containerd", "/usr/bin/containerd"),
    ("runc", "/usr/sbin/runc"),
    ("containernetworking-plugins", "/usr/lib/cni/bridge"),
    ("busybox-static", "/bin/busybox"),
    ("git", "/usr/lib/git-core/git-daemon"),
    ("openssh-server", "/usr/sbin/sshd"),
    ("openssh-client", "/usr/bin/ssh-keygen"),
    ("docker-registry", "/usr/bin/docker-registry"),
    ("buildah", "/usr/bin/buildah"),
    ("apache2-utils", "/usr/bin/htpasswd"),
    ("openssl", "/usr/bin/openssl"),
    ("docker.io", "/usr/sbin/dockerd"),
];

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nsshd:x:100:65534::/run/sshd:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nnonroot:x:65532:65532:nonroot:/home/nonroot:/bin/false\n";
const GROUP: &str = "root:x:0:\nnogroup:x:65534:\nnonroot:x:65532:\n";

/// The distribution registry's configuration: htpasswd auth from a mounted Secret, plain HTTP
/// (pods reach it by IP on the pod network only).
const REGISTRY_CONFIG: &str = "version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: /var/lib/registry
  delete:
    enabled: true
http:
  addr: 0.0.0.0:5000
auth:
  htpasswd:
    realm: e2e
    path: /auth/htpasswd
";

/// The scenario images.
pub(crate) fn specs() -> Vec<ImageSpec> {
    let shell = |script: &str| vec!["/bin/sh".to_owned(), "-c".to_owned(), script.to_owned()];
    vec![
        ImageSpec {
            reference: PAUSE,
            binaries: vec![],
            files: vec![],
            links: vec![],
            entrypoint: shell("trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"),
        },
        ImageSpec {
            reference: TOOLS,
            binaries: vec![],
            files: vec![],
            links: vec![],
            entrypoint: vec!["/bin/sh".to_owned()],
        },
        ImageSpec {
            reference: GIT_SERVER,
            binaries: [git_binaries(), vec![PathBuf::from("/usr/sbin/sshd")]].concat(),
            files: vec![],
            links: vec![
                ("/usr/bin/git-upload-pack", "git"),
                ("/usr/bin/git-receive-pack", "git"),
                ("/usr/bin/git-upload-archive", "git"),
            ],
            entrypoint: vec!["/bin/sh".to_owned()],
        },
        ImageSpec {
            reference: REGISTRY,
            binaries: vec![PathBuf::from("/usr/bin/docker-registry")],
            files: vec![(
                "etc/docker/registry/config.yml",
                REGISTRY_CONFIG.as_bytes().to_vec(),
                0o644,
            )],
            links: vec![],
            entrypoint: vec![
                "/usr/bin/docker-registry".to_owned(),
                "serve".to_owned(),
                "/etc/docker/registry/config.yml".to_owned(),
            ],
        },
        ImageSpec {
            reference: BUILDAH,
            binaries: vec![PathBuf::from("/usr/bin/buildah")],
            files: buildah_files(),
            links: vec![],
            entrypoint: vec!["/usr/bin/buildah".to_owned()],
        },
        ImageSpec {
            reference: DOCKER_CLI,
            binaries: vec![PathBuf::from("/usr/bin/docker")],
            files: vec![],
            links: vec![],
            entrypoint: vec!["/usr/bin/docker".to_owned()],
        },
    ]
}

/// git and the parts of it that are not builtins: the daemon, and `git submodule` (a shell
/// script with its helpers), which git-init runs after every checkout.
fn git_binaries() -> Vec<PathBuf> {
    [
        "/usr/bin/git",
        "/usr/lib/git-core/git-daemon",
        "/usr/lib/git-core/git-submodule",
        "/usr/lib/git-core/git-sh-setup",
        "/usr/lib/git-core/git-sh-i18n",
        "/usr/lib/git-core/git-sh-i18n--envsubst",
    ]
    .map(PathBuf::from)
    .to_vec()
}

/// buildah's configuration: any image accepted, no search registries.
fn buildah_files() -> Vec<(&'static str, Vec<u8>, u32)> {
    vec![
        (
            "etc/containers/policy.json",
            br#"{"default":[{"type":"insecureAcceptAnything"}]}"#.to_vec(),
            0o644,
        ),
        (
            "etc/containers/registries.conf",
            b"unqualified-search-registries = []\n".to_vec(),
            0o644,
        ),
    ]
}

/// Assembles `spec` under `work` and writes its `docker save` archive to `out`.
pub(crate) fn build(spec: &ImageSpec, work: &Path, out: &Path) -> anyhow::Result<()> {
    let rootfs = work.join("rootfs");
    if rootfs.exists() {
        fs::remove_dir_all(&rootfs)?;
    }
    for dir in [
        "bin", "etc", "tmp", "root", "proc", "sys", "dev", "run", "var/tmp",
    ] {
        fs::create_dir_all(rootfs.join(dir))?;
    }
    fs::set_permissions(rootfs.join("tmp"), fs::Permissions::from_mode(0o1777))?;
    fs::set_permissions(rootfs.join("var/tmp"), fs::Permissions::from_mode(0o1777))?;
    fs::copy("/bin/busybox", rootfs.join("bin/busybox")).context("copying /bin/busybox")?;
    let applets = Command::new("/bin/busybox").arg("--list").output()?;
    for applet in String::from_utf8_lossy(&applets.stdout).lines() {
        if applet != "busybox" {
            symlink("busybox", rootfs.join("bin").join(applet))?;
        }
    }
    fs::write(rootfs.join("etc/passwd"), PASSWD)?;
    fs::write(rootfs.join("etc/group"), GROUP)?;
    fs::write(
        rootfs.join("etc/nsswitch.conf"),
        "passwd: files\ngroup: files\nhosts: files\n",
    )?;
    let mut copied = BTreeSet::new();
    for binary in &spec.binaries {
        copy_with_libraries(binary, binary, &rootfs, &mut copied)?;
    }
    for (path, contents, mode) in &spec.files {
        let target = rootfs.join(path);
        fs::create_dir_all(target.parent().unwrap_or(&rootfs))?;
        fs::write(&target, contents)?;
        fs::set_permissions(&target, fs::Permissions::from_mode(*mode))?;
    }
    for (path, target) in &spec.links {
        let path = rootfs.join(path.trim_start_matches('/'));
        fs::create_dir_all(path.parent().unwrap_or(&rootfs))?;
        let _ = fs::remove_file(&path);
        symlink(target, path)?;
    }
    let layer = work.join("layer.tar");
    run(Command::new("tar")
        .args([
            "--sort=name",
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            "--mtime=@0",
        ])
        .arg("-cf")
        .arg(&layer)
        .arg("-C")
        .arg(&rootfs)
        .arg("."))?;
    let diff_id = format!("sha256:{:x}", Sha256::digest(fs::read(&layer)?));
    let config = image_config(&spec.entrypoint, &diff_id);
    let config_name = format!("{:x}.json", Sha256::digest(&config));
    fs::write(work.join(&config_name), &config)?;
    fs::write(
        work.join("manifest.json"),
        manifest_json(&config_name, spec.reference),
    )?;
    run(Command::new("tar")
        .args(["--owner=0", "--group=0", "--numeric-owner", "--mtime=@0"])
        .arg("-cf")
        .arg(out)
        .arg("-C")
        .arg(work)
        .args(["manifest.json", &config_name, "layer.tar"]))?;
    fs::remove_dir_all(&rootfs)?;
    Ok(())
}

/// The image configuration: amd64/linux, one layer, the entrypoint, a PATH.
pub(crate) fn image_config(entrypoint: &[String], diff_id: &str) -> Vec<u8> {
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Entrypoint": entrypoint,
            "WorkingDir": "/",
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "cargo xtask e2e"}],
    });
    serde_json::to_vec(&config).unwrap_or_default()
}

/// The `docker save` manifest naming one config and one layer.
pub(crate) fn manifest_json(config_name: &str, reference: &str) -> String {
    serde_json::json!([{
        "Config": config_name,
        "RepoTags": [reference],
        "Layers": ["layer.tar"],
    }])
    .to_string()
}

fn copy_with_libraries(
    binary: &Path,
    placed: &Path,
    rootfs: &Path,
    copied: &mut BTreeSet<PathBuf>,
) -> anyhow::Result<()> {
    let target = rootfs.join(placed.strip_prefix("/").unwrap_or(placed));
    fs::create_dir_all(target.parent().unwrap_or(rootfs))?;
    fs::copy(binary, &target).with_context(|| format!("copying {}", binary.display()))?;
    let mut files = vec![];
    let ldd = Command::new("ldd").arg(binary).output()?;
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        if let Some(path) = line.split_whitespace().find(|word| word.starts_with('/')) {
            files.push(PathBuf::from(path));
        }
    }
    for file in files {
        if !copied.insert(file.clone()) {
            continue;
        }
        let target = rootfs.join(file.strip_prefix("/").unwrap_or(&file));
        fs::create_dir_all(target.parent().unwrap_or(rootfs))?;
        // follows symlinks: a library's soname link becomes the file itself
        fs::copy(&file, &target).with_context(|| format!("copying {}", file.display()))?;
    }
    Ok(())
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let status = command
        .status()
        .with_context(|| format!("running {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed: {status}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_names_the_reference_and_the_one_layer() {
        assert_eq!(
            manifest_json("abc.json", TOOLS),
            r#"[{"Config":"abc.json","Layers":["layer.tar"],"RepoTags":["e2e.local/tools:e2e"]}]"#
        );
    }

    #[test]
    fn config_carries_entrypoint_and_diff_id() {
        let config: serde_json::Value =
            serde_json::from_slice(&image_config(&["/nop".to_owned()], "sha256:00")).unwrap();
        assert_eq!(config["config"]["Entrypoint"][0], "/nop");
        assert_eq!(config["rootfs"]["diff_ids"][0], "sha256:00");
    }

    #[test]
    fn no_image_is_tagged_latest() {
        for spec in specs() {
            assert!(!spec.reference.ends_with(":latest"), "{}", spec.reference);
            assert!(spec.reference.contains(':'), "{}", spec.reference);
        }
    }
}
