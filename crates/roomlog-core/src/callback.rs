//! Callbacks (webhooks): what roomlog sends for every recorded event, how it signs it, and when
//! ([`schedule`]: the outbox's rules and the retry schedule). The HTTP delivery lives in the
//! server, the durable outbox in the stores.
//!
//! Each delivery is one `POST` with a JSON body
//! `{"SdkAppId", "EventType", "EventData", "Timestamp", "ExpireTime", "Sign", "EventId", "Seq"}`
//! where `EventType`/`EventData`/`Timestamp` are exactly what GetRoomEvent shows, `Sign` is
//! LCIC's `md5(CallbackKey + ExpireTime)`, and these headers:
//! - `X-Roomlog-Event-Id`, `X-Roomlog-Room-Id`, `X-Roomlog-Seq`;
//! - `X-Roomlog-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(CallbackKey, "<t>.<raw body>")>`,
//!   which covers the body (LCIC's Sign does not) and lets a receiver reject replays by `t`.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Sha256;
use url::Url;

use crate::account::SdkAppId;
use crate::error::DomainError;
use crate::event::StoredEvent;
use crate::page::Page;
use crate::room::RoomId;

pub mod schedule;

pub const SIGNATURE_HEADER: &str = "X-Roomlog-Signature";
pub const EVENT_ID_HEADER: &str = "X-Roomlog-Event-Id";
pub const ROOM_ID_HEADER: &str = "X-Roomlog-Room-Id";
pub const SEQ_HEADER: &str = "X-Roomlog-Seq";
/// LCIC's `ExpireTime`: a callback is valid this long after it is sent.
pub const EXPIRE_AFTER_SECS: i64 = 300;

/// LCIC's callback signature: lower-hex `md5(CallbackKey + ExpireTime)`.
pub fn lcic_sign(callback_key: &str, expire_time: i64) -> String {
    let mut md5 = Md5::new();
    md5.update(callback_key.as_bytes());
    md5.update(expire_time.to_string().as_bytes());
    hex::encode(md5.finalize())
}

/// roomlog's body signature header value: `t=<timestamp>,v1=<hex hmac>`.
pub fn body_signature(callback_key: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(callback_key.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// Checks a received `X-Roomlog-Signature` against the raw body: what a receiver does (kept
/// here so the tests and the README's receiver agree with the sender). Constant-time.
pub fn verify_body_signature(
    callback_key: &str,
    header: &str,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> bool {
    let mut timestamp = None;
    let mut signature = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => signature = hex::decode(v).ok(),
            _ => {}
        }
    }
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return false;
    };
    if (now - timestamp).abs() > tolerance_secs {
        return false;
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(callback_key.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&signature).is_ok()
}

/// The JSON body of one delivery, sent at `now_secs`.
pub fn body(
    sdk_app_id: SdkAppId,
    event: &StoredEvent,
    callback_key: &str,
    now_secs: i64,
) -> Vec<u8> {
    let info = event.event_info();
    let expire_time = now_secs + EXPIRE_AFTER_SECS;
    let body = json!({
        "SdkAppId": sdk_app_id,
        "EventType": info["EventType"],
        "EventData": info["EventData"],
        "Timestamp": info["Timestamp"],
        "ExpireTime": expire_time,
        "Sign": lcic_sign(callback_key, expire_time),
        "EventId": event.event_id,
        "Seq": event.seq,
    });
    serde_json::to_vec(&body).expect("serialising a JSON value cannot fail")
}

/// Retry schedule of a failing delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RetryPolicy {
    /// A 2xx answer within this is success.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// First retry delay; doubles per attempt.
    #[serde(with = "humantime_serde")]
    pub initial_backoff: Duration,
    #[serde(with = "humantime_serde")]
    pub max_backoff: Duration,
    /// After this long since the first attempt, a failing delivery becomes a dead letter.
    #[serde(with = "humantime_serde")]
    pub give_up_after: Duration,
    /// Delivered and dead deliveries are kept (for inspection and replay) this long.
    #[serde(with = "humantime_serde")]
    pub keep_for: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(600),
            give_up_after: Duration::from_secs(24 * 3600),
            keep_for: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

impl RetryPolicy {
    /// Delay before attempt number `attempts + 1`, after `attempts` failures: exponential with
    /// "equal jitter" (half fixed, half random) so many failing receivers do not retry in step.
    /// `unit` is a random number in [0, 1).
    pub fn backoff(&self, attempts: u32, unit: f64) -> Duration {
        let exp = self
            .initial_backoff
            .saturating_mul(
                1u32.checked_shl(attempts.saturating_sub(1).min(31))
                    .unwrap_or(u32::MAX),
            )
            .min(self.max_backoff);
        exp / 2 + exp.mul_f64(unit.clamp(0.0, 1.0) / 2.0)
    }
}

/// An app's callback configuration (ModifyApp / DescribeAppDetail).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppCallback {
    /// Where events are pushed; empty: no callbacks.
    pub url: String,
    /// Signs callbacks (LCIC's `Sign` and roomlog's body signature).
    pub key: String,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Dead,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 3] = [Self::Pending, Self::Delivered, Self::Dead];

    /// The stable stored code (`deliveries.status`, the same in every backend; the SQL of the
    /// outbox and its partial indexes spell these as literals). Never renumber.
    pub fn code(self) -> i64 {
        match self {
            Self::Pending => 0,
            Self::Delivered => 1,
            Self::Dead => 2,
        }
    }

    pub fn from_code(code: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.code() == code)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Delivered => "Delivered",
            Self::Dead => "Dead",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }
}

