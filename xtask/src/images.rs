//! `cargo xtask images`: the four images of the release as OCI image archives, built without a
//! registry or a container daemon, the same sources always giving the same digests.
//!
//! The Rust programs are linked statically (glibc's `crt-static`) in their own target directory
//! (`target/images/cargo`, so the development build stays fresh) with host paths remapped and
//! `SOURCE_DATE_EPOCH=0` (for the C compiled along, the date it may embed), and
//! each goes into an otherwise empty image under `/ko-app/`, as the Dockerfile puts it.
//! `git-init` also gets git, ssh and their libraries from the Debian packages pinned in
//! `xtask/images/debian.lock` ([`debian`]). Layers and archives are written by [`layer`] and
//! [`oci`] with sorted entries and fixed timestamps and owners. The archives land in
//! `target/images/<name>.tar`, tagged as `config/release.yaml` names the images.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use build_controller::release::manifests::{controller_image, release_images};
use clap::Args;

mod debian;
mod layer;
mod oci;

use layer::{Layer, Owner};
use oci::Image;

/// Where the archives, the static build and the downloaded packages go, under the workspace.
const OUTPUT_DIR: &str = "target/images";

/// The target the binaries are built for: glibc's static linking works there, and naming it
/// keeps `RUSTFLAGS` away from build scripts and proc macros.
const TARGET: &str = "x86_64-unknown-linux-gnu";

/// The non-root user (and group) of distroless images, for the images that can run as one.
const NONROOT: Owner = Owner {
    uid: 65532,
    gid: 65532,
};

/// The options of `cargo xtask images`.
#[derive(Debug, Args)]
pub(crate) struct ImagesArgs {
    /// Resolve git-init's Debian packages again against the machine's apt sources (apt-cache)
    /// and rewrite xtask/images/debian.lock, instead of building the images.
    #[arg(long)]
    update_lock: bool,
}

/// One image of the release: where its program comes from and how it runs.
struct Spec {
    /// The short name: `target/images/<name>.tar`.
    name: &'static str,
    /// The name `config/release.yaml` and the controller's defaults give it.
    reference: String,
    /// The Cargo package and binary target of its program.
    package: &'static str,
    bin: &'static str,
    /// Whether it runs as root and carries git and ssh (only `git-init`).
    kind: Kind,
    /// The default arguments.
    cmd: &'static [&'static str],
}

/// What an image holds besides its program.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Nothing: runs as 65532, `HOME` only if the program writes there.
    Nonroot { home: bool },
    /// git, ssh and CA certificates from Debian; runs as root, as Knative Build's git-init did:
    /// `/workspace` is a root-owned emptyDir, and git refuses repositories owned by another
    /// user, which later steps (often root) would otherwise meet.
    GitInit,
}

/// The images, named by the code that writes the release manifests.
fn specs() -> Vec<Spec> {
    let images = release_images();
    vec![
        Spec {
            name: "controller",
            reference: controller_image(),
            package: "build-controller",
            bin: "build-controller",
            kind: Kind::Nonroot { home: false },
            cmd: &["run"],
        },
        Spec {
            name: "creds-init",
            reference: images.creds_init,
            package: "build-auth",
            bin: "creds-init",
            kind: Kind::Nonroot { home: true },
            cmd: &[],
        },
        Spec {
            name: "git-init",
            reference: images.git_init,
            package: "build-pod",
            bin: "git-init",
            kind: Kind::GitInit,
            cmd: &[],
        },
        Spec {
            name: "nop",
            reference: images.nop,
            package: "build-pod",
            bin: "nop",
            kind: Kind::Nonroot { home: false },
            cmd: &[],
        },
    ]
}

