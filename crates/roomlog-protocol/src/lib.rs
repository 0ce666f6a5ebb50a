//! The Tencent Cloud API 3.0 wire protocol, as roomlog serves it: request parsing and signature
//! verification (TC3-HMAC-SHA256 and v1 HmacSHA1/HmacSHA256), client-side signing, typed action
//! parameters from JSON or flattened form pairs, the `{"Response": ...}` envelope and the common
//! error codes.
//!
//! This crate knows nothing about rooms or storage. The expected server flow:
//!
//! 1. [`parse_request`] the raw request (`ParsedRequest` carries action, version, SecretId, ...);
//! 2. look up the secret key of [`ParsedRequest::secret_id`] (`AuthFailure.SecretIdNotFound` if
//!    unknown), then [`ParsedRequest::verify`], which checks the signature over the raw request;
//! 3. check version, action and rate limit, then [`VerifiedRequest::params`] parses the action
//!    parameters (bounded by [`MAX_JSON_DEPTH`] and [`MAX_PARAM_ELEMENTS`]) into a
//!    [`ParamSource`], which [`ParamSource::decode`] checks against the action's [`Schema`];
//! 4. answer with [`envelope::success_body`] or [`envelope::error_body`], always HTTP 200 with
//!    [`envelope::CONTENT_TYPE`].

pub mod envelope;
pub mod error;
pub mod form;
pub mod params;
pub mod request;
pub mod sign;

pub use envelope::{error_body, new_request_id, success_body, CONTENT_TYPE};
pub use error::{codes, ApiError};
pub use params::{Field, FieldType, ParamSource, Schema};
pub use request::{
    parse_request, tc3_secret_id, ParsedRequest, RawRequest, VerifiedRequest, MAX_CLOCK_SKEW_SECS,
    MAX_GET_QUERY_BYTES, MAX_JSON_DEPTH, MAX_PARAM_ELEMENTS, MAX_V1_POST_BODY_BYTES,
    MAX_V3_POST_BODY_BYTES,
};
pub use sign::{flatten_params, tc3_signature, v1_signature, SignatureMethod, Tc3Signer, V1Signer};
