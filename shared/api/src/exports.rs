//! `GET /v1/invoice-runs/{id}/export`: a completed run's documents or lines as CSV or
//! JSON Lines (columns: `billrun_domain::export`), streamed page by page, so memory
//! stays bounded by one page whatever the run's size.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Params, Path};
use crate::v1::{run_id, AppState};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use billrun_app::model::listing::DocumentPosition;
use billrun_app::{App, AppError, ConflictCode};
use billrun_domain::export::{
    csv_record, document_row, json_record, line_rows, DOCUMENT_COLUMNS, LINE_COLUMNS,
};
use billrun_domain::ids::RunId;
use billrun_domain::run::RunStatus;
use std::sync::Arc;

/// Documents read per page of the stream.
const EXPORT_PAGE: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Content {
    Documents,
    Lines,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    JsonLines,
}

/// Where the stream stands: the header next, a page after a position, or done.
enum Step {
    Header,
    Page(Option<DocumentPosition>),
    Done,
}

impl Content {
    fn columns(self) -> &'static [&'static str] {
        match self {
            Content::Documents => &DOCUMENT_COLUMNS,
            Content::Lines => &LINE_COLUMNS,
        }
    }

    fn rows(self, d: &billrun_domain::document::Document) -> Vec<Vec<String>> {
        match self {
            Content::Documents => vec![document_row(d)],
            Content::Lines => line_rows(d),
        }
    }
}

impl Format {
    fn record(self, columns: &[&str], cells: &[String]) -> String {
        match self {
            Format::Csv => csv_record(cells),
            Format::JsonLines => json_record(columns, cells),
        }
    }
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
        .parse("content", |v| match v {
            "documents" => Ok(Content::Documents),
            "lines" => Ok(Content::Lines),
            _ => Err("must be documents or lines".to_string()),
        })?
        .unwrap_or(Content::Documents);
    let format = params
        .parse("format", |v| match v {
            "csv" => Ok(Format::Csv),
            "jsonl" => Ok(Format::JsonLines),
            _ => Err("must be csv or jsonl".to_string()),
        })?
        .unwrap_or(Format::Csv);
    let run = app.queries().run_view(id).await?;
    if !matches!(
        run.status,
        RunStatus::Completed | RunStatus::CompletedWithErrors | RunStatus::Posted
    ) {
        return Err(AppError::conflict(
            ConflictCode::RunNotCompleted,
            format!("run {id} is {:?}: its documents are not final", run.status),
        )
        .into());
    }
    let media = match format {
        Format::Csv => "text/csv; charset=utf-8",
        Format::JsonLines => "application/x-ndjson",
    };
    let stream = futures_util::stream::unfold(Step::Header, move |step| {
        let app = app.clone();
        async move { next_chunk(&app, id, content, format, step).await }
    });
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, media)],
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
    content: Content,
    format: Format,
    step: Step,
) -> Option<(Result<String, AppError>, Step)> {
    match step {
        Step::Done => None,
        Step::Header => {
            let header = match format {
                Format::Csv => csv_record(content.columns()),
                Format::JsonLines => String::new(),
            };
            Some((Ok(header), Step::Page(None)))
        }
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
            for d in &page {
                for row in content.rows(&d.document) {
                    out.push_str(&format.record(content.columns(), &row));
                }
            }
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
