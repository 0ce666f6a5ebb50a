//! The TC3 forms real clients sign that differ from what they send (protocol.md, "Forms a verifier
//! must accept"), and that each still refuses a wrong signature, key, action, body or host.
//!
//! The requests here are signed by `client_sign`, written from Tencent's documentation and the
//! clients' source (not with the crate's signer), so that a mistake shared by the crate's signer
//! and verifier cannot make these tests pass.

mod common;

use common::{outcome, pairs, OwnedRequest, SECRET_ID, SECRET_KEY, VERSION};
use hmac::{Hmac, KeyInit, Mac};
use http::Method;
use proptest::prelude::*;
use roomlog_protocol::{codes, sign, ParamSource};
use sha2::{Digest, Sha256};

const TS: i64 = 1795640136;
/// The UTC date of `TS`.
const DATE: &str = "2026-11-25";
const FAILURE: &str = "AuthFailure.SignatureFailure";

fn hmac256(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn sha_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// How a client builds the signature: which service it names in the scope and which
/// `name:value` lines it hashes (names lower-case, in this order).
struct ClientSigning<'a> {
    key: &'a str,
    service: &'a str,
    /// (name, value) exactly as the client puts them in its canonical headers.
    canonical_headers: Vec<(&'a str, String)>,
}

impl ClientSigning<'_> {
    /// `Authorization` for a POST of `body` at `TS`, as Tencent's signature v3 page spells it out.
    fn authorization(&self, body: &[u8]) -> String {
        let headers: String = self
            .canonical_headers
            .iter()
            .map(|(name, value)| format!("{name}:{value}\n"))
            .collect();
        let signed: Vec<&str> = self.canonical_headers.iter().map(|(n, _)| *n).collect();
        let signed = signed.join(";");
        let canonical = format!("POST\n/\n\n{headers}\n{signed}\n{}", sha_hex(body));
        let scope = format!("{DATE}/{}/tc3_request", self.service);
        let string_to_sign = format!(
            "TC3-HMAC-SHA256\n{TS}\n{scope}\n{}",
            sha_hex(canonical.as_bytes())
        );
        let k_date = hmac256(format!("TC3{}", self.key).as_bytes(), DATE);
        let k_service = hmac256(&k_date, self.service);
        let k_signing = hmac256(&k_service, "tc3_request");
        let signature = hex::encode(hmac256(&k_signing, &string_to_sign));
        format!(
            "TC3-HMAC-SHA256 Credential={SECRET_ID}/{scope}, SignedHeaders={signed}, Signature={signature}"
        )
    }
}

/// A POST carrying these wire headers (and the common ones), signed as `signing` says.
fn request(
    signing: &ClientSigning<'_>,
    host: &str,
    action: &str,
    content_type: &str,
    body: &[u8],
) -> OwnedRequest {
    let authorization = signing.authorization(body);
    let ts = TS.to_string();
    OwnedRequest::new(
        Method::POST,
        None,
        &pairs(&[
            ("Authorization", &authorization),
            ("Content-Type", content_type),
            ("Host", host),
            ("X-TC-Action", action),
            ("X-TC-Version", VERSION),
            ("X-TC-Timestamp", &ts),
            ("X-TC-Region", "ap-guangzhou"),
        ]),
        body,
    )
}

/// What Tencent's sample code (signature v3 page) signs: `content-type;host;x-tc-action`, every
/// value lower-cased, service `lcic`.
fn documented_sample<'a>(
    key: &'a str,
    content_type: &str,
    host: &str,
    action: &str,
) -> ClientSigning<'a> {
    ClientSigning {
        key,
        service: "lcic",
        canonical_headers: vec![
            ("content-type", content_type.to_lowercase()),
            ("host", host.to_lowercase()),
            ("x-tc-action", action.to_lowercase()),
        ],
    }
}

/// What tencentcloud-sdk-nodejs 4.1.x signs (`common/sign.js`): `content-type;host`, the host as
/// `URL.hostname` (no port), service `endpoint.split(".")[0]`.
fn node_sdk<'a>(key: &'a str, endpoint: &'a str, content_type: &str) -> ClientSigning<'a> {
    let hostname = endpoint.rsplit_once(':').map_or(endpoint, |(name, _)| name);
    ClientSigning {
        key,
        service: endpoint.split('.').next().unwrap(),
        canonical_headers: vec![
            ("content-type", content_type.to_owned()),
            ("host", hostname.to_owned()),
        ],
    }
}

const JSON: &str = "application/json";
const BODY: &[u8] = br#"{"RoomId": 301234567, "SdkAppId": 3923193}"#;

fn check(request: &OwnedRequest) -> String {
    outcome(&request.check(SECRET_KEY, TS))
}

#[test]
fn the_test_date_is_the_timestamps_date() {
    assert_eq!(sign::tc3_date(TS).unwrap(), DATE);
}

