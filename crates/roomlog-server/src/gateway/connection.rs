//! One classroom connection: the join (token first, before anything else), then the client's
//! reports and heartbeats and the room's pushes, until it leaves, goes silent, drops, is
//! closed by its room (kick, end of class) or the server shuts down.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use rand::distr::{Alphanumeric, SampleString};
use roomlog_core::classroom::{
    check_entry, MediaRefusal, SessionEvents, REASON_HEARTBEAT_LOST, REASON_LEFT,
};
use roomlog_core::room::check_user_id;
use roomlog_core::{ingest, EventType, StoreError};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::sleep_until;

use super::hub::{Attached, Heard, HubLease, Push, Session, SessionKey};
use super::protocol::{self, ClientMessage, Close, Join};
use crate::state::AppState;

/// How long a join or a report waits for the room's hub to fold what it recorded.
const FOLD_LIMIT: Duration = Duration::from_secs(10);

/// Runs one WebSocket until it closes.
pub async fn run(mut socket: WebSocket, state: AppState, connection: u64) {
    let mut stop = state.gateway().stopping();
    let Some(join) = wait_for_join(&mut socket, &state, &mut stop).await else {
        return;
    };
    let now_ms = state.clock().now_ms();
    let heard = Heard {
        at: Instant::now(),
        at_ms: now_ms,
    };
    match enter(&state, join, connection, now_ms).await {
        Ok(entered) => {
            let live = Live {
                socket,
                state,
                connection,
                entered,
                heard,
                stop,
            };
            live.run().await;
        }
        Err(close) => close_with(&mut socket, close).await,
    }
}

/// Reads until a valid `join` (other messages are answered with an error) or the join timeout.
async fn wait_for_join(
    socket: &mut WebSocket,
    state: &AppState,
    stop: &mut watch::Receiver<bool>,
) -> Option<Join> {
    let config = &state.config().gateway;
    let deadline = tokio::time::Instant::now() + config.join_timeout;
    let mut bucket = TokenBucket::new(config.max_messages_per_second);
    loop {
        let message = tokio::select! {
            message = socket.recv() => message,
            _ = sleep_until(deadline) => {
                close_with(socket, Close::join_timeout()).await;
                return None;
            }
            _ = super::stopped(stop) => {
                close_with(socket, Close::going_away()).await;
                return None;
            }
        };
        let text = match message {
            Some(Ok(Message::Text(text))) => text.to_string(),
            Some(Ok(Message::Binary(_))) => {
                let _ = send(
                    socket,
                    protocol::error("BadMessage", "text frames only", None),
                )
                .await;
                continue;
            }
            Some(Ok(_)) => continue,
            Some(Err(err)) => {
                closed_by_error(socket, &err).await;
                return None;
            }
            None => return None,
        };
        if !bucket.take() {
            close_with(socket, Close::too_many_messages()).await;
            return None;
        }
        match serde_json::from_str::<ClientMessage>(&text) {
            Ok(ClientMessage::Join(join)) => return Some(join),
            Ok(_) => {
                let _ = send(socket, protocol::error("NotJoined", "join first", None)).await;
            }
            Err(err) if looks_like_join(&text) => {
                close_with(socket, Close::bad_join(err)).await;
                return None;
            }
            Err(err) => {
                let _ = send(socket, protocol::error("BadMessage", err.to_string(), None)).await;
            }
        }
    }
}

fn looks_like_join(text: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text).is_ok_and(|v| v["type"] == "join")
}

/// A session this connection holds.
struct Entered {
    lease: HubLease,
    key: SessionKey,
    id: String,
    events: SessionEvents,
    pushes: broadcast::Receiver<Arc<Push>>,
    /// Pushes up to this seq are in what the client was sent already.
    sent_seq: u64,
    close: mpsc::UnboundedReceiver<Close>,
    /// The connection's place in the room's count, given back when it ends.
    counted: Option<Counted>,
}

