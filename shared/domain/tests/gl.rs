//! GL account codes in the book (docs/book-format.md "GL accounts"): validated with a
//! field path, stamped onto the lines and documents when they are rated.

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use billrun_domain::book::Book;
use billrun_domain::rating::{rate_account, AccountBook, RunSpec};
use billrun_domain::request::RunRequest;
use billrun_domain::state::AccountState;
use billrun_domain::{Document, RunId};
use serde_json::{json, Value};

const EXAMPLE: &str = include_str!("../../../infra/local/tests/fixtures/book.json");

fn example() -> Value {
    serde_json::from_str(EXAMPLE).unwrap()
}

/// The example book with codes on the account and on charge C-1 (docs/book-format.md).
fn coded() -> Value {
    let mut v = example();
    v["accounts"][0]["glAccounts"] =
        json!({"receivable": "1200", "taxPayable": "2200", "revenue": "4000"});
    v["subscriptions"][0]["charges"][0]["glAccount"] = json!("4100");
    v
}

/// The one document of the example billed at its documented target date, 2024-02-01.
fn rated(book: &Value) -> Document {
    let book = Book::parse(book.to_string().as_bytes()).unwrap();
    let state = AccountState::from_book(&book.subscriptions, &book.usage, &book.adjustments);
    let account_book = AccountBook {
        account: book.accounts[0].clone(),
        subscriptions: book.subscriptions,
        usage: book.usage,
        adjustments: book.adjustments,
        scheduled_subscriptions: Default::default(),
        state,
    };
    let req = RunRequest::for_target("2024-02-01".parse().unwrap())
        .validated()
        .unwrap();
    let spec = RunSpec::new(RunId(uuid::Uuid::from_u128(1)), &req);
    let mut rated = rate_account(&spec, &account_book).unwrap();
    assert_eq!(rated.documents.len(), 1);
    rated.documents.remove(0).document
}

#[test]
fn each_line_keeps_its_charges_code_else_its_accounts_revenue_code() {
    let d = rated(&coded());
    let codes: Vec<(&str, Option<&str>)> = d
        .lines
        .iter()
        .map(|l| {
            let id = l.charge_id.as_ref().map(|c| c.as_str());
            let id = id.or(l.adjustment_id.as_ref().map(|a| a.as_str()));
            (id.unwrap(), l.gl_account.as_deref())
        })
        .collect();
    assert_eq!(
        codes,
        [
            ("C-1", Some("4100")),
            ("C-1", Some("4100")),
            ("C-2", Some("4000")),
            ("C-3", Some("4000")),
            ("J-1", Some("4000")),
        ]
    );
    assert_eq!(d.gl_accounts.receivable.as_deref(), Some("1200"));
    assert_eq!(d.gl_accounts.tax_payable.as_deref(), Some("2200"));
    let text = serde_json::to_value(&d).unwrap();
    assert_eq!(text["lines"][0]["glAccount"], "4100");
    assert_eq!(text["glAccounts"]["taxPayable"], "2200");
}

#[test]
fn a_book_without_codes_rates_documents_without_them_in_the_json() {
    let d = rated(&example());
    assert!(d.lines.iter().all(|l| l.gl_account.is_none()));
    assert!(d.gl_accounts.is_empty());
    let text = serde_json::to_value(&d).unwrap();
    assert!(text.get("glAccounts").is_none());
    assert!(text["lines"][0].get("glAccount").is_none());
    // A stored document without the fields reads back the same.
    let back: Document = serde_json::from_value(text).unwrap();
    assert_eq!(back, d);
}

#[test]
fn a_bad_code_is_refused_at_its_path() {
    let cases = [
        (
            "/subscriptions/0/charges/1/glAccount",
            json!(""),
            "subscriptions[0].charges[1].glAccount",
        ),
        (
            "/subscriptions/0/charges/2/glAccount",
            json!("x".repeat(33)),
            "subscriptions[0].charges[2].glAccount",
        ),
        (
            "/accounts/0/glAccounts/taxPayable",
            json!("22\u{0}00"),
            "accounts[0].glAccounts.taxPayable",
        ),
        (
            "/accounts/0/glAccounts/receivable",
            json!("   "),
            "accounts[0].glAccounts.receivable",
        ),
        (
            "/accounts/0/glAccounts/payable",
            json!("2000"),
            "accounts[0].glAccounts.payable",
        ),
    ];
    for (pointer, value, field) in cases {
        let mut v = coded();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        v.pointer_mut(parent).unwrap()[key] = value;
        let err = Book::parse(v.to_string().as_bytes()).unwrap_err();
        assert_eq!(err.field, field, "{pointer}: {err}");
    }
    assert!(Book::parse(coded().to_string().as_bytes()).is_ok());
}
