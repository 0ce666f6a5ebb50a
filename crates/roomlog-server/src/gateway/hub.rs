//! One room's hub on this node: it tails the room's log (woken by the same feed as
//! StreamRoomEvents, which other nodes' commits reach through the store's commit feed), folds
//! each event into the roster, pushes the changes to the room's connections in log order, and
//! ends the sessions a recorded quit or the end of the class closes. It also holds the room's
//! sessions on this node (the registry a later change can persist).

use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use roomlog_core::classroom::{Roster, SessionEvents, REASON_KICKED, REASON_KICKED_PERMANENTLY};
use roomlog_core::presence::REASON_ROOM_ENDED;
use roomlog_core::{EventType, RoomId, RoomStatus, StoredEvent};
use tokio::sync::{broadcast, mpsc, watch};

use super::protocol::{self, Close};
use crate::state::AppState;

/// Events read per round trip while tailing.
const CHUNK: u64 = 500;
/// Pushes a connection may fall behind before it is sent the whole roster instead.
const PUSH_BACKLOG: usize = 256;
/// After a store error, the tail tries again this much later.
const RETRY: Duration = Duration::from_secs(1);

/// One pushed message and the seq of the event it tells of.
#[derive(Debug)]
pub struct Push {
    pub seq: u64,
    pub text: String,
}

/// A session's connection, while it has one.
pub struct Attached {
    /// Which connection (ids are unique per process).
    pub connection: u64,
    /// Tells the connection to close (after the pushes sent before it).
    pub close: mpsc::UnboundedSender<Close>,
}

/// A member's presence on one device through the gateway.
pub struct Session {
    /// Also the resume token and part of its events' ids.
    pub id: String,
    pub events: SessionEvents,
    /// The highest report number (`seq`) recorded.
    pub last_seq: u64,
    /// Bumped at every attach: a reaper of an earlier detach knows it is stale.
    pub generation: u64,
    pub attached: Option<Attached>,
}

/// (UserId, Device): at most one session each.
pub type SessionKey = (String, u64);

pub struct HubState {
    pub roster: Roster,
    pub status: RoomStatus,
    /// The last seq folded.
    pub seq: u64,
    pub sessions: HashMap<SessionKey, Session>,
    /// Connections of sessions a RoomEnd's quits ended: closed after the RoomEnd is pushed.
    ending: Vec<Attached>,
}

pub struct Hub {
    pub room_id: RoomId,
    state: Mutex<HubState>,
    pushes: broadcast::Sender<Arc<Push>>,
    folded: watch::Sender<u64>,
    stop: watch::Sender<bool>,
    /// Open connections of the room on this node (`max-connections-per-room`).
    pub connections: AtomicUsize,
}

impl Hub {
    /// A hub for the room, tailing its log from the start.
    pub fn start(state: &AppState, room_id: RoomId) -> Arc<Hub> {
        let hub = Arc::new(Hub {
            room_id,
            state: Mutex::new(HubState {
                roster: Roster::default(),
                status: RoomStatus::NotStarted,
                seq: 0,
                sessions: HashMap::new(),
                ending: Vec::new(),
            }),
            pushes: broadcast::channel(PUSH_BACKLOG).0,
            folded: watch::Sender::new(0),
            stop: watch::Sender::new(false),
            connections: AtomicUsize::new(0),
        });
        tokio::spawn(tail(state.clone(), Arc::clone(&hub)));
        hub
    }

