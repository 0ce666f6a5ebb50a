//! End-to-end: hostile bytes against the real binary, on raw sockets where reqwest would refuse
//! to send them: bad UTF-8 in the query, the headers and the body; overflowing and malformed
//! numbers, in the common parameters and in every action's parameters; tricks on the request
//! line; unsupported methods and HTTP versions; pipelining, and bodies that try to pass for the
//! next request; header floods; broken chunked bodies; a replayed v1 call; names that an
//! unauthenticated client chooses.
//!
//! Each answer must be HTTP 200 with exactly `Content-Type: application/json` and the
//! `{"Response": {..., "RequestId"}}` envelope carrying the right LCIC code or, where HTTP
//! itself is broken, a 4xx from the HTTP layer or a closed connection: never a 5xx, never a
//! hang. Afterwards the server is within a memory bound and still serves a signed call.
//!
//! `hostile.rs` covers stalled and idle connections, the connection cap, TC3 replay and HTTPS;
//! `request_bodies.rs` large and deep bodies.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use roomlog_protocol::{flatten_params, FieldType, Schema, SignatureMethod, Tc3Signer, V1Signer};
use serde_json::{json, Map, Value};
use support::{create_room, room_params, TestServer};

/// Generous: every answer here takes milliseconds; this only bounds a hang.
const ANSWER_WITHIN: Duration = Duration::from_secs(30);
/// Peak resident memory the server may reach in any of these tests. It idles at about 20 MiB;
/// the largest requests here (11 MiB) may be held about twice while they are read.
const PEAK_RSS_BOUND_KIB: u64 = 256 * 1024;
const VERSION: &str = "2022-08-17";
/// A signature may be used again this soon after its first use; the replays come later.
const AFTER_GRACE: Duration = Duration::from_millis(roomlog_server::replay::REUSE_GRACE_MS + 200);

// ---- raw HTTP -----------------------------------------------------------------------------------

#[derive(Debug)]
struct HttpResponse {
    status: u16,
    /// Lower-case names.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl HttpResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What came back on one connection: every response, and whether the server closed it.
#[derive(Debug)]
struct Exchange {
    responses: Vec<HttpResponse>,
    closed: bool,
}

/// A header to send, its value as raw bytes.
fn h(name: &str, value: impl AsRef<[u8]>) -> (String, Vec<u8>) {
    (name.to_owned(), value.as_ref().to_vec())
}

/// `line`, the headers, `Content-Length` when there is a body (and no framing header among the
/// headers), `Connection: close` when `close`, then the body.
fn wire_with(line: &[u8], headers: &[(String, Vec<u8>)], body: &[u8], close: bool) -> Vec<u8> {
    let mut out = line.to_vec();
    out.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    let framed = headers.iter().any(|(n, _)| {
        n.eq_ignore_ascii_case("content-length") || n.eq_ignore_ascii_case("transfer-encoding")
    });
    if !body.is_empty() && !framed {
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// One request on its own connection, which the server is asked to close after answering.
fn wire(line: &[u8], headers: &[(String, Vec<u8>)], body: &[u8]) -> Vec<u8> {
    wire_with(line, headers, body, true)
}

/// Sends `request` on a new connection and reads until the server closes it (or
/// [`ANSWER_WITHIN`] passes). The request is written from another thread and write errors are
/// ignored: the server may answer and close before it has read everything.
fn exchange(server: &TestServer, request: Vec<u8>) -> Exchange {
    exchange_bodiless(server, request, false)
}

/// [`exchange`]; `head`: the answers carry no body whatever their `Content-Length` (HEAD).
fn exchange_bodiless(server: &TestServer, request: Vec<u8>, head: bool) -> Exchange {
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    let mut writer = stream.try_clone().expect("clone the stream");
    let writing = std::thread::spawn(move || {
        let _ = writer.write_all(&request);
    });
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let deadline = Instant::now() + ANSWER_WITHIN;
    let mut raw = Vec::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let closed = loop {
        if Instant::now() > deadline {
            break false;
        }
        match stream.read(&mut buffer) {
            Ok(0) => break true,
            Ok(n) => raw.extend_from_slice(&buffer[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::ConnectionReset
                        | ErrorKind::ConnectionAborted
                        | ErrorKind::BrokenPipe
                ) =>
            {
                break true
            }
            Err(_) => {}
        }
    };
    // Unblocks the writer if the server stopped reading without closing.
    let _ = stream.shutdown(Shutdown::Both);
    writing.join().unwrap();
    let responses = parse_responses(&raw, head).unwrap_or_else(|why| {
        panic!(
            "unreadable answer ({why}): {:?}",
            String::from_utf8_lossy(&raw[..raw.len().min(2000)])
        )
    });
    Exchange { responses, closed }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The HTTP/1.x responses in `raw`, one after another.
fn parse_responses(mut raw: &[u8], head: bool) -> Result<Vec<HttpResponse>, String> {
    let mut responses = Vec::new();
    while !raw.is_empty() {
        let end = find(raw, b"\r\n\r\n").ok_or("a response head without its end")?;
        let text = std::str::from_utf8(&raw[..end]).map_err(|_| "a head that is not UTF-8")?;
        raw = &raw[end + 4..];
        let mut lines = text.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .strip_prefix("HTTP/1.")
            .and_then(|rest| rest.get(2..5))
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| format!("status line {status_line:?}"))?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v);
        let body = if head {
            Vec::new()
        } else if let Some(length) = header("content-length") {
            let length: usize = length.parse().map_err(|_| "a bad Content-Length")?;
            if raw.len() < length {
                return Err(format!(
                    "a body of {} bytes where {length} were announced",
                    raw.len()
                ));
            }
            let (body, rest) = raw.split_at(length);
            raw = rest;
            body.to_vec()
        } else if header("transfer-encoding").is_some_and(|te| te.contains("chunked")) {
            let mut body = Vec::new();
            loop {
                let line_end = find(raw, b"\r\n").ok_or("a chunk size without its end")?;
                let size_text = std::str::from_utf8(&raw[..line_end]).map_err(|_| "chunk size")?;
                let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16)
                    .map_err(|_| format!("chunk size {size_text:?}"))?;
                raw = &raw[line_end + 2..];
                if size == 0 {
                    let trailer_end = find(raw, b"\r\n").ok_or("no end of the chunks")?;
                    raw = &raw[trailer_end + 2..];
                    break;
                }
                if raw.len() < size + 2 {
                    return Err("a chunk cut short".into());
                }
                body.extend_from_slice(&raw[..size]);
                raw = &raw[size + 2..];
            }
            body
        } else {
            // Delimited by the end of the connection.
            std::mem::take(&mut raw).to_vec()
        };
        responses.push(HttpResponse {
            status,
            headers,
            body,
        });
    }
    Ok(responses)
}

// ---- what an answer must be ---------------------------------------------------------------------

/// The `Response` of an envelope: HTTP 200, exactly `application/json`, a `RequestId`.
fn envelope(what: &str, response: &HttpResponse) -> Value {
    assert_eq!(response.status, 200, "{what}: {response:?}");
    assert_eq!(
        response.header("content-type"),
        Some("application/json"),
        "{what}: {response:?}"
    );
    let parsed: Value = serde_json::from_slice(&response.body).unwrap_or_else(|e| {
        panic!(
            "{what}: the body is not JSON ({e}): {:?}",
            String::from_utf8_lossy(&response.body)
        )
    });
    let inner = parsed["Response"].clone();
    assert!(inner["RequestId"].is_string(), "{what}: {parsed}");
    inner
}

/// The error code of a `Response`, or `Success`.
fn code(response: &Value) -> &str {
    response["Error"]["Code"].as_str().unwrap_or("Success")
}

/// Exactly one answer, the envelope with `expected` (`Success` for none); the connection closed.
fn assert_code(what: &str, exchange: &Exchange, expected: &str) -> Value {
    assert!(
        exchange.closed,
        "{what}: no answer within {ANSWER_WITHIN:?}"
    );
    assert_eq!(
        exchange.responses.len(),
        1,
        "{what}: one answer expected: {exchange:?}"
    );
    let response = envelope(what, &exchange.responses[0]);
    assert_eq!(code(&response), expected, "{what}: {response}");
    response
}

/// HTTP itself is broken: a 4xx from the HTTP layer or no answer at all, and the connection
/// closed.
fn assert_refused(what: &str, exchange: &Exchange) {
    assert!(
        exchange.closed,
        "{what}: not closed within {ANSWER_WITHIN:?}"
    );
    for response in &exchange.responses {
        assert!(
            (400..500).contains(&response.status),
            "{what}: a 4xx or nothing expected: {response:?}"
        );
    }
}

/// The envelope with `expected`, or, where the HTTP layer saw the breakage first, a refusal.
fn assert_code_or_refused(what: &str, exchange: &Exchange, expected: &str) {
    match exchange.responses.first() {
        Some(response) if response.status == 200 => {
            assert_code(what, exchange, expected);
        }
        _ => assert_refused(what, exchange),
    }
}

/// Current and peak resident memory of the server (`VmRSS`, `VmHWM`), KiB.
fn memory_kib(server: &TestServer) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id()))
        .expect("reading /proc/<pid>/status (the test runs on Linux)");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().strip_suffix("kB"))
            .and_then(|kib| kib.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in /proc/<pid>/status"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The server stayed within the memory bound and still serves a signed call.
async fn assert_still_well(server: &TestServer) {
    let (rss, peak) = memory_kib(server);
    println!("server memory: {rss} KiB resident, {peak} KiB at the peak");
    assert!(
        peak < PEAK_RSS_BOUND_KIB,
        "the server reached {peak} KiB (now {rss} KiB); the bound is {PEAK_RSS_BOUND_KIB} KiB"
    );
    let rooms = server
        .client()
        .call(
            "GetRooms",
            &json!({"SdkAppId": server.sdk_app_id(), "Page": 1, "Limit": 1}),
        )
        .await;
    assert!(rooms.is_ok(), "a signed call no longer succeeds: {rooms:?}");
}

// ---- signed requests ----------------------------------------------------------------------------

fn host(server: &TestServer) -> String {
    format!("127.0.0.1:{}", server.port)
}

fn tc3<'a>(server: &'a TestServer) -> Tc3Signer<'a> {
    Tc3Signer {
        secret_id: &server.credentials.secret_id,
        secret_key: &server.credentials.secret_key,
        service: "lcic",
    }
}

