//! The scenarios: Builds on the real node, each judged by what a person would look at (the
//! Succeeded condition, the step logs, the object that proves the side effect) and timed.
//!
//! Fixtures first, in namespace `e2e`: a git server pod (git daemon and sshd, a repository
//! with a Dockerfile), a registry pod requiring basic auth, and the Secrets and ServiceAccounts
//! that point the Builds at them. Pods reach each other by IP only (no DNS, no Services), so the
//! fixtures' URLs name pod IPs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use build_types::{Build, BuildTemplate};
use futures::future::join_all;
use k8s_openapi::api::core::v1::{Namespace, Pod, Secret, ServiceAccount};
use kube::api::{Api, ListParams, LogParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

use super::images;
use super::install::Controller;
use throwaway_cluster::interrupted;
use throwaway_cluster::{Cluster, NodePart, run_quiet};

mod buildkit;
mod eviction;
mod leader_lost;
mod load;
mod metrics;
mod node_restart;
mod oom;
mod pod_deleted;
mod soak;
mod uninstall;
mod unschedulable;
mod upgrade;

pub(crate) use soak::Soak;

const NS: &str = "e2e";
const REGISTRY_USER: &str = "e2e";

/// How a scenario ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// It did what it should.
    Pass,
    /// It did not; why.
    Fail(String),
    /// It could not run here; why.
    NotRun(String),
}

/// One scenario's verdict: outcome, evidence, duration.
#[derive(Debug, Clone)]
pub(crate) struct Verdict {
    pub(crate) name: String,
    pub(crate) outcome: Outcome,
    pub(crate) evidence: Vec<String>,
    pub(crate) seconds: f64,
}

impl Verdict {
    /// Whether the run should fail because of it.
    pub(crate) fn failed(&self) -> bool {
        matches!(self.outcome, Outcome::Fail(_))
    }
}

/// A verdict as printed: a headline, then the evidence indented.
pub(crate) fn format_verdict(verdict: &Verdict) -> String {
    let (word, why) = match &verdict.outcome {
        Outcome::Pass => ("PASS", String::new()),
        Outcome::Fail(why) => ("FAIL", format!(": {why}")),
        Outcome::NotRun(why) => ("NOT RUN", format!(": {why}")),
    };
    let mut out = format!(
        "{word:<7} {} ({:.1}s){why}\n",
        verdict.name, verdict.seconds
    );
    for line in &verdict.evidence {
        for (i, part) in line.lines().enumerate() {
            let indent = if i == 0 { "        " } else { "          | " };
            let _ = writeln!(out, "{indent}{part}");
        }
    }
    out
}

/// Every verdict, then one count line.
pub(crate) fn summary(verdicts: &[Verdict], elapsed: Duration) -> String {
    let mut out = String::from("\n=== cargo xtask e2e ===\n");
    for verdict in verdicts {
        out.push_str(&format_verdict(verdict));
    }
    let count = |f: fn(&Outcome) -> bool| verdicts.iter().filter(|v| f(&v.outcome)).count();
    let _ = write!(
        out,
        "=== {} passed, {} failed, {} not run, in {:.0}s ===",
        count(|o| matches!(o, Outcome::Pass)),
        count(|o| matches!(o, Outcome::Fail(_))),
        count(|o| matches!(o, Outcome::NotRun(_))),
        elapsed.as_secs_f64()
    );
    out
}

/// The shared fixtures.
struct World {
    client: Client,
    git_ip: String,
    registry_ip: String,
    password: String,
}

impl World {
    fn builds(&self) -> Api<Build> {
        Api::namespaced(self.client.clone(), NS)
    }
    fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), NS)
    }
    fn git_url(&self) -> String {
        format!("git://{}/app.git", self.git_ip)
    }
}

/// Runs the chosen scenarios after the install's verdict; a scenario's own failure is a
/// verdict, not an error.
pub(crate) async fn run_all(
    cluster: &mut Cluster,
    controller: &Controller,
    installed: Verdict,
    chosen: &[&str],
    soak: &Soak,
) -> anyhow::Result<Vec<Verdict>> {
    let t = Instant::now();
    let client = cluster.admin_client().await?;
    let world = fixtures(cluster, client)
        .await
        .context("setting up the fixtures")?;
    eprintln!(
        "[fixtures] {:.1}s git server {}, registry {}:5000",
        t.elapsed().as_secs_f64(),
        world.git_ip,
        world.registry_ip
    );
    let mut verdicts = vec![installed];
    for name in chosen {
        if interrupted() {
            break;
        }
        eprintln!("[scenario] {name}");
        verdicts.extend(run_one(name, &world, cluster, controller, soak).await);
    }
    Ok(verdicts)
}

