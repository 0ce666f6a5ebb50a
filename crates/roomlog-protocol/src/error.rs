//! The error every protocol step answers with: a Tencent Cloud error `Code` plus a human `Message`.
//!
//! Clients key on `Code` (the Python SDK raises `TencentCloudSDKException(code, message)`), so
//! codes are exact strings from Tencent's common-error table; messages are for people only.

use std::borrow::Cow;

/// The error codes of Tencent Cloud API 3.0 that roomlog can produce on its own, without any
/// domain knowledge. Action-specific codes (`ResourceNotFound.Room`, ...) belong to the server.
pub mod codes {
    /// The `Authorization` header is malformed (or no credentials were sent at all).
    pub const INVALID_AUTHORIZATION: &str = "AuthFailure.InvalidAuthorization";
    /// Unknown or disabled SecretId.
    pub const SECRET_ID_NOT_FOUND: &str = "AuthFailure.SecretIdNotFound";
    /// The signature does not match.
    pub const SIGNATURE_FAILURE: &str = "AuthFailure.SignatureFailure";
    /// The request timestamp is too far from server time.
    pub const SIGNATURE_EXPIRE: &str = "AuthFailure.SignatureExpire";
    /// The key is valid but may not perform this operation.
    pub const UNAUTHORIZED_OPERATION: &str = "AuthFailure.UnauthorizedOperation";
    /// Unknown action.
    pub const INVALID_ACTION: &str = "InvalidAction";
    /// Unknown API version.
    pub const NO_SUCH_VERSION: &str = "NoSuchVersion";
    /// A required parameter (or common header) is absent.
    pub const MISSING_PARAMETER: &str = "MissingParameter";
    /// A parameter is malformed (wrong type, bad JSON).
    pub const INVALID_PARAMETER: &str = "InvalidParameter";
    /// A parameter is well-formed but out of range.
    pub const INVALID_PARAMETER_VALUE: &str = "InvalidParameterValue";
    /// A parameter the action does not define.
    pub const UNKNOWN_PARAMETER: &str = "UnknownParameter";
    /// Over the rate limit.
    pub const REQUEST_LIMIT_EXCEEDED: &str = "RequestLimitExceeded";
    /// Request over the size limit.
    pub const REQUEST_SIZE_LIMIT_EXCEEDED: &str = "RequestSizeLimitExceeded";
    /// An HTTP method other than GET or POST.
    pub const UNSUPPORTED_PROTOCOL: &str = "UnsupportedProtocol";
    /// Server-side failure.
    pub const INTERNAL_ERROR: &str = "InternalError";
    /// Server temporarily unable to answer.
    pub const SERVICE_UNAVAILABLE: &str = "ServiceUnavailable";
}

/// A Tencent Cloud API error, rendered as `{"Error": {"Code": ..., "Message": ...}}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// The machine-readable code, e.g. `AuthFailure.SignatureFailure` or `ResourceNotFound.Room`.
    pub code: Cow<'static, str>,
    /// A human-readable explanation.
    pub message: String,
}

impl ApiError {
    /// Any code, including action-specific ones such as `ResourceNotFound.Room`.
    pub fn new(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn invalid_authorization(msg: impl Into<String>) -> Self {
        Self::new(codes::INVALID_AUTHORIZATION, msg)
    }

    pub fn secret_id_not_found(msg: impl Into<String>) -> Self {
        Self::new(codes::SECRET_ID_NOT_FOUND, msg)
    }

    pub fn signature_failure(msg: impl Into<String>) -> Self {
        Self::new(codes::SIGNATURE_FAILURE, msg)
    }

    pub fn signature_expire(msg: impl Into<String>) -> Self {
        Self::new(codes::SIGNATURE_EXPIRE, msg)
    }

    pub fn unauthorized_operation(msg: impl Into<String>) -> Self {
        Self::new(codes::UNAUTHORIZED_OPERATION, msg)
    }

    /// `InvalidAction` for the given action name.
    pub fn invalid_action(action: &str) -> Self {
        Self::new(
            codes::INVALID_ACTION,
            format!("The action `{action}` is not supported by this service."),
        )
    }

    /// `NoSuchVersion` for the given version string.
    pub fn no_such_version(version: &str) -> Self {
        Self::new(
            codes::NO_SUCH_VERSION,
            format!("The API version `{version}` does not exist."),
        )
    }

    /// `MissingParameter` naming the absent parameter (flattened path) or header.
    pub fn missing_parameter(name: &str) -> Self {
        Self::new(
            codes::MISSING_PARAMETER,
            format!("The required parameter `{name}` is missing."),
        )
    }

    pub fn invalid_parameter(msg: impl Into<String>) -> Self {
        Self::new(codes::INVALID_PARAMETER, msg)
    }

    pub fn invalid_parameter_value(msg: impl Into<String>) -> Self {
        Self::new(codes::INVALID_PARAMETER_VALUE, msg)
    }

    /// `UnknownParameter` naming the parameter (flattened path) the action does not define.
    pub fn unknown_parameter(name: &str) -> Self {
        Self::new(
            codes::UNKNOWN_PARAMETER,
            format!("The parameter `{name}` is not recognized."),
        )
    }

    pub fn request_limit_exceeded(msg: impl Into<String>) -> Self {
        Self::new(codes::REQUEST_LIMIT_EXCEEDED, msg)
    }

    pub fn request_size_limit_exceeded(msg: impl Into<String>) -> Self {
        Self::new(codes::REQUEST_SIZE_LIMIT_EXCEEDED, msg)
    }

    pub fn unsupported_protocol(msg: impl Into<String>) -> Self {
        Self::new(codes::UNSUPPORTED_PROTOCOL, msg)
    }

    pub fn internal_error(msg: impl Into<String>) -> Self {
        Self::new(codes::INTERNAL_ERROR, msg)
    }

    pub fn service_unavailable(msg: impl Into<String>) -> Self {
        Self::new(codes::SERVICE_UNAVAILABLE, msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_use_their_codes() {
        assert_eq!(ApiError::invalid_action("Foo").code, "InvalidAction");
        assert!(ApiError::invalid_action("Foo").message.contains("Foo"));
        assert_eq!(
            ApiError::missing_parameter("RoomId").code,
            "MissingParameter"
        );
        assert!(ApiError::missing_parameter("RoomId")
            .message
            .contains("RoomId"));
        assert_eq!(
            ApiError::signature_failure("x").code,
            "AuthFailure.SignatureFailure"
        );
        assert_eq!(
            ApiError::new("ResourceNotFound.Room", "m").code,
            "ResourceNotFound.Room"
        );
    }

    #[test]
    fn display_shows_code_and_message() {
        let err = ApiError::unknown_parameter("Events.3.Foo");
        assert_eq!(
            err.to_string(),
            "UnknownParameter: The parameter `Events.3.Foo` is not recognized."
        );
    }
}
