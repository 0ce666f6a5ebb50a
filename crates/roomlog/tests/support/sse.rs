//! StreamRoomEvents clients for tests: a TC3-signed GET, and an SSE reader.

use std::time::Duration;

use roomlog_protocol::{flatten_params, form, Tc3Signer};
use serde_json::Value;

use super::TestServer;

/// Opens the stream with a TC3-signed GET (query string signed as sent).
pub async fn open(
    server: &TestServer,
    params: Value,
    last_event_id: Option<u64>,
) -> reqwest::Response {
    open_with(
        &roomlog::client::http_client(),
        server,
        params,
        last_event_id,
    )
    .await
}

/// [`open`] with any `Last-Event-ID` header value.
pub async fn open_resuming_from(
    server: &TestServer,
    params: Value,
    last_event_id: &str,
) -> reqwest::Response {
    send(
        &roomlog::client::http_client(),
        server,
        params,
        Some(last_event_id.to_owned()),
    )
    .await
}

/// [`open`] with a given HTTP client (many streams share one).
pub async fn open_with(
    http: &reqwest::Client,
    server: &TestServer,
    params: Value,
    last_event_id: Option<u64>,
) -> reqwest::Response {
    send(http, server, params, last_event_id.map(|id| id.to_string())).await
}

async fn send(
    http: &reqwest::Client,
    server: &TestServer,
    params: Value,
    last_event_id: Option<String>,
) -> reqwest::Response {
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
    let mut request = http.get(format!("{}/?{query}", server.endpoint));
    for (name, value) in headers {
        request = request.header(name, value);
    }
    if let Some(id) = last_event_id {
        request = request.header("Last-Event-ID", id);
    }
    request.send().await.expect("open stream")
}

/// Reads SSE messages until `count` events arrived (or the stream ended); returns (id, data).
pub async fn read_events(
    response: &mut reqwest::Response,
    buffer: &mut String,
    count: usize,
) -> Vec<(u64, Value)> {
    read_events_within(response, buffer, count, Duration::from_secs(10)).await
}

/// [`read_events`], failing if the stream is silent for `stall`.
pub async fn read_events_within(
    response: &mut reqwest::Response,
    buffer: &mut String,
    count: usize,
    stall: Duration,
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
        match tokio::time::timeout(stall, response.chunk())
            .await
            .expect("stream stalled")
        {
            Ok(Some(chunk)) => buffer.push_str(std::str::from_utf8(&chunk).unwrap()),
            _ => break,
        }
    }
    events
}
