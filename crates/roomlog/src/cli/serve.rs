//! `roomlog serve`: configuration from flags > environment > TOML file > defaults.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use roomlog_server::config::{LogFormat, RedisUnavailable};
use roomlog_server::{AppState, ServeConfig};

use super::store::StoreLocation;

#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// A TOML configuration file (see roomlog.example.toml).
    #[arg(long, env = "ROOMLOG_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address and port to listen on [default: 127.0.0.1:7600]. Port 0 picks a free port.
    #[arg(long, env = "ROOMLOG_LISTEN", value_name = "ADDR:PORT")]
    pub listen: Option<SocketAddr>,
    /// Directory of the embedded store and bootstrap credentials [default: roomlog-data].
    #[arg(long, env = "ROOMLOG_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    #[command(flatten)]
    pub store: super::store::StoreArgs,
    /// With a PostgreSQL store shared by several nodes: how often background jobs look for
    /// work other nodes left (a dead node's) [default: 1s].
    #[arg(long, env = "ROOMLOG_JOB_POLL_INTERVAL", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub job_poll_interval: Option<Duration>,
    /// How long events stay queryable after a class ends [default: 1h], e.g. 1h, 90m, 2s.
    #[arg(long, env = "ROOMLOG_EVENTS_RETENTION_AFTER_END", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub events_retention_after_end: Option<Duration>,
    /// With unlimited overtime (EndDelayTime 0), end a class once its room has been empty this
    /// long after EndTime [default: 10m].
    #[arg(long, env = "ROOMLOG_IDLE_END_AFTER", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub idle_end_after: Option<Duration>,
    /// MiB of rendered GetRoomEvent pages kept in memory, for pages read again; 0 turns the
    /// page cache off [default: 16].
    #[arg(long, env = "ROOMLOG_PAGE_CACHE_MIB", value_name = "MIB")]
    pub page_cache_mib: Option<u32>,
    /// Requests per second per account for every action without its own limit [default: 20].
    #[arg(long, env = "ROOMLOG_RATE_LIMIT_DEFAULT", value_name = "N")]
    pub rate_limit_default: Option<u32>,
    /// A per-action limit, ACTION=N requests/s per account (0 = unlimited); repeatable. A
    /// redis:// or rediss:// URL instead counts the limits in that Redis, shared by all nodes.
    #[arg(long = "rate-limit", env = "ROOMLOG_RATE_LIMITS", value_name = "ACTION=N|REDIS_URL", value_delimiter = ',', value_parser = parse_rate_limit)]
    pub rate_limits: Vec<RateLimitArg>,
    /// With a Redis rate-limit backend, while Redis is unreachable: `local` limits each node to
    /// limit/nodes on its own, `refuse` answers ServiceUnavailable [default: local].
    #[arg(long, env = "ROOMLOG_RATE_LIMIT_FALLBACK", value_enum)]
    pub rate_limit_fallback: Option<RateLimitFallbackArg>,
    /// How many nodes share the Redis rate limits (each allows limit/N, rounded up, while Redis
    /// is unreachable) [default: 1].
    #[arg(long, env = "ROOMLOG_RATE_LIMIT_NODES", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_nodes: Option<u32>,
    /// Prefix of the Redis rate-limit keys (tests sharing one Redis keep apart with it).
    #[arg(long, env = "ROOMLOG_RATE_LIMIT_KEY_PREFIX", hide = true)]
    pub rate_limit_key_prefix: Option<String>,
    /// Allow callback URLs on loopback, private or link-local addresses (tests, on-premises).
    #[arg(long, env = "ROOMLOG_ALLOW_PRIVATE_CALLBACKS")]
    pub allow_private_callbacks: bool,
    /// A callback answered 2xx within this is delivered [default: 5s].
    #[arg(long, env = "ROOMLOG_CALLBACK_TIMEOUT", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub callback_timeout: Option<Duration>,
    /// First retry delay of a failing callback, doubling per attempt [default: 1s].
    #[arg(long, env = "ROOMLOG_CALLBACK_INITIAL_BACKOFF", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub callback_initial_backoff: Option<Duration>,
    /// Longest retry delay [default: 10m].
    #[arg(long, env = "ROOMLOG_CALLBACK_MAX_BACKOFF", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub callback_max_backoff: Option<Duration>,
    /// A callback still failing this long after its first attempt becomes a dead letter [default: 24h].
    #[arg(long, env = "ROOMLOG_CALLBACK_GIVE_UP_AFTER", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub callback_give_up_after: Option<Duration>,
    /// Delivered and dead callbacks are kept for inspection and replay this long [default: 7d].
    #[arg(long, env = "ROOMLOG_CALLBACK_KEEP_FOR", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub callback_keep_for: Option<Duration>,
    /// A request's headers must arrive within this; also how long an idle connection stays
    /// open [default: 30s].
    #[arg(long, env = "ROOMLOG_HEADER_READ_TIMEOUT", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub header_read_timeout: Option<Duration>,
    /// A request's body must arrive within this [default: 60s].
    #[arg(long, env = "ROOMLOG_BODY_READ_TIMEOUT", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub body_read_timeout: Option<Duration>,
    /// Open connections at once; new ones beyond it are closed [default: 4096].
    #[arg(long, env = "ROOMLOG_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,
    /// Open StreamRoomEvents streams per account on this node [default: 100].
    #[arg(long, env = "ROOMLOG_MAX_STREAMS_PER_ACCOUNT", value_name = "N")]
    pub max_streams_per_account: Option<usize>,
    /// A signature may come back this long after its first use by an action that changes state
    /// (identical SDK calls in one second share one); `0s` refuses every second use [default: 2s].
    #[arg(long, env = "ROOMLOG_REPLAY_GRACE", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub replay_grace: Option<Duration>,
    /// MiB of request bodies over 64 KiB held at once, all requests together [default: 256].
    #[arg(long, env = "ROOMLOG_MAX_BODY_BUFFER_MIB", value_name = "MIB")]
    pub max_body_buffer_mib: Option<u32>,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key).
    #[arg(
        long,
        env = "ROOMLOG_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(
        long,
        env = "ROOMLOG_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
    /// Classroom gateway: how often clients send a heartbeat [default: 5s].
    #[arg(long, env = "ROOMLOG_GATEWAY_HEARTBEAT_INTERVAL", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub gateway_heartbeat_interval: Option<Duration>,
    /// Classroom gateway: a session silent this long is closed and MemberQuit Reason 4
    /// recorded; a dropped connection may resume within it [default: 15s].
    #[arg(long, env = "ROOMLOG_GATEWAY_HEARTBEAT_TIMEOUT", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub gateway_heartbeat_timeout: Option<Duration>,
    /// Classroom gateway: the join message must arrive within this [default: 5s].
    #[arg(long, env = "ROOMLOG_GATEWAY_JOIN_TIMEOUT", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub gateway_join_timeout: Option<Duration>,
    /// Classroom gateway: open connections per room on this node [default: 1000].
    #[arg(
        long,
        env = "ROOMLOG_GATEWAY_MAX_CONNECTIONS_PER_ROOM",
        value_name = "N"
    )]
    pub gateway_max_connections_per_room: Option<usize>,
    /// Classroom gateway: messages per second per connection, bursts of twice that [default: 20].
    #[arg(
        long,
        env = "ROOMLOG_GATEWAY_MAX_MESSAGES_PER_SECOND",
        value_name = "N"
    )]
    pub gateway_max_messages_per_second: Option<u32>,
    /// Log line format.
    #[arg(long, env = "ROOMLOG_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormatArg>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LogFormatArg {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum RateLimitFallbackArg {
    Local,
    Refuse,
}

