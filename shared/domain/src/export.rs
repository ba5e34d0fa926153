//! A run's documents and lines as rows for ERP import: the columns (one place names
//! them), each document's and line's cells, and the CSV form of a row (RFC 4180). The
//! JSON Lines form is the same cells keyed by the column names. Amounts are printed as
//! in the JSON API (the currency's decimals), dates as `YYYY-MM-DD`.

use crate::document::Document;
use serde::Serialize;

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
