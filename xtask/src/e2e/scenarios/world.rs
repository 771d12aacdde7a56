//! The fixtures every scenario shares ([`World`]), made once in namespace `e2e`: a git server
//! pod (git daemon and sshd, a repository with a Dockerfile), a registry pod requiring basic
//! auth, and the Secrets and ServiceAccounts that point the Builds at them. Pods reach each
//! other by IP only (no DNS, no Services), so the fixtures' URLs name pod IPs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::bail;
use build_types::Build;
use k8s_openapi::api::core::v1::{Namespace, Pod, Secret, ServiceAccount};
use kube::Client;
use kube::api::{Api, LogParams, PostParams};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use throwaway_cluster::{Cluster, run_quiet};

use crate::e2e::images;
use crate::harness::wait_until;

/// The scenarios' namespace.
pub(super) const NS: &str = "e2e";
/// The registry's user.
pub(super) const REGISTRY_USER: &str = "e2e";

/// The shared fixtures.
#[derive(Clone)]
pub(super) struct World {
    /// An admin client.
    pub(super) client: Client,
    /// The namespace [`World::builds`] and [`World::pods`] work in: [`NS`], or another one
    /// ([`World::elsewhere`]).
    pub(super) namespace: String,
    /// The full SHA of the scenario repository's `main`, as the git server printed it.
    pub(super) commit: String,
    /// The git server pod's IP.
    pub(super) git_ip: String,
    /// The registry pod's IP.
    pub(super) registry_ip: String,
    /// The registry's password for [`REGISTRY_USER`].
    pub(super) password: String,
}

impl World {
    /// The Builds of its namespace.
    pub(super) fn builds(&self) -> Api<Build> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }
    /// The pods of its namespace.
    pub(super) fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }
    /// The same fixtures, seen from namespace `namespace`.
    pub(super) fn elsewhere(&self, namespace: &str) -> World {
        World {
            namespace: namespace.to_owned(),
            ..self.clone()
        }
    }
    /// The scenario repository's `git://` URL.
    pub(super) fn git_url(&self) -> String {
        format!("git://{}/app.git", self.git_ip)
    }
}

/// Makes the fixtures; fails when any is not ready in time.
pub(super) async fn fixtures(cluster: &Cluster, client: Client) -> anyhow::Result<World> {
    create(
        &Api::<Namespace>::all(client.clone()),
        json!({"metadata": {"name": NS}}),
    )
    .await?;
    let keys = Keys::make(&cluster.dir.join("keys"))?;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
    server_secrets(&secrets, &keys).await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    create(&pods, git_server_pod()).await?;
    create(&pods, registry_pod()).await?;
    let git_ip = wait_ready_ip(&pods, "git-server").await?;
    let registry_ip = wait_ready_ip(&pods, "registry").await?;
    let commit = printed_commit(&pods).await?;
    credentials(&secrets, &keys, &git_ip, &registry_ip).await?;
    service_accounts(&client).await?;
    Ok(World {
        client,
        namespace: NS.to_owned(),
        commit,
        git_ip,
        registry_ip,
        password: keys.password,
    })
}

/// The full SHA the git server printed for the scenario repository's `main`.
async fn printed_commit(pods: &Api<Pod>) -> anyhow::Result<String> {
    let logs = pods.logs("git-server", &LogParams::default()).await?;
    logs.lines()
        .find_map(|line| line.strip_prefix(COMMIT_LINE))
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("the git server printed no line {COMMIT_LINE:?}"))
}

/// Creates the object `value` describes.
pub(super) async fn create<K>(api: &Api<K>, value: Value) -> anyhow::Result<()>
where
    K: Clone + DeserializeOwned + Serialize + std::fmt::Debug,
{
    api.create(&PostParams::default(), &serde_json::from_value(value)?)
        .await?;
    Ok(())
}

/// The ssh keys (the git server's, the Builds') and the registry's password and htpasswd line,
/// made on the host with Debian's tools.
struct Keys {
    dir: PathBuf,
    password: String,
    htpasswd: String,
}

