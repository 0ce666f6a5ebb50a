//! The response envelope: `{"Response": {...}}`, always HTTP 200 with `Content-Type:
//! application/json` exactly.
//!
//! The strictness is for the Python SDK: it treats any non-200 status as a network failure, does
//! not parse `Error` when the content type carries a charset, and raises `KeyError` when
//! `RequestId` is missing.

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// The only `Content-Type` a response may carry.
pub const CONTENT_TYPE: &str = "application/json";

/// A fresh request id (UUID v4, lower-case hyphenated), one per response.
pub fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// `{"Response": {<fields...>, "RequestId": request_id}}`.
///
/// A `RequestId` already in `fields` is replaced, so the envelope always carries exactly one.
pub fn success_body(mut fields: Map<String, Value>, request_id: &str) -> Bytes {
    // Remove first so that RequestId ends up last, as Tencent's own responses have it.
    fields.remove("RequestId");
    fields.insert("RequestId".to_owned(), Value::String(request_id.to_owned()));
    let mut envelope = Map::with_capacity(1);
    envelope.insert("Response".to_owned(), Value::Object(fields));
    to_bytes(&Value::Object(envelope))
}

/// [`success_body`] for output fields already written as JSON object members without the
/// braces (`"Total":5,"Events":[...]`, or nothing): the same bytes, without building a value.
/// The members are the concatenation of `parts` (so that a large part, like a page of events,
/// is copied once, into the body) and must not include `RequestId`.
pub fn success_body_members<P: AsRef<[u8]>>(parts: &[P], request_id: &str) -> Bytes {
    let members_len: usize = parts.iter().map(|part| part.as_ref().len()).sum();
    let mut out = Vec::with_capacity(members_len + request_id.len() + 32);
    out.extend_from_slice(br#"{"Response":{"#);
    for part in parts {
        out.extend_from_slice(part.as_ref());
    }
    if members_len > 0 {
        out.push(b',');
    }
    out.extend_from_slice(br#""RequestId":"#);
    write_json(&mut out, request_id);
    out.extend_from_slice(b"}}");
    Bytes::from(out)
}

/// `{"Response": {"Error": {"Code": ..., "Message": ...}, "RequestId": request_id}}`.
pub fn error_body(err: &ApiError, request_id: &str) -> Bytes {
    let mut error = Map::with_capacity(2);
    error.insert("Code".to_owned(), Value::String(err.code.to_string()));
    error.insert("Message".to_owned(), Value::String(err.message.clone()));
    let mut fields = Map::with_capacity(1);
    fields.insert("Error".to_owned(), Value::Object(error));
    success_body(fields, request_id)
}

/// The opening of a success response whose last output field is an array that the caller streams
/// element by element: `{"Response":{"Total":5,"Events":[`.
///
/// The caller then writes each element serialised as JSON, separated by [`STREAMING_SEPARATOR`],
/// and finishes with [`streaming_suffix`]. This lets a response of any size be produced without
/// holding it in memory.
pub fn streaming_prefix(fields_before_array: &Map<String, Value>, array_field: &str) -> Bytes {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(br#"{"Response":{"#);
    for (name, value) in fields_before_array {
        write_json(&mut out, name);
        out.push(b':');
        write_json(&mut out, value);
        out.push(b',');
    }
    write_json(&mut out, array_field);
    out.extend_from_slice(b":[");
    Bytes::from(out)
}

/// What goes between two streamed array elements.
pub const STREAMING_SEPARATOR: &[u8] = b",";

/// The end of a streamed success response: `],"RequestId":"..."}}`.
pub fn streaming_suffix(request_id: &str) -> Bytes {
    let mut out = Vec::with_capacity(request_id.len() + 20);
    out.extend_from_slice(br#"],"RequestId":"#);
    write_json(&mut out, request_id);
    out.extend_from_slice(b"}}");
    Bytes::from(out)
}

fn write_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Strings and serde_json::Value always serialise: their keys are strings.
    serde_json::to_writer(out, value).expect("serialising JSON text cannot fail");
}

fn to_bytes(value: &Value) -> Bytes {
    let mut out = Vec::with_capacity(128);
    write_json(&mut out, value);
    Bytes::from(out)
}
