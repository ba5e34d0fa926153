//! Every key of the table, built and parsed here and nowhere else.
//!
//! | item | pk | sk | index keys |
//! | --- | --- | --- | --- |
//! | run | `RUN#<id>` | `RUN` | gsi1: `RUNS` / `<createdAt>#<id>` |
//! | idempotency key | `IDEM#<key>` | `IDEM` | |
//! | sequence | `SEQ#<RUN/INV/CM>` | `SEQ` | |
//! | run progress (added per batch) | `RUN#<id>#<k>` | `COUNT` | |
//! | run account outcome | `RUN#<id>#<k>` | `ACCT#<account>` | |
//! | number page | `RUN#<id>#<k>` | `NUM#<round>#<first account>\u{1}<first number>` | |
//! | keys an early chunk of a split commit wrote | `RUN#<id>#<k>` | `PEND#<account>#<i>` | |
//! | account | `ACCT#<id>` | `ACCT` | gsi2: `ACCOUNTS` / `<id>` |
//! | subscription, usage, adjustment, invoice schedule | `ACCT#<id>` | `SUB#`, `USAGE#`, `ADJ#`, `SCHED#` + id | an invoice schedule's gsi2: `INVSCHED` / `<id>` |
//! | billing state (watermarks, billed marks) | `ACCT#<id>` | `STATE` | |
//! | billed mark of a usage record, one-time charge, adjustment | `ACCT#<id>` | `MARK#U#`, `MARK#O#`, `MARK#A#` + id | |
//! | document | `DOC#<id>` | `DOC` | none: a run's documents are found through its outcomes |
//! | a document's latest file | `DOC#<id>` | `FILE` | |
//! | document generation request | `DOCREQ#<id>` | `DOCREQ` | |
//! | recorded (request, document) | `DOCREQ#<id>` | `DOC#<document>` | |
//! | a run's latest document request | `RUN#<id>` | `DOCREQ` | |
//! | delivery request | `DLVREQ#<id>` | `DLVREQ` | |
//! | delivery request counters, shard `j` | `DLVREQ#<id>#<j>` | `COUNT` | |
//! | (request, document) delivery result | `DLVREQ#<id>` | `DOC#<document>` | |
//! | a document's latest delivery | `DOC#<id>` | `DLV` | |
//! | a run's latest delivery request | `RUN#<id>` | `DLVREQ` | |
//! | a run's delivery request | `RUN#<id>` | `DLVREQ#<request>` | |
//! | a payment of an invoice | `DOC#<invoice>` | `PAY#<payment>` | |
//! | an invoice's paid amount | `DOC#<invoice>` | `PAID` | `paid` (ADD) |
//! | export | `EXPORT#<id>` | `EXPORT` | `status` (the finish condition) |
//! | subscription → account | `SUBREF#<id>` | `REF` | |
//! | invoice schedule → account | `SCHEDREF#<id>` | `REF` | |
//! | executed invoice-schedule item | `ISCH#<id>` | `ITEM#<item>` | |
//! | document template | `TMPL#<id>` | `TMPL` | gsi2: `TEMPLATES` / `<id>` |
//! | the active template | `TMPL` | `ACTIVE` | |
//! | run schedule | `RUNSCHED` | `<id>` | |
//! | due entry | `DUE#<k>` | `<instant>#<target>` | |
//! | webhook endpoint | `WEBHOOKS` | `<id>` | `ver` (every write's condition) |
//! | webhook delivery | `WHDLV#<id>` | `WHDLV` | gsi1: `WHDLV#<endpoint>` / `<createdAt>#<id>`; `ver` |
//! | audit entry, listed by month | `AUDIT#<yyyy-mm>` | `<time>#<seq>#<id>` | |
//! | audit entry, listed by resource (a document's also by its run) | `AUDIT#R#<id>` | `<time>#<seq>#<id>` | |
//!
//! `k` of a run's partitions is a stable hash of the account id modulo the run's shard
//! count, so no per-run partition takes more than its share of a million accounts'
//! writes; `k` of the due index is a stable hash of the target modulo [`DUE_SHARDS`];
//! `j` of a delivery request's counters is a stable hash of the document id modulo
//! [`DELIVERY_SHARDS`].
//! Validated ids hold neither `#` nor control characters such as `\u{1}`
//! (`billrun_domain::ids`): a prefix never reaches into an id, and `\u{1}` sorts below
//! every character of one.

