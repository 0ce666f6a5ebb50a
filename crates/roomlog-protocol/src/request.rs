//! Request parsing: from the raw HTTP request to everything the server needs before it knows the
//! secret key, then signature verification once it does.
//!
//! Three styles arrive, all sent by official clients (protocol.md): v3 JSON POST and v3 GET,
//! signed with TC3-HMAC-SHA256 in `Authorization`, and v1 (GET query or form POST) signed with a
//! `Signature` parameter.

use http::{HeaderMap, HeaderValue, Method};
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::form;
use crate::params::ParamSource;
use crate::sign::{self, SignatureMethod, TC3_ALGORITHM, TC3_TERMINATOR, UNSIGNED_PAYLOAD};

/// Longest accepted GET query string.
pub const MAX_GET_QUERY_BYTES: usize = 32 * 1024;
/// Largest accepted v1 (form) POST body.
pub const MAX_V1_POST_BODY_BYTES: usize = 1024 * 1024;
/// Largest accepted v3 (JSON) POST body; the server should stop reading a body a little past it.
pub const MAX_V3_POST_BODY_BYTES: usize = 10 * 1024 * 1024;
/// Largest accepted distance between the request timestamp and server time, in seconds.
pub const MAX_CLOCK_SKEW_SECS: u64 = 300;
/// Deepest accepted nesting of arrays and objects in a JSON body (the body object is level 1;
/// LCIC parameters need 4). Deeper: `InvalidParameter`.
pub const MAX_JSON_DEPTH: usize = 32;
/// Most parameter elements a request may carry: in a JSON body, array elements plus object
/// members (counted as commas plus containers, an upper bound); in a form (v1 body, GET query),
/// name=value pairs. It bounds the memory a request's parameters can take once parsed (the
/// largest legitimate call, BatchCreateRoom of 1000 rooms with every field, needs about 50,000).
/// More: `RequestSizeLimitExceeded`.
pub const MAX_PARAM_ELEMENTS: usize = 100_000;

/// The parts of an HTTP request the protocol looks at, borrowed from whatever server framework.
#[derive(Debug, Clone, Copy)]
pub struct RawRequest<'a> {
    pub method: &'a Method,
    /// The raw query string exactly as received, without the leading `?`.
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// A request whose shape has been checked and whose common parameters have been extracted, but
/// whose signature has not been verified yet. Its action parameters are not even parsed: the only
/// way to them is [`ParsedRequest::verify`] with the secret key of [`secret_id`](Self::secret_id),
/// then [`VerifiedRequest::params`], so an unauthenticated request never costs more than its raw
/// bytes.
///
/// It borrows the body, query and headers of the [`RawRequest`] it was parsed from.
#[derive(Debug, Clone)]
pub struct ParsedRequest<'a> {
    pub action: String,
    pub version: String,
    pub secret_id: String,
    /// Unix seconds the client signed at.
    pub timestamp: i64,
    pub region: Option<String>,
    pub language: Option<String>,
    /// Session token of temporary credentials.
    pub token: Option<String>,
    /// The v1 `Nonce`; `None` for API 3.0, which has none.
    pub nonce: Option<u64>,
    pub method: SignatureMethod,
    /// The action parameters, still raw (v3) or as pairs (v1, whose signature covers them).
    params: PendingParams<'a>,
    proof: Proof<'a>,
}

/// Where the action parameters are, before verification.
#[derive(Clone)]
enum PendingParams<'a> {
    /// A v3 POST: the raw JSON body, parsed only once its signature is verified.
    JsonBody(&'a [u8]),
    /// A v3 GET: the raw query string, decoded only once its signature is verified.
    Query(&'a str),
    /// v1: the decoded pairs (the signature covers the decoded values, so they are decoded at
    /// parse time, bounded by [`MAX_PARAM_ELEMENTS`]), common parameters removed.
    Form(Vec<(String, String)>),
}

impl std::fmt::Debug for PendingParams<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a body of up to 10 MB.
        match self {
            PendingParams::JsonBody(body) => write!(f, "JsonBody({} bytes)", body.len()),
            PendingParams::Query(query) => write!(f, "Query({} bytes)", query.len()),
            PendingParams::Form(pairs) => write!(f, "Form({} pairs)", pairs.len()),
        }
    }
}