fn into_headers(pairs: Vec<(String, String)>) -> Vec<(String, Vec<u8>)> {
    pairs
        .into_iter()
        .map(|(name, value)| (name, value.into_bytes()))
        .collect()
}

/// The headers of a TC3 POST of `body`, signed now.
fn tc3_post(server: &TestServer, action: &str, body: &[u8]) -> Vec<(String, Vec<u8>)> {
    let now = roomlog_core::time::now_secs();
    into_headers(tc3(server).sign_post_json(&host(server), action, VERSION, body, now))
}

/// The headers of a TC3 GET carrying exactly `query`, signed now.
fn tc3_get(server: &TestServer, action: &str, query: &str) -> Vec<(String, Vec<u8>)> {
    let now = roomlog_core::time::now_secs();
    into_headers(tc3(server).sign_get(&host(server), action, VERSION, query, now))
}

/// A complete signed TC3 POST of `body` to `/`.
fn signed_post(server: &TestServer, action: &str, body: &[u8]) -> Vec<u8> {
    wire(b"POST / HTTP/1.1", &tc3_post(server, action, body), body)
}

/// A complete signed TC3 GET of `/?query`.
fn signed_get(server: &TestServer, action: &str, query: &str) -> Vec<u8> {
    let line = format!("GET /?{query} HTTP/1.1");
    wire(line.as_bytes(), &tc3_get(server, action, query), b"")
}

/// The form-encoded parameters of a v1 call signed now with HmacSHA256, for a GET query or a
/// POST body.
fn v1_signed(
    server: &TestServer,
    method: &str,
    action: &str,
    params: &[(String, String)],
) -> String {
    let signer = V1Signer {
        secret_id: &server.credentials.secret_id,
        secret_key: &server.credentials.secret_key,
        method: SignatureMethod::HmacSha256,
    };
    let nonce = u64::from(rand::random::<u32>()) + 1;
    let now = roomlog_core::time::now_secs();
    signer.sign(method, &host(server), action, VERSION, params, now, nonce)
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn form_headers(server: &TestServer) -> Vec<(String, Vec<u8>)> {
    vec![
        h("Host", host(server)),
        h("Content-Type", "application/x-www-form-urlencoded"),
    ]
}

/// Replaces (or adds) a header in a list.
fn replace(headers: &mut Vec<(String, Vec<u8>)>, name: &str, value: impl AsRef<[u8]>) {
    headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    headers.push(h(name, value));
}

// ---- bad UTF-8 ----------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_utf8_in_the_query_headers_and_body() {
    let server = TestServer::start(&["--rate-limit-default", "0"]);
    let host = host(&server);

    // Raw bytes that are not UTF-8 in the request target: HTTP itself refuses them.
    let raw = wire(b"GET /?UserId=\xff\xfe HTTP/1.1", &[h("Host", &host)], b"");
    assert_refused("raw 0xFF in the query", &exchange(&server, raw));
    // Raw UTF-8 in the query is text like any other (signed as received).
    let query = "UserId=\u{e9}t\u{e9}";
    assert_code(
        "raw UTF-8 in a signed query",
        &exchange(&server, signed_get(&server, "DescribeUser", query)),
        "ResourceNotFound.User",
    );
    // Escapes that decode to no UTF-8, in signed TC3 queries (checked once verified)...
    for query in [
        "UserId=%FF",
        "UserId=%C3%28",
        "UserId=%ED%A0%80",
        "Us%FFerId=x",
    ] {
        assert_code(
            &format!("signed TC3 GET `{query}`"),
            &exchange(&server, signed_get(&server, "DescribeUser", query)),
            "InvalidParameter",
        );
    }
    // ...and in v1 queries and form bodies, whose signature covers the decoded text.
    let v1 = v1_signed(&server, "GET", "DescribeUser", &pairs(&[("UserId", "x")]));
    let line = format!("GET /?{v1}&Avatar=%FF HTTP/1.1");
    assert_code(
        "v1 GET with an escape that is no UTF-8",
        &exchange(&server, wire(line.as_bytes(), &[h("Host", &host)], b"")),
        "InvalidParameter",
    );
    let mut body =
        v1_signed(&server, "POST", "DescribeUser", &pairs(&[("UserId", "x")])).into_bytes();
    body.extend_from_slice(b"&Avatar=\xff\xfe");
    assert_code(
        "v1 form body with raw 0xFF",
        &exchange(
            &server,
            wire(b"POST / HTTP/1.1", &form_headers(&server), &body),
        ),
        "InvalidParameter",
    );

    // Signed JSON bodies that are not UTF-8, start with a byte-order mark, or escape a lone
    // surrogate: the signature holds, the body is no JSON.
    let bodies: [&[u8]; 5] = [
        b"{\"UserId\": \"\xff\"}",
        b"{\"UserId\": \"\xc0\xaf\"}",
        b"{\"UserId\": \"\xed\xa0\x80\"}",
        b"\xef\xbb\xbf{\"UserId\": \"x\"}",
        b"{\"UserId\": \"\\ud800\"}",
    ];
    for body in bodies {
        assert_code(
            &format!("signed body {:?}", String::from_utf8_lossy(body)),
            &exchange(&server, signed_post(&server, "DescribeUser", body)),
            "InvalidParameter",
        );
    }

    // Header values past ASCII where the protocol reads text.
    let body = br#"{"UserId": "x"}"#;
    let mut action = tc3_post(&server, "DescribeUser", body);
    replace(&mut action, "X-TC-Action", b"Describe\xffUser");
    assert_code(
        "X-TC-Action with 0xFF",
        &exchange(&server, wire(b"POST / HTTP/1.1", &action, body)),
        "InvalidParameter",
    );
    let mut region = tc3_post(&server, "DescribeUser", body);
    region.push(h("X-TC-Region", "ap-\u{e9}"));
    assert_code(
        "X-TC-Region past ASCII",
        &exchange(&server, wire(b"POST / HTTP/1.1", &region, body)),
        "InvalidParameter",
    );
    let mut authorization = tc3_post(&server, "DescribeUser", body);
    let auth = authorization
        .iter_mut()
        .find(|(n, _)| n == "Authorization")
        .unwrap();
    auth.1.extend_from_slice(b"\xff");
    assert_code(
        "Authorization with 0xFF",
        &exchange(&server, wire(b"POST / HTTP/1.1", &authorization, body)),
        "AuthFailure.InvalidAuthorization",
    );
    let v1 = v1_signed(&server, "GET", "DescribeUser", &pairs(&[("UserId", "x")]));
    let line = format!("GET /?{v1} HTTP/1.1");
    assert_code(
        "v1 with a Host past ASCII",
        &exchange(
            &server,
            wire(line.as_bytes(), &[h("Host", b"127.0.0.1\xff")], b""),
        ),
        "InvalidParameter",
    );
    // A header name that is not a token: HTTP refuses it.
    let raw = wire(
        b"GET / HTTP/1.1",
        &[h("Host", &host), h("X-T\u{e9}C", "1")],
        b"",
    );
    assert_refused("a header name past ASCII", &exchange(&server, raw));

    assert_still_well(&server).await;
}

