//! Per-account, per-action request limits, applied after the signature is verified so a forged
//! SecretId cannot drain someone else's quota.
//!
//! Both backends run GCRA with a burst equal to the per-second rate: a client may spend a
//! second's worth at once, then is held to the rate.
//!
//! - Local (default): governor's keyed limiters in this process; each node counts on its own.
//! - Redis (`rate-limits.backend = "redis://..."`): one short Lua script per request, keyed
//!   `{prefix}:{action}:{account}`, timed by Redis's own clock, so every node sharing the Redis
//!   shares one budget. While Redis is unreachable, requests either fall back to per-node local
//!   limits of `ceil(limit / nodes)` or are refused with `ServiceUnavailable`
//!   (`redis-unavailable`). A background probe notices when Redis is back.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::{DefaultKeyedRateLimiter, Quota};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::config::{RateLimits, RedisUnavailable};
use roomlog_core::AccountId;

/// Each attempt to connect to Redis gives up after this.
const REDIS_CONNECT_TIMEOUT: Duration = Duration::from_millis(300);
/// Each command's answer is awaited this long.
const REDIS_RESPONSE_TIMEOUT: Duration = Duration::from_millis(300);
/// The most one limit check may wait on Redis in all (connect, EVALSHA, EVAL after NOSCRIPT).
const REDIS_CHECK_DEADLINE: Duration = Duration::from_millis(800);
/// While Redis is down, how often it is probed again.
const REDIS_PROBE_INTERVAL: Duration = Duration::from_millis(500);

/// GCRA, atomically in Redis. KEYS[1]: one account's key for one action. ARGV[1]: the emission
/// interval in microseconds (1 s / rate); ARGV[2]: the burst in requests. The theoretical
/// arrival time (TAT) is stored in microseconds of Redis's clock; the key expires once it is in
/// the past (an idle key means a full burst). Returns 1 if allowed, 0 if limited.
const GCRA_SCRIPT: &str = r"
if redis.replicate_commands then redis.replicate_commands() end
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local new_tat = tat + interval
if new_tat - now > interval * burst then return 0 end
redis.call('SET', KEYS[1], string.format('%d', new_tat))
redis.call('PEXPIRE', KEYS[1], string.format('%d', math.ceil((new_tat - now) / 1000)))
return 1
";

/// Whether a signature is used for the first time (see `replay`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureUse {
    First,
    /// Accepted before, within its window, this many milliseconds ago.
    Again {
        since_first_ms: u64,
    },
    /// The shared backend is unreachable and configured to refuse: `ServiceUnavailable`.
    Unavailable,
}

/// Remembers a signature in Redis with the time of its first use (Redis's clock, so nodes'
/// clocks don't matter). KEYS[1]: the signature's key; ARGV[1]: seconds to keep it. Returns -1
/// on its first use, else the milliseconds since then.
const SIGNATURE_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local first = redis.call('GET', KEYS[1])
if first then return now - tonumber(first) end
redis.call('SET', KEYS[1], string.format('%d', now), 'EX', ARGV[1])
return -1
";

/// The outcome of one limit check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Over the limit: `RequestLimitExceeded`.
    Limited,
    /// The shared backend is unreachable and configured to refuse: `ServiceUnavailable`.
    Unavailable,
}

/// Rate limits, and the memory of accepted signatures (`replay`), which lives where the limits
/// are counted: in this process, or in the Redis every node shares.
pub struct RateLimiter {
    limits: RateLimits,
    /// The limits of this node alone: the only ones without a backend.
    local: LocalLimiter,
    redis: Option<Arc<RedisLimiter>>,
    /// Signatures this node accepted (all of them without Redis; while Redis is down, those).
    seen: crate::replay::SeenSignatures,
}

