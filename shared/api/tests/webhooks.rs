//! Webhook endpoints and the delivery of run events to them: one delivery per (event,
//! endpoint), the same `webhook-id` on every attempt, retries, disabling, redelivery,
//! secret rotation, and the URL checks of the real sender. Signatures are checked
//! against the reference library in `infra/local/tests/webhooks.rs`.

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::StatusCode;
use billrun_app::memory::RecordingWebhookSender;
use billrun_app::ports::{WebhookResponse, WebhookSendError};
use common::TestApi;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const BOOK: &str = r#"{"accounts": [{"id": "A-1", "name": "C", "currency": "USD", "billCycleDay": 1}],
  "subscriptions": [{"id": "S-1", "accountId": "A-1", "productId": "P", "startDate": "2024-01-01",
    "charges": [{"id": "C-1", "type": "Recurring", "price": "10.00", "billingPeriod": "Month"}]}]}"#;

async fn api_with(sender: &RecordingWebhookSender, retries: usize) -> TestApi {
    let api = TestApi::with_webhooks(Arc::new(sender.clone()), retries);
    let r = api.post("/v1/import", BOOK).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    api
}

async fn endpoint(api: &TestApi, id: &str, events: Value) -> Value {
    api.webhook_endpoint(id, events).await
}

/// Creates a Manual run for `date`; returns its id.
async fn create_run(api: &TestApi, date: &str) -> String {
    let r = api
        .post(
            "/v1/invoice-runs",
            &json!({"targetDate": date, "runType": "Manual"}).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    r.body["id"].as_str().unwrap().to_string()
}

/// Creates, starts, completes and posts a run; returns its id.
async fn full_run(api: &TestApi) -> String {
    let run = create_run(api, "2024-02-01").await;
    api.post(&format!("/v1/invoice-runs/{run}/start"), "{}")
        .await;
    api.work_until_settled().await;
    let r = api
        .post(&format!("/v1/invoice-runs/{run}/post"), "{}")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    api.work_until_settled().await;
    run
}

fn event_types(sent: &[billrun_app::ports::OutgoingWebhook]) -> Vec<String> {
    sent.iter()
        .map(|w| {
            let body: Value = serde_json::from_str(&w.body).unwrap();
            body["type"].as_str().unwrap().to_string()
        })
        .collect()
}

#[tokio::test]
async fn each_event_of_a_run_reaches_each_endpoint_once_with_its_id() {
    let sender = RecordingWebhookSender::new();
    let api = api_with(&sender, 3).await;
    let created = endpoint(&api, "all", json!(["*"])).await;
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"));
    endpoint(&api, "posted", json!(["run.posted"])).await;
    // A disabled endpoint receives nothing.
    let r = api
        .put(
            "/v1/webhook-endpoints/off",
            &json!({"url": "https://hooks.example.com/off", "events": ["*"], "enabled": false})
                .to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);

    let run = full_run(&api).await;
    let sent = sender.received();
    // Deliveries are concurrent: a receiver orders events by their timestamps.
    let mut to_all: Vec<_> = sent
        .iter()
        .filter(|w| w.url.ends_with("/all"))
        .cloned()
        .collect();
    to_all.sort_by_key(|w| {
        let body: Value = serde_json::from_str(&w.body).unwrap();
        (
            body["timestamp"].as_str().unwrap().to_string(),
            body["data"]["version"].as_u64().unwrap(),
        )
    });
    assert_eq!(
        event_types(&to_all),
        ["run.created", "run.started", "run.completed", "run.posted"]
    );
    let to_posted: Vec<_> = sent
        .iter()
        .filter(|w| w.url.ends_with("/posted"))
        .cloned()
        .collect();
    assert_eq!(event_types(&to_posted), ["run.posted"]);
    assert!(sent.iter().all(|w| !w.url.ends_with("/off")));
    assert_eq!(sent.len(), 5);

    // The webhook-id is the event's id; the body is the envelope with the run.
    let events = api.get(&format!("/v1/invoice-runs/{run}/events")).await;
    let ids: Vec<&str> = events.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    let sent_ids: Vec<&str> = to_all.iter().map(|w| w.message_id.as_str()).collect();
    assert_eq!(sent_ids, ids);
    let body: Value = serde_json::from_str(&to_all[3].body).unwrap();
    assert_eq!(body["id"], ids[3]);
    assert_eq!(body["data"]["runId"], run.as_str());
    assert_eq!(body["data"]["status"], "Posted");
    assert_eq!(body["data"]["previousStatus"], "Completed");
    assert_eq!(body["data"]["run"]["id"], run.as_str());
    assert_eq!(to_all[0].secrets, [secret]);

    // Dispatching the same writes again makes nothing new.
    for v in 0..10 {
        api.app
            .dispatcher()
            .dispatch(run.parse().unwrap(), v..=u64::MAX)
            .await
            .unwrap();
    }
    api.work_until_settled().await;
    assert_eq!(sender.received().len(), 5);

    let log = api.get("/v1/webhook-endpoints/all/deliveries").await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.text);
    let items = log.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    for d in items {
        assert_eq!(d["status"], "Delivered");
        assert_eq!(d["attempts"].as_array().unwrap().len(), 1);
        assert_eq!(d["attempts"][0]["statusCode"], 200);
    }
}

