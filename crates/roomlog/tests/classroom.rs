//! The live classroom gateway (`GET /classroom/ws`, docs/gateway.md) end to end: the real
//! server on a real socket, classroom clients over WebSocket (tokio-tungstenite), the room's
//! log and attendance read back through the API.
//!
//! Waits have generous upper bounds and never assume the machine's speed; the one bound that
//! is the rule itself (a kick closes the connection within 1 s) is measured from the kick's
//! answer.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use roomlog::client::Client;
use roomlog_core::time::ManualClock;
use serde_json::{json, Value};
use support::inprocess::{eventually, InProcessServer};
use support::{room_params, TestServer};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How long any wait may take before the test fails (never how long it should take).
const PATIENCE: Duration = Duration::from_secs(20);

fn ws_url(endpoint: &str) -> String {
    format!("{}/classroom/ws", endpoint.replacen("http://", "ws://", 1))
}

async fn connect(endpoint: &str) -> Ws {
    let (ws, _) = tokio_tungstenite::connect_async(ws_url(endpoint))
        .await
        .expect("WebSocket upgrade");
    ws
}

async fn send(ws: &mut Ws, message: Value) {
    ws.send(Message::text(message.to_string()))
        .await
        .expect("send");
}

/// What came next: a JSON message, or the close (code, reason).
#[derive(Debug)]
enum Next {
    Json(Value),
    Closed(u16, String),
}

async fn next(ws: &mut Ws) -> Next {
    loop {
        let message = tokio::time::timeout(PATIENCE, ws.next())
            .await
            .expect("nothing from the server in time");
        match message {
            Some(Ok(Message::Text(text))) => {
                return Next::Json(serde_json::from_str(&text).expect("JSON"))
            }
            Some(Ok(Message::Close(frame))) => {
                let (code, reason) = frame
                    .map(|f| (u16::from(f.code), f.reason.to_string()))
                    .unwrap_or((1005, String::new()));
                return Next::Closed(code, reason);
            }
            Some(Ok(_)) => continue,
            Some(Err(err)) => return Next::Closed(1006, err.to_string()),
            None => return Next::Closed(1006, "ended".into()),
        }
    }
}

async fn next_json(ws: &mut Ws) -> Value {
    match next(ws).await {
        Next::Json(value) => value,
        closed => panic!("expected a message, got {closed:?}"),
    }
}

/// Skips messages until one of type `kind`.
async fn next_of_type(ws: &mut Ws, kind: &str) -> Value {
    loop {
        let message = next_json(ws).await;
        if message["type"] == kind {
            return message;
        }
    }
}

/// The next answer to the client's own message (pushes skipped).
async fn next_answer(ws: &mut Ws) -> Value {
    loop {
        let message = next_json(ws).await;
        if message["type"] != "member" && message["type"] != "room" {
            return message;
        }
    }
}

/// Skips messages until a `member` push of `event_type`.
async fn next_member_push(ws: &mut Ws, event_type: &str) -> Value {
    loop {
        let message = next_of_type(ws, "member").await;
        if message["EventType"] == event_type {
            return message;
        }
    }
}

/// Reads (skipping messages) until the close: (code, reason).
async fn closed(ws: &mut Ws) -> (u16, String) {
    loop {
        if let Next::Closed(code, reason) = next(ws).await {
            return (code, reason);
        }
    }
}

async fn register(client: &Client, app: u64, name: &str) -> (String, String) {
    let user = client
        .call("RegisterUser", &json!({"SdkAppId": app, "Name": name}))
        .await
        .expect("RegisterUser");
    (
        user["UserId"].as_str().unwrap().to_owned(),
        user["Token"].as_str().unwrap().to_owned(),
    )
}

fn join_message(app: u64, user: &(String, String), room: u64, device: u64) -> Value {
    json!({"type": "join", "SdkAppId": app, "UserId": user.0, "Token": user.1,
           "RoomId": room, "Device": device})
}

/// Connects and joins; the `joined` answer.
async fn join(endpoint: &str, message: Value) -> (Ws, Value) {
    let mut ws = connect(endpoint).await;
    send(&mut ws, message).await;
    let joined = next_json(&mut ws).await;
    assert_eq!(joined["type"], "joined", "{joined}");
    (ws, joined)
}

