//! The billing rules (docs/billing-rules.md, docs/book-format.md), one test per rule and
//! case.
//!
//! Every expected amount is derived by hand from the specification; the arithmetic is
//! written next to it. Document numbers are assigned later (app crate) and not tested
//! here.

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use billrun_domain::book::Book;
use billrun_domain::calendar::BillCycleDay;
use billrun_domain::rating::{rate_account, AccountBook, Rated, RunSpec};
use billrun_domain::request::RunRequest;
use billrun_domain::state::{AccountState, StateChange};
use billrun_domain::{
    AccountId, Currency, Document, DocumentId, DocumentKind, DocumentStatus, FieldError, Line,
    RunId,
};
use chrono::NaiveDate;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

const RUN: &str = "00000000-0000-4000-8000-000000000001";
const RUN2: &str = "00000000-0000-4000-8000-000000000002";

fn run_id(s: &str) -> RunId {
    s.parse().unwrap()
}

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// `base` with the keys of `extra` set (JSON objects).
fn with(mut base: Value, extra: Value) -> Value {
    let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) else {
        panic!("with() takes two objects");
    };
    for (k, v) in e {
        b.insert(k.clone(), v.clone());
    }
    base
}

/// Account A-1, USD, bill cycle day 1, no tax, no payment terms; `extra` overrides.
fn account(extra: Value) -> Value {
    with(
        json!({"id": "A-1", "name": "Acme", "currency": "USD", "billCycleDay": 1}),
        extra,
    )
}

/// A subscription of A-1 to product P-1 ("Plan"), evergreen unless `extra` says otherwise.
fn subscription(id: &str, start: &str, charges: Value, extra: Value) -> Value {
    with(
        json!({"id": id, "accountId": "A-1", "productId": "P-1", "productName": "Plan",
               "startDate": start, "charges": charges}),
        extra,
    )
}

/// A monthly recurring charge, in advance unless `extra` says otherwise.
fn monthly(id: &str, price: &str, extra: Value) -> Value {
    with(
        json!({"id": id, "type": "Recurring", "price": price, "billingPeriod": "Month"}),
        extra,
    )
}

fn one_time(id: &str, price: &str, extra: Value) -> Value {
    with(json!({"id": id, "type": "OneTime", "price": price}), extra)
}

fn usage_charge(id: &str, unit_price: &str) -> Value {
    json!({"id": id, "type": "Usage", "unitPrice": unit_price})
}

fn usage(id: &str, charge: &str, day: &str, quantity: &str) -> Value {
    json!({"id": id, "accountId": "A-1", "chargeId": charge, "date": day, "quantity": quantity})
}

fn adjustment(id: &str, day: &str, amount: &str) -> Value {
    json!({"id": id, "accountId": "A-1", "date": day, "amount": amount})
}

fn parse_book(v: &Value) -> Result<Book, FieldError> {
    Book::parse(v.to_string().as_bytes())
}

/// The part of a book that belongs to one account, with the state the book describes.
fn account_book(book: &Book, account: &str) -> AccountBook {
    let id = AccountId::parse(account).unwrap();
    let acct = book
        .accounts
        .iter()
        .find(|a| a.id == id)
        .expect("account is in the book")
        .clone();
    let subscriptions: Vec<_> = book
        .subscriptions
        .iter()
        .filter(|s| s.account_id == id)
        .cloned()
        .collect();
    let usage: Vec<_> = book
        .usage
        .iter()
        .filter(|u| u.account_id == id)
        .cloned()
        .collect();
    let adjustments: Vec<_> = book
        .adjustments
        .iter()
        .filter(|a| a.account_id == id)
        .cloned()
        .collect();
    let scheduled_subscriptions = book
        .invoice_schedules
        .iter()
        .filter(|s| s.account_id == id)
        .flat_map(|s| s.subscription_ids.iter().cloned())
        .collect();
    let state = AccountState::from_book(&subscriptions, &usage, &adjustments);
    AccountBook {
        account: acct,
        subscriptions,
        usage,
        adjustments,
        scheduled_subscriptions,
        state,
    }
}

/// A valid book (JSON) reduced to account `A-1`.
fn book(v: Value) -> AccountBook {
    book_for(v, "A-1")
}

fn book_for(v: Value, account: &str) -> AccountBook {
    let b = parse_book(&v).unwrap_or_else(|e| panic!("invalid test book: {e}"));
    account_book(&b, account)
}

/// A TargetDate run for `target` with every default.
fn run_at(target: &str) -> RunSpec {
    let req = RunRequest::for_target(date(target)).validated().unwrap();
    RunSpec::new(run_id(RUN), &req)
}

/// A run from a canonical run request (JSON).
fn run(req: Value) -> RunSpec {
    run_with_id(RUN, req)
}

fn run_with_id(id: &str, req: Value) -> RunSpec {
    let req = RunRequest::parse(req.to_string().as_bytes())
        .unwrap_or_else(|e| panic!("invalid test request: {e}"));
    RunSpec::new(run_id(id), &req)
}

fn rate(spec: &RunSpec, book: &AccountBook) -> Rated {
    rate_account(spec, book).unwrap_or_else(|e| panic!("account failed: {e}"))
}

/// One line as `"<charge or adjustment id> <type> <periodStart>..<periodEnd> x<qty> <amount>"`.
fn row(l: &Line) -> String {
    let id = l
        .charge_id
        .as_ref()
        .map(|c| c.to_string())
        .or_else(|| l.adjustment_id.as_ref().map(|a| a.to_string()))
        .unwrap_or_default();
    let d = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
    format!(
        "{id} {:?} {}..{} x{} {}",
        l.line_type,
        d(l.period_start),
        d(l.period_end),
        l.quantity.normalize(),
        l.amount
    )
}

/// Every line of every document of the run, in document order.
fn rows(r: &Rated) -> Vec<String> {
    r.documents
        .iter()
        .flat_map(|d| d.document.lines.iter().map(row))
        .collect()
}

/// The state changes as `"C-1 watermark none -> 2024-02-01"` / `"U-1 billed"`.
fn changes(r: &Rated) -> Vec<String> {
    r.changes
        .iter()
        .map(|c| match c {
            StateChange::Watermark {
                charge_id,
                from,
                to,
                ..
            } => format!(
                "{charge_id} watermark {} -> {to}",
                from.map_or("none".to_string(), |d| d.to_string())
            ),
            StateChange::OneTime { charge_id } => format!("{charge_id} billed"),
            StateChange::Usage { usage_id } => format!("{usage_id} billed"),
            StateChange::Adjustment { adjustment_id } => format!("{adjustment_id} billed"),
            StateChange::Renewal {
                subscription_id,
                from,
                to,
                term_end_from,
                term_end_to,
            } => format!(
                "{subscription_id} renewed {from} -> {to}: term end {term_end_from} -> {term_end_to}"
            ),
        })
        .collect()
}

/// The only document of the run.
fn only_doc(r: &Rated) -> &Document {
    assert_eq!(r.documents.len(), 1, "expected exactly one document");
    &r.documents[0].document
}

fn keys(r: &Rated) -> Vec<String> {
    r.documents
        .iter()
        .map(|d| d.document.group_key.clone())
        .collect()
}

fn assert_nothing(r: &Rated) {
    assert!(
        r.documents.is_empty(),
        "unexpected documents: {:?}",
        rows(r)
    );
    assert!(r.changes.is_empty(), "unexpected changes: {:?}", changes(r));
}

/// `book` with its state advanced by a run's changes.
fn after(mut book: AccountBook, r: &Rated) -> AccountBook {
    book.state.check(&r.changes).unwrap();
    book.state.apply(&r.changes);
    book
}

// ---------------------------------------------------------------------------------------
// Calendar: bill cycle day, stubs, catch-up, timing, watermarks, effective end
// ---------------------------------------------------------------------------------------

#[test]
fn bcd_31_bills_february_29_in_a_leap_year() {
    let b = book(json!({
        "accounts": [account(json!({"billCycleDay": 31}))],
        "subscriptions": [subscription("S-1", "2024-02-15", json!([monthly("C-1", "100.00", json!({}))]), json!({}))]
    }));
    let r = rate(&run_at("2024-02-29"), &b);
    // First boundary: min(31, 29) = Feb 29. Stub [Feb 15, Feb 29) lies in the grid period
    // [Jan 31, Feb 29) of 29 days: 100 × 14/29 = 48.2758… → 48.28.
    // [Feb 29, Mar 31) starts on T: a full period, 100.00.
    assert_eq!(
        rows(&r),
        [
            "C-1 Evergreen 2024-02-15..2024-02-29 x1 48.28",
            "C-1 Evergreen 2024-02-29..2024-03-31 x1 100.00",
        ]
    );
    assert_eq!(changes(&r), ["C-1 watermark none -> 2024-03-31"]);
}

#[test]
fn bcd_31_bills_february_28_in_a_common_year() {
    let b = book(json!({
        "accounts": [account(json!({"billCycleDay": 31}))],
        "subscriptions": [subscription("S-1", "2023-02-15", json!([monthly("C-1", "100.00", json!({}))]), json!({}))]
    }));
    let r = rate(&run_at("2023-03-31"), &b);
    // Boundaries: Jan 31, Feb 28 (min(31, 28)), Mar 31, Apr 30.
    // Stub [Feb 15, Feb 28) in [Jan 31, Feb 28) of 28 days: 100 × 13/28 = 46.428… → 46.43.
    // Then [Feb 28, Mar 31) and [Mar 31, Apr 30) in full (both start on or before T).
    assert_eq!(
        rows(&r),
        [
            "C-1 Evergreen 2023-02-15..2023-02-28 x1 46.43",
            "C-1 Evergreen 2023-02-28..2023-03-31 x1 100.00",
            "C-1 Evergreen 2023-03-31..2023-04-30 x1 100.00",
        ]
    );
    assert_eq!(changes(&r), ["C-1 watermark none -> 2023-04-30"]);
}

#[test]
fn quarterly_stub_is_prorated_against_the_quarter_ending_at_the_first_boundary() {
    let b = book(json!({
        "accounts": [account(json!({}))],
        "subscriptions": [subscription("S-1", "2024-01-15", json!([
            {"id": "C-1", "type": "Recurring", "price": "300.00", "billingPeriod": "Quarter"}
        ]), json!({}))]
    }));
    let r = rate(&run_at("2024-02-01"), &b);
    // First boundary Feb 1. The stub [Jan 15, Feb 1) (17 days) is prorated against the
    // quarter ending there, [2023-11-01, 2024-02-01) = 30 + 31 + 31 = 92 days:
    // 300 × 17/92 = 55.434… → 55.43. The next period [Feb 1, May 1) starts on T: 300.00.
    assert_eq!(
        rows(&r),
        [
            "C-1 Evergreen 2024-01-15..2024-02-01 x1 55.43",
            "C-1 Evergreen 2024-02-01..2024-05-01 x1 300.00",
        ]
    );
    assert_eq!(changes(&r), ["C-1 watermark none -> 2024-05-01"]);
}

#[test]
fn annual_stub_is_prorated_against_the_year_ending_at_the_first_boundary() {
    let b = book(json!({
        "accounts": [account(json!({}))],
        "subscriptions": [subscription("S-1", "2024-03-10", json!([
            {"id": "C-1", "type": "Recurring", "price": "1200.00", "billingPeriod": "Annual"}
        ]), json!({}))]
    }));
    let r = rate(&run_at("2024-03-10"), &b);
    // First boundary Apr 1 2024; the stub [Mar 10, Apr 1) is 22 days of the year
    // [2023-04-01, 2024-04-01), which holds Feb 29 2024: 366 days.
    // 1200 × 22/366 = 26400/366 = 72.131… → 72.13 (a 365-day year would give 72.33).
    assert_eq!(rows(&r), ["C-1 Evergreen 2024-03-10..2024-04-01 x1 72.13"]);
    assert_eq!(changes(&r), ["C-1 watermark none -> 2024-04-01"]);
}

#[test]
fn catch_up_bills_one_line_per_missed_period() {
    let b = book(json!({
        "accounts": [account(json!({}))],
        "subscriptions": [subscription("S-1", "2024-01-01", json!([monthly("C-1", "100.00", json!({}))]), json!({}))]
    }));
    let r = rate(&run_at("2024-04-15"), &b);
    // In advance, periods starting on or before Apr 15: Jan, Feb, Mar, Apr; 4 × 100.00.
    assert_eq!(
        rows(&r),
        [
            "C-1 Evergreen 2024-01-01..2024-02-01 x1 100.00",
            "C-1 Evergreen 2024-02-01..2024-03-01 x1 100.00",
            "C-1 Evergreen 2024-03-01..2024-04-01 x1 100.00",
            "C-1 Evergreen 2024-04-01..2024-05-01 x1 100.00",
        ]
    );
    assert_eq!(only_doc(&r).totals.evergreen.to_string(), "400.00");
    assert_eq!(changes(&r), ["C-1 watermark none -> 2024-05-01"]);
    // The watermark change records every billed period, each with this run's document.
    let StateChange::Watermark { billed, .. } = &r.changes[0] else {
        panic!("expected a watermark change");
    };
    let doc = DocumentId::derive(run_id(RUN), &AccountId::parse("A-1").unwrap(), "A-1");
    assert_eq!(billed.len(), 4);
    assert!(billed.iter().all(|p| p.document == doc));
    assert_eq!(
        (billed[3].start, billed[3].end),
        (date("2024-04-01"), date("2024-05-01"))
    );
}

