//! The service's settings. The binary fills them from flags, environment and an optional TOML
//! file (see `roomlog.example.toml`); every field has a default, so zero configuration works.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Where `roomlog serve` listens unless told otherwise: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7600";
/// LCIC's limit for its actions: 20 requests/s per account and action.
pub const DEFAULT_RATE_LIMIT: u32 = 20;
/// Ingest is roomlog's own action and the runtime reports often: a higher default.
pub const DEFAULT_REPORT_RATE_LIMIT: u32 = 2000;

/// Rendered GetRoomEvent pages kept in memory: ~1,600 pages of 100 events.
pub const DEFAULT_PAGE_CACHE_MIB: u32 = 16;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServeConfig {
    /// Address and port to listen on.
    pub listen: SocketAddr,
    /// Directory of the embedded store and the bootstrap credentials.
    pub data_dir: PathBuf,
    /// A PostgreSQL URL (`postgres://user@host:port/db`) to keep the data in, shared by every
    /// node of a deployment. `None`: the embedded store in `data_dir`.
    pub store: Option<String>,
    /// The PostgreSQL schema to use (created if missing); `None`: the connection's default.
    pub store_schema: Option<String>,
    /// With a store other nodes write to, background jobs (lifecycle, purge, attendance,
    /// callbacks) look for work at least this often: how soon a node takes over a dead one's.
    #[serde(with = "humantime_serde")]
    pub job_poll_interval: Duration,
    /// How long a room's events stay queryable after its class ended (LCIC: one hour).
    #[serde(with = "humantime_serde")]
    pub events_retention_after_end: Duration,
    /// A class with unlimited overtime (EndDelayTime 0) ends once its room has been empty this
    /// long after EndTime.
    #[serde(with = "humantime_serde")]
    pub idle_end_after: Duration,
    /// MiB of rendered GetRoomEvent pages kept in memory (see `page_cache`); 0 keeps none.
    pub page_cache_mib: u32,
    pub rate_limits: RateLimits,
    pub callbacks: CallbackConfig,
    /// Connections: timeouts, limits, TLS.
    pub http: HttpConfig,
    /// The live classroom gateway (`GET /classroom/ws`, docs/gateway.md).
    pub gateway: GatewayConfig,
    /// `text` (default) or `json` log lines.
    pub log_format: LogFormat,
}

impl ServeConfig {
    pub fn page_cache_bytes(&self) -> usize {
        usize::try_from(self.page_cache_mib)
            .unwrap_or(usize::MAX)
            .saturating_mul(1 << 20)
    }
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.parse().expect("valid default address"),
            data_dir: PathBuf::from("roomlog-data"),
            store: None,
            store_schema: None,
            job_poll_interval: Duration::from_secs(1),
            events_retention_after_end: Duration::from_secs(3600),
            idle_end_after: Duration::from_secs(600),
            page_cache_mib: DEFAULT_PAGE_CACHE_MIB,
            rate_limits: RateLimits::default(),
            callbacks: CallbackConfig::default(),
            http: HttpConfig::default(),
            gateway: GatewayConfig::default(),
            log_format: LogFormat::Text,
        }
    }
}

/// The live classroom gateway: heartbeats and what one connection or room may cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct GatewayConfig {
    /// How often a client sends a heartbeat (announced to it at entry).
    #[serde(with = "humantime_serde")]
    pub heartbeat_interval: Duration,
    /// A session not heard from this long is over: closed, and `MemberQuit` Reason 4 recorded.
    /// A dropped connection's session waits this long (from the last message heard) for the
    /// client to resume it.
    #[serde(with = "humantime_serde")]
    pub heartbeat_timeout: Duration,
    /// The `join` message must arrive within this after the WebSocket opened.
    #[serde(with = "humantime_serde")]
    pub join_timeout: Duration,
    /// Open gateway connections per room on this node; more are refused (close code 4012).
    pub max_connections_per_room: usize,
    /// Messages per second one connection may send (bursts of twice that); beyond it the
    /// connection is closed (close code 4013).
    pub max_messages_per_second: u32,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            heartbeat_interval: Duration::from_secs(5),
            heartbeat_timeout: Duration::from_secs(15),
            join_timeout: Duration::from_secs(5),
            max_connections_per_room: 1000,
            max_messages_per_second: 20,
        }
    }
}

impl GatewayConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.heartbeat_interval.is_zero() || self.join_timeout.is_zero() {
            return Err("gateway heartbeat-interval and join-timeout must be more than 0".into());
        }
        if self.heartbeat_timeout <= self.heartbeat_interval {
            return Err("gateway heartbeat-timeout must be longer than heartbeat-interval".into());
        }
        if self.max_connections_per_room == 0 || self.max_messages_per_second == 0 {
            return Err(
                "gateway max-connections-per-room and max-messages-per-second must be at least 1"
                    .into(),
            );
        }
        Ok(())
    }
}