/// Runs `cargo xtask images`.
pub(crate) fn run(root: &Path, args: &ImagesArgs) -> anyhow::Result<()> {
    if args.update_lock {
        return update_lock(root);
    }
    let started = Instant::now();
    let output = root.join(OUTPUT_DIR);
    let specs = specs();
    let binaries = build_binaries(root, &specs)?;
    let debian = debian_layer(root, &output)?;
    let base = base_layer();
    for spec in &specs {
        let binary = fs::read(binaries.join(spec.bin))
            .with_context(|| format!("reading the {} binary", spec.bin))?;
        let image = image(spec, &base, &debian, binary);
        let archive = oci::archive(&image)?;
        let path = output.join(format!("{}.tar", spec.name));
        let partial = path.with_extension("tar.partial");
        fs::write(&partial, &archive.bytes)
            .with_context(|| format!("writing {}", partial.display()))?;
        fs::rename(&partial, &path).with_context(|| format!("writing {}", path.display()))?;
        println!(
            "{} {} {} {}",
            spec.name,
            image.reference,
            archive.manifest_digest,
            archive.bytes.len()
        );
    }
    eprintln!(
        "wrote {OUTPUT_DIR}/{{{}}}.tar in {:.0}s",
        specs.iter().map(|s| s.name).collect::<Vec<_>>().join(","),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Rewrites the lock file from the machine's apt sources.
fn update_lock(root: &Path) -> anyhow::Result<()> {
    let packages = debian::resolve()?;
    let release = fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix("VERSION_CODENAME="))
                .map(|name| name.trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| "unknown release".to_owned());
    let path = root.join(debian::LOCK_FILE);
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    fs::write(&path, debian::format_lock(&packages, &release))
        .with_context(|| format!("writing {}", path.display()))?;
    println!("wrote {} ({} packages)", debian::LOCK_FILE, packages.len());
    Ok(())
}

/// The image of one spec: the shared base layer, git-init's Debian layer, the program.
fn image(spec: &Spec, base: &Layer, debian: &Layer, binary: Vec<u8>) -> Image {
    let program = format!("/ko-app/{}", spec.bin);
    let mut app = Layer::default();
    app.file(&program, 0o755, binary);
    let mut layers = vec![("passwd, group, /tmp and the homes".to_owned(), base.clone())];
    let (user, env) = match spec.kind {
        Kind::Nonroot { home } => {
            let env = home.then(|| "HOME=/home/nonroot".to_owned());
            (NONROOT, env.into_iter().collect())
        }
        Kind::GitInit => {
            let lock = format!("Debian packages of {}", debian::LOCK_FILE);
            layers.push((lock, debian.clone()));
            let env = vec![
                "PATH=/usr/local/bin:/usr/bin:/bin".to_owned(),
                "HOME=/root".to_owned(),
            ];
            (Owner::ROOT, env)
        }
    };
    layers.push((format!("{} (statically linked)", spec.bin), app));
    Image {
        reference: spec.reference.clone(),
        user: format!("{}:{}", user.uid, user.gid),
        env,
        entrypoint: vec![program],
        cmd: spec.cmd.iter().map(|arg| (*arg).to_owned()).collect(),
        layers,
    }
}

/// What every image shares: the users root and nonroot (65532) in `/etc/passwd` and
/// `/etc/group` (ssh and libc look users up there), their homes, and `/tmp`.
fn base_layer() -> Layer {
    let mut layer = Layer::default();
    layer.file(
        "etc/passwd",
        0o644,
        "root:x:0:0:root:/root:/sbin/nologin\n\
         nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n",
    );
    layer.file("etc/group", 0o644, "root:x:0:\nnonroot:x:65532:\n");
    layer.file(
        "etc/nsswitch.conf",
        0o644,
        "passwd: files\ngroup: files\nhosts: files dns\n",
    );
    layer.dir("root", 0o700, Owner::ROOT);
    layer.dir("home/nonroot", 0o700, NONROOT);
    layer.dir("tmp", 0o1777, Owner::ROOT);
    layer
}

/// git-init's Debian packages, downloaded as the lock pins them, as one layer with the CA
/// bundle their maintainer scripts would have generated.
fn debian_layer(root: &Path, output: &Path) -> anyhow::Result<Layer> {
    let lock_path = root.join(debian::LOCK_FILE);
    let lock = fs::read_to_string(&lock_path)
        .with_context(|| format!("reading {}", lock_path.display()))?;
    let packages = debian::parse_lock(&lock)?;
    let debs = debian::fetch(&packages, &output.join("debs"))?;
    let mut layer = Layer::default();
    for (package, deb) in packages.iter().zip(&debs) {
        layer
            .merge(debian::unpack(package, deb)?)
            .with_context(|| format!("adding debian package {}", package.name))?;
    }
    debian::add_ca_bundle(&mut layer)?;
    Ok(layer)
}

/// Builds the programs statically with host paths remapped, checks that no host path is left
/// in them, and returns the directory that holds them.
fn build_binaries(root: &Path, specs: &[Spec]) -> anyhow::Result<PathBuf> {
    let target_dir = root.join(OUTPUT_DIR).join("cargo");
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|home| home.join(".cargo")));
    let rustup_home = std::env::var_os("RUSTUP_HOME")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|home| home.join(".rustup")));
    // The toolchain's own sources are already remapped (to /rustc/<commit>), so only the
    // workspace and the registry sources need it; all three are checked for.
    let mut remaps = vec![(root.to_path_buf(), "/build")];
    remaps.extend(cargo_home.map(|dir| (dir, "/cargo")));
    let mut flags = vec![
        "-Ctarget-feature=+crt-static".to_owned(),
        "-Cstrip=symbols".to_owned(),
    ];
    for (from, to) in &remaps {
        flags.push(format!("--remap-path-prefix={}={to}", from.display()));
    }
    let host_paths: Vec<PathBuf> = remaps
        .into_iter()
        .map(|(from, _)| from)
        .chain(rustup_home)
        .collect();
    let mut command = crate::harness::cargo();
    command
        .args(["build", "--release", "--locked", "--target", TARGET])
        .arg("--target-dir")
        .arg(&target_dir)
        .env("CARGO_ENCODED_RUSTFLAGS", flags.join("\u{1f}"))
        // C compiled on the way (mimalloc, in the controller) may use `__DATE__` and
        // `__TIME__`; GCC and Clang take them from here, so the build day does not change the
        // binary.
        .env("SOURCE_DATE_EPOCH", "0")
        .current_dir(root);
    for spec in specs {
        command.args(["-p", spec.package, "--bin", spec.bin]);
    }
    eprintln!("building {} statically for {TARGET}", binaries_list(specs));
    let status = command.status().context("running cargo build")?;
    if !status.success() {
        bail!("cargo build of the image programs failed ({status})");
    }
    let dir = target_dir.join(TARGET).join("release");
    for spec in specs {
        let path = dir.join(spec.bin);
        let data = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        for host in &host_paths {
            let host = host.to_string_lossy();
            if contains(&data, host.as_bytes()) {
                bail!("{} contains the host path {host}", path.display());
            }
        }
    }
    Ok(dir)
}