#[test]
fn in_advance_period_is_billed_on_its_start_date_and_not_the_day_before() {
    let b = book(json!({
        "accounts": [account(json!({}))],
        "subscriptions": [subscription("S-1", "2024-01-01", json!([
            monthly("C-1", "100.00", json!({"billedThrough": "2024-02-01"}))
        ]), json!({}))]
    }));
    assert_nothing(&rate(&run_at("2024-01-31"), &b));
    let r = rate(&run_at("2024-02-01"), &b);
    assert_eq!(rows(&r), ["C-1 Evergreen 2024-02-01..2024-03-01 x1 100.00"]);
    assert_eq!(changes(&r), ["C-1 watermark 2024-02-01 -> 2024-03-01"]);
}

#[test]
fn in_arrears_period_is_billed_on_its_end_date() {
    let b = book(json!({
        "accounts": [account(json!({}))],
        "subscriptions": [subscription("S-1", "2024-01-01", json!([
            monthly("C-1", "100.00", json!({"timing": "InArrears"}))
        ]), json!({}))]
    }));
    let r = rate(&run_at("2024-02-01"), &b);
    // [Jan 1, Feb 1) ends on T: billed. [Feb 1, Mar 1) ends after T: not yet.
    assert_eq!(rows(&r), ["C-1 Evergreen 2024-01-01..2024-02-01 x1 100.00"]);
    assert_eq!(changes(&r), ["C-1 watermark none -> 2024-02-01"]);
}

#[test]
fn in_arrears_period_is_not_billed_one_day_before_its_end() {
    let b = book(json!({
        "accounts": [account(json!({}))],
        "subscriptions": [subscription("S-1", "2024-01-01", json!([
            monthly("C-1", "100.00", json!({"timing": "InArrears"}))
        ]), json!({}))]
    }));
    assert_nothing(&rate(&run_at("2024-01-31"), &b));
}

#[test]
fn in_arrears_period_truncated_by_the_effective_end_is_billed_at_the_effective_end() {
    let b = book(json!({
        "accounts": [account(json!({}))],
        "subscriptions": [subscription("S-1", "2024-01-01", json!([
            monthly("C-1", "100.00", json!({"timing": "InArrears"}))
        ]), json!({"endDate": "2024-01-20"}))]
    }));
    // The period ends at the effective end, Jan 20: not billed the day before.
    assert_nothing(&rate(&run_at("2024-01-19"), &b));
    // [Jan 1, Jan 20) = 19 of January's 31 days: 100 × 19/31 = 61.290… → 61.29.
    let r = rate(&run_at("2024-01-20"), &b);
    assert_eq!(rows(&r), ["C-1 Recurring 2024-01-01..2024-01-20 x1 61.29"]);
    assert_eq!(changes(&r), ["C-1 watermark none -> 2024-01-20"]);
}

#[test]
fn quarterly_grid_with_bcd_31_takes_each_boundary_from_its_own_month() {
    let b = book(json!({
        "accounts": [account(json!({"billCycleDay": 31}))],
        "subscriptions": [subscription("S-1", "2024-01-31", json!([
            {"id": "C-1", "type": "Recurring", "price": "300.00", "billingPeriod": "Quarter"}
        ]), json!({"endDate": "2024-05-31"}))]
    }));
    let r = rate(&run_at("2024-04-30"), &b);
    // Boundaries Jan 31, Apr 30 (min(31, 30)), Jul 31. [Jan 31, Apr 30) is a full quarter;
    // [Apr 30, Jul 31) = 1 + 31 + 30 + 30 = 92 days, cut at May 31 to 1 + 30 = 31 days:
    // 300 × 31/92 = 9300/92 = 101.086… → 101.09.
    assert_eq!(
        rows(&r),
        [
            "C-1 Recurring 2024-01-31..2024-04-30 x1 300.00",
            "C-1 Recurring 2024-04-30..2024-05-31 x1 101.09",
        ]
    );
    assert_eq!(changes(&r), ["C-1 watermark none -> 2024-05-31"]);
}

#[test]
fn mid_period_billed_through_resumes_prorated_and_the_grid_does_not_move() {
    let b = book(json!({
        "accounts": [account(json!({}))],
        "subscriptions": [subscription("S-1", "2024-01-01", json!([
            monthly("C-1", "100.00", json!({"billedThrough": "2024-02-10"}))
        ]), json!({}))]
    }));
    let r = rate(&run_at("2024-03-01"), &b);
    // Resume with [Feb 10, Mar 1), 20 days of the grid period [Feb 1, Mar 1) (29 days):
    // 100 × 20/29 = 68.965… → 68.97. The grid stays on the 1st: [Mar 1, Apr 1) 100.00.
    assert_eq!(
        rows(&r),
        [
            "C-1 Evergreen 2024-02-10..2024-03-01 x1 68.97",
            "C-1 Evergreen 2024-03-01..2024-04-01 x1 100.00",
        ]
    );
    assert_eq!(changes(&r), ["C-1 watermark 2024-02-10 -> 2024-04-01"]);
}

#[test]
fn billed_through_before_the_start_counts_as_the_start() {
    let b = book(json!({
        "accounts": [account(json!({}))],
        "subscriptions": [subscription("S-1", "2024-01-15", json!([
            monthly("C-1", "100.00", json!({"billedThrough": "2024-01-01"}))
        ]), json!({}))]
    }));
    let r = rate(&run_at("2024-01-15"), &b);
    // The watermark is at least the start: the stub [Jan 15, Feb 1) of [Jan 1, Feb 1)
    // (31 days): 100 × 17/31 = 54.838… → 54.84.
    assert_eq!(rows(&r), ["C-1 Evergreen 2024-01-15..2024-02-01 x1 54.84"]);
    assert_eq!(changes(&r), ["C-1 watermark 2024-01-01 -> 2024-02-01"]);
}

#[test]
fn effective_end_is_the_earlier_of_end_date_and_cancellation_date_and_truncates_the_period() {
    let b = book(json!({
        "accounts": [account(json!({}))],
        "subscriptions": [
            subscription("S-1", "2024-01-01",
                json!([monthly("C-1", "100.00", json!({"billedThrough": "2024-03-01"}))]),
                json!({"endDate": "2024-03-20", "cancellationDate": "2024-03-10"})),
            subscription("S-2", "2024-01-01",
                json!([monthly("C-2", "100.00", json!({"billedThrough": "2024-03-01"}))]),
                json!({"endDate": "2024-03-15", "cancellationDate": "2024-03-25"})),
        ]
    }));
    let r = rate(&run_at("2024-03-01"), &b);
    // S-1 ends min(Mar 20, Mar 10) = Mar 10: [Mar 1, Mar 10) of a 31-day March:
    //   100 × 9/31 = 29.032… → 29.03.
    // S-2 ends min(Mar 15, Mar 25) = Mar 15: [Mar 1, Mar 15): 100 × 14/31 = 45.161… → 45.16.
    // Both have an endDate, so the lines are Recurring.
    assert_eq!(
        rows(&r),
        [
            "C-1 Recurring 2024-03-01..2024-03-10 x1 29.03",
            "C-2 Recurring 2024-03-01..2024-03-15 x1 45.16",
        ]
    );
    assert_eq!(
        changes(&r),
        [
            "C-1 watermark 2024-03-01 -> 2024-03-10",
            "C-2 watermark 2024-03-01 -> 2024-03-15",
        ]
    );
    // Nothing is left to bill afterwards.
    let b = after(b, &r);
    assert_nothing(&rate(&run_at("2024-06-01"), &b));
}

#[test]
fn effective_end_on_the_start_date_leaves_nothing_to_bill() {
    let b = book(json!({
        "accounts": [account(json!({}))],
        "subscriptions": [subscription("S-1", "2024-01-15", json!([
            monthly("C-1", "100.00", json!({})),
            one_time("C-2", "50.00", json!({}))
        ]), json!({"cancellationDate": "2024-01-15"}))]
    }));
    // No period, and the one-time charge (dated at the start) is on the effective end.
    assert_nothing(&rate(&run_at("2024-02-01"), &b));
}

#[test]
fn subscription_without_end_date_bills_evergreen_lines_even_when_canceled() {
    let b = book(json!({
        "accounts": [account(json!({}))],
        "subscriptions": [
            subscription("S-1", "2024-03-01", json!([monthly("C-1", "100.00", json!({}))]),
                json!({"endDate": null, "cancellationDate": "2024-03-15"})),
            subscription("S-2", "2024-03-01", json!([monthly("C-2", "100.00", json!({}))]),
                json!({"endDate": "2024-12-31"})),
        ]
    }));
    let r = rate(&run_at("2024-03-01"), &b);
    // S-1: [Mar 1, Mar 15): 100 × 14/31 = 45.161… → 45.16, Evergreen (endDate null).
    // S-2: [Mar 1, Apr 1) in full, Recurring (it has an endDate).
    assert_eq!(
        rows(&r),
        [
            "C-1 Evergreen 2024-03-01..2024-03-15 x1 45.16",
            "C-2 Recurring 2024-03-01..2024-04-01 x1 100.00",
        ]
    );
    let t = &only_doc(&r).totals;
    assert_eq!(t.evergreen.to_string(), "45.16");
    assert_eq!(t.recurring.to_string(), "100.00");
    // Fee = 45.16 + 100.00 = 145.16.
    assert_eq!(t.fee.to_string(), "145.16");
}

// ---------------------------------------------------------------------------------------
// Credits on an earlier effective end
// ---------------------------------------------------------------------------------------

#[test]
fn in_advance_charge_billed_past_its_cancellation_is_credited_for_the_overlap() {
    let b = book(json!({
        "accounts": [account(json!({"paymentTermDays": 10}))],
        "subscriptions": [subscription("S-1", "2024-01-01", json!([
            monthly("C-1", "100.00", json!({"billedThrough": "2024-04-01"}))
        ]), json!({"cancellationDate": "2024-02-15"}))]
    }));
    let r = rate(&run_at("2024-03-01"), &b);
    // Billed through Apr 1, effective end Feb 15 <= T. Overlaps with [Feb 15, Apr 1):
    //   [Feb 15, Mar 1) = 15 of February's 29 days: 100 × 15/29 = 51.724… → -51.72
    //   [Mar 1, Apr 1), the whole of March:    100 × 31/31 = 100     → -100.00
    // Evergreen (no endDate), quantity positive, amounts negative.
    assert_eq!(
        rows(&r),
        [
            "C-1 Evergreen 2024-02-15..2024-03-01 x1 -51.72",
            "C-1 Evergreen 2024-03-01..2024-04-01 x1 -100.00",
        ]
    );
    let doc = only_doc(&r);
    for l in &doc.lines {
        assert!(l.is_credit());
        // Billed before the book was imported: no crediting document.
        assert_eq!(l.credits_document, Some(None));
        assert_eq!(l.credits_document_id, None);
    }
    // -51.72 - 100.00 = -151.72 → a credit memo, due like an invoice: Mar 1 + 10 = Mar 11.
    assert_eq!(doc.kind, DocumentKind::CreditMemo);
    assert_eq!(doc.totals.total.to_string(), "-151.72");
    assert_eq!(doc.due_date, date("2024-03-11"));
    // The watermark moves back to the effective end.
    assert_eq!(changes(&r), ["C-1 watermark 2024-04-01 -> 2024-02-15"]);
}

#[test]
fn in_arrears_charge_billed_past_its_end_date_is_credited_for_the_overlap() {
    let b = book(json!({
        "accounts": [account(json!({}))],
        "subscriptions": [subscription("S-1", "2024-01-01", json!([
            monthly("C-1", "50.00", json!({"timing": "InArrears", "quantity": "2", "billedThrough": "2024-03-01"}))
        ]), json!({"endDate": "2024-02-20"}))]
    }));
    let r = rate(&run_at("2024-03-05"), &b);
    // Overlap [Feb 20, Mar 1) = 10 of February's 29 days: 50 × 2 × 10/29 = 1000/29
    // = 34.482… → -34.48; quantity 2 (positive); Recurring (endDate set).
    assert_eq!(rows(&r), ["C-1 Recurring 2024-02-20..2024-03-01 x2 -34.48"]);
    assert_eq!(changes(&r), ["C-1 watermark 2024-03-01 -> 2024-02-20"]);
}

