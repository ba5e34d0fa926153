//! The canonical `/v1` routes: thin translations between HTTP and the use cases.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::Path;
use crate::extract::{next_cursor, parse_instant, path_id, uuid_id, JsonBody, Params};
use crate::schema;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use billrun_app::catalog::{
    run_number, DocumentPosition, DocumentTemplate, RunFilter, RunPosition, StoredSchedule,
};
use billrun_app::deliveries::DocumentDeliveryView;
use billrun_app::payments::Settlement;
use billrun_app::{App, AppError, Created};
use billrun_domain::book::Book;
use billrun_domain::document::DocumentKind;
use billrun_domain::ids::{AccountId, DocumentId, RunId, ScheduleId, SubscriptionId};
use billrun_domain::request::RunRequest;
use billrun_domain::run::{Outcome, RunStatus};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::json;
use std::sync::Arc;

pub type AppState = State<Arc<App>>;

/// A list page: `{"items": [...], "nextCursor": ...}`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

fn created_or_ok<T: Serialize>(created: bool, body: T) -> Response {
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    (status, Json(body)).into_response()
}

pub fn run_id(raw: &str) -> ApiResult<RunId> {
    uuid_id(raw)
}

#[utoipa::path(get, path = "/v1/health", tag = "service",
    responses((status = 200, description = "The service is up", body = schema::Health)))]
pub async fn health() -> Json<serde_json::Value> {
    Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
}

#[utoipa::path(get, path = "/v1/openapi.json", tag = "service",
    responses((status = 200, description = "This OpenAPI 3.1 document")))]
pub async fn openapi_json() -> Response {
    // The checked-in document, which tests/openapi.rs keeps equal to the one utoipa
    // generates, compacted by build.rs: serving the text keeps the generator's code out
    // of the Lambda binaries.
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        include_str!(concat!(env!("OUT_DIR"), "/openapi.min.json")),
    )
        .into_response()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Imported {
    accounts: usize,
    subscriptions: usize,
    usage: usize,
    adjustments: usize,
    invoice_schedules: usize,
}

/// Imports a whole book (upsert), validated whole before anything is written.
#[utoipa::path(post, path = "/v1/import", tag = "reference data",
    request_body = schema::Book,
    responses(
        (status = 200, description = "Imported", body = schema::Imported),
        (status = 400, description = "Invalid book; `field` names the first problem", body = ErrorBody),
        (status = 413, description = "Over 5 MB", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody)))]
pub async fn import(State(app): AppState, JsonBody(body): JsonBody) -> ApiResult<Response> {
    let book: Book = app.reference().import_book(&body).await?;
    Ok(Json(Imported {
        accounts: book.accounts.len(),
        subscriptions: book.subscriptions.len(),
        usage: book.usage.len(),
        adjustments: book.adjustments.len(),
        invoice_schedules: book.invoice_schedules.len(),
    })
    .into_response())
}

#[utoipa::path(put, path = "/v1/accounts/{id}", tag = "reference data",
    params(("id" = String, Path, description = "Account id")),
    request_body = schema::Account,
    responses(
        (status = 201, description = "Created", body = schema::Account),
        (status = 200, description = "Replaced", body = schema::Account),
        (status = 400, description = "Invalid", body = ErrorBody),
        (status = 409, description = "Currency locked", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody)))]
pub async fn put_account(
    State(app): AppState,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let (account, created) = app.reference().put_account(&id, &body).await?;
    Ok(created_or_ok(created, account))
}

pub(crate) fn account_id(raw: &str) -> ApiResult<AccountId> {
    path_id("id", raw, |s| AccountId::parse(s))
}

#[utoipa::path(get, path = "/v1/accounts/{id}", tag = "reference data",
    params(("id" = String, Path, description = "Account id")),
    responses(
        (status = 200, description = "The account", body = schema::Account),
        (status = 404, description = "Unknown", body = ErrorBody)))]
pub async fn get_account(State(app): AppState, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(Json(app.reference().get_account(&account_id(&id)?).await?).into_response())
}

#[utoipa::path(get, path = "/v1/accounts", tag = "reference data",
    params(
        ("batch" = Option<String>, Query, description = "Only accounts of this batch"),
        ("cursor" = Option<String>, Query, description = "`nextCursor` of the previous page"),
        ("limit" = Option<usize>, Query, description = "1 to 1000, default 100")),
    responses(
        (status = 200, description = "Accounts by id", body = schema::AccountList),
        (status = 400, description = "Bad parameter", body = ErrorBody)))]
