//! Payments of posted invoices through the API: recorded once per `Idempotency-Key`,
//! never above the balance, each invoice's `amountPaid`, `balance` and `paymentStatus`
//! in every document view.

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::{Method, StatusCode};
use common::TestApi;
use serde_json::{json, Value};

/// A-1 is billed 100.00 (two months of 50.00, in advance); B-2 gets a credit of 15.00 (a credit memo).
fn book() -> String {
    json!({
        "accounts": [
            {"id": "A-1", "name": "Customer A", "currency": "USD", "billCycleDay": 1},
            {"id": "B-2", "name": "Customer B", "currency": "USD", "billCycleDay": 1}
        ],
        "subscriptions": [
            {"id": "S-1", "accountId": "A-1", "productId": "P", "startDate": "2024-01-01",
             "charges": [{"id": "C-1", "type": "Recurring", "price": "50.00",
                          "billingPeriod": "Month"}]}
        ],
        "adjustments": [
            {"id": "ADJ-1", "accountId": "B-2", "amount": "-15.00", "date": "2024-01-20",
             "description": "Goodwill credit"}
        ]
    })
    .to_string()
}

/// The run's documents after a run posted (`autoPost`) or not.
async fn documents(api: &TestApi, post: bool) -> Vec<Value> {
    let body = json!({"targetDate": "2024-02-01", "autoPost": post}).to_string();
    let r = api.post("/v1/invoice-runs", &body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    api.work().await;
    let run = r.body["id"].as_str().unwrap();
    let r = api.get(&format!("/v1/invoice-runs/{run}/invoices")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body["items"].as_array().unwrap().clone()
}

/// The invoice `id` as seed 000 lists the run's invoices.
async fn seed_invoice(api: &TestApi, run: &str, id: &str) -> Value {
    let r = api
        .get(&format!("/api/billing/v1/request-results/{run}/invoices"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["Id"] == id)
        .unwrap()
        .clone()
}

fn of<'a>(docs: &'a [Value], account: &str) -> &'a Value {
    docs.iter().find(|d| d["accountId"] == account).unwrap()
}

async fn pay(api: &TestApi, invoice: &str, body: Value, key: Option<&str>) -> common::Reply {
    let headers: Vec<(&str, &str)> = key.map(|k| ("idempotency-key", k)).into_iter().collect();
    api.call(
        Method::POST,
        &format!("/v1/invoices/{invoice}/payments"),
        Some(&body.to_string()),
        &headers,
    )
    .await
}

#[tokio::test]
async fn payments_settle_a_posted_invoice_once_each_and_never_beyond_its_total() {
    let api = TestApi::with_book(&book()).await;
    let docs = documents(&api, true).await;
    let invoice = of(&docs, "A-1");
    assert_eq!(invoice["totals"]["total"], "100.00", "{invoice}");
    assert_eq!(
        (
            &invoice["amountPaid"],
            &invoice["balance"],
            &invoice["paymentStatus"]
        ),
        (&json!("0.00"), &json!("100.00"), &json!("Unpaid"))
    );
    let id = invoice["id"].as_str().unwrap();
    let run = invoice["runId"].as_str().unwrap();
    // Seed 000's due counters: the unpaid invoice is past due (dated 2024).
    let before = seed_invoice(&api, run, id).await;
    assert!(before["DuePastBy"].as_i64().unwrap() > 0, "{before}");

    let first = json!({"amount": "30", "date": "2024-02-10", "reference": "wire 1"});
    let r = pay(&api, id, first.clone(), Some("pay-1")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["payment"]["amount"], "30.00", "kept to the cent");
    assert_eq!(
        (
            &r.body["amountPaid"],
            &r.body["balance"],
            &r.body["paymentStatus"]
        ),
        (&json!("30.00"), &json!("70.00"), &json!("PartiallyPaid"))
    );
    let payment_id = r.body["payment"]["id"].clone();
    // The same request under its key: the same payment, nothing added.
    let r = pay(&api, id, first, Some("pay-1")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["payment"]["id"], payment_id);
    assert_eq!(r.body["amountPaid"], "30.00");
    // Another request under the key.
    let r = pay(
        &api,
        id,
        json!({"amount": "31.00", "date": "2024-02-10", "reference": "wire 1"}),
        Some("pay-1"),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(r.body["code"], "idempotency_key_reused");
    // Above the balance: refused at its field, nothing recorded.
    let r = pay(&api, id, json!({"amount": "70.01"}), None).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(
        (&r.body["code"], &r.body["field"]),
        (&json!("overpayment"), &json!("amount"))
    );
    assert!(
        r.body["message"].as_str().unwrap().contains("70.00"),
        "{}",
        r.text
    );
    // The rest: Paid.
    let r = pay(
        &api,
        id,
        json!({"amount": "70.00", "date": "2024-02-20"}),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(
        (&r.body["balance"], &r.body["paymentStatus"]),
        (&json!("0.00"), &json!("Paid"))
    );
    let r = api.get(&format!("/v1/invoices/{id}/payments")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let amounts: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["amount"].as_str().unwrap())
        .collect();
    assert_eq!(amounts, ["30.00", "70.00"], "oldest first");
    assert_eq!(r.body["paymentStatus"], "Paid");
    let shown = api.get(&format!("/v1/invoices/{id}")).await;
    assert_eq!(
        (&shown.body["amountPaid"], &shown.body["paymentStatus"]),
        (&json!("100.00"), &json!("Paid"))
    );
    // Paid: neither due in nor past due.
    let after = seed_invoice(&api, run, id).await;
    assert!(
        after["DuePastBy"].is_null() && after["DueIn"].is_null(),
        "{after}"
    );
    // Nothing more fits.
    let r = pay(&api, id, json!({"amount": "0.01"}), None).await;
    assert_eq!(r.body["code"], "overpayment", "{}", r.text);

    // A credit memo is applied, not paid: no settlement, and refused.
    let memo = of(&docs, "B-2");
    assert_eq!(memo["kind"], "CreditMemo");
    assert!(memo["paymentStatus"].is_null() && memo["amountPaid"].is_null());
    let r = pay(
        &api,
        memo["id"].as_str().unwrap(),
        json!({"amount": "1.00"}),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(r.body["code"], "document_not_payable");
}

#[tokio::test]
async fn bad_payments_are_refused_at_their_field_and_draft_invoices_take_none() {
    let api = TestApi::with_book(&book()).await;
    let docs = documents(&api, false).await;
    let draft = of(&docs, "A-1")["id"].as_str().unwrap().to_string();
    let r = pay(&api, &draft, json!({"amount": "10.00"}), None).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(r.body["code"], "document_not_payable");

    let api = TestApi::with_book(&book()).await;
    let docs = documents(&api, true).await;
    let id = of(&docs, "A-1")["id"].as_str().unwrap().to_string();
    for (body, field) in [
        (json!({"amount": "1.001"}), "amount"),
        (json!({"amount": "-5.00"}), "amount"),
        (json!({"amount": "0"}), "amount"),
        (json!({"amount": "ten"}), "amount"),
        (json!({"amount": "5.00", "date": "2024-02-30"}), "date"),
        (
            json!({"amount": "5.00", "reference": "a\r\nBcc: x"}),
            "reference",
        ),
        (
            json!({"amount": "5.00", "reference": "r".repeat(101)}),
            "reference",
        ),
        (json!({"amount": "5.00", "surprise": true}), "surprise"),
        (json!({}), "amount"),
    ] {
        let r = pay(&api, &id, body.clone(), None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text);
        assert_eq!(r.body["field"], field, "{body}: {}", r.text);
    }
    let r = api.get(&format!("/v1/invoices/{id}/payments")).await;
    assert_eq!(r.body["items"], json!([]), "nothing recorded");
    let r = pay(
        &api,
        &uuid::Uuid::new_v4().to_string(),
        json!({"amount": "1.00"}),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
}
