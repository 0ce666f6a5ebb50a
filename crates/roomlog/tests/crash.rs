//! Durability: a server killed with SIGKILL at random moments loses no acknowledged event and
//! records none twice.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use serde_json::json;
use support::{assert_exactly_once, call, create_room, read_log, TestServer};

const CYCLES: usize = 3;
const REPORTERS: usize = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_no_acknowledged_event_and_duplicates_none() {
    // Reading the log back pages quickly: no rate limit in this test.
    let mut server = TestServer::start(&["--rate-limit-default", "0"]);
    let app = server.sdk_app_id();
    let room = create_room(&server.client(), app).await;
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();

    for cycle in 0..CYCLES {
        let client = server.client();
        let mut reporters = tokio::task::JoinSet::new();
        for reporter in 0..REPORTERS {
            let (client, acknowledged) = (client.clone(), acknowledged.clone());
            reporters.spawn(async move {
                for n in 0.. {
                    // Mix single events and small batches; the UserId carries the EventId so
                    // GetRoomEvent shows which events are in the log.
                    let size = if n % 4 == 0 { 5 } else { 1 };
                    let ids: Vec<String> = (0..size)
                        .map(|k| format!("c{cycle}-r{reporter}-{n}-{k}"))
                        .collect();
                    let events: Vec<_> = ids
                        .iter()
                        .map(|id| json!({"EventId": id, "EventType": "MicOn", "UserId": id}))
                        .collect();
                    let params = json!({"SdkAppId": app, "RoomId": room, "Events": events});
                    match client.call("ReportRoomEvents", &params).await {
                        Ok(response) => {
                            assert_eq!(
                                response["Accepted"].as_u64(),
                                Some(size as u64),
                                "{response}"
                            );
                            acknowledged.lock().unwrap().extend(ids);
                        }
                        Err(_) => return, // the server is gone
                    }
                }
            });
        }
        let delay = rand::rng().random_range(200..1200);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        server.kill();
        while reporters.join_next().await.is_some() {}
        server.restart();
    }

    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() > 100,
        "the test ingested too little to mean anything: {}",
        acknowledged.len()
    );

    // Read the whole log back: dense, every acknowledged event exactly once.
    let client = server.client();
    let (_, counts) = read_log(&client, app, room).await;
    assert_exactly_once(&acknowledged, &counts);

    // Retrying every acknowledged event records nothing new.
    for chunk in acknowledged.chunks(1000) {
        let events: Vec<_> = chunk
            .iter()
            .map(|id| json!({"EventId": id, "EventType": "MicOn", "UserId": id}))
            .collect();
        let params = json!({"SdkAppId": app, "RoomId": room, "Events": events});
        let response = call(&client, "ReportRoomEvents", params).await;
        assert_eq!(response["Accepted"], 0);
        assert_eq!(response["Duplicates"].as_u64(), Some(chunk.len() as u64));
    }
}
