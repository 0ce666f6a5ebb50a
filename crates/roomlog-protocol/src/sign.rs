//! Signature algorithms: TC3-HMAC-SHA256 (API 3.0) and v1 HmacSHA1/HmacSHA256.
//!
//! The primitives here are shared by server-side verification ([`crate::ParsedRequest::verify`])
//! and by client-side signing ([`Tc3Signer`], [`V1Signer`]) used by `roomlog call`, tests and
//! benchmarks, so the two sides cannot drift apart.

use std::borrow::Cow;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::form;

/// How a request is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureMethod {
    /// API 3.0: `Authorization: TC3-HMAC-SHA256 ...`.
    Tc3HmacSha256,
    /// v1 with `SignatureMethod` absent or anything but `HmacSHA256`.
    HmacSha1,
    /// v1 with `SignatureMethod=HmacSHA256`.
    HmacSha256,
}

type HmacSha256 = Hmac<Sha256>;
type HmacSha1 = Hmac<Sha1>;

/// The algorithm name that opens a v3 `Authorization` header and the string to sign.
pub const TC3_ALGORITHM: &str = "TC3-HMAC-SHA256";
/// The last element of a TC3 credential scope.
pub const TC3_TERMINATOR: &str = "tc3_request";
/// The payload "hash" when the client sends `X-TC-Content-SHA256: UNSIGNED-PAYLOAD`: the canonical
/// request then carries the SHA-256 of this literal string instead of the body's.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// Lower-case hex SHA-256, the hash notation of TC3.
pub fn sha256_hex(data: &[u8]) -> String {
    hex32(&Sha256::digest(data).into())
}

/// 32 bytes as 64 lower-case hex digits (`hex::encode` goes through a `char` iterator, which
/// showed in the profile of every signed request).
fn hex32(bytes: &[u8; 32]) -> String {
    let mut digits = [0u8; 64];
    hex::encode_to_slice(bytes, &mut digits).expect("64 digits for 32 bytes");
    digits.iter().map(|&d| d as char).collect()
}

/// The UTC calendar date (`yyyy-mm-dd`) of a unix timestamp, as used in the TC3 credential scope.
/// `None` when the timestamp is outside the representable range.
pub fn tc3_date(timestamp: i64) -> Option<String> {
    use chrono::Datelike;
    let time = chrono::DateTime::from_timestamp(timestamp, 0)?;
    let date = time.date_naive();
    if !(0..=9999).contains(&date.year()) {
        // chrono's `%Y` signs years outside 0..=9999 (`+10000`); keep its notation there.
        return Some(time.format("%Y-%m-%d").to_string());
    }
    // Not `format("%Y-%m-%d")` for every request: parsing the format string each time showed
    // in the profile of signed requests.
    Some(format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        date.month(),
        date.day()
    ))
}

/// The TC3 canonical request:
/// `METHOD \n / \n query \n name:value\n... \n names;joined \n payload_hash`.
///
/// `signed_headers` are (lower-case name, value) in the order the client lists them in
/// `SignedHeaders`; values are trimmed here. Bytes rather than `str` because header values are
/// bytes on the wire and must be hashed exactly as received.
pub fn tc3_canonical_request(
    method: &str,
    canonical_query: &str,
    signed_headers: &[(&str, &[u8])],
    payload_hash: &str,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + canonical_query.len());
    out.extend_from_slice(method.as_bytes());
    out.extend_from_slice(b"\n/\n");
    out.extend_from_slice(canonical_query.as_bytes());
    out.push(b'\n');
    for (name, value) in signed_headers {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        out.extend_from_slice(value.trim_ascii());
        out.push(b'\n');
    }
    out.push(b'\n');
    for (i, (name, _)) in signed_headers.iter().enumerate() {
        if i > 0 {
            out.push(b';');
        }
        out.extend_from_slice(name.as_bytes());
    }
    out.push(b'\n');
    out.extend_from_slice(payload_hash.as_bytes());
    out
}

/// `TC3-HMAC-SHA256 \n timestamp \n date/service/tc3_request \n HexSha256(canonical_request)`.
pub fn tc3_string_to_sign(
    timestamp: i64,
    date: &str,
    service: &str,
    canonical_request_hash: &str,
) -> String {
    format!(
        "{TC3_ALGORITHM}\n{timestamp}\n{date}/{service}/{TC3_TERMINATOR}\n{canonical_request_hash}"
    )
}

