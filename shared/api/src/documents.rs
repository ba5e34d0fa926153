//! Invoice document generation: `POST /v1/invoice-runs/{id}/documents` (a request for
//! the PDFs of a run's documents), `GET /v1/document-requests/{id}` (its progress) and
//! `GET /v1/invoices/{id}/document` (the PDF: a 302 to a presigned S3 URL on AWS, the
//! bytes themselves on the local backend).

use crate::error::{ApiResult, ErrorBody};
use crate::extract::path_id;
use crate::extract::Path;
use crate::schema;
use crate::v1::{run_id, AppState};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use billrun_app::docgen::Download;
use billrun_domain::ids::{DocumentId, DocumentRequestId};

#[utoipa::path(post, path = "/v1/invoice-runs/{id}/documents", tag = "results",
    params(("id" = uuid::Uuid, Path, description = "Run id")),
    responses(
        (status = 202, description = "Accepted: one document message per Draft, Approved or Posted document of the run", body = schema::DocumentRequest),
        (status = 400, description = "Not a UUID", body = ErrorBody),
        (status = 404, description = "Unknown run", body = ErrorBody),
        (status = 409, description = "`no_active_template` (no active invoice document template; nothing queued) or `run_not_completed`", body = ErrorBody)))]
pub async fn request_documents(
    State(app): AppState,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let view = app.request_documents(run_id(&id)?).await?;
    Ok((StatusCode::ACCEPTED, Json(view)).into_response())
}

#[utoipa::path(get, path = "/v1/document-requests/{id}", tag = "results",
    params(("id" = uuid::Uuid, Path, description = "Document request id")),
    responses(
        (status = 200, description = "Progress: Pending, InProgress, Completed or CompletedWithErrors, with counters", body = schema::DocumentRequest),
        (status = 400, description = "Not a UUID", body = ErrorBody),
        (status = 404, description = "Unknown", body = ErrorBody)))]
pub async fn get_request(State(app): AppState, Path(id): Path<String>) -> ApiResult<Response> {
    let id: DocumentRequestId = path_id("id", &id, |s| {
        s.parse().map_err(|_| "must be a UUID".to_string())
    })?;
    Ok(Json(app.document_request(id).await?).into_response())
}

#[utoipa::path(get, path = "/v1/invoices/{id}/document", tag = "results",
    params(("id" = uuid::Uuid, Path, description = "Document id")),
    responses(
        (status = 302, description = "AWS: a presigned GET URL of the PDF, valid 15 minutes (`Location`)"),
        (status = 200, description = "Local backend: the PDF", content_type = "application/pdf"),
        (status = 400, description = "Not a UUID", body = ErrorBody),
        (status = 404, description = "Unknown document, or no PDF generated yet", body = ErrorBody)))]
pub async fn get_pdf(State(app): AppState, Path(id): Path<String>) -> ApiResult<Response> {
    let id: DocumentId = path_id("id", &id, |s| {
        s.parse().map_err(|_| "must be a UUID".to_string())
    })?;
    Ok(match app.document_download(id).await? {
        Download::Redirect(url) => (StatusCode::FOUND, [(header::LOCATION, url)]).into_response(),
        Download::Bytes(bytes) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/pdf")],
            bytes,
        )
            .into_response(),
    })
}
