//! Properties of whole invoice runs over generated books (docs/billing-rules.md).
//!
//! A [`Scenario`] is a small random but valid book (1–12 accounts in USD / EUR / JPY /
//! KWD, bill cycle days 1–31 with 29–31 weighted up, monthly to annual recurring charges
//! in advance and in arrears, end and cancellation dates, imported watermarks, some past
//! the effective end so that runs credit them, one-time charges, usage, adjustments, tax
//! rates) plus run options (target date, grouping, zero suppression). Every book goes
//! through `App::import_book`, so it is also checked to be valid JSON per
//! docs/book-format.md. Each property runs the whole pipeline (planning, queued account
//! messages, workers, finalization) on the in-memory adapters.

// Test code: a panic fails the test (clippy.toml allows unwrap only in #[cfg(test)] code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use billrun_app::memory::{MemoryQueue, MemoryStore};
use billrun_app::{AccountOutcomeView, App, AppError};
use billrun_domain::book::{
    Account, Adjustment, Book, Charge, ChargeKind, Subscription, Term, Timing, UsageRecord,
};
use billrun_domain::calendar::{days, BillCycleDay, BillingPeriod, Grid};
use billrun_domain::document::{Document, DocumentKind, DocumentStatus, Line, LineType};
use billrun_domain::ids::{
    AccountId, AdjustmentId, ChargeId, DocumentId, RunId, SubscriptionId, UsageId,
};
use billrun_domain::money::Currency;
use billrun_domain::request::{Grouping, RunRequest};
use billrun_domain::run::{Outcome, RunStatus};
use billrun_local::pipeline::{Local, LocalRun, Options};
use chrono::{NaiveDate, TimeDelta};
use proptest::collection::vec;
use proptest::prelude::*;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, OnceLock};

/// Cases per property: modest, so the file runs in seconds in debug. Set
/// `PROPTEST_CASES` for a longer soak.
const CASES: u32 = 48;

fn config() -> ProptestConfig {
    match std::env::var("PROPTEST_CASES") {
        Ok(_) => ProptestConfig::default(),
        Err(_) => ProptestConfig::with_cases(CASES),
    }
}

const CURRENCIES: [&str; 4] = ["USD", "EUR", "JPY", "KWD"];
const LOCATIONS: [&str; 3] = ["LOC-AUS", "LOC-BER", "LOC-TYO"];
/// Account id prefixes chosen so that byte-wise order differs from "natural" order
/// ("A-10" < "A-2", "B3" < "a-1", "Acme-" between "A-" and "B").
const ID_PREFIXES: [&str; 5] = ["A-", "a-", "B", "Acme-", "z"];

// ---------------------------------------------------------------------------------------
// The generator: raw numbers first, turned into a book with the account's currency.
// ---------------------------------------------------------------------------------------

/// `minor / 10^(minor unit + extra_decimals)` in the account's currency.
#[derive(Debug, Clone, Copy)]
struct RawPrice {
    minor: i64,
    extra_decimals: u32,
}

/// An imported `billedThrough`.
#[derive(Debug, Clone, Copy)]
enum RawWatermark {
    /// `start + days`: billing resumes there (possibly inside a grid period).
    FromStart(i64),
    /// `effective end + 1 + days`: billed past the effective end, so a run credits the
    /// overlap. Falls back to `FromStart` on a subscription without an effective end.
    PastEnd(i64),
}

#[derive(Debug, Clone)]
struct RawUsage {
    /// Days from the anchor (the first target date).
    date: i64,
    /// Tenths of a unit.
    tenths: i64,
    billed: bool,
}

#[derive(Debug, Clone)]
enum RawCharge {
    Recurring {
        price: RawPrice,
        /// Halves of a unit.
        halves: i64,
        period: BillingPeriod,
        timing: Timing,
        billed_through: Option<RawWatermark>,
        /// States `currency` explicitly (the account's own).
        explicit_currency: bool,
    },
    OneTime {
        price: RawPrice,
        halves: i64,
        /// Days from the subscription start; `None` leaves `chargeDate` out.
        date: Option<i64>,
        billed: bool,
    },
    Usage {
        unit_price: RawPrice,
        records: Vec<RawUsage>,
    },
}

#[derive(Debug, Clone)]
struct RawSubscription {
    /// Days from the anchor.
    start: i64,
    /// Days from the start (on or before it for a subscription canceled before it began).
    end: Option<i64>,
    /// Days from the start, likewise.
    cancellation: Option<i64>,
    location: Option<usize>,
    product: u8,
    charges: Vec<RawCharge>,
    /// A term: days from the start to its end (after the start), and, when it renews
    /// automatically, by how many months.
    term: Option<(i64, Option<u32>)>,
}

#[derive(Debug, Clone)]
struct RawAdjustment {
    /// Days from the anchor.
    date: i64,
    minor: i64,
    billed: bool,
}

#[derive(Debug, Clone)]
struct RawAccount {
    prefix: usize,
    currency: usize,
    bcd: u8,
    tax_rate: Decimal,
    terms: u32,
    location: Option<usize>,
    subscriptions: Vec<RawSubscription>,
    adjustments: Vec<RawAdjustment>,
}

/// A generated book with the options of the runs made over it.
#[derive(Debug, Clone)]
struct Scenario {
    /// The first run's target date `T1`; book dates are generated around it.
    anchor: NaiveDate,
    /// `T2 = T1 + later` for the properties that make a second, later run.
    later: i64,
    grouping: Grouping,
    suppress_zero: bool,
    /// Whether the runs renew auto-renewing terms (`renewSubscriptions`).
    renew: bool,
    accounts: Vec<RawAccount>,
}

fn price() -> impl Strategy<Value = RawPrice> {
    (
        prop_oneof![1 => Just(0i64), 9 => 1i64..=200_000],
        prop_oneof![6 => Just(0u32), 3 => Just(1u32), 1 => Just(2u32)],
    )
        .prop_map(|(minor, extra_decimals)| RawPrice {
            minor,
            extra_decimals,
        })
}

fn halves() -> impl Strategy<Value = i64> {
    prop_oneof![6 => Just(2i64), 3 => 1i64..=10, 1 => Just(0i64)]
}

fn period() -> impl Strategy<Value = BillingPeriod> {
    prop_oneof![
        4 => Just(BillingPeriod::Month),
        2 => Just(BillingPeriod::Quarter),
        1 => Just(BillingPeriod::SemiAnnual),
        1 => Just(BillingPeriod::Annual),
    ]
}

fn timing() -> impl Strategy<Value = Timing> {
    prop_oneof![Just(Timing::InAdvance), Just(Timing::InArrears)]
}

