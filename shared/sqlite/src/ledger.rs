//! An account's commit (documents, billing state, outcome, counters) as one
//! transaction, a run's revert, and the documents: pages in numbering order, numbers,
//! statuses.

use crate::book::{read_state, write_state};
use crate::error::{conflict, fatal};
use crate::runs::{merge_counters, take_numbers};
use crate::schema::*;
use crate::{from_json, to_json, Error, SqliteStore};
use async_trait::async_trait;
use billrun_app::error::StoreError;
use billrun_app::model::audit::AuditEvent;
use billrun_app::model::corrections::{
    still_billed, Corrected, CorrectionRefusal, CorrectionResult, DocumentCorrection,
};
use billrun_app::model::listing::DocumentPosition;
use billrun_app::model::{
    AccountCommit, AccountOutcomeRecord, CommitResult, DocumentPage, Numbered, StoredDocument,
};
use billrun_app::ports::{DocumentListing, DocumentStore, StoreResult, WatermarkStore};
use billrun_domain::document::{DocumentKind, DocumentStatus};
use billrun_domain::ids::{AccountId, DocumentId, RunId};
use billrun_domain::run::Outcome;
use rusqlite::{params, Connection, OptionalExtension, Transaction};

fn exists(c: &Connection, sql: &str, p: impl rusqlite::Params) -> Result<bool, Error> {
    Ok(c.query_row(sql, p, |_| Ok(())).optional()?.is_some())
}

fn insert_document(tx: &Transaction<'_>, d: &StoredDocument) -> Result<(), Error> {
    let doc = &d.document;
    tx.execute(
        &format!(
            "INSERT INTO {DOCUMENTS} (id, run_id, round, account_id, group_key, data)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
        ),
        params![
            doc.id.to_string(),
            doc.run_id.to_string(),
            d.round,
            doc.account_id.as_str(),
            doc.group_key,
            to_json(d)?
        ],
    )?;
    Ok(())
}

fn read_document(c: &Connection, id: DocumentId) -> Result<Option<StoredDocument>, Error> {
    let json: Option<String> = c
        .query_row(
            &format!("SELECT data FROM {DOCUMENTS} WHERE id = ?1"),
            [id.to_string()],
            |r| r.get(0),
        )
        .optional()?;
    json.map(|j| from_json(&j)).transpose()
}

fn write_document(tx: &Transaction<'_>, d: &StoredDocument) -> Result<(), Error> {
    tx.execute(
        &format!("UPDATE {DOCUMENTS} SET data = ?2 WHERE id = ?1"),
        params![d.document.id.to_string(), to_json(d)?],
    )?;
    Ok(())
}

/// Rewrites each document of the run through `change` (which says whether it changed).
fn change_run_documents(
    tx: &Transaction<'_>,
    run: RunId,
    change: impl Fn(&mut StoredDocument) -> bool,
) -> Result<(), Error> {
    let docs: Vec<String> = {
        let mut st = tx.prepare(&format!("SELECT data FROM {DOCUMENTS} WHERE run_id = ?1"))?;
        let rows = st.query_map([run.to_string()], |r| r.get::<_, String>(0))?;
        rows.collect::<Result<_, _>>()?
    };
    for json in docs {
        let mut d: StoredDocument = from_json(&json)?;
        if change(&mut d) {
            write_document(tx, &d)?;
        }
    }
    Ok(())
}

fn outcomes_of(
    c: &Connection,
    run: RunId,
    failed_only: bool,
) -> Result<Vec<AccountOutcomeRecord>, Error> {
    let mut st = c.prepare(&format!(
        "SELECT data FROM {OUTCOMES} WHERE run_id = ?1 AND (?2 = 0 OR failed = 1) ORDER BY account_id"
    ))?;
    let rows = st.query_map(params![run.to_string(), failed_only], |r| {
        r.get::<_, String>(0)
    })?;
    rows.map(|j| from_json(&j?)).collect()
}

