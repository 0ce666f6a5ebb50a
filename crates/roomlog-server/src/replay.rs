//! Replayed requests. A signed request stays valid for as long as its timestamp is within the
//! allowed clock skew, and the SDKs do not sign `X-TC-Action`: whoever captures one request
//! could send it again, or send its signature with another action. So every accepted signature
//! is remembered for that window, and a second use is refused when the action changes state
//! (`Action::CHANGES_STATE`). ReportRoomEvents is not among them: its EventIds already make a
//! resend harmless, and the classroom runtime retries it.
//!
//! The memory is this process's ([`SeenSignatures`]), or Redis's when the rate limits are
//! counted there (`ratelimit`), so a replay through another node is caught too.

use std::collections::HashMap;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

/// How long a signature is remembered after the time it was signed at: the allowed skew
/// either side (a request signed at `t` is accepted until `t + 300`), plus a second.
pub const REMEMBER_SECS: i64 = roomlog_protocol::MAX_CLOCK_SKEW_SECS as i64 + 1;

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
    until: HashMap<Fingerprint, i64>,
    /// Expired entries are dropped in one sweep at most this often (unix seconds).
    next_sweep: i64,
}

/// Seconds between sweeps of expired entries.
const SWEEP_EVERY_SECS: i64 = 10;

impl SeenSignatures {
    /// Remembers `signature` until `until` (unix seconds); `true` if it was not already there.
    pub fn first_use(&self, signature: &Fingerprint, until: i64, now: i64) -> bool {
        let mut seen = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if now >= seen.next_sweep {
            seen.until.retain(|_, &mut expiry| expiry > now);
            seen.next_sweep = now + SWEEP_EVERY_SECS;
        }
        match seen.until.get(signature) {
            Some(&expiry) if expiry > now => false,
            _ => {
                seen.until.insert(*signature, until);
                true
            }
        }
    }

    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .until
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
    fn a_signature_is_accepted_once_within_its_window() {
        let seen = SeenSignatures::default();
        let a = fingerprint(b"a");
        let b = fingerprint(b"b");
        assert!(seen.first_use(&a, 1_300, 1_000));
        assert!(!seen.first_use(&a, 1_300, 1_100));
        assert!(seen.first_use(&b, 1_300, 1_100));
        // Past its window the signature is refused by the skew check anyway; the memory lets go.
        assert!(seen.first_use(&a, 1_700, 1_400));
    }

    #[test]
    fn expired_entries_are_swept() {
        let seen = SeenSignatures::default();
        for i in 0..100u32 {
            seen.first_use(&fingerprint(&i.to_be_bytes()), 1_010, 1_000);
        }
        assert_eq!(seen.len(), 100);
        seen.first_use(&fingerprint(b"later"), 2_300, 2_000);
        assert_eq!(seen.len(), 1);
    }
}
