//! StreamRoomEvents: a signed GET answered as Server-Sent Events, resumable with Last-Event-ID.

mod support;

use std::time::Duration;

use roomlog_protocol::{flatten_params, form, Tc3Signer};
use serde_json::{json, Value};
use support::{create_room, TestServer};

/// Opens the stream with a TC3-signed GET (query string signed as sent).
async fn open(server: &TestServer, params: Value, last_event_id: Option<u64>) -> reqwest::Response {
    let pairs = flatten_params(&params);
    let query = form::encode(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let host = format!("127.0.0.1:{}", server.port);
    let signer = Tc3Signer {
        secret_id: &server.credentials.secret_id,
        secret_key: &server.credentials.secret_key,
        service: "lcic",
    };
    let headers = signer.sign_get(
        &host,
        "StreamRoomEvents",
        "2022-08-17",
        &query,
        roomlog_core::time::now_secs(),
    );
    let mut request = roomlog::client::http_client().get(format!("{}/?{query}", server.endpoint));
    for (name, value) in headers {
        request = request.header(name, value);
    }
    if let Some(id) = last_event_id {
        request = request.header("Last-Event-ID", id.to_string());
    }
    request.send().await.expect("open stream")
}

/// Reads SSE messages until `count` events arrived (or the stream ended); returns (id, data).
async fn read_events(
    response: &mut reqwest::Response,
    buffer: &mut String,
    count: usize,
) -> Vec<(u64, Value)> {
    let mut events = Vec::new();
    while events.len() < count {
        while let Some(end) = buffer.find("\n\n") {
            let message: String = buffer.drain(..end + 2).collect();
            let mut id = None;
            let mut data = None;
            for line in message.lines() {
                if let Some(v) = line.strip_prefix("id: ") {
                    id = v.parse().ok();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = serde_json::from_str(v).ok();
                }
            }
            if let (Some(id), Some(data)) = (id, data) {
                events.push((id, data));
            }
        }
        if events.len() >= count {
            break;
        }
        match tokio::time::timeout(Duration::from_secs(10), response.chunk())
            .await
            .expect("stream stalled")
        {
            Ok(Some(chunk)) => buffer.push_str(std::str::from_utf8(&chunk).unwrap()),
            _ => break,
        }
    }
    events
}

fn mic(id: &str) -> Value {
    json!({"EventId": id, "EventType": "MicOn", "UserId": "u"})
}

#[tokio::test]
async fn live_stream_resumes_without_gaps_and_ends_with_the_class() {
    let server = TestServer::start(&[]);
    let client = server.client();
    let app = server.sdk_app_id();
    let room = create_room(&client, app).await;
    client
        .call("StartRoom", &json!({"RoomId": room}))
        .await
        .unwrap();
    let report = |ids: &[&str]| {
        let events: Vec<Value> = ids.iter().map(|id| mic(id)).collect();
        json!({"SdkAppId": app, "RoomId": room, "Events": events})
    };
    client
        .call("ReportRoomEvents", &report(&["a", "b"]))
        .await
        .unwrap();

    let mut stream = open(&server, json!({"SdkAppId": app, "RoomId": room}), None).await;
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let mut buffer = String::new();
    let first = read_events(&mut stream, &mut buffer, 3).await;
    assert_eq!(
        first.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(first[0].1["EventType"], "RoomStart");
    assert_eq!(first[1].1["EventId"], "a");
    assert_eq!(
        first[1].1["EventData"],
        json!({"RoomId": room, "UserId": "u"})
    );

    // New events arrive live.
    client
        .call("ReportRoomEvents", &report(&["c"]))
        .await
        .unwrap();
    let live = read_events(&mut stream, &mut buffer, 1).await;
    assert_eq!(live[0].0, 4);
    drop(stream);

    // While disconnected, more happens; the client resumes from the last id it saw.
    client
        .call("ReportRoomEvents", &report(&["d", "e"]))
        .await
        .unwrap();
    let mut resumed = open(&server, json!({"SdkAppId": app, "RoomId": room}), Some(4)).await;
    let mut buffer = String::new();
    let caught_up = read_events(&mut resumed, &mut buffer, 2).await;
    assert_eq!(
        caught_up.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        [5, 6]
    );
    client
        .call("EndRoom", &json!({"RoomId": room}))
        .await
        .unwrap();
    let tail = read_events(&mut resumed, &mut buffer, 10).await;
    assert_eq!(tail.last().unwrap().1["EventType"], "RoomEnd", "{tail:?}");
    assert!(
        resumed.chunk().await.unwrap().is_none(),
        "the stream ends with the class"
    );

    // AfterSeq works the same way, and errors before streaming keep the JSON envelope.
    let mut late = open(
        &server,
        json!({"SdkAppId": app, "RoomId": room, "AfterSeq": 6}),
        None,
    )
    .await;
    let mut buffer = String::new();
    let rest = read_events(&mut late, &mut buffer, 10).await;
    assert_eq!(rest.first().unwrap().0, 7);
    let missing = open(&server, json!({"SdkAppId": app, "RoomId": 1}), None).await;
    assert_eq!(missing.headers()["content-type"], "application/json");
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["Response"]["Error"]["Code"], "ResourceNotFound.Room");
}
