//! The class lifecycle end to end, on a real socket with an injected clock: classes that start, end and
//! expire by themselves, presence, kicks, users and attendance.

mod support;

use std::sync::Arc;
use std::time::Duration;

use roomlog::client::Client;
use roomlog_core::time::{now_ms, Clock, ManualClock};
use roomlog_server::ServeConfig;
use serde_json::{json, Value};
use support::error_code;
use support::inprocess::{eventually, InProcessServer};

const MIN: Duration = Duration::from_secs(60);

fn config() -> ServeConfig {
    let mut config = ServeConfig::default();
    config.rate_limits.default = 0; // tests poll quickly
    config.rate_limits.actions.clear();
    config
}

async fn server(dir: &tempfile::TempDir) -> InProcessServer {
    InProcessServer::start(dir.path(), config(), Arc::new(ManualClock::new(now_ms()))).await
}

/// A room starting `start_in` from the server's now, lasting an hour, with extra settings.
async fn room(server: &InProcessServer, start_in: u64, extra: Value) -> u64 {
    let start = server.now_secs() + start_in;
    let mut params = json!({
        "SdkAppId": server.sdk_app_id(), "Name": "Scheduled", "StartTime": start, "EndTime": start + 3600,
        "Resolution": 1, "MaxMicNumber": 6, "SubType": "videodoc",
    });
    params
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    server.client().call("CreateRoom", &params).await.unwrap()["RoomId"]
        .as_u64()
        .unwrap()
}

async fn status(client: &Client, room: u64) -> u64 {
    client
        .call("DescribeRoom", &json!({"RoomId": room}))
        .await
        .unwrap()["Status"]
        .as_u64()
        .unwrap()
}

async fn wait_status(client: &Client, room: u64, want: u64) {
    eventually(&format!("room {room} status {want}"), || async {
        (status(client, room).await == want).then_some(())
    })
    .await
}

async fn event_types(client: &Client, app: u64, room: u64) -> Vec<Value> {
    let response = client
        .call(
            "GetRoomEvent",
            &json!({"RoomId": room, "SdkAppId": app, "Page": 1, "Limit": 200}),
        )
        .await
        .unwrap();
    response["Events"].as_array().unwrap().clone()
}

fn types(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["EventType"].as_str().unwrap())
        .collect()
}

async fn report(
    client: &Client,
    app: u64,
    room: u64,
    events: Value,
) -> Result<Value, anyhow::Error> {
    client
        .call(
            "ReportRoomEvents",
            &json!({"SdkAppId": app, "RoomId": room, "Events": events}),
        )
        .await
}

fn join(id: &str, user: &str, device: u64) -> Value {
    json!({"EventId": id, "EventType": "MemberJoin", "UserId": user, "Device": device, "Role": 0})
}

fn quit(id: &str, user: &str, device: u64) -> Value {
    json!({"EventId": id, "EventType": "MemberQuit", "UserId": user, "Device": device, "Reason": 0})
}

#[tokio::test]
async fn auto_start_and_scheduled_end_without_anyone_calling() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(&dir).await;
    let client = server.client();
    let room = room(
        &server,
        60,
        json!({"EnableAutoStart": 1, "EndDelayTime": -1}),
    )
    .await;
    server.advance(Duration::from_secs(59));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(status(&client, room).await, 0, "not before StartTime");
    server.advance(Duration::from_secs(1));
    wait_status(&client, room, 1).await;
    // EndDelayTime -1: no overtime, ends exactly at EndTime.
    server.advance(Duration::from_secs(3599));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(status(&client, room).await, 1);
    server.advance(Duration::from_secs(1));
    wait_status(&client, room, 2).await;
    assert_eq!(
        types(&event_types(&client, server.sdk_app_id(), room).await),
        ["RoomStart", "RoomEnd"]
    );
    server.stop().await;
}

#[tokio::test]
async fn rooms_never_started_expire_and_overtime_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(&dir).await;
    let client = server.client();
    let app = server.sdk_app_id();
    let expiring = room(&server, 10, json!({})).await;
    let overtime = room(&server, 10, json!({"EndDelayTime": 30})).await;
    client
        .call("StartRoom", &json!({"RoomId": overtime}))
        .await
        .unwrap();
    server.advance(Duration::from_secs(10 + 3600));
    wait_status(&client, expiring, 3).await;
    assert_eq!(
        error_code(&client, "StartRoom", json!({"RoomId": expiring})).await,
        "FailedOperation.ClassExpired"
    );
    assert_eq!(
        error_code(
            &client,
            "ModifyRoom",
            json!({"RoomId": expiring, "SdkAppId": app, "Name": "x"})
        )
        .await,
        "FailedOperation.ClassExpired"
    );
    // 30 minutes of overtime.
    server.advance(29 * MIN);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(status(&client, overtime).await, 1);
    server.advance(MIN);
    wait_status(&client, overtime, 2).await;
    server.stop().await;
}

