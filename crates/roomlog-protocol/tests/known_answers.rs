//! Tencent's own worked examples (protocol.md): the primitives and the full verify path must
//! reproduce them.

mod common;

use common::{outcome, pairs, OwnedRequest};
use http::Method;
use roomlog_protocol::sign::{self, sha256_hex, tc3_canonical_request, tc3_string_to_sign};
use roomlog_protocol::{form, tc3_signature, v1_signature, SignatureMethod};

const KEY: &str = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE";
const TC3_BODY: &str =
    r#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;
const TC3_TIMESTAMP: i64 = 1551113065;
const TC3_SIGNATURE: &str = "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168";
const CVM_HOST: &str = "cvm.tencentcloudapi.com";
const CVM_SECRET_ID: &str = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE";

#[test]
fn tc3_primitives_match_tencents_example() {
    let payload_hash = sha256_hex(TC3_BODY.as_bytes());
    assert_eq!(
        payload_hash,
        "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
    );
    let canonical = tc3_canonical_request(
        "POST",
        "",
        &[
            ("content-type", b"application/json; charset=utf-8"),
            ("host", CVM_HOST.as_bytes()),
        ],
        &payload_hash,
    );
    let canonical_hash = sha256_hex(&canonical);
    assert_eq!(
        canonical_hash,
        "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
    );
    let date = sign::tc3_date(TC3_TIMESTAMP).unwrap();
    assert_eq!(date, "2019-02-25");
    let string_to_sign = tc3_string_to_sign(TC3_TIMESTAMP, &date, "cvm", &canonical_hash);
    assert_eq!(
        tc3_signature(KEY, &date, "cvm", &string_to_sign),
        TC3_SIGNATURE
    );
}

fn tc3_example_request(signature: &str) -> OwnedRequest {
    let authorization = format!(
        "TC3-HMAC-SHA256 Credential={CVM_SECRET_ID}/2019-02-25/cvm/tc3_request, SignedHeaders=content-type;host, Signature={signature}"
    );
    OwnedRequest::new(
        Method::POST,
        None,
        &pairs(&[
            ("Authorization", &authorization),
            ("Content-Type", "application/json; charset=utf-8"),
            ("Host", CVM_HOST),
            ("X-TC-Action", "DescribeInstances"),
            ("X-TC-Timestamp", "1551113065"),
            ("X-TC-Version", "2017-03-12"),
            ("X-TC-Region", "ap-guangzhou"),
        ]),
        TC3_BODY.as_bytes(),
    )
}

#[test]
fn tc3_example_verifies_end_to_end() {
    let request = tc3_example_request(TC3_SIGNATURE);
    let parsed = request.check(KEY, TC3_TIMESTAMP + 10).unwrap();
    assert_eq!(parsed.secret_id, CVM_SECRET_ID);
    assert_eq!(parsed.action, "DescribeInstances");
    assert_eq!(parsed.version, "2017-03-12");

    // Flip the last hex digit of the signature.
    let tampered = tc3_example_request(&format!("{}9", &TC3_SIGNATURE[..63]));
    assert_eq!(
        outcome(&tampered.check(KEY, TC3_TIMESTAMP)),
        "AuthFailure.SignatureFailure"
    );
}

const V1_QUERY: &str = "Action=DescribeInstances&InstanceIds.0=ins-09dx96dg&Limit=20&Nonce=11886&Offset=0&Region=ap-guangzhou&SecretId=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE&Timestamp=1465185768&Version=2017-03-12";
const V1_SIGNATURE: &str = "EliP9YW3pW28FpsEdkXt/+WcGeI=";

#[test]
fn v1_signature_matches_tencents_example() {
    let params = form::decode(V1_QUERY).unwrap();
    assert_eq!(
        v1_signature("GET", CVM_HOST, &params, KEY, SignatureMethod::HmacSha1),
        V1_SIGNATURE
    );
    // The same parameters in another order sign the same (the source string is sorted).
    let mut reversed = params.clone();
    reversed.reverse();
    assert_eq!(
        v1_signature("GET", CVM_HOST, &reversed, KEY, SignatureMethod::HmacSha1),
        V1_SIGNATURE
    );
    assert_ne!(
        v1_signature("GET", CVM_HOST, &params, KEY, SignatureMethod::HmacSha256),
        V1_SIGNATURE
    );
}

#[test]
fn v1_example_verifies_end_to_end() {
    let query = format!(
        "{V1_QUERY}&Signature={}",
        form::encode_component(V1_SIGNATURE)
    );
    let request = OwnedRequest::new(
        Method::GET,
        Some(&query),
        &pairs(&[("Host", CVM_HOST)]),
        b"",
    );
    let parsed = request.check(KEY, 1465185768).unwrap();
    assert_eq!(parsed.method, SignatureMethod::HmacSha1);
    assert_eq!(parsed.nonce, Some(11886));
    assert_eq!(parsed.region.as_deref(), Some("ap-guangzhou"));
    assert_eq!(
        parsed.params,
        roomlog_protocol::ParamSource::Form(pairs(&[
            ("InstanceIds.0", "ins-09dx96dg"),
            ("Limit", "20"),
            ("Offset", "0"),
        ]))
    );

    let other_host = OwnedRequest::new(
        Method::GET,
        Some(&query),
        &pairs(&[("Host", "cvm.ap-guangzhou.tencentcloudapi.com")]),
        b"",
    );
    assert_eq!(
        outcome(&other_host.check(KEY, 1465185768)),
        "AuthFailure.SignatureFailure"
    );
}
