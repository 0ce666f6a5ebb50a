//! Helpers shared by the integration tests: an owned HTTP request that lends a `RawRequest`.

#![allow(dead_code)] // each test binary uses a different subset

use std::ops::Deref;

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use roomlog_protocol::{parse_request, ApiError, ParamSource, ParsedRequest, RawRequest};

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

    pub fn parse(&self) -> Result<ParsedRequest<'_>, ApiError> {
        parse_request(&self.raw())
    }

    /// Parse, verify with `key` at server time `now`, then parse the parameters: the server's
    /// steps.
    pub fn check(&self, key: &str, now: i64) -> Result<Checked<'_>, ApiError> {
        let request = self.parse()?;
        let params = request.verify(key, now)?.params()?;
        Ok(Checked { request, params })
    }

    /// Replaces (or adds) a header.
    pub fn set_header(&mut self, name: &str, value: &str) {
        self.headers.insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
}

/// A request that parsed and verified, with its parameters; derefs to the parsed request.
#[derive(Debug)]
pub struct Checked<'a> {
    pub request: ParsedRequest<'a>,
    pub params: ParamSource,
}

impl<'a> Deref for Checked<'a> {
    type Target = ParsedRequest<'a>;

    fn deref(&self) -> &Self::Target {
        &self.request
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
