//! The one place that names the database's tables and builds their keys: the schema
//! (created on open), the sortable text of instants, the order key of due entries and
//! the cursors of document pages. Keys compare byte-wise (SQLite's BINARY collation is
//! `memcmp` over UTF-8), which is the order the ports promise for ids.

use crate::error::{fatal, Error};
use billrun_app::model::deliveries::SkipReason;
use billrun_app::model::listing::DocumentPosition;
use billrun_app::model::schedules::DueTarget;
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::Connection;

/// The database file in the data directory.
pub const DATABASE_FILE: &str = "billrun.sqlite3";
/// The file whose lock says a process has the data directory open.
pub const LOCK_FILE: &str = "billrun.lock";

/// The schema version this build writes (`PRAGMA user_version`). A database of a later
/// version is refused rather than misread; an earlier one gets the [`steps`] after its
/// version.
pub const SCHEMA_VERSION: i64 = 7;

pub const ACCOUNTS: &str = "accounts";
pub const SUBSCRIPTIONS: &str = "subscriptions";
pub const USAGE: &str = "usage_records";
pub const ADJUSTMENTS: &str = "adjustments";
pub const INVOICE_SCHEDULES: &str = "invoice_schedules";
pub const PROCESSED_ITEMS: &str = "processed_items";
pub const RUNS: &str = "runs";
pub const COUNTERS: &str = "run_counters";
pub const OUTCOMES: &str = "outcomes";
pub const DOCUMENTS: &str = "documents";
pub const REVERTED: &str = "reverted_runs";
pub const SEQUENCES: &str = "sequences";
pub const TEMPLATES: &str = "templates";
pub const SETTINGS: &str = "settings";
pub const DOCUMENT_REQUESTS: &str = "document_requests";
pub const LATEST_REQUESTS: &str = "latest_document_requests";
pub const DOCUMENT_RESULTS: &str = "document_results";
pub const DOCUMENT_FILES: &str = "document_files";
pub const RUN_SCHEDULES: &str = "run_schedules";
pub const DUE: &str = "due_entries";
pub const BLOBS: &str = "blobs";
pub const DELIVERY_REQUESTS: &str = "delivery_requests";
pub const DELIVERY_SKIPS: &str = "delivery_skips";
pub const LATEST_DELIVERY_REQUESTS: &str = "latest_delivery_requests";
pub const DELIVERY_RESULTS: &str = "delivery_results";
pub const DOCUMENT_DELIVERIES: &str = "document_deliveries";
pub const PAYMENTS: &str = "payments";
pub const INVOICE_PAID: &str = "invoice_paid";
pub const EXPORTS: &str = "exports";
pub const WEBHOOK_ENDPOINTS: &str = "webhook_endpoints";
pub const WEBHOOK_DELIVERIES: &str = "webhook_deliveries";
pub const AUDIT_EVENTS: &str = "audit_events";

/// Names of the rows of [`SEQUENCES`].
pub const RUN_SEQUENCE: &str = "run";
pub const INVOICE_SEQUENCE: &str = "invoice";
pub const CREDIT_MEMO_SEQUENCE: &str = "credit_memo";
/// The row of [`SETTINGS`] naming the active template.
pub const ACTIVE_TEMPLATE: &str = "active_template";

/// What each schema version adds, in order: a database of version `v` gets every step
/// after `v`, in the transaction that sets its version.
fn steps() -> [(i64, String); 7] {
    [
        (1, ddl_v1()),
        (2, ddl_deliveries()),
        (3, ddl_delivery_feedback()),
        (4, ddl_payments()),
        (5, ddl_exports()),
        (6, ddl_webhooks()),
        (7, ddl_audit()),
    ]
}

