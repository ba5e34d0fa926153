//! Dates, ids, run requests and books that many tests build.

use billrun_domain::book::Book;
use billrun_domain::ids::AccountId;
use billrun_domain::request::{RunRequest, RunType};
use chrono::NaiveDate;

/// The example book of the README and `billrun-local`'s tests (accounts `A-1001`..).
pub const EXAMPLE_BOOK: &str = include_str!("../../../infra/local/tests/fixtures/book.json");

/// A calendar date from `YYYY-MM-DD`.
pub fn date(s: &str) -> NaiveDate {
    s.parse().expect("a YYYY-MM-DD date")
}

pub fn aid(s: &str) -> AccountId {
    AccountId::parse(s).expect("an account id")
}

/// An Immediate run for `target`, validated as the API would.
pub fn request(target: &str) -> RunRequest {
    RunRequest::for_target(date(target))
        .validated()
        .expect("a valid request")
}

/// A Manual run for `target` (created Pending, started by hand).
pub fn manual(target: &str) -> RunRequest {
    RunRequest {
        run_type: RunType::Manual,
        ..request(target)
    }
}

/// `n` monthly USD accounts `A-00`.. with bill cycle day 1, each with one subscription
/// `S-..` started 2024-01-15 (a stub in January) whose recurring charge `C-..` costs
/// `price(i)`, with the extra account fields `extra(i)` (batch, tax rate, ...).
pub fn monthly_book(
    n: usize,
    price: impl Fn(usize) -> String,
    extra: impl Fn(usize) -> serde_json::Value,
) -> Book {
    let mut accounts = Vec::new();
    let mut subs = Vec::new();
    for i in 0..n {
        let mut account = serde_json::json!({
            "id": format!("A-{i:02}"), "name": format!("Customer {i}"), "currency": "USD",
            "billCycleDay": 1
        });
        if let (Some(a), serde_json::Value::Object(more)) = (account.as_object_mut(), extra(i)) {
            a.extend(more);
        }
        accounts.push(account);
        subs.push(serde_json::json!({
            "id": format!("S-{i:02}"), "accountId": format!("A-{i:02}"), "productId": "P",
            "productName": "Plan", "startDate": "2024-01-15",
            "charges": [{"id": format!("C-{i:02}"), "type": "Recurring", "price": price(i), "billingPeriod": "Month"}]
        }));
    }
    let json = serde_json::json!({"accounts": accounts, "subscriptions": subs});
    Book::parse(json.to_string().as_bytes()).expect("a valid book")
}