#[async_trait]
impl WatermarkStore for SqliteStore {
    /// One transaction, as DynamoDB's `TransactWriteItems`: conditioned on the outcome
    /// not existing (else `AlreadyDone`), on no document existing and on the billing
    /// state the changes start from (else `Conflict`); then the documents, the state,
    /// the counters and the outcome are written together or not at all.
    async fn commit_account(&self, commit: &AccountCommit) -> StoreResult<CommitResult> {
        let commit = commit.clone();
        self.write(move |tx| {
            let o = &commit.outcome;
            if exists(
                tx,
                &format!("SELECT 1 FROM {OUTCOMES} WHERE run_id = ?1 AND account_id = ?2"),
                params![o.run_id.to_string(), o.account_id.as_str()],
            )? {
                return Ok(CommitResult::AlreadyDone);
            }
            for d in &commit.documents {
                if exists(
                    tx,
                    &format!("SELECT 1 FROM {DOCUMENTS} WHERE id = ?1"),
                    [d.id.to_string()],
                )? {
                    return Err(conflict(format!("document {} exists", d.id)));
                }
            }
            match read_state(tx, &o.account_id)? {
                // Nothing to change (a preview's commit, an account with nothing to
                // bill): the state row is left untouched.
                Some(_) if o.changes.is_empty() => {}
                Some(mut state) => {
                    state.check(&o.changes).map_err(|e| conflict(e.0))?;
                    state.apply(&o.changes);
                    write_state(tx, &o.account_id, &state)?;
                }
                None if o.changes.is_empty() => {}
                None => return Err(conflict(format!("account {} disappeared", o.account_id))),
            }
            for d in &commit.documents {
                insert_document(
                    tx,
                    &StoredDocument::new(d.clone(), o.round),
                )?;
            }
            merge_counters(tx, o.run_id, &o.counters, 1)?;
            tx.execute(
                &format!(
                    "INSERT INTO {OUTCOMES} (run_id, account_id, failed, data) VALUES (?1, ?2, ?3, ?4)"
                ),
                params![
                    o.run_id.to_string(),
                    o.account_id.as_str(),
                    o.outcome == Outcome::Failed,
                    to_json(o)?
                ],
            )?;
            Ok(CommitResult::Committed)
        })
        .await
    }

    async fn revert_run(&self, run: RunId) -> StoreResult<()> {
        self.write(move |tx| {
            if exists(
                tx,
                &format!("SELECT 1 FROM {REVERTED} WHERE run_id = ?1"),
                [run.to_string()],
            )? {
                return Ok(());
            }
            let outcomes = outcomes_of(tx, run, false)?;
            // Every account is checked before any is changed: a superseded run is left
            // exactly as it was.
            let mut states = Vec::new();
            for o in &outcomes {
                if let Some(state) = read_state(tx, &o.account_id)? {
                    state.check_revert(&o.changes).map_err(|e| {
                        Error::Store(StoreError::Superseded(format!(
                            "account {}: {}",
                            o.account_id, e.0
                        )))
                    })?;
                    states.push((o, state));
                }
            }
            for (o, mut state) in states {
                state.revert(&o.changes);
                write_state(tx, &o.account_id, &state)?;
            }
            // As the other adapters: a reverted outcome keeps no changes (they are
            // undone), so it lists no renewal.
            for o in &outcomes {
                let mut reverted = o.clone();
                reverted.changes.clear();
                tx.execute(
                    &format!(
                        "UPDATE {OUTCOMES} SET data = ?3 WHERE run_id = ?1 AND account_id = ?2"
                    ),
                    params![run.to_string(), o.account_id.as_str(), to_json(&reverted)?],
                )?;
            }
            change_run_documents(tx, run, |d| {
                d.document.status = DocumentStatus::Canceled;
                true
            })?;
            tx.execute(
                &format!("INSERT INTO {REVERTED} (run_id) VALUES (?1)"),
                [run.to_string()],
            )?;
            Ok(())
        })
        .await
    }

