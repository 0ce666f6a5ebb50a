//! End-to-end: the real binary on a real socket, driven over HTTP. One story per test.

mod support;

use std::time::{Duration, Instant};

use roomlog_protocol::Tc3Signer;
use serde_json::{json, Value};
use support::{
    assert_codes, call, create_room, error_code, error_message, event_types, get_page, metric,
    metrics_text, report_events, room_params, TestServer,
};

/// Sends a TC3-signed POST with an arbitrary body (and version), returning the raw response.
async fn signed_post(
    server: &TestServer,
    action: &str,
    version: &str,
    body: &[u8],
) -> reqwest::Response {
    let host = format!("127.0.0.1:{}", server.port);
    let signer = Tc3Signer {
        secret_id: &server.credentials.secret_id,
        secret_key: &server.credentials.secret_key,
        service: "lcic",
    };
    let headers =
        signer.sign_post_json(&host, action, version, body, roomlog_core::time::now_secs());
    let mut request = roomlog::client::http_client()
        .post(format!("{}/", server.endpoint))
        .body(body.to_vec());
    for (name, value) in headers {
        request = request.header(name, value);
    }
    request.send().await.expect("send")
}

/// Checks the envelope's invariants and returns `Response`.
async fn envelope(response: reqwest::Response) -> Value {
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.expect("JSON body");
    let inner = body["Response"].clone();
    let request_id = inner["RequestId"].as_str().expect("RequestId");
    assert_eq!(request_id.len(), 36, "RequestId is a UUID: {request_id}");
    inner
}

fn code(response: &Value) -> &str {
    response["Error"]["Code"].as_str().unwrap_or("<success>")
}

#[tokio::test]
async fn protocol_errors_keep_the_envelope() {
    let server = TestServer::start(&[]);
    let http = roomlog::client::http_client();
    let url = format!("{}/", server.endpoint);

    let unsigned = envelope(
        http.post(&url)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code(&unsigned), "AuthFailure.InvalidAuthorization");

    let put = envelope(http.put(&url).body("{}").send().await.unwrap()).await;
    assert_eq!(code(&put), "UnsupportedProtocol");

    let bad_json =
        envelope(signed_post(&server, "GetRoomEvent", "2022-08-17", b"{not json").await).await;
    assert_eq!(code(&bad_json), "InvalidParameter");

    let unknown_action =
        envelope(signed_post(&server, "DescribeNothing", "2022-08-17", b"{}").await).await;
    assert_eq!(code(&unknown_action), "InvalidAction");

    let wrong_version =
        envelope(signed_post(&server, "GetRoomEvent", "2017-03-12", b"{}").await).await;
    assert_eq!(code(&wrong_version), "NoSuchVersion");

    let huge = vec![b' '; 10 * 1024 * 1024 + 10];
    let too_big = envelope(signed_post(&server, "GetRoomEvent", "2022-08-17", &huge).await).await;
    assert_eq!(code(&too_big), "RequestSizeLimitExceeded");

    let rooms = json!({"SdkAppId": server.sdk_app_id()});
    for (secret_id, secret_key, expected) in [
        (
            server.credentials.secret_id.as_str(),
            "not-the-key",
            "AuthFailure.SignatureFailure",
        ),
        ("AKIDunknown", "x", "AuthFailure.SecretIdNotFound"),
    ] {
        let client = roomlog::client::Client::new(&server.endpoint, secret_id, secret_key).unwrap();
        assert_eq!(
            error_code(&client, "GetRooms", rooms.clone()).await,
            expected
        );
    }

    // Typed parameters: wrong JSON types, unknown and missing fields.
    let client = server.client();
    let app = server.sdk_app_id();
    let room = create_room(&client, app).await;
    let base = json!({"RoomId": room, "SdkAppId": app, "Page": 1, "Limit": 10});
    for (field, value, expected) in [
        ("Limit", json!("10"), "InvalidParameter"),
        ("Limit", json!(-1), "InvalidParameter"),
        ("Limit", json!(1.5), "InvalidParameter"),
        ("Page", json!(18446744073709551616.0), "InvalidParameter"),
        ("Limit", json!(0), "InvalidParameterValue"),
        ("Limit", json!(201), "InvalidParameterValue"),
        ("Page", json!(0), "InvalidParameterValue"),
        ("Keyword", json!("NotAnEvent"), "InvalidParameterValue"),
        ("Bogus", json!(1), "UnknownParameter"),
    ] {
        let mut params = base.clone();
        params[field] = value.clone();
        let code = error_code(&client, "GetRoomEvent", params).await;
        assert_eq!(code, expected, "{field}={value}");
    }
    let mut missing = base.clone();
    missing.as_object_mut().unwrap().remove("Page");
    let code = error_code(&client, "GetRoomEvent", missing).await;
    assert_eq!(code, "MissingParameter");

    let health = http.get(format!("{}/healthz", server.endpoint)).send();
    assert_eq!(health.await.unwrap().status(), 200);
    let metrics = metrics_text(&server).await;
    assert!(metrics.contains("roomlog_requests_total"), "{metrics}");
    assert!(metrics.contains("action=\"GetRoomEvent\""), "{metrics}");
}

