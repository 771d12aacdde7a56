//! `/metrics`, `/healthz` and `/readyz` over real HTTP on a loopback port, `/metrics` read by a
//! strict parser of the OpenMetrics text format (the format Prometheus scrapes), and the
//! reconcile's tracing span.

use crate::support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use build_controller::Error;
use build_controller::ops::http::{Endpoints, Health, serve};
use build_controller::ops::metrics::{Leading, METRICS_CONTENT_TYPE, Telemetry};
use build_controller::stores::CachedBuild;
use build_types::{Build, BuildStatus, Reason};
use kube::runtime::reflector::ObjectRef;
use serde_json::{Value, json};
use support::fake_api::FakeApi;
use support::fixtures::{Caches, Scenario, cluster_wide_config, from, simple_build, to_json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

// ---------------------------------------------------------------------------------------------
// A strict parser of the OpenMetrics text format, for what the controller exposes: HELP, TYPE
// and UNIT metadata, samples without timestamps or exemplars, and the final `# EOF`.

#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

#[derive(Debug, Default)]
struct MetricFamily {
    type_: String,
    help: Option<String>,
    unit: Option<String>,
    samples: Vec<Sample>,
}

type Exposition = BTreeMap<String, MetricFamily>;

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn parse_value(text: &str) -> Result<f64, String> {
    match text {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => text.parse().map_err(|e| format!("value {text:?}: {e}")),
    }
}

/// `{a="x",b="y"}` at the start of `text`: the labels and the rest after `}`.
fn parse_labels(text: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut labels = BTreeMap::new();
    let mut rest = text.strip_prefix('{').ok_or("expected {")?;
    if let Some(after) = rest.strip_prefix('}') {
        return Ok((labels, after));
    }
    loop {
        let (name, after) = rest.split_once("=\"").ok_or("expected label=\"")?;
        if !is_label_name(name) {
            return Err(format!("bad label name {name:?}"));
        }
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    other => return Err(format!("bad escape {other:?}")),
                },
                Some((i, '"')) => break i,
                Some((_, c)) => value.push(c),
                None => return Err("unterminated label value".into()),
            }
        };
        if labels.insert(name.to_owned(), value).is_some() {
            return Err(format!("label {name} twice"));
        }
        rest = &after[end + 1..];
        if let Some(after) = rest.strip_prefix(',') {
            rest = after;
        } else if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        } else {
            return Err(format!("expected , or }} at {rest:?}"));
        }
    }
}

/// The suffixes a sample of a family of `type_` may add to the family's name.
fn suffixes(type_: &str) -> &'static [&'static str] {
    match type_ {
        "counter" => &["_total", "_created"],
        "histogram" => &["_bucket", "_count", "_sum", "_created"],
        "gauge" | "unknown" | "stateset" => &[""],
        "info" => &["_info"],
        _ => &[],
    }
}