fn watermark() -> impl Strategy<Value = Option<RawWatermark>> {
    prop_oneof![
        5 => Just(None),
        1 => Just(Some(RawWatermark::FromStart(0))),
        2 => (0i64..=500).prop_map(|d| Some(RawWatermark::FromStart(d))),
        3 => (0i64..=400).prop_map(|d| Some(RawWatermark::PastEnd(d))),
    ]
}

fn usage_record() -> impl Strategy<Value = RawUsage> {
    (-120i64..=90, 0i64..=20_000, prop::bool::weighted(0.15)).prop_map(|(date, tenths, billed)| {
        RawUsage {
            date,
            tenths,
            billed,
        }
    })
}

fn charge() -> impl Strategy<Value = RawCharge> {
    prop_oneof![
        5 => (price(), halves(), period(), timing(), watermark(), prop::bool::weighted(0.2))
            .prop_map(|(price, halves, period, timing, billed_through, explicit_currency)| {
                RawCharge::Recurring {
                    price,
                    halves,
                    period,
                    timing,
                    billed_through,
                    explicit_currency,
                }
            }),
        2 => (
            price(),
            halves(),
            prop::option::weighted(0.6, -30i64..=200),
            prop::bool::weighted(0.15),
        )
            .prop_map(|(price, halves, date, billed)| RawCharge::OneTime {
                price,
                halves,
                date,
                billed,
            }),
        2 => (price(), vec(usage_record(), 0..=4))
            .prop_map(|(unit_price, records)| RawCharge::Usage { unit_price, records }),
    ]
}

fn subscription() -> impl Strategy<Value = RawSubscription> {
    (
        -800i64..=60,
        prop::option::weighted(0.35, end_offset()),
        prop::option::weighted(0.25, end_offset()),
        prop::option::weighted(0.4, 0..LOCATIONS.len()),
        0u8..3,
        vec(charge(), 1..=3),
        prop::option::weighted(
            0.3,
            (
                1i64..=500,
                prop::option::weighted(0.7, prop_oneof![Just(1u32), Just(12u32), 1u32..=24]),
            ),
        ),
    )
        .prop_map(
            |(start, end, cancellation, location, product, charges, term)| RawSubscription {
                start,
                end,
                cancellation,
                location,
                product,
                charges,
                term,
            },
        )
}

/// Days from a subscription's start to its end or cancellation date: mostly after the
/// start, sometimes on or before it (a subscription canceled before it began).
fn end_offset() -> impl Strategy<Value = i64> {
    prop_oneof![9 => 1i64..=700, 1 => -60i64..=0]
}

fn adjustment() -> impl Strategy<Value = RawAdjustment> {
    (
        -120i64..=120,
        -50_000i64..=50_000,
        prop::bool::weighted(0.15),
    )
        .prop_map(|(date, minor, billed)| RawAdjustment {
            date,
            minor,
            billed,
        })
}

fn account() -> impl Strategy<Value = RawAccount> {
    (
        0..ID_PREFIXES.len(),
        0..CURRENCIES.len(),
        // Half the accounts bill on days 29–31, where month lengths matter.
        prop_oneof![1u8..=28, 29u8..=31],
        prop_oneof![Just(0i64), 0i64..=2500].prop_map(|bp| Decimal::new(bp, 4)),
        prop_oneof![Just(0u32), Just(30u32), 0u32..=90],
        prop::option::weighted(0.6, 0..LOCATIONS.len()),
        vec(subscription(), 0..=3),
        vec(adjustment(), 0..=2),
    )
        .prop_map(
            |(prefix, currency, bcd, tax_rate, terms, location, subscriptions, adjustments)| {
                RawAccount {
                    prefix,
                    currency,
                    bcd,
                    tax_rate,
                    terms,
                    location,
                    subscriptions,
                    adjustments,
                }
            },
        )
}

fn grouping() -> impl Strategy<Value = Grouping> {
    prop_oneof![
        Just(Grouping::Account),
        Just(Grouping::Subscription),
        Just(Grouping::Location),
    ]
}

fn scenarios() -> impl Strategy<Value = Scenario> {
    (
        // 2023-01-01 .. early 2026: common and leap years.
        0i64..1100,
        1i64..=400,
        grouping(),
        any::<bool>(),
        any::<bool>(),
        vec(account(), 1..=12),
    )
        .prop_map(
            |(anchor, later, grouping, suppress_zero, renew, accounts)| Scenario {
                anchor: shift(date(2023, 1, 1), anchor),
                later,
                grouping,
                suppress_zero,
                renew,
                accounts,
            },
        )
}

/// How usage prices and quantities are generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UsagePricing {
    /// Unit prices with up to two decimals beyond the currency's, fractional quantities:
    /// line amounts round.
    Any,
    /// Unit prices in whole minor units and whole quantities, so `quantity × unitPrice`
    /// never rounds.
    Exact,
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a valid calendar date")
}

fn shift(d: NaiveDate, days: i64) -> NaiveDate {
    d + TimeDelta::days(days)
}

fn currency(code: &str) -> Currency {
    Currency::parse(code).expect("an ISO 4217 code")
}

fn money(p: RawPrice, c: Currency) -> Decimal {
    Decimal::new(p.minor, c.minor_units() + p.extra_decimals)
}

fn quantity(halves: i64) -> Decimal {
    Decimal::new(halves * 5, 1).normalize()
}

impl Scenario {
    fn t1(&self) -> NaiveDate {
        self.anchor
    }

    fn t2(&self) -> NaiveDate {
        shift(self.anchor, self.later)
    }

    fn request(&self, target: NaiveDate) -> RunRequest {
        let mut r = RunRequest::for_target(target);
        r.grouping = self.grouping;
        r.suppress_zero_invoices = self.suppress_zero;
        r.renew_subscriptions = self.renew;
        r
    }

