//! Seed 000 (Revenue Cloud style): `POST /api/billing/v1/configure-requests` creates an
//! invoice run from Name, RunType, AutoApproveInvoices, InvoiceDateType, ProcessFrom /
//! ProcessTo (or TargetDate, or InvoiceDate) and optional filters, answering Summary +
//! Results; `GET /api/billing/v1/request-results/{id}` answers the run's status and
//! counters, and `.../{id}/invoices` and `.../{id}/credit-memos` list its documents in
//! the seed's shape (money as `{Value, DisplayValue, CurrencyCode, CurrencySymbol}` with
//! ten decimals).

use super::{rename_field, SYSTEM_USER_NAME};
use crate::error::{ApiError, ApiResult};
use crate::extract::Path;
use crate::extract::{next_cursor, JsonBody, Params, MAX_LIMIT};
use crate::v1::{idempotency_key, run_id, AppState};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use billrun_app::catalog::DocumentPosition;
use billrun_app::payments::PaymentStatus;
use billrun_domain::book::{Account, Address};
use billrun_domain::document::{Document, DocumentKind};
use billrun_domain::error::parse_json;
use billrun_domain::ids::AccountId;
use billrun_domain::money::Currency;
use billrun_domain::request::{Grouping, InvoiceDateType, RunRequest, RunType};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::collections::HashMap;
use utoipa::ToSchema;

/// An instant or a date; its UTC date part is used.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Instant {
    At(DateTime<Utc>),
    Day(NaiveDate),
}

impl Instant {
    fn date(&self) -> NaiveDate {
        match self {
            Instant::At(t) => t.date_naive(),
            Instant::Day(d) => *d,
        }
    }
}

