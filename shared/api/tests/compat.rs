//! The compatibility endpoints of seeds 000, 002, 003 and 004: the example requests
//! sent verbatim (002, 004) or built from the field lists with the seeds' example values
//! (000, 003), response shapes asserted field by field, and the compatibility views
//! compared with the canonical run and documents once the run has completed. Seed 001's
//! single-input example is in documents.rs; its several inputs are here.

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::{Method, StatusCode};
use common::{json_after, keys, seed_document, seed_fixture, TestApi};
use serde_json::{json, Value};

fn fixture(name: &str) -> Value {
    serde_json::from_str(&seed_fixture(name)).unwrap()
}

/// The example of a seed: read from the seed document when it is beside the
/// repository (and the copy checked against it), else the copy.
fn seed_example(file: &str, after: &str, nth: usize, copy: &str) -> Value {
    let copied = fixture(copy);
    if let Some(text) = seed_document(file) {
        let start = text.find(after).expect("marker in the seed") + after.len();
        let mut rest = &text[start..];
        let mut value = Value::Null;
        for _ in 0..=nth {
            let open = rest.find('{').expect("a JSON object");
            let mut it = serde_json::Deserializer::from_str(&rest[open..]).into_iter::<Value>();
            value = it.next().expect("a value").expect("valid JSON");
            rest = &rest[open + it.byte_offset()..];
        }
        assert_eq!(value, copied, "tests/fixtures/{copy} differs from {file}");
        return value;
    }
    copied
}

fn is_run_number(v: &Value) -> bool {
    let s = v.as_str().unwrap_or_default();
    s.len() == 11 && s.starts_with("BR-") && s[3..].chars().all(|c| c.is_ascii_digit())
}

/// Batch1 customers with a yearly subscription billed through 2023-12-31, some
/// canceling on 2023-07-01 (seed 002's story), and one in another batch.
fn batch_book() -> String {
    let mut accounts = vec![];
    let mut subs = vec![];
    for i in 0..6 {
        let id = format!("Z-{i}");
        accounts.push(
            json!({"id": id, "name": format!("Customer {i}"), "currency": "USD",
            "billCycleDay": 1, "batch": if i < 5 { "Batch1" } else { "Batch2" }, "taxRate": "0.05",
            "paymentTermDays": 30}),
        );
        subs.push(json!({"id": format!("ZS-{i}"), "accountId": id, "productId": "DELIVERY",
            "productName": "Delivery", "startDate": "2023-01-01", "endDate": "2024-01-01",
            "cancellationDate": if i % 2 == 0 { json!("2023-07-01") } else { Value::Null },
            "charges": [
                {"id": format!("ZC-{i}"), "type": "Recurring", "price": "1200.00", "billingPeriod": "Annual", "billedThrough": "2024-01-01"},
                {"id": format!("ZU-{i}"), "type": "Usage", "unitPrice": "1.00"}
            ]}));
    }
    json!({"accounts": accounts, "subscriptions": subs,
        "usage": [{"id": "ZUR-1", "accountId": "Z-1", "chargeId": "ZU-1", "date": "2023-04-01", "quantity": "5"}]})
    .to_string()
}

