//! What the fault tests share: the books and requests of the schedules, the fault-free
//! reference, and the checks of a run that ran under faults against it.

#![allow(dead_code)]

use billrun_app::{AccountOutcomeView, App, AppError, Created};
use billrun_domain::book::Book;
use billrun_domain::document::{Document, DocumentKind};
use billrun_domain::ids::{AccountId, DocumentId, RunId};
use billrun_domain::request::{Grouping, RunRequest};
use billrun_domain::run::{Counters, RunStatus};
use billrun_domain::state::AccountState;
use billrun_testkit::faults::{FaultKind, FaultPlan};
use chrono::NaiveDate;
use std::collections::BTreeMap;

pub fn target() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 1).unwrap_or_default()
}

/// One kind of schedule: a sample book (credits, usage, failures, zero invoices) and a
/// run request (grouping, cutoffs).
#[derive(Debug, Clone)]
pub struct Variant {
    pub accounts: usize,
    pub book_seed: u64,
    pub grouping: Grouping,
    pub usage_cutoff: bool,
    pub suppress_zero: bool,
}

impl Variant {
    pub fn book(&self) -> Book {
        billrun_local::sample::generate(self.accounts, target(), self.book_seed)
    }

    pub fn request(&self) -> RunRequest {
        let mut r = RunRequest::for_target(target());
        r.grouping = self.grouping;
        r.suppress_zero_invoices = self.suppress_zero;
        if self.usage_cutoff {
            r.usage_cutoff_date = target().pred_opt();
            r.transaction_cutoff_date = target().pred_opt();
        }
        r
    }

    pub fn name(&self) -> String {
        format!(
            "{} accounts, book seed {}, {:?} grouping{}{}",
            self.accounts,
            self.book_seed,
            self.grouping,
            if self.usage_cutoff { ", cutoffs" } else { "" },
            if self.suppress_zero {
                ", zero invoices suppressed"
            } else {
                ""
            }
        )
    }
}

/// What a run produced, without what differs between two runs of the same request
/// (run and document ids).
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub status: RunStatus,
    pub counters: Counters,
    pub accounts: Vec<AccountOutcomeView>,
    pub documents: Vec<Document>,
    /// Each account's billing state as JSON, document ids replaced by numbers.
    pub states: BTreeMap<AccountId, serde_json::Value>,
}

