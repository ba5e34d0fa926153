//! The canonical `/v1` API over the in-memory adapters (README "The HTTP API",
//! docs/book-format.md "API conventions"); the compatibility endpoints are in compat.rs.

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::{Method, StatusCode};
use common::{TestApi, BOOK};
use serde_json::{json, Value};

const REQUEST: &str = include_str!("../../../infra/local/tests/fixtures/run-request.json");

#[tokio::test]
async fn health_says_ok() {
    let api = TestApi::new();
    let r = api.get("/v1/health").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["status"], "ok");
}

#[tokio::test]
async fn a_run_is_created_polled_and_its_invoices_listed_as_in_the_readme() {
    let api = TestApi::with_book(BOOK).await;
    let created = api
        .call(
            Method::POST,
            "/v1/invoice-runs",
            Some(REQUEST),
            &[("Idempotency-Key", "feb-2024")],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let id = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        created.headers["location"].to_str().unwrap(),
        format!("/v1/invoice-runs/{id}")
    );
    assert_eq!(created.body["number"], "BR-00000001");
    assert_eq!(
        created.body["status"], "Processing",
        "an Immediate run starts"
    );

    // The same key and body: 200 with the same run; another body: 409.
    let replay = api
        .call(
            Method::POST,
            "/v1/invoice-runs",
            Some(REQUEST),
            &[("Idempotency-Key", "feb-2024")],
        )
        .await;
    assert_eq!(replay.status, StatusCode::OK);
    assert_eq!(replay.body["id"], id.as_str());
    let other = api
        .call(
            Method::POST,
            "/v1/invoice-runs",
            Some(r#"{"targetDate": "2024-03-01"}"#),
            &[("Idempotency-Key", "feb-2024")],
        )
        .await;
    assert_eq!(other.status, StatusCode::CONFLICT);
    assert_eq!(other.body["code"], "idempotency_key_reused");

    api.work().await;
    let run = api.get(&format!("/v1/invoice-runs/{id}")).await;
    assert_eq!(run.status, StatusCode::OK);
    assert_eq!(run.body["status"], "Completed");
    let c = &run.body["counters"];
    assert_eq!(c["accountsSelected"], 1);
    assert_eq!(c["billed"], 1);
    assert_eq!(c["invoices"], 1);
    assert_eq!(
        c["amounts"],
        json!([{"currency": "USD", "invoiced": "265.04", "credited": "0.00"}])
    );

    let list = api.get(&format!("/v1/invoice-runs/{id}/invoices")).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body["nextCursor"], Value::Null);
    let docs = list.body["items"].as_array().unwrap();
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0]["number"], "INV-000000001");
    assert_eq!(docs[0]["totals"]["total"], "265.04");
    assert_eq!(docs[0]["totals"]["tax"], "20.20");
    let doc_id = docs[0]["id"].as_str().unwrap();
    let doc = api.get(&format!("/v1/invoices/{doc_id}")).await;
    assert_eq!(doc.status, StatusCode::OK);
    assert_eq!(doc.body["lines"].as_array().unwrap().len(), 5);
    assert_eq!(doc.body["lines"][0]["amount"], "54.84");

    let credit_memos = api
        .get(&format!("/v1/invoice-runs/{id}/invoices?kind=CreditMemo"))
        .await;
    assert_eq!(credit_memos.body["items"], json!([]));
    let billed = api
        .get(&format!("/v1/invoice-runs/{id}/accounts?outcome=Billed"))
        .await;
    assert_eq!(
        billed.body["items"],
        json!([{"accountId": "A-1001", "outcome": "Billed", "documentNumbers": ["INV-000000001"], "reason": null}])
    );
    let failed = api
        .get(&format!("/v1/invoice-runs/{id}/accounts?outcome=Failed"))
        .await;
    assert_eq!(failed.body["items"], json!([]));

    // Post, then cancel is refused.
    let posted = api.post(&format!("/v1/invoice-runs/{id}/post"), "").await;
    assert_eq!(posted.status, StatusCode::OK);
    assert_eq!(posted.body["status"], "Posted");
    let cancel = api.post(&format!("/v1/invoice-runs/{id}/cancel"), "").await;
    assert_eq!(cancel.status, StatusCode::CONFLICT);
    assert_eq!(cancel.body["code"], "run_posted");
}

