//! Leader election between controller replicas over one in-memory Lease endpoint that answers
//! as the API server does (201, 409 AlreadyExists, 409 Conflict on a stale resourceVersion,
//! 404), in tokio's paused time: lease durations pass in milliseconds.
//!
//! Each replica's work stands in for the controller's run loop: it marks the replica as
//! reconciling while it runs; the tests assert that never more than one does.

use crate::support;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use build_controller::ops::leader::{LeaderElector, Leadership, LeaseSettings};
use http::Method;
use serde_json::json;
use support::fake_api::{FakeApi, Link};
use tokio::task::JoinHandle;
use tokio::time::Instant;

const NS: &str = "knative-build";
const LEASE: Duration = Duration::from_secs(15);
const RENEW_DEADLINE: Duration = Duration::from_secs(10);
const RETRY: Duration = Duration::from_secs(2);
const STEP: Duration = Duration::from_millis(100);

/// How many replicas reconcile now, and the most that ever did at once.
#[derive(Clone, Default)]
struct Cluster {
    active: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
}

/// Marks a replica as reconciling while it lives.
struct Reconciling {
    flag: Arc<AtomicBool>,
    cluster: Cluster,
}

impl Reconciling {
    fn start(flag: Arc<AtomicBool>, cluster: Cluster) -> Self {
        let now = cluster.active.fetch_add(1, Ordering::SeqCst) + 1;
        cluster.most.fetch_max(now, Ordering::SeqCst);
        flag.store(true, Ordering::SeqCst);
        Reconciling { flag, cluster }
    }
}

impl Drop for Reconciling {
    fn drop(&mut self) {
        self.flag.store(false, Ordering::SeqCst);
        self.cluster.active.fetch_sub(1, Ordering::SeqCst);
    }
}

struct Replica {
    reconciling: Arc<AtomicBool>,
    task: JoinHandle<Leadership<u32>>,
}

impl Replica {
    fn is_reconciling(&self) -> bool {
        self.reconciling.load(Ordering::SeqCst)
    }
}

fn settings(name: &str) -> LeaseSettings {
    let settings = LeaseSettings::new(NS, name);
    assert_eq!(
        (
            settings.lease_duration,
            settings.renew_deadline,
            settings.retry_period
        ),
        (LEASE, RENEW_DEADLINE, RETRY),
        "the defaults the timings below assume"
    );
    settings
}

/// Starts a replica named `name` whose work runs for `work_for` (forever when `None`) and
/// returns 7.
fn replica(
    api: &FakeApi,
    cluster: &Cluster,
    name: &'static str,
    work_for: Option<Duration>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Replica {
    let elector = LeaderElector::new(api.client(name, NS), settings(name));
    let reconciling = Arc::new(AtomicBool::new(false));
    let flag = reconciling.clone();
    let cluster = cluster.clone();
    let work = async move {
        let _on = Reconciling::start(flag, cluster);
        match work_for {
            Some(duration) => tokio::time::sleep(duration).await,
            None => std::future::pending().await,
        }
        7
    };
    Replica {
        reconciling,
        task: tokio::spawn(elector.run(shutdown, work)),
    }
}

/// Lets paused time pass in small steps until `done` holds; returns how long that took.
/// Panics after `limit`.
async fn until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(STEP).await;
    }
    start.elapsed()
}

/// A cluster where replica `a`, working forever, has become the leader.
async fn a_leads() -> (FakeApi, Cluster, Replica) {
    let api = FakeApi::default();
    let cluster = Cluster::default();
    let a = replica(&api, &cluster, "a", None, std::future::pending());
    until(RETRY, "a leads", || a.is_reconciling()).await;
    (api, cluster, a)
}

fn holder(api: &FakeApi) -> Option<String> {
    let lease = api.get("coordination.k8s.io", "leases", NS, "build-controller")?;
    lease["spec"]["holderIdentity"].as_str().map(str::to_owned)
}

