//! SQLite adapters of every storage port of `billrun-app` (and of the file port): the
//! durable store of `billrun-local serve --data DIR`, one database file in `DIR`.
//!
//! Each entity is stored as a JSON column (`data`) beside the columns it is looked up,
//! ordered or filtered by ([`schema`] builds every table name, column and key). Every
//! port call is one SQLite transaction, so a multi-item write (an account's commit, a
//! run's creation with its number) is atomic exactly as the memory store's critical
//! section and DynamoDB's `TransactWriteItems` are. The adapters store and fetch only:
//! the billing rules (state checks, replays, selections) are the app's and the domain's,
//! called here as the other adapters call them.
//!
//! Durability: WAL journal with `synchronous=FULL`, so a transaction that returned has
//! been fsynced to the WAL and survives `kill -9` and a power cut (NORMAL would only
//! survive a process crash). See docs/decisions.md "A durable local mode".
//!
//! Blocking: SQLite calls are synchronous, so each port call runs on tokio's blocking
//! pool ([`tokio::task::spawn_blocking`]), never on a runtime thread, and takes the one
//! connection's mutex there. One connection serializes the calls: SQLite admits one
//! writer at a time anyway, and a local mode's reads are short (a listing page, one
//! account), so a pool of reader connections would buy little and cost a second
//! consistency story.

mod audit;
mod book;
mod catalog;
mod deliveries;
mod docgen;
mod error;
mod exports;
mod ledger;
mod payments;
mod runs;
pub mod schema;
mod webhooks;

use error::Context;
pub use error::Error;

use billrun_app::error::StoreError;
use billrun_app::ports::StoreResult;
use parking_lot::Mutex;
use rusqlite::Connection;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Every storage port (and the file port) over one SQLite database.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
    /// The data directory's lock, held while the store is open (released by the OS when
    /// the process dies, kill -9 included): one process per directory, so that a
    /// restarted serve may take every claim it finds as a dead process's.
    _lock: Arc<std::fs::File>,
}

impl SqliteStore {
    /// Opens (creating when needed) the database in `dir` ([`schema::DATABASE_FILE`]),
    /// creating `dir` too, and brings its schema to the current version.
    pub fn open(dir: &Path) -> StoreResult<SqliteStore> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::fatal(format!("cannot create {}: {e}", dir.display())))?;
        let lock_path = dir.join(schema::LOCK_FILE);
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| StoreError::fatal(format!("cannot open {}: {e}", lock_path.display())))?;
        lock.try_lock().map_err(|e| match e {
            std::fs::TryLockError::WouldBlock => StoreError::fatal(format!(
                "{} is in use by another process (one serve per data directory)",
                dir.display()
            )),
            std::fs::TryLockError::Error(e) => {
                StoreError::fatal(format!("cannot lock {}: {e}", lock_path.display()))
            }
        })?;
        let path = dir.join(schema::DATABASE_FILE);
        let conn = Connection::open(&path).map_err(|e| {
            StoreError::from(Error::from(e)).context(&format!("opening {}", path.display()))
        })?;
        schema::prepare(&conn)
            .map_err(|e| StoreError::from(e).context(&format!("preparing {}", path.display())))?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            path,
            _lock: Arc::new(lock),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The last number taken of a kind (for tests of gaplessness, as
    /// `MemoryStore::sequence`).
    pub async fn sequence(&self, kind: billrun_domain::document::DocumentKind) -> StoreResult<u64> {
        let name = match kind {
            billrun_domain::document::DocumentKind::Invoice => schema::INVOICE_SEQUENCE,
            billrun_domain::document::DocumentKind::CreditMemo => schema::CREDIT_MEMO_SEQUENCE,
        };
        self.call(move |c| {
            let last: Option<i64> = rusqlite::OptionalExtension::optional(c.query_row(
                &format!("SELECT value FROM {} WHERE name = ?1", schema::SEQUENCES),
                [name],
                |r| r.get(0),
            ))?;
            uint(last.unwrap_or(0))
        })
        .await
    }

    /// Runs `f` on the connection on tokio's blocking pool (see the module
    /// documentation).
    async fn call<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, Error> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut c = conn.lock();
            f(&mut c)
        })
        .await
        .map_err(|e| StoreError::transient(format!("the SQLite call did not finish: {e}")))?
        .map_err(StoreError::from)
    }

    /// Runs `f` in one write transaction (taken at once: `BEGIN IMMEDIATE`), committed
    /// when `f` returns `Ok`, rolled back otherwise.
    async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<T, Error> + Send + 'static,
    {
        self.call(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
        .await
    }
}