#[test]
fn credit_inside_the_stub_is_prorated_against_the_stub_full_period() {
    let b = book(json!({
        "accounts": [account(json!({}))],
        "subscriptions": [subscription("S-1", "2024-01-15", json!([
            monthly("C-1", "100.00", json!({"billedThrough": "2024-03-01"}))
        ]), json!({"cancellationDate": "2024-01-25"}))]
    }));
    let r = rate(&run_at("2024-02-01"), &b);
    // [Jan 25, Feb 1) inside the stub, whose full period is [Jan 1, Feb 1) (31 days):
    //   100 × 7/31 = 22.580… → -22.58; then February in full: -100.00.
    assert_eq!(
        rows(&r),
        [
            "C-1 Evergreen 2024-01-25..2024-02-01 x1 -22.58",
            "C-1 Evergreen 2024-02-01..2024-03-01 x1 -100.00",
        ]
    );
    // -22.58 - 100.00 = -122.58.
    assert_eq!(only_doc(&r).totals.total.to_string(), "-122.58");
}

#[test]
fn cancellation_dated_after_the_target_date_is_not_credited_yet() {
    let b = book(json!({
        "accounts": [account(json!({}))],
        "subscriptions": [subscription("S-1", "2024-01-01", json!([
            monthly("C-1", "100.00", json!({"billedThrough": "2024-04-01"}))
        ]), json!({"cancellationDate": "2024-03-15"}))]
    }));
    assert_nothing(&rate(&run_at("2024-03-14"), &b));
    // On the cancellation date itself the credit is due: [Mar 15, Apr 1) is 17 of March's
    // 31 days: 100 × 17/31 = 54.838… → -54.84.
    let r = rate(&run_at("2024-03-15"), &b);
    assert_eq!(rows(&r), ["C-1 Evergreen 2024-03-15..2024-04-01 x1 -54.84"]);
    assert_eq!(changes(&r), ["C-1 watermark 2024-04-01 -> 2024-03-15"]);
}

#[test]
fn credit_names_the_document_that_billed_the_period() {
    let sub = |extra: Value| {
        json!({
            "accounts": [account(json!({}))],
            "subscriptions": [subscription("S-1", "2024-01-01",
                json!([monthly("C-1", "100.00", json!({}))]), extra)]
        })
    };
    let b = book(sub(json!({})));
    let first = rate(&run_with_id(RUN, json!({"targetDate": "2024-01-01"})), &b);
    assert_eq!(
        rows(&first),
        ["C-1 Evergreen 2024-01-01..2024-02-01 x1 100.00"]
    );
    let billed_by = first.documents[0].document.id;
    assert_eq!(
        billed_by,
        DocumentId::derive(run_id(RUN), &AccountId::parse("A-1").unwrap(), "A-1")
    );

    // The subscription is then canceled on Jan 20 (the book changes, the state stays).
    let mut canceled = book(sub(json!({"cancellationDate": "2024-01-20"})));
    canceled.state = after(b, &first).state;
    let second = rate(
        &run_with_id(RUN2, json!({"targetDate": "2024-01-25"})),
        &canceled,
    );
    // [Jan 20, Feb 1) = 12 of January's 31 days: 100 × 12/31 = 38.709… → -38.71.
    assert_eq!(
        rows(&second),
        ["C-1 Evergreen 2024-01-20..2024-02-01 x1 -38.71"]
    );
    let line = &second.documents[0].document.lines[0];
    assert!(line.is_credit());
    assert_eq!(line.credits_document_id, Some(billed_by));
    assert_eq!(changes(&second), ["C-1 watermark 2024-02-01 -> 2024-01-20"]);
}

#[test]
fn credit_covers_only_billed_periods_when_the_effective_end_precedes_the_start() {
    let b = book(json!({
        "accounts": [account(json!({}))],
        "subscriptions": [subscription("S-1", "2024-02-01", json!([
            monthly("C-1", "100.00", json!({"billedThrough": "2024-03-01"}))
        ]), json!({"cancellationDate": "2024-01-20"}))]
    }));
    let r = rate(&run_at("2024-02-01"), &b);
    // Billed: [Feb 1, Mar 1) only (the watermark is at least the start). Its overlap with
    // [Jan 20, Mar 1) is [Feb 1, Mar 1): -100.00. Nothing before the start is credited.
    assert_eq!(
        rows(&r),
        ["C-1 Evergreen 2024-02-01..2024-03-01 x1 -100.00"]
    );
    assert_eq!(changes(&r), ["C-1 watermark 2024-03-01 -> 2024-01-20"]);
}

// ---------------------------------------------------------------------------------------
// One-time charges, usage, adjustments, cutoffs
// ---------------------------------------------------------------------------------------

#[test]
fn one_time_charge_is_billed_when_dated_on_or_before_the_target_date() {
    let b = book(json!({
        "accounts": [account(json!({}))],
        "subscriptions": [subscription("S-1", "2024-01-01", json!([
            one_time("C-1", "25.00", json!({"quantity": "2", "chargeDate": "2024-02-01"})),
            one_time("C-2", "20.00", json!({"chargeDate": "2024-02-02"})),
            one_time("C-3", "5.00", json!({}))
        ]), json!({}))]
    }));
    let r = rate(&run_at("2024-02-01"), &b);
    // C-1 dated T: 25.00 × 2 = 50.00. C-2 dated T + 1: waits. C-3 has no chargeDate and is
    // dated at the subscription start, Jan 1: 5.00.
    assert_eq!(
        rows(&r),
        [
            "C-1 OneTime 2024-02-01.. x2 50.00",
            "C-3 OneTime 2024-01-01.. x1 5.00",
        ]
    );
    assert_eq!(changes(&r), ["C-1 billed", "C-3 billed"]);
    // Billed once: the next run bills only C-2.
    let b = after(b, &r);
    let r = rate(&run_at("2024-02-02"), &b);
    assert_eq!(rows(&r), ["C-2 OneTime 2024-02-02.. x1 20.00"]);
}

#[test]
fn one_time_charge_dated_on_or_after_the_effective_end_is_not_billed() {
    let b = book(json!({
        "accounts": [account(json!({}))],
        "subscriptions": [subscription("S-1", "2024-01-01", json!([
            one_time("C-1", "10.00", json!({"chargeDate": "2024-02-29"})),
            one_time("C-2", "20.00", json!({"chargeDate": "2024-03-01"})),
            one_time("C-3", "30.00", json!({"chargeDate": "2024-03-02"}))
        ]), json!({"endDate": "2024-03-01"}))]
    }));
    let r = rate(&run_at("2024-03-15"), &b);
    assert_eq!(rows(&r), ["C-1 OneTime 2024-02-29.. x1 10.00"]);
    assert_eq!(changes(&r), ["C-1 billed"]);
}

#[test]
fn transaction_cutoff_before_the_target_date_bounds_one_time_charges_and_adjustments() {
    let b = book(json!({
        "accounts": [account(json!({}))],
        "subscriptions": [subscription("S-1", "2024-03-01", json!([
            one_time("C-1", "10.00", json!({"chargeDate": "2024-03-15"})),
            one_time("C-2", "20.00", json!({"chargeDate": "2024-03-16"})),
            usage_charge("C-U", "1.00")
        ]), json!({}))],
        "usage": [usage("U-1", "C-U", "2024-03-20", "3")],
        "adjustments": [adjustment("J-1", "2024-03-15", "1.00"), adjustment("J-2", "2024-03-16", "2.00")]
    }));
    let r = rate(
        &run(json!({"targetDate": "2024-03-31", "transactionCutoffDate": "2024-03-15"})),
        &b,
    );
    // Dated on the cutoff: billed; a day later: not. Usage has its own cutoff (T + 1 =
    // Apr 1): 3 × 1.00 = 3.00.
    assert_eq!(
        rows(&r),
        [
            "C-1 OneTime 2024-03-15.. x1 10.00",
            "C-U Usage ..2024-04-01 x3 3.00",
            "J-1 Adjustment 2024-03-15.. x1 1.00",
        ]
    );
    assert_eq!(changes(&r), ["C-1 billed", "U-1 billed", "J-1 billed"]);
}

#[test]
fn transaction_cutoff_after_the_target_date_replaces_it() {
    // "<= T, or <= transactionCutoffDate when the run has one".
    let b = book(json!({
        "accounts": [account(json!({}))],
        "subscriptions": [subscription("S-1", "2024-03-01", json!([
            one_time("C-1", "10.00", json!({"chargeDate": "2024-03-10"})),
            one_time("C-2", "20.00", json!({"chargeDate": "2024-03-16"}))
        ]), json!({}))],
        "adjustments": [adjustment("J-1", "2024-03-15", "1.00"), adjustment("J-2", "2024-03-16", "2.00")]
    }));
    let r = rate(
        &run(json!({"targetDate": "2024-03-01", "transactionCutoffDate": "2024-03-15"})),
        &b,
    );
    assert_eq!(
        rows(&r),
        [
            "C-1 OneTime 2024-03-10.. x1 10.00",
            "J-1 Adjustment 2024-03-15.. x1 1.00",
        ]
    );
    assert_eq!(only_doc(&r).invoice_date, date("2024-03-01"));
}

#[test]
fn adjustment_is_billed_when_dated_on_or_before_the_target_date() {
    let b = book(json!({
        "accounts": [account(json!({}))],
        "adjustments": [
            adjustment("J-1", "2024-01-31", "-10.00"),
            adjustment("J-2", "2024-02-01", "-20.00"),
            {"id": "J-3", "accountId": "A-1", "date": "2024-01-05", "amount": "-30.00", "billed": true}
        ]
    }));
    let r = rate(&run_at("2024-01-31"), &b);
    // J-2 is dated after T; J-3 was billed elsewhere.
    assert_eq!(rows(&r), ["J-1 Adjustment 2024-01-31.. x1 -10.00"]);
    assert_eq!(changes(&r), ["J-1 billed"]);
}

#[test]
fn usage_dated_on_the_target_date_is_billed_and_the_day_after_is_not() {
    let b = book(json!({
        "accounts": [account(json!({}))],
        "subscriptions": [subscription("S-1", "2024-01-01", json!([usage_charge("C-U", "0.05")]), json!({}))],
        "usage": [usage("U-1", "C-U", "2024-01-31", "10"), usage("U-2", "C-U", "2024-02-01", "5")]
    }));
    let r = rate(&run_at("2024-01-31"), &b);
    // Default cutoff T + 1 = Feb 1 (exclusive). 10 × 0.05 = 0.50; periodEnd = the cutoff.
    assert_eq!(rows(&r), ["C-U Usage ..2024-02-01 x10 0.50"]);
    assert_eq!(changes(&r), ["U-1 billed"]);
    // Each record is billed once: the next run bills U-2 only.
    let b = after(b, &r);
    let r = rate(&run_at("2024-02-01"), &b);
    // 5 × 0.05 = 0.25.
    assert_eq!(rows(&r), ["C-U Usage ..2024-02-02 x5 0.25"]);
    assert_eq!(changes(&r), ["U-2 billed"]);
}

#[test]
fn explicit_usage_cutoff_replaces_the_default() {
    let b = book(json!({
        "accounts": [account(json!({}))],
        "subscriptions": [subscription("S-1", "2024-01-01", json!([usage_charge("C-U", "0.05")]), json!({}))],
        "usage": [
            usage("U-1", "C-U", "2024-01-19", "100"),
            usage("U-2", "C-U", "2024-01-20", "7"),
            usage("U-3", "C-U", "2024-02-09", "4"),
            usage("U-4", "C-U", "2024-02-10", "9")
        ]
    }));
    // Cutoff before T: only records before Jan 20. 100 × 0.05 = 5.00.
    let r = rate(
        &run(json!({"targetDate": "2024-01-31", "usageCutoffDate": "2024-01-20"})),
        &b,
    );
    assert_eq!(rows(&r), ["C-U Usage ..2024-01-20 x100 5.00"]);
    assert_eq!(changes(&r), ["U-1 billed"]);
    // Cutoff after T + 1: records before Feb 10. 100 + 7 + 4 = 111; 111 × 0.05 = 5.55.
    let r = rate(
        &run(json!({"targetDate": "2024-01-31", "usageCutoffDate": "2024-02-10"})),
        &b,
    );
    assert_eq!(rows(&r), ["C-U Usage ..2024-02-10 x111 5.55"]);
    assert_eq!(changes(&r), ["U-1 billed", "U-2 billed", "U-3 billed"]);
}

#[test]
fn usage_is_summed_per_charge_into_one_line() {
    let b = book(json!({
        "accounts": [account(json!({}))],
        "subscriptions": [subscription("S-1", "2024-01-01", json!([
            usage_charge("C-U1", "0.05"),
            usage_charge("C-U2", "0.10")
        ]), json!({}))],
        "usage": [
            usage("U-1", "C-U1", "2024-01-03", "1000"),
            usage("U-2", "C-U2", "2024-01-04", "3"),
            usage("U-3", "C-U1", "2024-01-05", "250.5")
        ]
    }));
    let r = rate(&run_at("2024-01-31"), &b);
    // C-U1: 1000 + 250.5 = 1250.5; 1250.5 × 0.05 = 62.525 → 62.53 (half away from zero).
    // C-U2: 3 × 0.10 = 0.30.
    assert_eq!(
        rows(&r),
        [
            "C-U1 Usage ..2024-02-01 x1250.5 62.53",
            "C-U2 Usage ..2024-02-01 x3 0.30",
        ]
    );
    assert_eq!(only_doc(&r).totals.usage.to_string(), "62.83");
    let mut ch = changes(&r);
    ch.sort();
    assert_eq!(ch, ["U-1 billed", "U-2 billed", "U-3 billed"]);
}

