//! `/v1/run-schedules`: recurring run schedules (README "Schedules"), with their OpenAPI
//! schemas.
#![allow(dead_code)]

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::Path;
use crate::extract::{next_cursor, path_id, JsonBody, Params};
use crate::schema::{ChargeType, Filters, Grouping};
use crate::v1::AppState;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use billrun_domain::ids::RunScheduleId;
use utoipa::ToSchema;

/// A canonical run request without its dates and run type (the schedule sets them).
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunTemplate {
    pub name: Option<String>,
    /// Only TargetDate.
    pub invoice_date_type: Option<String>,
    pub filters: Option<Filters>,
    pub charge_types_excluded: Option<Vec<ChargeType>>,
    pub grouping: Option<Grouping>,
    pub suppress_zero_invoices: Option<bool>,
    pub auto_approve: Option<bool>,
    pub auto_post: Option<bool>,
    pub invoice_message: Option<String>,
    pub subrun: Option<String>,
    /// Renew auto-renewing subscriptions whose term ended by the target date.
    pub renew_subscriptions: Option<bool>,
}

#[derive(ToSchema)]
pub enum RecurrenceKind {
    Monthly,
    Weekly,
    EveryNDays,
}

#[derive(ToSchema)]
pub enum Weekday {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

/// When a schedule occurs. Monthly takes `dayOfMonth` (1–31; past a month's end, its
/// last day), Weekly `weekday`, EveryNDays `intervalDays` and `anchorDate` (the first
/// occurrence). A local time in a DST gap runs at the next valid instant; one in a DST
/// fold runs once, at the earlier instant.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Recurrence {
    pub kind: RecurrenceKind,
    pub day_of_month: Option<u32>,
    pub weekday: Option<Weekday>,
    pub interval_days: Option<u32>,
    pub anchor_date: Option<chrono::NaiveDate>,
    /// `HH:MM`, 24-hour.
    #[schema(example = "02:30")]
    pub local_time: String,
    /// An IANA time zone.
    #[schema(example = "Europe/Berlin")]
    pub time_zone: String,
}

#[derive(ToSchema)]
pub enum TargetDateRuleKind {
    OccurrenceDate,
    LastDayOfPreviousMonth,
}

/// The target date of each run: the occurrence's local date plus `offsetDays`, or the
/// last day of the month before it.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetDateRule {
    pub rule: TargetDateRuleKind,
    /// Only with OccurrenceDate; -366 to 366, default 0.
    pub offset_days: Option<i32>,
}

#[derive(ToSchema)]
pub enum MissedPolicy {
    CatchUpAll,
    LatestOnly,
}

/// A recurring run schedule (defaults: OccurrenceDate + 0, CatchUpAll, enabled).
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunSchedule {
    pub run_template: RunTemplate,
    pub recurrence: Recurrence,
    pub target_date: Option<TargetDateRule>,
    pub missed: Option<MissedPolicy>,
    pub enabled: Option<bool>,
}

/// One occurrence of a schedule.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Occurrence {
    pub at: chrono::DateTime<chrono::Utc>,
    pub local_date: chrono::NaiveDate,
    pub target_date: chrono::NaiveDate,
}

/// The latest occurrence claimed, with the run it created.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClaimedOccurrence {
    pub at: chrono::DateTime<chrono::Utc>,
    pub local_date: chrono::NaiveDate,
    pub target_date: chrono::NaiveDate,
    pub run_id: uuid::Uuid,
}

/// A stored run schedule.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunScheduleView {
    pub id: String,
    pub run_template: RunTemplate,
    pub recurrence: Recurrence,
    pub target_date: TargetDateRule,
    pub missed: MissedPolicy,
    pub enabled: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    /// `null` while paused.
    pub next_occurrence: Option<Occurrence>,
    pub last_occurrence: Option<ClaimedOccurrence>,
}

/// A page of run schedules.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunScheduleList {
    pub items: Vec<RunScheduleView>,
    /// Set when the page is full: the `cursor` of the next page.
    pub next_cursor: Option<String>,
}

/// What [`list`] answers (the schemas above only describe the application's own views).
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    items: Vec<billrun_app::model::schedules::RunScheduleView>,
    next_cursor: Option<String>,
}

/// `If-None-Match: *` (create only); any other value is refused rather than ignored, so
/// that a caller relying on a condition never gets a silent replace.
pub(crate) fn create_only(headers: &HeaderMap) -> ApiResult<bool> {
    match headers.get(header::IF_NONE_MATCH) {
        None => Ok(false),
        Some(v) if v.as_bytes() == b"*" => Ok(true),
        Some(_) => Err(ApiError::invalid(
            "If-None-Match",
            "only * (create only) is supported",
        )),
    }
}

