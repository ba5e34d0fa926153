//! Approving and posting a selection of a run's documents: `POST
//! /v1/invoice-runs/{id}/approve` and `/post` with a selection, and the same for one
//! invoice (`POST /v1/invoices/{id}/approve`, `/post`).

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{uuid_id, OptionalJsonBody, Path};
use crate::schema;
use crate::v1::{invoice_json, run_id, AppState};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use billrun_app::pipeline::Selection;
use billrun_app::AppError;
use billrun_domain::error::parse_json;
use billrun_domain::ids::DocumentId;
use serde::Deserialize;

/// A selection's body (every field optional).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SelectionInput {
    #[serde(default)]
    invoice_ids: Option<Vec<String>>,
    #[serde(default)]
    only_approved: Option<bool>,
}

fn parse_selection(body: Option<axum::body::Bytes>) -> ApiResult<SelectionInput> {
    Ok(match body {
        Some(b) => parse_json::<SelectionInput>(&b)?,
        None => SelectionInput {
            invoice_ids: None,
            only_approved: None,
        },
    })
}

fn ids(raw: &[String]) -> ApiResult<Vec<DocumentId>> {
    raw.iter()
        .enumerate()
        .map(|(i, id)| {
            uuid::Uuid::parse_str(id)
                .map(DocumentId)
                .map_err(|_| ApiError::invalid(format!("invoiceIds[{i}]"), "must be a UUID"))
        })
        .collect()
}

#[utoipa::path(post, path = "/v1/invoice-runs/{id}/approve", tag = "runs",
    params(("id" = uuid::Uuid, Path, description = "Run id")),
    request_body(content = Option<schema::SelectionInput>, description = "Optional: `invoiceIds` (1 to 1000); without it every Draft document of the run"),
    responses(
        (status = 200, description = "The run; the documents' statuses show the approval", body = schema::Run),
        (status = 400, description = "A bad selection", body = ErrorBody),
        (status = 404, description = "Unknown", body = ErrorBody),
        (status = 409, description = "Not a completed run, or a named document posted or canceled", body = ErrorBody)))]
pub async fn approve_run(
    State(app): AppState,
    Path(id): Path<String>,
    OptionalJsonBody(body): OptionalJsonBody,
) -> ApiResult<Response> {
    let id = run_id(&id)?;
    let input = parse_selection(body)?;
    if input.only_approved.is_some() {
        return Err(ApiError::invalid(
            "onlyApproved",
            "not a field of an approval",
        ));
    }
    let selection = match &input.invoice_ids {
        Some(raw) => Selection::Ids(ids(raw)?),
        None => Selection::Every,
    };
    app.pipeline().approve_documents(id, &selection).await?;
    Ok(Json(app.queries().run_view(id).await?).into_response())
}

/// Posts a completed run: all of it, or a selection (`invoiceIds`, or `onlyApproved`).
#[utoipa::path(post, path = "/v1/invoice-runs/{id}/post", tag = "runs",
    params(("id" = uuid::Uuid, Path, description = "Run id")),
    request_body(content = Option<schema::SelectionInput>, description = "Optional: `invoiceIds` (1 to 1000) or `onlyApproved: true` posts those documents only (the run is then partially posted, Posted once none is left); without either the whole run"),
    responses(
        (status = 200, description = "The run", body = schema::Run),
        (status = 400, description = "A bad selection", body = ErrorBody),
        (status = 404, description = "Unknown", body = ErrorBody),
        (status = 409, description = "Not allowed in the run's status", body = ErrorBody)))]
pub async fn post_run(
    State(app): AppState,
    Path(id): Path<String>,
    OptionalJsonBody(body): OptionalJsonBody,
) -> ApiResult<Response> {
    let id = run_id(&id)?;
    let input = parse_selection(body)?;
    let selection = match (&input.invoice_ids, input.only_approved) {
        (Some(_), Some(true)) => {
            return Err(ApiError::invalid(
                "onlyApproved",
                "give invoiceIds or onlyApproved, not both",
            ))
        }
        (Some(raw), _) => Some(Selection::Ids(ids(raw)?)),
        (None, Some(true)) => Some(Selection::Every),
        (None, _) => None,
    };
    match selection {
        Some(s) => app.post_documents(id, &s).await?,
        None => app.post_run(id).await?,
    };
    Ok(Json(app.queries().run_view(id).await?).into_response())
}

/// The run of document `id` (404 when there is none).
async fn run_of(app: &billrun_app::App, id: DocumentId) -> ApiResult<billrun_domain::ids::RunId> {
    Ok(app
        .documents
        .get_document(id)
        .await
        .map_err(AppError::from)?
        .ok_or_else(|| AppError::NotFound(format!("document {id}")))?
        .document
        .run_id)
}

#[utoipa::path(post, path = "/v1/invoices/{id}/approve", tag = "results",
    params(("id" = uuid::Uuid, Path, description = "Document id")),
    responses(
        (status = 200, description = "The document, Approved", body = schema::Document),
        (status = 400, description = "Not a UUID", body = ErrorBody),
        (status = 404, description = "Unknown", body = ErrorBody),
        (status = 409, description = "Its run is not completed, or it is posted or canceled", body = ErrorBody)))]
pub async fn approve_invoice(State(app): AppState, Path(id): Path<String>) -> ApiResult<Response> {
    let id: DocumentId = uuid_id(&id)?;
    let run = run_of(&app, id).await?;
    app.pipeline()
        .approve_documents(run, &Selection::Ids(vec![id]))
        .await?;
    invoice_json(&app, id).await
}

#[utoipa::path(post, path = "/v1/invoices/{id}/post", tag = "results",
    params(("id" = uuid::Uuid, Path, description = "Document id")),
    responses(
        (status = 200, description = "The document, Posted", body = schema::Document),
        (status = 400, description = "Not a UUID", body = ErrorBody),
        (status = 404, description = "Unknown", body = ErrorBody),
        (status = 409, description = "Its run is not completed, or it is canceled", body = ErrorBody)))]
pub async fn post_invoice(State(app): AppState, Path(id): Path<String>) -> ApiResult<Response> {
    let id: DocumentId = uuid_id(&id)?;
    let run = run_of(&app, id).await?;
    app.post_documents(run, &Selection::Ids(vec![id])).await?;
    invoice_json(&app, id).await
}
