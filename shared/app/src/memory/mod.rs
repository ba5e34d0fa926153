//! In-memory adapters of every port: one [`MemoryStore`] behind a single lock (each
//! port call is one short critical section, which makes every multi-item write atomic
//! exactly as a DynamoDB transaction is), a [`MemoryQueue`] and [`MemoryBlobs`]. One file
//! per port group, beside the port's own file in [`crate::ports`].

mod audit;
mod blobs;
mod book;
mod deliveries;
mod document_requests;
mod documents;
mod export_files;
mod exports;
mod ledger;
mod listings;
mod payments;
mod queue;
#[cfg(test)]
mod renderer;
mod runs;
mod schedules;
mod sequences;
mod templates;
mod webhooks;

pub use blobs::MemoryBlobs;
pub use export_files::{range as file_range, MemoryExportFiles, NoExportFiles};
pub use queue::{Delivery, MemoryQueue, Receive};
#[cfg(test)]
pub(crate) use renderer::NoRenderer;
pub use schedules::MemoryScheduling;
pub use webhooks::{Answer, MemoryEventBus, NoWebhookSender, RecordingWebhookSender};

use crate::model::documents::*;
use crate::model::schedules::*;
use crate::model::*;
use billrun_domain::book::InvoiceSchedule;
use billrun_domain::document::DocumentKind;
use billrun_domain::ids::{
    AccountId, DocumentId, DocumentRequestId, RunId, ScheduleId, SubscriptionId,
};
use billrun_domain::rating::AccountBook;
use billrun_domain::run::Counters;
use parking_lot::Mutex;
use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

#[derive(Default)]
struct Inner {
    accounts: BTreeMap<AccountId, AccountBook>,
    runs: HashMap<RunId, RunRecord>,
    idempotency: HashMap<String, RunId>,
    run_sequence: u64,
    invoice_sequence: u64,
    credit_memo_sequence: u64,
    /// Boxed: a B-tree node then holds 11 pointers, not 11 half-filled 208-byte records.
    outcomes: HashMap<RunId, BTreeMap<AccountId, Box<AccountOutcomeRecord>>>,
    counters: HashMap<RunId, Counters>,
    /// Boxed: a table slot is 24 bytes, not a 320-byte document, so the table (and the
    /// copy it makes of itself while it grows) stays small.
    documents: HashMap<DocumentId, Box<StoredDocument>>,
    /// Per run, document ids in numbering order: (round, accountId, groupKey).
    run_documents: HashMap<RunId, BTreeMap<(u32, AccountId, String), DocumentId>>,
    reverted: std::collections::HashSet<RunId>,
    /// Reference data the API reads by id (see [`crate::ports::SubscriptionIndex`], [`crate::ports::ScheduleStore`]).
    subscription_accounts: HashMap<SubscriptionId, AccountId>,
    schedules: BTreeMap<ScheduleId, InvoiceSchedule>,
    processed: HashMap<ScheduleId, Vec<ProcessedItem>>,
    templates: BTreeMap<String, DocumentTemplate>,
    active_template: Option<String>,
    /// Document generation: requests with (generated, failed), each run's latest
    /// request, recorded (request, document) pairs, each document's latest file.
    doc_requests: HashMap<DocumentRequestId, (DocumentRequest, u64, u64)>,
    latest_doc_request: HashMap<RunId, DocumentRequestId>,
    doc_results: std::collections::HashSet<(DocumentRequestId, DocumentId)>,
    doc_files: HashMap<DocumentId, DocumentFile>,
    /// The audit trail in listing order, and the ids it holds.
    audit: BTreeMap<crate::model::audit::AuditPosition, crate::model::audit::AuditEvent>,
    audit_ids: std::collections::HashSet<uuid::Uuid>,
}

/// Every storage port in memory.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    /// Due entries and run schedules ([`crate::schedules`]).
    scheduling: parking_lot::Mutex<schedules::MemoryScheduling>,
    /// Email delivery ([`crate::deliveries`]).
    deliveries: parking_lot::Mutex<deliveries::MemoryDeliveries>,
    /// Payments ([`crate::payments`]).
    payments: parking_lot::Mutex<payments::MemoryPayments>,
    /// Export records ([`crate::exports`]).
    exports:
        parking_lot::Mutex<HashMap<billrun_domain::ids::ExportId, crate::model::exports::Export>>,
    /// Webhook endpoints and deliveries ([`crate::webhooks`]).
    webhooks: parking_lot::Mutex<webhooks::MemoryWebhooks>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of accounts in the book.
    pub fn account_count(&self) -> usize {
        self.inner.lock().accounts.len()
    }
}