    pub fn lock(&self) -> MutexGuard<'_, HubState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Push>> {
        self.pushes.subscribe()
    }

    /// Waits until the hub folded the room's log up to `seq` (at most `limit`).
    pub async fn folded(&self, seq: u64, limit: Duration) -> bool {
        let mut folded = self.folded.subscribe();
        tokio::time::timeout(limit, folded.wait_for(|folded| *folded >= seq))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// No session needs the hub any more: its tail stops.
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }

    fn fold(&self, events: &[StoredEvent]) {
        let mut state = self.lock();
        let state = &mut *state;
        for event in events {
            state.seq = event.seq;
            match event.event_type {
                EventType::RoomStart => {
                    state.status = RoomStatus::InClass;
                    self.push(event.seq, protocol::room_change(event, state.status));
                }
                EventType::RoomEnd => {
                    state.status = RoomStatus::Ended;
                    self.push(event.seq, protocol::room_change(event, state.status));
                    let ended = state.sessions.drain().filter_map(|(_, s)| s.attached);
                    for attached in state.ending.drain(..).chain(ended) {
                        let _ = attached.close.send(Close::class_ended());
                    }
                }
                _ => {
                    let change = state.roster.apply(event);
                    let Some(user) = change.user_id else {
                        continue;
                    };
                    self.push(event.seq, protocol::member_change(event, &state.roster));
                    let reason = event.data.reason;
                    for device in change.closed {
                        let Some(session) = state.sessions.remove(&(user.clone(), device)) else {
                            continue;
                        };
                        let Some(attached) = session.attached else {
                            continue;
                        };
                        let close = match reason {
                            Some(REASON_ROOM_ENDED) => {
                                // Closed once the RoomEnd that follows is pushed.
                                state.ending.push(attached);
                                continue;
                            }
                            Some(r @ (REASON_KICKED | REASON_KICKED_PERMANENTLY)) => {
                                Close::kicked(r)
                            }
                            other => Close::session_ended(other),
                        };
                        let _ = attached.close.send(close);
                    }
                }
            }
        }
        self.folded.send_replace(state.seq);
    }

    fn push(&self, seq: u64, text: String) {
        // No receiver is fine: nobody is connected right now.
        let _ = self.pushes.send(Arc::new(Push { seq, text }));
    }
}

/// Reads the room's log as it grows and folds it into the hub, until the hub is stopped.
async fn tail(state: AppState, hub: Arc<Hub>) {
    let room_id = hub.room_id;
    // Subscribe before the first read so nothing committed in between is missed.
    let mut changes = state.feed().subscribe(room_id);
    let mut stop = hub.stop.subscribe();
    let mut next = 1;
    loop {
        if *stop.borrow_and_update() {
            return;
        }
        match state.store().read_events(room_id, next, CHUNK).await {
            Ok(events) if !events.is_empty() => {
                next = events.last().map_or(next, |e| e.seq + 1);
                hub.fold(&events);
                continue;
            }
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(room_id, error = %err, "classroom gateway: reading the room's log failed");
                tokio::select! {
                    _ = tokio::time::sleep(RETRY) => continue,
                    _ = stop.changed() => return,
                }
            }
        }
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { return },
            _ = stop.changed() => return,
        }
    }
}

/// The hubs of this node's rooms, each alive while something holds a [`HubLease`].
#[derive(Default, Clone)]
pub struct Hubs {
    rooms: Arc<Mutex<HashMap<RoomId, LeasedHub>>>,
}

/// A hub and how many leases it has.
type LeasedHub = (Arc<Hub>, usize);

/// Keeps a room's hub alive: a connection holds one, and so does a dropped session waiting to
/// be resumed.
pub struct HubLease {
    hubs: Hubs,
    pub hub: Arc<Hub>,
}

impl Hubs {
    pub fn lease(&self, state: &AppState, room_id: RoomId) -> HubLease {
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        let (hub, leases) = rooms
            .entry(room_id)
            .or_insert_with(|| (Hub::start(state, room_id), 0));
        *leases += 1;
        HubLease {
            hubs: self.clone(),
            hub: Arc::clone(hub),
        }
    }
}

impl HubLease {
    /// Another lease of the same hub.
    pub fn share(&self) -> HubLease {
        let mut rooms = self.hubs.rooms.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, leases)) = rooms.get_mut(&self.hub.room_id) {
            *leases += 1;
        }
        HubLease {
            hubs: self.hubs.clone(),
            hub: Arc::clone(&self.hub),
        }
    }
}

impl Drop for HubLease {
    fn drop(&mut self) {
        let mut rooms = self.hubs.rooms.lock().unwrap_or_else(|e| e.into_inner());
        let room_id = self.hub.room_id;
        if let Some((hub, leases)) = rooms.get_mut(&room_id) {
            *leases -= 1;
            if *leases == 0 {
                hub.stop();
                rooms.remove(&room_id);
            }
        }
    }
}

/// When a connection's session was last heard from.
#[derive(Debug, Clone, Copy)]
pub struct Heard {
    pub at: Instant,
    /// The same moment, unix ms (a lost session's quit is stamped with it).
    pub at_ms: i64,
}