#[tokio::test]
async fn unlimited_overtime_ends_once_the_room_is_empty_for_the_idle_time() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(&dir).await;
    let client = server.client();
    let app = server.sdk_app_id();
    let room = room(&server, 0, json!({"EndDelayTime": 0})).await;
    client
        .call("StartRoom", &json!({"RoomId": room}))
        .await
        .unwrap();
    report(
        &client,
        app,
        room,
        json!([join("j1", "alice", 1), join("j2", "alice", 3)]),
    )
    .await
    .unwrap();
    server.advance(3600 * Duration::from_secs(1) + 20 * MIN);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(status(&client, room).await, 1, "occupied rooms run on");
    // One device leaves: alice is still in.
    report(&client, app, room, json!([quit("q1", "alice", 1)]))
        .await
        .unwrap();
    server.advance(11 * MIN);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(status(&client, room).await, 1);
    report(&client, app, room, json!([quit("q2", "alice", 3)]))
        .await
        .unwrap();
    server.advance(9 * MIN);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(status(&client, room).await, 1, "empty for 9 of 10 minutes");
    server.advance(MIN);
    wait_status(&client, room, 2).await;
    server.stop().await;
}

#[tokio::test]
async fn deadlines_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(&dir).await;
    let room = room(&server, 120, json!({"EnableAutoStart": 1})).await;
    let (_, config, clock) = server.stop().await;
    clock.advance(Duration::from_secs(121)); // the start passed while roomlog was down
    let server = InProcessServer::start(dir.path(), config, clock).await;
    wait_status(&server.client(), room, 1).await;
    server.stop().await;
}

#[tokio::test]
async fn room_end_closes_the_class_for_everyone_present() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(&dir).await;
    let client = server.client();
    let app = server.sdk_app_id();
    let room = room(&server, 0, json!({})).await;
    client
        .call("StartRoom", &json!({"RoomId": room}))
        .await
        .unwrap();
    report(
        &client,
        app,
        room,
        json!([
            join("j1", "bob", 5),
            join("j2", "ann", 5),
            join("j3", "cid", 5),
            quit("q3", "cid", 5)
        ]),
    )
    .await
    .unwrap();
    let members = client
        .call(
            "DescribeCurrentMemberList",
            &json!({"RoomId": room, "Page": 1, "Limit": 10}),
        )
        .await
        .unwrap();
    assert_eq!(members["Total"], 2);
    let users: Vec<&str> = members["MemberRecords"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["UserId"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["bob", "ann"], "in order of arrival");
    assert_eq!(members["MemberRecords"][0]["CurrentState"], 1);
    client
        .call("EndRoom", &json!({"RoomId": room}))
        .await
        .unwrap();
    let events = event_types(&client, app, room).await;
    let tail: Vec<(String, Value, Value)> = events[events.len() - 3..]
        .iter()
        .map(|e| {
            (
                e["EventType"].as_str().unwrap().to_owned(),
                e["EventData"]["UserId"].clone(),
                e["EventData"]["Reason"].clone(),
            )
        })
        .collect();
    assert_eq!(
        tail,
        [
            ("MemberQuit".to_owned(), json!("bob"), json!(5)),
            ("MemberQuit".to_owned(), json!("ann"), json!(5)),
            ("RoomEnd".to_owned(), Value::Null, Value::Null),
        ]
    );
    assert_eq!(
        error_code(
            &client,
            "DescribeCurrentMemberList",
            json!({"RoomId": room, "Page": 1, "Limit": 10})
        )
        .await,
        "FailedOperation.ClassEnded"
    );
    server.stop().await;
}

