//! Talking to the cluster: kubeconfigs, clients, and the objects every harness makes first
//! (a namespace, CRDs established).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};

/// A kubeconfig with one cluster (`server`, trusting `ca`) and one user, whose `user:` value
/// is `user` as YAML (`{token: …}`, or a client certificate and key).
///
/// ```
/// let text = throwaway_cluster::kubeconfig(
///     "https://127.0.0.1:6443",
///     std::path::Path::new("/ca.crt"),
///     "{token: abc}",
/// );
/// assert!(text.contains("  user: {token: abc}\n"));
/// ```
pub fn kubeconfig(server: &str, ca: &Path, user: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster: {{server: \"{server}\", certificate-authority: {ca}}}
users:
- name: user
  user: {user}
contexts:
- name: e2e
  context: {{cluster: e2e, user: user, namespace: default}}
current-context: e2e
",
        ca = ca.display()
    )
}

/// A client from a kubeconfig file (its current context).
pub async fn client_from(path: &Path) -> anyhow::Result<Client> {
    let kubeconfig =
        Kubeconfig::read_from(path).with_context(|| format!("reading {}", path.display()))?;
    let config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    Ok(Client::try_from(config)?)
}

/// Creates the namespace `name`.
pub async fn create_namespace(client: &Client, name: &str) -> anyhow::Result<()> {
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .with_context(|| format!("creating namespace {name}"))?;
    Ok(())
}

/// Waits (at most 30 s) until the CRD `name` is established.
pub async fn wait_established(
    api: &Api<CustomResourceDefinition>,
    name: &str,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let current = api.get(name).await?;
        let established = current
            .status
            .iter()
            .flat_map(|s| s.conditions.iter().flatten())
            .any(|c| c.type_ == "Established" && c.status == "True");
        if established {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("CRD {name} not established after 30s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubeconfig_names_server_ca_and_user() {
        let text = kubeconfig("https://127.0.0.1:1", Path::new("/ca.crt"), "{token: abc}");
        let parsed = Kubeconfig::from_yaml(&text).unwrap();
        assert_eq!(
            parsed.clusters[0]
                .cluster
                .as_ref()
                .unwrap()
                .server
                .as_deref(),
            Some("https://127.0.0.1:1")
        );
        assert_eq!(parsed.auth_infos[0].name, "user");
        assert!(text.contains("  user: {token: abc}\n"));
    }
}
