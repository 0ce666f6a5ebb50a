//! Whatever the signers produce must verify, and any tampering must not.

mod common;

use common::{outcome, OwnedRequest, HOST, SECRET_ID, SECRET_KEY, VERSION};
use http::Method;
use proptest::prelude::*;
use roomlog_protocol::{form, ParamSource, SignatureMethod, Tc3Signer, V1Signer};
use serde_json::{Map, Value};

const SIGNER: Tc3Signer<'static> = Tc3Signer {
    secret_id: SECRET_ID,
    secret_key: SECRET_KEY,
    service: "lcic",
};
const TS: i64 = 1795640136;

fn post(body: &[u8], timestamp: i64) -> OwnedRequest {
    let headers = SIGNER.sign_post_json(HOST, "GetRoomEvent", VERSION, body, timestamp);
    OwnedRequest::new(Method::POST, None, &headers, body)
}

fn get(query: &str, timestamp: i64) -> OwnedRequest {
    let headers = SIGNER.sign_get(HOST, "GetRoomEvent", VERSION, query, timestamp);
    OwnedRequest::new(Method::GET, Some(query), &headers, b"")
}

/// Parse + verify must reject; when parsing succeeds, it is the signature that must fail.
fn assert_rejected(request: &OwnedRequest, now: i64) {
    match request.parse() {
        Err(_) => {}
        Ok(parsed) => assert_eq!(
            outcome(&parsed.verify(SECRET_KEY, now)),
            "AuthFailure.SignatureFailure"
        ),
    }
}

#[test]
fn tc3_post_round_trip_and_tampering() {
    let body = br#"{"RoomId": 301234567, "Keyword": "MemberJoin"}"#;
    let request = post(body, TS);
    let parsed = request.check(SECRET_KEY, TS).unwrap();
    assert_eq!(parsed.action, "GetRoomEvent");
    assert_eq!(parsed.version, VERSION);
    assert_eq!(parsed.secret_id, SECRET_ID);
    assert_eq!(parsed.timestamp, TS);
    assert_eq!(parsed.method, SignatureMethod::Tc3HmacSha256);
    assert_eq!(
        parsed.params,
        ParamSource::Json(serde_json::from_slice(body).unwrap())
    );

    let failure = "AuthFailure.SignatureFailure";
    let mut tampered_body = request.clone();
    tampered_body.body = br#"{"RoomId": 301234568, "Keyword": "MemberJoin"}"#.to_vec();
    assert_eq!(outcome(&tampered_body.check(SECRET_KEY, TS)), failure);

    let mut other_host = request.clone();
    other_host.set_header("Host", "127.0.0.1:39770");
    assert_eq!(outcome(&other_host.check(SECRET_KEY, TS)), failure);

    let mut other_time = request.clone();
    other_time.set_header("X-TC-Timestamp", &(TS + 1).to_string());
    assert_eq!(outcome(&other_time.check(SECRET_KEY, TS)), failure);

    // Our signer also signs X-TC-Action, so a request cannot be re-aimed at another action.
    let mut other_action = request.clone();
    other_action.set_header("X-TC-Action", "DeleteRoom");
    assert_eq!(outcome(&other_action.check(SECRET_KEY, TS)), failure);

    let mut other_content_type = request.clone();
    other_content_type.set_header("Content-Type", "application/json; charset=utf-8");
    assert_eq!(outcome(&other_content_type.check(SECRET_KEY, TS)), failure);

    assert_eq!(outcome(&request.check("another key", TS)), failure);
    assert_eq!(
        outcome(&request.check(SECRET_KEY, TS + 301)),
        "AuthFailure.SignatureExpire"
    );
}

#[test]
fn tc3_credential_date_must_be_the_timestamps_date() {
    let request = post(b"{}", TS);
    let auth = request.headers["authorization"]
        .to_str()
        .unwrap()
        .to_owned();
    let mut wrong_date = request.clone();
    wrong_date.set_header(
        "Authorization",
        &auth.replace("/2026-11-25/", "/2026-11-24/"),
    );
    let err = wrong_date.check(SECRET_KEY, TS).unwrap_err();
    assert_eq!(err.code, "AuthFailure.SignatureFailure");
    assert!(err.message.contains("date"), "{}", err.message);
}