/// One `--scenario` name's verdicts.
async fn run_one(
    name: &str,
    world: &World,
    cluster: &mut Cluster,
    controller: &Controller,
    soak: &Soak,
) -> Vec<Verdict> {
    match name {
        "img" => vec![
            timed(
                "img: buildah build and push to a registry with basic auth",
                img(world),
            )
            .await,
        ],
        "buildkit" => vec![
            timed(
                "buildkit: the seed's template against a Docker daemon on the node's socket",
                buildkit::run(world, cluster),
            )
            .await,
        ],
        "failures" => {
            let mut verdicts = join_all([
                boxed(timed("failure: a failing step", failing_step(world))),
                boxed(timed(
                    "failure: a git revision that does not exist",
                    bad_revision(world),
                )),
                boxed(timed(
                    "failure: a 10s timeout on a long step",
                    timeout(world),
                )),
                boxed(timed("failure: cancel while running", cancel(world))),
                boxed(timed(
                    "failure: an image that does not exist (--image-pull-grace)",
                    missing_image(world, controller.image_pull_grace()),
                )),
                boxed(timed(
                    "template created after its Build",
                    late_template(world),
                )),
            ])
            .await;
            verdicts.push(
                timed(
                    "controller killed and restarted mid-build",
                    restart(world, cluster, controller),
                )
                .await,
            );
            verdicts
        }
        "ssh" => {
            join_all([
                boxed(timed(
                    "ssh: git source over ssh with known_hosts",
                    ssh(world, true),
                )),
                boxed(timed(
                    "ssh: git source over ssh without known_hosts (accept-new)",
                    ssh(world, false),
                )),
            ])
            .await
        }
        "timing" => vec![
            timed(
                "timing: Build created to Succeeded, against the same pod created directly",
                timing(world),
            )
            .await,
        ],
        "plugin" => vec![
            timed(
                "plugin: kubectl build run -f and logs, on the real node",
                plugin(&cluster.kubeconfig),
            )
            .await,
        ],
        "metrics" | "upgrade" | "leader-lost" | "uninstall"
            if matches!(controller, Controller::Host(_)) =>
        {
            vec![not_run(
                name,
                "it needs the release's Deployment: run without --controller host",
            )]
        }
        "metrics" => vec![
            timed(
                "metrics: scraped through the release's Service",
                metrics::run(world),
            )
            .await,
        ],
        "upgrade" => vec![
            timed(
                "upgrade: the Deployment rolled to another image under 50 Builds",
                upgrade::run(world, cluster),
            )
            .await,
        ],
        "leader-lost" => vec![
            timed(
                "leader lost: the leading pod force-deleted under 50 Builds",
                leader_lost::run(world),
            )
            .await,
        ],
        "uninstall" => vec![
            timed(
                "uninstall: kubectl delete -f config/release.yaml",
                uninstall::run(world, cluster),
            )
            .await,
        ],
        _ => node_fault(name, world, cluster, soak)
            .await
            .into_iter()
            .collect(),
    }
}

/// The node's faults: what a Build shows when its pod, the kubelet or containerd misbehaves,
/// and a soak.
async fn node_fault(
    name: &str,
    world: &World,
    cluster: &mut Cluster,
    soak: &Soak,
) -> Option<Verdict> {
    let kubeconfig = cluster.kubeconfig.clone();
    let restart = |part| format!("node: {} SIGKILLed and restarted under 10 Builds", part);
    Some(match name {
        "pod-deleted" => {
            timed(
                "node: a running Build's pod deleted by a user",
                pod_deleted::run(world, &kubeconfig),
            )
            .await
        }
        "oom" => {
            timed(
                "node: a step and an init helper OOM-killed",
                oom::run(world),
            )
            .await
        }
        "eviction" => {
            timed(
                "node: a running Build's pod evicted through the eviction API",
                eviction::evict(world),
            )
            .await
        }
        "drain" => {
            timed(
                "node: drained of Build pods (cordon, evict) and uncordoned",
                eviction::drain(world, &kubeconfig),
            )
            .await
        }
        "unschedulable" => {
            timed(
                "node: a pod no node takes, with a 20s timeout",
                unschedulable::run(world, &kubeconfig),
            )
            .await
        }
        "kubelet-restart" => {
            timed(
                &restart("the kubelet"),
                node_restart::run(world, cluster, NodePart::Kubelet),
            )
            .await
        }
        "containerd-restart" => {
            timed(
                &restart("containerd"),
                node_restart::run(world, cluster, NodePart::Containerd),
            )
            .await
        }
        "soak" => {
            let title = format!(
                "soak: {} Builds a minute for {}s against the in-cluster controller",
                soak.per_minute,
                soak.duration.as_secs()
            );
            timed(&title, soak::run(world, cluster, soak)).await
        }
        _ => return None,
    })
}

/// A verdict for a scenario that does not apply to this run's controller.
fn not_run(name: &str, why: &str) -> Verdict {
    Verdict {
        name: name.to_owned(),
        outcome: Outcome::NotRun(why.to_owned()),
        evidence: vec![],
        seconds: 0.0,
    }
}

/// The install's verdict: how long it took and what proves it.
pub(crate) fn install_verdict(
    result: anyhow::Result<Vec<String>>,
    place: super::ControllerPlace,
    seconds: f64,
) -> Verdict {
    let name = match place {
        super::ControllerPlace::InCluster => {
            "install: config/release.yaml as shipped, the controller in the cluster"
        }
        super::ControllerPlace::Host => {
            "install: config/release.yaml without its Deployment, the controller on the host (--controller host)"
        }
    };
    let (outcome, evidence) = match result {
        Ok(evidence) => (Outcome::Pass, evidence),
        Err(error) => (Outcome::Fail(format!("{error:#}")), vec![]),
    };
    Verdict {
        name: name.to_owned(),
        outcome,
        evidence,
        seconds,
    }
}