impl RateLimiter {
    pub fn new(limits: RateLimits) -> Self {
        let redis = limits.backend.as_deref().map(|url| {
            Arc::new(RedisLimiter::new(
                url,
                &limits.key_prefix,
                limits.redis_unavailable,
            ))
        });
        Self {
            limits,
            local: LocalLimiter::default(),
            redis,
            seen: Default::default(),
        }
    }

    /// Remembers an accepted signature until `until` (unix seconds): its first use, or a use
    /// how long after the first.
    pub async fn use_signature(
        &self,
        signature: &crate::replay::Fingerprint,
        until: i64,
        now_ms: i64,
    ) -> SignatureUse {
        let local = || match self.seen.use_now(signature, until, now_ms) {
            None => SignatureUse::First,
            Some(since_first_ms) => SignatureUse::Again { since_first_ms },
        };
        let Some(redis) = &self.redis else {
            return local();
        };
        let ttl = (until - now_ms.div_euclid(1000)).max(1);
        match redis.remember(signature, ttl).await {
            Some(None) => SignatureUse::First,
            Some(Some(since_first_ms)) => SignatureUse::Again { since_first_ms },
            None => match redis.fallback {
                RedisUnavailable::Local => local(),
                RedisUnavailable::Refuse => SignatureUse::Unavailable,
            },
        }
    }

    /// May the account make one more `action` request now?
    pub async fn check(&self, account: AccountId, action: &str) -> Verdict {
        let limit = self.limits.for_action(action);
        if limit == 0 {
            return Verdict::Allowed; // unlimited
        }
        let Some(redis) = &self.redis else {
            return self.local.check(account, action, limit);
        };
        if let Some(allowed) = redis.check(account, action, limit).await {
            return if allowed {
                Verdict::Allowed
            } else {
                Verdict::Limited
            };
        }
        match redis.fallback {
            // The local limiter only ever counts while Redis is down: this node's share.
            RedisUnavailable::Local => {
                self.local
                    .check(account, action, self.limits.per_node(action))
            }
            RedisUnavailable::Refuse => Verdict::Unavailable,
        }
    }
}

/// governor's keyed limiters, one per action, created on first use; keyed by account.
#[derive(Default)]
struct LocalLimiter {
    per_action: Mutex<HashMap<String, Arc<DefaultKeyedRateLimiter<AccountId>>>>,
}

impl LocalLimiter {
    fn check(&self, account: AccountId, action: &str, per_second: u32) -> Verdict {
        let Some(per_second) = NonZeroU32::new(per_second) else {
            return Verdict::Allowed;
        };
        let limiter = {
            let mut map = self.per_action.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(action.to_owned())
                .or_insert_with(|| {
                    // Quota::per_second: burst equal to the rate.
                    Arc::new(DefaultKeyedRateLimiter::keyed(Quota::per_second(
                        per_second,
                    )))
                })
                .clone()
        };
        if limiter.check_key(&account).is_ok() {
            Verdict::Allowed
        } else {
            Verdict::Limited
        }
    }
}

/// Whether Redis answered lately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Health {
    /// Not tried yet.
    Unknown,
    Up,
    /// Failing: requests use the fallback; a probe runs at most every `REDIS_PROBE_INTERVAL`.
    Down {
        probing: bool,
        next_probe: Instant,
    },
}

struct RedisLimiter {
    /// `None` if the URL is unusable (refused at startup by `RateLimits::validate`).
    client: Option<redis::Client>,
    /// Where Redis is, for logs (no credentials).
    addr: String,
    /// Created on first use (it needs the runtime) and anew by each probe while down.
    manager: Mutex<Option<ConnectionManager>>,
    script: redis::Script,
    signature_script: redis::Script,
    prefix: String,
    fallback: RedisUnavailable,
    health: Mutex<Health>,
}