/// What the signature covers. Everything is kept raw (borrowed) so that nothing, not even the
/// payload hash, is computed for a request whose key turns out to be unknown.
#[derive(Clone)]
enum Proof<'a> {
    Tc3 {
        credential_date: &'a str,
        service: &'a str,
        signature: [u8; 32],
        http_method: &'a str,
        canonical_query: &'a str,
        /// (lower-case name, value as received) in the order of `SignedHeaders`.
        signed_headers: Vec<(&'a str, &'a [u8])>,
        /// The body, or the literal `UNSIGNED-PAYLOAD`, or empty for a GET.
        payload: &'a [u8],
    },
    V1 {
        source: String,
        signature: Vec<u8>,
    },
}

impl std::fmt::Debug for Proof<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Proof::Tc3 {
                credential_date,
                service,
                signed_headers,
                payload,
                ..
            } => f
                .debug_struct("Tc3")
                .field("credential_date", credential_date)
                .field("service", service)
                .field(
                    "signed_headers",
                    &signed_headers.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
                )
                .field("payload_bytes", &payload.len())
                .finish_non_exhaustive(),
            Proof::V1 { source, .. } => f
                .debug_struct("V1")
                .field("source_bytes", &source.len())
                .finish_non_exhaustive(),
        }
    }
}

/// Parses a request; see the module documentation for the styles.
///
/// Errors: `UnsupportedProtocol` for a method other than GET/POST; `RequestSizeLimitExceeded`;
/// `AuthFailure.InvalidAuthorization` for a malformed `Authorization` header or when there is
/// neither an `Authorization` header nor a `Signature` parameter; `MissingParameter` for absent
/// common headers or parameters; `InvalidParameter` for a malformed body or common parameter.
pub fn parse_request<'a>(raw: &RawRequest<'a>) -> Result<ParsedRequest<'a>, ApiError> {
    let is_post = match *raw.method {
        Method::GET => false,
        Method::POST => true,
        ref other => {
            return Err(ApiError::unsupported_protocol(format!(
                "The HTTP method {other} is not supported; use GET or POST."
            )))
        }
    };
    let query = raw.query.unwrap_or("");
    if !is_post && query.len() > MAX_GET_QUERY_BYTES {
        return Err(too_large("GET query string", MAX_GET_QUERY_BYTES));
    }
    if is_post && raw.body.len() > MAX_V3_POST_BODY_BYTES {
        return Err(too_large("POST body", MAX_V3_POST_BODY_BYTES));
    }

    match single_header(raw.headers, "Authorization")? {
        Some(auth) if is_tc3(auth.as_bytes()) => parse_tc3(raw, is_post, query, auth),
        Some(auth) => Err(ApiError::invalid_authorization(format!(
            "The Authorization header must start with `{TC3_ALGORITHM}`; got `{}`.",
            String::from_utf8_lossy(auth.as_bytes())
                .split_whitespace()
                .next()
                .unwrap_or("")
        ))),
        None => parse_v1(raw, is_post, query),
    }
}

fn too_large(what: &str, limit: usize) -> ApiError {
    ApiError::request_size_limit_exceeded(format!("The {what} exceeds the limit of {limit} bytes."))
}

/// `TC3-HMAC-SHA256` followed by whitespace (or nothing, which the strict parse then refuses).
/// The SecretId of a TC3 request, read from its headers alone: a server can refuse an unknown
/// key before it reads (and buffers) the body. `None` when the request is not TC3 or its
/// `Authorization` header is malformed ([`parse_request`] then says why).
pub fn tc3_secret_id(headers: &HeaderMap) -> Option<&str> {
    let header = single_header(headers, "authorization").ok()??;
    if !is_tc3(header.as_bytes()) {
        return None;
    }
    let text = header.to_str().ok()?;
    parse_tc3_authorization(text)
        .ok()
        .map(|auth| auth.secret_id)
}

fn is_tc3(auth: &[u8]) -> bool {
    auth.strip_prefix(TC3_ALGORITHM.as_bytes())
        .is_some_and(|rest| rest.first().is_none_or(|b| b.is_ascii_whitespace()))
}

