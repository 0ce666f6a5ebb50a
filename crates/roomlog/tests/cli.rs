//! The command line as a newcomer uses it, against real servers: `roomlog call` (typed values,
//! SdkAppId from the key's own account, following a stream), `roomlog simulate` under the
//! server's default limits and when the server refuses, and what an operator reads (metrics,
//! logs).

mod support;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{json, Value};
use support::{start_class, TestServer};

/// Runs `roomlog ARGS` against `server`, with its bootstrap credentials (the data directory).
fn roomlog(server: &TestServer, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_roomlog"))
        .args(args)
        .arg("--endpoint")
        .arg(&server.endpoint)
        .arg("--data-dir")
        .arg(&server.data_dir)
        .env_remove("ROOMLOG_SECRET_ID")
        .env_remove("ROOMLOG_SECRET_KEY")
        .output()
        .expect("run roomlog")
}

/// `roomlog call ...` as the bootstrap key; its printed JSON answer.
fn call(server: &TestServer, args: &[&str]) -> (bool, Value, String) {
    let mut full = vec!["call"];
    full.extend_from_slice(args);
    let output = roomlog(server, &full);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let answer = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (output.status.success(), answer, stderr)
}

/// [`call`], which must succeed: its answer.
fn call_ok(server: &TestServer, args: &[&str]) -> Value {
    let (ok, answer, err) = call(server, args);
    assert!(ok, "{args:?}: {answer} {err}");
    answer
}

fn admin(data_dir: &Path, args: &[&str]) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_roomlog"))
        .arg("admin")
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .output()
        .expect("run roomlog admin");
    assert!(output.status.success(), "admin {args:?}: {output:?}");
    serde_json::from_slice(&output.stdout).expect("admin prints JSON")
}