    fn book(&self, usage: UsagePricing) -> Book {
        let mut book = Book::default();
        for (i, a) in self.accounts.iter().enumerate() {
            let aid = format!("{}{}", ID_PREFIXES[a.prefix], i + 1);
            let account_id = AccountId::parse(aid.clone()).expect("a valid id");
            let cur = currency(CURRENCIES[a.currency]);
            book.accounts.push(Account {
                id: account_id.clone(),
                name: format!("Customer {aid}"),
                currency: cur,
                bill_cycle_day: BillCycleDay::new(a.bcd).expect("1..=31"),
                batch: None,
                payment_term_days: a.terms,
                payment_term_name: None,
                tax_rate: a.tax_rate,
                bill_to: None,
                ship_to: None,
                location_id: a.location.map(|l| LOCATIONS[l].to_string()),
                subrun: None,
                gl_accounts: Default::default(),
            });
            for (j, s) in a.subscriptions.iter().enumerate() {
                let sid = format!("{aid}-S{j}");
                let start = shift(self.anchor, s.start);
                let end_date = s.end.map(|d| shift(start, d));
                let cancellation_date = s.cancellation.map(|d| shift(start, d));
                let effective_end = match (end_date, cancellation_date) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                let mut charges = Vec::new();
                for (k, c) in s.charges.iter().enumerate() {
                    let cid = format!("{sid}-C{k}");
                    let charge_id = ChargeId::parse(cid.clone()).expect("a valid id");
                    let (kind, explicit) = match c {
                        RawCharge::Recurring {
                            price,
                            halves,
                            period,
                            timing,
                            billed_through,
                            explicit_currency,
                        } => {
                            let billed_through = billed_through.map(|w| match (w, effective_end) {
                                (RawWatermark::PastEnd(d), Some(e)) => shift(e, 1 + d),
                                (RawWatermark::PastEnd(d) | RawWatermark::FromStart(d), _) => {
                                    shift(start, d)
                                }
                            });
                            (
                                ChargeKind::Recurring {
                                    price: money(*price, cur),
                                    quantity: quantity(*halves),
                                    period: *period,
                                    timing: *timing,
                                    billed_through,
                                },
                                *explicit_currency,
                            )
                        }
                        RawCharge::OneTime {
                            price,
                            halves,
                            date,
                            billed,
                        } => (
                            ChargeKind::OneTime {
                                price: money(*price, cur),
                                quantity: quantity(*halves),
                                charge_date: date.map(|d| shift(start, d)),
                                billed: *billed,
                            },
                            false,
                        ),
                        RawCharge::Usage {
                            unit_price,
                            records,
                        } => {
                            let unit_price = match usage {
                                UsagePricing::Any => money(*unit_price, cur),
                                UsagePricing::Exact => Decimal::new(
                                    unit_price.minor / 10i64.pow(unit_price.extra_decimals),
                                    cur.minor_units(),
                                ),
                            };
                            for (m, u) in records.iter().enumerate() {
                                book.usage.push(UsageRecord {
                                    id: UsageId::parse(format!("{cid}-U{m}")).expect("a valid id"),
                                    account_id: account_id.clone(),
                                    charge_id: charge_id.clone(),
                                    date: shift(self.anchor, u.date),
                                    quantity: match usage {
                                        UsagePricing::Any => Decimal::new(u.tenths, 1).normalize(),
                                        UsagePricing::Exact => Decimal::from(u.tenths / 10),
                                    },
                                    billed: u.billed,
                                });
                            }
                            (ChargeKind::Usage { unit_price }, false)
                        }
                    };
                    charges.push(Charge {
                        id: charge_id,
                        currency: explicit.then_some(cur),
                        kind,
                        gl_account: None,
                    });
                }
                book.subscriptions.push(Subscription {
                    id: SubscriptionId::parse(sid).expect("a valid id"),
                    account_id: account_id.clone(),
                    product_id: format!("P-{}", s.product),
                    product_name: (s.product != 0).then(|| format!("Plan {}", s.product)),
                    location_id: s.location.map(|l| LOCATIONS[l].to_string()),
                    start_date: start,
                    end_date,
                    cancellation_date,
                    charges,
                    term: s.term.map(|(days, months)| Term {
                        end_date: shift(start, days),
                        auto_renew: months.is_some(),
                        renewal_months: months,
                    }),
                });
            }
            for (m, j) in a.adjustments.iter().enumerate() {
                book.adjustments.push(Adjustment {
                    id: AdjustmentId::parse(format!("{aid}-J{m}")).expect("a valid id"),
                    account_id: account_id.clone(),
                    date: shift(self.anchor, j.date),
                    amount: Decimal::new(j.minor, cur.minor_units()),
                    description: (m == 0).then(|| "Goodwill".to_string()),
                    billed: j.billed,
                });
            }
        }
        book
    }
}

// ---------------------------------------------------------------------------------------
// Running
// ---------------------------------------------------------------------------------------

/// One multi-threaded runtime for the whole file, so that workers really interleave.
fn block_on<F: Future>(f: F) -> F::Output {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(4)
                .enable_all()
                .build()
                .expect("a tokio runtime")
        })
        .block_on(f)
}

fn ok<T>(r: Result<T, AppError>) -> Result<T, TestCaseError> {
    r.map_err(|e| TestCaseError::fail(format!("use case failed: {e}")))
}

/// A fresh local system with `book` imported through the validating import use case.
async fn local_with(book: &Book, chaos_seed: Option<u64>) -> Result<Local, TestCaseError> {
    import(Local::new(chaos_seed), book).await
}

/// Like [`local_with`], planning `page` accounts per planning page.
async fn paged_local_with(
    book: &Book,
    chaos_seed: Option<u64>,
    page: usize,
) -> Result<Local, TestCaseError> {
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(match chaos_seed {
        Some(seed) => MemoryQueue::chaotic(seed),
        None => MemoryQueue::new(),
    });
    let mut app = App::in_memory(
        store.clone(),
        queue.clone(),
        std::sync::Arc::new(billrun_documents::PdfRenderer),
    );
    app.plan_page_size = page;
    let local = Local {
        store,
        queue,
        app: Arc::new(app),
    };
    import(local, book).await
}

async fn import(local: Local, book: &Book) -> Result<Local, TestCaseError> {
    let bytes = serde_json::to_vec(book).expect("a book serializes");
    ok(local.app.reference().import_book(&bytes).await)?;
    Ok(local)
}

/// Every generated book is billable without failures: the run completes, its counters
/// reconcile, and no account failed (the generator never puts a charge in a foreign
/// currency; failures are covered by `pipeline.rs`).
fn check_completed(run: &LocalRun, accounts: usize) -> Result<(), TestCaseError> {
    prop_assert_eq!(run.run.status, RunStatus::Completed);
    let c = &run.run.counters;
    prop_assert!(c.reconciles(), "counters do not reconcile: {:?}", c);
    prop_assert_eq!(c.accounts_selected, accounts as u64);
    prop_assert_eq!(run.accounts.len(), accounts);
    let failed: Vec<&AccountOutcomeView> = run
        .accounts
        .iter()
        .filter(|a| a.outcome == Outcome::Failed)
        .collect();
    prop_assert!(failed.is_empty(), "failed accounts: {:?}", failed);
    prop_assert_eq!(
        c.invoices + c.credit_memos,
        run.documents.len() as u64,
        "document counters"
    );
    Ok(())
}