/// One event's delivery to its app's callback (the outbox row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub sdk_app_id: SdkAppId,
    pub room_id: RoomId,
    pub event: StoredEvent,
    pub status: DeliveryStatus,
    pub attempts: u32,
    /// Unix ms of the first attempt (for giving up), if any.
    pub first_attempt_ms: Option<i64>,
    pub last_attempt_ms: Option<i64>,
    /// HTTP status of the last attempt, if it got an answer.
    pub last_status: Option<u16>,
    /// Why the last attempt failed (timeout, connection refused, non-2xx, refused destination).
    pub last_error: Option<String>,
    /// When the next attempt is due (pending only), unix ms.
    pub next_attempt_ms: Option<i64>,
    /// Unix ms.
    pub created_ms: i64,
}

impl Delivery {
    /// The JSON shape DescribeCallbackDeliveries shows.
    pub fn describe(&self) -> Value {
        json!({
            "RoomId": self.room_id,
            "Seq": self.event.seq,
            "EventId": self.event.event_id,
            "EventType": self.event.event_type.as_str(),
            "Status": self.status.as_str(),
            "Attempts": self.attempts,
            "LastAttemptTime": self.last_attempt_ms.map(|ms| ms.div_euclid(1000)),
            "LastHttpStatus": self.last_status,
            "LastError": self.last_error,
            "NextAttemptTime": self.next_attempt_ms.map(|ms| ms.div_euclid(1000)),
            "CreatedTime": self.created_ms.div_euclid(1000),
        })
    }
}

/// DescribeCallbackDeliveries' question: the app's deliveries, of one room and of one status if
/// given, in (room, seq) order: the `limit` after the first `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryListing {
    pub sdk_app_id: SdkAppId,
    pub room_id: Option<RoomId>,
    pub status: Option<DeliveryStatus>,
    pub offset: u64,
    pub limit: u64,
}

impl DeliveryListing {
    pub fn new(
        sdk_app_id: SdkAppId,
        room_id: Option<RoomId>,
        status: Option<DeliveryStatus>,
        page: Page,
    ) -> DeliveryListing {
        DeliveryListing {
            sdk_app_id,
            room_id,
            status,
            offset: page.offset(),
            limit: page.limit(),
        }
    }

    /// How far into an ordered range the page ends: all a merge of ranges needs to read.
    pub fn end(&self) -> u64 {
        self.offset.saturating_add(self.limit)
    }
}

/// What happened to one attempt, as the store records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptOutcome {
    /// Unix ms when the attempt was made.
    pub at_ms: i64,
    pub delivered: bool,
    pub http_status: Option<u16>,
    pub error: Option<String>,
    /// For a failure: when to try again, or `None` to make it a dead letter.
    pub retry_at_ms: Option<i64>,
}

