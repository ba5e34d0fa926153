//! Seed 002: `POST /v2/bill_runs` (ad hoc bill run, snake_case), and `GET
//! /v2/bill_runs/{id}` for the same record later.

use super::{rename_field, ZuoraError, ZuoraErrorBody, SYSTEM_USER_ID};
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::extract::Path;
use crate::v1::{idempotency_key, run_id, AppState};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use billrun_app::{Created, RunView};
use billrun_domain::calendar::BillCycleDay;
use billrun_domain::error::parse_json;
use billrun_domain::request::{ExcludableType, RunRequest, RunType};
use billrun_domain::run::RunStatus;
use billrun_domain::FieldError;
use chrono::{NaiveDate, SecondsFormat};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `day_of_month`: `"AllBillCycleDays"` or a day 1 to 31 (number or string).
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub enum DayOfMonth {
    Number(u8),
    Text(String),
}

/// The request of seed 002.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BillRunRequest {
    pub invoice_date: Option<NaiveDate>,
    pub target_date: Option<NaiveDate>,
    /// Comma-separated batch names.
    pub batches: Option<String>,
    /// Comma-separated: OneTime, Recurring, Usage.
    pub charges_excluded: Option<String>,
    pub day_of_month: Option<DayOfMonth>,
    /// Post the documents as they are made.
    pub post: Option<bool>,
    /// `false`: zero-amount invoices are suppressed.
    pub email_zero_amount_invoices: Option<bool>,
    /// One account only.
    pub account_id: Option<String>,
    pub email: Option<bool>,
    /// Renew auto-renewing subscriptions whose term ended by the target date
    /// (the canonical `renewSubscriptions`).
    pub renew: Option<bool>,
    #[schema(value_type = Option<Object>)]
    pub custom_fields: Option<serde_json::Map<String, serde_json::Value>>,
}

/// The snake_case bill-run record of seed 002.
#[derive(Serialize, ToSchema)]
pub struct BillRun {
    /// The canonical run id.
    pub id: String,
    pub updated_by_id: String,
    pub updated_time: String,
    pub created_by_id: String,
    pub created_time: String,
    #[schema(value_type = Object)]
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
    #[schema(value_type = Object)]
    pub custom_objects: serde_json::Map<String, serde_json::Value>,
    pub account_id: String,
    pub email: bool,
    pub post: bool,
    pub renew: bool,
    pub day_of_month: String,
    /// `BR-00000001`.
    pub bill_run_number: String,
    pub bill_run_time: String,
    pub invoice_date: String,
    pub target_date: String,
    /// pending, processing, completed, error, posted, canceled.
    pub state: String,
    pub batches: String,
    pub charges_excluded: String,
    pub email_zero_amount_invoices: bool,
    pub invoices_sent: bool,
    pub last_invoice_sent_time: String,
    pub accounts_processed: u64,
    pub invoices_generated: u64,
    pub credit_memos_generated: u64,
}

/// Canonical request fields and their names here.
const FIELDS: &[(&str, &str)] = &[
    ("invoiceDate", "invoice_date"),
    ("targetDate", "target_date"),
    ("filters.batches", "batches"),
    ("filters.billCycleDays", "day_of_month"),
    ("filters.accountIds", "account_id"),
    ("chargeTypesExcluded", "charges_excluded"),
];

pub fn state_name(s: RunStatus) -> &'static str {
    match s {
        RunStatus::Pending => "pending",
        RunStatus::Processing => "processing",
        RunStatus::Completed => "completed",
        RunStatus::CompletedWithErrors => "error",
        RunStatus::Posted => "posted",
        RunStatus::Canceled => "canceled",
    }
}

fn type_name(t: ExcludableType) -> &'static str {
    match t {
        ExcludableType::Recurring => "Recurring",
        ExcludableType::OneTime => "OneTime",
        ExcludableType::Usage => "Usage",
        ExcludableType::Adjustment => "Adjustment",
    }
}

