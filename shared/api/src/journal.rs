//! `GET /v1/invoice-runs/{id}/journal`: the journal of a posted run (docs/accounting.md)
//! as JSON, or as CSV with `Accept: text/csv` or `?format=csv`.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Params, Path};
use crate::schema;
use crate::v1::{run_id, AppState};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use billrun_domain::ids::RunId;
use billrun_domain::journal::Journal;
use serde::Serialize;

/// The two forms of the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
}

fn parse_format(v: &str) -> Result<Format, String> {
    match v {
        "json" => Ok(Format::Json),
        "csv" => Ok(Format::Csv),
        _ => Err("must be json or csv".to_string()),
    }
}

/// Whether an `Accept` header names `text/csv` among its media ranges.
fn accepts_csv(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|range| {
            let media = range.split(';').next().unwrap_or_default().trim();
            media.eq_ignore_ascii_case("text/csv")
        })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JournalBody<'a> {
    run_id: RunId,
    run_number: &'a str,
    #[serde(flatten)]
    journal: &'a Journal,
}

/// The journal of a Posted run: one entry per (currency, invoice date), each balanced.
#[utoipa::path(get, path = "/v1/invoice-runs/{id}/journal", tag = "results",
    params(
        ("id" = uuid::Uuid, Path, description = "Run id"),
        ("format" = Option<schema::JournalFormat>, Query, description = "`json` (default) or `csv`; wins over `Accept`"),
        ("Accept" = Option<String>, Header, description = "`text/csv` for the CSV form")),
    responses(
        (status = 200, description = "The journal: JSON, or CSV with the columns currency, date, account, role, documentKind, lineType, debit, credit (docs/accounting.md)",
            content((schema::Journal = "application/json"), (String = "text/csv"))),
        (status = 400, description = "Not a UUID, or a bad `format`", body = ErrorBody),
        (status = 404, description = "Unknown run", body = ErrorBody),
        (status = 409, description = "`run_not_posted`: only a Posted run has a journal", body = ErrorBody)))]
pub async fn get_journal(
    State(app): AppState,
    Path(id): Path<String>,
    params: Params,
    headers: HeaderMap,
) -> ApiResult<Response> {
    params.only(&["format"])?;
    let id = run_id(&id)?;
    let format = params
        .parse("format", parse_format)?
        .unwrap_or(if accepts_csv(&headers) {
            Format::Csv
        } else {
            Format::Json
        });
    let (run, journal) = app.queries().run_journal(id).await?;
    Ok(match format {
        Format::Json => Json(JournalBody {
            run_id: run.id,
            run_number: &run.number,
            journal: &journal,
        })
        .into_response(),
        Format::Csv => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            journal.to_csv(),
        )
            .into_response(),
    })
}