#[tokio::test]
async fn kicks_bar_rejoining_until_lifted_or_lapsed() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(&dir).await;
    let client = server.client();
    let app = server.sdk_app_id();
    let room = room(&server, 0, json!({})).await;
    client
        .call("StartRoom", &json!({"RoomId": room}))
        .await
        .unwrap();
    report(
        &client,
        app,
        room,
        json!([join("j1", "eve", 5), join("j2", "mal", 5)]),
    )
    .await
    .unwrap();

    let kick = |user: &str, kind: u64, duration: u64| json!({"RoomId": room, "SdkAppId": app, "UserId": user, "KickType": kind, "Duration": duration});
    client
        .call("KickUserFromRoom", &kick("eve", 1, 60))
        .await
        .unwrap();
    client
        .call("KickUserFromRoom", &kick("mal", 2, 0))
        .await
        .unwrap();
    let events = event_types(&client, app, room).await;
    let quits: Vec<(Value, Value)> = events
        .iter()
        .filter(|e| e["EventType"] == "MemberQuit")
        .map(|e| {
            (
                e["EventData"]["UserId"].clone(),
                e["EventData"]["Reason"].clone(),
            )
        })
        .collect();
    assert_eq!(quits, [(json!("eve"), json!(1)), (json!("mal"), json!(2))]);
    let members = client
        .call(
            "DescribeCurrentMemberList",
            &json!({"RoomId": room, "Page": 1, "Limit": 10}),
        )
        .await
        .unwrap();
    assert_eq!(members["Total"], 0);

    // The whole batch is refused, naming the user; nothing of it is recorded.
    let refused = client
        .call_raw("ReportRoomEvents", &json!({"SdkAppId": app, "RoomId": room, "Events": [join("j3", "ok", 5), join("j4", "eve", 5)]}))
        .await
        .unwrap();
    assert_eq!(refused["Error"]["Code"], "FailedOperation.UserKicked");
    assert!(
        refused["Error"]["Message"]
            .as_str()
            .unwrap()
            .contains("eve"),
        "{refused}"
    );
    server.advance(Duration::from_secs(61));
    report(
        &client,
        app,
        room,
        json!([join("j3", "ok", 5), join("j4", "eve", 5)]),
    )
    .await
    .unwrap();

    assert_eq!(
        error_code(
            &client,
            "ReportRoomEvents",
            json!({"SdkAppId": app, "RoomId": room, "Events": [join("j5", "mal", 5)]})
        )
        .await,
        "FailedOperation.UserKicked"
    );
    client
        .call(
            "UnblockKickedUser",
            &json!({"SdkAppId": app, "RoomId": room, "UserId": "mal"}),
        )
        .await
        .unwrap();
    report(&client, app, room, json!([join("j5", "mal", 5)]))
        .await
        .unwrap();
    assert_eq!(
        error_code(&client, "KickUserFromRoom", kick("mal", 3, 0)).await,
        "InvalidParameterValue"
    );

    client
        .call("EndRoom", &json!({"RoomId": room}))
        .await
        .unwrap();
    assert_eq!(
        error_code(&client, "KickUserFromRoom", kick("mal", 1, 0)).await,
        "FailedOperation.ClassEnded"
    );
    server.stop().await;
}