    async fn correct_document(&self, c: &DocumentCorrection) -> StoreResult<CorrectionResult> {
        let c = c.clone();
        self.write(move |tx| {
            let Some(mut stored) = read_document(tx, c.document)? else {
                return Ok(None);
            };
            let memo_id = c.credit_memo.as_ref().map(|m| m.id);
            let before = stored.document.status;
            if before == c.kind.to() {
                let credit_memo = memo_id.map(|id| read_document(tx, id)).transpose()?.flatten();
                return Ok(Some(Ok(Corrected {
                    document: stored,
                    credit_memo,
                })));
            }
            if !c.kind.from().contains(&before) {
                return Ok(Some(Err(CorrectionRefusal::Status(before))));
            }
            let (run, account) = (stored.document.run_id, stored.document.account_id.clone());
            // The billing state goes back only once no other invoice of the run and
            // account stands on it.
            let others_stand = {
                let mut st = tx.prepare(&format!(
                    "SELECT data FROM {DOCUMENTS} WHERE run_id = ?1 AND account_id = ?2 AND id <> ?3"
                ))?;
                let rows = st.query_map(
                    params![run.to_string(), account.as_str(), c.document.to_string()],
                    |r| r.get::<_, String>(0),
                )?;
                let mut any = false;
                for json in rows {
                    let d: StoredDocument = from_json(&json?)?;
                    any |= still_billed(&d.document);
                }
                any
            };
            let outcome: Option<AccountOutcomeRecord> = if others_stand {
                None
            } else {
                tx.query_row(
                    &format!("SELECT data FROM {OUTCOMES} WHERE run_id = ?1 AND account_id = ?2"),
                    params![run.to_string(), account.as_str()],
                    |r| r.get::<_, String>(0),
                )
                .optional()?
                .map(|j| from_json(&j))
                .transpose()?
            };
            if let Some(o) = outcome.filter(|o| !o.changes.is_empty()) {
                if let Some(mut state) = read_state(tx, &account)? {
                    if let Err(e) = state.check_revert(&o.changes) {
                        return Ok(Some(Err(CorrectionRefusal::Superseded(format!(
                            "account {account}: {}",
                            e.0
                        )))));
                    }
                    state.revert(&o.changes);
                    write_state(tx, &account, &state)?;
                }
                let mut reverted = o.clone();
                reverted.changes.clear();
                tx.execute(
                    &format!(
                        "UPDATE {OUTCOMES} SET data = ?3 WHERE run_id = ?1 AND account_id = ?2"
                    ),
                    params![run.to_string(), account.as_str(), to_json(&reverted)?],
                )?;
            }
            let to = c.kind.to();
            stored.set_correction(to, c.by.as_deref(), c.at);
            write_document(tx, &stored)?;
            crate::audit::record(
                tx,
                &AuditEvent::of_document_status(c.document, run, before, to, c.by.as_deref(), c.at),
            )?;
            let credit_memo = match &c.credit_memo {
                None => None,
                Some(memo) => {
                    let mut memo = memo.clone();
                    let n = take_numbers(tx, CREDIT_MEMO_SEQUENCE, 1)?;
                    memo.number = Some(DocumentKind::CreditMemo.number(n));
                    let memo = StoredDocument::new(memo, stored.round);
                    insert_document(tx, &memo)?;
                    crate::audit::record(
                        tx,
                        &AuditEvent::of_document_created(
                            memo.document.id,
                            run,
                            memo.document.status,
                            c.by.as_deref(),
                            c.at,
                        ),
                    )?;
                    Some(memo)
                }
            };
            Ok(Some(Ok(Corrected {
                document: stored,
                credit_memo,
            })))
        })
        .await
    }

    async fn clear_failed(&self, run: RunId) -> StoreResult<Vec<AccountId>> {
        self.write(move |tx| {
            let failed = outcomes_of(tx, run, true)?;
            for o in &failed {
                tx.execute(
                    &format!("DELETE FROM {OUTCOMES} WHERE run_id = ?1 AND account_id = ?2"),
                    params![run.to_string(), o.account_id.as_str()],
                )?;
                merge_counters(tx, run, &o.counters, -1)?;
            }
            Ok(failed.into_iter().map(|o| o.account_id).collect())
        })
        .await
    }
}

/// Up to `n` documents of the run strictly after `after` in numbering order, of `round`
/// only when given, of `kind` only when given; with whether more follow.
fn page(
    c: &Connection,
    run: RunId,
    round: Option<u32>,
    kind: Option<DocumentKind>,
    after: Option<&DocumentPosition>,
    n: usize,
) -> Result<(Vec<StoredDocument>, bool), Error> {
    let (a_round, a_account, a_group) = match after {
        Some(p) => (
            Some(p.round),
            Some(p.account_id.to_string()),
            Some(p.group_key.clone()),
        ),
        None => (None, None, None),
    };
    let mut st = c.prepare(&format!(
        "SELECT data FROM {DOCUMENTS}
         WHERE run_id = ?1 AND (?2 IS NULL OR round = ?2)
           AND (?3 IS NULL OR (round, account_id, group_key) > (?3, ?4, ?5))
         ORDER BY round, account_id, group_key"
    ))?;
    let mut rows = st.query(params![run.to_string(), round, a_round, a_account, a_group])?;
    let mut docs = Vec::new();
    while let Some(row) = rows.next()? {
        let d: StoredDocument = from_json(&row.get::<_, String>(0)?)?;
        if kind.is_some_and(|k| d.document.kind != k) {
            continue;
        }
        if docs.len() == n {
            return Ok((docs, true));
        }
        docs.push(d);
    }
    Ok((docs, false))
}

