//! Seed 003: billing runs CRUD at `/backend/api/v1/billingRuns/` (telecom style).
//! Integer ids are run numbers. A run created here is Manual: it stays Pending, its
//! fields editable, until a PUT sets `status` to `Requested` (bills requested), which
//! starts it; from then on a PUT that changes a date field is refused (409). The call
//! cutoff `cutoffDate` is inclusive: the canonical (exclusive) usage cutoff is the day
//! after. Errors use the canonical shape.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::Path;
use crate::extract::{parse_instant, JsonBody, Params};
use crate::v1::{idempotency_key, parse_id_after, AppState};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use billrun_app::catalog::{run_number, RunFilter};
use billrun_app::RunView;
use billrun_app::{AppError, ConflictCode, Created};
use billrun_domain::error::parse_json;
use billrun_domain::request::{RunRequest, RunType};
use billrun_domain::run::RunStatus;
use chrono::{Days, NaiveDate, SecondsFormat};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

/// A billing run of seed 003.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BillingRun {
    /// The run number (`BR-00000042` → 42).
    pub id: u64,
    pub name: String,
    /// Seed 003's status name: Pending, Requested (processing), Completed,
    /// CompletedWithErrors, Posted, Canceled.
    pub status: String,
    pub subrun: Option<String>,
    pub invoice_message: Option<String>,
    /// Invoiced total when the run bills one currency, else null.
    pub invoice_amount: Option<String>,
    pub invoice_date: NaiveDate,
    /// Inclusive call cutoff.
    pub cutoff_date: Option<NaiveDate>,
    pub transaction_cutoff_date: Option<NaiveDate>,
    pub due_date: Option<NaiveDate>,
    pub commenced_date: Option<String>,
    pub completed_date: Option<String>,
}

/// The fields a POST or PUT may carry. On a PUT, `id`, `invoiceAmount`,
/// `commencedDate` and `completedDate` are read-only and ignored (`id` must match).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
pub struct BillingRunInput {
    pub id: Option<u64>,
    pub name: Option<String>,
    /// `Pending`, or `Requested` to start the run; `Canceled`, `Posted` to cancel or post.
    pub status: Option<String>,
    pub subrun: Option<String>,
    pub invoice_message: Option<String>,
    pub invoice_date: Option<NaiveDate>,
    pub cutoff_date: Option<NaiveDate>,
    pub transaction_cutoff_date: Option<NaiveDate>,
    pub due_date: Option<NaiveDate>,
    pub invoice_amount: Option<Value>,
    pub commenced_date: Option<Value>,
    pub completed_date: Option<Value>,
}

const FIELDS: &[(&str, &str)] = &[
    ("targetDate", "invoiceDate"),
    ("usageCutoffDate", "cutoffDate"),
];

/// Seed 003's status vocabulary, one name per canonical status, read and written the
/// same way: a run whose bills were requested (`status: Requested`) is processing and
/// reads back `Requested` until it completes (docs/api.md, "Seed 003 statuses").
fn status_name(s: RunStatus) -> &'static str {
    match s {
        RunStatus::Pending => "Pending",
        RunStatus::Processing => "Requested",
        RunStatus::Completed => "Completed",
        RunStatus::CompletedWithErrors => "CompletedWithErrors",
        RunStatus::Posted => "Posted",
        RunStatus::Canceled => "Canceled",
    }
}

const STATUSES: [RunStatus; 6] = [
    RunStatus::Pending,
    RunStatus::Processing,
    RunStatus::Completed,
    RunStatus::CompletedWithErrors,
    RunStatus::Posted,
    RunStatus::Canceled,
];

fn parse_status(name: &str) -> Option<RunStatus> {
    STATUSES.into_iter().find(|s| status_name(*s) == name)
}

pub fn billing_run(v: &RunView) -> BillingRun {
    let r = &v.request;
    let time = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    BillingRun {
        id: run_number(&v.number).unwrap_or(0),
        name: v.name.clone(),
        status: status_name(v.status).to_string(),
        subrun: r.subrun.clone(),
        invoice_message: r.invoice_message.clone(),
        invoice_amount: match v.counters.amounts.as_slice() {
            [one] => Some(one.invoiced.to_string()),
            _ => None,
        },
        invoice_date: r.invoice_date.unwrap_or(v.target_date),
        cutoff_date: r
            .usage_cutoff_date
            .and_then(|d| d.checked_sub_days(Days::new(1))),
        transaction_cutoff_date: r.transaction_cutoff_date,
        due_date: r.due_date,
        commenced_date: v.commenced_at.map(time),
        completed_date: v.completed_at.map(time),
    }
}

