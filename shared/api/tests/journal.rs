//! `GET /v1/invoice-runs/{id}/journal` (docs/accounting.md): the journal of the
//! docs/book-format.md example run written out by hand, as JSON and as CSV (parsed
//! here), refused before the run is posted, unchanged by a later book change.

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::{Method, StatusCode};
use common::{TestApi, BOOK};
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{json, Value};

/// USD, rounded half away from zero to cents (docs/billing-rules.md).
fn usd(v: Decimal) -> Decimal {
    let mut r = v.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    r.rescale(2);
    r
}

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

/// The example book with GL codes: receivable 1200, tax payable 2200, revenue 4000 on
/// the account, 4100 on the recurring charge C-1.
fn coded_book() -> String {
    let mut v: Value = serde_json::from_str(BOOK).unwrap();
    v["accounts"][0]["glAccounts"] =
        json!({"receivable": "1200", "taxPayable": "2200", "revenue": "4000"});
    v["subscriptions"][0]["charges"][0]["glAccount"] = json!("4100");
    v.to_string()
}

/// Runs the example at its documented target date; posts it when `post`.
async fn example_run(api: &TestApi, post: bool) -> String {
    let created = api
        .post("/v1/invoice-runs", r#"{"targetDate": "2024-02-01"}"#)
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let id = created.body["id"].as_str().unwrap().to_string();
    api.work().await;
    if post {
        let r = api.post(&format!("/v1/invoice-runs/{id}/post"), "").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
    id
}

/// The example's journal by hand, as (account, role, lineType, debit, credit) rows, from
/// the figures docs/book-format.md gives: Gold plan at 100.00 a month from Jan 15 with
/// bill cycle day 1, billed to Feb 1 in advance; a 50.00 one-time charge; 1000 units of
/// usage at 0.05; a -10.00 goodwill adjustment; tax 8.25 %.
fn example_rows(receivable: &str, tax: &str, rev: &str, rev_c1: &str) -> Vec<[String; 5]> {
    let stub = usd(d("100.00") * d("17") / d("31")); // [Jan 15, Feb 1): 17 of 31 days
    let evergreen = stub + d("100.00"); // and February in advance
    let one_time = usd(d("50.00") * d("1"));
    let usage = usd(d("1000") * d("0.05"));
    let adjustment = d("-10.00");
    let sub_total = evergreen + one_time + usage + adjustment;
    let tax_amount = usd(sub_total * d("0.0825"));
    let total = sub_total + tax_amount;
    assert_eq!(total, d("265.04"), "the figure docs/book-format.md states");
    let zero = d("0.00");
    let row = |account: &str, role: &str, t: &str, debit: Decimal, credit: Decimal| {
        [account, role, t, &debit.to_string(), &credit.to_string()].map(str::to_string)
    };
    // Lines in order of role, then account, then line type (OneTime, Recurring,
    // Evergreen, Usage, Adjustment); the negative adjustment is a debit of revenue.
    let mut revenue = vec![
        (rev, "OneTime", one_time),
        (rev, "Usage", usage),
        (rev, "Adjustment", adjustment),
        (rev_c1, "Evergreen", evergreen),
    ];
    const TYPES: [&str; 5] = ["OneTime", "Recurring", "Evergreen", "Usage", "Adjustment"];
    revenue.sort_by_key(|(a, t, _)| (a.to_string(), TYPES.iter().position(|x| x == t)));
    let mut rows = vec![row(receivable, "Receivable", "", total, zero)];
    for (account, t, amount) in revenue {
        rows.push(if amount < zero {
            row(account, "Revenue", t, -amount, zero)
        } else {
            row(account, "Revenue", t, zero, amount)
        });
    }
    rows.push(row(tax, "TaxPayable", "", zero, tax_amount));
    rows
}

fn json_rows(journal: &Value) -> Vec<[String; 5]> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    journal["entries"][0]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            assert_eq!(l["documentKind"], "Invoice");
            [
                text(&l["account"]),
                text(&l["role"]),
                text(&l["lineType"]),
                text(&l["debit"]),
                text(&l["credit"]),
            ]
        })
        .collect()
}

/// RFC 4180 as the journal writes it: CRLF rows, cells quoted when they hold a comma
/// or a quote.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for line in text.split_terminator("\r\n") {
        let (mut cells, mut cell, mut quoted, mut chars) =
            (Vec::new(), String::new(), false, line.chars().peekable());
        while let Some(c) = chars.next() {
            match (c, quoted) {
                ('"', true) if chars.peek() == Some(&'"') => {
                    cell.push('"');
                    chars.next();
                }
                ('"', _) => quoted = !quoted,
                (',', false) => cells.push(std::mem::take(&mut cell)),
                (c, _) => cell.push(c),
            }
        }
        cells.push(cell);
        rows.push(cells);
    }
    rows
}