#[tokio::test]
async fn attendance_is_derived_from_the_log_and_outlives_the_events() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config();
    config.events_retention_after_end = Duration::from_secs(3600);
    let server =
        InProcessServer::start(dir.path(), config, Arc::new(ManualClock::new(now_ms()))).await;
    let client = server.client();
    let app = server.sdk_app_id();
    let registered = client
        .call(
            "RegisterUser",
            &json!({"SdkAppId": app, "Name": "Alice Liddell", "OriginId": "crm-1"}),
        )
        .await
        .unwrap();
    let alice = registered["UserId"].as_str().unwrap().to_owned();
    let room = room(
        &server,
        0,
        json!({"TeacherId": "teacher-who-never-came", "Assistants": [alice.clone()]}),
    )
    .await;

    let t0 = server.clock.now_ms();
    report(&client, app, room, json!([{"EventId": "early", "EventType": "MemberJoin", "UserId": alice, "Device": 1, "Role": 2, "TimestampMs": t0}])).await.unwrap();
    server.advance(Duration::from_secs(100));
    assert_eq!(
        error_code(
            &client,
            "DescribeRoomStatistics",
            json!({"RoomId": room, "Page": 1, "Limit": 10})
        )
        .await,
        "FailedOperation.RoomNotEnd"
    );
    client
        .call("StartRoom", &json!({"RoomId": room}))
        .await
        .unwrap(); // t0 + 100 s
    let t = |s: i64| t0 + s * 1000;
    report(&client, app, room, json!([
        {"EventId": "j2", "EventType": "MemberJoin", "UserId": alice, "Device": 3, "TimestampMs": t(150)},
        {"EventId": "cam", "EventType": "CameraOn", "UserId": alice, "TimestampMs": t(160)},
        {"EventId": "q1", "EventType": "MemberQuit", "UserId": alice, "Device": 1, "TimestampMs": t(200)},
        {"EventId": "b1", "EventType": "MemberJoin", "UserId": "bob", "Device": 5, "Role": 0, "TimestampMs": t(210)},
        {"EventId": "bm", "EventType": "MicOn", "UserId": "bob", "TimestampMs": t(220)},
        {"EventId": "q2", "EventType": "MemberQuit", "UserId": alice, "Device": 3, "TimestampMs": t(250)},
    ])).await.unwrap();
    server.advance(Duration::from_secs(200)); // t0 + 300 s: bob still in, closed by the end
    client
        .call("EndRoom", &json!({"RoomId": room}))
        .await
        .unwrap();

    let stats = client
        .call(
            "DescribeRoomStatistics",
            &json!({"RoomId": room, "Page": 1, "Limit": 10}),
        )
        .await
        .unwrap();
    assert_eq!(
        stats["Total"], 3,
        "alice, bob and the absent teacher: {stats}"
    );
    assert_eq!(stats["MemberNumber"], 2);
    assert_eq!(stats["PeakMemberNumber"], 2);
    assert_eq!(
        stats["RealEndTime"].as_i64().unwrap() - stats["RealStartTime"].as_i64().unwrap(),
        200
    );
    let records = stats["MemberRecords"].as_array().unwrap();
    let by_user = |u: &str| {
        records
            .iter()
            .find(|r| r["UserId"] == u)
            .unwrap_or_else(|| panic!("{u} in {stats}"))
            .clone()
    };
    let a = by_user(&alice);
    assert_eq!(a["UserName"], "Alice Liddell");
    assert_eq!(
        a["PresentTime"], 150,
        "class start (100) to last device out (250)"
    );
    assert_eq!(
        (
            a["Camera"].as_u64(),
            a["Mic"].as_u64(),
            a["Role"].as_u64(),
            a["Device"].as_u64()
        ),
        (Some(1), Some(0), Some(2), Some(3))
    );
    assert_eq!(a["FirstJoinTimestamp"].as_i64().unwrap(), t0 / 1000);
    assert_eq!(a["CurrentState"], 2);
    let b = by_user("bob");
    assert_eq!(b["UserName"], "", "never registered");
    assert_eq!(
        (
            b["PresentTime"].as_u64(),
            b["Mic"].as_u64(),
            b["Stage"].as_u64()
        ),
        (Some(90), Some(1), Some(1))
    );
    let teacher = by_user("teacher-who-never-came");
    assert_eq!(
        (
            teacher["CurrentState"].as_u64(),
            teacher["PresentTime"].as_u64()
        ),
        (Some(0), Some(0))
    );
    assert_eq!(a["AnswerQuestions"], 0, "no source for it");

    // Paging, then the events expire and are purged: attendance stays.
    let page2 = client
        .call(
            "DescribeRoomStatistics",
            &json!({"RoomId": room, "Page": 2, "Limit": 2}),
        )
        .await
        .unwrap();
    assert_eq!(page2["MemberRecords"].as_array().unwrap().len(), 1);
    server.advance(Duration::from_secs(3601));
    eventually("events expired", || async {
        let r = client
            .call_raw(
                "GetRoomEvent",
                &json!({"RoomId": room, "SdkAppId": app, "Page": 1, "Limit": 10}),
            )
            .await
            .unwrap();
        (r["Error"]["Code"] == "FailedOperation").then_some(())
    })
    .await;
    let after = client
        .call(
            "DescribeRoomStatistics",
            &json!({"RoomId": room, "Page": 1, "Limit": 10}),
        )
        .await
        .unwrap();
    assert_eq!(after["MemberRecords"], stats["MemberRecords"]);
    server.stop().await;
}

