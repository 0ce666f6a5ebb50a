//! The live classroom gateway: `GET /classroom/ws`, a WebSocket per classroom client, which
//! enters one room with a user token, records its own presence and media state through the
//! service (the same admission as ReportRoomEvents), and gets the room's roster and lifecycle
//! pushed. The protocol is docs/gateway.md; the rules are `roomlog_core::classroom`.
//!
//! - [`hub`]: one per room on this node: tails the room's log, folds the roster, pushes changes
//!   in order, ends sessions on kicks and the end of class; holds the room's sessions.
//! - [`connection`]: one task per WebSocket: join, reports, heartbeats, leave.
//! - [`protocol`]: the messages and close codes.

pub mod connection;
pub mod hub;
pub mod protocol;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use tokio::sync::watch;

use crate::listener::ConnectionSlot;
use crate::state::AppState;

/// Frames and messages larger than this close the connection: every client message is small.
pub const MAX_MESSAGE_BYTES: usize = 4096;
/// How long shutdown waits for the gateway's connections to say goodbye.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The gateway's state on this node.
pub struct Gateway {
    hubs: hub::Hubs,
    /// Set at shutdown: connections close with "going away" and nothing is recorded.
    stop: watch::Sender<bool>,
    /// Open connections on this node.
    open: watch::Sender<usize>,
    next_connection: AtomicU64,
}

impl Default for Gateway {
    fn default() -> Self {
        Self {
            hubs: hub::Hubs::default(),
            stop: watch::Sender::new(false),
            open: watch::Sender::new(0),
            next_connection: AtomicU64::new(1),
        }
    }
}

impl Gateway {
    pub fn hubs(&self) -> &hub::Hubs {
        &self.hubs
    }

    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Closes every connection with "going away", recording nothing (their sessions are for
    /// the clients to resume), and waits a little for them to go.
    pub async fn shut_down(&self) {
        self.stop.send_replace(true);
        let mut open = self.open.subscribe();
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, open.wait_for(|n| *n == 0)).await;
    }

    fn opened(&self) -> u64 {
        self.open.send_modify(|n| *n += 1);
        metrics::gauge!("roomlog_gateway_connections").increment(1.0);
        self.next_connection.fetch_add(1, Ordering::Relaxed)
    }

    fn closed(&self) {
        self.open.send_modify(|n| *n -= 1);
        metrics::gauge!("roomlog_gateway_connections").decrement(1.0);
    }
}

/// Resolves once `stop` is set (or its sender is gone). Holds no borrow of the value, so it can
/// sit in a `select!` whose branches await.
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// `GET /classroom/ws`: the upgrade. Nothing is read from the URL: the token comes in the first
/// message.
pub async fn upgrade(
    State(state): State<AppState>,
    slot: Option<Extension<ConnectionSlot>>,
    ws: WebSocketUpgrade,
) -> Response {
    ws.max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| async move {
            // The listener's connection slot stays taken for as long as the WebSocket is open.
            let _slot = slot;
            let gateway = state.gateway();
            let id = gateway.opened();
            connection::run(socket, state.clone(), id).await;
            state.gateway().closed();
        })
}
