//! The one API endpoint. Order of checks: parse the request (size, method, common parameters;
//! the action parameters stay raw), look up the key, verify the signature over the raw request
//! (skew first), check the version and the action, apply the account's rate limit, and only then
//! parse the action parameters (bounded: see `VerifiedRequest::params`) and decode them with the
//! action's schema, run the action.
//!
//! Whatever happens — a rejection, a storage failure, a panic in a handler — the client gets
//! HTTP 200, `Content-Type: application/json` and `{"Response": {..., "RequestId"}}`.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use futures_util::FutureExt;
use http::StatusCode;
use http_body_util::BodyExt;
use roomlog_core::time::now_secs;
use roomlog_protocol::envelope;
use roomlog_protocol::{
    parse_request, ApiError, RawRequest, MAX_V1_POST_BODY_BYTES, MAX_V3_POST_BODY_BYTES,
};

use crate::actions::{self, Ctx};
use crate::ratelimit::{SignatureUse, Verdict};
use crate::reply::{error_response, ActionError, Reply};
use crate::state::AppState;

/// The LCIC API version roomlog serves.
pub const API_VERSION: &str = "2022-08-17";

/// What the request log and metrics need to know about a request.
#[derive(Default)]
struct Labels {
    action: Option<String>,
    sdk_app_id: Option<u64>,
}

pub async fn api(State(state): State<AppState>, request: Request) -> Response {
    // A 2xx answer to CONNECT means "tunnel open" (the envelope's body would be dropped): refuse
    // it at the HTTP level instead.
    if request.method() == http::Method::CONNECT {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        return response;
    }
    let request_id = envelope::new_request_id();
    let started = Instant::now();
    let mut labels = Labels::default();
    let outcome = guarded(
        handle(&state, request, &request_id, &mut labels),
        &request_id,
    )
    .await;

    let elapsed = started.elapsed();
    let action = labels.action.as_deref().unwrap_or("-");
    let code = match &outcome {
        Ok(_) => "Success",
        Err(e) => e.code.as_ref(),
    };
    crate::metrics::record_request(action, code, elapsed);
    // Microsecond resolution: `0.054`, not `0.053640999999999994`.
    let latency_ms = elapsed.as_micros() as f64 / 1000.0;
    match &outcome {
        Ok(_) => tracing::info!(
            request_id,
            action,
            sdk_app_id = labels.sdk_app_id,
            code,
            latency_ms,
            "request"
        ),
        Err(e) => {
            tracing::info!(request_id, action, sdk_app_id = labels.sdk_app_id, code, error = %e.message, latency_ms, "request failed")
        }
    }

    match outcome {
        Ok(reply) => reply.into_response(&request_id),
        Err(err) => error_response(&err, &request_id),
    }
}

/// Runs a request's handling; a panic becomes `InternalError` in the envelope instead of a
/// dropped connection.
async fn guarded(
    handling: impl std::future::Future<Output = Result<Reply, ApiError>>,
    request_id: &str,
) -> Result<Reply, ApiError> {
    AssertUnwindSafe(handling)
        .catch_unwind()
        .await
        .unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(request_id, panic = %what, "handler panicked");
            Err(ApiError::internal_error(
                "Internal error. The request may be retried.",
            ))
        })
}

/// Bodies up to this size are read without asking the body budget (most requests).
const SMALL_BODY_BYTES: usize = 64 * 1024;

/// A body as read: its bytes and the share of the body budget they hold (see [`read_body`]).
struct ReadBody {
    bytes: Bytes,
    _budget: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// The body, if it arrives within `timeout` and holds at most `keep` bytes. Beyond `keep`,
/// the rest is still read (and dropped, up to the v3 limit) before the error is answered:
/// closing a connection with unread data resets it, and the client would never see the answer.
///
/// Past [`SMALL_BODY_BYTES`], the bytes kept take KiB permits from `budget` (all requests'
/// large bodies together, `http.max-body-buffer-mib`); when it is spent, the request is answered
/// `ServiceUnavailable` instead of growing the process.
async fn read_body(
    mut body: Body,
    keep: usize,
    timeout: std::time::Duration,
    budget: &std::sync::Arc<tokio::sync::Semaphore>,
) -> Result<ReadBody, ApiError> {
    let reading = async {
        // A declared length is the client's word: reserve at most a small body up front.
        let declared =
            usize::try_from(axum::body::HttpBody::size_hint(&body).lower()).unwrap_or(usize::MAX);
        let mut kept = bytes::BytesMut::with_capacity(declared.min(keep).min(SMALL_BODY_BYTES));
        let mut held: Option<tokio::sync::OwnedSemaphorePermit> = None;
        let mut held_kib = 0usize;
        let mut busy = false;
        let mut seen = 0usize;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|err| {
                ApiError::invalid_parameter(format!("The request body could not be read: {err}"))
            })?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            seen = seen.saturating_add(data.len());
            if seen > MAX_V3_POST_BODY_BYTES {
                break;
            }
            if seen > keep || busy {
                continue;
            }
            if seen > SMALL_BODY_BYTES {
                let needed_kib = seen.div_ceil(1024);
                let more = u32::try_from(needed_kib - held_kib).unwrap_or(u32::MAX);
                match budget.clone().try_acquire_many_owned(more) {
                    Ok(permit) => {
                        held_kib = needed_kib;
                        match &mut held {
                            Some(held) => held.merge(permit),
                            None => held = Some(permit),
                        }
                    }
                    Err(_) => {
                        busy = true;
                        kept = bytes::BytesMut::new();
                        held = None;
                        continue;
                    }
                }
            }
            kept.extend_from_slice(&data);
        }
        Ok((kept.freeze(), seen, busy, held))
    };
    let (kept, seen, busy, held) =
        tokio::time::timeout(timeout, reading).await.map_err(|_| {
            ApiError::invalid_parameter(format!(
                "The request body did not arrive within {}.",
                humantime::format_duration(timeout)
            ))
        })??;
    if seen > keep {
        return Err(ApiError::request_size_limit_exceeded(format!(
            "The request body exceeds {keep} bytes (10 MiB for a TC3 request by a known key, \
             1 MiB otherwise)."
        )));
    }
    if busy {
        return Err(ApiError::service_unavailable(
            "The server is reading too many large request bodies at once. The request may be \
             retried.",
        ));
    }
    Ok(ReadBody {
        bytes: kept,
        _budget: held,
    })
}

