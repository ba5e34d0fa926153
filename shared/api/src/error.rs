//! One error → status mapping for every route. Use-case errors ([`AppError`]) and edge
//! errors (body too large, wrong content type, a bad query parameter) become an
//! [`ApiError`]; the canonical routes render it as `{code, message, field}`, the
//! compatibility routes in their source document's shape (see `compat`).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use billrun_app::AppError;
use billrun_domain::FieldError;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub field: Option<String>,
}

/// The canonical error body.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// `validation_failed`, `not_found`, `payload_too_large`, `unsupported_media_type`,
    /// or a conflict code such as `field_locked`, `idempotency_key_reused`,
    /// `run_not_pending`.
    pub code: String,
    pub message: String,
    /// The offending field's path (`accounts[3].currency`), when one field is at fault.
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code: code.to_string(),
            message: message.into(),
            field: None,
        }
    }

    /// 400 naming a field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        let mut field = field.into();
        if field.is_empty() {
            // A path is never empty: `$` names the input as a whole.
            field = "$".into();
        }
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "validation_failed".into(),
            message: message.into(),
            field: Some(field),
        }
    }

    pub fn not_found(what: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code.clone(),
            message: self.message.clone(),
            field: self.field.clone(),
        }
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        ApiError::invalid(e.field, e.message)
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Validation(f) => f.into(),
            AppError::NotFound(what) => ApiError::not_found(what),
            AppError::Conflict {
                code,
                message,
                field,
            } => ApiError {
                status: StatusCode::CONFLICT,
                code: code.as_str().to_string(),
                message,
                field,
            },
            AppError::Transient(m) => {
                tracing::warn!(error = %billrun_app::error::chain(&m), "transient failure");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "the service is busy; retry the request",
                )
            }
            AppError::Internal(m) => {
                tracing::error!(error = %billrun_app::error::chain(&m), "internal failure");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "internal error",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
