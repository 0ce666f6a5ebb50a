//! Building the router and running the service until shutdown.

use std::future::Future;

use axum::routing::{any, get};
use axum::Router;
use roomlog_core::Changes;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        // The classroom gateway: not a signed API call, so not through the dispatcher.
        .route("/classroom/ws", get(crate::gateway::upgrade))
        // The API answers on `/` (what every client signs); other paths get the same envelope.
        .route("/", any(crate::dispatch::api))
        .fallback(crate::dispatch::api)
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn metrics() -> ([(http::HeaderName, &'static str); 1], String) {
    (
        [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::metrics::render(),
    )
}

/// Serves on `listener` until `shutdown` resolves, then stops accepting, lets in-flight
/// requests finish and stops the background jobs. The caller flushes the store afterwards.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    crate::metrics::handle();
    // A store only this server uses: deliveries its previous run had in flight when it died go
    // again now rather than when their leases run out (a shared store keeps them).
    match state.store().release_orphaned_leases().await {
        Ok(0) => {}
        Ok(released) => tracing::info!(released, "released the callback leases of the last run"),
        Err(err) => {
            tracing::warn!(error = %err, "could not release the last run's callback leases")
        }
    }
    let (stop_jobs, jobs_stopped) = watch::channel(false);
    let jobs = [
        tokio::spawn(crate::purge::run(state.clone(), jobs_stopped.clone())),
        tokio::spawn(crate::scheduler::run(state.clone(), jobs_stopped.clone())),
        tokio::spawn(crate::attendance::run(state.clone(), jobs_stopped.clone())),
        tokio::spawn(crate::callbacks::worker::run(
            state.clone(),
            jobs_stopped.clone(),
        )),
        tokio::spawn(forward_commit_feed(state.clone(), jobs_stopped)),
    ];

    let http = state.config().http.clone();
    let tls = match (&http.tls_cert, &http.tls_key) {
        (Some(cert), Some(key)) => {
            Some(crate::listener::tls_acceptor(cert, key).map_err(std::io::Error::other)?)
        }
        _ => None,
    };
    if tls.is_none() && !crate::listener::is_loopback(&listener) {
        tracing::warn!(
            "listening beyond loopback without TLS: signed requests can be read and replayed \
             on the way; serve HTTPS with --tls-cert and --tls-key, or put a TLS proxy in front"
        );
    }
    // At shutdown the gateway's WebSockets (no longer the listener's once upgraded) close too.
    let gateway_state = state.clone();
    let shutdown = async move {
        shutdown.await;
        gateway_state.gateway().shut_down().await;
    };
    let served = crate::listener::serve(listener, router(state), &http, tls, shutdown).await;

    let _ = stop_jobs.send(true);
    for job in jobs {
        let _ = job.await;
    }
    served
}

/// With a store shared by several nodes, events committed through another node reach this
/// node's live streams and callback worker through the store's commit feed.
async fn forward_commit_feed(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let Some(mut commits) = state.store().commit_feed().await else {
        return;
    };
    loop {
        tokio::select! {
            notice = commits.recv() => match notice {
                Some(notice) => state.wake(Changes::from(notice)),
                None => {
                    tracing::warn!("the store's commit feed ended; live streams on this node \
                        see other nodes' events only when their own room changes");
                    return;
                }
            },
            _ = shutdown.changed() => return,
        }
    }
}