use super::codec::Item;
use billrun_app::error::StoreError;
use billrun_app::ports::StoreResult;
use billrun_app::scheduling::DueTarget;
use billrun_domain::ids::{
    AccountId, DeliveryRequestId, DocumentId, DocumentRequestId, ExportId, PaymentId, RunId,
    ScheduleId, WebhookDeliveryId, WebhookEndpointId,
};
use billrun_domain::state::StateChange;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::fmt::Display;

pub const PK: &str = "pk";
pub const SK: &str = "sk";

/// The table's global secondary indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Index {
    /// Runs in creation order: [`RUNS`] / [`run_sort`].
    Gsi1,
    /// Accounts in id order: [`ACCOUNTS`] / the account id; templates in id order:
    /// [`TEMPLATES`] / the template id.
    Gsi2,
}

impl Index {
    pub const ALL: [Index; 2] = [Index::Gsi1, Index::Gsi2];

    pub fn name(self) -> &'static str {
        match self {
            Index::Gsi1 => "gsi1",
            Index::Gsi2 => "gsi2",
        }
    }

    /// The index's partition key attribute.
    pub fn pk(self) -> &'static str {
        match self {
            Index::Gsi1 => "gsi1pk",
            Index::Gsi2 => "gsi2pk",
        }
    }

    /// The index's sort key attribute.
    pub fn sk(self) -> &'static str {
        match self {
            Index::Gsi1 => "gsi1sk",
            Index::Gsi2 => "gsi2sk",
        }
    }
}

/// The gsi1 partition that lists every run.
pub(super) const RUNS: &str = "RUNS";
/// The gsi2 partition that lists every account.
pub(super) const ACCOUNTS: &str = "ACCOUNTS";

/// The gsi2 partition that lists every document template.
pub(super) const TEMPLATES: &str = "TEMPLATES";

/// The gsi2 partition that lists every invoice schedule.
pub(super) const INVOICE_SCHEDULES: &str = "INVSCHED";

/// An item's primary key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    fn new(pk: impl Into<String>, sk: impl Into<String>) -> Key {
        Key {
            pk: pk.into(),
            sk: sk.into(),
        }
    }

    /// The key attributes of the item: a request's key, or the start of a new item.
    pub fn item(&self) -> Item {
        HashMap::from([
            (PK.to_string(), super::codec::s(self.pk.clone())),
            (SK.to_string(), super::codec::s(self.sk.clone())),
        ])
    }

    /// The key of a stored item.
    pub fn of(item: &Item) -> Key {
        let get = |k: &str| super::codec::get_s(item, k).unwrap_or_default().to_string();
        Key::new(get(PK), get(SK))
    }
}

