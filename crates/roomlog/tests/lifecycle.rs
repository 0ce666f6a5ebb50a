//! The class lifecycle end to end, on a real socket with an injected clock: classes that start, end and
//! expire by themselves, presence, kicks, users and attendance.

mod support;

use std::sync::Arc;
use std::time::Duration;

use roomlog::client::Client;
use roomlog_core::time::{now_ms, Clock, ManualClock};
use roomlog_server::ServeConfig;
use serde_json::{json, Value};
use support::inprocess::{eventually, InProcessServer};
use support::{call, error_code};

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
    let described = call(client, "DescribeRoom", json!({"RoomId": room})).await;
    described["Status"].as_u64().unwrap()
}

async fn wait_status(client: &Client, room: u64, want: u64) {
    eventually(&format!("room {room} status {want}"), || async {
        (status(client, room).await == want).then_some(())
    })
    .await
}

/// Every event of the room (up to 200).
async fn events(client: &Client, app: u64, room: u64) -> Vec<Value> {
    let params = json!({"RoomId": room, "SdkAppId": app, "Page": 1, "Limit": 200});
    call(client, "GetRoomEvent", params).await["Events"]
        .as_array()
        .unwrap()
        .clone()
}

/// Reports `events` into the room; they must be taken.
async fn report(client: &Client, app: u64, room: u64, events: Value) -> Value {
    let params = json!({"SdkAppId": app, "RoomId": room, "Events": events});
    call(client, "ReportRoomEvents", params).await
}

/// The first page of the people in the room now.
fn members_page(room: u64) -> Value {
    json!({"RoomId": room, "Page": 1, "Limit": 10})
}