type Boxed<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Verdict> + Send + 'a>>;

fn boxed<'a>(f: impl std::future::Future<Output = Verdict> + Send + 'a) -> Boxed<'a> {
    Box::pin(f)
}

/// What a scenario body returns: pass or fail, with evidence either way.
struct Checked {
    evidence: Vec<String>,
    failures: Vec<String>,
}

impl Checked {
    fn new() -> Checked {
        Checked {
            evidence: Vec::new(),
            failures: Vec::new(),
        }
    }
    fn note(&mut self, line: impl Into<String>) {
        self.evidence.push(line.into());
    }
    fn check(&mut self, ok: bool, what: impl Into<String>) {
        if !ok {
            self.failures.push(what.into());
        }
    }
}

async fn timed(
    name: &str,
    body: impl std::future::Future<Output = anyhow::Result<Checked>>,
) -> Verdict {
    let t = Instant::now();
    let result = body.await;
    let seconds = t.elapsed().as_secs_f64();
    let (outcome, evidence) = match result {
        Ok(checked) if checked.failures.is_empty() => (Outcome::Pass, checked.evidence),
        Ok(checked) => (Outcome::Fail(checked.failures.join("; ")), checked.evidence),
        Err(error) => (Outcome::Fail(format!("{error:#}")), vec![]),
    };
    Verdict {
        name: name.to_owned(),
        outcome,
        evidence,
        seconds,
    }
}

// ---------------------------------------------------------------- fixtures