fn schedule_id(raw: &str) -> ApiResult<RunScheduleId> {
    path_id("id", raw, |s| RunScheduleId::parse(s))
}

#[utoipa::path(put, path = "/v1/run-schedules/{id}", tag = "runs",
    params(("id" = String, Path, description = "Run schedule id"),
        ("If-None-Match" = Option<String>, Header, description = "`*`: create only; a schedule with this id is not replaced (409 `run_schedule_exists`)")),
    request_body = RunSchedule,
    responses(
        (status = 201, description = "Created", body = RunScheduleView),
        (status = 200, description = "Replaced (enabling a disabled schedule resumes it from now)", body = RunScheduleView),
        (status = 400, description = "Invalid; `field` names the first problem", body = ErrorBody),
        (status = 409, description = "run_schedule_exists (with `If-None-Match: *`), delivery_not_configured", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody)))]
pub async fn put(
    axum::extract::State(app): AppState,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> ApiResult<Response> {
    let create_only = create_only(&headers)?;
    // A template that emails needs a mail transport, checked before anything is stored.
    let emails = serde_json::from_slice::<serde_json::Value>(&body)
        .is_ok_and(|v| v["runTemplate"]["autoEmail"] == serde_json::Value::Bool(true));
    if emails && app.delivery.is_none() {
        return Err(billrun_app::AppError::Conflict {
            code: billrun_app::ConflictCode::DeliveryNotConfigured,
            message: "autoEmail needs a mail transport, and this deployment has none".into(),
            field: Some("runTemplate.autoEmail".into()),
        }
        .into());
    }
    let (view, created) = if create_only {
        (app.schedules().create_run_schedule(&id, &body).await?, true)
    } else {
        app.schedules().put_run_schedule(&id, &body).await?
    };
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(view)).into_response())
}

#[utoipa::path(get, path = "/v1/run-schedules/{id}", tag = "runs",
    params(("id" = String, Path, description = "Run schedule id")),
    responses(
        (status = 200, description = "The schedule", body = RunScheduleView),
        (status = 404, description = "Unknown", body = ErrorBody)))]
pub async fn get(
    axum::extract::State(app): AppState,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = schedule_id(&id)?;
    Ok(Json(app.schedules().get_run_schedule(&id).await?).into_response())
}

#[utoipa::path(get, path = "/v1/run-schedules", operation_id = "list_run_schedules", tag = "runs",
    params(("cursor" = Option<String>, Query, description = "`nextCursor` of the previous page"),
        ("limit" = Option<usize>, Query, description = "1 to 1000, default 100")),
    responses(
        (status = 200, description = "Run schedules in id order, each with its next occurrence (`null` while paused)", body = RunScheduleList),
        (status = 400, description = "A bad parameter (named)", body = ErrorBody)))]
pub async fn list(axum::extract::State(app): AppState, params: Params) -> ApiResult<Response> {
    params.only(&["cursor", "limit"])?;
    let limit = params.limit()?;
    let after: Option<RunScheduleId> = params.cursor()?;
    let items = app
        .schedules()
        .list_run_schedules(after.as_ref(), limit)
        .await?;
    let next_cursor = next_cursor(&items, limit, |s| s.id.clone());
    Ok(Json(Page { items, next_cursor }).into_response())
}

#[utoipa::path(delete, path = "/v1/run-schedules/{id}", tag = "runs",
    params(("id" = String, Path, description = "Run schedule id")),
    responses(
        (status = 204, description = "Deleted; the runs it created stay"),
        (status = 404, description = "Unknown", body = ErrorBody)))]
pub async fn delete(
    axum::extract::State(app): AppState,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = schedule_id(&id)?;
    app.schedules().delete_run_schedule(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(post, path = "/v1/run-schedules/{id}/pause", tag = "runs",
    params(("id" = String, Path, description = "Run schedule id")),
    responses(
        (status = 200, description = "Paused (again: a no-op); a run already started goes on", body = RunScheduleView),
        (status = 404, description = "Unknown", body = ErrorBody)))]
pub async fn pause(
    axum::extract::State(app): AppState,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = schedule_id(&id)?;
    Ok(Json(app.schedules().pause_run_schedule(&id).await?).into_response())
}

#[utoipa::path(post, path = "/v1/run-schedules/{id}/resume", tag = "runs",
    params(("id" = String, Path, description = "Run schedule id")),
    responses(
        (status = 200, description = "Resumed from the next occurrence after now (occurrences while paused are skipped)", body = RunScheduleView),
        (status = 404, description = "Unknown", body = ErrorBody)))]
pub async fn resume(
    axum::extract::State(app): AppState,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = schedule_id(&id)?;
    Ok(Json(app.schedules().resume_run_schedule(&id).await?).into_response())
}