/// A document without what identifies its run (`id`, `runId`, and the internal id of a
/// credited document), for comparing documents of different runs.
fn without_run_identity(d: &Document) -> Document {
    let mut d = d.clone();
    d.id = DocumentId(uuid::Uuid::nil());
    d.run_id = RunId(uuid::Uuid::nil());
    for l in &mut d.lines {
        l.credits_document_id = None;
    }
    d
}

/// The run's documents without their run's identity and their numbers.
fn unnumbered(r: &LocalRun) -> Vec<Document> {
    r.documents
        .iter()
        .map(|d| {
            let mut d = without_run_identity(d);
            d.number = None;
            d
        })
        .collect()
}

fn line_key(l: &Line) -> String {
    let mut l = l.clone();
    l.credits_document_id = None;
    serde_json::to_string(&l).expect("a line serializes")
}

fn number_of(n: &str, kind: DocumentKind) -> Result<u64, TestCaseError> {
    let digits = n
        .strip_prefix(kind.prefix())
        .and_then(|r| r.strip_prefix('-'))
        .ok_or_else(|| TestCaseError::fail(format!("{n} is not a {kind:?} number")))?;
    prop_assert_eq!(digits.len(), 9, "{} has 9 digits", n);
    digits
        .parse()
        .map_err(|_| TestCaseError::fail(format!("{n} is not a number")))
}

/// Checks that a run's documents are listed in byte-wise (accountId, groupKey) order and
/// numbered gaplessly per kind in that order, continuing from `last`; updates `last`.
fn check_numbering(
    run: &LocalRun,
    last: &mut BTreeMap<DocumentKind, u64>,
) -> Result<(), TestCaseError> {
    for w in run.documents.windows(2) {
        prop_assert!(
            w[0].order_key() < w[1].order_key(),
            "documents out of order: {:?} before {:?}",
            w[0].order_key(),
            w[1].order_key()
        );
    }
    for d in &run.documents {
        let n = d
            .number
            .as_deref()
            .ok_or_else(|| TestCaseError::fail(format!("{:?} has no number", d.order_key())))?;
        let n = number_of(n, d.kind)?;
        let expected = last.get(&d.kind).copied().unwrap_or(0) + 1;
        prop_assert_eq!(n, expected, "{:?} of {:?}", d.kind, d.order_key());
        last.insert(d.kind, n);
    }
    // The outcomes name exactly the run's documents.
    let mut from_outcomes: Vec<&str> = run
        .accounts
        .iter()
        .flat_map(|a| a.document_numbers.iter().map(String::as_str))
        .collect();
    let mut from_documents: Vec<&str> = run
        .documents
        .iter()
        .filter_map(|d| d.number.as_deref())
        .collect();
    from_outcomes.sort_unstable();
    from_documents.sort_unstable();
    prop_assert_eq!(from_outcomes, from_documents);
    Ok(())
}

fn check_arithmetic(d: &Document, account: &Account) -> Result<(), TestCaseError> {
    let cur = account.currency;
    prop_assert_eq!(d.currency, cur);
    prop_assert!(!d.lines.is_empty(), "{:?} has no lines", d.order_key());
    let mu = cur.minor_units();
    let sum = |t: LineType| -> Decimal {
        d.lines
            .iter()
            .filter(|l| l.line_type == t)
            .map(|l| l.amount)
            .sum()
    };
    let t = &d.totals;
    prop_assert_eq!(t.one_time, sum(LineType::OneTime), "oneTime");
    prop_assert_eq!(t.recurring, sum(LineType::Recurring), "recurring");
    prop_assert_eq!(t.evergreen, sum(LineType::Evergreen), "evergreen");
    prop_assert_eq!(t.usage, sum(LineType::Usage), "usage");
    prop_assert_eq!(t.adjustments, sum(LineType::Adjustment), "adjustments");
    prop_assert_eq!(
        t.fee,
        t.one_time + t.recurring + t.evergreen + t.usage,
        "fee"
    );
    prop_assert_eq!(t.sub_total, t.fee + t.adjustments, "subTotal");
    prop_assert_eq!(t.tax, cur.round(t.sub_total * account.tax_rate), "tax");
    prop_assert_eq!(t.total, t.sub_total + t.tax, "total");
    let totals = [
        ("oneTime", t.one_time),
        ("recurring", t.recurring),
        ("evergreen", t.evergreen),
        ("usage", t.usage),
        ("adjustments", t.adjustments),
        ("fee", t.fee),
        ("subTotal", t.sub_total),
        ("tax", t.tax),
        ("total", t.total),
    ];
    let lines = d.lines.iter().map(|l| ("line amount", l.amount));
    for (what, v) in totals.into_iter().chain(lines) {
        prop_assert_eq!(
            v.scale(),
            mu,
            "{} {} of {:?} is not printed with {}'s {} decimals",
            what,
            v,
            d.order_key(),
            cur,
            mu
        );
    }
    let credit_memo = t.total < Decimal::ZERO;
    prop_assert_eq!(
        d.kind,
        if credit_memo {
            DocumentKind::CreditMemo
        } else {
            DocumentKind::Invoice
        }
    );
    Ok(())
}

/// A credit line reduced to what docs/billing-rules.md "Credit on an earlier effective end"
/// determines: charge, type, period, quantity, amount, credited document.
type CreditKey = (
    Option<ChargeId>,
    String,
    Option<NaiveDate>,
    Option<NaiveDate>,
    Decimal,
    Decimal,
    Option<Option<String>>,
);

fn credit_key(l: &Line) -> CreditKey {
    (
        l.charge_id.clone(),
        format!("{:?}", l.line_type),
        l.period_start,
        l.period_end,
        l.quantity,
        l.amount,
        l.credits_document.clone(),
    )
}

/// The credit lines the rules prescribe for a book's imported watermarks in a run
/// through `target`, computed from the spec alone: a recurring charge whose watermark
/// (at least the subscription start) lies past its subscription's effective end, when
/// that end is `<= target`, is credited for each grid period's overlap with the billed
/// days past the end, `[max(effective end, start), watermark)`, at
/// `-price × quantity × overlap days / full days`, crediting no document (it was billed
/// before the book was imported).
fn expected_credits(book: &Book, target: NaiveDate) -> Vec<CreditKey> {
    let accounts: HashMap<&AccountId, &Account> =
        book.accounts.iter().map(|a| (&a.id, a)).collect();
    let mut out = Vec::new();
    for s in &book.subscriptions {
        let account = accounts[&s.account_id];
        let cur = account.currency;
        // Without renewals (the runs of this property renew nothing) the first term's end
        // is part of the effective end.
        let term_end = s.term.as_ref().map(|t| t.end_date);
        let Some(end) = (match (s.effective_end(), term_end) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }) else {
            continue;
        };
        if end > target {
            continue;
        }
        for c in &s.charges {
            let ChargeKind::Recurring {
                price,
                quantity,
                period,
                billed_through: Some(bt),
                ..
            } = &c.kind
            else {
                continue;
            };
            let watermark = (*bt).max(s.start_date);
            let grid = Grid::new(s.start_date, account.bill_cycle_day, *period);
            let mut at = end.max(s.start_date);
            while at < watermark {
                let (ps, pe) = grid.period_containing(at);
                let stop = pe.min(watermark);
                let amount = cur.round(
                    price * quantity * Decimal::from(days(at, stop)) / Decimal::from(days(ps, pe)),
                );
                out.push((
                    Some(c.id.clone()),
                    format!(
                        "{:?}",
                        if s.end_date.is_none() && s.term.is_none() {
                            LineType::Evergreen
                        } else {
                            LineType::Recurring
                        }
                    ),
                    Some(at),
                    Some(stop),
                    *quantity,
                    -amount,
                    Some(None),
                ));
                at = stop;
            }
        }
    }
    out.sort();
    out
}