fn parse(text: &str) -> Result<Exposition, String> {
    let mut families = Exposition::new();
    let mut current: Option<String> = None;
    let mut closed: Vec<String> = Vec::new();
    let body = text
        .strip_suffix("# EOF\n")
        .ok_or("the exposition must end with `# EOF` and a newline")?;
    for (number, line) in body.lines().enumerate() {
        let at = |e: String| format!("line {}: {e}: {line:?}", number + 1);
        if let Some(meta) = line.strip_prefix("# ") {
            let mut parts = meta.splitn(3, ' ');
            let (keyword, name) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let rest = parts.next().unwrap_or("");
            if !is_metric_name(name) {
                return Err(at(format!("bad metric name {name:?}")));
            }
            if current.as_deref() != Some(name) {
                if let Some(previous) = current.take() {
                    closed.push(previous);
                }
                if closed.iter().any(|c| c == name) {
                    return Err(at(format!("family {name} is split")));
                }
                current = Some(name.to_owned());
            }
            let family = families.entry(name.to_owned()).or_default();
            if !family.samples.is_empty() {
                return Err(at("metadata after samples".into()));
            }
            match keyword {
                "HELP" if family.help.is_none() => family.help = Some(rest.to_owned()),
                "TYPE" if family.type_.is_empty() => {
                    if suffixes(rest).is_empty() {
                        return Err(at(format!("unknown type {rest:?}")));
                    }
                    family.type_ = rest.to_owned();
                }
                "UNIT" if family.unit.is_none() => {
                    if !name.ends_with(&format!("_{rest}")) {
                        return Err(at(format!("name does not end with its unit {rest:?}")));
                    }
                    family.unit = Some(rest.to_owned());
                }
                _ => return Err(at(format!("unexpected or repeated {keyword:?}"))),
            }
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            return Err(at("not a metadata line or sample".into()));
        }
        let name_end = line.find(['{', ' ']).ok_or_else(|| at("no value".into()))?;
        let name = &line[..name_end];
        let (labels, rest) = if line[name_end..].starts_with('{') {
            parse_labels(&line[name_end..]).map_err(at)?
        } else {
            (BTreeMap::new(), &line[name_end..])
        };
        let value = rest
            .strip_prefix(' ')
            .ok_or_else(|| at("expected one space before the value".into()))?;
        if value.contains(' ') {
            return Err(at("timestamps and exemplars are not expected".into()));
        }
        let value = parse_value(value).map_err(at)?;
        let family_name = current
            .clone()
            .ok_or_else(|| at("sample before any TYPE".into()))?;
        let family = families.get_mut(&family_name).unwrap();
        let suffix = name
            .strip_prefix(family_name.as_str())
            .ok_or_else(|| at(format!("sample outside its family {family_name}")))?;
        if !suffixes(&family.type_).contains(&suffix) {
            return Err(at(format!(
                "suffix {suffix:?} not allowed for a {}",
                family.type_
            )));
        }
        family.samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    for (name, family) in &families {
        if family.type_.is_empty() {
            return Err(format!("{name}: no TYPE"));
        }
        if family.type_ == "histogram" {
            check_histogram(name, family)?;
        }
    }
    Ok(families)
}

/// Buckets ascending up to `+Inf`, cumulative, and `_count` equal to the `+Inf` bucket, for
/// every label set.
fn check_histogram(name: &str, family: &MetricFamily) -> Result<(), String> {
    let mut series: BTreeMap<Vec<(String, String)>, Vec<&Sample>> = BTreeMap::new();
    for sample in &family.samples {
        let key = sample
            .labels
            .iter()
            .filter(|(k, _)| *k != "le")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        series.entry(key).or_default().push(sample);
    }
    for (labels, samples) in series {
        let buckets: Vec<(f64, f64)> = samples
            .iter()
            .filter(|s| s.name.ends_with("_bucket"))
            .map(|s| {
                let le = s
                    .labels
                    .get("le")
                    .ok_or(format!("{name}: bucket without le"))?;
                Ok((parse_value(le)?, s.value))
            })
            .collect::<Result<_, String>>()?;
        let count = samples
            .iter()
            .find(|s| s.name.ends_with("_count"))
            .ok_or(format!("{name} {labels:?}: no _count"))?;
        if !samples.iter().any(|s| s.name.ends_with("_sum")) {
            return Err(format!("{name} {labels:?}: no _sum"));
        }
        if buckets.last().map(|b| b.0) != Some(f64::INFINITY) {
            return Err(format!("{name} {labels:?}: no +Inf bucket"));
        }
        for pair in buckets.windows(2) {
            if pair[0].0 >= pair[1].0 || pair[0].1 > pair[1].1 {
                return Err(format!(
                    "{name} {labels:?}: buckets not cumulative: {pair:?}"
                ));
            }
        }
        if buckets.last().map(|b| b.1) != Some(count.value) {
            return Err(format!("{name} {labels:?}: _count differs from +Inf"));
        }
    }
    Ok(())
}

#[test]
fn the_parser_rejects_what_prometheus_would() {
    let ok = "# TYPE a counter\na_total 1\n# EOF\n";
    assert!(parse(ok).is_ok());
    for bad in [
        "# TYPE a counter\na_total 1\n",       // no EOF
        "a_total 1\n# EOF\n",                  // no TYPE
        "# TYPE a counter\na 1\n# EOF\n",      // counter without _total
        "# TYPE a gauge\na{x=\"1} 1\n# EOF\n", // unterminated label
        "# TYPE a gauge\na one\n# EOF\n",      // not a number
        "# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\n# TYPE a gauge\n# EOF\n", // split family
        "# TYPE a_seconds histogram\n# UNIT a_seconds seconds\na_seconds_bucket{le=\"1\"} 2\na_seconds_bucket{le=\"+Inf\"} 1\na_seconds_count 1\na_seconds_sum 1\n# EOF\n",
        "# TYPE a histogram\na_bucket{le=\"1\"} 1\na_count 1\na_sum 1\n# EOF\n", // no +Inf
        "# TYPE a_bytes gauge\n# UNIT a_bytes seconds\na_bytes 1\n# EOF\n",
    ] {
        assert!(parse(bad).is_err(), "accepted {bad:?}");
    }
}

// ---------------------------------------------------------------------------------------------

/// A GET (or other `method`) over a fresh connection: status, content type and body.
async fn request(address: SocketAddr, method: &str, path: &str) -> (u16, String, String) {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8(response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let content_type = lines
        .filter_map(|l| l.split_once(": "))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.to_owned())
        .unwrap_or_default();
    (status, content_type, body.to_owned())
}

async fn start_server(telemetry: Telemetry, health: Health) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let endpoints = Endpoints { telemetry, health };
    tokio::spawn(serve(listener, endpoints, std::future::pending()));
    address
}