/// The single value of a header, if present. Sent twice is refused: with two values, which one
/// the client signed and which one it meant would be ambiguous.
fn single_header<'h>(
    headers: &'h HeaderMap,
    name: &str,
) -> Result<Option<&'h HeaderValue>, ApiError> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(ApiError::invalid_parameter(format!(
            "The header `{name}` is sent more than once."
        )));
    }
    Ok(first)
}

/// A header's value as text (visible ASCII), trimmed; `None` when absent.
fn header_text<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, ApiError> {
    match single_header(headers, name)? {
        None => Ok(None),
        Some(value) => value.to_str().map(|s| Some(s.trim())).map_err(|_| {
            ApiError::invalid_parameter(format!("The header `{name}` must be visible ASCII text."))
        }),
    }
}

fn required_header<'h>(headers: &'h HeaderMap, name: &'static str) -> Result<&'h str, ApiError> {
    header_text(headers, name)?.ok_or_else(|| ApiError::missing_parameter(name))
}

/// An optional text value where empty means absent (clients send empty regions).
fn non_empty(value: Option<&str>) -> Option<String> {
    value.filter(|v| !v.is_empty()).map(str::to_owned)
}

/// Unix seconds: ASCII digits only (no sign, no spaces), no overflow.
fn parse_timestamp(raw: &str, name: &str) -> Result<i64, ApiError> {
    let valid = !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit());
    valid
        .then(|| raw.parse::<i64>().ok())
        .flatten()
        .ok_or_else(|| {
            ApiError::invalid_parameter(format!(
                "`{name}` must be a unix timestamp in seconds; got `{raw}`."
            ))
        })
}

// ---- TC3 -------------------------------------------------------------------------------------

/// The parts of `Authorization: TC3-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`.
#[derive(Debug, PartialEq)]
struct Tc3Authorization<'a> {
    secret_id: &'a str,
    date: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: [u8; 32],
}

/// Parses the header strictly: each of the three components exactly once (any order), a
/// four-part credential ending in `tc3_request`, lower-case signed header names including
/// `content-type` and `host`, and a 64-hex-digit signature.
fn parse_tc3_authorization(header: &str) -> Result<Tc3Authorization<'_>, ApiError> {
    let invalid = |why: &str| {
        ApiError::invalid_authorization(format!("The Authorization header is malformed: {why}."))
    };
    let rest = header
        .strip_prefix(TC3_ALGORITHM)
        .filter(|rest| rest.starts_with(|c: char| c.is_ascii_whitespace()))
        .ok_or_else(|| invalid("it must start with `TC3-HMAC-SHA256 `"))?;

    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for component in rest.split(',') {
        let (key, value) = component
            .trim()
            .split_once('=')
            .ok_or_else(|| invalid("expected `Name=value` components separated by commas"))?;
        let slot = match key {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => return Err(invalid(&format!("unknown component `{key}`"))),
        };
        if slot.replace(value).is_some() {
            return Err(invalid(&format!("`{key}` appears more than once")));
        }
    }
    let credential = credential.ok_or_else(|| invalid("`Credential` is missing"))?;
    let signed_headers = signed_headers.ok_or_else(|| invalid("`SignedHeaders` is missing"))?;
    let signature = signature.ok_or_else(|| invalid("`Signature` is missing"))?;

    let [secret_id, date, service, terminator] = credential
        .split('/')
        .collect::<Vec<_>>()
        .try_into()
        .map_err(|_| invalid("`Credential` must be SecretId/Date/Service/tc3_request"))?;
    if secret_id.is_empty() || service.is_empty() || terminator != TC3_TERMINATOR {
        return Err(invalid(
            "`Credential` must be SecretId/Date/Service/tc3_request",
        ));
    }
    if !is_date_shape(date) {
        return Err(invalid("the credential date must be yyyy-mm-dd"));
    }

    let names: Vec<&str> = signed_headers.split(';').collect();
    let valid_name = |name: &&str| {
        !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    };
    if !names.iter().all(valid_name) {
        return Err(invalid(
            "`SignedHeaders` must be lower-case header names joined by `;`",
        ));
    }
    if names
        .iter()
        .enumerate()
        .any(|(i, n)| names[..i].contains(n))
    {
        return Err(invalid("`SignedHeaders` lists a header twice"));
    }
    for required in ["content-type", "host"] {
        if !names.contains(&required) {
            return Err(invalid(&format!(
                "`SignedHeaders` must include `{required}`"
            )));
        }
    }

    let mut signature_bytes = [0u8; 32];
    if signature.len() != 64 || hex::decode_to_slice(signature, &mut signature_bytes).is_err() {
        return Err(invalid("`Signature` must be 64 hexadecimal digits"));
    }

    Ok(Tc3Authorization {
        secret_id,
        date,
        service,
        signed_headers: names,
        signature: signature_bytes,
    })
}

