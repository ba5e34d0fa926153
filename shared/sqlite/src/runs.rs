//! Runs with their numbers and idempotency keys, their counters and outcomes, the
//! number sequences, and the run listing.

use crate::error::{conflict, fatal};
use crate::schema::*;
use crate::{from_json, int, limit, to_json, uint, Error, SqliteStore};
use async_trait::async_trait;
use billrun_app::model::listing::{format_run_number, run_number, RunFilter, RunPosition};
use billrun_app::model::{AccountOutcomeRecord, Created, NumberBlock, RunRecord};
use billrun_app::ports::{RunListing, RunStore, SequenceStore, StoreResult};
use billrun_domain::ids::{AccountId, RunId};
use billrun_domain::run::Counters;
use rusqlite::{params, Connection, OptionalExtension, Transaction};

/// The run with the id, read in the caller's transaction or connection.
pub(crate) fn read_run(c: &Connection, id: RunId) -> Result<Option<RunRecord>, Error> {
    let json: Option<String> = c
        .query_row(
            &format!("SELECT data FROM {RUNS} WHERE id = ?1"),
            [id.to_string()],
            |r| r.get(0),
        )
        .optional()?;
    json.map(|j| from_json(&j)).transpose()
}

/// Replaces the stored run (its number and key do not change after creation).
fn write_run(tx: &Transaction<'_>, run: &RunRecord) -> Result<(), Error> {
    tx.execute(
        &format!("UPDATE {RUNS} SET version = ?2, data = ?3 WHERE id = ?1"),
        params![run.id.to_string(), int(run.version)?, to_json(run)?],
    )?;
    Ok(())
}

/// Takes the next `n` numbers of a sequence; returns the first.
pub(crate) fn take_numbers(tx: &Transaction<'_>, name: &str, n: u64) -> Result<u64, Error> {
    let last: i64 = tx
        .query_row(
            &format!("SELECT value FROM {SEQUENCES} WHERE name = ?1"),
            [name],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0);
    let last = uint(last)?;
    tx.execute(
        &format!(
            "INSERT INTO {SEQUENCES} (name, value) VALUES (?1, ?2)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value"
        ),
        params![name, int(last + n)?],
    )?;
    Ok(last + 1)
}

/// The run's counters as its outcomes added them up.
pub(crate) fn read_counters(c: &Connection, run: RunId) -> Result<Counters, Error> {
    let json: Option<String> = c
        .query_row(
            &format!("SELECT data FROM {COUNTERS} WHERE run_id = ?1"),
            [run.to_string()],
            |r| r.get(0),
        )
        .optional()?;
    Ok(json.map(|j| from_json(&j)).transpose()?.unwrap_or_default())
}

/// Adds (`sign` 1) or removes (-1) an outcome's counters.
pub(crate) fn merge_counters(
    tx: &Transaction<'_>,
    run: RunId,
    counters: &Counters,
    sign: i64,
) -> Result<(), Error> {
    let mut c = read_counters(tx, run)?;
    c.merge(counters, sign);
    tx.execute(
        &format!(
            "INSERT INTO {COUNTERS} (run_id, data) VALUES (?1, ?2)
             ON CONFLICT (run_id) DO UPDATE SET data = excluded.data"
        ),
        params![run.to_string(), to_json(&c)?],
    )?;
    Ok(())
}

#[async_trait]
impl RunStore for SqliteStore {
    async fn create_run(&self, mut run: RunRecord) -> StoreResult<Created> {
        self.write(move |tx| {
            if let Some(key) = &run.idempotency_key {
                let existing: Option<String> = tx
                    .query_row(
                        &format!("SELECT data FROM {RUNS} WHERE idempotency_key = ?1"),
                        [key],
                        |r| r.get(0),
                    )
                    .optional()?;
                if let Some(existing) = existing {
                    return Ok(Created::replay(from_json(&existing)?, &run)?);
                }
            }
            if read_run(tx, run.id)?.is_some() {
                return Err(conflict(format!("run {} exists", run.id)));
            }
            // A preview takes no number of the sequence: its `number` column (unique,
            // not null) holds the next negative number instead, which no number
            // lookup asks for, and its run keeps its own number.
            let n = if run.is_preview() {
                let lowest: i64 = tx.query_row(
                    &format!("SELECT COALESCE(MIN(number), 0) FROM {RUNS}"),
                    [],
                    |r| r.get(0),
                )?;
                lowest.min(0) - 1
            } else {
                let n = take_numbers(tx, RUN_SEQUENCE, 1)?;
                run.number = format_run_number(n);
                int(n)?
            };
            tx.execute(
                &format!(
                    "INSERT INTO {RUNS} (id, number, idempotency_key, created_at, version, data)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
                ),
                params![
                    run.id.to_string(),
                    n,
                    run.idempotency_key,
                    instant(&run.created_at),
                    int(run.version)?,
                    to_json(&run)?
                ],
            )?;
            Ok(Created::New(run))
        })
        .await
    }

    async fn get_run(&self, id: RunId) -> StoreResult<Option<RunRecord>> {
        self.call(move |c| read_run(c, id)).await
    }