#[test]
fn usage_dated_outside_the_subscription_is_still_billed() {
    let b = book(json!({
        "accounts": [account(json!({}))],
        "subscriptions": [subscription("S-1", "2024-02-01", json!([usage_charge("C-U", "0.05")]),
            json!({"endDate": "2024-03-01"}))],
        "usage": [
            usage("U-1", "C-U", "2024-01-10", "10"),
            usage("U-2", "C-U", "2024-03-10", "20"),
            {"id": "U-3", "accountId": "A-1", "chargeId": "C-U", "date": "2024-02-10", "quantity": "1000", "billed": true}
        ]
    }));
    let r = rate(&run_at("2024-03-15"), &b);
    // Before the start and after the end: both billed. U-3 was billed elsewhere.
    // (10 + 20) × 0.05 = 1.50.
    assert_eq!(rows(&r), ["C-U Usage ..2024-03-16 x30 1.50"]);
    assert_eq!(changes(&r), ["U-1 billed", "U-2 billed"]);
}

// ---------------------------------------------------------------------------------------
// ReadyForInvoiceDate runs
// ---------------------------------------------------------------------------------------

fn window(from: &str, to: &str) -> Value {
    json!({"invoiceDateType": "ReadyForInvoiceDate", "processFrom": from, "processTo": to})
}

#[test]
fn ready_window_includes_process_from_and_process_to() {
    let b = book(json!({
        "accounts": [account(json!({}))],
        "subscriptions": [subscription("S-1", "2024-01-01", json!([
            one_time("C-0", "100.00", json!({"chargeDate": "2024-01-31"})),
            one_time("C-1", "200.00", json!({"chargeDate": "2024-02-29"})),
            usage_charge("C-U", "1.00")
        ]), json!({}))],
        "usage": [
            usage("U-0", "C-U", "2024-01-31", "1"),
            usage("U-1", "C-U", "2024-02-01", "2"),
            usage("U-2", "C-U", "2024-02-29", "3"),
            usage("U-3", "C-U", "2024-03-01", "4")
        ],
        "adjustments": [
            adjustment("J-0", "2024-01-31", "1.00"),
            adjustment("J-1", "2024-02-01", "2.00"),
            adjustment("J-2", "2024-02-29", "3.00"),
            adjustment("J-3", "2024-03-01", "4.00")
        ]
    }));
    let r = rate(&run(window("2024-02-01", "2024-02-29")), &b);
    // Ready dates Feb 1 and Feb 29 are in [processFrom, processTo]; Jan 31 and Mar 1 not.
    // Usage: (2 + 3) × 1.00 = 5.00.
    assert_eq!(
        rows(&r),
        [
            "C-1 OneTime 2024-02-29.. x1 200.00",
            "C-U Usage ..2024-03-01 x5 5.00",
            "J-1 Adjustment 2024-02-01.. x1 2.00",
            "J-2 Adjustment 2024-02-29.. x1 3.00",
        ]
    );
    let mut ch = changes(&r);
    ch.sort();
    assert_eq!(
        ch,
        [
            "C-1 billed",
            "J-1 billed",
            "J-2 billed",
            "U-1 billed",
            "U-2 billed"
        ]
    );
    // Invoice date: the earliest ready date among the lines (U-1 and J-1, Feb 1).
    assert_eq!(only_doc(&r).invoice_date, date("2024-02-01"));
}

#[test]
fn in_advance_period_is_ready_at_its_start_and_in_arrears_period_at_its_end() {
    let b = book(json!({
        "accounts": [account(json!({}))],
        "subscriptions": [subscription("S-1", "2024-02-01", json!([
            monthly("C-ADV", "100.00", json!({})),
            monthly("C-ARR", "40.00", json!({"timing": "InArrears"}))
        ]), json!({}))]
    }));
    // [Feb 1, Mar 1): in advance ready Feb 1 (in the window), in arrears ready Mar 1 (not).
    let r = rate(&run(window("2024-02-01", "2024-02-29")), &b);
    assert_eq!(
        rows(&r),
        ["C-ADV Evergreen 2024-02-01..2024-03-01 x1 100.00"]
    );
    assert_eq!(only_doc(&r).invoice_date, date("2024-02-01"));
    let b = after(b, &r);
    // Next window: March in advance (ready Mar 1) and February in arrears (ready Mar 1).
    let r = rate(&run(window("2024-03-01", "2024-03-31")), &b);
    assert_eq!(
        rows(&r),
        [
            "C-ADV Evergreen 2024-03-01..2024-04-01 x1 100.00",
            "C-ARR Evergreen 2024-02-01..2024-03-01 x1 40.00",
        ]
    );
    assert_eq!(only_doc(&r).invoice_date, date("2024-03-01"));
}

#[test]
fn invoice_date_of_a_ready_run_is_the_earliest_ready_date_of_each_document() {
    let b = book(json!({
        "accounts": [account(json!({"paymentTermDays": 15}))],
        "subscriptions": [subscription("S-1", "2024-02-10", json!([
            monthly("C-1", "100.00", json!({})),
            usage_charge("C-U", "1.00")
        ]), json!({}))],
        "usage": [usage("U-1", "C-U", "2024-02-15", "2")],
        "adjustments": [adjustment("J-1", "2024-02-20", "5.00")]
    }));
    let mut req = window("2024-02-01", "2024-02-29");
    req["grouping"] = json!("Subscription");
    let r = rate(&run(req), &b);
    assert_eq!(keys(&r), ["A-1", "S-1"]);
    // Adjustment document: ready Feb 20; due Feb 20 + 15 = Mar 6 (Feb has 29 days).
    let adj = &r.documents[0].document;
    assert_eq!(adj.invoice_date, date("2024-02-20"));
    assert_eq!(adj.due_date, date("2024-03-06"));
    // Subscription document: stub ready Feb 10 (usage ready Feb 15); due Feb 25.
    // Stub [Feb 10, Mar 1), 20 of February's 29 days: 100 × 20/29 = 68.965… → 68.97.
    let sub = &r.documents[1].document;
    assert_eq!(
        sub.lines.iter().map(row).collect::<Vec<_>>(),
        [
            "C-1 Evergreen 2024-02-10..2024-03-01 x1 68.97",
            "C-U Usage ..2024-03-01 x2 2.00",
        ]
    );
    assert_eq!(sub.invoice_date, date("2024-02-10"));
    assert_eq!(sub.due_date, date("2024-02-25"));
}

#[test]
fn charge_whose_next_period_was_ready_before_process_from_bills_nothing() {
    let b = book(json!({
        "accounts": [account(json!({}))],
        "subscriptions": [subscription("S-1", "2024-02-01", json!([monthly("C-1", "100.00", json!({}))]), json!({}))],
        "adjustments": [adjustment("J-1", "2024-02-20", "2.00")]
    }));
    // [Feb 1, Mar 1) was ready Feb 1, before the window: the charge bills nothing (not
    // even March, which is not ready yet anyway); the adjustment in the window is billed.
    let r = rate(&run(window("2024-02-15", "2024-02-29")), &b);
    assert_eq!(rows(&r), ["J-1 Adjustment 2024-02-20.. x1 2.00"]);
    assert_eq!(changes(&r), ["J-1 billed"]);
    // A TargetDate run bills the period.
    let b = after(b, &r);
    let r = rate(&run_at("2024-02-29"), &b);
    assert_eq!(rows(&r), ["C-1 Evergreen 2024-02-01..2024-03-01 x1 100.00"]);
}

#[test]
fn credit_is_ready_at_the_effective_end() {
    let b = book(json!({
        "accounts": [account(json!({}))],
        "subscriptions": [subscription("S-1", "2024-01-01", json!([
            monthly("C-1", "100.00", json!({"billedThrough": "2024-04-01"}))
        ]), json!({"cancellationDate": "2024-03-10"}))]
    }));
    // Ready Mar 10, before a window starting Mar 11: nothing.
    assert_nothing(&rate(&run(window("2024-03-11", "2024-03-31")), &b));
    // In the window: [Mar 10, Apr 1) = 22 of 31 days: 100 × 22/31 = 70.967… → -70.97,
    // invoice date = the ready date Mar 10.
    let r = rate(&run(window("2024-03-01", "2024-03-31")), &b);
    assert_eq!(rows(&r), ["C-1 Evergreen 2024-03-10..2024-04-01 x1 -70.97"]);
    assert_eq!(only_doc(&r).invoice_date, date("2024-03-10"));
    assert_eq!(only_doc(&r).kind, DocumentKind::CreditMemo);
}

// ---------------------------------------------------------------------------------------
// Exclusions
// ---------------------------------------------------------------------------------------

/// One of each: recurring (100.00), a credit (-16.00), one-time (50.00), usage (5.00) and
/// an adjustment (-10.00), all billable on 2024-01-31.
fn every_kind() -> AccountBook {
    book(json!({
        "accounts": [account(json!({}))],
        "subscriptions": [
            subscription("S-1", "2024-01-01", json!([
                monthly("C-R", "100.00", json!({})),
                one_time("C-O", "50.00", json!({"chargeDate": "2024-01-10"})),
                usage_charge("C-U", "0.05")
            ]), json!({})),
            subscription("S-2", "2024-01-01", json!([
                monthly("C-X", "31.00", json!({"billedThrough": "2024-02-01"}))
            ]), json!({"cancellationDate": "2024-01-16"}))
        ],
        "usage": [usage("U-1", "C-U", "2024-01-20", "100")],
        "adjustments": [adjustment("J-1", "2024-01-25", "-10.00")]
    }))
}

fn excluding(types: Value) -> Rated {
    rate(
        &run(json!({"targetDate": "2024-01-31", "chargeTypesExcluded": types})),
        &every_kind(),
    )
}

#[test]
fn without_exclusions_every_kind_is_billed() {
    let r = excluding(json!([]));
    // C-R January 100.00; C-O 50.00; usage 100 × 0.05 = 5.00;
    // C-X credit [Jan 16, Feb 1): 31 × 16/31 = 16.00 → -16.00; J-1 -10.00.
    assert_eq!(
        rows(&r),
        [
            "C-R Evergreen 2024-01-01..2024-02-01 x1 100.00",
            "C-O OneTime 2024-01-10.. x1 50.00",
            "C-U Usage ..2024-02-01 x100 5.00",
            "C-X Evergreen 2024-01-16..2024-02-01 x1 -16.00",
            "J-1 Adjustment 2024-01-25.. x1 -10.00",
        ]
    );
    // 100 + 50 + 5 - 16 - 10 = 129.00.
    assert_eq!(only_doc(&r).totals.total.to_string(), "129.00");
    let mut ch = changes(&r);
    ch.sort();
    assert_eq!(
        ch,
        [
            "C-O billed",
            "C-R watermark none -> 2024-02-01",
            "C-X watermark 2024-02-01 -> 2024-01-16",
            "J-1 billed",
            "U-1 billed",
        ]
    );
}

#[test]
fn excluding_recurring_leaves_recurring_periods_and_credits_unbilled() {
    let r = excluding(json!(["Recurring"]));
    assert_eq!(
        rows(&r),
        [
            "C-O OneTime 2024-01-10.. x1 50.00",
            "C-U Usage ..2024-02-01 x100 5.00",
            "J-1 Adjustment 2024-01-25.. x1 -10.00",
        ]
    );
    assert_eq!(changes(&r), ["C-O billed", "U-1 billed", "J-1 billed"]);
}

#[test]
fn excluding_one_time_leaves_one_time_charges_unbilled() {
    let r = excluding(json!(["OneTime"]));
    assert!(rows(&r).iter().all(|l| !l.contains("OneTime")));
    assert_eq!(rows(&r).len(), 4);
    assert!(!changes(&r).contains(&"C-O billed".to_string()));
    assert_eq!(changes(&r).len(), 4);
}

#[test]
fn excluding_usage_leaves_usage_records_unbilled() {
    let r = excluding(json!(["Usage"]));
    assert!(rows(&r).iter().all(|l| !l.contains("Usage")));
    assert_eq!(rows(&r).len(), 4);
    assert!(!changes(&r).contains(&"U-1 billed".to_string()));
    assert_eq!(changes(&r).len(), 4);
}

#[test]
fn excluding_adjustments_leaves_adjustments_unbilled() {
    let r = excluding(json!(["Adjustment"]));
    assert!(rows(&r).iter().all(|l| !l.contains("Adjustment")));
    assert_eq!(rows(&r).len(), 4);
    assert!(!changes(&r).contains(&"J-1 billed".to_string()));
    assert_eq!(changes(&r).len(), 4);
}

#[test]
fn excluding_everything_bills_nothing() {
    assert_nothing(&excluding(json!([
        "Recurring",
        "OneTime",
        "Usage",
        "Adjustment"
    ])));
}

// ---------------------------------------------------------------------------------------
// Filters
// ---------------------------------------------------------------------------------------