pub async fn list_accounts(State(app): AppState, params: Params) -> ApiResult<Response> {
    params.only(&["batch", "cursor", "limit"])?;
    let limit = params.limit()?;
    let after: Option<AccountId> = params.cursor()?;
    let items = app
        .queries()
        .list_accounts(params.get("batch"), after.as_ref(), limit)
        .await?;
    let next_cursor = next_cursor(&items, limit, |a| a.id.clone());
    Ok(Json(Page { items, next_cursor }).into_response())
}

#[utoipa::path(put, path = "/v1/subscriptions/{id}", tag = "reference data",
    params(("id" = String, Path, description = "Subscription id")),
    request_body = schema::Subscription,
    responses(
        (status = 201, description = "Created", body = schema::Subscription),
        (status = 200, description = "Replaced", body = schema::Subscription),
        (status = 400, description = "Invalid", body = ErrorBody),
        (status = 409, description = "It belongs to another account", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody)))]
pub async fn put_subscription(
    State(app): AppState,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let (sub, created) = app.reference().put_subscription(&id, &body).await?;
    Ok(created_or_ok(created, sub))
}

#[utoipa::path(get, path = "/v1/subscriptions/{id}", tag = "reference data",
    params(("id" = String, Path, description = "Subscription id")),
    responses(
        (status = 200, description = "The subscription", body = schema::Subscription),
        (status = 404, description = "Unknown", body = ErrorBody)))]
pub async fn get_subscription(State(app): AppState, Path(id): Path<String>) -> ApiResult<Response> {
    let id = path_id("id", &id, |s| SubscriptionId::parse(s))?;
    Ok(Json(app.reference().get_subscription(&id).await?).into_response())
}

#[utoipa::path(post, path = "/v1/usage", tag = "reference data",
    request_body = schema::UsageBatch,
    responses(
        (status = 200, description = "Stored; records already stored under their id are left as they were", body = schema::RecordsStored),
        (status = 400, description = "Invalid", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody)))]
pub async fn post_usage(State(app): AppState, JsonBody(body): JsonBody) -> ApiResult<Response> {
    Ok(Json(app.reference().post_usage(&body).await?).into_response())
}

#[utoipa::path(post, path = "/v1/adjustments", tag = "reference data",
    request_body = schema::AdjustmentBatch,
    responses(
        (status = 200, description = "Stored (replaced by id)", body = schema::RecordsStored),
        (status = 400, description = "Invalid", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody)))]
pub async fn post_adjustments(
    State(app): AppState,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    Ok(Json(app.reference().post_adjustments(&body).await?).into_response())
}

fn schedule_json(s: &StoredSchedule) -> serde_json::Value {
    let mut v = serde_json::to_value(&s.schedule).unwrap_or_default();
    if let Some(m) = v.as_object_mut() {
        m.insert(
            "processed".into(),
            serde_json::to_value(&s.processed).unwrap_or_default(),
        );
    }
    v
}

#[utoipa::path(put, path = "/v1/invoice-schedules/{id}", tag = "reference data",
    params(("id" = String, Path, description = "Invoice schedule id"),
        ("If-None-Match" = Option<String>, Header, description = "`*`: create only; a schedule with this id is not replaced (409 `invoice_schedule_exists`)")),
    request_body = schema::InvoiceSchedule,
    responses(
        (status = 201, description = "Created", body = schema::InvoiceScheduleView),
        (status = 200, description = "Replaced; executed items stay Processed", body = schema::InvoiceScheduleView),
        (status = 400, description = "Invalid", body = ErrorBody),
        (status = 409, description = "account_locked (it belongs to another account), invoice_schedule_exists (with `If-None-Match: *`)", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody)))]
pub async fn put_schedule(
    State(app): AppState,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let (s, created) = if crate::run_schedules::create_only(&headers)? {
        (app.reference().create_schedule(&id, &body).await?, true)
    } else {
        app.reference().put_schedule(&id, &body).await?
    };
    Ok(created_or_ok(created, schedule_json(&s)))
}

#[utoipa::path(get, path = "/v1/invoice-schedules/{id}", tag = "reference data",
    params(("id" = String, Path, description = "Invoice schedule id")),
    responses(
        (status = 200, description = "The schedule", body = schema::InvoiceScheduleView),
        (status = 404, description = "Unknown", body = ErrorBody)))]
