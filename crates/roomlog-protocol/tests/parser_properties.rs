//! Property tests over whatever a client can send, for the whole protocol path:
//!
//! - `parse_request`, `verify` and `params` on arbitrary methods, query strings, header sets
//!   (repeated, odd Authorization headers, bytes past ASCII) and bodies (invalid UTF-8, huge
//!   numbers, deep nesting), arbitrary and signed-then-mangled alike: no panic, and every error
//!   is one of the codes the protocol documents for that step, in a valid envelope;
//! - both v1 signers (HmacSHA1, HmacSHA256; GET and POST) and the TC3 signer (GET and POST)
//!   round-trip over arbitrary parameters, bodies, queries, hosts and timestamps, and every kind
//!   of tampering answers `AuthFailure.SignatureFailure` (`SignatureExpire` for skew);
//! - parameter decoding against arbitrary nested schemas accepts exactly the well-typed input,
//!   judged by a reference written from the documented rules, and a JSON object and its
//!   flattened form decode alike.
//!
//! `roundtrip.rs`, `signing_forms.rs` and `params.rs` pin the named cases; this file covers the
//! space between them.

mod common;

use base64::Engine as _;
use common::{OwnedRequest, HOST, SECRET_ID, SECRET_KEY, VERSION};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use proptest::prelude::*;
use proptest::sample::Index;
use roomlog_protocol::{
    codes, error_body, flatten_params, form, ApiError, FieldType, ParamSource, Schema,
    SignatureMethod, Tc3Signer, V1Signer, MAX_CLOCK_SKEW_SECS, MAX_GET_QUERY_BYTES, MAX_JSON_DEPTH,
};
use serde_json::{Map, Value};

/// The signing time of the round trips (2026-11-25).
const TS: i64 = 1795640136;
const SIGNATURE_FAILURE: &str = codes::SIGNATURE_FAILURE;

// ---- the documented codes, step by step ------------------------------------------------------

/// protocol.md, "Common error codes": every code roomlog may answer on its own.
const DOCUMENTED: &[&str] = &[
    codes::INVALID_AUTHORIZATION,
    codes::SECRET_ID_NOT_FOUND,
    codes::SIGNATURE_FAILURE,
    codes::SIGNATURE_EXPIRE,
    codes::UNAUTHORIZED_OPERATION,
    codes::INVALID_ACTION,
    codes::NO_SUCH_VERSION,
    codes::MISSING_PARAMETER,
    codes::INVALID_PARAMETER,
    codes::INVALID_PARAMETER_VALUE,
    codes::UNKNOWN_PARAMETER,
    codes::REQUEST_LIMIT_EXCEEDED,
    codes::REQUEST_SIZE_LIMIT_EXCEEDED,
    codes::UNSUPPORTED_PROTOCOL,
    codes::INTERNAL_ERROR,
    codes::SERVICE_UNAVAILABLE,
];
/// What `parse_request` may answer (its documentation).
const PARSE_CODES: &[&str] = &[
    codes::UNSUPPORTED_PROTOCOL,
    codes::REQUEST_SIZE_LIMIT_EXCEEDED,
    codes::INVALID_AUTHORIZATION,
    codes::MISSING_PARAMETER,
    codes::INVALID_PARAMETER,
];
/// What `ParsedRequest::verify` may answer.
const VERIFY_CODES: &[&str] = &[codes::SIGNATURE_EXPIRE, codes::SIGNATURE_FAILURE];
/// What `VerifiedRequest::params` may answer.
const PARAMS_CODES: &[&str] = &[codes::INVALID_PARAMETER, codes::REQUEST_SIZE_LIMIT_EXCEEDED];
/// What `ParamSource::decode` may answer.
const DECODE_CODES: &[&str] = &[
    codes::INVALID_PARAMETER,
    codes::MISSING_PARAMETER,
    codes::UNKNOWN_PARAMETER,
];

#[test]
fn each_steps_codes_are_documented() {
    for code in [PARSE_CODES, VERIFY_CODES, PARAMS_CODES, DECODE_CODES].concat() {
        assert!(DOCUMENTED.contains(&code), "{code}");
    }
}

/// The error is one of `allowed`, says something, and renders as a valid envelope carrying it.
fn check_error(step: &str, err: &ApiError, allowed: &[&str]) -> Result<(), TestCaseError> {
    prop_assert!(
        allowed.contains(&err.code.as_ref()),
        "{} answered {} ({}), not one of {:?}",
        step,
        err.code,
        err.message,
        allowed
    );
    prop_assert!(
        !err.message.is_empty(),
        "{} answered {} without a message",
        step,
        err.code
    );
    let body = error_body(err, "00000000-0000-0000-0000-000000000000");
    let envelope: Value = serde_json::from_slice(&body).expect("the envelope is JSON");
    prop_assert_eq!(&envelope["Response"]["Error"]["Code"], err.code.as_ref());
    prop_assert!(envelope["Response"]["RequestId"].is_string());
    Ok(())
}

/// A schema like an action's, to push parameters that got through one step further.
fn lcic_like_schema() -> Schema {
    Schema::new()
        .required("RoomId", FieldType::U64)
        .optional("SdkAppId", FieldType::U64)
        .optional("Offset", FieldType::I64)
        .optional("Keyword", FieldType::String)
        .optional(
            "Events",
            FieldType::array(
                Schema::new()
                    .required("EventId", FieldType::String)
                    .optional("Seq", FieldType::U64)
                    .into(),
            ),
        )
}

/// The server's steps on `request`: parse, verify with `key` at `now`, parse the parameters,
/// decode them against a schema. Every error must be one the step documents.
fn run_pipeline(request: &OwnedRequest, key: &str, now: i64) -> Result<(), TestCaseError> {
    let parsed = match request.parse() {
        Ok(parsed) => parsed,
        Err(err) => return check_error("parse_request", &err, PARSE_CODES),
    };
    // Timestamps are digits only.
    prop_assert!(parsed.timestamp >= 0);
    // Also at the request's own time, where the signature itself is checked whatever the
    // timestamp.
    if let Err(err) = parsed.verify(key, parsed.timestamp) {
        check_error("verify", &err, VERIFY_CODES)?;
    }
    let verified = match parsed.verify(key, now) {
        Ok(verified) => verified,
        Err(err) => return check_error("verify", &err, VERIFY_CODES),
    };
    let params = match verified.params() {
        Ok(params) => params,
        Err(err) => return check_error("params", &err, PARAMS_CODES),
    };
    if let Err(err) = params.decode(&lcic_like_schema()) {
        check_error("decode", &err, DECODE_CODES)?;
    }
    Ok(())
}

// ---- (a) arbitrary requests ------------------------------------------------------------------

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        4 => Just(Method::GET),
        4 => Just(Method::POST),
        1 => prop::sample::select(vec![
            Method::PUT,
            Method::DELETE,
            Method::HEAD,
            Method::OPTIONS,
            Method::PATCH,
            Method::CONNECT,
            Method::TRACE,
        ]),
        1 => "[A-Z]{1,12}".prop_map(|m| Method::from_bytes(m.as_bytes()).unwrap()),
    ]
}

const V1_NAMES: &[&str] = &[
    "Action",
    "Version",
    "Region",
    "Timestamp",
    "Nonce",
    "SecretId",
    "Signature",
    "SignatureMethod",
    "Token",
    "Language",
    "RequestClient",
];

/// Values a hostile client likes: overflowing and odd numbers, broken escapes, NUL, invalid
/// UTF-8 once percent-decoded, Base64-looking text, and anything at all.
fn tricky_value() -> BoxedStrategy<String> {
    prop_oneof![
        "[0-9]{1,25}",
        prop::sample::select(vec![
            "18446744073709551616",
            "18446744073709551615",
            "9223372036854775808",
            "9223372036854775807",
            "0",
            "-1",
            "+1",
            "1e30",
            "1.0",
            "NaN",
            "0x10",
            "%FF%FE",
            "%",
            "%C3%28",
            "%ED%A0%80",
            "%00",
            "%2",
            "a+b%20c",
            "HmacSHA256",
            "HmacSHA1",
            "2022-08-17",
        ])
        .prop_map(str::to_owned),
        "[A-Za-z0-9+/=%]{0,44}",
        "[ -~]{0,16}",
        any::<String>(),
    ]
    .boxed()
}

