//! Seed 002: `POST /v2/bill_runs` (ad hoc bill run, snake_case), `GET
//! /v2/bill_runs/{id}` for the same record later, the list `GET /v2/bill_runs`, and
//! `POST /v2/bill_runs/{id}/cancel` and `/post` onto the canonical lifecycle.

use super::{last_actor, rename_field, user_id, ZuoraError, ZuoraErrorBody};
use crate::error::ApiError;
use crate::extract::Path;
use crate::extract::{next_cursor, JsonBody, Params};
use crate::v1::{idempotency_key, run_id, AppState};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use billrun_app::catalog::{RunFilter, RunPosition};
use billrun_app::{ClientFields, Created, RunView};
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

/// A list of names: comma-separated text (seed 002's example) or a JSON array (Zuora's
/// v2 models type `batches` and `charges_excluded` as lists).
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Names {
    Text(String),
    List(Vec<String>),
}

/// The request of seed 002.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BillRunRequest {
    /// The run's name (default `Invoice run <target date>`).
    pub name: Option<String>,
    pub invoice_date: Option<NaiveDate>,
    pub target_date: Option<NaiveDate>,
    /// Batch names, comma-separated or a list.
    pub batches: Option<Names>,
    /// OneTime, Recurring, Usage: comma-separated or a list.
    pub charges_excluded: Option<Names>,
    pub day_of_month: Option<DayOfMonth>,
    /// Post the documents as they are made.
    pub post: Option<bool>,
    /// Whether zero-amount invoices are emailed (default true); they are generated
    /// either way (the canonical `emailZeroAmountInvoices`).
    pub email_zero_amount_invoices: Option<bool>,
    /// One account only.
    pub account_id: Option<String>,
    /// Email each document once the run is posted (the canonical `autoEmail`).
    pub email: Option<bool>,
    /// Renew auto-renewing subscriptions whose term ended by the target date
    /// (the canonical `renewSubscriptions`).
    pub renew: Option<bool>,
    /// Kept with the run and returned by every read.
    #[schema(value_type = Option<Object>)]
    pub custom_fields: Option<serde_json::Map<String, serde_json::Value>>,
    /// Kept with the run and returned by every read.
    #[schema(value_type = Option<Object>)]
    pub custom_objects: Option<serde_json::Map<String, serde_json::Value>>,
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
    ("autoEmail", "email"),
    ("emailZeroAmountInvoices", "email_zero_amount_invoices"),
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

fn names(s: &Option<Names>) -> Vec<String> {
    let items: Vec<&str> = match s {
        None => vec![],
        Some(Names::Text(t)) => t.split(',').collect(),
        Some(Names::List(l)) => l.iter().map(String::as_str).collect(),
    };
    items
        .into_iter()
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
    q.name = r.name.clone();
    q.invoice_date = Some(
        r.invoice_date
            .ok_or_else(|| FieldError::new("invoice_date", "is required"))?,
    );
    q.filters.batches = names(&r.batches);
    for (i, name) in names(&r.charges_excluded).iter().enumerate() {
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
    q.auto_email = r.email.unwrap_or(false);
    q.email_zero_amount_invoices = r.email_zero_amount_invoices.unwrap_or(true);
    Ok((
        q,
        BillRunExtras {
            custom_fields: r.custom_fields.unwrap_or_default(),
            custom_objects: r.custom_objects.unwrap_or_default(),
        },
    ))
}

/// The request fields kept with the run as its client fields (no canonical meaning).
#[derive(Default, Serialize, Deserialize)]
pub struct BillRunExtras {
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub custom_objects: serde_json::Map<String, serde_json::Value>,
}

impl BillRunExtras {
    fn client_fields(&self) -> Option<ClientFields> {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(m)) => Some(m),
            _ => None,
        }
    }

    /// The extras a run was created with here; defaults for a run created elsewhere.
    fn of(v: &RunView) -> BillRunExtras {
        v.client_fields
            .clone()
            .and_then(|m| serde_json::from_value(serde_json::Value::Object(m)).ok())
            .unwrap_or_default()
    }
}