/// FNV-1a: a stable hash (the same in every process and release), so an account's
/// partition and a due entry's shard never move.
pub(super) fn stable_hash(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The run partition (of `shards`) that holds the account's items.
pub(super) fn shard(account: &AccountId, shards: u32) -> u32 {
    (stable_hash(account.as_str()) % u64::from(shards)) as u32
}

// Runs.

const RUN: &str = "RUN";

fn run_pk(run: RunId) -> String {
    format!("RUN#{run}")
}

pub(super) fn run(id: RunId) -> Key {
    Key::new(run_pk(id), RUN)
}

/// The run whose record has the key (`pk`, `sk`), if it is one.
pub(super) fn run_of(pk: &str, sk: &str) -> Option<RunId> {
    if sk != RUN {
        return None;
    }
    pk.strip_prefix("RUN#")?.parse().ok()
}

pub(super) fn is_run(item: &Item) -> bool {
    super::codec::get_s(item, SK) == Some(RUN)
}

/// gsi1's sort key of a run: creation order, the id breaking ties.
pub(super) fn run_sort(created_at: &DateTime<Utc>, id: RunId) -> String {
    format!("{}#{id}", created_at.to_rfc3339())
}

/// The lowest gsi1 sort key of the runs created at or after `t`.
pub(super) fn runs_since(t: &DateTime<Utc>) -> String {
    t.to_rfc3339()
}

/// One of the run's K partitions.
pub(super) fn shard_pk(run: RunId, k: u32) -> String {
    format!("RUN#{run}#{k}")
}

const PROGRESS: &str = "COUNT";

pub(super) fn progress(run: RunId, k: u32) -> Key {
    Key::new(shard_pk(run, k), PROGRESS)
}

pub(super) fn is_progress(item: &Item) -> bool {
    super::codec::get_s(item, SK) == Some(PROGRESS)
}

/// The sort key prefix of a partition's outcomes.
pub(super) const OUTCOMES: &str = "ACCT#";

pub(super) fn outcome_sk(account: &AccountId) -> String {
    format!("{OUTCOMES}{account}")
}

pub(super) fn outcome(run: RunId, k: u32, account: &AccountId) -> Key {
    Key::new(shard_pk(run, k), outcome_sk(account))
}

/// The sort key prefix of the pending records of one account's split commit.
pub(super) fn pending_prefix(account: &AccountId) -> String {
    format!("PEND#{account}#")
}

/// The pending record of early chunk `i` of an account's split commit.
pub(super) fn pending_sk(account: &AccountId, i: usize) -> String {
    format!("{}{i:05}", pending_prefix(account))
}

/// The lowest key of the number pages of `round`.
fn number_pages(round: u32) -> String {
    format!("NUM#{round:05}#")
}

/// The lowest key of the number pages of `round` that start at `account`. `\u{1}` sorts
/// below every character an id holds, so keys sort by (round, account, number).
pub(super) fn number_pages_from(round: u32, account: &AccountId) -> String {
    format!("{}{account}\u{1}", number_pages(round))
}

/// A number page's sort key: the round, the first account of the page's documents in
/// one outcome partition and the page's first number there (two pages can start at one
/// account: a page may end within an account).
pub(super) fn number_page_sk(round: u32, first: &AccountId, number: &str) -> String {
    format!("{}{number}", number_pages_from(round, first))
}

/// The sort keys from the lowest number page of `round` to just above every page that
/// starts at `last` (and below any page that starts after it).
pub(super) fn number_pages_through(round: u32, last: &AccountId) -> (String, String) {
    let lo = number_pages(round);
    let hi = format!("{lo}{last}\u{2}");
    (lo, hi)
}

const IDEMPOTENCY: &str = "IDEM";

pub(super) fn idempotency(key: impl Display) -> Key {
    Key::new(format!("IDEM#{key}"), IDEMPOTENCY)
}

pub(super) fn is_idempotency(item: &Item) -> bool {
    super::codec::get_s(item, SK) == Some(IDEMPOTENCY)
}

// Sequences.

const SEQUENCE: &str = "SEQ";
/// The run number sequence; documents are numbered from their kind's (`INV`, `CM`).
pub(super) const RUN_NUMBERS: &str = "RUN";

pub(super) fn sequence(kind: &str) -> Key {
    Key::new(format!("SEQ#{kind}"), SEQUENCE)
}

pub(super) fn is_sequence(item: &Item) -> bool {
    super::codec::get_s(item, SK) == Some(SEQUENCE)
}

// Accounts and what hangs off them.

pub(super) fn account_pk(id: &AccountId) -> String {
    format!("ACCT#{id}")
}

const ACCOUNT: &str = "ACCT";
const SUBSCRIPTION: &str = "SUB#";
const USAGE: &str = "USAGE#";
const ADJUSTMENT: &str = "ADJ#";
/// The sort key prefix of an account's invoice schedules.
pub(super) const SCHEDULES: &str = "SCHED#";
const STATE: &str = "STATE";
const MARK: &str = "MARK#";
const USAGE_MARK: &str = "MARK#U#";
const ONE_TIME_MARK: &str = "MARK#O#";
const ADJUSTMENT_MARK: &str = "MARK#A#";

pub(super) fn account(id: &AccountId) -> Key {
    Key::new(account_pk(id), ACCOUNT)
}

pub(super) fn subscription(account: &AccountId, id: impl Display) -> Key {
    Key::new(account_pk(account), format!("{SUBSCRIPTION}{id}"))
}

pub(super) fn usage(account: &AccountId, id: impl Display) -> Key {
    Key::new(account_pk(account), format!("{USAGE}{id}"))
}

pub(super) fn adjustment(account: &AccountId, id: impl Display) -> Key {
    Key::new(account_pk(account), format!("{ADJUSTMENT}{id}"))
}

pub(super) fn schedule(account: &AccountId, id: impl Display) -> Key {
    Key::new(account_pk(account), format!("{SCHEDULES}{id}"))
}

pub(super) fn state(account: &AccountId) -> Key {
    Key::new(account_pk(account), STATE)
}

/// The sort key of the billed-mark item a change writes; `None` for a watermark or a
/// renewal, which live in the state item and move under its version condition.
pub(super) fn mark_sk(change: &StateChange) -> Option<String> {
    match change {
        StateChange::Usage { usage_id } => Some(format!("{USAGE_MARK}{usage_id}")),
        StateChange::OneTime { charge_id } => Some(format!("{ONE_TIME_MARK}{charge_id}")),
        StateChange::Adjustment { adjustment_id } => {
            Some(format!("{ADJUSTMENT_MARK}{adjustment_id}"))
        }
        StateChange::Watermark { .. } | StateChange::Renewal { .. } => None,
    }
}

/// The billed-mark item a change writes; `None` for a watermark or a renewal.
pub(super) fn mark(account: &AccountId, change: &StateChange) -> Option<Key> {
    mark_sk(change).map(|sk| Key::new(account_pk(account), sk))
}

/// What a billed mark's sort key marks billed, by id.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Mark<'a> {
    Usage(&'a str),
    OneTime(&'a str),
    Adjustment(&'a str),
}

pub(super) fn parse_mark(sk: &str) -> Option<Mark<'_>> {
    if let Some(id) = sk.strip_prefix(USAGE_MARK) {
        Some(Mark::Usage(id))
    } else if let Some(id) = sk.strip_prefix(ONE_TIME_MARK) {
        Some(Mark::OneTime(id))
    } else {
        sk.strip_prefix(ADJUSTMENT_MARK).map(Mark::Adjustment)
    }
}

/// The kind of an item of an account's partition, by its sort key.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum AccountItem {
    Account,
    Subscription,
    Usage,
    Adjustment,
    Schedule,
    Mark,
    State,
    Other,
}

pub(super) fn account_item(sk: &str) -> AccountItem {
    if sk == ACCOUNT {
        AccountItem::Account
    } else if sk.starts_with(SUBSCRIPTION) {
        AccountItem::Subscription
    } else if sk.starts_with(USAGE) {
        AccountItem::Usage
    } else if sk.starts_with(ADJUSTMENT) {
        AccountItem::Adjustment
    } else if sk.starts_with(SCHEDULES) {
        AccountItem::Schedule
    } else if sk.starts_with(MARK) {
        AccountItem::Mark
    } else if sk == STATE {
        AccountItem::State
    } else {
        AccountItem::Other
    }
}

// Documents.

const DOCUMENT: &str = "DOC";

fn document_pk(id: DocumentId) -> String {
    format!("DOC#{id}")
}

pub(super) fn document(id: DocumentId) -> Key {
    Key::new(document_pk(id), DOCUMENT)
}

pub(super) fn is_document(key: &Key) -> bool {
    key.sk == DOCUMENT
}

pub(super) fn document_file(id: DocumentId) -> Key {
    Key::new(document_pk(id), "FILE")
}

/// A document's position in numbering order, (round, account id, group key), as the
/// cursor of a run's document pages. `\u{1}` sorts below every character an id may
/// hold, so the byte order of this key is the numbering order.
pub(super) fn document_sort(round: u32, account: &AccountId, group: &str) -> String {
    format!("{round:06}\u{1}{account}\u{1}{group}")
}

/// The (round, account id) of a [`document_sort`] key.
pub(super) fn parse_document_sort(key: &str) -> StoreResult<(u32, AccountId)> {
    let bad = || StoreError::fatal(format!("bad document cursor '{key}'"));
    let mut parts = key.split('\u{1}');
    let round = parts.next().and_then(|r| r.parse().ok()).ok_or_else(bad)?;
    let account = parts
        .next()
        .and_then(|a| AccountId::parse(a).ok())
        .ok_or_else(bad)?;
    Ok((round, account))
}

// Exports.

pub(super) fn export(id: ExportId) -> Key {
    Key::new(format!("EXPORT#{id}"), "EXPORT")
}

// Webhooks.

/// The partition of every webhook endpoint, in id order.
pub(super) const WEBHOOK_ENDPOINTS: &str = "WEBHOOKS";

pub(super) fn webhook_endpoint(id: &WebhookEndpointId) -> Key {
    Key::new(WEBHOOK_ENDPOINTS, id.to_string())
}

pub(super) fn webhook_delivery(id: WebhookDeliveryId) -> Key {
    Key::new(format!("WHDLV#{id}"), "WHDLV")
}

/// The gsi1 partition of an endpoint's deliveries.
pub(super) fn endpoint_deliveries(endpoint: &WebhookEndpointId) -> String {
    format!("WHDLV#{endpoint}")
}

/// gsi1's sort key of a delivery: creation order (fixed-width instants), then the id.
pub(super) fn delivery_sort(created_at: &DateTime<Utc>, id: WebhookDeliveryId) -> String {
    format!(
        "{}#{id}",
        created_at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
    )
}

// Document generation.

const DOCUMENT_REQUEST: &str = "DOCREQ";

fn document_request_pk(id: DocumentRequestId) -> String {
    format!("DOCREQ#{id}")
}

pub(super) fn document_request(id: DocumentRequestId) -> Key {
    Key::new(document_request_pk(id), DOCUMENT_REQUEST)
}

/// The record that a request's file of `document` is counted.
pub(super) fn recorded_file(request: DocumentRequestId, document: DocumentId) -> Key {
    Key::new(document_request_pk(request), document_pk(document))
}

pub(super) fn latest_document_request(run: RunId) -> Key {
    Key::new(run_pk(run), DOCUMENT_REQUEST)
}

// Payments.

/// The sort key prefix of an invoice's payments in the document's partition.
const PAYMENTS: &str = "PAY#";

pub(super) fn payment(invoice: DocumentId, payment: PaymentId) -> Key {
    Key::new(document_pk(invoice), format!("{PAYMENTS}{payment}"))
}

/// The partition and sort key prefix of an invoice's [`payment`] items.
pub(super) fn payments_of(invoice: DocumentId) -> (String, &'static str) {
    (document_pk(invoice), PAYMENTS)
}

pub(super) fn invoice_paid(invoice: DocumentId) -> Key {
    Key::new(document_pk(invoice), "PAID")
}

// Email delivery.

const DELIVERY_REQUEST: &str = "DLVREQ";
/// The sort key prefix of a run's delivery requests in the run's partition.
const RUN_DELIVERY_REQUESTS: &str = "DLVREQ#";
/// Partitions of one delivery request's counters: every result of a request adds to
/// them, so one item would take a whole request's writes (a hot key at a mail
/// provider's send rate).
pub const DELIVERY_SHARDS: u64 = 8;

fn delivery_request_pk(id: DeliveryRequestId) -> String {
    format!("{DELIVERY_REQUEST}#{id}")
}

pub(super) fn delivery_request(id: DeliveryRequestId) -> Key {
    Key::new(delivery_request_pk(id), DELIVERY_REQUEST)
}

/// The counters shard that counts the results of `document`: every result of one
/// (request, document) goes to the same shard, so a result that replaces another moves
/// its count within one item.
pub(super) fn delivery_counters_of(request: DeliveryRequestId, document: DocumentId) -> Key {
    delivery_counters(
        request,
        stable_hash(&document.to_string()) % DELIVERY_SHARDS,
    )
}

/// Counters shard `j` of a request (of [`DELIVERY_SHARDS`]).
pub(super) fn delivery_counters(request: DeliveryRequestId, j: u64) -> Key {
    Key::new(format!("{}#{j}", delivery_request_pk(request)), PROGRESS)
}

pub(super) fn delivery_result(request: DeliveryRequestId, document: DocumentId) -> Key {
    Key::new(delivery_request_pk(request), document_pk(document))
}

pub(super) fn document_delivery(id: DocumentId) -> Key {
    Key::new(document_pk(id), "DLV")
}

pub(super) fn latest_delivery_request(run: RunId) -> Key {
    Key::new(run_pk(run), DELIVERY_REQUEST)
}

/// The item that lists a request in its run's partition.
pub(super) fn run_delivery_request(run: RunId, request: DeliveryRequestId) -> Key {
    Key::new(run_pk(run), format!("{RUN_DELIVERY_REQUESTS}{request}"))
}

/// The partition and sort key prefix of a run's [`run_delivery_request`] items.
pub(super) fn run_delivery_requests(run: RunId) -> (String, &'static str) {
    (run_pk(run), RUN_DELIVERY_REQUESTS)
}

/// The request a [`run_delivery_request`] sort key names.
pub(super) fn parse_run_delivery_request(sk: &str) -> StoreResult<DeliveryRequestId> {
    sk.strip_prefix(RUN_DELIVERY_REQUESTS)
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| StoreError::fatal(format!("bad delivery request key '{sk}'")))
}