impl RedisLimiter {
    fn new(url: &str, prefix: &str, fallback: RedisUnavailable) -> Self {
        crate::tls::install_tls_provider(); // rediss://
        let client = match redis::Client::open(url) {
            Ok(client) => Some(client),
            Err(error) => {
                tracing::error!(%error, "rate limits: the Redis URL is unusable");
                None
            }
        };
        let addr = client
            .as_ref()
            .map(|c| c.get_connection_info().addr().to_string())
            .unwrap_or_else(|| "?".into());
        Self {
            client,
            addr,
            manager: Mutex::new(None),
            script: redis::Script::new(GCRA_SCRIPT),
            signature_script: redis::Script::new(SIGNATURE_SCRIPT),
            prefix: prefix.to_owned(),
            fallback,
            health: Mutex::new(Health::Unknown),
        }
    }

    /// `Some(allowed)` from Redis, or `None` if Redis is unreachable (use the fallback).
    async fn check(self: &Arc<Self>, account: AccountId, action: &str, limit: u32) -> Option<bool> {
        let health = *self.health.lock().unwrap_or_else(|e| e.into_inner());
        if let Health::Down { .. } = health {
            self.maybe_probe();
            return None;
        }
        match self.gcra(account, action, limit).await {
            Ok(allowed) => {
                self.mark_up();
                Some(allowed)
            }
            Err(error) => {
                self.mark_down(&error);
                None
            }
        }
    }

    /// [`SIGNATURE_SCRIPT`] on `{prefix}:sig:{hex}`: `Some(None)` on the first use,
    /// `Some(Some(ms))` on a later one, `None` if Redis is unreachable.
    async fn remember(
        self: &Arc<Self>,
        signature: &crate::replay::Fingerprint,
        ttl_secs: i64,
    ) -> Option<Option<u64>> {
        let health = *self.health.lock().unwrap_or_else(|e| e.into_inner());
        if let Health::Down { .. } = health {
            self.maybe_probe();
            return None;
        }
        let outcome = async {
            let mut connection = self.connection()?;
            let key = format!("{}:sig:{}", self.prefix, hex::encode(signature));
            let mut invocation = self.signature_script.key(key);
            invocation.arg(ttl_secs);
            let call = invocation.invoke_async::<i64>(&mut connection);
            match tokio::time::timeout(REDIS_CHECK_DEADLINE, call).await {
                Ok(Ok(since)) => Ok(u64::try_from(since).ok()),
                Ok(Err(error)) => Err(error.to_string()),
                Err(_) => Err(format!(
                    "no answer within {} ms",
                    REDIS_CHECK_DEADLINE.as_millis()
                )),
            }
        }
        .await;
        match outcome {
            Ok(since) => {
                self.mark_up();
                Some(since)
            }
            Err(error) => {
                self.mark_down(&error);
                None
            }
        }
    }

    async fn gcra(&self, account: AccountId, action: &str, limit: u32) -> Result<bool, String> {
        let mut connection = self.connection()?;
        let key = format!("{}:{action}:{account}", self.prefix);
        let interval_us = (1_000_000 / u64::from(limit)).max(1);
        let call = async {
            self.script
                .key(key)
                .arg(interval_us)
                .arg(limit)
                .invoke_async::<i64>(&mut connection)
                .await
        };
        match tokio::time::timeout(REDIS_CHECK_DEADLINE, call).await {
            Ok(Ok(allowed)) => Ok(allowed == 1),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err(format!(
                "no answer within {} ms",
                REDIS_CHECK_DEADLINE.as_millis()
            )),
        }
    }

