//! The controller's HTTP endpoints: `/healthz` (liveness), `/readyz` (readiness) and `/metrics`
//! (Prometheus), served on `--metrics-address`.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tracing::{debug, info, warn};

use crate::ops::metrics::{METRICS_CONTENT_TYPE, Telemetry};

/// The default of `--metrics-address`.
pub const DEFAULT_METRICS_ADDRESS: &str = "0.0.0.0:9090";

const STARTING: u8 = 0;
const STANDBY: u8 = 1;
const LEADING: u8 = 2;
const SYNCED: u8 = 3;

/// Whether the controller is ready, for `/readyz`. Cheap to clone: clones share the state.
///
/// A replica is ready while it stands by for the leader Lease (it is healthy and can take
/// over; were it unready, a rolling update would wait for it forever), and once it leads and
/// its watch caches have finished their initial lists. It is not ready while it starts, nor
/// between winning the Lease and filling its caches.
///
/// ```
/// let health = build_controller::ops::http::Health::default();
/// assert!(!health.is_ready());
/// health.standby();
/// assert!(health.is_ready());
/// health.leading();
/// assert!(!health.is_ready());
/// health.caches_synced();
/// assert!(health.is_ready());
/// ```
#[derive(Clone, Debug)]
pub struct Health {
    state: Arc<AtomicU8>,
}

impl Default for Health {
    /// Starting: not ready.
    fn default() -> Self {
        Health {
            state: Arc::new(AtomicU8::new(STARTING)),
        }
    }
}

impl Health {
    /// Waiting for the leader Lease: ready.
    pub fn standby(&self) {
        self.state.store(STANDBY, Ordering::SeqCst);
    }

    /// Leading (or running without leader election), caches not filled yet: not ready.
    pub fn leading(&self) {
        self.state.store(LEADING, Ordering::SeqCst);
    }

    /// Leading with every watch cache filled: ready.
    pub fn caches_synced(&self) {
        self.state.store(SYNCED, Ordering::SeqCst);
    }

    /// Whether `/readyz` answers 200.
    pub fn is_ready(&self) -> bool {
        matches!(self.state.load(Ordering::SeqCst), STANDBY | SYNCED)
    }
}

/// What the endpoints read.
#[derive(Clone, Debug)]
pub struct Endpoints {
    /// For `/metrics`.
    pub telemetry: Telemetry,
    /// For `/readyz`.
    pub health: Health,
}

impl Endpoints {
    /// The answer to one request: `GET` (or `HEAD`) of `/healthz`, `/readyz` or `/metrics`;
    /// 404 for other paths, 405 for other methods.
    ///
    /// ```
    /// # use build_controller::ops::http::{Endpoints, Health};
    /// # use build_controller::ops::metrics::Telemetry;
    /// let endpoints = Endpoints { telemetry: Telemetry::new(), health: Health::default() };
    /// let get = |path: &str| http::Request::get(path).body(()).unwrap();
    /// assert_eq!(endpoints.respond(&get("/healthz")).status(), 200);
    /// assert_eq!(endpoints.respond(&get("/readyz")).status(), 503);
    /// assert_eq!(endpoints.respond(&get("/nope")).status(), 404);
    /// ```
    pub fn respond<B>(&self, request: &Request<B>) -> Response<Full<Bytes>> {
        if !matches!(*request.method(), Method::GET | Method::HEAD) {
            return Response::builder()
                .status(StatusCode::METHOD_NOT_ALLOWED)
                .header(header::ALLOW, "GET, HEAD")
                .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
                .body(Full::new(Bytes::from_static(b"method not allowed\n")))
                .unwrap_or_default();
        }
        let (status, content_type, body) = match request.uri().path() {
            "/healthz" => (StatusCode::OK, "text/plain; charset=utf-8", "ok\n".into()),
            "/readyz" if self.health.is_ready() => {
                (StatusCode::OK, "text/plain; charset=utf-8", "ok\n".into())
            }
            "/readyz" => (
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain; charset=utf-8",
                "not ready\n".into(),
            ),
            "/metrics" => (
                StatusCode::OK,
                METRICS_CONTENT_TYPE,
                self.telemetry.encode(),
            ),
            _ => (
                StatusCode::NOT_FOUND,
                "text/plain; charset=utf-8",
                "not found\n".into(),
            ),
        };
        let body = if *request.method() == Method::HEAD {
            Bytes::new()
        } else {
            Bytes::from(body)
        };
        Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, content_type)
            .body(Full::new(body))
            .unwrap_or_default()
    }
}

/// Serves [`Endpoints`] over HTTP/1 on `listener` until `shutdown` completes. Connection
/// errors are logged, not returned.
///
/// ```no_run
/// # async fn example() -> std::io::Result<()> {
/// use build_controller::ops::http::{Endpoints, Health, serve};
/// use build_controller::ops::metrics::Telemetry;
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:9090").await?;
/// let endpoints = Endpoints { telemetry: Telemetry::new(), health: Health::default() };
/// serve(listener, endpoints, std::future::pending()).await
/// # }
/// ```
pub async fn serve(
    listener: TcpListener,
    endpoints: Endpoints,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let address = listener.local_addr()?;
    info!(%address, "serving /healthz, /readyz and /metrics");
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    warn!("accepting a connection: {error}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        tokio::spawn(connection(stream, peer, endpoints.clone()));
    }
}

async fn connection(stream: tokio::net::TcpStream, peer: SocketAddr, endpoints: Endpoints) {
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let response = endpoints.respond(&request);
        async move { Ok::<_, Infallible>(response) }
    });
    let served = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10))
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Err(error) = served {
        debug!(%peer, "http connection: {error}");
    }
}
