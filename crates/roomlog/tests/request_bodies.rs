//! End-to-end: what a request body can cost the server. The real binary on a real socket.
//!
//! The signature is checked over the raw body before anything parses it, so a well-formed TC3
//! header with an unknown SecretId (or a wrong signature) costs the body's bytes and nothing
//! more; an authenticated body is bounded in nesting depth and element count before it becomes a
//! tree. (It once cost ~36 times its size: 16 concurrent 10 MiB `{"a":[0,0,...]}` with an unknown
//! SecretId took the server to 1.4 GB.)

mod support;

use roomlog_protocol::{Tc3Signer, MAX_JSON_DEPTH, MAX_PARAM_ELEMENTS};
use serde_json::Value;
use support::TestServer;

/// The largest body the server reads (the v3 POST limit).
const TEN_MIB: usize = 10 * 1024 * 1024;
/// Concurrent large requests per burst (see `burst`).
const BURST: usize = 4;
/// Peak resident memory the server may reach through the bursts below. Each request may hold
/// its body about twice while it is collected, on top of a base of a few tens of MiB: about
/// 65 MiB was measured. Parsing the bodies into trees before the key lookup reached 800 MiB.
const PEAK_RSS_BOUND_KIB: u64 = 256 * 1024;

/// `{"a":[0,0,...,0]}` with `zeros` zeros: `2 * zeros + 7` bytes.
fn flat_array_body(zeros: usize) -> Vec<u8> {
    let mut body = Vec::with_capacity(2 * zeros + 7);
    body.extend_from_slice(b"{\"a\":[");
    for _ in 1..zeros {
        body.extend_from_slice(b"0,");
    }
    body.extend_from_slice(b"0]}");
    body
}

/// Sends a TC3-signed POST of `body` signed with this secret id and key; returns `Response`.
async fn post(server: &TestServer, secret_id: &str, secret_key: &str, body: &[u8]) -> Value {
    let host = format!("127.0.0.1:{}", server.port);
    let signer = Tc3Signer {
        secret_id,
        secret_key,
        service: "lcic",
    };
    let headers = signer.sign_post_json(
        &host,
        "ReportRoomEvents",
        "2022-08-17",
        body,
        roomlog_core::time::now_secs(),
    );
    let mut request = roomlog::client::http_client()
        .post(format!("{}/", server.endpoint))
        .body(body.to_vec());
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request.send().await.expect("send");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let envelope: Value = response.json().await.expect("a JSON envelope");
    envelope["Response"].clone()
}

fn code(response: &Value) -> &str {
    response["Error"]["Code"].as_str().unwrap_or("<success>")
}

/// The server's peak resident set size so far (`VmHWM`), KiB.
fn peak_rss_kib(server: &TestServer) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id()))
        .expect("reading /proc/<pid>/status (the test runs on Linux)");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|kib| kib.trim().parse().ok())
        .expect("VmHWM in /proc/<pid>/status")
}

/// Sends four copies of `body` at once; returns their error codes.
async fn burst(server: &TestServer, secret_id: &str, secret_key: &str, body: &[u8]) -> Vec<String> {
    let (a, b, c, d) = tokio::join!(
        post(server, secret_id, secret_key, body),
        post(server, secret_id, secret_key, body),
        post(server, secret_id, secret_key, body),
        post(server, secret_id, secret_key, body),
    );
    [a, b, c, d].iter().map(|r| code(r).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn large_and_deep_bodies_cost_bounded_memory() {
    let server = TestServer::start(&["--rate-limit-default", "0"]);
    let (secret_id, secret_key) = (
        server.credentials.secret_id.clone(),
        server.credentials.secret_key.clone(),
    );
    let big = flat_array_body((TEN_MIB - 7) / 2);
    assert!(big.len() <= TEN_MIB && big.len() > TEN_MIB - 8);

    // Unknown SecretId, well-formed header: refused without parsing the body.
    let unknown = burst(&server, "AKIDunknownunknownunknownunknown0000", "x", &big).await;
    assert!(
        unknown.iter().all(|c| c == "AuthFailure.SecretIdNotFound"),
        "{unknown:?}"
    );
    let after_unknown = peak_rss_kib(&server);
    println!("peak RSS after {BURST} unauthenticated 10 MiB bodies: {after_unknown} KiB");
    assert!(
        after_unknown < PEAK_RSS_BOUND_KIB,
        "{BURST} unauthenticated 10 MiB bodies took the server to {after_unknown} KiB"
    );

    // A known SecretId with a wrong key: the signature fails, over the raw body, whatever the body.
    let wrong = burst(&server, &secret_id, "not-the-key", &big).await;
    assert!(
        wrong.iter().all(|c| c == "AuthFailure.SignatureFailure"),
        "{wrong:?}"
    );
    let not_json = post(&server, &secret_id, "not-the-key", b"{\"RoomId\": [[[").await;
    assert_eq!(code(&not_json), "AuthFailure.SignatureFailure");

    // Authenticated: the element count is checked on the raw text before any tree is built.
    let authenticated = burst(&server, &secret_id, &secret_key, &big).await;
    assert!(
        authenticated
            .iter()
            .all(|c| c == "RequestSizeLimitExceeded"),
        "{authenticated:?}"
    );
    let after_authenticated = peak_rss_kib(&server);
    println!("peak RSS after {BURST} authenticated 10 MiB bodies: {after_authenticated} KiB");
    assert!(
        after_authenticated < PEAK_RSS_BOUND_KIB,
        "{BURST} authenticated 10 MiB bodies took the server to {after_authenticated} KiB"
    );

    // Authenticated, deeply nested: InvalidParameter naming the limit.
    let depth = MAX_JSON_DEPTH + 1;
    let deep = format!(
        "{{\"Events\":{}{}}}",
        "[".repeat(depth - 1),
        "]".repeat(depth - 1)
    );
    let response = post(&server, &secret_id, &secret_key, deep.as_bytes()).await;
    assert_eq!(code(&response), "InvalidParameter", "{response}");
    let message = response["Error"]["Message"].as_str().unwrap();
    assert!(
        message.contains(&MAX_JSON_DEPTH.to_string()),
        "the message names the limit: {message}"
    );
    // Nesting far beyond (serde_json's own limit is 128): the same clear answer.
    let deeper = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let response = post(&server, &secret_id, &secret_key, deeper.as_bytes()).await;
    assert_eq!(code(&response), "InvalidParameter", "{response}");

    // Just within both limits, the body reaches the action (which then judges the parameters).
    let within = format!(
        "{{\"Events\":[{}\"e\"]}}",
        "\"e\",".repeat(MAX_PARAM_ELEMENTS - 3)
    );
    let response = post(&server, &secret_id, &secret_key, within.as_bytes()).await;
    assert_eq!(code(&response), "MissingParameter", "{response}");

    // The server is still well.
    let client = server.client();
    client
        .call(
            "GetRooms",
            &serde_json::json!({"SdkAppId": server.sdk_app_id()}),
        )
        .await
        .expect("GetRooms after the bursts");
}
