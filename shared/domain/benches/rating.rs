//! Rating one typical account: the docs/book-format.md example account (a monthly plan with
//! a stub, a setup fee, usage and an adjustment, billed through the stub and February),
//! and a three-subscription account catching up a quarter.

// Bench code: a panic fails the bench (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use billrun_domain::book::Book;
use billrun_domain::ids::RunId;
use billrun_domain::rating::{rate_account, AccountBook, RunSpec};
use billrun_domain::request::RunRequest;
use billrun_domain::state::AccountState;
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

const BOOK: &str = r#"{
  "accounts": [{"id": "A-1001", "name": "Acme Aviation", "currency": "USD", "billCycleDay": 1,
    "paymentTermDays": 30, "taxRate": "0.0825", "locationId": "LOC-AUS"}],
  "subscriptions": [
    {"id": "S-1", "accountId": "A-1001", "productId": "P-GOLD", "productName": "Gold plan",
     "startDate": "2024-01-15", "charges": [
      {"id": "C-1", "type": "Recurring", "price": "100.00", "billingPeriod": "Month"},
      {"id": "C-2", "type": "OneTime", "price": "50.00", "chargeDate": "2024-01-15"},
      {"id": "C-3", "type": "Usage", "unitPrice": "0.05"}]},
    {"id": "S-2", "accountId": "A-1001", "productId": "P-SEATS", "productName": "Seats",
     "startDate": "2023-11-20", "charges": [
      {"id": "C-4", "type": "Recurring", "price": "12.50", "quantity": "17", "billingPeriod": "Month", "timing": "InArrears"}]},
    {"id": "S-3", "accountId": "A-1001", "productId": "P-SUPPORT", "productName": "Support",
     "startDate": "2023-06-01", "endDate": "2025-06-01", "charges": [
      {"id": "C-5", "type": "Recurring", "price": "900.00", "billingPeriod": "Quarter"}]}
  ],
  "usage": [
    {"id": "U-1", "accountId": "A-1001", "chargeId": "C-3", "date": "2024-01-20", "quantity": "1000"},
    {"id": "U-2", "accountId": "A-1001", "chargeId": "C-3", "date": "2024-01-27", "quantity": "250.5"}],
  "adjustments": [{"id": "J-1", "accountId": "A-1001", "date": "2024-01-31", "amount": "-10.00", "description": "Goodwill credit"}]
}"#;

fn account() -> AccountBook {
    let book = Book::parse(BOOK.as_bytes()).unwrap();
    AccountBook {
        account: book.accounts[0].clone(),
        state: AccountState::from_book(&book.subscriptions, &book.usage, &book.adjustments),
        subscriptions: book.subscriptions,
        usage: book.usage,
        adjustments: book.adjustments,
        scheduled_subscriptions: Default::default(),
    }
}

fn bench(c: &mut Criterion) {
    let book = account();
    let request = RunRequest::for_target("2024-02-01".parse().unwrap())
        .validated()
        .unwrap();
    let spec = RunSpec::new(RunId(uuid::Uuid::nil()), &request);
    let rated = rate_account(&spec, &book).unwrap();
    assert_eq!(rated.documents.len(), 1);
    c.bench_function("rate one typical account", |b| {
        b.iter(|| rate_account(black_box(&spec), black_box(&book)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
