//! A TC3-signed client for roomlog (or any API 3.0 endpoint), like tccli in a few lines.

use std::path::Path;

use anyhow::{anyhow, Context};
use roomlog_protocol::Tc3Signer;
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
        let endpoint = endpoint.trim_end_matches('/').to_owned();
        let url = reqwest::Url::parse(&endpoint).with_context(|| format!("endpoint {endpoint}"))?;
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            _ => return Err(anyhow!("endpoint {endpoint} has no host")),
        };
        Ok(Self {
            http: http_client_builder().pool_max_idle_per_host(256).build()?,
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

    /// Calls `action` and returns the whole `Response` object, errors included.
    pub async fn call_raw(&self, action: &str, params: &Value) -> anyhow::Result<Value> {
        let body = serde_json::to_vec(params)?;
        let timestamp = roomlog_core::time::now_secs();
        let signer = Tc3Signer {
            secret_id: &self.secret_id,
            secret_key: &self.secret_key,
            service: "lcic",
        };
        let headers = signer.sign_post_json(
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
        if !status.is_success() {
            return Err(anyhow!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&bytes)
            ));
        }
        let mut envelope: Value = serde_json::from_slice(&bytes).with_context(|| {
            format!("response is not JSON: {}", String::from_utf8_lossy(&bytes))
        })?;
        envelope
            .get_mut("Response")
            .map(Value::take)
            .ok_or_else(|| anyhow!("response has no `Response` object"))
    }

    /// Calls `action`; an error in the envelope becomes an [`ApiFailure`].
    pub async fn call(&self, action: &str, params: &Value) -> anyhow::Result<Value> {
        let response = self.call_raw(action, params).await?;
        if let Some(error) = response.get("Error") {
            return Err(ApiFailure {
                code: error["Code"].as_str().unwrap_or_default().to_owned(),
                message: error["Message"].as_str().unwrap_or_default().to_owned(),
                request_id: response["RequestId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            }
            .into());
        }
        Ok(response)
    }
}