#[tokio::test]
async fn room_lifecycle_records_start_and_end() {
    let server = TestServer::start(&[]);
    let client = server.client();
    let app = server.sdk_app_id();
    let mut params = room_params(app);
    params["TeacherId"] = json!("t1");
    params["Assistants"] = json!(["a1", "a2"]);
    params["EndDelayTime"] = json!(-1);
    let room = client.call("CreateRoom", &params).await.unwrap()["RoomId"]
        .as_u64()
        .unwrap();

    let described = call(&client, "DescribeRoom", json!({"RoomId": room})).await;
    assert_eq!(described["Name"], "Test class");
    assert_eq!(described["TeacherId"], "t1");
    assert_eq!(described["Assistants"], json!(["a1", "a2"]));
    assert_eq!(described["EndDelayTime"], -1);
    assert_eq!(described["Status"], 0);

    let modify = |changes: Value| {
        let mut params = json!({"RoomId": room, "SdkAppId": app});
        params
            .as_object_mut()
            .unwrap()
            .extend(changes.as_object().unwrap().clone());
        params
    };
    let params = modify(json!({"Name": "Renamed", "MaxMicNumber": 3}));
    call(&client, "ModifyRoom", params).await;
    let described = call(&client, "DescribeRoom", json!({"RoomId": room})).await;
    assert_eq!(
        (
            described["Name"].as_str(),
            described["MaxMicNumber"].as_u64()
        ),
        (Some("Renamed"), Some(3))
    );
    let this = json!({"RoomId": room});
    assert_codes(
        &client,
        [
            (
                "ModifyRoom",
                modify(json!({"MaxMicNumber": 17})),
                "InvalidParameter.MaxMicNumber",
            ),
            ("EndRoom", this.clone(), "FailedOperation"),
        ],
    )
    .await;
    call(&client, "StartRoom", this.clone()).await;
    assert_codes(
        &client,
        [
            ("StartRoom", this.clone(), "FailedOperation.ClassStarted"),
            (
                "ModifyRoom",
                modify(json!({"Name": "x"})),
                "FailedOperation.ClassStarted",
            ),
            ("DeleteRoom", this.clone(), "FailedOperation.ClassStarted"),
        ],
    )
    .await;
    call(&client, "EndRoom", this.clone()).await;
    assert_codes(
        &client,
        [
            ("EndRoom", this.clone(), "FailedOperation.ClassEnded"),
            ("StartRoom", this.clone(), "FailedOperation.ClassEnded"),
        ],
    )
    .await;

    let events = get_page(&client, app, room, 1, 10).await;
    assert_eq!(events["Total"], 2);
    assert_eq!(event_types(&events), ["RoomStart", "RoomEnd"]);
    assert_eq!(events["Events"][0]["EventData"], json!({"RoomId": room}));

    let listed = call(&client, "GetRooms", json!({"SdkAppId": app, "Status": [2]})).await;
    assert_eq!(listed["Total"], 1);
    assert_eq!(listed["Rooms"][0]["RoomId"], room);
    assert!(listed["Rooms"][0]["RealEndTime"].as_u64().unwrap() > 0);

    call(&client, "DeleteRoom", this.clone()).await;
    let deleted = error_code(&client, "DescribeRoom", this).await;
    assert_eq!(deleted, "ResourceNotFound.Room");

    // Validation codes of CreateRoom.
    let base = room_params(app);
    let start = base["StartTime"].as_u64().unwrap();
    for (field, value, expected) in [
        ("EndTime", json!(start), "InvalidParameter.EndTime"),
        (
            "EndTime",
            json!(start + 73 * 3600),
            "FailedOperation.ClassTooLong",
        ),
        ("RoomType", json!(9), "InvalidParameter.RoomTypeInvalid"),
    ] {
        let mut params = base.clone();
        params[field] = value.clone();
        let code = error_code(&client, "CreateRoom", params).await;
        assert_eq!(code, expected, "{field}={value}");
    }

    // BatchCreateRoom: ids in input order, all or nothing.
    let mut infos: Vec<Value> = (0..3)
        .map(|i| {
            let mut p = room_params(app);
            p.as_object_mut().unwrap().remove("SdkAppId");
            p["Name"] = json!(format!("batch {i}"));
            p
        })
        .collect();
    let batch = |infos: &[Value]| json!({"SdkAppId": app, "RoomInfos": infos});
    let created = call(&client, "BatchCreateRoom", batch(&infos)).await;
    let ids = created["RoomIds"].as_array().unwrap();
    assert_eq!(ids.len(), 3);
    for (i, id) in ids.iter().enumerate() {
        let described = call(&client, "DescribeRoom", json!({"RoomId": id})).await;
        assert_eq!(described["Name"], format!("batch {i}"));
    }
    infos[1]["Resolution"] = json!(7);
    let code = error_code(&client, "BatchCreateRoom", batch(&infos)).await;
    assert_eq!(code, "InvalidParameterValue");
    let listed = call(&client, "GetRooms", json!({"SdkAppId": app, "Limit": 100})).await;
    assert_eq!(
        listed["Total"], 3,
        "the failed batch created nothing: {listed}"
    );
}