/// The request of seed 000.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ConfigureRequest {
    pub name: Option<String>,
    /// `Immediate` or `Scheduled` (with `ScheduledDate`).
    pub run_type: Option<String>,
    pub scheduled_date: Option<DateTime<Utc>>,
    pub auto_approve_invoices: Option<bool>,
    /// `Ready for Invoice Date` (with ProcessFrom / ProcessTo), `Target Date` (with
    /// TargetDate) or `User-defined` (with InvoiceDate, and TargetDate when it differs).
    pub invoice_date_type: Option<String>,
    #[schema(value_type = Option<String>)]
    pub process_from: Option<Instant>,
    #[schema(value_type = Option<String>)]
    pub process_to: Option<Instant>,
    #[schema(value_type = Option<String>)]
    pub target_date: Option<Instant>,
    /// The date every invoice carries (`User-defined` only).
    #[schema(value_type = Option<String>)]
    pub invoice_date: Option<Instant>,
    pub account_ids: Option<Vec<String>>,
    pub product_ids: Option<Vec<String>>,
    pub location_ids: Option<Vec<String>>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ResultError {
    pub code: String,
    pub message: String,
    pub field: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct RequestResult {
    /// The run id (resolvable by the invoices route).
    pub invoice_request_result_id: Option<String>,
    /// The request record's id.
    pub id: Option<String>,
    pub record_index: u32,
    pub is_success: bool,
    pub errors: Vec<ResultError>,
    pub error_message: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ConfigureResponse {
    pub summary: String,
    pub results: Vec<RequestResult>,
}

/// An error in the seed's shape: `IsSuccess: false` with `Errors`.
pub struct ConfigureError(pub ApiError);

impl From<ApiError> for ConfigureError {
    fn from(e: ApiError) -> Self {
        ConfigureError(e)
    }
}

impl From<billrun_domain::FieldError> for ConfigureError {
    fn from(e: billrun_domain::FieldError) -> Self {
        ConfigureError(e.into())
    }
}

impl IntoResponse for ConfigureError {
    fn into_response(self) -> Response {
        let e = self.0;
        let message = match &e.field {
            Some(f) => format!("{f}: {}", e.message),
            None => e.message.clone(),
        };
        let body = ConfigureResponse {
            summary: "0 records processed successfully, 1 failed.".into(),
            results: vec![RequestResult {
                invoice_request_result_id: None,
                id: None,
                record_index: 0,
                is_success: false,
                errors: vec![ResultError {
                    code: e.code.clone(),
                    message: e.message.clone(),
                    field: e.field.clone(),
                }],
                error_message: Some(message),
            }],
        };
        (e.status, Json(body)).into_response()
    }
}

const FIELDS: &[(&str, &str)] = &[
    ("name", "Name"),
    ("runType", "RunType"),
    ("scheduledAt", "ScheduledDate"),
    ("invoiceDateType", "InvoiceDateType"),
    ("processFrom", "ProcessFrom"),
    ("processTo", "ProcessTo"),
    ("targetDate", "TargetDate"),
    ("invoiceDate", "InvoiceDate"),
    ("filters.accountIds", "AccountIds"),
    ("filters.productIds", "ProductIds"),
    ("filters.locationIds", "LocationIds"),
];

const REQUEST_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x3c1d_55a2_7e0b_4f6a_9d21_8b4e_a0c3_f711);

/// The id of the request record of a run (derived, so it is stable).
pub fn request_record_id(run: billrun_domain::ids::RunId) -> uuid::Uuid {
    uuid::Uuid::new_v5(&REQUEST_NAMESPACE, run.0.as_bytes())
}

/// The seed's `InvoiceDateType` values.
#[derive(Clone, Copy, PartialEq, Eq)]
enum DateType {
    ReadyForInvoiceDate,
    TargetDate,
    /// Every invoice carries the given `InvoiceDate`: a TargetDate run with invoiceDate.
    UserDefined,
}

impl DateType {
    const READY: &'static str = "Ready for Invoice Date";
    const TARGET: &'static str = "Target Date";
    const USER: &'static str = "User-defined";

    /// How a canonical request reads in the seed (the inverse of [`to_canonical`]).
    fn of(q: &RunRequest) -> &'static str {
        match (q.invoice_date_type, q.invoice_date) {
            (InvoiceDateType::ReadyForInvoiceDate, _) => Self::READY,
            (InvoiceDateType::TargetDate, None) => Self::TARGET,
            (InvoiceDateType::TargetDate, Some(_)) => Self::USER,
        }
    }
}