#[test]
fn tencents_documented_sample_form_verifies() {
    let host = "127.0.0.1:7600";
    let signing = documented_sample(SECRET_KEY, JSON, host, "DescribeRoom");
    assert_eq!(signing.canonical_headers[2].1, "describeroom");
    let good = request(&signing, host, "DescribeRoom", JSON, BODY);
    let checked = good.check(SECRET_KEY, TS).unwrap();
    assert_eq!(
        checked.action, "DescribeRoom",
        "the action as received is dispatched"
    );
    assert_eq!(
        checked.params,
        ParamSource::Json(serde_json::from_slice(BODY).unwrap())
    );

    // Mixed-case values in the wire headers, lower-cased by the signer.
    let mixed = "Application/JSON; Charset=UTF-8";
    let (mixed_host, action) = ("LocalHost:7600", "GetRoomEvent");
    let signing = documented_sample(SECRET_KEY, mixed, mixed_host, action);
    assert_eq!(
        check(&request(&signing, mixed_host, action, mixed, BODY)),
        "accept"
    );

    // Still bound to the key, the action, the body, the host and the content type.
    let wrong_key = documented_sample("another key", JSON, host, "DescribeRoom");
    let wrong_key = request(&wrong_key, host, "DescribeRoom", JSON, BODY);
    assert_eq!(check(&wrong_key), FAILURE);
    let describe_room = signing_for(host, "DescribeRoom");
    let other_action = request(&describe_room, host, "DeleteRoom", JSON, BODY);
    assert_eq!(check(&other_action), FAILURE);
    let other_body = request(&describe_room, host, "DescribeRoom", JSON, b"{}");
    let mut swapped = good.clone();
    swapped.body = other_body.body.clone();
    assert_eq!(check(&swapped), FAILURE);
    let mut other_host = good.clone();
    other_host.set_header("Host", "127.0.0.2:7600");
    assert_eq!(check(&other_host), FAILURE);
    let mut other_type = good.clone();
    other_type.set_header("Content-Type", "application/json; charset=utf-8");
    assert_eq!(check(&other_type), FAILURE);

    // What the lower-cased form gives away is only the case of the action: the verifier accepts
    // it, and the server then dispatches the action exactly as received (unknown: InvalidAction).
    let mut upper = good.clone();
    upper.set_header("X-TC-Action", "DESCRIBEROOM");
    assert_eq!(check(&upper), "accept");
}

fn signing_for<'a>(host: &str, action: &str) -> ClientSigning<'a> {
    documented_sample(SECRET_KEY, JSON, host, action)
}

#[test]
fn the_as_received_form_of_mixed_case_values_verifies() {
    // What the SDKs do when they sign X-TC-Action: the value as sent (roomlog's own signer too).
    let host = "Roomlog.School.Internal";
    let signing = ClientSigning {
        key: SECRET_KEY,
        service: "lcic",
        canonical_headers: vec![
            ("content-type", "Application/Json".to_owned()),
            ("host", host.to_owned()),
            ("x-tc-action", "GetRoomEvent".to_owned()),
        ],
    };
    let good = request(&signing, host, "GetRoomEvent", "Application/Json", BODY);
    assert_eq!(check(&good), "accept");
    let mut other_action = good.clone();
    other_action.set_header("X-TC-Action", "GetRooms");
    assert_eq!(check(&other_action), FAILURE);
}

#[test]
fn node_sdk_form_verifies_with_the_scopes_service_and_a_portless_host() {
    for endpoint in [
        "127.0.0.1:7600",
        "localhost:7600",
        "roomlog.school.internal",
    ] {
        let signing = node_sdk(SECRET_KEY, endpoint, JSON);
        let good = request(&signing, endpoint, "GetRoomEvent", JSON, BODY);
        let auth = good.headers["authorization"].to_str().unwrap().to_owned();
        assert!(
            !auth.contains("/lcic/"),
            "{endpoint}: the scope names the endpoint's first label: {auth}"
        );
        assert_eq!(check(&good), "accept", "{endpoint}");

        let wrong_key = node_sdk("another key", endpoint, JSON);
        let wrong_key = request(&wrong_key, endpoint, "GetRoomEvent", JSON, BODY);
        assert_eq!(check(&wrong_key), FAILURE, "{endpoint}");
        let mut other_body = good.clone();
        other_body.body = b"{}".to_vec();
        assert_eq!(check(&other_body), FAILURE, "{endpoint}");
        // The portless signature does not stretch to another host name.
        let mut other_host = good.clone();
        other_host.set_header("Host", "127.0.0.2:7600");
        assert_eq!(check(&other_host), FAILURE, "{endpoint}");
    }
}

