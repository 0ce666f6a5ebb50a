//! Scaling out: two roomlog server processes on different ports sharing one PostgreSQL (each
//! test in a fresh schema) and one Redis, as several nodes behind a load balancer would.
//!
//! PostgreSQL and Redis come from `ROOMLOG_TEST_POSTGRES` (default
//! postgres://postgres@127.0.0.1:5432/test) and `ROOMLOG_TEST_REDIS` (default
//! redis://127.0.0.1:6379); `.ci/run` starts both.

mod support;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use bytes::Bytes;
use roomlog::client::Client;
use serde_json::{json, Value};
use support::postgres::{redis_url, url as postgres_url, Schema};
use support::sse::read_events_within;
use support::{assert_exactly_once, call, create_room, metric, read_log, TestServer};

/// Two nodes on one fresh schema; node A bootstraps the credentials, node B gets a copy of them
/// (an operator would hand the same credentials to every client).
struct Cluster {
    a: TestServer,
    b: TestServer,
    schema: Schema,
}

impl Cluster {
    fn start(extra_args: &[&str]) -> Self {
        let schema = Schema::new("roomlog_mn");
        // The schema's name is unique: so are the Redis keys under it.
        let prefix = format!("roomlog-test-{}", schema.name);
        let url = postgres_url();
        let redis = redis_url();
        let mut args = vec![
            "--store",
            &url,
            "--store-schema",
            &schema.name,
            "--rate-limit",
            &redis,
            "--rate-limit-key-prefix",
            &prefix,
            "--rate-limit-nodes",
            "2",
            "--job-poll-interval",
            "200ms",
        ];
        args.extend_from_slice(extra_args);
        let (a, b) = TestServer::start_pair(&args);
        Self { a, b, schema }
    }
}

impl Drop for Cluster {
    /// The nodes stop first; the schema goes after (fields drop after this).
    fn drop(&mut self) {
        self.a.kill();
        self.b.kill();
    }
}

fn mic_on(ids: &[String]) -> Vec<Value> {
    ids.iter()
        .map(|id| json!({"EventId": id, "EventType": "MicOn", "UserId": id}))
        .collect()
}

