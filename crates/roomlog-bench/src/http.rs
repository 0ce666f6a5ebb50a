//! The client side: pre-signed requests and one keep-alive HTTP/1.1 connection per worker.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Context};
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use roomlog_protocol::Tc3Signer;
use serde_json::Value;
use tokio::net::TcpStream;

/// The LCIC API version roomlog serves.
pub const API_VERSION: &str = "2022-08-17";

/// A request ready to send any number of times: headers (signature included) and body.
#[derive(Clone)]
pub struct Prepared {
    pub headers: HeaderMap,
    pub body: Bytes,
    /// What the request carries, for throughput in units other than requests (events).
    pub units: u64,
}

impl Prepared {
    pub fn to_request(&self) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(self.body.clone()));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = http::Uri::from_static("/");
        *request.headers_mut() = self.headers.clone();
        request
    }

    /// Consumes the request (for pools where each request is sent once).
    pub fn into_request(self) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(self.body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = http::Uri::from_static("/");
        *request.headers_mut() = self.headers;
        request
    }
}

/// Signs API 3.0 requests for one server (TC3-HMAC-SHA256 over a JSON POST, as the SDKs do).
#[derive(Clone)]
pub struct Signer {
    pub secret_id: String,
    pub secret_key: String,
    /// `127.0.0.1:PORT`: the `Host` header, which is signed.
    pub host: String,
}

pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Signer {
    /// Signs `body` for `action` now. A signed request stays valid for 5 minutes (the server's
    /// clock-skew window), so it can be replayed as load for that long.
    pub fn prepare(&self, action: &str, body: Vec<u8>, units: u64) -> Prepared {
        let signer = Tc3Signer {
            secret_id: &self.secret_id,
            secret_key: &self.secret_key,
            service: "lcic",
        };
        let signed = signer.sign_post_json(&self.host, action, API_VERSION, &body, now_secs());
        let mut headers = HeaderMap::with_capacity(signed.len());
        for (name, value) in signed {
            headers.insert(
                HeaderName::from_bytes(name.as_bytes()).expect("signer header names are valid"),
                HeaderValue::from_str(&value).expect("signer header values are valid"),
            );
        }
        Prepared {
            headers,
            body: Bytes::from(body),
            units,
        }
    }

    pub fn prepare_json(&self, action: &str, params: &Value, units: u64) -> Prepared {
        self.prepare(
            action,
            serde_json::to_vec(params).expect("JSON values serialise"),
            units,
        )
    }
}

/// One keep-alive HTTP/1.1 connection.
pub struct Conn {
    sender: http1::SendRequest<Full<Bytes>>,
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> anyhow::Result<Conn> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            // Ends when the sender is dropped or the server closes the connection.
            let _ = connection.await;
        });
        Ok(Conn { sender })
    }

    /// Sends a request and reads the whole response body.
    pub async fn send(
        &mut self,
        request: Request<Full<Bytes>>,
    ) -> anyhow::Result<(StatusCode, Bytes)> {
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }

    /// Sends a request and returns the `Response` object of the answer; an API error is an
    /// error here.
    pub async fn call(&mut self, prepared: &Prepared) -> anyhow::Result<Value> {
        let (status, body) = self.send(prepared.to_request()).await?;
        if status != StatusCode::OK {
            return Err(anyhow!("HTTP {status}: {}", String::from_utf8_lossy(&body)));
        }
        let mut envelope: Value = serde_json::from_slice(&body)
            .with_context(|| format!("not JSON: {}", String::from_utf8_lossy(&body)))?;
        let response = envelope
            .get_mut("Response")
            .map(Value::take)
            .ok_or_else(|| anyhow!("no `Response` in {}", String::from_utf8_lossy(&body)))?;
        if let Some(error) = response.get("Error") {
            return Err(anyhow!("API error: {error}"));
        }
        Ok(response)
    }
}

/// Whether a response body is an API error: the envelope puts `Error` first
/// (`{"Response":{"Error":...`), so a prefix check is enough and costs nothing per request.
pub fn is_api_error(body: &[u8]) -> bool {
    body.starts_with(br#"{"Response":{"Error""#)
}

/// How many times `needle` occurs in `haystack`.
pub fn count_occurrences(haystack: &[u8], needle: &[u8]) -> usize {
    if needle.is_empty() {
        return 0;
    }
    haystack
        .windows(needle.len())
        .filter(|window| *window == needle)
        .count()
}
