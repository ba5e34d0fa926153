//! Reading document templates: `GET /v1/document-templates` (a page in id order), one
//! template, and its sample PDF (the fixed sample invoice rendered with it, shown
//! before it is activated, as the documents worker stored it), and asking for that
//! sample to be rendered again. Putting and activating them are in [`crate::v1`].

use crate::error::{ApiResult, ErrorBody};
use crate::extract::Path;
use crate::extract::{next_cursor, path_id, Params};
use crate::schema::Template;
use crate::v1::AppState;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use billrun_app::model::documents::DocumentTemplate;
use billrun_domain::ids::AccountId;
use utoipa::ToSchema;

/// A page of document templates.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct TemplateList {
    pub items: Vec<Template>,
    /// Set when the page is full: the `cursor` of the next page.
    pub next_cursor: Option<String>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    items: Vec<DocumentTemplate>,
    next_cursor: Option<String>,
}

/// A template id is spelled as an account id is (checked when it is put).
fn template_id(raw: &str) -> ApiResult<String> {
    path_id("id", raw, |s| AccountId::parse(s).map(|_| s.to_string()))
}

#[utoipa::path(get, path = "/v1/document-templates", operation_id = "list_document_templates",
    tag = "reference data",
    params(("cursor" = Option<String>, Query, description = "`nextCursor` of the previous page"),
        ("limit" = Option<usize>, Query, description = "1 to 1000, default 100")),
    responses(
        (status = 200, description = "Templates in id order, each saying whether it is the active one", body = TemplateList),
        (status = 400, description = "A bad parameter (named)", body = ErrorBody)))]
pub async fn list(axum::extract::State(app): AppState, params: Params) -> ApiResult<Response> {
    params.only(&["cursor", "limit"])?;
    let limit = params.limit()?;
    let after: Option<String> = params.cursor()?;
    let items = app
        .templates()
        .list_templates(after.as_deref(), limit)
        .await?;
    let next_cursor = next_cursor(&items, limit, |t| t.id.clone());
    Ok(Json(Page { items, next_cursor }).into_response())
}

#[utoipa::path(get, path = "/v1/document-templates/{id}", operation_id = "get_document_template",
    tag = "reference data",
    params(("id" = String, Path, description = "Template id")),
    responses(
        (status = 200, description = "The template", body = Template),
        (status = 400, description = "Not a template id", body = ErrorBody),
        (status = 404, description = "Unknown", body = ErrorBody)))]
pub async fn get(
    axum::extract::State(app): AppState,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = template_id(&id)?;
    Ok(Json(app.templates().get_template(&id).await?).into_response())
}

#[utoipa::path(get, path = "/v1/document-templates/{id}/sample",
    operation_id = "get_document_template_sample", tag = "reference data",
    params(("id" = String, Path, description = "Template id")),
    responses(
        (status = 200, description = "A fixed sample invoice rendered with this template's current content, as its documents would be: a fictitious account, numbered SAMPLE-0001 and labelled as a sample (no stored data is read but the template). Rendered by the documents worker when the template is put", content_type = "application/pdf"),
        (status = 400, description = "Not a template id", body = ErrorBody),
        (status = 404, description = "Unknown", body = ErrorBody),
        (status = 409, description = "sample_pending: the sample of the template's current content is not rendered yet (it is queued when the template is put; POST queues it again)", body = ErrorBody)))]
pub async fn sample(
    axum::extract::State(app): AppState,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = template_id(&id)?;
    let bytes = app.templates().sample(&id).await?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/pdf")],
        bytes,
    )
        .into_response())
}

/// What `POST /v1/document-templates/{id}/sample` queued.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct SampleQueued {
    pub template_id: String,
    /// The SHA-256 (hex) of the content the sample is rendered from.
    pub digest: String,
}

#[utoipa::path(post, path = "/v1/document-templates/{id}/sample",
    operation_id = "render_document_template_sample", tag = "reference data",
    params(("id" = String, Path, description = "Template id")),
    responses(
        (status = 202, description = "The rendering of the sample of the template's current content is queued (for a template put before samples were rendered when put, or whose queueing failed). Idempotent: a sample already stored for this content stays as it is", body = SampleQueued),
        (status = 400, description = "Not a template id", body = ErrorBody),
        (status = 404, description = "Unknown", body = ErrorBody)))]
pub async fn render_sample(
    axum::extract::State(app): AppState,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = template_id(&id)?;
    let queued = app.templates().request_sample(&id).await?;
    Ok((StatusCode::ACCEPTED, Json(queued)).into_response())
}