fn join(id: &str, user: &str) -> Value {
    json!({"EventId": id, "EventType": "MemberJoin", "UserId": user, "Role": 0, "Device": 5})
}

#[tokio::test]
async fn ingest_is_idempotent_all_or_nothing_and_closed_after_class() {
    let server = TestServer::start(&[]);
    let client = server.client();
    let app = server.sdk_app_id();
    let room = create_room(&client, app).await;
    let report = |events: Value| json!({"SdkAppId": app, "RoomId": room, "Events": events});
    let refused = |events: Value| error_code(&client, "ReportRoomEvents", report(events));
    let counts = |r: &Value| (r["Accepted"].as_u64(), r["Duplicates"].as_u64());

    // Before class, member events are taken.
    let first = report_events(&client, app, room, &[join("e1", "u1"), join("e2", "u2")]).await;
    assert_eq!(counts(&first), (Some(2), Some(0)));
    let retry = [join("e1", "u1"), join("e3", "u3"), join("e3", "u3")];
    let retry = report_events(&client, app, room, &retry).await;
    assert_eq!(counts(&retry), (Some(1), Some(2)));

    // One bad event rejects the batch, naming index and field; nothing is recorded.
    let response = client
        .call_raw(
            "ReportRoomEvents",
            &report(json!([join("e4", "u4"), {"EventId": "e5", "EventType": "MicOn"}])),
        )
        .await
        .unwrap();
    assert_eq!(code(&response), "InvalidParameterValue");
    assert!(
        response["Error"]["Message"]
            .as_str()
            .unwrap()
            .contains("Events.1.UserId"),
        "{response}"
    );
    let future = roomlog_core::time::now_ms() + 10 * 60 * 1000;
    for events in [
        json!([{"EventId": "x", "EventType": "RoomStart"}]),
        json!([{"EventId": "x", "EventType": "MicOn", "UserId": "u", "TimestampMs": future}]),
        json!([]),
    ] {
        assert_eq!(
            refused(events.clone()).await,
            "InvalidParameterValue",
            "{events}"
        );
    }

    call(&client, "StartRoom", json!({"RoomId": room})).await;
    report_events(
        &client,
        app,
        room,
        &[json!({"EventId": "m1", "EventType": "MicOn", "UserId": "u1"})],
    )
    .await;
    call(&client, "EndRoom", json!({"RoomId": room})).await;

    // After the class: member and media events are refused, RecordFinish is taken, and a retry
    // of an acknowledged batch still answers with its duplicates.
    let late = refused(json!([join("late", "u9")])).await;
    assert_eq!(late, "FailedOperation.ClassEnded");
    let retry = report_events(&client, app, room, &[join("e1", "u1")]).await;
    assert_eq!(retry["Duplicates"], 1);
    let record = json!({"EventId": "rec", "EventType": "RecordFinish", "Duration": 3600, "RecordSize": 1024, "RecordUrl": "https://r.example/1.mp4"});
    assert_eq!(
        report_events(&client, app, room, &[record]).await["Accepted"],
        1
    );

    let events = get_page(&client, app, room, 1, 200).await;
    assert_eq!(
        event_types(&events),
        [
            "MemberJoin",
            "MemberJoin",
            "MemberJoin",
            "RoomStart",
            "MicOn",
            // RoomEnd closes the class for the three members still present (Reason 5).
            "MemberQuit",
            "MemberQuit",
            "MemberQuit",
            "RoomEnd",
            "RecordFinish"
        ]
    );
    assert_eq!(events["Total"], 10);
    assert_eq!(
        events["Events"][5]["EventData"],
        json!({"RoomId": room, "UserId": "u1", "Role": 0, "Reason": 5})
    );
    assert_eq!(
        events["Events"][9]["EventData"],
        json!({"RoomId": room, "Duration": 3600, "RecordSize": 1024, "RecordUrl": "https://r.example/1.mp4"})
    );
    assert_eq!(
        events["Events"][0]["EventData"],
        json!({"RoomId": room, "UserId": "u1", "Device": 5, "Role": 0})
    );
}