pub async fn get_schedule(State(app): AppState, Path(id): Path<String>) -> ApiResult<Response> {
    let id = path_id("id", &id, |s| ScheduleId::parse(s))?;
    Ok(Json(schedule_json(&app.reference().get_schedule(&id).await?)).into_response())
}

fn template_json(t: DocumentTemplate) -> Json<DocumentTemplate> {
    Json(t)
}

#[utoipa::path(put, path = "/v1/document-templates/{id}", tag = "reference data",
    params(("id" = String, Path, description = "Template id"),
        ("If-None-Match" = Option<String>, Header, description = "`*`: create only; a template with this id is not replaced (409 `template_exists`)")),
    request_body = schema::TemplateInput,
    responses(
        (status = 200, description = "Stored", body = schema::Template),
        (status = 400, description = "Invalid", body = ErrorBody),
        (status = 409, description = "template_exists (with `If-None-Match: *`)", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody)))]
pub async fn put_template(
    State(app): AppState,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let templates = app.templates();
    let t = if crate::run_schedules::create_only(&headers)? {
        templates.create_template(&id, &body).await?
    } else {
        templates.put_template(&id, &body).await?
    };
    Ok(template_json(t).into_response())
}

#[utoipa::path(post, path = "/v1/document-templates/{id}/activate", tag = "reference data",
    params(("id" = String, Path, description = "Template id")),
    responses(
        (status = 200, description = "Now the active template", body = schema::Template),
        (status = 404, description = "Unknown", body = ErrorBody)))]
pub async fn activate_template(
    State(app): AppState,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(template_json(app.templates().activate_template(&id).await?).into_response())
}

/// The `Idempotency-Key` header, when given.
pub fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = v
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= 255 && !k.chars().any(|c| c.is_control()))
        .ok_or_else(|| {
            ApiError::invalid(
                "Idempotency-Key",
                "must be 1 to 255 visible ASCII characters",
            )
        })?;
    Ok(Some(key.to_string()))
}

/// Creates a run; an Immediate one starts processing at once.
#[utoipa::path(post, path = "/v1/invoice-runs", tag = "runs",
    params(("Idempotency-Key" = Option<String>, Header, description = "A replay with the same body answers 200 with the same run")),
    request_body = schema::RunRequest,
    responses(
        (status = 201, description = "Created", body = schema::Run),
        (status = 200, description = "Replayed (same Idempotency-Key and body)", body = schema::Run),
        (status = 400, description = "Invalid", body = ErrorBody),
        (status = 409, description = "idempotency_key_reused", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody)))]
pub async fn create_run(
    State(app): AppState,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let key = idempotency_key(&headers)?;
    let request = RunRequest::parse(&body)?;
    app.check_request(&request)?;
    let created = app.pipeline().create_run(request, key).await?;
    created_run(&app, created).await
}

/// The answer to a run's creation: 201 with the new run (200 with a replayed one) and
/// its `Location`.
pub(crate) async fn created_run(app: &App, created: Created) -> ApiResult<Response> {
    let is_new = matches!(created, Created::New(_));
    // The run in hand answers: a new one is viewed without reading it back (three
    // reads on create-run's path), a replayed one with what it has done since.
    let view = match created {
        Created::New(run) => billrun_app::queries::Queries::created_view(run),
        Created::Replayed(run) => app.queries().view_of(run).await?,
    };
    let mut response = created_or_ok(is_new, &view);
    if let Ok(loc) = format!("/v1/invoice-runs/{}", view.id).parse() {
        response
            .headers_mut()
            .insert(axum::http::header::LOCATION, loc);
    }
    Ok(response)
}

#[utoipa::path(get, path = "/v1/invoice-runs/{id}", tag = "runs",
    params(("id" = uuid::Uuid, Path, description = "Run id")),
    responses(
        (status = 200, description = "The run with its counters", body = schema::Run),
        (status = 400, description = "Not a UUID", body = ErrorBody),
        (status = 404, description = "Unknown", body = ErrorBody)))]
pub async fn get_run(State(app): AppState, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(Json(app.queries().run_view(run_id(&id)?).await?).into_response())
}

pub fn parse_status(v: &str) -> Result<RunStatus, String> {
    serde_json::from_value(json!(v)).map_err(|_| {
        "must be one of Pending, Processing, Completed, CompletedWithErrors, Posted, Canceled"
            .to_string()
    })
}