/// Connects, sends `message` as the join, and expects the close.
async fn refused(endpoint: &str, message: Value) -> (u16, String) {
    let mut ws = connect(endpoint).await;
    send(&mut ws, message).await;
    closed(&mut ws).await
}

/// A class with a registered teacher, assistant and student.
struct Class {
    client: Client,
    app: u64,
    room: u64,
    teacher: (String, String),
    assistant: (String, String),
    student: (String, String),
}

impl Class {
    async fn create(client: Client, app: u64, start: bool) -> Class {
        let teacher = register(&client, app, "Teacher").await;
        let assistant = register(&client, app, "Assistant").await;
        let student = register(&client, app, "Student").await;
        let mut params = room_params(app);
        params["TeacherId"] = teacher.0.clone().into();
        params["Assistants"] = json!([assistant.0]);
        let room = client.call("CreateRoom", &params).await.unwrap()["RoomId"]
            .as_u64()
            .unwrap();
        if start {
            client
                .call("StartRoom", &json!({"RoomId": room}))
                .await
                .unwrap();
        }
        Class {
            client,
            app,
            room,
            teacher,
            assistant,
            student,
        }
    }

    fn join(&self, user: &(String, String), device: u64) -> Value {
        join_message(self.app, user, self.room, device)
    }

    /// The room's whole log.
    async fn log(&self) -> Vec<Value> {
        let page = self
            .client
            .call(
                "GetRoomEvent",
                &json!({"RoomId": self.room, "SdkAppId": self.app, "Page": 1, "Limit": 200}),
            )
            .await
            .unwrap();
        page["Events"].as_array().unwrap().clone()
    }

    /// The log's events of `kind` for `user`, as their EventData.
    async fn events(&self, kind: &str, user: &str) -> Vec<Value> {
        self.log()
            .await
            .into_iter()
            .filter(|e| e["EventType"] == kind && e["EventData"]["UserId"] == user)
            .map(|e| e["EventData"].clone())
            .collect()
    }

    /// Waits until the log holds an event of `kind` for `user`; its EventData.
    async fn wait_for_event(&self, kind: &str, user: &str) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(event) = self.events(kind, user).await.pop() {
                return event;
            }
            assert!(Instant::now() < deadline, "no {kind} of {user} recorded");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn started_class(server: &TestServer) -> Class {
    Class::create(server.client(), server.sdk_app_id(), true).await
}

fn roster_users(roster: &Value) -> Vec<(String, u64, Vec<u64>)> {
    roster
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let devices = m["Devices"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["Device"].as_u64().unwrap())
                .collect();
            (
                m["UserId"].as_str().unwrap().to_owned(),
                m["Role"].as_u64().unwrap(),
                devices,
            )
        })
        .collect()
}