/// A query string: pairs with v1 and action parameter names, odd separators (`&&`, `?`), bare
/// names, sometimes one byte past the GET limit.
fn query() -> BoxedStrategy<Option<String>> {
    let name = prop_oneof![
        prop::sample::select(V1_NAMES).prop_map(str::to_owned),
        prop::sample::select(vec!["RoomId", "Events.0.EventId", "Events.01.Seq", "", "."])
            .prop_map(str::to_owned),
        "[A-Za-z0-9.%+]{0,8}",
    ];
    let pair = (name, prop::option::of(tricky_value())).prop_map(|(n, v)| match v {
        Some(v) => format!("{n}={v}"),
        None => n,
    });
    let separator = prop::sample::select(vec!["&", "&", "&", "&&", "?", ";"]);
    let text = prop::collection::vec((pair, separator), 0..10).prop_map(|pairs| {
        pairs
            .into_iter()
            .enumerate()
            .map(|(i, (pair, sep))| if i == 0 { pair } else { format!("{sep}{pair}") })
            .collect::<String>()
    });
    prop_oneof![
        1 => Just(None),
        8 => text.prop_map(Some),
        1 => Just(Some("a".repeat(MAX_GET_QUERY_BYTES + 1))),
    ]
    .boxed()
}

/// JSON-looking text: numbers past every range, NaN and infinities, broken escapes, lone
/// surrogates, nesting, and truncation.
fn json_text() -> BoxedStrategy<String> {
    let leaf = prop_oneof![
        "-?[0-9]{1,30}(\\.[0-9]{1,5})?([eE][+-]?[0-9]{1,6})?",
        prop::sample::select(vec![
            "NaN",
            "-Infinity",
            "Infinity",
            "null",
            "true",
            "1e999999",
            "-0",
            "18446744073709551616",
            "\"\\ud800\"",
            "\"\\u00e9\"",
            "\"\\x\"",
            "\"",
            "'single'",
        ])
        .prop_map(str::to_owned),
        "\"[^\"\\\\]{0,8}\"",
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        let member = (
            prop::sample::select(vec!["RoomId", "SdkAppId", "Events", "EventId", "Seq", "Zz"]),
            inner.clone(),
        )
            .prop_map(|(name, value)| format!("\"{name}\":{value}"));
        prop_oneof![
            prop::collection::vec(inner, 0..4).prop_map(|items| format!("[{}]", items.join(","))),
            prop::collection::vec(member, 0..4)
                .prop_map(|members| format!("{{{}}}", members.join(","))),
        ]
    })
    .boxed()
}

fn body() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        2 => Just(Vec::new()),
        3 => prop::collection::vec(any::<u8>(), 0..200),
        4 => (json_text(), any::<Index>(), any::<bool>()).prop_map(|(text, cut, truncate)| {
            let mut bytes = text.into_bytes();
            if truncate && !bytes.is_empty() {
                bytes.truncate(cut.index(bytes.len()));
            }
            bytes
        }),
        // Nested arrays under the body object: around the depth limit, and far beyond it.
        2 => prop_oneof![MAX_JSON_DEPTH - 3..=MAX_JSON_DEPTH + 1, 1usize..200].prop_map(|arrays| {
            format!("{{\"RoomId\":{}1{}}}", "[".repeat(arrays), "]".repeat(arrays)).into_bytes()
        }),
        2 => query().prop_map(|q| q.unwrap_or_default().into_bytes()),
    ]
    .boxed()
}

const HEADER_NAMES: &[&str] = &[
    "authorization",
    "x-tc-action",
    "x-tc-version",
    "x-tc-timestamp",
    "x-tc-region",
    "x-tc-language",
    "x-tc-token",
    "x-tc-traceid",
    "x-tc-content-sha256",
    "content-type",
    "host",
];

/// Bytes that `HeaderValue` takes (any but controls other than tab), past ASCII included: what
/// a server framework hands on from the wire.
fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..48).prop_map(|bytes| {
        bytes
            .into_iter()
            .map(|b| {
                if (b < 0x20 && b != b'\t') || b == 0x7f {
                    b'~'
                } else {
                    b
                }
            })
            .collect()
    })
}

fn authorization() -> BoxedStrategy<Vec<u8>> {
    let prefix = prop::sample::select(vec![
        "TC3-HMAC-SHA256 ",
        "TC3-HMAC-SHA256 ",
        "TC3-HMAC-SHA256",
        "TC3-HMAC-SHA256\t",
        "tc3-hmac-sha256 ",
        "TC3-HMAC-SHA256X ",
        "Bearer ",
        "",
    ]);
    let credential = (
        prop_oneof![Just(SECRET_ID.to_owned()), "[A-Za-z0-9]{0,8}"],
        prop_oneof![
            Just("2026-11-25".to_owned()),
            "[0-9-]{0,11}",
            "\\+[0-9]{5}-01-01"
        ],
        prop_oneof![Just("lcic".to_owned()), "[a-z0-9]{0,5}"],
        prop_oneof![Just("tc3_request".to_owned()), "[a-z_/]{0,12}"],
    )
        .prop_map(|(id, date, service, end)| format!("{id}/{date}/{service}/{end}"));
    let signed_headers = prop::collection::vec(
        prop_oneof![
            prop::sample::select(HEADER_NAMES).prop_map(str::to_owned),
            "[A-Za-z_;-]{0,6}",
        ],
        0..5,
    )
    .prop_map(|names| names.join(";"));
    let component = prop_oneof![
        credential.prop_map(|c| format!("Credential={c}")),
        signed_headers.prop_map(|s| format!("SignedHeaders={s}")),
        "[0-9a-fA-F]{60,66}".prop_map(|s| format!("Signature={s}")),
        "[A-Za-z]{0,10}=?[ -~]{0,10}",
    ];
    let separator = prop::sample::select(vec![", ", ", ", ",", " , ", ",,", ";"]);
    (
        prefix,
        prop::collection::vec((component, separator), 0..5),
        header_bytes(),
        any::<bool>(),
    )
        .prop_map(|(prefix, components, noise, add_noise)| {
            let mut text = prefix.to_owned();
            for (i, (component, separator)) in components.into_iter().enumerate() {
                if i > 0 {
                    text.push_str(separator);
                }
                text.push_str(&component);
            }
            let mut bytes = text.into_bytes();
            if add_noise {
                bytes.extend(noise);
            }
            bytes
        })
        .boxed()
}

fn header_value() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        prop::sample::select(vec![
            "application/json",
            "application/json; charset=utf-8",
            "APPLICATION/JSON",
            "application/x-www-form-urlencoded",
            "text/plain",
            "UNSIGNED-PAYLOAD",
            "GetRoomEvent",
            "2022-08-17",
            "1795640136",
            "99999999999999999999",
            "-1",
            "1e9",
            " 1795640136 ",
            "",
            HOST,
        ])
        .prop_map(|v| v.as_bytes().to_vec()),
        "[0-9]{1,22}".prop_map(String::into_bytes),
        header_bytes(),
    ]
    .boxed()
}

fn header_name() -> impl Strategy<Value = HeaderName> {
    prop_oneof![
        4 => prop::sample::select(HEADER_NAMES).prop_map(str::to_owned),
        1 => "[a-zA-Z0-9-]{1,12}",
    ]
    .prop_map(|name| HeaderName::from_bytes(name.as_bytes()).expect("a token"))
}

/// Headers in any order and number, names repeated at will.
fn headers() -> impl Strategy<Value = Vec<(HeaderName, Vec<u8>)>> {
    let header = prop_oneof![
        1 => authorization().prop_map(|value| (HeaderName::from_static("authorization"), value)),
        3 => (header_name(), header_value()),
    ];
    prop::collection::vec(header, 0..10)
}

fn header_map(headers: &[(HeaderName, Vec<u8>)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.append(
            name.clone(),
            HeaderValue::from_bytes(value).expect("header_bytes keeps values valid"),
        );
    }
    map
}

fn arbitrary_request() -> impl Strategy<Value = OwnedRequest> {
    (method(), query(), headers(), body()).prop_map(|(method, query, headers, body)| OwnedRequest {
        method,
        query,
        headers: header_map(&headers),
        body,
    })
}

/// A correctly signed request of each style, then a few changes to any part of it: the way to
/// reach `verify` and `params` with hostile input.
#[derive(Debug, Clone)]
enum Mutation {
    /// Appended: a second value when the name is taken.
    AddHeader(HeaderName, Vec<u8>),
    RemoveHeader(HeaderName),
    SetHeader(HeaderName, Vec<u8>),
    Body(Vec<u8>),
    Query(Option<String>),
    Method(Method),
    /// A common header (TC3) or common parameter (v1) set to a hostile value.
    Common(Index, String),
}

/// What `Mutation::Common` picks from: TC3 headers, then v1 parameters.
const COMMON_HEADERS: &[&str] = &[
    "x-tc-action",
    "x-tc-version",
    "x-tc-timestamp",
    "x-tc-region",
    "x-tc-language",
    "x-tc-token",
    "x-tc-content-sha256",
    "content-type",
    "host",
];

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        2 => (header_name(), header_value()).prop_map(|(n, v)| Mutation::AddHeader(n, v)),
        1 => authorization()
            .prop_map(|v| Mutation::SetHeader(HeaderName::from_static("authorization"), v)),
        1 => header_name().prop_map(Mutation::RemoveHeader),
        1 => (header_name(), header_value()).prop_map(|(n, v)| Mutation::SetHeader(n, v)),
        1 => body().prop_map(Mutation::Body),
        1 => query().prop_map(Mutation::Query),
        1 => method().prop_map(Mutation::Method),
        5 => (any::<Index>(), tricky_value()).prop_map(|(at, v)| Mutation::Common(at, v)),
    ]
}