fn is_date_shape(date: &str) -> bool {
    let b = date.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        })
}

fn parse_tc3<'a>(
    raw: &RawRequest<'a>,
    is_post: bool,
    query: &'a str,
    auth: &'a HeaderValue,
) -> Result<ParsedRequest<'a>, ApiError> {
    let headers = raw.headers;
    let auth = auth.to_str().map_err(|_| {
        ApiError::invalid_authorization("The Authorization header must be visible ASCII text.")
    })?;
    let auth = parse_tc3_authorization(auth.trim())?;

    let action = required_header(headers, "X-TC-Action")?;
    let version = required_header(headers, "X-TC-Version")?;
    let timestamp = parse_timestamp(
        required_header(headers, "X-TC-Timestamp")?,
        "X-TC-Timestamp",
    )?;

    // Signed header values are kept as received (bytes); verification hashes them trimmed, in
    // the forms of `sign::tc3_header_forms`, never re-rendered: tccli signs
    // `Host: http://127.0.0.1:PORT` and expects exactly that to verify.
    let mut signed_headers = Vec::with_capacity(auth.signed_headers.len());
    for &name in &auth.signed_headers {
        let value = single_header(headers, name)?.ok_or_else(|| {
            ApiError::invalid_authorization(format!(
                "`SignedHeaders` lists `{name}`, which the request does not carry."
            ))
        })?;
        signed_headers.push((name, value.as_bytes()));
    }

    let unsigned_payload = header_text(headers, "X-TC-Content-SHA256")?
        .is_some_and(|v| v.eq_ignore_ascii_case(UNSIGNED_PAYLOAD));
    let payload: &[u8] = match (unsigned_payload, is_post) {
        (true, _) => UNSIGNED_PAYLOAD.as_bytes(),
        (false, true) => raw.body,
        // A GET's parameters are all in the query; the payload is empty by definition.
        (false, false) => b"",
    };
    // POST parameters are in the signed body; a query string on a POST is not signed
    // (its canonical query is empty), so it is ignored rather than trusted.
    let (canonical_query, params) = if is_post {
        check_json_content_type(headers)?;
        ("", PendingParams::JsonBody(raw.body))
    } else {
        (query, PendingParams::Query(query))
    };

    Ok(ParsedRequest {
        action: action.to_owned(),
        version: version.to_owned(),
        secret_id: auth.secret_id.to_owned(),
        timestamp,
        region: non_empty(header_text(headers, "X-TC-Region")?),
        language: non_empty(header_text(headers, "X-TC-Language")?),
        token: non_empty(header_text(headers, "X-TC-Token")?),
        nonce: None,
        method: SignatureMethod::Tc3HmacSha256,
        params,
        proof: Proof::Tc3 {
            credential_date: auth.date,
            service: auth.service,
            signature: auth.signature,
            http_method: raw.method.as_str(),
            canonical_query,
            signed_headers,
            payload,
        },
    })
}

/// A v3 POST is `application/json` (parameters such as `charset` allowed). Checked at parse time:
/// it needs only the header.
fn check_json_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let content_type = header_text(headers, "Content-Type")?.unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if mime.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(ApiError::invalid_parameter(format!(
            "A signed POST must have Content-Type application/json; got `{content_type}`."
        )))
    }
}

/// A verified v3 POST body: a JSON object, at most [`MAX_JSON_DEPTH`] deep and with at most
/// [`MAX_PARAM_ELEMENTS`] elements (checked on the raw text before any tree is built); an empty
/// body is `{}`.
fn parse_json_body(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.is_empty() {
        return Ok(Map::new());
    }
    check_json_shape(body)?;
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::invalid_parameter(
            "The request body must be a JSON object.",
        )),
        Err(e) => Err(ApiError::invalid_parameter(format!(
            "The request body is not valid JSON: {e}."
        ))),
    }
}