#[tokio::test]
async fn every_refusal_closes_with_its_code_and_reason() {
    let server = TestServer::start(&["--gateway-join-timeout", "500ms"]);
    let class = started_class(&server).await;
    let endpoint = &server.endpoint;
    let student = &class.student;

    // Nothing but a join is taken first; the connection stays until the join timeout.
    let mut ws = connect(endpoint).await;
    send(
        &mut ws,
        json!({"type": "media", "seq": 1, "kind": "CameraOn"}),
    )
    .await;
    let error = next_json(&mut ws).await;
    assert_eq!(
        (error["type"].as_str(), error["code"].as_str()),
        (Some("error"), Some("NotJoined"))
    );
    assert_eq!(closed(&mut ws).await, (4011, "no join in time".into()));

    let mut bad_token = class.join(student, 0);
    bad_token["Token"] = "x".repeat(40).into();
    assert_eq!(
        refused(endpoint, bad_token).await,
        (4001, "invalid token".into())
    );
    let mut nobody = class.join(student, 0);
    nobody["UserId"] = "nobody".into();
    assert_eq!(refused(endpoint, nobody).await.0, 4001);
    let mut other_app = class.join(student, 0);
    other_app["SdkAppId"] = (class.app + 1).into();
    assert_eq!(
        refused(endpoint, other_app).await,
        (4003, "the user belongs to another app".into())
    );
    let mut no_room = class.join(student, 0);
    no_room["RoomId"] = (class.room + 1000).into();
    assert_eq!(
        refused(endpoint, no_room).await,
        (4004, "room not found".into())
    );
    let mut bad_device = class.join(student, 0);
    bad_device["Device"] = 8.into();
    assert_eq!(refused(endpoint, bad_device).await.0, 4000);

    // A deleted room is not found; an ended class is over.
    let deleted = support::create_room(&class.client, class.app).await;
    class
        .client
        .call("DeleteRoom", &json!({"RoomId": deleted}))
        .await
        .unwrap();
    let message = join_message(class.app, student, deleted, 0);
    assert_eq!(refused(endpoint, message).await.0, 4004);
    let ended = support::start_class(&class.client, class.app).await;
    class
        .client
        .call("EndRoom", &json!({"RoomId": ended}))
        .await
        .unwrap();
    let message = join_message(class.app, student, ended, 0);
    assert_eq!(
        refused(endpoint, message).await,
        (4005, "the class has ended".into())
    );

    // Kicked: for a while (the time left is in the reason), then for good.
    let kick = |user: &str, kind: u64| json!({"RoomId": class.room, "SdkAppId": class.app, "UserId": user, "KickType": kind, "Duration": 60});
    class
        .client
        .call("KickUserFromRoom", &kick(&student.0, 1))
        .await
        .unwrap();
    let (code, reason) = refused(endpoint, class.join(student, 0)).await;
    assert_eq!(code, 4007);
    let secs: u64 = reason
        .strip_prefix("kicked: may rejoin in ")
        .and_then(|rest| rest.strip_suffix(" s"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("reason: {reason}"));
    assert!((1..=61).contains(&secs), "{reason}");
    class
        .client
        .call("KickUserFromRoom", &kick(&class.assistant.0, 2))
        .await
        .unwrap();
    assert_eq!(
        refused(endpoint, class.join(&class.assistant, 0)).await,
        (4007, "kicked: may not rejoin this class".into())
    );
    // None of these recorded anything.
    assert!(class.events("MemberJoin", &student.0).await.is_empty());

    // A message over 4 KiB closes the connection.
    let mut ws = connect(endpoint).await;
    send(&mut ws, json!({"type": "ping", "pad": "x".repeat(5000)})).await;
    let (code, _) = closed(&mut ws).await;
    assert!(code == 1009 || code == 1006, "{code}");
}

#[tokio::test]
async fn expired_tokens_and_expired_classes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(roomlog_core::time::now_ms()));
    let server = InProcessServer::start(dir.path(), Default::default(), clock).await;
    let class = Class::create(server.client(), server.sdk_app_id(), false).await;
    server.advance(Duration::from_secs(7 * 24 * 3600 + 1));
    assert_eq!(
        refused(&server.endpoint, class.join(&class.student, 0)).await,
        (4002, "token expired: log in again".into())
    );
    // A fresh token; the class never started by its EndTime, so it expired.
    let login = class
        .client
        .call("LoginUser", &json!({"UserId": class.student.0}))
        .await
        .unwrap();
    let student = (
        class.student.0.clone(),
        login["Token"].as_str().unwrap().to_owned(),
    );
    eventually("the room expired", || async {
        let room = class
            .client
            .call("DescribeRoom", &json!({"RoomId": class.room}))
            .await
            .ok()?;
        (room["Status"] == 3).then_some(())
    })
    .await;
    assert_eq!(
        refused(&server.endpoint, class.join(&student, 0)).await,
        (4006, "the class has expired".into())
    );
    server.stop().await;
}