/// The latest email sent for the run's documents (none where nothing can be emailed).
async fn last_sent(
    app: &billrun_app::App,
    run: billrun_domain::ids::RunId,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, ZuoraError> {
    Ok(match &app.delivery {
        Some(d) => d
            .store
            .run_last_sent(run)
            .await
            .map_err(billrun_app::AppError::from)?,
        None => None,
    })
}

/// The record of seed 002 for a canonical run, with the time of its last email.
pub fn bill_run(v: &RunView, last_sent: Option<chrono::DateTime<chrono::Utc>>) -> BillRun {
    let extras = BillRunExtras::of(v);
    let time = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, false);
    let r = &v.request;
    let c = &v.counters;
    BillRun {
        id: v.id.to_string(),
        updated_by_id: user_id(last_actor(v)),
        updated_time: time(v.updated_at),
        created_by_id: user_id(v.created_by.as_deref()),
        created_time: time(v.created_at),
        custom_fields: extras.custom_fields,
        custom_objects: extras.custom_objects,
        account_id: r
            .filters
            .account_ids
            .first()
            .map(|a| a.to_string())
            .unwrap_or_default(),
        email: r.auto_email,
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
        email_zero_amount_invoices: r.email_zero_amount_invoices,
        invoices_sent: last_sent.is_some(),
        last_invoice_sent_time: last_sent.map(time).unwrap_or_default(),
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
    app.check_request(&request)
        .map_err(|e| rename_field(e.into(), FIELDS))?;
    let created = app
        .pipeline()
        .create_run_with(request, key, extras.client_fields())
        .await
        .map_err(|e| rename_field(e.into(), FIELDS))?;
    let status = match created {
        Created::New(_) => StatusCode::CREATED,
        Created::Replayed(_) => StatusCode::OK,
    };
    let view = app.queries().run_view(created.run().id).await?;
    let sent = last_sent(&app, view.id).await?;
    Ok((status, Json(bill_run(&view, sent))).into_response())
}

/// A bill run in the shape of seed 002.
#[utoipa::path(get, path = "/v2/bill_runs/{id}", operation_id = "zuoraBillRunGet", tag = "compatibility",
    params(("id" = uuid::Uuid, Path, description = "Run id")),
    responses(
        (status = 200, description = "The bill run", body = BillRun),
        (status = 404, description = "Unknown", body = ZuoraErrorBody)))]
pub async fn get(State(app): AppState, Path(id): Path<String>) -> Result<Response, ZuoraError> {
    record(&app, run_id(&id)?).await
}

/// The run's record of seed 002, as every read and lifecycle route answers it.
async fn record(
    app: &billrun_app::App,
    id: billrun_domain::ids::RunId,
) -> Result<Response, ZuoraError> {
    let view = app.queries().run_view(id).await?;
    let sent = last_sent(app, id).await?;
    Ok(Json(bill_run(&view, sent)).into_response())
}

/// The most and the default bill runs of a page (Zuora's `page_size`: 1 to 99).
const MAX_PAGE_SIZE: usize = 99;
const DEFAULT_PAGE_SIZE: usize = 10;

/// A page of bill runs: oldest first; `next_page` is the `cursor` of the next page, null
/// on the last.
#[derive(Serialize, ToSchema)]
pub struct BillRunPage {
    pub data: Vec<BillRun>,
    pub next_page: Option<String>,
}

/// Bill runs in the shape of seed 002, every run whatever API created it.
#[utoipa::path(get, path = "/v2/bill_runs", operation_id = "zuoraBillRunList", tag = "compatibility",
    params(
        ("page_size" = Option<u32>, Query, description = "1 to 99 (default 10)"),
        ("cursor" = Option<String>, Query, description = "The previous page's next_page")),
    responses(
        (status = 200, description = "A page of bill runs in creation order", body = BillRunPage),
        (status = 400, description = "Bad parameter", body = ZuoraErrorBody)))]
pub async fn list(
    State(app): AppState,
    params: Result<Params, ApiError>,
) -> Result<Response, ZuoraError> {
    // A query that cannot be read is refused in the seed's error shape too.
    let params = params?;
    params.only(&["page_size", "cursor"])?;
    let limit = params
        .parse("page_size", |v| match v.parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => Ok(n),
            _ => Err(format!("must be an integer from 1 to {MAX_PAGE_SIZE}")),
        })?
        .unwrap_or(DEFAULT_PAGE_SIZE);
    let after: Option<RunPosition> = params.cursor()?;
    let views = app
        .queries()
        .list_runs(
            &RunFilter {
                without_previews: true,
                ..RunFilter::default()
            },
            after.as_ref(),
            limit,
        )
        .await?;
    let next_page = next_cursor(&views, limit, |r| RunPosition {
        created_at: r.created_at,
        id: r.id,
    });
    let mut data = Vec::with_capacity(views.len());
    for v in &views {
        data.push(bill_run(v, last_sent(&app, v.id).await?));
    }
    Ok(Json(BillRunPage { data, next_page }).into_response())
}

/// Cancels a bill run (the canonical cancel: its documents Canceled, its billing state
/// reverted).
#[utoipa::path(post, path = "/v2/bill_runs/{id}/cancel", operation_id = "zuoraBillRunCancel", tag = "compatibility",
    params(("id" = uuid::Uuid, Path, description = "Run id")),
    responses(
        (status = 200, description = "The canceled bill run", body = BillRun),
        (status = 404, description = "Unknown", body = ZuoraErrorBody),
        (status = 409, description = "The run's status refuses it (`run_processing`, `run_posted`, `run_superseded`, `run_transition_in_progress`)", body = ZuoraErrorBody)))]
