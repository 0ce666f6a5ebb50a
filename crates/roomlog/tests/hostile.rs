//! Clients that try to get in without the right, or to bring the server down, on real sockets:
//! stalled and idle connections, too many connections, captured requests sent again or with
//! another action, and HTTPS. After each, the server still serves a valid request.

mod support;

#[path = "../../roomlog-server/tests/support/redis_server.rs"]
mod redis_server;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use roomlog_protocol::sign::{sha256_hex, tc3_canonical_request, tc3_date, tc3_string_to_sign};
use roomlog_protocol::tc3_signature;
use serde_json::{json, Value};
use support::{call, create_room, TestServer};

/// A signature may be used again this soon after its first use (identical honest calls in one
/// second); the tests replay later than this.
const AFTER_GRACE: Duration = Duration::from_millis(roomlog_server::replay::REUSE_GRACE_MS + 200);

/// Generous: the server is told 1 s; this only bounds a hang.
const CLOSED_WITHIN: Duration = Duration::from_secs(20);

/// Reads until the server closes the connection (or `CLOSED_WITHIN` passes): what it sent.
fn read_until_closed(stream: &mut TcpStream) -> (Vec<u8>, bool) {
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + CLOSED_WITHIN;
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    while Instant::now() < deadline {
        match stream.read(&mut buffer) {
            Ok(0) => return (received, true),
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return (received, true),
            Err(_) => {}
        }
    }
    (received, false)
}

fn connect(server: &TestServer) -> TcpStream {
    TcpStream::connect(("127.0.0.1", server.port)).expect("connect")
}

async fn still_serves(server: &TestServer) {
    let answer = server
        .client()
        .call(
            "GetRooms",
            &json!({"SdkAppId": server.sdk_app_id(), "Page": 1, "Limit": 1}),
        )
        .await;
    assert!(answer.is_ok(), "the server no longer serves: {answer:?}");
}

