//! What an action answers ([`Reply`], [`ActionError`]) and how that becomes the HTTP response:
//! always 200 with the `{"Response": ...}` envelope, except an event stream.

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, StatusCode};
use roomlog_core::{DomainError, StoreError, StoredEvent};
use roomlog_protocol::{envelope, ApiError};
use serde_json::{Map, Value};

/// What an action answers.
pub enum Reply {
    /// Output fields; `RequestId` is added.
    Fields(Map<String, Value>),
    /// Output fields already written as JSON object members without the braces
    /// (`"Total":5,"Events":[...]`), in parts that are concatenated; `RequestId` is added. For
    /// large answers built straight from stored data, without a `Value` tree.
    Members(Vec<Bytes>),
    /// A large answer streamed without buffering: `fields` first, then the array named
    /// `array_field` whose elements (already serialised JSON values) come from `items`.
    Stream {
        fields: Map<String, Value>,
        array_field: &'static str,
        items: BoxStream<'static, Result<Bytes, std::io::Error>>,
    },
    /// A Server-Sent Events stream (`text/event-stream`), for StreamRoomEvents.
    EventStream(BoxStream<'static, Result<Bytes, std::io::Error>>),
}

impl Reply {
    pub fn empty() -> Self {
        Reply::Fields(Map::new())
    }

    /// `fields`, then the array `array_field` of the events `chunks` yields (in order), each as
    /// its `EventInfo`, streamed so that they are never buffered whole. The headers are gone
    /// once the first chunk is read: a failing chunk cuts the body, so the client sees a broken
    /// response rather than a silently truncated list.
    pub fn event_array(
        fields: Map<String, Value>,
        array_field: &'static str,
        chunks: BoxStream<'static, Result<Vec<StoredEvent>, StoreError>>,
    ) -> Self {
        let mut first = true;
        let items = chunks
            .map(move |chunk| match chunk {
                Ok(events) => {
                    let mut bytes = Vec::with_capacity(events.len() * 128);
                    for event in &events {
                        if !std::mem::take(&mut first) {
                            bytes.push(b',');
                        }
                        event.write_event_info(&mut bytes);
                    }
                    Ok(Bytes::from(bytes))
                }
                Err(err) => {
                    tracing::error!(error = %err, "streamed answer failed");
                    Err(std::io::Error::other(err.to_string()))
                }
            })
            .boxed();
        Reply::Stream {
            fields,
            array_field,
            items,
        }
    }

    /// The HTTP response carrying this reply to request `request_id`.
    pub fn into_response(self, request_id: &str) -> Response {
        let body = match self {
            Reply::Fields(fields) => Body::from(envelope::success_body(fields, request_id)),
            Reply::Members(parts) => Body::from(envelope::success_body_members(&parts, request_id)),
            Reply::Stream {
                fields,
                array_field,
                items,
            } => {
                let prefix = envelope::streaming_prefix(&fields, array_field);
                let suffix = envelope::streaming_suffix(request_id);
                let stream = futures_util::stream::once(async move { Ok(prefix) })
                    .chain(items)
                    .chain(futures_util::stream::once(async move { Ok(suffix) }));
                Body::from_stream(stream)
            }
            Reply::EventStream(events) => {
                let mut response = Response::new(Body::from_stream(events));
                let headers = response.headers_mut();
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
                headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
                return response;
            }
        };
        json_response(body)
    }
}

/// The HTTP response carrying `err` to request `request_id`.
pub fn error_response(err: &ApiError, request_id: &str) -> Response {
    json_response(Body::from(envelope::error_body(err, request_id)))
}

/// HTTP 200 with exactly `Content-Type: application/json` (the Python SDK needs it exact).
fn json_response(body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(envelope::CONTENT_TYPE),
    );
    response
}

/// Errors an action can end with; all become an LCIC error in the envelope.
#[derive(Debug)]
pub struct ActionError(pub ApiError);

impl From<ApiError> for ActionError {
    fn from(e: ApiError) -> Self {
        ActionError(e)
    }
}

impl From<DomainError> for ActionError {
    fn from(e: DomainError) -> Self {
        ActionError(ApiError::new(e.code, e.message))
    }
}

impl From<StoreError> for ActionError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::RoomNotFound => {
                DomainError::new("ResourceNotFound.Room", "The room does not exist.").into()
            }
            StoreError::WrongStatus(status) => status.conflict().into(),
            StoreError::Rejected(e) => e.into(),
            StoreError::AppNotFound => {
                DomainError::new("InvalidParameter.SdkAppId", "The SdkAppId does not exist.").into()
            }
            StoreError::AccountNotFound => ActionError(ApiError::invalid_parameter_value(
                "The account does not exist.",
            )),
            StoreError::Backend(detail) => {
                tracing::error!(%detail, "storage failure");
                ActionError(ApiError::internal_error(
                    "Internal error: the storage backend failed. The request may be retried.",
                ))
            }
        }
    }
}