#[test]
fn the_key_is_derived_with_the_service_the_scope_names() {
    // Signed with the key of service `lcic` but claiming `127` in the scope: refused, and the
    // other way round too. The service is part of the key derivation, not a label.
    let host = "127.0.0.1:7600";
    let lcic = ClientSigning {
        key: SECRET_KEY,
        service: "lcic",
        canonical_headers: vec![("content-type", JSON.to_owned()), ("host", host.to_owned())],
    };
    let good = request(&lcic, host, "GetRoomEvent", JSON, BODY);
    assert_eq!(check(&good), "accept");
    for claimed in ["127", "cvm", "localhost:7600"] {
        let mut relabelled = good.clone();
        let auth = good.headers["authorization"].to_str().unwrap();
        relabelled.set_header(
            "Authorization",
            &auth.replace("/lcic/tc3_request", &format!("/{claimed}/tc3_request")),
        );
        assert_eq!(check(&relabelled), FAILURE, "{claimed}");
    }
}

#[test]
fn a_host_signed_with_the_port_must_match_the_port() {
    // (host the client signed, Host header sent, verdict)
    for (signed, sent, expected) in [
        ("127.0.0.1:7601", "127.0.0.1:7600", FAILURE),
        ("127.0.0.1:7601", "127.0.0.1:7601", "accept"),
        // tccli signs the scheme too; that value keeps its port (it is not `host:port`).
        ("http://127.0.0.1", "http://127.0.0.1:7600", FAILURE),
        // An IPv6 literal loses only its port.
        ("[::1]", "[::1]:7600", "accept"),
    ] {
        let signing = ClientSigning {
            key: SECRET_KEY,
            service: "lcic",
            canonical_headers: vec![
                ("content-type", JSON.to_owned()),
                ("host", signed.to_owned()),
            ],
        };
        let verdict = check(&request(&signing, sent, "GetRoomEvent", JSON, BODY));
        assert_eq!(verdict, expected, "signed {signed}, sent {sent}");
    }
}

// ---- the body is looked at only after the signature --------------------------------------------

#[test]
fn a_bad_signature_fails_before_the_body_is_parsed() {
    let host = "127.0.0.1:7600";
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let wide = format!("{{\"a\":[{}0]}}", "0,".repeat(200_000));
    for body in [
        &b"{\"RoomId\": "[..],
        b"\xff\xfe not json",
        deep.as_bytes(),
        wide.as_bytes(),
    ] {
        let good = request(
            &signing_for(host, "GetRoomEvent"),
            host,
            "GetRoomEvent",
            JSON,
            body,
        );
        // Parsing does not look at the body...
        let parsed = good
            .parse()
            .expect("the body is not parsed before verification");
        // ...a wrong key is refused as such, whatever the body...
        assert_eq!(outcome(&parsed.verify("another key", TS)), FAILURE);
        // ...and only a verified request gets a body error.
        let verified = parsed.verify(SECRET_KEY, TS).expect("signed correctly");
        let code = verified.params().unwrap_err().code;
        assert!(
            code == codes::INVALID_PARAMETER || code == codes::REQUEST_SIZE_LIMIT_EXCEEDED,
            "{code}"
        );
    }
}

#[test]
fn json_bodies_are_bounded_in_depth_and_elements() {
    let host = "127.0.0.1:7600";
    let params_of = |body: &[u8]| {
        let request = request(
            &signing_for(host, "GetRoomEvent"),
            host,
            "GetRoomEvent",
            JSON,
            body,
        );
        request.check(SECRET_KEY, TS).map(|checked| checked.params)
    };
    let depth = roomlog_protocol::MAX_JSON_DEPTH;
    let nested = |levels: usize| {
        format!(
            "{{\"A\":{}{}}}",
            "[".repeat(levels - 1),
            "]".repeat(levels - 1)
        )
    };
    assert!(params_of(nested(depth).as_bytes()).is_ok());
    let err = params_of(nested(depth + 1).as_bytes()).unwrap_err();
    assert_eq!(err.code, codes::INVALID_PARAMETER);
    assert!(err.message.contains("levels"), "{}", err.message);

    let max = roomlog_protocol::MAX_PARAM_ELEMENTS;
    // `{"A":[0,...]}` with n zeros counts n + 1 (two containers, n - 1 commas).
    let array = |n: usize| format!("{{\"A\":[{}0]}}", "0,".repeat(n - 1));
    assert!(params_of(array(max - 1).as_bytes()).is_ok());
    let err = params_of(array(max).as_bytes()).unwrap_err();
    assert_eq!(err.code, codes::REQUEST_SIZE_LIMIT_EXCEEDED);

    // Brackets and commas inside strings (escaped quotes included) are text, not structure.
    let text = format!("{{\"A\":\"{}\\\"{}\"}}", "[{,".repeat(max), ",".repeat(max));
    assert!(params_of(text.as_bytes()).is_ok());
}

