//! Exports of a completed run's documents or lines (columns: `billrun_domain::export`):
//! `GET /v1/invoice-runs/{id}/export` streams them page by page (memory bounded by one
//! page), and for runs too large for one response, `POST /v1/invoice-runs/{id}/exports`
//! has a worker write them to a file (S3; locally the out folder), followed with
//! `GET /v1/exports/{id}` and downloaded from `GET /v1/exports/{id}/file` (a redirect
//! to a presigned S3 URL, or the file served in pieces).

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{uuid_id, OptionalJsonBody, Params, Path};
use crate::schema;
use crate::v1::{idempotency_key, run_id, AppState};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use billrun_app::exports::{Download, Export, ExportRequested, ExportStatus};
use billrun_app::model::listing::DocumentPosition;
use billrun_app::{App, AppError};
use billrun_domain::error::parse_json;
use billrun_domain::export::{write_rows, ExportContent, ExportFormat};
use billrun_domain::ids::{ExportId, RunId};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Documents read per page of the stream.
const EXPORT_PAGE: usize = 500;

/// Bytes of an export file read per piece when the API serves it.
const FILE_PIECE: u64 = 1024 * 1024;

/// Where the stream stands: the header next, a page after a position, or done.
enum Step {
    Header,
    Page(Option<DocumentPosition>),
    Done,
}

#[utoipa::path(get, path = "/v1/invoice-runs/{id}/export", operation_id = "export_run", tag = "results",
    params(
        ("id" = uuid::Uuid, Path, description = "Run id"),
        ("content" = Option<String>, Query, description = "`documents` (default: a row a document) or `lines` (a row a line)"),
        ("format" = Option<String>, Query, description = "`csv` (default; RFC 4180 with a header row) or `jsonl` (JSON Lines: an object a row)")),
    responses(
        (status = 200, description = "The run's documents in numbering order, streamed; columns in docs/api.md \"Exports\"", content(
            (String = "text/csv"), (String = "application/x-ndjson"))),
        (status = 400, description = "Not a UUID, or a bad `content` or `format`", body = ErrorBody),
        (status = 404, description = "Unknown run", body = ErrorBody),
        (status = 409, description = "`run_not_completed`: the run's documents are not final yet", body = ErrorBody)))]
pub async fn export_run(
    State(app): AppState,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    params.only(&["content", "format"])?;
    let id = run_id(&id)?;
    let content = params
        .parse("content", ExportContent::parse)?
        .unwrap_or(ExportContent::Documents);
    let format = params
        .parse("format", ExportFormat::parse)?
        .unwrap_or(ExportFormat::Csv);
    app.queries().run_with_final_documents(id).await?;
    let stream = futures_util::stream::unfold(Step::Header, move |step| {
        let app = app.clone();
        async move { next_chunk(&app, id, content, format, step).await }
    });
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, format.media_type())],
        Body::from_stream(stream),
    )
        .into_response())
}

/// The next piece of the body: the CSV header, then one page of rows at a time. A
/// store failure ends the body early (the client sees a broken transfer, not a short
/// file that looks whole).
async fn next_chunk(
    app: &Arc<App>,
    run: RunId,
    content: ExportContent,
    format: ExportFormat,
    step: Step,
) -> Option<(Result<String, AppError>, Step)> {
    match step {
        Step::Done => None,
        Step::Header => Some((Ok(format.header(content)), Step::Page(None))),
        Step::Page(after) => {
            let page = match app
                .queries()
                .run_documents_page(run, None, after.as_ref(), EXPORT_PAGE)
                .await
            {
                Ok(p) => p,
                Err(e) => return Some((Err(e), Step::Done)),
            };
            let mut out = String::new();
            write_rows(content, format, page.iter().map(|d| &d.document), &mut out);
            let next = match page.last() {
                Some(last) if page.len() == EXPORT_PAGE => {
                    Step::Page(Some(DocumentPosition::of(last)))
                }
                _ => Step::Done,
            };
            Some((Ok(out), next))
        }
    }
}

/// The body of an export request: both fields optional.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ExportInput {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    format: Option<String>,
}

/// An export as the API shows it: the record, and where a Completed one is downloaded.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExportView {
    #[serde(flatten)]
    export: Export,
    download_url: Option<String>,
}

impl From<Export> for ExportView {
    fn from(export: Export) -> Self {
        let download_url =
            (export.status == ExportStatus::Completed).then(|| file_route(export.id));
        ExportView {
            export,
            download_url,
        }
    }
}

/// The one place the download route of an export is written.
fn file_route(id: ExportId) -> String {
    format!("/v1/exports/{id}/file")
}