fn build(name: &str, status: Value) -> Build {
    let mut build = json!({
        "apiVersion": "build.knative.dev/v1alpha1", "kind": "Build",
        "metadata": {"name": name, "namespace": "team-secret-ns", "uid": format!("uid-{name}"),
                     "creationTimestamp": "2024-01-01T00:00:00Z"},
        "spec": {"steps": [{"name": "s", "image": "busybox"}]},
    });
    if !status.is_null() {
        build["status"] = status;
    }
    serde_json::from_value(build).unwrap()
}

fn status(condition: &str, reason: &str) -> BuildStatus {
    serde_json::from_value(json!({
        "cluster": {"namespace": "team-secret-ns", "podName": "p"},
        "startTime": "2024-01-01T00:00:10Z",
        "completionTime": "2024-01-01T00:01:10Z",
        "conditions": [{"type": "Succeeded", "status": condition, "reason": reason}],
    }))
    .unwrap()
}

fn family<'a>(exposition: &'a Exposition, name: &str, type_: &str) -> &'a MetricFamily {
    let family = exposition
        .get(name)
        .unwrap_or_else(|| panic!("no metric {name}; have {:?}", exposition.keys()));
    assert_eq!(family.type_, type_, "{name}");
    assert!(
        family.help.as_deref().is_some_and(|h| !h.is_empty()),
        "{name} has no HELP"
    );
    family
}

fn value(family: &MetricFamily, name: &str, labels: &[(&str, &str)]) -> f64 {
    let labels: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    family
        .samples
        .iter()
        .find(|s| s.name == name && s.labels == labels)
        .unwrap_or_else(|| panic!("no sample {name} {labels:?} in {:#?}", family.samples))
        .value
}