/// Checks the join and records the entry (or resumes the session); answers `joined`.
async fn enter(
    state: &AppState,
    join: Join,
    connection: u64,
    now_ms: i64,
) -> Result<(Entered, String), Close> {
    check_user_id("UserId", &join.user_id).map_err(|e| Close::bad_join(e.message))?;
    if join.device > 7 {
        return Err(Close::bad_join("Device must be 0 to 7"));
    }
    if join.token.len() > 256 || join.resume.as_ref().is_some_and(|r| r.len() > 64) {
        return Err(Close::bad_join("Token or Resume too long"));
    }
    let store = state.store();
    let user = store.get_user(&join.user_id).await.map_err(internal)?;
    let room = store.get_room(join.room_id).await.map_err(internal)?;
    check_entry(
        user.as_ref(),
        &join.token,
        join.sdk_app_id,
        room.as_ref(),
        now_ms,
    )
    .map_err(Close::refused)?;
    let room = room.expect("checked");
    let role = room.spec.role_of(&join.user_id);
    let config = &state.config().gateway;

    let lease = state.gateway().hubs().lease(state, room.room_id);
    let hub = Arc::clone(&lease.hub);
    let max = config.max_connections_per_room;
    if hub.connections.fetch_add(1, Ordering::SeqCst) >= max {
        hub.connections.fetch_sub(1, Ordering::SeqCst);
        return Err(Close::room_full(max));
    }
    // From here the connection counts in the room; `Entered` (via `Live`) gives it back.
    let counted = Counted(Arc::clone(&hub));
    let pushes = hub.subscribe();
    let key: SessionKey = (join.user_id.clone(), join.device);
    let (close_tx, close_rx) = mpsc::unbounded_channel();

    // Resume: the session must still be there and its device still in the room.
    if let Some(resume) = &join.resume {
        if !hub.folded(room.last_seq, FOLD_LIMIT).await {
            return Err(Close::internal());
        }
        let mut hub_state = hub.lock();
        let hub_state = &mut *hub_state;
        let in_room = hub_state.roster.is_in(&key.0, key.1);
        if let Some(session) = hub_state
            .sessions
            .get_mut(&key)
            .filter(|s| &s.id == resume && in_room)
        {
            session.generation += 1;
            let previous = session.attached.replace(Attached {
                connection,
                close: close_tx,
            });
            if let Some(previous) = previous {
                let _ = previous.close.send(Close::replaced());
            }
            let (id, events, last_seq) =
                (session.id.clone(), session.events.clone(), session.last_seq);
            let joined = joined(&id, true, last_seq, role, &lease, state, hub_state);
            let entered = Entered {
                id,
                events,
                lease,
                key,
                pushes,
                sent_seq: hub_state.seq,
                close: close_rx,
                counted: Some(counted),
            };
            return Ok((entered, joined));
        }
    }

    let id = Alphanumeric.sample_string(&mut rand::rng(), 20);
    let events = SessionEvents {
        session: id.clone(),
        user_id: join.user_id.clone(),
        device: join.device,
        role,
    };
    let outcome = state
        .service()
        .join_member(room.room_id, events.join(now_ms), now_ms)
        .await
        .map_err(|(err, bar)| refusal(err, bar, now_ms))?;
    if !hub.folded(outcome.last_seq, FOLD_LIMIT).await {
        // Recorded but never attached: the member must not stay in the room.
        let quit = events.quit(REASON_HEARTBEAT_LOST, now_ms);
        record_quit(state, room.room_id, quit).await;
        return Err(Close::internal());
    }
    let mut hub_state = hub.lock();
    let hub_state = &mut *hub_state;
    if !hub_state.roster.is_in(&key.0, key.1) {
        // A quit recorded right after the join (a kick, the end of the class).
        return Err(Close::session_ended(None));
    }
    let session = Session {
        id: id.clone(),
        events: events.clone(),
        last_seq: 0,
        generation: 1,
        attached: Some(Attached {
            connection,
            close: close_tx,
        }),
    };
    if let Some(previous) = hub_state.sessions.insert(key.clone(), session) {
        if let Some(attached) = previous.attached {
            let _ = attached.close.send(Close::replaced());
        }
    }
    let joined = joined(&id, false, 0, role, &lease, state, hub_state);
    let entered = Entered {
        lease,
        key,
        id,
        events,
        pushes,
        sent_seq: hub_state.seq,
        close: close_rx,
        counted: Some(counted),
    };
    Ok((entered, joined))
}

/// A connection counted in its room's `connections`; dropping it gives the place back.
struct Counted(Arc<super::hub::Hub>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::SeqCst);
    }
}

