//! The account commit, split into transactions of at most 100 actions; its revert;
//! clearing failed outcomes.
//!
//! | item | pk | sk | |
//! | --- | --- | --- | --- |
//! | billed mark of a usage record, one-time charge, adjustment | `ACCT#<id>` | `MARK#U#`, `MARK#O#`, `MARK#A#` + id | `by`: the run |
//! | keys an early chunk of a split commit wrote | `RUN#<id>#<k>` | `PEND#<account>#<i>` | |
//!
//! A billed mark counts only once its run is in the billing state's `runs`, which the
//! commit's last transaction (with the outcome) adds; see docs/aws.md.

use super::client::{Limit, SortKey, MAX_TRANSACTION};
use super::codec::{decode, entity, expire_at, get_s, get_u64, n, s, Item, VER};
use super::documents::{status_name, NUMBER, STATUS};
use super::error::{built, canceled, sdk};
use super::keys::{self, Key, Mark};
use super::DynamoStore;
use crate::metrics::bump;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, TransactWriteItem};
use billrun_app::error::StoreError;
use billrun_app::model::{AccountCommit, AccountOutcomeRecord, CommitResult, StoredDocument};
use billrun_app::ports::{RunStore, StoreResult, WatermarkStore};
use billrun_domain::document::DocumentStatus;
use billrun_domain::ids::{AccountId, AdjustmentId, ChargeId, DocumentId, RunId, UsageId};
use billrun_domain::run::{Counters, Outcome};
use billrun_domain::state::{AccountState, StateChange};
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

/// The run that wrote a billed mark.
pub(super) const BY: &str = "by";
/// The billing state's set of runs whose account commit completed.
const RUNS: &str = "runs";
/// Actions of an early chunk besides the outcome check and the chunk's pending record.
const CHUNK: usize = MAX_TRANSACTION - 2;

/// The account's billing state item.
#[derive(Clone)]
pub(super) struct StateRow {
    pub state: AccountState,
    pub version: u64,
    /// Runs whose commit of this account completed: only their billed marks count.
    pub runs: BTreeSet<String>,
}

pub(super) fn state_runs(item: &Item) -> BTreeSet<String> {
    item.get(RUNS)
        .and_then(|v| v.as_ss().ok())
        .map(|v| v.iter().cloned().collect())
        .unwrap_or_default()
}

/// Adds a committed billed mark (its item's sort key) to the state.
pub(super) fn add_mark(state: &mut AccountState, sk: &str) -> StoreResult<()> {
    let bad = |e: String| StoreError::fatal(format!("corrupt billed mark {sk}: {e}"));
    match keys::parse_mark(sk) {
        Some(Mark::Usage(id)) => {
            state.usage_billed.insert(UsageId::parse(id).map_err(bad)?);
        }
        Some(Mark::OneTime(id)) => {
            state
                .one_time_billed
                .insert(ChargeId::parse(id).map_err(bad)?);
        }
        Some(Mark::Adjustment(id)) => {
            state
                .adjustments_billed
                .insert(AdjustmentId::parse(id).map_err(bad)?);
        }
        None => {}
    }
    Ok(())
}

/// The changes the state item itself holds: watermarks and renewals (not billed marks).
fn watermarks(changes: &[StateChange]) -> Vec<StateChange> {
    changes
        .iter()
        .filter(|c| keys::mark_sk(c).is_none())
        .cloned()
        .collect()
}

/// One splittable action: its item key (the deterministic order) and the action.
struct Action {
    key: Key,
    item: TransactWriteItem,
}

impl DynamoStore {
    /// Makes the next account commit stop before writing its early chunk `index`, as a
    /// crash there would (tests only; one shot).
    #[doc(hidden)]
    pub fn inject_crash_before_chunk(&self, index: usize) {
        self.crash_before_chunk.store(index, Ordering::SeqCst);
    }

    pub(super) async fn read_state(&self, account: &AccountId) -> StoreResult<StateRow> {
        match self.get(&keys::state(account)).await? {
            None => Ok(StateRow {
                state: AccountState::default(),
                version: 0,
                runs: BTreeSet::new(),
            }),
            Some(item) => Ok(StateRow {
                state: decode(&item)?,
                version: get_u64(&item, VER),
                runs: state_runs(&item),
            }),
        }
    }

    /// The state item as `row` holds it, its version one up.
    fn state_item(&self, account: &AccountId, row: &StateRow) -> StoreResult<Item> {
        let mut item = entity(&keys::state(account), &row.state)?;
        item.insert(VER.to_string(), n(row.version + 1));
        if !row.runs.is_empty() {
            item.insert(
                RUNS.to_string(),
                AttributeValue::Ss(row.runs.iter().cloned().collect()),
            );
        }
        Ok(item)
    }