proptest! {
    #![proptest_config(config())]

    /// (a) Buckets are sums of lines by type, `Fee = OneTime + Recurring + Evergreen +
    /// Usage`, `SubTotal = Fee + Adjustments`, `Tax = round(SubTotal × taxRate)`,
    /// `Total = SubTotal + Tax`, every amount has exactly the currency's minor-unit
    /// decimals, the kind follows the total's sign, and no zero document survives
    /// suppression.
    #[test]
    fn every_document_adds_up_and_prints_amounts_in_the_currency_minor_unit(s in scenarios()) {
        let book = s.book(UsagePricing::Any);
        let accounts: HashMap<&AccountId, &Account> =
            book.accounts.iter().map(|a| (&a.id, a)).collect();
        let run = block_on(async {
            let local = local_with(&book, None).await?;
            ok(local.run(s.request(s.t1()), Options::default(), None).await)
        })?;
        check_completed(&run, book.accounts.len())?;
        for d in &run.documents {
            let account = accounts
                .get(&d.account_id)
                .ok_or_else(|| TestCaseError::fail(format!("unknown account {}", d.account_id)))?;
            check_arithmetic(d, account)?;
            if s.suppress_zero {
                prop_assert!(!d.totals.total.is_zero(), "zero document {:?} was not suppressed", d.order_key());
            }
        }
    }

    /// (b) Whatever the first run billed is marked billed: the same request again over
    /// the same store finds nothing.
    #[test]
    fn a_second_identical_run_over_the_same_store_bills_nothing(s in scenarios()) {
        let book = s.book(UsagePricing::Any);
        let (first, second) = block_on(async {
            let local = local_with(&book, None).await?;
            let first = ok(local.run(s.request(s.t1()), Options::default(), None).await)?;
            let second = ok(local.run(s.request(s.t1()), Options::default(), None).await)?;
            Ok::<_, TestCaseError>((first, second))
        })?;
        check_completed(&first, book.accounts.len())?;
        check_completed(&second, book.accounts.len())?;
        prop_assert!(second.documents.is_empty(), "second run billed {:?}", second.documents);
        for a in &second.accounts {
            prop_assert_eq!(a.outcome, Outcome::NothingToBill, "account {}", a.account_id);
        }
        prop_assert_eq!(second.run.counters.nothing_to_bill, book.accounts.len() as u64);
    }

    /// (c) Billing through T1 and then through T2 bills the same recurring, evergreen,
    /// one-time, adjustment and credit lines as billing through T2 at once.
    ///
    /// Usage is summed per usage charge into one line per run (periodEnd = that run's
    /// cutoff), so two runs make two lines where one run makes one: usage is compared in
    /// aggregate, total quantity and total amount per usage charge. Because each run
    /// rounds its own usage line, amounts agree exactly only when `quantity × unitPrice`
    /// never rounds, so this property generates whole quantities and unit prices in whole
    /// minor units ([`UsagePricing::Exact`]); rounding itself is covered by (a).
    ///
    /// Zero suppression is off here: a zero document of the T1 run is suppressed (its
    /// lines billed but never shown), while the same lines may sit in a non-zero
    /// document of the single T2 run, which the rules allow.
    #[test]
    fn billing_through_t1_then_t2_bills_the_same_lines_as_billing_through_t2_at_once(s in scenarios()) {
        let book = s.book(UsagePricing::Exact);
        let mut s = s;
        s.suppress_zero = false;
        // Renewing runs split a period at a term end by design: a run before the term end
        // bills up to it, the run that renews bills on from it (docs/billing-rules.md
        // "Terms and renewals"), while one run past the end renews first and bills the
        // whole period. Without renewals the property holds with terms too.
        s.renew = false;
        let (split, once) = block_on(async {
            let local = local_with(&book, None).await?;
            let r1 = ok(local.run(s.request(s.t1()), Options::default(), None).await)?;
            let r2 = ok(local.run(s.request(s.t2()), Options::default(), None).await)?;
            let local = local_with(&book, None).await?;
            let once = ok(local.run(s.request(s.t2()), Options::default(), None).await)?;
            Ok::<_, TestCaseError>(([r1, r2], once))
        })?;
        for r in split.iter().chain([&once]) {
            check_completed(r, book.accounts.len())?;
        }
        type UsageTotals = BTreeMap<Option<ChargeId>, (Decimal, Decimal)>;
        let collect = |runs: &[&LocalRun]| -> (Vec<String>, UsageTotals) {
            let mut lines = Vec::new();
            let mut usage: UsageTotals = BTreeMap::new();
            for l in runs.iter().flat_map(|r| &r.documents).flat_map(|d| &d.lines) {
                if l.line_type == LineType::Usage {
                    let e = usage.entry(l.charge_id.clone()).or_default();
                    e.0 += l.quantity;
                    e.1 += l.amount;
                } else {
                    lines.push(line_key(l));
                }
            }
            lines.sort_unstable();
            (lines, usage)
        };
        let (split_lines, split_usage) = collect(&[&split[0], &split[1]]);
        let (once_lines, once_usage) = collect(&[&once]);
        prop_assert_eq!(split_lines, once_lines);
        prop_assert_eq!(split_usage, once_usage);
    }

    /// (d) Exactly-once effect under at-least-once delivery: every message (planning
    /// pages included, planned here 1–4 accounts per page) delivered twice, in a
    /// shuffled order, handled by 3–6 concurrent workers, gives the documents (numbers
    /// included), outcomes and counters of a plain run over a fresh store.
    #[test]
    fn delivering_every_message_twice_in_any_order_to_concurrent_workers_gives_the_same_documents(
        s in scenarios(),
        seed in any::<u64>(),
        workers in 3usize..=6,
        page in 1usize..=4,
    ) {
        let book = s.book(UsagePricing::Any);
        let (plain, chaotic) = block_on(async {
            let local = local_with(&book, None).await?;
            let plain = ok(local.run(s.request(s.t1()), Options::default(), None).await)?;
            let options = Options { workers, collect: true, chaos_seed: Some(seed) };
            let local = paged_local_with(&book, Some(seed), page).await?;
            let chaotic = ok(local.run(s.request(s.t1()), options, None).await)?;
            Ok::<_, TestCaseError>((plain, chaotic))
        })?;
        check_completed(&plain, book.accounts.len())?;
        check_completed(&chaotic, book.accounts.len())?;
        let strip = |r: &LocalRun| r.documents.iter().map(without_run_identity).collect::<Vec<_>>();
        prop_assert_eq!(strip(&chaotic), strip(&plain));
        prop_assert_eq!(&chaotic.accounts, &plain.accounts);
        prop_assert_eq!(&chaotic.run.counters, &plain.run.counters);
    }

    /// (e) Numbers are gapless and strictly increasing per kind in byte-wise
    /// (accountId, groupKey) order; a second run on the same store continues where the
    /// first stopped, and the store's sequences end at the last number used.
    #[test]
    fn document_numbers_are_gapless_per_kind_in_byte_wise_order_across_runs(s in scenarios()) {
        let book = s.book(UsagePricing::Any);
        let (runs, sequences) = block_on(async {
            let local = local_with(&book, None).await?;
            let r1 = ok(local.run(s.request(s.t1()), Options::default(), None).await)?;
            let r2 = ok(local.run(s.request(s.t2()), Options::default(), None).await)?;
            let sequences = [DocumentKind::Invoice, DocumentKind::CreditMemo]
                .map(|k| (k, local.store.sequence(k)));
            Ok::<_, TestCaseError>(([r1, r2], sequences))
        })?;
        let mut last = BTreeMap::new();
        for r in &runs {
            check_completed(r, book.accounts.len())?;
            check_numbering(r, &mut last)?;
        }
        for (kind, n) in sequences {
            prop_assert_eq!(n, last.get(&kind).copied().unwrap_or(0), "{:?} sequence", kind);
        }
    }

    /// (f) Canceling a completed run rolls back what it billed: its documents become
    /// Canceled (keeping their numbers), and running the same request again produces the
    /// same documents (lines, totals, kinds, dates) under the next numbers.
    #[test]
    fn canceling_a_run_and_running_it_again_gives_the_same_documents_under_new_numbers(s in scenarios()) {
        let book = s.book(UsagePricing::Any);
        let (first, canceled_status, canceled_docs, again) = block_on(async {
            let local = local_with(&book, None).await?;
            let first = ok(local.run(s.request(s.t1()), Options::default(), None).await)?;
            let canceled = ok(local.app.pipeline().cancel_run(first.run.id).await)?;
            let canceled_docs = ok(local.app.queries().all_documents(first.run.id).await)?;
            let again = ok(local.run(s.request(s.t1()), Options::default(), None).await)?;
            Ok::<_, TestCaseError>((first, canceled.status, canceled_docs, again))
        })?;
        check_completed(&first, book.accounts.len())?;
        check_completed(&again, book.accounts.len())?;
        prop_assert_eq!(canceled_status, RunStatus::Canceled);
        prop_assert_eq!(canceled_docs.len(), first.documents.len());
        for (c, d) in canceled_docs.iter().zip(&first.documents) {
            prop_assert_eq!(c.status, DocumentStatus::Canceled);
            prop_assert_eq!(&c.number, &d.number, "a canceled document keeps its number");
        }
        prop_assert_eq!(unnumbered(&again), unnumbered(&first));
        // The new documents take the next numbers: no number is reused.
        let mut last = BTreeMap::new();
        check_numbering(&first, &mut last)?;
        check_numbering(&again, &mut last)?;
    }

    /// (g) Credits on an earlier effective end are exactly what the rules prescribe for
    /// the imported watermarks: one line per grid period of the billed days past the
    /// end, never a day that was not billed (a subscription canceled before it began
    /// credits nothing), nothing while the end is after the target date.
    ///
    /// Zero suppression is off here: a zero credit (a free plan) in a zero document
    /// would be billed but not shown.
    #[test]
    fn credits_cover_exactly_the_billed_days_past_an_earlier_effective_end(s in scenarios()) {
        let book = s.book(UsagePricing::Any);
        let mut s = s;
        s.suppress_zero = false;
        // The expected credits read the first term's end: a renewal would move it.
        s.renew = false;
        let run = block_on(async {
            let local = local_with(&book, None).await?;
            ok(local.run(s.request(s.t1()), Options::default(), None).await)
        })?;
        check_completed(&run, book.accounts.len())?;
        let mut credits: Vec<CreditKey> = run
            .documents
            .iter()
            .flat_map(|d| &d.lines)
            .filter(|l| l.is_credit())
            .map(credit_key)
            .collect();
        credits.sort();
        prop_assert_eq!(credits, expected_credits(&book, s.t1()));
    }
}

