//! Callback delivery: a local receiver (axum on 127.0.0.1:0, answering 204) is the app's callback
//! URL on a fresh `roomlog serve --allow-private-callbacks`.
//!
//! 1. **Steady**: single-event ReportRoomEvents calls at a fixed rate over several rooms (open
//!    loop: each room's sender follows a schedule, it does not wait for deliveries), for the
//!    load duration. Measured: deliveries/s, and each event's delivery lag, from the moment its
//!    ReportRoomEvents answer arrived (the commit was acknowledged) to the moment the receiver got
//!    its callback. Both instants are taken in this process, on one clock.
//! 2. **Backlog**: a burst of events reported as fast as batched calls go (far faster than
//!    callbacks are delivered), then drained. Measured: deliveries/s from the first callback of
//!    the burst to the last, the server's sustained delivery rate with work always waiting.
//!
//! Per-room order bounds the parallelism: a room's next callback is sent only after the receiver
//! accepted the previous one, so at most one delivery per room is in flight.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use bytes::Bytes;
use serde_json::json;

use crate::events;
use crate::http::{now_ms, Conn, Prepared};
use crate::server::{CpuMeter, CpuUse, Roomlog};
use crate::workloads::create_room;
use crate::Plan;

/// The headers carrying the delivered event's room and id (see README, Callbacks).
const ROOM_ID_HEADER: &str = "x-roomlog-room-id";
const EVENT_ID_HEADER: &str = "x-roomlog-event-id";
/// Events per ReportRoomEvents call while building the backlog.
const BACKLOG_BATCH: u64 = 100;

#[derive(Debug, Clone)]
pub struct CallbackResults {
    pub rooms: usize,
    /// The steady phase's target rate, events/s.
    pub rate: f64,
    pub steady: Steady,
    pub backlog: Backlog,
}

#[derive(Debug, Clone)]
pub struct Steady {
    /// Events reported (and acknowledged).
    pub events: u64,
    /// The reporting window.
    pub elapsed: Duration,
    /// Callbacks received for those events (first receipt of each).
    pub delivered: u64,
    /// Callbacks received during the reporting window, per second of it.
    pub deliveries_per_sec: f64,
    /// Acknowledgement → receipt, microseconds, sorted (0 when the callback came first).
    pub lags_us: Vec<u64>,
    /// Callbacks that arrived before their event's ReportRoomEvents answer did.
    pub before_ack: u64,
    /// From the last acknowledgement to the last callback of the phase.
    pub tail: Duration,
    pub cpu: CpuUse,
}

#[derive(Debug, Clone)]
pub struct Backlog {
    pub events: u64,
    /// How long reporting the burst took.
    pub ingest: Duration,
    /// First callback of the burst to the last.
    pub drain: Duration,
    pub cpu: CpuUse,
}

impl Steady {
    pub fn events_per_sec(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The `q` quantile of the lag, milliseconds (nearest rank).
    pub fn lag_ms(&self, q: f64) -> f64 {
        if self.lags_us.is_empty() {
            return f64::NAN;
        }
        let n = self.lags_us.len();
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        self.lags_us[rank - 1] as f64 / 1000.0
    }
}

impl Backlog {
    pub fn deliveries_per_sec(&self) -> f64 {
        self.events as f64 / self.drain.as_secs_f64().max(1e-9)
    }
}

/// What the receiver saw: the first receipt of each event, keyed `room/event id` (event ids are
/// unique per room only: every room's RoomStart is `roomlog:RoomStart`).
#[derive(Default)]
struct Receipts {
    first: Mutex<HashMap<String, Instant>>,
    total: AtomicU64,
    duplicates: AtomicU64,
}

impl Receipts {
    fn count(&self) -> u64 {
        self.total.load(Ordering::Relaxed) - self.duplicates.load(Ordering::Relaxed)
    }

    fn get(&self, event_id: &str) -> Option<Instant> {
        lock(&self.first).get(event_id).copied()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn key(room: &str, event_id: &str) -> String {
    format!("{room}/{event_id}")
}

async fn receive(
    State(receipts): State<Arc<Receipts>>,
    headers: HeaderMap,
    _body: Bytes,
) -> StatusCode {
    let at = Instant::now();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let id = key(&header(ROOM_ID_HEADER), &header(EVENT_ID_HEADER));
    receipts.total.fetch_add(1, Ordering::Relaxed);
    match lock(&receipts.first).entry(id) {
        Entry::Occupied(_) => {
            receipts.duplicates.fetch_add(1, Ordering::Relaxed);
        }
        Entry::Vacant(entry) => {
            entry.insert(at);
        }
    }
    StatusCode::NO_CONTENT
}

/// Starts the receiver on this runtime; returns its address.
async fn start_receiver(receipts: Arc<Receipts>) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = axum::Router::new()
        .route("/callback", post(receive))
        .with_state(receipts);
    tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, app).await {
            eprintln!("callback receiver stopped: {err}");
        }
    });
    Ok(addr)
}