fn apply(request: &mut OwnedRequest, mutation: &Mutation) {
    let value = |v: &[u8]| HeaderValue::from_bytes(v).expect("valid header bytes");
    match mutation {
        Mutation::AddHeader(name, v) => {
            request.headers.append(name.clone(), value(v));
        }
        Mutation::RemoveHeader(name) => {
            request.headers.remove(name);
        }
        Mutation::SetHeader(name, v) => {
            request.headers.insert(name.clone(), value(v));
        }
        Mutation::Body(body) => request.body = body.clone(),
        Mutation::Query(query) => request.query = query.clone(),
        Mutation::Method(method) => request.method = method.clone(),
        Mutation::Common(at, v) => {
            let i = at.index(COMMON_HEADERS.len() + V1_NAMES.len());
            match COMMON_HEADERS.get(i) {
                Some(name) => set_header_lossy(request, name, v),
                None => set_v1_param(request, V1_NAMES[i - COMMON_HEADERS.len()], v),
            }
        }
    }
}

/// Sets a header to `value`, control characters (which no header can carry) replaced.
fn set_header_lossy(request: &mut OwnedRequest, name: &'static str, value: &str) {
    let bytes: Vec<u8> = value
        .bytes()
        .map(|b| {
            if (b < 0x20 && b != b'\t') || b == 0x7f {
                b'~'
            } else {
                b
            }
        })
        .collect();
    request
        .headers
        .insert(name, HeaderValue::from_bytes(&bytes).unwrap());
}

/// Sets (or adds) a parameter in the query, or in the form body of a POST.
fn set_v1_param(request: &mut OwnedRequest, name: &str, value: &str) {
    let encoded = match &request.query {
        Some(query) => query.clone(),
        None => String::from_utf8_lossy(&request.body).into_owned(),
    };
    let mut pairs = form::decode(&encoded).unwrap_or_default();
    match pairs.iter_mut().find(|(n, _)| n == name) {
        Some((_, old)) => *old = value.to_owned(),
        None => pairs.push((name.to_owned(), value.to_owned())),
    }
    let encoded = form::encode(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    if request.query.is_some() {
        request.query = Some(encoded);
    } else {
        request.body = encoded.into_bytes();
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Style {
    Tc3Post,
    /// TC3 as the official SDKs sign it: `content-type;host` only.
    Tc3Sdk,
    Tc3Get,
    V1Get(SignatureMethod),
    V1Post(SignatureMethod),
}

fn style() -> impl Strategy<Value = Style> {
    prop_oneof![
        Just(Style::Tc3Post),
        Just(Style::Tc3Sdk),
        Just(Style::Tc3Get),
        Just(Style::V1Get(SignatureMethod::HmacSha1)),
        Just(Style::V1Get(SignatureMethod::HmacSha256)),
        Just(Style::V1Post(SignatureMethod::HmacSha1)),
        Just(Style::V1Post(SignatureMethod::HmacSha256)),
    ]
}

const TC3: Tc3Signer<'static> = Tc3Signer {
    secret_id: SECRET_ID,
    secret_key: SECRET_KEY,
    service: "lcic",
};

fn tc3_post(host: &str, action: &str, body: &[u8], timestamp: i64) -> OwnedRequest {
    let headers = TC3.sign_post_json(host, action, VERSION, body, timestamp);
    OwnedRequest::new(Method::POST, None, &headers, body)
}

fn tc3_get(host: &str, action: &str, query: &str, timestamp: i64) -> OwnedRequest {
    let headers = TC3.sign_get(host, action, VERSION, query, timestamp);
    OwnedRequest::new(Method::GET, Some(query), &headers, b"")
}

/// A POST signed as the Python and Go SDKs sign it: `SignedHeaders=content-type;host`, so
/// the action and the other headers are not covered.
fn sdk_post(body: &[u8], timestamp: i64) -> OwnedRequest {
    use roomlog_protocol::sign::{sha256_hex, tc3_canonical_request, tc3_date, tc3_string_to_sign};
    let date = tc3_date(timestamp).unwrap();
    let signed: [(&str, &[u8]); 2] = [
        ("content-type", b"application/json"),
        ("host", HOST.as_bytes()),
    ];
    let canonical = tc3_canonical_request("POST", "", &signed, &sha256_hex(body));
    let to_sign = tc3_string_to_sign(timestamp, &date, "lcic", &sha256_hex(&canonical));
    let signature = roomlog_protocol::tc3_signature(SECRET_KEY, &date, "lcic", &to_sign);
    let authorization = format!(
        "TC3-HMAC-SHA256 Credential={SECRET_ID}/{date}/lcic/tc3_request, \
         SignedHeaders=content-type;host, Signature={signature}"
    );
    let headers = [
        ("Authorization", authorization),
        ("Content-Type", "application/json".to_owned()),
        ("Host", HOST.to_owned()),
        ("X-TC-Action", "GetRoomEvent".to_owned()),
        ("X-TC-Version", VERSION.to_owned()),
        ("X-TC-Timestamp", timestamp.to_string()),
    ]
    .map(|(name, value)| (name.to_owned(), value));
    OwnedRequest::new(Method::POST, None, &headers, body)
}

struct V1Call<'a> {
    alg: SignatureMethod,
    get: bool,
    host: &'a str,
    params: &'a [(String, String)],
    timestamp: i64,
    nonce: u64,
}

/// The v1 request and its encoded parameters (query or body).
fn v1_request(call: &V1Call<'_>) -> OwnedRequest {
    let signer = V1Signer {
        secret_id: SECRET_ID,
        secret_key: SECRET_KEY,
        method: call.alg,
    };
    let method = if call.get { Method::GET } else { Method::POST };
    let encoded = signer.sign(
        method.as_str(),
        call.host,
        "GetRoomEvent",
        VERSION,
        call.params,
        call.timestamp,
        call.nonce,
    );
    let headers = [
        ("Host".to_owned(), call.host.to_owned()),
        (
            "Content-Type".to_owned(),
            "application/x-www-form-urlencoded".to_owned(),
        ),
    ];
    if call.get {
        OwnedRequest::new(method, Some(&encoded), &headers, b"")
    } else {
        OwnedRequest::new(method, None, &headers, encoded.as_bytes())
    }
}

fn signed_request(style: Style, body: &[u8], query: Option<&str>) -> OwnedRequest {
    let v1_params: Vec<(String, String)> = query
        .map(|q| form::decode(q).unwrap_or_default())
        .unwrap_or_default()
        .into_iter()
        .filter(|(name, _)| !V1_NAMES.contains(&name.as_str()))
        .collect();
    let v1 = |alg, get| {
        v1_request(&V1Call {
            alg,
            get,
            host: HOST,
            params: &v1_params,
            timestamp: TS,
            nonce: 42,
        })
    };
    match style {
        Style::Tc3Post => tc3_post(HOST, "GetRoomEvent", body, TS),
        Style::Tc3Sdk => sdk_post(body, TS),
        Style::Tc3Get => tc3_get(HOST, "GetRoomEvent", query.unwrap_or(""), TS),
        Style::V1Get(alg) => v1(alg, true),
        Style::V1Post(alg) => v1(alg, false),
    }
}

/// Within the allowed clock skew, either way.
fn skew() -> std::ops::RangeInclusive<i64> {
    -(MAX_CLOCK_SKEW_SECS as i64)..=MAX_CLOCK_SKEW_SECS as i64
}

/// The ends of time, where they are beyond the allowed skew of `timestamp`.
fn far_from(timestamp: i64) -> impl Iterator<Item = i64> {
    [i64::MIN, i64::MAX, 0]
        .into_iter()
        .filter(move |t| t.abs_diff(timestamp) > MAX_CLOCK_SKEW_SECS)
}

/// Server time: within the allowed skew most of the time, anything at all sometimes.
fn now() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => skew().prop_map(|skew| TS + skew),
        1 => any::<i64>(),
        1 => prop::sample::select(vec![i64::MIN, i64::MAX, 0, -1]),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_requests_get_documented_codes(
        request in arbitrary_request(),
        key in prop_oneof![Just(SECRET_KEY.to_owned()), any::<String>()],
        now in now(),
    ) {
        run_pipeline(&request, &key, now)?;
    }

    #[test]
    fn signed_then_mangled_requests_get_documented_codes(
        style in style(),
        body in body(),
        query in query(),
        mutations in prop::collection::vec(mutation(), 0..4),
        now in now(),
    ) {
        // A GET query past the limit cannot be signed usefully; keep it for the mutations.
        let signed_query = query.as_deref().filter(|q| q.len() <= MAX_GET_QUERY_BYTES);
        let mut request = signed_request(style, &body, signed_query);
        let unchanged = mutations.is_empty();
        for mutation in &mutations {
            apply(&mut request, mutation);
        }
        run_pipeline(&request, SECRET_KEY, now)?;
        if unchanged && now.abs_diff(TS) <= MAX_CLOCK_SKEW_SECS {
            let parsed = request.parse().expect("a signed request parses");
            prop_assert!(parsed.verify(SECRET_KEY, now).is_ok(), "a signed request verifies");
        }
    }
}