#[utoipa::path(post, path = "/v1/invoice-runs/{id}/exports", operation_id = "request_export", tag = "results",
    params(
        ("id" = uuid::Uuid, Path, description = "Run id"),
        ("Idempotency-Key" = Option<String>, Header, description = "A replay answers 200 with the export it made (and queues its message again while it is Pending); another content or format under the key is a 409 `idempotency_key_reused`")),
    request_body(content = Option<schema::ExportInput>, description = "Optional; both fields default (`documents`, `csv`)"),
    responses(
        (status = 202, description = "Accepted: a worker writes the file (S3 multipart upload; locally the out folder); follow `GET /v1/exports/{id}`", body = schema::Export),
        (status = 200, description = "Replayed (same Idempotency-Key)", body = schema::Export),
        (status = 400, description = "Not a UUID, a bad Idempotency-Key or a bad body (`content`: documents or lines; `format`: csv or jsonl)", body = ErrorBody),
        (status = 404, description = "Unknown run", body = ErrorBody),
        (status = 409, description = "`run_not_completed` or `idempotency_key_reused`; nothing stored", body = ErrorBody),
        (status = 503, description = "`export_not_queued`: stored, but its message was not queued: replay with the same Idempotency-Key", body = ErrorBody)))]
pub async fn request_export(
    State(app): AppState,
    Path(id): Path<String>,
    headers: HeaderMap,
    OptionalJsonBody(body): OptionalJsonBody,
) -> ApiResult<Response> {
    let key = idempotency_key(&headers)?;
    let run = run_id(&id)?;
    let input = match body {
        Some(b) => parse_json::<ExportInput>(&b)?,
        None => ExportInput {
            content: None,
            format: None,
        },
    };
    let field = |name: &str, e: String| ApiError::invalid(name, e);
    let content = match input.content.as_deref() {
        None => ExportContent::Documents,
        Some(v) => ExportContent::parse(v).map_err(|e| field("content", e))?,
    };
    let format = match input.format.as_deref() {
        None => ExportFormat::Csv,
        Some(v) => ExportFormat::parse(v).map_err(|e| field("format", e))?,
    };
    let (export, outcome) = app
        .exports()
        .request(run, content, format, key.as_deref())
        .await?;
    let status = match outcome {
        ExportRequested::New => StatusCode::ACCEPTED,
        ExportRequested::Replayed => StatusCode::OK,
        ExportRequested::QueueFailed(e) => {
            tracing::warn!(export_id = %export.id, error = %billrun_app::error::chain(&e), "export message not queued");
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "export_not_queued",
                format!(
                    "export {} is stored but queueing its message failed; replay the \
                     request with the same Idempotency-Key",
                    export.id
                ),
            ));
        }
    };
    Ok((status, Json(ExportView::from(export))).into_response())
}

#[utoipa::path(get, path = "/v1/exports/{id}", operation_id = "get_export", tag = "results",
    params(("id" = uuid::Uuid, Path, description = "Export id")),
    responses(
        (status = 200, description = "Pending, Completed (rows, bytes and `downloadUrl`) or Failed (with `error`)", body = schema::Export),
        (status = 400, description = "Not a UUID", body = ErrorBody),
        (status = 404, description = "Unknown export", body = ErrorBody)))]
pub async fn get_export(State(app): AppState, Path(id): Path<String>) -> ApiResult<Response> {
    let id: ExportId = uuid_id(&id)?;
    Ok(Json(ExportView::from(app.exports().export(id).await?)).into_response())
}

#[utoipa::path(get, path = "/v1/exports/{id}/file", operation_id = "download_export", tag = "results",
    params(("id" = uuid::Uuid, Path, description = "Export id")),
    responses(
        (status = 200, description = "The file (where the file store has no download URL: the local mode)", content(
            (String = "text/csv"), (String = "application/x-ndjson"))),
        (status = 303, description = "`Location`: a presigned S3 URL valid for 15 minutes (on AWS)"),
        (status = 400, description = "Not a UUID", body = ErrorBody),
        (status = 404, description = "Unknown export", body = ErrorBody),
        (status = 409, description = "`export_not_completed`", body = ErrorBody)))]
pub async fn download_export(State(app): AppState, Path(id): Path<String>) -> ApiResult<Response> {
    let id: ExportId = uuid_id(&id)?;
    let (export, download) = app.exports().download(id).await?;
    match download {
        Download::Url(url) => {
            Ok((StatusCode::SEE_OTHER, [(header::LOCATION, url)]).into_response())
        }
        Download::Served => {
            let disposition = format!("attachment; filename=\"{}\"", export.file_name());
            let media = export.format.media_type();
            let length = export.bytes;
            let stream = futures_util::stream::unfold(0u64, move |offset| {
                let (app, export) = (app.clone(), export.clone());
                async move {
                    if offset >= export.bytes {
                        return None;
                    }
                    match app.exports().read(&export, offset, FILE_PIECE).await {
                        Ok(piece) if !piece.is_empty() => {
                            let next = offset + piece.len() as u64;
                            Some((Ok(piece), next))
                        }
                        Ok(_) => Some((
                            Err(AppError::internal(format!(
                                "export {} ends at {offset} bytes, not {}",
                                export.id, export.bytes
                            ))),
                            u64::MAX,
                        )),
                        Err(e) => Some((Err(e), u64::MAX)),
                    }
                }
            });
            Ok((
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, media.to_string()),
                    (header::CONTENT_DISPOSITION, disposition),
                    (header::CONTENT_LENGTH, length.to_string()),
                ],
                Body::from_stream(stream),
            )
                .into_response())
        }
    }
}