#[test]
fn product_filter_narrows_items_and_drops_adjustments() {
    let b = book(json!({
        "accounts": [account(json!({}))],
        "subscriptions": [
            subscription("S-1", "2024-01-01", json!([monthly("C-1", "100.00", json!({}))]), json!({})),
            subscription("S-2", "2024-01-01", json!([
                monthly("C-2", "40.00", json!({})),
                usage_charge("C-U", "1.00")
            ]), json!({"productId": "P-2"}))
        ],
        "usage": [usage("U-1", "C-U", "2024-01-01", "1")],
        "adjustments": [adjustment("J-1", "2024-01-01", "-1.00")]
    }));
    let r = rate(
        &run(json!({"targetDate": "2024-01-01", "filters": {"productIds": ["P-1"]}})),
        &b,
    );
    assert_eq!(rows(&r), ["C-1 Evergreen 2024-01-01..2024-02-01 x1 100.00"]);
    assert_eq!(changes(&r), ["C-1 watermark none -> 2024-02-01"]);
    let r = rate(
        &run(json!({"targetDate": "2024-01-01", "filters": {"productIds": ["P-2"]}})),
        &b,
    );
    assert_eq!(
        rows(&r),
        [
            "C-2 Evergreen 2024-01-01..2024-02-01 x1 40.00",
            "C-U Usage ..2024-01-02 x1 1.00",
        ]
    );
}

#[test]
fn location_filter_uses_the_subscription_location_then_the_account_location() {
    let b = book(json!({
        "accounts": [account(json!({"locationId": "L-A"}))],
        "subscriptions": [
            subscription("S-1", "2024-01-01", json!([monthly("C-1", "10.00", json!({}))]), json!({"locationId": "L-1"})),
            subscription("S-2", "2024-01-01", json!([monthly("C-2", "20.00", json!({}))]), json!({}))
        ],
        "adjustments": [adjustment("J-1", "2024-01-01", "5.00")]
    }));
    let at = |locs: Value| {
        rate(
            &run(json!({"targetDate": "2024-01-01", "filters": {"locationIds": locs}})),
            &b,
        )
    };
    // L-A: S-2 has no location and takes the account's; the adjustment follows the account.
    assert_eq!(
        rows(&at(json!(["L-A"]))),
        [
            "C-2 Evergreen 2024-01-01..2024-02-01 x1 20.00",
            "J-1 Adjustment 2024-01-01.. x1 5.00",
        ]
    );
    // L-1: only S-1, no adjustment.
    let r = at(json!(["L-1"]));
    assert_eq!(rows(&r), ["C-1 Evergreen 2024-01-01..2024-02-01 x1 10.00"]);
    assert_eq!(changes(&r), ["C-1 watermark none -> 2024-02-01"]);
    assert_nothing(&at(json!(["L-Z"])));
}

#[test]
fn location_filter_drops_items_without_any_location() {
    let b = book(json!({
        "accounts": [account(json!({}))],
        "subscriptions": [subscription("S-1", "2024-01-01", json!([monthly("C-1", "10.00", json!({}))]), json!({}))],
        "adjustments": [adjustment("J-1", "2024-01-01", "5.00")]
    }));
    let r = rate(
        &run(json!({"targetDate": "2024-01-01", "filters": {"locationIds": ["L-A"]}})),
        &b,
    );
    assert_nothing(&r);
}