/// The properties are only as good as the books: a fixed sample of generated scenarios
/// must exercise every kind of line, credits, credit memos, zero documents (shown and
/// suppressed), catch-up, taxes, every grouping and every outcome but Failed.
#[test]
fn generated_books_exercise_every_rule_the_properties_rely_on() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
    );
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    let mut see = |what: String| *seen.entry(what).or_default() += 1;
    for _ in 0..CASES {
        let s = scenarios()
            .new_tree(&mut runner)
            .expect("a scenario")
            .current();
        let book = s.book(UsagePricing::Any);
        let run = block_on(async {
            let local = local_with(&book, None).await?;
            ok(local.run(s.request(s.t1()), Options::default(), None).await)
        })
        .expect("the run completes");
        see(format!("grouping {:?}", s.grouping));
        for a in &run.accounts {
            see(format!("outcome {:?}", a.outcome));
            if !a.renewals.is_empty() {
                see("renewal".into());
            }
        }
        if run.run.counters.suppressed_documents > 0 {
            see("suppressed document".into());
        }
        for d in &run.documents {
            see(format!("{:?}", d.kind));
            if d.totals.total.is_zero() {
                see("zero invoice".into());
            }
            if !d.totals.tax.is_zero() {
                see("tax".into());
            }
            for l in &d.lines {
                see(format!("{:?} line", l.line_type));
                if l.is_credit() {
                    see("credit line".into());
                }
            }
            let per_charge = d
                .lines
                .iter()
                .filter(|l| l.line_type != LineType::Usage && l.charge_id == d.lines[0].charge_id);
            if d.lines[0].charge_id.is_some() && per_charge.count() > 2 {
                see("catch-up".into());
            }
        }
    }
    let expected = [
        "grouping Account",
        "grouping Subscription",
        "grouping Location",
        "outcome Billed",
        "outcome NothingToBill",
        "outcome Suppressed",
        "suppressed document",
        "Invoice",
        "CreditMemo",
        "zero invoice",
        "tax",
        "OneTime line",
        "Recurring line",
        "Evergreen line",
        "Usage line",
        "Adjustment line",
        "credit line",
        "catch-up",
        "renewal",
    ];
    for what in expected {
        assert!(
            seen.get(what).copied().unwrap_or(0) > 0,
            "no generated book produced: {what}; seen: {seen:#?}"
        );
    }
}