/// Waits until the receiver has `count` distinct events (or `timeout` passes).
async fn wait_for(receipts: &Receipts, count: u64, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    while receipts.count() < count {
        if Instant::now() > deadline {
            bail!(
                "only {} of {count} callbacks arrived within {timeout:?}",
                receipts.count()
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

pub async fn run(plan: &Plan) -> anyhow::Result<CallbackResults> {
    let options = &plan.options;
    let rooms_count = options.callback_rooms.max(1);
    let rate = options.callback_rate.max(1.0);
    eprintln!("callbacks: starting a fresh roomlog with --allow-private-callbacks");
    let server = Roomlog::start_with(
        &plan.roomlog_bin,
        &plan.run_dir.join("callbacks"),
        &["--allow-private-callbacks"],
    )?;
    let receipts = Arc::new(Receipts::default());
    let receiver = start_receiver(Arc::clone(&receipts)).await?;
    let mut conn = Conn::open(server.addr()).await?;
    conn.call(&server.signer.prepare_json(
        "ModifyApp",
        &json!({
            "SdkAppId": server.sdk_app_id,
            "Callback": format!("http://{receiver}/callback"),
            "CallbackKey": "bench-key",
        }),
        0,
    ))
    .await
    .context("ModifyApp (callback URL)")?;
    let mut rooms = Vec::new();
    for _ in 0..rooms_count {
        rooms.push(create_room(&server, &mut conn).await?);
    }
    // StartRoom recorded a RoomStart in each room: its callback comes first.
    wait_for(&receipts, rooms_count as u64, Duration::from_secs(60)).await?;

    let steady = steady(plan, &server, &rooms, rate, &receipts).await?;
    eprintln!(
        "  steady: {} events at {:.0}/s; {:.0} deliveries/s; lag p50 {:.2} ms, p99 {:.2} ms \
         ({} before the ack); all delivered {:.2} s after the last ack",
        steady.events,
        steady.events_per_sec(),
        steady.deliveries_per_sec,
        steady.lag_ms(0.50),
        steady.lag_ms(0.99),
        steady.before_ack,
        steady.tail.as_secs_f64()
    );
    let backlog = backlog(plan, &server, &rooms, &receipts).await?;
    eprintln!(
        "  backlog: {} events reported in {:.2} s, delivered in {:.2} s: {:.0} deliveries/s \
         (CPU: server {:.2} cores, load generator and receiver {:.2}, others {:.2})",
        backlog.events,
        backlog.ingest.as_secs_f64(),
        backlog.drain.as_secs_f64(),
        backlog.deliveries_per_sec(),
        backlog.cpu.server,
        backlog.cpu.client,
        backlog.cpu.other
    );
    let duplicates = receipts.duplicates.load(Ordering::Relaxed);
    if duplicates > 0 {
        eprintln!("  note: {duplicates} callbacks were delivered more than once");
    }
    drop(conn);
    server.stop()?;
    Ok(CallbackResults {
        rooms: rooms_count,
        rate,
        steady,
        backlog,
    })
}

async fn steady(
    plan: &Plan,
    server: &Roomlog,
    rooms: &[u64],
    rate: f64,
    receipts: &Arc<Receipts>,
) -> anyhow::Result<Steady> {
    // Each room's sender reports every `interval`; the rooms are offset within it.
    let per_room = rate / rooms.len() as f64;
    let interval = Duration::from_secs_f64(1.0 / per_room);
    let per_worker = (per_room * plan.duration.as_secs_f64()).ceil().max(1.0) as u64;
    let timestamp = now_ms();
    let queues: Vec<Vec<Prepared>> = rooms
        .iter()
        .enumerate()
        .map(|(w, room)| {
            (0..per_worker)
                .map(|n| {
                    events::report(
                        &server.signer,
                        server.sdk_app_id,
                        *room,
                        &format!("steady{w}"),
                        n,
                        1,
                        timestamp,
                    )
                })
                .collect()
        })
        .collect();
    eprintln!(
        "callbacks: steady ingest, 1 event per call, {rate:.0} events/s over {} rooms for {:.1} s",
        rooms.len(),
        plan.duration.as_secs_f64()
    );
    let mut conns = Vec::new();
    for _ in rooms {
        conns.push(Conn::open(server.addr()).await?);
    }
    let meter = CpuMeter::start(server.pid())?;
    let started = Instant::now() + Duration::from_millis(20);
    let workers: Vec<_> = conns
        .into_iter()
        .zip(queues)
        .enumerate()
        .map(|(w, (mut conn, queue))| {
            let room = rooms[w];
            let offset = interval.mul_f64(w as f64 / rooms.len() as f64);
            tokio::spawn(async move {
                let mut acks = Vec::with_capacity(queue.len());
                for (n, prepared) in queue.into_iter().enumerate() {
                    let at = started + offset + interval.mul_f64(n as f64);
                    tokio::time::sleep_until(at.into()).await;
                    let event_id = key(
                        &room.to_string(),
                        &events::event_id(&format!("steady{w}"), n as u64),
                    );
                    let answer = conn.call(&prepared).await?;
                    if answer["Accepted"].as_u64() != Some(1) {
                        bail!("ReportRoomEvents: unexpected answer {answer}");
                    }
                    acks.push((event_id, Instant::now()));
                }
                anyhow::Ok(acks)
            })
        })
        .collect();
    let mut acks = Vec::new();
    for worker in workers {
        acks.extend(worker.await.context("a steady sender panicked")??);
    }
    let last_ack = acks.iter().map(|(_, at)| *at).max().unwrap_or(started);
    let elapsed = last_ack.saturating_duration_since(started);
    let in_window = |at: Instant| at >= started && at <= last_ack;
    let expected = rooms.len() as u64 + acks.len() as u64;
    wait_for(receipts, expected, Duration::from_secs(120)).await?;
    let cpu = meter.finish()?;

    let mut lags_us = Vec::with_capacity(acks.len());
    let (mut before_ack, mut in_window_count, mut last_receipt) = (0, 0u64, last_ack);
    for (event_id, acked) in &acks {
        let received = receipts
            .get(event_id)
            .with_context(|| format!("no callback for {event_id}"))?;
        if received < *acked {
            before_ack += 1;
        }
        if in_window(received) {
            in_window_count += 1;
        }
        last_receipt = last_receipt.max(received);
        lags_us.push(received.saturating_duration_since(*acked).as_micros() as u64);
    }
    lags_us.sort_unstable();
    Ok(Steady {
        events: acks.len() as u64,
        elapsed,
        delivered: lags_us.len() as u64,
        deliveries_per_sec: in_window_count as f64 / elapsed.as_secs_f64().max(1e-9),
        lags_us,
        before_ack,
        tail: last_receipt.saturating_duration_since(last_ack),
        cpu,
    })
}

async fn backlog(
    plan: &Plan,
    server: &Roomlog,
    rooms: &[u64],
    receipts: &Arc<Receipts>,
) -> anyhow::Result<Backlog> {
    let events = plan
        .options
        .callback_backlog
        .unwrap_or(if plan.options.quick { 3_000 } else { 20_000 });
    let per_room = events.div_ceil(rooms.len() as u64).max(1);
    let total = per_room * rooms.len() as u64;
    let timestamp = now_ms();
    let queues: Vec<Vec<Prepared>> = rooms
        .iter()
        .enumerate()
        .map(|(w, room)| {
            let stream = format!("backlog{w}");
            (0..per_room.div_ceil(BACKLOG_BATCH))
                .map(|b| {
                    let first = b * BACKLOG_BATCH;
                    let count = BACKLOG_BATCH.min(per_room - first);
                    events::report(
                        &server.signer,
                        server.sdk_app_id,
                        *room,
                        &stream,
                        first,
                        count,
                        timestamp,
                    )
                })
                .collect()
        })
        .collect();
    eprintln!(
        "callbacks: backlog of {total} events over {} rooms ({BACKLOG_BATCH} per call), then drained",
        rooms.len()
    );
    let before = receipts.count();
    let mut conns = Vec::new();
    for _ in rooms {
        conns.push(Conn::open(server.addr()).await?);
    }
    let meter = CpuMeter::start(server.pid())?;
    let started = Instant::now();
    let workers: Vec<_> = conns
        .into_iter()
        .zip(queues)
        .map(|(mut conn, queue)| {
            tokio::spawn(async move {
                for prepared in queue {
                    let units = prepared.units;
                    let answer = conn.call(&prepared).await?;
                    if answer["Accepted"].as_u64() != Some(units) {
                        bail!("ReportRoomEvents: unexpected answer {answer}");
                    }
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for worker in workers {
        worker.await.context("a backlog sender panicked")??;
    }
    let ingest = started.elapsed();
    wait_for(receipts, before + total, Duration::from_secs(600)).await?;
    let cpu = meter.finish()?;
    let first = lock(&receipts.first);
    let times: Vec<Instant> = first
        .iter()
        .filter(|(id, _)| id.contains("/backlog"))
        .map(|(_, at)| *at)
        .collect();
    let (Some(first_at), Some(last_at)) = (times.iter().min(), times.iter().max()) else {
        bail!("no backlog callbacks were recorded");
    };
    Ok(Backlog {
        events: total,
        ingest,
        drain: last_at.saturating_duration_since(*first_at),
        cpu,
    })
}
