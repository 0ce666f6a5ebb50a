//! Test support: the real `roomlog` binary, started on a free loopback port with its own data
//! directory, driven over real sockets.
#![allow(dead_code)]

pub mod external;
pub mod inprocess;
pub mod postgres;
pub mod sse;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use roomlog::client::Client;
use roomlog_server::bootstrap::Credentials;
use serde_json::{json, Value};

pub struct TestServer {
    pub child: Child,
    pub endpoint: String,
    pub port: u16,
    pub data_dir: PathBuf,
    pub credentials: Credentials,
    extra_args: Vec<String>,
    /// Where the server's log (stderr, level info) goes; inherited when `None`.
    log: Option<PathBuf>,
    /// Keeps the directory alive for the server's whole life (and restarts).
    _dir: Option<tempfile::TempDir>,
}

impl TestServer {
    /// A fresh server on a fresh data directory.
    pub fn start(extra_args: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let data_dir = dir.path().to_path_buf();
        let mut server = Self::start_in(&data_dir, extra_args);
        server._dir = Some(dir);
        server
    }

    /// Two nodes started with the same `extra_args` (a shared store), each on a fresh data
    /// directory, the second with the first's credentials.
    pub fn start_pair(extra_args: &[&str]) -> (Self, Self) {
        let a = Self::start(extra_args);
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::copy(
            a.data_dir.join("credentials.json"),
            dir.path().join("credentials.json"),
        )
        .expect("copying the first node's credentials");
        let mut b = Self::start_in(dir.path(), extra_args);
        b._dir = Some(dir);
        (a, b)
    }

    /// A fresh server whose log (level info, text) is appended to `log`.
    pub fn start_logging_to(log: &Path, extra_args: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut server = Self::spawn(
            dir.path(),
            "127.0.0.1:0",
            extra_args.iter().map(|s| s.to_string()).collect(),
            Some(log.to_path_buf()),
        );
        server._dir = Some(dir);
        server
    }

    /// A server on an existing data directory (first start bootstraps it).
    pub fn start_in(data_dir: &Path, extra_args: &[&str]) -> Self {
        Self::spawn(
            data_dir,
            "127.0.0.1:0",
            extra_args.iter().map(|s| s.to_string()).collect(),
            None,
        )
    }