/// Walks JSON text without building anything and refuses it when arrays and objects nest deeper
/// than [`MAX_JSON_DEPTH`] (`InvalidParameter`) or when it holds more than
/// [`MAX_PARAM_ELEMENTS`] elements (`RequestSizeLimitExceeded`). Elements are counted as the
/// commas and the opening brackets outside strings: an upper bound of the array elements and
/// object members, so of the tree the parser would build. Malformed text is left to the parser.
fn check_json_shape(text: &[u8]) -> Result<(), ApiError> {
    let (mut depth, mut elements) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &byte in text {
        if in_string {
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                in_string = false;
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                elements += 1;
                if depth > MAX_JSON_DEPTH {
                    return Err(ApiError::invalid_parameter(format!(
                        "The request body nests arrays and objects more than {MAX_JSON_DEPTH} \
                         levels deep."
                    )));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b',' => elements += 1,
            _ => continue,
        }
        if elements > MAX_PARAM_ELEMENTS {
            return Err(too_many_elements("request body"));
        }
    }
    Ok(())
}

fn too_many_elements(what: &str) -> ApiError {
    ApiError::request_size_limit_exceeded(format!(
        "The {what} holds more than {MAX_PARAM_ELEMENTS} parameter elements."
    ))
}

/// Decodes form text after checking that it holds at most [`MAX_PARAM_ELEMENTS`] pairs, so that
/// decoding (which allocates per pair) is bounded before it starts.
fn decode_form_bounded(text: &str, what: &str) -> Result<Vec<(String, String)>, ApiError> {
    let pairs = text.split('&').filter(|pair| !pair.is_empty()).count();
    if pairs > MAX_PARAM_ELEMENTS {
        return Err(too_many_elements(what));
    }
    form::decode(text)
}

// ---- v1 --------------------------------------------------------------------------------------

/// v1 common parameters; everything else is an action parameter.
const V1_COMMON_PARAMS: [&str; 11] = [
    "Action",
    "Version",
    "Region",
    "Timestamp",
    "Nonce",
    "SecretId",
    "Signature",
    "SignatureMethod",
    "Token",
    "Language",
    "RequestClient",
];

fn parse_v1<'a>(
    raw: &RawRequest<'a>,
    is_post: bool,
    query: &str,
) -> Result<ParsedRequest<'a>, ApiError> {
    let no_credentials = || {
        ApiError::invalid_authorization(
            "The request carries neither an Authorization header (TC3-HMAC-SHA256) nor a \
             Signature parameter (v1).",
        )
    };
    let all_params = if is_post {
        // A v1 POST carries everything in a form body; other bodies cannot be v1 requests.
        let content_type = header_text(raw.headers, "Content-Type")?.unwrap_or("");
        let mime = content_type.split(';').next().unwrap_or("").trim();
        if !mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(no_credentials());
        }
        if raw.body.len() > MAX_V1_POST_BODY_BYTES {
            return Err(too_large("v1 POST body", MAX_V1_POST_BODY_BYTES));
        }
        let body = std::str::from_utf8(raw.body)
            .map_err(|_| ApiError::invalid_parameter("The form body is not valid UTF-8."))?;
        decode_form_bounded(body, "form body")?
    } else {
        decode_form_bounded(query, "query string")?
    };
    if !all_params.iter().any(|(name, _)| name == "Signature") {
        return Err(no_credentials());
    }

    let common = |name: &'static str| -> Result<Option<&str>, ApiError> {
        let mut values = all_params.iter().filter(|(n, _)| n == name);
        let first = values.next().map(|(_, v)| v.as_str());
        if values.next().is_some() {
            return Err(ApiError::invalid_parameter(format!(
                "The parameter `{name}` is given more than once."
            )));
        }
        Ok(first)
    };
    let required =
        |name: &'static str| common(name)?.ok_or_else(|| ApiError::missing_parameter(name));

    let action = required("Action")?.to_owned();
    let version = required("Version")?.to_owned();
    let secret_id = required("SecretId")?.to_owned();
    let timestamp = parse_timestamp(required("Timestamp")?, "Timestamp")?;
    let nonce_raw = required("Nonce")?;
    let nonce = nonce_raw
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| nonce_raw.parse::<u64>().ok())
        .flatten()
        .filter(|&n| n > 0)
        .ok_or_else(|| {
            ApiError::invalid_parameter(format!(
                "`Nonce` must be a positive integer; got `{nonce_raw}`."
            ))
        })?;
    let method = match common("SignatureMethod")? {
        Some("HmacSHA256") => SignatureMethod::HmacSha256,
        _ => SignatureMethod::HmacSha1,
    };
    let signature = decode_v1_signature(required("Signature")?)?;
    let region = non_empty(common("Region")?);
    let token = non_empty(common("Token")?);
    let language = non_empty(common("Language")?);
    common("RequestClient")?;

    let host =
        header_text(raw.headers, "Host")?.ok_or_else(|| ApiError::missing_parameter("Host"))?;
    let source = sign::v1_source_string(raw.method.as_str(), host, &all_params);

    let params = all_params
        .into_iter()
        .filter(|(name, _)| !V1_COMMON_PARAMS.contains(&name.as_str()))
        .collect();

    Ok(ParsedRequest {
        action,
        version,
        secret_id,
        timestamp,
        region,
        language,
        token,
        nonce: Some(nonce),
        method,
        params: PendingParams::Form(params),
        proof: Proof::V1 { source, signature },
    })
}