async fn fixtures(cluster: &Cluster, client: Client) -> anyhow::Result<World> {
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

/// Polls every 250 ms until `probe` returns something.
async fn wait_until<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(found) = probe().await {
            return Ok(found);
        }
        if interrupted() {
            bail!("interrupted while waiting for {what}");
        }
        if Instant::now() > deadline {
            bail!("{what}: not after {}s", timeout.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
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

// ---------------------------------------------------------------- Build helpers

async fn create_build(world: &World, build: Value) -> anyhow::Result<String> {
    let build: Build = serde_json::from_value(build)?;
    let name = build.name_any();
    world
        .builds()
        .create(&PostParams::default(), &build)
        .await
        .with_context(|| format!("creating Build {name}"))?;
    Ok(name)
}

fn succeeded(build: &Build) -> Option<Value> {
    let status = build.status.as_ref()?;
    let condition = status.conditions.iter().find(|c| c.type_ == "Succeeded")?;
    serde_json::to_value(condition).ok()
}

/// `Succeeded=False reason=X message=Y`.
fn condition_line(condition: Option<&Value>) -> String {
    let Some(c) = condition else {
        return "no Succeeded condition".to_owned();
    };
    let field = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    format!(
        "Succeeded={} reason={} message={:?}",
        field("status"),
        field("reason"),
        field("message")
    )
}

/// Waits until the Build's Succeeded condition is True or False.
async fn wait_done(world: &World, name: &str, timeout: Duration) -> anyhow::Result<Build> {
    let api = world.builds();
    wait_until(&format!("Build {name} to finish"), timeout, || async {
        let build = api.get(name).await.ok()?;
        let status = succeeded(&build)
            .and_then(|c| c.get("status").and_then(Value::as_str).map(str::to_owned));
        matches!(status.as_deref(), Some("True" | "False")).then_some(build)
    })
    .await
}

fn pod_name(build: &Build) -> Option<String> {
    build
        .status
        .as_ref()?
        .cluster
        .as_ref()
        .map(|c| c.pod_name.clone())
        .filter(|n| !n.is_empty())
}

/// The finished Build's evidence: condition, times, pod, and every container's logs (those that
/// ran must be readable). Returns the logs by container.
async fn finished_evidence(
    world: &World,
    build: &Build,
    checked: &mut Checked,
) -> BTreeMap<String, String> {
    let condition = succeeded(build);
    checked.note(condition_line(condition.as_ref()));
    let status = build.status.clone().unwrap_or_default();
    checked.note(format!(
        "startTime={} completionTime={}",
        status
            .start_time
            .as_ref()
            .map(|t| t.0.to_string())
            .unwrap_or_else(|| "-".into()),
        status
            .completion_time
            .as_ref()
            .map(|t| t.0.to_string())
            .unwrap_or_else(|| "-".into()),
    ));
    checked.check(
        status.completion_time.is_some(),
        "completionTime is not set",
    );
    let mut logs = BTreeMap::new();
    let Some(pod_name) = pod_name(build) else {
        checked.check(false, "the Build names no pod");
        return logs;
    };
    let Ok(pod) = world.pods().get(&pod_name).await else {
        checked.check(false, format!("pod {pod_name} was not kept"));
        return logs;
    };
    let status = pod.status.clone().unwrap_or_default();
    checked.note(format!(
        "pod {pod_name} kept, phase {}",
        status.phase.unwrap_or_default()
    ));
    let states: Vec<_> = status
        .init_container_statuses
        .unwrap_or_default()
        .into_iter()
        .chain(status.container_statuses.unwrap_or_default())
        .collect();
    for state in states {
        let ran = state
            .state
            .as_ref()
            .is_some_and(|s| s.terminated.is_some() || s.running.is_some());
        let exit = state
            .state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .map(|t| t.exit_code);
        let params = LogParams {
            container: Some(state.name.clone()),
            ..Default::default()
        };
        match world.pods().logs(&pod_name, &params).await {
            Ok(text) => {
                let tail: Vec<&str> = text
                    .lines()
                    .rev()
                    .take(8)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                let exit = exit
                    .map(|c| format!("exit {c}"))
                    .unwrap_or_else(|| "not terminated".into());
                checked.note(format!(
                    "kubectl logs {pod_name} -c {} ({exit}):\n{}",
                    state.name,
                    if tail.is_empty() {
                        "(empty)".to_owned()
                    } else {
                        tail.join("\n")
                    }
                ));
                logs.insert(state.name.clone(), text);
            }
            Err(error) if ran => {
                checked.check(false, format!("logs of {} unreadable: {error}", state.name))
            }
            Err(_) => checked.note(format!("{}: never started", state.name)),
        }
    }
    logs
}

fn tools_step(name: &str, script: &str) -> Value {
    json!({"name": name, "image": images::TOOLS, "command": ["/bin/sh", "-c", script]})
}

fn expect_status(
    checked: &mut Checked,
    build: &Build,
    status: &str,
    reason_contains: Option<&str>,
) {
    let condition = succeeded(build).unwrap_or(Value::Null);
    let got = condition
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or("");
    checked.check(
        got == status,
        format!("Succeeded is {got}, wanted {status}"),
    );
    if let Some(reason) = reason_contains {
        let text = format!(
            "{} {}",
            condition
                .get("reason")
                .and_then(Value::as_str)
                .unwrap_or(""),
            condition
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("")
        );
        checked.check(
            text.contains(reason),
            format!("reason/message do not mention {reason}"),
        );
    }
}

async fn wait_step_running(world: &World, build: &str, step: &str) -> anyhow::Result<String> {
    let container = format!("build-step-{step}");
    wait_until(
        &format!("step {step} of {build} running"),
        Duration::from_secs(90),
        || async {
            let b = world.builds().get(build).await.ok()?;
            let pod = pod_name(&b)?;
            let p = world.pods().get(&pod).await.ok()?;
            let running = p.status?.init_container_statuses?.iter().any(|c| {
                c.name == container && c.state.as_ref().is_some_and(|s| s.running.is_some())
            });
            running.then_some(pod)
        },
    )
    .await
}

// ---------------------------------------------------------------- scenarios

async fn img(world: &World) -> anyhow::Result<Checked> {
    let mut checked = Checked::new();
    let storage = [
        "--storage-driver",
        "vfs",
        "--root",
        "/builder/home/containers/storage",
        "--runroot",
        "/builder/home/containers/run",
    ];
    let build_args = [
        storage.as_slice(),
        &[
            "build",
            "--isolation",
            "chroot",
            "-f",
            "Dockerfile",
            "-t",
            "${IMAGE}",
            ".",
        ],
    ]
    .concat();
    let push_args = [
        storage.as_slice(),
        &[
            "push",
            "--tls-verify=false",
            "${IMAGE}",
            "docker://${IMAGE}",
        ],
    ]
    .concat();
    let template: BuildTemplate = serde_json::from_value(json!({
        "metadata": {"name": "buildah", "namespace": NS},
        "spec": {
            "parameters": [{"name": "IMAGE", "description": "where the image goes"}],
            "steps": [
                {"name": "build", "image": images::BUILDAH, "securityContext": {"privileged": true},
                 "args": build_args},
                {"name": "push", "image": images::BUILDAH, "securityContext": {"privileged": true},
                 "args": push_args},
            ],
        },
    }))?;
    Api::<BuildTemplate>::namespaced(world.client.clone(), NS)
        .create(&PostParams::default(), &template)
        .await?;
    let image = format!("{}:5000/e2e/app:v1", world.registry_ip);
    let name = create_build(
        world,
        json!({
            "metadata": {"name": "img", "namespace": NS},
            "spec": {
                "serviceAccountName": "build-bot",
                "source": {"git": {"url": world.git_url(), "revision": "main"}},
                "template": {"name": "buildah", "arguments": [{"name": "IMAGE", "value": image}]},
            },
        }),
    )
    .await?;
    let build = wait_done(world, &name, Duration::from_secs(240)).await?;
    let logs = finished_evidence(world, &build, &mut checked).await;
    expect_status(&mut checked, &build, "True", None);
    let build_log = logs.get("build-step-build").cloned().unwrap_or_default();
    checked.check(
        build_log.contains("COMMIT") || build_log.contains("Successfully tagged"),
        "build-step-build does not show buildah's output",
    );
    // the side effect: the manifest, from a pod (the host cannot reach pod IPs)
    let url = format!("http://{}:5000/v2/e2e/app/manifests/v1", world.registry_ip);
    let accept = "Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";
    let script = format!(
        "echo 'with credentials:'; wget -q -O- --header '{accept}' \"http://{user}:$PASSWORD@${{URL#http://}}\" && echo; echo 'without credentials:'; wget -q -O- --header '{accept}' \"$URL\" 2>&1; echo \"exit $?\"",
        user = REGISTRY_USER
    );
    let probe: Pod = serde_json::from_value(json!({
        "metadata": {"name": "registry-probe"},
        "spec": {"restartPolicy": "Never", "containers": [{
            "name": "wget", "image": images::TOOLS, "command": ["/bin/sh", "-c", script],
            "env": [{"name": "PASSWORD", "value": world.password}, {"name": "URL", "value": url}],
        }]},
    }))?;
    world.pods().create(&PostParams::default(), &probe).await?;
    wait_pod_done(world, "registry-probe").await?;
    let out = world
        .pods()
        .logs("registry-probe", &LogParams::default())
        .await?;
    checked.note(format!(
        "GET {url} from pod registry-probe:\n{}",
        out.trim()
    ));
    let (with, without) = out.split_once("without credentials:").unwrap_or((&out, ""));
    checked.check(
        with.contains("\"schemaVersion\":2") || with.contains("\"schemaVersion\": 2"),
        "no manifest with the credentials",
    );
    checked.check(
        without.contains("401") && !without.contains("schemaVersion"),
        "the registry answered without credentials",
    );
    Ok(checked)
}

/// A stopped Build's pod must stop too (the controller lowers its activeDeadlineSeconds): waits
/// for a terminal phase and notes how long it took.
async fn expect_pod_stopped(world: &World, build: &Build, checked: &mut Checked) {
    let Some(pod) = pod_name(build) else { return };
    let t = Instant::now();
    match wait_pod_done(world, &pod).await {
        Ok(phase) => {
            let reason = world
                .pods()
                .get(&pod)
                .await
                .ok()
                .and_then(|p| p.status)
                .and_then(|s| s.reason)
                .unwrap_or_default();
            checked.note(format!("pod {pod} stopped: phase {phase} reason {reason} ({:.1}s after the Build finished)", t.elapsed().as_secs_f64()));
        }
        Err(error) => checked.check(false, format!("the pod did not stop: {error}")),
    }
}

async fn wait_pod_done(world: &World, name: &str) -> anyhow::Result<String> {
    wait_until(
        &format!("pod {name} to finish"),
        Duration::from_secs(90),
        || async {
            let phase = world.pods().get(name).await.ok()?.status?.phase?;
            (phase == "Succeeded" || phase == "Failed").then_some(phase)
        },
    )
    .await
}

async fn failing_step(world: &World) -> anyhow::Result<Checked> {
    let mut checked = Checked::new();
    let name = create_build(
        world,
        json!({
            "metadata": {"name": "failing-step", "namespace": NS},
            "spec": {"steps": [
                tools_step("first", "echo the first step ran"),
                tools_step("fail", "echo about to fail >&2; exit 3"),
                tools_step("never", "echo this must not run"),
            ]},
        }),
    )
    .await?;
    let build = wait_done(world, &name, Duration::from_secs(90)).await?;
    let logs = finished_evidence(world, &build, &mut checked).await;
    expect_status(&mut checked, &build, "False", Some("fail"));
    checked.check(
        logs.get("build-step-first")
            .is_some_and(|l| l.contains("the first step ran")),
        "the first step's log is missing",
    );
    checked.check(
        logs.get("build-step-fail")
            .is_some_and(|l| l.contains("about to fail")),
        "the failing step's log is missing",
    );
    checked.check(
        !logs
            .get("build-step-never")
            .is_some_and(|l| l.contains("must not run")),
        "a step after the failure ran",
    );
    Ok(checked)
}

async fn bad_revision(world: &World) -> anyhow::Result<Checked> {
    let mut checked = Checked::new();
    let name = create_build(
        world,
        json!({
            "metadata": {"name": "bad-revision", "namespace": NS},
            "spec": {
                "source": {"git": {"url": world.git_url(), "revision": "no-such-branch"}},
                "steps": [tools_step("list", "ls /workspace")],
            },
        }),
    )
    .await?;
    let build = wait_done(world, &name, Duration::from_secs(90)).await?;
    let logs = finished_evidence(world, &build, &mut checked).await;
    expect_status(&mut checked, &build, "False", None);
    let git_log = logs
        .get("build-step-git-source-0")
        .cloned()
        .unwrap_or_default();
    checked.check(
        git_log.contains("no-such-branch"),
        "git-init's log does not name the revision",
    );
    checked.check(
        !git_log.contains("unable to connect"),
        "the git server was unreachable, so the revision was never looked up",
    );
    Ok(checked)
}

async fn timeout(world: &World) -> anyhow::Result<Checked> {
    let mut checked = Checked::new();
    let t = Instant::now();
    let name = create_build(world, json!({
        "metadata": {"name": "timeout", "namespace": NS},
        "spec": {"timeout": "10s", "steps": [tools_step("long", "echo sleeping 300s; sleep 300")]},
    }))
    .await?;
    let build = wait_done(world, &name, Duration::from_secs(90)).await?;
    let took = t.elapsed().as_secs_f64();
    finished_evidence(world, &build, &mut checked).await;
    checked.note(format!("finished {took:.1}s after creation"));
    expect_status(&mut checked, &build, "False", Some("Timeout"));
    checked.check(took < 45.0, format!("took {took:.0}s for a 10s timeout"));
    expect_pod_stopped(world, &build, &mut checked).await;
    Ok(checked)
}

async fn cancel(world: &World) -> anyhow::Result<Checked> {
    let mut checked = Checked::new();
    let name = create_build(
        world,
        json!({
            "metadata": {"name": "cancel", "namespace": NS},
            "spec": {"steps": [tools_step("long", "echo started, sleeping 300s; sleep 300")]},
        }),
    )
    .await?;
    wait_step_running(world, &name, "long").await?;
    let t = Instant::now();
    world
        .builds()
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"status": "BuildCancelled"}})),
        )
        .await?;
    let build = wait_done(world, &name, Duration::from_secs(60)).await?;
    checked.note(format!(
        "cancelled {:.1}s after spec.status=BuildCancelled",
        t.elapsed().as_secs_f64()
    ));
    finished_evidence(world, &build, &mut checked).await;
    expect_status(&mut checked, &build, "False", Some("Cancel"));
    expect_pod_stopped(world, &build, &mut checked).await;
    Ok(checked)
}