    fn spawn(data_dir: &Path, listen: &str, extra_args: Vec<String>, log: Option<PathBuf>) -> Self {
        let (stderr, level) = match &log {
            Some(path) => (
                Stdio::from(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)
                        .expect("log file"),
                ),
                "info".to_owned(),
            ),
            None => (
                Stdio::inherit(),
                std::env::var("ROOMLOG_TEST_LOG").unwrap_or_else(|_| "warn".into()),
            ),
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_roomlog"))
            .arg("serve")
            .arg("--listen")
            .arg(listen)
            .arg("--data-dir")
            .arg(data_dir)
            .args(&extra_args)
            .env("RUST_LOG", level)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn roomlog");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(endpoint) = line.strip_prefix("roomlog listening on ") {
                    let _ = tx.send(endpoint.trim().to_owned());
                }
            }
        });
        let endpoint = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("roomlog did not report its address within 60 s");
        let port = endpoint
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port");
        let credentials =
            Credentials::load(&data_dir.join("credentials.json")).expect("credentials");
        Self {
            child,
            endpoint,
            port,
            data_dir: data_dir.to_path_buf(),
            credentials,
            extra_args,
            log,
            _dir: None,
        }
    }

    pub fn client(&self) -> Client {
        Client::new(
            &self.endpoint,
            &self.credentials.secret_id,
            &self.credentials.secret_key,
        )
        .expect("client")
    }

    pub fn sdk_app_id(&self) -> u64 {
        self.credentials.sdk_app_id
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait for a graceful exit; returns the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "roomlog did not exit within 30 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts again on the same data directory and port.
    pub fn restart(&mut self) {
        let listen = format!("127.0.0.1:{}", self.port);
        let mut next = Self::spawn(
            &self.data_dir,
            &listen,
            self.extra_args.clone(),
            self.log.clone(),
        );
        next._dir = self._dir.take();
        // Dropping the old handle only reaps its (already stopped) process.
        *self = next;
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A one-hour class starting now.
pub fn room_params(sdk_app_id: u64) -> Value {
    let now = roomlog_core::time::now_secs();
    json!({
        "SdkAppId": sdk_app_id, "Name": "Test class", "StartTime": now, "EndTime": now + 3600,
        "Resolution": 1, "MaxMicNumber": 6, "SubType": "videodoc",
    })
}

/// Creates a room and returns its id.
pub async fn create_room(client: &Client, sdk_app_id: u64) -> u64 {
    client
        .call("CreateRoom", &room_params(sdk_app_id))
        .await
        .expect("CreateRoom")["RoomId"]
        .as_u64()
        .expect("RoomId")
}

/// A server's /metrics text.
pub async fn metrics_text(server: &TestServer) -> String {
    roomlog::client::http_client()
        .get(format!("{}/metrics", server.endpoint))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// A one-hour class, created and started now: its RoomId.
pub async fn start_class(client: &Client, sdk_app_id: u64) -> u64 {
    let room = create_room(client, sdk_app_id).await;
    client
        .call("StartRoom", &json!({ "RoomId": room }))
        .await
        .expect("StartRoom");
    room
}

/// A counter or gauge without labels from a server's /metrics (0 if absent).
pub async fn metric(server: &TestServer, name: &str) -> f64 {
    metrics_text(server)
        .await
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// Reports `events` into the room (all must be accepted or duplicates).
pub async fn report_events(client: &Client, app: u64, room: u64, events: &[Value]) -> Value {
    client
        .call(
            "ReportRoomEvents",
            &json!({"SdkAppId": app, "RoomId": room, "Events": events}),
        )
        .await
        .expect("ReportRoomEvents")
}

/// One GetRoomEvent page.
pub async fn get_page(client: &Client, app: u64, room: u64, page: u64, limit: u64) -> Value {
    client
        .call(
            "GetRoomEvent",
            &json!({"RoomId": room, "SdkAppId": app, "Page": page, "Limit": limit}),
        )
        .await
        .expect("GetRoomEvent")
}

/// The error code of a call that must fail.
pub async fn error_code(client: &Client, action: &str, params: Value) -> String {
    let response = client.call_raw(action, &params).await.expect("transport");
    response["Error"]["Code"]
        .as_str()
        .unwrap_or_else(|| panic!("{action} {params} succeeded: {response}"))
        .to_owned()
}

/// Every event of the room through `client`, checking that every seq up to Total is readable
/// (dense): (Total, UserId -> times recorded). Tests put the EventId in the UserId.
pub async fn read_log(client: &Client, app: u64, room: u64) -> (u64, HashMap<String, usize>) {
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut total = 0;
    let mut read = 0;
    for page in 1.. {
        let response = client
            .call(
                "GetRoomEvent",
                &json!({"RoomId": room, "SdkAppId": app, "Page": page, "Limit": 200}),
            )
            .await
            .unwrap();
        total = response["Total"].as_u64().unwrap();
        let events = response["Events"].as_array().unwrap();
        if events.is_empty() {
            break;
        }
        for event in events {
            if let Some(user) = event["EventData"]["UserId"].as_str() {
                *counts.entry(user.to_owned()).or_default() += 1;
            }
            read += 1;
        }
    }
    assert_eq!(read, total, "every seq up to Total is readable (dense)");
    (total, counts)
}

pub fn assert_exactly_once(acknowledged: &[String], counts: &HashMap<String, usize>) {
    let duplicated: Vec<_> = counts.iter().filter(|(_, &n)| n > 1).collect();
    assert!(duplicated.is_empty(), "recorded twice: {duplicated:?}");
    let lost: Vec<_> = acknowledged
        .iter()
        .filter(|id| !counts.contains_key(*id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged events lost, e.g. {:?}",
        lost.len(),
        lost.first()
    );
}

/// `action` through `client`, which must succeed: its `Response`.
pub async fn call(client: &Client, action: &str, params: Value) -> Value {
    match client.call(action, &params).await {
        Ok(response) => response,
        Err(e) => panic!("{action} {params}: {e:#}"),
    }
}

/// Each `(action, params, code)` in turn must fail with `code`.
pub async fn assert_codes<const N: usize>(client: &Client, calls: [(&str, Value, &str); N]) {
    for (action, params, expected) in calls {
        let what = format!("{action} {params}");
        assert_eq!(error_code(client, action, params).await, expected, "{what}");
    }
}

/// The `EventType` of each event of a `GetRoomEvent` answer.
pub fn event_types(response: &Value) -> Vec<&str> {
    response["Events"]
        .as_array()
        .expect("Events")
        .iter()
        .map(|e| e["EventType"].as_str().expect("EventType"))
        .collect()
}

/// The error message of a `Response`, which must have one.
pub fn error_message(response: &Value) -> &str {
    let message = response["Error"]["Message"].as_str();
    message.unwrap_or_else(|| panic!("no error message: {response}"))
}