    async fn update_run(&self, run: &RunRecord) -> StoreResult<()> {
        let run = run.clone();
        self.write(move |tx| {
            let stored: Option<i64> = tx
                .query_row(
                    &format!("SELECT version FROM {RUNS} WHERE id = ?1"),
                    [run.id.to_string()],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(stored) = stored else {
                return Err(conflict(format!("run {} does not exist", run.id)));
            };
            if uint(stored)? + 1 != run.version {
                return Err(conflict(format!("run {} changed concurrently", run.id)));
            }
            write_run(tx, &run)
        })
        .await
    }

    async fn counters(&self, id: RunId) -> StoreResult<Counters> {
        self.call(move |c| {
            let mut counters = read_counters(c, id)?;
            counters.accounts_selected = read_run(c, id)?.map_or(0, |r| r.plan.selected);
            Ok(counters)
        })
        .await
    }

    async fn outcome(
        &self,
        run: RunId,
        account: &AccountId,
    ) -> StoreResult<Option<AccountOutcomeRecord>> {
        let account = account.clone();
        self.call(move |c| {
            let json: Option<String> = c
                .query_row(
                    &format!("SELECT data FROM {OUTCOMES} WHERE run_id = ?1 AND account_id = ?2"),
                    params![run.to_string(), account.as_str()],
                    |r| r.get(0),
                )
                .optional()?;
            json.map(|j| from_json(&j)).transpose()
        })
        .await
    }

    async fn outcomes(
        &self,
        run: RunId,
        after: Option<&AccountId>,
        n: usize,
    ) -> StoreResult<Vec<AccountOutcomeRecord>> {
        let after = after.map(|a| a.to_string());
        self.call(move |c| {
            let mut st = c.prepare(&format!(
                "SELECT data FROM {OUTCOMES} WHERE run_id = ?1 AND (?2 IS NULL OR account_id > ?2)
                 ORDER BY account_id LIMIT ?3"
            ))?;
            let rows = st.query_map(params![run.to_string(), after, limit(n)], |r| {
                r.get::<_, String>(0)
            })?;
            rows.map(|j| from_json(&j?)).collect()
        })
        .await
    }
}

#[async_trait]
impl SequenceStore for SqliteStore {
    async fn reserve_block(
        &self,
        run: RunId,
        round: u32,
        invoices: u64,
        credit_memos: u64,
    ) -> StoreResult<NumberBlock> {
        self.write(move |tx| {
            let mut r =
                read_run(tx, run)?.ok_or_else(|| conflict(format!("run {run} does not exist")))?;
            if let Some(b) = r.number_blocks.iter().find(|b| b.round == round) {
                return Ok(b.clone());
            }
            let block = NumberBlock {
                round,
                first_invoice: take_numbers(tx, INVOICE_SEQUENCE, invoices)?,
                invoices,
                first_credit_memo: take_numbers(tx, CREDIT_MEMO_SEQUENCE, credit_memos)?,
                credit_memos,
            };
            r.number_blocks.push(block.clone());
            r.version += 1;
            write_run(tx, &r)?;
            Ok(block)
        })
        .await
    }
}

#[async_trait]
impl RunListing for SqliteStore {
    async fn list_runs(
        &self,
        filter: &RunFilter,
        after: Option<&RunPosition>,
        n: usize,
    ) -> StoreResult<Vec<RunRecord>> {
        let filter = filter.clone();
        let after = after.map(|a| (instant(&a.created_at), a.id.to_string()));
        let (at, id) = after.unzip();
        self.call(move |c| {
            // In (createdAt, id) order; the filter is the app's, applied to each run.
            let mut st = c.prepare(&format!(
                "SELECT data FROM {RUNS} WHERE ?1 IS NULL OR (created_at, id) > (?1, ?2)
                 ORDER BY created_at, id"
            ))?;
            let mut rows = st.query(params![at, id])?;
            let mut runs = Vec::new();
            while runs.len() < n {
                let Some(row) = rows.next()? else { break };
                let r: RunRecord = from_json(&row.get::<_, String>(0)?)?;
                if filter.keeps(&r) {
                    runs.push(r);
                }
            }
            Ok(runs)
        })
        .await
    }

    async fn run_by_number(&self, number: u64) -> StoreResult<Option<RunRecord>> {
        // Numbers come from a sequence stored as SQLite's i64: a larger one names no run
        // (a client's id, not a storage failure).
        let Ok(key) = i64::try_from(number) else {
            return Ok(None);
        };
        self.call(move |c| {
            let json: Option<String> = c
                .query_row(
                    &format!("SELECT data FROM {RUNS} WHERE number = ?1"),
                    [key],
                    |r| r.get(0),
                )
                .optional()?;
            let run: Option<RunRecord> = json.map(|j| from_json(&j)).transpose()?;
            match run {
                Some(r) if run_number(&r.number) != Some(number) => Err(fatal(format!(
                    "run {} is stored under number {number}",
                    r.number
                ))),
                r => Ok(r),
            }
        })
        .await
    }
}