async fn missing_image(world: &World, grace: Duration) -> anyhow::Result<Checked> {
    let mut checked = Checked::new();
    let t = Instant::now();
    let name = create_build(world, json!({
        "metadata": {"name": "missing-image", "namespace": NS},
        "spec": {"steps": [{"name": "ghost", "image": "e2e.local/no-such-image:e2e", "command": ["true"]}]},
    }))
    .await?;
    let build = wait_done(world, &name, grace + Duration::from_secs(120)).await?;
    checked.note(format!(
        "finished {:.1}s after creation (the controller's image pull grace: {}s)",
        t.elapsed().as_secs_f64(),
        grace.as_secs()
    ));
    checked.check(
        t.elapsed() >= grace,
        "the Build failed before the image pull grace ran out",
    );
    finished_evidence(world, &build, &mut checked).await;
    expect_status(&mut checked, &build, "False", Some("no-such-image"));
    expect_pod_stopped(world, &build, &mut checked).await;
    Ok(checked)
}

async fn late_template(world: &World) -> anyhow::Result<Checked> {
    let mut checked = Checked::new();
    let name = create_build(world, json!({
        "metadata": {"name": "late-template", "namespace": NS},
        "spec": {"template": {"name": "late", "arguments": [{"name": "WORD", "value": "late"}]}},
    }))
    .await?;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let before = world.builds().get(&name).await?;
    checked.note(format!(
        "4s later, without the template: {}",
        condition_line(succeeded(&before).as_ref())
    ));
    let template: BuildTemplate = serde_json::from_value(json!({
        "metadata": {"name": "late", "namespace": NS},
        "spec": {
            "parameters": [{"name": "WORD"}],
            "steps": [tools_step("say", "echo the template came ${WORD}")],
        },
    }))?;
    Api::<BuildTemplate>::namespaced(world.client.clone(), NS)
        .create(&PostParams::default(), &template)
        .await?;
    let build = wait_done(world, &name, Duration::from_secs(90)).await?;
    let logs = finished_evidence(world, &build, &mut checked).await;
    expect_status(&mut checked, &build, "True", None);
    checked.check(
        logs.get("build-step-say")
            .is_some_and(|l| l.contains("the template came late")),
        "the template's step did not run",
    );
    Ok(checked)
}