// Catalog.

const REF: &str = "REF";

pub(super) fn subscription_ref(id: impl Display) -> Key {
    Key::new(format!("SUBREF#{id}"), REF)
}

pub(super) fn schedule_ref(id: &ScheduleId) -> Key {
    Key::new(format!("SCHEDREF#{id}"), REF)
}

/// The partition of an invoice schedule's executed items.
pub(super) fn processed_items_pk(schedule: &ScheduleId) -> String {
    format!("ISCH#{schedule}")
}

/// The sort key prefix of executed invoice-schedule items.
pub(super) const PROCESSED_ITEMS: &str = "ITEM#";

pub(super) fn processed_item(schedule: &ScheduleId, item: impl Display) -> Key {
    Key::new(
        processed_items_pk(schedule),
        format!("{PROCESSED_ITEMS}{item}"),
    )
}

const TEMPLATE: &str = "TMPL";

pub(super) fn template(id: &str) -> Key {
    Key::new(format!("{TEMPLATE}#{id}"), TEMPLATE)
}

pub(super) fn active_template() -> Key {
    Key::new(TEMPLATE, "ACTIVE")
}

// Scheduling.

/// The partition of every run schedule, in id order.
pub(super) const RUN_SCHEDULES: &str = "RUNSCHED";

pub(super) fn run_schedule(id: impl Display) -> Key {
    Key::new(RUN_SCHEDULES, id.to_string())
}

