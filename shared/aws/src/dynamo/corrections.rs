//! One document's correction (a void or a single cancel) as one TransactWriteItems:
//! the document's status update conditioned on the status read; a void's credit memo
//! (a new item, its id derived from the invoice's) with the credit-memo sequence moved
//! on by one, conditioned on its value read (gapless); when the billing state goes
//! back, the state item (conditioned on its version), the billed-mark items of the run
//! deleted (each conditioned on still being the run's) and the outcome with its changes
//! cleared; the outcome listing the credit memo (conditioned on its `data` read); the
//! audit entries. A lost race reads everything again.

use super::client::backoff;
use super::codec::{entity, get_s, n, s, Item, DATA};
use super::documents::{status_name, stored_document, NUMBER, STATUS};
use super::error::{built, canceled};
use super::keys::{self, Key};
use super::ledger::BY;
use super::DynamoStore;
use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem};
use billrun_app::error::StoreError;
use billrun_app::model::audit::AuditEvent;
use billrun_app::model::corrections::*;
use billrun_app::model::{AccountOutcomeRecord, StoredDocument};
use billrun_app::ports::StoreResult;
use billrun_domain::document::{DocumentKind, DocumentStatus};
use billrun_domain::state::StateChange;

/// Who voided or canceled a document alone, and when, set with its status.
pub(super) const VOIDED_BY: &str = "vby";
pub(super) const VOIDED_AT: &str = "vat";
pub(super) const CANCELED_BY: &str = "cby";
pub(super) const CANCELED_AT: &str = "cat";

/// Reads of a correction before it gives up on lost races.
const CORRECTION_ATTEMPTS: u32 = 8;

/// The correction's attributes of a document item read back onto it.
pub(super) fn read_correction(item: &Item, d: &mut StoredDocument) -> StoreResult<()> {
    let at = |k: &str| -> StoreResult<Option<chrono::DateTime<chrono::Utc>>> {
        get_s(item, k)
            .map(|v| {
                chrono::DateTime::parse_from_rfc3339(v)
                    .map(|t| t.with_timezone(&chrono::Utc))
                    .map_err(|e| StoreError::fatal(format!("corrupt document {k}: {e}")))
            })
            .transpose()
    };
    if let Some(by) = get_s(item, VOIDED_BY) {
        d.voided_by = Some(by.to_string());
    }
    if let Some(t) = at(VOIDED_AT)? {
        d.voided_at = Some(t);
    }
    if let Some(by) = get_s(item, CANCELED_BY) {
        d.canceled_by = Some(by.to_string());
    }
    if let Some(t) = at(CANCELED_AT)? {
        d.canceled_at = Some(t);
    }
    Ok(())
}

/// What one attempt read and will write.
enum Attempt {
    Done(Option<Result<Corrected, CorrectionRefusal>>),
    /// What was read changed while it was read (a racing correction): read again.
    Again,
    Write(Vec<TransactWriteItem>, Corrected),
}

impl DynamoStore {
    pub(super) async fn correct(&self, c: &DocumentCorrection) -> StoreResult<CorrectionResult> {
        let mut last = StoreError::transient(format!("document {}: no attempt made", c.document));
        for attempt in 0..CORRECTION_ATTEMPTS {
            let (items, done) = match self.correction_attempt(c).await? {
                Attempt::Done(answer) => return Ok(answer),
                Attempt::Again => {
                    backoff(attempt).await;
                    continue;
                }
                Attempt::Write(items, done) => (items, done),
            };
            match self.transact(items).await {
                Ok(()) => return Ok(Some(Ok(done))),
                Err(e) => {
                    let canceled = canceled(e)?;
                    if canceled.conditions.is_empty() {
                        last = canceled.transient();
                    }
                    // A condition failed: something moved since it was read (a racing
                    // correction, a run's commit): read everything again.
                    backoff(attempt).await;
                }
            }
        }
        Err(last)
    }

    async fn read_document_item(
        &self,
        id: billrun_domain::ids::DocumentId,
    ) -> StoreResult<Option<(Item, StoredDocument)>> {
        let Some(item) = self.get(&keys::document(id)).await? else {
            return Ok(None);
        };
        let mut d = stored_document(&item)?;
        self.resolve_numbers(&mut [&mut d]).await?;
        Ok(Some((item, d)))
    }

