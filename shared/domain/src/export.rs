//! A run's documents and lines as rows for ERP import: the columns (one place names
//! them), each document's and line's cells, and the CSV form of a row (RFC 4180). The
//! JSON Lines form is the same cells keyed by the column names. Amounts are printed as
//! in the JSON API (the currency's decimals), dates as `YYYY-MM-DD`.

use crate::document::Document;
use serde::{Deserialize, Serialize};

/// One row a document.
pub const DOCUMENT_COLUMNS: [&str; 17] = [
    "documentId",
    "number",
    "kind",
    "status",
    "runId",
    "accountId",
    "groupKey",
    "currency",
    "invoiceDate",
    "dueDate",
    "oneTime",
    "recurring",
    "evergreen",
    "usage",
    "adjustments",
    "tax",
    "total",
];

/// One row a line, with its document's number and account.
pub const LINE_COLUMNS: [&str; 16] = [
    "documentId",
    "number",
    "kind",
    "accountId",
    "currency",
    "line",
    "type",
    "chargeId",
    "subscriptionId",
    "adjustmentId",
    "description",
    "periodStart",
    "periodEnd",
    "quantity",
    "amount",
    "glAccount",
];

/// What an export holds: a row a document, or a row a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportContent {
    Documents,
    Lines,
}

/// How an export's rows are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExportFormat {
    /// RFC 4180 with a header row.
    #[serde(rename = "csv")]
    Csv,
    /// JSON Lines: an object a row, keyed by the column names.
    #[serde(rename = "jsonl")]
    JsonLines,
}

impl ExportContent {
    /// `documents` or `lines`, as a query parameter or a request field spells it.
    pub fn parse(v: &str) -> Result<Self, String> {
        match v {
            "documents" => Ok(ExportContent::Documents),
            "lines" => Ok(ExportContent::Lines),
            _ => Err("must be documents or lines".to_string()),
        }
    }

    pub fn columns(self) -> &'static [&'static str] {
        match self {
            ExportContent::Documents => &DOCUMENT_COLUMNS,
            ExportContent::Lines => &LINE_COLUMNS,
        }
    }

    pub fn rows(self, d: &Document) -> Vec<Vec<String>> {
        match self {
            ExportContent::Documents => vec![document_row(d)],
            ExportContent::Lines => line_rows(d),
        }
    }
}

impl ExportFormat {
    /// `csv` or `jsonl`.
    pub fn parse(v: &str) -> Result<Self, String> {
        match v {
            "csv" => Ok(ExportFormat::Csv),
            "jsonl" => Ok(ExportFormat::JsonLines),
            _ => Err("must be csv or jsonl".to_string()),
        }
    }

    pub fn media_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::JsonLines => "application/x-ndjson",
        }
    }

    /// The file name extension of an export object.
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::JsonLines => "jsonl",
        }
    }

    /// What comes before the rows: the CSV header row (JSON Lines has none).
    pub fn header(self, content: ExportContent) -> String {
        match self {
            ExportFormat::Csv => csv_record(content.columns()),
            ExportFormat::JsonLines => String::new(),
        }
    }

    pub fn record(self, columns: &[&str], cells: &[String]) -> String {
        match self {
            ExportFormat::Csv => csv_record(cells),
            ExportFormat::JsonLines => json_record(columns, cells),
        }
    }
}

/// The rows of `documents` in `format`, appended to `out`; returns how many.
pub fn write_rows<'a>(
    content: ExportContent,
    format: ExportFormat,
    documents: impl IntoIterator<Item = &'a Document>,
    out: &mut String,
) -> u64 {
    let mut rows = 0;
    for d in documents {
        for row in content.rows(d) {
            out.push_str(&format.record(content.columns(), &row));
            rows += 1;
        }
    }
    rows
}

/// An enum's name as its JSON form spells it, so that every form agrees.
pub fn wire_name<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// The cells of a document's row, in [`DOCUMENT_COLUMNS`] order.
pub fn document_row(d: &Document) -> Vec<String> {
    let t = &d.totals;
    vec![
        d.id.to_string(),
        d.number.clone().unwrap_or_default(),
        wire_name(&d.kind),
        wire_name(&d.status),
        d.run_id.to_string(),
        d.account_id.to_string(),
        d.group_key.clone(),
        d.currency.code().to_string(),
        d.invoice_date.to_string(),
        d.due_date.to_string(),
        t.one_time.to_string(),
        t.recurring.to_string(),
        t.evergreen.to_string(),
        t.usage.to_string(),
        t.adjustments.to_string(),
        t.tax.to_string(),
        t.total.to_string(),
    ]
}

/// The rows of a document's lines, in [`LINE_COLUMNS`] order (`line`: 1-based).
pub fn line_rows(d: &Document) -> Vec<Vec<String>> {
    let text = |v: Option<String>| v.unwrap_or_default();
    d.lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            vec![
                d.id.to_string(),
                d.number.clone().unwrap_or_default(),
                wire_name(&d.kind),
                d.account_id.to_string(),
                d.currency.code().to_string(),
                (i + 1).to_string(),
                wire_name(&l.line_type),
                text(l.charge_id.as_ref().map(ToString::to_string)),
                text(l.subscription_id.as_ref().map(ToString::to_string)),
                text(l.adjustment_id.as_ref().map(ToString::to_string)),
                l.description.clone(),
                text(l.period_start.map(|p| p.to_string())),
                text(l.period_end.map(|p| p.to_string())),
                l.quantity.to_string(),
                l.amount.to_string(),
                text(l.gl_account.clone()),
            ]
        })
        .collect()
}

/// A cell as CSV: quoted when it holds a comma, a quote or a line break, quotes
/// doubled. Cells are not altered otherwise (a spreadsheet's formula guard would change
/// the negative amounts an ERP imports).
pub fn csv_cell(v: &str) -> String {
    if v.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_string()
    }
}

/// A row as one CSV record, CRLF-terminated.
pub fn csv_record<S: AsRef<str>>(cells: &[S]) -> String {
    let mut out = cells
        .iter()
        .map(|c| csv_cell(c.as_ref()))
        .collect::<Vec<_>>()
        .join(",");
    out.push_str("\r\n");
    out
}

/// A row as one JSON Lines record: the cells keyed by `columns`.
pub fn json_record(columns: &[&str], cells: &[String]) -> String {
    let object: serde_json::Map<String, serde_json::Value> = columns
        .iter()
        .zip(cells)
        .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.clone())))
        .collect();
    let mut out = serde_json::Value::Object(object).to_string();
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_with_separators_are_quoted_and_others_kept() {
        assert_eq!(
            csv_record(&["a", "b,c", "say \"hi\"", "two\nlines", "-12.50"]),
            "a,\"b,c\",\"say \"\"hi\"\"\",\"two\nlines\",-12.50\r\n"
        );
        assert_eq!(
            json_record(&["x", "y"], &["1".into(), "a\"b".into()]),
            "{\"x\":\"1\",\"y\":\"a\\\"b\"}\n"
        );
    }
}
