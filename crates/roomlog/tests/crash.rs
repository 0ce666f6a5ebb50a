//! Durability: a server killed with SIGKILL at random moments loses no acknowledged event and
//! records none twice.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use serde_json::json;
use support::{create_room, TestServer};

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

    // Read the whole log back.
    let client = server.client();
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut read = 0u64;
    let mut total = 0;
    for page in 1.. {
        let response = client
            .call(
                "GetRoomEvent",
                &json!({"RoomId": room, "SdkAppId": app, "Page": page, "Limit": 200}),
            )
            .await
            .unwrap();
        total = response["Total"].as_u64().unwrap();
        let events = response["Events"].as_array().unwrap();
        if events.is_empty() {
            break;
        }
        for event in events {
            *counts
                .entry(event["EventData"]["UserId"].as_str().unwrap().to_owned())
                .or_default() += 1;
            read += 1;
        }
    }
    assert_eq!(
        read, total,
        "dense sequence: every seq up to Total is readable"
    );
    let duplicated: Vec<_> = counts.iter().filter(|(_, &n)| n > 1).collect();
    assert!(duplicated.is_empty(), "recorded twice: {duplicated:?}");
    let lost: Vec<_> = acknowledged
        .iter()
        .filter(|id| !counts.contains_key(*id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged events lost, e.g. {:?}",
        lost.len(),
        lost.first()
    );

    // Retrying every acknowledged event records nothing new.
    for chunk in acknowledged.chunks(1000) {
        let events: Vec<_> = chunk
            .iter()
            .map(|id| json!({"EventId": id, "EventType": "MicOn", "UserId": id}))
            .collect();
        let response = client
            .call(
                "ReportRoomEvents",
                &json!({"SdkAppId": app, "RoomId": room, "Events": events}),
            )
            .await
            .unwrap();
        assert_eq!(response["Accepted"], 0);
        assert_eq!(response["Duplicates"].as_u64(), Some(chunk.len() as u64));
    }
}