/// One `--rate-limit` value: a per-action limit or the Redis backend's URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateLimitArg {
    Action(String, u32),
    Backend(String),
}

fn parse_rate_limit(s: &str) -> Result<RateLimitArg, String> {
    let s = s.trim();
    if roomlog_server::config::is_redis_url(s) {
        return Ok(RateLimitArg::Backend(s.to_owned()));
    }
    let (action, n) = parse_action_limit(s)?;
    Ok(RateLimitArg::Action(action, n))
}

pub(super) fn parse_action_limit(s: &str) -> Result<(String, u32), String> {
    let (action, n) = s
        .split_once('=')
        .ok_or_else(|| format!("expected ACTION=N or a redis:// URL, got `{s}`"))?;
    let n = n
        .trim()
        .parse()
        .map_err(|_| format!("`{n}` is not a number of requests per second"))?;
    Ok((action.trim().to_owned(), n))
}

impl ServeArgs {
    /// Layers: defaults, then the file, then flags/environment (clap merges those two).
    pub fn resolve(&self) -> anyhow::Result<ServeConfig> {
        let mut config = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?
            }
            None => ServeConfig::default(),
        };
        if let Some(listen) = self.listen {
            config.listen = listen;
        }
        if let Some(dir) = &self.data_dir {
            config.data_dir = dir.clone();
        }
        if let Some(store) = &self.store.store {
            config.store = Some(store.clone());
        }
        if let Some(schema) = &self.store.store_schema {
            config.store_schema = Some(schema.clone());
        }
        if let Some(interval) = self.job_poll_interval {
            config.job_poll_interval = interval;
        }
        if let Some(retention) = self.events_retention_after_end {
            config.events_retention_after_end = retention;
        }
        if self.allow_private_callbacks {
            config.callbacks.allow_private = true;
        }
        let retry = &mut config.callbacks.retry;
        for (flag, setting) in [
            (self.callback_timeout, &mut retry.timeout),
            (self.callback_initial_backoff, &mut retry.initial_backoff),
            (self.callback_max_backoff, &mut retry.max_backoff),
            (self.callback_give_up_after, &mut retry.give_up_after),
            (self.callback_keep_for, &mut retry.keep_for),
        ] {
            if let Some(value) = flag {
                *setting = value;
            }
        }
        if let Some(idle) = self.idle_end_after {
            config.idle_end_after = idle;
        }
        if let Some(mib) = self.page_cache_mib {
            config.page_cache_mib = mib;
        }
        if let Some(default) = self.rate_limit_default {
            config.rate_limits.default = default;
        }
        for limit in &self.rate_limits {
            match limit {
                RateLimitArg::Action(action, n) => {
                    if !roomlog_server::actions::is_known(action) {
                        bail!("--rate-limit names an unknown action `{action}`");
                    }
                    config.rate_limits.actions.insert(action.clone(), *n);
                }
                RateLimitArg::Backend(url) => config.rate_limits.backend = Some(url.clone()),
            }
        }
        if let Some(fallback) = self.rate_limit_fallback {
            config.rate_limits.redis_unavailable = match fallback {
                RateLimitFallbackArg::Local => RedisUnavailable::Local,
                RateLimitFallbackArg::Refuse => RedisUnavailable::Refuse,
            };
        }
        if let Some(nodes) = self.rate_limit_nodes {
            config.rate_limits.nodes = nodes;
        }
        if let Some(prefix) = &self.rate_limit_key_prefix {
            config.rate_limits.key_prefix = prefix.clone();
        }
        config.rate_limits.validate().map_err(anyhow::Error::msg)?;
        let http = &mut config.http;
        if let Some(timeout) = self.header_read_timeout {
            http.header_read_timeout = timeout;
        }
        if let Some(timeout) = self.body_read_timeout {
            http.body_read_timeout = timeout;
        }
        if let Some(n) = self.max_connections {
            http.max_connections = n;
        }
        if let Some(n) = self.max_streams_per_account {
            http.max_streams_per_account = n;
        }
        if let Some(grace) = self.replay_grace {
            http.replay_grace = grace;
        }
        if let Some(mib) = self.max_body_buffer_mib {
            http.max_body_buffer_mib = mib;
        }
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            http.tls_cert = Some(cert.clone());
            http.tls_key = Some(key.clone());
        }
        http.validate().map_err(anyhow::Error::msg)?;
        let gateway = &mut config.gateway;
        for (flag, setting) in [
            (
                self.gateway_heartbeat_interval,
                &mut gateway.heartbeat_interval,
            ),
            (
                self.gateway_heartbeat_timeout,
                &mut gateway.heartbeat_timeout,
            ),
            (self.gateway_join_timeout, &mut gateway.join_timeout),
        ] {
            if let Some(value) = flag {
                *setting = value;
            }
        }
        if let Some(n) = self.gateway_max_connections_per_room {
            gateway.max_connections_per_room = n;
        }
        if let Some(n) = self.gateway_max_messages_per_second {
            gateway.max_messages_per_second = n;
        }
        gateway.validate().map_err(anyhow::Error::msg)?;
        if let Some(format) = self.log_format {
            config.log_format = match format {
                LogFormatArg::Text => LogFormat::Text,
                LogFormatArg::Json => LogFormat::Json,
            };
        }
        Ok(config)
    }
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = args.resolve()?;
    init_tracing(config.log_format);

    super::store::create_private_dir(&config.data_dir)?;
    let location = StoreLocation::new(
        config.store.as_deref(),
        config.store_schema.as_deref(),
        &config.data_dir,
    )?;
    let store = location.open(Some(config.lifecycle_policy())).await?;

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let local = listener.local_addr()?;

    if let Some((creds, path)) =
        roomlog_server::bootstrap::bootstrap_if_empty(store.as_ref(), &config.data_dir).await?
    {
        println!(
            "First start: created an account, an app and a key (saved to {}):",
            path.display()
        );
        println!("  SdkAppId:  {}", creds.sdk_app_id);
        println!("  SecretId:  {}", creds.secret_id);
        println!("  SecretKey: {}", creds.secret_key);
        println!("This is the only time the SecretKey is printed.");
    }
    let scheme = if config.http.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    println!("roomlog listening on {scheme}://{local}");
    std::io::stdout().flush()?;
    tracing::info!(%local, store = %location.describe(), "roomlog started");

    let state = AppState::new(store.clone(), config);
    roomlog_server::run(listener, state, shutdown_signal()).await?;
    // In-flight requests are done: flush the writer before exiting.
    store.close().await;
    tracing::info!("roomlog stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match format {
        // The JSON formatter escapes control characters itself; text gets the same through
        // `escaped_fields`, so no logged value (a header, a parameter) can forge a log line.
        LogFormat::Text => builder.fmt_fields(escaped_fields()).try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Text log fields as tracing writes them (`name=value`, the message bare), with control
/// characters and line separators in every value escaped.
fn escaped_fields() -> impl for<'w> tracing_subscriber::fmt::FormatFields<'w> {
    use tracing_subscriber::field::MakeExt;
    tracing_subscriber::fmt::format::debug_fn(|writer, field, value| {
        let raw = format!("{value:?}");
        let text = escape_control(&raw);
        if field.name() == "message" {
            write!(writer, "{text}")
        } else {
            write!(writer, "{field}={text}")
        }
    })
    .delimited(" ")
}

/// `text` with control characters, U+2028 and U+2029 written as Rust escapes (`\n`, `\u{1b}`).
fn escape_control(text: &str) -> std::borrow::Cow<'_, str> {
    let needs = |c: char| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}');
    if !text.chars().any(needs) {
        return text.into();
    }
    text.chars()
        .map(|c| {
            if needs(c) {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

#[cfg(test)]
mod log_tests {
    use super::escape_control;

    #[test]
    fn control_characters_cannot_start_a_new_line() {
        assert_eq!(escape_control("plain"), "plain");
        assert_eq!(
            escape_control("1\n2026-01-01 INFO forged\r\u{1b}[31m\u{2028}"),
            "1\\n2026-01-01 INFO forged\\r\\u{1b}[31m\\u{2028}"
        );
    }
}

#[cfg(test)]
mod rate_limit_flag_tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        serve: ServeArgs,
    }

    fn resolve(args: &[&str]) -> anyhow::Result<ServeConfig> {
        let wrapper =
            Wrapper::try_parse_from(std::iter::once("serve").chain(args.iter().copied()))?;
        wrapper.serve.resolve()
    }

    #[test]
    fn rate_limit_takes_actions_and_a_redis_url() {
        let config = resolve(&[
            "--rate-limit",
            "DescribeRoom=5",
            "--rate-limit",
            "redis://127.0.0.1:6379/2",
            "--rate-limit-fallback",
            "refuse",
            "--rate-limit-nodes",
            "4",
        ])
        .unwrap();
        let limits = &config.rate_limits;
        assert_eq!(limits.for_action("DescribeRoom"), 5);
        assert_eq!(limits.backend.as_deref(), Some("redis://127.0.0.1:6379/2"));
        assert_eq!(limits.redis_unavailable, RedisUnavailable::Refuse);
        assert_eq!(limits.nodes, 4);

        let tls = resolve(&["--rate-limit", "rediss://cache.example:6380"]).unwrap();
        assert_eq!(
            tls.rate_limits.backend.as_deref(),
            Some("rediss://cache.example:6380")
        );
        assert_eq!(tls.rate_limits.redis_unavailable, RedisUnavailable::Local);
        assert_eq!(tls.rate_limits.nodes, 1);

        // No flag: the local limiter, as always.
        assert_eq!(resolve(&[]).unwrap().rate_limits.backend, None);
        assert!(resolve(&["--rate-limit-nodes", "0"]).is_err());
        assert!(resolve(&["--rate-limit", "http://127.0.0.1:6379"]).is_err());
        assert!(resolve(&["--rate-limit-fallback", "open"]).is_err());
    }
}
