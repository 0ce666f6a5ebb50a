//! Business-rule rejections, carrying the LCIC error code a client keys on.
//!
//! These are LCIC's own codes (`FailedOperation.ClassEnded`, `ResourceNotFound.Room`, ...); the
//! protocol layer wraps them in its envelope unchanged.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainError {
    pub code: &'static str,
    pub message: String,
}

impl DomainError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn room_not_found(room_id: u64) -> Self {
        Self::new(
            "ResourceNotFound.Room",
            format!("The room {room_id} does not exist."),
        )
    }

    pub fn sdk_app_id(sdk_app_id: u64) -> Self {
        Self::new(
            "InvalidParameter.SdkAppId",
            format!("The SdkAppId {sdk_app_id} does not belong to this account."),
        )
    }

    pub fn invalid_value(message: impl Into<String>) -> Self {
        Self::new("InvalidParameterValue", message)
    }

    pub fn failed(message: impl Into<String>) -> Self {
        Self::new("FailedOperation", message)
    }
}

impl fmt::Display for DomainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for DomainError {}