fn to_canonical(c: ConfigureRequest) -> Result<RunRequest, ApiError> {
    let date_type = match c.invoice_date_type.as_deref() {
        None | Some(DateType::READY) => DateType::ReadyForInvoiceDate,
        Some(DateType::TARGET) => DateType::TargetDate,
        Some(DateType::USER) => DateType::UserDefined,
        Some(_) => {
            return Err(ApiError::invalid(
                "InvoiceDateType",
                "must be 'Ready for Invoice Date', 'Target Date' or 'User-defined'",
            ))
        }
    };
    let ready = date_type == DateType::ReadyForInvoiceDate;
    let invoice_date = c.invoice_date.as_ref().map(Instant::date);
    if date_type == DateType::UserDefined {
        if invoice_date.is_none() {
            return Err(ApiError::invalid(
                "InvoiceDate",
                "is required with InvoiceDateType 'User-defined'",
            ));
        }
    } else if invoice_date.is_some() {
        return Err(ApiError::invalid(
            "InvoiceDate",
            "is only allowed with InvoiceDateType 'User-defined'",
        ));
    }
    let target = match date_type {
        DateType::ReadyForInvoiceDate => c.process_to.as_ref().map(Instant::date),
        DateType::TargetDate => c.target_date.as_ref().map(Instant::date),
        // The run bills through TargetDate when given, else through the invoice date.
        DateType::UserDefined => c.target_date.as_ref().map(Instant::date).or(invoice_date),
    };
    let mut q = RunRequest::for_target(target.unwrap_or(NaiveDate::MIN));
    q.target_date = target;
    q.name = c.name;
    q.run_type = match c.run_type.as_deref() {
        None | Some("Immediate") => RunType::Immediate,
        Some("Scheduled") => RunType::Scheduled,
        Some(_) => {
            return Err(ApiError::invalid(
                "RunType",
                "must be Immediate or Scheduled",
            ))
        }
    };
    q.scheduled_at = c.scheduled_date;
    q.auto_approve = c.auto_approve_invoices.unwrap_or(false);
    if ready {
        q.invoice_date_type = InvoiceDateType::ReadyForInvoiceDate;
        q.process_from = c.process_from.as_ref().map(Instant::date);
        q.process_to = c.process_to.as_ref().map(Instant::date);
        if c.target_date.is_some() {
            return Err(ApiError::invalid(
                "TargetDate",
                "is only allowed with InvoiceDateType 'Target Date' or 'User-defined'",
            ));
        }
    } else {
        q.invoice_date_type = InvoiceDateType::TargetDate;
        q.invoice_date = invoice_date;
        for (f, v) in [
            ("ProcessFrom", &c.process_from),
            ("ProcessTo", &c.process_to),
        ] {
            if v.is_some() {
                return Err(ApiError::invalid(
                    f,
                    "is only allowed with InvoiceDateType 'Ready for Invoice Date'",
                ));
            }
        }
    }
    for (i, a) in c.account_ids.unwrap_or_default().into_iter().enumerate() {
        q.filters.account_ids.push(
            AccountId::parse(a).map_err(|m| ApiError::invalid(format!("AccountIds[{i}]"), m))?,
        );
    }
    q.filters.product_ids = c.product_ids.unwrap_or_default();
    q.filters.location_ids = c.location_ids.unwrap_or_default();
    Ok(q)
}

/// Creates an invoice run (seed 000).
#[utoipa::path(post, path = "/api/billing/v1/configure-requests", operation_id = "configureRequestCreate", tag = "compatibility",
    params(("Idempotency-Key" = Option<String>, Header, description = "A replay with the same body answers the same result, with the same run")),
    request_body = ConfigureRequest,
    responses(
        (status = 200, description = "Created (and started when Immediate), or replayed", body = ConfigureResponse),
        (status = 409, description = "idempotency_key_reused: the key came with another request", body = ConfigureResponse),
        (status = 400, description = "Invalid: IsSuccess false with Errors", body = ConfigureResponse),
        (status = 415, description = "Not JSON", body = ConfigureResponse)))]
pub async fn create(
    State(app): AppState,
    headers: HeaderMap,
    body: Result<JsonBody, ApiError>,
) -> Result<Response, ConfigureError> {
    let key = idempotency_key(&headers)?;
    let JsonBody(body) = body?;
    let req: ConfigureRequest = parse_json(&body)?;
    let q = to_canonical(req)?
        .validated()
        .map_err(|e| rename_field(e.into(), FIELDS))?;
    let created = app
        .pipeline()
        .create_run(q, key)
        .await
        .map_err(|e| rename_field(e.into(), FIELDS))?;
    let id = created.run().id;
    Ok(Json(ConfigureResponse {
        summary: "1 record processed successfully.".into(),
        results: vec![RequestResult {
            invoice_request_result_id: Some(id.to_string()),
            id: Some(request_record_id(id).to_string()),
            record_index: 0,
            is_success: true,
            errors: vec![],
            error_message: None,
        }],
    })
    .into_response())
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct Reference {
    pub id: String,
    pub name: String,
}

/// Money of seed 000: JSON numbers with ten decimals.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct MoneyValue {
    #[schema(value_type = f64)]
    pub value: Box<RawValue>,
    #[schema(value_type = f64)]
    pub display_value: Box<RawValue>,
    pub currency_code: String,
    pub currency_symbol: String,
}