#[tokio::test]
async fn join_is_recorded_with_the_rooms_role_and_the_roster_is_pushed() {
    let server = TestServer::start(&[]);
    let class = started_class(&server).await;
    let endpoint = &server.endpoint;

    // The client cannot choose its role: an extra Role is ignored.
    let mut teacher_join = class.join(&class.teacher, 0);
    teacher_join["Role"] = 0.into();
    let (mut teacher, joined) = join(endpoint, teacher_join).await;
    assert_eq!(joined["Role"], 1);
    assert_eq!(joined["resumed"], false);
    assert_eq!(joined["room"]["Status"], 1);
    assert_eq!(joined["room"]["RoomId"], class.room);
    assert_eq!(
        joined["heartbeat"],
        json!({"intervalMs": 5000, "timeoutMs": 15000})
    );
    assert_eq!(
        roster_users(&joined["roster"]),
        [(class.teacher.0.clone(), 1, vec![0])]
    );
    // Durable before the answer: the log has it already.
    let recorded = class.events("MemberJoin", &class.teacher.0).await;
    assert_eq!(recorded.len(), 1);
    assert_eq!(
        (recorded[0]["Device"].as_u64(), recorded[0]["Role"].as_u64()),
        (Some(0), Some(1))
    );

    let (_assistant, joined) = join(endpoint, class.join(&class.assistant, 2)).await;
    assert_eq!(joined["Role"], 2);
    let (_student, joined) = join(endpoint, class.join(&class.student, 5)).await;
    assert_eq!(joined["Role"], 0);
    assert_eq!(
        roster_users(&joined["roster"]),
        [
            (class.teacher.0.clone(), 1, vec![0]),
            (class.assistant.0.clone(), 2, vec![2]),
            (class.student.0.clone(), 0, vec![5]),
        ]
    );
    let device = &joined["roster"][2]["Devices"][0];
    assert_eq!(
        device,
        &json!({"Device": 5, "Camera": false, "Mic": false, "Screen": false, "Visible": true})
    );

    // The teacher was told of both, in order.
    for (user, role) in [(&class.assistant.0, 2), (&class.student.0, 0)] {
        let push = next_of_type(&mut teacher, "member").await;
        assert_eq!(push["EventType"], "MemberJoin");
        assert_eq!(&push["UserId"], user);
        assert_eq!(push["Member"]["Role"], role);
    }

    // A second device of the same user is a second session; the roster shows both.
    let (_phone, joined) = join(endpoint, class.join(&class.student, 1)).await;
    let student = &roster_users(&joined["roster"])[2];
    assert_eq!(student.2, vec![1, 5]);
    assert_eq!(
        support::metric(&server, "roomlog_gateway_connections").await,
        4.0
    );
}

#[tokio::test]
async fn media_is_recorded_for_the_reporting_device_only_and_impossible_changes_are_refused() {
    let server = TestServer::start(&[]);
    let class = started_class(&server).await;
    let endpoint = &server.endpoint;
    let (mut teacher, _) = join(endpoint, class.join(&class.teacher, 0)).await;
    let (mut student, _) = join(endpoint, class.join(&class.student, 3)).await;
    next_of_type(&mut teacher, "member").await; // the student's join

    // A UserId in the report is ignored: a client speaks only for itself.
    send(
        &mut student,
        json!({"type": "media", "seq": 1, "kind": "CameraOn", "UserId": class.teacher.0}),
    )
    .await;
    assert_eq!(
        next_answer(&mut student).await,
        json!({"type": "ack", "seq": 1, "duplicate": false})
    );
    let push = next_of_type(&mut teacher, "member").await;
    assert_eq!(
        (push["EventType"].as_str(), push["UserId"].as_str()),
        (Some("CameraOn"), Some(class.student.0.as_str()))
    );
    assert_eq!(push["Member"]["Devices"][0]["Camera"], true);
    let recorded = class.events("CameraOn", &class.student.0).await;
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0]["Device"], 3);
    assert!(class.events("CameraOn", &class.teacher.0).await.is_empty());

    for (seq, kind, code) in [
        (2, "CameraOn", "NoChange"),
        (3, "MicOff", "NoChange"),
        (4, "Dance", "UnknownKind"),
        (5, "MemberQuit", "UnknownKind"),
        (6, "RoomEnd", "UnknownKind"),
    ] {
        send(
            &mut student,
            json!({"type": "media", "seq": seq, "kind": kind}),
        )
        .await;
        let answer = next_answer(&mut student).await;
        assert_eq!(
            (
                answer["type"].as_str(),
                answer["code"].as_str(),
                answer["seq"].as_u64()
            ),
            (Some("error"), Some(code), Some(seq)),
            "{kind}"
        );
    }
    send(&mut student, json!({"type": "nonsense"})).await;
    assert_eq!(next_answer(&mut student).await["code"], "BadMessage");
    send(
        &mut student,
        json!({"type": "media", "seq": 7, "kind": "MicOn"}),
    )
    .await;
    assert_eq!(next_answer(&mut student).await["type"], "ack");
    send(&mut student, json!({"type": "ping"})).await;
    assert_eq!(next_answer(&mut student).await, json!({"type": "pong"}));
    // Only what was acknowledged is in the log.
    let kinds: Vec<String> = class
        .log()
        .await
        .iter()
        .filter(|e| e["EventData"]["UserId"] == class.student.0.as_str())
        .map(|e| e["EventType"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["MemberJoin", "CameraOn", "MicOn"]);
}