fn number(raw: &str) -> ApiResult<u64> {
    raw.parse()
        .map_err(|_| ApiError::invalid("id", "must be a billing run id (an integer)"))
}

/// The exclusive usage cutoff of an inclusive call cutoff.
fn usage_cutoff(d: NaiveDate) -> ApiResult<NaiveDate> {
    d.checked_add_days(Days::new(1))
        .ok_or_else(|| ApiError::invalid("cutoffDate", "is out of range"))
}

/// The requested status change, checked against the run's status before anything is
/// written.
enum Transition {
    None,
    Start,
    Cancel,
    Post,
}

fn transition(wanted: Option<&str>, now: RunStatus) -> ApiResult<Transition> {
    let conflict = |m: String| ApiError {
        status: StatusCode::CONFLICT,
        code: ConflictCode::StatusLocked.as_str().into(),
        message: m,
        field: Some("status".into()),
    };
    let Some(w) = wanted else {
        return Ok(Transition::None);
    };
    let Some(target) = parse_status(w) else {
        let names: Vec<&str> = STATUSES.into_iter().map(status_name).collect();
        return Err(ApiError::invalid(
            "status",
            format!("must be one of {}", names.join(", ")),
        ));
    };
    if target == now {
        return Ok(Transition::None);
    }
    match target {
        RunStatus::Processing if now == RunStatus::Pending => Ok(Transition::Start),
        // Bills were requested already (the run completed since).
        RunStatus::Processing if now.is_completed() || now == RunStatus::Posted => {
            Ok(Transition::None)
        }
        RunStatus::Canceled if now.can_become(RunStatus::Canceled) => Ok(Transition::Cancel),
        RunStatus::Posted if now.is_completed() => Ok(Transition::Post),
        _ => Err(conflict(format!(
            "the run is {}; it cannot become {w}",
            status_name(now)
        ))),
    }
}

async fn apply(
    app: &billrun_app::App,
    id: billrun_domain::ids::RunId,
    t: Transition,
) -> ApiResult<()> {
    match t {
        Transition::None => {}
        Transition::Start => {
            app.pipeline().start_run(id).await?;
        }
        Transition::Cancel => {
            app.pipeline().cancel_run(id).await?;
        }
        Transition::Post => {
            app.post_run(id).await?;
        }
    }
    Ok(())
}

/// Fetches the billing run with this id (seed 003).
#[utoipa::path(get, path = "/backend/api/v1/billingRuns/{id}", operation_id = "billingRunGet", tag = "compatibility",
    params(("id" = u64, Path, description = "Billing run id (the run number)")),
    responses(
        (status = 200, description = "The billing run", body = BillingRun),
        (status = 400, description = "Not an integer", body = ErrorBody),
        (status = 404, description = "Unknown", body = ErrorBody)))]
pub async fn get(State(app): AppState, Path(id): Path<String>) -> ApiResult<Response> {
    let run = app.queries().run_by_number(number(&id)?).await?;
    Ok(Json(billing_run(&app.queries().view_of(run).await?)).into_response())
}

/// Lists billing runs by id (seed 003); page with `idAfter` = the last id.
#[utoipa::path(get, path = "/backend/api/v1/billingRuns/", operation_id = "billingRunList", tag = "compatibility",
    params(
        ("idAfter" = Option<u64>, Query, description = "Only runs with a higher id"),
        ("createdSince" = Option<String>, Query, description = "Only runs created since (inclusive)"),
        ("updatedSince" = Option<String>, Query, description = "Only runs updated since (inclusive)"),
        ("limit" = Option<usize>, Query, description = "1 to 1000, default 100")),
    responses(
        (status = 200, description = "Billing runs by id", body = Vec<BillingRun>),
        (status = 400, description = "Bad parameter", body = ErrorBody)))]
pub async fn list(State(app): AppState, params: Params) -> ApiResult<Response> {
    params.only(&["idAfter", "createdSince", "updatedSince", "limit"])?;
    let filter = RunFilter {
        id_after: params.parse("idAfter", parse_id_after)?,
        created_since: params.parse("createdSince", parse_instant)?,
        updated_since: params.parse("updatedSince", parse_instant)?,
        status: None,
        without_previews: true,
    };
    let limit = params.limit()?;
    let runs = app.queries().list_runs(&filter, None, limit).await?;
    let mut out: Vec<BillingRun> = runs.iter().map(billing_run).collect();
    out.sort_by_key(|r| r.id);
    Ok(Json(out).into_response())
}

