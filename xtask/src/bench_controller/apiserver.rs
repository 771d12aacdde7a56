//! What the API server served, from its own `/metrics`: the requests of a relist (LISTs and
//! WATCHes of Builds and pods) and the bytes of its LIST answers, so a restart's load on the
//! server is measured by the server, whatever controller made it. And the relist's floor: the
//! same LISTs made by the benchmark, timed, which no controller can list faster.

use std::time::{Duration, Instant};

use anyhow::Context;
use build_controller::{RUNNING_PODS, UNSETTLED_BUILDS};
use build_types::Build;
use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::core::Request;
use kube::{Client, Resource};

/// The resources a controller's relist reads: Builds and pods.
const RELISTED: [&str; 2] = ["builds", "pods"];

/// Counters of the API server's requests for Builds and pods at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Served {
    /// LIST requests answered.
    pub(crate) lists: f64,
    /// Bytes of those LIST answers (`apiserver_response_sizes_sum`).
    pub(crate) list_bytes: f64,
    /// WATCH requests started.
    pub(crate) watches: f64,
}

impl Served {
    /// What was served between `before` and `self`.
    pub(crate) fn since(self, before: Served) -> Served {
        Served {
            lists: self.lists - before.lists,
            list_bytes: self.list_bytes - before.list_bytes,
            watches: self.watches - before.watches,
        }
    }
}

/// The API server's counters now (`GET /metrics`; the benchmark's credentials must allow it, as
/// an envtest admin's do).
pub(crate) async fn served(client: &Client) -> anyhow::Result<Served> {
    Ok(parse(&metrics(client).await?))
}

/// How many creates of one resource the API server answered, and how many of them it took
/// more than 100 ms over (its own `apiserver_request_duration_seconds`, whose bucket bounds
/// include 0.1 s).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Slow {
    /// Creates answered.
    pub(crate) creates: f64,
    /// Of those, the ones that took the server more than 100 ms.
    pub(crate) over_100ms: f64,
}

impl Slow {
    /// The share of creates over 100 ms, 0 when there were none.
    pub(crate) fn share(self) -> f64 {
        if self.creates > 0.0 {
            self.over_100ms / self.creates
        } else {
            0.0
        }
    }
}

/// The API server's own timing of Build and pod creates.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Creates {
    /// Build creates.
    pub(crate) builds: Slow,
    /// Pod creates.
    pub(crate) pods: Slow,
}

impl Creates {
    /// What was served between `before` and `self`.
    pub(crate) fn since(self, before: Creates) -> Creates {
        let since = |now: Slow, then: Slow| Slow {
            creates: now.creates - then.creates,
            over_100ms: now.over_100ms - then.over_100ms,
        };
        Creates {
            builds: since(self.builds, before.builds),
            pods: since(self.pods, before.pods),
        }
    }
}

/// The API server's create timings now (`GET /metrics`, as [`served`]).
pub(crate) async fn creates(client: &Client) -> anyhow::Result<Creates> {
    Ok(parse_creates(&metrics(client).await?))
}

/// The API server's `/metrics` text.
async fn metrics(client: &Client) -> anyhow::Result<String> {
    let request = http::Request::get("/metrics")
        .body(Vec::new())
        .context("a /metrics request")?;
    client
        .request_text(request)
        .await
        .context("reading the API server's /metrics")
}

/// How long the API server takes to answer a relist's LISTs, made by the benchmark itself.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct ListFloor {
    /// The Builds, then the build pods, with the controller's selectors (the Builds not
    /// settled, the pods not ended: [`UNSETTLED_BUILDS`], [`RUNNING_PODS`]), paged by 500 with no
    /// `resourceVersion` (consistent reads, as kube's watcher lists): one after the other, as
    /// the controller lists them.
    pub(crate) builds: Duration,
    /// The pods of that relist.
    pub(crate) pods: Duration,
    /// Both again without the field selectors, paged the same way: every Build and every build
    /// pod, what a controller that watches them all (Knative Build's, or this one before the
    /// ninth round) lists.
    pub(crate) unselected: Duration,
}

