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

/// The aging bucket a balance `days` past due falls in (the report's field name).
fn bucket(days: i64) -> &'static str {
    match days {
        i64::MIN..=0 => "current",
        1..=30 => "days1To30",
        31..=60 => "days31To60",
        61..=90 => "days61To90",
        _ => "over90Days",
    }
}

#[tokio::test]
async fn the_aging_report_buckets_open_balances_as_of_its_date_by_account_and_currency() {
    let subscriptions: Vec<Value> = ["A-1", "B-2", "C-3"]
        .iter()
        .enumerate()
        .map(|(i, a)| {
            json!({
                "id": format!("S-{i}"), "accountId": a, "productId": "P",
                "startDate": "2024-01-01",
                "charges": [{"id": format!("C-{i}"), "type": "Recurring",
                             "price": format!("{}.00", 40 + 10 * i), "billingPeriod": "Month"}]
            })
        })
        .collect();
    let book = json!({
        "accounts": [
            {"id": "A-1", "name": "A", "currency": "USD", "billCycleDay": 1},
            {"id": "B-2", "name": "B", "currency": "USD", "billCycleDay": 1,
             "paymentTermDays": 45},
            {"id": "C-3", "name": "C", "currency": "EUR", "billCycleDay": 1}
        ],
        "subscriptions": subscriptions
    })
    .to_string();
    let api = TestApi::with_book(&book).await;
    let docs = documents(&api, true).await;
    let a = of(&docs, "A-1");
    let r = pay(
        &api,
        a["id"].as_str().unwrap(),
        json!({"amount": "25.00", "date": "2024-02-10"}),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let dec = |v: &Value| {
        v.as_str()
            .unwrap()
            .parse::<rust_decimal::Decimal>()
            .unwrap()
    };
    let day = |v: &Value| v.as_str().unwrap().parse::<chrono::NaiveDate>().unwrap();

    for as_of in ["2024-02-05", "2024-03-15", "2024-06-30"] {
        let date: chrono::NaiveDate = as_of.parse().unwrap();
        let r = api.get(&format!("/v1/reports/aging?asOf={as_of}")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body["asOf"], as_of);
        let rows = r.body["items"].as_array().unwrap();
        let accounts: Vec<&str> = rows
            .iter()
            .map(|x| x["accountId"].as_str().unwrap())
            .collect();
        assert_eq!(accounts, ["A-1", "B-2", "C-3"], "{}", r.text);
        for row in rows {
            let d = of(&docs, row["accountId"].as_str().unwrap());
            let mut open = dec(&d["totals"]["total"]);
            // The payment counts from its date on.
            if d["accountId"] == "A-1" && as_of != "2024-02-05" {
                open -= rust_decimal::Decimal::new(2500, 2);
            }
            let days = (date - day(&d["dueDate"])).num_days();
            assert_eq!(dec(&row[bucket(days)]), open, "{as_of}: {row}");
            assert_eq!(dec(&row["total"]), open, "{as_of}: {row}");
            assert_eq!(
                (&row["invoices"], &row["currency"]),
                (&json!(1), &d["currency"])
            );
        }
        let totals = r.body["totals"].as_array().unwrap();
        let usd = totals.iter().find(|t| t["currency"] == "USD").unwrap();
        let sum: rust_decimal::Decimal = rows
            .iter()
            .filter(|x| x["currency"] == "USD")
            .map(|x| dec(&x["total"]))
            .sum();
        assert_eq!((dec(&usd["total"]), &usd["invoices"]), (sum, &json!(2)));
    }
    // Before the invoices were dated: nothing open.
    let r = api.get("/v1/reports/aging?asOf=2024-01-15").await;
    assert_eq!(
        (&r.body["items"], &r.body["totals"]),
        (&json!([]), &json!([]))
    );
    // Paged by account.
    let r = api.get("/v1/reports/aging?asOf=2024-03-15&limit=2").await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 2);
    let cursor = r.body["nextCursor"].as_str().unwrap();
    let r = api
        .get(&format!(
            "/v1/reports/aging?asOf=2024-03-15&limit=2&cursor={cursor}"
        ))
        .await;
    assert_eq!(r.body["items"][0]["accountId"], "C-3", "{}", r.text);
    assert!(r.body["nextCursor"].is_null());
    // Paid in full: out of the report.
    let rest = dec(&a["totals"]["total"]) - rust_decimal::Decimal::new(2500, 2);
    let r = pay(
        &api,
        a["id"].as_str().unwrap(),
        json!({"amount": rest.to_string(), "date": "2024-03-01"}),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = api.get("/v1/reports/aging?asOf=2024-03-15").await;
    assert_eq!(r.body["items"][0]["accountId"], "B-2", "{}", r.text);
    let r = api.get("/v1/reports/aging?asOf=2024-13-01").await;
    assert_eq!(
        (r.status, &r.body["field"]),
        (StatusCode::BAD_REQUEST, &json!("asOf"))
    );
}

/// The documents of a posted run for `target` (the book imported before).
async fn posted_run(api: &TestApi, target: &str) -> Vec<Value> {
    let body = json!({"targetDate": target, "autoPost": true}).to_string();
    let r = api.post("/v1/invoice-runs", &body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    api.work().await;
    let run = r.body["id"].as_str().unwrap();
    let r = api.get(&format!("/v1/invoice-runs/{run}/invoices")).await;
    r.body["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_credit_memo_pays_invoices_of_its_account_up_to_its_credit() {
    let sub = |id: &str, account: &str, price: &str| {
        json!({"id": id, "accountId": account, "productId": "P", "startDate": "2024-01-01",
               "charges": [{"id": format!("C-{id}"), "type": "Recurring", "price": price,
                            "billingPeriod": "Month"}]})
    };
    let book = json!({
        "accounts": [
            {"id": "A-1", "name": "A", "currency": "USD", "billCycleDay": 1},
            {"id": "B-2", "name": "B", "currency": "USD", "billCycleDay": 1}
        ],
        "subscriptions": [sub("S-1", "A-1", "50.00"), sub("S-2", "B-2", "20.00")],
        "adjustments": [
            {"id": "ADJ-1", "accountId": "A-1", "amount": "-200.00", "date": "2024-02-15",
             "description": "Service credit"},
            {"id": "ADJ-2", "accountId": "A-1", "amount": "30.00", "date": "2024-03-15",
             "description": "Setup"}
        ]
    })
    .to_string();
    let api = TestApi::with_book(&book).await;
    let february = posted_run(&api, "2024-02-01").await;
    let march = posted_run(&api, "2024-03-01").await;
    let april = posted_run(&api, "2024-04-01").await;
    let feb = of(&february, "A-1");
    let memo = of(&march, "A-1");
    let apr = of(&april, "A-1");
    assert_eq!(
        (&memo["kind"], &memo["totals"]["total"]),
        (&json!("CreditMemo"), &json!("-150.00")),
        "{memo}"
    );
    assert_eq!(
        (&memo["amountApplied"], &memo["unappliedAmount"]),
        (&json!("0.00"), &json!("150.00"))
    );
    assert_eq!(feb["totals"]["total"], "100.00");
    assert_eq!(apr["totals"]["total"], "80.00", "{apr}");
    let memo_id = memo["id"].as_str().unwrap();
    let apply = |invoice: &Value, amount: &str, key: Option<&'static str>| {
        let body = json!({"invoiceId": invoice["id"], "amount": amount}).to_string();
        let uri = format!("/v1/credit-memos/{memo_id}/applications");
        let headers: Vec<(&str, &str)> = key.map(|k| ("idempotency-key", k)).into_iter().collect();
        let api = &api;
        async move { api.call(Method::POST, &uri, Some(&body), &headers).await }
    };

    let r = apply(feb, "100.00", Some("apply-1")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["application"]["creditMemoId"], memo["id"]);
    assert_eq!(r.body["invoice"]["paymentStatus"], "Paid");
    assert_eq!(
        (
            &r.body["creditMemo"]["amountApplied"],
            &r.body["creditMemo"]["unappliedAmount"]
        ),
        (&json!("100.00"), &json!("50.00"))
    );
    // Replayed under its key: the same application, nothing more applied.
    let again = apply(feb, "100.00", Some("apply-1")).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    assert_eq!(again.body["application"]["id"], r.body["application"]["id"]);
    assert_eq!(again.body["creditMemo"]["unappliedAmount"], "50.00");
    // Within the April invoice's balance (80.00) but beyond the memo's credit (50.00).
    let r = apply(apr, "60.00", None).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(
        (&r.body["code"], &r.body["field"]),
        (&json!("credit_exceeded"), &json!("amount"))
    );
    // Another account's invoice.
    let r = apply(of(&april, "B-2"), "5.00", None).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(
        (&r.body["code"], &r.body["field"]),
        (&json!("credit_memo_not_applicable"), &json!("invoiceId"))
    );
    // A paid invoice takes no more.
    let r = apply(feb, "1.00", None).await;
    assert_eq!(r.body["code"], "overpayment", "{}", r.text);
    // The rest of the credit to April: 30.00 of it stays open, the memo is used up.
    let r = apply(apr, "50.00", None).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(
        (
            &r.body["invoice"]["balance"],
            &r.body["invoice"]["paymentStatus"]
        ),
        (&json!("30.00"), &json!("PartiallyPaid"))
    );
    let shown = api.get(&format!("/v1/invoices/{memo_id}")).await;
    assert_eq!(
        (&shown.body["amountApplied"], &shown.body["unappliedAmount"]),
        (&json!("150.00"), &json!("0.00"))
    );
    let listed = api
        .get(&format!(
            "/v1/invoices/{}/payments",
            apr["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(listed.body["items"][0]["creditMemoId"], memo["id"]);
    // A memo is not an invoice, nor an invoice a memo.
    let r = api
        .call(
            Method::POST,
            &format!(
                "/v1/credit-memos/{}/applications",
                feb["id"].as_str().unwrap()
            ),
            Some(&json!({"invoiceId": apr["id"], "amount": "1.00"}).to_string()),
            &[],
        )
        .await;
    assert_eq!(r.body["code"], "credit_memo_not_applicable", "{}", r.text);
    let r = api
        .call(
            Method::POST,
            &format!("/v1/credit-memos/{memo_id}/applications"),
            Some(&json!({"invoiceId": "nope", "amount": "1.00"}).to_string()),
            &[],
        )
        .await;
    assert_eq!(
        (r.status, &r.body["field"]),
        (StatusCode::BAD_REQUEST, &json!("invoiceId"))
    );
}