/// `idAfter`: a run number, `BR-00000042` or `42`.
pub fn parse_id_after(v: &str) -> Result<u64, String> {
    run_number(v)
        .or_else(|| v.parse().ok())
        // Run numbers are int64 in the OpenAPI document.
        .filter(|n| i64::try_from(*n).is_ok())
        .ok_or_else(|| "must be a run number (42 or BR-00000042)".to_string())
}

#[utoipa::path(get, path = "/v1/invoice-runs", tag = "runs",
    params(
        ("idAfter" = Option<String>, Query, description = "Only runs with a greater number (42 or BR-00000042)"),
        ("createdSince" = Option<String>, Query, description = "Inclusive, RFC 3339"),
        ("updatedSince" = Option<String>, Query, description = "Inclusive, RFC 3339"),
        ("status" = Option<schema::RunStatus>, Query, description = "Only runs in this status"),
        ("cursor" = Option<String>, Query, description = "`nextCursor` of the previous page"),
        ("limit" = Option<usize>, Query, description = "1 to 1000, default 100")),
    responses(
        (status = 200, description = "Runs by creation time", body = schema::RunList),
        (status = 400, description = "Bad parameter", body = ErrorBody)))]
pub async fn list_runs(State(app): AppState, params: Params) -> ApiResult<Response> {
    params.only(&[
        "idAfter",
        "createdSince",
        "updatedSince",
        "status",
        "cursor",
        "limit",
    ])?;
    let filter = RunFilter {
        id_after: params.parse("idAfter", parse_id_after)?,
        created_since: params.parse("createdSince", parse_instant)?,
        updated_since: params.parse("updatedSince", parse_instant)?,
        status: params.parse("status", parse_status)?,
        // Listed, marked by `runType`, until they expire.
        without_previews: false,
    };
    let limit = params.limit()?;
    let after: Option<RunPosition> = params.cursor()?;
    let items = app
        .queries()
        .list_runs(&filter, after.as_ref(), limit)
        .await?;
    let next_cursor = next_cursor(&items, limit, |r| RunPosition {
        created_at: r.created_at,
        id: r.id,
    });
    Ok(Json(Page { items, next_cursor }).into_response())
}

/// Changes a run's request: any field while Pending; after processing has started
/// only `name` (any other field: 409 `field_locked` naming it).
#[utoipa::path(patch, path = "/v1/invoice-runs/{id}", tag = "runs",
    params(("id" = uuid::Uuid, Path, description = "Run id")),
    request_body(content = schema::RunRequest, description = "A JSON merge patch of the run request", content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The changed run", body = schema::Run),
        (status = 400, description = "Invalid", body = ErrorBody),
        (status = 404, description = "Unknown", body = ErrorBody),
        (status = 409, description = "field_locked", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody)))]
pub async fn patch_run(
    State(app): AppState,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let run = app.pipeline().patch_run(run_id(&id)?, &body).await?;
    Ok(Json(app.queries().view_of(run).await?).into_response())
}

macro_rules! run_action {
    ($name:ident, $path:literal, $doc:literal, $call:ident) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = "runs",
            params(("id" = uuid::Uuid, Path, description = "Run id")),
            responses(
                (status = 200, description = "The run", body = schema::Run),
                (status = 404, description = "Unknown", body = ErrorBody),
                (status = 409, description = "Not allowed in the run's status", body = ErrorBody)))]
        pub async fn $name(State(app): AppState, Path(id): Path<String>) -> ApiResult<Response> {
            let id = run_id(&id)?;
            app.pipeline().$call(id).await?;
            Ok(Json(app.queries().run_view(id).await?).into_response())
        }
    };
}

run_action!(
    start_run,
    "/v1/invoice-runs/{id}/start",
    "Starts a Pending (Manual or Scheduled) run.",
    start_run
);
run_action!(
    cancel_run,
    "/v1/invoice-runs/{id}/cancel",
    "Cancels a run that posted nothing, reverting what it billed.",
    cancel_run
);
/// Deletes a Canceled run: it is no longer found or listed; its Canceled documents keep
/// their numbers and stay readable as documents.
#[utoipa::path(delete, path = "/v1/invoice-runs/{id}", tag = "runs",
    params(("id" = uuid::Uuid, Path, description = "Run id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "Unknown or already deleted", body = ErrorBody),
        (status = 409, description = "The run is not Canceled (`run_not_canceled`)", body = ErrorBody)))]