/// Replaces every string that is a key of `names` by its value.
fn rename(v: &mut serde_json::Value, names: &BTreeMap<String, String>) {
    match v {
        serde_json::Value::String(s) => {
            if let Some(n) = names.get(s.as_str()) {
                *s = n.clone();
            } else if uuid::Uuid::parse_str(s).is_ok() {
                // A document that was never stored (a suppressed zero invoice).
                *s = "unstored".into();
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| rename(x, names)),
        serde_json::Value::Object(o) => o.values_mut().for_each(|x| rename(x, names)),
        _ => {}
    }
}

fn state_json(s: &AccountState, names: &BTreeMap<String, String>) -> serde_json::Value {
    let mut v = serde_json::to_value(s).unwrap_or_default();
    rename(&mut v, names);
    v
}

fn strip(d: &Document) -> Document {
    let mut d = d.clone();
    d.id = DocumentId(uuid::Uuid::nil());
    d.run_id = RunId(uuid::Uuid::nil());
    for l in &mut d.lines {
        l.credits_document_id = None;
    }
    d
}

/// Reads a run's result through `app` (ports without faults).
pub async fn outcome_of(app: &App, run: RunId, book: &Book) -> Result<Outcome, AppError> {
    let view = app.queries().run_view(run).await?;
    let documents = app.queries().all_documents(run).await?;
    let names: BTreeMap<String, String> = documents
        .iter()
        .map(|d| (d.id.to_string(), d.number.clone().unwrap_or_default()))
        .collect();
    let mut states = BTreeMap::new();
    for a in &book.accounts {
        if let Some(b) = app.book.account_book(&a.id).await? {
            states.insert(a.id.clone(), state_json(&b.state, &names));
        }
    }
    Ok(Outcome {
        status: view.status,
        counters: view.counters,
        accounts: app.queries().account_outcomes(run).await?,
        documents: documents.iter().map(strip).collect(),
        states,
    })
}

/// Duplicates and losses of one run against the fault-free one.
#[derive(Debug, Clone, Copy, Default)]
pub struct Findings {
    /// Documents (by account and group) beyond the reference's, and extra outcomes.
    pub duplicates: u64,
    /// Documents or outcomes of the reference missing here.
    pub losses: u64,
}

fn count_by<K: Ord>(keys: impl Iterator<Item = K>) -> BTreeMap<K, u64> {
    let mut m = BTreeMap::new();
    for k in keys {
        *m.entry(k).or_insert(0) += 1;
    }
    m
}

/// Every check of a run under faults against the fault-free `reference`: completed
/// with the same status, counters that reconcile and equal the reference's, the same
/// outcomes, documents (numbers included) and billing state, and numbers gapless per
/// kind (`taken`: the store's last number of each kind, when it can tell).
pub fn check(
    got: &Outcome,
    reference: &Outcome,
    taken: Option<(u64, u64)>,
    findings: &mut Findings,
) -> Result<(), String> {
    // Duplicates and losses first, so that they are counted even when a check fails.
    let key = |d: &Document| (d.account_id.clone(), d.group_key.clone(), d.kind);
    let have = count_by(got.documents.iter().map(key));
    let want = count_by(reference.documents.iter().map(key));
    for (k, n) in &have {
        findings.duplicates += n.saturating_sub(want.get(k).copied().unwrap_or(0));
    }
    for (k, n) in &want {
        findings.losses += n.saturating_sub(have.get(k).copied().unwrap_or(0));
    }
    findings.losses += (reference.accounts.len() as u64).saturating_sub(got.accounts.len() as u64);
    findings.duplicates +=
        (got.accounts.len() as u64).saturating_sub(reference.accounts.len() as u64);

    if got.status == RunStatus::Processing || got.status == RunStatus::Pending {
        return Err(format!("the run did not complete: {:?}", got.status));
    }
    if !got.counters.reconciles() {
        return Err(format!("counters do not reconcile: {:?}", got.counters));
    }
    if got.status != reference.status {
        return Err(format!(
            "status {:?}, fault-free {:?}",
            got.status, reference.status
        ));
    }
    if got.counters != reference.counters {
        return Err(format!(
            "counters {:?}, fault-free {:?}",
            got.counters, reference.counters
        ));
    }
    if got.accounts != reference.accounts {
        let first = got
            .accounts
            .iter()
            .zip(&reference.accounts)
            .find(|(a, b)| a != b);
        return Err(format!("account outcomes differ, first: {first:?}"));
    }
    if got.documents != reference.documents {
        let first = got
            .documents
            .iter()
            .zip(&reference.documents)
            .find(|(a, b)| a != b);
        return Err(format!(
            "documents differ ({} vs {} fault-free), first: {first:?}",
            got.documents.len(),
            reference.documents.len()
        ));
    }
    if got.states != reference.states {
        let first = got
            .states
            .iter()
            .find(|(id, s)| reference.states.get(*id) != Some(*s));
        return Err(format!("billing state differs, first: {first:?}"));
    }
    for kind in [DocumentKind::Invoice, DocumentKind::CreditMemo] {
        let mut numbers = Vec::new();
        for d in got.documents.iter().filter(|d| d.kind == kind) {
            let n = d
                .number
                .as_deref()
                .and_then(|n| n.rsplit('-').next())
                .and_then(|n| n.parse::<u64>().ok())
                .ok_or_else(|| format!("{:?} has no number", d.order_key()))?;
            numbers.push(n);
        }
        numbers.sort_unstable();
        let expected: Vec<u64> = (1..=numbers.len() as u64).collect();
        if numbers != expected {
            return Err(format!("{kind:?} numbers are not gapless: {numbers:?}"));
        }
        if let Some((inv, cm)) = taken {
            let last = if kind == DocumentKind::Invoice {
                inv
            } else {
                cm
            };
            if last != numbers.len() as u64 {
                return Err(format!(
                    "{kind:?}: the sequence is at {last} for {} documents",
                    numbers.len()
                ));
            }
        }
    }
    Ok(())
}

/// The client: creates the run under an idempotency key, again on every error (at most
/// `attempts` times), as an API caller retrying a failed POST does.
pub async fn create_with_retries(
    app: &App,
    request: &RunRequest,
    key: &str,
    attempts: usize,
) -> Result<RunId, String> {
    let mut last = String::new();
    for _ in 0..attempts {
        match app
            .pipeline()
            .create_run(request.clone(), Some(key.to_string()))
            .await
        {
            Ok(Created::New(r)) | Ok(Created::Replayed(r)) => return Ok(r.id),
            Err(e) => last = e.to_string(),
        }
    }
    Err(format!("the run could not be created: {last}"))
}

/// The totals over every schedule.
#[derive(Debug, Default)]
pub struct Summary {
    pub schedules: u64,
    pub failed: Vec<(u64, String)>,
    pub fired: BTreeMap<FaultKind, u64>,
    pub calls: u64,
    pub killed: u64,
    pub sweeps: u64,
    pub findings: Findings,
}

impl Summary {
    pub fn add(&mut self, plan: &FaultPlan) {
        for (k, n) in plan.fired() {
            *self.fired.entry(k).or_insert(0) += n;
        }
        self.calls += plan.calls();
    }

    pub fn print(&self, backend: &str) {
        eprintln!(
            "== fault schedules on {backend}: {} run, {} failed; {} port calls under faults",
            self.schedules,
            self.failed.len(),
            self.calls
        );
        for k in FaultKind::ALL {
            eprintln!(
                "   {k:?}: {} injected",
                self.fired.get(&k).copied().unwrap_or(0)
            );
        }
        eprintln!(
            "   deliveries killed: {}; sweeps needed: {}; duplicates found: {}; losses found: {}",
            self.killed, self.sweeps, self.findings.duplicates, self.findings.losses
        );
        for (seed, e) in &self.failed {
            eprintln!("   FAILED: BILLRUN_FAULT_SEED={seed}: {e}");
        }
    }

    /// Fails on a failed schedule and on a fault kind that never fired.
    pub fn assert_ok(&self) {
        assert!(
            self.failed.is_empty(),
            "{} schedules failed; replay one with BILLRUN_FAULT_SEED=<seed>: {:?}",
            self.failed.len(),
            self.failed
        );
        // One replayed schedule need not fire every kind.
        for k in FaultKind::ALL.into_iter().filter(|_| self.schedules >= 20) {
            assert!(
                self.fired.get(&k).copied().unwrap_or(0) > 0,
                "no {k:?} fault fired over {} schedules",
                self.schedules
            );
        }
        assert_eq!(self.findings.duplicates, 0, "duplicates found");
        assert_eq!(self.findings.losses, 0, "losses found");
    }
}

/// The seeds of this test run: `BILLRUN_FAULT_SEED` replays one; otherwise `count`
/// seeds from `BILLRUN_FAULT_BASE` (default: from the clock, printed).
pub fn seeds(default_count: u64) -> Vec<u64> {
    if let Some(seed) = std::env::var("BILLRUN_FAULT_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
    {
        return vec![seed];
    }
    let count = std::env::var("BILLRUN_FAULT_SCHEDULES")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(default_count);
    let base = std::env::var("BILLRUN_FAULT_BASE")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1);
            (nanos % 1_000_000) * 1000
        });
    eprintln!("== fault schedules: BILLRUN_FAULT_BASE={base}, {count} schedules");
    (0..count).map(|i| base + i).collect()
}

/// A clock that runs 100 times faster than the wall clock from its creation: a claim
/// left by a killed finalizer (20 s) runs out in 200 ms, a killed sender's `Sending`
/// claim (5 minutes) in 3 s, so the redelivered messages take them over within a
/// schedule, as they do on AWS within the visibility timeout, while live finalizers
/// renew theirs with every page (milliseconds apart here).
pub struct FastClock {
    started: std::time::Instant,
    at: chrono::DateTime<chrono::Utc>,
}

impl FastClock {
    pub fn new() -> FastClock {
        FastClock {
            started: std::time::Instant::now(),
            at: chrono::Utc::now(),
        }
    }
}

impl billrun_app::ports::Clock for FastClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        let elapsed = self.started.elapsed() * 100;
        self.at + chrono::TimeDelta::from_std(elapsed).unwrap_or(chrono::TimeDelta::zero())
    }
}