    /// The stored size of the state item as `row` holds it (its version one up).
    fn state_size(&self, account: &AccountId, row: &StateRow) -> StoreResult<usize> {
        Ok(crate::footprint::item_size(&self.state_item(account, row)?))
    }

    /// The state item as `row` holds it, conditioned on the version it was read at.
    pub(super) fn state_put(&self, account: &AccountId, row: &StateRow) -> StoreResult<Put> {
        let item = self.state_item(account, row)?;
        let p = Put::builder().table_name(&self.table).set_item(Some(item));
        let p = if row.version == 0 {
            p.condition_expression("attribute_not_exists(pk)")
        } else {
            p.condition_expression("ver = :v")
                .expression_attribute_values(":v", n(row.version))
        };
        built(p.build())
    }

    /// The documents and (unless they go inline in the state) billed-mark items of a
    /// commit, in key order.
    fn actions(&self, commit: &AccountCommit, mark_items: bool) -> StoreResult<Vec<Action>> {
        let o = &commit.outcome;
        let mut out = Vec::with_capacity(commit.documents.len() + o.changes.len());
        for d in &commit.documents {
            let stored = StoredDocument::new(d.clone(), o.round);
            let key = keys::document(d.id);
            let mut item = entity(&key, &stored)?;
            item.insert(STATUS.to_string(), s(status_name(d.status)));
            expire_at(&mut item, commit.expires_at);
            // The id is derived from (run, account, group key): only this account's
            // commit in this run writes it, and never once numbered (numbering follows
            // the outcome, and every chunk checks that the outcome is absent).
            let put = built(
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .condition_expression("attribute_not_exists(#n)")
                    .expression_attribute_names("#n", NUMBER)
                    .build(),
            )?;
            out.push(Action {
                key,
                item: TransactWriteItem::builder().put(put).build(),
            });
        }
        for c in o.changes.iter().filter(|_| mark_items) {
            let Some(key) = keys::mark(&o.account_id, c) else {
                continue;
            };
            let mut item = key.item();
            item.insert(BY.to_string(), s(o.run_id.to_string()));
            // Not billed, or billed by this run (an earlier attempt of this commit).
            let put = built(
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .condition_expression("attribute_not_exists(pk) OR #by = :run")
                    .expression_attribute_names("#by", BY)
                    .expression_attribute_values(":run", s(o.run_id.to_string()))
                    .build(),
            )?;
            out.push(Action {
                key,
                item: TransactWriteItem::builder().put(put).build(),
            });
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// The pending records of earlier attempts of this account's commit: (their sort
    /// keys, the item keys they list).
    async fn pending(&self, o: &AccountOutcomeRecord) -> StoreResult<(Vec<String>, Vec<Key>)> {
        let pk = self.outcome_key(o.run_id, &o.account_id).pk;
        let prefix = keys::pending_prefix(&o.account_id);
        let items = self
            .query(None, pk, SortKey::Prefix(&prefix), Limit::All)
            .await?;
        let mut sks = Vec::with_capacity(items.len());
        let mut listed = Vec::new();
        for item in &items {
            sks.push(Key::of(item).sk);
            let pairs: Vec<(String, String)> = decode(item)?;
            listed.extend(pairs.into_iter().map(|(pk, sk)| Key { pk, sk }));
        }
        Ok((sks, listed))
    }

    /// Deletes what an earlier attempt wrote and this one does not: documents not yet
    /// numbered, billed marks of this run.
    async fn drop_stale(&self, o: &AccountOutcomeRecord, stale: Vec<Key>) -> StoreResult<()> {
        for key in stale {
            let req = self.delete(&key);
            let req = if keys::is_document(&key) {
                req.condition_expression("attribute_not_exists(#n)")
                    .expression_attribute_names("#n", NUMBER)
            } else {
                req.condition_expression("#by = :run")
                    .expression_attribute_names("#by", BY)
                    .expression_attribute_values(":run", s(o.run_id.to_string()))
            };
            match req.send().await.map_err(sdk) {
                Ok(_) | Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Runs a transaction whose first action is the outcome guard: `true` when that guard
    /// failed (the account is committed already), a Conflict with `conflict()` when
    /// another condition failed, Transient for anything else.
    async fn transact_first_guarded(
        &self,
        items: Vec<TransactWriteItem>,
        conflict: impl FnOnce() -> String,
    ) -> StoreResult<bool> {
        match self.transact(items).await {
            Ok(()) => Ok(false),
            Err(e) => {
                let c = canceled(e)?;
                if c.failed(0) {
                    Ok(true)
                } else if !c.conditions.is_empty() {
                    Err(StoreError::Conflict(conflict()))
                } else {
                    Err(c.transient())
                }
            }
        }
    }

    async fn delete_pending(&self, o: &AccountOutcomeRecord, sks: &[String]) -> StoreResult<()> {
        let pk = self.outcome_key(o.run_id, &o.account_id).pk;
        for sk in sks {
            let key = Key {
                pk: pk.clone(),
                sk: sk.clone(),
            };
            self.delete(&key).send().await.map_err(sdk)?;
        }
        Ok(())
    }
}

#[async_trait]
impl WatermarkStore for DynamoStore {
    /// The outcome (which carries the account's counters: the run's progress is added
    /// per batch, outside the transaction) and the billing state (watermarks conditioned on
    /// the version they were checked against, the run added to its committed runs) go
    /// in the last transaction with as many documents and billed marks as fit; the rest,
    /// in key order, go first in chunks that each check the outcome is absent and
    /// record their keys. Every early action is idempotent for this (run, account).
    async fn commit_account(&self, commit: &AccountCommit) -> StoreResult<CommitResult> {
        let o = &commit.outcome;
        let outcome_key = self.outcome_key(o.run_id, &o.account_id);
        let mut outcome_item = entity(&outcome_key, o)?;
        expire_at(&mut outcome_item, commit.expires_at);
        let mut last: Vec<TransactWriteItem> = vec![self.put_new(outcome_item)?];
        let mut mark_items = true;
        if !o.changes.is_empty() {
            let mut row = self.read_state(&o.account_id).await?;
            // Watermarks and marks the book imported live in the state item; billed
            // marks of runs are items whose conditions check them.
            if let Err(e) = row.state.check(&o.changes) {
                if self.outcome(o.run_id, &o.account_id).await?.is_some() {
                    return Ok(CommitResult::AlreadyDone);
                }
                return Err(StoreError::Conflict(e.0));
            }
            // Billed marks go inline in the state while that costs no extra write unit
            // (the state is written by this transaction anyway); past that, each is an
            // item of its own (2 WRU), which keeps the state item small for every later
            // commit and lets a commit of any size split over transactions.
            let mut inline = row.clone();
            inline.state.apply(&o.changes);
            let bare_size = self.state_size(&o.account_id, &row)?;
            row.state.apply(&watermarks(&o.changes));
            if crate::footprint::wru(self.state_size(&o.account_id, &inline)?)
                <= crate::footprint::wru(bare_size)
            {
                row = inline;
                mark_items = false;
            } else {
                row.runs.insert(o.run_id.to_string());
            }
            last.push(
                TransactWriteItem::builder()
                    .put(self.state_put(&o.account_id, &row)?)
                    .build(),
            );
        }
        let fixed = last.len();
        let mut head = self.actions(commit, mark_items)?;
        let tail = head.split_off(head.len().saturating_sub(MAX_TRANSACTION - fixed));
        // An earlier attempt may have written early chunks this attempt does not cover
        // (its rating differed, or this is a failure record): remove them first.
        let mut pending_sks = Vec::new();
        if !head.is_empty() || o.outcome == Outcome::Failed {
            let (sks, keys) = self.pending(o).await?;
            let now: BTreeSet<&Key> = head.iter().chain(tail.iter()).map(|a| &a.key).collect();
            let stale: Vec<Key> = keys.into_iter().filter(|k| !now.contains(k)).collect();
            self.drop_stale(o, stale).await?;
            pending_sks = sks;
        }
        let mut chunks = 0;
        for (i, chunk) in head.chunks(CHUNK).enumerate() {
            if self
                .crash_before_chunk
                .compare_exchange(i, usize::MAX, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                return Err(StoreError::transient(format!(
                    "injected crash before chunk {i}"
                )));
            }
            let check = built(
                ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(outcome_key.item()))
                    .condition_expression("attribute_not_exists(pk)")
                    .build(),
            )?;
            let listed: Vec<(&str, &str)> = chunk
                .iter()
                .map(|a| (a.key.pk.as_str(), a.key.sk.as_str()))
                .collect();
            let pend_sk = keys::pending_sk(&o.account_id, i);
            let pend_key = Key {
                pk: outcome_key.pk.clone(),
                sk: pend_sk.clone(),
            };
            let mut pend = entity(&pend_key, &listed)?;
            expire_at(&mut pend, commit.expires_at);
            let mut items = vec![
                TransactWriteItem::builder().condition_check(check).build(),
                self.put_tx(pend, None)?,
            ];
            items.extend(chunk.iter().map(|a| a.item.clone()));
            // A failed condition past the first: a billed mark is held by another run
            // (committed or in progress).
            let conflict = || format!("account {}: an item is billed by another run", o.account_id);
            if self.transact_first_guarded(items, conflict).await? {
                return Ok(CommitResult::AlreadyDone);
            }
            if !pending_sks.contains(&pend_sk) {
                pending_sks.push(pend_sk);
            }
            chunks += 1;
        }
        if chunks > 0 {
            bump(&self.metrics.split_commits);
        }
        last.extend(tail.into_iter().map(|a| a.item));
        // A failed condition past the first: the state moved, or a billed mark is held by
        // another run.
        let conflict = || format!("billing state of account {} moved", o.account_id);
        if self.transact_first_guarded(last, conflict).await? {
            return Ok(CommitResult::AlreadyDone);
        }
        // Committed: the pending records are only read while the outcome is absent.
        self.delete_pending(o, &pending_sks).await?;
        Ok(CommitResult::Committed)
    }

    async fn revert_run(&self, run: RunId) -> StoreResult<()> {
        let mut outcomes: Vec<AccountOutcomeRecord> = Vec::new();
        let mut after: Option<AccountId> = None;
        loop {
            let page = self.outcomes(run, after.as_ref(), 1000).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.account_id.clone());
            outcomes.extend(page);
        }
        let by = run.to_string();
        // Check every account first: nothing is reverted when one of them moved on.
        // (A reverted outcome has its changes cleared, so an interrupted cancel resumes;
        // a billed mark already deleted by it is absent.)
        let mut states = Vec::with_capacity(outcomes.len());
        for o in outcomes.iter().filter(|o| !o.changes.is_empty()) {
            let row = self.read_state(&o.account_id).await?;
            // What the state holds: the watermarks and the marks committed inline (a
            // billed mark is either inline or an item, never both); the rest are items.
            let (moved, items): (Vec<StateChange>, Vec<StateChange>) =
                o.changes.iter().cloned().partition(|c| {
                    keys::mark_sk(c).is_none()
                        || row.state.check_revert(std::slice::from_ref(c)).is_ok()
                });
            row.state.check_revert(&moved).map_err(|e| {
                StoreError::Superseded(format!("account {}: {}", o.account_id, e.0))
            })?;
            let held = items
                .iter()
                .filter_map(|c| keys::mark(&o.account_id, c))
                .collect();
            for item in self.batch_get(held).await? {
                if get_s(&item, BY) != Some(by.as_str()) {
                    return Err(StoreError::Superseded(format!(
                        "account {}: a later run has billed {} since",
                        o.account_id,
                        get_s(&item, keys::SK).unwrap_or_default()
                    )));
                }
            }
            // Every mark's item of this run goes, inline ones too: an attempt of the
            // commit that wrote items and then crashed may have been redone inline.
            let marks: Vec<Key> = o
                .changes
                .iter()
                .filter_map(|c| keys::mark(&o.account_id, c))
                .collect();
            states.push((o, row, moved, marks));
        }
        for (o, mut row, moved, marks) in states {
            self.drop_stale(o, marks).await?;
            row.state.revert(&moved);
            row.runs.remove(&by);
            let mut marked = o.clone();
            marked.changes.clear();
            marked.reason = Some("reverted".into());
            let outcome_item = entity(&self.outcome_key(o.run_id, &o.account_id), &marked)?;
            let items = vec![
                TransactWriteItem::builder()
                    .put(self.state_put(&o.account_id, &row)?)
                    .build(),
                self.put_tx(outcome_item, None)?,
            ];
            self.transact(items).await.map_err(sdk)?;
        }
        let docs = self.all_run_documents(run).await?;
        let ids: Vec<DocumentId> = docs.iter().map(|d| d.document.id).collect();
        self.set_statuses(&ids, DocumentStatus::Canceled, false)
            .await
    }

    async fn correct_document(
        &self,
        correction: &billrun_app::model::corrections::DocumentCorrection,
    ) -> StoreResult<billrun_app::model::corrections::CorrectionResult> {
        self.correct(correction).await
    }

    async fn clear_failed(&self, run: RunId) -> StoreResult<Vec<AccountId>> {
        let mut cleared = Vec::new();
        let mut removed = Counters::default();
        let mut after: Option<AccountId> = None;
        loop {
            let page = self.outcomes(run, after.as_ref(), 1000).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.account_id.clone());
            for o in page.into_iter().filter(|o| o.outcome == Outcome::Failed) {
                // One item: a conditional delete, not a transaction (2 WRU for 1).
                self.delete(&self.outcome_key(run, &o.account_id))
                    .condition_expression("attribute_exists(pk)")
                    .send()
                    .await
                    .map_err(sdk)?;
                removed.merge(&o.counters, 1);
                cleared.push(o.account_id);
            }
        }
        // The progress follows (a stop before this leaves it ahead of the outcomes: the
        // next round's exact count at completion is what decides).
        self.bump_progress(run, &removed, -1).await?;
        Ok(cleared)
    }
}