/// Reports batches of fresh EventIds into `room` through `clients` in turn from `reporters`
/// tasks until `stop`; a failed call is retried once through the other node with the same ids
/// (what a reporter behind a load balancer does). Returns the acknowledged ids.
async fn ingest_through(
    clients: [Client; 2],
    app: u64,
    room: u64,
    reporters: usize,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<String> {
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut tasks = tokio::task::JoinSet::new();
    for reporter in 0..reporters {
        let clients = clients.clone();
        let acknowledged = acknowledged.clone();
        let stop = stop.clone();
        tasks.spawn(async move {
            for n in 0.. {
                if *stop.borrow() {
                    return;
                }
                let size = if n % 3 == 0 { 4 } else { 1 };
                let ids: Vec<String> = (0..size).map(|k| format!("r{reporter}-{n}-{k}")).collect();
                let params = json!({"SdkAppId": app, "RoomId": room, "Events": mic_on(&ids)});
                let first = &clients[(reporter + n) % 2];
                let second = &clients[(reporter + n + 1) % 2];
                let ok = match first.call("ReportRoomEvents", &params).await {
                    Ok(_) => true,
                    Err(_) => second.call("ReportRoomEvents", &params).await.is_ok(),
                };
                if ok {
                    acknowledged.lock().unwrap().extend(ids);
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let ids = acknowledged.lock().unwrap().clone();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_rooms_one_dense_log_and_cluster_wide_rate_limits() {
    let cluster = Cluster::start(&[]);
    let app = cluster.a.sdk_app_id();
    let (a, b) = (cluster.a.client(), cluster.b.client());

    // A room created through node A is read through node B.
    let room = create_room(&a, app).await;
    let described = call(&b, "DescribeRoom", json!({"RoomId": room})).await;
    assert_eq!(described["Name"], "Test class");

    // Concurrent ingest into that room through both nodes: one dense sequence, every
    // acknowledged EventId exactly once.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let ingest = ingest_through([a.clone(), b.clone()], app, room, 8, stopped);
    let ingest = tokio::spawn(ingest);
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.send(true).unwrap();
    let acknowledged = ingest.await.unwrap();
    assert!(
        acknowledged.len() > 50,
        "too little ingested: {}",
        acknowledged.len()
    );
    let (total, counts) = read_log(&b, app, room).await;
    assert_eq!(total as usize, acknowledged.len());
    assert_exactly_once(&acknowledged, &counts);
    // The same ids again through the other node are duplicates, not new events.
    let report = |ids: &[String]| json!({"SdkAppId": app, "RoomId": room, "Events": mic_on(ids)});
    let again = call(&a, "ReportRoomEvents", report(&acknowledged[..10])).await;
    assert_eq!(again["Accepted"], 0);
    assert_eq!(again["Duplicates"], 10);

    // A live stream on node B sees what is reported through node A, as it is committed (the
    // nodes hear of each other's commits through PostgreSQL NOTIFY, not by polling).
    let after = json!({"SdkAppId": app, "RoomId": room, "AfterSeq": total});
    let mut stream = support::sse::open(&cluster.b, after, None).await;
    assert!(stream.status().is_success());
    let live: Vec<String> = (0..5).map(|n| format!("live-{n}")).collect();
    for id in &live {
        call(&a, "ReportRoomEvents", report(std::slice::from_ref(id))).await;
    }
    let mut buffer = String::new();
    // Well within the 15 s keep-alive, after which the stream would re-read the store anyway:
    // node B hears of node A's commits through NOTIFY.
    let within = Duration::from_secs(5);
    let streamed = read_events_within(&mut stream, &mut buffer, live.len(), within).await;
    let seqs: Vec<u64> = streamed.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, ((total + 1)..=(total + 5)).collect::<Vec<_>>());
    let users: Vec<_> = streamed
        .iter()
        .map(|(_, data)| &data["EventData"]["UserId"])
        .collect();
    assert_eq!(users, live.iter().map(String::as_str).collect::<Vec<_>>());

    // The nodes' listening connections drop (a PostgreSQL restart, a blip): what is committed
    // before they listen again is announced to nobody, yet node B's stream gets it at once
    // (its feed says it may have missed something when it listens again), not at the keep-alive.
    assert_eq!(cluster.schema.drop_commit_listeners(), 2, "one per node");
    call(&a, "ReportRoomEvents", report(&["unheard".to_owned()])).await;
    let streamed = read_events_within(&mut stream, &mut buffer, 1, within).await;
    assert_eq!(streamed.len(), 1);
    assert_eq!(streamed[0].0, total + 6);
    assert_eq!(streamed[0].1["EventData"]["UserId"], "unheard");
    drop(stream);

    // 100 requests/s spread over both nodes for one account and action: the cluster accepts
    // about 20/s (plus the 20-request burst), not 20/s per node. Redis keeps the time, so the
    // bound is checked against the span the requests took, whatever the machine's speed.
    let clients = [a, b];
    let started = Instant::now();
    let mut accepted = 0u64;
    let mut limited = 0u64;
    let mut ticker = tokio::time::interval(Duration::from_millis(10));
    let describe = json!({"RoomId": room});
    for n in 0..300 {
        ticker.tick().await;
        let response = clients[n % 2].call_raw("DescribeRoom", &describe);
        let response = response.await.unwrap();
        match response["Error"]["Code"].as_str() {
            None => accepted += 1,
            Some("RequestLimitExceeded") => limited += 1,
            Some(other) => panic!("unexpected error {other}: {response}"),
        }
    }
    let span = started.elapsed().as_secs_f64();
    let ceiling = 20.0 + 20.0 * span + 3.0;
    let floor = 20.0 * span * 0.5;
    assert!(
        (accepted as f64) <= ceiling && (accepted as f64) >= floor,
        "accepted {accepted} of 300 in {span:.2} s: expected about 20 + 20/s \
         (between {floor:.0} and {ceiling:.0}); per-node limits would allow twice that"
    );
    assert_eq!(accepted + limited, 300);
    // Counted in Redis, not by the per-node fallback (which would also allow about 20/s here).
    for node in [&cluster.a, &cluster.b] {
        let up = metric(node, "roomlog_rate_limit_redis_up").await;
        assert_eq!(up, 1.0, "node {} is not counting in Redis", node.endpoint);
        let outages = metric(node, "roomlog_rate_limit_redis_outages_total").await;
        assert_eq!(outages, 0.0);
    }
}

/// A callback receiver recording every body it accepts.
#[derive(Clone, Default)]
struct Receiver {
    bodies: Arc<Mutex<Vec<Value>>>,
}

impl Receiver {
    async fn serve(&self) -> SocketAddr {
        async fn hook(State(r): State<Receiver>, body: Bytes) -> StatusCode {
            r.bodies
                .lock()
                .unwrap()
                .push(serde_json::from_slice(&body).unwrap());
            StatusCode::NO_CONTENT
        }
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(hook))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        addr
    }

    /// The EventIds received in `room`, and whether each room's first receipts (an EventId is
    /// unique per room) came in seq order without gaps.
    fn received(&self, room: u64) -> (HashSet<String>, bool) {
        let bodies = self.bodies.lock().unwrap();
        let mut seen = HashSet::new();
        let mut last_seq: HashMap<u64, u64> = HashMap::new();
        let mut in_order = true;
        for body in bodies.iter() {
            let id = body["EventId"].as_str().unwrap().to_owned();
            let in_room = body["EventData"]["RoomId"].as_u64().unwrap();
            if seen.insert((in_room, id)) {
                let seq = body["Seq"].as_u64().unwrap();
                let last = last_seq.entry(in_room).or_insert(0);
                in_order &= seq == *last + 1;
                *last = seq;
            }
        }
        let ids = seen
            .into_iter()
            .filter(|(r, _)| *r == room)
            .map(|(_, id)| id)
            .collect();
        (ids, in_order)
    }
}

async fn eventually<T>(
    what: &str,
    limit: Duration,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_node_mid_ingest_loses_nothing_and_the_other_finishes_its_jobs() {
    let mut cluster = Cluster::start(&[
        "--rate-limit-default",
        "0",
        "--allow-private-callbacks",
        "--callback-timeout",
        "1s",
        "--callback-initial-backoff",
        "50ms",
        "--callback-max-backoff",
        "300ms",
        "--events-retention-after-end",
        "2s",
    ]);
    let app = cluster.a.sdk_app_id();
    let (a, b) = (cluster.a.client(), cluster.b.client());
    let receiver = Receiver::default();
    let hook = receiver.serve().await;
    let callback =
        json!({"SdkAppId": app, "Callback": format!("http://{hook}/hook"), "CallbackKey": "k"});
    call(&a, "ModifyApp", callback).await;
    let room = create_room(&a, app).await;
    call(&a, "StartRoom", json!({"RoomId": room})).await;
    // A second class, ended through node A just before A dies: only node B is left to store
    // its attendance and purge it, and nothing on B was woken by that end (B finds the work by
    // polling the shared store).
    let ended_on_a = create_room(&a, app).await;
    call(&a, "StartRoom", json!({"RoomId": ended_on_a})).await;

    // Ingest through both nodes; node A dies (SIGKILL) in the middle of it.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let ingest = ingest_through([a.clone(), b.clone()], app, room, 8, stopped);
    let ingest = tokio::spawn(ingest);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    call(&a, "EndRoom", json!({"RoomId": ended_on_a})).await;
    cluster.a.kill();
    tokio::time::sleep(Duration::from_millis(700)).await;
    stop.send(true).unwrap();
    let acknowledged = ingest.await.unwrap();
    assert!(
        acknowledged.len() > 50,
        "too little ingested: {}",
        acknowledged.len()
    );

    // Every acknowledged event is in the log exactly once, read through node B.
    let (_, counts) = read_log(&b, app, room).await;
    assert_exactly_once(&acknowledged, &counts);

    // Node B purges a class once its attendance is stored (the purge waits for it) and the
    // retention (2 s) ran out.
    let purged = async |room_id: u64| {
        let page = json!({"RoomId": room_id, "SdkAppId": app, "Page": 1, "Limit": 10});
        let response = b.call_raw("GetRoomEvent", &page).await.unwrap();
        (response["Error"]["Code"] == "FailedOperation").then_some(())
    };
    // First the class ended through node A just before it died: nothing woke node B's jobs for
    // it, they find it by looking at the shared store every --job-poll-interval. (GetRoomEvent
    // refuses an expired room whether or not its events are gone yet: B's metrics tell that
    // B's purge job deleted them.)
    eventually(
        "node B to purge the class ended through node A",
        Duration::from_secs(60),
        async || {
            let purged_rooms = metric(&cluster.b, "roomlog_purged_rooms_total").await;
            (purged_rooms >= 1.0).then_some(())
        },
    )
    .await;
    assert!(purged(ended_on_a).await.is_some());

    // Node B finishes the work: it delivers every callback (including those node A had taken
    // when it died, once their lease ran out), in room order.
    call(&b, "EndRoom", json!({"RoomId": room})).await;
    let expected: HashSet<String> = acknowledged.iter().cloned().collect();
    eventually(
        "node B to deliver every callback",
        Duration::from_secs(90),
        async || {
            let (ids, in_order) = receiver.received(room);
            assert!(in_order, "a room's callbacks arrived out of order");
            expected.is_subset(&ids).then_some(())
        },
    )
    .await;

    // ... and the class ended through node B.
    eventually(
        "node B to purge the class ended through it",
        Duration::from_secs(60),
        async || purged(room).await,
    )
    .await;
}
