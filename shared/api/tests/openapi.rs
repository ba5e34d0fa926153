//! The OpenAPI document: every canonical `/v1` route is served and described,
//! `docs/openapi.json` is the current document, and real responses use only the
//! properties their schemas describe.

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::{Method, StatusCode};
use common::{TestApi, BOOK};
use serde_json::Value;

/// The canonical routes (README "The HTTP API", with path parameters named as served).
const CANONICAL: &[(&str, &str)] = &[
    ("get", "/v1/health"),
    ("get", "/v1/openapi.json"),
    ("post", "/v1/import"),
    ("put", "/v1/accounts/{id}"),
    ("get", "/v1/accounts/{id}"),
    ("get", "/v1/accounts"),
    ("put", "/v1/subscriptions/{id}"),
    ("get", "/v1/subscriptions/{id}"),
    ("post", "/v1/usage"),
    ("post", "/v1/adjustments"),
    ("put", "/v1/invoice-schedules/{id}"),
    ("get", "/v1/invoice-schedules/{id}"),
    ("post", "/v1/invoice-schedules/{id}/execute"),
    ("put", "/v1/document-templates/{id}"),
    ("post", "/v1/document-templates/{id}/activate"),
    ("post", "/v1/document-templates/{id}/sample"),
    ("post", "/v1/invoice-runs"),
    ("get", "/v1/invoice-runs/{id}"),
    ("get", "/v1/invoice-runs"),
    ("patch", "/v1/invoice-runs/{id}"),
    ("post", "/v1/invoice-runs/{id}/start"),
    ("post", "/v1/invoice-runs/{id}/cancel"),
    ("delete", "/v1/invoice-runs/{id}"),
    ("post", "/v1/invoice-runs/{id}/post"),
    ("post", "/v1/invoice-runs/{id}/approve"),
    ("post", "/v1/invoices/{id}/approve"),
    ("post", "/v1/invoices/{id}/post"),
    ("post", "/v1/invoices/{id}/void"),
    ("post", "/v1/invoices/{id}/cancel"),
    ("post", "/v1/accounts/{id}/rebill"),
    ("post", "/v1/invoice-runs/{id}/retry-failed"),
    ("post", "/v1/invoice-runs/{id}/preview"),
    ("get", "/v1/invoice-runs/{id}/diff"),
    ("get", "/v1/invoice-runs/{id}/accounts"),
    ("get", "/v1/invoice-runs/{id}/invoices"),
    ("get", "/v1/invoice-runs/{id}/journal"),
    ("get", "/v1/invoices/{id}"),
    ("post", "/v1/invoice-runs/{id}/documents"),
    ("get", "/v1/document-requests/{id}"),
    ("post", "/v1/invoice-runs/{id}/emails"),
    ("get", "/v1/delivery-requests/{id}"),
    ("post", "/v1/delivery-requests/{id}/resend"),
    ("post", "/v1/invoices/{id}/payments"),
    ("get", "/v1/invoices/{id}/payments"),
    ("get", "/v1/reports/aging"),
    ("post", "/v1/credit-memos/{id}/applications"),
    ("get", "/v1/invoice-runs/{id}/export"),
    ("get", "/v1/invoice-runs/{id}/events"),
    ("post", "/v1/invoice-runs/{id}/exports"),
    ("get", "/v1/exports/{id}"),
    ("get", "/v1/exports/{id}/file"),
    ("post", "/v1/document-requests/{id}/resend"),
    ("get", "/v1/invoices/{id}/document"),
    ("put", "/v1/run-schedules/{id}"),
    ("get", "/v1/run-schedules/{id}"),
    ("get", "/v1/run-schedules"),
    ("get", "/v1/document-templates"),
    ("get", "/v1/invoice-schedules"),
    ("get", "/v1/document-templates/{id}"),
    ("get", "/v1/document-templates/{id}/sample"),
    ("delete", "/v1/run-schedules/{id}"),
    ("post", "/v1/run-schedules/{id}/pause"),
    ("post", "/v1/run-schedules/{id}/resume"),
    ("put", "/v1/webhook-endpoints/{id}"),
    ("get", "/v1/webhook-endpoints/{id}"),
    ("get", "/v1/webhook-endpoints"),
    ("delete", "/v1/webhook-endpoints/{id}"),
    ("post", "/v1/webhook-endpoints/{id}/rotate-secret"),
    ("get", "/v1/webhook-endpoints/{id}/deliveries"),
    ("get", "/v1/audit-events"),
    ("get", "/v1/webhook-deliveries/{id}"),
    ("post", "/v1/webhook-deliveries/{id}/redeliver"),
];