/// What one connection may cost, and TLS. Every bound holds before a request is authenticated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct HttpConfig {
    /// A request's headers must arrive within this; it is also how long an idle keep-alive
    /// connection (or one that never sends a byte) stays open, and the TLS handshake's limit.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// A request's body must arrive within this once its headers have.
    #[serde(with = "humantime_serde")]
    pub body_read_timeout: Duration,
    /// Open connections at once; beyond it new ones are closed at once (and a warning logged).
    pub max_connections: usize,
    /// Open StreamRoomEvents streams per account on this node (streams are exempt from the idle
    /// timeout, so they are counted instead).
    pub max_streams_per_account: usize,
    /// A signature may be used again this long after its first use by an action that changes
    /// state (honest SDK calls with one body in one second share a signature); `0s` refuses
    /// every second use.
    #[serde(with = "humantime_serde")]
    pub replay_grace: Duration,
    /// MiB of request bodies over 64 KiB held at once, all requests together; a large body
    /// that does not fit is answered ServiceUnavailable.
    pub max_body_buffer_mib: u32,
    /// PEM certificate chain and private key: serve HTTPS (rustls) instead of HTTP.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(60),
            max_connections: 4096,
            max_streams_per_account: 100,
            max_body_buffer_mib: 256,
            replay_grace: Duration::from_millis(crate::replay::REUSE_GRACE_MS),
            tls_cert: None,
            tls_key: None,
        }
    }
}

impl HttpConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err("tls-cert and tls-key go together: give both or neither".into());
        }
        if self.header_read_timeout.is_zero() || self.body_read_timeout.is_zero() {
            return Err("header-read-timeout and body-read-timeout must be more than 0".into());
        }
        if self.max_connections == 0 {
            return Err("max-connections must be at least 1".into());
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Callback delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct CallbackConfig {
    /// Allow callback URLs that resolve to loopback, private or link-local addresses (tests,
    /// on-premises installs). Off by default: such URLs are refused (SSRF).
    pub allow_private: bool,
    #[serde(flatten)]
    pub retry: roomlog_core::callback::RetryPolicy,
    /// Addresses of host names, used instead of DNS for the names listed (`*`: every other
    /// name). Not a configuration key: tests use it to play a DNS server that answers anything.
    #[serde(skip)]
    pub host_overrides: BTreeMap<String, Vec<std::net::IpAddr>>,
}

/// Requests per second, per account and action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RateLimits {
    /// For every action without its own entry.
    pub default: u32,
    /// Per action, e.g. `GetRoomEvent = 50`. `0` disables the limit for that action.
    pub actions: BTreeMap<String, u32>,
    /// Where the limits are counted: `None` = in this process (one node); a `redis://` or
    /// `rediss://` URL = in Redis, shared by every node using it (the limits are cluster-wide).
    pub backend: Option<String>,
    /// With a Redis backend, what a request gets while Redis is unreachable.
    pub redis_unavailable: RedisUnavailable,
    /// How many nodes share the limits; with `redis-unavailable = "local"` each node then
    /// allows `ceil(limit / nodes)` per second on its own.
    pub nodes: u32,
    /// Prefix of the Redis keys (`{prefix}:{action}:{account}`). Not a configuration key: tests
    /// sharing one Redis set it (hidden `--rate-limit-key-prefix`) to stay apart.
    #[serde(skip)]
    pub key_prefix: String,
}

/// What a request gets while the Redis backend is unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RedisUnavailable {
    /// Each node limits on its own, at `ceil(limit / nodes)` per second: the cluster stays
    /// roughly at the limit and keeps answering.
    #[default]
    Local,
    /// Rate-limited requests are answered `ServiceUnavailable`: the limit is never exceeded,
    /// but nothing is served until Redis is back.
    Refuse,
}

/// The default prefix of the Redis rate-limit keys.
pub const DEFAULT_RATE_LIMIT_KEY_PREFIX: &str = "roomlog:rl";

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            default: DEFAULT_RATE_LIMIT,
            actions: BTreeMap::from([("ReportRoomEvents".to_owned(), DEFAULT_REPORT_RATE_LIMIT)]),
            backend: None,
            redis_unavailable: RedisUnavailable::Local,
            nodes: 1,
            key_prefix: DEFAULT_RATE_LIMIT_KEY_PREFIX.to_owned(),
        }
    }
}

impl RateLimits {
    /// The limit for one action (`0` = unlimited).
    pub fn for_action(&self, action: &str) -> u32 {
        self.actions.get(action).copied().unwrap_or(self.default)
    }