/// Times the LISTs a relist of `namespace` makes (see [`ListFloor`]). The answers are read
/// whole and not decoded but for their `continue` token.
pub(crate) async fn list_floor(client: &Client, namespace: &str) -> anyhow::Result<ListFloor> {
    let builds = Request::new(Build::url_path(&(), Some(namespace)));
    let pods = Request::new(Pod::url_path(&(), Some(namespace)));
    let pod_params = ListParams::default().labels(build_pod::BUILD_NAME_LABEL);
    let started = Instant::now();
    let unsettled = ListParams::default().fields(UNSETTLED_BUILDS);
    list_pages(client, &builds, unsettled).await?;
    let builds_took = started.elapsed();
    let started = Instant::now();
    list_pages(client, &pods, pod_params.clone().fields(RUNNING_PODS)).await?;
    let pods_took = started.elapsed();
    let started = Instant::now();
    list_pages(client, &builds, ListParams::default()).await?;
    list_pages(client, &pods, pod_params).await?;
    Ok(ListFloor {
        builds: builds_took,
        pods: pods_took,
        unselected: started.elapsed(),
    })
}

/// Lists page by page, 500 a page, as kube's watcher does; returns the list's
/// `resourceVersion`, from which a watch goes on.
pub(crate) async fn list_pages(
    client: &Client,
    request: &Request,
    params: ListParams,
) -> anyhow::Result<String> {
    let mut params = params.limit(500);
    loop {
        let page = list(client, request, &params).await?;
        match page.token.filter(|token| !token.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => {
                return page.version.with_context(|| {
                    format!("the list of {} gave no resourceVersion", request.url_path)
                });
            }
        }
    }
}

/// A list's `metadata`: its `continue` token and `resourceVersion`.
#[derive(serde::Deserialize)]
struct PageMeta {
    #[serde(rename = "continue", default)]
    token: Option<String>,
    #[serde(rename = "resourceVersion", default)]
    version: Option<String>,
}

/// One LIST page's `metadata`.
async fn list(client: &Client, request: &Request, params: &ListParams) -> anyhow::Result<PageMeta> {
    #[derive(serde::Deserialize)]
    struct Page {
        metadata: PageMeta,
    }
    let path = &request.url_path;
    let http = request
        .list(params)
        .with_context(|| format!("a LIST request of {path}"))?;
    let text = client
        .request_text(http)
        .await
        .with_context(|| format!("listing {path}"))?;
    let page: Page = serde_json::from_str(&text).with_context(|| format!("the list of {path}"))?;
    Ok(page.metadata)
}

/// Sums the Build and pod LIST and WATCH counters of Prometheus text.
fn parse(text: &str) -> Served {
    let mut served = Served::default();
    for line in text.lines() {
        let Some((name, labels, value)) = sample(line) else {
            continue;
        };
        let label = |key: &str| label(labels, key);
        if !label("resource").is_some_and(|r| RELISTED.contains(&r))
            || label("subresource") != Some("")
        {
            continue;
        }
        match (name, label("verb")) {
            ("apiserver_request_total", Some("LIST")) => served.lists += value,
            ("apiserver_request_total", Some("WATCH")) => served.watches += value,
            ("apiserver_response_sizes_sum", Some("LIST")) => served.list_bytes += value,
            _ => {}
        }
    }
    served
}

/// The creates (POST) of Builds and pods in Prometheus text: their count and their 100 ms
/// bucket.
fn parse_creates(text: &str) -> Creates {
    let mut creates = Creates::default();
    let mut within_100ms = Creates::default();
    for line in text.lines() {
        let Some((name, labels, value)) = sample(line) else {
            continue;
        };
        let label = |key: &str| label(labels, key);
        if label("verb") != Some("POST") || label("subresource") != Some("") {
            continue;
        }
        let (total, within) = match label("resource") {
            Some("builds") => (&mut creates.builds, &mut within_100ms.builds),
            Some("pods") => (&mut creates.pods, &mut within_100ms.pods),
            _ => continue,
        };
        match (name, label("le")) {
            ("apiserver_request_duration_seconds_count", None) => total.creates += value,
            ("apiserver_request_duration_seconds_bucket", Some("0.1")) => {
                within.creates += value;
            }
            _ => {}
        }
    }
    for (total, within) in [
        (&mut creates.builds, within_100ms.builds),
        (&mut creates.pods, within_100ms.pods),
    ] {
        total.over_100ms = total.creates - within.creates;
    }
    creates
}

/// The value of label `key` among `labels` (`k="v",…`), unquoted.
fn label<'a>(labels: &'a str, key: &str) -> Option<&'a str> {
    labels.split(',').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| v.trim_matches('"'))
    })
}