#[tokio::test]
async fn get_room_event_pages_by_sequence_and_streams_keywords() {
    // Paging through 1,050 events takes more than 20 requests in a second.
    let server = TestServer::start(&["--rate-limit", "GetRoomEvent=0"]);
    let client = server.client();
    let app = server.sdk_app_id();
    let room = create_room(&client, app).await;
    let base_ms = roomlog_core::time::now_ms() - 1_000_000;
    // 1,050 events: every third a MicOn, the rest joins, with increasing timestamps.
    let events: Vec<Value> = (0..1050)
        .map(|i| {
            let ty = if i % 3 == 0 { "MicOn" } else { "MemberJoin" };
            json!({"EventId": format!("e{i}"), "EventType": ty, "UserId": format!("u{i}"), "TimestampMs": base_ms + i * 1000})
        })
        .collect();
    for chunk in events.chunks(500) {
        report_events(&client, app, room, chunk).await;
    }
    let mut seen = Vec::new();
    for p in 1.. {
        let response = get_page(&client, app, room, p, 37).await;
        assert_eq!(response["Total"], 1050);
        let batch = response["Events"].as_array().unwrap().clone();
        if batch.is_empty() {
            break;
        }
        seen.extend(batch);
    }
    assert_eq!(seen.len(), 1050);
    for (i, event) in seen.iter().enumerate() {
        assert_eq!(event["EventData"]["UserId"], format!("u{i}"), "log order");
        assert_eq!(
            event["Timestamp"].as_i64().unwrap(),
            (base_ms + i as i64 * 1000).div_euclid(1000),
            "seconds"
        );
    }
    let past_the_end = get_page(&client, app, room, u64::MAX, 200).await;
    assert_eq!(past_the_end["Events"], json!([]));

    let query = |page: u64, limit: u64, keyword: &str| json!({"RoomId": room, "SdkAppId": app, "Page": page, "Limit": limit, "Keyword": keyword});
    let keyword = call(&client, "GetRoomEvent", query(1, 1, "MicOn")).await;
    assert_eq!(keyword["Total"], 1050, "Total ignores Keyword");
    let mics = keyword["Events"].as_array().unwrap();
    assert_eq!(mics.len(), 350, "every MicOn, not one page");
    assert!(mics.iter().all(|e| e["EventType"] == "MicOn"));
    let users: Vec<String> = mics
        .iter()
        .map(|e| e["EventData"]["UserId"].as_str().unwrap().to_owned())
        .collect();
    let expected: Vec<String> = (0..1050)
        .filter(|i| i % 3 == 0)
        .map(|i| format!("u{i}"))
        .collect();
    assert_eq!(users, expected);
    let none = call(&client, "GetRoomEvent", query(1, 1, "RecordFinish")).await;
    assert_eq!(none["Events"], json!([]));
    let empty_keyword = call(&client, "GetRoomEvent", query(2, 5, "")).await;
    let events = empty_keyword["Events"].as_array().unwrap();
    assert_eq!(events.len(), 5, "empty Keyword = none");
}