/// A fresh server with a class created with `settings` and started now: the server, its
/// client, the app and the room.
async fn class_started(
    dir: &tempfile::TempDir,
    settings: Value,
) -> (InProcessServer, Client, u64, u64) {
    let server = server(dir).await;
    let (client, app) = (server.client(), server.sdk_app_id());
    let room = room(&server, 0, settings).await;
    call(&client, "StartRoom", json!({"RoomId": room})).await;
    (server, client, app, room)
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
    let events = events(&client, server.sdk_app_id(), room).await;
    let types: Vec<_> = events.iter().map(|e| &e["EventType"]).collect();
    assert_eq!(types, ["RoomStart", "RoomEnd"]);
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
    call(&client, "StartRoom", json!({"RoomId": overtime})).await;
    server.advance(Duration::from_secs(10 + 3600));
    wait_status(&client, expiring, 3).await;
    let modify = json!({"RoomId": expiring, "SdkAppId": app, "Name": "x"});
    for (action, params) in [
        ("StartRoom", json!({"RoomId": expiring})),
        ("ModifyRoom", modify),
    ] {
        let code = error_code(&client, action, params).await;
        assert_eq!(code, "FailedOperation.ClassExpired", "{action}");
    }
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
    let (server, client, app, room) = class_started(&dir, json!({"EndDelayTime": 0})).await;
    report(
        &client,
        app,
        room,
        json!([join("j1", "alice", 1), join("j2", "alice", 3)]),
    )
    .await;
    server.advance(3600 * Duration::from_secs(1) + 20 * MIN);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(status(&client, room).await, 1, "occupied rooms run on");
    // One device leaves: alice is still in.
    report(&client, app, room, json!([quit("q1", "alice", 1)])).await;
    server.advance(11 * MIN);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(status(&client, room).await, 1);
    report(&client, app, room, json!([quit("q2", "alice", 3)])).await;
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
    let (server, client, app, room) = class_started(&dir, json!({})).await;
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
    .await;
    let members = call(&client, "DescribeCurrentMemberList", members_page(room)).await;
    assert_eq!(members["Total"], 2);
    let users: Vec<&str> = members["MemberRecords"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["UserId"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["bob", "ann"], "in order of arrival");
    assert_eq!(members["MemberRecords"][0]["CurrentState"], 1);
    call(&client, "EndRoom", json!({"RoomId": room})).await;
    let events = events(&client, app, room).await;
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
    let refused = error_code(&client, "DescribeCurrentMemberList", members_page(room)).await;
    assert_eq!(refused, "FailedOperation.ClassEnded");
    server.stop().await;
}

#[tokio::test]
async fn kicks_bar_rejoining_until_lifted_or_lapsed() {
    let dir = tempfile::tempdir().unwrap();
    let (server, client, app, room) = class_started(&dir, json!({})).await;
    let batch = |events: Value| json!({"SdkAppId": app, "RoomId": room, "Events": events});
    let params = batch(json!([join("j1", "eve", 5), join("j2", "mal", 5)]));
    call(&client, "ReportRoomEvents", params).await;

    let kick = |user: &str, kind: u64, duration: u64| json!({"RoomId": room, "SdkAppId": app, "UserId": user, "KickType": kind, "Duration": duration});
    call(&client, "KickUserFromRoom", kick("eve", 1, 60)).await;
    call(&client, "KickUserFromRoom", kick("mal", 2, 0)).await;
    let events = events(&client, app, room).await;
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
    let members = call(&client, "DescribeCurrentMemberList", members_page(room)).await;
    assert_eq!(members["Total"], 0);

    // The whole batch is refused, naming the user; nothing of it is recorded.
    let ok_and_eve = json!([join("j3", "ok", 5), join("j4", "eve", 5)]);
    let refused = client
        .call_raw("ReportRoomEvents", &batch(ok_and_eve.clone()))
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
    call(&client, "ReportRoomEvents", batch(ok_and_eve)).await;

    let mal = batch(json!([join("j5", "mal", 5)]));
    let barred = error_code(&client, "ReportRoomEvents", mal.clone()).await;
    assert_eq!(barred, "FailedOperation.UserKicked");
    let unblock = json!({"SdkAppId": app, "RoomId": room, "UserId": "mal"});
    call(&client, "UnblockKickedUser", unblock).await;
    call(&client, "ReportRoomEvents", mal).await;
    let bad_kind = error_code(&client, "KickUserFromRoom", kick("mal", 3, 0)).await;
    assert_eq!(bad_kind, "InvalidParameterValue");

    call(&client, "EndRoom", json!({"RoomId": room})).await;
    let ended = error_code(&client, "KickUserFromRoom", kick("mal", 1, 0)).await;
    assert_eq!(ended, "FailedOperation.ClassEnded");
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
    let params = json!({"SdkAppId": app, "Name": "Alice Liddell", "OriginId": "crm-1"});
    let registered = call(&client, "RegisterUser", params).await;
    let alice = registered["UserId"].as_str().unwrap().to_owned();
    let room = room(
        &server,
        0,
        json!({"TeacherId": "teacher-who-never-came", "Assistants": [alice.clone()]}),
    )
    .await;

    let statistics = |page: u64, limit: u64| json!({"RoomId": room, "Page": page, "Limit": limit});
    let t0 = server.clock.now_ms();
    report(&client, app, room, json!([{"EventId": "early", "EventType": "MemberJoin", "UserId": alice, "Device": 1, "Role": 2, "TimestampMs": t0}])).await;
    server.advance(Duration::from_secs(100));
    let too_early = error_code(&client, "DescribeRoomStatistics", statistics(1, 10)).await;
    assert_eq!(too_early, "FailedOperation.RoomNotEnd");
    call(&client, "StartRoom", json!({"RoomId": room})).await; // t0 + 100 s
    let t = |s: i64| t0 + s * 1000;
    report(&client, app, room, json!([
        {"EventId": "j2", "EventType": "MemberJoin", "UserId": alice, "Device": 3, "TimestampMs": t(150)},
        {"EventId": "cam", "EventType": "CameraOn", "UserId": alice, "TimestampMs": t(160)},
        {"EventId": "q1", "EventType": "MemberQuit", "UserId": alice, "Device": 1, "TimestampMs": t(200)},
        {"EventId": "b1", "EventType": "MemberJoin", "UserId": "bob", "Device": 5, "Role": 0, "TimestampMs": t(210)},
        {"EventId": "bm", "EventType": "MicOn", "UserId": "bob", "TimestampMs": t(220)},
        {"EventId": "q2", "EventType": "MemberQuit", "UserId": alice, "Device": 3, "TimestampMs": t(250)},
    ])).await;
    server.advance(Duration::from_secs(200)); // t0 + 300 s: bob still in, closed by the end
    call(&client, "EndRoom", json!({"RoomId": room})).await;

    let stats = call(&client, "DescribeRoomStatistics", statistics(1, 10)).await;
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
        [&a["Camera"], &a["Mic"], &a["Role"], &a["Device"]],
        [1, 0, 2, 3]
    );
    assert_eq!(a["FirstJoinTimestamp"].as_i64().unwrap(), t0 / 1000);
    assert_eq!(a["CurrentState"], 2);
    let b = by_user("bob");
    assert_eq!(b["UserName"], "", "never registered");
    assert_eq!([&b["PresentTime"], &b["Mic"], &b["Stage"]], [90, 1, 1]);
    let teacher = by_user("teacher-who-never-came");
    assert_eq!([&teacher["CurrentState"], &teacher["PresentTime"]], [0, 0]);
    assert_eq!(a["AnswerQuestions"], 0, "no source for it");

    // Paging, then the events expire and are purged: attendance stays.
    let page2 = call(&client, "DescribeRoomStatistics", statistics(2, 2)).await;
    assert_eq!(page2["MemberRecords"].as_array().unwrap().len(), 1);
    server.advance(Duration::from_secs(3601));
    eventually("events expired", || async {
        let page = json!({"RoomId": room, "SdkAppId": app, "Page": 1, "Limit": 10});
        let r = client.call_raw("GetRoomEvent", &page).await.unwrap();
        (r["Error"]["Code"] == "FailedOperation").then_some(())
    })
    .await;
    let after = call(&client, "DescribeRoomStatistics", statistics(1, 10)).await;
    assert_eq!(after["MemberRecords"], stats["MemberRecords"]);
    server.stop().await;
}

