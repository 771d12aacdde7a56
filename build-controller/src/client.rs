//! The API client the controller and the plugin use: kube's client, speaking HTTP/2 when the
//! API server offers it, with idle connections closed after [`IDLE_TIMEOUT`].
//!
//! kube's own stack (`kube::Client::try_from`) offers only HTTP/1.1 and keeps every connection
//! it ever opened: a reconcile burst at concurrency 64 opens 64 TLS connections, each carrying
//! one request at a time, and they stay open afterwards. The API server speaks HTTP/2 (client-go
//! uses it by default), so this stack offers `h2` by ALPN, and one connection carries every
//! request and watch. Its socket sets `TCP_NODELAY`, as client-go's and the API server's do:
//! without it, small HTTP/2 frames wait on delayed acknowledgements, and a Build took 20 ms
//! instead of 9 ms to get its pod at 20 Builds/s. And as every request now waits on that one
//! connection, it is checked as client-go checks it: a ping after [`PING_INTERVAL`] without a
//! frame, and the connection dropped (its requests and watches failing, to be retried on a new
//! one) when no answer comes within [`PING_TIMEOUT`], so a connection that died without a word
//! (a peer gone, a middlebox that forgot it) is not waited on until TCP gives up. Over HTTP/1.1
//! (a server without HTTP/2, such as `kubectl proxy`) connections are pooled as kube pools them,
//! but closed after [`IDLE_TIMEOUT`] idle.
//!
//! The rest is kube's stack, built from kube's public parts in the same order: the base URI, the
//! retry on 429, 503 and 504, the authentication, the extra headers, and the connect, read and
//! write timeouts. Two cases keep kube's stack unchanged, because their parts of it are not
//! public: a proxy (`proxy-url` in the kubeconfig) and an exec plugin (whose client certificate
//! can expire, which kube's client tracks). kube's request tracing spans (at `debug`) are not
//! part of this stack; the controller's own spans and metrics cover its requests.

use std::time::Duration;

use hyper_util::{
    client::legacy::{Client as HyperClient, connect::HttpConnector},
    rt::{TokioExecutor, TokioTimer},
};
use kube::client::{Body, ClientBuilder, ConfigExt, retry::RetryPolicy};
use tower::{BoxError, ServiceBuilder, retry::RetryLayer};

/// How long an idle connection to the API server stays open: longer than kube-runtime's
/// watches last (290 s), so that the HTTP/2 connection, which every restarted watch takes up
/// again, is never given up for a new one while the controller runs.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// How long an HTTP/2 connection may go without a frame before it is pinged: client-go's
/// `ReadIdleTimeout`.
pub const PING_INTERVAL: Duration = Duration::from_secs(30);

/// How long a ping may go unanswered before its connection is dropped: client-go's
/// `PingTimeout`.
pub const PING_TIMEOUT: Duration = Duration::from_secs(15);

/// The connection settings [`client`] uses; tests shorten them.
struct Settings {
    idle: Duration,
    ping_interval: Duration,
    ping_timeout: Duration,
}

impl Settings {
    /// The settings of [`client`].
    const DEFAULT: Settings = Settings {
        idle: IDLE_TIMEOUT,
        ping_interval: PING_INTERVAL,
        ping_timeout: PING_TIMEOUT,
    };
}

/// A client for the cluster `config` names: HTTP/2 where the server offers it, checked by pings,
/// and idle connections closed after [`IDLE_TIMEOUT`]; kube's own stack when `config` has a proxy or an
/// exec plugin (the module's doc says why).
///
/// # Errors
///
/// What `kube::Client::try_from` returns for the same `config`: a TLS setting or a credential
/// that cannot be loaded.
///
/// ```no_run
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// let config = kube::Config::infer().await?;
/// let client = build_controller::client(config)?;
/// # Ok(()) }
/// ```
pub fn client(config: kube::Config) -> kube::Result<kube::Client> {
    with_settings(config, &Settings::DEFAULT)
}

/// Creates `object` at `url_path` (`Resource::url_path`, a collection), decoding the API
/// server's answer as a `T` instead of the whole object: `Api::create` without decoding what the
/// caller never reads (for a pod, every step's arguments, environment and mounts; for any
/// object, its `managedFields`). Errors are `Api::create`'s.
pub(crate) async fn create_as<T: serde::de::DeserializeOwned>(
    client: &kube::Client,
    url_path: &str,
    params: &kube::api::PostParams,
    object: &impl serde::Serialize,
) -> kube::Result<T> {
    let body = serde_json::to_vec(object).map_err(kube::Error::SerdeError)?;
    let mut request = kube::core::Request::new(url_path)
        .create(params, body)
        .map_err(kube::Error::BuildRequest)?;
    request.extensions_mut().insert("create");
    client.request::<T>(request).await
}

