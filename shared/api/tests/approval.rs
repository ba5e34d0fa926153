//! Approving and posting a selection of a completed run's documents: one invoice, a
//! list, or every Approved one; the run partially posted (no cancel) until the last is
//! posted; bad selections refused at their field with nothing written.

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::StatusCode;
use common::TestApi;
use serde_json::{json, Value};

/// Five accounts billed monthly in advance.
async fn api() -> TestApi {
    let accounts: Vec<Value> = (1..=5)
        .map(|i| json!({"id": format!("A-{i}"), "name": format!("C{i}"), "currency": "USD", "billCycleDay": 1}))
        .collect();
    let subscriptions: Vec<Value> = (1..=5)
        .map(|i| {
            json!({"id": format!("S-{i}"), "accountId": format!("A-{i}"), "productId": "P",
            "startDate": "2024-01-01", "charges": [{"id": format!("C-{i}"), "type": "Recurring",
            "price": format!("{i}0.00"), "billingPeriod": "Month", "timing": "InAdvance"}]})
        })
        .collect();
    let book = json!({"accounts": accounts, "subscriptions": subscriptions});
    TestApi::with_book(&book.to_string()).await
}

/// A completed run for `date`; its id and its documents' ids in numbering order.
async fn completed_run(api: &TestApi, date: &str) -> (String, Vec<String>) {
    let r = api
        .post(
            "/v1/invoice-runs",
            &json!({ "targetDate": date }).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let run = r.body["id"].as_str().unwrap().to_string();
    api.work().await;
    let docs = api
        .get(&format!("/v1/invoice-runs/{run}/invoices?limit=1000"))
        .await;
    let ids: Vec<String> = docs.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect();
    (run, ids)
}

async fn statuses(api: &TestApi, run: &str) -> Vec<String> {
    let docs = api
        .get(&format!("/v1/invoice-runs/{run}/invoices?limit=1000"))
        .await;
    docs.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["status"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_selection_is_approved_and_posted_and_the_last_post_posts_the_run() {
    let api = api().await;
    let (run, ids) = completed_run(&api, "2024-02-01").await;
    assert_eq!(ids.len(), 5, "{ids:?}");
    let n = ids.len();

    // One invoice approved, twice (the second changes nothing); another by the run.
    for _ in 0..2 {
        let r = api
            .post(&format!("/v1/invoices/{}/approve", ids[0]), "")
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body["status"], "Approved");
    }
    let r = api
        .post(
            &format!("/v1/invoice-runs/{run}/approve"),
            &json!({"invoiceIds": [ids[1]]}).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let mut expected = vec!["Draft".to_string(); n];
    expected[0] = "Approved".into();
    expected[1] = "Approved".into();
    assert_eq!(statuses(&api, &run).await, expected);

    // The Approved ones posted: the run is partially posted and cannot be canceled.
    let r = api
        .post(
            &format!("/v1/invoice-runs/{run}/post"),
            &json!({"onlyApproved": true}).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["status"], "Completed");
    assert_eq!(r.body["partiallyPosted"], true);
    expected[0] = "Posted".into();
    expected[1] = "Posted".into();
    assert_eq!(statuses(&api, &run).await, expected);
    let before = api.store.digest();
    let r = api
        .post(&format!("/v1/invoice-runs/{run}/cancel"), "")
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(r.body["code"], "run_partially_posted");
    assert_eq!(api.store.digest(), before, "nothing written");

    // A posted invoice is not approved again, by name: refused at its field.
    let r = api
        .post(
            &format!("/v1/invoice-runs/{run}/approve"),
            &json!({"invoiceIds": [ids[2], ids[0]]}).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(
        (&r.body["code"], &r.body["field"]),
        (&json!("status_locked"), &json!("invoiceIds[1]"))
    );
    assert_eq!(statuses(&api, &run).await, expected, "nothing approved");
    // One invoice posted alone.
    let r = api.post(&format!("/v1/invoices/{}/post", ids[2]), "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["status"], "Posted");

    // The rest by name: the run is Posted, once, with its event.
    let rest: Vec<&String> = ids[3..].iter().collect();
    let body = if rest.is_empty() {
        json!({"onlyApproved": true})
    } else {
        json!({ "invoiceIds": rest })
    };
    let r = api
        .post(&format!("/v1/invoice-runs/{run}/post"), &body.to_string())
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    if rest.is_empty() {
        // Nothing was Approved: the run stays as it was until posted whole.
        let r = api.post(&format!("/v1/invoice-runs/{run}/post"), "").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
    let shown = api.get(&format!("/v1/invoice-runs/{run}")).await;
    assert_eq!(shown.body["status"], "Posted", "{}", shown.text);
    assert_eq!(shown.body["partiallyPosted"], false);
    assert!(statuses(&api, &run).await.iter().all(|s| s == "Posted"));
    let events = api.get(&format!("/v1/invoice-runs/{run}/events")).await;
    let posted = events.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "run.posted")
        .count();
    assert_eq!(posted, 1);
}

#[tokio::test]
async fn bad_selections_are_refused_at_their_field_and_write_nothing() {
    let api = api().await;
    let (run, ids) = completed_run(&api, "2024-02-01").await;
    let (other, other_ids) = completed_run(&api, "2024-03-01").await;
    assert_ne!(run, other);
    let before = api.store.digest();
    let cases: Vec<(&str, Value, StatusCode, &str)> = vec![
        (
            "approve",
            json!({"invoiceIds": []}),
            StatusCode::BAD_REQUEST,
            "invoiceIds",
        ),
        (
            "approve",
            json!({"invoiceIds": ["nope"]}),
            StatusCode::BAD_REQUEST,
            "invoiceIds[0]",
        ),
        (
            "approve",
            json!({"invoiceIds": [ids[0], other_ids[0]]}),
            StatusCode::BAD_REQUEST,
            "invoiceIds[1]",
        ),
        (
            "post",
            json!({"invoiceIds": [uuid::Uuid::new_v4()]}),
            StatusCode::BAD_REQUEST,
            "invoiceIds[0]",
        ),
        (
            "post",
            json!({"invoiceIds": [ids[0]], "onlyApproved": true}),
            StatusCode::BAD_REQUEST,
            "onlyApproved",
        ),
        (
            "approve",
            json!({"onlyApproved": true}),
            StatusCode::BAD_REQUEST,
            "onlyApproved",
        ),
        (
            "post",
            json!({"everything": true}),
            StatusCode::BAD_REQUEST,
            "everything",
        ),
    ];
    for (action, body, status, field) in cases {
        let r = api
            .post(
                &format!("/v1/invoice-runs/{run}/{action}"),
                &body.to_string(),
            )
            .await;
        assert_eq!(r.status, status, "{action} {body}: {}", r.text);
        assert_eq!(r.body["field"], field, "{action} {body}: {}", r.text);
    }
    assert_eq!(api.store.digest(), before, "nothing written");

    // A canceled document is neither approved nor posted by name.
    let r = api
        .post(&format!("/v1/invoice-runs/{other}/cancel"), "")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = api
        .post(&format!("/v1/invoices/{}/approve", other_ids[0]), "")
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    // A run not completed yet: nothing to approve.
    let r = api
        .post(
            "/v1/invoice-runs",
            &json!({"targetDate": "2024-03-01", "runType": "Manual"}).to_string(),
        )
        .await;
    let pending = r.body["id"].as_str().unwrap().to_string();
    let r = api
        .post(&format!("/v1/invoice-runs/{pending}/approve"), "")
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.body["code"], "run_not_completed");
    let r = api
        .post(&format!("/v1/invoices/{}/post", uuid::Uuid::new_v4()), "")
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