async fn restart(
    world: &World,
    cluster: &mut Cluster,
    controller: &Controller,
) -> anyhow::Result<Checked> {
    let mut checked = Checked::new();
    let name = create_build(
        world,
        json!({
            "metadata": {"name": "restart", "namespace": NS},
            "spec": {"steps": [tools_step("slow", "echo before; sleep 15; echo after")]},
        }),
    )
    .await?;
    wait_step_running(world, &name, "slow").await?;
    checked.note(controller.crash(cluster).await?);
    tokio::time::sleep(Duration::from_secs(3)).await;
    checked.note(controller.recover(cluster)?);
    let build = wait_done(world, &name, Duration::from_secs(120)).await?;
    let logs = finished_evidence(world, &build, &mut checked).await;
    expect_status(&mut checked, &build, "True", None);
    checked.check(
        logs.get("build-step-slow")
            .is_some_and(|l| l.contains("after")),
        "the step did not finish",
    );
    let pods = world
        .pods()
        .list(&ListParams::default().labels(&format!("build.knative.dev/buildName={name}")))
        .await?;
    checked.note(format!(
        "pods of the Build: {}",
        pods.items
            .iter()
            .map(ResourceExt::name_any)
            .collect::<Vec<_>>()
            .join(", ")
    ));
    checked.check(
        pods.items.len() == 1,
        format!("{} pods for one Build", pods.items.len()),
    );
    Ok(checked)
}