/// The compatibility routes.
const COMPAT: &[(&str, &str)] = &[
    ("post", "/api/billing/v1/configure-requests"),
    ("get", "/api/billing/v1/request-results/{id}"),
    ("get", "/api/billing/v1/request-results/{id}/invoices"),
    ("get", "/api/billing/v1/request-results/{id}/credit-memos"),
    ("post", "/v2/bill_runs"),
    ("get", "/v2/bill_runs/{id}"),
    ("get", "/v2/bill_runs"),
    ("post", "/v2/bill_runs/{id}/cancel"),
    ("delete", "/v2/bill_runs/{id}"),
    ("post", "/v2/bill_runs/{id}/post"),
    ("post", "/v1/bill-runs/{key}/emails"),
    ("get", "/backend/api/v1/billingRuns/{id}"),
    ("get", "/backend/api/v1/billingRuns/"),
    ("post", "/backend/api/v1/billingRuns/"),
    ("put", "/backend/api/v1/billingRuns/{id}"),
    (
        "post",
        "/services/data/v64.0/actions/standard/generateInvoiceDocuments",
    ),
];

fn document() -> Value {
    serde_json::from_str(&billrun_api::openapi_json()).expect("the document is JSON")
}

#[tokio::test]
async fn every_route_is_served_and_described_in_the_openapi_document() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    let api = TestApi::new();
    for (method, path) in CANONICAL.iter().chain(COMPAT) {
        let op = &doc["paths"][path][method];
        assert!(
            op.is_object(),
            "{method} {path} is missing from the OpenAPI document"
        );
        assert!(
            op["responses"].is_object(),
            "{method} {path} documents no response"
        );
        // Served: the router neither falls back ("route not found") nor refuses the method.
        let uri = path.replace("{id}", "00000000-0000-4000-8000-000000000000");
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let r = api.call(m, &uri, Some("{}"), &[]).await;
        assert_ne!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert_ne!(
            r.body["message"], "route not found",
            "{method} {path} is not served"
        );
    }
    let described: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_object().unwrap().len())
        .sum();
    assert_eq!(
        described,
        CANONICAL.len() + COMPAT.len(),
        "no undocumented extras"
    );
}

#[tokio::test]
async fn the_served_document_is_the_checked_in_docs_openapi_json() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
    let current = billrun_api::openapi_json();
    if std::env::var("UPDATE_OPENAPI").is_ok() {
        std::fs::write(path, &current).unwrap();
        // The served copy is compacted from the file at build time: the rerun checks it.
        return;
    }
    let checked_in = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        checked_in == current,
        "docs/openapi.json is stale: run `UPDATE_OPENAPI=1 cargo test -p billrun-api --test openapi`"
    );
    let api = TestApi::new();
    let served = api.get("/v1/openapi.json").await;
    assert_eq!(served.status, StatusCode::OK);
    // The same document, compacted (build.rs): no whitespace between tokens.
    let served_doc: Value =
        serde_json::from_str(&served.text).expect("the served document is JSON");
    let current_doc: Value = serde_json::from_str(&current).expect("the document is JSON");
    assert_eq!(served_doc, current_doc);
    assert!(!served.text.contains('\n'), "served without line breaks");
    assert!(
        served.text.len() * 3 < current.len() * 2,
        "the served document ({} bytes) is compacted from {} bytes",
        served.text.len(),
        current.len()
    );
}

/// The properties a schema allows, following `$ref`, `allOf`, `oneOf` and nullability.
fn properties(doc: &Value, schema: &Value) -> Option<Vec<String>> {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.rsplit('/').next()?;
        return properties(doc, &doc["components"]["schemas"][name]);
    }
    for k in ["allOf", "oneOf", "anyOf"] {
        if let Some(list) = schema[k].as_array() {
            let mut all = vec![];
            for s in list {
                all.extend(properties(doc, s).unwrap_or_default());
            }
            return Some(all);
        }
    }
    schema["properties"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
}

fn sub_schema(doc: &Value, schema: &Value, key: &str) -> Value {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.rsplit('/').next().unwrap();
        return sub_schema(doc, &doc["components"]["schemas"][name], key);
    }
    for k in ["allOf", "oneOf", "anyOf"] {
        if let Some(list) = schema[k].as_array() {
            for s in list {
                let found = sub_schema(doc, s, key);
                if !found.is_null() {
                    return found;
                }
            }
        }
    }
    schema["properties"][key].clone()
}

/// Every key of `value` is a property of `schema`, recursively.
fn check(doc: &Value, schema: &Value, value: &Value, at: &str) {
    match value {
        Value::Object(m) => {
            let Some(allowed) = properties(doc, schema) else {
                return; // a free-form object
            };
            for (k, v) in m {
                assert!(allowed.contains(k), "{at}.{k} is not in the schema");
                check(doc, &sub_schema(doc, schema, k), v, &format!("{at}.{k}"));
            }
        }
        Value::Array(items) => {
            let mut item_schema = schema["items"].clone();
            if item_schema.is_null() {
                for k in ["oneOf", "anyOf"] {
                    if let Some(list) = schema[k].as_array() {
                        if let Some(s) = list.iter().find(|s| s["items"].is_object()) {
                            item_schema = s["items"].clone();
                        }
                    }
                }
            }
            for (i, v) in items.iter().enumerate() {
                check(doc, &item_schema, v, &format!("{at}[{i}]"));
            }
        }
        _ => {}
    }
}