/// `roomlog_page_cache_{hits,misses}_total` from the server's metrics.
async fn page_cache_counts(server: &TestServer) -> (u64, u64) {
    (
        metric(server, "roomlog_page_cache_hits_total").await as u64,
        metric(server, "roomlog_page_cache_misses_total").await as u64,
    )
}

/// Polls `action` until it fails (within 30 s) and returns that answer.
async fn first_error(client: &roomlog::client::Client, action: &str, params: &Value) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = client.call_raw(action, params).await.unwrap();
        if response.get("Error").is_some() {
            return response;
        }
        assert!(Instant::now() < deadline, "{action} never failed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A second account with an app and a key (`roomlog admin`): a client signing with the key,
/// the app's SdkAppId and the key's SecretId.
fn other_account(server: &TestServer, name: &str) -> (roomlog::client::Client, u64, String) {
    let account = admin(server, &["create-account", name])["AccountId"]
        .as_u64()
        .unwrap();
    let app = admin(server, &["create-app", "--account", &account.to_string()])["SdkAppId"]
        .as_u64()
        .unwrap();
    let key = admin(server, &["create-key", "--account", &account.to_string()]);
    let secret_id = key["SecretId"].as_str().unwrap().to_owned();
    let client = roomlog::client::Client::new(
        &server.endpoint,
        &secret_id,
        key["SecretKey"].as_str().unwrap(),
    )
    .unwrap();
    (client, app, secret_id)
}

#[tokio::test]
async fn cached_pages_are_exact_and_never_outlive_what_the_room_shows() {
    let server = TestServer::start(&[
        "--rate-limit",
        "GetRoomEvent=0",
        "--events-retention-after-end",
        "2s",
    ]);
    let client = server.client();
    let app = server.sdk_app_id();
    let room = create_room(&client, app).await;
    call(&client, "StartRoom", json!({"RoomId": room})).await;
    let joins = |from: usize, to: usize| -> Vec<Value> {
        (from..to)
            .map(|i| join(&format!("e{i}"), &format!("u{i}")))
            .collect()
    };
    let page = |page: u64, limit: u64| get_page(&client, app, room, page, limit);
    let users = |response: &Value| -> Vec<String> {
        response["Events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["EventData"]["UserId"].as_str().unwrap_or("-").to_owned())
            .collect()
    };
    // RoomStart (seq 1) and 20 joins.
    report_events(&client, app, room, &joins(0, 20)).await;

    // Every page read twice: the second time from the cache, the same answer.
    let (hits_before, misses_before) = page_cache_counts(&server).await;
    for limit in [1, 7, 21] {
        for p in 1..=(21u64.div_ceil(limit) + 1) {
            let first = page(p, limit).await;
            let again = page(p, limit).await;
            assert_eq!(first["Events"], again["Events"], "page {p} of {limit}");
            let expected: Vec<String> = std::iter::once("-".to_owned())
                .chain((0..20).map(|i| format!("u{i}")))
                .skip(((p - 1) * limit) as usize)
                .take(limit as usize)
                .collect();
            assert_eq!(users(&again), expected, "page {p} of {limit}");
            assert_eq!(again["Total"], 21);
        }
    }
    let (hits, misses) = page_cache_counts(&server).await;
    // Pages past the end read nothing and are not counted.
    let pages: u64 = [1u64, 7, 21].iter().map(|l| 21u64.div_ceil(*l)).sum();
    assert_eq!(
        (hits - hits_before, misses - misses_before),
        (pages, pages),
        "each page missed once, then hit"
    );

    // The last page grows as events arrive: never the copy of its shorter self.
    assert_eq!(users(&page(3, 10).await), ["u19"]);
    report_events(&client, app, room, &joins(20, 23)).await;
    assert_eq!(users(&page(3, 10).await), ["u19", "u20", "u21", "u22"]);
    assert_eq!(page(3, 10).await["Total"], 24);

    // Another account sees no room, cached pages or not.
    let (mallory, mallory_app, _) = other_account(&server, "mallory");
    assert_eq!(
        error_code(
            &mallory,
            "GetRoomEvent",
            json!({"RoomId": room, "SdkAppId": mallory_app, "Page": 1, "Limit": 7})
        )
        .await,
        "ResourceNotFound.Room"
    );

    // A deleted room's cached pages are not served.
    let unstarted = create_room(&client, app).await;
    report_events(&client, app, unstarted, &joins(0, 5)).await;
    get_page(&client, app, unstarted, 1, 5).await;
    assert_eq!(
        users(&get_page(&client, app, unstarted, 1, 5).await).len(),
        5
    );
    let query = json!({"RoomId": unstarted, "SdkAppId": app, "Page": 1, "Limit": 5});
    call(&client, "DeleteRoom", json!({"RoomId": unstarted})).await;
    assert_eq!(
        error_code(&client, "GetRoomEvent", query).await,
        "ResourceNotFound.Room"
    );

    // Nor an expired room's: once the retention has passed, the answer is the expiry error.
    call(&client, "EndRoom", json!({"RoomId": room})).await;
    assert_eq!(users(&page(1, 7).await).len(), 7);
    let query = json!({"RoomId": room, "SdkAppId": app, "Page": 1, "Limit": 7});
    let expired = first_error(&client, "GetRoomEvent", &query).await;
    assert_eq!(code(&expired), "FailedOperation", "{expired}");
}

#[tokio::test]
async fn the_page_cache_can_be_turned_off() {
    let server = TestServer::start(&["--page-cache-mib", "0"]);
    let client = server.client();
    let app = server.sdk_app_id();
    let room = create_room(&client, app).await;
    report_events(&client, app, room, &[join("e1", "u1")]).await;
    let first = get_page(&client, app, room, 1, 10).await;
    let again = get_page(&client, app, room, 1, 10).await;
    assert_eq!(first["Events"], again["Events"]);
    assert_eq!(first["Events"][0]["EventData"]["UserId"], "u1");
    let (hits, misses) = page_cache_counts(&server).await;
    assert_eq!(hits, 0, "nothing is kept, so nothing is found");
    assert_eq!(misses, 2);
}

/// Runs `roomlog admin` against a data directory and parses its JSON output.
fn admin(server: &TestServer, args: &[&str]) -> Value {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_roomlog"))
        .arg("admin")
        .arg("--data-dir")
        .arg(&server.data_dir)
        .args(args)
        .output()
        .expect("roomlog admin");
    assert!(
        output.status.success(),
        "admin {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("admin prints JSON")
}

#[tokio::test]
async fn tenants_are_isolated_and_keys_can_be_disabled_while_running() {
    let server = TestServer::start(&[]);
    let alice = server.client();
    let alice_app = server.sdk_app_id();
    let alice_room = create_room(&alice, alice_app).await;

    let (bob, bob_app, bob_secret_id) = other_account(&server, "bob");
    let bob_room = create_room(&bob, bob_app).await;

    // Bob cannot use Alice's app, and Alice's room looks exactly like one that never existed.
    let created = error_code(&bob, "CreateRoom", room_params(alice_app)).await;
    assert_eq!(created, "InvalidParameter.SdkAppId");
    for (room, app, expected) in [
        (alice_room, alice_app, "InvalidParameter.SdkAppId"),
        (alice_room, bob_app, "ResourceNotFound.Room"),
        (999_999_999, bob_app, "ResourceNotFound.Room"),
    ] {
        let params = json!({"RoomId": room, "SdkAppId": app, "Page": 1, "Limit": 10});
        let code = error_code(&bob, "GetRoomEvent", params).await;
        assert_eq!(code, expected, "{room} of {app}");
    }
    for action in ["DescribeRoom", "StartRoom", "EndRoom", "DeleteRoom"] {
        let (other, missing) = (
            json!({"RoomId": alice_room}),
            json!({"RoomId": 999_999_999u64}),
        );
        let other = bob.call_raw(action, &other).await.unwrap();
        let missing = bob.call_raw(action, &missing).await.unwrap();
        assert_eq!(code(&other), "ResourceNotFound.Room", "{action}");
        assert_eq!(
            error_message(&other).replace(&alice_room.to_string(), "N"),
            error_message(&missing).replace("999999999", "N"),
            "indistinguishable"
        );
    }
    let report = json!({"SdkAppId": bob_app, "RoomId": alice_room, "Events": [join("x", "u")]});
    let reported = error_code(&bob, "ReportRoomEvents", report).await;
    assert_eq!(reported, "ResourceNotFound.Room");
    call(&bob, "DescribeRoom", json!({"RoomId": bob_room})).await;

    // A running server re-reads an enabled key at least once per `cache::TTL` (1 s): the
    // disabling (by another process) takes effect within that.
    let secret_id = bob_secret_id.as_str();
    admin(&server, &["disable-key", secret_id]);
    let disabled_at = std::time::Instant::now();
    loop {
        let sent = disabled_at.elapsed();
        let describe = json!({"RoomId": bob_room});
        let response = bob.call_raw("DescribeRoom", &describe).await.unwrap();
        if response.get("Error").is_none() {
            assert!(
                sent < roomlog_server::cache::TTL,
                "a disabled key still works {sent:?} after disable-key"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        }
        assert_eq!(code(&response), "AuthFailure.SecretIdNotFound");
        break;
    }
    // Re-enabling takes effect at once (disabled keys are never kept).
    admin(&server, &["enable-key", secret_id]);
    call(&bob, "DescribeRoom", json!({"RoomId": bob_room})).await;
    let keys = admin(&server, &["list-keys"]);
    let keys = keys.as_array().unwrap();
    assert_eq!(keys.len(), 2);
    let secrets = keys.iter().filter(|k| k.get("SecretKey").is_some());
    assert_eq!(secrets.count(), 0, "list-keys never prints secrets");
}

#[tokio::test]
async fn rate_limit_applies_per_account_after_authentication() {
    let server = TestServer::start(&["--rate-limit", "DescribeRoom=5"]);
    let client = server.client();
    let room = create_room(&client, server.sdk_app_id()).await;
    // Forged requests with Alice's SecretId but a wrong key do not spend her quota.
    let forged =
        roomlog::client::Client::new(&server.endpoint, &server.credentials.secret_id, "forged")
            .unwrap();
    for _ in 0..20 {
        let code = error_code(&forged, "DescribeRoom", json!({"RoomId": room})).await;
        assert_eq!(code, "AuthFailure.SignatureFailure");
    }
    let (describe, mut codes) = (json!({"RoomId": room}), Vec::new());
    for _ in 0..20 {
        let response = client.call_raw("DescribeRoom", &describe).await.unwrap();
        codes.push(code(&response).to_owned());
    }
    let count = |code: &str| codes.iter().filter(|c| *c == code).count();
    let (ok, limited) = (count("<success>"), count("RequestLimitExceeded"));
    assert!(ok >= 5, "the first 5 pass: {codes:?}");
    assert!(limited >= 1, "a burst of 20 exceeds 5/s: {codes:?}");
    assert_eq!(ok + limited, 20);
    // Other actions have their own budget.
    let params = json!({"SdkAppId": server.sdk_app_id()});
    call(&client, "GetRooms", params).await;
}

#[tokio::test]
async fn events_expire_after_retention_and_are_purged() {
    let server = TestServer::start(&["--events-retention-after-end", "1s"]);
    let client = server.client();
    let app = server.sdk_app_id();
    let room = create_room(&client, app).await;
    call(&client, "StartRoom", json!({"RoomId": room})).await;
    report_events(&client, app, room, &[join("e1", "u1")]).await;
    call(&client, "EndRoom", json!({"RoomId": room})).await;
    let query = json!({"RoomId": room, "SdkAppId": app, "Page": 1, "Limit": 10});
    // RoomStart, MemberJoin, the MemberQuit RoomEnd records for u1, RoomEnd.
    assert_eq!(get_page(&client, app, room, 1, 10).await["Total"], 4);

    let expired = first_error(&client, "GetRoomEvent", &query).await;
    assert_eq!(code(&expired), "FailedOperation");
    assert!(error_message(&expired).contains("expired"), "{expired}");
    // The room itself stays; late recordings are no longer taken.
    assert_eq!(
        call(&client, "DescribeRoom", json!({"RoomId": room})).await["Status"],
        2
    );
    let record = json!([{"EventId": "rec", "EventType": "RecordFinish", "Duration": 1}]);
    let report = json!({"SdkAppId": app, "RoomId": room, "Events": record});
    let late = error_code(&client, "ReportRoomEvents", report).await;
    assert_eq!(late, "FailedOperation");

    // The purge really deleted them: the purge counter moves.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let purged = metric(&server, "roomlog_purged_events_total").await;
        if purged == 4.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "purge did not run: {purged} purged"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn sigterm_shuts_down_gracefully_and_data_survives() {
    let mut server = TestServer::start(&[]);
    let client = server.client();
    let app = server.sdk_app_id();
    let room = create_room(&client, app).await;
    report_events(&client, app, room, &[join("e1", "u1")]).await;
    let status = server.terminate();
    assert!(status.success(), "exit status {status}");
    server.restart();
    let events = get_page(&server.client(), app, room, 1, 10).await;
    assert_eq!(events["Total"], 1);
    // A second start does not bootstrap again.
    assert_eq!(server.credentials.sdk_app_id, app);
}

/// Runs a `roomlog` client subcommand against the server; returns (success, stdout).
fn roomlog_cli(server: &TestServer, args: &[&str]) -> (bool, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_roomlog"))
        .args(args)
        .arg("--endpoint")
        .arg(&server.endpoint)
        .arg("--data-dir")
        .arg(&server.data_dir)
        .output()
        .expect("run roomlog");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    (output.status.success(), stdout)
}

#[tokio::test]
async fn call_and_simulate_work_from_the_command_line() {
    let server = TestServer::start(&["--rate-limit-default", "0"]);
    let now = roomlog_core::time::now_secs();
    let (ok, out) = roomlog_cli(
        &server,
        &[
            "call",
            "CreateRoom",
            "Name=From the CLI",
            &format!("StartTime={now}"),
            &format!("EndTime={}", now + 60),
            "Resolution=1",
            "MaxMicNumber=2",
            "SubType=video",
        ],
    );
    assert!(ok, "{out}");
    let room = serde_json::from_str::<Value>(&out).unwrap()["RoomId"]
        .as_u64()
        .expect("RoomId printed");
    let (ok, out) = roomlog_cli(
        &server,
        &[
            "call",
            "ReportRoomEvents",
            &format!("RoomId={room}"),
            "--json",
            r#"{"Events": [{"EventId": "e1", "EventType": "MemberJoin", "UserId": "cli", "Role": 1}]}"#,
        ],
    );
    assert!(ok, "{out}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["Accepted"], 1);
    let room_id = format!("RoomId={room}");
    let (ok, out) = roomlog_cli(
        &server,
        &["call", "GetRoomEvent", &room_id, "Page=1", "Limit=10"],
    );
    assert!(ok, "{out}");
    let events = serde_json::from_str::<Value>(&out).unwrap()["Events"].clone();
    assert_eq!(events[0]["EventData"]["UserId"], "cli");
    // An API error prints the envelope and exits non-zero.
    let (ok, out) = roomlog_cli(&server, &["call", "DescribeRoom", "RoomId=1"]);
    assert!(!ok);
    assert!(out.contains("ResourceNotFound.Room"), "{out}");

    let simulate = ["simulate", "--students", "3", "--duration", "3s"];
    let (ok, out) = roomlog_cli(&server, &simulate);
    assert!(ok, "{out}");
    // teacher + 3 students: 4 joins, 4 quits, RoomStart, RoomEnd, RecordFinish, ...
    let count = |event_type: &str| {
        out.lines().find_map(|line| {
            let mut cells = line.split_whitespace();
            (cells.next() == Some(event_type)).then(|| cells.next().map(str::to_owned))?
        })
    };
    // The class started and ended by schedule, and its attendance is printed.
    for (event_type, expected) in [
        ("MemberJoin", "4"),
        ("MemberQuit", "4"),
        ("RecordFinish", "1"),
        ("RoomStart", "1"),
        ("RoomEnd", "1"),
    ] {
        assert_eq!(
            count(event_type).as_deref(),
            Some(expected),
            "{event_type}: {out}"
        );
    }
    assert!(out.contains(" 4/4 "), "all four came: {out}");
    assert!(out.contains("teacher"), "{out}");
}