#[test]
fn call_fills_in_sdk_app_id_for_every_action_that_needs_it() {
    let server = TestServer::start(&[]);
    let app = server.sdk_app_id();

    // Actions that answered MissingParameter before.
    let answer = call_ok(&server, &["RegisterUser", "Name=Ada"]);
    let user = answer["UserId"].as_str().expect("UserId").to_owned();
    let answer = call_ok(
        &server,
        &["BatchRegister", "Users.0.Name=Bo", "Users.1.Name=Cy"],
    );
    let users = answer["Users"].as_array().map(Vec::len);
    assert_eq!(users, Some(2), "{answer}");
    call_ok(&server, &["DescribeCallbackDeliveries"]);
    call_ok(&server, &["ModifyApp", "CallbackKey=k"]);
    let answer = call_ok(&server, &["DescribeAppDetail"]);
    assert_eq!(answer["SdkAppId"], app.to_string());

    // Typed by the schema: ApplicationId is a string even though it looks like a number, and
    // a digits-only UserId stays a string.
    let app_text = format!("ApplicationId={app}");
    call_ok(&server, &["DescribeAppDetail", &app_text]);
    call_ok(&server, &["DescribeUser", &format!("UserId={user}")]);

    // Another account's key fills in that account's app, not the bootstrap one.
    let account = admin(&server.data_dir, &["create-account", "acme"])["AccountId"]
        .as_u64()
        .unwrap();
    let account_text = account.to_string();
    let other_app = admin(
        &server.data_dir,
        &["create-app", "--account", &account_text, "--name", "web"],
    )["SdkAppId"]
        .as_u64()
        .unwrap();
    let key = admin(
        &server.data_dir,
        &["create-key", "--account", &account_text],
    );
    let as_other = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_roomlog"))
            .arg("call")
            .args(args)
            .args(["--endpoint", &server.endpoint])
            .args(["--secret-id", key["SecretId"].as_str().unwrap()])
            .args(["--secret-key", key["SecretKey"].as_str().unwrap()])
            .output()
            .expect("run roomlog call");
        (
            output.status.success(),
            serde_json::from_slice::<Value>(&output.stdout).unwrap_or(Value::Null),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (ok, answer, err) = as_other(&["DescribeAppDetail"]);
    assert!(ok, "{answer} {err}");
    assert_eq!(answer["SdkAppId"], other_app.to_string());

    // With two apps it asks which.
    admin(
        &server.data_dir,
        &["create-app", "--account", &account_text, "--name", "mobile"],
    );
    let (ok, _, err) = as_other(&["GetRooms"]);
    assert!(!ok);
    assert!(err.contains("2 apps") && err.contains("SdkAppId="), "{err}");
    let (ok, answer, err) = as_other(&["GetRooms", &format!("SdkAppId={other_app}")]);
    assert!(ok, "{answer} {err}");

    // Mistakes are caught before anything is sent.
    let (ok, _, err) = call(&server, &["GetRoomEvent", "RoomId=abc"]);
    assert!(!ok && err.contains("RoomId"), "{err}");
    let (ok, _, err) = call(&server, &["GetRoomEvnt"]);
    assert!(!ok && err.contains("GetRoomEvent"), "{err}");
}

#[tokio::test]
async fn call_follows_a_stream_until_the_class_ends() {
    let server = TestServer::start(&[]);
    let client = server.client();
    let app = server.sdk_app_id();
    let room = start_class(&client, app).await;
    let join = json!({"EventId": "j", "EventType": "MemberJoin", "UserId": "alice", "Role": 0});
    support::report_events(&client, app, room, &[join]).await;
    let room_text = format!("RoomId={room}");

    // Started while the class runs: it must still be following when the class ends.
    let follower = {
        let mut command = Command::new(env!("CARGO_BIN_EXE_roomlog"));
        command
            .args(["call", "StreamRoomEvents", &room_text])
            .args(["--endpoint", &server.endpoint])
            .arg("--data-dir")
            .arg(&server.data_dir)
            .stdout(std::process::Stdio::piped());
        command.spawn().expect("spawn the tail")
    };
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let camera = json!({"EventId": "c", "EventType": "CameraOn", "UserId": "alice"});
    support::report_events(&client, app, room, &[camera]).await;
    support::call(&client, "EndRoom", json!({"RoomId": room})).await;
    let output = tokio::task::spawn_blocking(move || follower.wait_with_output())
        .await
        .unwrap()
        .expect("tail output");
    assert!(output.status.success(), "{output:?}");
    let lines: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON event a line"))
        .collect();
    let types: Vec<_> = lines.iter().map(|e| &e["EventType"]).collect();
    assert_eq!(
        types,
        [
            "RoomStart",
            "MemberJoin",
            "CameraOn",
            "MemberQuit",
            "RoomEnd"
        ]
    );
    let seqs: Vec<u64> = lines.iter().map(|e| e["Seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);

    // An error before the stream is the usual answer, and a failure.
    let (ok, _, err) = call(&server, &["StreamRoomEvents", "RoomId=999999999"]);
    assert!(!ok && err.contains("ResourceNotFound.Room"), "{err}");
}

#[test]
fn simulate_two_hundred_rooms_within_the_default_limits() {
    let server = TestServer::start(&[]);
    let simulate = [
        "simulate",
        "--rooms",
        "200",
        "--students",
        "1",
        "--duration",
        "3s",
    ];
    let output = roomlog(&server, &simulate);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    // Off a terminal it still says what it is doing.
    assert!(stderr.contains("simulate: reporting events"), "{stderr}");

    // Every room is listed, with exactly what was played in it: 13 reports (the script less
    // the member RoomEnd closes, plus RecordFinish), RoomStart, RoomEnd and the closing quit.
    let rooms = all_rooms(&server);
    assert_eq!(rooms.len(), 200);
    for room in &rooms {
        let row = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(&room.to_string()))
            .unwrap_or_else(|| panic!("room {room} is not in the report:\n{stdout}"));
        assert_eq!(row.split_whitespace().nth(1), Some("16"), "{row}");
    }
    assert!(stdout.contains("reported 2600 events"), "{stdout}");

    // The attendance table names roles and states, and its columns line up.
    let header = stdout
        .lines()
        .find(|l| l.contains("UserId") && l.contains("State"))
        .expect("attendance header");
    let role_at = header.find("Role").unwrap();
    let state_at = header.find("State").unwrap();
    for (user, role) in [("teacher", "teacher"), ("student1", "student")] {
        let row = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(user))
            .unwrap_or_else(|| panic!("no {user} row:\n{stdout}"));
        assert!(row[role_at..].starts_with(role), "{header}\n{row}");
        assert!(
            row[state_at..].starts_with("left") || row[state_at..].starts_with("online"),
            "{header}\n{row}"
        );
    }
}

/// Every room of the bootstrap app (GetRooms, all pages).
fn all_rooms(server: &TestServer) -> Vec<u64> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = server.client();
    let mut rooms = Vec::new();
    for page in 1.. {
        let params = json!({"SdkAppId": server.sdk_app_id(), "Page": page, "Limit": 100});
        let answer = runtime.block_on(support::call(&client, "GetRooms", params));
        let listed = answer["Rooms"].as_array().unwrap().clone();
        rooms.extend(listed.iter().map(|r| r["RoomId"].as_u64().unwrap()));
        if listed.len() < 100 {
            return rooms;
        }
    }
    unreachable!()
}