/// The TC3 signature (lower-case hex) of `string_to_sign`, with the signing key derived from
/// `secret_key`, the credential date and the service.
pub fn tc3_signature(secret_key: &str, date: &str, service: &str, string_to_sign: &str) -> String {
    hex32(
        &tc3_mac(secret_key, date, service, string_to_sign)
            .finalize()
            .into_bytes()
            .into(),
    )
}

/// The TC3 signing key: `kSigning` derived from `secret_key`, the credential date and the service
/// of the credential scope.
pub(crate) fn tc3_signing_key(secret_key: &str, date: &str, service: &str) -> Vec<u8> {
    let k_date = hmac_sha256(format!("TC3{secret_key}").as_bytes(), date.as_bytes());
    let k_service = hmac_sha256(&k_date, service.as_bytes());
    hmac_sha256(&k_service, TC3_TERMINATOR.as_bytes())
}

/// Constant-time check of a decoded TC3 signature of `string_to_sign` under a signing key from
/// [`tc3_signing_key`].
pub(crate) fn tc3_verify_with_key(
    signing_key: &[u8],
    string_to_sign: &str,
    signature: &[u8],
) -> bool {
    let mut mac = new_mac::<HmacSha256>(signing_key);
    mac.update(string_to_sign.as_bytes());
    mac.verify_slice(signature).is_ok()
}

/// The HMAC over the string to sign, not yet finalised.
fn tc3_mac(secret_key: &str, date: &str, service: &str, string_to_sign: &str) -> HmacSha256 {
    let mut mac = new_mac::<HmacSha256>(&tc3_signing_key(secret_key, date, service));
    mac.update(string_to_sign.as_bytes());
    mac
}

/// One spelling of the signed headers: (lower-case name, value) in `SignedHeaders` order.
pub(crate) type HeaderForm<'v> = Vec<(&'v str, Cow<'v, [u8]>)>;

/// The spellings of the signed header values a verifier tries, in this order, each at most once:
///
/// 1. as received (trimmed): what the Python and Go SDKs, tccli and [`Tc3Signer`] sign;
/// 2. the same with the port taken off `host` (`127.0.0.1:7600` becomes `127.0.0.1`): the Node.js
///    SDK sends the port in `Host` but signs `URL.hostname`;
/// 3. every value lower-cased: Tencent's signature v3 page says names and values are lower-cased,
///    and its sample code (copied by hand-written clients) signs `x-tc-action:describeroom`;
/// 4. lower-cased, and `host` without its port.
///
/// Every form hashes the same header names, in the order the client listed them, with the same
/// values up to ASCII case and a host port, and the method, query, payload hash, timestamp and
/// scope are never varied: a signature made for one request never verifies another body, query,
/// timestamp, host name or (where the client signed it) action. What the forms give away is the
/// case of signed values (actions are distinct under case folding, and the action dispatched is
/// the one received, so a case variant is at worst `InvalidAction`) and, for a client that signed
/// a host without its port, the port.
pub(crate) fn tc3_header_forms<'v>(signed_headers: &[(&'v str, &'v [u8])]) -> Vec<HeaderForm<'v>> {
    let mut forms: Vec<HeaderForm<'_>> = Vec::with_capacity(4);
    for lower in [false, true] {
        for without_port in [false, true] {
            let form: HeaderForm<'_> = signed_headers
                .iter()
                .map(|&(name, value)| {
                    let mut value = value.trim_ascii();
                    if without_port && name == "host" {
                        value = host_without_port(value).unwrap_or(value);
                    }
                    let value = if lower && value.iter().any(u8::is_ascii_uppercase) {
                        Cow::Owned(value.to_ascii_lowercase())
                    } else {
                        Cow::Borrowed(value)
                    };
                    (name, value)
                })
                .collect();
            if !forms.contains(&form) {
                forms.push(form);
            }
        }
    }
    forms
}