    /// The shared connection, created lazily (it only connects when first used).
    fn connection(&self) -> Result<ConnectionManager, String> {
        let mut manager = self.manager.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(existing) = manager.as_ref() {
            return Ok(existing.clone());
        }
        let client = self.client.clone().ok_or("the Redis URL is unusable")?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_CONNECT_TIMEOUT))
            .set_response_timeout(Some(REDIS_RESPONSE_TIMEOUT))
            // One attempt per (re)connection: a dead Redis must not hold requests in retries;
            // the probe below (or the manager's own reconnect) tries again later.
            .set_number_of_retries(0);
        let created =
            ConnectionManager::new_lazy_with_config(client, config).map_err(|e| e.to_string())?;
        *manager = Some(created.clone());
        Ok(created)
    }

    fn mark_up(&self) {
        let mut health = self.health.lock().unwrap_or_else(|e| e.into_inner());
        match *health {
            Health::Up => {}
            Health::Unknown => {
                tracing::info!(redis = %self.addr, "rate limits: counting in Redis, shared by all nodes");
            }
            Health::Down { .. } => {
                tracing::warn!(redis = %self.addr, "rate limits: Redis is reachable again; back to cluster-wide limits");
            }
        }
        *health = Health::Up;
        crate::metrics::record_rate_limit_redis_up(true);
    }

    fn mark_down(&self, error: &str) {
        let mut health = self.health.lock().unwrap_or_else(|e| e.into_inner());
        if let Health::Down { .. } = *health {
            return; // already known (a request that was in flight when Redis went away)
        }
        match self.fallback {
            RedisUnavailable::Local => tracing::warn!(
                redis = %self.addr,
                %error,
                "rate limits: Redis is unreachable; each node now limits on its own at limit/nodes"
            ),
            RedisUnavailable::Refuse => tracing::warn!(
                redis = %self.addr,
                %error,
                "rate limits: Redis is unreachable; rate-limited requests are refused (ServiceUnavailable)"
            ),
        }
        *health = Health::Down {
            probing: false,
            next_probe: Instant::now() + REDIS_PROBE_INTERVAL,
        };
        crate::metrics::record_rate_limit_redis_up(false);
    }

    /// While down: once per interval, check Redis in the background (no request waits on it).
    fn maybe_probe(self: &Arc<Self>) {
        {
            let mut health = self.health.lock().unwrap_or_else(|e| e.into_inner());
            match *health {
                Health::Down {
                    probing: false,
                    next_probe,
                } if Instant::now() >= next_probe => {
                    *health = Health::Down {
                        probing: true,
                        next_probe,
                    };
                }
                _ => return,
            }
        }
        let this = Arc::clone(self);
        tokio::spawn(async move {
            // A fresh connection each time: whatever state the old one was left in.
            *this.manager.lock().unwrap_or_else(|e| e.into_inner()) = None;
            let outcome = match this.connection() {
                Ok(mut connection) => {
                    let load = this.script.load_async(&mut connection);
                    match tokio::time::timeout(REDIS_CHECK_DEADLINE, load).await {
                        Ok(Ok(_)) => Ok(()),
                        Ok(Err(error)) => Err(error.to_string()),
                        Err(_) => Err("timed out".to_owned()),
                    }
                }
                Err(error) => Err(error),
            };
            match outcome {
                Ok(()) => this.mark_up(),
                Err(error) => {
                    tracing::debug!(%error, "rate limits: Redis still unreachable");
                    let mut health = this.health.lock().unwrap_or_else(|e| e.into_inner());
                    *health = Health::Down {
                        probing: false,
                        next_probe: Instant::now() + REDIS_PROBE_INTERVAL,
                    };
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn limits_per_account_and_action() {
        let mut limits = RateLimits {
            default: 3,
            ..RateLimits::default()
        };
        limits.actions.insert("Free".into(), 0);
        let limiter = RateLimiter::new(limits);
        let mut allowed = 0;
        for _ in 0..10 {
            if limiter.check(1, "GetRoomEvent").await == Verdict::Allowed {
                allowed += 1;
            }
        }
        assert_eq!(allowed, 3);
        // Another account and another action have their own budgets.
        assert_eq!(limiter.check(2, "GetRoomEvent").await, Verdict::Allowed);
        assert_eq!(limiter.check(1, "DescribeRoom").await, Verdict::Allowed);
        for _ in 0..100 {
            assert_eq!(limiter.check(1, "Free").await, Verdict::Allowed);
        }
    }
}