#[test]
fn simulate_refused_says_which_flag_and_cleans_up() {
    // A server stricter than simulate assumes: reading the log back is refused.
    let server = TestServer::start(&["--rate-limit", "GetRoomEvent=1"]);
    let simulate = [
        "simulate",
        "--rooms",
        "3",
        "--students",
        "1",
        "--duration",
        "2s",
    ];
    let output = roomlog(&server, &simulate);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("RequestLimitExceeded"), "{stderr}");
    assert!(stderr.contains("--rate-limit ACTION=N"), "{stderr}");
    assert!(stderr.contains("removed."), "{stderr}");
    assert_eq!(all_rooms(&server), Vec::<u64>::new());

    // Told the server's limit, it paces itself and succeeds.
    let paced = [&simulate[..], &["--rate-limit", "GetRoomEvent=1"]].concat();
    let output = roomlog(&server, &paced);
    assert!(output.status.success(), "{output:?}");
}

#[tokio::test]
async fn metrics_have_help_units_and_event_count_buckets() {
    let server = TestServer::start(&[]);
    let client = server.client();
    let app = server.sdk_app_id();
    let room = start_class(&client, app).await;
    let events: Vec<Value> = (0..3)
        .map(|i| json!({"EventId": format!("m{i}"), "EventType": "MemberJoin", "UserId": format!("u{i}")}))
        .collect();
    support::report_events(&client, app, room, &events).await;

    let text = support::metrics_text(&server).await;
    let families: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert!(families.contains(&"roomlog_ingest_batch_events"), "{text}");
    for family in &families {
        assert!(
            text.contains(&format!("# HELP {family} ")),
            "{family} has no HELP line:\n{text}"
        );
    }
    // Three events in one commit: counted in the 5-event bucket, not the 2-event one.
    let bucket = |le: &str| -> f64 {
        let prefix = format!("roomlog_ingest_batch_events_bucket{{le=\"{le}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .unwrap_or_else(|| panic!("no bucket le={le}:\n{text}"))
            .parse()
            .unwrap()
    };
    assert!(bucket("2") < bucket("5"), "{text}");
    assert!(bucket("1000") >= 1.0);
}

#[tokio::test]
async fn log_lines_cannot_be_forged_and_a_normal_class_logs_no_error() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let mut server = TestServer::start_logging_to(&log, &[]);
    let http = roomlog::client::http_client();
    // Unauthenticated, with newlines and an escape sequence in what gets logged.
    for query in [
        "Action=GetRoomEvent&Version=2022-08-17&Timestamp=1%0AFORGED%20code=Success&Nonce=1&SecretId=x&Signature=eXl5eQ%3D%3D",
        "Action=Get%0D%0AFORGED%1B%5B31m&Version=2022-08-17&Timestamp=1&Nonce=1&SecretId=x&Signature=eXl5eQ%3D%3D",
    ] {
        let answer = http
            .get(format!("{}/?{query}", server.endpoint))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
    }
    // A class from start to deletion, attendance included.
    let client = server.client();
    let app = server.sdk_app_id();
    let room = start_class(&client, app).await;
    support::call(&client, "EndRoom", json!({"RoomId": room})).await;
    support::call(&client, "DeleteRoom", json!({"RoomId": room})).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(server.terminate().success());

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("request failed"), "{text}");
    for line in text.lines() {
        assert!(
            !line.starts_with("FORGED") && !line.contains('\u{1b}'),
            "a forged line: {line:?}"
        );
        assert!(!line.contains("ERROR"), "an ERROR in a normal run: {line}");
    }
    assert!(text.contains("FORGED"), "the values are logged, escaped");
    // Durations are rounded to microseconds.
    let latency = text
        .lines()
        .find_map(|l| l.split("latency_ms=").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("a latency_ms field");
    let decimals = latency.split('.').nth(1).map_or(0, str::len);
    assert!(decimals <= 3, "latency_ms={latency}");
}