async fn ssh(world: &World, known_hosts: bool) -> anyhow::Result<Checked> {
    let mut checked = Checked::new();
    let (name, account) = if known_hosts {
        ("ssh-known", "ssh-known")
    } else {
        ("ssh-accept-new", "ssh-new")
    };
    let name = create_build(world, json!({
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "serviceAccountName": account,
            "source": {"git": {"url": format!("ssh://root@{}/srv/git/app.git", world.git_ip), "revision": "main"}},
            "steps": [tools_step("show", "cat /workspace/hello.txt; echo ~/.ssh/known_hosts:; cut -c1-60 /builder/home/.ssh/known_hosts")],
        },
    }))
    .await?;
    let build = wait_done(world, &name, Duration::from_secs(90)).await?;
    let logs = finished_evidence(world, &build, &mut checked).await;
    expect_status(&mut checked, &build, "True", None);
    checked.check(
        logs.get("build-step-show")
            .is_some_and(|l| l.contains("hello from the e2e repository")),
        "the repository was not checked out",
    );
    Ok(checked)
}

/// `kubectl build logs -f NAME` started now and run to its end: exit code, stdout, stderr.
type Follower = tokio::task::JoinHandle<anyhow::Result<(i32, String, String)>>;

/// Starts following Build `name` with `kubectl build logs -f`, as a user would.
fn follow_logs(kubeconfig: &std::path::Path, name: &str) -> Follower {
    let kubeconfig = kubeconfig.to_path_buf();
    let name = name.to_owned();
    tokio::spawn(async move { kubectl_build(&kubeconfig, &["logs", "-f", &name]).await })
}

/// Waits (at most 60 s) for the follower to end; notes what it printed; returns it.
async fn followed(
    checked: &mut Checked,
    name: &str,
    follower: Follower,
) -> anyhow::Result<(i32, String, String)> {
    let (code, out, err) = tokio::time::timeout(Duration::from_secs(60), follower).await???;
    checked.note(format!(
        "kubectl build logs -f {name} (exit {code}):\n{}{}",
        out.trim_end(),
        if err.trim().is_empty() {
            String::new()
        } else {
            format!("\n{}", err.trim_end())
        }
    ));
    Ok((code, out, err))
}

/// Waits (at most `timeout`) until Build `name`'s Succeeded message contains `needle`;
/// returns the condition as a line.
async fn wait_message(
    world: &World,
    name: &str,
    needle: &str,
    timeout: Duration,
) -> anyhow::Result<String> {
    wait_until(
        &format!("Build {name} to say {needle:?}"),
        timeout,
        || async {
            let build = world.builds().get(name).await.ok()?;
            let condition = succeeded(&build)?;
            let message = condition["message"].as_str().unwrap_or_default();
            message
                .contains(needle)
                .then(|| condition_line(Some(&condition)))
        },
    )
    .await
}

/// Runs `kubectl-build` (the debug build of the workspace's plugin) against the cluster with
/// `args`; returns its exit code, stdout and stderr.
async fn kubectl_build(
    kubeconfig: &std::path::Path,
    args: &[&str],
) -> anyhow::Result<(i32, String, String)> {
    let binary = crate::harness::workspace_root().join("target/debug/kubectl-build");
    let mut command = Command::new(binary);
    command
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["-n", NS, "--no-color"])
        .args(args)
        .env("NO_COLOR", "1");
    let out = tokio::task::spawn_blocking(move || command.output()).await??;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// Issue 11's acceptance on a real node: `run -f` of a two-step Build prints both steps in