/// An invoice of seed 000.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct Invoice {
    pub invoice_request_result: Reference,
    pub bill_to: Reference,
    /// The account's location: `Id` = its `locationId` (the account id when it has
    /// none), `Name` = its bill-to address on one line (or the address name, or the
    /// location id). Null when the account has neither an address nor a location.
    pub bill_to_location: Option<Reference>,
    pub ship_to: Reference,
    /// As `BillToLocation`, from the ship-to address (the bill-to one when the account
    /// has none); `Id` is the document's location when the run groups by location.
    pub ship_to_location: Option<Reference>,
    pub payment_term: Reference,
    /// The document status.
    pub approved_status: String,
    pub invoice_date: String,
    pub due_date: String,
    /// Whole days from today (UTC) to the due date, when it is not past.
    pub due_in: Option<i64>,
    /// Whole days the due date is past, when it is.
    pub due_past_by: Option<i64>,
    pub currency: String,
    pub total_one_time_fee: MoneyValue,
    pub total_recurring_fee: MoneyValue,
    pub total_evergreen_fee: MoneyValue,
    pub total_usage_fee: MoneyValue,
    pub total_fee: MoneyValue,
    pub total_adjustments: MoneyValue,
    pub sub_total: MoneyValue,
    pub tax: MoneyValue,
    pub total_amount: MoneyValue,
    pub invoice_auto_number: Option<String>,
    pub id: String,
    pub name: Option<String>,
    pub created_by: Reference,
    pub created_date: String,
    pub modified_by: Reference,
    pub modified_date: String,
    pub external_id: Option<String>,
    #[serde(rename = "ETag")]
    pub etag: String,
    pub request_result_id: Option<String>,
}

fn money(v: Decimal, c: Currency) -> MoneyValue {
    let mut d = v.round_dp(10);
    d.rescale(10);
    let raw = || RawValue::from_string(d.to_string()).unwrap_or_else(|_| zero_raw());
    MoneyValue {
        value: raw(),
        display_value: raw(),
        currency_code: c.code().to_string(),
        currency_symbol: c.symbol(),
    }
}

fn zero_raw() -> Box<RawValue> {
    // A literal that is valid JSON, so this cannot fail; fall back to an empty default.
    RawValue::from_string("0.0000000000".to_string()).unwrap_or_default()
}

