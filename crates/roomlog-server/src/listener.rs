//! Accepting connections: at most `max-connections` open at once, HTTP/1.1 with a header-read
//! timeout (which also closes idle keep-alive connections and ones that never send a byte),
//! optionally TLS (rustls), and a graceful shutdown that waits for in-flight requests.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

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
    let graceful = GracefulShutdown::new();
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
        let service = TowerToHyperService::new(router.clone());
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match tls {
                None => serve_connection(&builder, watcher, stream, service).await,
                Some(acceptor) => {
                    match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            serve_connection(&builder, watcher, stream, service).await
                        }
                        Ok(Err(err)) => tracing::debug!(error = %err, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                }
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown: closing connections still open after {SHUTDOWN_GRACE:?}");
    }
    Ok(())
}

async fn serve_connection<S>(
    builder: &hyper::server::conn::http1::Builder,
    watcher: hyper_util::server::graceful::Watcher,
    stream: S,
    service: TowerToHyperService<Router>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    // Errors here are the client's doing (reset, timeout, garbage): nothing to report.
    if let Err(err) = watcher.watch(connection).await {
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
