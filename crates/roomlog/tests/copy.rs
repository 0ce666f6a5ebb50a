//! Moving an embedded deployment to PostgreSQL: `roomlog copy` copies everything and verifies it
//! (row counts and checksums), and a server on the copy answers exactly like the original.
//! Also `roomlog migrate`. PostgreSQL from `ROOMLOG_TEST_POSTGRES` (default: the local one).

mod support;

use std::process::{Command, Output};

use serde_json::{json, Value};
use support::postgres::{url as postgres_url, Schema};
use support::{call, create_room, TestServer};

fn roomlog(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_roomlog"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run roomlog")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn migrate_applies_pending_migrations_once() {
    let schema = Schema::new("roomlog_cp");
    let url = postgres_url();
    let first = roomlog(&["migrate", "--store", &url, "--store-schema", &schema.name]);
    assert!(first.status.success(), "{}", text(&first));
    assert!(
        text(&first).contains("applied migrations"),
        "{}",
        text(&first)
    );
    let second = roomlog(&["migrate", "--store", &url, "--store-schema", &schema.name]);
    assert!(second.status.success(), "{}", text(&second));
    assert!(text(&second).contains("up to date"), "{}", text(&second));
}

/// What a client can read about the deployment; must be identical before and after the move.
async fn observe(server: &TestServer, rooms: &[u64]) -> Vec<Value> {
    let client = server.client();
    let app = server.sdk_app_id();
    let mut seen = Vec::new();
    let mut call = async |action: &str, params: Value| {
        let mut response = client.call_raw(action, &params).await.unwrap();
        response.as_object_mut().unwrap().remove("RequestId");
        // How long someone has been present depends on when one asks.
        for member in response["MemberRecords"]
            .as_array_mut()
            .into_iter()
            .flatten()
        {
            member.as_object_mut().unwrap().remove("PresentTime");
        }
        seen.push(json!({ "action": action, "params": params, "response": response }));
    };
    call("DescribeAppDetail", json!({"SdkAppId": app.to_string()})).await;
    call(
        "GetRooms",
        json!({"SdkAppId": app, "StartTime": 0, "EndTime": 4_000_000_000u64, "Limit": 100}),
    )
    .await;
    for &room in rooms {
        call("DescribeRoom", json!({"RoomId": room})).await;
        for page in 1..=3 {
            call(
                "GetRoomEvent",
                json!({"RoomId": room, "SdkAppId": app, "Page": page, "Limit": 50}),
            )
            .await;
        }
        call(
            "GetRoomEvent",
            json!({"RoomId": room, "SdkAppId": app, "Page": 1, "Limit": 200, "Keyword": "MemberJoin"}),
        )
        .await;
        call(
            "DescribeCurrentMemberList",
            json!({"RoomId": room, "Page": 1, "Limit": 100}),
        )
        .await;
        call(
            "DescribeCallbackDeliveries",
            json!({"SdkAppId": app, "RoomId": room, "Page": 1, "Limit": 100}),
        )
        .await;
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_moves_everything_and_the_copy_answers_like_the_original() {
    let args = [
        "--rate-limit-default",
        "0",
        "--allow-private-callbacks",
        // Deliveries stay pending (nobody listens there) but never go dead during the test.
        "--callback-initial-backoff",
        "1h",
    ];
    let mut embedded = TestServer::start(&args);
    let client = embedded.client();
    let app = embedded.sdk_app_id();
    let params =
        json!({"SdkAppId": app, "Callback": "http://127.0.0.1:9/hook", "CallbackKey": "k"});
    call(&client, "ModifyApp", params).await;
    let params = json!({"SdkAppId": app, "Name": "Teacher Tan", "OriginId": "t-1"});
    call(&client, "RegisterUser", params).await;

    // One class that ended (attendance stored), one in class with people present, one
    // scheduled; a deleted room (its id must never come back).
    let mut rooms = Vec::new();
    for _ in 0..4 {
        rooms.push(create_room(&client, app).await);
    }
    let deleted = rooms.pop().unwrap();
    call(&client, "DeleteRoom", json!({"RoomId": deleted})).await;
    for &room in &rooms[..2] {
        call(&client, "StartRoom", json!({"RoomId": room})).await;
        let events: Vec<Value> = (0..120)
            .map(|n| match n % 3 {
                0 => json!({"EventId": format!("e{n}"), "EventType": "MemberJoin", "UserId": format!("u{}", n % 7), "Device": 1, "Role": 0}),
                1 => json!({"EventId": format!("e{n}"), "EventType": "CameraOn", "UserId": format!("u{}", n % 7)}),
                _ => json!({"EventId": format!("e{n}"), "EventType": "MemberQuit", "UserId": format!("u{}", n % 5), "Device": 1, "Reason": 1}),
            })
            .collect();
        let params = json!({"SdkAppId": app, "RoomId": room, "Events": events});
        call(&client, "ReportRoomEvents", params).await;
    }
    call(&client, "EndRoom", json!({"RoomId": rooms[0]})).await;
    // The ended class's attendance, computed and stored.
    let statistics = json!({"RoomId": rooms[0], "Page": 1, "Limit": 100});
    let attendance_before = client
        .call("DescribeRoomStatistics", &statistics)
        .await
        .unwrap();
    let before = observe(&embedded, &rooms).await;
    assert!(embedded.terminate().success());

    // Copy into a fresh schema.
    let schema = Schema::new("roomlog_cp");
    let url = postgres_url();
    let data_dir = embedded.data_dir.to_str().unwrap().to_owned();
    let copy = || {
        roomlog(&[
            "copy",
            "--data-dir",
            &data_dir,
            "--to",
            &url,
            "--to-schema",
            &schema.name,
        ])
    };
    let copied = copy();
    assert!(copied.status.success(), "{}", text(&copied));
    let report = text(&copied);
    assert!(report.contains("verified"), "{report}");
    assert!(report.contains("events"), "{report}");

    // Copying again (say, after a copy interrupted past its commit) finds the exact copy and
    // only checks the id sequences.
    let again = copy();
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        text(&again).contains("already holds an exact copy"),
        "{}",
        text(&again)
    );

    // A server on the copy, with the same credentials, answers exactly as the original did.
    let node_dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        embedded.data_dir.join("credentials.json"),
        node_dir.path().join("credentials.json"),
    )
    .unwrap();
    let mut pg_args = vec!["--store", &url, "--store-schema", &schema.name];
    pg_args.extend_from_slice(&args);
    let postgres = TestServer::start_in(node_dir.path(), &pg_args);
    let after = observe(&postgres, &rooms).await;
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b, a, "differs after the copy");
    }
    assert_eq!(before.len(), after.len());
    let pg_client = postgres.client();
    assert_eq!(
        pg_client
            .call("DescribeRoomStatistics", &statistics)
            .await
            .unwrap()
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| *k != "RequestId")
            .collect::<Vec<_>>(),
        attendance_before
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| *k != "RequestId")
            .collect::<Vec<_>>()
    );

    // It goes on from where the original was: new ids are past every id ever handed out
    // (the deleted room's included), and ingest continues the sequence.
    let new_room = create_room(&pg_client, app).await;
    assert!(
        new_room > *rooms.iter().max().unwrap() + 1,
        "id {new_room} reused"
    );
    let more = pg_client
        .call(
            "ReportRoomEvents",
            &json!({"SdkAppId": app, "RoomId": rooms[1], "Events": [
                {"EventId": "e0", "EventType": "MemberJoin", "UserId": "u0"},
                {"EventId": "late", "EventType": "MicOn", "UserId": "u1"},
            ]}),
        )
        .await
        .unwrap();
    assert_eq!(more["Accepted"], 1, "{more}");
    assert_eq!(more["Duplicates"], 1, "{more}");

    // Once the copy has moved on, copying into it again is refused and changes nothing.
    let refused = copy();
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("not a copy of this embedded store"),
        "{}",
        text(&refused)
    );
    let still = call(&pg_client, "DescribeRoom", json!({"RoomId": new_room})).await;
    assert_eq!(still["Name"], "Test class");
}