/// An address on one line: its lines, city, state with postal code, and country, as
/// given (empty parts left out).
fn one_line(a: &Address) -> Option<String> {
    let region = [a.state.as_deref(), a.postal_code.as_deref()]
        .into_iter()
        .flatten()
        .filter(|p| !p.trim().is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let parts: Vec<&str> = [
        a.line1.as_deref(),
        a.line2.as_deref(),
        a.city.as_deref(),
        Some(region.as_str()),
        a.country.as_deref(),
    ]
    .into_iter()
    .flatten()
    .filter(|p| !p.trim().is_empty())
    .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// A location reference from the book: `location` (an id) and `address`; None when
/// the book has neither. Without a location id the address is the account's own, so
/// the account id names it.
fn location(
    account: &AccountId,
    location: Option<&str>,
    address: Option<&Address>,
) -> Option<Reference> {
    let location = location.filter(|l| !l.is_empty());
    if location.is_none() && address.is_none() {
        return None;
    }
    let name = address
        .and_then(one_line)
        .or_else(|| address.and_then(|a| a.name.clone()))
        .or_else(|| location.map(str::to_string))
        .unwrap_or_else(|| account.to_string());
    Some(Reference {
        id: location.map_or_else(|| account.to_string(), str::to_string),
        name,
    })
}

const ETAG_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x8f0e_61b4_2d7c_4a93_b5e8_17c6_d24a_9e05);

fn system() -> Reference {
    actor(None)
}

/// The seed's user reference of `name` (the system's when none).
fn actor(name: Option<&str>) -> Reference {
    Reference {
        id: super::user_id(name),
        name: name.unwrap_or(SYSTEM_USER_NAME).into(),
    }
}

/// The seed's invoice of `d`; `paid`: the invoice is settled in full, and is then
/// neither due in nor past due (`DueIn` and `DuePastBy` null).
pub fn invoice(
    d: &Document,
    run: &billrun_app::RunView,
    account: Option<&Account>,
    today: NaiveDate,
    paid: bool,
) -> Invoice {
    let c = d.currency;
    let t = &d.totals;
    let day = seed_day;
    let time = seed_time;
    let account_name = account.map_or_else(|| d.account_id.to_string(), |a| a.name.clone());
    let addr_name = |a: Option<&billrun_domain::book::Address>| {
        a.and_then(|a| a.name.clone())
            .unwrap_or_else(|| account_name.clone())
    };
    let bill_to = account.and_then(|a| a.bill_to.as_ref());
    let ship_to = account.and_then(|a| a.ship_to.as_ref()).or(bill_to);
    let account_location = account.and_then(|a| a.location_id.as_deref());
    // Under location grouping a document's group key is its location (the account id
    // when neither the subscription nor the account has one).
    let document_location = (run.request.grouping == Grouping::Location
        && d.group_key != d.account_id.as_str())
    .then_some(d.group_key.as_str());
    let days = account.map_or(0, |a| a.payment_term_days);
    let term_name = account
        .and_then(|a| a.payment_term_name.clone())
        .unwrap_or_else(|| format!("Net {days}"));
    let until_due = (d.due_date - today).num_days();
    let created = run.completed_at.unwrap_or(run.updated_at);
    let status = enum_name(&d.status);
    let etag = uuid::Uuid::new_v5(
        &ETAG_NAMESPACE,
        format!(
            "{}{}{status}",
            d.id,
            d.number.as_deref().unwrap_or_default()
        )
        .as_bytes(),
    );
    Invoice {
        invoice_request_result: Reference {
            id: run.id.to_string(),
            name: run.name.clone(),
        },
        bill_to: Reference {
            id: d.account_id.to_string(),
            name: addr_name(bill_to),
        },
        bill_to_location: account.and_then(|_| location(&d.account_id, account_location, bill_to)),
        ship_to: Reference {
            id: d.account_id.to_string(),
            name: addr_name(ship_to),
        },
        ship_to_location: account.and_then(|_| {
            location(
                &d.account_id,
                document_location.or(account_location),
                ship_to,
            )
        }),
        payment_term: Reference {
            id: format!("net-{days}"),
            name: term_name,
        },
        approved_status: status,
        invoice_date: day(d.invoice_date),
        due_date: day(d.due_date),
        due_in: (!paid && until_due >= 0).then_some(until_due),
        due_past_by: (!paid && until_due < 0).then_some(-until_due),
        currency: c.code().to_string(),
        total_one_time_fee: money(t.one_time, c),
        total_recurring_fee: money(t.recurring, c),
        total_evergreen_fee: money(t.evergreen, c),
        total_usage_fee: money(t.usage, c),
        total_fee: money(t.fee, c),
        total_adjustments: money(t.adjustments, c),
        sub_total: money(t.sub_total, c),
        tax: money(t.tax, c),
        total_amount: money(t.total, c),
        invoice_auto_number: d.number.clone(),
        id: d.id.to_string(),
        name: d.number.clone(),
        created_by: system(),
        created_date: time(created),
        modified_by: system(),
        modified_date: time(run.updated_at),
        external_id: None,
        etag: etag.to_string(),
        request_result_id: None,
    }
}

/// A run's counters in the seed's style.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ResultCounters {
    pub accounts_selected: u64,
    pub accounts_billed: u64,
    pub accounts_suppressed: u64,
    pub accounts_nothing_to_bill: u64,
    pub accounts_failed: u64,
    pub invoices: u64,
    pub credit_memos: u64,
    pub suppressed_documents: u64,
}