/// The specs' binaries, comma-separated.
fn binaries_list(specs: &[Spec]) -> String {
    specs.iter().map(|s| s.bin).collect::<Vec<_>>().join(", ")
}

/// Whether `needle` occurs in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty()
        && haystack
            .windows(needle.len())
            .any(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_images_are_named_as_the_release_names_them() {
        let names: Vec<_> = specs()
            .iter()
            .map(|spec| (spec.name, spec.reference.clone()))
            .collect();
        let version = env!("CARGO_PKG_VERSION");
        let expected: Vec<_> = ["controller", "creds-init", "git-init", "nop"]
            .iter()
            .map(|name| (*name, format!("knative-build-rs/{name}:v{version}")))
            .collect();
        assert_eq!(names, expected);
    }

    /// Each image's program is a `[[bin]]` of the package it is built from (`cargo build -p
    /// <package> --bin <bin>` would fail at release time otherwise).
    #[test]
    fn each_program_is_a_binary_of_its_package() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for spec in specs() {
            let manifest = fs::read_to_string(root.join(spec.package).join("Cargo.toml")).unwrap();
            let declared = manifest
                .split("[[bin]]")
                .skip(1)
                .any(|section| section.contains(&format!("name = \"{}\"", spec.bin)));
            assert!(declared, "{} has no [[bin]] {}", spec.package, spec.bin);
        }
    }

    #[test]
    fn only_git_init_runs_as_root_and_only_it_gets_the_debian_layer() {
        let mut debian = Layer::default();
        debian.file("usr/bin/git", 0o755, "git");
        for spec in specs() {
            let image = image(&spec, &base_layer(), &debian, b"elf".to_vec());
            let git_init = spec.name == "git-init";
            assert_eq!(image.user == "0:0", git_init, "{}", spec.name);
            assert_eq!(
                image.layers.len(),
                if git_init { 3 } else { 2 },
                "{}",
                spec.name
            );
            assert_eq!(image.entrypoint, [format!("/ko-app/{}", spec.bin)]);
        }
    }

    #[test]
    fn contains_finds_a_host_path() {
        assert!(contains(
            b"xx/work/wt/images/src/lib.rs",
            b"/work/wt/images"
        ));
        assert!(!contains(b"/build/src/lib.rs", b"/work/wt/images"));
        assert!(!contains(b"anything", b""));
    }
}