impl Keys {
    /// Makes them, the key files under `dir`.
    fn make(dir: &Path) -> anyhow::Result<Keys> {
        std::fs::create_dir_all(dir)?;
        for name in ["host", "client"] {
            run_quiet(
                Command::new("ssh-keygen")
                    .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
                    .arg(dir.join(name)),
            )?;
        }
        let password = run_quiet(Command::new("openssl").args(["rand", "-hex", "12"]))?
            .trim()
            .to_owned();
        let htpasswd =
            run_quiet(Command::new("htpasswd").args(["-Bbn", REGISTRY_USER, &password]))?;
        Ok(Keys {
            dir: dir.to_path_buf(),
            password,
            htpasswd,
        })
    }

    /// The key file `name` (`host`, `client`, with `.pub` for the public half).
    fn read(&self, name: &str) -> anyhow::Result<String> {
        Ok(std::fs::read_to_string(self.dir.join(name))?)
    }
}

/// What the server pods mount: the git server's host key and the key it lets in, and the
/// registry's htpasswd file.
async fn server_secrets(secrets: &Api<Secret>, keys: &Keys) -> anyhow::Result<()> {
    create(secrets, json!({
        "metadata": {"name": "git-server-ssh"},
        "stringData": {"ssh_host_ed25519_key": keys.read("host")?, "authorized_keys": keys.read("client.pub")?},
    }))
    .await?;
    create(
        secrets,
        json!({
            "metadata": {"name": "registry-htpasswd"},
            "stringData": {"htpasswd": keys.htpasswd.trim()},
        }),
    )
    .await
}

/// The Builds' credentials: the registry's (for ServiceAccount build-bot), and ssh with the
/// server's key in known_hosts and without it (accept-new).
async fn credentials(
    secrets: &Api<Secret>,
    keys: &Keys,
    git_ip: &str,
    registry_ip: &str,
) -> anyhow::Result<()> {
    create(secrets, registry_secret(registry_ip, &keys.password)).await?;
    let host_key = keys.read("host.pub")?;
    let host_key = host_key
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    for (name, known_hosts) in [
        ("ssh-known", Some(format!("{git_ip} {host_key}\n"))),
        ("ssh-new", None),
    ] {
        let mut data = BTreeMap::from([("ssh-privatekey".to_owned(), keys.read("client")?)]);
        if let Some(known) = known_hosts {
            data.insert("known_hosts".to_owned(), known);
        }
        create(
            secrets,
            json!({
                "metadata": {"name": name, "annotations": {"build.knative.dev/git-0": git_ip}},
                "type": "kubernetes.io/ssh-auth",
                "stringData": data,
            }),
        )
        .await?;
    }
    Ok(())
}

/// Secret `registry-creds`: the registry's basic-auth credentials, annotated for
/// `build.knative.dev/docker-0` (creds-init writes them to `$HOME/.docker/config.json`).
pub(super) fn registry_secret(registry_ip: &str, password: &str) -> Value {
    json!({
        "metadata": {"name": "registry-creds", "annotations": {"build.knative.dev/docker-0": format!("http://{registry_ip}:5000")}},
        "type": "kubernetes.io/basic-auth",
        "stringData": {"username": REGISTRY_USER, "password": password},
    })
}

/// The ServiceAccounts the Builds run as, each with its Secret; then waits for the namespace's
/// default one (the Builds without one use it).
async fn service_accounts(client: &Client) -> anyhow::Result<()> {
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), NS);
    for (account, secret) in [
        ("build-bot", "registry-creds"),
        ("ssh-known", "ssh-known"),
        ("ssh-new", "ssh-new"),
    ] {
        create(
            &accounts,
            json!({
                "metadata": {"name": account},
                "secrets": [{"name": secret}],
            }),
        )
        .await?;
    }
    wait_until(
        "ServiceAccount e2e/default",
        Duration::from_secs(30),
        || async { accounts.get_opt("default").await.ok().flatten() },
    )
    .await?;
    Ok(())
}

/// The Dockerfile of the repository the git server serves: nothing to pull (no network).
const DOCKERFILE: &str = "FROM scratch\nCOPY hello.txt /hello.txt\n";
/// The repository's second Dockerfile: a RUN instruction, with busybox (copied from the git
/// server's image into the repository) as its shell.
pub(super) const DOCKERFILE_RUN: &str = "Dockerfile.run";
const DOCKERFILE_RUN_TEXT: &str =
    "FROM scratch\nCOPY busybox /bin/sh\nRUN echo built by RUN > /built.txt\n";