#[tokio::test]
async fn metrics_has_every_metric_in_the_openmetrics_text_format() {
    let telemetry = Telemetry::new();
    // One reconcile that failed, one running Build, one that succeeded, one that failed for a
    // reason outside the fixed set.
    {
        let _reconcile = telemetry.reconcile_started(&ObjectRef::new("b").within("ns"));
        telemetry.reconcile_failed(&Error::MissingMetadata { field: "uid" });
    }
    let created: k8s_openapi::jiff::Timestamp = "2024-01-01T00:00:02Z".parse().unwrap();
    telemetry.pod_created(&build("xyzzy-first", Value::Null), created);
    telemetry.build_finished(&status("True", "Succeeded"));
    telemetry.build_finished(&status("False", "my-build-4711 broke"));
    telemetry.build_finished(&status("Unknown", "Building"));
    let running = build(
        "xyzzy-running",
        json!({"cluster": {"namespace": "team-secret-ns", "podName": "p"},
               "conditions": [{"type": "Succeeded", "status": "Unknown", "reason": "Building"}]}),
    );
    let done = build(
        "done",
        serde_json::to_value(status("True", "Succeeded")).unwrap(),
    );
    let builds = Caches::new()
        .with(running)
        .with(done)
        .with(build("new", Value::Null));
    telemetry.observe_builds(builds.stores().builds);
    telemetry.set_leader(Leading::Yes);

    let address = start_server(telemetry.clone(), Health::default()).await;
    let (code, content_type, body) = request(address, "GET", "/metrics").await;
    assert_eq!(code, 200);
    assert_eq!(content_type, METRICS_CONTENT_TYPE);
    let exposition = parse(&body).unwrap_or_else(|e| panic!("{e}\n{body}"));

    let p = "build_controller_";
    let started = family(&exposition, &format!("{p}builds_started"), "counter");
    assert_eq!(
        value(started, &format!("{p}builds_started_total"), &[]),
        1.0
    );

    let finished = family(&exposition, &format!("{p}builds_finished"), "counter");
    let total = format!("{p}builds_finished_total");
    assert_eq!(
        value(
            finished,
            &total,
            &[("outcome", "succeeded"), ("reason", "Succeeded")]
        ),
        1.0
    );
    assert_eq!(
        value(
            finished,
            &total,
            &[("outcome", "failed"), ("reason", "Other")]
        ),
        1.0
    );
    assert_eq!(finished.samples.len(), 2, "{:#?}", finished.samples);

    let duration = family(
        &exposition,
        &format!("{p}build_duration_seconds"),
        "histogram",
    );
    assert_eq!(duration.unit.as_deref(), Some("seconds"));
    let count = format!("{p}build_duration_seconds_count");
    let sum = format!("{p}build_duration_seconds_sum");
    assert_eq!(value(duration, &count, &[("outcome", "succeeded")]), 1.0);
    assert_eq!(value(duration, &sum, &[("outcome", "failed")]), 60.0);

    let delay = family(
        &exposition,
        &format!("{p}pod_creation_delay_seconds"),
        "histogram",
    );
    assert_eq!(
        value(delay, &format!("{p}pod_creation_delay_seconds_sum"), &[]),
        2.0
    );

    let reconciles = family(
        &exposition,
        &format!("{p}reconcile_duration_seconds"),
        "histogram",
    );
    assert_eq!(
        value(
            reconciles,
            &format!("{p}reconcile_duration_seconds_count"),
            &[]
        ),
        1.0
    );
    let errors = family(&exposition, &format!("{p}reconcile_errors"), "counter");
    assert_eq!(
        value(
            errors,
            &format!("{p}reconcile_errors_total"),
            &[("kind", "missing_metadata")]
        ),
        1.0
    );

    for (name, expected) in [
        ("builds_running", 1.0),
        ("work_queue_depth", 0.0),
        ("reconciles_running", 0.0),
        ("leader", 1.0),
    ] {
        let name = format!("{p}{name}");
        assert_eq!(
            value(family(&exposition, &name, "gauge"), &name, &[]),
            expected
        );
    }

    // No Build or namespace names anywhere.
    for secret in ["xyzzy", "team-secret-ns", "4711"] {
        assert!(!body.contains(secret), "{secret:?} in\n{body}");
    }
}

#[tokio::test]
async fn reason_labels_stay_within_a_fixed_set() {
    let telemetry = Telemetry::new();
    for i in 0..500 {
        telemetry.build_finished(&status("False", &format!("Reason{i}")));
    }
    for reason in Reason::ALL.iter().filter(|r| r.is_terminal()) {
        telemetry.build_finished(&status("False", reason.as_str()));
        telemetry.build_finished(&status("True", reason.as_str()));
    }
    let exposition = parse(&telemetry.encode()).unwrap();
    let finished = family(&exposition, "build_controller_builds_finished", "counter");
    let bound = 2 * (Reason::ALL.len() + 1);
    assert!(
        finished.samples.len() <= bound,
        "{}",
        finished.samples.len()
    );
    assert_eq!(
        value(
            finished,
            "build_controller_builds_finished_total",
            &[("outcome", "failed"), ("reason", "Other")]
        ),
        500.0
    );
}

#[tokio::test]
async fn healthz_and_readyz() {
    let health = Health::default();
    let address = start_server(Telemetry::new(), health.clone()).await;
    let status = async |path: &str| request(address, "GET", path).await.0;
    assert_eq!(status("/healthz").await, 200);
    assert_eq!(status("/readyz").await, 503, "starting");
    health.standby();
    assert_eq!(status("/readyz").await, 200, "standing by");
    health.leading();
    assert_eq!(status("/readyz").await, 503, "leading, caches not synced");
    health.caches_synced();
    assert_eq!(status("/readyz").await, 200, "leading, caches synced");
    assert_eq!(status("/").await, 404);
    assert_eq!(request(address, "POST", "/metrics").await.0, 405);
    assert_eq!(request(address, "HEAD", "/metrics").await.0, 200);
}

// ---------------------------------------------------------------------------------------------
// The reconcile's span, with the Build's namespace and name.

