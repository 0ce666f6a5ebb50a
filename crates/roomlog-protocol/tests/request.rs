//! Request-shape rules of `parse_request`, outside the happy paths covered elsewhere.

mod common;

use common::{outcome, pairs, OwnedRequest, HOST, SECRET_ID, SECRET_KEY, VERSION};
use http::Method;
use roomlog_protocol::{
    codes, ParamSource, Tc3Signer, MAX_GET_QUERY_BYTES, MAX_V1_POST_BODY_BYTES,
    MAX_V3_POST_BODY_BYTES,
};

const SIGNER: Tc3Signer<'static> = Tc3Signer {
    secret_id: SECRET_ID,
    secret_key: SECRET_KEY,
    service: "lcic",
};
const TS: i64 = 1795640136;

fn post(body: &[u8]) -> OwnedRequest {
    let headers = SIGNER.sign_post_json(HOST, "GetRoomEvent", VERSION, body, TS);
    OwnedRequest::new(Method::POST, None, &headers, body)
}

fn code(request: &OwnedRequest) -> String {
    outcome(&request.parse())
}

fn assert_err(request: &OwnedRequest, expected_code: &str, mentions: &str) {
    let err = request.parse().expect_err("parse should fail");
    assert_eq!(err.code, expected_code, "{}", err.message);
    assert!(
        err.message.contains(mentions),
        "{:?} should mention {mentions:?}",
        err.message
    );
}

#[test]
fn only_get_and_post_are_supported() {
    for method in [
        Method::PUT,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
        Method::PATCH,
    ] {
        let mut request = post(b"{}");
        request.method = method;
        assert_eq!(code(&request), codes::UNSUPPORTED_PROTOCOL);
    }
}

#[test]
fn size_limits() {
    let long_query = "a".repeat(MAX_GET_QUERY_BYTES + 1);
    let get = OwnedRequest::new(
        Method::GET,
        Some(&long_query),
        &pairs(&[("Host", HOST)]),
        b"",
    );
    assert_eq!(code(&get), codes::REQUEST_SIZE_LIMIT_EXCEEDED);
    let at_limit = OwnedRequest::new(
        Method::GET,
        Some(&long_query[1..]),
        &pairs(&[("Host", HOST)]),
        b"",
    );
    assert_ne!(code(&at_limit), codes::REQUEST_SIZE_LIMIT_EXCEEDED);

    let form = pairs(&[
        ("Host", HOST),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ]);
    let v1_body = vec![b'a'; MAX_V1_POST_BODY_BYTES + 1];
    assert_eq!(
        code(&OwnedRequest::new(Method::POST, None, &form, &v1_body)),
        codes::REQUEST_SIZE_LIMIT_EXCEEDED
    );

    // A v3 body may be far larger than a v1 one...
    let mut big = vec![b' '; MAX_V1_POST_BODY_BYTES + 1];
    big[0] = b'{';
    *big.last_mut().unwrap() = b'}';
    assert!(post(&big).check(SECRET_KEY, TS).is_ok());
    // ...up to its own limit.
    let mut too_big = vec![b' '; MAX_V3_POST_BODY_BYTES + 1];
    too_big[0] = b'{';
    *too_big.last_mut().unwrap() = b'}';
    assert_eq!(code(&post(&too_big)), codes::REQUEST_SIZE_LIMIT_EXCEEDED);
}

#[test]
fn v3_common_headers_are_required() {
    for header in ["X-TC-Action", "X-TC-Version", "X-TC-Timestamp"] {
        let mut request = post(b"{}");
        request.headers.remove(header);
        assert_err(&request, codes::MISSING_PARAMETER, header);
    }
    let mut bad_time = post(b"{}");
    bad_time.set_header("X-TC-Timestamp", "17956e5");
    assert_err(&bad_time, codes::INVALID_PARAMETER, "X-TC-Timestamp");
}

#[test]
fn header_names_are_case_insensitive() {
    let body = b"{}";
    let headers: Vec<(String, String)> = SIGNER
        .sign_post_json(HOST, "GetRoomEvent", VERSION, body, TS)
        .into_iter()
        .map(|(name, value)| (name.to_ascii_uppercase(), value))
        .collect();
    let request = OwnedRequest::new(Method::POST, None, &headers, body);
    assert_eq!(
        request.check(SECRET_KEY, TS).unwrap().action,
        "GetRoomEvent"
    );
}

#[test]
fn authorization_problems() {
    let mut malformed = post(b"{}");
    malformed.set_header("Authorization", "TC3-HMAC-SHA256 Credential=x");
    assert_eq!(code(&malformed), codes::INVALID_AUTHORIZATION);

    let mut other_scheme = post(b"{}");
    other_scheme.set_header("Authorization", "Bearer abc");
    assert_eq!(code(&other_scheme), codes::INVALID_AUTHORIZATION);

    let mut none = post(b"{}");
    none.headers.remove("Authorization");
    assert_err(&none, codes::INVALID_AUTHORIZATION, "Signature");

    let plain_get = OwnedRequest::new(
        Method::GET,
        Some("RoomId=1"),
        &pairs(&[("Host", HOST)]),
        b"",
    );
    assert_eq!(code(&plain_get), codes::INVALID_AUTHORIZATION);

    // A signed header the request does not carry.
    let mut missing_signed = post(b"{}");
    missing_signed.headers.remove("Host");
    assert_eq!(code(&missing_signed), codes::INVALID_AUTHORIZATION);
}