/// Version 7: the audit trail (as JSON, listed by time, seq and id, by the resource or the
/// run it concerns; rows are only ever inserted).
fn ddl_audit() -> String {
    format!(
        "
CREATE TABLE IF NOT EXISTS {AUDIT_EVENTS} (
  id TEXT PRIMARY KEY, time TEXT NOT NULL, seq INTEGER NOT NULL, resource_id TEXT NOT NULL,
  run_id TEXT NOT NULL, actor TEXT, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS {AUDIT_EVENTS}_time ON {AUDIT_EVENTS} (time, seq, id);
CREATE INDEX IF NOT EXISTS {AUDIT_EVENTS}_resource
  ON {AUDIT_EVENTS} (resource_id, time, seq, id);
CREATE INDEX IF NOT EXISTS {AUDIT_EVENTS}_run ON {AUDIT_EVENTS} (run_id, time, seq, id);
"
    )
}

/// Version 6: webhook endpoints and deliveries (as JSON, with the version their writes
/// check; deliveries listed per endpoint by creation time, then id).
fn ddl_webhooks() -> String {
    format!(
        "
CREATE TABLE IF NOT EXISTS {WEBHOOK_ENDPOINTS} (
  id TEXT PRIMARY KEY, version INTEGER NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS {WEBHOOK_DELIVERIES} (
  id TEXT PRIMARY KEY, endpoint_id TEXT NOT NULL, created_at TEXT NOT NULL,
  version INTEGER NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS {WEBHOOK_DELIVERIES}_endpoint
  ON {WEBHOOK_DELIVERIES} (endpoint_id, created_at, id);
"
    )
}

/// Version 5: export records (as JSON, with the status and version their writes check).
fn ddl_exports() -> String {
    format!(
        "
CREATE TABLE IF NOT EXISTS {EXPORTS} (
  id TEXT PRIMARY KEY, status TEXT NOT NULL, version INTEGER NOT NULL, data TEXT NOT NULL);
"
    )
}

/// Version 4: payments (as JSON, listed by invoice in the order recorded: `rowid`) and
/// each invoice's paid amount (a decimal as text, compared in Rust inside the
/// recording transaction).
fn ddl_payments() -> String {
    format!(
        "
CREATE TABLE IF NOT EXISTS {PAYMENTS} (
  id TEXT PRIMARY KEY, invoice_id TEXT NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS {PAYMENTS}_invoice ON {PAYMENTS} (invoice_id);
CREATE TABLE IF NOT EXISTS {INVOICE_PAID} (invoice_id TEXT PRIMARY KEY, paid TEXT NOT NULL);
"
    )
}

/// Version 3: a request counts its bounced and complained sends (columns beside the
/// other counters; 0 for the requests of version 2, which had none).
fn ddl_delivery_feedback() -> String {
    format!(
        "
ALTER TABLE {DELIVERY_REQUESTS} ADD COLUMN bounced INTEGER NOT NULL DEFAULT 0;
ALTER TABLE {DELIVERY_REQUESTS} ADD COLUMN complained INTEGER NOT NULL DEFAULT 0;
"
    )
}

/// The tables of version 1, with the columns queried on beside the entity's JSON
/// (`data`).
fn ddl_v1() -> String {
    format!(
        "
CREATE TABLE IF NOT EXISTS {ACCOUNTS} (
  id TEXT PRIMARY KEY, batch TEXT, data TEXT NOT NULL, state TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS {ACCOUNTS}_batch ON {ACCOUNTS} (batch, id);
CREATE TABLE IF NOT EXISTS {SUBSCRIPTIONS} (
  account_id TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL,
  PRIMARY KEY (account_id, id));
CREATE INDEX IF NOT EXISTS {SUBSCRIPTIONS}_id ON {SUBSCRIPTIONS} (id);
CREATE TABLE IF NOT EXISTS {USAGE} (
  account_id TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL,
  PRIMARY KEY (account_id, id));
CREATE TABLE IF NOT EXISTS {ADJUSTMENTS} (
  account_id TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL,
  PRIMARY KEY (account_id, id));
CREATE TABLE IF NOT EXISTS {INVOICE_SCHEDULES} (
  id TEXT PRIMARY KEY, account_id TEXT NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS {INVOICE_SCHEDULES}_account ON {INVOICE_SCHEDULES} (account_id, id);
CREATE TABLE IF NOT EXISTS {PROCESSED_ITEMS} (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, schedule_id TEXT NOT NULL, item_id TEXT NOT NULL,
  data TEXT NOT NULL, UNIQUE (schedule_id, item_id));
CREATE TABLE IF NOT EXISTS {RUNS} (
  id TEXT PRIMARY KEY, number INTEGER NOT NULL UNIQUE, idempotency_key TEXT UNIQUE,
  created_at TEXT NOT NULL, version INTEGER NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS {RUNS}_created ON {RUNS} (created_at, id);
CREATE TABLE IF NOT EXISTS {COUNTERS} (run_id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS {OUTCOMES} (
  run_id TEXT NOT NULL, account_id TEXT NOT NULL, failed INTEGER NOT NULL,
  data TEXT NOT NULL, PRIMARY KEY (run_id, account_id));
CREATE TABLE IF NOT EXISTS {DOCUMENTS} (
  id TEXT PRIMARY KEY, run_id TEXT NOT NULL, round INTEGER NOT NULL,
  account_id TEXT NOT NULL, group_key TEXT NOT NULL, data TEXT NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS {DOCUMENTS}_order
  ON {DOCUMENTS} (run_id, round, account_id, group_key);
CREATE TABLE IF NOT EXISTS {REVERTED} (run_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS {SEQUENCES} (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS {TEMPLATES} (id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS {SETTINGS} (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS {DOCUMENT_REQUESTS} (
  id TEXT PRIMARY KEY, run_id TEXT NOT NULL, generated INTEGER NOT NULL,
  failed INTEGER NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS {LATEST_REQUESTS} (run_id TEXT PRIMARY KEY, request_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS {DOCUMENT_RESULTS} (
  request_id TEXT NOT NULL, document_id TEXT NOT NULL, PRIMARY KEY (request_id, document_id));
CREATE TABLE IF NOT EXISTS {DOCUMENT_FILES} (document_id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS {RUN_SCHEDULES} (
  id TEXT PRIMARY KEY, version INTEGER NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS {DUE} (
  at TEXT NOT NULL, target TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (at, target));
CREATE TABLE IF NOT EXISTS {BLOBS} (
  key TEXT PRIMARY KEY, content_type TEXT NOT NULL, bytes BLOB NOT NULL);
"
    )
}

/// Version 2: email delivery. A request's counters are columns beside it (`last_sent_at`
/// as [`instant`] text, so `MAX` is the latest), its skipped documents counted by reason
/// ([`skip_reason`]) in rows of their own; results by (request, document) and each
/// document's latest delivery as JSON.
fn ddl_deliveries() -> String {
    format!(
        "
CREATE TABLE IF NOT EXISTS {DELIVERY_REQUESTS} (
  id TEXT PRIMARY KEY, run_id TEXT NOT NULL, requested INTEGER NOT NULL,
  sent INTEGER NOT NULL, skipped INTEGER NOT NULL, failed INTEGER NOT NULL,
  last_sent_at TEXT, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS {DELIVERY_REQUESTS}_run ON {DELIVERY_REQUESTS} (run_id);
CREATE TABLE IF NOT EXISTS {DELIVERY_SKIPS} (
  request_id TEXT NOT NULL, reason TEXT NOT NULL, count INTEGER NOT NULL,
  PRIMARY KEY (request_id, reason));
CREATE TABLE IF NOT EXISTS {LATEST_DELIVERY_REQUESTS} (
  run_id TEXT PRIMARY KEY, request_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS {DELIVERY_RESULTS} (
  request_id TEXT NOT NULL, document_id TEXT NOT NULL, data TEXT NOT NULL,
  PRIMARY KEY (request_id, document_id));
CREATE TABLE IF NOT EXISTS {DOCUMENT_DELIVERIES} (document_id TEXT PRIMARY KEY, data TEXT NOT NULL);
"
    )
}

/// Sets the connection up (WAL, `synchronous=FULL`, a busy timeout) and brings the
/// schema to [`SCHEMA_VERSION`], refusing a database written by a later one.
pub(crate) fn prepare(conn: &Connection) -> Result<(), Error> {
    // WAL: readers do not block the writer, and a commit is one append to the log.
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(fatal(format!(
            "the database refused the WAL journal (mode {mode})"
        )));
    }
    // FULL: the WAL is fsynced at every commit, so an acknowledged write survives a
    // power cut as well as kill -9 (NORMAL defers the sync to checkpoints and may lose
    // the last commits on a power cut: a billed account must not be forgotten).
    conn.execute_batch("PRAGMA synchronous=FULL;")?;
    // A second process on the same directory waits for the lock instead of failing
    // at once (and its error is Transient after that).
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(fatal(format!(
            "the database has schema version {version}; this build reads up to {SCHEMA_VERSION}"
        )));
    }
    // The steps and the new version in one transaction: a crash mid-way leaves the
    // database at its old version, and the steps run again at the next open (the data
    // directory's lock keeps a second process from stepping it at the same time).
    let ddl: String = steps()
        .into_iter()
        .filter(|(v, _)| *v > version)
        .map(|(_, ddl)| ddl)
        .collect();
    conn.execute_batch(&format!(
        "BEGIN IMMEDIATE;{ddl}PRAGMA user_version={SCHEMA_VERSION};COMMIT;"
    ))?;
    Ok(())
}

/// An instant as sortable text: RFC 3339 in UTC with nanoseconds, fixed width, so the
/// byte order is the time order.
pub fn instant(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// The instant of [`instant`] text.
pub fn parse_instant(s: &str) -> Result<DateTime<Utc>, Error> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.to_utc())
        .map_err(|e| fatal(format!("stored instant '{s}': {e}")))
}

/// The order key of a due entry's target among entries of the same instant: the order
/// of [`DueTarget`] (runs first, then invoice items by schedule and item). Ids hold no
/// `#`, which sorts below every character an id may hold.
pub fn due_target(t: &DueTarget) -> String {
    match t {
        DueTarget::Run { run_id } => format!("0#{run_id}"),
        DueTarget::InvoiceItem {
            schedule_id,
            item_id,
        } => format!("1#{schedule_id}#{item_id}"),
    }
}

/// A skip reason as the key of its counter row: its wire name (`noAddress`).
pub fn skip_reason(r: SkipReason) -> Result<String, Error> {
    match serde_json::to_value(r)? {
        serde_json::Value::String(s) => Ok(s),
        other => Err(fatal(format!("skip reason {r:?} encodes as {other}"))),
    }
}

/// The skip reason of a counter row's key.
pub fn parse_skip_reason(key: &str) -> Result<SkipReason, Error> {
    serde_json::from_value(serde_json::Value::String(key.to_string()))
        .map_err(|e| fatal(format!("stored skip reason '{key}': {e}")))
}

/// The cursor of a document page: the position of the last document returned.
pub fn document_cursor(p: &DocumentPosition) -> Result<String, Error> {
    crate::to_json(p)
}

/// The position a document cursor names.
pub fn document_position(cursor: &str) -> Result<DocumentPosition, Error> {
    serde_json::from_str(cursor).map_err(|e| fatal(format!("bad document cursor '{cursor}': {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(c: &Connection) -> i64 {
        c.query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_version_1_database_gets_the_delivery_tables_and_keeps_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let c = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
        c.execute_batch(&format!(
            "BEGIN;{}PRAGMA user_version=1;COMMIT;
             INSERT INTO {SETTINGS} (name, value) VALUES ('{ACTIVE_TEMPLATE}', 't1');",
            ddl_v1()
        ))
        .unwrap();
        prepare(&c).unwrap();
        assert_eq!(version(&c), SCHEMA_VERSION);
        for table in [
            DELIVERY_REQUESTS,
            DELIVERY_SKIPS,
            LATEST_DELIVERY_REQUESTS,
            DELIVERY_RESULTS,
            DOCUMENT_DELIVERIES,
        ] {
            let n: i64 = c
                .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
                .unwrap();
            assert_eq!(n, 0, "{table}");
        }
        let kept: String = c
            .query_row(&format!("SELECT value FROM {SETTINGS}"), [], |r| r.get(0))
            .unwrap();
        assert_eq!(kept, "t1");
        // Opening again steps nothing.
        prepare(&c).unwrap();
        assert_eq!(version(&c), SCHEMA_VERSION);
    }

    #[test]
    fn a_database_of_a_later_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let c = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
        c.execute_batch(&format!("PRAGMA user_version={};", SCHEMA_VERSION + 1))
            .unwrap();
        assert!(prepare(&c).is_err());
    }

    #[test]
    fn skip_reasons_and_instants_read_back() {
        for r in [SkipReason::NoAddress, SkipReason::ZeroAmount] {
            assert_eq!(parse_skip_reason(&skip_reason(r).unwrap()).unwrap(), r);
        }
        assert_eq!(skip_reason(SkipReason::NoAddress).unwrap(), "noAddress");
        assert!(parse_skip_reason("other").is_err());
        let t = DateTime::parse_from_rfc3339("2026-02-01T10:00:00.000000007Z")
            .unwrap()
            .to_utc();
        assert_eq!(parse_instant(&instant(&t)).unwrap(), t);
    }
}