#[tokio::test]
async fn stalled_and_idle_connections_are_closed() {
    let server = TestServer::start(&["--header-read-timeout", "1s", "--body-read-timeout", "1s"]);

    // Slowloris: headers that never end.
    let mut slow = connect(&server);
    slow.write_all(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-TC-Action: Get")
        .unwrap();
    // A connection that never sends a byte.
    let mut silent = connect(&server);
    // Keep-alive after one answered request.
    let mut idle = connect(&server);
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    // A body declared and never sent in full.
    let mut short_body = connect(&server);
    short_body
        .write_all(
            b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 4000000\r\n\r\n{\"a\":",
        )
        .unwrap();

    for (what, stream) in [
        ("stalled headers", &mut slow),
        ("a silent connection", &mut silent),
        ("an idle keep-alive connection", &mut idle),
        ("a stalled body", &mut short_body),
    ] {
        let (received, closed) = read_until_closed(stream);
        assert!(closed, "{what} was not closed");
        if what == "an idle keep-alive connection" {
            assert!(String::from_utf8_lossy(&received).contains("200 OK"));
        }
    }
    still_serves(&server).await;
}

#[tokio::test]
async fn connections_beyond_the_cap_are_closed_at_once() {
    let server = TestServer::start(&["--max-connections", "4"]);
    let held: Vec<TcpStream> = (0..4).map(|_| connect(&server)).collect();
    // Give the server time to accept the four before the fifth arrives.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut extra = connect(&server);
    extra
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .ok();
    let (received, closed) = read_until_closed(&mut extra);
    assert!(
        closed && received.is_empty(),
        "the fifth connection was served"
    );
    drop(held);
    tokio::time::sleep(Duration::from_millis(300)).await;
    still_serves(&server).await;
}

/// A POST signed the way the official SDKs sign: `content-type;host` only, so the action is
/// not covered by the signature.
fn sdk_style_post(server: &TestServer, body: &Value) -> (Vec<(String, String)>, Vec<u8>) {
    let body = serde_json::to_vec(body).unwrap();
    let host = format!("127.0.0.1:{}", server.port);
    let timestamp = roomlog_core::time::now_secs();
    let date = tc3_date(timestamp).unwrap();
    let canonical = tc3_canonical_request(
        "POST",
        "",
        &[
            ("content-type", b"application/json"),
            ("host", host.as_bytes()),
        ],
        &sha256_hex(&body),
    );
    let to_sign = tc3_string_to_sign(timestamp, &date, "lcic", &sha256_hex(&canonical));
    let signature = tc3_signature(&server.credentials.secret_key, &date, "lcic", &to_sign);
    let authorization = format!(
        "TC3-HMAC-SHA256 Credential={}/{date}/lcic/tc3_request, SignedHeaders=content-type;host, Signature={signature}",
        server.credentials.secret_id
    );
    (
        vec![
            ("Authorization".into(), authorization),
            ("Content-Type".into(), "application/json".into()),
            ("X-TC-Version".into(), "2022-08-17".into()),
            ("X-TC-Timestamp".into(), timestamp.to_string()),
        ],
        body,
    )
}

async fn send(
    server: &TestServer,
    action: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Value {
    let mut request = roomlog::client::http_client()
        .post(format!("{}/", server.endpoint))
        .header("X-TC-Action", action)
        .body(body.to_vec());
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let answer: Value = request.send().await.unwrap().json().await.unwrap();
    answer["Response"].clone()
}

#[tokio::test]
async fn a_captured_request_cannot_be_replayed_or_retargeted() {
    let server = TestServer::start(&["--rate-limit-default", "0"]);
    let client = server.client();
    let app = server.sdk_app_id();
    let room = create_room(&client, app).await;

    // Honest SDK calls with the same body in the same second share a signature: they pass.
    let (headers, body) = sdk_style_post(&server, &json!({"RoomId": room}));
    let read = send(&server, "DescribeRoom", &headers, &body).await;
    assert!(read.get("Error").is_none(), "{read}");
    let started = send(&server, "StartRoom", &headers, &body).await;
    assert!(started.get("Error").is_none(), "{started}");

    // Sent again later: reads may be repeated; an action that changes state refuses it.
    tokio::time::sleep(AFTER_GRACE).await;
    let again = send(&server, "DescribeRoom", &headers, &body).await;
    assert!(
        again.get("Error").is_none(),
        "reads may be repeated: {again}"
    );
    let swapped = send(&server, "DeleteRoom", &headers, &body).await;
    assert_eq!(
        swapped["Error"]["Code"], "AuthFailure.SignatureExpire",
        "{swapped}"
    );
    let ended = send(&server, "EndRoom", &headers, &body).await;
    assert_eq!(
        ended["Error"]["Code"], "AuthFailure.SignatureExpire",
        "{ended}"
    );
    let room_now = client
        .call("DescribeRoom", &json!({"RoomId": room}))
        .await
        .expect("the room is still there");
    assert_eq!(room_now["Status"], 1, "still in class: {room_now}");

    // A captured CreateRoom sent twice more, later, creates one room.
    let now = roomlog_core::time::now_secs();
    let (headers, body) = sdk_style_post(
        &server,
        &json!({"SdkAppId": app, "Name": "once", "StartTime": now + 60, "EndTime": now + 3600,
                "Resolution": 1, "MaxMicNumber": 1, "SubType": "videodoc"}),
    );
    let first = send(&server, "CreateRoom", &headers, &body).await;
    assert!(first["RoomId"].is_u64(), "{first}");
    tokio::time::sleep(AFTER_GRACE).await;
    for _ in 0..2 {
        let replay = send(&server, "CreateRoom", &headers, &body).await;
        assert_eq!(
            replay["Error"]["Code"], "AuthFailure.SignatureExpire",
            "{replay}"
        );
    }
    let params = json!({"SdkAppId": app, "Page": 1, "Limit": 100});
    let rooms = call(&client, "GetRooms", params).await;
    assert_eq!(rooms["Total"], 2, "{rooms}");

    // ReportRoomEvents may be resent: its EventIds make that harmless.
    let (headers, body) = sdk_style_post(
        &server,
        &json!({"SdkAppId": app, "RoomId": room,
                "Events": [{"EventId": "x", "EventType": "MicOn", "UserId": "u"}]}),
    );
    let first = send(&server, "ReportRoomEvents", &headers, &body).await;
    assert_eq!(first["Accepted"], 1, "{first}");
    tokio::time::sleep(AFTER_GRACE).await;
    let resent = send(&server, "ReportRoomEvents", &headers, &body).await;
    assert_eq!(resent["Duplicates"], 1, "{resent}");
}

#[tokio::test]
async fn with_redis_the_memory_of_signatures_outlives_a_node() {
    let url = redis_server::shared_redis_url();
    let prefix = redis_server::unique_prefix("replay");
    let mut server = TestServer::start(&["--rate-limit", &url, "--rate-limit-key-prefix", &prefix]);
    let room = create_room(&server.client(), server.sdk_app_id()).await;
    let (headers, body) = sdk_style_post(&server, &json!({"RoomId": room}));
    let read = send(&server, "DescribeRoom", &headers, &body).await;
    assert!(read.get("Error").is_none(), "{read}");

    // Another process (a restart here; another node alike) knows the signature from Redis.
    server.terminate();
    server.restart();
    tokio::time::sleep(AFTER_GRACE).await;
    let swapped = send(&server, "DeleteRoom", &headers, &body).await;
    assert_eq!(
        swapped["Error"]["Code"], "AuthFailure.SignatureExpire",
        "{swapped}"
    );
    server
        .client()
        .call("DescribeRoom", &json!({"RoomId": room}))
        .await
        .expect("the room is still there");
}

#[tokio::test]
async fn https_with_the_given_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let (ca, cert, key) = (path("ca.pem"), path("cert.pem"), path("key.pem"));
    std::fs::write(
        path("leaf.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    // A private CA, and a certificate for 127.0.0.1 that it signs.
    for args in [
        [
            &["req", "-x509"][..],
            &ec,
            &["-days", "1", "-subj", "/CN=roomlog test CA"],
            &["-keyout", &path("ca.key"), "-out", &ca],
        ]
        .concat(),
        [
            &["req"][..],
            &ec,
            &[
                "-subj",
                "/CN=localhost",
                "-keyout",
                &key,
                "-out",
                &path("leaf.csr"),
            ],
        ]
        .concat(),
        vec![
            "x509",
            "-req",
            "-in",
            &path("leaf.csr"),
            "-CA",
            &ca,
            "-CAkey",
            &path("ca.key"),
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            &path("leaf.ext"),
            "-out",
            &cert,
        ],
    ] {
        let made = std::process::Command::new("openssl")
            .args(&args)
            .output()
            .expect("openssl (Debian's openssl package) makes the test certificates");
        assert!(made.status.success(), "openssl {args:?}: {made:?}");
    }
    let server = TestServer::start(&["--tls-cert", &cert, "--tls-key", &key]);
    assert!(
        server.endpoint.starts_with("https://"),
        "{}",
        server.endpoint
    );

    let pem = std::fs::read(&ca).unwrap();
    let http = roomlog::client::http_client_builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap();
    let client = roomlog::client::Client::with_http(
        http,
        &server.endpoint,
        &server.credentials.secret_id,
        &server.credentials.secret_key,
    )
    .unwrap();
    let rooms = client
        .call(
            "GetRooms",
            &json!({"SdkAppId": server.sdk_app_id(), "Page": 1, "Limit": 1}),
        )
        .await
        .expect("a signed call over HTTPS");
    assert_eq!(rooms["Total"], 0);

    // Plain HTTP on the TLS port gets no answer.
    let mut plain = connect(&server);
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let (received, _) = read_until_closed(&mut plain);
    assert!(!String::from_utf8_lossy(&received).contains("200 OK"));
}

#[tokio::test]
async fn live_streams_are_bounded_per_account() {
    let server = TestServer::start(&["--max-streams-per-account", "2"]);
    let app = server.sdk_app_id();
    let room = support::start_class(&server.client(), app).await;
    let params = json!({"SdkAppId": app, "RoomId": room});
    let is_stream = |response: &reqwest::Response| {
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    };
    let first = support::sse::open(&server, params.clone(), None).await;
    let second = support::sse::open(&server, params.clone(), None).await;
    assert!(is_stream(&first) && is_stream(&second));
    let third = support::sse::open(&server, params.clone(), None).await;
    assert!(!is_stream(&third));
    let answer: Value = third.json().await.unwrap();
    assert_eq!(
        answer["Response"]["Error"]["Code"], "RequestLimitExceeded",
        "{answer}"
    );
    // A stream that ends frees its slot (the server sees the client leave).
    drop(first);
    let deadline = Instant::now() + CLOSED_WITHIN;
    loop {
        let again = support::sse::open(&server, params.clone(), None).await;
        if is_stream(&again) {
            break;
        }
        assert!(Instant::now() < deadline, "the slot was never freed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(second);
    still_serves(&server).await;
}

#[tokio::test]
async fn only_a_known_tc3_key_may_send_a_large_body() {
    let server = TestServer::start(&[]);
    let http = roomlog::client::http_client();
    let large = vec![b' '; 2 << 20];
    // No key at all (a v1 request would name it in the body): held to the v1 limit, 1 MiB.
    let answer: Value = http
        .post(format!("{}/", server.endpoint))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(large.clone())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        answer["Response"]["Error"]["Code"], "RequestSizeLimitExceeded",
        "{answer}"
    );
    // An unknown TC3 key: refused before the body is read.
    let answer: Value = http
        .post(format!("{}/", server.endpoint))
        .header("Content-Type", "application/json")
        .header("X-TC-Action", "DescribeRoom")
        .header(
            "Authorization",
            "TC3-HMAC-SHA256 Credential=AKIDnobody/2026-01-01/lcic/tc3_request, \
             SignedHeaders=content-type;host, Signature=0000000000000000000000000000000000000000000000000000000000000000",
        )
        .body(large)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        answer["Response"]["Error"]["Code"], "AuthFailure.SecretIdNotFound",
        "{answer}"
    );
    still_serves(&server).await;
}

#[tokio::test]
async fn large_bodies_share_one_budget() {
    let server = TestServer::start(&["--max-body-buffer-mib", "1"]);
    // A known key, a wrong signature: the body is buffered before the signature can be checked.
    let post = |size: usize| {
        let body = format!("{{\"Pad\":\"{}\"}}", "x".repeat(size));
        roomlog::client::http_client()
            .post(format!("{}/", server.endpoint))
            .header("Content-Type", "application/json")
            .header("X-TC-Action", "DescribeRoom")
            .header("X-TC-Version", "2022-08-17")
            .header("X-TC-Timestamp", roomlog_core::time::now_secs().to_string())
            .header(
                "Authorization",
                format!(
                    "TC3-HMAC-SHA256 Credential={}/2026-01-01/lcic/tc3_request, \
                     SignedHeaders=content-type;host, Signature={}",
                    server.credentials.secret_id,
                    "0".repeat(64)
                ),
            )
            .body(body)
            .send()
    };
    let over: Value = post(2 << 20).await.unwrap().json().await.unwrap();
    assert_eq!(
        over["Response"]["Error"]["Code"], "ServiceUnavailable",
        "{over}"
    );
    let within: Value = post(512 << 10).await.unwrap().json().await.unwrap();
    assert!(
        within["Response"]["Error"]["Code"]
            .as_str()
            .unwrap()
            .starts_with("AuthFailure"),
        "{within}"
    );
    still_serves(&server).await;
}

#[tokio::test]
async fn with_no_replay_grace_every_second_use_is_refused() {
    let server = TestServer::start(&["--replay-grace", "0s"]);
    let room = create_room(&server.client(), server.sdk_app_id()).await;
    let (headers, body) = sdk_style_post(&server, &json!({"RoomId": room}));
    let first = send(&server, "StartRoom", &headers, &body).await;
    assert!(first.get("Error").is_none(), "{first}");
    let at_once = send(&server, "EndRoom", &headers, &body).await;
    assert_eq!(
        at_once["Error"]["Code"], "AuthFailure.SignatureExpire",
        "{at_once}"
    );
}