#[tokio::test]
async fn a_receiver_failing_twice_gets_the_event_three_times_with_the_same_id() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let sender = RecordingWebhookSender::answering(move |_| {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        Ok(WebhookResponse {
            status: if n < 2 { 500 } else { 200 },
            excerpt: if n < 2 { "down".into() } else { String::new() },
        })
    });
    let api = api_with(&sender, 3).await;
    endpoint(&api, "flaky", json!(["run.created"])).await;
    create_run(&api, "2024-02-01").await;
    api.work_until_settled().await;
    let sent = sender.received();
    assert_eq!(sent.len(), 3);
    assert!(sent.iter().all(|w| w.message_id == sent[0].message_id));
    assert!(sent.iter().all(|w| w.body == sent[0].body));
    let log = api.get("/v1/webhook-endpoints/flaky/deliveries").await;
    let d = &log.body["items"][0];
    assert_eq!(d["status"], "Delivered");
    let codes: Vec<i64> = d["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["statusCode"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, [500, 500, 200]);
    assert_eq!(d["attempts"][0]["response"], "down");
    // The endpoint recovered: no failure on record.
    let e = api.get("/v1/webhook-endpoints/flaky").await;
    assert!(e.body.get("failingSince").is_none(), "{}", e.text);
    assert!(e.body.get("secret").is_none());
}

#[tokio::test]
async fn sustained_failure_fails_the_delivery_and_disables_the_endpoint_until_enabled() {
    let sender = RecordingWebhookSender::answering(|_| Err(WebhookSendError::Timeout));
    let api = api_with(&sender, 2).await;
    endpoint(&api, "dead", json!(["*"])).await;
    create_run(&api, "2024-02-01").await;
    api.work_until_settled().await;
    // One attempt and two retries, then Failed; the endpoint is disabled.
    assert_eq!(sender.received().len(), 3);
    let log = api.get("/v1/webhook-endpoints/dead/deliveries").await;
    let d = &log.body["items"][0];
    assert_eq!(d["status"], "Failed", "{}", log.text);
    assert_eq!(d["attempts"][2]["error"], "timed out");
    assert!(d["error"].as_str().unwrap().contains("3 attempts failed"));
    let e = api.get("/v1/webhook-endpoints/dead").await;
    assert_eq!(e.body["enabled"], false, "{}", e.text);
    assert!(e.body["disabledReason"]
        .as_str()
        .unwrap()
        .contains("every delivery failed"));

    // Disabled: a new event is not sent.
    create_run(&api, "2024-03-01").await;
    api.work_until_settled().await;
    assert_eq!(sender.received().len(), 3);

    // Enabled again, the reason is cleared; a redelivery sends the failed one again,
    // with the same id.
    let r = api
        .put(
            "/v1/webhook-endpoints/dead",
            &json!({"url": "https://hooks.example.com/dead", "events": ["*"], "enabled": true})
                .to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.get("disabledReason").is_none());
    assert!(r.body.get("secret").is_none(), "a replace shows no secret");
    let id = d["id"].as_str().unwrap();
    let r = api
        .post(&format!("/v1/webhook-deliveries/{id}/redeliver"), "")
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!(r.body["status"], "Pending");
    api.work_until_settled().await;
    let one = api.get(&format!("/v1/webhook-deliveries/{id}")).await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.text);
    assert_eq!(one.body["id"], d["id"]);
    assert_eq!(one.body["attempts"].as_array().unwrap().len(), 6);
    let sent = sender.received();
    assert_eq!(sent.len(), 6);
    assert_eq!(sent[3].message_id, sent[0].message_id);
}

#[tokio::test]
async fn a_rotated_secret_signs_beside_the_new_one_and_a_deleted_endpoint_gets_nothing() {
    let sender = RecordingWebhookSender::new();
    let api = api_with(&sender, 1).await;
    let first = endpoint(&api, "e", json!(["run.created"])).await["secret"].clone();
    let r = api.post("/v1/webhook-endpoints/e/rotate-secret", "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let second = r.body["secret"].clone();
    assert_ne!(first, second);
    // The endpoint says when its secret was made and until when the old one signs,
    // never either secret.
    let e = api.get("/v1/webhook-endpoints/e").await;
    assert!(e.body.get("secret").is_none());
    let made: chrono::DateTime<chrono::Utc> =
        e.body["secretCreatedAt"].as_str().unwrap().parse().unwrap();
    let until: chrono::DateTime<chrono::Utc> = e.body["previousSecretExpiresAt"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(until - made, chrono::TimeDelta::hours(24), "{}", e.text);
    create_run(&api, "2024-02-01").await;
    api.work_until_settled().await;
    let sent = sender.received();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].secrets,
        [second.as_str().unwrap(), first.as_str().unwrap()]
    );

    assert_eq!(
        api.delete("/v1/webhook-endpoints/e").await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.get("/v1/webhook-endpoints/e").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.get("/v1/webhook-endpoints").await.body["items"],
        json!([])
    );
    create_run(&api, "2024-03-01").await;
    api.work_until_settled().await;
    assert_eq!(sender.received().len(), 1);
}