fn filters(f: Value) -> billrun_domain::request::Filters {
    let req = RunRequest::parse(
        json!({"targetDate": "2024-01-01", "filters": f})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    req.filters
}

fn selects(f: &Value, id: &str, batch: Option<&str>, bcd: u8, currency: &str) -> bool {
    filters(f.clone()).selects(
        &AccountId::parse(id).unwrap(),
        batch,
        BillCycleDay::new(bcd).unwrap(),
        Currency::parse(currency).unwrap(),
    )
}

#[test]
fn empty_account_filters_select_every_account() {
    let f = json!({});
    assert!(selects(&f, "A-1", None, 1, "USD"));
    assert!(selects(&f, "A-2", Some("Batch9"), 31, "JPY"));
}

#[test]
fn account_filters_select_by_id_batch_bill_cycle_day_and_currency() {
    let f = json!({"accountIds": ["A-1", "A-3"]});
    assert!(selects(&f, "A-1", None, 1, "USD"));
    assert!(!selects(&f, "A-2", None, 1, "USD"));

    let f = json!({"batches": ["Batch1"]});
    assert!(selects(&f, "A-1", Some("Batch1"), 1, "USD"));
    assert!(!selects(&f, "A-1", Some("Batch2"), 1, "USD"));

    let f = json!({"billCycleDays": [1, 15]});
    assert!(selects(&f, "A-1", None, 15, "USD"));
    assert!(!selects(&f, "A-1", None, 31, "USD"));

    let f = json!({"currencies": ["USD"]});
    assert!(selects(&f, "A-1", None, 1, "USD"));
    assert!(!selects(&f, "A-1", None, 1, "EUR"));

    // Every non-empty filter must match.
    let f = json!({"accountIds": ["A-1"], "batches": ["Batch1"], "billCycleDays": [1], "currencies": ["USD"]});
    assert!(selects(&f, "A-1", Some("Batch1"), 1, "USD"));
    assert!(!selects(&f, "A-1", Some("Batch1"), 1, "EUR"));
    assert!(!selects(&f, "A-1", Some("Batch1"), 2, "USD"));
    assert!(!selects(&f, "A-2", Some("Batch1"), 1, "USD"));
}

#[test]
fn account_without_batch_does_not_match_a_batch_filter() {
    assert!(!selects(
        &json!({"batches": ["Batch1"]}),
        "A-1",
        None,
        1,
        "USD"
    ));
}

// ---------------------------------------------------------------------------------------
// Grouping
// ---------------------------------------------------------------------------------------

/// A-1 at L-A: S-1 at L-1 (10.00), S-2 without a location (20.00), adjustment J-1 (5.00);
/// A-2 without any location: S-3 (30.00) and adjustment J-2 (7.00).
fn two_accounts() -> Value {
    json!({
        "accounts": [
            account(json!({"locationId": "L-A"})),
            account(json!({"id": "A-2"}))
        ],
        "subscriptions": [
            subscription("S-1", "2024-01-01", json!([monthly("C-1", "10.00", json!({}))]), json!({"locationId": "L-1"})),
            subscription("S-2", "2024-01-01", json!([monthly("C-2", "20.00", json!({}))]), json!({})),
            subscription("S-3", "2024-01-01", json!([monthly("C-3", "30.00", json!({}))]), json!({"accountId": "A-2"}))
        ],
        "adjustments": [
            adjustment("J-1", "2024-01-01", "5.00"),
            {"id": "J-2", "accountId": "A-2", "date": "2024-01-01", "amount": "7.00"}
        ]
    })
}

fn grouped(grouping: &str, account: &str) -> Rated {
    rate(
        &run(json!({"targetDate": "2024-01-01", "grouping": grouping})),
        &book_for(two_accounts(), account),
    )
}

fn doc_rows(r: &Rated, i: usize) -> Vec<String> {
    r.documents[i].document.lines.iter().map(row).collect()
}

#[test]
fn account_grouping_makes_one_document_per_account() {
    let r = grouped("Account", "A-1");
    assert_eq!(keys(&r), ["A-1"]);
    // 10.00 + 20.00 + 5.00 = 35.00.
    assert_eq!(only_doc(&r).totals.total.to_string(), "35.00");
    assert_eq!(only_doc(&r).lines.len(), 3);
}

#[test]
fn subscription_grouping_makes_one_document_per_subscription_and_one_for_adjustments() {
    let r = grouped("Subscription", "A-1");
    // Sorted by group key; the adjustments are keyed by the account id.
    assert_eq!(keys(&r), ["A-1", "S-1", "S-2"]);
    assert_eq!(doc_rows(&r, 0), ["J-1 Adjustment 2024-01-01.. x1 5.00"]);
    assert_eq!(
        doc_rows(&r, 1),
        ["C-1 Evergreen 2024-01-01..2024-02-01 x1 10.00"]
    );
    assert_eq!(
        doc_rows(&r, 2),
        ["C-2 Evergreen 2024-01-01..2024-02-01 x1 20.00"]
    );
    // Each document its own id, derived from (run, account, group key).
    let a1 = AccountId::parse("A-1").unwrap();
    for d in &r.documents {
        assert_eq!(
            d.document.id,
            DocumentId::derive(run_id(RUN), &a1, &d.document.group_key)
        );
    }
}

#[test]
fn location_grouping_keys_by_subscription_location_then_account_location_then_account_id() {
    let r = grouped("Location", "A-1");
    assert_eq!(keys(&r), ["L-1", "L-A"]);
    assert_eq!(
        doc_rows(&r, 0),
        ["C-1 Evergreen 2024-01-01..2024-02-01 x1 10.00"]
    );
    // S-2 has no location: the account's; the adjustment uses the account's key too.
    assert_eq!(
        doc_rows(&r, 1),
        [
            "C-2 Evergreen 2024-01-01..2024-02-01 x1 20.00",
            "J-1 Adjustment 2024-01-01.. x1 5.00",
        ]
    );
    // No location anywhere: the account id.
    let r = grouped("Location", "A-2");
    assert_eq!(keys(&r), ["A-2"]);
    assert_eq!(
        doc_rows(&r, 0),
        [
            "C-3 Evergreen 2024-01-01..2024-02-01 x1 30.00",
            "J-2 Adjustment 2024-01-01.. x1 7.00",
        ]
    );
}

// ---------------------------------------------------------------------------------------
// Zero suppression, document kind and status
// ---------------------------------------------------------------------------------------

fn nets_to(adjustment_amount: &str) -> AccountBook {
    book(json!({
        "accounts": [account(json!({}))],
        "subscriptions": [subscription("S-1", "2024-01-01", json!([monthly("C-1", "100.00", json!({}))]), json!({}))],
        "adjustments": [adjustment("J-1", "2024-01-01", adjustment_amount)]
    }))
}

#[test]
fn zero_total_document_is_an_invoice_when_suppression_is_off() {
    // 100.00 - 100.00 = 0.00.
    let r = rate(&run_at("2024-01-01"), &nets_to("-100.00"));
    assert_eq!(r.documents.len(), 1);
    assert!(!r.documents[0].suppressed);
    let doc = only_doc(&r);
    assert_eq!(doc.kind, DocumentKind::Invoice);
    assert_eq!(doc.totals.total.to_string(), "0.00");
}

#[test]
fn zero_total_document_is_suppressed_but_still_changes_the_state() {
    let r = rate(
        &run(json!({"targetDate": "2024-01-01", "suppressZeroInvoices": true})),
        &nets_to("-100.00"),
    );
    assert_eq!(r.documents.len(), 1);
    assert!(r.documents[0].suppressed);
    assert_eq!(
        changes(&r),
        ["C-1 watermark none -> 2024-02-01", "J-1 billed"]
    );
    // A non-zero document is not suppressed: 100.00 - 99.99 = 0.01.
    let r = rate(
        &run(json!({"targetDate": "2024-01-01", "suppressZeroInvoices": true})),
        &nets_to("-99.99"),
    );
    assert!(!r.documents[0].suppressed);
    assert_eq!(only_doc(&r).totals.total.to_string(), "0.01");
}

#[test]
fn document_kind_follows_the_sign_of_the_total() {
    let kind = |amount: &str| {
        let b = book(json!({
            "accounts": [account(json!({}))],
            "adjustments": [adjustment("J-1", "2024-01-01", amount)]
        }));
        only_doc(&rate(&run_at("2024-01-01"), &b)).kind
    };
    assert_eq!(kind("-0.01"), DocumentKind::CreditMemo);
    assert_eq!(kind("0.00"), DocumentKind::Invoice);
    assert_eq!(kind("0.01"), DocumentKind::Invoice);
}

#[test]
fn document_status_follows_auto_approve_and_auto_post() {
    let b = nets_to("1.00");
    let status = |approve: bool, post: bool| {
        only_doc(&rate(
            &run(json!({"targetDate": "2024-01-01", "autoApprove": approve, "autoPost": post})),
            &b,
        ))
        .status
    };
    assert_eq!(status(false, false), DocumentStatus::Draft);
    assert_eq!(status(true, false), DocumentStatus::Approved);
    assert_eq!(status(false, true), DocumentStatus::Posted);
    assert_eq!(status(true, true), DocumentStatus::Posted);
}

// ---------------------------------------------------------------------------------------
// Rounding and tax
// ---------------------------------------------------------------------------------------

#[test]
fn jpy_amount_is_multiplied_before_dividing_and_rounded_to_whole_yen() {
    let b = book(json!({
        "accounts": [account(json!({"currency": "JPY"}))],
        "subscriptions": [subscription("S-1", "2024-01-31", json!([monthly("C-1", "15.5", json!({}))]), json!({}))]
    }));
    let r = rate(&run_at("2024-01-31"), &b);
    // Stub [Jan 31, Feb 1): 1 day of the 31-day January. 15.5 × 1 / 31 = 0.5 → 1 (half
    // away from zero). Dividing first (1/31 = 0.0322…, × 15.5 = 0.4999…) would give 0.
    assert_eq!(rows(&r), ["C-1 Evergreen 2024-01-31..2024-02-01 x1 1"]);
    assert_eq!(only_doc(&r).totals.total.to_string(), "1");
}

#[test]
fn kwd_amounts_have_three_decimals_and_round_half_away_from_zero() {
    let b = book(json!({
        "accounts": [account(json!({"currency": "KWD"}))],
        "subscriptions": [
            subscription("S-1", "2024-01-31", json!([monthly("C-1", "1.5655", json!({}))]), json!({})),
            subscription("S-2", "2024-01-01", json!([
                monthly("C-2", "1.5655", json!({"billedThrough": "2024-02-01"}))
            ]), json!({"cancellationDate": "2024-01-31"}))
        ]
    }));
    let r = rate(&run_at("2024-01-31"), &b);
    // One day of 31: 1.5655 × 1 / 31 = 0.0505 → 0.051 (and the credit -0.0505 → -0.051).
    assert_eq!(
        rows(&r),
        [
            "C-1 Evergreen 2024-01-31..2024-02-01 x1 0.051",
            "C-2 Evergreen 2024-01-31..2024-02-01 x1 -0.051",
        ]
    );
    // 0.051 - 0.051 = 0.000: an invoice, printed with three decimals.
    assert_eq!(only_doc(&r).totals.total.to_string(), "0.000");
    assert_eq!(only_doc(&r).kind, DocumentKind::Invoice);
}

#[test]
fn tax_is_rounded_once_half_away_from_zero_on_the_sub_total() {
    let b = book(json!({
        "accounts": [account(json!({"taxRate": "0.05"}))],
        "subscriptions": [subscription("S-1", "2024-01-01", json!([
            one_time("C-1", "3.50", json!({})),
            one_time("C-2", "3.50", json!({})),
            one_time("C-3", "3.50", json!({}))
        ]), json!({}))]
    }));
    let t = only_doc(&rate(&run_at("2024-01-01"), &b)).totals.clone();
    // SubTotal 3 × 3.50 = 10.50; tax 10.50 × 0.05 = 0.525 → 0.53 (per line it would be
    // 3 × round(0.175) = 0.54); total 10.50 + 0.53 = 11.03.
    assert_eq!(t.one_time.to_string(), "10.50");
    assert_eq!(t.fee.to_string(), "10.50");
    assert_eq!(t.sub_total.to_string(), "10.50");
    assert_eq!(t.tax.to_string(), "0.53");
    assert_eq!(t.total.to_string(), "11.03");
}

#[test]
fn tax_on_a_credit_memo_is_negative_and_rounded_half_away_from_zero() {
    let b = book(json!({
        "accounts": [account(json!({"taxRate": "0.05"}))],
        "adjustments": [adjustment("J-1", "2024-01-01", "-10.50")]
    }));
    let doc = only_doc(&rate(&run_at("2024-01-01"), &b)).clone();
    // -10.50 × 0.05 = -0.525 → -0.53; total -10.50 - 0.53 = -11.03.
    assert_eq!(doc.kind, DocumentKind::CreditMemo);
    assert_eq!(doc.totals.adjustments.to_string(), "-10.50");
    assert_eq!(doc.totals.fee.to_string(), "0.00");
    assert_eq!(doc.totals.tax.to_string(), "-0.53");
    assert_eq!(doc.totals.total.to_string(), "-11.03");
}

// ---------------------------------------------------------------------------------------
// Dates of the document
// ---------------------------------------------------------------------------------------

fn termed() -> AccountBook {
    book(json!({
        "accounts": [account(json!({"paymentTermDays": 30}))],
        "adjustments": [adjustment("J-1", "2024-02-01", "1.00")]
    }))
}

#[test]
fn due_date_is_the_invoice_date_plus_payment_term_days() {
    let doc = only_doc(&rate(&run_at("2024-02-01"), &termed())).clone();
    assert_eq!(doc.invoice_date, date("2024-02-01"));
    // Feb 1 + 30 days = Mar 2 (February 2024 has 29 days).
    assert_eq!(doc.due_date, date("2024-03-02"));
    // Without payment terms the invoice is due on its date.
    let b = book(json!({
        "accounts": [account(json!({}))],
        "adjustments": [adjustment("J-1", "2024-02-01", "1.00")]
    }));
    assert_eq!(
        only_doc(&rate(&run_at("2024-02-01"), &b)).due_date,
        date("2024-02-01")
    );
}

#[test]
fn explicit_due_date_wins_over_payment_terms() {
    let r = rate(
        &run(json!({"targetDate": "2024-02-01", "dueDate": "2024-02-10"})),
        &termed(),
    );
    assert_eq!(only_doc(&r).invoice_date, date("2024-02-01"));
    assert_eq!(only_doc(&r).due_date, date("2024-02-10"));
}

#[test]
fn explicit_invoice_date_sets_the_invoice_date_and_the_due_date_follows() {
    let r = rate(
        &run(json!({"targetDate": "2024-02-01", "invoiceDate": "2024-02-05"})),
        &termed(),
    );
    assert_eq!(only_doc(&r).invoice_date, date("2024-02-05"));
    // Feb 5 + 30 = Mar 6.
    assert_eq!(only_doc(&r).due_date, date("2024-03-06"));
    // Also in a ReadyForInvoiceDate run, over the earliest ready date.
    let mut req = window("2024-02-01", "2024-02-29");
    req["invoiceDate"] = json!("2024-02-05");
    let r = rate(&run(req), &termed());
    assert_eq!(only_doc(&r).invoice_date, date("2024-02-05"));
}

// ---------------------------------------------------------------------------------------
// Currency mismatch, invoice schedules
// ---------------------------------------------------------------------------------------

/// USD account; S-1 (P-1, L-1) bills 100.00 in January; S-2 (P-2, L-2) starts in June and
/// has a EUR charge.
fn mismatched() -> AccountBook {
    book(json!({
        "accounts": [account(json!({}))],
        "subscriptions": [
            subscription("S-1", "2024-01-01", json!([
                monthly("C-1", "100.00", json!({"currency": "USD"}))
            ]), json!({"locationId": "L-1"})),
            subscription("S-2", "2024-06-01", json!([
                monthly("C-2", "10.00", json!({"currency": "EUR"}))
            ]), json!({"productId": "P-2", "locationId": "L-2"}))
        ]
    }))
}

#[test]
fn charge_currency_mismatch_fails_the_whole_account() {
    // Nothing of S-2 is billable on Jan 1; the account fails all the same.
    let err = rate_account(&run_at("2024-01-01"), &mismatched()).unwrap_err();
    assert!(
        err.to_string().contains("C-2"),
        "reason should name the charge: {err}"
    );
}

#[test]
fn charge_currency_mismatch_does_not_fail_when_a_filter_drops_its_subscription() {
    let r = rate(
        &run(json!({"targetDate": "2024-01-01", "filters": {"productIds": ["P-1"]}})),
        &mismatched(),
    );
    assert_eq!(rows(&r), ["C-1 Evergreen 2024-01-01..2024-02-01 x1 100.00"]);
    let r = rate(
        &run(json!({"targetDate": "2024-01-01", "filters": {"locationIds": ["L-1"]}})),
        &mismatched(),
    );
    assert_eq!(rows(&r), ["C-1 Evergreen 2024-01-01..2024-02-01 x1 100.00"]);
    // The product filter that keeps S-2 fails the account.
    assert!(rate_account(
        &run(json!({"targetDate": "2024-01-01", "filters": {"productIds": ["P-2"]}})),
        &mismatched(),
    )
    .is_err());
}

#[test]
fn invoice_schedule_subscriptions_bill_only_usage_in_runs() {
    let b = book(json!({
        "accounts": [account(json!({}))],
        "subscriptions": [
            subscription("S-1", "2024-01-01", json!([
                monthly("C-1", "1000.00", json!({})),
                one_time("C-2", "500.00", json!({})),
                usage_charge("C-U", "0.05")
            ]), json!({})),
            subscription("S-2", "2024-01-01", json!([monthly("C-3", "20.00", json!({}))]), json!({}))
        ],
        "usage": [usage("U-1", "C-U", "2024-01-10", "10")],
        "adjustments": [adjustment("J-1", "2024-01-10", "1.00")],
        "invoiceSchedules": [{"id": "IS-1", "accountId": "A-1", "subscriptionIds": ["S-1"],
            "items": [{"id": "IS-1-1", "invoiceDate": "2024-03-01", "amount": "1000.00"}]}]
    }));
    let r = rate(&run_at("2024-01-31"), &b);
    // S-1's recurring and one-time charges are left to the schedule; its usage
    // (10 × 0.05 = 0.50), S-2 and the account's adjustment are billed.
    assert_eq!(
        rows(&r),
        [
            "C-U Usage ..2024-02-01 x10 0.50",
            "C-3 Evergreen 2024-01-01..2024-02-01 x1 20.00",
            "J-1 Adjustment 2024-01-10.. x1 1.00",
        ]
    );
    assert_eq!(
        changes(&r),
        [
            "U-1 billed",
            "C-3 watermark none -> 2024-02-01",
            "J-1 billed"
        ]
    );
}

// ---------------------------------------------------------------------------------------
// The docs/book-format.md example
// ---------------------------------------------------------------------------------------

const BOOK_FORMAT_EXAMPLE: &str = r#"{
  "accounts": [{
    "id": "A-1001", "name": "Acme Aviation", "currency": "USD",
    "billCycleDay": 1, "batch": "Batch1", "paymentTermDays": 30,
    "paymentTermName": "Net 30", "taxRate": "0.0825",
    "billTo": {"name": "Acme AP", "line1": "1 Main St", "city": "Austin", "postalCode": "78701", "country": "US"},
    "shipTo": null, "locationId": "LOC-AUS"
  }],
  "subscriptions": [{
    "id": "S-1", "accountId": "A-1001", "productId": "P-GOLD", "productName": "Gold plan",
    "locationId": "LOC-AUS", "startDate": "2024-01-15", "endDate": null, "cancellationDate": null,
    "charges": [
      {"id": "C-1", "type": "Recurring", "price": "100.00", "quantity": "1",
       "billingPeriod": "Month", "timing": "InAdvance"},
      {"id": "C-2", "type": "OneTime", "price": "50.00", "quantity": "1", "chargeDate": "2024-01-15"},
      {"id": "C-3", "type": "Usage", "unitPrice": "0.05"}
    ]
  }],
  "usage": [{"id": "U-1", "accountId": "A-1001", "chargeId": "C-3", "date": "2024-01-20", "quantity": "1000"}],
  "adjustments": [{"id": "J-1", "accountId": "A-1001", "date": "2024-01-31", "amount": "-10.00", "description": "Goodwill credit"}],
  "invoiceSchedules": []
}"#;

const BOOK_FORMAT_RUN: &str = r#"{
  "name": "February 2024", "runType": "Immediate", "scheduledAt": null,
  "targetDate": "2024-02-01", "invoiceDate": null, "invoiceDateType": "TargetDate",
  "processFrom": null, "processTo": null,
  "usageCutoffDate": null, "transactionCutoffDate": null, "dueDate": null,
  "filters": {"accountIds": [], "batches": [], "billCycleDays": [], "productIds": [],
              "locationIds": [], "currencies": []},
  "chargeTypesExcluded": [], "grouping": "Account",
  "suppressZeroInvoices": false, "autoApprove": false, "autoPost": false,
  "invoiceMessage": null, "subrun": null
}"#;

#[test]
fn book_format_example_gives_the_documented_document() {
    let book = Book::parse(BOOK_FORMAT_EXAMPLE.as_bytes()).unwrap();
    let b = account_book(&book, "A-1001");
    let req = RunRequest::parse(BOOK_FORMAT_RUN.as_bytes()).unwrap();
    let r = rate(&RunSpec::new(run_id(RUN), &req), &b);
    let doc = only_doc(&r);
    // Stub [Jan 15, Feb 1): 100 × 17/31 = 54.838… → 54.84; February in advance 100.00;
    // one-time 50.00; usage 1000 × 0.05 = 50.00 up to the cutoff Feb 2; goodwill -10.00.
    assert_eq!(
        rows(&r),
        [
            "C-1 Evergreen 2024-01-15..2024-02-01 x1 54.84",
            "C-1 Evergreen 2024-02-01..2024-03-01 x1 100.00",
            "C-2 OneTime 2024-01-15.. x1 50.00",
            "C-3 Usage ..2024-02-02 x1000 50.00",
            "J-1 Adjustment 2024-01-31.. x1 -10.00",
        ]
    );
    assert_eq!(
        doc.lines[0].description,
        "Gold plan 2024-01-15 \u{2013} 2024-02-01"
    );
    assert_eq!(
        doc.lines[1].description,
        "Gold plan 2024-02-01 \u{2013} 2024-03-01"
    );
    assert_eq!(doc.lines[4].description, "Goodwill credit");
    assert_eq!(
        doc.lines[1].subscription_id.as_ref().map(|s| s.as_str()),
        Some("S-1")
    );
    assert_eq!(doc.lines[4].charge_id, None);
    assert_eq!(doc.lines[4].subscription_id, None);
    assert_eq!(doc.kind, DocumentKind::Invoice);
    assert_eq!(doc.status, DocumentStatus::Draft);
    assert_eq!(doc.account_id.as_str(), "A-1001");
    assert_eq!(doc.group_key, "A-1001");
    assert_eq!(doc.currency.code(), "USD");
    assert_eq!(doc.invoice_date, date("2024-02-01"));
    // Feb 1 + 30 = Mar 2.
    assert_eq!(doc.due_date, date("2024-03-02"));
    let t = &doc.totals;
    let got = [
        &t.one_time,
        &t.recurring,
        &t.evergreen,
        &t.usage,
        &t.adjustments,
        &t.fee,
        &t.sub_total,
        &t.tax,
        &t.total,
    ]
    .map(|d| d.to_string());
    // evergreen 54.84 + 100.00 = 154.84; fee 50 + 154.84 + 50 = 254.84;
    // subTotal 254.84 - 10 = 244.84; tax 244.84 × 0.0825 = 20.1993 → 20.20;
    // total 244.84 + 20.20 = 265.04.
    assert_eq!(
        got,
        ["50.00", "0.00", "154.84", "50.00", "-10.00", "254.84", "244.84", "20.20", "265.04"]
    );
    assert_eq!(
        changes(&r),
        [
            "C-1 watermark none -> 2024-03-01",
            "C-2 billed",
            "U-1 billed",
            "J-1 billed"
        ]
    );
    // Rating again after applying the changes bills nothing twice.
    let b = after(b, &r);
    assert_nothing(&rate(&RunSpec::new(run_id(RUN2), &req), &b));
}

