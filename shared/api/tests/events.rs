//! A run's lifecycle events: one per change, recorded with it, with stable ids, in order.

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::StatusCode;
use common::TestApi;
use serde_json::{json, Value};

const BOOK: &str = r#"{"accounts": [{"id": "A-1", "name": "C", "currency": "USD", "billCycleDay": 1}],
  "subscriptions": [{"id": "S-1", "accountId": "A-1", "productId": "P", "startDate": "2024-01-01",
    "charges": [{"id": "C-1", "type": "Recurring", "price": "10.00", "billingPeriod": "Month"}]}]}"#;

async fn events(api: &TestApi, run: &str) -> Vec<Value> {
    let r = api.get(&format!("/v1/invoice-runs/{run}/events")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["runId"], run);
    r.body["items"].as_array().unwrap().clone()
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn a_run_announces_each_change_once_in_order_with_stable_ids() {
    let api = TestApi::with_book(BOOK).await;
    let r = api
        .post(
            "/v1/invoice-runs",
            &json!({"targetDate": "2024-02-01", "runType": "Manual"}).to_string(),
        )
        .await;
    let run = r.body["id"].as_str().unwrap().to_string();
    let first = events(&api, &run).await;
    assert_eq!(types(&first), ["run.created"]);
    assert_eq!(first[0]["status"], "Pending");
    assert!(first[0].get("previousStatus").is_none());

    // A change that is refused writes no event.
    let refused = api
        .post(&format!("/v1/invoice-runs/{run}/post"), "{}")
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert_eq!(events(&api, &run).await, first);

    api.post(&format!("/v1/invoice-runs/{run}/start"), "{}")
        .await;
    api.work().await;
    api.post(&format!("/v1/invoice-runs/{run}/post"), "{}")
        .await;
    // A repeated post changes nothing and announces nothing.
    api.post(&format!("/v1/invoice-runs/{run}/post"), "{}")
        .await;
    let all = events(&api, &run).await;
    assert_eq!(
        types(&all),
        ["run.created", "run.started", "run.completed", "run.posted"]
    );
    assert_eq!(all[0], first[0], "an event is never rewritten");
    let statuses: Vec<(&Value, &Value)> = all
        .iter()
        .map(|e| (&e["previousStatus"], &e["status"]))
        .collect();
    assert_eq!(
        statuses[1..],
        [
            (&json!("Pending"), &json!("Processing")),
            (&json!("Processing"), &json!("Completed")),
            (&json!("Completed"), &json!("Posted")),
        ]
    );
    let ids: std::collections::BTreeSet<&str> =
        all.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), all.len());
    let times: Vec<&str> = all.iter().map(|e| e["time"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
}

#[tokio::test]
async fn an_immediate_run_is_created_and_started_in_one_write_and_a_cancel_is_announced() {
    let api = TestApi::with_book(BOOK).await;
    let r = api
        .post(
            "/v1/invoice-runs",
            &json!({"targetDate": "2024-02-01"}).to_string(),
        )
        .await;
    let run = r.body["id"].as_str().unwrap().to_string();
    let created = events(&api, &run).await;
    assert_eq!(types(&created), ["run.created", "run.started"]);
    assert_eq!(created[0]["version"], created[1]["version"]);
    api.work().await;
    let r = api
        .post(&format!("/v1/invoice-runs/{run}/cancel"), "{}")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let all = events(&api, &run).await;
    assert_eq!(
        types(&all),
        [
            "run.created",
            "run.started",
            "run.completed",
            "run.canceled"
        ]
    );
    let unknown = api
        .get(&format!("/v1/invoice-runs/{}/events", uuid::Uuid::new_v4()))
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_event_schema_names_every_type_and_status_the_code_writes() {
    let dir = env!("CARGO_MANIFEST_DIR");
    let text = std::fs::read_to_string(format!("{dir}/../../docs/events/run-event.v1.schema.json"))
        .unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    let all = billrun_app::model::events::RunEventType::ALL;
    // A run lists the events recorded on it: not the per-document ones, which are
    // derived when sent (the envelope's schema has every type).
    let types: Vec<String> = all
        .iter()
        .filter(|t| !t.is_per_document())
        .map(billrun_domain::export::wire_name)
        .collect();
    assert_eq!(schema["properties"]["type"]["enum"], json!(types));
    let envelope: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{dir}/../../docs/events/event.v1.schema.json")).unwrap(),
    )
    .unwrap();
    let every: Vec<String> = all.iter().map(billrun_domain::export::wire_name).collect();
    assert_eq!(envelope["properties"]["type"]["enum"], json!(every));
    let statuses: Vec<String> = [
        billrun_domain::run::RunStatus::Pending,
        billrun_domain::run::RunStatus::Processing,
        billrun_domain::run::RunStatus::Completed,
        billrun_domain::run::RunStatus::CompletedWithErrors,
        billrun_domain::run::RunStatus::Posted,
        billrun_domain::run::RunStatus::Canceled,
    ]
    .iter()
    .map(billrun_domain::export::wire_name)
    .collect();
    assert_eq!(schema["$defs"]["status"]["enum"], json!(statuses));
    // The events as the API shows them have only the schema's properties, and all
    // that it requires.
    let api = TestApi::with_book(BOOK).await;
    let r = api
        .post(
            "/v1/invoice-runs",
            &json!({"targetDate": "2024-02-01"}).to_string(),
        )
        .await;
    let run = r.body["id"].as_str().unwrap().to_string();
    let allowed: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
    for event in events(&api, &run).await {
        for key in event.as_object().unwrap().keys() {
            assert!(allowed.contains(&key), "{key} is not in the schema");
        }
        for required in schema["required"].as_array().unwrap() {
            assert!(
                event.get(required.as_str().unwrap()).is_some(),
                "{required}"
            );
        }
    }
}