#[test]
fn v1_forms_are_bounded_in_pairs_before_anything() {
    let max = roomlog_protocol::MAX_PARAM_ELEMENTS;
    let body = format!(
        "Action=GetRoomEvent&Version=2022-08-17&Timestamp={TS}&Nonce=1&SecretId=AKID&Signature=AAAA{}",
        "&a".repeat(max)
    );
    let request = OwnedRequest::new(
        Method::POST,
        None,
        &pairs(&[
            ("Host", "127.0.0.1:7600"),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ]),
        body.as_bytes(),
    );
    assert_eq!(
        outcome(&request.parse()),
        codes::REQUEST_SIZE_LIMIT_EXCEEDED
    );
}

// ---- properties ----------------------------------------------------------------------------------

/// An action name with mixed case, as clients spell them.
fn action() -> impl Strategy<Value = String> {
    "[A-Z][a-z]{2,6}[A-Z][a-z]{2,8}"
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        (1u8..=254, 0u16..=65535).prop_map(|(last, port)| format!("127.0.0.{last}:{port}")),
        (0u16..=65535).prop_map(|port| format!("localhost:{port}")),
        "[a-z]{1,8}(\\.[A-Za-z]{1,8}){0,2}",
        "[a-z]{1,8}\\.[a-z]{2,5}:[0-9]{1,5}",
    ]
}

#[derive(Debug, Clone, Copy)]
enum Form {
    /// What the Python/Go SDKs sign (host with port, values as sent), `x-tc-action` included.
    AsSent,
    /// Tencent's documented sample: values lower-cased.
    Lowercased,
    /// The Node.js SDK: no port in the signed host, scope service from the endpoint.
    NodeSdk,
}

fn signing<'a>(form: Form, key: &'a str, host: &'a str, action: &str) -> ClientSigning<'a> {
    match form {
        Form::AsSent => ClientSigning {
            key,
            service: "lcic",
            canonical_headers: vec![
                ("content-type", JSON.to_owned()),
                ("host", host.to_owned()),
                ("x-tc-action", action.to_owned()),
            ],
        },
        Form::Lowercased => documented_sample(key, JSON, host, action),
        Form::NodeSdk => node_sdk(key, host, JSON),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn every_form_verifies_and_no_form_lets_a_wrong_signature_through(
        form in prop_oneof![Just(Form::AsSent), Just(Form::Lowercased), Just(Form::NodeSdk)],
        host in host(),
        action in action(),
        other_action in action(),
        body in "\\{\"[A-Za-z]{1,8}\": [1-9][0-9]{0,8}\\}",
        flip_at in 0usize..64,
        flip_to in prop::sample::select(b"0123456789abcdef".to_vec()),
        body_flip in any::<prop::sample::Index>(),
    ) {
        let good = request(&signing(form, SECRET_KEY, &host, &action), &host, &action, JSON, body.as_bytes());
        prop_assert_eq!(check(&good), "accept");

        // One hex digit of the signature changed.
        let auth = good.headers["authorization"].to_str().unwrap().to_owned();
        let at = auth.len() - 64 + flip_at;
        prop_assume!(auth.as_bytes()[at] != flip_to);
        let mut flipped = auth.clone().into_bytes();
        flipped[at] = flip_to;
        let mut bad_signature = good.clone();
        bad_signature.set_header("Authorization", std::str::from_utf8(&flipped).unwrap());
        prop_assert_eq!(check(&bad_signature), FAILURE);

        // Another key, signing the same form.
        let wrong_key = request(&signing(form, "another key", &host, &action), &host, &action, JSON, body.as_bytes());
        prop_assert_eq!(check(&wrong_key), FAILURE);

        // A changed body.
        let mut other_body = good.clone();
        let i = body_flip.index(other_body.body.len());
        other_body.body[i] ^= 0x01;
        prop_assert_eq!(check(&other_body), FAILURE);

        // Another action where the action is signed (the Node.js SDK does not sign it).
        if !matches!(form, Form::NodeSdk) && !other_action.eq_ignore_ascii_case(&action) {
            let mut retargeted = good.clone();
            retargeted.set_header("X-TC-Action", &other_action);
            prop_assert_eq!(check(&retargeted), FAILURE);
        }
    }

    #[test]
    fn a_wrong_signature_is_reported_whatever_the_body(
        body in prop::collection::vec(any::<u8>(), 0..256),
        form in prop_oneof![Just(Form::AsSent), Just(Form::Lowercased), Just(Form::NodeSdk)],
    ) {
        let host = "127.0.0.1:7600";
        let wrong = request(&signing(form, "another key", host, "GetRoomEvent"), host, "GetRoomEvent", JSON, &body);
        prop_assert_eq!(check(&wrong), FAILURE);
    }
}