fn cursor_position(cursor: Option<&str>) -> Result<Option<DocumentPosition>, Error> {
    cursor.map(document_position).transpose()
}

#[async_trait]
impl DocumentStore for SqliteStore {
    async fn get_document(&self, id: DocumentId) -> StoreResult<Option<StoredDocument>> {
        self.call(move |c| read_document(c, id)).await
    }

    async fn round_documents(
        &self,
        run: RunId,
        round: u32,
        cursor: Option<&str>,
        n: usize,
    ) -> StoreResult<DocumentPage> {
        let cursor = cursor.map(str::to_string);
        self.call(move |c| {
            let after = cursor_position(cursor.as_deref())?;
            let (documents, more) = page(c, run, Some(round), None, after.as_ref(), n)?;
            let next = match documents.last() {
                Some(last) if more => Some(document_cursor(&DocumentPosition::of(last))?),
                _ => None,
            };
            Ok(DocumentPage { documents, next })
        })
        .await
    }

    async fn run_documents(
        &self,
        run: RunId,
        cursor: Option<&str>,
        n: usize,
    ) -> StoreResult<DocumentPage> {
        let cursor = cursor.map(str::to_string);
        self.call(move |c| {
            let after = cursor_position(cursor.as_deref())?;
            let (documents, _) = page(c, run, None, None, after.as_ref(), n)?;
            // As the other stores: a full page has a next one (maybe empty).
            let next = match documents.last() {
                Some(last) if documents.len() == n => {
                    Some(document_cursor(&DocumentPosition::of(last))?)
                }
                _ => None,
            };
            Ok(DocumentPage { documents, next })
        })
        .await
    }

    async fn assign_numbers(
        &self,
        _run: RunId,
        _round: u32,
        numbers: &[Numbered],
    ) -> StoreResult<()> {
        let numbers = numbers.to_vec();
        self.write(move |tx| {
            for Numbered { id, number, .. } in &numbers {
                let mut d = read_document(tx, *id)?
                    .ok_or_else(|| fatal(format!("document {id} does not exist")))?;
                match &d.document.number {
                    Some(existing) if existing == number => {}
                    Some(existing) => {
                        return Err(conflict(format!(
                            "document {id} already has number {existing}"
                        )))
                    }
                    None => {
                        d.document.number = Some(number.clone());
                        write_document(tx, &d)?;
                    }
                }
            }
            Ok(())
        })
        .await
    }

    async fn set_document_statuses(
        &self,
        ids: &[DocumentId],
        from: &[DocumentStatus],
        to: DocumentStatus,
        by: Option<&str>,
        at: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<()> {
        let (ids, from, by) = (ids.to_vec(), from.to_vec(), by.map(str::to_string));
        self.write(move |tx| {
            for id in &ids {
                let Some(mut d) = read_document(tx, *id)? else {
                    continue;
                };
                let before = d.document.status;
                if from.contains(&before) {
                    d.document.status = to;
                    d.set_actor(to, by.as_deref());
                    write_document(tx, &d)?;
                    let run = d.document.run_id;
                    crate::audit::record(
                        tx,
                        &AuditEvent::of_document_status(*id, run, before, to, by.as_deref(), at),
                    )?;
                }
            }
            Ok(())
        })
        .await
    }

    async fn set_run_status(&self, run: RunId, status: DocumentStatus) -> StoreResult<()> {
        self.write(move |tx| {
            change_run_documents(tx, run, |d| {
                // A document corrected alone keeps its correction.
                let change = !matches!(
                    d.document.status,
                    DocumentStatus::Canceled | DocumentStatus::Voided
                ) && d.document.status != status;
                if change {
                    d.document.status = status;
                }
                change
            })
        })
        .await
    }
}

#[async_trait]
impl DocumentListing for SqliteStore {
    async fn list_run_documents(
        &self,
        run: RunId,
        kind: Option<DocumentKind>,
        after: Option<&DocumentPosition>,
        n: usize,
    ) -> StoreResult<Vec<StoredDocument>> {
        let after = after.cloned();
        self.call(move |c| Ok(page(c, run, None, kind, after.as_ref(), n)?.0))
            .await
    }
}