#[tokio::test]
async fn the_example_runs_journal_is_the_one_written_by_hand_in_json_and_csv() {
    let api = TestApi::with_book(&coded_book()).await;
    let id = example_run(&api, true).await;
    let r = api.get(&format!("/v1/invoice-runs/{id}/journal")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let expected = example_rows("1200", "2200", "4000", "4100");
    assert_eq!(json_rows(&r.body), expected);
    let entry = &r.body["entries"][0];
    assert_eq!(r.body["entries"].as_array().unwrap().len(), 1);
    assert_eq!(
        (&entry["currency"], &entry["date"], &entry["documents"]),
        (&json!("USD"), &json!("2024-02-01"), &json!(1))
    );
    // Debits: 265.04 + 10.00; credits: 50.00 + 50.00 + 154.84 + 20.20.
    assert_eq!(
        (&entry["debits"], &entry["credits"]),
        (&json!("275.04"), &json!("275.04"))
    );
    assert_eq!(
        r.body["totals"],
        json!([{"currency": "USD", "invoiced": "265.04", "credited": "0.00",
                "debits": "275.04", "credits": "275.04"}])
    );
    assert_eq!(r.body["runNumber"], "BR-00000001");
    // The journal's totals are the run's counters.
    let run = api.get(&format!("/v1/invoice-runs/{id}")).await;
    let amounts = &run.body["counters"]["amounts"][0];
    assert_eq!(amounts["invoiced"], r.body["totals"][0]["invoiced"]);
    assert_eq!(amounts["credited"], r.body["totals"][0]["credited"]);

    // CSV, by `?format=csv` and by `Accept: text/csv`: the same rows.
    let by_query = api
        .get(&format!("/v1/invoice-runs/{id}/journal?format=csv"))
        .await;
    let by_accept = api
        .call(
            Method::GET,
            &format!("/v1/invoice-runs/{id}/journal"),
            None,
            &[("Accept", "application/json;q=0.5, text/csv")],
        )
        .await;
    for csv in [&by_query, &by_accept] {
        assert_eq!(csv.status, StatusCode::OK, "{}", csv.text);
        assert!(csv.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv"));
        let rows = parse_csv(&csv.text);
        assert_eq!(
            rows[0],
            [
                "currency",
                "date",
                "account",
                "role",
                "documentKind",
                "lineType",
                "debit",
                "credit"
            ]
        );
        let got: Vec<[String; 5]> = rows[1..]
            .iter()
            .map(|r| {
                assert_eq!(
                    (r[0].as_str(), r[1].as_str(), r[4].as_str()),
                    ("USD", "2024-02-01", "Invoice")
                );
                [
                    r[2].clone(),
                    r[3].clone(),
                    r[5].clone(),
                    r[6].clone(),
                    r[7].clone(),
                ]
            })
            .collect();
        assert_eq!(got, expected);
    }
    // `format` wins over `Accept`; an unknown one is a 400 naming it.
    let json_anyway = api
        .call(
            Method::GET,
            &format!("/v1/invoice-runs/{id}/journal?format=json"),
            None,
            &[("Accept", "text/csv")],
        )
        .await;
    assert_eq!(json_rows(&json_anyway.body), expected);
    let bad = api
        .get(&format!("/v1/invoice-runs/{id}/journal?format=xml"))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.body["field"], "format");
}

#[tokio::test]
async fn a_book_without_codes_journals_to_the_placeholders() {
    let api = TestApi::with_book(BOOK).await;
    let id = example_run(&api, true).await;
    let r = api.get(&format!("/v1/invoice-runs/{id}/journal")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        json_rows(&r.body),
        example_rows("RECEIVABLE", "TAX_PAYABLE", "REVENUE", "REVENUE")
    );
}

#[tokio::test]
async fn only_a_posted_run_has_a_journal() {
    let api = TestApi::with_book(BOOK).await;
    let id = example_run(&api, false).await;
    let r = api.get(&format!("/v1/invoice-runs/{id}/journal")).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(r.body["code"], "run_not_posted");
    let unknown = api
        .get("/v1/invoice-runs/00000000-0000-4000-8000-000000000000/journal")
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_later_book_change_leaves_a_posted_journal_as_it_was() {
    let api = TestApi::with_book(&coded_book()).await;
    let id = example_run(&api, true).await;
    let before = api.get(&format!("/v1/invoice-runs/{id}/journal")).await;
    let mut changed: Value = serde_json::from_str(&coded_book()).unwrap();
    changed["accounts"][0]["glAccounts"] =
        json!({"receivable": "1300", "taxPayable": "2300", "revenue": "4900"});
    changed["subscriptions"][0]["charges"][0]["glAccount"] = json!("4999");
    let r = api.post("/v1/import", &changed.to_string()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let account = api.get("/v1/accounts/A-1001").await;
    assert_eq!(account.body["glAccounts"]["receivable"], "1300");
    let after = api.get(&format!("/v1/invoice-runs/{id}/journal")).await;
    assert_eq!(after.body, before.body);
    assert_eq!(
        json_rows(&after.body),
        example_rows("1200", "2200", "4000", "4100")
    );
}