#[test]
fn tc3_get_round_trip_and_tampering() {
    let query = "RoomId=301234567&Keyword=Member+Join%2F%E4%B8%AD";
    let request = get(query, TS);
    let parsed = request.check(SECRET_KEY, TS).unwrap();
    assert_eq!(
        parsed.params,
        ParamSource::Form(common::pairs(&[
            ("RoomId", "301234567"),
            ("Keyword", "Member Join/中")
        ]))
    );
    // Same decoded parameters, different raw query: the canonical query is the raw text.
    let mut respelled = request.clone();
    respelled.query = Some("RoomId=301234567&Keyword=Member%20Join%2F%E4%B8%AD".to_owned());
    assert_eq!(
        outcome(&respelled.check(SECRET_KEY, TS)),
        "AuthFailure.SignatureFailure"
    );
    let mut no_query = request.clone();
    no_query.query = None;
    assert_eq!(
        outcome(&no_query.check(SECRET_KEY, TS)),
        "AuthFailure.SignatureFailure"
    );
}

fn v1_request(method: Method, signer: &V1Signer<'_>, params: &[(String, String)]) -> OwnedRequest {
    let encoded = signer.sign(
        method.as_str(),
        HOST,
        "GetRoomEvent",
        VERSION,
        params,
        TS,
        42,
    );
    let content_type = [(
        "Content-Type".to_owned(),
        "application/x-www-form-urlencoded".to_owned(),
    )];
    let mut headers = vec![("Host".to_owned(), HOST.to_owned())];
    headers.extend(content_type);
    if method == Method::GET {
        OwnedRequest::new(method, Some(&encoded), &headers, b"")
    } else {
        OwnedRequest::new(method, None, &headers, encoded.as_bytes())
    }
}

#[test]
fn v1_round_trip_and_tampering() {
    let params = common::pairs(&[("RoomId", "301234567"), ("Keyword", "a b&c=d/中")]);
    for alg in [SignatureMethod::HmacSha1, SignatureMethod::HmacSha256] {
        let signer = V1Signer {
            secret_id: SECRET_ID,
            secret_key: SECRET_KEY,
            method: alg,
        };
        for method in [Method::GET, Method::POST] {
            let request = v1_request(method.clone(), &signer, &params);
            let parsed = request.check(SECRET_KEY, TS).unwrap();
            assert_eq!(parsed.method, alg);
            assert_eq!(parsed.params, ParamSource::Form(params.clone()));
            assert_eq!(parsed.nonce, Some(42));

            let mut other_host = request.clone();
            other_host.set_header("Host", "127.0.0.1:1");
            assert_eq!(
                outcome(&other_host.check(SECRET_KEY, TS)),
                "AuthFailure.SignatureFailure"
            );
            // The signature covers the method too.
            let mut other_method = request.clone();
            if method == Method::GET {
                other_method.method = Method::POST;
                other_method.body = request.query.clone().unwrap().into_bytes();
                other_method.query = None;
            } else {
                other_method.method = Method::GET;
                other_method.query = Some(String::from_utf8(request.body.clone()).unwrap());
                other_method.body.clear();
            }
            assert_eq!(
                outcome(&other_method.check(SECRET_KEY, TS)),
                "AuthFailure.SignatureFailure"
            );
        }
    }
}

/// Re-encodes a v1 request with one decoded value changed, keeping the original signature.
fn with_value_changed(encoded: &str, name: &str, new_value: &str) -> String {
    let pairs: Vec<(String, String)> = form::decode(encoded)
        .unwrap()
        .into_iter()
        .map(|(n, v)| {
            if n == name {
                (n, new_value.to_owned())
            } else {
                (n, v)
            }
        })
        .collect();
    form::encode(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())))
}

// ---- property tests ----------------------------------------------------------------------------

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<String>().prop_map(Value::from),
        "[\"\\\\/{}:,\\[\\] \\u{0}-\\u{1f}中文😀]{0,12}".prop_map(Value::from),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[A-Za-z][A-Za-z0-9]{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn json_params() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map("[A-Za-z][A-Za-z0-9]{0,8}", json_value(), 0..6)
        .prop_map(|m| m.into_iter().collect())
}

/// A name or value, any Unicode, with the characters that matter to form encoding well represented.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[ +&=%.~*/?#!'()中😀a-zA-Z0-9]{0,10}"]
}