/// Partitions of the due index.
pub const DUE_SHARDS: u64 = 8;

pub(super) fn due_pk(k: u64) -> String {
    format!("DUE#{k}")
}

/// The due instant as a fixed-width, order-preserving number (microseconds from the
/// earliest instant chrono holds), so sort keys order by instant.
fn due_instant(at: DateTime<Utc>) -> String {
    // Non-negative and 20 digits wide for every i64 microsecond count.
    let v = i128::from(at.timestamp_micros()) - i128::from(i64::MIN);
    format!("{v:020}")
}

pub(super) fn due(at: DateTime<Utc>, target: &DueTarget) -> Key {
    let key = target.key();
    Key::new(
        due_pk(stable_hash(&key) % DUE_SHARDS),
        format!("{}#{key}", due_instant(at)),
    )
}

/// A sort key above every entry due by `now` and below every later one.
pub(super) fn due_by(now: DateTime<Utc>) -> String {
    format!("{}$", due_instant(now)) // '$' sorts right after '#'
}

/// The kind of an item from its keys, for measuring the table: the key prefixes
/// before the first `#` (`RUN#…`/`ACCT#…` → `RUN/ACCT`), with a run's K partitions
/// (`RUN#<id>#<k>`) told apart from its own item.
pub(crate) fn item_kind(pk: &str, sk: &str) -> String {
    let head = |s: &str| s.split('#').next().unwrap_or_default().to_string();
    let pk_kind = if pk.starts_with("RUN#") && pk.matches('#').count() >= 2 {
        "RUN#shard".to_string()
    } else {
        head(pk)
    };
    format!("{pk_kind}/{}", head(sk))
}