/// Parsing succeeds (the body is not looked at), verification too; the parameters fail.
fn assert_params_err(request: &OwnedRequest, expected_code: &str, mentions: &str) {
    let parsed = request
        .parse()
        .expect("the body is not parsed before verification");
    let verified = parsed.verify(SECRET_KEY, TS).expect("correctly signed");
    let err = verified.params().expect_err("the parameters should fail");
    assert_eq!(err.code, expected_code, "{}", err.message);
    assert!(
        err.message.contains(mentions),
        "{:?} should mention {mentions:?}",
        err.message
    );
}

#[test]
fn json_bodies() {
    assert_params_err(&post(b"{\"RoomId\": "), codes::INVALID_PARAMETER, "JSON");
    assert_params_err(&post(b"[1, 2]"), codes::INVALID_PARAMETER, "object");
    assert_params_err(&post(b"null"), codes::INVALID_PARAMETER, "object");

    let empty = post(b"");
    assert_eq!(
        empty.check(SECRET_KEY, TS).unwrap().params,
        ParamSource::Json(Default::default())
    );

    let mut charset = post(b"{}");
    charset.set_header("Content-Type", "application/json; charset=utf-8");
    assert!(charset.parse().is_ok());

    let mut text = post(b"{}");
    text.set_header("Content-Type", "text/plain");
    assert_err(&text, codes::INVALID_PARAMETER, "Content-Type");
}

#[test]
fn unsigned_query_on_a_post_is_ignored() {
    let mut request = post(br#"{"RoomId": 1}"#);
    request.query = Some("RoomId=2&Evil=1".to_owned());
    let parsed = request.check(SECRET_KEY, TS).unwrap();
    let ParamSource::Json(params) = parsed.params else {
        panic!("expected JSON params")
    };
    assert_eq!(params["RoomId"], 1);
    assert_eq!(params.len(), 1);
}

fn v1_get(query: &str) -> OwnedRequest {
    OwnedRequest::new(Method::GET, Some(query), &pairs(&[("Host", HOST)]), b"")
}

const V1_BASE: &str =
    "Action=GetRoomEvent&Version=2022-08-17&Timestamp=1795640136&SecretId=AKID&Signature=AAAA";

#[test]
fn v1_common_parameters() {
    assert_err(&v1_get(V1_BASE), codes::MISSING_PARAMETER, "Nonce");
    assert_eq!(code(&v1_get(&format!("{V1_BASE}&Nonce=1"))), "accept");
    for nonce in ["0", "-1", "x", "18446744073709551616"] {
        assert_err(
            &v1_get(&format!("{V1_BASE}&Nonce={nonce}")),
            codes::INVALID_PARAMETER,
            "Nonce",
        );
    }
    assert_err(
        &v1_get(&format!("{V1_BASE}&Nonce=1&Action=Other")),
        codes::INVALID_PARAMETER,
        "Action",
    );
    for name in ["Action", "Version", "Timestamp", "SecretId"] {
        let query = V1_BASE
            .split('&')
            .filter(|pair| !pair.starts_with(&format!("{name}=")))
            .collect::<Vec<_>>()
            .join("&");
        assert_err(
            &v1_get(&format!("{query}&Nonce=1")),
            codes::MISSING_PARAMETER,
            name,
        );
    }
    let no_host = OwnedRequest::new(Method::GET, Some(&format!("{V1_BASE}&Nonce=1")), &[], b"");
    assert_err(&no_host, codes::MISSING_PARAMETER, "Host");
    assert_eq!(
        code(&v1_get(&format!("{V1_BASE}&Nonce=1&Signature=BBBB"))),
        codes::INVALID_PARAMETER,
        "a repeated Signature"
    );
    let not_base64 = V1_BASE.replace("Signature=AAAA", "Signature=%21%21");
    assert_err(
        &v1_get(&format!("{not_base64}&Nonce=1")),
        codes::INVALID_AUTHORIZATION,
        "Base64",
    );
}

#[test]
fn v1_post_needs_a_form_body() {
    let body = format!("{V1_BASE}&Nonce=1");
    let json_typed = OwnedRequest::new(
        Method::POST,
        None,
        &pairs(&[("Host", HOST), ("Content-Type", "application/json")]),
        body.as_bytes(),
    );
    assert_eq!(code(&json_typed), codes::INVALID_AUTHORIZATION);
    let form_typed = OwnedRequest::new(
        Method::POST,
        None,
        &pairs(&[
            ("Host", HOST),
            (
                "Content-Type",
                "application/x-www-form-urlencoded; charset=utf-8",
            ),
        ]),
        body.as_bytes(),
    );
    assert_eq!(code(&form_typed), "accept");
}

#[test]
fn repeated_headers_are_refused() {
    let mut request = post(b"{}");
    request
        .headers
        .append("x-tc-action", "DeleteRoom".parse().unwrap());
    assert_err(&request, codes::INVALID_PARAMETER, "X-TC-Action");
}
