//! Payments: `POST /v1/invoices/{id}/payments` (a payment of a Posted invoice, never
//! above its balance), `GET /v1/invoices/{id}/payments` (its payments and settlement)
//! `POST /v1/credit-memos/{id}/applications` (a memo's credit applied to an invoice)
//! and `GET /v1/reports/aging` (open balances by days past due).

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{next_cursor, uuid_id, JsonBody, Params, Path};
use crate::schema;
use crate::v1::{idempotency_key, AppState};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use billrun_app::payments::{
    AgingPosition, AgingReport, ApplicationInput, Payment, PaymentInput, PaymentOutcome, Settlement,
};
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

/// 201 for a new payment, 200 for a replay under its `Idempotency-Key`.
fn created_or_replayed(outcome: PaymentOutcome) -> StatusCode {
    match outcome {
        PaymentOutcome::New => StatusCode::CREATED,
        PaymentOutcome::Replayed => StatusCode::OK,
    }
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
    let status = created_or_replayed(outcome);
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

/// The aging report with the cursor of its next page of account rows.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AgingPage {
    #[serde(flatten)]
    report: AgingReport,
    next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/v1/reports/aging", operation_id = "aging_report", tag = "results",
    params(
        ("asOf" = Option<chrono::NaiveDate>, Query, description = "The report's date (YYYY-MM-DD): invoices dated then, less the payments dated then; today (UTC) when absent"),
        ("cursor" = Option<String>, Query, description = "`nextCursor` of the previous page"),
        ("limit" = Option<usize>, Query, description = "Account rows per page: 1 to 1000, default 100")),
    responses(
        (status = 200, description = "Open balances of Posted invoices by days past due (current, 1-30, 31-60, 61-90, over 90): totals per currency over every account, and a page of (account, currency) rows in account order", body = schema::AgingReport),
        (status = 400, description = "A bad parameter (named)", body = ErrorBody)))]
pub async fn aging(State(app): AppState, params: Params) -> ApiResult<Response> {
    params.only(&["asOf", "cursor", "limit"])?;
    let as_of = params
        .parse("asOf", |v| {
            v.parse::<chrono::NaiveDate>()
                .map_err(|_| "must be a date (YYYY-MM-DD)".to_string())
        })?
        .unwrap_or_else(|| app.clock.now().date_naive());
    let limit = params.limit()?;
    let after: Option<AgingPosition> = params.cursor()?;
    let report = app.payments().aging(as_of, after.as_ref(), limit).await?;
    let next_cursor = next_cursor(&report.items, limit, |r| AgingPosition {
        account_id: r.account_id.clone(),
        currency: r.currency.code().to_string(),
    });
    Ok(Json(AgingPage {
        report,
        next_cursor,
    })
    .into_response())
}

/// A credit memo's credit: applied and not yet.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreditSettlement {
    #[serde(with = "billrun_domain::money::dec")]
    amount_applied: rust_decimal::Decimal,
    #[serde(with = "billrun_domain::money::dec")]
    unapplied_amount: rust_decimal::Decimal,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ApplicationReceipt {
    application: Payment,
    invoice: Settlement,
    credit_memo: CreditSettlement,
}

#[utoipa::path(post, path = "/v1/credit-memos/{id}/applications", operation_id = "apply_credit_memo", tag = "results",
    params(
        ("id" = uuid::Uuid, Path, description = "Credit memo id"),
        ("Idempotency-Key" = Option<String>, Header, description = "A replay with the same body answers 200 with the application recorded; another body under the key is a 409 `idempotency_key_reused`")),
    request_body(content = schema::ApplicationInput),
    responses(
        (status = 201, description = "Applied: a payment of the invoice from the memo, dated today; the invoice's settlement and the memo's credit after it", body = schema::ApplicationReceipt),
        (status = 200, description = "Replayed (same Idempotency-Key and body)", body = schema::ApplicationReceipt),
        (status = 400, description = "Not a UUID, a bad Idempotency-Key or a bad body (`invoiceId`, `amount`)", body = ErrorBody),
        (status = 404, description = "Unknown credit memo or invoice", body = ErrorBody),
        (status = 409, description = "`credit_memo_not_applicable` (the memo is not Posted, or the invoice is of another account or currency: field `invoiceId`), `document_not_payable` (the invoice is not Posted), `overpayment` (above the invoice's balance), `credit_exceeded` (above the memo's unapplied credit), `idempotency_key_reused`; nothing recorded", body = ErrorBody)))]
pub async fn apply_credit_memo(
    State(app): AppState,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let key = idempotency_key(&headers)?;
    let memo: DocumentId = uuid_id(&id)?;
    let input: ApplicationInput = parse_json(&body)?;
    let (application, invoice, credit, outcome) = app
        .payments()
        .apply_credit(memo, input, key.as_deref())
        .await?;
    let status = created_or_replayed(outcome);
    Ok((
        status,
        Json(ApplicationReceipt {
            application,
            invoice,
            credit_memo: CreditSettlement {
                amount_applied: credit.amount_paid,
                unapplied_amount: credit.balance,
            },
        }),
    )
        .into_response())
}