fn joined(
    session: &str,
    resumed: bool,
    last_seq: u64,
    role: u64,
    lease: &HubLease,
    state: &AppState,
    hub: &super::hub::HubState,
) -> String {
    let config = &state.config().gateway;
    serde_json::json!({
        "type": "joined",
        "session": session,
        "resumed": resumed,
        "lastSeq": last_seq,
        "Role": role,
        "heartbeat": {
            "intervalMs": config.heartbeat_interval.as_millis() as u64,
            "timeoutMs": config.heartbeat_timeout.as_millis() as u64,
        },
        "room": protocol::room(lease.hub.room_id, hub.status, hub.seq),
        "roster": protocol::roster(&hub.roster),
    })
    .to_string()
}

/// The close for a join the recording refused.
fn refusal(err: StoreError, bar: Option<Option<i64>>, now_ms: i64) -> Close {
    match err {
        StoreError::Rejected(e) if e.code == ingest::USER_KICKED => Close::barred(bar, now_ms),
        StoreError::Rejected(e) if e.code == "FailedOperation.ClassExpired" => {
            Close::refused(roomlog_core::classroom::EntryRefusal::ClassExpired)
        }
        StoreError::Rejected(_) => Close::class_ended(),
        StoreError::RoomNotFound => {
            Close::refused(roomlog_core::classroom::EntryRefusal::RoomNotFound)
        }
        other => internal(other),
    }
}

fn internal(err: StoreError) -> Close {
    tracing::warn!(error = %err, "classroom gateway: the store failed");
    Close::internal()
}

/// A connection with its session.
struct Live {
    socket: WebSocket,
    state: AppState,
    connection: u64,
    entered: (Entered, String),
    heard: Heard,
    stop: watch::Receiver<bool>,
}

/// How a live connection ended.
enum End {
    /// Closed by the server with this (the session is dealt with already).
    Close(Close),
    /// The socket is gone (or was closed for abuse): the session waits for a resume.
    Dropped,
}

impl Live {
    async fn run(mut self) {
        let counted = self.entered.0.counted.take();
        let joined = std::mem::take(&mut self.entered.1);
        let end = if send(&mut self.socket, joined).await.is_err() {
            End::Dropped
        } else {
            self.serve().await
        };
        drop(counted);
        match end {
            End::Close(close) => close_with(&mut self.socket, close).await,
            End::Dropped => self.detach(),
        }
    }