/// The generated book with GL codes on every other account and every third charge, so
/// the journal mixes codes and placeholders (docs/accounting.md).
fn with_gl_codes(mut book: Book) -> Book {
    for (i, a) in book.accounts.iter_mut().enumerate() {
        if i % 2 == 0 {
            a.gl_accounts.receivable = Some(format!("1200-{i}"));
            a.gl_accounts.tax_payable = Some("2200".into());
            a.gl_accounts.revenue = Some("4000".into());
        }
    }
    let charges = book.subscriptions.iter_mut().flat_map(|s| &mut s.charges);
    for (i, c) in charges.enumerate() {
        if i % 3 == 0 {
            c.gl_account = Some(format!("41{i:02}"));
        }
    }
    book
}

/// Posts `run` and checks its journal: every entry balances to the minor unit, the
/// debits equal the credits per currency, and the journal's invoiced and credited
/// amounts are the run's counters.
async fn check_journal(local: &Local, run: &LocalRun) -> Result<(), TestCaseError> {
    let id = run.run.id;
    ok(local.app.pipeline().post_run(id).await)?;
    let view = ok(local.app.queries().run_view(id).await)?;
    prop_assert_eq!(view.status, RunStatus::Posted);
    let (_, journal) = ok(local.app.queries().run_journal(id).await)?;
    let mut per_currency: BTreeMap<Currency, (Decimal, Decimal)> = BTreeMap::new();
    for e in &journal.entries {
        let debits: Decimal = e.lines.iter().map(|l| l.debit).sum();
        let credits: Decimal = e.lines.iter().map(|l| l.credit).sum();
        prop_assert_eq!(
            debits,
            credits,
            "entry {} {} does not balance",
            e.currency,
            e.date
        );
        prop_assert_eq!((e.debits, e.credits), (debits, credits));
        for l in &e.lines {
            prop_assert!(e.currency.is_exact(l.debit) && e.currency.is_exact(l.credit));
        }
        let t = per_currency.entry(e.currency).or_default();
        t.0 += debits;
        t.1 += credits;
    }
    let totals: Vec<(Currency, Decimal, Decimal)> = journal
        .totals
        .iter()
        .map(|t| {
            let sums = per_currency.get(&t.currency).copied().unwrap_or_default();
            prop_assert_eq!((t.debits, t.credits), sums, "{}", t.currency);
            prop_assert_eq!(sums.0, sums.1, "{} does not balance", t.currency);
            Ok((t.currency, t.invoiced, t.credited))
        })
        .collect::<Result<_, TestCaseError>>()?;
    let counters: Vec<(Currency, Decimal, Decimal)> = view
        .counters
        .amounts
        .iter()
        .map(|a| (a.currency, a.invoiced, a.credited))
        .collect();
    prop_assert_eq!(totals, counters);
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    /// (j) For every posted run, the first and a later one that credits, the journal
    /// balances per currency to the minor unit and its totals equal the run's counters.
    #[test]
    fn every_posted_runs_journal_balances_and_totals_the_runs_counters(s in scenarios()) {
        let book = with_gl_codes(s.book(UsagePricing::Any));
        block_on(async {
            let local = local_with(&book, None).await?;
            for target in [s.t1(), s.t2()] {
                let run = ok(local.run(s.request(target), Options::default(), None).await)?;
                check_completed(&run, book.accounts.len())?;
                check_journal(&local, &run).await?;
            }
            Ok::<_, TestCaseError>(())
        })?;
    }
}