// ---- numbers ------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overflowing_and_malformed_numbers() {
    let server = TestServer::start(&["--rate-limit-default", "0"]);
    let host = host(&server);

    // In a JSON body: only JSON integers in range are u64s.
    let long_digits = format!("{{\"RoomId\": {}}}", "9".repeat(1 << 20));
    let refused: Vec<String> = [
        "18446744073709551616",
        "-1",
        "1e30",
        "\"12\"",
        "1.0",
        "-0",
        "12e0",
        "0x10",
        "NaN",
        "Infinity",
        "1e999999",
        "-1e-999999",
        "true",
        "[1]",
        "{\"RoomId\": 1}",
    ]
    .iter()
    .map(|value| format!("{{\"RoomId\": {value}}}"))
    .chain([long_digits])
    .collect();
    for body in &refused {
        let what = format!("DescribeRoom {}", &body[..body.len().min(60)]);
        let exchange = exchange(
            &server,
            signed_post(&server, "DescribeRoom", body.as_bytes()),
        );
        assert_code(&what, &exchange, "InvalidParameter");
    }
    // In range, and no such room: every u64 is a RoomId, even past i64.
    for value in ["0", "9223372036854775808", "18446744073709551615"] {
        let body = format!("{{\"RoomId\": {value}}}");
        assert_code(
            &format!("DescribeRoom {value}"),
            &exchange(
                &server,
                signed_post(&server, "DescribeRoom", body.as_bytes()),
            ),
            "ResourceNotFound.Room",
        );
    }

    // A room setting at the top of u64 is refused as out of range, or kept exactly, past what
    // an i64 column holds.
    let client = server.client();
    let schema = roomlog_server::actions::schema_of("CreateRoom").unwrap();
    let settings = schema
        .fields
        .iter()
        .filter(|field| !field.required && field.ty == FieldType::U64);
    for setting in settings {
        let mut params = room_params(server.sdk_app_id());
        params[setting.name] = json!(u64::MAX);
        let created = client.call_raw("CreateRoom", &params).await.unwrap();
        match code(&created) {
            "Success" => {
                let room = json!({"RoomId": created["RoomId"]});
                let described = client.call("DescribeRoom", &room).await.unwrap();
                assert_eq!(
                    described[setting.name],
                    json!(u64::MAX),
                    "{}: {described}",
                    setting.name
                );
            }
            code => assert!(
                code.starts_with("InvalidParameter"),
                "{} = {}: {created}",
                setting.name,
                u64::MAX
            ),
        }
    }

    // In a signed TC3 query and a v1 query: ASCII digits that fit.
    for (value, expected) in [
        ("18446744073709551616", "InvalidParameter"),
        ("-1", "InvalidParameter"),
        ("1e30", "InvalidParameter"),
        ("%2B1", "InvalidParameter"),
        ("%201", "InvalidParameter"),
        ("", "InvalidParameter"),
        ("18446744073709551615", "ResourceNotFound.Room"),
        ("000000000000000000000000000007", "ResourceNotFound.Room"),
    ] {
        let query = format!("RoomId={value}");
        assert_code(
            &format!("TC3 GET {query}"),
            &exchange(&server, signed_get(&server, "DescribeRoom", &query)),
            expected,
        );
        let decoded = value.replace("%2B", "+").replace("%20", " ");
        let v1 = v1_signed(
            &server,
            "GET",
            "DescribeRoom",
            &pairs(&[("RoomId", &decoded)]),
        );
        let line = format!("GET /?{v1} HTTP/1.1");
        assert_code(
            &format!("v1 GET RoomId={decoded:?}"),
            &exchange(&server, wire(line.as_bytes(), &[h("Host", &host)], b"")),
            expected,
        );
    }

    // Common parameters: the timestamp past i64 is malformed; at i64::MAX it is only far away.
    let body = br#"{"RoomId": 1}"#;
    for (timestamp, expected) in [
        ("9223372036854775808", "InvalidParameter"),
        ("99999999999999999999999", "InvalidParameter"),
        ("-1", "InvalidParameter"),
        ("1e9", "InvalidParameter"),
        ("9223372036854775807", "AuthFailure.SignatureExpire"),
        ("0", "AuthFailure.SignatureExpire"),
    ] {
        let mut headers = tc3_post(&server, "DescribeRoom", body);
        replace(&mut headers, "X-TC-Timestamp", timestamp);
        assert_code(
            &format!("X-TC-Timestamp {timestamp}"),
            &exchange(&server, wire(b"POST / HTTP/1.1", &headers, body)),
            expected,
        );
    }
    let v1 = v1_signed(&server, "GET", "DescribeRoom", &pairs(&[("RoomId", "1")]));
    for (name, value, expected) in [
        ("Nonce", "18446744073709551616", "InvalidParameter"),
        ("Nonce", "0", "InvalidParameter"),
        ("Nonce", "-5", "InvalidParameter"),
        ("Timestamp", "99999999999999999999", "InvalidParameter"),
        (
            "Timestamp",
            "9223372036854775807",
            "AuthFailure.SignatureExpire",
        ),
    ] {
        let query: String = v1
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((n, _)) if n == name => format!("{n}={value}"),
                _ => pair.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("&");
        let line = format!("GET /?{query} HTTP/1.1");
        assert_code(
            &format!("v1 {name}={value}"),
            &exchange(&server, wire(line.as_bytes(), &[h("Host", &host)], b"")),
            expected,
        );
    }

    assert_still_well(&server).await;
}

