//! Seed 004: `POST /v1/invoice-schedules/{scheduleKey}/execute` runs one item of an
//! invoice schedule (the named one, or the next pending one) and answers with the
//! seed's camelCase bill-run record.

use super::{last_actor, user_id, ZuoraError, ZuoraErrorBody};
use crate::error::ApiError;
use crate::extract::Path;
use crate::extract::{path_id, OptionalJsonBody};
use crate::v1::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use billrun_app::schedules::ScheduleExecution;
use billrun_domain::error::parse_json;
use billrun_domain::ids::{ScheduleId, ScheduleItemId};
use billrun_domain::request::ExcludableType;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExecuteRequest {
    /// The item to execute; without it, the next pending item.
    pub schedule_item_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BillRunFilter {
    /// `InvoiceSchedule`.
    pub filter_type: String,
    pub account_id: String,
    pub subscription_id: Option<String>,
    pub invoice_schedule_id: String,
    /// The item id given in the request, else null.
    pub invoice_schedule_item_id: Option<String>,
}

/// The bill-run record of seed 004.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleBillRun {
    /// The canonical run id.
    pub id: String,
    pub auto_email: bool,
    pub auto_post: bool,
    pub auto_renewal: bool,
    pub bill_cycle_day: Option<u8>,
    pub bill_run_number: String,
    pub invoice_date: String,
    pub no_email_for_zero_amount_invoice: bool,
    /// The canonical run status.
    pub status: String,
    pub target_date: String,
    pub target_date_offset: Option<i32>,
    pub invoice_date_offset: Option<i32>,
    pub scheduled_execution_time: Option<String>,
    pub created_by_id: String,
    pub created_date: String,
    pub updated_by_id: String,
    pub updated_date: String,
    pub batches: Option<Vec<String>>,
    pub charge_type_to_exclude: Vec<String>,
    pub bill_run_filters: Vec<BillRunFilter>,
    pub schedule: Option<String>,
    pub success: bool,
}

fn record(x: &ScheduleExecution) -> ScheduleBillRun {
    let v = &x.run;
    let r = &v.request;
    let time = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M:%S").to_string();
    ScheduleBillRun {
        id: v.id.to_string(),
        auto_email: r.auto_email,
        auto_post: r.auto_post,
        auto_renewal: r.renew_subscriptions,
        bill_cycle_day: None,
        bill_run_number: v.number.clone(),
        invoice_date: r.invoice_date.unwrap_or(v.target_date).to_string(),
        no_email_for_zero_amount_invoice: !r.email_zero_amount_invoices,
        status: serde_json::to_value(v.status)
            .ok()
            .and_then(|s| s.as_str().map(str::to_string))
            .unwrap_or_default(),
        target_date: v.target_date.to_string(),
        target_date_offset: None,
        invoice_date_offset: None,
        scheduled_execution_time: None,
        created_by_id: user_id(v.created_by.as_deref()),
        created_date: time(v.created_at),
        updated_by_id: user_id(last_actor(v)),
        updated_date: time(v.updated_at),
        batches: None,
        charge_type_to_exclude: r
            .charge_types_excluded
            .iter()
            .filter(|t| **t == ExcludableType::Usage)
            .map(|_| "Usage".to_string())
            .collect(),
        bill_run_filters: vec![BillRunFilter {
            filter_type: "InvoiceSchedule".into(),
            account_id: x.schedule.account_id.to_string(),
            // The schedule's subscription when it names exactly one.
            subscription_id: match x.schedule.subscription_ids.as_slice() {
                [one] => Some(one.to_string()),
                _ => None,
            },
            invoice_schedule_id: x.schedule.id.to_string(),
            invoice_schedule_item_id: x.requested_item.as_ref().map(|i| i.to_string()),
        }],
        schedule: None,
        success: true,
    }
}

/// Executes an invoice-schedule item (seed 004).
#[utoipa::path(post, path = "/v1/invoice-schedules/{id}/execute", operation_id = "invoiceScheduleExecute", tag = "compatibility",
    params(("id" = String, Path, description = "The schedule id (`scheduleKey`)")),
    request_body(content = ExecuteRequest, description = "Optional; `{}` or no body takes the next pending item"),
    responses(
        (status = 200, description = "The run that billed the item", body = ScheduleBillRun),
        (status = 400, description = "Invalid", body = ZuoraErrorBody),
        (status = 404, description = "Unknown schedule or item, or no pending item left", body = ZuoraErrorBody),
        (status = 409, description = "The item is already processed", body = ZuoraErrorBody),
        (status = 415, description = "Not JSON", body = ZuoraErrorBody)))]
pub async fn execute(
    State(app): AppState,
    Path(id): Path<String>,
    body: Result<OptionalJsonBody, ApiError>,
) -> Result<Response, ZuoraError> {
    let OptionalJsonBody(body) = body?;
    let id = path_id("scheduleKey", &id, |s| ScheduleId::parse(s))?;
    let req: ExecuteRequest = match body {
        Some(b) => parse_json(&b)?,
        None => ExecuteRequest {
            schedule_item_id: None,
        },
    };
    let item = req
        .schedule_item_id
        .map(|i| path_id("scheduleItemId", &i, |s| ScheduleItemId::parse(s)))
        .transpose()?;
    let x = app.schedules().execute_schedule(&id, item).await?;
    Ok(Json(record(&x)).into_response())
}