/// `host` without a trailing `:port` (decimal digits), for `name:port` and `[v6]:port`; `None`
/// when there is no port, or when the value is not a plain authority (tccli's
/// `http://127.0.0.1:7600` keeps its port: it signs exactly what it sends).
fn host_without_port(host: &[u8]) -> Option<&[u8]> {
    let colon = host.iter().rposition(|&b| b == b':')?;
    let (name, port) = (&host[..colon], &host[colon + 1..]);
    let numeric_port = !port.is_empty() && port.iter().all(u8::is_ascii_digit);
    let plain_name = !name.is_empty()
        && ((name.starts_with(b"[") && name.ends_with(b"]")) || !name.contains(&b':'));
    (numeric_port && plain_name).then_some(name)
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = new_mac::<HmacSha256>(key);
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn new_mac<M: Mac + KeyInit>(key: &[u8]) -> M {
    // HMAC hashes over-long keys and pads short ones: every length is valid.
    <M as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length")
}

/// The v1 source string: `METHOD` + host + `/?` + every parameter except `Signature`, sorted by
/// name in byte order, as `name=value` joined by `&`, values decoded (not re-encoded).
pub fn v1_source_string(method: &str, host: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params
        .iter()
        .filter(|(name, _)| name != "Signature")
        .collect();
    // Stable sort: equal names (which the parser rejects anyway) keep their wire order.
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut out = format!("{method}{host}/?");
    for (i, (name, value)) in sorted.into_iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    out
}

/// The v1 signature (Base64) of a request's decoded parameters. `HmacSha1` uses HMAC-SHA1; the
/// two SHA-256 variants both use HMAC-SHA256 (v1 calls it `HmacSHA256`).
pub fn v1_signature(
    method: &str,
    host: &str,
    params: &[(String, String)],
    secret_key: &str,
    alg: SignatureMethod,
) -> String {
    use base64::Engine as _;
    let source = v1_source_string(method, host, params);
    let tag = match alg {
        SignatureMethod::HmacSha1 => {
            let mut mac = new_mac::<HmacSha1>(secret_key.as_bytes());
            mac.update(source.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        SignatureMethod::HmacSha256 | SignatureMethod::Tc3HmacSha256 => {
            hmac_sha256(secret_key.as_bytes(), source.as_bytes())
        }
    };
    base64::engine::general_purpose::STANDARD.encode(tag)
}

/// Constant-time check of a decoded v1 signature over `source`.
pub(crate) fn v1_verify(
    source: &str,
    secret_key: &str,
    alg: SignatureMethod,
    signature: &[u8],
) -> bool {
    match alg {
        SignatureMethod::HmacSha1 => {
            let mut mac = new_mac::<HmacSha1>(secret_key.as_bytes());
            mac.update(source.as_bytes());
            mac.verify_slice(signature).is_ok()
        }
        SignatureMethod::HmacSha256 | SignatureMethod::Tc3HmacSha256 => {
            let mut mac = new_mac::<HmacSha256>(secret_key.as_bytes());
            mac.update(source.as_bytes());
            mac.verify_slice(signature).is_ok()
        }
    }
}

/// Signs API 3.0 requests the way the official SDKs do, for `roomlog call`, tests and benchmarks.
#[derive(Debug, Clone, Copy)]
pub struct Tc3Signer<'a> {
    pub secret_id: &'a str,
    pub secret_key: &'a str,
    /// The service of the credential scope; `lcic` for LCIC.
    pub service: &'a str,
}

impl Tc3Signer<'_> {
    /// The headers to send with a POST of this JSON body: `Authorization`, `Content-Type:
    /// application/json`, `Host`, `X-TC-Action`, `X-TC-Version`, `X-TC-Timestamp`, and a signed
    /// random `X-TC-TraceId`.
    ///
    /// # Panics
    /// If `timestamp` is beyond the year 262143 (no calendar date).
    pub fn sign_post_json(
        &self,
        host: &str,
        action: &str,
        version: &str,
        body: &[u8],
        timestamp: i64,
    ) -> Vec<(String, String)> {
        self.sign(
            "POST",
            host,
            "application/json",
            action,
            version,
            "",
            body,
            timestamp,
        )
    }

    /// The headers to send with a GET carrying this raw query string (sent exactly as given,
    /// without a leading `?`); `Content-Type` is `application/x-www-form-urlencoded`.
    ///
    /// # Panics
    /// If `timestamp` is beyond the year 262143 (no calendar date).
    pub fn sign_get(
        &self,
        host: &str,
        action: &str,
        version: &str,
        query: &str,
        timestamp: i64,
    ) -> Vec<(String, String)> {
        self.sign(
            "GET",
            host,
            "application/x-www-form-urlencoded",
            action,
            version,
            query,
            b"",
            timestamp,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn sign(
        &self,
        method: &str,
        host: &str,
        content_type: &str,
        action: &str,
        version: &str,
        query: &str,
        body: &[u8],
        timestamp: i64,
    ) -> Vec<(String, String)> {
        let date = tc3_date(timestamp).expect("timestamp has a calendar date");
        // Signing the action as well (the SDKs sign only content-type and host) stops a replayed
        // request from being re-targeted at another action; a random trace id makes every
        // signature unique, so two identical calls in one second are not taken for a replay.
        let trace_id = uuid::Uuid::new_v4().to_string();
        let signed = [
            ("content-type", content_type.as_bytes()),
            ("host", host.as_bytes()),
            ("x-tc-action", action.as_bytes()),
            ("x-tc-traceid", trace_id.as_bytes()),
        ];
        let canonical = tc3_canonical_request(method, query, &signed, &sha256_hex(body));
        let string_to_sign =
            tc3_string_to_sign(timestamp, &date, self.service, &sha256_hex(&canonical));
        let signature = tc3_signature(self.secret_key, &date, self.service, &string_to_sign);
        let signed_names = signed.map(|(name, _)| name).join(";");
        let authorization = format!(
            "{TC3_ALGORITHM} Credential={}/{date}/{}/{TC3_TERMINATOR}, SignedHeaders={signed_names}, Signature={signature}",
            self.secret_id, self.service
        );
        [
            ("Authorization", authorization),
            ("Content-Type", content_type.to_owned()),
            ("Host", host.to_owned()),
            ("X-TC-Action", action.to_owned()),
            ("X-TC-Version", version.to_owned()),
            ("X-TC-Timestamp", timestamp.to_string()),
            ("X-TC-TraceId", trace_id),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
    }
}

/// Signs v1 (HmacSHA1 / HmacSHA256) requests, for tests and for clients of the old style.
#[derive(Debug, Clone, Copy)]
pub struct V1Signer<'a> {
    pub secret_id: &'a str,
    pub secret_key: &'a str,
    /// `HmacSha1` or `HmacSha256`.
    pub method: SignatureMethod,
}

impl V1Signer<'_> {
    /// Adds the v1 common parameters (`Action`, `Version`, `Timestamp`, `Nonce`, `SecretId`,
    /// `SignatureMethod`, `Signature`) to the action's parameters, and returns the form-encoded
    /// text to send as a GET query string or as a POST body of type
    /// `application/x-www-form-urlencoded`. `http_method` is `GET` or `POST`.
    #[allow(clippy::too_many_arguments)]
    pub fn sign(
        &self,
        http_method: &str,
        host: &str,
        action: &str,
        version: &str,
        params: &[(String, String)],
        timestamp: i64,
        nonce: u64,
    ) -> String {
        let method_name = match self.method {
            SignatureMethod::HmacSha1 => "HmacSHA1",
            SignatureMethod::HmacSha256 | SignatureMethod::Tc3HmacSha256 => "HmacSHA256",
        };
        let mut all = params.to_vec();
        all.extend(
            [
                ("Action", action.to_owned()),
                ("Version", version.to_owned()),
                ("Timestamp", timestamp.to_string()),
                ("Nonce", nonce.to_string()),
                ("SecretId", self.secret_id.to_owned()),
                ("SignatureMethod", method_name.to_owned()),
            ]
            .map(|(name, value)| (name.to_owned(), value)),
        );
        let signature = v1_signature(http_method, host, &all, self.secret_key, self.method);
        all.push(("Signature".to_owned(), signature));
        form::encode(all.iter().map(|(n, v)| (n.as_str(), v.as_str())))
    }
}

/// Flattens a JSON object into the `Key.0.Sub=value` pairs of GET and v1 requests: array elements
/// are numbered from 0, object members joined with `.`. The inverse of the parameter decoder's
/// unflattening.
///
/// Strings are taken as they are, numbers and booleans in their JSON spelling. `null`, empty
/// arrays and empty objects produce nothing (the flattened form cannot express them), as in the
/// official SDKs. A non-object top-level value yields no pairs.
pub fn flatten_params(value: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Value::Object(map) = value {
        for (name, member) in map {
            flatten_into(name.clone(), member, &mut out);
        }
    }
    out
}

fn flatten_into(path: String, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Null => {}
        Value::String(s) => out.push((path, s.clone())),
        Value::Bool(b) => out.push((path, b.to_string())),
        Value::Number(n) => out.push((path, n.to_string())),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                flatten_into(format!("{path}.{i}"), item, out);
            }
        }
        Value::Object(map) => {
            for (name, member) in map {
                flatten_into(format!("{path}.{name}"), member, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tc3_date_is_utc() {
        assert_eq!(tc3_date(1551113065).unwrap(), "2019-02-25");
        // 2019-02-25T23:59:59Z and one second later
        assert_eq!(tc3_date(1551139199).unwrap(), "2019-02-25");
        assert_eq!(tc3_date(1551139200).unwrap(), "2019-02-26");
        assert_eq!(tc3_date(i64::MAX), None);
        assert_eq!(tc3_date(0).unwrap(), "1970-01-01");
        assert_eq!(tc3_date(-62_135_596_800).unwrap(), "0001-01-01");
        assert_eq!(tc3_date(253_402_300_800).unwrap(), "+10000-01-01");
    }

    #[test]
    fn canonical_request_trims_values_and_joins_names() {
        let canonical = tc3_canonical_request(
            "GET",
            "a=1&b=%20",
            &[("content-type", b" text/plain "), ("host", b"h:1")],
            "abc",
        );
        assert_eq!(
            String::from_utf8(canonical).unwrap(),
            "GET\n/\na=1&b=%20\ncontent-type:text/plain\nhost:h:1\n\ncontent-type;host\nabc"
        );
    }

    #[test]
    fn host_without_port_takes_off_only_a_numeric_port() {
        let strip = |host: &str| host_without_port(host.as_bytes()).map(|h| h.to_vec());
        assert_eq!(strip("127.0.0.1:7600"), Some(b"127.0.0.1".to_vec()));
        assert_eq!(strip("localhost:1"), Some(b"localhost".to_vec()));
        assert_eq!(strip("[::1]:7600"), Some(b"[::1]".to_vec()));
        for kept in [
            "127.0.0.1",
            "localhost:",
            ":7600",
            "host:76a0",
            "http://127.0.0.1:7600",
            "::1:7600",
            "[::1]",
        ] {
            assert_eq!(strip(kept), None, "{kept}");
        }
    }

    #[test]
    fn header_forms_are_tried_as_received_first_and_each_once() {
        let signed: [(&str, &[u8]); 3] = [
            ("content-type", b" application/json"),
            ("host", b"Example.com:7600"),
            ("x-tc-action", b"GetRoomEvent"),
        ];
        let forms = tc3_header_forms(&signed);
        let text = |form: &HeaderForm<'_>| -> Vec<String> {
            form.iter()
                .map(|(name, value)| format!("{name}:{}", String::from_utf8_lossy(value)))
                .collect()
        };
        let rendered: Vec<Vec<String>> = forms.iter().map(text).collect();
        assert_eq!(
            rendered,
            [
                [
                    "content-type:application/json",
                    "host:Example.com:7600",
                    "x-tc-action:GetRoomEvent"
                ],
                [
                    "content-type:application/json",
                    "host:Example.com",
                    "x-tc-action:GetRoomEvent"
                ],
                [
                    "content-type:application/json",
                    "host:example.com:7600",
                    "x-tc-action:getroomevent"
                ],
                [
                    "content-type:application/json",
                    "host:example.com",
                    "x-tc-action:getroomevent"
                ],
            ]
        );
        // Already lower-case and portless: a single form.
        let plain: [(&str, &[u8]); 2] = [("content-type", b"application/json"), ("host", b"h")];
        assert_eq!(tc3_header_forms(&plain).len(), 1);
    }

    #[test]
    fn flatten_numbers_nested_values() {
        let value = serde_json::json!({
            "A": 1, "B": "x", "C": [1, {"D": -2, "E": null}], "F": null, "G": [], "H": true
        });
        let pairs = flatten_params(&value);
        let expected: Vec<(String, String)> = [
            ("A", "1"),
            ("B", "x"),
            ("C.0", "1"),
            ("C.1.D", "-2"),
            ("H", "true"),
        ]
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
        assert_eq!(pairs, expected);
        assert!(flatten_params(&serde_json::json!([1, 2])).is_empty());
    }

    #[test]
    fn v1_source_sorts_by_bytes_and_skips_signature() {
        let params: Vec<(String, String)> =
            [("b", "2"), ("Signature", "zzz"), ("a", ""), ("B", "1")]
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect();
        assert_eq!(v1_source_string("POST", "h", &params), "POSTh/?B=1&a=&b=2");
    }
}
