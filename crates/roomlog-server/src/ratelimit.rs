//! Per-account, per-action request limits (GCRA via governor), applied after the signature is
//! verified so a forged SecretId cannot drain someone else's quota.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;

use governor::{DefaultKeyedRateLimiter, Quota};

use crate::config::RateLimits;
use roomlog_core::AccountId;

pub struct RateLimiter {
    limits: RateLimits,
    /// One keyed limiter per action, created on first use; keyed by account.
    per_action: Mutex<HashMap<String, std::sync::Arc<DefaultKeyedRateLimiter<AccountId>>>>,
}

impl RateLimiter {
    pub fn new(limits: RateLimits) -> Self {
        Self {
            limits,
            per_action: Mutex::new(HashMap::new()),
        }
    }

    /// True if the account may make one more `action` request now.
    pub fn check(&self, account: AccountId, action: &str) -> bool {
        let Some(per_second) = NonZeroU32::new(self.limits.for_action(action)) else {
            return true; // 0 = unlimited
        };
        let limiter = {
            let mut map = self.per_action.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(action.to_owned())
                .or_insert_with(|| {
                    // Burst equal to the per-second rate: a client may spend a second's worth
                    // at once, then is held to the rate.
                    std::sync::Arc::new(DefaultKeyedRateLimiter::keyed(Quota::per_second(
                        per_second,
                    )))
                })
                .clone()
        };
        limiter.check_key(&account).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_account_and_action() {
        let mut limits = RateLimits {
            default: 3,
            ..RateLimits::default()
        };
        limits.actions.insert("Free".into(), 0);
        let limiter = RateLimiter::new(limits);
        let allowed = (0..10).filter(|_| limiter.check(1, "GetRoomEvent")).count();
        assert_eq!(allowed, 3);
        // Another account and another action have their own budgets.
        assert!(limiter.check(2, "GetRoomEvent"));
        assert!(limiter.check(1, "DescribeRoom"));
        assert!((0..100).all(|_| limiter.check(1, "Free")));
    }
}