/// order and exits 0; of a failing Build exits 1 naming the step and its exit code; after a
/// timeout, `logs NAME` still prints the step that ran.
async fn plugin(kubeconfig: &std::path::Path) -> anyhow::Result<Checked> {
    let mut checked = Checked::new();
    crate::harness::build_debug_binary("build-controller", "kubectl-build")?;
    let dir = tempfile_dir()?;
    let write = |name: &str, spec: Value| -> anyhow::Result<String> {
        let build = json!({"apiVersion": "build.knative.dev/v1alpha1", "kind": "Build",
                           "metadata": {"name": name}, "spec": spec});
        let path = dir.join(format!("{name}.yaml"));
        std::fs::write(&path, serde_json::to_string_pretty(&build)?)?;
        Ok(path.display().to_string())
    };
    let show = |checked: &mut Checked, what: &str, (code, out, err): &(i32, String, String)| {
        checked.note(format!("kubectl build {what} (exit {code}):"));
        for line in out.lines().chain(err.lines()) {
            checked.note(format!("  | {line}"));
        }
    };

    let two = write(
        "plugin-two",
        json!({"steps": [
            tools_step("first", "echo one from the first step"),
            tools_step("second", "echo two from the second step"),
        ]}),
    )?;
    let run = kubectl_build(kubeconfig, &["run", "-f", &two]).await?;
    show(&mut checked, "run -f plugin-two.yaml", &run);
    let first = run.1.find("[first] one from the first step");
    let second = run.1.find("[second] two from the second step");
    checked.check(
        run.0 == 0,
        format!("run -f of a succeeding Build exited {}", run.0),
    );
    checked.check(
        matches!((first, second), (Some(a), Some(b)) if a < b),
        "both steps' output, in order, with their [step] prefixes",
    );

    let failing = write(
        "plugin-failing",
        json!({"steps": [
            tools_step("ok", "echo fine"),
            tools_step("broken", "echo about to fail; exit 3"),
        ]}),
    )?;
    let run = kubectl_build(kubeconfig, &["run", "-f", &failing]).await?;
    show(&mut checked, "run -f plugin-failing.yaml", &run);
    let last = run
        .1
        .lines()
        .chain(run.2.lines())
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .to_owned();
    checked.check(
        run.0 == 1,
        format!("run -f of a failing Build exited {}", run.0),
    );
    checked.check(
        last.contains("broken") && last.contains('3'),
        format!("the last line names the failed step and its exit code: {last:?}"),
    );

    let slow = write(
        "plugin-timeout",
        json!({"timeout": "5s", "steps": [
            tools_step("slow", "echo started the slow step; sleep 300"),
        ]}),
    )?;
    let run = kubectl_build(kubeconfig, &["run", "-f", &slow]).await?;
    show(&mut checked, "run -f plugin-timeout.yaml", &run);
    checked.check(
        run.0 == 1,
        format!("run -f of a Build that times out exited {}", run.0),
    );
    let logs = kubectl_build(kubeconfig, &["logs", "plugin-timeout"]).await?;
    show(&mut checked, "logs plugin-timeout", &logs);
    checked.check(
        logs.1.contains("[slow] started the slow step"),
        "after the timeout, logs still prints the step that ran",
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(checked)
}

/// A fresh temporary directory for the plugin's Build files.
fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("xtask-e2e-plugin-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

async fn timing(world: &World) -> anyhow::Result<Checked> {
    let mut checked = Checked::new();
    let t = Instant::now();
    let name = create_build(
        world,
        json!({
            "metadata": {"name": "timing", "namespace": NS},
            "spec": {"steps": [tools_step("hello", "echo hello")]},
        }),
    )
    .await?;
    let build = wait_done(world, &name, Duration::from_secs(90)).await?;
    let via_build = t.elapsed().as_secs_f64();
    expect_status(&mut checked, &build, "True", None);
    let pod = world
        .pods()
        .get(&pod_name(&build).context("the Build names its pod")?)
        .await?;
    let mut spec = pod.spec.context("the pod has a spec")?;
    spec.node_name = None;
    let direct = Pod {
        metadata: kube::api::ObjectMeta {
            name: Some("timing-direct".into()),
            ..Default::default()
        },
        spec: Some(spec),
        status: None,
    };
    let t = Instant::now();
    world.pods().create(&PostParams::default(), &direct).await?;
    let phase = wait_pod_done(world, "timing-direct").await?;
    let direct_seconds = t.elapsed().as_secs_f64();
    checked.check(
        phase == "Succeeded",
        format!("the direct pod ended {phase}"),
    );
    checked.note(format!(
        "Build created -> Succeeded=True: {via_build:.1}s; the same pod created directly -> Succeeded: {direct_seconds:.1}s (overhead {:.1}s; both polled every 250 ms)",
        via_build - direct_seconds
    ));
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(outcome: Outcome) -> Verdict {
        Verdict {
            name: "failure: a failing step".into(),
            outcome,
            evidence: vec![
                "Succeeded=False reason=BuildFailed message=\"x\"".into(),
                "kubectl logs p -c c (exit 3):\nline 1\nline 2".into(),
            ],
            seconds: 4.25,
        }
    }

    #[test]
    fn a_passing_verdict_shows_its_evidence() {
        assert_eq!(
            format_verdict(&verdict(Outcome::Pass)),
            "PASS    failure: a failing step (4.2s)\n        Succeeded=False reason=BuildFailed message=\"x\"\n        kubectl logs p -c c (exit 3):\n          | line 1\n          | line 2\n"
        );
    }

    #[test]
    fn failed_and_not_run_say_why() {
        assert!(
            format_verdict(&verdict(Outcome::Fail(
                "Succeeded is True, wanted False".into()
            )))
            .starts_with(
                "FAIL    failure: a failing step (4.2s): Succeeded is True, wanted False\n"
            )
        );
        assert!(
            format_verdict(&verdict(Outcome::NotRun("no Docker daemon".into())))
                .starts_with("NOT RUN failure: a failing step (4.2s): no Docker daemon\n")
        );
    }

    #[test]
    fn summary_counts() {
        let all = [
            verdict(Outcome::Pass),
            verdict(Outcome::Fail("x".into())),
            verdict(Outcome::NotRun("y".into())),
        ];
        let text = summary(&all, Duration::from_secs(61));
        assert!(
            text.ends_with("=== 1 passed, 1 failed, 1 not run, in 61s ==="),
            "{text}"
        );
        assert!(all[1].failed() && !all[2].failed());
    }

    #[test]
    fn condition_lines() {
        assert_eq!(condition_line(None), "no Succeeded condition");
        let c = json!({"type": "Succeeded", "status": "False", "reason": "BuildTimeout", "message": "m"});
        assert_eq!(
            condition_line(Some(&c)),
            "Succeeded=False reason=BuildTimeout message=\"m\""
        );
    }
}
