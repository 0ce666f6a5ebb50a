//! A TC3-signed client for roomlog (or any API 3.0 endpoint), like tccli in a few lines.

use std::path::Path;

use anyhow::{anyhow, Context};
use roomlog_protocol::{flatten_params, form, Tc3Signer};
use serde_json::Value;

use roomlog_server::bootstrap::Credentials;

pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:7600";

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    endpoint: String,
    host: String,
    secret_id: String,
    secret_key: String,
}

/// A reqwest builder with TLS ready (see `roomlog_server::callbacks::install_tls_provider`).
pub fn http_client_builder() -> reqwest::ClientBuilder {
    roomlog_server::callbacks::install_tls_provider();
    reqwest::Client::builder()
}

/// A plain HTTP client with TLS ready.
pub fn http_client() -> reqwest::Client {
    http_client_builder()
        .build()
        .expect("a default HTTP client builds")
}

/// An API error answered in the envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message} (RequestId {request_id})")]
pub struct ApiFailure {
    pub code: String,
    pub message: String,
    pub request_id: String,
}

impl Client {
    pub fn new(endpoint: &str, secret_id: &str, secret_key: &str) -> anyhow::Result<Self> {
        let http = http_client_builder().pool_max_idle_per_host(256).build()?;
        Self::with_http(http, endpoint, secret_id, secret_key)
    }

    /// A client over a given HTTP client (e.g. one trusting a private CA).
    pub fn with_http(
        http: reqwest::Client,
        endpoint: &str,
        secret_id: &str,
        secret_key: &str,
    ) -> anyhow::Result<Self> {
        let endpoint = endpoint.trim_end_matches('/').to_owned();
        let url = reqwest::Url::parse(&endpoint).with_context(|| format!("endpoint {endpoint}"))?;
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            _ => return Err(anyhow!("endpoint {endpoint} has no host")),
        };
        Ok(Self {
            http,
            endpoint,
            host,
            secret_id: secret_id.to_owned(),
            secret_key: secret_key.to_owned(),
        })
    }

    /// Reads the credentials a first start wrote into `data_dir`.
    pub fn from_data_dir(endpoint: &str, data_dir: &Path) -> anyhow::Result<Self> {
        let creds = Credentials::load(&data_dir.join(roomlog_server::bootstrap::CREDENTIALS_FILE))?;
        Self::new(endpoint, &creds.secret_id, &creds.secret_key)
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn secret_id(&self) -> &str {
        &self.secret_id
    }

    fn signer(&self) -> Tc3Signer<'_> {
        Tc3Signer {
            secret_id: &self.secret_id,
            secret_key: &self.secret_key,
            service: "lcic",
        }
    }

    /// The SdkAppId of this key's account when it has exactly one app (roomlog's
    /// `DescribeApps`); otherwise an error that lists them and asks for `SdkAppId=`.
    pub async fn own_sdk_app_id(&self) -> anyhow::Result<u64> {
        let response = self
            .call("DescribeApps", &Value::Object(Default::default()))
            .await?;
        let ids: Vec<u64> = response["Apps"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|app| app["SdkAppId"].as_u64())
            .collect();
        match ids.as_slice() {
            [id] => Ok(*id),
            [] => Err(anyhow!(
                "the account of key {} has no app: create one with `roomlog admin create-app`",
                self.secret_id
            )),
            many => Err(anyhow!(
                "the account of key {} has {} apps ({}): say which with SdkAppId=ID",
                self.secret_id,
                many.len(),
                many.iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    /// Opens a TC3-signed GET of `action` with `params` in the query (StreamRoomEvents) and
    /// returns the response unread, for the caller to read as it comes. An answer that is not
    /// an event stream is the usual envelope: its error is returned as an [`ApiFailure`].
    pub async fn open_stream(
        &self,
        action: &str,
        params: &Value,
        last_event_id: Option<u64>,
    ) -> anyhow::Result<reqwest::Response> {
        let pairs = flatten_params(params);
        let query = form::encode(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let headers = self.signer().sign_get(
            &self.host,
            action,
            roomlog_server::API_VERSION,
            &query,
            roomlog_core::time::now_secs(),
        );
        let mut request = self.http.get(format!("{}/?{query}", self.endpoint));
        for (name, value) in headers {
            request = request.header(name, value);
        }
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let response = request.send().await?;
        let is_stream = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        if is_stream {
            return Ok(response);
        }
        let status = response.status();
        let bytes = response.bytes().await?;
        let envelope = parse_envelope(status, &bytes)?;
        Err(api_failure(&envelope)
            .unwrap_or_else(|| anyhow!("{action} answered without an event stream")))
    }

    /// Calls `action` and returns the whole `Response` object, errors included.
    pub async fn call_raw(&self, action: &str, params: &Value) -> anyhow::Result<Value> {
        let body = serde_json::to_vec(params)?;
        let timestamp = roomlog_core::time::now_secs();
        let headers = self.signer().sign_post_json(
            &self.host,
            action,
            roomlog_server::API_VERSION,
            &body,
            timestamp,
        );
        let mut request = self.http.post(format!("{}/", self.endpoint)).body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.send().await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        parse_envelope(status, &bytes)
    }

    /// Calls `action`; an error in the envelope becomes an [`ApiFailure`].
    pub async fn call(&self, action: &str, params: &Value) -> anyhow::Result<Value> {
        let response = self.call_raw(action, params).await?;
        match api_failure(&response) {
            Some(failure) => Err(failure),
            None => Ok(response),
        }
    }
}

/// The `Response` object of an HTTP answer.
fn parse_envelope(status: reqwest::StatusCode, bytes: &[u8]) -> anyhow::Result<Value> {
    if !status.is_success() {
        return Err(anyhow!("HTTP {status}: {}", String::from_utf8_lossy(bytes)));
    }
    let mut envelope: Value = serde_json::from_slice(bytes)
        .with_context(|| format!("response is not JSON: {}", String::from_utf8_lossy(bytes)))?;
    envelope
        .get_mut("Response")
        .map(Value::take)
        .ok_or_else(|| anyhow!("response has no `Response` object"))
}

/// The error a `Response` object carries, if any.
fn api_failure(response: &Value) -> Option<anyhow::Error> {
    let error = response.get("Error")?;
    Some(
        ApiFailure {
            code: error["Code"].as_str().unwrap_or_default().to_owned(),
            message: error["Message"].as_str().unwrap_or_default().to_owned(),
            request_id: response["RequestId"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        }
        .into(),
    )
}
