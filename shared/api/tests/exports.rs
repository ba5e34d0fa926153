//! Run exports: a completed run's documents and lines as CSV (read back with Python's
//! `csv` module, the reader an ERP import script would use) and JSON Lines.

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::{Method, StatusCode};
use billrun_app::memory::{MemoryExportFiles, MemoryQueue, MemoryStore};
use billrun_app::App;
use common::TestApi;
use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;

/// 12 accounts; every third has an adjustment whose description needs quoting.
fn book() -> String {
    let accounts: Vec<Value> = (1..=12)
        .map(|i| {
            json!({"id": format!("A-{i:02}"), "name": format!("Customer {i}"),
                        "currency": if i % 4 == 0 { "EUR" } else { "USD" }, "billCycleDay": 1})
        })
        .collect();
    let subscriptions: Vec<Value> = (1..=12)
        .map(|i| {
            json!({"id": format!("S-{i:02}"), "accountId": format!("A-{i:02}"),
                        "productId": "P", "startDate": "2024-01-01",
                        "charges": [{"id": format!("C-{i:02}"), "type": "Recurring",
                                     "price": format!("{}.50", 10 + i), "billingPeriod": "Month"}]})
        })
        .collect();
    let adjustments: Vec<Value> = (1..=12)
        .filter(|i| i % 3 == 0)
        .map(|i| {
            json!({"id": format!("ADJ-{i}"), "accountId": format!("A-{i:02}"),
                        "amount": "-1.25", "date": "2024-01-20",
                        "description": "Credit, \"goodwill\"\nsecond line"})
        })
        .collect();
    json!({"accounts": accounts, "subscriptions": subscriptions, "adjustments": adjustments})
        .to_string()
}

/// The CSV rows as Python's `csv` module reads them (the header row first).
fn python_csv(text: &str) -> Vec<Vec<String>> {
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import csv, io, json, sys; \
             print(json.dumps(list(csv.reader(io.StringIO(sys.stdin.read(), newline='')))))",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs (the test script installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn a_runs_documents_and_lines_export_as_csv_and_json_lines_that_readers_parse_back() {
    let api = TestApi::with_book(&book()).await;
    let r = api
        .post(
            "/v1/invoice-runs",
            &json!({"targetDate": "2024-02-01"}).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let run = r.body["id"].as_str().unwrap().to_string();
    // Before its documents are final: refused.
    let early = api.get(&format!("/v1/invoice-runs/{run}/export")).await;
    assert_eq!(early.status, StatusCode::CONFLICT, "{}", early.text);
    api.work().await;
    let docs = api
        .get(&format!("/v1/invoice-runs/{run}/invoices?limit=100"))
        .await
        .body["items"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(docs.len(), 12);

    let r = api.get(&format!("/v1/invoice-runs/{run}/export")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let rows = python_csv(&r.text);
    assert_eq!(rows[0], billrun_domain::export::DOCUMENT_COLUMNS);
    assert_eq!(rows.len(), 1 + docs.len());
    let col = |name: &str| {
        billrun_domain::export::DOCUMENT_COLUMNS
            .iter()
            .position(|c| *c == name)
            .unwrap()
    };
    for (row, d) in rows[1..].iter().zip(&docs) {
        assert_eq!(row[col("number")], d["number"].as_str().unwrap());
        assert_eq!(row[col("total")], d["totals"]["total"].as_str().unwrap());
        assert_eq!(row[col("currency")], d["currency"].as_str().unwrap());
        assert_eq!(row[col("kind")], d["kind"].as_str().unwrap());
    }

    let r = api
        .get(&format!("/v1/invoice-runs/{run}/export?content=lines"))
        .await;
    let rows = python_csv(&r.text);
    let lines: usize = docs
        .iter()
        .map(|d| d["lines"].as_array().unwrap().len())
        .sum();
    assert_eq!(rows.len(), 1 + lines);
    let description = billrun_domain::export::LINE_COLUMNS
        .iter()
        .position(|c| *c == "description")
        .unwrap();
    let quoted = rows
        .iter()
        .filter(|r| r[description] == "Credit, \"goodwill\"\nsecond line")
        .count();
    assert_eq!(
        quoted, 4,
        "the four adjustments' descriptions read back whole"
    );

    let r = api
        .get(&format!(
            "/v1/invoice-runs/{run}/export?content=lines&format=jsonl"
        ))
        .await;
    assert_eq!(
        r.headers["content-type"].to_str().unwrap(),
        "application/x-ndjson"
    );
    let records: Vec<Value> = r
        .text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), lines);
    let amounts: rust_decimal::Decimal = records
        .iter()
        .map(|r| {
            r["amount"]
                .as_str()
                .unwrap()
                .parse::<rust_decimal::Decimal>()
                .unwrap()
        })
        .sum();
    let totals: rust_decimal::Decimal = docs
        .iter()
        .map(|d| {
            d["totals"]["subTotal"]
                .as_str()
                .unwrap()
                .parse::<rust_decimal::Decimal>()
                .unwrap()
        })
        .sum();
    assert_eq!(amounts, totals, "the lines add up to the documents");

    for bad in ["content=pdf", "format=xml", "other=1"] {
        let r = api
            .get(&format!("/v1/invoice-runs/{run}/export?{bad}"))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.text);
    }
}