    /// One node's share of an action's limit while Redis is unreachable: `ceil(limit / nodes)`,
    /// at least 1 (`0` stays unlimited).
    pub fn per_node(&self, action: &str) -> u32 {
        let limit = self.for_action(action);
        if limit == 0 {
            return 0;
        }
        limit.div_ceil(self.nodes.max(1)).max(1)
    }

    /// Refuses settings that cannot work (checked at startup).
    pub fn validate(&self) -> Result<(), String> {
        if self.nodes == 0 {
            return Err("rate-limits.nodes must be at least 1".into());
        }
        if let Some(url) = &self.backend {
            if !is_redis_url(url) {
                return Err(format!(
                    "rate-limits.backend must be a redis:// or rediss:// URL, got `{url}`"
                ));
            }
            redis::Client::open(url.as_str())
                .map_err(|e| format!("rate-limits.backend is not a usable Redis URL: {e}"))?;
        }
        Ok(())
    }
}

/// True for the URLs a Redis rate-limit backend accepts.
pub fn is_redis_url(s: &str) -> bool {
    s.starts_with("redis://") || s.starts_with("rediss://")
}

/// The 0600 file in the data directory holding the credentials created on first start.
pub const CREDENTIALS_FILE: &str = "credentials.json";

impl ServeConfig {
    /// The SQLite database inside the data directory.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("roomlog.db")
    }

    /// The 0600 file holding the credentials created on first start.
    pub fn credentials_path(&self) -> PathBuf {
        self.data_dir.join(CREDENTIALS_FILE)
    }

    pub fn lifecycle_policy(&self) -> roomlog_core::lifecycle::LifecyclePolicy {
        roomlog_core::lifecycle::LifecyclePolicy {
            idle_end: self.idle_end_after,
        }
    }

    pub fn retention_ms(&self) -> i64 {
        i64::try_from(self.events_retention_after_end.as_millis()).unwrap_or(i64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_file_parses_and_matches_defaults_where_commented() {
        let text = include_str!("../../../roomlog.example.toml");
        let parsed: ServeConfig = toml::from_str(text).expect("example config parses");
        assert_eq!(parsed.rate_limits.for_action("GetRoomEvent"), 20);
        assert_eq!(parsed.rate_limits.for_action("ReportRoomEvents"), 2000);
        assert_eq!(parsed.events_retention_after_end, Duration::from_secs(3600));
        assert_eq!(parsed.rate_limits, RateLimits::default());
        assert_eq!(parsed.rate_limits.key_prefix, DEFAULT_RATE_LIMIT_KEY_PREFIX);
        assert_eq!(parsed.http, HttpConfig::default());
        assert_eq!(parsed.gateway, GatewayConfig::default());
    }

    #[test]
    fn redis_backend_settings_parse_and_validate() {
        let parsed: ServeConfig = toml::from_str(
            "[rate-limits]\nbackend = \"redis://127.0.0.1:6379\"\nredis-unavailable = \"refuse\"\nnodes = 3\n",
        )
        .unwrap();
        let limits = &parsed.rate_limits;
        assert_eq!(limits.backend.as_deref(), Some("redis://127.0.0.1:6379"));
        assert_eq!(limits.redis_unavailable, RedisUnavailable::Refuse);
        assert_eq!(limits.key_prefix, DEFAULT_RATE_LIMIT_KEY_PREFIX);
        assert!(limits.validate().is_ok());
        // 20/s over 3 nodes: 7 each (rounded up); 2000/3 -> 667; unlimited stays unlimited.
        assert_eq!(limits.per_node("GetRoomEvent"), 7);
        assert_eq!(limits.per_node("ReportRoomEvents"), 667);
        let mut many = limits.clone();
        many.nodes = 50;
        assert_eq!(many.per_node("GetRoomEvent"), 1);
        many.actions.insert("GetRooms".into(), 0);
        assert_eq!(many.per_node("GetRooms"), 0);

        let bad = |text: &str| {
            toml::from_str::<ServeConfig>(text)
                .unwrap()
                .rate_limits
                .validate()
        };
        assert!(bad("[rate-limits]\nnodes = 0\n").is_err());
        assert!(bad("[rate-limits]\nbackend = \"http://127.0.0.1:6379\"\n").is_err());
        assert!(
            toml::from_str::<ServeConfig>("[rate-limits]\nredis-unavailable = \"open\"\n").is_err()
        );
        assert!(toml::from_str::<ServeConfig>("[rate-limits]\nkey-prefix = \"x\"\n").is_err());
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<ServeConfig>("lisen = \"127.0.0.1:1\"").is_err());
    }
}