/// The key of `secret_id` if it exists and is enabled, from a copy at most `cache::TTL` old.
async fn enabled_key(
    state: &AppState,
    secret_id: &str,
) -> Result<std::sync::Arc<roomlog_core::ApiKey>, ApiError> {
    state
        .lookups()
        .key(state.store(), secret_id)
        .await
        .map_err(|e| ActionError::from(e).0)?
        .filter(|key| key.enabled)
        .ok_or_else(|| ApiError::secret_id_not_found("The SecretId is unknown or disabled."))
}

async fn handle(
    state: &AppState,
    request: Request,
    request_id: &str,
    labels: &mut Labels,
) -> Result<Reply, ApiError> {
    let (parts, body) = request.into_parts();
    // An unknown or disabled key is refused before the body is buffered: it costs its bytes,
    // read and dropped, and nothing more. Only a TC3 request naming an enabled key may send the
    // v3 limit; anything else (v1, which names its key in the body or query, or headers that
    // name none) is held to the v1 limit.
    let timeout = state.config().http.body_read_timeout;
    let body_limit = match roomlog_protocol::tc3_secret_id(&parts.headers) {
        Some(secret_id) => match enabled_key(state, secret_id).await {
            Ok(_) => MAX_V3_POST_BODY_BYTES,
            Err(refused) => {
                let _ = read_body(body, 0, timeout, state.body_budget()).await;
                return Err(refused);
            }
        },
        None => MAX_V1_POST_BODY_BYTES,
    };
    let read = read_body(body, body_limit, timeout, state.body_budget()).await?;
    let body = &read.bytes;
    let raw = RawRequest {
        method: &parts.method,
        query: parts.uri.query(),
        headers: &parts.headers,
        body,
    };
    let parsed = parse_request(&raw)?;

    // Authenticate: the key decides the account every later check acts as. Enabled keys come
    // from a copy at most `cache::TTL` old (see `cache` for what that means for disabling).
    let key = enabled_key(state, &parsed.secret_id).await?;
    let verified = parsed.verify(&key.secret_key, now_secs())?;

    if parsed.version != API_VERSION {
        return Err(ApiError::no_such_version(&parsed.version));
    }
    if !actions::is_known(&parsed.action) {
        return Err(ApiError::invalid_action(&parsed.action));
    }
    // Only now is the action a label (metrics keep one series per label): an unauthenticated
    // request could otherwise name a new, large action at every call.
    labels.action = Some(parsed.action.clone());
    match state.limiter().check(key.account_id, &parsed.action).await {
        Verdict::Allowed => {}
        Verdict::Limited => {
            return Err(ApiError::request_limit_exceeded(format!(
                "Too many {} requests for this account: the limit is {} per second.",
                parsed.action,
                state.config().rate_limits.for_action(&parsed.action)
            )))
        }
        Verdict::Unavailable => {
            return Err(ApiError::service_unavailable(
                "The rate-limit service is unavailable. The request may be retried.",
            ))
        }
    }

    // A signature is good for one use where it matters (see `replay`). Every accepted one is
    // remembered, so a read's signature cannot be reused later for an action that changes state.
    let signature_use = state
        .limiter()
        .use_signature(
            &crate::replay::fingerprint(parsed.signature()),
            parsed.timestamp + crate::replay::REMEMBER_SECS,
            state.clock().now_ms(),
        )
        .await;
    if actions::changes_state(&parsed.action) {
        match signature_use {
            SignatureUse::Again { since_first_ms }
                if u128::from(since_first_ms) >= state.config().http.replay_grace.as_millis() =>
            {
                return Err(ApiError::signature_expire(format!(
                    "This signed request was first accepted {since_first_ms} ms ago: {} changes \
                     state, so a signature cannot be used again. Sign every call anew.",
                    parsed.action
                )))
            }
            SignatureUse::First | SignatureUse::Again { .. } => {}
            SignatureUse::Unavailable => {
                return Err(ApiError::service_unavailable(
                    "The replay check's shared store (Redis) is unavailable. The request may be \
                     retried.",
                ))
            }
        }
    }

    // Only an authenticated request within its rate limit gets its parameters parsed.
    let params = verified.params()?;
    let ctx = Ctx {
        state,
        account_id: key.account_id,
        request_id,
        now_ms: state.clock().now_ms(),
        headers: &parts.headers,
    };
    actions::run(&ctx, &parsed.action, &params, &mut labels.sdk_app_id)
        .await
        .map_err(|e| e.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_handler_answers_internal_error() {
        let outcome = guarded(async { panic!("boom") }, "rid").await;
        match outcome {
            Err(err) => assert_eq!(err.code, "InternalError"),
            Ok(_) => panic!("a panic must not succeed"),
        }
        let fine = guarded(async { Ok(Reply::empty()) }, "rid").await;
        assert!(fine.is_ok());
    }
}
