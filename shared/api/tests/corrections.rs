//! Corrections of one document: a posted invoice voided by a linked credit memo and its
//! account rebilled at a new price (the docs/book-format.md example book), a void
//! refused once a later run billed past it, a void retried, single cancels.

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::{Method, StatusCode};
use common::{TestApi, BOOK};
use serde_json::{json, Value};

/// The in-memory API over `book`, callers named by `x-caller`.
async fn api_with(book: &str) -> TestApi {
    let store = std::sync::Arc::new(billrun_app::memory::MemoryStore::new());
    let queue = std::sync::Arc::new(billrun_app::memory::MemoryQueue::new());
    let app = billrun_app::App::in_memory(
        store.clone(),
        queue.clone(),
        std::sync::Arc::new(billrun_documents::PdfRenderer),
    );
    let api = TestApi::with_callers(app, store, queue);
    let r = api.post("/v1/import", book).await;
    assert_eq!(r.status, StatusCode::OK, "import: {}", r.text);
    api
}

/// A run of `date`, processed; its id and its documents.
async fn run(api: &TestApi, body: Value) -> (String, Vec<Value>) {
    let r = api.post("/v1/invoice-runs", &body.to_string()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    api.work().await;
    (id.clone(), documents(api, &id).await)
}

async fn documents(api: &TestApi, run: &str) -> Vec<Value> {
    let r = api
        .get(&format!("/v1/invoice-runs/{run}/invoices?limit=1000"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body["items"].as_array().unwrap().clone()
}

async fn post_run(api: &TestApi, run: &str) {
    let r = api
        .call(
            Method::POST,
            &format!("/v1/invoice-runs/{run}/post"),
            None,
            &[("x-caller", "poster")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

async fn void(api: &TestApi, id: &str) -> common::Reply {
    api.call(
        Method::POST,
        &format!("/v1/invoices/{id}/void"),
        None,
        &[("x-caller", "controller")],
    )
    .await
}

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_else(|| panic!("{k} in {v}"))
}

#[tokio::test]
async fn a_voided_example_invoice_is_credited_in_full_and_its_account_rebilled_at_the_new_price() {
    let api = api_with(BOOK).await;
    let (feb, docs) = run(&api, json!({"targetDate": "2024-02-01"})).await;
    assert_eq!(docs.len(), 1);
    let invoice = str_of(&docs[0], "id").to_string();
    assert_eq!(docs[0]["totals"]["total"], "265.04");
    post_run(&api, &feb).await;

    let r = void(&api, &invoice).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let (voided, memo) = (&r.body["invoice"], &r.body["creditMemo"]);
    assert_eq!(voided["status"], "Voided");
    assert_eq!(voided["number"], "INV-000000001");
    assert_eq!(voided["voidedBy"], "controller");
    assert!(voided["voidedAt"].is_string(), "{voided}");
    assert_eq!(memo["kind"], "CreditMemo");
    assert_eq!(memo["status"], "Posted");
    assert_eq!(memo["number"], "CM-000000001");
    assert_eq!(memo["accountId"], "A-1001");
    assert_eq!(memo["currency"], "USD");
    assert_eq!(memo["totals"]["total"], "-265.04");
    assert_eq!(memo["totals"]["tax"], "-20.20");
    let lines = memo["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 5);
    for l in lines {
        assert_eq!(l["creditsDocument"], "INV-000000001", "{l}");
    }
    let amounts: Vec<&str> = lines.iter().map(|l| str_of(l, "amount")).collect();
    assert_eq!(amounts, ["-54.84", "-100.00", "-50.00", "-50.00", "10.00"]);
    // The audit trail has the void and the credit memo's creation, by the caller.
    let trail = api
        .get(&format!("/v1/audit-events?resource={invoice}"))
        .await;
    assert_eq!(trail.status, StatusCode::OK, "{}", trail.text);
    let actions: Vec<&str> = trail.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| str_of(e, "action"))
        .collect();
    assert!(actions.contains(&"document.voided"), "{actions:?}");
    let memo_id = str_of(memo, "id");
    let trail = api
        .get(&format!("/v1/audit-events?resource={memo_id}"))
        .await;
    assert_eq!(
        trail.body["items"][0]["action"], "document.created",
        "{}",
        trail.text
    );
    assert_eq!(trail.body["items"][0]["actor"], "controller");

    // The run's journal keeps the voided invoice (it was posted) and adds the credit
    // memo that reverses it.
    let journal = api.get(&format!("/v1/invoice-runs/{feb}/journal")).await;
    assert_eq!(journal.status, StatusCode::OK, "{}", journal.text);
    let totals = &journal.body["totals"][0];
    assert_eq!(totals["invoiced"], "265.04", "{}", journal.text);
    assert_eq!(
        str_of(totals, "credited").trim_start_matches('-'),
        "265.04",
        "{}",
        journal.text
    );
    assert_eq!(totals["debits"], totals["credits"], "{}", journal.text);

    // The price goes up in the book; the rebill bills the same items at it.
    let mut book: Value = serde_json::from_str(BOOK).unwrap();
    book["subscriptions"][0]["charges"][0]["price"] = json!("120.00");
    let r = api.post("/v1/import", &book.to_string()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = api
        .post(
            "/v1/accounts/A-1001/rebill",
            &json!({"targetDate": "2024-02-01"}).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(
        r.body["request"]["filters"]["accountIds"],
        json!(["A-1001"])
    );
    let rebill = str_of(&r.body, "id").to_string();
    api.work().await;
    let docs = documents(&api, &rebill).await;
    assert_eq!(docs.len(), 1, "{docs:?}");
    let d = &docs[0];
    assert_eq!(d["number"], "INV-000000002");
    let amounts: Vec<&str> = d["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| str_of(l, "amount"))
        .collect();
    // Stub 120 × 17/31 = 65.806… → 65.81; February 120.00; setup, usage, goodwill as
    // before: 275.81, tax 275.81 × 0.0825 = 22.754… → 22.75.
    assert_eq!(amounts, ["65.81", "120.00", "50.00", "50.00", "-10.00"]);
    assert_eq!(d["totals"]["total"], "298.56");
    // Both sequences gapless: INV-1 (voided), INV-2; CM-1.
    use billrun_domain::document::DocumentKind;
    assert_eq!(api.store.sequence(DocumentKind::Invoice), 2);
    assert_eq!(api.store.sequence(DocumentKind::CreditMemo), 1);
    // The voided run lists its credit memo beside the voided invoice.
    let listed = documents(&api, &feb).await;
    let numbers: Vec<&str> = listed.iter().map(|d| str_of(d, "number")).collect();
    assert_eq!(numbers, ["INV-000000001", "CM-000000001"]);
}

#[tokio::test]
async fn a_void_is_refused_once_a_later_run_billed_past_it_and_nothing_is_written() {
    let api = api_with(BOOK).await;
    let (feb, docs) = run(&api, json!({"targetDate": "2024-02-01"})).await;
    let invoice = str_of(&docs[0], "id").to_string();
    post_run(&api, &feb).await;
    let (_, march) = run(&api, json!({"targetDate": "2024-03-01"})).await;
    assert_eq!(march.len(), 1);

    let r = void(&api, &invoice).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(r.body["code"], "document_superseded");
    let d = api.get(&format!("/v1/invoices/{invoice}")).await;
    assert_eq!(d.body["status"], "Posted");
    assert_eq!(d.body["voidedBy"], Value::Null);
    use billrun_domain::document::DocumentKind;
    assert_eq!(api.store.sequence(DocumentKind::CreditMemo), 0);
    assert_eq!(documents(&api, &feb).await.len(), 1);
}

#[tokio::test]
async fn a_retried_void_answers_the_same_credit_memo_and_wrong_statuses_are_refused() {
    let api = api_with(BOOK).await;
    let (feb, docs) = run(&api, json!({"targetDate": "2024-02-01"})).await;
    let invoice = str_of(&docs[0], "id").to_string();
    // A Draft invoice is not voided.
    let r = void(&api, &invoice).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(r.body["code"], "document_not_voidable");
    post_run(&api, &feb).await;
    // A Posted one is not canceled.
    let r = api
        .post(&format!("/v1/invoices/{invoice}/cancel"), "")
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(r.body["code"], "document_not_cancelable");

    let first = void(&api, &invoice).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let again = void(&api, &invoice).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    assert_eq!(
        first.body["creditMemo"]["id"],
        again.body["creditMemo"]["id"]
    );
    assert_eq!(again.body["creditMemo"]["number"], "CM-000000001");
    use billrun_domain::document::DocumentKind;
    assert_eq!(api.store.sequence(DocumentKind::CreditMemo), 1);
    // A credit memo is not voided.
    let memo = str_of(&first.body["creditMemo"], "id").to_string();
    let r = void(&api, &memo).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(r.body["code"], "document_not_voidable");
    assert_eq!(documents(&api, &feb).await.len(), 2);
    // Unknown and malformed ids.
    let r = void(&api, "6b1f0e4e-0000-4000-8000-000000000000").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = void(&api, "nope").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
}

#[tokio::test]
async fn a_draft_or_approved_invoice_is_canceled_alone_and_its_items_billed_again() {
    let book = json!({
        "accounts": [
            {"id": "A-1", "name": "One", "currency": "USD", "billCycleDay": 1},
            {"id": "A-2", "name": "Two", "currency": "USD", "billCycleDay": 1}],
        "subscriptions": [
            {"id": "S-1", "accountId": "A-1", "productId": "P", "startDate": "2024-01-01",
             "charges": [{"id": "C-1", "type": "Recurring", "price": "10.00",
                          "billingPeriod": "Month", "timing": "InAdvance"}]},
            {"id": "S-2", "accountId": "A-2", "productId": "P", "startDate": "2024-01-01",
             "charges": [{"id": "C-2", "type": "Recurring", "price": "20.00",
                          "billingPeriod": "Month", "timing": "InAdvance"}]}]
    });
    let api = api_with(&book.to_string()).await;
    let (jan, docs) = run(&api, json!({"targetDate": "2024-01-01"})).await;
    assert_eq!(docs.len(), 2);
    let (one, two) = (str_of(&docs[0], "id"), str_of(&docs[1], "id"));
    let r = api.post(&format!("/v1/invoices/{two}/approve"), "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    for id in [one, two] {
        let r = api
            .call(
                Method::POST,
                &format!("/v1/invoices/{id}/cancel"),
                None,
                &[("x-caller", "clerk")],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.body["status"], "Canceled");
        assert_eq!(r.body["canceledBy"], "clerk");
        // Again: the same answer, nothing more.
        let again = api.post(&format!("/v1/invoices/{id}/cancel"), "").await;
        assert_eq!(again.status, StatusCode::OK, "{}", again.text);
        assert_eq!(again.body["canceledBy"], "clerk");
        // A canceled invoice is not voided.
        let r = void(&api, id).await;
        assert_eq!(r.body["code"], "document_not_voidable", "{}", r.text);
    }
    // The run still posts (nothing left to post); the canceled stay canceled.
    post_run(&api, &jan).await;
    let statuses: Vec<Value> = documents(&api, &jan)
        .await
        .iter()
        .map(|d| d["status"].clone())
        .collect();
    assert_eq!(statuses, [json!("Canceled"), json!("Canceled")]);
    // The rebill of A-1 bills January again, with the next number.
    let r = api
        .post(
            "/v1/accounts/A-1/rebill",
            &json!({"targetDate": "2024-01-01"}).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let rebill = str_of(&r.body, "id").to_string();
    api.work().await;
    let docs = documents(&api, &rebill).await;
    assert_eq!(docs.len(), 1, "{docs:?}");
    assert_eq!(docs[0]["accountId"], "A-1");
    assert_eq!(docs[0]["number"], "INV-000000003");
    assert_eq!(docs[0]["totals"]["total"], "10.00");
    // A rebill of an unknown account, and a bad body.
    let r = api.post("/v1/accounts/NOPE/rebill", "").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = api
        .post("/v1/accounts/A-1/rebill", r#"{"targetDate": "soon"}"#)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert_eq!(r.body["field"], "targetDate", "{}", r.text);
    let r = api
        .post("/v1/accounts/A-1/rebill", r#"{"target": "2024-01-01"}"#)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
}

#[tokio::test]
async fn a_voids_credit_memo_is_all_taken_by_the_void_and_a_paid_invoice_is_not_voided() {
    let api = api_with(BOOK).await;
    let (feb, docs) = run(&api, json!({"targetDate": "2024-02-01"})).await;
    post_run(&api, &feb).await;
    let invoice = str_of(&docs[0], "id").to_string();

    // Paid in part: the void's credit memo would reverse the whole invoice, so no void.
    let r = api
        .post(
            &format!("/v1/invoices/{invoice}/payments"),
            &json!({"amount": "1.00"}).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = void(&api, &invoice).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(r.body["code"], "document_has_payments");
    assert_eq!(
        api.get(&format!("/v1/invoices/{invoice}")).await.body["status"],
        "Posted",
        "nothing written"
    );

    // An unpaid invoice of the next month is voided; its credit memo has nothing left
    // to apply, and applying it to the paid invoice is refused.
    let (mar, docs) = run(&api, json!({"targetDate": "2024-03-01"})).await;
    post_run(&api, &mar).await;
    let march = str_of(&docs[0], "id").to_string();
    let r = void(&api, &march).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let memo = str_of(&r.body["creditMemo"], "id").to_string();
    let shown = api.get(&format!("/v1/invoices/{memo}")).await;
    assert_eq!(shown.body["unappliedAmount"], "0.00", "{}", shown.text);
    assert_eq!(
        shown.body["amountApplied"], docs[0]["totals"]["total"],
        "{}",
        shown.text
    );
    let r = api
        .post(
            &format!("/v1/credit-memos/{memo}/applications"),
            &json!({"invoiceId": invoice, "amount": "1.00"}).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(r.body["code"], "credit_memo_not_applicable");
    let paid = api.get(&format!("/v1/invoices/{invoice}/payments")).await;
    assert_eq!(paid.body["items"].as_array().map(Vec::len), Some(1));
}
