//! Preview runs: a preview of a Pending run, and a run's diff against the run before
//! it (docs/api.md "Preview runs"). A preview is also created with `runType: Preview`
//! on `POST /v1/invoice-runs`.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Params, Path};
use crate::schema;
use crate::v1::{run_id, AppState};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use billrun_app::run_diff::RunDiff;
use billrun_domain::ids::AccountId;
use serde::Serialize;

/// Creates and starts a preview of a Pending run: the same selection and rating, its
/// documents kept unnumbered for review, no billing state moved; it expires.
#[utoipa::path(post, path = "/v1/invoice-runs/{id}/preview", tag = "runs",
    params(("id" = uuid::Uuid, Path, description = "Id of a Pending run")),
    responses(
        (status = 201, description = "The preview run (runType Preview), started", body = schema::Run),
        (status = 400, description = "Not a UUID", body = ErrorBody),
        (status = 404, description = "Unknown run", body = ErrorBody),
        (status = 409, description = "`run_not_pending`: the run is not Pending; `run_is_preview`: it is a preview itself", body = ErrorBody)))]
pub async fn preview_run(State(app): AppState, Path(id): Path<String>) -> ApiResult<Response> {
    let created = app.pipeline().preview_of(run_id(&id)?).await?;
    crate::v1::created_run(&app, created).await
}

/// A page of the diff, with its cursor.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DiffPage {
    #[serde(flatten)]
    diff: RunDiff,
    next_cursor: Option<String>,
}

/// The run's documents against its base run, per account and per currency.
#[utoipa::path(get, path = "/v1/invoice-runs/{id}/diff", tag = "runs",
    params(
        ("id" = uuid::Uuid, Path, description = "Run id (a preview, or any completed run)"),
        ("cursor" = Option<String>, Query, description = "`nextCursor` of the previous page"),
        ("limit" = Option<usize>, Query, description = "1 to 1000, default 100")),
    responses(
        (status = 200, description = "The accounts that differ, by account id, and the totals per currency", body = schema::RunDiff),
        (status = 400, description = "Bad parameter", body = ErrorBody),
        (status = 404, description = "Unknown run", body = ErrorBody),
        (status = 409, description = "`run_not_completed`: its documents are not final yet", body = ErrorBody)))]
pub async fn run_diff(
    State(app): AppState,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    params.only(&["cursor", "limit"])?;
    let id = run_id(&id)?;
    let limit = params.limit()?;
    let after: Option<AccountId> = params.cursor()?;
    let diff = app.queries().run_diff(id, after.as_ref(), limit).await?;
    let next_cursor = crate::extract::next_cursor(&diff.items, limit, |d| d.account_id.clone());
    Ok(Json(DiffPage { diff, next_cursor }).into_response())
}
