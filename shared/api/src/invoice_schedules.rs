//! `GET /v1/invoice-schedules`: invoice schedules a page at a time in id order (one
//! schedule with its executed items: `GET /v1/invoice-schedules/{id}`, in [`crate::v1`]).

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{next_cursor, Params};
use crate::schema::InvoiceScheduleItem;
use crate::v1::AppState;
use axum::response::{IntoResponse, Response};
use axum::Json;
use billrun_domain::book::InvoiceSchedule;
use billrun_domain::ids::ScheduleId;
use utoipa::ToSchema;

/// An invoice schedule as it was put.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct InvoiceScheduleSummary {
    pub id: String,
    pub account_id: String,
    pub subscription_ids: Vec<String>,
    /// Each item with its status as put (`GET /v1/invoice-schedules/{id}` adds the
    /// items executed since).
    pub items: Vec<InvoiceScheduleItem>,
    pub auto_post: bool,
    pub auto_email: bool,
    pub email_zero_amount_invoices: bool,
}

/// A page of invoice schedules.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct InvoiceScheduleList {
    pub items: Vec<InvoiceScheduleSummary>,
    /// Set when the page is full: the `cursor` of the next page.
    pub next_cursor: Option<String>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    items: Vec<InvoiceSchedule>,
    next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/v1/invoice-schedules", operation_id = "list_invoice_schedules",
    tag = "reference data",
    params(("cursor" = Option<String>, Query, description = "`nextCursor` of the previous page"),
        ("limit" = Option<usize>, Query, description = "1 to 1000, default 100")),
    responses(
        (status = 200, description = "Invoice schedules in id order, as they were put", body = InvoiceScheduleList),
        (status = 400, description = "A bad parameter (named)", body = ErrorBody)))]
pub async fn list(axum::extract::State(app): AppState, params: Params) -> ApiResult<Response> {
    params.only(&["cursor", "limit"])?;
    let limit = params.limit()?;
    let after: Option<ScheduleId> = params.cursor()?;
    let items = app
        .reference()
        .list_schedules(after.as_ref(), limit)
        .await?;
    let next_cursor = next_cursor(&items, limit, |s| s.id.clone());
    Ok(Json(Page { items, next_cursor }).into_response())
}