#[tokio::test]
async fn a_canceled_run_is_deleted_with_204_and_then_not_found_and_a_posted_one_is_refused() {
    let api = TestApi::new();
    assert_eq!(api.post("/v1/import", BOOK).await.status, StatusCode::OK);
    let create = |target: &'static str| {
        let api = &api;
        async move {
            let r = api
                .post(
                    "/v1/invoice-runs",
                    &format!(r#"{{"targetDate": "{target}"}}"#),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
            api.work().await;
            r.body["id"].as_str().unwrap().to_string()
        }
    };
    let posted = create("2024-02-01").await;
    assert_eq!(
        api.post(&format!("/v1/invoice-runs/{posted}/post"), "")
            .await
            .status,
        StatusCode::OK
    );
    let r = api.delete(&format!("/v1/invoice-runs/{posted}")).await;
    assert_eq!(
        (r.status, r.body["code"].clone()),
        (StatusCode::CONFLICT, json!("run_not_canceled"))
    );
    let canceled = create("2024-03-01").await;
    assert_eq!(
        api.post(&format!("/v1/invoice-runs/{canceled}/cancel"), "")
            .await
            .status,
        StatusCode::OK
    );
    let r = api.delete(&format!("/v1/invoice-runs/{canceled}")).await;
    assert_eq!((r.status, r.text.as_str()), (StatusCode::NO_CONTENT, ""));
    for r in [
        api.get(&format!("/v1/invoice-runs/{canceled}")).await,
        api.delete(&format!("/v1/invoice-runs/{canceled}")).await,
        api.post(&format!("/v1/invoice-runs/{canceled}/post"), "")
            .await,
    ] {
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    }
    let r = api.delete("/v1/invoice-runs/not-a-uuid").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let list = api.get("/v1/invoice-runs").await.body;
    let ids: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![posted.as_str()]);
}