fn list(s: &Option<String>) -> Vec<String> {
    s.as_deref()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

fn to_canonical(r: BillRunRequest) -> Result<(RunRequest, BillRunExtras), FieldError> {
    let target = r
        .target_date
        .ok_or_else(|| FieldError::new("target_date", "is required"))?;
    let mut q = RunRequest::for_target(target);
    q.run_type = RunType::Immediate;
    q.invoice_date = Some(
        r.invoice_date
            .ok_or_else(|| FieldError::new("invoice_date", "is required"))?,
    );
    q.filters.batches = list(&r.batches);
    for (i, name) in list(&r.charges_excluded).iter().enumerate() {
        let t = match name.as_str() {
            "OneTime" => ExcludableType::OneTime,
            "Recurring" => ExcludableType::Recurring,
            "Usage" => ExcludableType::Usage,
            _ => {
                return Err(FieldError::new(
                    format!("charges_excluded[{i}]"),
                    format!("'{name}' is not one of OneTime, Recurring, Usage"),
                ))
            }
        };
        q.charge_types_excluded.push(t);
    }
    match &r.day_of_month {
        None => {}
        Some(DayOfMonth::Text(t)) if t == "AllBillCycleDays" => {}
        Some(d) => {
            let n = match d {
                DayOfMonth::Number(n) => Some(*n),
                DayOfMonth::Text(t) => t.parse().ok(),
            };
            let day = n
                .ok_or_else(|| "must be AllBillCycleDays or a day 1 to 31".to_string())
                .and_then(BillCycleDay::new)
                .map_err(|m| FieldError::new("day_of_month", m))?;
            q.filters.bill_cycle_days = vec![day];
        }
    }
    if let Some(a) = r.account_id.as_deref().filter(|a| !a.is_empty()) {
        let id = billrun_domain::ids::AccountId::parse(a)
            .map_err(|m| FieldError::new("account_id", m))?;
        q.filters.account_ids = vec![id];
    }
    q.auto_post = r.post.unwrap_or(false);
    q.renew_subscriptions = r.renew.unwrap_or(false);
    let email_zero = r.email_zero_amount_invoices.unwrap_or(true);
    q.suppress_zero_invoices = !email_zero;
    Ok((
        q,
        BillRunExtras {
            email: r.email.unwrap_or(false),
            custom_fields: r.custom_fields.unwrap_or_default(),
        },
    ))
}

/// Echoed request fields that have no canonical meaning.
#[derive(Default)]
pub struct BillRunExtras {
    pub email: bool,
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
}

/// The record of seed 002 for a canonical run.
pub fn bill_run(v: &RunView, extras: BillRunExtras) -> BillRun {
    let time = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, false);
    let r = &v.request;
    let c = &v.counters;
    BillRun {
        id: v.id.to_string(),
        updated_by_id: SYSTEM_USER_ID.into(),
        updated_time: time(v.updated_at),
        created_by_id: SYSTEM_USER_ID.into(),
        created_time: time(v.created_at),
        custom_fields: extras.custom_fields,
        custom_objects: Default::default(),
        account_id: r
            .filters
            .account_ids
            .first()
            .map(|a| a.to_string())
            .unwrap_or_default(),
        email: extras.email,
        post: r.auto_post,
        renew: r.renew_subscriptions,
        day_of_month: match r.filters.bill_cycle_days.as_slice() {
            [d] => d.get().to_string(),
            _ => "AllBillCycleDays".into(),
        },
        bill_run_number: v.number.clone(),
        bill_run_time: r.scheduled_at.map(time).unwrap_or_default(),
        invoice_date: r.invoice_date.unwrap_or(v.target_date).to_string(),
        target_date: v.target_date.to_string(),
        state: state_name(v.status).into(),
        batches: r.filters.batches.join(","),
        charges_excluded: r
            .charge_types_excluded
            .iter()
            .map(|t| type_name(*t))
            .collect::<Vec<_>>()
            .join(","),
        email_zero_amount_invoices: !r.suppress_zero_invoices,
        invoices_sent: false,
        last_invoice_sent_time: String::new(),
        accounts_processed: c.accounted_for(),
        invoices_generated: c.invoices,
        credit_memos_generated: c.credit_memos,
    }
}

/// Creates and starts an ad hoc bill run (seed 002).
#[utoipa::path(post, path = "/v2/bill_runs", operation_id = "zuoraBillRunCreate", tag = "compatibility",
    params(("Idempotency-Key" = Option<String>, Header, description = "A replay with the same body answers 200 with the same run")),
    request_body = BillRunRequest,
    responses(
        (status = 201, description = "Created and started", body = BillRun),
        (status = 200, description = "Replayed (same Idempotency-Key and body)", body = BillRun),
        (status = 400, description = "Invalid", body = ZuoraErrorBody),
        (status = 409, description = "idempotency_key_reused: the key came with another request", body = ZuoraErrorBody),
        (status = 415, description = "Not JSON", body = ZuoraErrorBody)))]
pub async fn create(
    State(app): AppState,
    headers: HeaderMap,
    body: Result<JsonBody, ApiError>,
) -> Result<Response, ZuoraError> {
    let key = idempotency_key(&headers)?;
    let JsonBody(body) = body?;
    let req: BillRunRequest = parse_json(&body)?;
    let (request, extras) = to_canonical(req)?;
    let request = request
        .validated()
        .map_err(|e| rename_field(e.into(), FIELDS))?;
    let created = app
        .pipeline()
        .create_run(request, key)
        .await
        .map_err(|e| rename_field(e.into(), FIELDS))?;
    let status = match created {
        Created::New(_) => StatusCode::CREATED,
        Created::Replayed(_) => StatusCode::OK,
    };
    let view = app.queries().run_view(created.run().id).await?;
    Ok((status, Json(bill_run(&view, extras))).into_response())
}

/// A bill run in the shape of seed 002.
#[utoipa::path(get, path = "/v2/bill_runs/{id}", operation_id = "zuoraBillRunGet", tag = "compatibility",
    params(("id" = uuid::Uuid, Path, description = "Run id")),
    responses(
        (status = 200, description = "The bill run", body = BillRun),
        (status = 404, description = "Unknown", body = ZuoraErrorBody)))]
pub async fn get(State(app): AppState, Path(id): Path<String>) -> Result<Response, ZuoraError> {
    let view = app.queries().run_view(run_id(&id)?).await?;
    Ok(Json(bill_run(&view, BillRunExtras::default())).into_response())
}