/// A span's name and its fields.
type SpanRecord = (String, BTreeMap<String, String>);

#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<SpanRecord>>>);

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Spans {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _id: &tracing::span::Id,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut fields = BTreeMap::new();
        attrs.record(&mut Fields(&mut fields));
        self.0
            .lock()
            .unwrap()
            .push((attrs.metadata().name().to_owned(), fields));
    }
}

#[tokio::test]
async fn every_reconcile_has_a_span_with_the_builds_namespace_and_name() {
    use tracing_subscriber::layer::SubscriberExt;
    let spans = Spans::default();
    let _default =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(spans.clone()));

    // A settled Build: the reconcile returns without a request.
    let mut settled = status("True", "Succeeded");
    settled.settled = true;
    let done = build("done", serde_json::to_value(settled).unwrap());
    let scenario = Scenario::of(done);
    let (build, ctx) = (
        Arc::new(CachedBuild::from(scenario.build.clone())),
        Arc::new(scenario.context()),
    );
    // Another test of this binary, on another thread with no subscriber, may register the
    // `reconcile` span's callsite while this subscriber is being set, and tracing can then keep
    // it cached as disabled. Ask the callsites again and reconcile again (a settled Build
    // makes no request) until the span is seen, at most three times.
    for _ in 0..3 {
        tracing::callsite::rebuild_interest_cache();
        build_controller::reconcile::reconcile(build.clone(), ctx.clone())
            .await
            .unwrap();
        if !spans.0.lock().unwrap().is_empty() {
            break;
        }
    }
    let spans = spans.0.lock().unwrap().clone();
    let reconcile = spans
        .iter()
        .find(|(name, _)| name == "reconcile")
        .unwrap_or_else(|| panic!("no reconcile span in {spans:?}"));
    assert_eq!(
        reconcile.1.get("namespace").map(String::as_str),
        Some("team-secret-ns")
    );
    assert_eq!(reconcile.1.get("name").map(String::as_str), Some("done"));
    assert!(scenario.api.recorded().is_empty());
}

// ---------------------------------------------------------------------------------------------
// The controller records into the metrics and the readiness it is given.

fn sample(exposition: &Exposition, name: &str, labels: &[(&str, &str)]) -> f64 {
    let family_name = name
        .strip_suffix("_total")
        .or_else(|| name.strip_suffix("_count"))
        .or_else(|| name.strip_suffix("_sum"))
        .unwrap_or(name);
    let family = exposition
        .get(family_name)
        .unwrap_or_else(|| panic!("no {family_name}"));
    value(family, name, labels)
}

#[tokio::test]
async fn the_running_controller_records_starts_and_becomes_ready() {
    let api = FakeApi::default();
    api.insert("builds", to_json(&simple_build()));
    let config = cluster_wide_config();
    let endpoints = Endpoints {
        telemetry: Telemetry::new(),
        health: Health::default(),
    };
    let watching = api.clone();
    let ready = endpoints.health.clone();
    let shutdown = async move {
        watching
            .until(|requests| {
                requests.iter().any(|r| r.is("patch", "builds/status")) && ready.is_ready()
            })
            .await;
    };
    tokio::time::timeout(
        std::time::Duration::from_secs(60),
        build_controller::ops::run_observed(
            api.client("controller", "default"),
            config,
            endpoints.clone(),
            shutdown,
        ),
    )
    .await
    .expect("the controller starts the Build within a minute")
    .expect("the controller runs");
    assert!(endpoints.health.is_ready());
    let telemetry = &endpoints.telemetry;
    assert_eq!(metric(telemetry, "builds_started_total"), 1.0);
    assert_eq!(metric(telemetry, "pod_creation_delay_seconds_count"), 1.0);
    assert!(metric(telemetry, "reconcile_duration_seconds_count") >= 1.0);
    assert_eq!(metric(telemetry, "reconciles_running"), 0.0);
    assert_eq!(metric(telemetry, "work_queue_depth"), 0.0);
}

