//! Corrections of one document and the rebill of one account: `POST
//! /v1/invoices/{id}/void`, `POST /v1/invoices/{id}/cancel`, `POST
//! /v1/accounts/{id}/rebill`.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{uuid_id, OptionalJsonBody, Path};
use crate::schema;
use crate::v1::{
    account_id, created_run, idempotency_key, invoice_json, with_document_status, AppState,
};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use billrun_domain::error::parse_json;
use billrun_domain::ids::DocumentId;
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

/// A void's answer: the Voided invoice and the credit memo that takes it back.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Voided {
    pub invoice: schema::Document,
    pub credit_memo: schema::Document,
}

/// A rebill's body (optional).
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RebillInput {
    /// The run's target date; without it today's date (UTC).
    pub target_date: Option<chrono::NaiveDate>,
}

#[utoipa::path(post, path = "/v1/invoices/{id}/void", tag = "results",
    params(("id" = uuid::Uuid, Path, description = "Document id (a Posted invoice)")),
    responses(
        (status = 200, description = "The Voided invoice and its credit memo (a retry answers the same credit memo)", body = Voided),
        (status = 400, description = "Not a UUID", body = ErrorBody),
        (status = 404, description = "Unknown", body = ErrorBody),
        (status = 409, description = "document_not_voidable (a credit memo, or not Posted), document_superseded (a later run billed past it), run_is_preview", body = ErrorBody)))]
pub async fn void_invoice(State(app): AppState, Path(id): Path<String>) -> ApiResult<Response> {
    let id: DocumentId = uuid_id(&id)?;
    let done = app.pipeline().void_document(id).await?;
    let mut docs = vec![done.document];
    docs.extend(done.credit_memo);
    let mut views = with_document_status(&app, &docs).await?.into_iter();
    let (invoice, credit_memo) = (views.next(), views.next());
    Ok(Json(json!({ "invoice": invoice, "creditMemo": credit_memo })).into_response())
}

#[utoipa::path(post, path = "/v1/invoices/{id}/cancel", tag = "results",
    params(("id" = uuid::Uuid, Path, description = "Document id (Draft or Approved)")),
    responses(
        (status = 200, description = "The document, Canceled", body = schema::Document),
        (status = 400, description = "Not a UUID", body = ErrorBody),
        (status = 404, description = "Unknown", body = ErrorBody),
        (status = 409, description = "document_not_cancelable (Posted: void it; Voided), document_superseded (a later run billed past it), run_is_preview", body = ErrorBody)))]
pub async fn cancel_invoice(State(app): AppState, Path(id): Path<String>) -> ApiResult<Response> {
    let id: DocumentId = uuid_id(&id)?;
    app.pipeline().cancel_document(id).await?;
    invoice_json(&app, id).await
}

/// A rebill's body (every field optional).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RebillBody {
    #[serde(default)]
    target_date: Option<NaiveDate>,
}

/// Bills one account again: an Immediate run with the filter `accountIds: [id]`.
#[utoipa::path(post, path = "/v1/accounts/{id}/rebill", tag = "runs",
    params(
        ("id" = String, Path, description = "Account id"),
        ("Idempotency-Key" = Option<String>, Header, description = "A replay with the same body answers 200 with the same run")),
    request_body(content = Option<RebillInput>, description = "Optional: `targetDate` (default: today, UTC)"),
    responses(
        (status = 201, description = "Created", body = schema::Run),
        (status = 200, description = "Replayed (same Idempotency-Key and body)", body = schema::Run),
        (status = 400, description = "Invalid", body = ErrorBody),
        (status = 404, description = "Unknown account", body = ErrorBody),
        (status = 409, description = "idempotency_key_reused", body = ErrorBody)))]
pub async fn rebill_account(
    State(app): AppState,
    Path(id): Path<String>,
    headers: HeaderMap,
    OptionalJsonBody(body): OptionalJsonBody,
) -> ApiResult<Response> {
    let account = account_id(&id)?;
    let key = idempotency_key(&headers)?;
    let input = match body {
        Some(b) => parse_json::<RebillBody>(&b)?,
        None => RebillBody { target_date: None },
    };
    let target = input
        .target_date
        .unwrap_or_else(|| app.clock.now().date_naive());
    let created = app.pipeline().rebill_account(account, target, key).await?;
    created_run(&app, created).await
}