#[tokio::test(start_paused = true)]
async fn one_leader_then_a_takeover_when_it_dies() {
    let api = FakeApi::default();
    let cluster = Cluster::default();
    let a = replica(&api, &cluster, "a", None, std::future::pending());
    let b = replica(&api, &cluster, "b", None, std::future::pending());

    until(RETRY, "a leader", || {
        a.is_reconciling() || b.is_reconciling()
    })
    .await;
    // A minute later the same one leads, and only it.
    tokio::time::sleep(Duration::from_secs(60)).await;
    let (leader, standby, standby_name) = if a.is_reconciling() {
        (a, b, "b")
    } else {
        (b, a, "a")
    };
    assert!(leader.is_reconciling() && !standby.is_reconciling());
    assert_ne!(holder(&api).as_deref(), Some(standby_name));
    let creates: Vec<_> = api
        .recorded()
        .into_iter()
        .filter(|r| r.method == Method::POST)
        .map(|r| r.status)
        .collect();
    assert!(
        creates.iter().filter(|s| **s == Some(201)).count() == 1,
        "exactly one create succeeds: {creates:?}"
    );

    // The leader dies: it neither renews nor releases.
    leader.task.abort();
    assert!(leader.task.await.unwrap_err().is_cancelled());
    let took = until(LEASE * 2, "a takeover", || standby.is_reconciling()).await;
    assert!(
        took >= LEASE - RETRY && took <= LEASE + 2 * RETRY,
        "took over after {took:?}"
    );
    assert_eq!(holder(&api).as_deref(), Some(standby_name));
    let lease = api
        .get("coordination.k8s.io", "leases", NS, "build-controller")
        .unwrap();
    assert_eq!(lease["spec"]["leaseTransitions"], 1, "{lease}");
    assert_eq!(cluster.most.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_leader_that_cannot_renew_stops_before_anyone_takes_over() {
    let (api, cluster, a) = a_leads().await;
    let b = replica(&api, &cluster, "b", None, std::future::pending());
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert!(a.is_reconciling() && !b.is_reconciling());

    // a is cut off from the API server: its renewals fail.
    api.set_link("a", Link::Down);
    let stopped = until(LEASE, "a stops", || !a.is_reconciling()).await;
    assert!(stopped <= RENEW_DEADLINE, "a stopped after {stopped:?}");
    assert_eq!(a.task.await.unwrap(), Leadership::Lost);
    until(LEASE + 2 * RETRY, "b takes over", || b.is_reconciling()).await;
    assert_eq!(holder(&api).as_deref(), Some("b"));
    assert_eq!(
        cluster.most.load(Ordering::SeqCst),
        1,
        "never two replicas at once"
    );
    let failed_renewals = api
        .recorded()
        .iter()
        .filter(|r| r.client == "a" && r.status == Some(503))
        .count();
    assert!(failed_renewals >= 2, "{failed_renewals}");
}

#[tokio::test(start_paused = true)]
async fn a_leader_whose_work_ends_releases_the_lease() {
    let api = FakeApi::default();
    let cluster = Cluster::default();
    let a = replica(
        &api,
        &cluster,
        "a",
        Some(Duration::from_secs(30)),
        std::future::pending(),
    );
    until(RETRY, "a leads", || a.is_reconciling()).await;
    let b = replica(&api, &cluster, "b", None, std::future::pending());
    until(Duration::from_secs(40), "a finishes", || {
        !a.is_reconciling()
    })
    .await;
    assert_eq!(a.task.await.unwrap(), Leadership::Finished(7));
    // Released: b does not wait out the lease duration.
    let took = until(LEASE, "b takes over", || b.is_reconciling()).await;
    assert!(took <= RETRY + STEP, "took over after {took:?}");
    assert_eq!(holder(&api).as_deref(), Some("b"));
    assert_eq!(cluster.most.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn shutdown_while_standing_by_never_starts_the_work() {
    let (api, cluster, a) = a_leads().await;
    let b = replica(
        &api,
        &cluster,
        "b",
        None,
        tokio::time::sleep(Duration::from_secs(5)),
    );
    assert_eq!(b.task.await.unwrap(), Leadership::Stopped);
    assert!(!b.reconciling.load(Ordering::SeqCst));
    assert!(a.is_reconciling());
}

#[tokio::test(start_paused = true)]
async fn an_expired_lease_goes_to_exactly_one_of_two_contenders() {
    let api = FakeApi::default();
    api.insert(
        "leases",
        json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "build-controller", "namespace": NS},
            "spec": {"holderIdentity": "gone", "leaseDurationSeconds": 15,
                     "renewTime": "2024-01-01T00:00:00.000000Z", "leaseTransitions": 3},
        }),
    );
    let mut a = LeaderElector::new(api.client("a", NS), settings("a"));
    let mut b = LeaderElector::new(api.client("b", NS), settings("b"));
    // Held, as far as either has seen.
    assert!(!a.try_acquire_or_renew().await.unwrap());
    assert!(!b.try_acquire_or_renew().await.unwrap());
    tokio::time::sleep(LEASE).await;
    let (got_a, got_b) = tokio::join!(a.try_acquire_or_renew(), b.try_acquire_or_renew());
    let (got_a, got_b) = (got_a.unwrap(), got_b.unwrap());
    assert!(got_a != got_b, "exactly one wins: a {got_a}, b {got_b}");
    let winner = if got_a { "a" } else { "b" };
    assert_eq!(holder(&api).as_deref(), Some(winner));
    let lease = api
        .get("coordination.k8s.io", "leases", NS, "build-controller")
        .unwrap();
    assert_eq!(lease["spec"]["leaseTransitions"], 4);
    let updates: Vec<_> = api
        .recorded()
        .into_iter()
        .filter(|r| r.method == Method::PUT)
        .map(|r| (r.client, r.status))
        .collect();
    assert!(
        updates.contains(&(winner, Some(200))),
        "the winner's update: {updates:?}"
    );
    let loser = if got_a { "b" } else { "a" };
    // Both read the same resourceVersion before either wrote: the second write is stale.
    assert!(
        updates.contains(&(loser, Some(409))),
        "the loser's update is a 409 Conflict: {updates:?}"
    );
}