// With one worker, the other Builds due wait in kube-runtime's scheduler (never as spawned
// reconciles), and `work_queue_depth` counts them.
#[tokio::test(start_paused = true)]
async fn builds_waiting_for_the_one_worker_are_the_work_queue_depth() {
    let api = FakeApi::default();
    for (name, uid) in [("a", "uid-a"), ("b", "uid-b"), ("c", "uid-c")] {
        let mut build = simple_build();
        build.metadata.name = Some(name.into());
        build.metadata.uid = Some(uid.into());
        api.insert("builds", to_json(&build));
    }
    // The first pod create never gets an answer: its reconcile holds the one worker.
    api.hang(http::Method::POST, "/api/v1/namespaces/ns/pods");
    let mut config = cluster_wide_config();
    config.concurrency = 1;
    let endpoints = Endpoints {
        telemetry: Telemetry::new(),
        health: Health::default(),
    };
    let running = tokio::spawn(build_controller::ops::run_observed(
        api.client("controller", "default"),
        config,
        endpoints.clone(),
        std::future::pending(),
    ));
    api.until(|requests| requests.iter().any(|r| r.is("create", "pods")))
        .await;
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    let creates = api
        .recorded()
        .iter()
        .filter(|r| r.is("create", "pods"))
        .count();
    assert_eq!(creates, 1, "one worker, one reconcile at a time");
    let exposition = parse(&endpoints.telemetry.encode()).unwrap();
    let p = "build_controller_";
    assert_eq!(
        sample(&exposition, &format!("{p}work_queue_depth"), &[]),
        2.0
    );
    assert_eq!(
        sample(&exposition, &format!("{p}reconciles_running"), &[]),
        1.0
    );
    running.abort();
}

/// A controller over a fake API server with watch news, once it has started one Build (its
/// pod created and status patched); the controller's task is aborted when dropped.
struct StartedWithNews {
    api: FakeApi,
    endpoints: Endpoints,
    build: Build,
    running: tokio::task::JoinHandle<Result<(), Error>>,
}

impl StartedWithNews {
    async fn start() -> Self {
        let api = FakeApi::default().with_watch_news();
        let build = simple_build();
        api.insert("builds", to_json(&build));
        let endpoints = Endpoints {
            telemetry: Telemetry::new(),
            health: Health::default(),
        };
        let running = tokio::spawn(build_controller::ops::run_observed(
            api.client("controller", "default"),
            cluster_wide_config(),
            endpoints.clone(),
            std::future::pending(),
        ));
        api.until(|requests| requests.iter().any(|r| r.is("patch", "builds/status")))
            .await;
        StartedWithNews {
            api,
            endpoints,
            build,
            running,
        }
    }

    fn stored(&self) -> Value {
        let name = self.build.metadata.name.as_deref().unwrap();
        self.api
            .get("build.knative.dev", "builds", support::fixtures::NS, name)
            .expect("stored")
    }
}

impl Drop for StartedWithNews {
    fn drop(&mut self) {
        self.running.abort();
    }
}

// Starting a Build makes two writes whose watch events come back: the pod create's and the
// status patch's. Neither wakes another reconcile: the one that made them saw what they hold.
#[tokio::test(start_paused = true)]
async fn the_echoes_of_a_starts_own_writes_wake_no_reconcile() {
    let started = StartedWithNews::start().await;
    // Both echoes are delivered: the watches were answered with them and watch again.
    started
        .api
        .until(|requests| {
            let answered = |resource: &str| {
                requests
                    .iter()
                    .filter(|r| r.route().is_some_and(|q| q.verb == "watch"))
                    .filter(|r| r.uri.path().ends_with(resource))
                    .count()
                    >= 2
            };
            answered("/pods") && answered("/builds")
        })
        .await;
    // Time for any reconcile they woke to run.
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    let telemetry = &started.endpoints.telemetry;
    assert_eq!(metric(telemetry, "builds_started_total"), 1.0);
    assert_eq!(
        metric(telemetry, "reconcile_duration_seconds_count"),
        1.0,
        "one reconcile: neither echo woke another"
    );
    assert_eq!(metric(telemetry, "work_queue_depth"), 0.0);
}

/// The value of the unlabelled sample `build_controller_{name}` that `telemetry` exposes now.
fn metric(telemetry: &Telemetry, name: &str) -> f64 {
    let exposition = parse(&telemetry.encode()).unwrap();
    sample(&exposition, &format!("build_controller_{name}"), &[])
}