    async fn serve(&mut self) -> End {
        let config = self.state.config().gateway.clone();
        let mut bucket = TokenBucket::new(config.max_messages_per_second);
        loop {
            let silent_until =
                tokio::time::Instant::from_std(self.heard.at + config.heartbeat_timeout);
            let entered = &mut self.entered.0;
            tokio::select! {
                biased;
                _ = super::stopped(&mut self.stop) => return End::Close(Close::going_away()),
                push = entered.pushes.recv() => match push {
                    Ok(push) => {
                        if push.seq > entered.sent_seq
                            && send(&mut self.socket, push.text.clone()).await.is_err()
                        {
                            return End::Dropped;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        if self.resync().await.is_err() {
                            return End::Dropped;
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return End::Close(Close::internal()),
                },
                // After the pushes already sent (biased): a kick's quit, then the close.
                close = entered.close.recv() => {
                    return End::Close(close.unwrap_or_else(|| Close::session_ended(None)));
                }
                message = self.socket.recv() => {
                    let text = match message {
                        Some(Ok(Message::Text(text))) => text.to_string(),
                        Some(Ok(Message::Binary(_))) => {
                            self.touch();
                            if self.answer(protocol::error("BadMessage", "text frames only", None)).await.is_err() {
                                return End::Dropped;
                            }
                            continue;
                        }
                        Some(Ok(Message::Close(_))) | None => return End::Dropped,
                        Some(Ok(_)) => {
                            // WebSocket pings and pongs: the client is alive.
                            self.touch();
                            continue;
                        }
                        Some(Err(err)) => {
                            closed_by_error(&mut self.socket, &err).await;
                            return End::Dropped;
                        }
                    };
                    self.touch();
                    if !bucket.take() {
                        close_with(&mut self.socket, Close::too_many_messages()).await;
                        return End::Dropped;
                    }
                    match self.handle(&text).await {
                        Ok(None) => {}
                        Ok(Some(end)) => return end,
                        Err(()) => return End::Dropped,
                    }
                }
                _ = sleep_until(silent_until) => return self.timed_out().await,
            }
        }
    }

    fn touch(&mut self) {
        self.heard = Heard {
            at: Instant::now(),
            at_ms: self.state.clock().now_ms(),
        };
    }

    async fn answer(&mut self, text: String) -> Result<(), ()> {
        send(&mut self.socket, text).await
    }

    /// One client message; `Some` ends the connection.
    async fn handle(&mut self, text: &str) -> Result<Option<End>, ()> {
        let message = match serde_json::from_str::<ClientMessage>(text) {
            Ok(message) => message,
            Err(err) => {
                self.answer(protocol::error("BadMessage", err.to_string(), None))
                    .await?;
                return Ok(None);
            }
        };
        match message {
            ClientMessage::Ping => self.answer(protocol::pong()).await?,
            ClientMessage::Join(_) => {
                self.answer(protocol::error("AlreadyJoined", "already joined", None))
                    .await?
            }
            ClientMessage::Media { seq, kind } => {
                let answer = self.media(seq, &kind).await;
                self.answer(answer).await?
            }
            ClientMessage::Leave => {
                if self.take_session() {
                    let now_ms = self.state.clock().now_ms();
                    let quit = self.entered.0.events.quit(REASON_LEFT, now_ms);
                    self.record_quit(quit).await;
                }
                self.answer(protocol::left()).await?;
                return Ok(Some(End::Close(Close::left())));
            }
        }
        Ok(None)
    }

    /// A media report: checked against the roster, recorded, acknowledged once folded.
    async fn media(&mut self, seq: u64, kind: &str) -> String {
        let error = |code: &str, message: &str| protocol::error(code, message, Some(seq));
        let kind = match kind.parse::<EventType>() {
            Ok(kind) if kind.is_media() => kind,
            _ => {
                return error(
                    "UnknownKind",
                    "kind must be CameraOn/Off, MicOn/Off, ScreenOn/Off or VisibleOn/Off",
                )
            }
        };
        if seq == 0 {
            return error("BadMessage", "seq must be 1 or more");
        }
        let entered = &self.entered.0;
        let hub = Arc::clone(&entered.lease.hub);
        {
            let hub_state = hub.lock();
            let Some(session) = hub_state
                .sessions
                .get(&entered.key)
                .filter(|s| s.id == entered.id)
            else {
                return error("NotInRoom", "the session is over");
            };
            if seq <= session.last_seq {
                return protocol::ack(seq, true);
            }
            match hub_state
                .roster
                .check_media(&entered.key.0, entered.key.1, kind)
            {
                Ok(()) => {}
                Err(MediaRefusal::NoChange) => {
                    return error("NoChange", "the device is already in that state")
                }
                Err(_) => return error("NotInRoom", "the device is not in the room"),
            }
        }
        let now_ms = self.state.clock().now_ms();
        let event = entered.events.media(seq, kind, now_ms);
        let recorded = self
            .state
            .service()
            .report_events(hub.room_id, vec![event], now_ms)
            .await;
        match recorded {
            Ok(outcome) => {
                if !hub.folded(outcome.last_seq, FOLD_LIMIT).await {
                    tracing::warn!(
                        room_id = hub.room_id,
                        "classroom gateway: the room's hub is behind"
                    );
                }
                if let Some(session) = hub.lock().sessions.get_mut(&entered.key) {
                    if session.id == entered.id {
                        session.last_seq = session.last_seq.max(seq);
                    }
                }
                protocol::ack(seq, outcome.accepted == 0)
            }
            Err(StoreError::Rejected(e)) => error("Refused", &e.message),
            Err(err) => {
                tracing::warn!(error = %err, "classroom gateway: recording a report failed");
                error("ServerError", "not recorded: send it again")
            }
        }
    }

    /// Takes this connection's session out of the registry (it is over); false if it was not
    /// there any more (the hub ended it, or a newer connection took it over).
    fn take_session(&self) -> bool {
        let entered = &self.entered.0;
        let mut hub_state = entered.lease.hub.lock();
        let ours = hub_state.sessions.get(&entered.key).is_some_and(|s| {
            s.id == entered.id
                && s.attached
                    .as_ref()
                    .is_some_and(|a| a.connection == self.connection)
        });
        if ours {
            hub_state.sessions.remove(&entered.key);
        }
        ours
    }

    async fn record_quit(&mut self, quit: roomlog_core::NewEvent) {
        record_quit(&self.state, self.entered.0.lease.hub.room_id, quit).await;
    }

    /// Silent past the timeout: the session is over, heartbeat lost.
    async fn timed_out(&mut self) -> End {
        if self.take_session() {
            let quit = self
                .entered
                .0
                .events
                .quit(REASON_HEARTBEAT_LOST, self.heard.at_ms);
            self.record_quit(quit).await;
        }
        End::Close(Close::heartbeat_timeout())
    }

    /// Pushes fell behind: the whole roster instead.
    async fn resync(&mut self) -> Result<(), ()> {
        let entered = &mut self.entered.0;
        let text = {
            let hub_state = entered.lease.hub.lock();
            entered.sent_seq = hub_state.seq;
            serde_json::json!({
                "type": "roster",
                "room": protocol::room(entered.lease.hub.room_id, hub_state.status, hub_state.seq),
                "roster": protocol::roster(&hub_state.roster),
            })
            .to_string()
        };
        self.answer(text).await
    }

    /// The socket is gone without a leave: the session stays for the heartbeat timeout (from
    /// when the client was last heard), for the client to resume; then MemberQuit Reason 4.
    fn detach(self) {
        let (entered, _) = self.entered;
        let generation = {
            let mut hub_state = entered.lease.hub.lock();
            let Some(session) = hub_state
                .sessions
                .get_mut(&entered.key)
                .filter(|s| s.id == entered.id)
            else {
                return;
            };
            if session
                .attached
                .as_ref()
                .is_none_or(|a| a.connection != self.connection)
            {
                return;
            }
            session.attached = None;
            session.generation
        };
        let timeout = self.state.config().gateway.heartbeat_timeout;
        let deadline = tokio::time::Instant::from_std(self.heard.at + timeout);
        let heard_ms = self.heard.at_ms;
        let state = self.state;
        let mut stop = self.stop;
        tokio::spawn(async move {
            let lease = &entered.lease;
            tokio::select! {
                _ = sleep_until(deadline) => {}
                // Shutting down: the session is left for a resume elsewhere or after restart.
                _ = super::stopped(&mut stop) => return,
            }
            let session = {
                let mut hub_state = lease.hub.lock();
                let lost = hub_state.sessions.get(&entered.key).is_some_and(|s| {
                    s.id == entered.id && s.generation == generation && s.attached.is_none()
                });
                if lost {
                    hub_state.sessions.remove(&entered.key)
                } else {
                    None
                }
            };
            if let Some(session) = session {
                let quit = session.events.quit(REASON_HEARTBEAT_LOST, heard_ms);
                record_quit(&state, lease.hub.room_id, quit).await;
            }
        });
    }
}

async fn record_quit(state: &AppState, room_id: u64, quit: roomlog_core::NewEvent) {
    let now_ms = state.clock().now_ms();
    if let Err(err) = state
        .service()
        .report_events(room_id, vec![quit], now_ms)
        .await
    {
        // An ended class already closed every session; anything else is lost.
        if !matches!(err, StoreError::Rejected(_)) {
            tracing::warn!(room_id, error = %err, "classroom gateway: recording a quit failed");
        }
    }
}

async fn send(socket: &mut WebSocket, text: String) -> Result<(), ()> {
    socket.send(Message::Text(text.into())).await.map_err(drop)
}

async fn close_with(socket: &mut WebSocket, close: Close) {
    metrics::counter!("roomlog_gateway_closes_total", "code" => close.code.to_string())
        .increment(1);
    let frame = CloseFrame {
        code: close.code,
        reason: close.reason.into(),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
    // Wait (briefly) for the client's close, so the frame is read before the socket goes.
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(Ok(message)) = socket.recv().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

/// A read error: a message over the size limit is told so; anything else just ends.
async fn closed_by_error(socket: &mut WebSocket, err: &axum::Error) {
    let too_big = std::error::Error::source(err)
        .map(|e| e.to_string())
        .unwrap_or_else(|| err.to_string());
    if too_big.contains("too long")
        || too_big.contains("too big")
        || too_big.contains("Space limit")
    {
        close_with(socket, Close::too_big()).await;
    }
}

/// Messages per second with bursts of twice that.
struct TokenBucket {
    rate: f64,
    tokens: f64,
    at: Instant,
}

impl TokenBucket {
    fn new(per_second: u32) -> Self {
        let rate = f64::from(per_second);
        Self {
            rate,
            tokens: rate * 2.0,
            at: Instant::now(),
        }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.at).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + refill).min(self.rate * 2.0);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}