    async fn correction_attempt(&self, c: &DocumentCorrection) -> StoreResult<Attempt> {
        let Some((item, mut stored)) = self.read_document_item(c.document).await? else {
            return Ok(Attempt::Done(None));
        };
        let memo_id = c.credit_memo.as_ref().map(|m| m.id);
        let before = stored.document.status;
        if before == c.kind.to() {
            let credit_memo = match memo_id {
                Some(id) => self.read_document_item(id).await?.map(|(_, d)| d),
                None => None,
            };
            return Ok(Attempt::Done(Some(Ok(Corrected {
                document: stored,
                credit_memo,
            }))));
        }
        if !c.kind.from().contains(&before) {
            return Ok(Attempt::Done(Some(Err(CorrectionRefusal::Status(before)))));
        }
        let (run, account) = (stored.document.run_id, stored.document.account_id.clone());
        let outcome_key = self.outcome_key(run, &account);
        let outcome_item = self.get(&outcome_key).await?;
        let outcome: Option<AccountOutcomeRecord> = outcome_item
            .as_ref()
            .map(super::codec::decode)
            .transpose()?;
        let mut items: Vec<TransactWriteItem> = Vec::new();
        // The document's status, conditioned on the one read (absent `st`: the one its
        // `data` was written with).
        let to = c.kind.to();
        let (by_attr, at_attr) = match c.kind {
            CorrectionKind::Void => (VOIDED_BY, VOIDED_AT),
            CorrectionKind::Cancel => (CANCELED_BY, CANCELED_AT),
        };
        let mut update = self
            .status_change(c.document, &item, before, to)
            .expression_attribute_names("#at", at_attr)
            .expression_attribute_values(":at", s(c.at.to_rfc3339()));
        update = match &c.by {
            Some(by) => update
                .update_expression("SET #s = :s, #at = :at, #by = :by")
                .expression_attribute_names("#by", by_attr)
                .expression_attribute_values(":by", s(by)),
            None => update.update_expression("SET #s = :s, #at = :at"),
        };
        items.push(
            TransactWriteItem::builder()
                .update(built(update.build())?)
                .build(),
        );
        stored.set_correction(to, c.by.as_deref(), c.at);
        // The billing state goes back only once no other invoice of the run and
        // account stands on it.
        let mut outcome_after = outcome.clone();
        let others_stand = match &outcome {
            None => false,
            Some(o) => {
                let others: Vec<Key> = o
                    .document_ids
                    .iter()
                    .filter(|id| **id != c.document)
                    .map(|id| keys::document(*id))
                    .collect();
                let mut any = false;
                for other in self.batch_get(others).await? {
                    any |= still_billed(&stored_document(&other)?.document);
                }
                any
            }
        };
        if let (Some(o), false) = (&outcome, others_stand) {
            if !o.changes.is_empty() {
                match self.rollback_actions(o).await? {
                    // The reads are not one snapshot: a racing correction may have
                    // rolled the state back after the outcome was read. Refused only
                    // when the document and its outcome are still as they were read.
                    Err(refusal) => {
                        let now = self.get(&keys::document(c.document)).await?;
                        let outcome_now = self.get(&outcome_key).await?;
                        let same = now.as_ref().and_then(|i| i.get(STATUS)) == item.get(STATUS)
                            && outcome_now.as_ref().and_then(|i| i.get(DATA))
                                == outcome_item.as_ref().and_then(|i| i.get(DATA));
                        return Ok(if same {
                            Attempt::Done(Some(Err(refusal)))
                        } else {
                            Attempt::Again
                        });
                    }
                    Ok(actions) => items.extend(actions),
                }
                if let Some(after) = outcome_after.as_mut() {
                    after.changes.clear();
                }
            }
        }
        // The credit memo: a new item, numbered from the sequence in this transaction.
        let mut credit_memo = None;
        if let Some(memo) = &c.credit_memo {
            let sequence = keys::sequence(DocumentKind::CreditMemo.prefix());
            let now = self
                .get(&sequence)
                .await?
                .map_or(0, |i| super::codec::get_u64(&i, super::sequences::VALUE));
            let u = self
                .sequence_set(&sequence, now + 1)
                .expression_attribute_values(":old", n(now));
            let u = if now == 0 {
                u.condition_expression("attribute_not_exists(#n) OR #n = :old")
            } else {
                u.condition_expression("#n = :old")
            };
            items.push(
                TransactWriteItem::builder()
                    .update(built(u.build())?)
                    .build(),
            );
            let mut memo = memo.clone();
            let number = DocumentKind::CreditMemo.number(now + 1);
            memo.number = Some(number.clone());
            let memo = StoredDocument::new(memo, stored.round);
            let mut memo_item = entity(&keys::document(memo.document.id), &memo)?;
            memo_item.insert(STATUS.to_string(), s(status_name(memo.document.status)));
            memo_item.insert(NUMBER.to_string(), s(number));
            items.push(self.put_new(memo_item)?);
            if let Some(after) = outcome_after.as_mut() {
                after.document_ids.push(memo.document.id);
            }
            credit_memo = Some(memo);
        }
        // The outcome, as read but for what changed: conditioned on its `data` read, so
        // a racing correction of another document of the account is read again.
        if let (Some(mut o_item), Some(after)) = (outcome_item, outcome_after) {
            if Some(&after) != outcome.as_ref() {
                let old = o_item
                    .get(DATA)
                    .cloned()
                    .ok_or_else(|| StoreError::fatal("outcome has no data"))?;
                let fresh = entity(&outcome_key, &after)?;
                if let Some(data) = fresh.get(DATA) {
                    o_item.insert(DATA.to_string(), data.clone());
                }
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(o_item))
                    .condition_expression("#d = :old")
                    .expression_attribute_names("#d", DATA)
                    .expression_attribute_values(":old", old);
                items.push(
                    TransactWriteItem::builder()
                        .put(built(put.build())?)
                        .build(),
                );
            }
        }
        let entry =
            AuditEvent::of_document_status(c.document, run, before, to, c.by.as_deref(), c.at);
        items.extend(self.audit_puts(&entry)?);
        if let Some(memo) = &credit_memo {
            let created = AuditEvent::of_document_created(
                memo.document.id,
                run,
                memo.document.status,
                c.by.as_deref(),
                c.at,
            );
            items.extend(self.audit_puts(&created)?);
        }
        Ok(Attempt::Write(
            items,
            Corrected {
                document: stored,
                credit_memo,
            },
        ))
    }

    /// The actions that take the account's billing state back to before the outcome's
    /// changes, or the refusal when a later run billed past them (as `revert_run`
    /// checks: the state's watermarks and inline marks, then the mark items).
    async fn rollback_actions(
        &self,
        o: &AccountOutcomeRecord,
    ) -> StoreResult<Result<Vec<TransactWriteItem>, CorrectionRefusal>> {
        let by = o.run_id.to_string();
        let mut row = self.read_state(&o.account_id).await?;
        let (moved, held): (Vec<StateChange>, Vec<StateChange>) =
            o.changes.iter().cloned().partition(|c| {
                keys::mark_sk(c).is_none()
                    || row.state.check_revert(std::slice::from_ref(c)).is_ok()
            });
        if let Err(e) = row.state.check_revert(&moved) {
            return Ok(Err(CorrectionRefusal::Superseded(format!(
                "account {}: {}",
                o.account_id, e.0
            ))));
        }
        let held: Vec<Key> = held
            .iter()
            .filter_map(|c| keys::mark(&o.account_id, c))
            .collect();
        let mut actions = Vec::new();
        for item in self.batch_get(held).await? {
            if get_s(&item, BY) != Some(by.as_str()) {
                return Ok(Err(CorrectionRefusal::Superseded(format!(
                    "account {}: a later run has billed {} since",
                    o.account_id,
                    get_s(&item, keys::SK).unwrap_or_default()
                ))));
            }
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(Key::of(&item).item()))
                .condition_expression("#by = :run")
                .expression_attribute_names("#by", BY)
                .expression_attribute_values(":run", s(by.clone()));
            actions.push(
                TransactWriteItem::builder()
                    .delete(built(delete.build())?)
                    .build(),
            );
        }
        row.state.revert(&moved);
        row.runs.remove(&by);
        actions.push(
            TransactWriteItem::builder()
                .put(self.state_put(&o.account_id, &row)?)
                .build(),
        );
        Ok(Ok(actions))
    }
}

/// Keeps the status of a document corrected alone when its run's documents all move
/// (a post of the run): the condition `set_statuses` adds.
pub(super) const UNLESS_CORRECTED: &str =
    "attribute_not_exists(#s) OR (#s <> :canceled AND #s <> :voided)";

/// The values [`UNLESS_CORRECTED`] names.
pub(super) fn unless_corrected_values(
) -> [(&'static str, aws_sdk_dynamodb::types::AttributeValue); 2] {
    [
        (":canceled", s(status_name(DocumentStatus::Canceled))),
        (":voided", s(status_name(DocumentStatus::Voided))),
    ]
}
