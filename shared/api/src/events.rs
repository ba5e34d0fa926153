//! `GET /v1/invoice-runs/{id}/events`: a run's lifecycle events, recorded with each
//! change in the same write (shapes and versions: docs/events/).

use crate::error::{ApiResult, ErrorBody};
use crate::extract::Path;
use crate::schema;
use crate::v1::{run_id, AppState};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use billrun_app::model::events::RunEvent;
use serde::Serialize;

/// The event list of a run.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RunEvents<'a> {
    run_id: String,
    number: &'a str,
    items: &'a [RunEvent],
}

#[utoipa::path(get, path = "/v1/invoice-runs/{id}/events", operation_id = "run_events", tag = "runs",
    params(("id" = uuid::Uuid, Path, description = "Run id")),
    responses(
        (status = 200, description = "The run's lifecycle events, oldest first: each recorded in the write that made its change, with a stable id", body = schema::RunEventList),
        (status = 400, description = "Not a UUID", body = ErrorBody),
        (status = 404, description = "Unknown (or deleted) run", body = ErrorBody)))]
pub async fn run_events(State(app): AppState, Path(id): Path<String>) -> ApiResult<Response> {
    let run = app.queries().get_run(run_id(&id)?).await?;
    Ok(Json(RunEvents {
        run_id: run.id.to_string(),
        number: &run.number,
        items: &run.events,
    })
    .into_response())
}