/// Form-encodes text the many ways clients do: unreserved characters literal or escaped, spaces as
/// `+` or `%20`, escapes in upper or lower case. `choices` drives the variation.
fn encode_loosely(text: &str, choices: &mut impl Iterator<Item = u8>) -> String {
    let mut out = String::new();
    for ch in text.chars() {
        // One random byte per character; its bits pick the spelling.
        let choice = choices.next().unwrap_or(0);
        let (space_as_plus, keep_literal, upper_hex) =
            (choice & 1 == 0, choice & 6 != 0, choice & 8 == 0);
        let literal_ok = ch.is_ascii_alphanumeric() || "-_.~*!'()/:@,;$".contains(ch);
        if ch == ' ' && space_as_plus {
            out.push('+');
        } else if literal_ok && keep_literal {
            out.push(ch);
        } else {
            let mut utf8 = [0u8; 4];
            for b in ch.encode_utf8(&mut utf8).as_bytes() {
                if upper_hex {
                    out.push_str(&format!("%{b:02X}"));
                } else {
                    out.push_str(&format!("%{b:02x}"));
                }
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn signed_json_posts_verify_and_any_byte_flip_is_rejected(
        params in json_params(),
        skew in -300i64..=300,
        flip_at in any::<prop::sample::Index>(),
        flip_with in 1u8..=255,
    ) {
        let body = serde_json::to_vec(&params).unwrap();
        let request = post(&body, TS);
        let parsed = request.check(SECRET_KEY, TS + skew).unwrap();
        prop_assert_eq!(parsed.params, ParamSource::Json(params));

        let mut tampered = request.clone();
        let i = flip_at.index(body.len());
        tampered.body[i] ^= flip_with;
        assert_rejected(&tampered, TS);
    }

    #[test]
    fn signed_get_queries_verify_and_any_byte_change_is_rejected(
        pairs in prop::collection::vec((text(), text()), 0..6),
        choices in prop::collection::vec(any::<u8>(), 64),
        change_at in any::<prop::sample::Index>(),
        replacement in 0x21u8..0x7f,
    ) {
        let mut choices = choices.into_iter().cycle();
        let query = pairs
            .iter()
            .map(|(n, v)| format!("{}={}", encode_loosely(n, &mut choices), encode_loosely(v, &mut choices)))
            .collect::<Vec<_>>()
            .join("&");
        let request = get(&query, TS);
        let parsed = request.check(SECRET_KEY, TS).unwrap();
        // Empty pairs (`=`) survive; only the (never produced) empty segments would be dropped.
        prop_assert_eq!(parsed.params, ParamSource::Form(pairs));

        if !query.is_empty() {
            let mut bytes = query.into_bytes();
            let i = change_at.index(bytes.len());
            prop_assume!(bytes[i] != replacement);
            bytes[i] = replacement;
            let mut tampered = request.clone();
            tampered.query = Some(String::from_utf8(bytes).unwrap());
            assert_rejected(&tampered, TS);
        }
    }

    #[test]
    fn v1_requests_verify_and_changed_values_are_rejected(
        params in prop::collection::btree_map("[A-Z][A-Za-z0-9.]{0,8}", text(), 1..6),
        sha256 in any::<bool>(),
        use_get in any::<bool>(),
        pick in any::<prop::sample::Index>(),
    ) {
        let params: Vec<(String, String)> = params
            .into_iter()
            .filter(|(name, _)| !["Action", "Version", "Region", "Timestamp", "Nonce", "SecretId",
                "Signature", "SignatureMethod", "Token", "Language", "RequestClient"]
                .contains(&name.as_str()))
            .collect();
        prop_assume!(!params.is_empty());
        let alg = if sha256 { SignatureMethod::HmacSha256 } else { SignatureMethod::HmacSha1 };
        let signer = V1Signer { secret_id: SECRET_ID, secret_key: SECRET_KEY, method: alg };
        let method = if use_get { Method::GET } else { Method::POST };
        let request = v1_request(method, &signer, &params);
        let parsed = request.check(SECRET_KEY, TS).unwrap();
        prop_assert_eq!(parsed.method, alg);
        prop_assert_eq!(parsed.params, ParamSource::Form(params.clone()));

        let (name, value) = &params[pick.index(params.len())];
        let changed = format!("{value}x");
        let mut tampered = request.clone();
        if use_get {
            tampered.query = Some(with_value_changed(request.query.as_deref().unwrap(), name, &changed));
        } else {
            let body = std::str::from_utf8(&request.body).unwrap();
            tampered.body = with_value_changed(body, name, &changed).into_bytes();
        }
        prop_assert_eq!(outcome(&tampered.check(SECRET_KEY, TS)), "AuthFailure.SignatureFailure");
    }
}
