//! The service run inside the test process (on a real loopback socket) with a `ManualClock`, so
//! schedules, idle ends, kick bars and retention are tested without real waiting.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use roomlog::client::Client;
use roomlog_core::time::{Clock, ManualClock};
use roomlog_server::bootstrap::{bootstrap_if_empty, Credentials, CREDENTIALS_FILE};
use roomlog_server::{AppState, ServeConfig};
use roomlog_sqlite::{SqliteOptions, SqliteStore};
use tokio::sync::oneshot;

pub struct InProcessServer {
    pub endpoint: String,
    pub credentials: Credentials,
    pub clock: Arc<ManualClock>,
    pub data_dir: PathBuf,
    config: ServeConfig,
    store: Arc<SqliteStore>,
    stop: Option<oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl InProcessServer {
    /// Starts on `data_dir` with `config` (listen and data dir are overridden) and `clock`.
    pub async fn start(data_dir: &Path, mut config: ServeConfig, clock: Arc<ManualClock>) -> Self {
        config.data_dir = data_dir.to_path_buf();
        config.listen = "127.0.0.1:0".parse().unwrap();
        let options = SqliteOptions {
            lifecycle: config.lifecycle_policy(),
            ..SqliteOptions::default()
        };
        let store =
            Arc::new(SqliteStore::open_with(&config.database_path(), options).expect("open store"));
        bootstrap_if_empty(store.as_ref(), data_dir)
            .await
            .expect("bootstrap");
        let credentials = Credentials::load(&data_dir.join(CREDENTIALS_FILE)).expect("credentials");
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let state = AppState::with_clock(
            store.clone(),
            config.clone(),
            clock.clone() as Arc<dyn Clock>,
        );
        let (stop, stopped) = oneshot::channel();
        let served = tokio::spawn(roomlog_server::run(listener, state, async {
            let _ = stopped.await;
        }));
        Self {
            endpoint,
            credentials,
            clock,
            data_dir: data_dir.to_path_buf(),
            config,
            store,
            stop: Some(stop),
            served: Some(served),
        }
    }

    pub fn client(&self) -> Client {
        Client::new(
            &self.endpoint,
            &self.credentials.secret_id,
            &self.credentials.secret_key,
        )
        .unwrap()
    }

    /// The store itself, to set up what the API would refuse.
    pub fn store(&self) -> &SqliteStore {
        &self.store
    }

    pub fn sdk_app_id(&self) -> u64 {
        self.credentials.sdk_app_id
    }

    pub fn now_secs(&self) -> u64 {
        (self.clock.now_ms() / 1000) as u64
    }

    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// Graceful stop (in-flight requests finish, the store is flushed and closed).
    pub async fn stop(mut self) -> (PathBuf, ServeConfig, Arc<ManualClock>) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(served) = self.served.take() {
            served.await.unwrap().unwrap();
        }
        self.store.close().await;
        (
            self.data_dir.clone(),
            self.config.clone(),
            self.clock.clone(),
        )
    }
}

/// Polls `check` (real time, short) until it returns Some, for at most 10 s: background jobs
/// react to a clock advance asynchronously.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