/// A sample line's name, labels (without braces) and value.
fn sample(line: &str) -> Option<(&str, &str, f64)> {
    let (name, rest) = line.split_once('{')?;
    let (labels, value) = rest.rsplit_once('}')?;
    Some((name, labels, value.trim().parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_build_and_pod_lists_and_watches() {
        let text = r#"# HELP apiserver_request_total x
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="pods",scope="namespace",subresource="",verb="LIST",version="v1"} 21
apiserver_request_total{code="200",component="apiserver",dry_run="",group="build.knative.dev",resource="builds",scope="namespace",subresource="",verb="LIST",version="v1alpha1"} 20
apiserver_request_total{code="410",component="apiserver",dry_run="",group="",resource="pods",scope="namespace",subresource="",verb="LIST",version="v1"} 1
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="pods",scope="namespace",subresource="",verb="WATCH",version="v1"} 3
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="pods",scope="namespace",subresource="status",verb="PATCH",version="v1"} 500
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="secrets",scope="namespace",subresource="",verb="LIST",version="v1"} 7
apiserver_response_sizes_sum{component="apiserver",group="",resource="pods",scope="namespace",subresource="",verb="LIST",version="v1"} 4.5e+07
apiserver_response_sizes_sum{component="apiserver",group="",resource="pods",scope="namespace",subresource="log",verb="GET",version="v1"} 99
apiserver_response_sizes_count{component="apiserver",group="",resource="pods",scope="namespace",subresource="",verb="LIST",version="v1"} 22
"#;
        let served = parse(text);
        assert_eq!(
            served,
            Served {
                lists: 42.0,
                list_bytes: 4.5e7,
                watches: 3.0
            }
        );
        let later = Served {
            lists: 50.0,
            list_bytes: 5.0e7,
            watches: 5.0,
        };
        assert_eq!(
            later.since(served),
            Served {
                lists: 8.0,
                list_bytes: 5.0e6,
                watches: 2.0
            }
        );
    }

    #[test]
    fn counts_build_and_pod_creates_over_100_ms() {
        let text = r#"apiserver_request_duration_seconds_bucket{component="apiserver",dry_run="",group="",resource="pods",scope="resource",subresource="",verb="POST",version="v1",le="0.05"} 900
apiserver_request_duration_seconds_bucket{component="apiserver",dry_run="",group="",resource="pods",scope="resource",subresource="",verb="POST",version="v1",le="0.1"} 980
apiserver_request_duration_seconds_bucket{component="apiserver",dry_run="",group="",resource="pods",scope="resource",subresource="",verb="POST",version="v1",le="+Inf"} 1000
apiserver_request_duration_seconds_count{component="apiserver",dry_run="",group="",resource="pods",scope="resource",subresource="",verb="POST",version="v1"} 1000
apiserver_request_duration_seconds_bucket{component="apiserver",dry_run="",group="",resource="pods",scope="resource",subresource="status",verb="PATCH",version="v1",le="0.1"} 3
apiserver_request_duration_seconds_count{component="apiserver",dry_run="",group="",resource="pods",scope="resource",subresource="status",verb="PATCH",version="v1"} 500
apiserver_request_duration_seconds_bucket{component="apiserver",dry_run="",group="build.knative.dev",resource="builds",scope="resource",subresource="",verb="POST",version="v1alpha1",le="0.1"} 1990
apiserver_request_duration_seconds_count{component="apiserver",dry_run="",group="build.knative.dev",resource="builds",scope="resource",subresource="",verb="POST",version="v1alpha1"} 2000
apiserver_request_duration_seconds_count{component="apiserver",dry_run="",group="",resource="events",scope="resource",subresource="",verb="POST",version="v1"} 700
"#;
        let creates = parse_creates(text);
        assert_eq!(
            creates.pods,
            Slow {
                creates: 1000.0,
                over_100ms: 20.0
            }
        );
        assert_eq!(
            creates.builds,
            Slow {
                creates: 2000.0,
                over_100ms: 10.0
            }
        );
        assert!((creates.pods.share() - 0.02).abs() < 1e-12);
        let before = Creates {
            pods: Slow {
                creates: 400.0,
                over_100ms: 5.0,
            },
            ..Creates::default()
        };
        assert_eq!(creates.since(before).pods.over_100ms, 15.0);
        assert_eq!(Slow::default().share(), 0.0);
    }
}
