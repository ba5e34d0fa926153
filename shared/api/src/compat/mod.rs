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

/// Who created and changed records nobody asked for by name (queue workers, the
/// scheduler, a caller the composition did not identify).
pub const SYSTEM_USER_ID: &str = "00000000000000000000000000000000";
pub const SYSTEM_USER_NAME: &str = "billrun";

/// The UUID v5 namespace of the user ids the source APIs show for an actor's name.
const USER_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x2b7d_90e1_5c3a_4f68_9d14_e0a7_b65c_31f2);

/// The 32-hex user id a source API shows for `actor` (stable: the same name, the same
/// id), or [`SYSTEM_USER_ID`] for none.
pub fn user_id(actor: Option<&str>) -> String {
    match actor {
        Some(name) => uuid::Uuid::new_v5(&USER_NAMESPACE, name.as_bytes())
            .simple()
            .to_string(),
        None => SYSTEM_USER_ID.to_string(),
    }
}

/// The run's last change by name: its cancel, else its post, else its creation.
pub fn last_actor(v: &billrun_app::RunView) -> Option<&str> {
    v.canceled_by
        .as_deref()
        .or(v.posted_by.as_deref())
        .or(v.created_by.as_deref())
}

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