// With news, a status written by someone else (not an echo) still wakes a reconcile, which
// puts the status back as the pod shows it.
#[tokio::test(start_paused = true)]
async fn a_status_changed_by_someone_else_wakes_a_reconcile() {
    let started = StartedWithNews::start().await;
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    let mut stored = started.stored();
    stored["status"] = json!({});
    started.api.put("builds", stored);
    let rewritten = started.api.until(|requests| {
        requests
            .iter()
            .filter(|r| r.is("patch", "builds/status"))
            .count()
            >= 2
    });
    tokio::time::timeout(std::time::Duration::from_secs(60), rewritten)
        .await
        .expect("the rewritten status wakes a reconcile that patches it back");
    let restored = started.stored();
    assert!(
        restored["status"]["cluster"]["podName"].is_string(),
        "{restored:#}"
    );
}

#[tokio::test]
async fn a_reconcile_that_sees_the_pod_succeed_records_the_finish() {
    let hello = build(
        "hello",
        json!({"cluster": {"namespace": "team-secret-ns", "podName": "p"},
               "startTime": "2024-01-01T00:00:10Z",
               "conditions": [{"type": "Succeeded", "status": "Unknown", "reason": "Building"}]}),
    );
    let scenario = Scenario::of(hello).at(|| "2024-01-01T00:02:00Z".parse().unwrap());
    let stored = scenario.build.clone();
    let pod_name = build_pod::pod_name(&stored);
    let pod: k8s_openapi::api::core::v1::Pod = from(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": pod_name, "namespace": "team-secret-ns", "uid": "pod-uid",
            "creationTimestamp": "2024-01-01T00:00:10Z",
            "ownerReferences": [{"apiVersion": "build.knative.dev/v1alpha1", "kind": "Build",
                                 "name": "hello", "uid": "uid-hello", "controller": true}],
        },
        "spec": {"containers": [{"name": "nop", "image": "n"}]},
        "status": {"phase": "Succeeded", "startTime": "2024-01-01T00:00:10Z",
                   "containerStatuses": [{"name": "nop", "image": "n", "imageID": "", "ready": false,
                                          "restartCount": 0, "state": {"terminated": {
                                              "exitCode": 0,
                                              "startedAt": "2024-01-01T00:00:20Z",
                                              "finishedAt": "2024-01-01T00:01:10Z"}}}]},
    }));
    let scenario = scenario.with(pod);
    let telemetry = Telemetry::new();
    let ctx = scenario.context().with_telemetry(telemetry.clone());
    build_controller::reconcile::reconcile(Arc::new(stored.into()), Arc::new(ctx))
        .await
        .unwrap();
    let exposition = parse(&telemetry.encode()).unwrap();
    let p = "build_controller_";
    assert_eq!(
        sample(
            &exposition,
            &format!("{p}builds_finished_total"),
            &[("outcome", "succeeded"), ("reason", "Succeeded")]
        ),
        1.0
    );
    assert_eq!(
        sample(
            &exposition,
            &format!("{p}build_duration_seconds_sum"),
            &[("outcome", "succeeded")]
        ),
        60.0
    );
}

/// `creationTimestamp` has whole seconds only: a Build created at 00:00:00.9 shows 00:00:00.
/// Measured from when the watch delivered it, a pod created 100 ms later counts 0.1 s, not 1.1 s.
/// A Build first seen long after its creation (the controller was down) counts from its
/// creation.
#[test]
fn pod_creation_delay_runs_from_the_first_sighting() {
    let at = |t: &str| -> k8s_openapi::jiff::Timestamp { t.parse().unwrap() };
    let telemetry = Telemetry::new();
    let fresh = build("fresh", Value::Null);
    let seen = CachedBuild::from(fresh.clone());
    telemetry.build_seen(&seen, at("2024-01-01T00:00:00.9Z"));
    telemetry.build_seen(&seen, at("2024-01-01T00:00:00.95Z"));
    telemetry.pod_created(&fresh, at("2024-01-01T00:00:01Z"));
    let late = build("late", Value::Null);
    telemetry.build_seen(&CachedBuild::from(late.clone()), at("2024-01-01T00:00:30Z"));
    telemetry.pod_created(&late, at("2024-01-01T00:00:31Z"));

    let exposition = parse(&telemetry.encode()).unwrap();
    let p = "build_controller_";
    let delay = family(
        &exposition,
        &format!("{p}pod_creation_delay_seconds"),
        "histogram",
    );
    let sum = value(delay, &format!("{p}pod_creation_delay_seconds_sum"), &[]);
    assert!((sum - 31.1).abs() < 1e-9, "sum of delays {sum}");
}
