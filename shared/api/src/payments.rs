//! Payments: `POST /v1/invoices/{id}/payments` (a payment of a Posted invoice, never
//! above its balance) and `GET /v1/invoices/{id}/payments` (its payments and
//! settlement).

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{uuid_id, JsonBody, Path};
use crate::schema;
use crate::v1::{idempotency_key, AppState};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use billrun_app::payments::{Payment, PaymentInput, PaymentOutcome, Settlement};
use billrun_domain::error::parse_json;
use billrun_domain::ids::DocumentId;
use serde::Serialize;

/// A payment with the settlement of its invoice after it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Receipt {
    payment: Payment,
    #[serde(flatten)]
    settlement: Settlement,
}

/// An invoice's payments with its settlement.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PaymentList {
    items: Vec<Payment>,
    #[serde(flatten)]
    settlement: Settlement,
}

#[utoipa::path(post, path = "/v1/invoices/{id}/payments", operation_id = "record_payment", tag = "results",
    params(
        ("id" = uuid::Uuid, Path, description = "Invoice id"),
        ("Idempotency-Key" = Option<String>, Header, description = "A replay with the same body answers 200 with the payment recorded; another body under the key is a 409 `idempotency_key_reused`")),
    request_body(content = schema::PaymentInput),
    responses(
        (status = 201, description = "Recorded; the invoice's settlement after it", body = schema::PaymentReceipt),
        (status = 200, description = "Replayed (same Idempotency-Key and body)", body = schema::PaymentReceipt),
        (status = 400, description = "Not a UUID, a bad Idempotency-Key or a bad body: `amount` not a positive decimal exact to the currency's minor unit, `date` not YYYY-MM-DD, `reference` over 100 characters or with control characters", body = ErrorBody),
        (status = 404, description = "Unknown invoice", body = ErrorBody),
        (status = 409, description = "`document_not_payable` (not a Posted invoice), `overpayment` (above the balance; field `amount`), `idempotency_key_reused`; nothing recorded", body = ErrorBody)))]
pub async fn record_payment(
    State(app): AppState,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let key = idempotency_key(&headers)?;
    let invoice: DocumentId = uuid_id(&id)?;
    let input: PaymentInput = parse_json(&body)?;
    let (payment, settlement, outcome) = app.payments().pay(invoice, input, key.as_deref()).await?;
    let status = match outcome {
        PaymentOutcome::New => StatusCode::CREATED,
        PaymentOutcome::Replayed => StatusCode::OK,
    };
    Ok((
        status,
        Json(Receipt {
            payment,
            settlement,
        }),
    )
        .into_response())
}

#[utoipa::path(get, path = "/v1/invoices/{id}/payments", operation_id = "list_payments", tag = "results",
    params(("id" = uuid::Uuid, Path, description = "Invoice id")),
    responses(
        (status = 200, description = "The invoice's payments, oldest first, with its amountPaid, balance and paymentStatus", body = schema::PaymentList),
        (status = 400, description = "Not a UUID", body = ErrorBody),
        (status = 404, description = "Unknown invoice", body = ErrorBody)))]
pub async fn list_payments(State(app): AppState, Path(id): Path<String>) -> ApiResult<Response> {
    let invoice: DocumentId = uuid_id(&id)?;
    let (items, settlement) = app.payments().payments(invoice).await?;
    Ok(Json(PaymentList { items, settlement }).into_response())
}