/// Parses a callback URL: http(s) with a host and no credentials, at most 1024 bytes.
///
/// Parsed once, the WHATWG way (the `url` crate, as the HTTP client does): the server checks
/// the returned URL's host and sends the request with this very `Url`, so no second parser can
/// read another host out of the same text (`http://127.0.0.1\x.evil.test/` is 127.0.0.1,
/// `%31%32%37.0.0.1`, full-width digits, `0x7f.1` and `2130706433` too). Whether the host is a
/// permitted destination is checked by the server, at configuration and at delivery time.
pub fn parse_callback_url(url: &str) -> Result<Url, DomainError> {
    let bad = |why: &str| DomainError::invalid_value(format!("Callback {why}."));
    if url.len() > 1024 {
        return Err(bad("must be at most 1024 bytes"));
    }
    let parsed = Url::parse(url).map_err(|e| bad(&format!("is not a valid URL ({e})")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad("must be an http:// or https:// URL"));
    }
    if parsed.host().is_none() || !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad("must name a host (without credentials)"));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_status_codes_are_fixed_and_round_trip() {
        // The stores' CHECK (status IN (0, 1, 2)), literals and partial indexes assume these.
        let codes: Vec<i64> = DeliveryStatus::ALL
            .into_iter()
            .map(DeliveryStatus::code)
            .collect();
        assert_eq!(codes, [0, 1, 2]);
        for status in DeliveryStatus::ALL {
            assert_eq!(DeliveryStatus::from_code(status.code()), Some(status));
            assert_eq!(DeliveryStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(DeliveryStatus::from_code(3), None);
    }

    #[test]
    fn lcic_known_answer() {
        assert_eq!(
            lcic_sign("NjFGoDEy", 1614151508),
            "b9454ab5a85f9b7ad36071f5688ed34d"
        );
    }

    #[test]
    fn body_signature_verifies_and_rejects_tampering_and_replays() {
        let header = body_signature("key", 1_700_000_000, b"{\"a\":1}");
        assert!(verify_body_signature(
            "key",
            &header,
            b"{\"a\":1}",
            1_700_000_010,
            300
        ));
        assert!(!verify_body_signature(
            "key",
            &header,
            b"{\"a\":2}",
            1_700_000_010,
            300
        ));
        assert!(!verify_body_signature(
            "other",
            &header,
            b"{\"a\":1}",
            1_700_000_010,
            300
        ));
        assert!(
            !verify_body_signature("key", &header, b"{\"a\":1}", 1_700_001_000, 300),
            "stale"
        );
        assert!(!verify_body_signature(
            "key",
            "garbage",
            b"{\"a\":1}",
            1_700_000_010,
            300
        ));
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.backoff(1, 0.0), Duration::from_millis(500));
        assert_eq!(policy.backoff(1, 0.999_999).as_millis(), 999);
        assert_eq!(policy.backoff(4, 0.0), Duration::from_secs(4));
        assert_eq!(policy.backoff(30, 0.0), Duration::from_secs(300));
        assert!(policy.backoff(60, 0.99) <= Duration::from_secs(600));
    }

    #[test]
    fn a_delivery_listing_pages_from_one() {
        let listing = |page, limit| {
            DeliveryListing::new(1, None, None, Page::new(page, limit, u64::MAX).unwrap())
        };
        assert_eq!((listing(1, 10).offset, listing(1, 10).end()), (0, 10));
        assert_eq!((listing(3, 10).offset, listing(3, 10).end()), (20, 30));
        assert_eq!(listing(u64::MAX, u64::MAX).end(), u64::MAX, "saturates");
    }

    #[test]
    fn callback_urls() {
        let ok = parse_callback_url("https://hooks.example.com/lcic?x=1").unwrap();
        assert_eq!(ok.host_str(), Some("hooks.example.com"));
        assert!(parse_callback_url("http://127.0.0.1:9000/").is_ok());
        for bad in [
            "ftp://x",
            "https://",
            "https://user:pw@host/",
            "http://user@host/",
            "javascript:alert(1)",
            "http://a b/",
            "/hook",
        ] {
            let err = parse_callback_url(bad).unwrap_err();
            assert_eq!(err.code, "InvalidParameterValue", "{bad}");
        }
        let long = format!("https://example.com/{}", "a".repeat(1024));
        assert!(parse_callback_url(&long).is_err());
    }

    /// What the destination check sees is what the HTTP client connects to: the host as the
    /// WHATWG parser reads it, whatever spelling hid it.
    #[test]
    fn callback_hosts_are_parsed_as_the_http_client_parses_them() {
        use url::Host;
        let loopback = Host::Ipv4(std::net::Ipv4Addr::LOCALHOST);
        for url in [
            "http://127.0.0.1\\x.evil.test/hook",
            "http://%31%32%37.0.0.1:9/hook",
            "http://\u{ff11}\u{ff12}\u{ff17}.\u{ff10}.\u{ff10}.\u{ff11}:9/hook",
            "http://0x7f.1/",
            "http://2130706433/",
            "http://0177.0.0.1/",
            "http://127.1/",
            "http://127.0.0.1./",
            "HTTP://127.0.0.1/",
        ] {
            let parsed = parse_callback_url(url).unwrap();
            assert_eq!(parsed.host(), Some(loopback.clone()), "{url}");
        }
        let parsed = parse_callback_url("http://[::ffff:127.0.0.1]:9/").unwrap();
        assert_eq!(
            parsed.host(),
            Some(Host::Ipv6("::ffff:7f00:1".parse().unwrap()))
        );
        assert_eq!(parsed.port_or_known_default(), Some(9));
    }
}