#[tokio::test]
async fn users_register_login_and_describe() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(&dir).await;
    let client = server.client();
    let app = server.sdk_app_id();
    let first = client
        .call(
            "RegisterUser",
            &json!({"SdkAppId": app, "Name": "A", "OriginId": "o1", "Avatar": "https://a/x.png"}),
        )
        .await
        .unwrap();
    let user_id = first["UserId"].as_str().unwrap().to_owned();
    assert!(!first["Token"].as_str().unwrap().is_empty());
    assert_eq!(
        error_code(
            &client,
            "RegisterUser",
            json!({"SdkAppId": app, "OriginId": "o1"})
        )
        .await,
        "FailedOperation.OriginIdExists"
    );

    let batch = client
        .call("BatchRegister", &json!({"Users": [{"SdkAppId": app, "Name": "A2", "OriginId": "o1"}, {"SdkAppId": app, "Name": "B", "OriginId": "o2"}]}))
        .await
        .unwrap();
    assert_eq!(
        batch["Users"][0]["UserId"],
        user_id.as_str(),
        "existing user overwritten, same id"
    );
    assert_eq!(batch["Users"][1]["Name"], "B");

    let described = client
        .call("DescribeUser", &json!({"UserId": user_id}))
        .await
        .unwrap();
    assert_eq!(
        (described["Name"].as_str(), described["OriginId"].as_str()),
        (Some("A2"), Some("o1"))
    );
    let by_origin = client
        .call("DescribeUser", &json!({"OriginId": "o2"}))
        .await
        .unwrap();
    assert_eq!(by_origin["Name"], "B");
    let login = client
        .call("LoginUser", &json!({"UserId": user_id}))
        .await
        .unwrap();
    assert_ne!(login["Token"], first["Token"]);
    assert_eq!(
        error_code(&client, "DescribeUser", json!({"UserId": "nobody"})).await,
        "ResourceNotFound.User"
    );
    assert_eq!(
        error_code(&client, "LoginUser", json!({"UserId": "nobody"})).await,
        "ResourceNotFound.User"
    );
    server.stop().await;
}

#[tokio::test]
async fn attendance_of_a_large_class_is_computed_once_and_paged() {
    const MEMBERS: usize = 10_000;
    const EVENTS: usize = 200_000;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config();
    config
        .rate_limits
        .actions
        .insert("ReportRoomEvents".into(), 0);
    let server =
        InProcessServer::start(dir.path(), config, Arc::new(ManualClock::new(now_ms()))).await;
    let client = server.client();
    let app = server.sdk_app_id();
    let room = room(&server, 0, json!({})).await;
    client
        .call("StartRoom", &json!({"RoomId": room}))
        .await
        .unwrap();
    let t0 = server.clock.now_ms();
    // Each member: join, then toggles, then quit; 20 events per member.
    let mut batch = Vec::with_capacity(1000);
    let mut sent = 0;
    for round in 0..EVENTS / MEMBERS {
        for m in 0..MEMBERS {
            let user = format!("m{m}");
            let ts = t0 + (round * MEMBERS + m) as i64;
            let event = match round {
                0 => {
                    json!({"EventId": format!("e{round}-{m}"), "EventType": "MemberJoin", "UserId": user, "TimestampMs": ts})
                }
                r if r == EVENTS / MEMBERS - 1 => {
                    json!({"EventId": format!("e{round}-{m}"), "EventType": "MemberQuit", "UserId": user, "TimestampMs": ts})
                }
                r => {
                    json!({"EventId": format!("e{round}-{m}"), "EventType": if r % 2 == 0 { "MicOn" } else { "MicOff" }, "UserId": user, "TimestampMs": ts})
                }
            };
            batch.push(event);
            if batch.len() == 1000 {
                report(&client, app, room, Value::Array(std::mem::take(&mut batch)))
                    .await
                    .unwrap();
                sent += 1000;
            }
        }
    }
    assert_eq!(sent, EVENTS);
    server.advance(Duration::from_secs(1));
    client
        .call("EndRoom", &json!({"RoomId": room}))
        .await
        .unwrap();
    let mut seen = std::collections::HashSet::new();
    for page in 1..=10 {
        let stats = client
            .call(
                "DescribeRoomStatistics",
                &json!({"RoomId": room, "Page": page, "Limit": 1000}),
            )
            .await
            .unwrap();
        assert_eq!(stats["Total"], MEMBERS);
        assert_eq!(stats["PeakMemberNumber"], MEMBERS);
        for record in stats["MemberRecords"].as_array().unwrap() {
            assert_eq!(record["Mic"], 1);
            assert!(seen.insert(record["UserId"].as_str().unwrap().to_owned()));
        }
    }
    assert_eq!(seen.len(), MEMBERS);
    server.stop().await;
}
