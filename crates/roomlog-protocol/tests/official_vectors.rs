//! The 14 requests recorded from the official clients (tencentcloud-sdk-python, tccli) must get
//! exactly the verdicts listed in the test-vector file.

mod common;

use base64::Engine as _;
use common::{outcome, OwnedRequest, SECRET_ID, SECRET_KEY};
use http::Method;
use roomlog_protocol::{FieldType, ParamSource, Schema, SignatureMethod};
use serde::Deserialize;

/// The vectors as the official clients sent them (see `tests/vectors/README.md`).
const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/vectors/official-client-requests.jsonl"
);

#[derive(Debug, Deserialize)]
struct Vector {
    label: String,
    expect: String,
    received_at_unix: i64,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body_b64: String,
}

struct Case {
    vector: Vector,
    request: OwnedRequest,
}

fn load() -> Vec<Case> {
    // Deliberately no skip: without the vectors this test must fail.
    let text = std::fs::read_to_string(VECTORS)
        .unwrap_or_else(|e| panic!("cannot read the official test vectors at {VECTORS}: {e}"));
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let vector: Vector = serde_json::from_str(line).expect("a test vector line is JSON");
            let (path, query) = match vector.path.split_once('?') {
                Some((path, query)) => (path, Some(query)),
                None => (vector.path.as_str(), None),
            };
            assert_eq!(path, "/", "{}", vector.label);
            let method = Method::from_bytes(vector.method.as_bytes()).unwrap();
            let body = base64::engine::general_purpose::STANDARD
                .decode(&vector.body_b64)
                .unwrap();
            let request = OwnedRequest::new(method, query, &vector.headers, &body);
            Case { vector, request }
        })
        .collect()
}

fn find<'a>(cases: &'a [Case], label: &str) -> &'a Case {
    cases
        .iter()
        .find(|c| c.vector.label == label)
        .unwrap_or_else(|| panic!("no vector labelled {label:?}"))
}

fn accepted(case: &Case) -> common::Checked<'_> {
    case.request
        .check(SECRET_KEY, case.vector.received_at_unix)
        .unwrap_or_else(|e| panic!("{}: {e}", case.vector.label))
}

fn get_room_event_schema() -> Schema {
    Schema::new()
        .required("RoomId", FieldType::U64)
        .required("SdkAppId", FieldType::U64)
        .required("Page", FieldType::U64)
        .required("Limit", FieldType::U64)
        .optional("Keyword", FieldType::String)
}

#[test]
fn every_vector_gets_its_expected_verdict() {
    let cases = load();
    assert_eq!(cases.len(), 14, "the vector file should hold 14 requests");
    let mut mismatches = Vec::new();
    for case in &cases {
        let got = outcome(&case.request.check(SECRET_KEY, case.vector.received_at_unix));
        if got != case.vector.expect {
            mismatches.push(format!(
                "{}: expected {}, got {got}",
                case.vector.label, case.vector.expect
            ));
        }
    }
    assert!(mismatches.is_empty(), "{mismatches:#?}");
    // Both kinds of rejection are represented, so the loop above can fail both ways.
    assert!(cases
        .iter()
        .any(|c| c.vector.expect == "AuthFailure.SignatureFailure"));
    assert!(cases
        .iter()
        .any(|c| c.vector.expect == "AuthFailure.SignatureExpire"));
}

#[test]
fn accepted_vectors_fail_with_another_key_or_clock() {
    for case in load().iter().filter(|c| c.vector.expect == "accept") {
        let parsed = case.request.parse().unwrap();
        assert_eq!(parsed.secret_id, SECRET_ID, "{}", case.vector.label);
        let wrong_key = parsed.verify(
            "harnessSecretKey0123456789abcdeF",
            case.vector.received_at_unix,
        );
        assert_eq!(
            outcome(&wrong_key),
            "AuthFailure.SignatureFailure",
            "{}",
            case.vector.label
        );
        let late = parsed.verify(SECRET_KEY, parsed.timestamp + 301);
        assert_eq!(
            outcome(&late),
            "AuthFailure.SignatureExpire",
            "{}",
            case.vector.label
        );
        let early = parsed.verify(SECRET_KEY, parsed.timestamp - 301);
        assert_eq!(
            outcome(&early),
            "AuthFailure.SignatureExpire",
            "{}",
            case.vector.label
        );
        assert!(parsed.verify(SECRET_KEY, parsed.timestamp + 300).is_ok());
        assert!(parsed.verify(SECRET_KEY, parsed.timestamp - 300).is_ok());
    }
}