/// `n` accounts with one monthly charge each.
fn flat_book(n: usize) -> String {
    let accounts: Vec<Value> = (0..n)
        .map(|i| json!({"id": format!("A-{i:04}"), "name": "C", "currency": "USD", "billCycleDay": 1}))
        .collect();
    let subscriptions: Vec<Value> = (0..n)
        .map(|i| {
            json!({"id": format!("S-{i:04}"), "accountId": format!("A-{i:04}"),
                        "productId": "P", "startDate": "2024-01-01",
                        "charges": [{"id": format!("C-{i:04}"), "type": "Recurring",
                                     "price": "10.00", "billingPeriod": "Month"}]})
        })
        .collect();
    json!({"accounts": accounts, "subscriptions": subscriptions}).to_string()
}

/// A completed run over `api`'s book.
async fn completed_run(api: &TestApi) -> String {
    let r = api
        .post(
            "/v1/invoice-runs",
            &json!({"targetDate": "2024-02-01"}).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let run = r.body["id"].as_str().unwrap().to_string();
    api.work().await;
    run
}

#[tokio::test]
async fn an_export_longer_than_a_page_has_every_document_once_in_order() {
    let n = 1030; // over two pages of 500
    let api = TestApi::with_book(&flat_book(n)).await;
    let run = completed_run(&api).await;
    let r = api.get(&format!("/v1/invoice-runs/{run}/export")).await;
    assert_eq!(r.status, StatusCode::OK);
    let rows = python_csv(&r.text);
    let numbers: Vec<&str> = rows[1..].iter().map(|r| r[1].as_str()).collect();
    let expected: Vec<String> = (1..=n).map(|i| format!("INV-{i:09}")).collect();
    assert_eq!(numbers, expected);
}

/// The in-memory API whose exports upload parts of `part_bytes`, with its files.
async fn api_with_parts(book: &str, part_bytes: usize) -> (TestApi, Arc<MemoryExportFiles>) {
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::new());
    let files = Arc::new(MemoryExportFiles::default());
    let mut app = App::in_memory(
        store.clone(),
        queue.clone(),
        Arc::new(billrun_documents::PdfRenderer),
    )
    .with_export_files(files.clone());
    app.export_part_bytes = part_bytes;
    let app = Arc::new(app);
    let api = TestApi {
        router: billrun_api::router(app.clone()),
        app,
        store,
        queue,
    };
    let r = api.post("/v1/import", book).await;
    assert_eq!(r.status, StatusCode::OK, "import: {}", r.text);
    (api, files)
}

#[tokio::test]
async fn a_file_export_is_written_in_parts_and_downloads_as_the_streamed_export() {
    let (api, files) = api_with_parts(&flat_book(1030), 16 * 1024).await;
    let r = api
        .post(
            "/v1/invoice-runs",
            &json!({"targetDate": "2024-02-01"}).to_string(),
        )
        .await;
    let run = r.body["id"].as_str().unwrap().to_string();
    let route = format!("/v1/invoice-runs/{run}/exports");
    let early = api.post(&route, "{}").await;
    assert_eq!(early.status, StatusCode::CONFLICT, "{}", early.text);
    assert_eq!(early.body["code"], "run_not_completed");
    api.work().await;

    for (body, field) in [
        (r#"{"content": "pdf"}"#, "content"),
        (r#"{"format": "xml"}"#, "format"),
        (r#"{"other": 1}"#, "other"),
    ] {
        let r = api.post(&route, body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text);
        assert!(r.text.contains(field), "{body}: {}", r.text);
    }
    let body = r#"{"content": "lines", "format": "csv"}"#;
    let key = [("idempotency-key", "month-end")];
    let r = api.call(Method::POST, &route, Some(body), &key).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!(r.body["status"], "Pending");
    assert_eq!(r.body["downloadUrl"], Value::Null);
    let id = r.body["id"].as_str().unwrap().to_string();
    let file = format!("/v1/exports/{id}/file");
    let early = api.get(&file).await;
    assert_eq!(early.status, StatusCode::CONFLICT, "{}", early.text);
    assert_eq!(early.body["code"], "export_not_completed");
    let again = api.call(Method::POST, &route, Some(body), &key).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    assert_eq!(again.body["id"], id.as_str());
    let other = api
        .call(
            Method::POST,
            &route,
            Some(r#"{"content": "documents"}"#),
            &key,
        )
        .await;
    assert_eq!(other.status, StatusCode::CONFLICT, "{}", other.text);
    assert_eq!(other.body["code"], "idempotency_key_reused");

    // The replay queued the message again: two deliveries, one file, Completed once.
    api.work().await;
    let done = api.get(&format!("/v1/exports/{id}")).await;
    assert_eq!(done.body["status"], "Completed", "{}", done.text);
    assert_eq!(done.body["downloadUrl"], file.as_str());
    let streamed = api
        .get(&format!("/v1/invoice-runs/{run}/export?content=lines"))
        .await;
    let downloaded = api.get(&file).await;
    assert_eq!(downloaded.status, StatusCode::OK);
    assert!(downloaded.headers["content-disposition"]
        .to_str()
        .unwrap()
        .ends_with(".csv\""));
    assert_eq!(
        downloaded.text, streamed.text,
        "the file is the streamed export"
    );
    assert_eq!(done.body["bytes"], downloaded.text.len() as u64);
    let rows = python_csv(&downloaded.text);
    assert_eq!(rows.len() as u64, 1 + done.body["rows"].as_u64().unwrap());
    assert!(
        downloaded.text.len() > 4 * 16 * 1024,
        "the file spans several parts"
    );
    assert_eq!(files.open_uploads(), 0, "no upload left open");
    assert_eq!(
        api.get(&format!("/v1/exports/{}", uuid::Uuid::new_v4()))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}