pub async fn delete_run(State(app): AppState, Path(id): Path<String>) -> ApiResult<Response> {
    app.pipeline().delete_run(run_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

run_action!(
    retry_failed,
    "/v1/invoice-runs/{id}/retry-failed",
    "Re-drives the failed accounts; their documents take a further block of numbers.",
    retry_failed
);

pub fn parse_outcome(v: &str) -> Result<Outcome, String> {
    serde_json::from_value(json!(v))
        .map_err(|_| "must be one of Billed, Suppressed, NothingToBill, Failed".to_string())
}

#[utoipa::path(get, path = "/v1/invoice-runs/{id}/accounts", tag = "runs",
    params(
        ("id" = uuid::Uuid, Path, description = "Run id"),
        ("outcome" = Option<schema::Outcome>, Query, description = "Only accounts with this outcome"),
        ("cursor" = Option<String>, Query, description = "`nextCursor` of the previous page"),
        ("limit" = Option<usize>, Query, description = "1 to 1000, default 100")),
    responses(
        (status = 200, description = "Per-account outcomes by account id", body = schema::AccountOutcomeList),
        (status = 400, description = "Bad parameter", body = ErrorBody),
        (status = 404, description = "Unknown run", body = ErrorBody)))]
pub async fn run_accounts(
    State(app): AppState,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    params.only(&["outcome", "cursor", "limit"])?;
    let id = run_id(&id)?;
    let outcome = params.parse("outcome", parse_outcome)?;
    let limit = params.limit()?;
    let after: Option<AccountId> = params.cursor()?;
    let items = app
        .queries()
        .outcomes_page(id, outcome, after, limit)
        .await?;
    let next_cursor = next_cursor(&items, limit, |o| o.account_id.clone());
    Ok(Json(Page { items, next_cursor }).into_response())
}

pub fn parse_kind(v: &str) -> Result<DocumentKind, String> {
    serde_json::from_value(json!(v)).map_err(|_| "must be Invoice or CreditMemo".to_string())
}

#[utoipa::path(get, path = "/v1/invoice-runs/{id}/invoices", tag = "results",
    params(
        ("id" = uuid::Uuid, Path, description = "Run id"),
        ("kind" = Option<schema::DocumentKind>, Query, description = "Only invoices or only credit memos"),
        ("cursor" = Option<String>, Query, description = "`nextCursor` of the previous page"),
        ("limit" = Option<usize>, Query, description = "1 to 1000, default 100")),
    responses(
        (status = 200, description = "The run's documents in numbering order", body = schema::DocumentList),
        (status = 400, description = "Bad parameter", body = ErrorBody),
        (status = 404, description = "Unknown run", body = ErrorBody)))]
pub async fn run_invoices(
    State(app): AppState,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    params.only(&["kind", "cursor", "limit"])?;
    let id = run_id(&id)?;
    let kind = params.parse("kind", parse_kind)?;
    let limit = params.limit()?;
    let after: Option<DocumentPosition> = params.cursor()?;
    let docs = app
        .queries()
        .run_documents_page(id, kind, after.as_ref(), limit)
        .await?;
    let next_cursor = next_cursor(&docs, limit, DocumentPosition::of);
    let items = with_document_status(&app, &docs).await?;
    Ok(Json(Page { items, next_cursor }).into_response())
}

