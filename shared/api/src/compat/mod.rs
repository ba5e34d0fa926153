//! The compatibility endpoints: each a thin translation of one source document's
//! request and response shapes (../shared/seeds, mapped in docs/api.md) to and from the
//! canonical use cases, with that document's error shape.

pub mod bill_runs;
pub mod billing_runs;
pub mod configure_requests;
pub mod generate_documents;
pub mod schedules;

use crate::error::ApiError;
use axum::response::{IntoResponse, Response};
use axum::Json;
use billrun_app::AppError;
use billrun_domain::FieldError;
use serde::Serialize;

/// Who created and changed records made through the API (there are no users yet).
pub const SYSTEM_USER_ID: &str = "00000000000000000000000000000000";
pub const SYSTEM_USER_NAME: &str = "billrun";

/// Renames a canonical field path to the source document's name: `map` lists
/// (canonical path prefix, document name).
pub fn rename_field(mut e: ApiError, map: &[(&str, &str)]) -> ApiError {
    if let Some(f) = &e.field {
        for (canonical, theirs) in map {
            if let Some(rest) = f.strip_prefix(canonical) {
                if rest.is_empty() || rest.starts_with('.') || rest.starts_with('[') {
                    e.field = Some(format!("{theirs}{rest}"));
                    break;
                }
            }
        }
    }
    e
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Reason {
    pub code: String,
    pub message: String,
}

/// The error body of seeds 002 and 004: `{"success": false, "reasons": [...]}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ZuoraErrorBody {
    pub success: bool,
    pub reasons: Vec<Reason>,
}

/// An [`ApiError`] rendered in the shape of seeds 002 and 004; the field path leads
/// the message (`target_date: is required`).
#[derive(Debug)]
pub struct ZuoraError(pub ApiError);

impl IntoResponse for ZuoraError {
    fn into_response(self) -> Response {
        let e = self.0;
        let message = match &e.field {
            Some(f) => format!("{f}: {}", e.message),
            None => e.message.clone(),
        };
        let body = ZuoraErrorBody {
            success: false,
            reasons: vec![Reason {
                code: e.code.clone(),
                message,
            }],
        };
        (e.status, Json(body)).into_response()
    }
}

impl From<ApiError> for ZuoraError {
    fn from(e: ApiError) -> Self {
        ZuoraError(e)
    }
}

impl From<AppError> for ZuoraError {
    fn from(e: AppError) -> Self {
        ZuoraError(e.into())
    }
}

impl From<FieldError> for ZuoraError {
    fn from(e: FieldError) -> Self {
        ZuoraError(e.into())
    }
}