#[tokio::test]
async fn a_reconnect_within_the_timeout_resumes_without_quit_or_join_and_resends_are_no_ops() {
    let server = TestServer::start(&[]);
    let class = started_class(&server).await;
    let endpoint = &server.endpoint;
    let (mut student, joined) = join(endpoint, class.join(&class.student, 0)).await;
    let session = joined["session"].as_str().unwrap().to_owned();
    send(
        &mut student,
        json!({"type": "media", "seq": 1, "kind": "CameraOn"}),
    )
    .await;
    assert_eq!(next_answer(&mut student).await["type"], "ack");
    // The connection drops without a goodbye.
    drop(student);

    let mut resume = class.join(&class.student, 0);
    resume["Resume"] = session.clone().into();
    let (mut student, joined) = join(endpoint, resume).await;
    assert_eq!(
        (
            joined["resumed"].as_bool(),
            joined["session"].as_str(),
            joined["lastSeq"].as_u64()
        ),
        (Some(true), Some(session.as_str()), Some(1))
    );
    assert_eq!(joined["roster"][0]["Devices"][0]["Camera"], true);
    // The client did not see the ack: it sends report 1 again, then goes on.
    send(
        &mut student,
        json!({"type": "media", "seq": 1, "kind": "CameraOn"}),
    )
    .await;
    assert_eq!(
        next_answer(&mut student).await,
        json!({"type": "ack", "seq": 1, "duplicate": true})
    );
    send(
        &mut student,
        json!({"type": "media", "seq": 2, "kind": "CameraOff"}),
    )
    .await;
    assert_eq!(next_answer(&mut student).await["duplicate"], false);

    // Resuming while the old connection is still open replaces it.
    let mut resume = class.join(&class.student, 0);
    resume["Resume"] = session.clone().into();
    let (_again, joined) = join(endpoint, resume).await;
    assert_eq!(joined["resumed"], true);
    assert_eq!(closed(&mut student).await.0, 4010);

    let kinds: Vec<String> = class
        .log()
        .await
        .iter()
        .map(|e| e["EventType"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["RoomStart", "MemberJoin", "CameraOn", "CameraOff"]);
}

#[tokio::test]
async fn silence_and_lost_connections_end_with_reason_4_and_a_leave_with_reason_0() {
    let server = TestServer::start(&[
        "--gateway-heartbeat-interval",
        "200ms",
        "--gateway-heartbeat-timeout",
        "2s",
    ]);
    let class = started_class(&server).await;
    let endpoint = &server.endpoint;

    // Heartbeats keep a connection alive past the timeout.
    let (mut teacher, joined) = join(endpoint, class.join(&class.teacher, 0)).await;
    assert_eq!(
        joined["heartbeat"],
        json!({"intervalMs": 200, "timeoutMs": 2000})
    );
    // Past the timeout, pinging at the interval (each ping may take up to 1.8 s to arrive).
    let alive_until = Instant::now() + Duration::from_millis(3000);
    while Instant::now() < alive_until {
        send(&mut teacher, json!({"type": "ping"})).await;
        assert_eq!(next_of_type(&mut teacher, "pong").await["type"], "pong");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(class
        .events("MemberQuit", &class.teacher.0)
        .await
        .is_empty());
    // A clean leave: Reason 0, then the server closes.
    send(&mut teacher, json!({"type": "leave"})).await;
    assert_eq!(next_of_type(&mut teacher, "left").await["type"], "left");
    assert_eq!(closed(&mut teacher).await, (1000, "left".into()));
    let quits = class.events("MemberQuit", &class.teacher.0).await;
    assert_eq!(quits.len(), 1);
    assert_eq!(quits[0]["Reason"], 0);

    // Silent: closed, Reason 4.
    let (mut student, _) = join(endpoint, class.join(&class.student, 2)).await;
    assert_eq!(
        closed(&mut student).await,
        (4009, "heartbeat timeout".into())
    );
    let quit = class.wait_for_event("MemberQuit", &class.student.0).await;
    assert_eq!(
        (quit["Reason"].as_u64(), quit["Device"].as_u64()),
        (Some(4), Some(2))
    );

    // Dropped without a goodbye and not resumed: Reason 4 after the timeout.
    let (assistant, joined) = join(endpoint, class.join(&class.assistant, 0)).await;
    drop(assistant);
    let quit = class.wait_for_event("MemberQuit", &class.assistant.0).await;
    assert_eq!(quit["Reason"], 4);
    // Too late to resume: a new session, with a new MemberJoin.
    let mut resume = class.join(&class.assistant, 0);
    resume["Resume"] = joined["session"].clone();
    let (_assistant, joined_again) = join(endpoint, resume).await;
    assert_eq!(joined_again["resumed"], false);
    assert_ne!(joined_again["session"], joined["session"]);
    assert_eq!(
        class.events("MemberJoin", &class.assistant.0).await.len(),
        2
    );
}

#[tokio::test]
async fn a_kick_closes_the_users_connections_within_a_second() {
    let server = TestServer::start(&[]);
    let class = started_class(&server).await;
    let endpoint = &server.endpoint;
    let (mut teacher, _) = join(endpoint, class.join(&class.teacher, 0)).await;
    let (mut laptop, _) = join(endpoint, class.join(&class.student, 0)).await;
    let (mut phone, _) = join(endpoint, class.join(&class.student, 1)).await;
    next_of_type(&mut teacher, "member").await;
    next_of_type(&mut teacher, "member").await;

    class
        .client
        .call(
            "KickUserFromRoom",
            &json!({"RoomId": class.room, "SdkAppId": class.app, "UserId": class.student.0, "KickType": 2}),
        )
        .await
        .unwrap();
    let kicked = Instant::now();
    for ws in [&mut laptop, &mut phone] {
        let push = next_member_push(ws, "MemberQuit").await;
        assert_eq!(
            (push["EventType"].as_str(), push["Reason"].as_u64()),
            (Some("MemberQuit"), Some(2))
        );
        assert_eq!(
            closed(ws).await,
            (4007, "kicked from the class for good".into())
        );
    }
    let took = kicked.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "closed {took:?} after the kick"
    );
    let push = next_member_push(&mut teacher, "MemberQuit").await;
    assert_eq!(
        (push["UserId"].as_str(), &push["Member"]),
        (Some(class.student.0.as_str()), &Value::Null)
    );
}

#[tokio::test]
async fn room_start_and_end_are_pushed_the_end_closes_and_attendance_matches() {
    let server = TestServer::start(&[]);
    let client = server.client();
    let class = Class::create(client, server.sdk_app_id(), false).await;
    let endpoint = &server.endpoint;
    let (mut teacher, joined) = join(endpoint, class.join(&class.teacher, 0)).await;
    assert_eq!(joined["room"]["Status"], 0);
    let (mut student, _) = join(endpoint, class.join(&class.student, 0)).await;
    class
        .client
        .call("StartRoom", &json!({"RoomId": class.room}))
        .await
        .unwrap();
    for ws in [&mut teacher, &mut student] {
        let push = next_of_type(ws, "room").await;
        assert_eq!(
            (push["EventType"].as_str(), push["Status"].as_u64()),
            (Some("RoomStart"), Some(1))
        );
    }
    send(
        &mut student,
        json!({"type": "media", "seq": 1, "kind": "CameraOn"}),
    )
    .await;
    assert_eq!(next_of_type(&mut student, "ack").await["seq"], 1);
    let (assistant, _) = join(endpoint, class.join(&class.assistant, 0)).await;
    drop(assistant); // still in (a lost connection's session lasts the timeout)

    class
        .client
        .call("EndRoom", &json!({"RoomId": class.room}))
        .await
        .unwrap();
    for ws in [&mut teacher, &mut student] {
        let push = next_of_type(ws, "room").await;
        assert_eq!(
            (push["EventType"].as_str(), push["Status"].as_u64()),
            (Some("RoomEnd"), Some(2))
        );
        assert_eq!(closed(ws).await, (4005, "the class has ended".into()));
    }

    let stats = class
        .client
        .call(
            "DescribeRoomStatistics",
            &json!({"RoomId": class.room, "Page": 1, "Limit": 100}),
        )
        .await
        .unwrap();
    assert_eq!(stats["MemberNumber"], 3);
    assert_eq!(stats["PeakMemberNumber"], 3);
    let log = class.log().await;
    let ts = |kind: &str, user: &str| {
        log.iter()
            .find(|e| e["EventType"] == kind && e["EventData"]["UserId"] == user)
            .map(|e| e["Timestamp"].as_u64().unwrap())
            .unwrap_or_else(|| panic!("no {kind} of {user}"))
    };
    let started = log.iter().find(|e| e["EventType"] == "RoomStart").unwrap()["Timestamp"]
        .as_u64()
        .unwrap();
    let ended = log.iter().find(|e| e["EventType"] == "RoomEnd").unwrap()["Timestamp"]
        .as_u64()
        .unwrap();
    for (user, role, camera) in [
        (&class.teacher.0, 1, 0),
        (&class.student.0, 0, 1),
        (&class.assistant.0, 2, 0),
    ] {
        let record = stats["MemberRecords"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| &r["UserId"] == user)
            .unwrap_or_else(|| panic!("no record of {user}: {stats}"));
        assert_eq!(record["Role"], role);
        assert_eq!(record["Camera"], camera);
        assert_eq!(
            record["FirstJoinTimestamp"].as_u64().unwrap(),
            ts("MemberJoin", user)
        );
        // The end's Reason 5 quit closed the session.
        assert_eq!(
            record["LastQuitTimestamp"].as_u64().unwrap(),
            ts("MemberQuit", user)
        );
        let joined = ts("MemberJoin", user).max(started);
        let present = record["PresentTime"].as_u64().unwrap();
        assert!(
            present <= ended - started && present + 1 >= ended.saturating_sub(joined),
            "{record}"
        );
    }
}

#[tokio::test]
async fn bounds_hold_per_room_and_per_connection() {
    let server = TestServer::start(&[
        "--gateway-max-connections-per-room",
        "1",
        "--gateway-max-messages-per-second",
        "2",
    ]);
    let class = started_class(&server).await;
    let endpoint = &server.endpoint;
    let (mut teacher, _) = join(endpoint, class.join(&class.teacher, 0)).await;
    assert_eq!(
        refused(endpoint, class.join(&class.student, 0)).await,
        (4012, "room full: 1 connections on this node".into())
    );
    assert!(class
        .events("MemberJoin", &class.student.0)
        .await
        .is_empty());
    for _ in 0..10 {
        send(&mut teacher, json!({"type": "ping"})).await;
    }
    assert_eq!(
        closed(&mut teacher).await,
        (4013, "too many messages".into())
    );
}

#[tokio::test]
async fn shutdown_closes_with_going_away_and_records_no_quit() {
    let mut server = TestServer::start(&[]);
    let class = started_class(&server).await;
    let (mut student, _) = join(&server.endpoint, class.join(&class.student, 0)).await;
    let pid = server.child.id().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let (code, _) = closed(&mut student).await;
    assert_eq!(code, u16::from(CloseCode::Away));
    assert!(server.terminate().success());
    server.restart();
    let class = Class {
        client: server.client(),
        ..class
    };
    assert_eq!(class.events("MemberJoin", &class.student.0).await.len(), 1);
    assert!(class
        .events("MemberQuit", &class.student.0)
        .await
        .is_empty());
}

/// Two nodes on one PostgreSQL schema: a client connected to A is kicked through B, and the
/// end of class through B closes A's connections: A's hub learns of B's commits through the
/// store's commit feed.
#[tokio::test]
async fn a_kick_and_an_end_through_another_node_reach_the_node_holding_the_connection() {
    let schema = support::postgres::Schema::new("roomlog_gw");
    let url = support::postgres::url();
    let args = ["--store", &url, "--store-schema", &schema.name];
    let (a, b) = TestServer::start_pair(&args);
    let class = Class::create(b.client(), b.sdk_app_id(), true).await;

    let (mut teacher, _) = join(&a.endpoint, class.join(&class.teacher, 0)).await;
    let (mut student, _) = join(&a.endpoint, class.join(&class.student, 0)).await;
    class
        .client
        .call(
            "KickUserFromRoom",
            &json!({"RoomId": class.room, "SdkAppId": class.app, "UserId": class.student.0, "KickType": 1}),
        )
        .await
        .unwrap();
    let kicked = Instant::now();
    assert_eq!(
        closed(&mut student).await,
        (4007, "kicked from the class".into())
    );
    let took = kicked.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "closed {took:?} after the kick on the other node"
    );

    class
        .client
        .call("EndRoom", &json!({"RoomId": class.room}))
        .await
        .unwrap();
    let push = next_of_type(&mut teacher, "room").await;
    assert_eq!(push["EventType"], "RoomEnd");
    assert_eq!(closed(&mut teacher).await.0, 4005);
    drop((a, b));
}