fn response_schema(doc: &Value, method: &str, path: &str, status: u16) -> Value {
    doc["paths"][path][method]["responses"][status.to_string()]["content"]["application/json"]
        ["schema"]
        .clone()
}

#[tokio::test]
async fn responses_use_only_the_properties_their_schemas_describe() {
    let doc = document();
    let api = TestApi::with_book(BOOK).await;
    let created = api
        .post("/v1/invoice-runs", r#"{"targetDate": "2024-02-01"}"#)
        .await;
    let id = created.body["id"].as_str().unwrap().to_string();
    api.work().await;
    let run = api.get(&format!("/v1/invoice-runs/{id}")).await;
    check(
        &doc,
        &response_schema(&doc, "get", "/v1/invoice-runs/{id}", 200),
        &run.body,
        "run",
    );
    let list = api.get("/v1/invoice-runs").await;
    check(
        &doc,
        &response_schema(&doc, "get", "/v1/invoice-runs", 200),
        &list.body,
        "runs",
    );
    let docs = api.get(&format!("/v1/invoice-runs/{id}/invoices")).await;
    check(
        &doc,
        &response_schema(&doc, "get", "/v1/invoice-runs/{id}/invoices", 200),
        &docs.body,
        "invoices",
    );
    let accounts = api.get(&format!("/v1/invoice-runs/{id}/accounts")).await;
    check(
        &doc,
        &response_schema(&doc, "get", "/v1/invoice-runs/{id}/accounts", 200),
        &accounts.body,
        "outcomes",
    );
    let account = api.get("/v1/accounts/A-1001").await;
    check(
        &doc,
        &response_schema(&doc, "get", "/v1/accounts/{id}", 200),
        &account.body,
        "account",
    );
    let sub = api.get("/v1/subscriptions/S-1").await;
    check(
        &doc,
        &response_schema(&doc, "get", "/v1/subscriptions/{id}", 200),
        &sub.body,
        "subscription",
    );
    let err = api.get("/v1/invoice-runs/x").await;
    check(
        &doc,
        &response_schema(&doc, "get", "/v1/invoice-runs/{id}", 400),
        &err.body,
        "error",
    );
    let bill_run = api.get(&format!("/v2/bill_runs/{id}")).await;
    check(
        &doc,
        &response_schema(&doc, "get", "/v2/bill_runs/{id}", 200),
        &bill_run.body,
        "bill_run",
    );
    let invoices = api
        .get(&format!("/api/billing/v1/request-results/{id}/invoices"))
        .await;
    check(
        &doc,
        &response_schema(
            &doc,
            "get",
            "/api/billing/v1/request-results/{id}/invoices",
            200,
        ),
        &invoices.body,
        "rc",
    );
    // Posted last: the journal of a posted run (with GL codes on its lines).
    let posted = api.post(&format!("/v1/invoice-runs/{id}/post"), "").await;
    assert_eq!(posted.status, StatusCode::OK, "{}", posted.text);
    let journal = api.get(&format!("/v1/invoice-runs/{id}/journal")).await;
    assert_eq!(journal.status, StatusCode::OK, "{}", journal.text);
    check(
        &doc,
        &response_schema(&doc, "get", "/v1/invoice-runs/{id}/journal", 200),
        &journal.body,
        "journal",
    );
    // The check itself fails on an undescribed property.
    let caught = std::panic::catch_unwind(|| {
        check(
            &doc,
            &response_schema(&doc, "get", "/v1/invoice-runs/{id}", 200),
            &serde_json::json!({"id": "x", "surprise": 1}),
            "probe",
        )
    });
    assert!(caught.is_err());
}

#[test]
fn the_conflict_codes_docs_api_md_lists_are_exactly_the_enums() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/api.md");
    let md = std::fs::read_to_string(path).unwrap();
    let row = md
        .lines()
        .find(|l| l.contains("| 409 |"))
        .expect("docs/api.md has a 409 row");
    let listed: Vec<&str> = row
        .rsplit("| 409 |")
        .next()
        .unwrap()
        .split('`')
        .skip(1)
        .step_by(2)
        .collect();
    let codes: Vec<&str> = billrun_app::ConflictCode::ALL
        .iter()
        .map(|c| c.as_str())
        .collect();
    assert_eq!(listed, codes);
    let doc = serde_json::to_string(&billrun_api::openapi()).unwrap();
    for code in codes {
        assert!(
            doc.contains(&format!("`{code}`")),
            "{code} not in the OpenAPI document"
        );
    }
}

/// Operation ids name one operation each (the OpenAPI specification requires it, and
/// client generators name their methods by them).
#[test]
fn every_operation_id_is_unique() {
    let doc = document();
    let mut seen = std::collections::HashSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap_or_default().to_string();
            assert!(
                seen.insert(id.clone()),
                "{method} {path}: operationId {id} is taken"
            );
        }
    }
}