/// What a run invoiced and credited in one currency.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ResultAmounts {
    pub currency: String,
    pub invoiced: MoneyValue,
    /// Credit memo totals, negative.
    pub credited: MoneyValue,
}

/// A request result (an invoice run) of seed 000: what `InvoiceRequestResult` names in
/// an invoice, with the run's status and counters.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct RequestResultView {
    /// The run id (`InvoiceRequestResultId`).
    pub id: String,
    pub name: String,
    /// The request record's id (`Results[0].Id` of the create).
    pub request_id: String,
    /// The run number.
    pub number: String,
    /// Pending, Processing, Completed, CompletedWithErrors, Posted or Canceled.
    pub status: String,
    /// Immediate, Scheduled or Manual.
    pub run_type: String,
    pub scheduled_date: Option<String>,
    pub auto_approve_invoices: bool,
    /// Ready for Invoice Date, Target Date or User-defined.
    pub invoice_date_type: String,
    pub process_from: Option<String>,
    pub process_to: Option<String>,
    pub target_date: String,
    pub invoice_date: Option<String>,
    pub counters: ResultCounters,
    /// Per currency, by code.
    pub amounts: Vec<ResultAmounts>,
    pub created_by: Reference,
    pub created_date: String,
    pub modified_by: Reference,
    pub modified_date: String,
    pub commenced_date: Option<String>,
    pub completed_date: Option<String>,
}

/// The canonical (serde) name of an enum value such as a status.
fn enum_name<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|s| s.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn seed_day(x: NaiveDate) -> String {
    format!("{x}T00:00:00")
}

fn seed_time(x: DateTime<Utc>) -> String {
    x.format("%Y-%m-%dT%H:%M:%S%.3f").to_string()
}

pub fn request_result(run: &billrun_app::RunView) -> RequestResultView {
    let q = &run.request;
    let c = &run.counters;
    RequestResultView {
        id: run.id.to_string(),
        name: run.name.clone(),
        request_id: request_record_id(run.id).to_string(),
        number: run.number.clone(),
        status: enum_name(&run.status),
        run_type: enum_name(&q.run_type),
        scheduled_date: q.scheduled_at.map(seed_time),
        auto_approve_invoices: q.auto_approve,
        invoice_date_type: DateType::of(q).to_string(),
        process_from: q.process_from.map(seed_day),
        process_to: q.process_to.map(seed_day),
        target_date: seed_day(run.target_date),
        invoice_date: q.invoice_date.map(seed_day),
        counters: ResultCounters {
            accounts_selected: c.accounts_selected,
            accounts_billed: c.billed,
            accounts_suppressed: c.suppressed,
            accounts_nothing_to_bill: c.nothing_to_bill,
            accounts_failed: c.failed,
            invoices: c.invoices,
            credit_memos: c.credit_memos,
            suppressed_documents: c.suppressed_documents,
        },
        amounts: c
            .amounts
            .iter()
            .map(|a| ResultAmounts {
                currency: a.currency.code().to_string(),
                invoiced: money(a.invoiced, a.currency),
                credited: money(a.credited, a.currency),
            })
            .collect(),
        created_by: actor(run.created_by.as_deref()),
        created_date: seed_time(run.created_at),
        modified_by: actor(super::last_actor(run)),
        modified_date: seed_time(run.updated_at),
        commenced_date: run.commenced_at.map(seed_time),
        completed_date: run.completed_at.map(seed_time),
    }
}

