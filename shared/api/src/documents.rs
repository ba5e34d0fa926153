//! Invoice document generation: `POST /v1/invoice-runs/{id}/documents` (a request for
//! the PDFs of a run's documents), `GET /v1/document-requests/{id}` (its progress) and
//! `GET /v1/invoices/{id}/document` (the PDF, read out of its pack with one ranged
//! GetObject), and `POST /v1/document-requests/{id}/resend` (the messages of a
//! request's documents without a result, sent again).

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::uuid_id;
use crate::extract::Path;
use crate::schema;
use crate::v1::{idempotency_key, run_id, AppState};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use billrun_app::docgen::RequestOutcome;
use billrun_domain::ids::{DocumentId, DocumentRequestId};

#[utoipa::path(post, path = "/v1/invoice-runs/{id}/documents", tag = "results",
    params(
        ("id" = uuid::Uuid, Path, description = "Run id"),
        ("Idempotency-Key" = Option<String>, Header, description = "A replay answers 200 with the same request and sends the messages of its documents that have no result yet (those a failed queue send left out)")),
    responses(
        (status = 202, description = "Accepted: one message per chunk of up to 25 of the run's Draft, Approved or Posted documents in numbering order; each chunk's PDFs are stored as one S3 object (a pack)", body = schema::DocumentRequest),
        (status = 200, description = "Replayed (same Idempotency-Key): the request, its missing messages sent again", body = schema::DocumentRequest),
        (status = 400, description = "Not a UUID, or a bad Idempotency-Key", body = ErrorBody),
        (status = 404, description = "Unknown run", body = ErrorBody),
        (status = 409, description = "`no_active_template` (no active invoice document template; nothing queued) or `run_not_completed`", body = ErrorBody),
        (status = 503, description = "`documents_not_queued`: the queue failed part-way; the request is stored (its id in the message): replay with the same Idempotency-Key or `POST /v1/document-requests/{id}/resend`", body = ErrorBody)))]
pub async fn request_documents(
    State(app): AppState,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let key = idempotency_key(&headers)?;
    let (view, replayed) = app
        .docgen()
        .request_documents_once(run_id(&id)?, key.as_deref())
        .await?;
    let status = match replayed {
        RequestOutcome::New => StatusCode::ACCEPTED,
        RequestOutcome::Replayed => StatusCode::OK,
        RequestOutcome::QueueFailed(e) => {
            tracing::warn!(request_id = %view.id, error = %billrun_app::error::chain(&e), "document messages not queued");
            let id = view.id;
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "documents_not_queued",
                format!(
                    "document request {id} is stored but queueing its messages failed; \
                     POST /v1/document-requests/{id}/resend (or replay with the same \
                     Idempotency-Key) sends the missing ones"
                ),
            ));
        }
    };
    Ok((status, Json(view)).into_response())
}

#[utoipa::path(post, path = "/v1/document-requests/{id}/resend", tag = "results",
    params(("id" = uuid::Uuid, Path, description = "Document request id")),
    responses(
        (status = 202, description = "The messages of the request's documents without a result were sent again, in chunks of up to 25 (none when it is complete); `Resent` header: how many documents they cover", body = schema::DocumentRequest),
        (status = 400, description = "Not a UUID", body = ErrorBody),
        (status = 404, description = "Unknown", body = ErrorBody),
        (status = 503, description = "The queue failed again: retry", body = ErrorBody)))]
pub async fn resend(State(app): AppState, Path(id): Path<String>) -> ApiResult<Response> {
    let id: DocumentRequestId = uuid_id(&id)?;
    let (view, sent) = app.docgen().resend_documents(id).await?;
    Ok((
        StatusCode::ACCEPTED,
        [("resent", sent.to_string())],
        Json(view),
    )
        .into_response())
}

#[utoipa::path(get, path = "/v1/document-requests/{id}", tag = "results",
    params(("id" = uuid::Uuid, Path, description = "Document request id")),
    responses(
        (status = 200, description = "Progress: Pending, InProgress, Completed or CompletedWithErrors, with counters", body = schema::DocumentRequest),
        (status = 400, description = "Not a UUID", body = ErrorBody),
        (status = 404, description = "Unknown", body = ErrorBody)))]
pub async fn get_request(State(app): AppState, Path(id): Path<String>) -> ApiResult<Response> {
    let id: DocumentRequestId = uuid_id(&id)?;
    Ok(Json(app.docgen().document_request(id).await?).into_response())
}

#[utoipa::path(get, path = "/v1/invoices/{id}/document", tag = "results",
    params(("id" = uuid::Uuid, Path, description = "Document id")),
    responses(
        (status = 200, description = "The PDF (read out of its pack with one ranged GetObject; base64-encoded for API Gateway, which decodes it)", content_type = "application/pdf"),
        (status = 400, description = "Not a UUID", body = ErrorBody),
        (status = 404, description = "Unknown document, or no PDF generated yet", body = ErrorBody)))]
pub async fn get_pdf(State(app): AppState, Path(id): Path<String>) -> ApiResult<Response> {
    let id: DocumentId = uuid_id(&id)?;
    let bytes = app.docgen().document_download(id).await?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/pdf")],
        bytes,
    )
        .into_response())
}