/// Settles the posted documents of `docs`: each credit memo is applied to the open
/// invoices of its account and currency (each application lowers the invoice's balance
/// by exactly its amount), then each invoice is paid in `parts` payments that sum to
/// its balance and ends Paid.
async fn settle(local: &Local, docs: &[Document], parts: usize) -> Result<(), TestCaseError> {
    let payments = local.app.payments();
    let balance = |id: DocumentId| {
        let payments = payments.clone();
        async move { ok(payments.payments(id).await).map(|(_, s)| s.balance) }
    };
    let invoices: Vec<&Document> = docs
        .iter()
        .filter(|d| d.kind == DocumentKind::Invoice && d.status == DocumentStatus::Posted)
        .collect();
    for memo in docs.iter().filter(|d| d.kind == DocumentKind::CreditMemo) {
        let mut unapplied = -memo.totals.total;
        for inv in invoices
            .iter()
            .filter(|i| i.account_id == memo.account_id && i.currency == memo.currency)
        {
            let before = balance(inv.id).await?;
            let amount = unapplied.min(before);
            if amount <= Decimal::ZERO {
                continue;
            }
            let input = billrun_app::payments::ApplicationInput {
                invoice_id: inv.id.to_string(),
                amount: amount.to_string(),
            };
            let (_, invoice, credit, _) = ok(payments.apply_credit(memo.id, input, None).await)?;
            prop_assert_eq!(invoice.balance, before - amount);
            prop_assert_eq!(balance(inv.id).await?, before - amount);
            unapplied -= amount;
            prop_assert_eq!(credit.balance, unapplied);
        }
    }
    for inv in &invoices {
        let open = balance(inv.id).await?;
        if open <= Decimal::ZERO {
            continue;
        }
        // `parts` payments in the currency's minor unit, the last one the remainder.
        let share = inv.currency.round(open / Decimal::from(parts as u64));
        let mut left = open;
        for i in 0..parts {
            let amount = if i + 1 == parts {
                left
            } else {
                share.min(left)
            };
            if amount <= Decimal::ZERO {
                continue;
            }
            let input = billrun_app::payments::PaymentInput {
                amount: amount.to_string(),
                date: Some("2020-01-01".into()),
                reference: None,
            };
            ok(payments.pay(inv.id, input, None).await)?;
            left -= amount;
        }
        let (_, s) = ok(payments.payments(inv.id).await)?;
        prop_assert_eq!(
            (s.payment_status, s.amount_paid),
            (billrun_app::payments::PaymentStatus::Paid, inv.totals.total)
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    /// (k) Over generated books: credit memos applied to their account's invoices lower
    /// each balance by exactly the amount applied, payments that sum to an invoice's
    /// balance make it Paid, and a settled book has nothing in the aging report.
    #[test]
    fn payments_and_applications_settle_every_posted_invoice_out_of_aging(
        s in scenarios(),
        parts in 1usize..4,
    ) {
        let book = s.book(UsagePricing::Any);
        block_on(async {
            let local = local_with(&book, None).await?;
            let mut docs = Vec::new();
            for target in [s.t1(), s.t2()] {
                let run = ok(local.run(s.request(target), Options::default(), None).await)?;
                check_completed(&run, book.accounts.len())?;
                ok(local.app.pipeline().post_run(run.run.id).await)?;
                let page = ok(local
                    .app
                    .queries()
                    .run_documents_page(run.run.id, None, None, 1000)
                    .await)?;
                docs.extend(page.into_iter().map(|d| d.document));
            }
            // After every invoice's date and every application's (dated today by the
            // wall clock).
            let as_of = chrono::Utc::now().date_naive().max(s.t2()) + TimeDelta::days(1);
            let before = ok(local.app.payments().aging(as_of, None, 1000).await)?;
            let open: Decimal = before.totals.iter().map(|t| t.buckets.total).sum();
            let owed: Decimal = docs
                .iter()
                .filter(|d| d.kind == DocumentKind::Invoice)
                .map(|d| d.totals.total)
                .sum();
            prop_assert_eq!(open, owed, "the aging report holds every posted invoice");
            settle(&local, &docs, parts).await?;
            let after = ok(local.app.payments().aging(as_of, None, 1000).await)?;
            prop_assert!(after.items.is_empty() && after.totals.is_empty(), "{:?}", after);
            Ok::<_, TestCaseError>(())
        })?;
    }
}

proptest! {
    #![proptest_config(config())]

    /// (l) A preview rates like the run it previews and writes nothing else: after a
    /// preview (its messages delivered twice, in any order, to concurrent workers) the
    /// store holds exactly what it held before plus the preview's own items (its run,
    /// outcomes, counters and documents: the digest without them is byte-identical, no
    /// number taken), and the same request run for real then gives the same documents
    /// (numbers, which the preview never has, aside) and outcomes.
    #[test]
    fn a_preview_writes_only_its_own_items_and_the_same_run_then_gives_its_documents(
        s in scenarios(),
        seed in any::<u64>(),
        workers in 2usize..=4,
        page in 1usize..=4,
    ) {
        let book = s.book(UsagePricing::Any);
        let (preview, before, after, real) = block_on(async {
            let local = paged_local_with(&book, Some(seed), page).await?;
            // A first run at T1, so that the preview (at T2) rates over moved watermarks.
            let first = ok(local.run(s.request(s.t1()), Options::default(), None).await)?;
            check_completed(&first, book.accounts.len())?;
            let before = local.store.digest();
            let mut request = s.request(s.t2());
            request.run_type = billrun_domain::request::RunType::Preview;
            let options = Options { workers, collect: true, chaos_seed: Some(seed) };
            let preview = ok(local.run(request, options, None).await)?;
            let after = local.store.digest_without(Some(preview.run.id));
            let real = ok(local.run(s.request(s.t2()), Options::default(), None).await)?;
            Ok::<_, TestCaseError>((preview, before, after, real))
        })?;
        check_completed(&preview, book.accounts.len())?;
        check_completed(&real, book.accounts.len())?;
        prop_assert!(before == after, "the preview changed the store beyond its own items");
        prop_assert!(preview.documents.iter().all(|d| d.number.is_none()), "a preview's document has a number");
        prop_assert!(preview.run.expires_at.is_some());
        prop_assert_eq!(unnumbered(&preview), unnumbered(&real));
        // Outcomes alike; a preview lists no renewal (it renews nothing).
        let outcomes = |r: &LocalRun| {
            r.accounts.iter().map(|a| (a.account_id.clone(), a.outcome)).collect::<Vec<_>>()
        };
        prop_assert_eq!(outcomes(&preview), outcomes(&real));
        prop_assert!(preview.accounts.iter().all(|a| a.renewals.is_empty()));
        prop_assert_eq!(&preview.run.counters, &real.run.counters);
    }
}

proptest! {
    #![proptest_config(config())]

    /// (m) A preview never blocks nor changes a real run: a preview and the same run
    /// created together, their messages interleaved (each delivered twice, shuffled) on
    /// concurrent workers, and the run bills exactly what it bills alone on a fresh store.
    #[test]
    fn a_run_processed_alongside_its_preview_bills_what_it_bills_alone(
        s in scenarios(),
        seed in any::<u64>(),
        workers in 2usize..=4,
    ) {
        let book = s.book(UsagePricing::Any);
        let (alone, beside, preview_status) = block_on(async {
            let local = local_with(&book, None).await?;
            let alone = ok(local.run(s.request(s.t1()), Options::default(), None).await)?;
            let local = paged_local_with(&book, Some(seed), 2).await?;
            let mut request = s.request(s.t1());
            request.run_type = billrun_domain::request::RunType::Preview;
            let preview = ok(local.app.pipeline().create_run(request, None).await)?;
            let real = ok(local.app.pipeline().create_run(s.request(s.t1()), None).await)?;
            let config = billrun_app::worker::WorkerConfig {
                workers,
                ..billrun_app::worker::WorkerConfig::default()
            };
            billrun_app::worker::drain(local.app.clone(), local.queue.clone(), config).await;
            let queries = local.app.queries();
            let real_id = real.run().id;
            let beside = (
                ok(queries.run_view(real_id).await)?,
                ok(queries.account_outcomes(real_id).await)?,
                ok(queries.all_documents(real_id).await)?,
            );
            let preview_status = ok(queries.get_run(preview.run().id).await)?.status;
            Ok::<_, TestCaseError>((alone, beside, preview_status))
        })?;
        check_completed(&alone, book.accounts.len())?;
        prop_assert_eq!(preview_status, RunStatus::Completed);
        let (view, accounts, documents) = beside;
        prop_assert_eq!(view.status, RunStatus::Completed);
        prop_assert_eq!(&view.counters, &alone.run.counters);
        prop_assert_eq!(&accounts, &alone.accounts);
        // Numbers too: the preview took none.
        let strip = |docs: &[Document]| docs.iter().map(without_run_identity).collect::<Vec<_>>();
        prop_assert_eq!(strip(&documents), strip(&alone.documents));
    }
}