// ---- every action, extreme values ---------------------------------------------------------------

#[derive(Debug, Clone)]
enum Step {
    Member(&'static str),
    First,
}

/// Every place a value can go in `schema`: each scalar, each array as a whole, and the inside of
/// each array's first element.
fn leaves(schema: &Schema, prefix: &[Step], out: &mut Vec<(Vec<Step>, FieldType)>) {
    for field in &schema.fields {
        let mut path = prefix.to_vec();
        path.push(Step::Member(field.name));
        leaves_of(&field.ty, path, out);
    }
}

fn leaves_of(ty: &FieldType, path: Vec<Step>, out: &mut Vec<(Vec<Step>, FieldType)>) {
    match ty {
        FieldType::Object(inner) => leaves(inner, &path, out),
        FieldType::Array(element) => {
            out.push((path.clone(), ty.clone()));
            let mut first = path;
            first.push(Step::First);
            leaves_of(element, first, out);
        }
        scalar => out.push((path, scalar.clone())),
    }
}

/// Values at the edges of a type: integers at their ends (and at i64's for u64s), strings
/// empty, long or odd, arrays empty or long.
fn extremes(ty: &FieldType) -> Vec<Value> {
    match ty {
        FieldType::U64 => vec![json!(u64::MAX), json!(0), json!(1u64 << 63)],
        FieldType::I64 => vec![json!(i64::MIN), json!(i64::MAX), json!(-1)],
        FieldType::String => vec![
            json!(""),
            json!("x".repeat(64 * 1024)),
            json!("\u{0}\u{202e}\u{e9}\u{1f600} \"\\%00"),
        ],
        FieldType::Array(element) => vec![json!([]), Value::Array(vec![plain(element); 2000])],
        FieldType::Object(schema) => vec![Value::Object(required_members(schema, &|_| None))],
    }
}

/// An ordinary value of a type.
fn plain(ty: &FieldType) -> Value {
    match ty {
        FieldType::U64 => json!(1),
        FieldType::I64 => json!(0),
        FieldType::String => json!("x"),
        FieldType::Array(element) => json!([plain(element)]),
        FieldType::Object(schema) => Value::Object(required_members(schema, &|_| None)),
    }
}

/// The required members of `schema`, from `known` by name where it knows them.
fn required_members(schema: &Schema, known: &dyn Fn(&str) -> Option<Value>) -> Map<String, Value> {
    schema
        .fields
        .iter()
        .filter(|field| field.required)
        .map(|field| {
            let value = match &field.ty {
                FieldType::Object(inner) => Value::Object(required_members(inner, known)),
                FieldType::Array(element) => match element.as_ref() {
                    FieldType::Object(inner) => {
                        json!([Value::Object(required_members(inner, known))])
                    }
                    other => json!([plain(other)]),
                },
                other => known(field.name).unwrap_or_else(|| plain(other)),
            };
            (field.name.to_owned(), value)
        })
        .collect()
}

/// A call of `action` that gets as far as it can: its required parameters with ordinary values
/// (the app, a fresh room), and a whole room or event where it takes one.
fn baseline(action: &str, schema: &Schema, app: u64, room: u64) -> Value {
    let now = roomlog_core::time::now_secs();
    let known = move |name: &str| -> Option<Value> {
        Some(match name {
            "SdkAppId" => json!(app),
            "RoomId" => json!(room),
            "Page" => json!(1),
            "Limit" => json!(10),
            "UserId" => json!("u1"),
            "Name" => json!("class"),
            "StartTime" => json!(now + 60),
            "EndTime" => json!(now + 3600),
            "Resolution" => json!(1),
            "MaxMicNumber" => json!(1),
            "SubType" => json!("videodoc"),
            "KickType" => json!(1),
            "EventId" => json!("e1"),
            "EventType" => json!("MemberJoin"),
            _ => return None,
        })
    };
    let mut base = Value::Object(required_members(schema, &known));
    match action {
        "CreateRoom" => base = room_params(app),
        "BatchCreateRoom" => {
            let mut room = room_params(app);
            room.as_object_mut().unwrap().remove("SdkAppId");
            base = json!({"SdkAppId": app, "RoomInfos": [room]});
        }
        "ReportRoomEvents" => {
            base["Events"] = json!([{"EventId": "e1", "EventType": "MemberJoin", "UserId": "u1",
                                     "Role": 0, "Device": 5}]);
        }
        _ => {}
    }
    base
}

/// `value` with `new` at `path`, creating what is missing on the way.
fn set_at(value: &mut Value, path: &[Step], new: Value) {
    let Some((step, rest)) = path.split_first() else {
        *value = new;
        return;
    };
    let next = match step {
        Step::Member(name) => {
            if !value.is_object() {
                *value = json!({});
            }
            value
                .as_object_mut()
                .unwrap()
                .entry(name.to_string())
                .or_insert(Value::Null)
        }
        Step::First => {
            if value.as_array().is_none_or(|items| items.is_empty()) {
                *value = json!([null]);
            }
            &mut value.as_array_mut().unwrap()[0]
        }
    };
    set_at(next, rest, new);
}

/// What a signed call answered: its `Response`, or an event stream (StreamRoomEvents).
enum Answer {
    Envelope(Value),
    Stream,
}

/// A signed TC3 POST through reqwest, bounded by [`ANSWER_WITHIN`].
async fn call(server: &TestServer, action: &str, params: &Value) -> Result<Answer, String> {
    let body = serde_json::to_vec(params).unwrap();
    let headers = tc3(server).sign_post_json(
        &host(server),
        action,
        VERSION,
        &body,
        roomlog_core::time::now_secs(),
    );
    let mut request = roomlog::client::http_client()
        .post(format!("{}/", server.endpoint))
        .body(body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let answer = async {
        let response = request
            .send()
            .await
            .map_err(|e| format!("transport: {e}"))?;
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap_or("?").to_owned());
        if status == 200 && content_type.as_deref() == Some("text/event-stream") {
            return Ok(Answer::Stream);
        }
        let bytes = response.bytes().await.map_err(|e| format!("body: {e}"))?;
        if status != 200 || content_type.as_deref() != Some("application/json") {
            return Err(format!(
                "HTTP {status}, {content_type:?}: {}",
                String::from_utf8_lossy(&bytes)
            ));
        }
        let parsed: Value = serde_json::from_slice(&bytes).map_err(|e| format!("not JSON: {e}"))?;
        if !parsed["Response"]["RequestId"].is_string() {
            return Err(format!("no envelope: {parsed}"));
        }
        Ok(Answer::Envelope(parsed["Response"].clone()))
    };
    tokio::time::timeout(ANSWER_WITHIN, answer)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {ANSWER_WITHIN:?}")))
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.len() > 40 {
        format!("{}... ({} bytes)", &text[..40], text.len())
    } else {
        text
    }
}

fn describe(path: &[Step]) -> String {
    path.iter()
        .map(|step| match step {
            Step::Member(name) => name.to_string(),
            Step::First => "0".to_owned(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// Every action, with every value its schema allows at the edges, one place at a time on top
/// of an otherwise ordinary call: an answer in the envelope, never `InternalError` (a panic on
/// overflow in a handler, a store that cannot take the value) and never the decoding failure
/// that means the schema and the handler's types disagree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_action_takes_values_at_the_edges_of_its_types() {
    let server = TestServer::start(&["--rate-limit-default", "0"]);
    let client = server.client();
    let app = server.sdk_app_id();
    let mut failures = Vec::new();
    let mut calls = 0;
    for &action in roomlog_server::actions::NAMES {
        let schema = roomlog_server::actions::schema_of(action).expect("a schema");
        // A fresh room each time: an action that ends or deletes its room leaves the next alone.
        let room = create_room(&client, app).await;
        let base = baseline(action, &schema, app, room);
        let mut places = Vec::new();
        leaves(&schema, &[], &mut places);
        for (path, ty) in places {
            for value in extremes(&ty) {
                let mut params = base.clone();
                set_at(&mut params, &path, value.clone());
                calls += 1;
                let what = format!("{action} {}={}", describe(&path), short(&value));
                match call(&server, action, &params).await {
                    Ok(Answer::Stream) => {}
                    Ok(Answer::Envelope(response)) => {
                        let code = code(&response);
                        let message = response["Error"]["Message"].as_str().unwrap_or("");
                        if matches!(code, "InternalError" | "ServiceUnavailable")
                            || message.contains("are malformed")
                        {
                            failures.push(format!("{what}: {code}: {message}"));
                        }
                    }
                    Err(why) => failures.push(format!("{what}: {why}")),
                }
            }
        }
    }
    println!("{calls} calls at the edges");
    assert!(
        failures.is_empty(),
        "{} of {calls} calls misbehaved:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_still_well(&server).await;
}

/// A stream resumed after the largest sequence number there can be sends nothing (or is refused
/// as InvalidParameterValue): not the room's log from its start, not a dropped connection. Both
/// ways of resuming are checked: `AfterSeq` and the `Last-Event-ID` header an EventSource sends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_resumed_after_the_last_possible_event_sends_none() {
    let server = TestServer::start(&[]);
    let client = server.client();
    let app = server.sdk_app_id();
    let room = create_room(&client, app).await;
    support::report_events(
        &client,
        app,
        room,
        &[
            json!({"EventId": "a", "EventType": "MemberJoin", "UserId": "u1", "Role": 0}),
            json!({"EventId": "b", "EventType": "MicOn", "UserId": "u1"}),
        ],
    )
    .await;
    for (what, params, last_event_id) in [
        (
            "AfterSeq",
            json!({"SdkAppId": app, "RoomId": room, "AfterSeq": u64::MAX}),
            None,
        ),
        (
            "Last-Event-ID",
            json!({"SdkAppId": app, "RoomId": room}),
            Some(u64::MAX),
        ),
    ] {
        let opened = tokio::time::timeout(
            ANSWER_WITHIN,
            client.open_stream("StreamRoomEvents", &params, last_event_id),
        )
        .await
        .expect("an answer in time");
        let mut response = match opened {
            Ok(response) => response,
            // Refusing a resume point past the sequence range is as good as sending nothing.
            Err(err)
                if err
                    .downcast_ref::<roomlog::client::ApiFailure>()
                    .is_some_and(|f| f.code == "InvalidParameterValue") =>
            {
                continue
            }
            Err(err) => panic!("{what} {}: no stream and no envelope: {err:#}", u64::MAX),
        };
        let mut received = String::new();
        let until = Instant::now() + Duration::from_millis(1500);
        while let Ok(Ok(Some(chunk))) =
            tokio::time::timeout_at(until.into(), response.chunk()).await
        {
            received.push_str(&String::from_utf8_lossy(&chunk));
        }
        assert!(
            !received.contains("id: "),
            "{what} {}: events sent again: {received}",
            u64::MAX
        );
    }
    assert_still_well(&server).await;
}

// ---- the request line ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tricks_on_the_request_line() {
    let server = TestServer::start(&["--rate-limit-default", "0"]);
    let host = host(&server);
    let get = |target: &[u8]| {
        let line = [b"GET ", target, b" HTTP/1.1"].concat();
        wire(&line, &[h("Host", &host)], b"")
    };

    // Without credentials, any target gets the API's answer: no credentials.
    let long_path = format!("/{}", "a".repeat(60_000));
    for target in [
        "//",
        "/%2e%2e/",
        "/../../etc/passwd",
        "/%00",
        "/?",
        "/??a=1",
        "/?a=1?b=2",
        "/?a=%00",
        "/?a=1#fragment",
        "*",
        "http://evil.example/",
        "http://evil.example:80/?a=1",
        &long_path,
    ] {
        assert_code(
            &format!("GET {}", &target[..target.len().min(40)]),
            &exchange(&server, get(target.as_bytes())),
            "AuthFailure.InvalidAuthorization",
        );
    }
    // A query past the GET limit, and a v1 form body past its own: too large, said in the
    // envelope; at the limit, the request goes on (to its missing credentials).
    let limit = roomlog_protocol::MAX_GET_QUERY_BYTES;
    for (length, expected) in [
        (limit + 1, "RequestSizeLimitExceeded"),
        (limit, "AuthFailure.InvalidAuthorization"),
    ] {
        let target = format!("/?a={}", "b".repeat(length - 2));
        assert_code(
            &format!("a query of {length} bytes"),
            &exchange(&server, get(target.as_bytes())),
            expected,
        );
    }
    let form = format!("a={}", "b".repeat(roomlog_protocol::MAX_V1_POST_BODY_BYTES));
    assert_code(
        "a v1 form body past 1 MiB",
        &exchange(
            &server,
            wire(b"POST / HTTP/1.1", &form_headers(&server), form.as_bytes()),
        ),
        "RequestSizeLimitExceeded",
    );
    // Targets past what HTTP takes, or not a target at all.
    for target in [
        format!("/{}", "a".repeat(70_000)),
        format!("/?{}", "a".repeat(70_000)),
        "/a b".to_owned(),
        "/\u{7f}".to_owned(),
        "".to_owned(),
    ] {
        assert_refused(
            &format!("GET {}", &target[..target.len().min(40)]),
            &exchange(&server, get(target.as_bytes())),
        );
    }

    // A signed call on another target gets the answer it gets on `/`: the path is not signed.
    let body = serde_json::to_vec(&json!({"SdkAppId": server.sdk_app_id()})).unwrap();
    for target in ["//", "/%2e%2e/", "/x/y?unsigned=1", "http://evil.example/"] {
        let line = format!("POST {target} HTTP/1.1");
        assert_code(
            &format!("signed POST {target}"),
            &exchange(
                &server,
                wire(
                    line.as_bytes(),
                    &tc3_post(&server, "GetRooms", &body),
                    &body,
                ),
            ),
            "Success",
        );
    }
    // Signed queries with NUL, extra `?` and a fragment.
    for (query, expected) in [
        ("UserId=%00", "ResourceNotFound.User"),
        ("UserId=a?b", "ResourceNotFound.User"),
        ("?UserId=a", "UnknownParameter"),
        // The fragment never reaches the server, so what it checks is not what was signed.
        ("UserId=a#b", "AuthFailure.SignatureFailure"),
    ] {
        assert_code(
            &format!("signed GET ?{query}"),
            &exchange(&server, signed_get(&server, "DescribeUser", query)),
            expected,
        );
    }

    assert_still_well(&server).await;
}

// ---- methods and versions -----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_methods_and_http_versions() {
    let server = TestServer::start(&["--rate-limit-default", "0"]);
    let host = host(&server);
    let body = serde_json::to_vec(&json!({"SdkAppId": server.sdk_app_id()})).unwrap();
    let signed = tc3_post(&server, "GetRooms", &body);

    for method in [
        "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "FOO", "get", "post",
    ] {
        let line = format!("{method} / HTTP/1.1");
        assert_code(
            &format!("signed {method}"),
            &exchange(&server, wire(line.as_bytes(), &signed, &body)),
            "UnsupportedProtocol",
        );
    }
    // HEAD: the answer of a GET without its body.
    let head = exchange_bodiless(
        &server,
        wire(b"HEAD / HTTP/1.1", &[h("Host", &host)], b""),
        true,
    );
    assert!(head.closed);
    assert_eq!(head.responses.len(), 1, "{head:?}");
    assert_eq!(head.responses[0].status, 200);
    assert_eq!(
        head.responses[0].header("content-type"),
        Some("application/json")
    );
    // Methods HTTP does not take.
    for line in ["G@T / HTTP/1.1", "GET\t/ HTTP/1.1", " GET / HTTP/1.1"] {
        let raw = wire(line.as_bytes(), &[h("Host", &host)], b"");
        assert_refused(line, &exchange(&server, raw));
    }

    // HTTP/1.0: served, then closed.
    assert_code(
        "signed POST over HTTP/1.0",
        &exchange(
            &server,
            wire_with(b"POST / HTTP/1.0", &signed, &body, false),
        ),
        "Success",
    );
    assert_code(
        "GET over HTTP/1.0",
        &exchange(&server, wire_with(b"GET / HTTP/1.0", &[], b"", false)),
        "AuthFailure.InvalidAuthorization",
    );
    // No Host at all: the API says what is missing.
    assert_code(
        "HTTP/1.1 without Host",
        &exchange(&server, wire(b"GET / HTTP/1.1", &[], b"")),
        "AuthFailure.InvalidAuthorization",
    );
    let mut no_host = signed.clone();
    no_host.retain(|(n, _)| n != "Host");
    assert_code(
        "signed without its Host",
        &exchange(&server, wire(b"POST / HTTP/1.1", &no_host, &body)),
        "AuthFailure.InvalidAuthorization",
    );
    // Versions that are not HTTP/1.x, and HTTP/2's preface on an HTTP/1 port.
    for line in [
        "GET /",
        "GET / HTTP/2.0",
        "GET / HTTP/1.2",
        "GET / HTTP/0.9",
        "GET / HTTPS/1.1",
        "GET / http/1.1",
    ] {
        let raw = wire(line.as_bytes(), &[h("Host", &host)], b"");
        assert_refused(line, &exchange(&server, raw));
    }
    assert_refused(
        "the HTTP/2 preface",
        &exchange(&server, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec()),
    );

    assert_still_well(&server).await;
}

/// CONNECT asks for a tunnel: a 2xx answer to it means the tunnel is open and can carry no
/// body, so the envelope would be lost. The answer must be a refusal (or an envelope that
/// arrives), never a bodiless 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_is_refused_rather_than_tunnelled() {
    let server = TestServer::start(&[]);
    for target in ["127.0.0.1:1", "evil.example:443"] {
        let line = format!("CONNECT {target} HTTP/1.1");
        let exchange = exchange(&server, wire(line.as_bytes(), &[h("Host", target)], b""));
        if let Some(response) = exchange.responses.first() {
            assert!(
                !((200..300).contains(&response.status) && response.body.is_empty()),
                "CONNECT {target}: a bodiless {} (a tunnel opened, no envelope): {response:?}",
                response.status
            );
        }
        assert_code_or_refused(
            &format!("CONNECT {target}"),
            &exchange,
            "UnsupportedProtocol",
        );
    }
    assert_still_well(&server).await;
}

// ---- pipelining and request boundaries ----------------------------------------------------------

/// A well-formed TC3 header for a SecretId that does not exist: the server refuses it before
/// it reads the body.
fn unknown_key_headers() -> Vec<(String, Vec<u8>)> {
    let date = roomlog_protocol::sign::tc3_date(roomlog_core::time::now_secs()).unwrap();
    vec![
        h(
            "Authorization",
            format!(
                "TC3-HMAC-SHA256 Credential={}/{date}/lcic/tc3_request, \
                 SignedHeaders=content-type;host, Signature={}",
                "AKIDnobodynobodynobodynobody0000",
                "a".repeat(64)
            ),
        ),
        h("Content-Type", "application/json"),
        h("Host", "127.0.0.1"),
        h("X-TC-Action", "GetRooms"),
        h("X-TC-Version", VERSION),
        h("X-TC-Timestamp", roomlog_core::time::now_secs().to_string()),
    ]
}

/// Answers on one connection that are the expected codes in order; the connection may be
/// closed early (fewer answers, at least `min`) but never answers what was not sent as a
/// request.
fn assert_answers_in_order(what: &str, exchange: &Exchange, expected: &[&str], min: usize) {
    assert!(
        exchange.closed,
        "{what}: not closed within {ANSWER_WITHIN:?}"
    );
    assert!(
        (min..=expected.len()).contains(&exchange.responses.len()),
        "{what}: {} answers for {} requests: {exchange:?}",
        exchange.responses.len(),
        expected.len()
    );
    for (i, (response, expected)) in exchange.responses.iter().zip(expected).enumerate() {
        let response = envelope(&format!("{what}, answer {i}"), response);
        assert_eq!(code(&response), *expected, "{what}, answer {i}: {response}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_and_bodies_that_look_like_requests() {
    let server = TestServer::start(&["--rate-limit-default", "0"]);
    let host = host(&server);
    let rooms = serde_json::to_vec(&json!({"SdkAppId": server.sdk_app_id()})).unwrap();

    // Four requests in one write, answered in order.
    let pipeline = [
        wire_with(
            b"POST / HTTP/1.1",
            &tc3_post(&server, "GetRooms", &rooms),
            &rooms,
            false,
        ),
        wire_with(b"PUT / HTTP/1.1", &[h("Host", &host)], b"", false),
        wire_with(
            b"GET /?Avatar=%FF HTTP/1.1",
            &[h("Host", &host)],
            b"",
            false,
        ),
        signed_get(&server, "DescribeApps", ""),
    ]
    .concat();
    let answers = exchange(&server, pipeline);
    assert_answers_in_order(
        "four pipelined requests",
        &answers,
        &[
            "Success",
            "UnsupportedProtocol",
            "InvalidParameter",
            "Success",
        ],
        4,
    );

    // A body the server never reads (the key is unknown) that holds a request: it is skipped or
    // the connection closed, never answered as a request.
    let smuggled = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
    let chunked = [
        format!("{:x}\r\n", smuggled.len()).into_bytes(),
        smuggled.clone(),
        b"\r\n0\r\n\r\n".to_vec(),
    ]
    .concat();
    let mut chunked_headers = unknown_key_headers();
    chunked_headers.push(h("Transfer-Encoding", "chunked"));
    let big = smuggled.repeat(60_000);
    let follow_up = signed_post(&server, "GetRooms", &rooms);
    // (Closing on 2 MiB of unread body resets the connection, which may lose its answer.)
    for (what, first, min) in [
        (
            "an unread body",
            wire_with(b"POST / HTTP/1.1", &unknown_key_headers(), &smuggled, false),
            1,
        ),
        (
            "an unread chunked body",
            wire_with(b"POST / HTTP/1.1", &chunked_headers, &chunked, false),
            1,
        ),
        (
            "a 2 MiB unread body",
            wire_with(b"POST / HTTP/1.1", &unknown_key_headers(), &big, false),
            0,
        ),
    ] {
        let answers = exchange(&server, [first, follow_up.clone()].concat());
        let expected = ["AuthFailure.SecretIdNotFound", "Success"];
        assert_answers_in_order(what, &answers, &expected, min);
    }
    // A body read and refused (a method the API does not take) holding a request.
    let answers = exchange(
        &server,
        [
            wire_with(b"PUT / HTTP/1.1", &[h("Host", &host)], &smuggled, false),
            follow_up.clone(),
        ]
        .concat(),
    );
    assert_answers_in_order(
        "a refused body",
        &answers,
        &["UnsupportedProtocol", "Success"],
        2,
    );
    // Content-Length and Transfer-Encoding together, disagreeing on where the body ends: the
    // chunked framing holds and the connection is closed after the answer.
    let both = [
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n".to_vec(),
        format!("Content-Length: {}\r\n\r\n0\r\n\r\n", 5 + smuggled.len()).into_bytes(),
        smuggled.clone(),
        follow_up.clone(),
    ]
    .concat();
    let answers = exchange(&server, both);
    assert_answers_in_order(
        "Content-Length and Transfer-Encoding",
        &answers,
        &["AuthFailure.InvalidAuthorization"],
        1,
    );
    // Two Content-Lengths: HTTP refuses the request.
    let two = wire(
        b"POST / HTTP/1.1",
        &[
            h("Host", &host),
            h("Content-Length", "2"),
            h("Content-Length", "40"),
        ],
        b"{}",
    );
    assert_refused("two Content-Lengths", &exchange(&server, two));
    for length in ["-1", "1e3", "99999999999999999999999", "0x10", "+2"] {
        let raw = wire(
            b"POST / HTTP/1.1",
            &[h("Host", &host), h("Content-Length", length)],
            b"{}",
        );
        assert_refused(
            &format!("Content-Length: {length}"),
            &exchange(&server, raw),
        );
    }

    assert_still_well(&server).await;
}

// ---- header floods ------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_floods() {
    let server = TestServer::start(&["--rate-limit-default", "0"]);
    let host = host(&server);
    let rooms = serde_json::to_vec(&json!({"SdkAppId": server.sdk_app_id()})).unwrap();

    // More headers than HTTP takes.
    let mut many = tc3_post(&server, "GetRooms", &rooms);
    many.extend((0..200).map(|i| h(&format!("X-Flood-{i}"), "1")));
    assert_refused(
        "200 headers",
        &exchange(&server, wire(b"POST / HTTP/1.1", &many, &rooms)),
    );
    // A 64 KiB header the API does not read: served.
    let mut padded = tc3_post(&server, "GetRooms", &rooms);
    padded.push(h("X-Padding", "p".repeat(64 * 1024)));
    assert_code(
        "a 64 KiB unread header",
        &exchange(&server, wire(b"POST / HTTP/1.1", &padded, &rooms)),
        "Success",
    );
    // 64 KiB where the API reads.
    let mut authorization = tc3_post(&server, "GetRooms", &rooms);
    replace(
        &mut authorization,
        "Authorization",
        format!("TC3-HMAC-SHA256 {}", "Credential=x,".repeat(5000)),
    );
    assert_code(
        "a 64 KiB Authorization",
        &exchange(&server, wire(b"POST / HTTP/1.1", &authorization, &rooms)),
        "AuthFailure.InvalidAuthorization",
    );
    let long_action = format!("Get{}", "Rooms".repeat(13_000));
    assert_code(
        "a 64 KiB action, signed",
        &exchange(&server, signed_post(&server, &long_action, &rooms)),
        "InvalidAction",
    );
    let mut wrong_signature = tc3_post(&server, "GetRooms", &rooms);
    replace(&mut wrong_signature, "X-TC-Action", &long_action);
    assert_code(
        "a 64 KiB action, not signed",
        &exchange(&server, wire(b"POST / HTTP/1.1", &wrong_signature, &rooms)),
        "AuthFailure.SignatureFailure",
    );
    // A header of 1 MiB: past what HTTP takes.
    let mut huge = tc3_post(&server, "GetRooms", &rooms);
    huge.push(h("X-Padding", "p".repeat(1 << 20)));
    assert_refused(
        "a 1 MiB header",
        &exchange(&server, wire(b"POST / HTTP/1.1", &huge, &rooms)),
    );
    // Headers the API reads, sent again and again.
    let mut actions = tc3_post(&server, "GetRooms", &rooms);
    actions.extend((0..50).map(|_| h("X-TC-Action", "DeleteRoom")));
    assert_code(
        "X-TC-Action 51 times",
        &exchange(&server, wire(b"POST / HTTP/1.1", &actions, &rooms)),
        "InvalidParameter",
    );
    let mut twice = tc3_post(&server, "GetRooms", &rooms);
    let auth = twice
        .iter()
        .find(|(n, _)| n == "Authorization")
        .unwrap()
        .clone();
    twice.push(auth);
    assert_code(
        "the same Authorization twice",
        &exchange(&server, wire(b"POST / HTTP/1.1", &twice, &rooms)),
        "InvalidParameter",
    );
    // Header lines HTTP does not take.
    for (what, raw) in [
        ("a folded header", b"X-A: 1\r\n  folded".to_vec()),
        ("a header without a colon", b"NoColon".to_vec()),
        ("NUL in a value", b"X-A: a\x00b".to_vec()),
        ("a space before the colon", b"X-A : 1".to_vec()),
        ("an empty name", b": 1".to_vec()),
    ] {
        let line = [
            b"GET / HTTP/1.1\r\nHost: ".to_vec(),
            host.clone().into_bytes(),
        ]
        .concat();
        let request = [
            line,
            b"\r\n".to_vec(),
            raw,
            b"\r\nConnection: close\r\n\r\n".to_vec(),
        ]
        .concat();
        assert_refused(what, &exchange(&server, request));
    }

    assert_still_well(&server).await;
}

// ---- chunked bodies -----------------------------------------------------------------------------

/// `body` as chunks of `size` bytes, each size line written by `size_line`.
fn chunks(body: &[u8], size: usize, size_line: impl Fn(usize) -> String) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in body.chunks(size) {
        out.extend_from_slice(size_line(chunk.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_bodies_with_bad_sizes() {
    let server = TestServer::start(&["--rate-limit-default", "0", "--body-read-timeout", "2s"]);
    // A body of 100 KiB (the object, then spaces), signed; sent chunked in many ways.
    let mut body = serde_json::to_vec(&json!({"SdkAppId": server.sdk_app_id()})).unwrap();
    body.resize(100 * 1024, b' ');
    let mut headers = tc3_post(&server, "GetRooms", &body);
    headers.push(h("Transfer-Encoding", "chunked"));
    let post = |framed: Vec<u8>| wire(b"POST / HTTP/1.1", &headers, &framed);

    for (what, framed) in [
        ("chunks of 4 KiB", chunks(&body, 4096, |n| format!("{n:x}"))),
        ("one-byte chunks", chunks(&body, 1, |n| format!("{n:x}"))),
        (
            "upper-case sizes with extensions",
            chunks(&body, 999, |n| format!("{n:X};name=value")),
        ),
        (
            "sizes with leading zeros",
            chunks(&body, 4096, |n| format!("000{n:x}")),
        ),
    ] {
        assert_code(what, &exchange(&server, post(framed)), "Success");
    }

    let first = &body[..10];
    let bad: Vec<(&str, Vec<u8>)> = vec![
        (
            "a size that is not hex",
            [
                b"zz\r\n".to_vec(),
                first.to_vec(),
                b"\r\n0\r\n\r\n".to_vec(),
            ]
            .concat(),
        ),
        (
            "a negative size",
            [
                b"-a\r\n".to_vec(),
                first.to_vec(),
                b"\r\n0\r\n\r\n".to_vec(),
            ]
            .concat(),
        ),
        (
            "a size past u64",
            b"1ffffffffffffffffffff\r\nx\r\n0\r\n\r\n".to_vec(),
        ),
        (
            "the largest u64 size",
            b"ffffffffffffffff\r\nx\r\n0\r\n\r\n".to_vec(),
        ),
        (
            "a size with a space inside",
            [
                b"a a\r\n".to_vec(),
                first.to_vec(),
                b"\r\n0\r\n\r\n".to_vec(),
            ]
            .concat(),
        ),
        (
            "a chunk longer than its size",
            [b"5\r\n".to_vec(), first.to_vec(), b"\r\n0\r\n\r\n".to_vec()].concat(),
        ),
        (
            "no CRLF after a chunk",
            [b"a\r\n".to_vec(), first.to_vec(), b"0\r\n\r\n".to_vec()].concat(),
        ),
        (
            "a bare LF",
            [b"a\n".to_vec(), first.to_vec(), b"\n0\n\n".to_vec()].concat(),
        ),
        (
            "a 64 KiB extension",
            [
                format!("a;{}\r\n", "x=y;".repeat(16 * 1024)).into_bytes(),
                first.to_vec(),
                b"\r\n0\r\n\r\n".to_vec(),
            ]
            .concat(),
        ),
        (
            "an empty size line",
            [b"\r\n".to_vec(), first.to_vec(), b"\r\n0\r\n\r\n".to_vec()].concat(),
        ),
    ];
    for (what, framed) in bad {
        assert_code_or_refused(what, &exchange(&server, post(framed)), "InvalidParameter");
    }
    // A chunk announced and never sent in full: the body-read timeout answers.
    let started = Instant::now();
    let stalled = exchange(&server, post(b"fff\r\nonly this".to_vec()));
    assert_code_or_refused("a stalled chunk", &stalled, "InvalidParameter");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    // More than the largest body, chunked: refused once the limit is passed.
    let mut too_much = tc3_post(&server, "GetRooms", b"{}");
    too_much.push(h("Transfer-Encoding", "chunked"));
    let framed = chunks(&vec![b' '; 11 << 20], 64 * 1024, |n| format!("{n:x}"));
    assert_code_or_refused(
        "an 11 MiB chunked body",
        &exchange(&server, wire(b"POST / HTTP/1.1", &too_much, &framed)),
        "RequestSizeLimitExceeded",
    );
    // Transfer codings the server does not speak.
    for coding in ["chunked, gzip", "xchunked", "identity"] {
        let mut headers = tc3_post(&server, "GetRooms", b"{}");
        headers.push(h("Transfer-Encoding", coding));
        let raw = wire(b"POST / HTTP/1.1", &headers, b"2\r\n{}\r\n0\r\n\r\n");
        assert_refused(
            &format!("Transfer-Encoding: {coding}"),
            &exchange(&server, raw),
        );
    }

    assert_still_well(&server).await;
}

// ---- replay -------------------------------------------------------------------------------------

/// `hostile.rs` replays TC3 requests; v1 requests carry their own Nonce and Timestamp, and the
/// same rule holds: a read may come again, a call that changes state may not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_v1_call_is_refused_where_it_changes_state() {
    let server = TestServer::start(&["--rate-limit-default", "0"]);
    let app = server.sdk_app_id();
    let create = v1_signed(
        &server,
        "POST",
        "CreateRoom",
        &flatten_params(&room_params(app)),
    );
    let create = wire(
        b"POST / HTTP/1.1",
        &form_headers(&server),
        create.as_bytes(),
    );
    let created = assert_code(
        "a v1 CreateRoom",
        &exchange(&server, create.clone()),
        "Success",
    );
    let room = created["RoomId"].as_u64().expect("RoomId");
    let describe = v1_signed(
        &server,
        "GET",
        "DescribeRoom",
        &pairs(&[("RoomId", &room.to_string())]),
    );
    let line = format!("GET /?{describe} HTTP/1.1");
    let describe = wire(line.as_bytes(), &[h("Host", host(&server))], b"");
    assert_code(
        "a v1 DescribeRoom",
        &exchange(&server, describe.clone()),
        "Success",
    );

    tokio::time::sleep(AFTER_GRACE).await;
    assert_code(
        "the v1 DescribeRoom again",
        &exchange(&server, describe),
        "Success",
    );
    for _ in 0..2 {
        assert_code(
            "the v1 CreateRoom again",
            &exchange(&server, create.clone()),
            "AuthFailure.SignatureExpire",
        );
    }
    let rooms = server
        .client()
        .call(
            "GetRooms",
            &json!({"SdkAppId": app, "Page": 1, "Limit": 100}),
        )
        .await
        .unwrap();
    assert_eq!(rooms["Total"], 1, "one room created: {rooms}");

    assert_still_well(&server).await;
}

// ---- what an unauthenticated client chooses -----------------------------------------------------

/// A request refused for its key costs nothing once answered, whatever action it names: here
/// v1 POSTs with an unknown SecretId, each naming another action of about 1 MiB (a v1 form body
/// may hold 1 MiB). Neither the server's memory nor what `/metrics` serves may keep them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn action_names_of_unauthenticated_requests_cost_no_memory() {
    let server = TestServer::start(&[]);
    let requests = 160;
    for i in 0..requests {
        let action = format!("A{i:06}{}", "x".repeat(1_000_000));
        let body = format!(
            "Action={action}&Version={VERSION}&Timestamp=1&Nonce=1&SecretId=AKIDx&Signature=AAAA"
        );
        let raw = wire(b"POST / HTTP/1.1", &form_headers(&server), body.as_bytes());
        assert_code(
            &format!("unauthenticated request {i}"),
            &exchange(&server, raw),
            "AuthFailure.SecretIdNotFound",
        );
    }
    let (rss, _) = memory_kib(&server);
    println!("after {requests} unauthenticated 1 MiB action names: {rss} KiB resident");
    assert_still_well(&server).await;
    let metrics = roomlog::client::http_client()
        .get(format!("{}/metrics", server.endpoint))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(
        metrics.len() < 1 << 20,
        "/metrics is {} bytes after {requests} unauthenticated requests",
        metrics.len()
    );
}