fn upsert<T, K: PartialEq>(list: &mut Vec<T>, item: T, key: impl Fn(&T) -> &K) {
    match list.iter().position(|x| key(x) == key(&item)) {
        Some(i) => list[i] = item,
        None => list.push(item),
    }
}

/// Stores a schedule and recomputes which subscriptions of its account are scheduled
/// (a replaced schedule may have let one go).
fn store_schedule(g: &mut Inner, s: &InvoiceSchedule) {
    g.schedules.insert(s.id.clone(), s.clone());
    let scheduled: std::collections::BTreeSet<SubscriptionId> = g
        .schedules
        .values()
        .filter(|x| x.account_id == s.account_id)
        .flat_map(|x| x.subscription_ids.iter().cloned())
        .collect();
    if let Some(ab) = g.accounts.get_mut(&s.account_id) {
        ab.scheduled_subscriptions = scheduled;
    }
}

impl MemoryStore {
    /// The last number taken of a kind (for tests of gaplessness).
    pub fn sequence(&self, kind: DocumentKind) -> u64 {
        let g = self.inner.lock();
        match kind {
            DocumentKind::Invoice => g.invoice_sequence,
            DocumentKind::CreditMemo => g.credit_memo_sequence,
        }
    }
}

impl MemoryStore {
    /// Everything stored, printed in a stable order: two equal digests mean nothing was
    /// written in between (tests of "a rejected request writes nothing").
    pub fn digest(&self) -> String {
        self.digest_without(None)
    }

    /// [`MemoryStore::digest`] of everything but `run`'s own items (the run, its
    /// idempotency key, outcomes, counters and documents): what a preview must leave as
    /// it found it.
    pub fn digest_without(&self, run: Option<RunId>) -> String {
        use std::fmt::Write;
        fn sorted<'a, K: Ord + std::fmt::Debug + 'a, V: std::fmt::Debug + 'a>(
            m: impl Iterator<Item = (&'a K, &'a V)>,
        ) -> String {
            let mut v: Vec<(&K, &V)> = m.collect();
            v.sort_by(|a, b| a.0.cmp(b.0));
            format!("{v:?}")
        }
        let other = |id: &RunId| Some(*id) != run;
        let g = self.inner.lock();
        let mut out = String::new();
        let mut reverted: Vec<&RunId> = g.reverted.iter().collect();
        reverted.sort();
        let _ = write!(
            out,
            "{:?}\n{}\n{}\n{} {} {}\n{}\n{}\n{}\n{}\n{:?}\n{}\n{:?}\n{}\n{:?}\n{:?}\n{}\n{}\n{:?}",
            g.accounts,
            sorted(g.runs.iter().filter(|(k, _)| other(k))),
            sorted(g.idempotency.iter().filter(|(_, v)| other(v))),
            g.run_sequence,
            g.invoice_sequence,
            g.credit_memo_sequence,
            sorted(g.outcomes.iter().filter(|(k, _)| other(k))),
            sorted(g.counters.iter().filter(|(k, _)| other(k))),
            sorted(
                g.documents
                    .iter()
                    .filter(|(_, d)| other(&d.document.run_id))
            ),
            sorted(g.run_documents.iter().filter(|(k, _)| other(k))),
            reverted,
            sorted(g.subscription_accounts.iter()),
            g.schedules,
            sorted(g.processed.iter()),
            g.templates,
            g.active_template,
            sorted(g.doc_requests.iter()),
            sorted(g.doc_files.iter()),
            g.audit,
        );
        drop(g);
        let _ = write!(out, "\n{}", sorted(self.exports.lock().iter()));
        let _ = write!(out, "\n{}", self.webhooks.lock().digest());
        out
    }
}

/// A page of a map keyed by id: at most `limit` values after the key `after`, in key
/// order. A range from the cursor, so a late page does not walk the earlier ones.
fn page_after<'a, K, Q, V>(
    map: &'a BTreeMap<K, V>,
    after: Option<&Q>,
    limit: usize,
) -> impl Iterator<Item = &'a V>
where
    K: Borrow<Q> + Ord,
    Q: Ord + ?Sized,
{
    let start = after.map_or(Bound::Unbounded, Bound::Excluded);
    map.range::<Q, _>((start, Bound::Unbounded))
        .map(|(_, v)| v)
        .take(limit)
}