#[tokio::test]
async fn users_register_login_and_describe() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(&dir).await;
    let client = server.client();
    let app = server.sdk_app_id();
    let params =
        json!({"SdkAppId": app, "Name": "A", "OriginId": "o1", "Avatar": "https://a/x.png"});
    let first = call(&client, "RegisterUser", params).await;
    let user_id = first["UserId"].as_str().unwrap().to_owned();
    assert!(!first["Token"].as_str().unwrap().is_empty());
    let again = json!({"SdkAppId": app, "OriginId": "o1"});
    let taken = error_code(&client, "RegisterUser", again).await;
    assert_eq!(taken, "FailedOperation.OriginIdExists");

    let users = json!([{"SdkAppId": app, "Name": "A2", "OriginId": "o1"}, {"SdkAppId": app, "Name": "B", "OriginId": "o2"}]);
    let batch = call(&client, "BatchRegister", json!({"Users": users})).await;
    assert_eq!(
        batch["Users"][0]["UserId"],
        user_id.as_str(),
        "existing user overwritten, same id"
    );
    assert_eq!(batch["Users"][1]["Name"], "B");

    let described = call(&client, "DescribeUser", json!({"UserId": user_id})).await;
    assert_eq!(
        (described["Name"].as_str(), described["OriginId"].as_str()),
        (Some("A2"), Some("o1"))
    );
    let by_origin = call(&client, "DescribeUser", json!({"OriginId": "o2"})).await;
    assert_eq!(by_origin["Name"], "B");
    let login = call(&client, "LoginUser", json!({"UserId": user_id})).await;
    assert_ne!(login["Token"], first["Token"]);
    for action in ["DescribeUser", "LoginUser"] {
        let nobody = error_code(&client, action, json!({"UserId": "nobody"})).await;
        assert_eq!(nobody, "ResourceNotFound.User", "{action}");
    }
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
    let (client, app) = (server.client(), server.sdk_app_id());
    let room = room(&server, 0, json!({})).await;
    call(&client, "StartRoom", json!({"RoomId": room})).await;
    let t0 = server.clock.now_ms();
    // Each member: join, then toggles, then quit; 20 events per member.
    let mut batch = Vec::with_capacity(1000);
    let mut sent = 0;
    for round in 0..EVENTS / MEMBERS {
        for m in 0..MEMBERS {
            let user = format!("m{m}");
            let ts = t0 + (round * MEMBERS + m) as i64;
            let event_type = match round {
                0 => "MemberJoin",
                r if r == EVENTS / MEMBERS - 1 => "MemberQuit",
                r if r % 2 == 0 => "MicOn",
                _ => "MicOff",
            };
            batch.push(json!({"EventId": format!("e{round}-{m}"), "EventType": event_type, "UserId": user, "TimestampMs": ts}));
            if batch.len() == 1000 {
                report(&client, app, room, Value::Array(std::mem::take(&mut batch))).await;
                sent += 1000;
            }
        }
    }
    assert_eq!(sent, EVENTS);
    server.advance(Duration::from_secs(1));
    call(&client, "EndRoom", json!({"RoomId": room})).await;
    let mut seen = std::collections::HashSet::new();
    for page in 1..=10 {
        let params = json!({"RoomId": room, "Page": page, "Limit": 1000});
        let stats = call(&client, "DescribeRoomStatistics", params).await;
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