#[test]
fn tc3_get_decodes_special_characters() {
    let cases = load();
    let parsed = accepted(find(&cases, "sdk TC3 GET keyword with specials"));
    assert_eq!(parsed.action, "GetRoomEvent");
    assert_eq!(parsed.version, "2022-08-17");
    assert_eq!(parsed.method, SignatureMethod::Tc3HmacSha256);
    assert_eq!(parsed.language.as_deref(), Some("zh-CN"));
    let params = parsed.params.decode(&get_room_event_schema()).unwrap();
    assert_eq!(
        serde_json::Value::Object(params),
        serde_json::json!({
            "RoomId": 301234567u64, "SdkAppId": 3923193u64, "Page": 1, "Limit": 10,
            "Keyword": "Member Join/中文~*"
        })
    );
}

#[test]
fn tc3_post_params_and_common_headers() {
    let cases = load();
    let parsed = accepted(find(&cases, "sdk TC3 POST region+keyword"));
    assert_eq!(parsed.region.as_deref(), Some("ap-guangzhou"));
    assert_eq!(parsed.token, None);
    assert_eq!(parsed.nonce, None);
    assert!(matches!(parsed.params, ParamSource::Json(_)));
    let params = parsed.params.decode(&get_room_event_schema()).unwrap();
    assert_eq!(params["RoomId"], 301234567u64);
    assert_eq!(params["Keyword"], "MemberJoin");

    let unsigned = accepted(find(&cases, "sdk TC3 POST unsigned-payload+token+en-US"));
    assert_eq!(unsigned.token.as_deref(), Some("tmpToken123"));
    assert_eq!(unsigned.language.as_deref(), Some("en-US"));

    let tccli = accepted(find(
        &cases,
        "tccli --endpoint http://host:port (pure tccli)",
    ));
    assert_eq!(tccli.action, "GetRoomEvent");
}

#[test]
fn v1_common_parameters_are_taken_out() {
    let cases = load();
    let parsed = accepted(find(&cases, "sdk HmacSHA1 POST empty keyword"));
    assert_eq!(parsed.method, SignatureMethod::HmacSha1);
    assert_eq!(parsed.action, "GetRoomEvent");
    assert_eq!(parsed.version, "2022-08-17");
    assert_eq!(parsed.secret_id, SECRET_ID);
    assert_eq!(parsed.timestamp, 1795640137);
    assert_eq!(parsed.nonce, Some(3875699313962805454));
    assert_eq!(parsed.language.as_deref(), Some("zh-CN"));
    assert_eq!(
        parsed.params,
        ParamSource::Form(common::pairs(&[
            ("RoomId", "301234567"),
            ("SdkAppId", "3923193"),
            ("Page", "1"),
            ("Limit", "10"),
            ("Keyword", ""),
        ]))
    );
    // Common parameters such as RequestClient must not surface as unknown parameters.
    let params = parsed.params.decode(&get_room_event_schema()).unwrap();
    assert_eq!(params["Keyword"], "");

    let get = accepted(find(&cases, "sdk HmacSHA256 GET region"));
    assert_eq!(get.method, SignatureMethod::HmacSha256);
    assert_eq!(get.region.as_deref(), Some("ap-guangzhou"));
    assert_eq!(
        get.params.decode(&get_room_event_schema()).unwrap()["SdkAppId"],
        3923193
    );
}