// The audit trail.

/// The partition of the audit entries of `time`'s month (`AUDIT#2026-12`).
pub(super) fn audit_month(time: &DateTime<Utc>) -> String {
    format!("AUDIT#{}", time.format("%Y-%m"))
}

/// The partition of the audit entries about one resource (a run's: its documents' too).
pub(super) fn audit_resource(id: &str) -> String {
    format!("AUDIT#R#{id}")
}

/// The sort key of an audit entry: time order (fixed-width instants), then its place
/// in its write (fixed width), then the id.
pub(super) fn audit_sort(time: &DateTime<Utc>, seq: u32, id: uuid::Uuid) -> String {
    format!(
        "{}#{seq:010}#{id}",
        time.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
    )
}

/// The first sort key at or after `time` (every key of that instant sorts after it).
pub(super) fn audit_since(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// Every item key of an audit entry: its month, its resource, and its run's when the
/// resource is a document.
pub(super) fn audit_items(
    time: &DateTime<Utc>,
    seq: u32,
    id: uuid::Uuid,
    resource: &str,
    run: Option<RunId>,
) -> Vec<Key> {
    let sk = audit_sort(time, seq, id);
    let mut out = vec![
        Key::new(audit_month(time), sk.clone()),
        Key::new(audit_resource(resource), sk.clone()),
    ];
    if let Some(run) = run.map(|r| r.0.to_string()).filter(|r| r != resource) {
        out.push(Key::new(audit_resource(&run), sk));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use billrun_domain::ids::UsageId;

    fn aid(s: &str) -> AccountId {
        AccountId::parse(s).unwrap()
    }

    #[test]
    fn keys_keep_their_stored_formats() {
        let run: RunId = "0190c2a4-0000-7000-8000-000000000001".parse().unwrap();
        let a = aid("A-1");
        assert_eq!(
            super::run(run),
            Key::new("RUN#0190c2a4-0000-7000-8000-000000000001", "RUN")
        );
        assert_eq!(
            outcome(run, 3, &a),
            Key::new("RUN#0190c2a4-0000-7000-8000-000000000001#3", "ACCT#A-1")
        );
        assert_eq!(
            progress(run, 0).sk,
            "COUNT",
            "progress shares the run's partitions"
        );
        assert_eq!(pending_sk(&a, 2), "PEND#A-1#00002");
        assert_eq!(number_page_sk(1, &a, "INV-7"), "NUM#00001#A-1\u{1}INV-7");
        assert_eq!(
            number_pages_through(1, &a),
            ("NUM#00001#".to_string(), "NUM#00001#A-1\u{2}".to_string())
        );
        assert_eq!(idempotency("k"), Key::new("IDEM#k", "IDEM"));
        assert_eq!(sequence(RUN_NUMBERS), Key::new("SEQ#RUN", "SEQ"));
        assert_eq!(sequence("INV").pk, "SEQ#INV");
        assert_eq!(account(&a), Key::new("ACCT#A-1", "ACCT"));
        assert_eq!(subscription(&a, "S-1").sk, "SUB#S-1");
        assert_eq!(usage(&a, "U-1").sk, "USAGE#U-1");
        assert_eq!(adjustment(&a, "J-1").sk, "ADJ#J-1");
        assert_eq!(schedule(&a, "IS-1").sk, "SCHED#IS-1");
        assert_eq!(state(&a), Key::new("ACCT#A-1", "STATE"));
        assert_eq!(template("t1"), Key::new("TMPL#t1", "TMPL"));
        assert_eq!(active_template(), Key::new("TMPL", "ACTIVE"));
        assert_eq!(subscription_ref("S-1"), Key::new("SUBREF#S-1", "REF"));
        assert_eq!(run_schedule("nightly"), Key::new("RUNSCHED", "nightly"));
        assert_eq!(document_sort(2, &a, "g"), "000002\u{1}A-1\u{1}g");
        assert_eq!(parse_document_sort("000002\u{1}A-1\u{1}g").unwrap(), (2, a));
        assert!(parse_document_sort("x").is_err());
    }

    #[test]
    fn delivery_keys_keep_their_stored_formats_and_one_document_counts_in_one_shard() {
        let run: RunId = "0190c2a4-0000-7000-8000-000000000001".parse().unwrap();
        let req: DeliveryRequestId = "0190c2a4-0000-7000-8000-000000000002".parse().unwrap();
        let doc: DocumentId = "0190c2a4-0000-7000-8000-000000000003".parse().unwrap();
        let r = "DLVREQ#0190c2a4-0000-7000-8000-000000000002";
        assert_eq!(delivery_request(req), Key::new(r, "DLVREQ"));
        assert_eq!(
            delivery_counters(req, 7),
            Key::new(format!("{r}#7"), "COUNT")
        );
        assert_eq!(
            delivery_result(req, doc),
            Key::new(r, "DOC#0190c2a4-0000-7000-8000-000000000003")
        );
        assert_eq!(
            document_delivery(doc),
            Key::new("DOC#0190c2a4-0000-7000-8000-000000000003", "DLV")
        );
        let run_pk = "RUN#0190c2a4-0000-7000-8000-000000000001";
        assert_eq!(latest_delivery_request(run), Key::new(run_pk, "DLVREQ"));
        let listed = run_delivery_request(run, req);
        assert_eq!(listed.sk, "DLVREQ#0190c2a4-0000-7000-8000-000000000002");
        let (pk, prefix) = run_delivery_requests(run);
        assert!(listed.pk == pk && listed.sk.starts_with(prefix));
        assert!(!latest_delivery_request(run).sk.starts_with(prefix));
        assert_eq!(parse_run_delivery_request(&listed.sk).unwrap(), req);
        assert!(parse_run_delivery_request("DLVREQ").is_err());
        let shard = delivery_counters_of(req, doc);
        assert_eq!(shard, delivery_counters_of(req, doc));
        assert!((0..DELIVERY_SHARDS).any(|j| delivery_counters(req, j) == shard));
    }

    #[test]
    fn billed_marks_parse_back_to_what_they_mark() {
        let usage_id = UsageId::parse("U-9").unwrap();
        let sk = mark_sk(&StateChange::Usage { usage_id }).unwrap();
        assert_eq!(sk, "MARK#U#U-9");
        assert_eq!(parse_mark(&sk), Some(Mark::Usage("U-9")));
        assert_eq!(parse_mark("MARK#O#C-1"), Some(Mark::OneTime("C-1")));
        assert_eq!(parse_mark("MARK#A#J-1"), Some(Mark::Adjustment("J-1")));
        assert_eq!(account_item(&sk), AccountItem::Mark);
        assert_eq!(account_item("STATE"), AccountItem::State);
        assert_eq!(account_item("SCHED#IS-1"), AccountItem::Schedule);
    }

    #[test]
    fn due_keys_order_by_instant_and_stop_at_now() {
        let target = DueTarget::Run {
            run_id: "0190c2a4-0000-7000-8000-000000000001".parse().unwrap(),
        };
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        let early = due(at("2026-01-01T00:00:00Z"), &target);
        let late = due(at("2026-01-02T00:00:00Z"), &target);
        assert_eq!(early.pk, late.pk);
        assert!(early.pk.starts_with("DUE#"));
        assert!(early.sk < late.sk);
        assert!(early.sk < due_by(at("2026-01-01T00:00:00Z")));
        assert!(late.sk > due_by(at("2026-01-01T00:00:00Z")));
    }
}