/// Creates a billing run (seed 003): Manual, Pending until `status: Requested`.
#[utoipa::path(post, path = "/backend/api/v1/billingRuns/", operation_id = "billingRunCreate", tag = "compatibility",
    params(("Idempotency-Key" = Option<String>, Header, description = "A replay with the same body answers 200 with the same billing run")),
    request_body = BillingRunInput,
    responses(
        (status = 201, description = "The new billing run", body = BillingRun),
        (status = 200, description = "Replayed (same Idempotency-Key and body)", body = BillingRun),
        (status = 400, description = "Invalid", body = ErrorBody),
        (status = 409, description = "idempotency_key_reused: the key came with another request", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody)))]
pub async fn create(
    State(app): AppState,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let key = idempotency_key(&headers)?;
    let input: BillingRunInput = parse_json(&body)?;
    // Read-only and ignored on a create, but still an int64 as the schema says.
    if input.id.is_some_and(|x| i64::try_from(x).is_err()) {
        return Err(ApiError::invalid(
            "id",
            format!("must be at most {}", i64::MAX),
        ));
    }
    let invoice_date = input
        .invoice_date
        .ok_or_else(|| ApiError::invalid("invoiceDate", "is required"))?;
    let wanted = input.status.as_deref();
    if !matches!(wanted, None | Some("Pending") | Some("Requested")) {
        return Err(ApiError::invalid("status", "must be Pending or Requested"));
    }
    let mut q = RunRequest::for_target(invoice_date);
    q.run_type = RunType::Manual;
    q.name = input.name.clone();
    q.invoice_date = Some(invoice_date);
    q.usage_cutoff_date = input.cutoff_date.map(usage_cutoff).transpose()?;
    q.transaction_cutoff_date = input.transaction_cutoff_date;
    q.due_date = input.due_date;
    q.invoice_message = input.invoice_message.clone();
    q.subrun = input.subrun.clone();
    let q = q
        .validated()
        .map_err(|e| crate::compat::rename_field(e.into(), FIELDS))?;
    let created = app.pipeline().create_run(q, key).await?;
    let id = created.run().id;
    let status = match created {
        Created::New(_) => StatusCode::CREATED,
        Created::Replayed(_) => StatusCode::OK,
    };
    if wanted == Some("Requested") && created.run().status == RunStatus::Pending {
        // A replay finishes the start its first call may not have made; a start made
        // meanwhile by another replay is the same outcome.
        match app.pipeline().start_run(id).await {
            Ok(_) => {}
            Err(AppError::Conflict {
                code: ConflictCode::RunNotPending,
                ..
            }) if status == StatusCode::OK => {}
            Err(e) => return Err(e.into()),
        }
    }
    let view = app.queries().run_view(id).await?;
    Ok((status, Json(billing_run(&view))).into_response())
}

/// Updates a billing run (seed 003). Date fields can change only while it is Pending.
#[utoipa::path(put, path = "/backend/api/v1/billingRuns/{id}", operation_id = "billingRunUpdate", tag = "compatibility",
    params(("id" = u64, Path, description = "Billing run id (the run number)")),
    request_body = BillingRunInput,
    responses(
        (status = 200, description = "The changed billing run", body = BillingRun),
        (status = 400, description = "Invalid", body = ErrorBody),
        (status = 404, description = "Unknown", body = ErrorBody),
        (status = 409, description = "A date field after bills were requested, or an impossible status", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody)))]
pub async fn update(
    State(app): AppState,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let n = number(&id)?;
    let input: BillingRunInput = parse_json(&body)?;
    if input.id.is_some_and(|x| x != n) {
        return Err(ApiError::invalid(
            "id",
            format!("must equal the id in the path ({n})"),
        ));
    }
    let raw: serde_json::Map<String, Value> = parse_json(&body)?;
    let run = app.queries().run_by_number(n).await?;
    let t = transition(input.status.as_deref(), run.status)?;
    let mut patch = serde_json::Map::new();
    for (k, v) in &raw {
        match k.as_str() {
            "name" | "subrun" | "invoiceMessage" | "transactionCutoffDate" | "dueDate" => {
                patch.insert(k.clone(), v.clone());
            }
            "invoiceDate" => {
                patch.insert("targetDate".into(), v.clone());
                patch.insert("invoiceDate".into(), v.clone());
            }
            "cutoffDate" => {
                let c = input.cutoff_date.map(usage_cutoff).transpose()?;
                patch.insert("usageCutoffDate".into(), json!(c));
            }
            _ => {}
        }
    }
    if !patch.is_empty() {
        let bytes = serde_json::to_vec(&Value::Object(patch))
            .map_err(|e| ApiError::invalid("$", e.to_string()))?;
        app.pipeline()
            .patch_run(run.id, &bytes)
            .await
            .map_err(|e| crate::compat::rename_field(e.into(), FIELDS))?;
    }
    apply(&app, run.id, t).await?;
    Ok(Json(billing_run(&app.queries().run_view(run.id).await?)).into_response())
}
