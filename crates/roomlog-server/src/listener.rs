//! Accepting connections: at most `max-connections` open at once, HTTP/1.1 with a header-read
//! timeout (which also closes idle keep-alive connections and ones that never send a byte),
//! optionally TLS (rustls), upgrades (the classroom gateway's WebSockets, which keep their
//! connection's slot), and a graceful shutdown that waits for in-flight requests.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::config::HttpConfig;

/// How long shutdown waits for in-flight requests (live streams never finish by themselves).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// At most one "too many connections" warning this often.
const FULL_WARNING_EVERY: Duration = Duration::from_secs(10);

/// The TLS acceptor for `--tls-cert` / `--tls-key` (PEM files: the chain, then the key).
pub fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, String> {
    crate::tls::install_tls_provider();
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("TLS certificate {}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "TLS certificate {}: no certificate",
            cert.display()
        ));
    }
    let key =
        PrivateKeyDer::from_pem_file(key).map_err(|e| format!("TLS key {}: {e}", key.display()))?;
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("TLS certificate and key: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// One of `max-connections`, in every request's extensions: an upgraded connection (a
/// WebSocket) outlives its HTTP connection and keeps the slot taken until it closes.
#[derive(Clone)]
pub struct ConnectionSlot(#[allow(dead_code)] Arc<OwnedSemaphorePermit>);

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting and waits (at
/// most [`SHUTDOWN_GRACE`]) for the requests in flight.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    http: &HttpConfig,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(http.max_connections));
    // Connections watch `stop` to shut down gracefully; each holds an `open` sender, so the
    // channel closes once the last one is done.
    let (stop, stopping) = watch::channel(false);
    let (open, mut all_done) = mpsc::channel::<()>(1);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(http.header_read_timeout);
    let handshake_timeout = http.header_read_timeout;
    let mut last_full_warning: Option<Instant> = None;
    tokio::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            if last_full_warning.is_none_or(|at| at.elapsed() >= FULL_WARNING_EVERY) {
                tracing::warn!(
                    max_connections = http.max_connections,
                    "too many open connections: closing new ones (--max-connections)"
                );
                last_full_warning = Some(Instant::now());
            }
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let slot = ConnectionSlot(Arc::new(permit));
        let service = TowerToHyperService::new(router.clone().map_request(
            move |mut request: http::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(slot.clone());
                request
            },
        ));
        let builder = builder.clone();
        let stopping = stopping.clone();
        let open = open.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _open = open;
            match tls {
                None => serve_connection(&builder, stopping, stream, service).await,
                Some(acceptor) => {
                    match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            serve_connection(&builder, stopping, stream, service).await
                        }
                        Ok(Err(err)) => tracing::debug!(error = %err, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                }
            }
        });
    }
    drop(listener);
    let _ = stop.send(true);
    drop(open);
    if tokio::time::timeout(SHUTDOWN_GRACE, all_done.recv())
        .await
        .is_err()
    {
        tracing::warn!("shutdown: closing connections still open after {SHUTDOWN_GRACE:?}");
    }
    Ok(())
}

async fn serve_connection<S, Svc>(
    builder: &hyper::server::conn::http1::Builder,
    mut stopping: watch::Receiver<bool>,
    stream: S,
    service: TowerToHyperService<Svc>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    Svc: tower::Service<http::Request<hyper::body::Incoming>, Response = axum::response::Response>
        + Clone
        + Send
        + 'static,
    Svc::Future: Send + 'static,
    Svc::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    // `with_upgrades`: a WebSocket upgrade completes (and the socket is handed over).
    let connection = builder
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(connection);
    let served = tokio::select! {
        served = connection.as_mut() => served,
        _ = crate::gateway::stopped(&mut stopping) => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    // Errors here are the client's doing (reset, timeout, garbage): nothing to report.
    if let Err(err) = served {
        tracing::debug!(error = %err, "connection ended with an error");
    }
}

/// Whether the address can only be reached from this machine.
pub fn is_loopback(listener: &TcpListener) -> bool {
    listener
        .local_addr()
        .map(|addr| addr.ip().is_loopback())
        .unwrap_or(false)
}