/// Patches the status subresource of object `name` at `url_path` (`Resource::url_path`, its
/// collection) and reads of the API server's answer only the `resourceVersion` the patch made:
/// `Api::patch_status` for a caller that needs no more than that. Errors are
/// `Api::patch_status`'s.
pub(crate) async fn patch_status_version<P: serde::Serialize + std::fmt::Debug>(
    client: &kube::Client,
    url_path: &str,
    name: &str,
    params: &kube::api::PatchParams,
    patch: &kube::api::Patch<P>,
) -> kube::Result<Option<String>> {
    let mut request = kube::core::Request::new(url_path)
        .patch_subresource("status", name, params, patch)
        .map_err(kube::Error::BuildRequest)?;
    request.extensions_mut().insert("patch_status");
    let answer: VersionOnly = client.request(request).await?;
    Ok(answer.metadata.resource_version)
}

/// An object's answer with everything but `metadata.resourceVersion` skipped unread.
#[derive(serde::Deserialize)]
struct VersionOnly {
    #[serde(default)]
    metadata: MetadataVersion,
}

/// See [`VersionOnly`].
#[derive(Default, serde::Deserialize)]
struct MetadataVersion {
    #[serde(rename = "resourceVersion")]
    resource_version: Option<String>,
}

/// [`client`], with `settings`.
fn with_settings(config: kube::Config, settings: &Settings) -> kube::Result<kube::Client> {
    let exec = config.auth_info.exec.is_some();
    if config.proxy_url.is_some() || exec {
        return kube::Client::try_from(config);
    }

    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    let tls = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config.rustls_client_config()?)
        .https_or_http();
    let tls = match &config.tls_server_name {
        Some(name) => tls.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(
            name.clone().try_into().map_err(|e| {
                kube::Error::RustlsTls(kube::client::RustlsTlsError::InvalidServerName(e))
            })?,
        )),
        None => tls,
    };
    let mut connector = hyper_timeout::TimeoutConnector::new(
        tls.enable_http1().enable_http2().wrap_connector(http),
    );
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_read_timeout(config.read_timeout);
    connector.set_write_timeout(config.write_timeout);
    connector.set_reset_reader_on_write(config.reset_reader_on_write);

    let http: HyperClient<_, Body> = HyperClient::builder(TokioExecutor::new())
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(settings.idle)
        .http2_keep_alive_interval(settings.ping_interval)
        .http2_keep_alive_timeout(settings.ping_timeout)
        .http2_keep_alive_while_idle(true)
        .build(connector);

    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(
            config
                .default_retry
                .then(|| RetryLayer::new(RetryPolicy::server_retry())),
        )
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .map_err(BoxError::from)
        .service(http);
    Ok(ClientBuilder::new(service, config.default_namespace.clone()).build())
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use http::{Request, Response, Version};
    use http_body_util::Full;
    use hyper::body::Bytes;
    use hyper::service::service_fn;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    /// What a stand-in API server saw.
    #[derive(Default)]
    struct Seen {
        /// TLS connections accepted.
        accepted: AtomicUsize,
        /// TLS connections the client has not closed.
        open: AtomicUsize,
        /// Each request's HTTP version.
        versions: Mutex<Vec<Version>>,
    }

    /// A TLS server on 127.0.0.1 offering `alpn`, answering every request with `{}` after 50 ms
    /// (so concurrent requests overlap), and a client config that trusts it.
    async fn server(alpn: &[&[u8]]) -> (kube::Config, Arc<Seen>) {
        let rcgen::CertifiedKey { cert, key_pair } =
            rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()])
                .expect("a certificate");
        let mut tls = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key_pair.serialize_der().into()),
        )
        .expect("a server TLS config");
        tls.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let port = listener.local_addr().expect("an address").port();
        let seen = Arc::new(Seen::default());

        let server_seen = seen.clone();
        tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.expect("a connection");
                let acceptor = acceptor.clone();
                let seen = server_seen.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    seen.accepted.fetch_add(1, Ordering::SeqCst);
                    seen.open.fetch_add(1, Ordering::SeqCst);
                    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                    let service_seen = seen.clone();
                    let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                        let seen = service_seen.clone();
                        async move {
                            seen.versions.lock().unwrap().push(request.version());
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("{}"))))
                        }
                    });
                    let io = TokioIo::new(tls);
                    let _ = if h2 {
                        hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                            .serve_connection(io, service)
                            .await
                    } else {
                        hyper::server::conn::http1::Builder::new()
                            .serve_connection(io, service)
                            .await
                    };
                    seen.open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });

        let mut config =
            kube::Config::new(format!("https://127.0.0.1:{port}").parse().expect("a URL"));
        config.root_cert = Some(vec![cert.der().to_vec()]);
        (config, seen)
    }

    /// Sends `n` requests at once and waits for every answer.
    async fn concurrently(client: &kube::Client, n: usize) {
        let requests = (0..n).map(|_| {
            client.request_text(
                Request::get("/version")
                    .body(Vec::new())
                    .expect("a request"),
            )
        });
        for answer in futures::future::join_all(requests).await {
            assert_eq!(answer.expect("an answer"), "{}");
        }
    }

    /// The connections still open once they are down to `expected`, or after 10 s.
    async fn open_once_settled(seen: &Seen, expected: usize) -> usize {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while seen.open.load(Ordering::SeqCst) > expected && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        seen.open.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn concurrent_requests_share_one_http2_connection() {
        let (config, seen) = server(&[b"h2", b"http/1.1"]).await;
        let client = client(config).expect("a client");
        // A cold start races a handshake per request (hyper learns of HTTP/2 only from ALPN);
        // the first to finish carries every request and the others are closed at once.
        concurrently(&client, 32).await;
        assert_eq!(open_once_settled(&seen, 1).await, 1);
        let accepted = seen.accepted.load(Ordering::SeqCst);
        concurrently(&client, 32).await;
        assert_eq!(
            seen.accepted.load(Ordering::SeqCst),
            accepted,
            "no new connection once one is open"
        );
        assert_eq!(seen.open.load(Ordering::SeqCst), 1);
        let versions = seen.versions.lock().unwrap().clone();
        assert_eq!(versions, vec![Version::HTTP_2; 64]);
    }

    #[tokio::test]
    async fn over_http1_connections_are_reused_then_closed_when_idle() {
        let (config, seen) = server(&[b"http/1.1"]).await;
        let settings = Settings {
            idle: Duration::from_secs(2),
            ..Settings::DEFAULT
        };
        let client = with_settings(config, &settings).expect("a client");
        concurrently(&client, 16).await;
        assert_eq!(
            seen.accepted.load(Ordering::SeqCst),
            16,
            "one per request in flight"
        );
        concurrently(&client, 16).await;
        assert_eq!(
            seen.accepted.load(Ordering::SeqCst),
            16,
            "the idle ones are reused"
        );
        assert_eq!(open_once_settled(&seen, 0).await, 0, "closed once idle");
        let versions = seen.versions.lock().unwrap().clone();
        assert_eq!(versions, vec![Version::HTTP_11; 32]);
    }

    /// A TCP proxy on 127.0.0.1 in front of `port`, forwarding both ways until `frozen` is set
    /// and then nothing more, with both sides kept open: a connection that died without a word.
    /// Returns its port.
    async fn freezable_proxy(port: u16, frozen: Arc<AtomicBool>) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let proxy_port = listener.local_addr().expect("an address").port();
        tokio::spawn(async move {
            loop {
                let (client, _) = listener.accept().await.expect("a connection");
                let server = TcpStream::connect(("127.0.0.1", port))
                    .await
                    .expect("the server");
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                tokio::spawn(forward(client_read, server_write, frozen.clone()));
                tokio::spawn(forward(server_read, client_write, frozen.clone()));
            }
        });
        proxy_port
    }

    /// Copies `from` to `to` until either closes, or until `frozen`, when it holds both open
    /// forever.
    async fn forward(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, frozen: Arc<AtomicBool>) {
        let mut buffer = vec![0; 16 * 1024];
        loop {
            let read = match from.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(read) => read,
            };
            if frozen.load(Ordering::SeqCst) {
                let _open = (&from, &to);
                std::future::pending::<()>().await;
            }
            if to.write_all(&buffer[..read]).await.is_err() {
                return;
            }
        }
    }

    #[tokio::test]
    async fn a_connection_that_stops_answering_is_dropped_after_an_unanswered_ping() {
        let (mut config, _seen) = server(&[b"h2", b"http/1.1"]).await;
        let port = config.cluster_url.port_u16().expect("a port");
        let frozen = Arc::new(AtomicBool::new(false));
        let proxy = freezable_proxy(port, frozen.clone()).await;
        config.cluster_url = format!("https://127.0.0.1:{proxy}").parse().expect("a URL");
        let settings = Settings {
            ping_interval: Duration::from_millis(200),
            ping_timeout: Duration::from_millis(200),
            ..Settings::DEFAULT
        };
        let client = with_settings(config, &settings).expect("a client");
        concurrently(&client, 1).await;
        frozen.store(true, Ordering::SeqCst);
        let request = client.request_text(
            Request::get("/version")
                .body(Vec::new())
                .expect("a request"),
        );
        let answer = tokio::time::timeout(Duration::from_secs(10), request).await;
        assert!(
            matches!(answer, Ok(Err(_))),
            "fails instead of waiting: {answer:?}"
        );
    }
}