/// The headers each style reads, which the requests below carry.
fn read_headers(style: Style) -> &'static [&'static str] {
    match style {
        Style::Tc3Post | Style::Tc3Get => &[
            "authorization",
            "content-type",
            "host",
            "x-tc-action",
            "x-tc-version",
            "x-tc-timestamp",
            "x-tc-traceid",
        ],
        Style::Tc3Sdk => &[
            "authorization",
            "content-type",
            "host",
            "x-tc-action",
            "x-tc-version",
            "x-tc-timestamp",
        ],
        Style::V1Get(_) => &["host"],
        Style::V1Post(_) => &["host", "content-type"],
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A header the request's style reads, sent twice (the same value or another), is refused
    /// rather than either value trusted.
    #[test]
    fn a_repeated_header_is_refused(
        style in style(),
        pick in any::<Index>(),
        other in prop::option::of(header_value()),
    ) {
        let mut request = signed_request(style, b"{}", Some("RoomId=1"));
        let names = read_headers(style);
        let name = names[pick.index(names.len())];
        let again = match other {
            Some(value) => HeaderValue::from_bytes(&value).unwrap(),
            None => request.headers[name].clone(),
        };
        request.headers.append(name, again);
        let outcome = request.parse().map(|_| ()).map_err(|e| e.code);
        prop_assert_eq!(outcome, Err(codes::INVALID_PARAMETER.into()), "{} twice", name);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A timestamp (TC3 header, v1 parameter) is accepted exactly when it is ASCII digits that
    /// fit an i64, and then verified without a panic whatever its size and the server's time:
    /// at its own time the signature (made for another) fails, at any other the skew may.
    #[test]
    fn any_timestamp_is_parsed_exactly_and_verified_without_panic(
        style in style(),
        text in prop_oneof![
            "[0-9]{1,20}",
            prop::sample::select(vec![
                "9223372036854775807", "9223372036854775808", "253402300800", "8210266876800",
                "0", "-1", "+1", " 1", "1.5", "1e9", "",
            ]).prop_map(str::to_owned),
        ],
        now in now(),
    ) {
        let mut request = signed_request(style, b"{}", Some("RoomId=1"));
        // Header values are read without the whitespace around them, as HTTP says.
        let digits = match style {
            Style::Tc3Post | Style::Tc3Sdk | Style::Tc3Get => {
                set_header_lossy(&mut request, "x-tc-timestamp", &text);
                text.trim()
            }
            Style::V1Get(_) | Style::V1Post(_) => {
                set_v1_param(&mut request, "Timestamp", &text);
                text.as_str()
            }
        };
        let valid = is_digits(digits) && digits.parse::<i64>().is_ok();
        match request.parse() {
            Ok(parsed) => {
                prop_assert!(valid, "{:?} accepted", text);
                let at_own_time = parsed
                    .verify(SECRET_KEY, parsed.timestamp)
                    .map(|_| ())
                    .map_err(|e| e.code);
                if parsed.timestamp != TS {
                    prop_assert_eq!(at_own_time, Err(SIGNATURE_FAILURE.into()));
                }
                if let Err(err) = parsed.verify(SECRET_KEY, now) {
                    check_error("verify", &err, VERIFY_CODES)?;
                }
            }
            Err(err) => {
                prop_assert!(!valid, "{:?} refused: {}", text, err);
                prop_assert_eq!(err.code.as_ref(), codes::INVALID_PARAMETER, "{}", err.message);
            }
        }
    }
}

// ---- what a verified body or query becomes ---------------------------------------------------

/// Nesting depth of a JSON value (a scalar is 0, `{}` is 1), as the limit counts it.
fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A signed body becomes the parameters exactly when it is empty or a JSON object within
    /// the depth limit; otherwise `InvalidParameter`.
    #[test]
    fn a_verified_json_body_is_accepted_exactly_when_it_is_an_object(body in body()) {
        let request = tc3_post(HOST, "GetRoomEvent", &body, TS);
        let parsed = request.parse().expect("a signed POST parses, whatever its body");
        let verified = parsed.verify(SECRET_KEY, TS).expect("and verifies");
        let expected = if body.is_empty() {
            Some(Map::new())
        } else {
            match serde_json::from_slice::<Value>(&body) {
                Ok(Value::Object(map)) if depth(&Value::Object(map.clone())) <= MAX_JSON_DEPTH => {
                    Some(map)
                }
                _ => None,
            }
        };
        match (verified.params(), expected) {
            (Ok(params), Some(map)) => prop_assert_eq!(params, ParamSource::Json(map)),
            (Err(err), None) => prop_assert_eq!(err.code.as_ref(), codes::INVALID_PARAMETER),
            (got, expected) => prop_assert!(false, "body {:?}: got {:?}, expected {:?}",
                String::from_utf8_lossy(&body), got, expected),
        }
    }

    /// A signed GET query becomes exactly its form decoding; one that does not decode (invalid
    /// UTF-8 once unescaped) is `InvalidParameter`.
    #[test]
    fn a_verified_query_is_its_form_decoding(query in query()) {
        let query = query.unwrap_or_default();
        prop_assume!(query.len() <= MAX_GET_QUERY_BYTES);
        let request = tc3_get(HOST, "GetRoomEvent", &query, TS);
        let parsed = request.parse().expect("a signed GET parses, whatever its query");
        let verified = parsed.verify(SECRET_KEY, TS).expect("and verifies");
        match (verified.params(), form::decode(&query)) {
            (Ok(params), Ok(pairs)) => prop_assert_eq!(params, ParamSource::Form(pairs)),
            (Err(err), Err(expected)) => prop_assert_eq!(err.code, expected.code),
            (got, expected) => {
                prop_assert!(false, "query {:?}: got {:?}, expected {:?}", query, got, expected)
            }
        }
    }
}

// ---- (b) v1 signatures -----------------------------------------------------------------------

/// Any visible ASCII with inner spaces (the server trims the Host header).
fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(HOST.to_owned()),
        "[!-~]([ -~]{0,20}[!-~])?",
        (1u8..=254, any::<u16>()).prop_map(|(last, port)| format!("10.0.0.{last}:{port}")),
    ]
}

/// Action parameters of any name and value but the v1 common ones.
fn v1_params() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = prop_oneof![
        any::<String>(),
        "[A-Z][A-Za-z0-9.]{0,8}",
        Just(String::new())
    ];
    prop::collection::btree_map(name, tricky_value(), 0..6).prop_map(|params| {
        params
            .into_iter()
            .filter(|(name, _)| !V1_NAMES.contains(&name.as_str()))
            .collect()
    })
}