#[tokio::test]
async fn invalid_input_is_a_400_naming_the_field_and_writes_nothing() {
    let api = TestApi::new();
    let bad_book = BOOK.replace("\"USD\"", "\"USX\"");
    let r = api.post("/v1/import", &bad_book).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["code"], "validation_failed");
    assert_eq!(r.body["field"], "accounts[0].currency");
    let r = api
        .post(
            "/v1/invoice-runs",
            r#"{"targetDate": "2024-02-01", "grouping": "Planet"}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["field"], "grouping");
    let r = api.post("/v1/invoice-runs", "{not json").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = api.get("/v1/invoice-runs?limit=0").await;
    assert_eq!(
        (r.status, r.body["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("limit"))
    );
    let r = api.get("/v1/invoice-runs?colour=red").await;
    assert_eq!(r.body["field"], "colour");
    let r = api.get("/v1/invoice-runs?cursor=bogus").await;
    assert_eq!(r.body["field"], "cursor");
    let r = api.get("/v1/invoice-runs?status=Done").await;
    assert_eq!(r.body["field"], "status");
    let r = api.get("/v1/invoice-runs/not-a-uuid").await;
    assert_eq!(
        (r.status, r.body["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("id"))
    );
    assert_eq!(api.store.digest(), TestApi::new().store.digest());
}

#[tokio::test]
async fn unknown_things_are_404_and_state_conflicts_409() {
    let api = TestApi::with_book(BOOK).await;
    let r = api
        .get("/v1/invoice-runs/00000000-0000-4000-8000-000000000000")
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body["code"], "not_found");
    assert_eq!(
        api.get("/v1/accounts/A-404").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.get("/v1/no-such-route").await.status,
        StatusCode::NOT_FOUND
    );
    let manual = api
        .post(
            "/v1/invoice-runs",
            r#"{"targetDate": "2024-02-01", "runType": "Manual"}"#,
        )
        .await;
    let id = manual.body["id"].as_str().unwrap().to_string();
    assert_eq!(manual.body["status"], "Pending");
    let r = api.post(&format!("/v1/invoice-runs/{id}/post"), "").await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.body["code"], "run_not_completed");
    let r = api
        .post(&format!("/v1/invoice-runs/{id}/retry-failed"), "")
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn wrong_content_type_is_415_and_an_oversized_body_413() {
    let api = TestApi::new();
    let r = api
        .call(
            Method::POST,
            "/v1/import",
            None,
            &[("content-type", "text/csv")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(r.body["code"], "unsupported_media_type");
    let r = api.call(Method::POST, "/v1/usage", None, &[]).await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // 1 MiB on the other routes, 5 MB on the import.
    let big = format!(r#"{{"usage": [], "x": "{}"}}"#, "a".repeat(1 << 20));
    let r = api.post("/v1/usage", &big).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.body["code"], "payload_too_large");
    let big = format!(r#"{{"accounts": [], "x": "{}"}}"#, "a".repeat(5_000_000));
    let r = api.post("/v1/import", &big).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    // Just under 5 MB reaches the parser (and fails on the unknown key).
    let under = format!(r#"{{"accounts": [], "x": "{}"}}"#, "a".repeat(4_000_000));
    let r = api.post("/v1/import", &under).await;
    assert_eq!(
        (r.status, r.body["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("x"))
    );
}

#[tokio::test]
async fn a_pending_run_changes_freely_and_its_dates_lock_once_it_starts() {
    let api = TestApi::with_book(BOOK).await;
    let r = api
        .post(
            "/v1/invoice-runs",
            r#"{"targetDate": "2024-02-01", "runType": "Manual"}"#,
        )
        .await;
    let id = r.body["id"].as_str().unwrap().to_string();
    let uri = format!("/v1/invoice-runs/{id}");
    let r = api
        .patch(&uri, r#"{"dueDate": "2024-03-15", "invoiceDate": "2024-02-02", "filters": {"batches": ["Batch1"]}}"#)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["request"]["dueDate"], "2024-03-15");
    assert_eq!(r.body["request"]["filters"]["batches"], json!(["Batch1"]));
    assert_eq!(r.body["request"]["filters"]["currencies"], json!([]));
    let r = api.patch(&uri, r#"{"dueDate": "2024-01-01"}"#).await;
    assert_eq!(
        (r.status, r.body["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("dueDate"))
    );
    let r = api
        .patch(&uri, r#"{"dueDate": "2024-03-20", "runType": "Immediate"}"#)
        .await;
    assert_eq!(
        (r.status, r.body["field"].clone()),
        (StatusCode::CONFLICT, json!("runType"))
    );
    let r = api.patch(&uri, r#"{"bogus": 1}"#).await;
    assert_eq!(
        (r.status, r.body["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("bogus"))
    );
    let r = api.post(&format!("{uri}/start"), "").await;
    assert_eq!(r.body["status"], "Processing");
    api.work().await;
    let r = api.patch(&uri, r#"{"targetDate": "2024-03-01"}"#).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.body["code"], "field_locked");
    assert_eq!(r.body["field"], "targetDate");
    // A name change does not carry another field along.
    let r = api
        .patch(&uri, r#"{"name": "Renamed", "grouping": "Subscription"}"#)
        .await;
    assert_eq!(
        (r.status, r.body["field"].clone()),
        (StatusCode::CONFLICT, json!("grouping"))
    );
    // The same value is no change; the name may still change.
    let r = api
        .patch(&uri, r#"{"targetDate": "2024-02-01", "name": "Renamed"}"#)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["name"], "Renamed");
    let doc = api.get(&format!("{uri}/invoices")).await;
    assert_eq!(doc.body["items"][0]["dueDate"], "2024-03-15");
    assert_eq!(doc.body["items"][0]["invoiceDate"], "2024-02-02");
}

#[tokio::test]
async fn reference_data_round_trips_entity_by_entity() {
    let api = TestApi::new();
    let account = |id: &str, batch: &str| {
        json!({"id": id, "name": format!("Customer {id}"), "currency": "USD", "billCycleDay": 1, "batch": batch}).to_string()
    };
    let r = api.put("/v1/accounts/A-1", &account("A-1", "B1")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = api.put("/v1/accounts/A-1", &account("A-1", "B1")).await;
    assert_eq!(r.status, StatusCode::OK);
    for i in 2..=5 {
        let id = format!("A-{i}");
        let batch = if i % 2 == 0 { "B2" } else { "B1" };
        api.put(&format!("/v1/accounts/{id}"), &account(&id, batch))
            .await;
    }
    let r = api.put("/v1/accounts/A-9", &account("A-1", "B1")).await;
    assert_eq!(
        (r.status, r.body["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("id"))
    );
    let r = api
        .put(
            "/v1/accounts/A-9",
            r#"{"id": "A-9", "name": "x", "currency": "USD", "billCycleDay": 40}"#,
        )
        .await;
    assert_eq!(r.body["field"], "billCycleDay");
    assert_eq!(api.get("/v1/accounts/A-3").await.body["batch"], "B1");

    // Accounts of batch B1 two at a time: A-1, A-3 | A-5.
    let p1 = api.get("/v1/accounts?batch=B1&limit=2").await;
    let ids = |r: &common::Reply| -> Vec<String> {
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&p1), ["A-1", "A-3"]);
    let cursor = p1.body["nextCursor"].as_str().unwrap();
    let p2 = api
        .get(&format!("/v1/accounts?batch=B1&limit=2&cursor={cursor}"))
        .await;
    assert_eq!(ids(&p2), ["A-5"]);
    assert_eq!(p2.body["nextCursor"], Value::Null);

    let sub = json!({"id": "S-1", "accountId": "A-1", "productId": "P", "startDate": "2024-01-01",
        "charges": [{"id": "C-1", "type": "Recurring", "price": "10.00", "billingPeriod": "Month"},
                    {"id": "C-U", "type": "Usage", "unitPrice": "0.50"}]});
    let r = api.put("/v1/subscriptions/S-1", &sub.to_string()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(
        api.get("/v1/subscriptions/S-1").await.body["charges"][1]["id"],
        "C-U"
    );
    let mut moved = sub.clone();
    moved["accountId"] = json!("A-2");
    let r = api.put("/v1/subscriptions/S-1", &moved.to_string()).await;
    assert_eq!(
        (r.status, r.body["field"].clone()),
        (StatusCode::CONFLICT, json!("accountId"))
    );
    let mut bad = sub.clone();
    bad["charges"][0]["price"] = json!(10);
    let r = api.put("/v1/subscriptions/S-1", &bad.to_string()).await;
    assert_eq!(r.body["field"], "charges[0].price");
    // A term is stored and read back; a bad one is refused at its path.
    let mut termed = sub.clone();
    termed["term"] = json!({"endDate": "2025-01-01", "autoRenew": true, "renewalMonths": 12});
    let r = api.put("/v1/subscriptions/S-1", &termed.to_string()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        api.get("/v1/subscriptions/S-1").await.body["term"],
        termed["term"]
    );
    termed["term"]["renewalMonths"] = json!(0);
    let r = api.put("/v1/subscriptions/S-1", &termed.to_string()).await;
    assert_eq!(
        (r.status, r.body["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("term.renewalMonths"))
    );

    let usage = r#"{"usage": [{"id": "U-1", "accountId": "A-1", "chargeId": "C-U", "date": "2024-01-05", "quantity": "4"}]}"#;
    let r = api.post("/v1/usage", usage).await;
    assert_eq!(
        r.body,
        json!({"received": 1, "stored": 1, "alreadyStored": 0})
    );
    let r = api
        .post("/v1/usage", &usage.replace("\"4\"", "\"40\""))
        .await;
    assert_eq!(
        r.body,
        json!({"received": 1, "stored": 0, "alreadyStored": 1})
    );
    let r = api
        .post(
            "/v1/usage",
            &usage.replace("C-U", "C-1").replace("U-1", "U-2"),
        )
        .await;
    assert_eq!(
        (r.status, r.body["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("usage[0].chargeId"))
    );
    let r = api
        .post("/v1/adjustments", r#"{"adjustments": [{"id": "J-1", "accountId": "A-1", "date": "2024-01-10", "amount": "-1.005"}]}"#)
        .await;
    assert_eq!(r.body["field"], "adjustments[0].amount");
    let r = api
        .post("/v1/adjustments", r#"{"adjustments": [{"id": "J-1", "accountId": "A-1", "date": "2024-01-10", "amount": "-1.00"}]}"#)
        .await;
    assert_eq!(r.status, StatusCode::OK);

    let schedule = json!({"id": "IS-1", "accountId": "A-1", "subscriptionIds": ["S-1"],
        "items": [{"id": "I-1", "invoiceDate": "2024-02-01", "amount": "100.00"}]});
    let r = api
        .put("/v1/invoice-schedules/IS-1", &schedule.to_string())
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = api.get("/v1/invoice-schedules/IS-1").await;
    assert_eq!(r.body["items"][0]["status"], "Pending");
    assert_eq!(r.body["processed"], json!([]));
    let mut other = schedule.clone();
    other["id"] = json!("IS-2");
    let r = api
        .put("/v1/invoice-schedules/IS-2", &other.to_string())
        .await;
    assert_eq!(
        (r.status, r.body["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("subscriptionIds[0]"))
    );

    let r = api
        .put(
            "/v1/document-templates/T-1",
            r#"{"name": "Standard", "content": "<html/>"}"#,
        )
        .await;
    assert_eq!(
        (r.status, r.body["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("content"))
    );
    let r = api
        .put(
            "/v1/document-templates/T-1",
            r#"{"name": "Standard", "content": {"companyName": "Northwind", "accentColor": "blue"}}"#,
        )
        .await;
    assert_eq!(
        (r.status, r.body["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("content.accentColor"))
    );
    let r = api
        .put(
            "/v1/document-templates/T-1",
            r#"{"name": "Standard", "content": {"companyName": "Northwind", "locale": "en-US"}}"#,
        )
        .await;
    assert_eq!(
        (r.status, r.body["active"].clone()),
        (StatusCode::OK, json!(false))
    );
    let r = api.post("/v1/document-templates/T-1/activate", "").await;
    assert_eq!(
        (r.status, r.body["active"].clone()),
        (StatusCode::OK, json!(true))
    );
    let r = api.post("/v1/document-templates/T-9/activate", "").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // The scheduled subscription's recurring charge is billed by the schedule only;
    // its usage and the adjustment by the run.
    let r = api
        .post(
            "/v1/invoice-runs",
            r#"{"targetDate": "2024-02-01", "filters": {"accountIds": ["A-1"]}}"#,
        )
        .await;
    let id = r.body["id"].as_str().unwrap().to_string();
    api.work().await;
    let docs = api.get(&format!("/v1/invoice-runs/{id}/invoices")).await;
    let types: Vec<&str> = docs.body["items"][0]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["Usage", "Adjustment"]);
}

#[tokio::test]
async fn invoice_schedules_are_listed_in_id_order_a_page_at_a_time() {
    let api = TestApi::new();
    let subscriptions: Vec<Value> = ["S-1", "S-2"]
        .iter()
        .map(|s| {
            json!({"id": s, "accountId": "A-1", "productId": "P", "startDate": "2024-01-01",
                "charges": [{"id": format!("C-{s}"), "type": "Recurring", "price": "9.00",
                    "billingPeriod": "Month"}]})
        })
        .collect();
    let book = json!({
        "accounts": [{"id": "A-1", "name": "One", "currency": "USD", "billCycleDay": 1}],
        "subscriptions": subscriptions,
        "invoiceSchedules": [{"id": "IS-b", "accountId": "A-1", "subscriptionIds": ["S-1"],
            "items": [{"id": "I-1", "invoiceDate": "2024-02-01", "amount": "100.00"}]}]});
    let r = api.post("/v1/import", &book.to_string()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let put = json!({"id": "IS-a", "accountId": "A-1", "subscriptionIds": ["S-2"],
        "items": [{"id": "I-1", "invoiceDate": "2024-03-01", "amount": "250.00"}]});
    let r = api
        .put("/v1/invoice-schedules/IS-a", &put.to_string())
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);

    let first = api.get("/v1/invoice-schedules?limit=1").await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(first.body["items"][0]["id"], "IS-a");
    assert_eq!(first.body["items"][0]["items"][0]["amount"], "250.00");
    let cursor = first.body["nextCursor"].as_str().unwrap();
    let second = api
        .get(&format!("/v1/invoice-schedules?limit=1&cursor={cursor}"))
        .await;
    assert_eq!(second.body["items"][0]["id"], "IS-b");
    assert_eq!(second.body["items"][0]["accountId"], "A-1");
    let all = api.get("/v1/invoice-schedules").await;
    assert_eq!(all.body["items"].as_array().unwrap().len(), 2);
    assert!(all.body["nextCursor"].is_null());
    let bad = api.get("/v1/invoice-schedules?cursor=eyJ4IjoxfQ").await;
    assert_eq!(
        (bad.status, bad.body["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("cursor"))
    );
}

#[tokio::test]
async fn create_only_puts_of_a_template_and_an_invoice_schedule_refuse_a_taken_id_at_the_id() {
    let api = TestApi::new();
    assert_eq!(api.post("/v1/import", BOOK).await.status, StatusCode::OK);
    let create = |uri: &'static str, body: String| {
        let api = &api;
        async move {
            api.call(
                Method::PUT,
                uri,
                Some(&body),
                &[("content-type", "application/json"), ("if-none-match", "*")],
            )
            .await
        }
    };
    let template =
        |name: &str| json!({"name": name, "content": {"companyName": "Northwind"}}).to_string();
    let made = create("/v1/document-templates/T-1", template("First")).await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.text);
    let taken = create("/v1/document-templates/T-1", template("Second")).await;
    assert_eq!(taken.status, StatusCode::CONFLICT, "{}", taken.text);
    assert_eq!(
        (&taken.body["code"], &taken.body["field"]),
        (&json!("template_exists"), &json!("id"))
    );
    let stored = api.get("/v1/document-templates/T-1").await;
    assert_eq!(stored.body["name"], "First");
    // Without the header a PUT still replaces.
    let replaced = api
        .put("/v1/document-templates/T-1", &template("Third"))
        .await;
    assert_eq!(replaced.body["name"], "Third");

    let schedule = |amount: &str| {
        json!({"id": "IS-1", "accountId": "A-1001", "subscriptionIds": ["S-1"],
            "items": [{"id": "I-1", "invoiceDate": "2024-02-01", "amount": amount}]})
        .to_string()
    };
    let made = create("/v1/invoice-schedules/IS-1", schedule("100.00")).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let taken = create("/v1/invoice-schedules/IS-1", schedule("200.00")).await;
    assert_eq!(taken.status, StatusCode::CONFLICT, "{}", taken.text);
    assert_eq!(
        (&taken.body["code"], &taken.body["field"]),
        (&json!("invoice_schedule_exists"), &json!("id"))
    );
    let stored = api.get("/v1/invoice-schedules/IS-1").await;
    assert_eq!(stored.body["items"][0]["amount"], "100.00");
    let odd = api
        .call(
            Method::PUT,
            "/v1/invoice-schedules/IS-2",
            Some(&schedule("1.00")),
            &[
                ("content-type", "application/json"),
                ("if-none-match", "\"v1\""),
            ],
        )
        .await;
    assert_eq!(odd.body["field"], "If-None-Match", "{}", odd.text);
}

#[tokio::test]
async fn template_creates_racing_for_one_id_make_one_template() {
    let api = TestApi::new();
    let templates = api.app.templates();
    let body = json!({"name": "Race", "content": {"companyName": "Northwind"}}).to_string();
    let tries = (0..8).map(|_| templates.create_template("T-race", body.as_bytes()));
    let results = futures_util::future::join_all(tries).await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert!(results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .all(|e| matches!(
            e,
            billrun_app::AppError::Conflict {
                code: billrun_app::ConflictCode::TemplateExists,
                ..
            }
        )));
}

#[tokio::test]
async fn invoice_schedule_creates_racing_for_one_id_make_one_schedule() {
    let api = TestApi::new();
    assert_eq!(api.post("/v1/import", BOOK).await.status, StatusCode::OK);
    let reference = api.app.reference();
    let body = json!({"id": "IS-race", "accountId": "A-1001", "subscriptionIds": ["S-1"],
        "items": [{"id": "I-1", "invoiceDate": "2027-01-01", "amount": "1.00"}]})
    .to_string();
    let tries = (0..8).map(|_| reference.create_schedule("IS-race", body.as_bytes()));
    let results = futures_util::future::join_all(tries).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    assert!(results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .all(|e| matches!(
            e,
            billrun_app::AppError::Conflict {
                code: billrun_app::ConflictCode::InvoiceScheduleExists,
                ..
            }
        )));
}
