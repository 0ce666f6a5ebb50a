//! Callbacks end to end, against real HTTP receivers started by the test.

mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use roomlog::client::Client;
use roomlog_core::callback;
use roomlog_core::store::prelude::*;
use roomlog_core::time::{now_ms, ManualClock};
use roomlog_server::ServeConfig;
use serde_json::{json, Value};
use support::inprocess::{eventually, InProcessServer};
use support::{call, create_room, error_code, error_message, get_page, TestServer};

/// What a receiver got: headers and body of each POST, in arrival order.
#[derive(Clone, Default)]
struct Receiver {
    received: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
    /// The HTTP status it answers (200 healthy, 500 broken); a delay per request in ms.
    status: Arc<AtomicU16>,
    delay_ms: Arc<AtomicU16>,
}

impl Receiver {
    /// The `EventId` of each body received, in arrival order.
    fn event_ids(&self) -> Vec<String> {
        let bodies = self.bodies();
        bodies
            .iter()
            .map(|b| b["EventId"].as_str().unwrap().to_owned())
            .collect()
    }

    fn new() -> Self {
        let r = Self::default();
        r.status.store(200, Ordering::SeqCst);
        r
    }

    /// Serves on `addr` until the returned sender is dropped/fired.
    async fn serve(&self, addr: SocketAddr) -> tokio::sync::oneshot::Sender<()> {
        async fn hook(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
            let delay = r.delay_ms.load(Ordering::SeqCst);
            if delay > 0 {
                tokio::time::sleep(Duration::from_millis(delay as u64)).await;
            }
            let status = StatusCode::from_u16(r.status.load(Ordering::SeqCst)).unwrap();
            if status.is_success() {
                r.received.lock().unwrap().push((headers, body));
            }
            status
        }
        // Whatever the path: a request that reached it at all is what a test must see.
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(hook))
            .fallback(hook)
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .expect("bind receiver");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        stop
    }

    fn bodies(&self) -> Vec<Value> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(|(_, b)| serde_json::from_slice(b).unwrap())
            .collect()
    }
}

/// A loopback address nobody listens on (yet).
async fn free_addr() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

const KEY: &str = "NjFGoDEy-test-key";

fn fast_retries() -> Vec<&'static str> {
    vec![
        "--allow-private-callbacks",
        "--callback-initial-backoff",
        "50ms",
        "--callback-max-backoff",
        "300ms",
        "--callback-timeout",
        "2s",
        "--rate-limit-default",
        "0",
    ]
}

async fn configure(client: &Client, app: u64, addr: SocketAddr) {
    let hook = format!("http://{addr}/hook");
    let params = json!({"SdkAppId": app, "Callback": hook, "CallbackKey": KEY});
    call(client, "ModifyApp", params).await;
}

async fn report(client: &Client, app: u64, room: u64, ids: &[String]) {
    let events: Vec<Value> = ids
        .iter()
        .map(|id| json!({"EventId": id, "EventType": "MicOn", "UserId": id}))
        .collect();
    let params = json!({"SdkAppId": app, "RoomId": room, "Events": events});
    call(client, "ReportRoomEvents", params).await;
}

async fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Per room, the Seqs received in order, first occurrences only (duplicates are allowed around
/// a crash, with the same EventId).
fn per_room_first_seqs(bodies: &[Value]) -> HashMap<u64, Vec<u64>> {
    let mut seen = std::collections::HashSet::new();
    let mut rooms: HashMap<u64, Vec<u64>> = HashMap::new();
    for body in bodies {
        let room = body["EventData"]["RoomId"].as_u64().unwrap();
        let id = body["EventId"].as_str().unwrap().to_owned();
        if seen.insert((room, id)) {
            rooms
                .entry(room)
                .or_default()
                .push(body["Seq"].as_u64().unwrap());
        }
    }
    rooms
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_down_for_a_while_gets_every_event_in_room_order_signed() {
    let server = TestServer::start(&fast_retries());
    let client = server.client();
    let app = server.sdk_app_id();
    let addr = free_addr().await;
    configure(&client, app, addr).await;
    let rooms = [
        create_room(&client, app).await,
        create_room(&client, app).await,
    ];
    for room in rooms {
        call(&client, "StartRoom", json!({"RoomId": room})).await;
    }
    for round in 0..10 {
        for room in rooms {
            let ids = [format!("r{room}-{round}a"), format!("r{room}-{round}b")];
            report(&client, app, room, &ids).await;
        }
    }
    // The receiver was down all along; it comes up now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let receiver = Receiver::new();
    let _running = receiver.serve(addr).await;
    wait_until("all 42 callbacks", Duration::from_secs(30), || {
        receiver.bodies().len() >= 42
    })
    .await;

    let bodies = receiver.bodies();
    assert_eq!(bodies.len(), 42, "no crash here, so exactly once each");
    let seqs = per_room_first_seqs(&bodies);
    for room in rooms {
        assert_eq!(
            seqs[&room],
            (1..=21).collect::<Vec<u64>>(),
            "room {room} in order"
        );
    }
    // Each body is what GetRoomEvent shows, plus LCIC's Sign and roomlog's signature header.
    let page = get_page(&client, app, rooms[0], 1, 100).await;
    let now = roomlog_core::time::now_secs();
    for (headers, raw) in receiver.received.lock().unwrap().iter() {
        let body: Value = serde_json::from_slice(raw).unwrap();
        if body["EventData"]["RoomId"] != rooms[0] {
            continue;
        }
        let seq = body["Seq"].as_u64().unwrap();
        let shown = &page["Events"][(seq - 1) as usize];
        assert_eq!(body["EventType"], shown["EventType"]);
        assert_eq!(body["EventData"], shown["EventData"]);
        assert_eq!(body["Timestamp"], shown["Timestamp"]);
        assert_eq!(body["SdkAppId"], app);
        let expire = body["ExpireTime"].as_i64().unwrap();
        assert!(expire > now, "ExpireTime a few minutes ahead");
        assert_eq!(body["Sign"], callback::lcic_sign(KEY, expire));
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(
            headers[callback::EVENT_ID_HEADER].to_str().unwrap(),
            body["EventId"]
        );
        assert_eq!(
            headers[callback::SEQ_HEADER].to_str().unwrap(),
            seq.to_string()
        );
        let signature = headers[callback::SIGNATURE_HEADER].to_str().unwrap();
        assert!(
            callback::verify_body_signature(KEY, signature, raw, now, 300),
            "{signature}"
        );
        assert!(!callback::verify_body_signature(
            "wrong", signature, raw, now, 300
        ));
    }
    let delivered =
        json!({"SdkAppId": app, "RoomId": rooms[0], "Status": "Delivered", "Limit": 100});
    let delivered = call(&client, "DescribeCallbackDeliveries", delivered).await;
    assert_eq!(delivered["Total"], 21);
    assert!(
        delivered["Deliveries"][0]["Attempts"].as_u64().unwrap() >= 2,
        "failed while down: {delivered}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_receivers_end_in_dead_letters_that_replay_redelivers() {
    let mut args = fast_retries();
    args.extend(["--callback-give-up-after", "1s"]);
    let server = TestServer::start(&args);
    let client = server.client();
    let app = server.sdk_app_id();
    let receiver = Receiver::new();
    receiver.status.store(500, Ordering::SeqCst);
    let addr = free_addr().await;
    let _running = receiver.serve(addr).await;
    configure(&client, app, addr).await;
    let room = create_room(&client, app).await;
    report(&client, app, room, &["a".into(), "b".into(), "c".into()]).await;

    let dead = loop {
        let dead = json!({"SdkAppId": app, "RoomId": room, "Status": "Dead"});
        let dead = call(&client, "DescribeCallbackDeliveries", dead).await;
        if dead["Total"] == 3 {
            break dead;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let first = &dead["Deliveries"][0];
    assert_eq!(first["LastHttpStatus"], 500);
    assert!(first["Attempts"].as_u64().unwrap() >= 2, "{first}");
    assert!(first["LastError"].as_str().unwrap().contains("500"));
    assert!(receiver.bodies().is_empty());

    // The receiver recovers; dead letters wait until replayed, then arrive in order.
    receiver.status.store(200, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        receiver.bodies().is_empty(),
        "dead letters are not retried by themselves"
    );
    let params = json!({"SdkAppId": app, "RoomId": room});
    let replay = call(&client, "ReplayCallbacks", params).await;
    assert_eq!(replay["Replayed"], 3);
    wait_until("replayed callbacks", Duration::from_secs(20), || {
        receiver.bodies().len() >= 3
    })
    .await;
    assert_eq!(receiver.event_ids(), ["a", "b", "c"]);
    // Replaying one event by id delivers it again, same EventId.
    let replay_b = json!({"SdkAppId": app, "RoomId": room, "EventIds": ["b"]});
    call(&client, "ReplayCallbacks", replay_b).await;
    wait_until("one more", Duration::from_secs(20), || {
        receiver.bodies().len() >= 4
    })
    .await;
    assert_eq!(receiver.bodies()[3]["EventId"], "b");
}

#[tokio::test]
async fn private_destinations_are_refused_by_default() {
    let server = TestServer::start(&[]);
    let client = server.client();
    let app = server.sdk_app_id();
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost/x",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.1/",
        "http://198.18.0.1/",
        "http://[64:ff9b::7f00:1]/",
        "http://[2002:a9fe:a9fe::]/",
        "http://[fec0::1]/",
        "http://0x7f.1/",
        "http://2130706433/",
        "http://[::ffff:127.0.0.1]/",
        "ftp://example.com/",
    ] {
        let code = error_code(
            &client,
            "ModifyApp",
            json!({"SdkAppId": app, "Callback": url}),
        );
        assert_eq!(code.await, "InvalidParameterValue", "{url}");
    }
    let params = json!({"SdkAppId": app, "CallbackKey": "k1"});
    call(&client, "ModifyApp", params).await;
    let detail = json!({"ApplicationId": app.to_string()});
    let detail = call(&client, "DescribeAppDetail", detail).await;
    assert_eq!(detail["AppConfig"]["CallbackKey"], "k1");
    assert_eq!(detail["AppConfig"]["Callback"], "");
    assert_eq!(detail["SdkAppId"], app.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_delivery_delivers_everything_after_restart() {
    let mut server = TestServer::start(&fast_retries());
    let client = server.client();
    let app = server.sdk_app_id();
    let receiver = Receiver::new();
    receiver.delay_ms.store(30, Ordering::SeqCst);
    let addr = free_addr().await;
    let _running = receiver.serve(addr).await;
    configure(&client, app, addr).await;
    let room = create_room(&client, app).await;
    let ids: Vec<String> = (0..60).map(|i| format!("k{i}")).collect();
    report(&client, app, room, &ids).await;
    wait_until("some deliveries", Duration::from_secs(20), || {
        receiver.bodies().len() >= 5
    })
    .await;
    server.kill();
    let before = receiver.bodies().len();
    assert!(before < 60, "killed mid-delivery ({before} delivered)");
    server.restart();
    wait_until(
        "every event after the restart",
        Duration::from_secs(60),
        || {
            let got: std::collections::HashSet<String> = receiver.event_ids().into_iter().collect();
            got.len() == 60
        },
    )
    .await;
    let seqs = per_room_first_seqs(&receiver.bodies());
    assert_eq!(
        seqs[&room],
        (1..=60).collect::<Vec<u64>>(),
        "in order, duplicates only as repeats"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_outlive_the_event_purge() {
    let mut args = fast_retries();
    args.extend(["--events-retention-after-end", "1s"]);
    let server = TestServer::start(&args);
    let client = server.client();
    let app = server.sdk_app_id();
    let addr = free_addr().await;
    configure(&client, app, addr).await;
    let room = create_room(&client, app).await;
    call(&client, "StartRoom", json!({"RoomId": room})).await;
    report(&client, app, room, &["x".into()]).await;
    call(&client, "EndRoom", json!({"RoomId": room})).await;
    // Wait until the events are gone from GetRoomEvent.
    let query = json!({"RoomId": room, "SdkAppId": app, "Page": 1, "Limit": 10});
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.call_raw("GetRoomEvent", &query).await.unwrap()["Error"]["Code"]
        != "FailedOperation"
    {
        assert!(Instant::now() < deadline, "events never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let receiver = Receiver::new();
    let _running = receiver.serve(addr).await;
    wait_until("callbacks after the purge", Duration::from_secs(30), || {
        receiver.bodies().len() >= 3
    })
    .await;
    let bodies = receiver.bodies();
    let types: Vec<_> = bodies.iter().map(|b| &b["EventType"]).collect();
    assert_eq!(types, ["RoomStart", "MicOn", "RoomEnd"]);
}

/// An in-process server whose DNS answers every name with a public address, as an attacker's
/// (or a wildcard or search domain's) would.
async fn server_with_hostile_dns(dir: &tempfile::TempDir, allow_private: bool) -> InProcessServer {
    let mut config = ServeConfig::default();
    config.rate_limits.default = 0;
    config.rate_limits.actions.clear();
    config.callbacks.allow_private = allow_private;
    config
        .callbacks
        .host_overrides
        .insert("*".into(), vec!["93.184.216.34".parse().unwrap()]);
    InProcessServer::start(dir.path(), config, Arc::new(ManualClock::new(now_ms()))).await
}

/// Issue 11 item 4: the destination check and the HTTP client read the host out of the URL
/// the same way (one parse, and the request is sent with the parsed URL), so no spelling of
/// 127.0.0.1 gets a callback there. A check that read a host *name* out of one of these URLs
/// would ask DNS, which here says "public", and let the URL through; the client would then
/// connect to 127.0.0.1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spellings_of_loopback_are_refused_and_never_delivered_to() {
    let receiver = Receiver::new();
    let addr = free_addr().await;
    let _running = receiver.serve(addr).await;
    let port = addr.port();
    // Each of these reaches the receiver when private destinations are allowed (checked below).
    let to_receiver = [
        format!("http://127.0.0.1:{port}\\x.evil.test/hook"),
        format!("http://%31%32%37.0.0.1:{port}/hook"),
        format!("http://\u{ff11}\u{ff12}\u{ff17}.\u{ff10}.\u{ff10}.\u{ff11}:{port}/hook"),
        format!(
            "http://\u{ff11}\u{ff12}\u{ff17}\u{ff0e}\u{ff10}\u{ff0e}\u{ff10}\u{ff0e}\u{ff11}:{port}/hook"
        ),
        format!("http://[::ffff:127.0.0.1]:{port}/hook"),
        format!("http://0x7f.1:{port}/hook"),
        format!("http://2130706433:{port}/hook"),
        format!("http://0177.0.0.1:{port}/hook"),
        format!("http://127.1:{port}/hook"),
        format!("http://127.0.0.1.:{port}/hook"),
    ];
    let mut urls = to_receiver.to_vec();
    // The issue's own example: 127.0.0.1, port 80 (the backslash ends the host and port).
    urls.push("http://127.0.0.1\\x.evil.test/hook".into());
    urls.push(format!("http://127.0.0.1\\x.evil.test:{port}/hook"));

    let dir = tempfile::tempdir().unwrap();
    let server = server_with_hostile_dns(&dir, false).await;
    let client = server.client();
    let app = server.sdk_app_id();
    let mut not_refused_as_loopback = Vec::new();
    for url in &urls {
        let modify = json!({"SdkAppId": app, "Callback": url, "CallbackKey": KEY});
        let response = client
            .call_raw("ModifyApp", &modify)
            .await
            .expect("transport");
        let refused = response["Error"]["Code"] == "InvalidParameterValue"
            && error_message(&response).contains("loopback");
        if !refused {
            not_refused_as_loopback.push(format!("{url}: {response}"));
        }
    }
    assert!(
        not_refused_as_loopback.is_empty(),
        "{not_refused_as_loopback:#?}"
    );
    let detail = json!({"ApplicationId": app.to_string()});
    let detail = call(&client, "DescribeAppDetail", detail).await;
    assert_eq!(detail["AppConfig"]["Callback"], "", "nothing was stored");

    // Nor is such a URL delivered to when it is in the store anyway (configured while private
    // destinations were allowed, say): every delivery checks again, and sends what it checked.
    // One room per URL: a room's deliveries go in order, and a refused one is retried first.
    let mut delivered_or_tried = Vec::new();
    for url in &urls {
        server
            .store()
            .set_app_callback(app, Some(url), Some(KEY))
            .await
            .unwrap();
        let room = create_room(&client, app).await;
        report(&client, app, room, &["e".into()]).await;
        let attempt = eventually("the delivery attempt", || {
            let client = client.clone();
            async move {
                let params = json!({"SdkAppId": app, "RoomId": room});
                let deliveries = call(&client, "DescribeCallbackDeliveries", params).await;
                let first = deliveries["Deliveries"][0].clone();
                (first["Attempts"].as_u64() > Some(0)).then_some(first)
            }
        })
        .await;
        let refused = attempt["Status"] == "Pending"
            && attempt["LastError"]
                .as_str()
                .is_some_and(|e| e.contains("loopback"));
        if !refused {
            delivered_or_tried.push(format!("{url}: {attempt}"));
        }
    }
    // Give a stray request time to arrive.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        receiver.received.lock().unwrap().is_empty() && delivered_or_tried.is_empty(),
        "the receiver on {addr} got {} callbacks; not refused at delivery: {delivered_or_tried:#?}",
        receiver.received.lock().unwrap().len()
    );
    server.stop().await;

    // The control: with private destinations allowed, the same URLs do reach the receiver (so
    // the receiver above would have seen any that got through).
    let dir = tempfile::tempdir().unwrap();
    let server = server_with_hostile_dns(&dir, true).await;
    let client = server.client();
    let app = server.sdk_app_id();
    for url in &to_receiver {
        let modify = json!({"SdkAppId": app, "Callback": url, "CallbackKey": KEY});
        call(&client, "ModifyApp", modify).await;
        let room = create_room(&client, app).await;
        report(&client, app, room, &[format!("{room}")]).await;
        wait_until(url, Duration::from_secs(10), || {
            let bodies = receiver.bodies();
            bodies.iter().any(|b| b["EventData"]["RoomId"] == room)
        })
        .await;
    }
    server.stop().await;
}