fn decode_v1_signature(raw: &str) -> Result<Vec<u8>, ApiError> {
    use base64::Engine as _;
    // Base64 never contains spaces: a space can only be a `+` that the client forgot to
    // percent-encode and form decoding turned into a space.
    let repaired = raw.replace(' ', "+");
    base64::engine::general_purpose::STANDARD
        .decode(repaired)
        .map_err(|_| {
            ApiError::invalid_authorization("The Signature parameter is not valid Base64.")
        })
}

// ---- verification ----------------------------------------------------------------------------

impl<'a> ParsedRequest<'a> {
    /// The signature the request carries (TC3: its 32 bytes; v1: the decoded bytes): what a
    /// replay of the same request repeats.
    pub fn signature(&self) -> &[u8] {
        match &self.proof {
            Proof::Tc3 { signature, .. } => signature,
            Proof::V1 { signature, .. } => signature,
        }
    }

    /// Verifies the request with the secret key the server looked up for
    /// [`secret_id`](Self::secret_id), at server time `now_unix`, on the raw request: clock skew
    /// first (`AuthFailure.SignatureExpire` beyond [`MAX_CLOCK_SKEW_SECS`]), then the signature,
    /// compared in constant time (`AuthFailure.SignatureFailure`). Nothing of the body but its
    /// hash is looked at; the answer, [`VerifiedRequest`], is the only way to the action
    /// parameters.
    ///
    /// TC3 accepts the signed header values in each form of Tencent's documentation and the
    /// official clients (as received, lower-cased, `host` with or without its port; see
    /// `sign::tc3_header_forms`), all over the same names, method, query, timestamp, credential
    /// scope and raw payload. The forms are tried in a fixed order that depends only on the
    /// request, each compared in constant time. The key derivation uses the service the
    /// credential scope names (`lcic` from the Python and Go SDKs, the endpoint's first DNS label
    /// from the Node.js and Java SDKs).
    pub fn verify(
        &self,
        secret_key: &str,
        now_unix: i64,
    ) -> Result<VerifiedRequest<'_, 'a>, ApiError> {
        let skew = now_unix.abs_diff(self.timestamp);
        if skew > MAX_CLOCK_SKEW_SECS {
            return Err(ApiError::signature_expire(format!(
                "The request timestamp {} is {skew} seconds away from server time {now_unix}; \
                 at most {MAX_CLOCK_SKEW_SECS} seconds are allowed.",
                self.timestamp
            )));
        }
        match &self.proof {
            Proof::Tc3 {
                credential_date,
                service,
                signature,
                http_method,
                canonical_query,
                signed_headers,
                payload,
            } => {
                // The date is part of the key derivation, so the client must have used the date
                // of the timestamp it sent.
                let date = sign::tc3_date(self.timestamp).unwrap_or_default();
                if *credential_date != date {
                    return Err(ApiError::signature_failure(format!(
                        "The credential date {credential_date} is not the UTC date of \
                         X-TC-Timestamp ({date})."
                    )));
                }
                let payload_hash = sign::sha256_hex(payload);
                let signing_key = sign::tc3_signing_key(secret_key, credential_date, service);
                let matches = sign::tc3_header_forms(signed_headers)
                    .into_iter()
                    .any(|form| {
                        let values: Vec<(&str, &[u8])> =
                            form.iter().map(|(name, value)| (*name, &**value)).collect();
                        let canonical = sign::tc3_canonical_request(
                            http_method,
                            canonical_query,
                            &values,
                            &payload_hash,
                        );
                        let string_to_sign = sign::tc3_string_to_sign(
                            self.timestamp,
                            credential_date,
                            service,
                            &sign::sha256_hex(&canonical),
                        );
                        sign::tc3_verify_with_key(&signing_key, &string_to_sign, signature)
                    });
                if !matches {
                    return Err(signature_mismatch());
                }
            }
            Proof::V1 { source, signature } => {
                if !sign::v1_verify(source, secret_key, self.method, signature) {
                    return Err(signature_mismatch());
                }
            }
        }
        Ok(VerifiedRequest { request: self })
    }
}