/// A request result (seed 000): the run's status and counters in the seed's style, so
/// a client of the create need not switch to `/v1` to follow the run.
#[utoipa::path(get, path = "/api/billing/v1/request-results/{id}", operation_id = "requestResultGet", tag = "compatibility",
    params(("id" = uuid::Uuid, Path, description = "InvoiceRequestResultId (the run id)")),
    responses(
        (status = 200, description = "The request result", body = RequestResultView),
        (status = 400, description = "Not a run id", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown", body = crate::error::ErrorBody)))]
pub async fn get(State(app): AppState, Path(id): Path<String>) -> ApiResult<Response> {
    let id = run_id(&id)?;
    let run = app.queries().run_view(id).await?;
    Ok(Json(request_result(&run)).into_response())
}

/// The invoices of a request result (seed 000): invoices only, in numbering order.
/// The body is the seed's plain array; a further page's cursor is in `X-Next-Cursor`.
#[utoipa::path(get, path = "/api/billing/v1/request-results/{id}/invoices", operation_id = "requestResultInvoices", tag = "compatibility",
    params(
        ("id" = uuid::Uuid, Path, description = "InvoiceRequestResultId (the run id)"),
        ("cursor" = Option<String>, Query, description = "`X-Next-Cursor` of the previous page"),
        ("limit" = Option<usize>, Query, description = "1 to 1000, default 1000")),
    responses(
        (status = 200, description = "The invoices", body = Vec<Invoice>),
        (status = 404, description = "Unknown", body = crate::error::ErrorBody)))]
pub async fn invoices(
    State(app): AppState,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    documents(&app, &id, &params, DocumentKind::Invoice).await
}

/// The credit memos of a request result (seed 000), in the invoices' shape (amounts
/// negative), in numbering order; a further page's cursor is in `X-Next-Cursor`.
#[utoipa::path(get, path = "/api/billing/v1/request-results/{id}/credit-memos", operation_id = "requestResultCreditMemos", tag = "compatibility",
    params(
        ("id" = uuid::Uuid, Path, description = "InvoiceRequestResultId (the run id)"),
        ("cursor" = Option<String>, Query, description = "`X-Next-Cursor` of the previous page"),
        ("limit" = Option<usize>, Query, description = "1 to 1000, default 1000")),
    responses(
        (status = 200, description = "The credit memos", body = Vec<Invoice>),
        (status = 404, description = "Unknown", body = crate::error::ErrorBody)))]
pub async fn credit_memos(
    State(app): AppState,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    documents(&app, &id, &params, DocumentKind::CreditMemo).await
}

/// One page of a run's documents of one kind in the seed's invoice shape.
async fn documents(
    app: &std::sync::Arc<billrun_app::App>,
    id: &str,
    params: &Params,
    kind: DocumentKind,
) -> ApiResult<Response> {
    params.only(&["cursor", "limit"])?;
    let id = run_id(id)?;
    let limit = if params.0.contains_key("limit") {
        params.limit()?
    } else {
        MAX_LIMIT
    };
    let after: Option<DocumentPosition> = params.cursor()?;
    let run = app.queries().run_view(id).await?;
    let docs = app
        .queries()
        .run_documents_page(id, Some(kind), after.as_ref(), limit)
        .await?;
    let next = next_cursor(&docs, limit, DocumentPosition::of);
    let today = Utc::now().date_naive();
    let mut accounts: HashMap<AccountId, Option<Account>> = HashMap::new();
    let settlements = app.payments().settlements(&docs).await?;
    let mut out = Vec::with_capacity(docs.len());
    for (d, settlement) in docs.iter().zip(settlements) {
        let paid = settlement.payment_status == PaymentStatus::Paid;
        let a = &d.document.account_id;
        if !accounts.contains_key(a) {
            let acct = app.reference().get_account(a).await.ok();
            accounts.insert(a.clone(), acct);
        }
        let acct = accounts.get(a).and_then(Option::as_ref);
        out.push(invoice(&d.document, &run, acct, today, paid));
    }
    let mut response = (StatusCode::OK, Json(out)).into_response();
    if let Some(n) = next.and_then(|n| n.parse().ok()) {
        response.headers_mut().insert("x-next-cursor", n);
    }
    Ok(response)
}