#[derive(Debug, Clone)]
enum V1Tamper {
    /// One action parameter's value gets one more character.
    Value(Index),
    /// One action parameter is renamed.
    Name(Index),
    /// One more action parameter.
    Added,
    /// One action parameter left out.
    Removed(Index),
    /// A common parameter changed (or, for Region, added).
    Common(&'static str),
    /// The timestamp moved, within the allowed skew.
    Timestamp(i64),
    /// One bit of the decoded signature flipped.
    SignatureBit(Index, u8),
    /// Another Host header.
    Host,
    /// The other HTTP method, parameters moved along.
    Method,
    /// Verified with another key.
    Key,
}

fn v1_tamper() -> impl Strategy<Value = V1Tamper> {
    prop_oneof![
        any::<Index>().prop_map(V1Tamper::Value),
        any::<Index>().prop_map(V1Tamper::Name),
        Just(V1Tamper::Added),
        any::<Index>().prop_map(V1Tamper::Removed),
        prop::sample::select(vec![
            "Action",
            "Version",
            "Nonce",
            "SecretId",
            "SignatureMethod",
            "Region"
        ])
        .prop_map(V1Tamper::Common),
        prop_oneof![-300i64..0, 1i64..=300].prop_map(V1Tamper::Timestamp),
        (any::<Index>(), 0u8..8).prop_map(|(at, bit)| V1Tamper::SignatureBit(at, bit)),
        Just(V1Tamper::Host),
        Just(V1Tamper::Method),
        Just(V1Tamper::Key),
    ]
}

/// The encoded parameters of a v1 request (query or body).
fn v1_encoded(request: &OwnedRequest) -> String {
    match &request.query {
        Some(query) => query.clone(),
        None => String::from_utf8(request.body.clone()).unwrap(),
    }
}

fn set_v1_encoded(request: &mut OwnedRequest, pairs: &[(String, String)]) {
    let encoded = form::encode(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    if request.query.is_some() {
        request.query = Some(encoded);
    } else {
        request.body = encoded.into_bytes();
    }
}

/// Applies a tamper; `None` when it does not apply to these parameters. Returns the key to
/// verify with.
fn tamper_v1(
    request: &mut OwnedRequest,
    tamper: &V1Tamper,
    action_params: usize,
) -> Option<String> {
    let mut pairs = form::decode(&v1_encoded(request)).unwrap();
    let mut key = SECRET_KEY.to_owned();
    // Action parameters come first in what V1Signer sends.
    let action_index = |at: &Index| (action_params > 0).then(|| at.index(action_params));
    match tamper {
        V1Tamper::Value(at) => pairs[action_index(at)?].1.push('x'),
        V1Tamper::Name(at) => {
            let i = action_index(at)?;
            let renamed = format!("{}Z9", pairs[i].0);
            if pairs.iter().any(|(n, _)| *n == renamed) {
                return None;
            }
            pairs[i].0 = renamed;
        }
        V1Tamper::Added => {
            if pairs.iter().any(|(n, _)| n == "Extra") {
                return None;
            }
            pairs.insert(0, ("Extra".to_owned(), "1".to_owned()));
        }
        V1Tamper::Removed(at) => {
            pairs.remove(action_index(at)?);
        }
        V1Tamper::Common(name) => {
            let replacement = match *name {
                "Action" => "DeleteRoom",
                "Version" => "2017-03-12",
                "Nonce" => "43",
                "SecretId" => "AKIDsomebodyElse",
                "Region" => "ap-guangzhou",
                _ => "",
            };
            match pairs.iter_mut().find(|(n, _)| n == name) {
                Some((_, value)) if value == replacement => return None,
                Some((_, value)) if *name == "SignatureMethod" => {
                    *value = if value == "HmacSHA1" {
                        "HmacSHA256"
                    } else {
                        "HmacSHA1"
                    }
                    .to_owned()
                }
                Some((_, value)) => *value = replacement.to_owned(),
                None => pairs.push(((*name).to_owned(), replacement.to_owned())),
            }
        }
        V1Tamper::Timestamp(delta) => {
            let (_, value) = pairs.iter_mut().find(|(n, _)| n == "Timestamp").unwrap();
            let moved = value
                .parse::<i64>()
                .unwrap()
                .checked_add(*delta)
                .filter(|t| *t >= 0)?;
            *value = moved.to_string();
        }
        V1Tamper::SignatureBit(at, bit) => {
            let engine = base64::engine::general_purpose::STANDARD;
            let (_, value) = pairs.iter_mut().find(|(n, _)| n == "Signature").unwrap();
            let mut signature = engine.decode(value.as_bytes()).unwrap();
            let i = at.index(signature.len());
            signature[i] ^= 1 << bit;
            *value = engine.encode(signature);
        }
        V1Tamper::Host => {
            let host = request.headers["host"].to_str().unwrap().to_owned();
            request.set_header("Host", &format!("x{host}"));
        }
        V1Tamper::Method => {
            let encoded = v1_encoded(request);
            if request.method == Method::GET {
                request.method = Method::POST;
                request.query = None;
                request.body = encoded.into_bytes();
            } else {
                request.method = Method::GET;
                request.query = Some(encoded);
                request.body.clear();
            }
            return Some(key);
        }
        V1Tamper::Key => key.push('x'),
    }
    set_v1_encoded(request, &pairs);
    Some(key)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn v1_signatures_round_trip_and_any_tampering_fails(
        params in v1_params(),
        sha256 in any::<bool>(),
        get in any::<bool>(),
        host in host(),
        timestamp in prop_oneof![Just(TS), 0..=i64::MAX],
        nonce in 1..=u64::MAX,
        skew in skew(),
        tamper in v1_tamper(),
    ) {
        let now = timestamp.checked_add(skew);
        prop_assume!(now.is_some());
        let now = now.unwrap();
        let alg = if sha256 { SignatureMethod::HmacSha256 } else { SignatureMethod::HmacSha1 };
        let call = V1Call { alg, get, host: &host, params: &params, timestamp, nonce };
        let request = v1_request(&call);
        let checked = request.check(SECRET_KEY, now).unwrap();
        prop_assert_eq!(&checked.params, &ParamSource::Form(params.clone()));
        prop_assert_eq!(checked.method, alg);
        prop_assert_eq!(checked.timestamp, timestamp);
        prop_assert_eq!(checked.nonce, Some(nonce));
        prop_assert_eq!(&checked.secret_id, SECRET_ID);
        prop_assert_eq!(&checked.action, "GetRoomEvent");

        // Too far from server time, either way: expired, whatever the signature.
        let beyond = MAX_CLOCK_SKEW_SECS as i64 + 1;
        let parsed = request.parse().unwrap();
        let near = [timestamp.checked_add(beyond), timestamp.checked_sub(beyond)];
        for late in near.into_iter().flatten().chain(far_from(timestamp)) {
            let outcome = parsed.verify(SECRET_KEY, late).map(|_| ()).map_err(|e| e.code);
            prop_assert_eq!(outcome, Err(codes::SIGNATURE_EXPIRE.into()));
        }

        let mut tampered = request.clone();
        let key = tamper_v1(&mut tampered, &tamper, params.len());
        prop_assume!(key.is_some());
        let key = key.unwrap();
        // A moved timestamp is checked at its own time: the skew check is not what refuses it.
        let now = match tamper {
            V1Tamper::Timestamp(delta) => timestamp + delta,
            _ => now,
        };
        let parsed = tampered.parse().unwrap_or_else(|e| panic!("{tamper:?} keeps the shape: {e}"));
        let outcome = parsed.verify(&key, now).map(|_| ()).map_err(|e| e.code);
        prop_assert_eq!(outcome, Err(SIGNATURE_FAILURE.into()), "{:?}", tamper);
    }
}

// ---- (c) TC3 signatures ----------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Tc3Tamper {
    /// POST: one body byte changed; GET: one query byte replaced.
    Payload(Index, u8),
    /// X-TC-Timestamp moved within the allowed skew.
    Timestamp(i64),
    /// A signed header given another value that no accepted spelling maps back.
    Header(&'static str),
    /// `X-TC-Content-SHA256: UNSIGNED-PAYLOAD` added.
    UnsignedPayload,
    /// One hex digit of the signature changed.
    SignatureDigit(Index, u8),
    /// The credential scope's date or service changed.
    Scope(&'static str),
    /// Verified with another key.
    Key,
    /// The other HTTP method.
    Method,
}

fn tc3_tamper() -> impl Strategy<Value = Tc3Tamper> {
    prop_oneof![
        (any::<Index>(), 1u8..=255).prop_map(|(at, with)| Tc3Tamper::Payload(at, with)),
        prop_oneof![-300i64..0, 1i64..=300].prop_map(Tc3Tamper::Timestamp),
        prop::sample::select(vec!["X-TC-Action", "Host", "Content-Type", "X-TC-TraceId"])
            .prop_map(Tc3Tamper::Header),
        Just(Tc3Tamper::UnsignedPayload),
        (
            any::<Index>(),
            prop::sample::select(b"0123456789abcdef".to_vec())
        )
            .prop_map(|(at, digit)| Tc3Tamper::SignatureDigit(at, digit)),
        prop::sample::select(vec!["date", "service"]).prop_map(Tc3Tamper::Scope),
        Just(Tc3Tamper::Key),
        Just(Tc3Tamper::Method),
    ]
}

/// Applies a tamper; `None` when it changes nothing here. Returns the key to verify with.
fn tamper_tc3(request: &mut OwnedRequest, tamper: &Tc3Tamper) -> Option<String> {
    let header =
        |request: &OwnedRequest, name: &str| request.headers[name].to_str().unwrap().to_owned();
    let mut key = SECRET_KEY.to_owned();
    match tamper {
        Tc3Tamper::Payload(at, with) => {
            if request.method == Method::POST {
                if request.body.is_empty() {
                    return None;
                }
                let i = at.index(request.body.len());
                request.body[i] ^= with;
            } else {
                let mut query = request.query.clone().unwrap_or_default().into_bytes();
                if query.is_empty() {
                    return None;
                }
                let i = at.index(query.len());
                // Printable ASCII keeps the query a valid &str.
                let replacement = 0x21 + with % 0x5e;
                if query[i] == replacement {
                    return None;
                }
                query[i] = replacement;
                request.query = Some(String::from_utf8(query).ok()?);
            }
        }
        Tc3Tamper::Timestamp(delta) => {
            let moved = header(request, "x-tc-timestamp").parse::<i64>().unwrap() + delta;
            if moved < 0 {
                return None;
            }
            request.set_header("X-TC-Timestamp", &moved.to_string());
        }
        Tc3Tamper::Header(name) => {
            let value = header(request, name);
            let changed = match *name {
                "Content-Type" if value == "application/json" => {
                    "application/json; charset=utf-8".to_owned()
                }
                "Content-Type" => "application/x-www-form-urlencoded; charset=utf-8".to_owned(),
                // A new first character: no case folding or port removal maps it back.
                _ => format!("x{value}"),
            };
            request.set_header(name, &changed);
        }
        Tc3Tamper::UnsignedPayload => {
            if request.method == Method::POST && request.body == b"UNSIGNED-PAYLOAD" {
                return None;
            }
            request.set_header("X-TC-Content-SHA256", "UNSIGNED-PAYLOAD");
        }
        Tc3Tamper::SignatureDigit(at, digit) => {
            let auth = header(request, "authorization");
            let start = auth.len() - 64;
            let i = start + at.index(64);
            if auth.as_bytes()[i] == *digit {
                return None;
            }
            let mut bytes = auth.into_bytes();
            bytes[i] = *digit;
            request.set_header("Authorization", std::str::from_utf8(&bytes).unwrap());
        }
        Tc3Tamper::Scope(part) => {
            let auth = header(request, "authorization");
            let changed = if *part == "date" {
                let timestamp: i64 = header(request, "x-tc-timestamp").parse().unwrap();
                let date = roomlog_protocol::sign::tc3_date(timestamp).unwrap();
                let other = roomlog_protocol::sign::tc3_date(timestamp + 86_400)
                    .filter(|other| other.len() == date.len())
                    .or_else(|| roomlog_protocol::sign::tc3_date(timestamp - 86_400))
                    .unwrap();
                auth.replacen(&format!("/{date}/"), &format!("/{other}/"), 1)
            } else {
                auth.replacen("/lcic/", "/lcicx/", 1)
            };
            request.set_header("Authorization", &changed);
        }
        Tc3Tamper::Key => key.push('x'),
        Tc3Tamper::Method => {
            if request.method == Method::POST {
                request.method = Method::GET;
                request.body.clear();
                request.query = Some(String::new());
            } else {
                request.method = Method::POST;
            }
        }
    }
    Some(key)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn tc3_signatures_round_trip_and_any_tampering_fails(
        post in any::<bool>(),
        body in body(),
        query in prop_oneof![query().prop_map(Option::unwrap_or_default), any::<String>()],
        host in host(),
        action in "[A-Z][A-Za-z]{2,20}",
        // Up to 9999-12-31: the credential date has four-digit years.
        timestamp in prop_oneof![Just(TS), 0i64..=253_402_300_799],
        skew in skew(),
        tamper in tc3_tamper(),
    ) {
        prop_assume!(query.len() <= MAX_GET_QUERY_BYTES);
        let now = timestamp + skew;
        let request = if post {
            tc3_post(&host, &action, &body, timestamp)
        } else {
            tc3_get(&host, &action, &query, timestamp)
        };
        let parsed = request.parse().expect("a signed request parses");
        prop_assert_eq!(&parsed.action, &action);
        prop_assert_eq!(&parsed.version, VERSION);
        prop_assert_eq!(&parsed.secret_id, SECRET_ID);
        prop_assert_eq!(parsed.timestamp, timestamp);
        prop_assert_eq!(parsed.method, SignatureMethod::Tc3HmacSha256);
        prop_assert!(parsed.verify(SECRET_KEY, now).is_ok(), "a signed request verifies");
        let beyond = MAX_CLOCK_SKEW_SECS as i64 + 1;
        let near = [timestamp + beyond, timestamp - beyond];
        for late in near.into_iter().chain(far_from(timestamp)) {
            let outcome = parsed.verify(SECRET_KEY, late).map(|_| ()).map_err(|e| e.code);
            prop_assert_eq!(outcome, Err(codes::SIGNATURE_EXPIRE.into()));
        }

        let mut tampered = request.clone();
        let key = tamper_tc3(&mut tampered, &tamper);
        prop_assume!(key.is_some());
        let key = key.unwrap();
        let now = match tamper {
            Tc3Tamper::Timestamp(delta) => timestamp + delta,
            _ => now,
        };
        match tampered.parse() {
            Ok(parsed) => {
                let outcome = parsed.verify(&key, now).map(|_| ()).map_err(|e| e.code);
                prop_assert_eq!(outcome, Err(SIGNATURE_FAILURE.into()), "{:?}", tamper);
            }
            // A GET turned POST has the wrong Content-Type: refused before the signature.
            Err(err) if matches!(tamper, Tc3Tamper::Method) => {
                check_error("parse_request", &err, PARSE_CODES)?;
            }
            Err(err) => prop_assert!(false, "{:?} keeps the shape, yet: {}", tamper, err),
        }
    }
}

// ---- (d) parameter schemas -------------------------------------------------------------------

/// Field names of the generated schemas (flattened names join them with `.`, so none has one).
const FIELD_NAMES: &[&str] = &["A", "Bb", "C_1", "Dd", "E"];
/// A name no generated schema defines.
const UNKNOWN_NAME: &str = "Zz";

fn field_type() -> BoxedStrategy<FieldType> {
    prop_oneof![
        Just(FieldType::U64),
        Just(FieldType::I64),
        Just(FieldType::String)
    ]
    .prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(FieldType::array),
            schema_of(inner).prop_map(FieldType::Object),
        ]
    })
    .boxed()
}