// ---------------------------------------------------------------------------------------
// Book validation
// ---------------------------------------------------------------------------------------

fn book_error(v: Value) -> FieldError {
    match parse_book(&v) {
        Ok(_) => panic!("book should be rejected: {v}"),
        Err(e) => e,
    }
}

#[test]
fn unknown_currency_is_rejected_at_its_field_path() {
    let e = book_error(json!({"accounts": [
        account(json!({})),
        account(json!({"id": "A-2", "currency": "XYZ"}))
    ]}));
    assert_eq!(e.field, "accounts[1].currency");
}

#[test]
fn negative_usage_quantity_is_rejected() {
    let e = book_error(json!({
        "accounts": [account(json!({}))],
        "subscriptions": [subscription("S-1", "2024-01-01", json!([usage_charge("C-U", "0.05")]), json!({}))],
        "usage": [usage("U-1", "C-U", "2024-01-10", "-1")]
    }));
    assert_eq!(e.field, "usage[0].quantity");
}

#[test]
fn recurring_charge_without_price_is_rejected() {
    let e = book_error(json!({
        "accounts": [account(json!({}))],
        "subscriptions": [subscription("S-1", "2024-01-01", json!([
            {"id": "C-1", "type": "Recurring", "billingPeriod": "Month"}
        ]), json!({}))]
    }));
    assert_eq!(e.field, "subscriptions[0].charges[0].price");
}

#[test]
fn unknown_key_is_rejected() {
    let e = book_error(json!({"accounts": [account(json!({"colour": "red"}))]}));
    assert_eq!(e.field, "accounts[0].colour");
    let e = book_error(json!({"accounts": [account(json!({}))], "invoices": []}));
    assert_eq!(e.field, "invoices");
}

#[test]
fn duplicate_ids_are_rejected() {
    let e = book_error(json!({"accounts": [account(json!({})), account(json!({}))]}));
    assert_eq!(e.field, "accounts[1].id");
    let e = book_error(json!({
        "accounts": [account(json!({}))],
        "subscriptions": [
            subscription("S-1", "2024-01-01", json!([monthly("C-1", "1.00", json!({}))]), json!({})),
            subscription("S-2", "2024-01-01", json!([monthly("C-1", "1.00", json!({}))]), json!({}))
        ]
    }));
    assert_eq!(e.field, "subscriptions[1].charges[0].id");
    let e = book_error(json!({
        "accounts": [account(json!({}))],
        "adjustments": [adjustment("J-1", "2024-01-01", "1.00"), adjustment("J-1", "2024-01-02", "1.00")]
    }));
    assert_eq!(e.field, "adjustments[1].id");
}

#[test]
fn unresolved_references_are_rejected() {
    let e = book_error(json!({
        "accounts": [account(json!({}))],
        "subscriptions": [subscription("S-1", "2024-01-01", json!([]), json!({"accountId": "A-9"}))]
    }));
    assert_eq!(e.field, "subscriptions[0].accountId");
    let e = book_error(json!({
        "accounts": [account(json!({}))],
        "usage": [usage("U-1", "C-9", "2024-01-10", "1")]
    }));
    assert_eq!(e.field, "usage[0].chargeId");
    let e = book_error(json!({
        "accounts": [account(json!({}))],
        "adjustments": [{"id": "J-1", "accountId": "A-9", "date": "2024-01-01", "amount": "1.00"}]
    }));
    assert_eq!(e.field, "adjustments[0].accountId");
    let e = book_error(json!({
        "accounts": [account(json!({}))],
        "invoiceSchedules": [{"id": "IS-1", "accountId": "A-1", "subscriptionIds": ["S-9"], "items": []}]
    }));
    assert_eq!(e.field, "invoiceSchedules[0].subscriptionIds[0]");
}

#[test]
fn usage_must_belong_to_the_account_of_its_charge() {
    let e = book_error(json!({
        "accounts": [account(json!({})), account(json!({"id": "A-2"}))],
        "subscriptions": [subscription("S-1", "2024-01-01", json!([usage_charge("C-U", "0.05")]), json!({}))],
        "usage": [{"id": "U-1", "accountId": "A-2", "chargeId": "C-U", "date": "2024-01-10", "quantity": "1"}]
    }));
    assert_eq!(e.field, "usage[0].accountId");
}

/// docs/billing-rules.md "Subruns": whether a run request selects an account of the book.
fn run_selects(req: Value, account_extra: Value) -> bool {
    let b = parse_book(&json!({"accounts": [account(account_extra)]})).unwrap();
    let req = RunRequest::parse(req.to_string().as_bytes()).unwrap();
    req.account_selection().selects(&b.accounts[0])
}

#[test]
fn a_run_with_a_subrun_selects_only_the_accounts_of_that_subrun() {
    let north = json!({"targetDate": "2024-01-01", "subrun": "North"});
    assert!(run_selects(north.clone(), json!({"subrun": "North"})));
    assert!(!run_selects(north.clone(), json!({"subrun": "South"})));
    // An account without a subrun is not in any subrun.
    assert!(!run_selects(north.clone(), json!({})));
    // Byte-wise, like every other identifier.
    assert!(!run_selects(north, json!({"subrun": "north"})));
    // A run without a subrun selects accounts whatever their subrun.
    let any = json!({"targetDate": "2024-01-01"});
    assert!(run_selects(any.clone(), json!({"subrun": "South"})));
    assert!(run_selects(any, json!({})));
    // With the other account filters: every one must match.
    let both =
        json!({"targetDate": "2024-01-01", "subrun": "North", "filters": {"batches": ["B1"]}});
    assert!(run_selects(
        both.clone(),
        json!({"subrun": "North", "batch": "B1"})
    ));
    assert!(!run_selects(
        both,
        json!({"subrun": "North", "batch": "B2"})
    ));
}

