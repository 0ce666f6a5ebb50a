//! Replayed requests. A signed request stays valid for as long as its timestamp is within the
//! allowed clock skew, and the SDKs do not sign `X-TC-Action`: whoever captures one request
//! could send it again, or send its signature with another action. So every accepted signature
//! is remembered for that window, and a use more than the grace ([`REUSE_GRACE_MS`] unless
//! `http.replay-grace` says otherwise) after the first is
//! refused when the action changes state (`Action::CHANGES_STATE`). ReportRoomEvents is not
//! among them: its EventIds already make a resend harmless, and the classroom runtime retries it.
//!
//! Why a grace at all: the official SDKs sign whole seconds and not the action, so two honest
//! calls with the same body in the same second carry the same signature (DescribeRoomStatistics
//! then EndRoom of one room; StartRoom twice). They arrive within a second or so of each other;
//! a request captured and sent later does not.
//!
//! The memory is this process's ([`SeenSignatures`]), or Redis's when the rate limits are
//! counted there (`ratelimit`), so a replay through another node is caught too.

use std::collections::HashMap;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

/// How long a signature is remembered after the time it was signed at: the allowed skew
/// either side (a request signed at `t` is accepted until `t + 300`), plus a second.
pub const REMEMBER_SECS: i64 = roomlog_protocol::MAX_CLOCK_SKEW_SECS as i64 + 1;

/// By default a signature may be used again this long after its first use (see the module doc;
/// `http.replay-grace` sets it, `0s` refuses every second use).
pub const REUSE_GRACE_MS: u64 = 2000;

/// A signature's fingerprint: what is stored (16 bytes, not the signature itself).
pub type Fingerprint = [u8; 16];

pub fn fingerprint(signature: &[u8]) -> Fingerprint {
    let digest = Sha256::digest(signature);
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

/// Signatures this process accepted, each until it can no longer be used anyway.
#[derive(Default)]
pub struct SeenSignatures {
    inner: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    /// First use (unix ms) and until when it is kept (unix seconds).
    first: HashMap<Fingerprint, (i64, i64)>,
    /// Expired entries are dropped in one sweep at most this often (unix seconds).
    next_sweep: i64,
}

/// Seconds between sweeps of expired entries.
const SWEEP_EVERY_SECS: i64 = 10;

impl SeenSignatures {
    /// Remembers `signature` (first used now) until `until` (unix seconds). `None` on its first
    /// use; otherwise how long ago that was, in milliseconds.
    pub fn use_now(&self, signature: &Fingerprint, until: i64, now_ms: i64) -> Option<u64> {
        let now = now_ms.div_euclid(1000);
        let mut seen = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if now >= seen.next_sweep {
            seen.first.retain(|_, &mut (_, expiry)| expiry > now);
            seen.next_sweep = now + SWEEP_EVERY_SECS;
        }
        match seen.first.get(signature) {
            Some(&(first_ms, expiry)) if expiry > now => {
                Some(now_ms.saturating_sub(first_ms).max(0) as u64)
            }
            _ => {
                seen.first.insert(*signature, (now_ms, until));
                None
            }
        }
    }

    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .first
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_use_says_how_long_after_the_first() {
        let seen = SeenSignatures::default();
        let a = fingerprint(b"a");
        let b = fingerprint(b"b");
        assert_eq!(seen.use_now(&a, 1_300, 1_000_000), None);
        assert_eq!(seen.use_now(&a, 1_300, 1_000_400), Some(400));
        assert_eq!(seen.use_now(&a, 1_300, 1_100_000), Some(100_000));
        assert_eq!(seen.use_now(&b, 1_300, 1_100_000), None);
        // Past its window the signature is refused by the skew check anyway; the memory lets go.
        assert_eq!(seen.use_now(&a, 1_700, 1_400_000), None);
    }

    #[test]
    fn expired_entries_are_swept() {
        let seen = SeenSignatures::default();
        for i in 0..100u32 {
            seen.use_now(&fingerprint(&i.to_be_bytes()), 1_010, 1_000_000);
        }
        assert_eq!(seen.len(), 100);
        seen.use_now(&fingerprint(b"later"), 2_300, 2_000_000);
        assert_eq!(seen.len(), 1);
    }
}