#[tokio::test]
async fn an_endpoint_registered_after_a_change_is_not_sent_its_event() {
    let sender = RecordingWebhookSender::new();
    let api = api_with(&sender, 1).await;
    let run = create_run(&api, "2024-02-01").await;
    api.work_until_settled().await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    endpoint(&api, "late", json!(["*"])).await;
    api.app
        .dispatcher()
        .dispatch(run.parse().unwrap(), 0..=u64::MAX)
        .await
        .unwrap();
    api.work_until_settled().await;
    assert!(sender.received().is_empty());
    api.post(&format!("/v1/invoice-runs/{run}/start"), "{}")
        .await;
    api.work_until_settled().await;
    assert_eq!(
        event_types(&sender.received()),
        ["run.started", "run.completed"]
    );
}

#[tokio::test]
async fn endpoints_to_private_addresses_or_without_https_are_refused_with_the_field() {
    let store = Arc::new(billrun_app::memory::MemoryStore::new());
    let queue = Arc::new(billrun_app::memory::MemoryQueue::new());
    let sender = billrun_webhooks::HttpWebhookSender::new(
        billrun_webhooks::UrlPolicy::default(),
        std::time::Duration::from_secs(1),
    )
    .unwrap();
    let app = Arc::new(
        billrun_app::App::in_memory(
            store.clone(),
            queue.clone(),
            Arc::new(billrun_documents::PdfRenderer),
        )
        .with_webhooks(Arc::new(sender)),
    );
    let api = TestApi {
        router: billrun_api::router(app.clone()),
        app,
        store: store.clone(),
        queue,
    };
    let before = store.digest();
    for (url, events, field) in [
        ("http://hooks.example.com/x", json!(["*"]), "url"),
        ("https://127.0.0.1/x", json!(["*"]), "url"),
        ("https://10.0.0.1/x", json!(["*"]), "url"),
        ("https://169.254.169.254/latest", json!(["*"]), "url"),
        ("https://[::1]/x", json!(["*"]), "url"),
        ("https://localhost/x", json!(["*"]), "url"),
        ("https://hooks.example.com/x", json!([]), "events"),
        (
            "https://hooks.example.com/x",
            json!(["run.exploded"]),
            "events[0]",
        ),
    ] {
        let r = api
            .put(
                "/v1/webhook-endpoints/bad",
                &json!({"url": url, "events": events}).to_string(),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{url}: {}", r.text);
        assert_eq!(r.body["field"], field, "{url}: {}", r.text);
    }
    let r = api
        .put(
            "/v1/webhook-endpoints/bad",
            &json!({"url": "https://hooks.example.com/x", "events": ["*"], "secret": "mine"})
                .to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert_eq!(store.digest(), before, "a refused endpoint writes nothing");
    assert_eq!(
        api.get("/v1/webhook-endpoints/nope/deliveries")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.post("/v1/webhook-deliveries/not-a-uuid/redeliver", "")
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        api.get("/v1/webhook-deliveries/not-a-uuid").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        api.get(&format!("/v1/webhook-deliveries/{}", uuid::Uuid::nil()))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_completed_document_request_is_one_event_and_one_webhook() {
    let sender = RecordingWebhookSender::new();
    let api = api_with(&sender, 1).await;
    endpoint(&api, "pdfs", json!(["document_request.completed"])).await;
    let run = full_run(&api).await;
    let template =
        json!({"name": "Default", "content": {"companyName": "Northwind", "locale": "en-US"}});
    let r = api
        .put("/v1/document-templates/T-1", &template.to_string())
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    api.post("/v1/document-templates/T-1/activate", "").await;
    let r = api
        .post(&format!("/v1/invoice-runs/{run}/documents"), "")
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let request = r.body["id"].as_str().unwrap().to_string();
    api.work_until_settled().await;
    // A repeated chunk (a redelivery) notices the completion again and records nothing.
    let invoices = api.get(&format!("/v1/invoice-runs/{run}/invoices")).await;
    let ids: Vec<billrun_domain::ids::DocumentId> = invoices.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(!ids.is_empty());
    api.app
        .docgen()
        .generate_documents(request.parse().unwrap(), &ids)
        .await
        .unwrap();
    api.work_until_settled().await;
    let events = api.get(&format!("/v1/invoice-runs/{run}/events")).await;
    let done: Vec<&Value> = events.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "document_request.completed")
        .collect();
    assert_eq!(done.len(), 1, "{}", events.text);
    assert_eq!(done[0]["requestId"], request.as_str());
    assert_eq!(done[0]["status"], "Posted");
    let sent = sender.received();
    assert_eq!(sent.len(), 1);
    let body: Value = serde_json::from_str(&sent[0].body).unwrap();
    assert_eq!(body["type"], "document_request.completed");
    assert_eq!(body["data"]["requestId"], request.as_str());
}
