//! The fixtures every scenario shares ([`World`]), made once in namespace `e2e`: a git server
//! pod (git daemon and sshd, a repository with a Dockerfile), a registry pod requiring basic
//! auth, and the Secrets and ServiceAccounts that point the Builds at them. Pods reach each
//! other by IP only (no DNS, no Services), so the fixtures' URLs name pod IPs.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use anyhow::bail;
use build_types::Build;
use k8s_openapi::api::core::v1::{Namespace, Pod, Secret, ServiceAccount};
use kube::Client;
use kube::api::{Api, LogParams, PostParams};
use serde_json::{Value, json};
use throwaway_cluster::{Cluster, run_quiet};

use super::builds::wait_until;
use crate::e2e::images;

/// The scenarios' namespace.
pub(super) const NS: &str = "e2e";
/// The registry's user.
pub(super) const REGISTRY_USER: &str = "e2e";

/// The shared fixtures.
pub(super) struct World {
    /// An admin client.
    pub(super) client: Client,
    /// The git server pod's IP.
    pub(super) git_ip: String,
    /// The registry pod's IP.
    pub(super) registry_ip: String,
    /// The registry's password for [`REGISTRY_USER`].
    pub(super) password: String,
}

impl World {
    /// The Builds of [`NS`].
    pub(super) fn builds(&self) -> Api<Build> {
        Api::namespaced(self.client.clone(), NS)
    }
    /// The pods of [`NS`].
    pub(super) fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), NS)
    }
    /// The scenario repository's `git://` URL.
    pub(super) fn git_url(&self) -> String {
        format!("git://{}/app.git", self.git_ip)
    }
}

/// Makes the fixtures; fails when any is not ready in time.
pub(super) async fn fixtures(cluster: &Cluster, client: Client) -> anyhow::Result<World> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": NS}}))?,
        )
        .await?;
    // keys and the htpasswd file, made on the host with Debian's tools
    let keys = cluster.dir.join("keys");
    std::fs::create_dir_all(&keys)?;
    for name in ["host", "client"] {
        run_quiet(
            Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
                .arg(keys.join(name)),
        )?;
    }
    let password = run_quiet(Command::new("openssl").args(["rand", "-hex", "12"]))?
        .trim()
        .to_owned();
    let htpasswd = run_quiet(Command::new("htpasswd").args(["-Bbn", REGISTRY_USER, &password]))?;
    let read = |name: &str| std::fs::read_to_string(keys.join(name));
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
    secrets
        .create(&PostParams::default(), &serde_json::from_value(json!({
            "metadata": {"name": "git-server-ssh"},
            "stringData": {"ssh_host_ed25519_key": read("host")?, "authorized_keys": read("client.pub")?},
        }))?)
        .await?;
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": "registry-htpasswd"},
                "stringData": {"htpasswd": htpasswd.trim()},
            }))?,
        )
        .await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    pods.create(
        &PostParams::default(),
        &serde_json::from_value(git_server_pod())?,
    )
    .await?;
    pods.create(
        &PostParams::default(),
        &serde_json::from_value(registry_pod())?,
    )
    .await?;
    let git_ip = wait_ready_ip(&pods, "git-server").await?;
    let registry_ip = wait_ready_ip(&pods, "registry").await?;

    // the registry credentials on ServiceAccount build-bot
    secrets
        .create(&PostParams::default(), &serde_json::from_value(json!({
            "metadata": {"name": "registry-creds", "annotations": {"build.knative.dev/docker-0": format!("http://{registry_ip}:5000")}},
            "type": "kubernetes.io/basic-auth",
            "stringData": {"username": REGISTRY_USER, "password": password},
        }))?)
        .await?;
    // ssh credentials: with the server's key in known_hosts, and without (accept-new)
    let host_key = read("host.pub")?;
    let host_key = host_key
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    for (name, known_hosts) in [
        ("ssh-known", Some(format!("{git_ip} {host_key}\n"))),
        ("ssh-new", None),
    ] {
        let mut data = BTreeMap::from([("ssh-privatekey".to_owned(), read("client")?)]);
        if let Some(known) = known_hosts {
            data.insert("known_hosts".to_owned(), known);
        }
        secrets
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({
                    "metadata": {"name": name, "annotations": {"build.knative.dev/git-0": git_ip}},
                    "type": "kubernetes.io/ssh-auth",
                    "stringData": data,
                }))?,
            )
            .await?;
    }
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), NS);
    for (account, secret) in [
        ("build-bot", "registry-creds"),
        ("ssh-known", "ssh-known"),
        ("ssh-new", "ssh-new"),
    ] {
        accounts
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({
                    "metadata": {"name": account},
                    "secrets": [{"name": secret}],
                }))?,
            )
            .await?;
    }
    // the namespace's default ServiceAccount (the Builds without one use it)
    wait_until(
        "ServiceAccount e2e/default",
        Duration::from_secs(30),
        || async { accounts.get_opt("default").await.ok().flatten() },
    )
    .await?;
    Ok(World {
        client,
        git_ip,
        registry_ip,
        password,
    })
}

/// The Dockerfile of the repository the git server serves: nothing to pull (no network).
const DOCKERFILE: &str = "FROM scratch\nCOPY hello.txt /hello.txt\n";

fn git_server_pod() -> Value {
    let script = format!(
        r#"set -e
mkdir -p /srv/git /run/sshd /root/.ssh /tmp/work
git init -q --bare -b main /srv/git/app.git
cd /tmp/work && git init -q -b main
printf '{dockerfile}' > Dockerfile
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
cp /etc/e2e-ssh/authorized_keys /root/.ssh/authorized_keys && chmod 600 /root/.ssh/authorized_keys
cp /etc/e2e-ssh/ssh_host_ed25519_key /run/host_key && chmod 600 /run/host_key
/usr/sbin/sshd -e -f /dev/null -h /run/host_key -o PermitRootLogin=prohibit-password -o StrictModes=no -o UsePAM=no -o AuthorizedKeysFile=/root/.ssh/authorized_keys -p 22
echo sshd started
exec git daemon --reuseaddr --verbose --base-path=/srv/git --export-all /srv/git"#,
        dockerfile = DOCKERFILE.replace('\n', "\\n")
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