/// A request whose signature [`ParsedRequest::verify`] accepted. The server may run its cheap
/// checks (version, action, rate limit) before paying for [`params`](Self::params).
#[derive(Debug, Clone, Copy)]
pub struct VerifiedRequest<'r, 'a> {
    request: &'r ParsedRequest<'a>,
}

impl VerifiedRequest<'_, '_> {
    /// The action parameters, parsed now (v1 common parameters removed).
    ///
    /// Errors: for a v3 POST, `InvalidParameter` for a body that is not a JSON object or nests
    /// deeper than [`MAX_JSON_DEPTH`], `RequestSizeLimitExceeded` for more than
    /// [`MAX_PARAM_ELEMENTS`] elements (both checked on the raw text, before any tree is built);
    /// for a v3 GET, `InvalidParameter` for a query that does not decode,
    /// `RequestSizeLimitExceeded` for more than [`MAX_PARAM_ELEMENTS`] pairs.
    pub fn params(&self) -> Result<ParamSource, ApiError> {
        match &self.request.params {
            PendingParams::JsonBody(body) => Ok(ParamSource::Json(parse_json_body(body)?)),
            PendingParams::Query(query) => Ok(ParamSource::Form(decode_form_bounded(
                query,
                "query string",
            )?)),
            PendingParams::Form(pairs) => Ok(ParamSource::Form(pairs.clone())),
        }
    }
}

