//! The one HTTP error type: a status, a code and a message safe to show; 5xx are logged with
//! their cause and say only `internal` (or `unavailable`, `busy`). A limit's refusal (429
//! `rate_limited`, 503 `busy`) also says when to try again: `Retry-After` and `retry_after_secs`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use showroom_proto::{CommandError, ErrorCode};

/// An error answered to an HTTP client as `{"error":{"code","message"}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    fields: std::collections::BTreeMap<String, String>,
    /// For a limit: when to try again (`Retry-After` and `retry_after_secs`).
    retry_after_secs: Option<u64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorDetail {
    /// Machine-readable reason, e.g. `invalid_credentials`.
    code: &'static str,
    /// What is wrong, for people.
    message: String,
    /// For a form: each wrong field by name, with what is wrong with it.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    fields: std::collections::BTreeMap<String, String>,
    /// For `rate_limited` (429) and `busy` (503): seconds to wait before trying again, as the
    /// `Retry-After` header says.
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after_secs: Option<u64>,
}

impl ApiError {
    /// A 4xx with its code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            fields: Default::default(),
            retry_after_secs: None,
        }
    }

    /// 429 `rate_limited`: a limit was met (see `crate::limits`); try again in
    /// `retry_after_secs`.
    pub fn rate_limited(retry_after_secs: u64, message: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message);
        e.retry_after_secs = Some(retry_after_secs.max(1));
        e
    }

    /// 503 `busy`: every password-hash permit is taken (see `crate::limits`); try again in
    /// `retry_after_secs`.
    pub fn busy(retry_after_secs: u64) -> Self {
        tracing::warn!("answered busy: too many password checks at once");
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            format!("too many password checks at once; retry in {retry_after_secs} s"),
        );
        e.retry_after_secs = Some(retry_after_secs.max(1));
        e
    }

    /// 400 with a specific message.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401: no valid session.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "log in first: no valid session",
        )
    }

    /// 404 for anything not in the caller's dealer group as well as anything missing: another
    /// group's data is indistinguishable from no data.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no such {what}"),
        )
    }

    /// 403: the session's role does not allow this (`forbidden`).
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 500: logs the cause, tells the client nothing more.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "something went wrong on our side",
        )
    }

    /// 503: a backing service is unavailable.
    pub fn unavailable(cause: impl std::fmt::Display) -> Self {
        tracing::warn!(error = %cause, "dependency unavailable");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "a backing service is unavailable; retry",
        )
    }
}

/// A database failure means on REST what it means on the bus (`showroom_store::fault`): a named
/// unique constraint is 409 naming the field, a lost connection 503, a NUL in text 400.
impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        showroom_store::fault::db_error(e).into()
    }
}

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> Self {
        let status = match e.code {
            ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
            ErrorCode::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::AlreadyTaken | ErrorCode::ConversationClosed => StatusCode::CONFLICT,
            ErrorCode::NotAllowed => StatusCode::FORBIDDEN,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal => return Self::internal(e.message),
        };
        let mut err = Self::new(status, e.code.as_str(), e.message);
        err.fields = e.fields;
        err
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                fields: self.fields,
                retry_after_secs: self.retry_after_secs,
            },
        };
        let mut resp = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after_secs {
            resp.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        resp
    }
}