/// What the git server prints before the full SHA of the repository's `main`.
const COMMIT_LINE: &str = "app.git main is ";

fn git_server_pod() -> Value {
    let script = format!(
        r#"set -e
mkdir -p /srv/git /run/sshd /root/.ssh /tmp/work
git init -q --bare -b main /srv/git/app.git
cd /tmp/work && git init -q -b main
printf '{dockerfile}' > Dockerfile
printf '{dockerfile_run}' > {dockerfile_run_name}
cp /bin/busybox busybox
echo 'hello from the e2e repository' > hello.txt
git add . && git -c user.name=e2e -c user.email=e2e@e2e.local commit -qm 'e2e app'
git push -q /srv/git/app.git main
git init -q --bare -b main /srv/git/big.git
mkdir /tmp/big && cd /tmp/big && git init -q -b main
head -c 48m /dev/urandom > blob.bin
git add . && git -c user.name=e2e -c user.email=e2e@e2e.local commit -qm 'one 48 MiB file'
git push -q /srv/git/big.git main
cd /tmp/work
git -C /srv/git/app.git log --oneline
echo "{commit_line}$(git -C /srv/git/app.git rev-parse main)"
cp /etc/e2e-ssh/authorized_keys /root/.ssh/authorized_keys && chmod 600 /root/.ssh/authorized_keys
cp /etc/e2e-ssh/ssh_host_ed25519_key /run/host_key && chmod 600 /run/host_key
/usr/sbin/sshd -e -f /dev/null -h /run/host_key -o PermitRootLogin=prohibit-password -o StrictModes=no -o UsePAM=no -o AuthorizedKeysFile=/root/.ssh/authorized_keys -p 22
echo sshd started
exec git daemon --reuseaddr --verbose --base-path=/srv/git --export-all /srv/git"#,
        dockerfile = DOCKERFILE.replace('\n', "\\n"),
        dockerfile_run = DOCKERFILE_RUN_TEXT.replace('\n', "\\n"),
        dockerfile_run_name = DOCKERFILE_RUN,
        commit_line = COMMIT_LINE,
    );
    json!({
        "metadata": {"name": "git-server", "labels": {"app": "git-server"}},
        "spec": {
            "containers": [{
                "name": "git",
                "image": images::GIT_SERVER,
                "command": ["/bin/sh", "-c", script],
                "env": [{"name": "HOME", "value": "/root"}],
                "readinessProbe": {"tcpSocket": {"port": 9418}, "periodSeconds": 1},
                "volumeMounts": [{"name": "ssh", "mountPath": "/etc/e2e-ssh"}],
            }],
            "volumes": [{"name": "ssh", "secret": {"secretName": "git-server-ssh"}}],
        },
    })
}

fn registry_pod() -> Value {
    json!({
        "metadata": {"name": "registry", "labels": {"app": "registry"}},
        "spec": {
            "containers": [{
                "name": "registry",
                "image": images::REGISTRY,
                "readinessProbe": {"tcpSocket": {"port": 5000}, "periodSeconds": 1},
                "volumeMounts": [{"name": "htpasswd", "mountPath": "/auth"}],
            }],
            "volumes": [{"name": "htpasswd", "secret": {"secretName": "registry-htpasswd"}}],
        },
    })
}

async fn wait_ready_ip(pods: &Api<Pod>, name: &str) -> anyhow::Result<String> {
    let found = wait_until(
        &format!("pod {name} Ready"),
        Duration::from_secs(90),
        || async {
            let status = pods.get(name).await.ok()?.status?;
            let ready = status
                .conditions
                .as_ref()?
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            if ready { status.pod_ip } else { None }
        },
    )
    .await;
    match found {
        Ok(ip) => Ok(ip),
        Err(error) => bail!("{error}; pod {name} logs: {}", last_logs(pods, name).await),
    }
}

async fn last_logs(pods: &Api<Pod>, name: &str) -> String {
    pods.logs(
        name,
        &LogParams {
            tail_lines: Some(10),
            ..Default::default()
        },
    )
    .await
    .unwrap_or_else(|e| format!("(no logs: {e})"))
}