/// The documents as JSON, each with who created its run (`createdBy`), approved it
/// and posted it (`approvedBy`, `postedBy`: the caller who approved or posted it alone,
/// else its run's poster), its `documentStatus` (NotRequested, Pending,
/// Generated or Failed) and `documentFailureReason`, its `deliveryStatus`,
/// `deliveryReason` and `lastSentAt`, and its invoice's `amountPaid`, `balance` and
/// `paymentStatus` or its credit memo's `amountApplied` and `unappliedAmount`, beside
/// its invoice `status`.
pub async fn with_document_status(
    app: &App,
    docs: &[billrun_app::model::StoredDocument],
) -> ApiResult<Vec<serde_json::Value>> {
    let generations = app.docgen().document_generations(docs).await?;
    let deliveries = if app.delivery.is_some() {
        app.deliveries()?.document_deliveries(docs).await?
    } else {
        // No mail transport: nothing was ever emailed from here.
        vec![DocumentDeliveryView::not_requested(); docs.len()]
    };
    let settlements = app.payments().settlements(docs).await?;
    // Who created each document's run, who posted it whole, and whether it is a preview.
    let mut runs: std::collections::HashMap<RunId, (Option<String>, Option<String>, bool)> =
        std::collections::HashMap::new();
    for d in docs {
        let run = d.document.run_id;
        if let std::collections::hash_map::Entry::Vacant(slot) = runs.entry(run) {
            let record = app.runs.get_run(run).await.map_err(AppError::from)?;
            let by = |t| {
                record
                    .as_ref()
                    .and_then(|r| r.actor_of(t).map(str::to_string))
            };
            use billrun_app::model::events::RunEventType;
            let preview = record.as_ref().is_some_and(|r| r.is_preview());
            slot.insert((by(RunEventType::Created), by(RunEventType::Posted), preview));
        }
    }
    let mut out = Vec::with_capacity(docs.len());
    for (((d, g), e), paid) in docs
        .iter()
        .zip(generations)
        .zip(deliveries)
        .zip(settlements)
    {
        let mut v = serde_json::to_value(&d.document).map_err(|e| {
            AppError::internal(format!("cannot encode document {}: {e}", d.document.id))
        })?;
        if let Some(o) = v.as_object_mut() {
            o.insert("documentStatus".into(), json!(g.status));
            o.insert("documentFailureReason".into(), json!(g.reason));
            let (created_by, run_posted_by, preview) =
                runs.get(&d.document.run_id).cloned().unwrap_or_default();
            o.insert("preview".into(), json!(preview));
            let posted_by = match d.document.status {
                billrun_domain::document::DocumentStatus::Posted => {
                    d.posted_by.clone().or(run_posted_by)
                }
                _ => None,
            };
            o.insert("createdBy".into(), json!(created_by));
            o.insert("approvedBy".into(), json!(d.approved_by));
            o.insert("postedBy".into(), json!(posted_by));
            o.insert("voidedBy".into(), json!(d.voided_by));
            o.insert("voidedAt".into(), json!(d.voided_at));
            o.insert("canceledBy".into(), json!(d.canceled_by));
            o.insert("canceledAt".into(), json!(d.canceled_at));
            o.insert("deliveryStatus".into(), json!(e.status));
            o.insert("deliveryReason".into(), json!(e.reason));
            o.insert("lastSentAt".into(), json!(e.last_sent_at));
            // An invoice is paid; a credit memo's credit is applied to invoices.
            let (invoice, memo) = match d.document.kind {
                DocumentKind::Invoice => (Some(&paid), None),
                DocumentKind::CreditMemo => (None, Some(&paid)),
            };
            let text = |s: Option<&Settlement>, f: fn(&Settlement) -> Decimal| {
                json!(s.map(|s| f(s).to_string()))
            };
            o.insert("amountPaid".into(), text(invoice, |s| s.amount_paid));
            o.insert("balance".into(), text(invoice, |s| s.balance));
            o.insert(
                "paymentStatus".into(),
                json!(invoice.map(|s| s.payment_status)),
            );
            o.insert("amountApplied".into(), text(memo, |s| s.amount_paid));
            o.insert("unappliedAmount".into(), text(memo, |s| s.balance));
        }
        out.push(v);
    }
    Ok(out)
}

#[utoipa::path(get, path = "/v1/invoices/{id}", tag = "results",
    params(("id" = uuid::Uuid, Path, description = "Document id")),
    responses(
        (status = 200, description = "The document with its lines", body = schema::Document),
        (status = 400, description = "Not a UUID", body = ErrorBody),
        (status = 404, description = "Unknown", body = ErrorBody)))]
pub async fn get_invoice(State(app): AppState, Path(id): Path<String>) -> ApiResult<Response> {
    invoice_json(&app, uuid_id(&id)?).await
}

/// The document as `GET /v1/invoices/{id}` answers it (404 when there is none).
pub async fn invoice_json(app: &App, id: DocumentId) -> ApiResult<Response> {
    let document = app
        .documents
        .get_document(id)
        .await
        .map_err(AppError::from)?
        .ok_or_else(|| AppError::NotFound(format!("document {id}")))?;
    // An expired preview's documents go with it (a deleted run's stay readable).
    let run = app
        .runs
        .get_run(document.document.run_id)
        .await
        .map_err(AppError::from)?;
    if run.is_some_and(|r| r.is_expired(app.clock.now())) {
        return Err(AppError::NotFound(format!("document {id}")).into());
    }
    let mut items = with_document_status(app, &[document]).await?;
    Ok(Json(items.pop()).into_response())
}