#[tokio::test]
async fn seed_002_creates_a_bill_run_whose_record_matches_the_canonical_run() {
    let api = TestApi::with_book(&batch_book()).await;
    let request = seed_example(
        "002_0a25a372974bc37c.txt",
        "--data '",
        0,
        "seed-002-request.json",
    );
    let documented = seed_example(
        "002_0a25a372974bc37c.txt",
        "201 Created response:",
        0,
        "seed-002-response.json",
    );
    let r = api.post("/v2/bill_runs", &request.to_string()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let b = &r.body;
    assert_eq!(
        keys(b),
        keys(&documented),
        "the seed's fields, no more, no less"
    );
    for (k, v) in documented.as_object().unwrap() {
        assert_eq!(
            std::mem::discriminant(&b[k]),
            std::mem::discriminant(v),
            "{k} has the seed's JSON type"
        );
    }
    assert!(is_run_number(&b["bill_run_number"]));
    for k in [
        "invoice_date",
        "target_date",
        "batches",
        "charges_excluded",
        "day_of_month",
    ] {
        assert_eq!(b[k], documented[k], "{k}");
    }
    for k in [
        "email",
        "post",
        "renew",
        "email_zero_amount_invoices",
        "invoices_sent",
    ] {
        assert_eq!(b[k], documented[k], "{k}");
    }
    assert_eq!(b["account_id"], "");
    assert_eq!(b["custom_fields"], json!({}));
    let id = b["id"].as_str().unwrap().to_string();

    api.work().await;
    let canonical = api.get(&format!("/v1/invoice-runs/{id}")).await.body;
    let compat = api.get(&format!("/v2/bill_runs/{id}")).await.body;
    let c = &canonical["counters"];
    assert_eq!(compat["state"], "completed");
    assert_eq!(canonical["status"], "Completed");
    assert_eq!(compat["bill_run_number"], canonical["number"]);
    assert_eq!(compat["invoice_date"], canonical["request"]["invoiceDate"]);
    assert_eq!(compat["target_date"], canonical["targetDate"]);
    assert_eq!(compat["accounts_processed"], c["accountsSelected"]);
    assert_eq!(compat["invoices_generated"], c["invoices"]);
    assert_eq!(compat["credit_memos_generated"], c["creditMemos"]);
    // Batch1 only (5 accounts); the 3 cancellations are credited, usage excluded.
    assert_eq!(c["accountsSelected"], 5);
    assert_eq!(c["creditMemos"], 3);
    let memos = api
        .get(&format!("/v1/invoice-runs/{id}/invoices?kind=CreditMemo"))
        .await;
    let memo = &memos.body["items"][0];
    assert_eq!(memo["invoiceDate"], "2023-04-10");
    assert_eq!(
        memo["totals"]["total"], "-635.18",
        "184/365 of 1200.00, plus 5 % tax"
    );
}

/// Seed 002's request fields that have no canonical meaning are kept with the run: a
/// later GET returns the `custom_fields`, `custom_objects`, `email` and `renew` the create
/// gave (not defaults; `email: true` needs a mail transport, tests/delivery.rs), and a replay under the same key with other custom fields is a
/// 409. `batches` and `charges_excluded` may be lists as well as comma-separated text,
/// and `name` names the run.
#[tokio::test]
async fn seed_002_keeps_its_fields_with_the_run_and_takes_lists() {
    let api = TestApi::with_book(&batch_book()).await;
    let body = json!({
        "name": "Batch1 July", "invoice_date": "2023-04-10", "target_date": "2023-07-01",
        "batches": ["Batch1"], "charges_excluded": ["Usage", "OneTime"],
        "email": false, "renew": true,
        "custom_fields": {"cost_center__c": "CC-7", "approved__c": true},
        "custom_objects": {"ticket__c": {"id": "T-1"}}
    });
    let r = post_keyed(&api, "/v2/bill_runs", &body, Some("july-batch1")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    let read = api.get(&format!("/v2/bill_runs/{id}")).await.body;
    assert_eq!(read["custom_fields"], body["custom_fields"]);
    assert_eq!(read["custom_objects"], body["custom_objects"]);
    assert_eq!(
        (read["email"].clone(), read["renew"].clone()),
        (json!(false), json!(true))
    );
    assert_eq!(read["batches"], "Batch1");
    assert_eq!(
        read["charges_excluded"], "OneTime,Usage",
        "in canonical order"
    );
    let run = api.get(&format!("/v1/invoice-runs/{id}")).await.body;
    assert_eq!(run["name"], "Batch1 July");
    assert_eq!(run["request"]["filters"]["batches"], json!(["Batch1"]));
    assert_eq!(
        run["request"]["chargeTypesExcluded"],
        json!(["OneTime", "Usage"])
    );
    // The same key with other custom fields is another request.
    let mut other = body.clone();
    other["custom_fields"]["cost_center__c"] = json!("CC-8");
    let r = post_keyed(&api, "/v2/bill_runs", &other, Some("july-batch1")).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(r.body["reasons"][0]["code"], "idempotency_key_reused");
    let r = post_keyed(&api, "/v2/bill_runs", &body, Some("july-batch1")).await;
    assert_eq!(
        (r.status, r.body["id"].clone()),
        (StatusCode::OK, json!(id))
    );
    // A list entry that is not a charge type names its place.
    let mut bad = body.clone();
    bad["charges_excluded"] = json!(["Usage", "Taxes"]);
    let r = api.post("/v2/bill_runs", &bad.to_string()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body["reasons"][0]["message"]
        .as_str()
        .unwrap()
        .starts_with("charges_excluded[1]:"));
}

/// The rest of the bill-run routes of seed 002's family: a paged list of every run in
/// creation order, cancel and post onto the canonical lifecycle (refusals are 409s in
/// the seed's error shape).
#[tokio::test]
async fn seed_002_bill_runs_list_cancel_and_post() {
    let api = TestApi::with_book(&batch_book()).await;
    let mut ids = Vec::new();
    for target in ["2023-07-01", "2023-08-01", "2023-09-01"] {
        let body =
            json!({"invoice_date": "2023-04-10", "target_date": target, "batches": "Batch1"});
        let r = api.post("/v2/bill_runs", &body.to_string()).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        ids.push(r.body["id"].as_str().unwrap().to_string());
        api.work().await;
    }
    let first = api.get("/v2/bill_runs?page_size=2").await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let page_ids = |b: &Value| -> Vec<String> {
        b["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(page_ids(&first.body), ids[..2]);
    let cursor = first.body["next_page"].as_str().unwrap();
    let rest = api
        .get(&format!("/v2/bill_runs?page_size=2&cursor={cursor}"))
        .await;
    assert_eq!(page_ids(&rest.body), ids[2..]);
    assert_eq!(rest.body["next_page"], Value::Null);
    assert_eq!(first.body["data"][0]["state"], "completed");
    for bad in [
        "page_size=0",
        "page_size=100",
        "cursor=bogus",
        "colour=red",
        "page_size=1&page_size=2",
    ] {
        let r = api.get(&format!("/v2/bill_runs?{bad}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(r.body["success"], false, "{bad}");
    }
    // Post the last run; cancel it then: refused, the seed's error shape.
    let last = &ids[2];
    let r = api.post(&format!("/v2/bill_runs/{last}/post"), "").await;
    assert_eq!(
        (r.status, r.body["state"].clone()),
        (StatusCode::OK, json!("posted")),
        "{}",
        r.text
    );
    let docs = api
        .get(&format!("/v1/invoice-runs/{last}/invoices"))
        .await
        .body;
    assert!(docs["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["status"] == "Posted"));
    let r = api.post(&format!("/v2/bill_runs/{last}/cancel"), "").await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(
        (
            r.body["success"].clone(),
            r.body["reasons"][0]["code"].clone()
        ),
        (json!(false), json!("run_posted"))
    );
    // Cancel the second: its documents Canceled.
    let second = &ids[1];
    let r = api
        .post(&format!("/v2/bill_runs/{second}/cancel"), "")
        .await;
    assert_eq!(
        (r.status, r.body["state"].clone()),
        (StatusCode::OK, json!("canceled")),
        "{}",
        r.text
    );
    let docs = api
        .get(&format!("/v1/invoice-runs/{second}/invoices"))
        .await
        .body;
    assert!(docs["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["status"] == "Canceled"));
    let r = api.post(&format!("/v2/bill_runs/{second}/post"), "").await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = api
        .post(
            "/v2/bill_runs/00000000-0000-4000-8000-000000000000/post",
            "",
        )
        .await;
    assert_eq!(
        (r.status, r.body["success"].clone()),
        (StatusCode::NOT_FOUND, json!(false))
    );
}

#[tokio::test]
async fn seed_002_deletes_only_a_canceled_bill_run_which_is_then_gone_while_its_documents_stay() {
    let api = TestApi::with_book(&batch_book()).await;
    let create = |target: &'static str| {
        let api = &api;
        async move {
            let body =
                json!({"invoice_date": "2023-04-10", "target_date": target, "batches": "Batch1"});
            let r = api
                .call(
                    Method::POST,
                    "/v2/bill_runs",
                    Some(&body.to_string()),
                    &[("idempotency-key", target)],
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
            api.work().await;
            r.body["id"].as_str().unwrap().to_string()
        }
    };
    let gone = create("2023-07-01").await;
    // Completed, not canceled: refused in the seed's shape, nothing changes.
    let r = api.delete(&format!("/v2/bill_runs/{gone}")).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(
        (
            r.body["success"].clone(),
            r.body["reasons"][0]["code"].clone()
        ),
        (json!(false), json!("run_not_canceled"))
    );
    assert_eq!(
        api.get(&format!("/v2/bill_runs/{gone}")).await.status,
        StatusCode::OK
    );
    let r = api.post(&format!("/v2/bill_runs/{gone}/cancel"), "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let docs = api
        .get(&format!("/v1/invoice-runs/{gone}/invoices"))
        .await
        .body;
    let documents: Vec<String> = docs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect();
    assert!(!documents.is_empty(), "{docs}");
    let r = api.delete(&format!("/v2/bill_runs/{gone}")).await;
    assert_eq!(
        (r.status, r.body.clone()),
        (StatusCode::OK, json!({"success": true})),
        "{}",
        r.text
    );
    // Gone from every read and every listing; a second delete finds nothing.
    for path in [
        format!("/v2/bill_runs/{gone}"),
        format!("/v1/invoice-runs/{gone}"),
    ] {
        let r = api.get(&path).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.text);
    }
    let r = api.delete(&format!("/v2/bill_runs/{gone}")).await;
    assert_eq!(
        (r.status, r.body["success"].clone()),
        (StatusCode::NOT_FOUND, json!(false))
    );
    // Its documents stay, Canceled, with their numbers.
    for id in &documents {
        let d = api.get(&format!("/v1/invoices/{id}")).await;
        assert_eq!(
            (d.status, d.body["status"].clone()),
            (StatusCode::OK, json!("Canceled")),
            "{}",
            d.text
        );
        assert!(
            d.body["number"].as_str().is_some_and(|n| !n.is_empty()),
            "{}",
            d.text
        );
    }
    // Listings skip it: a page of one is not answered short.
    let later = [create("2023-08-01").await, create("2023-09-01").await];
    let listed = |b: &Value, key: &str| -> Vec<String> {
        b[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };
    let page = api.get("/v2/bill_runs?page_size=1").await.body;
    assert_eq!(listed(&page, "data"), vec![later[0].clone()]);
    let cursor = page["next_page"].as_str().unwrap().to_string();
    let next = api
        .get(&format!("/v2/bill_runs?page_size=1&cursor={cursor}"))
        .await
        .body;
    assert_eq!(listed(&next, "data"), vec![later[1].clone()]);
    let all = api.get("/v1/invoice-runs").await.body;
    assert_eq!(listed(&all, "items"), later.to_vec());
    // Its idempotency key is not taken by a new run.
    let body =
        json!({"invoice_date": "2023-04-10", "target_date": "2023-07-01", "batches": "Batch1"});
    let r = api
        .call(
            Method::POST,
            "/v2/bill_runs",
            Some(&body.to_string()),
            &[("idempotency-key", "2023-07-01")],
        )
        .await;
    assert_eq!(
        (r.status, r.body["reasons"][0]["code"].clone()),
        (StatusCode::CONFLICT, json!("run_deleted")),
        "{}",
        r.text
    );
}

#[tokio::test]
async fn seed_002_errors_have_the_seed_shape() {
    let api = TestApi::new();
    let r = api
        .post("/v2/bill_runs", r#"{"invoice_date": "2023-04-10"}"#)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["success"], false);
    assert_eq!(r.body["reasons"][0]["code"], "validation_failed");
    assert!(r.body["reasons"][0]["message"]
        .as_str()
        .unwrap()
        .starts_with("target_date:"));
    let r = api
        .post("/v2/bill_runs", r#"{"invoice_date": "2023-04-10", "target_date": "2023-07-01", "charges_excluded": "Usage,Taxes"}"#)
        .await;
    assert!(r.body["reasons"][0]["message"]
        .as_str()
        .unwrap()
        .starts_with("charges_excluded[1]:"));
    let r = api
        .call(
            Method::POST,
            "/v2/bill_runs",
            None,
            &[("content-type", "text/plain")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(r.body["success"], false);
    let r = api
        .get("/v2/bill_runs/00000000-0000-4000-8000-000000000000")
        .await;
    assert_eq!(
        (r.status, r.body["success"].clone()),
        (StatusCode::NOT_FOUND, json!(false))
    );
}

/// Seed 004's ids: schedule e717…, items 8a90f508…1787 (2022-12-03) and a second
/// pending one (2022-12-08), account 8a90c1d4….
fn schedule_book() -> String {
    json!({
        "accounts": [{"id": "8a90c1d47f07e24b017f0811c06a0b8b", "name": "Schedule customer",
            "currency": "USD", "billCycleDay": 3, "taxRate": "0.1", "paymentTermDays": 15}],
        "subscriptions": [{"id": "SUB-IS", "accountId": "8a90c1d47f07e24b017f0811c06a0b8b",
            "productId": "PROJECT", "startDate": "2022-11-01", "endDate": "2023-11-01",
            "charges": [{"id": "C-IS", "type": "Recurring", "price": "500.00", "billingPeriod": "Month"},
                        {"id": "C-ISU", "type": "Usage", "unitPrice": "1.00"}]}],
        "usage": [{"id": "U-IS", "accountId": "8a90c1d47f07e24b017f0811c06a0b8b", "chargeId": "C-ISU", "date": "2022-11-20", "quantity": "7"}],
        "invoiceSchedules": [{"id": "e717da75dae645bdb63723d364e8547d",
            "accountId": "8a90c1d47f07e24b017f0811c06a0b8b", "subscriptionIds": ["SUB-IS"],
            "items": [
                {"id": "8a90f5088459f34f01845a62a33b1787", "invoiceDate": "2022-12-03", "amount": "1000.00"},
                {"id": "8a90f5088459f34f01845a62a33b1999", "invoiceDate": "2022-12-08", "amount": "250.00"}
            ]}]
    })
    .to_string()
}

/// Seed 004's `billRunFilters` as documented, but for `subscriptionId`: the schedule's
/// subscription when it names exactly one (the schedule book's names `SUB-IS`).
fn assert_filters(got: &Value, documented: &Value) {
    let mut expected = documented.clone();
    expected[0]["subscriptionId"] = json!("SUB-IS");
    assert_eq!(got, &expected);
}

#[tokio::test]
async fn seed_004_executes_the_named_item_then_the_next_pending_one() {
    let api = TestApi::with_book(&schedule_book()).await;
    let file = "004_6f1047ced27a537b.txt";
    let uri = "/v1/invoice-schedules/e717da75dae645bdb63723d364e8547d/execute";
    let request = seed_example(file, "Specifying item ID", 0, "seed-004-request-item.json");
    let documented = seed_example(file, "Specifying item ID", 1, "seed-004-response-item.json");
    let r = api.post(uri, &request.to_string()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let b = &r.body;
    assert_eq!(
        keys(b),
        keys(&documented),
        "the seed's fields, no more, no less"
    );
    for k in [
        "autoEmail",
        "autoPost",
        "autoRenewal",
        "billCycleDay",
        "invoiceDate",
        "noEmailForZeroAmountInvoice",
        "targetDate",
        "targetDateOffset",
        "invoiceDateOffset",
        "scheduledExecutionTime",
        "batches",
        "chargeTypeToExclude",
        "schedule",
        "success",
    ] {
        assert_eq!(b[k], documented[k], "{k}");
    }
    assert_filters(&b["billRunFilters"], &documented["billRunFilters"]);
    assert!(is_run_number(&b["billRunNumber"]));
    assert_eq!(b["status"], "Completed");
    let created = b["createdDate"].as_str().unwrap();
    assert_eq!(created.len(), "2022-11-08 17:26:09".len());

    // The canonical run: one invoice, one line "Installment 1 of 2" plus tax.
    let id = b["id"].as_str().unwrap();
    let run = api.get(&format!("/v1/invoice-runs/{id}")).await.body;
    assert_eq!(run["number"], b["billRunNumber"]);
    assert_eq!(run["request"]["chargeTypesExcluded"], json!(["Usage"]));
    assert_eq!(run["counters"]["invoices"], 1);
    let docs = api
        .get(&format!("/v1/invoice-runs/{id}/invoices"))
        .await
        .body;
    let doc = &docs["items"][0];
    assert_eq!(doc["number"], "INV-000000001");
    assert_eq!(doc["lines"].as_array().unwrap().len(), 1);
    assert_eq!(doc["lines"][0]["description"], "Installment 1 of 2");
    assert_eq!(doc["lines"][0]["type"], "Recurring");
    assert_eq!(doc["totals"]["total"], "1100.00");
    assert_eq!(doc["dueDate"], "2022-12-18");
    assert_eq!(
        run["counters"]["amounts"][0]["invoiced"],
        doc["totals"]["total"]
    );
    let schedule = api
        .get("/v1/invoice-schedules/e717da75dae645bdb63723d364e8547d")
        .await
        .body;
    assert_eq!(schedule["items"][0]["status"], "Processed");
    assert_eq!(schedule["processed"][0]["documentId"], doc["id"]);
    assert_eq!(schedule["processed"][0]["runId"], run["id"]);

    // Again: 409 in the seed's error shape.
    let r = api.post(uri, &request.to_string()).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.body["success"], false);
    assert_eq!(r.body["reasons"][0]["code"], "schedule_item_processed");

    // Without an item id: the next pending item, and the filter names no item.
    let next_request = seed_example(
        file,
        "Not specifying item ID",
        0,
        "seed-004-request-next.json",
    );
    let next_documented = seed_example(
        file,
        "Not specifying item ID",
        1,
        "seed-004-response-next.json",
    );
    let r = api.post(uri, &next_request.to_string()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(keys(&r.body), keys(&next_documented));
    assert_filters(
        &r.body["billRunFilters"],
        &next_documented["billRunFilters"],
    );
    assert_eq!(r.body["invoiceDate"], next_documented["invoiceDate"]);
    let id = r.body["id"].as_str().unwrap();
    let docs = api
        .get(&format!("/v1/invoice-runs/{id}/invoices"))
        .await
        .body;
    assert_eq!(
        docs["items"][0]["lines"][0]["description"],
        "Installment 2 of 2"
    );
    assert_eq!(docs["items"][0]["number"], "INV-000000002");

    // None left: 404; an empty body works like {}.
    let r = api.call(Method::POST, uri, None, &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body["success"], false);
    let r = api.post("/v1/invoice-schedules/nope/execute", "{}").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // A regular run bills the usage but not the scheduled recurring charge.
    let r = api
        .post("/v1/invoice-runs", r#"{"targetDate": "2022-12-01"}"#)
        .await;
    let id = r.body["id"].as_str().unwrap().to_string();
    api.work().await;
    let docs = api
        .get(&format!("/v1/invoice-runs/{id}/invoices"))
        .await
        .body;
    let lines = docs["items"][0]["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["type"], "Usage");
}

/// An invoice schedule with `autoPost`: the run that executes an item posts its
/// document at once, whether executed through seed 004 or by the scheduler's tick, and
/// the seed's record reports the run's real value.
#[tokio::test]
async fn seed_004_a_schedule_with_auto_post_posts_the_documents_of_its_executions() {
    let mut book: Value = serde_json::from_str(&schedule_book()).unwrap();
    book["invoiceSchedules"][0]["autoPost"] = json!(true);
    let api = TestApi::with_book(&book.to_string()).await;
    let schedule = api
        .get("/v1/invoice-schedules/e717da75dae645bdb63723d364e8547d")
        .await
        .body;
    assert_eq!(schedule["autoPost"], true);
    let uri = "/v1/invoice-schedules/e717da75dae645bdb63723d364e8547d/execute";
    let r = api.post(uri, "{}").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        (r.body["autoPost"].clone(), r.body["status"].clone()),
        (json!(true), json!("Posted"))
    );
    let id = r.body["id"].as_str().unwrap();
    let run = api.get(&format!("/v1/invoice-runs/{id}")).await.body;
    assert_eq!(run["status"], "Posted");
    assert_eq!(run["request"]["autoPost"], true);
    let docs = api
        .get(&format!("/v1/invoice-runs/{id}/invoices"))
        .await
        .body;
    assert_eq!(docs["items"][0]["status"], "Posted");
    assert!(docs["items"][0]["number"].is_string());
    // Without autoPost (the schedule book as it is): Draft, the run Completed.
    let plain = TestApi::with_book(&schedule_book()).await;
    let r = plain.post(uri, "{}").await;
    assert_eq!(
        (r.body["autoPost"].clone(), r.body["status"].clone()),
        (json!(false), json!("Completed"))
    );
    let id = r.body["id"].as_str().unwrap();
    let docs = plain
        .get(&format!("/v1/invoice-runs/{id}/invoices"))
        .await
        .body;
    assert_eq!(docs["items"][0]["status"], "Draft");
}

/// Seed 003's fields with example values.
fn billing_run_request() -> Value {
    json!({
        "name": "March 2024 billing", "invoiceDate": "2024-03-01", "cutoffDate": "2024-02-29",
        "transactionCutoffDate": "2024-02-29", "dueDate": "2024-03-31",
        "invoiceMessage": "Thank you", "subrun": "A"
    })
}

#[tokio::test]
async fn seed_003_billing_runs_stay_pending_until_requested_and_then_lock_dates() {
    // The runs below name subrun "A" (docs/billing-rules.md "Subruns"): the book's account is in
    // it, and a second account in subrun "B" is never selected.
    let mut book: Value = serde_json::from_str(common::BOOK).unwrap();
    book["accounts"][0]["subrun"] = json!("A");
    book["accounts"].as_array_mut().unwrap().push(json!({
        "id": "B-2002", "name": "Other subrun", "currency": "USD", "billCycleDay": 1, "subrun": "B"
    }));
    let api = TestApi::with_book(&book.to_string()).await;
    let base = "/backend/api/v1/billingRuns/";
    let r = api.post(base, &billing_run_request().to_string()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let b = r.body.clone();
    assert_eq!(
        keys(&b),
        [
            "commencedDate",
            "completedDate",
            "cutoffDate",
            "dueDate",
            "id",
            "invoiceAmount",
            "invoiceDate",
            "invoiceMessage",
            "name",
            "status",
            "subrun",
            "transactionCutoffDate"
        ]
    );
    assert!(b["id"].is_u64());
    assert_eq!(b["status"], "Pending");
    assert_eq!(b["cutoffDate"], "2024-02-29");
    assert_eq!(b["commencedDate"], Value::Null);
    let n = b["id"].as_u64().unwrap();
    let one = format!("{base}{n}");
    assert_eq!(api.get(&one).await.body, b);
    // The canonical run: Manual, usage cutoff the day after the call cutoff.
    let listed = api.get("/v1/invoice-runs").await.body;
    let canonical = &listed["items"][0];
    assert_eq!(canonical["request"]["runType"], "Manual");
    assert_eq!(canonical["request"]["usageCutoffDate"], "2024-03-01");
    assert_eq!(canonical["targetDate"], "2024-03-01");

    // Pending: dates change.
    let r = api
        .put(
            &one,
            r#"{"dueDate": "2024-04-15", "cutoffDate": "2024-02-28"}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        (r.body["dueDate"].clone(), r.body["cutoffDate"].clone()),
        (json!("2024-04-15"), json!("2024-02-28"))
    );
    // Requested: starts.
    let r = api.put(&one, r#"{"status": "Requested"}"#).await;
    assert_eq!(r.status, StatusCode::OK);
    // One vocabulary both ways: bills requested read back Requested while processing.
    assert_eq!(r.body["status"], "Requested");
    let canonical = api.get("/v1/invoice-runs").await.body["items"][0].clone();
    assert_eq!(canonical["status"], "Processing");
    api.work().await;
    let done = api.get(&one).await.body;
    assert_eq!(done["status"], "Completed");
    assert!(done["completedDate"].is_string());
    // Dates are locked now; putting the record back unchanged is fine.
    let r = api.put(&one, r#"{"invoiceDate": "2024-03-05"}"#).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.body["code"], "field_locked");
    assert_eq!(r.body["field"], "invoiceDate");
    let r = api.put(&one, r#"{"cutoffDate": "2024-03-05"}"#).await;
    assert_eq!(
        (r.status, r.body["field"].clone()),
        (StatusCode::CONFLICT, json!("cutoffDate"))
    );
    let r = api.put(&one, &done.to_string()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    // Compatibility values equal the canonical ones.
    let id = api.get("/v1/invoice-runs").await.body["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let run = api.get(&format!("/v1/invoice-runs/{id}")).await.body;
    assert_eq!(
        done["invoiceAmount"],
        run["counters"]["amounts"][0]["invoiced"]
    );
    assert_eq!(run["counters"]["accountsSelected"], 1, "only subrun A");
    assert_eq!(done["invoiceDate"], run["request"]["invoiceDate"]);
    assert_eq!(done["dueDate"], run["request"]["dueDate"]);
    assert_eq!(
        done["transactionCutoffDate"],
        run["request"]["transactionCutoffDate"]
    );
    assert_eq!(format!("BR-{n:08}"), run["number"].as_str().unwrap());
    let doc = &api
        .get(&format!("/v1/invoice-runs/{id}/invoices"))
        .await
        .body["items"][0];
    assert_eq!(doc["dueDate"], "2024-04-15");
    assert_eq!(doc["invoiceMessage"], "Thank you");

    // Listing by idAfter / createdSince / updatedSince.
    let r2 = api
        .post(base, &billing_run_request().to_string())
        .await
        .body;
    let ids = |v: &Value| -> Vec<u64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x["id"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(ids(&api.get(base).await.body), [n, n + 1]);
    assert_eq!(
        ids(&api.get(&format!("{base}?idAfter={n}")).await.body),
        [n + 1]
    );
    let t = run["updatedAt"].as_str().unwrap();
    let since = api
        .get(&format!("{base}?updatedSince={}", t.replace('+', "%2B")))
        .await;
    assert!(ids(&since.body).contains(&n));
    assert_eq!(r2["status"], "Pending");
    let r = api.get(&format!("{base}?createdSince=2999-01-01")).await;
    assert_eq!(r.body, json!([]));
    // Errors: canonical shape.
    let r = api.get(&format!("{base}999")).await;
    assert_eq!(
        (r.status, r.body["code"].clone()),
        (StatusCode::NOT_FOUND, json!("not_found"))
    );
    let r = api.post(base, r#"{"name": "x"}"#).await;
    assert_eq!(
        (r.status, r.body["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("invoiceDate"))
    );
    let r = api.put(&one, r#"{"status": "Sleeping"}"#).await;
    assert_eq!(
        (r.status, r.body["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("status"))
    );
    // The canonical name of a processing run is not seed 003's.
    let r = api.put(&one, r#"{"status": "Processing"}"#).await;
    assert_eq!(
        (r.status, r.body["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("status"))
    );
    // A name of the vocabulary the run cannot move to: refused with the state's code.
    let pending = format!("{base}{}", r2["id"]);
    let r = api.put(&pending, r#"{"status": "Completed"}"#).await;
    assert_eq!(
        (r.status, r.body["code"].clone()),
        (StatusCode::CONFLICT, json!("status_locked"))
    );
}

/// Seed 000's fields with example values.
fn configure_request() -> Value {
    json!({
        "Name": "GE Avaition-Longterm", "RunType": "Immediate", "AutoApproveInvoices": true,
        "InvoiceDateType": "Ready for Invoice Date",
        "ProcessFrom": "2013-02-03T00:00:00.000Z", "ProcessTo": "2013-03-02T00:00:00.000Z"
    })
}

#[tokio::test]
async fn seed_000_configures_a_run_and_lists_its_invoices_in_the_seed_shape() {
    let book = json!({
        "accounts": [{"id": "GE-1", "name": "Account_Billing_1", "currency": "USD", "billCycleDay": 3,
            "paymentTermDays": 25, "paymentTermName": "PaymentTerm_Default"}],
        "subscriptions": [{"id": "GE-S", "accountId": "GE-1", "productId": "LT", "startDate": "2013-02-03",
            "endDate": "2014-02-03", "charges": [{"id": "GE-C", "type": "Recurring", "price": "100.00", "billingPeriod": "Month"}]}]
    });
    let api = TestApi::with_book(&book.to_string()).await;
    let r = api
        .post(
            "/api/billing/v1/configure-requests",
            &configure_request().to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let documented = seed_document("000_42d4d1e33d204afd.txt")
        .map(|t| json_after(&t, "e.g., 2013-03-02T00:00:00.000Z"));
    assert_eq!(keys(&r.body), ["Results", "Summary"]);
    assert_eq!(r.body["Summary"], "1 record processed successfully.");
    let res = &r.body["Results"][0];
    assert_eq!(
        keys(res),
        [
            "ErrorMessage",
            "Errors",
            "Id",
            "InvoiceRequestResultId",
            "IsSuccess",
            "RecordIndex"
        ]
    );
    if let Some(d) = &documented {
        assert_eq!(keys(res), keys(&d["Results"][0]));
        assert_eq!(r.body["Summary"], d["Summary"]);
    }
    assert_eq!(
        (
            res["IsSuccess"].clone(),
            res["RecordIndex"].clone(),
            res["Errors"].clone()
        ),
        (json!(true), json!(0), json!([]))
    );
    assert_eq!(res["ErrorMessage"], Value::Null);
    let run_id = res["InvoiceRequestResultId"].as_str().unwrap().to_string();
    assert_ne!(res["Id"], res["InvoiceRequestResultId"]);

    api.work().await;
    let run = api.get(&format!("/v1/invoice-runs/{run_id}")).await.body;
    assert_eq!(run["request"]["invoiceDateType"], "ReadyForInvoiceDate");
    assert_eq!(run["request"]["processFrom"], "2013-02-03");
    assert_eq!(run["request"]["processTo"], "2013-03-02");
    assert_eq!(run["request"]["autoApprove"], true);
    let invoices = api
        .get(&format!(
            "/api/billing/v1/request-results/{run_id}/invoices"
        ))
        .await;
    assert_eq!(invoices.status, StatusCode::OK);
    let inv = &invoices.body[0];
    let expected_keys = [
        "ApprovedStatus",
        "BillTo",
        "BillToLocation",
        "CreatedBy",
        "CreatedDate",
        "Currency",
        "DueDate",
        "DueIn",
        "DuePastBy",
        "ETag",
        "ExternalId",
        "Id",
        "InvoiceAutoNumber",
        "InvoiceDate",
        "InvoiceRequestResult",
        "ModifiedBy",
        "ModifiedDate",
        "Name",
        "PaymentTerm",
        "RequestResultId",
        "ShipTo",
        "ShipToLocation",
        "SubTotal",
        "Tax",
        "TotalAdjustments",
        "TotalAmount",
        "TotalEvergreenFee",
        "TotalFee",
        "TotalOneTimeFee",
        "TotalRecurringFee",
        "TotalUsageFee",
    ];
    assert_eq!(keys(inv), expected_keys);
    if let Some(text) = seed_document("000_42d4d1e33d204afd.txt") {
        let start = text.find("/invoices), and enter").unwrap();
        let open = start + text[start..].find('[').unwrap();
        let seeded: Value = serde_json::Deserializer::from_str(&text[open..])
            .into_iter::<Value>()
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(keys(inv), keys(&seeded[0]));
        assert_eq!(keys(&inv["TotalFee"]), keys(&seeded[0]["TotalFee"]));
    }
    let canonical = &api
        .get(&format!("/v1/invoice-runs/{run_id}/invoices"))
        .await
        .body["items"][0];
    assert_eq!(inv["InvoiceAutoNumber"], canonical["number"]);
    assert_eq!(inv["Name"], canonical["number"]);
    assert_eq!(inv["Id"], canonical["id"]);
    assert_eq!(inv["ApprovedStatus"], "Approved");
    assert_eq!(inv["ApprovedStatus"], canonical["status"]);
    assert_eq!(
        inv["InvoiceDate"],
        format!("{}T00:00:00", canonical["invoiceDate"].as_str().unwrap())
    );
    assert_eq!(
        inv["DueDate"],
        format!("{}T00:00:00", canonical["dueDate"].as_str().unwrap())
    );
    assert_eq!(inv["InvoiceDate"], "2013-02-03T00:00:00");
    assert_eq!(inv["DueIn"], Value::Null);
    assert!(inv["DuePastBy"].as_i64().unwrap() > 4000);
    assert_eq!(inv["InvoiceRequestResult"]["Id"], run_id.as_str());
    assert_eq!(
        inv["BillTo"],
        json!({"Id": "GE-1", "Name": "Account_Billing_1"})
    );
    assert_eq!(inv["PaymentTerm"]["Name"], "PaymentTerm_Default");
    // Money: the canonical decimal with ten decimals, as a JSON number.
    let raw = invoices.text.clone();
    assert!(raw.contains(r#""TotalRecurringFee":{"Value":100.0000000000,"DisplayValue":100.0000000000,"CurrencyCode":"USD","CurrencySymbol":"$"}"#), "{raw}");
    for (k, c) in [
        ("TotalOneTimeFee", "oneTime"),
        ("TotalRecurringFee", "recurring"),
        ("TotalEvergreenFee", "evergreen"),
        ("TotalUsageFee", "usage"),
        ("TotalFee", "fee"),
        ("TotalAdjustments", "adjustments"),
        ("SubTotal", "subTotal"),
        ("Tax", "tax"),
        ("TotalAmount", "total"),
    ] {
        let canonical_value: f64 = canonical["totals"][c].as_str().unwrap().parse().unwrap();
        assert_eq!(inv[k]["Value"].as_f64().unwrap(), canonical_value, "{k}");
    }

    // Errors: IsSuccess false with the seed's field names.
    let mut bad = configure_request();
    bad.as_object_mut().unwrap().remove("ProcessFrom");
    let r = api
        .post("/api/billing/v1/configure-requests", &bad.to_string())
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["Results"][0]["IsSuccess"], false);
    assert_eq!(r.body["Results"][0]["Errors"][0]["Field"], "ProcessFrom");
    assert!(r.body["Results"][0]["ErrorMessage"]
        .as_str()
        .unwrap()
        .starts_with("ProcessFrom"));
    let r = api
        .get("/api/billing/v1/request-results/00000000-0000-4000-8000-000000000000/invoices")
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

async fn post_keyed(api: &TestApi, route: &str, body: &Value, key: Option<&str>) -> common::Reply {
    let headers: Vec<(&str, &str)> = key.map(|k| ("Idempotency-Key", k)).into_iter().collect();
    api.call(Method::POST, route, Some(&body.to_string()), &headers)
        .await
}

/// Every compatibility create takes an `Idempotency-Key` as `POST /v1/invoice-runs`
/// does: a retry with the same key and body is the same run (200, no second run, no
/// second number), the key with another body is a 409 in the seed's error shape, and
/// without a key each POST is a run of its own.
#[tokio::test]
async fn a_retried_compatibility_create_with_its_key_is_the_same_run() {
    let api = TestApi::with_book(&batch_book()).await;
    let bill_run = seed_example(
        "002_0a25a372974bc37c.txt",
        "--data '",
        0,
        "seed-002-request.json",
    );
    let mut other_bill_run = bill_run.clone();
    other_bill_run["target_date"] = json!("2023-08-01");
    let billing_run = billing_run_request();
    let mut other_billing_run = billing_run.clone();
    other_billing_run["invoiceDate"] = json!("2020-01-02");
    let configure = configure_request();
    let mut other_configure = configure.clone();
    other_configure["Name"] = json!("Another run");
    // (route, body, the same key with another body, where the run id is in the answer)
    type RunId = fn(&Value) -> String;
    let cases: [(&str, Value, Value, RunId); 3] = [
        ("/v2/bill_runs", bill_run, other_bill_run, |b| {
            b["id"].as_str().unwrap_or_default().to_string()
        }),
        (
            "/backend/api/v1/billingRuns/",
            billing_run,
            other_billing_run,
            |b| b["id"].to_string(),
        ),
        (
            "/api/billing/v1/configure-requests",
            configure,
            other_configure,
            |b| {
                b["Results"][0]["InvoiceRequestResultId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            },
        ),
    ];
    for (i, (route, body, other, run_id)) in cases.into_iter().enumerate() {
        let key = format!("retry-{i}");
        let runs_before = api.get("/v1/invoice-runs?limit=100").await.body["items"]
            .as_array()
            .map_or(0, Vec::len);
        let first = post_keyed(&api, route, &body, Some(&key)).await;
        assert!(first.status.is_success(), "{route}: {}", first.text);
        let again = post_keyed(&api, route, &body, Some(&key)).await;
        assert_eq!(again.status, StatusCode::OK, "{route}: {}", again.text);
        assert_eq!(run_id(&again.body), run_id(&first.body), "{route}");
        assert!(!run_id(&first.body).is_empty(), "{route}: {}", first.text);
        let refused = post_keyed(&api, route, &other, Some(&key)).await;
        assert_eq!(
            refused.status,
            StatusCode::CONFLICT,
            "{route}: {}",
            refused.text
        );
        assert!(
            refused.text.contains("idempotency_key_reused"),
            "{route}: {}",
            refused.text
        );
        let runs_after = api.get("/v1/invoice-runs?limit=100").await.body["items"]
            .as_array()
            .map_or(0, Vec::len);
        assert_eq!(
            runs_after,
            runs_before + 1,
            "{route}: one run for three POSTs"
        );
        let unkeyed = post_keyed(&api, route, &body, None).await;
        assert!(unkeyed.status.is_success(), "{route}: {}", unkeyed.text);
        assert_ne!(run_id(&unkeyed.body), run_id(&first.body), "{route}");
    }
}

const SEED_001_ACTION: &str = "/services/data/v64.0/actions/standard/generateInvoiceDocuments";

async fn activate_a_template(api: &TestApi) {
    let template = json!({"name": "Default", "content": {"companyName": "Northwind Analytics, Inc.",
        "address": {"line1": "500 Market Street", "city": "San Francisco, CA", "postalCode": "94105",
                    "country": "United States"}, "locale": "en-US"}});
    let r = api
        .put("/v1/document-templates/T-1", &template.to_string())
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = api.post("/v1/document-templates/T-1/activate", "").await;
    assert!(r.status.is_success(), "{}", r.text);
}

fn inputs(ids: &[&str]) -> String {
    let inputs: Vec<Value> = ids
        .iter()
        .map(|id| json!({"invoiceBatchRunId": id}))
        .collect();
    json!({ "inputs": inputs }).to_string()
}

/// Seed 001 with several inputs: an array with one result per input, in order, each
/// accepted or refused on its own; one input keeps the seed's single object; more
/// than 200 inputs, or none, is a 400 naming `inputs` with nothing queued.
#[tokio::test]
async fn seed_001_answers_each_of_several_inputs_on_its_own_in_order() {
    let api = TestApi::with_book(common::BOOK).await;
    activate_a_template(&api).await;
    let r = api
        .post("/v1/invoice-runs", r#"{"targetDate": "2024-02-01"}"#)
        .await;
    let done = r.body["id"].as_str().unwrap().to_string();
    api.work().await;
    // Started and not worked: still Processing.
    let r = api
        .post("/v1/invoice-runs", r#"{"targetDate": "2024-03-01"}"#)
        .await;
    let processing = r.body["id"].as_str().unwrap().to_string();
    let unknown = "00000000-0000-4000-8000-000000000000";
    let documented = fixture("seed-001-response.json");

    let body = inputs(&[&done, "not-a-run", unknown, &processing, &done]);
    let r = api.post(SEED_001_ACTION, &body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let results = r.body.as_array().expect("an array for several inputs");
    assert_eq!(results.len(), 5);
    for res in results {
        assert_eq!(keys(res), keys(&documented), "{res}");
        assert_eq!(res["actionName"], "generateInvoiceDocuments");
    }
    let code = |i: usize| results[i]["errors"][0]["statusCode"].clone();
    let message = |i: usize| {
        results[i]["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    for i in [0, 4] {
        assert_eq!(results[i]["isSuccess"], true, "{i}");
        assert_eq!(results[i]["errors"], Value::Null, "{i}");
        assert_eq!(results[i]["outputValues"]["requestStatus"], true, "{i}");
    }
    assert_eq!(
        (code(1), results[1]["isSuccess"].clone()),
        (json!("VALIDATION_FAILED"), json!(false))
    );
    assert!(
        message(1).starts_with("inputs[1].invoiceBatchRunId:"),
        "{}",
        message(1)
    );
    assert_eq!(code(2), "NOT_FOUND");
    assert_eq!(code(3), "RUN_NOT_COMPLETED");
    for (i, refused) in results.iter().enumerate().take(4).skip(1) {
        assert_eq!(refused["outputValues"], Value::Null, "{i}");
    }
    // Two document requests of their own, both carried out.
    let first = results[0]["outputValues"]["requestId"].as_str().unwrap();
    let second = results[4]["outputValues"]["requestId"].as_str().unwrap();
    assert_ne!(first, second);
    api.work().await;
    for id in [first, second] {
        let progress = api.get(&format!("/v1/document-requests/{id}")).await;
        assert_eq!(progress.body["status"], "Completed", "{}", progress.text);
        assert_eq!(progress.body["runId"], done.as_str(), "{}", progress.text);
    }

    // An input that is not an input (an unknown field, not an object) makes the call
    // malformed: a 400 naming it, and nothing is requested for the others.
    let before = (api.store.digest(), api.queue.sent());
    for (bad, at) in [
        (json!({"invoiceBatchRunID": done}), "inputs[1]"),
        (json!(7), "inputs[1]"),
        (json!({}), "inputs[1]"),
    ] {
        let body = json!({"inputs": [{"invoiceBatchRunId": done}, bad]});
        let r = api.post(SEED_001_ACTION, &body.to_string()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
        let m = r.body["errors"][0]["message"].as_str().unwrap();
        assert!(m.starts_with(at), "{m}");
    }
    assert_eq!(
        before,
        (api.store.digest(), api.queue.sent()),
        "nothing requested"
    );

    // One input: the seed's single object.
    let r = api.post(SEED_001_ACTION, &inputs(&[&done])).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.body.is_object());
    assert_eq!(keys(&r.body), keys(&documented));
    let r = api.post(SEED_001_ACTION, &inputs(&[unknown])).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(r.body.is_object());
    assert_eq!(r.body["errors"][0]["statusCode"], "NOT_FOUND");

    // None, or more than 200: refused whole, naming `inputs`, nothing queued.
    let sent = api.queue.sent();
    let many: Vec<&str> = std::iter::repeat_n(done.as_str(), 201).collect();
    for body in [inputs(&[]), inputs(&many), "{}".to_string()] {
        let r = api.post(SEED_001_ACTION, &body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
        assert_eq!(r.body["isSuccess"], false);
        let m = r.body["errors"][0]["message"].as_str().unwrap();
        assert!(m.starts_with("inputs"), "{m}");
    }
    assert_eq!(api.queue.sent(), sent, "nothing is queued");
    let at_most: Vec<&str> = std::iter::repeat_n(done.as_str(), 200).collect();
    let r = api.post(SEED_001_ACTION, &inputs(&at_most)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body.as_array().map(Vec::len), Some(200));
}

async fn configure(api: &TestApi, request: &Value) -> common::Reply {
    api.post("/api/billing/v1/configure-requests", &request.to_string())
        .await
}

/// Seed 000's request result follows the run (status, counters, amounts) in the
/// seed's PascalCase style, and its credit memos are listed in the invoices' shape.
#[tokio::test]
async fn seed_000_request_result_answers_the_runs_status_counters_and_credit_memos() {
    let api = TestApi::with_book(&batch_book()).await;
    let request = json!({"Name": "July", "RunType": "Immediate", "InvoiceDateType": "Target Date",
        "TargetDate": "2023-07-01T00:00:00.000Z"});
    let r = configure(&api, &request).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let run_id = r.body["Results"][0]["InvoiceRequestResultId"]
        .as_str()
        .unwrap()
        .to_string();
    let record_id = r.body["Results"][0]["Id"].clone();
    let uri = format!("/api/billing/v1/request-results/{run_id}");
    let before = api.get(&uri).await;
    assert_eq!(before.status, StatusCode::OK, "{}", before.text);
    let canonical = api.get(&format!("/v1/invoice-runs/{run_id}")).await.body;
    assert_eq!(before.body["Status"], canonical["status"]);
    assert_eq!(before.body["Status"], "Processing");
    assert_eq!(before.body["CompletedDate"], Value::Null);

    api.work().await;
    let canonical = api.get(&format!("/v1/invoice-runs/{run_id}")).await.body;
    let r = api.get(&uri).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let b = &r.body;
    assert_eq!(b["Id"], run_id.as_str());
    assert_eq!(b["RequestId"], record_id);
    assert_eq!(b["Name"], "July");
    assert_eq!(b["Number"], canonical["number"]);
    assert_eq!(b["Status"], "Completed");
    assert_eq!(b["RunType"], "Immediate");
    assert_eq!(b["InvoiceDateType"], "Target Date");
    assert_eq!(b["TargetDate"], "2023-07-01T00:00:00");
    assert!(b["CompletedDate"].is_string());
    let c = &canonical["counters"];
    for (theirs, ours) in [
        ("AccountsSelected", "accountsSelected"),
        ("AccountsBilled", "billed"),
        ("AccountsNothingToBill", "nothingToBill"),
        ("AccountsFailed", "failed"),
        ("Invoices", "invoices"),
        ("CreditMemos", "creditMemos"),
    ] {
        assert_eq!(b["Counters"][theirs], c[ours], "{theirs}");
    }
    assert_eq!(b["Counters"]["AccountsSelected"], 6);
    assert_eq!(b["Counters"]["CreditMemos"], 3);
    // Money exact: the canonical decimal with ten decimals.
    let credited = c["amounts"][0]["credited"].as_str().unwrap();
    assert!(credited.starts_with('-'), "{credited}");
    assert!(
        r.text
            .contains(&format!(r#""Credited":{{"Value":{credited}00000000,"#)),
        "{}",
        r.text
    );
    assert_eq!(b["Amounts"][0]["Currency"], "USD");

    // The credit memos: the canonical ones, in the invoice shape; not in the invoices.
    let memos = api.get(&format!("{uri}/credit-memos")).await;
    assert_eq!(memos.status, StatusCode::OK, "{}", memos.text);
    let canonical_memos = api
        .get(&format!(
            "/v1/invoice-runs/{run_id}/invoices?kind=CreditMemo"
        ))
        .await
        .body;
    let memos = memos.body.as_array().unwrap().clone();
    assert_eq!(memos.len(), 3);
    let invoices = api.get(&format!("{uri}/invoices")).await.body;
    let invoice_keys = keys(&invoices[0]);
    let mut total = 0.0;
    for (m, cm) in memos
        .iter()
        .zip(canonical_memos["items"].as_array().unwrap())
    {
        assert_eq!(keys(m), invoice_keys);
        assert_eq!(m["Id"], cm["id"]);
        assert_eq!(m["InvoiceRequestResult"]["Id"], run_id.as_str());
        let value = m["TotalAmount"]["Value"].as_f64().unwrap();
        assert_eq!(
            value,
            cm["totals"]["total"]
                .as_str()
                .unwrap()
                .parse::<f64>()
                .unwrap()
        );
        assert!(value < 0.0);
        total += value;
        assert!(invoices
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["Id"] != m["Id"]));
    }
    assert!((total - credited.parse::<f64>().unwrap()).abs() < 1e-9);

    // Unknown and malformed ids.
    let r = api
        .get("/api/billing/v1/request-results/00000000-0000-4000-8000-000000000000")
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = api.get("/api/billing/v1/request-results/nope").await;
    assert_eq!(
        (r.status, r.body["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("id"))
    );
    let r = api
        .get("/api/billing/v1/request-results/00000000-0000-4000-8000-000000000000/credit-memos")
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

/// Seed 000's `BillToLocation` / `ShipToLocation` come from the account: its location id
/// and its addresses; null only when the book has neither.
#[tokio::test]
async fn seed_000_invoice_locations_come_from_the_account() {
    let charge = |i: &str| json!([{"id": format!("C-{i}"), "type": "Recurring", "price": "100.00", "billingPeriod": "Month"}]);
    let subscriptions: Vec<Value> = ["L-1", "L-2", "L-3", "L-4"]
        .iter()
        .map(|a| {
            json!({"id": format!("S-{a}"), "accountId": a, "productId": "LT", "startDate": "2013-02-03",
                "endDate": "2014-02-03", "charges": charge(a)})
        })
        .collect();
    let book = json!({
        "accounts": [
            {"id": "L-1", "name": "Both", "currency": "USD", "billCycleDay": 3, "locationId": "LOC-AUS",
             "billTo": {"name": "Acme AP", "line1": "1 Main St", "city": "Austin", "state": "TX",
                        "postalCode": "78701", "country": "US"},
             "shipTo": {"name": "Acme Dock", "line1": "9 Dock Rd", "city": "Houston", "country": "US"}},
            {"id": "L-2", "name": "Nothing", "currency": "USD", "billCycleDay": 3},
            {"id": "L-3", "name": "Bill-to only", "currency": "USD", "billCycleDay": 3,
             "billTo": {"line1": "5 Elm St", "city": "Boston"}},
            {"id": "L-4", "name": "Location only", "currency": "USD", "billCycleDay": 3, "locationId": "LOC-NYC"}
        ],
        "subscriptions": subscriptions
    });
    let api = TestApi::with_book(&book.to_string()).await;
    let r = configure(&api, &configure_request()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let run_id = r.body["Results"][0]["InvoiceRequestResultId"]
        .as_str()
        .unwrap()
        .to_string();
    api.work().await;
    let invoices = api
        .get(&format!(
            "/api/billing/v1/request-results/{run_id}/invoices"
        ))
        .await
        .body;
    let of = |account: &str| {
        invoices
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["BillTo"]["Id"] == account)
            .cloned()
            .unwrap_or_else(|| panic!("an invoice of {account}: {invoices}"))
    };
    let both = of("L-1");
    assert_eq!(
        both["BillToLocation"],
        json!({"Id": "LOC-AUS", "Name": "1 Main St, Austin, TX 78701, US"})
    );
    assert_eq!(
        both["ShipToLocation"],
        json!({"Id": "LOC-AUS", "Name": "9 Dock Rd, Houston, US"})
    );
    assert_eq!(both["BillTo"]["Name"], "Acme AP");
    let nothing = of("L-2");
    assert_eq!(nothing["BillToLocation"], Value::Null);
    assert_eq!(nothing["ShipToLocation"], Value::Null);
    let bill_to_only = of("L-3");
    let expected = json!({"Id": "L-3", "Name": "5 Elm St, Boston"});
    assert_eq!(bill_to_only["BillToLocation"], expected);
    assert_eq!(bill_to_only["ShipToLocation"], expected);
    let location_only = of("L-4");
    let expected = json!({"Id": "LOC-NYC", "Name": "LOC-NYC"});
    assert_eq!(location_only["BillToLocation"], expected);
    assert_eq!(location_only["ShipToLocation"], expected);
}

/// A run grouped by location ships to each document's location (the subscription's).
#[tokio::test]
async fn seed_000_ship_to_location_is_the_documents_location_under_location_grouping() {
    let mut book: Value = serde_json::from_str(common::BOOK).unwrap();
    book["subscriptions"][0]["locationId"] = json!("LOC-SITE");
    let api = TestApi::with_book(&book.to_string()).await;
    let r = api
        .post(
            "/v1/invoice-runs",
            r#"{"targetDate": "2024-02-01", "grouping": "Location"}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let run_id = r.body["id"].as_str().unwrap().to_string();
    api.work().await;
    let invoices = api
        .get(&format!(
            "/api/billing/v1/request-results/{run_id}/invoices"
        ))
        .await
        .body;
    let inv = &invoices[0];
    assert_eq!(inv["BillToLocation"]["Id"], "LOC-AUS", "{invoices}");
    assert_eq!(inv["ShipToLocation"]["Id"], "LOC-SITE");
    // The book's account has no ship-to address: its bill-to one is shipped to.
    assert_eq!(
        inv["ShipToLocation"]["Name"],
        "1 Main St, Austin, 78701, US"
    );
}

/// Seed 000's "User-defined" InvoiceDateType: every invoice carries `InvoiceDate`; the
/// run bills through `TargetDate` (or the invoice date without one).
#[tokio::test]
async fn seed_000_user_defined_invoice_date_type_dates_every_invoice() {
    let book = json!({
        "accounts": [{"id": "GE-1", "name": "Account_Billing_1", "currency": "USD", "billCycleDay": 3,
            "paymentTermDays": 25}],
        "subscriptions": [{"id": "GE-S", "accountId": "GE-1", "productId": "LT", "startDate": "2013-02-03",
            "endDate": "2014-02-03", "charges": [{"id": "GE-C", "type": "Recurring", "price": "100.00", "billingPeriod": "Month"}]}]
    });
    let api = TestApi::with_book(&book.to_string()).await;
    let request = json!({"Name": "User dated", "RunType": "Immediate", "InvoiceDateType": "User-defined",
        "InvoiceDate": "2013-02-15T00:00:00.000Z", "TargetDate": "2013-03-02T00:00:00.000Z"});
    let r = configure(&api, &request).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let run_id = r.body["Results"][0]["InvoiceRequestResultId"]
        .as_str()
        .unwrap()
        .to_string();
    api.work().await;
    let run = api.get(&format!("/v1/invoice-runs/{run_id}")).await.body;
    assert_eq!(run["request"]["invoiceDateType"], "TargetDate");
    assert_eq!(run["request"]["invoiceDate"], "2013-02-15");
    assert_eq!(run["targetDate"], "2013-03-02");
    let invoices = api
        .get(&format!(
            "/api/billing/v1/request-results/{run_id}/invoices"
        ))
        .await
        .body;
    assert_eq!(
        invoices[0]["InvoiceDate"], "2013-02-15T00:00:00",
        "{invoices}"
    );
    assert_eq!(invoices[0]["DueDate"], "2013-03-12T00:00:00");
    let result = api
        .get(&format!("/api/billing/v1/request-results/{run_id}"))
        .await
        .body;
    assert_eq!(result["InvoiceDateType"], "User-defined");
    assert_eq!(result["InvoiceDate"], "2013-02-15T00:00:00");

    // Without TargetDate the run bills through the invoice date.
    let mut through_invoice_date = request.clone();
    through_invoice_date
        .as_object_mut()
        .unwrap()
        .remove("TargetDate");
    let r = configure(&api, &through_invoice_date).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let id = r.body["Results"][0]["InvoiceRequestResultId"]
        .as_str()
        .unwrap();
    let run = api.get(&format!("/v1/invoice-runs/{id}")).await.body;
    assert_eq!(run["targetDate"], "2013-02-15");
    assert_eq!(run["request"]["invoiceDate"], "2013-02-15");

    // Refusals name the seed's field.
    let mut missing = request.clone();
    missing.as_object_mut().unwrap().remove("InvoiceDate");
    let mut not_user_defined = configure_request();
    not_user_defined["InvoiceDate"] = json!("2013-02-15T00:00:00.000Z");
    let mut with_window = request.clone();
    with_window["ProcessFrom"] = json!("2013-02-03T00:00:00.000Z");
    let mut due_before = request.clone();
    due_before["InvoiceDate"] = json!("not a date");
    for (body, field) in [
        (missing, "InvoiceDate"),
        (not_user_defined, "InvoiceDate"),
        (with_window, "ProcessFrom"),
        (due_before, "InvoiceDate"),
    ] {
        let r = configure(&api, &body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text);
        assert_eq!(r.body["Results"][0]["IsSuccess"], false);
        assert_eq!(
            r.body["Results"][0]["Errors"][0]["Field"], field,
            "{}",
            r.text
        );
    }
}

/// Seed 002's `renew` is the canonical `renewSubscriptions`: `true` renews the term that
/// ended by the target date and bills the renewed period, `false` bills nothing past it.
#[tokio::test]
async fn seed_002_renew_bills_the_renewed_period_that_a_run_without_it_does_not() {
    let book = json!({
        "accounts": [{"id": "R-1", "name": "Renewer", "currency": "USD", "billCycleDay": 1}],
        "subscriptions": [{"id": "RS-1", "accountId": "R-1", "productId": "PLAN",
            "startDate": "2023-01-01", "term": {"endDate": "2023-06-01", "autoRenew": true, "renewalMonths": 12},
            "charges": [{"id": "RC-1", "type": "Recurring", "price": "100.00", "billingPeriod": "Month",
                "billedThrough": "2023-06-01"}]}]
    })
    .to_string();
    for (renew, invoices) in [(false, 0), (true, 1)] {
        let api = TestApi::with_book(&book).await;
        let body =
            json!({"invoice_date": "2023-06-01", "target_date": "2023-06-01", "renew": renew});
        let r = api.post("/v2/bill_runs", &body.to_string()).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        assert_eq!(r.body["renew"], renew);
        let id = r.body["id"].as_str().unwrap().to_string();
        api.work().await;
        let run = api.get(&format!("/v1/invoice-runs/{id}")).await.body;
        assert_eq!(run["request"]["renewSubscriptions"], renew);
        let compat = api.get(&format!("/v2/bill_runs/{id}")).await.body;
        assert_eq!(compat["renew"], renew);
        assert_eq!(compat["invoices_generated"], invoices, "renew {renew}");
        let docs = api
            .get(&format!("/v1/invoice-runs/{id}/invoices"))
            .await
            .body;
        let items = docs["items"].as_array().unwrap();
        assert_eq!(items.len(), invoices, "renew {renew}: {docs}");
        // The account's outcome reports the renewal, when there was one.
        let accounts = api
            .get(&format!("/v1/invoice-runs/{id}/accounts"))
            .await
            .body;
        let renewals = &accounts["items"][0]["renewals"];
        if renew {
            assert_eq!(
                renewals,
                &json!([{"subscriptionId": "RS-1", "termEndBefore": "2023-06-01",
                         "termEndAfter": "2024-06-01"}]),
                "{accounts}"
            );
        } else {
            assert!(renewals.is_null(), "{accounts}");
        }
        if renew {
            // Renewed to 2024-06-01: June 2023 is billed in advance, 100.00.
            let line = &items[0]["lines"][0];
            assert_eq!(line["periodStart"], "2023-06-01");
            assert_eq!(line["periodEnd"], "2023-07-01");
            assert_eq!(line["type"], "Recurring");
            assert_eq!(items[0]["totals"]["total"], "100.00");
        }
    }
}
