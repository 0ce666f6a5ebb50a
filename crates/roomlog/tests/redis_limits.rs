//! End-to-end: rate limits counted in Redis (`--rate-limit redis://...`), through the real
//! binary over HTTP. The machine's Redis is shared, so each server gets its own key prefix;
//! the outage test runs a private `redis-server` it can kill.

mod support;

#[path = "../../roomlog-server/tests/support/redis_server.rs"]
mod redis_server;

use std::time::{Duration, Instant};

use redis_server::{shared_redis_url, unique_prefix, RedisServer};
use roomlog_protocol::Tc3Signer;
use serde_json::{json, Value};
use support::{create_room, TestServer};

fn code(response: &Value) -> &str {
    response["Error"]["Code"].as_str().unwrap_or("<success>")
}

/// The keys under a prefix in a Redis.
async fn keys(url: &str, prefix: &str) -> Vec<String> {
    let mut connection = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("connecting to Redis");
    redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut connection)
        .await
        .unwrap()
}

/// One signed DescribeRoom, checking the envelope (HTTP 200, JSON) and returning `Response`.
async fn describe_room(server: &TestServer, room: u64) -> Value {
    let body = serde_json::to_vec(&json!({ "RoomId": room })).unwrap();
    let host = format!("127.0.0.1:{}", server.port);
    let signer = Tc3Signer {
        secret_id: &server.credentials.secret_id,
        secret_key: &server.credentials.secret_key,
        service: "lcic",
    };
    let headers = signer.sign_post_json(
        &host,
        "DescribeRoom",
        roomlog_server::API_VERSION,
        &body,
        roomlog_core::time::now_secs(),
    );
    let mut request = roomlog::client::http_client()
        .post(format!("{}/", server.endpoint))
        .body(body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request.send().await.expect("send");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let envelope: Value = response.json().await.expect("JSON body");
    let inner = envelope["Response"].clone();
    assert!(inner["RequestId"].is_string(), "{envelope}");
    inner
}

#[tokio::test]
async fn over_limit_requests_are_refused_with_limits_counted_in_redis() {
    let url = shared_redis_url();
    let prefix = unique_prefix("e2e");
    let server = TestServer::start(&[
        "--rate-limit",
        "DescribeRoom=5",
        "--rate-limit",
        &url,
        "--rate-limit-key-prefix",
        &prefix,
    ]);
    let client = server.client();
    let room = create_room(&client, server.sdk_app_id()).await;
    // Back to back until refused: the first 5 pass, then RequestLimitExceeded; never more
    // successes than 5/s allows for the time taken.
    let started = Instant::now();
    let mut codes = Vec::new();
    while codes.len() < 200 && !codes.iter().any(|c| c == "RequestLimitExceeded") {
        codes.push(code(&describe_room(&server, room).await).to_owned());
    }
    let elapsed = started.elapsed();
    assert!(
        codes[..5].iter().all(|c| c == "<success>"),
        "the first 5 pass: {codes:?}"
    );
    assert_eq!(codes.last().unwrap(), "RequestLimitExceeded", "{codes:?}");
    let ok = codes.iter().filter(|c| *c == "<success>").count();
    assert_eq!(ok + 1, codes.len(), "{codes:?}");
    assert!(
        ok <= 5 + (elapsed.as_millis() / 200) as usize + 1,
        "{ok} passed in {elapsed:?}"
    );
    // Counted in Redis, per action and account: a key lives up to a second after its last
    // allowed request, so look right after one (again if this machine was slow).
    let mut seen = Vec::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        describe_room(&server, room).await;
        seen = keys(&url, &prefix).await;
        if seen
            .iter()
            .any(|k| k.starts_with(&format!("{prefix}:DescribeRoom:")))
        {
            break;
        }
    }
    assert!(
        seen.iter()
            .any(|k| k.starts_with(&format!("{prefix}:DescribeRoom:"))),
        "{seen:?}"
    );
}

/// Until `server` counts in Redis again: DescribeRoom answers something else than
/// ServiceUnavailable (with `refuse`) and the Redis has keys under `prefix`.
async fn wait_for_redis(server: &TestServer, room: u64, url: &str, prefix: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = describe_room(server, room).await;
        if code(&response) != "ServiceUnavailable" && !keys(url, prefix).await.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not back on Redis within 30 s: {response}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn redis_outage_refuses_or_limits_per_node_and_recovers() {
    let mut redis = RedisServer::start();
    let url = redis.url();
    // Two nodes of one cluster: one refusing while Redis is down, one falling back to its own
    // share (DescribeRoom 2/s over 2 nodes: 1/s each).
    let refuse_prefix = unique_prefix("e2e-refuse");
    let refusing = TestServer::start(&[
        "--rate-limit",
        &url,
        "--rate-limit",
        "DescribeRoom=2",
        "--rate-limit-fallback",
        "refuse",
        "--rate-limit-key-prefix",
        &refuse_prefix,
    ]);
    let local_prefix = unique_prefix("e2e-local");
    let local = TestServer::start(&[
        "--rate-limit",
        &url,
        "--rate-limit",
        "DescribeRoom=2",
        "--rate-limit-nodes",
        "2",
        "--rate-limit-key-prefix",
        &local_prefix,
    ]);
    let refusing_room = create_room(&refusing.client(), refusing.sdk_app_id()).await;
    let local_room = create_room(&local.client(), local.sdk_app_id()).await;
    assert_eq!(
        code(&describe_room(&refusing, refusing_room).await),
        "<success>"
    );

    redis.kill();
    // refuse: ServiceUnavailable, in the usual 200 envelope.
    for _ in 0..3 {
        let response = describe_room(&refusing, refusing_room).await;
        assert_eq!(code(&response), "ServiceUnavailable", "{response}");
    }
    // local: this node's share, 1/s; a burst gets 1 and is then held to it.
    let started = Instant::now();
    let mut codes = Vec::new();
    for _ in 0..10 {
        codes.push(code(&describe_room(&local, local_room).await).to_owned());
    }
    let elapsed = started.elapsed();
    assert_eq!(codes[0], "<success>", "{codes:?}");
    assert!(codes
        .iter()
        .all(|c| c == "<success>" || c == "RequestLimitExceeded"));
    let ok = codes.iter().filter(|c| *c == "<success>").count();
    assert!(
        ok <= 2 + elapsed.as_secs() as usize,
        "{codes:?} in {elapsed:?}"
    );
    if elapsed < Duration::from_secs(1) {
        assert_eq!(ok, 1, "one node's share of 2/s: {codes:?}");
    }

    redis.restart();
    wait_for_redis(&refusing, refusing_room, &url, &refuse_prefix).await;
    wait_for_redis(&local, local_room, &url, &local_prefix).await;
    let response = describe_room(&refusing, refusing_room).await;
    assert!(
        matches!(code(&response), "<success>" | "RequestLimitExceeded"),
        "{response}"
    );
}