pub async fn cancel(State(app): AppState, Path(id): Path<String>) -> Result<Response, ZuoraError> {
    let id = run_id(&id)?;
    app.pipeline().cancel_run(id).await?;
    record(&app, id).await
}

/// Deletes a canceled bill run (the canonical delete: the run is no longer found or
/// listed; its canceled documents keep their numbers).
#[utoipa::path(delete, path = "/v2/bill_runs/{id}", operation_id = "zuoraBillRunDelete", tag = "compatibility",
    params(("id" = uuid::Uuid, Path, description = "Run id")),
    responses(
        (status = 200, description = "Deleted", body = ZuoraSuccess),
        (status = 404, description = "Unknown or already deleted", body = ZuoraErrorBody),
        (status = 409, description = "The run is not canceled (`run_not_canceled`)", body = ZuoraErrorBody)))]
pub async fn delete(State(app): AppState, Path(id): Path<String>) -> Result<Response, ZuoraError> {
    app.pipeline().delete_run(run_id(&id)?).await?;
    Ok(Json(ZuoraSuccess { success: true }).into_response())
}

/// Zuora's answer to a call that returns nothing else.
#[derive(Debug, Serialize, ToSchema)]
pub struct ZuoraSuccess {
    /// Always `true` (failures answer `success: false` with reasons).
    pub success: bool,
}

/// Posts a completed bill run (the canonical post: every document Posted).
#[utoipa::path(post, path = "/v2/bill_runs/{id}/post", operation_id = "zuoraBillRunPost", tag = "compatibility",
    params(("id" = uuid::Uuid, Path, description = "Run id")),
    responses(
        (status = 200, description = "The posted bill run", body = BillRun),
        (status = 404, description = "Unknown", body = ZuoraErrorBody),
        (status = 409, description = "The run's status refuses it (`run_not_completed`, `run_transition_in_progress`)", body = ZuoraErrorBody)))]
pub async fn post_run(
    State(app): AppState,
    Path(id): Path<String>,
) -> Result<Response, ZuoraError> {
    let id = run_id(&id)?;
    app.post_run(id).await?;
    record(&app, id).await
}

/// Zuora's request to email a bill run's posted documents.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct BillRunEmailRequest {
    /// `true` (default): every posted document is emailed; `false`: only those never
    /// emailed before (the canonical `onlyUnsent`).
    pub resend: Option<bool>,
}

/// Emails the bill run's posted documents (Zuora's `POST /v1/bill-runs/{billRunKey}/emails`,
/// onto the canonical `POST /v1/invoice-runs/{id}/emails`). The key is the run's id or
/// its number (`BR-00000001`).
#[utoipa::path(post, path = "/v1/bill-runs/{key}/emails", operation_id = "zuoraBillRunEmail", tag = "compatibility",
    params(
        ("key" = String, Path, description = "Run id or number"),
        ("Idempotency-Key" = Option<String>, Header, description = "A replay finds the same delivery request")),
    request_body(content = Option<BillRunEmailRequest>, description = "Optional"),
    responses(
        (status = 200, description = "Queued", body = ZuoraSuccess),
        (status = 400, description = "Invalid", body = ZuoraErrorBody),
        (status = 404, description = "Unknown", body = ZuoraErrorBody),
        (status = 409, description = "`run_not_posted`, `no_active_template` or `delivery_not_configured`", body = ZuoraErrorBody)))]
pub async fn email(
    State(app): AppState,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Result<crate::extract::OptionalJsonBody, ApiError>,
) -> Result<Response, ZuoraError> {
    let idempotency = idempotency_key(&headers)?;
    let crate::extract::OptionalJsonBody(body) = body?;
    let req: BillRunEmailRequest = match body {
        Some(b) => parse_json(&b)?,
        None => BillRunEmailRequest::default(),
    };
    let run = match billrun_app::catalog::run_number(&key) {
        Some(n) => {
            app.run_listing
                .run_by_number(n)
                .await
                .map_err(billrun_app::AppError::from)?
                .ok_or_else(|| billrun_app::AppError::NotFound(format!("bill run {key}")))?
                .id
        }
        None => run_id(&key)?,
    };
    let options = billrun_app::deliveries::EmailOptions {
        email_zero_amount_invoices: None,
        only_unsent: !req.resend.unwrap_or(true),
    };
    app.deliveries()?
        .request_emails(run, idempotency.as_deref(), options)
        .await?;
    Ok(Json(ZuoraSuccess { success: true }).into_response())
}
