//! Contract error codes and how every failure maps onto them.
//!
//! One table serves both transports: a Socket.IO `error` event carries `{code, message,
//! details}`, an HTTP error carries the same body with a 4xx/5xx status.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::auth::AuthError;
use crate::domain::{DomainError, ErrorKind};
use crate::engine::EngineError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// Seed 004 codes.
    AuthRequired,
    InvalidToken,
    SessionNotFound,
    DeviceLimit,
    InvalidData,
    ServerError,
    /// Ours, where the seed has no code: a rate limit was exceeded (nothing changed).
    RateLimited,
    /// Ours: the request is well-formed but conflicts with the current state.
    Conflict,
    /// Ours: the caller is authenticated but its role may not do this.
    Forbidden,
    NotFound,
    /// Ours: a vote costs more points than the viewer holds.
    InsufficientBalance,
    /// Ours: another phone holds the viewer name (it did not show the name's key).
    NameTaken,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthRequired => "AUTH_REQUIRED",
            Self::InvalidToken => "INVALID_TOKEN",
            Self::SessionNotFound => "SESSION_NOT_FOUND",
            Self::DeviceLimit => "DEVICE_LIMIT",
            Self::InvalidData => "INVALID_DATA",
            Self::ServerError => "SERVER_ERROR",
            Self::RateLimited => "RATE_LIMITED",
            Self::Conflict => "CONFLICT",
            Self::Forbidden => "FORBIDDEN",
            Self::NotFound => "NOT_FOUND",
            Self::InsufficientBalance => "INSUFFICIENT_BALANCE",
            Self::NameTaken => "NAME_TAKEN",
        }
    }

    pub fn http_status(self) -> StatusCode {
        match self {
            Self::AuthRequired | Self::InvalidToken => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::SessionNotFound | Self::NotFound => StatusCode::NOT_FOUND,
            Self::DeviceLimit | Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::InvalidData => StatusCode::BAD_REQUEST,
            Self::Conflict | Self::InsufficientBalance | Self::NameTaken => StatusCode::CONFLICT,
            Self::ServerError => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// A failure as a client sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct WireError {
    pub code: ErrorCode,
    pub message: String,
    pub details: Option<Value>,
    /// HTTP status when it should differ from the code's usual one (413 for a too-large body).
    pub http_status: Option<StatusCode>,
}

impl WireError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: None,
            http_status: None,
        }
    }

    /// `Ok(())` when `holds`, else this error.
    pub fn unless(holds: bool, code: ErrorCode, message: &str) -> Result<(), WireError> {
        if holds {
            Ok(())
        } else {
            Err(WireError::new(code, message))
        }
    }

    pub fn with_http_status(mut self, status: StatusCode) -> Self {
        self.http_status = Some(status);
        self
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn body(&self) -> Value {
        let mut body = json!({ "code": self.code.as_str(), "message": self.message });
        if let Some(details) = &self.details {
            body["details"] = details.clone();
        }
        body
    }
}

impl From<DomainError> for WireError {
    fn from(e: DomainError) -> Self {
        let code = match e.kind() {
            ErrorKind::NoSession => ErrorCode::SessionNotFound,
            ErrorKind::Limit => ErrorCode::DeviceLimit,
            ErrorKind::Conflict => ErrorCode::Conflict,
            ErrorKind::NotFound => ErrorCode::NotFound,
            ErrorKind::Invalid => ErrorCode::InvalidData,
            ErrorKind::InsufficientBalance => ErrorCode::InsufficientBalance,
            ErrorKind::NameTaken => ErrorCode::NameTaken,
            ErrorKind::Forbidden => ErrorCode::Forbidden,
            ErrorKind::StaleHolder => ErrorCode::InvalidToken,
        };
        WireError::new(code, e.to_string())
    }
}

/// The engine answered a command with another contract's outcome: a bug, reported as one.
pub fn unexpected(outcome: impl std::fmt::Debug) -> WireError {
    WireError::new(
        ErrorCode::ServerError,
        format!("unexpected engine answer {outcome:?}"),
    )
}

impl From<EngineError> for WireError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Domain(d) => d.into(),
            EngineError::Storage(_) | EngineError::Stopped => {
                WireError::new(ErrorCode::ServerError, e.to_string())
            }
        }
    }
}

impl From<AuthError> for WireError {
    fn from(e: AuthError) -> Self {
        let code = match &e {
            AuthError::Missing => ErrorCode::AuthRequired,
            AuthError::Expired
            | AuthError::Invalid(_)
            | AuthError::WrongPassword
            | AuthError::Revoked => ErrorCode::InvalidToken,
            AuthError::WrongRole { .. } => ErrorCode::Forbidden,
            AuthError::Io { .. } | AuthError::Damaged { .. } | AuthError::Sign(_) => {
                ErrorCode::ServerError
            }
        };
        WireError::new(code, e.to_string())
    }
}

impl IntoResponse for WireError {
    fn into_response(self) -> Response {
        let status = self.http_status.unwrap_or_else(|| self.code.http_status());
        (status, Json(self.body())).into_response()
    }
}