#[test]
fn a_subrun_is_a_non_empty_name_of_at_most_64_bytes() {
    let long = "N".repeat(65);
    for (subrun, ok) in [
        ("North", true),
        (&"N".repeat(64)[..], true),
        (&long[..], false),
        ("  ", false),
    ] {
        let b = parse_book(&json!({"accounts": [account(json!({"subrun": subrun}))]}));
        match (b, ok) {
            (Ok(_), true) => {}
            (Err(e), false) => assert_eq!(e.field, "accounts[0].subrun", "{subrun:?}"),
            (r, _) => panic!("subrun {subrun:?} on an account: {r:?}"),
        }
        let req = RunRequest::parse(
            json!({"targetDate": "2024-01-01", "subrun": subrun})
                .to_string()
                .as_bytes(),
        )
        .and_then(RunRequest::validated);
        match (req, ok) {
            (Ok(_), true) => {}
            (Err(e), false) => assert_eq!(e.field, "subrun", "{subrun:?}"),
            (r, _) => panic!("subrun {subrun:?} on a run: {r:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Terms and renewals
// ---------------------------------------------------------------------------------------

/// A term ending on `end`, renewed by `months` when `auto_renew`.
fn term(end: &str, auto_renew: bool, months: Option<u32>) -> Value {
    json!({"term": {"endDate": end, "autoRenew": auto_renew, "renewalMonths": months}})
}

/// A TargetDate run for `target` that renews subscriptions.
fn renewing_at(target: &str) -> RunSpec {
    run(json!({"targetDate": target, "renewSubscriptions": true}))
}

#[test]
fn termed_subscription_bills_recurring_lines_up_to_its_term_end_only() {
    let b = book(json!({
        "accounts": [account(json!({}))],
        "subscriptions": [subscription("S-1", "2024-01-01", json!([
            monthly("C-1", "100.00", json!({})),
            one_time("C-2", "50.00", json!({"chargeDate": "2024-03-15"}))
        ]), with(json!({"endDate": null}), term("2024-03-15", false, None)))]
    }));
    let r = rate(&run_at("2024-03-01"), &b);
    // No endDate, but a term: the lines are Recurring. Effective end = the term end Mar 15.
    // [Jan 1, Feb 1) 100.00, [Feb 1, Mar 1) 100.00, [Mar 1, Mar 15) of a 31-day March:
    // 100 × 14/31 = 45.161… → 45.16. The one-time charge is dated on the term end: not billed.
    assert_eq!(
        rows(&r),
        [
            "C-1 Recurring 2024-01-01..2024-02-01 x1 100.00",
            "C-1 Recurring 2024-02-01..2024-03-01 x1 100.00",
            "C-1 Recurring 2024-03-01..2024-03-15 x1 45.16",
        ]
    );
    assert_eq!(changes(&r), ["C-1 watermark none -> 2024-03-15"]);
    // Nothing past the term end, not even by a renewing run: it does not auto-renew.
    let b = after(b, &r);
    assert_nothing(&rate(&run_at("2024-09-01"), &b));
    assert_nothing(&rate(&renewing_at("2024-09-01"), &b));
}

#[test]
fn a_period_crossing_the_term_end_is_prorated_and_a_renewing_run_bills_the_rest() {
    let b = book(json!({
        "accounts": [account(json!({}))],
        "subscriptions": [subscription("S-1", "2024-01-01",
            json!([monthly("C-1", "100.00", json!({}))]),
            term("2024-01-31", true, Some(1)))]
    }));
    // Without renewSubscriptions the term ends Jan 31: [Jan 1, Jan 31) = 100 × 30/31
    // = 96.774… → 96.77, and nothing past it.
    let r = rate(&run_at("2024-02-15"), &b);
    assert_eq!(rows(&r), ["C-1 Recurring 2024-01-01..2024-01-31 x1 96.77"]);
    assert_eq!(changes(&r), ["C-1 watermark none -> 2024-01-31"]);
    let b = after(b, &r);
    // Renewing at T = Feb 15: Jan 31 <= T, one renewal (1 month from Jan 31, clamped:
    // Feb 29) ends after T. Then billing resumes: [Jan 31, Feb 1) = 100 × 1/31 = 3.225…
    // → 3.23, and [Feb 1, Feb 29) of a 29-day February = 100 × 28/29 = 96.551… → 96.55.
    let r = rate(&renewing_at("2024-02-15"), &b);
    assert_eq!(
        rows(&r),
        [
            "C-1 Recurring 2024-01-31..2024-02-01 x1 3.23",
            "C-1 Recurring 2024-02-01..2024-02-29 x1 96.55",
        ]
    );
    assert_eq!(
        changes(&r),
        [
            "S-1 renewed 0 -> 1: term end 2024-01-31 -> 2024-02-29",
            "C-1 watermark 2024-01-31 -> 2024-02-29",
        ]
    );
}

#[test]
fn renewals_count_from_the_term_end_date_with_the_day_clamped_in_each_month() {
    let b = book(json!({
        "accounts": [account(json!({}))],
        "subscriptions": [subscription("S-1", "2024-01-01",
            json!([monthly("C-1", "100.00", json!({}))]),
            term("2024-01-31", true, Some(1)))]
    }));
    // One run at a time: Jan 31 + 1 month = Feb 29 (leap year), + 2 = Mar 31 (not Mar 29),
    // + 3 = Apr 30. Each run renews once (the new end is after its T) and bills the month
    // that starts by T in advance: 100.00 each.
    let r = rate(&renewing_at("2024-01-31"), &b);
    assert_eq!(rows(&r), ["C-1 Recurring 2024-01-01..2024-02-01 x1 100.00"]);
    assert_eq!(
        changes(&r),
        [
            "S-1 renewed 0 -> 1: term end 2024-01-31 -> 2024-02-29",
            "C-1 watermark none -> 2024-02-01",
        ]
    );
    let b = after(b, &r);
    let r = rate(&renewing_at("2024-02-29"), &b);
    assert_eq!(rows(&r), ["C-1 Recurring 2024-02-01..2024-03-01 x1 100.00"]);
    assert_eq!(
        changes(&r),
        [
            "S-1 renewed 1 -> 2: term end 2024-02-29 -> 2024-03-31",
            "C-1 watermark 2024-02-01 -> 2024-03-01",
        ]
    );
    let b = after(b, &r);
    let r = rate(&renewing_at("2024-03-31"), &b);
    assert_eq!(rows(&r), ["C-1 Recurring 2024-03-01..2024-04-01 x1 100.00"]);
    assert_eq!(
        changes(&r),
        [
            "S-1 renewed 2 -> 3: term end 2024-03-31 -> 2024-04-30",
            "C-1 watermark 2024-03-01 -> 2024-04-01",
        ]
    );
}

#[test]
fn a_renewal_takes_the_fewest_renewals_that_end_after_the_target_date() {
    let b = book(json!({
        "accounts": [account(json!({}))],
        "subscriptions": [subscription("S-1", "2024-01-01",
            json!([monthly("C-1", "100.00", json!({}))]),
            term("2024-01-31", true, Some(1)))]
    }));
    // T = Apr 15 from k = 0: k = 1 ends Feb 29, k = 2 Mar 31 (both <= T), k = 3 Apr 30 > T.
    // Billed: Jan, Feb, Mar 100.00 each; [Apr 1, Apr 30) of a 30-day April:
    // 100 × 29/30 = 96.666… → 96.67. The next period would start Apr 30 > T.
    let r = rate(&renewing_at("2024-04-15"), &b);
    assert_eq!(
        rows(&r),
        [
            "C-1 Recurring 2024-01-01..2024-02-01 x1 100.00",
            "C-1 Recurring 2024-02-01..2024-03-01 x1 100.00",
            "C-1 Recurring 2024-03-01..2024-04-01 x1 100.00",
            "C-1 Recurring 2024-04-01..2024-04-30 x1 96.67",
        ]
    );
    assert_eq!(
        changes(&r),
        [
            "S-1 renewed 0 -> 3: term end 2024-01-31 -> 2024-04-30",
            "C-1 watermark none -> 2024-04-30",
        ]
    );
    // A term that ends after T is not renewed.
    let b = after(b, &r);
    let r = rate(&renewing_at("2024-04-29"), &b);
    assert_nothing(&r);
}

#[test]
fn renewals_stop_at_the_first_one_ending_on_or_after_the_end_or_cancellation_date() {
    let b = book(json!({
        "accounts": [account(json!({}))],
        "subscriptions": [
            subscription("S-1", "2024-01-01",
                json!([monthly("C-1", "10.00", json!({"billedThrough": "2024-03-01"}))]),
                with(json!({"endDate": "2024-07-15"}), term("2024-03-01", true, Some(3)))),
            subscription("S-2", "2024-01-01",
                json!([monthly("C-2", "20.00", json!({"billedThrough": "2024-03-01"}))]),
                with(json!({"cancellationDate": "2024-04-10"}), term("2024-03-01", true, Some(1)))),
        ]
    }));
    let r = rate(&renewing_at("2024-12-01"), &b);
    // S-1: k = 1 ends Jun 1 (before endDate Jul 15), k = 2 ends Sep 1 >= Jul 15: stop at 2.
    //   Effective end min(Jul 15, Sep 1) = Jul 15: Mar..Jun 10.00 each, [Jul 1, Jul 15)
    //   = 10 × 14/31 = 4.516… → 4.52.
    // S-2 (no endDate, a term: Recurring): k = 1 ends Apr 1 (before Apr 10), k = 2 May 1
    //   >= Apr 10: stop at 2. Effective end Apr 10: [Mar 1, Apr 1) 20.00,
    //   [Apr 1, Apr 10) = 20 × 9/30 = 6.00.
    assert_eq!(
        rows(&r),
        [
            "C-1 Recurring 2024-03-01..2024-04-01 x1 10.00",
            "C-1 Recurring 2024-04-01..2024-05-01 x1 10.00",
            "C-1 Recurring 2024-05-01..2024-06-01 x1 10.00",
            "C-1 Recurring 2024-06-01..2024-07-01 x1 10.00",
            "C-1 Recurring 2024-07-01..2024-07-15 x1 4.52",
            "C-2 Recurring 2024-03-01..2024-04-01 x1 20.00",
            "C-2 Recurring 2024-04-01..2024-04-10 x1 6.00",
        ]
    );
    assert_eq!(
        changes(&r),
        [
            "S-1 renewed 0 -> 2: term end 2024-03-01 -> 2024-09-01",
            "C-1 watermark 2024-03-01 -> 2024-07-15",
            "S-2 renewed 0 -> 2: term end 2024-03-01 -> 2024-05-01",
            "C-2 watermark 2024-03-01 -> 2024-04-10",
        ]
    );
    // Their terms now end on or after their own ends: never renewed again.
    let b = after(b, &r);
    assert_nothing(&rate(&renewing_at("2026-01-01"), &b));
}

#[test]
fn only_auto_renewing_subscriptions_that_the_filters_keep_are_renewed() {
    let charge = |id: &str| {
        json!([monthly(
            id,
            "100.00",
            json!({"billedThrough": "2024-02-01"})
        )])
    };
    let b = book(json!({
        "accounts": [account(json!({}))],
        "subscriptions": [
            subscription("S-1", "2024-01-01", charge("C-1"), term("2024-02-01", false, Some(12))),
            subscription("S-2", "2024-01-01", charge("C-2"),
                with(json!({"productId": "P-2"}), term("2024-02-01", true, Some(12)))),
            subscription("S-3", "2024-01-01", charge("C-3"), term("2024-02-01", true, Some(12))),
        ]
    }));
    let r = rate(
        &run(
            json!({"targetDate": "2024-02-01", "renewSubscriptions": true,
                    "filters": {"productIds": ["P-1"]}}),
        ),
        &b,
    );
    // S-1 does not auto-renew, S-2 is dropped by the product filter. S-3: Feb 1 <= T,
    // one renewal of 12 months ends 2025-02-01 > T; [Feb 1, Mar 1) in advance: 100.00.
    assert_eq!(rows(&r), ["C-3 Recurring 2024-02-01..2024-03-01 x1 100.00"]);
    assert_eq!(
        changes(&r),
        [
            "S-3 renewed 0 -> 1: term end 2024-02-01 -> 2025-02-01",
            "C-3 watermark 2024-02-01 -> 2024-03-01",
        ]
    );
}

#[test]
fn a_ready_for_invoice_date_run_renews_up_to_process_to() {
    let b = book(json!({
        "accounts": [account(json!({}))],
        "subscriptions": [subscription("S-1", "2024-01-01",
            json!([monthly("C-1", "100.00", json!({"billedThrough": "2024-02-01"}))]),
            term("2024-02-15", true, Some(1)))]
    }));
    // Without renewal the window bills [Feb 1, Feb 15) = 100 × 14/29 = 48.275… → 48.28.
    let r = rate(&run(window("2024-02-01", "2024-02-29")), &b);
    assert_eq!(rows(&r), ["C-1 Recurring 2024-02-01..2024-02-15 x1 48.28"]);
    // Renewing, T = processTo = Feb 29: the term end Feb 15 <= Feb 29 (it is after
    // processFrom, which would not renew it); one renewal ends Mar 15 > Feb 29. The whole
    // of February is billed, ready Feb 1.
    let r = rate(
        &run(with(
            window("2024-02-01", "2024-02-29"),
            json!({"renewSubscriptions": true}),
        )),
        &b,
    );
    assert_eq!(rows(&r), ["C-1 Recurring 2024-02-01..2024-03-01 x1 100.00"]);
    assert_eq!(
        changes(&r),
        [
            "S-1 renewed 0 -> 1: term end 2024-02-15 -> 2024-03-15",
            "C-1 watermark 2024-02-01 -> 2024-03-01",
        ]
    );
}

#[test]
fn a_renewal_alone_makes_no_document() {
    let b = book(json!({
        "accounts": [account(json!({}))],
        "subscriptions": [subscription("S-1", "2024-01-01",
            json!([monthly("C-1", "100.00",
                json!({"timing": "InArrears", "billedThrough": "2024-02-01"}))]),
            term("2024-02-01", true, Some(1)))]
    }));
    // Renewed to Mar 1; the in-arrears period [Feb 1, Mar 1) is ready Mar 1 > T: no line.
    // The account's only change is the renewal (its outcome is NothingToBill).
    let r = rate(&renewing_at("2024-02-01"), &b);
    assert!(r.documents.is_empty(), "{:?}", rows(&r));
    assert_eq!(
        changes(&r),
        ["S-1 renewed 0 -> 1: term end 2024-02-01 -> 2024-03-01"]
    );
}

#[test]
fn a_renewal_is_checked_applied_and_reverted_like_a_watermark() {
    let b = book(json!({
        "accounts": [account(json!({}))],
        "subscriptions": [subscription("S-1", "2024-01-01",
            json!([monthly("C-1", "100.00", json!({"billedThrough": "2024-02-01"}))]),
            term("2024-02-01", true, Some(1)))]
    }));
    let first = rate(&renewing_at("2024-02-01"), &b);
    let mut state = b.state.clone();
    state.apply(&first.changes);
    // Applied twice it conflicts: the count moved from 0.
    assert!(state.check(&first.changes).is_err());
    let renewed = AccountBook {
        state: state.clone(),
        ..b.clone()
    };
    let second = rate(&renewing_at("2024-03-01"), &renewed);
    assert_eq!(
        changes(&second)[0],
        "S-1 renewed 1 -> 2: term end 2024-03-01 -> 2024-04-01"
    );
    let mut later = state.clone();
    later.apply(&second.changes);
    // A later run relied on the first renewal: the first run cannot be reverted.
    let e = later.check_revert(&first.changes).unwrap_err();
    assert!(e.0.contains("subscription S-1"), "{e}");
    // Without it, the revert restores the count, and the run renews the same again.
    state.check_revert(&first.changes).unwrap();
    state.revert(&first.changes);
    assert_eq!(state, b.state);
    assert_eq!(rate(&renewing_at("2024-02-01"), &b).changes, first.changes);
}

#[test]
fn a_term_needs_an_end_after_the_start_and_renewal_months_1_to_120_when_it_renews() {
    let sub = |t: Value| {
        json!({"accounts": [account(json!({}))],
               "subscriptions": [subscription("S-1", "2024-01-01", json!([]), t)]})
    };
    for (t, ok) in [
        (term("2025-01-01", true, Some(1)), true),
        (term("2025-01-01", true, Some(120)), true),
        (term("2025-01-01", false, None), true),
        (json!({"term": {"endDate": "2025-01-01"}}), true),
        (term("2025-01-01", true, None), false),
        (term("2025-01-01", true, Some(0)), false),
        (term("2025-01-01", true, Some(121)), false),
        (term("2025-01-01", false, Some(121)), false),
    ] {
        match (parse_book(&sub(t.clone())), ok) {
            (Ok(_), true) => {}
            (Err(e), false) => assert_eq!(e.field, "subscriptions[0].term.renewalMonths", "{t}"),
            (r, _) => panic!("{t}: {r:?}"),
        }
    }
    for end in ["2024-01-01", "2023-12-31"] {
        let e = book_error(sub(term(end, false, None)));
        assert_eq!(e.field, "subscriptions[0].term.endDate", "{end}");
    }
    let e = book_error(sub(
        json!({"term": {"endDate": "2025-01-01", "renewMonths": 1}}),
    ));
    assert!(e.field.starts_with("subscriptions[0].term"), "{}", e.field);
}

#[test]
fn a_charge_billed_past_the_term_end_is_credited_back_to_it_unless_the_run_renews() {
    let b = book(json!({
        "accounts": [account(json!({}))],
        "subscriptions": [subscription("S-1", "2024-01-01",
            json!([monthly("C-1", "100.00", json!({"billedThrough": "2024-03-01"}))]),
            term("2024-02-15", true, Some(1)))]
    }));
    // Billed elsewhere through Mar 1, but the term ends Feb 15 <= T: credit [Feb 15, Mar 1)
    // (15 days: Feb 15..29) of a 29-day February = 100 × 15/29 = 51.724… → -51.72, watermark
    // back to Feb 15.
    let r = rate(&run_at("2024-02-20"), &b);
    assert_eq!(rows(&r), ["C-1 Recurring 2024-02-15..2024-03-01 x1 -51.72"]);
    assert_eq!(changes(&r), ["C-1 watermark 2024-03-01 -> 2024-02-15"]);
    // A renewing run renews first (Mar 15 > T): nothing to credit, nothing yet to bill.
    let r = rate(&renewing_at("2024-02-20"), &b);
    assert!(r.documents.is_empty(), "{:?}", rows(&r));
    assert_eq!(
        changes(&r),
        ["S-1 renewed 0 -> 1: term end 2024-02-15 -> 2024-03-15"]
    );
}