impl SqliteStore {
    /// Every row of every table, in a stable order, but the rows with a column equal to
    /// `without` (a run's own rows: its run, counters, outcomes, documents, which each
    /// name it in a column of their own): tests compare two to tell that nothing else
    /// was written in between.
    #[doc(hidden)]
    pub async fn digest_without(&self, without: Option<String>) -> StoreResult<String> {
        self.call(move |c| {
            let tables: Vec<String> = {
                let mut st =
                    c.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")?;
                let rows = st.query_map([], |r| r.get::<_, String>(0))?;
                rows.collect::<Result<_, _>>()?
            };
            let mut out = String::new();
            for table in tables {
                let mut st = c.prepare(&format!("SELECT * FROM \"{table}\""))?;
                let columns = st.column_count();
                let mut rows: Vec<String> = Vec::new();
                let mut q = st.query([])?;
                while let Some(row) = q.next()? {
                    let mut cells = Vec::with_capacity(columns);
                    for i in 0..columns {
                        cells.push(format!("{:?}", row.get::<_, rusqlite::types::Value>(i)?));
                    }
                    let own = without.as_ref().is_some_and(|w| {
                        (0..columns).any(|i| matches!(row.get::<_, String>(i), Ok(v) if &v == w))
                    });
                    if !own {
                        rows.push(cells.join("|"));
                    }
                }
                rows.sort();
                out.push_str(&table);
                out.push('\n');
                for r in rows {
                    out.push_str(&r);
                    out.push('\n');
                }
            }
            Ok(out)
        })
        .await
    }
}

/// The JSON of an entity's `data` column.
pub(crate) fn to_json<T: Serialize>(v: &T) -> Result<String, Error> {
    Ok(serde_json::to_string(v)?)
}

/// An entity from its `data` column.
pub(crate) fn from_json<T: DeserializeOwned>(s: &str) -> Result<T, Error> {
    Ok(serde_json::from_str(s)?)
}

/// The entity in the `data` column of the one row `sql` selects, if there is one.
pub(crate) fn read_entity<T: DeserializeOwned>(
    c: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Option<T>, Error> {
    let json: Option<String> =
        rusqlite::OptionalExtension::optional(c.query_row(sql, params, |r| r.get(0)))?;
    json.map(|j| from_json(&j)).transpose()
}

/// The entities in the `data` column of every row `sql` selects, in its order.
pub(crate) fn read_entities<T: DeserializeOwned>(
    c: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<T>, Error> {
    let mut st = c.prepare(sql)?;
    let rows = st.query_map(params, |r| r.get::<_, String>(0))?;
    rows.map(|j| from_json(&j?)).collect()
}

/// A count or size as SQLite's integer.
pub(crate) fn int(n: u64) -> Result<i64, Error> {
    i64::try_from(n).map_err(|_| Error::Store(StoreError::fatal(format!("{n} exceeds i64"))))
}

/// SQLite's integer as a count.
pub(crate) fn uint(n: i64) -> Result<u64, Error> {
    u64::try_from(n).map_err(|_| Error::Store(StoreError::fatal(format!("negative count {n}"))))
}

/// A `LIMIT` from a port's `usize` limit.
pub(crate) fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
