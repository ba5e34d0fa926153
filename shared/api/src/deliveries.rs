//! Email delivery: `POST /v1/invoice-runs/{id}/emails` (a request to email a Posted
//! run's documents), `GET /v1/delivery-requests/{id}` (its progress) and
//! `POST /v1/delivery-requests/{id}/resend` (the messages of its unfinished documents,
//! sent again).

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{uuid_id, OptionalJsonBody, Path};
use crate::schema;
use crate::v1::{idempotency_key, run_id, AppState};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use billrun_app::deliveries::{DeliveryOutcome, EmailOptions};
use billrun_domain::error::parse_json;
use billrun_domain::ids::DeliveryRequestId;

/// The options of an email request body (none: the run's).
pub fn email_options(body: Option<&[u8]>) -> ApiResult<EmailOptions> {
    Ok(match body {
        Some(b) => parse_json(b)?,
        None => EmailOptions::default(),
    })
}

#[utoipa::path(post, path = "/v1/invoice-runs/{id}/emails", operation_id = "request_emails", tag = "results",
    params(
        ("id" = uuid::Uuid, Path, description = "Run id"),
        ("Idempotency-Key" = Option<String>, Header, description = "A replay answers 200 with the same request and sends the messages of its unfinished documents again")),
    request_body(content = Option<schema::EmailOptions>, description = "Optional"),
    responses(
        (status = 202, description = "Accepted: one message per chunk of up to 25 of the run's Posted documents in numbering order; each document is emailed once to its account's billTo address (ccEmails copied) with its PDF attached (generated first when it has none)", body = schema::DeliveryRequest),
        (status = 200, description = "Replayed (same Idempotency-Key)", body = schema::DeliveryRequest),
        (status = 400, description = "Not a UUID, a bad Idempotency-Key or a bad body (the field and why)", body = ErrorBody),
        (status = 404, description = "Unknown run", body = ErrorBody),
        (status = 409, description = "`run_not_posted`, `no_active_template` or `delivery_not_configured` (no mail transport); nothing stored or queued", body = ErrorBody)))]
pub async fn request_emails(
    State(app): AppState,
    Path(id): Path<String>,
    headers: HeaderMap,
    OptionalJsonBody(body): OptionalJsonBody,
) -> ApiResult<Response> {
    let key = idempotency_key(&headers)?;
    let options = email_options(body.as_deref())?;
    let run = run_id(&id)?;
    let (view, outcome) = app
        .deliveries()?
        .request_emails(run, key.as_deref(), options)
        .await?;
    let status = match outcome {
        DeliveryOutcome::New => StatusCode::ACCEPTED,
        DeliveryOutcome::Replayed => StatusCode::OK,
    };
    Ok((status, Json(view)).into_response())
}

#[utoipa::path(post, path = "/v1/delivery-requests/{id}/resend", operation_id = "resend_delivery_request", tag = "results",
    params(("id" = uuid::Uuid, Path, description = "Delivery request id")),
    responses(
        (status = 202, description = "The messages of the request's documents that are not Sent or Skipped were sent again (Failed ones get a fresh allowance of attempts); `Resent` header: how many documents they cover", body = schema::DeliveryRequest),
        (status = 400, description = "Not a UUID", body = ErrorBody),
        (status = 404, description = "Unknown", body = ErrorBody),
        (status = 409, description = "`delivery_not_configured`", body = ErrorBody)))]
pub async fn resend(State(app): AppState, Path(id): Path<String>) -> ApiResult<Response> {
    let id: DeliveryRequestId = uuid_id(&id)?;
    let (view, sent) = app.deliveries()?.resend(id).await?;
    Ok((
        StatusCode::ACCEPTED,
        [("resent", sent.to_string())],
        Json(view),
    )
        .into_response())
}

#[utoipa::path(get, path = "/v1/delivery-requests/{id}", operation_id = "get_delivery_request", tag = "results",
    params(("id" = uuid::Uuid, Path, description = "Delivery request id")),
    responses(
        (status = 200, description = "Progress: Pending, InProgress, Completed or CompletedWithErrors, with counters (skipped by reason)", body = schema::DeliveryRequest),
        (status = 400, description = "Not a UUID", body = ErrorBody),
        (status = 404, description = "Unknown", body = ErrorBody),
        (status = 409, description = "`delivery_not_configured`", body = ErrorBody)))]
pub async fn get_request(State(app): AppState, Path(id): Path<String>) -> ApiResult<Response> {
    let id: DeliveryRequestId = uuid_id(&id)?;
    Ok(Json(app.deliveries()?.delivery_request(id).await?).into_response())
}