fn signature_mismatch() -> ApiError {
    ApiError::signature_failure(
        "The request signature does not match the one calculated by the server. Check the \
         SecretKey and the signing method.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "TC3-HMAC-SHA256 Credential=AKIDx/2026-11-25/lcic/tc3_request, SignedHeaders=content-type;host, Signature=f7af1d3a249b95daaadd395762ced9acd2cfaedc8311e37363870a88525ab9c8";

    #[test]
    fn parses_a_well_formed_authorization() {
        let auth = parse_tc3_authorization(VALID).unwrap();
        assert_eq!(auth.secret_id, "AKIDx");
        assert_eq!(auth.date, "2026-11-25");
        assert_eq!(auth.service, "lcic");
        assert_eq!(auth.signed_headers, ["content-type", "host"]);
        assert_eq!(auth.signature[0], 0xf7);
    }

    #[test]
    fn accepts_components_in_any_order_without_spaces() {
        let reordered = "TC3-HMAC-SHA256 Signature=f7af1d3a249b95daaadd395762ced9acd2cfaedc8311e37363870a88525ab9c8,SignedHeaders=content-type;host;x-tc-action,Credential=AKIDx/2026-11-25/cvm/tc3_request";
        let auth = parse_tc3_authorization(reordered).unwrap();
        assert_eq!(auth.service, "cvm");
        assert_eq!(auth.signed_headers, ["content-type", "host", "x-tc-action"]);
    }

    #[test]
    fn rejects_malformed_authorizations() {
        let sig = "f7af1d3a249b95daaadd395762ced9acd2cfaedc8311e37363870a88525ab9c8";
        let cases = [
            "TC3-HMAC-SHA256".to_owned(),
            format!("TC3-HMAC-SHA256Credential=a/2026-11-25/lcic/tc3_request, SignedHeaders=content-type;host, Signature={sig}"),
            "TC3-HMAC-SHA256 Credential=a/2026-11-25/lcic/tc3_request, SignedHeaders=content-type;host".to_owned(),
            format!("TC3-HMAC-SHA256 Credential=a/2026-11-25/lcic, SignedHeaders=content-type;host, Signature={sig}"),
            format!("TC3-HMAC-SHA256 Credential=a/2026-11-25/lcic/tc3_other, SignedHeaders=content-type;host, Signature={sig}"),
            format!("TC3-HMAC-SHA256 Credential=/2026-11-25/lcic/tc3_request, SignedHeaders=content-type;host, Signature={sig}"),
            format!("TC3-HMAC-SHA256 Credential=a/20261125/lcic/tc3_request, SignedHeaders=content-type;host, Signature={sig}"),
            format!("TC3-HMAC-SHA256 Credential=a/2026-11-25/lcic/tc3_request, SignedHeaders=host, Signature={sig}"),
            format!("TC3-HMAC-SHA256 Credential=a/2026-11-25/lcic/tc3_request, SignedHeaders=content-type, Signature={sig}"),
            format!("TC3-HMAC-SHA256 Credential=a/2026-11-25/lcic/tc3_request, SignedHeaders=Content-Type;host, Signature={sig}"),
            format!("TC3-HMAC-SHA256 Credential=a/2026-11-25/lcic/tc3_request, SignedHeaders=content-type;host;host, Signature={sig}"),
            format!("TC3-HMAC-SHA256 Credential=a/2026-11-25/lcic/tc3_request, SignedHeaders=content-type;;host, Signature={sig}"),
            format!("TC3-HMAC-SHA256 Credential=a/2026-11-25/lcic/tc3_request, SignedHeaders=content-type;host, Signature={}", &sig[1..]),
            format!("TC3-HMAC-SHA256 Credential=a/2026-11-25/lcic/tc3_request, SignedHeaders=content-type;host, Signature={}zz", &sig[2..]),
            format!("TC3-HMAC-SHA256 Credential=a/2026-11-25/lcic/tc3_request, SignedHeaders=content-type;host, Signature={sig}, Signature={sig}"),
            format!("TC3-HMAC-SHA256 Credential=a/2026-11-25/lcic/tc3_request, SignedHeaders=content-type;host, Signature={sig}, Extra=1"),
        ];
        for case in &cases {
            let err = parse_tc3_authorization(case).unwrap_err();
            assert_eq!(err.code, crate::codes::INVALID_AUTHORIZATION, "{case}");
        }
    }

    #[test]
    fn json_shape_tracks_strings_and_escapes() {
        let nested = |prefix: &str, levels: usize| {
            format!("{prefix}{}{}", "[".repeat(levels), "]".repeat(levels))
        };
        // After an escaped backslash the quote closes the string: the brackets after it count.
        let deep = nested(r#"{"a":"\\","b":"#, MAX_JSON_DEPTH);
        let err = check_json_shape(deep.as_bytes()).unwrap_err();
        assert_eq!(err.code, crate::codes::INVALID_PARAMETER);
        // After an escaped quote the string goes on: the brackets in it do not count.
        let quoted = nested(r#"{"a":"\""#, MAX_JSON_DEPTH);
        assert!(check_json_shape(quoted.as_bytes()).is_ok());
        assert!(check_json_shape(nested("", MAX_JSON_DEPTH).as_bytes()).is_ok());
        assert!(check_json_shape(nested("", MAX_JSON_DEPTH + 1).as_bytes()).is_err());
    }

    #[test]
    fn tc3_prefix_detection_needs_a_separator() {
        assert!(is_tc3(b"TC3-HMAC-SHA256 Credential=x"));
        assert!(is_tc3(b"TC3-HMAC-SHA256"));
        assert!(!is_tc3(b"TC3-HMAC-SHA256X"));
        assert!(!is_tc3(b"Bearer abc"));
    }
}