fn schema_of(ty: BoxedStrategy<FieldType>) -> BoxedStrategy<Schema> {
    (
        prop::sample::subsequence(FIELD_NAMES, 1..=4),
        prop::collection::vec((ty, any::<bool>()), 4),
    )
        .prop_map(|(names, types)| {
            names
                .into_iter()
                .zip(types)
                .fold(Schema::new(), |schema, (name, (ty, required))| {
                    if required {
                        schema.required(name, ty)
                    } else {
                        schema.optional(name, ty)
                    }
                })
        })
        .boxed()
}

fn schema() -> BoxedStrategy<Schema> {
    schema_of(field_type())
}

/// Any JSON value: numbers of every kind (integers past u64 and i64, floats, `-0`, exponents),
/// strings of digits, nesting, names of the schemas and one they do not define.
fn any_json() -> BoxedStrategy<Value> {
    let number_text = prop::sample::select(vec![
        "18446744073709551616",
        "-9223372036854775809",
        "1.0",
        "1e3",
        "-0",
        "0.5",
        "1e300",
    ])
    .prop_map(|text| serde_json::from_str::<Value>(text).unwrap());
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        number_text,
        prop_oneof!["[0-9]{1,3}", any::<String>()].prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        let name = prop::sample::select([FIELD_NAMES, &[UNKNOWN_NAME]].concat());
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((name, inner), 0..4).prop_map(|members| {
                Value::Object(
                    members
                        .into_iter()
                        .map(|(n, v)| (n.to_owned(), v))
                        .collect(),
                )
            }),
        ]
    })
    .boxed()
}

/// A well-typed value of `ty`. Arrays have elements and objects members, so the flattened form
/// can carry them (it cannot say `[]` or `{}`).
fn typed_value(ty: &FieldType) -> BoxedStrategy<Value> {
    match ty {
        FieldType::U64 => any::<u64>().prop_map(Value::from).boxed(),
        FieldType::I64 => any::<i64>().prop_map(Value::from).boxed(),
        FieldType::String => prop_oneof![any::<String>(), "[0-9. &=+%-]{0,6}"]
            .prop_map(Value::from)
            .boxed(),
        FieldType::Array(element) => prop::collection::vec(typed_value(element), 1..4)
            .prop_map(Value::Array)
            .boxed(),
        FieldType::Object(schema) => typed_object(schema).prop_map(Value::Object).boxed(),
    }
}

/// A schema, and a well-typed object of it.
fn schema_and_object() -> impl Strategy<Value = (Schema, Map<String, Value>)> {
    schema().prop_flat_map(|schema| (Just(schema.clone()), typed_object(&schema)))
}

fn typed_object(schema: &Schema) -> BoxedStrategy<Map<String, Value>> {
    let members: Vec<BoxedStrategy<Option<(String, Value)>>> = schema
        .fields
        .iter()
        .enumerate()
        .map(|(i, field)| {
            let name = field.name.to_owned();
            let value = typed_value(&field.ty).prop_map(move |v| Some((name.clone(), v)));
            // The first field is always there: no object comes out empty.
            if field.required || i == 0 {
                value.boxed()
            } else {
                prop_oneof![Just(None), value].boxed()
            }
        })
        .collect();
    members
        .prop_map(|members| members.into_iter().flatten().collect())
        .boxed()
}

