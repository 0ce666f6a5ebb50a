//! Helpers shared by the integration tests: an owned HTTP request that lends a `RawRequest`.

#![allow(dead_code)] // each test binary uses a different subset

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use roomlog_protocol::{parse_request, ApiError, ParsedRequest, RawRequest};

pub const SECRET_ID: &str = "AKIDharnessTEST0000000000000000000000";
pub const SECRET_KEY: &str = "harnessSecretKey0123456789abcdef";
pub const HOST: &str = "127.0.0.1:39769";
pub const VERSION: &str = "2022-08-17";

#[derive(Debug, Clone)]
pub struct OwnedRequest {
    pub method: Method,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl OwnedRequest {
    pub fn new(
        method: Method,
        query: Option<&str>,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Self {
        Self {
            method,
            query: query.map(str::to_owned),
            headers: header_map(headers),
            body: body.to_vec(),
        }
    }

    pub fn raw(&self) -> RawRequest<'_> {
        RawRequest {
            method: &self.method,
            query: self.query.as_deref(),
            headers: &self.headers,
            body: &self.body,
        }
    }

    pub fn parse(&self) -> Result<ParsedRequest, ApiError> {
        parse_request(&self.raw())
    }

    /// Parse, then verify with `key` at server time `now`.
    pub fn check(&self, key: &str, now: i64) -> Result<ParsedRequest, ApiError> {
        let parsed = self.parse()?;
        parsed.verify(key, now)?;
        Ok(parsed)
    }

    /// Replaces (or adds) a header.
    pub fn set_header(&mut self, name: &str, value: &str) {
        self.headers.insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
}

/// Headers in wire order; repeated names are kept (appended), values kept byte for byte.
pub fn header_map(pairs: &[(String, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).expect("valid header name"),
            HeaderValue::from_bytes(value.as_bytes()).expect("valid header value"),
        );
    }
    map
}

pub fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// The error code of a result, or "accept".
pub fn outcome<T>(result: &Result<T, ApiError>) -> String {
    match result {
        Ok(_) => "accept".to_owned(),
        Err(e) => e.code.to_string(),
    }
}