/// Mostly well-typed, sometimes anything, members sometimes dropped, null, or unknown: input
/// close enough to the schema to get deep into it.
fn near_value(ty: &FieldType) -> BoxedStrategy<Value> {
    let near = match ty {
        FieldType::Array(element) => prop::collection::vec(near_value(element), 0..4)
            .prop_map(Value::Array)
            .boxed(),
        FieldType::Object(schema) => near_object(schema).prop_map(Value::Object).boxed(),
        _ => typed_value(ty),
    };
    prop_oneof![4 => near, 1 => mistyped(ty), 1 => any_json()].boxed()
}

/// Values a careless or hostile client sends for `ty`: the right thing in the wrong type, or a
/// number just out of range.
fn mistyped(ty: &FieldType) -> BoxedStrategy<Value> {
    let number = |text: &str| serde_json::from_str::<Value>(text).unwrap();
    let numbers = vec![
        number("18446744073709551616"),
        number("9223372036854775808"),
        number("-9223372036854775809"),
        number("-1"),
        number("1.0"),
        number("1e3"),
        number("-0"),
    ];
    match ty {
        FieldType::U64 | FieldType::I64 => prop_oneof![
            "-?[0-9]{1,20}".prop_map(Value::from),
            prop::sample::select(numbers),
            any::<bool>().prop_map(Value::from),
        ]
        .boxed(),
        FieldType::String => prop_oneof![
            any::<i64>().prop_map(Value::from),
            Just(Value::Array(vec![Value::from("x")])),
        ]
        .boxed(),
        FieldType::Array(element) => typed_value(element),
        FieldType::Object(_) => prop_oneof![
            Just(Value::from("{}")),
            Just(Value::Array(vec![Value::Object(Map::new())])),
        ]
        .boxed(),
    }
}

fn near_object(schema: &Schema) -> BoxedStrategy<Map<String, Value>> {
    let members: Vec<BoxedStrategy<Option<(String, Value)>>> = schema
        .fields
        .iter()
        .map(|field| {
            let name = field.name.to_owned();
            let null_name = name.clone();
            prop_oneof![
                6 => near_value(&field.ty).prop_map(move |v| Some((name.clone(), v))),
                1 => Just(None),
                1 => Just(Some((null_name, Value::Null))),
            ]
            .boxed()
        })
        .collect();
    (members, prop::option::weighted(0.03, any_json()))
        .prop_map(|(members, unknown)| {
            let mut map: Map<String, Value> = members.into_iter().flatten().collect();
            if let Some(value) = unknown {
                map.insert(UNKNOWN_NAME.to_owned(), value);
            }
            map
        })
        .boxed()
}

// The reference: the documented rules of `ParamSource::decode`, written from its
// documentation, reporting (code, flattened path) of the first problem.

type Expected = Result<Value, (&'static str, String)>;

fn child(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

/// A JSON integer, judged on its text: `0` or digits without a leading zero, optionally
/// negative, nothing else (`1.0`, `1e3`, `-0.0` are not integers), within `[min, max]`.
fn json_integer(value: &Value, min: i128, max: i128) -> Option<Value> {
    let text = value.as_number()?.to_string();
    let digits = text.strip_prefix('-').unwrap_or(&text);
    let canonical = digits == "0" || (!digits.starts_with('0') && !digits.is_empty());
    if !canonical || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i128 = text.parse().ok()?;
    (min..=max).contains(&n).then(|| value.clone())
}

fn expected_value(ty: &FieldType, value: &Value, path: &str) -> Expected {
    let invalid = || Err((codes::INVALID_PARAMETER, path.to_owned()));
    match (ty, value) {
        (FieldType::U64, _) => json_integer(value, 0, u64::MAX as i128).map_or_else(invalid, Ok),
        (FieldType::I64, _) => {
            json_integer(value, i64::MIN as i128, i64::MAX as i128).map_or_else(invalid, Ok)
        }
        (FieldType::String, Value::String(_)) => Ok(value.clone()),
        (FieldType::Array(element), Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| expected_value(element, item, &child(path, &i.to_string())))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        (FieldType::Object(schema), Value::Object(map)) => {
            expected_object(schema, map, path).map(Value::Object)
        }
        _ => invalid(),
    }
}

/// Unknown names first; then the fields in schema order: absent or null is missing when
/// required and left out otherwise.
fn expected_object(
    schema: &Schema,
    map: &Map<String, Value>,
    path: &str,
) -> Result<Map<String, Value>, (&'static str, String)> {
    if let Some(unknown) = map.keys().find(|name| schema.field(name).is_none()) {
        return Err((codes::UNKNOWN_PARAMETER, child(path, unknown)));
    }
    let mut out = Map::new();
    for field in &schema.fields {
        let field_path = child(path, field.name);
        match map.get(field.name) {
            None | Some(Value::Null) if field.required => {
                return Err((codes::MISSING_PARAMETER, field_path))
            }
            None | Some(Value::Null) => {}
            Some(value) => {
                out.insert(
                    field.name.to_owned(),
                    expected_value(&field.ty, value, &field_path)?,
                );
            }
        }
    }
    Ok(out)
}

/// Arbitrary flattened pairs: names of schema segments, indices canonical or not, an unknown
/// name; values numeric, overflowing, empty or anything.
fn form_pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    let segment = prop::sample::select(
        [
            FIELD_NAMES,
            &[UNKNOWN_NAME, "0", "0", "1", "2", "01", "", "-1", "+0"],
        ]
        .concat(),
    );
    let name = prop::collection::vec(segment, 1..5).prop_map(|segments| segments.join("."));
    let value = prop_oneof![
        "[0-9]{1,20}",
        "-[0-9]{1,19}",
        prop::sample::select(vec!["", "18446744073709551616", "-0", "+1", "1.0", "x"])
            .prop_map(str::to_owned),
        any::<String>(),
    ];
    prop::collection::vec((name, value), 0..10)
}

fn is_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// The scalar type a flattened name reaches in `schema`: member names for objects, canonical
/// indices (`0`, `12`, not `01`) for arrays.
fn leaf_type<'s>(schema: &'s Schema, name: &str) -> Option<&'s FieldType> {
    let mut segments = name.split('.');
    let mut ty = &schema.field(segments.next()?)?.ty;
    for segment in segments {
        ty = match ty {
            FieldType::Object(inner) => &inner.field(segment)?.ty,
            FieldType::Array(element)
                if segment == "0" || (is_digits(segment) && !segment.starts_with('0')) =>
            {
                element
            }
            _ => return None,
        };
    }
    matches!(ty, FieldType::U64 | FieldType::I64 | FieldType::String).then_some(ty)
}

/// The value a flattened name points at in a decoded object.
fn value_at<'v>(object: &'v Map<String, Value>, name: &str) -> Option<&'v Value> {
    let mut segments = name.split('.');
    let mut value = object.get(segments.next()?)?;
    for segment in segments {
        value = match value {
            Value::Object(map) => map.get(segment)?,
            Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(value)
}

fn value_at_mut<'v>(value: &'v mut Value, name: &str) -> Option<&'v mut Value> {
    name.split('.')
        .try_fold(value, |value, segment| match value {
            Value::Object(map) => map.get_mut(segment),
            Value::Array(items) => items.get_mut(segment.parse::<usize>().ok()?),
            _ => None,
        })
}

#[derive(Debug, Clone)]
enum FormEdit {
    Drop(Index),
    Repeat(Index),
    Value(Index, String),
    /// One segment of one name replaced.
    Segment(Index, Index, &'static str),
    /// The array indices of one name given a leading zero (`Events.01.Seq`).
    PaddedIndex(Index),
    /// One value respelled: `+1`, ` 1`, `1 `, `1.0`, `0x1`, `1e0`.
    Respelled(Index, &'static str, &'static str),
}

/// The flattened pairs of a well-typed object, then a few edits: pairs left out or repeated,
/// values replaced, names given an unknown, non-canonical or out-of-range segment.
fn near_form(schema: &Schema) -> BoxedStrategy<Vec<(String, String)>> {
    let edit = prop_oneof![
        1 => any::<Index>().prop_map(FormEdit::Drop),
        1 => any::<Index>().prop_map(FormEdit::Repeat),
        1 => (any::<Index>(), tricky_value()).prop_map(|(at, v)| FormEdit::Value(at, v)),
        1 => (
            any::<Index>(),
            any::<Index>(),
            prop::sample::select(vec![UNKNOWN_NAME, "01", "", "-1", "+0", "5", "0", "1"])
        )
            .prop_map(|(at, segment, with)| FormEdit::Segment(at, segment, with)),
        1 => any::<Index>().prop_map(FormEdit::PaddedIndex),
        4 => (
            any::<Index>(),
            prop::sample::select(vec![
                ("+", ""),
                (" ", ""),
                ("", " "),
                ("", ".0"),
                ("0x", ""),
                ("", "e0"),
                ("--", "")
            ])
        )
            .prop_map(|(at, (before, after))| FormEdit::Respelled(at, before, after)),
    ];
    (typed_object(schema), prop::collection::vec(edit, 0..3))
        .prop_map(|(object, edits)| {
            let mut pairs = flatten_params(&Value::Object(object));
            for edit in edits {
                if pairs.is_empty() {
                    break;
                }
                match edit {
                    FormEdit::Drop(at) => {
                        pairs.remove(at.index(pairs.len()));
                    }
                    FormEdit::Repeat(at) => {
                        let pair = pairs[at.index(pairs.len())].clone();
                        pairs.push(pair);
                    }
                    FormEdit::Value(at, value) => {
                        let i = at.index(pairs.len());
                        pairs[i].1 = value;
                    }
                    FormEdit::PaddedIndex(at) => {
                        let i = at.index(pairs.len());
                        let name: Vec<String> = pairs[i]
                            .0
                            .split('.')
                            .map(|s| {
                                if is_digits(s) {
                                    format!("0{s}")
                                } else {
                                    s.to_owned()
                                }
                            })
                            .collect();
                        pairs[i].0 = name.join(".");
                    }
                    FormEdit::Respelled(at, before, after) => {
                        let i = at.index(pairs.len());
                        pairs[i].1 = format!("{before}{}{after}", pairs[i].1);
                    }
                    FormEdit::Segment(at, segment, with) => {
                        let i = at.index(pairs.len());
                        let mut segments: Vec<&str> = pairs[i].0.split('.').collect();
                        let k = segment.index(segments.len());
                        segments[k] = with;
                        pairs[i].0 = segments.join(".");
                    }
                }
            }
            pairs
        })
        .boxed()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// JSON: accepted exactly when well-typed, normalised to schema order without nulls; the
    /// first problem named by its code and full path.
    #[test]
    fn json_params_are_accepted_exactly_when_well_typed(
        (schema, input) in schema().prop_flat_map(|schema| {
            let input = prop_oneof![
                4 => near_object(&schema),
                1 => any_json().prop_map(|v| match v {
                    Value::Object(map) => map,
                    other => Map::from_iter([("A".to_owned(), other)]),
                }),
            ];
            (Just(schema), input)
        }),
    ) {
        let decoded = ParamSource::Json(input.clone()).decode(&schema);
        match (decoded, expected_object(&schema, &input, "")) {
            (Ok(got), Ok(expected)) => {
                prop_assert_eq!(&got, &expected);
                // Decoding its own output changes nothing.
                prop_assert_eq!(ParamSource::Json(got.clone()).decode(&schema).unwrap(), got);
            }
            (Err(err), Err((code, path))) => {
                prop_assert_eq!(err.code.as_ref(), code, "{}", err.message);
                prop_assert!(err.message.contains(&format!("`{path}`")),
                    "{:?} should name `{}`", err.message, path);
            }
            (got, expected) => prop_assert!(false, "input {}: got {:?}, expected {:?}",
                Value::Object(input.clone()), got, expected),
        }
    }

    /// A well-typed object, its flattened pairs and those pairs through the wire encoding all
    /// decode to the object itself.
    #[test]
    fn json_and_flattened_form_decode_alike_for_any_schema(
        (schema, object) in schema_and_object(),
    ) {
        let from_json = ParamSource::Json(object.clone()).decode(&schema).unwrap();
        prop_assert_eq!(&from_json, &object);
        let flat = flatten_params(&Value::Object(object.clone()));
        let from_pairs = ParamSource::Form(flat.clone()).decode(&schema).unwrap();
        prop_assert_eq!(&from_pairs, &object);
        let wire = form::encode(flat.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        let from_wire = ParamSource::Form(form::decode(&wire).unwrap()).decode(&schema).unwrap();
        prop_assert_eq!(&from_wire, &object);
    }

    /// In JSON, a leaf of another type (the number as a string, a float, an out-of-range
    /// integer, a boolean; a number for a string) is refused, naming its path.
    #[test]
    fn a_json_leaf_of_another_type_is_refused(
        (schema, object) in schema_and_object(),
        at in any::<Index>(),
        pick in any::<Index>(),
    ) {
        let names: Vec<String> = flatten_params(&Value::Object(object.clone()))
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        let name = &names[at.index(names.len())];
        let number = |text: &str| serde_json::from_str::<Value>(text).unwrap();
        let wrong = match leaf_type(&schema, name).unwrap() {
            FieldType::U64 => vec![Value::from("12"), number("-1"), number("1.0"), number("1e3"),
                number("18446744073709551616"), Value::from(true)],
            FieldType::I64 => vec![Value::from("-12"), number("1.0"), number("-1e3"),
                number("9223372036854775808"), number("-9223372036854775809"), Value::from(false)],
            _ => vec![number("12"), Value::from(true), Value::Array(vec![Value::from("x")])],
        };
        let mut input = Value::Object(object);
        *value_at_mut(&mut input, name).unwrap() = pick.get(&wrong).clone();
        let Value::Object(input) = input else { unreachable!() };
        let err = ParamSource::Json(input).decode(&schema).expect_err("a leaf of another type");
        prop_assert_eq!(err.code.as_ref(), codes::INVALID_PARAMETER);
        prop_assert!(err.message.contains(&format!("`{name}`")), "{}", err.message);
    }

    /// Form integers are ASCII digits (I64: after an optional `-`) and nothing else; a string
    /// takes any text.
    #[test]
    fn a_form_integer_spelled_otherwise_is_refused(
        (schema, object) in schema_and_object(),
        at in any::<Index>(),
        (before, after) in prop::sample::select(vec![
            ("+", ""), (" ", ""), ("", " "), ("", ".0"),
            ("0x", ""), ("", "e0"), ("--", ""), ("", "-"),
        ]),
    ) {
        let mut pairs = flatten_params(&Value::Object(object));
        let i = at.index(pairs.len());
        let name = pairs[i].0.clone();
        pairs[i].1 = format!("{before}{}{after}", pairs[i].1);
        let result = ParamSource::Form(pairs).decode(&schema);
        match leaf_type(&schema, &name) {
            Some(FieldType::String) => prop_assert!(result.is_ok(), "{:?}", result),
            _ => {
                let err = result.expect_err("an integer spelled otherwise");
                prop_assert_eq!(err.code.as_ref(), codes::INVALID_PARAMETER);
                prop_assert!(err.message.contains(&format!("`{name}`")), "{}", err.message);
            }
        }
    }

    /// Arbitrary flattened pairs: no panic, documented codes naming a path, and what is
    /// accepted is well-typed and comes back the same through JSON and flattening again.
    #[test]
    fn form_params_are_decoded_or_refused_with_a_path(
        (schema, pairs) in schema().prop_flat_map(|schema| {
            let pairs = prop_oneof![3 => near_form(&schema), 1 => form_pairs()];
            (Just(schema), pairs)
        }),
    ) {
        match ParamSource::Form(pairs.clone()).decode(&schema) {
            Ok(decoded) => {
                // Each accepted pair is a leaf of the schema, spelled as the rules say, and
                // its value is where its name says.
                for (name, raw) in &pairs {
                    let ty = leaf_type(&schema, name);
                    prop_assert!(ty.is_some(), "`{}` names no leaf of the schema", name);
                    let expected = match ty.unwrap() {
                        FieldType::U64 => {
                            prop_assert!(is_digits(raw), "U64 `{}` accepted as {:?}", name, raw);
                            Value::from(raw.parse::<u64>().unwrap())
                        }
                        FieldType::I64 => {
                            prop_assert!(is_digits(raw.strip_prefix('-').unwrap_or(raw)),
                                "I64 `{}` accepted as {:?}", name, raw);
                            Value::from(raw.parse::<i64>().unwrap())
                        }
                        _ => Value::from(raw.as_str()),
                    };
                    prop_assert_eq!(value_at(&decoded, name), Some(&expected), "{}", name);
                }
                prop_assert_eq!(expected_object(&schema, &decoded, ""), Ok(decoded.clone()));
                prop_assert_eq!(
                    ParamSource::Json(decoded.clone()).decode(&schema).unwrap(),
                    decoded.clone()
                );
                let again = flatten_params(&Value::Object(decoded.clone()));
                prop_assert_eq!(ParamSource::Form(again).decode(&schema).unwrap(), decoded);
            }
            Err(err) => {
                check_error("decode", &err, DECODE_CODES)?;
                prop_assert!(err.message.contains('`'), "{:?} names no parameter", err.message);
            }
        }
    }
}
