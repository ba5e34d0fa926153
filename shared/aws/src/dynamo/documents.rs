//! Documents: written by the account commit (`ledger`), found through the outcomes that
//! list them, numbered by number pages in the outcome partitions, their statuses set
//! one item at a time.

use super::client::backoff;
use super::client::{Limit, SortKey};
use super::codec::{decode, entity, get_s, s, Item};
use super::error::{built, canceled, sdk};
use super::keys::{self, Key};
use super::DynamoStore;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
use billrun_app::error::StoreError;
use billrun_app::model::audit::AuditEvent;
use billrun_app::model::{AccountOutcomeRecord, DocumentPage, Numbered, StoredDocument};
use billrun_app::ports::{DocumentStore, RunStore, StoreResult};
use billrun_domain::document::DocumentStatus;
use billrun_domain::ids::{AccountId, DocumentId, RunId};
use futures_util::future::try_join_all;
use std::collections::{BTreeMap, HashMap};

/// A document's number, once numbered on its own item.
pub(super) const NUMBER: &str = "num";
/// A document's status, set without rewriting its `data`.
pub(super) const STATUS: &str = "st";
/// Who approved it, and who posted it alone, set with its status.
const APPROVED_BY: &str = "aby";
const POSTED_BY: &str = "pby";

pub(super) fn stored_document(item: &Item) -> StoreResult<StoredDocument> {
    let mut d: StoredDocument = decode(item)?;
    if let Some(num) = get_s(item, NUMBER) {
        d.document.number = Some(num.to_string());
    }
    if let Some(st) = get_s(item, STATUS) {
        d.document.status = serde_json::from_value(serde_json::Value::String(st.to_string()))
            .map_err(|e| StoreError::fatal(format!("corrupt document status: {e}")))?;
    }
    if let Some(by) = get_s(item, APPROVED_BY) {
        d.approved_by = Some(by.to_string());
    }
    if let Some(by) = get_s(item, POSTED_BY) {
        d.posted_by = Some(by.to_string());
    }
    super::corrections::read_correction(item, &mut d)?;
    Ok(d)
}

pub(super) fn status_name(st: DocumentStatus) -> &'static str {
    match st {
        DocumentStatus::Draft => "Draft",
        DocumentStatus::Approved => "Approved",
        DocumentStatus::Posted => "Posted",
        DocumentStatus::Canceled => "Canceled",
        DocumentStatus::Voided => "Voided",
    }
}

#[async_trait]
impl DocumentStore for DynamoStore {
    async fn get_document(&self, id: DocumentId) -> StoreResult<Option<StoredDocument>> {
        let Some(item) = self.get(&keys::document(id)).await? else {
            return Ok(None);
        };
        let mut d = stored_document(&item)?;
        self.resolve_numbers(&mut [&mut d]).await?;
        Ok(Some(d))
    }

    async fn round_documents(
        &self,
        run: RunId,
        round: u32,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<DocumentPage> {
        self.documents(run, Some(round), cursor, limit).await
    }

    async fn run_documents(
        &self,
        run: RunId,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<DocumentPage> {
        self.documents(run, None, cursor, limit).await
    }

    /// One item per outcome partition with documents in the page (`NUM#<round>#<first
    /// account>\u{1}<first number>` in `RUN#<id>#<k>`), listing their ids and numbers,
    /// instead of an update of each document: ~0.04 WRU a document instead of 1 (a page
    /// of 1,000 documents over 16 partitions is 16 items of ~1 KB deflated). Rewriting a
    /// page writes the same items.
    async fn assign_numbers(
        &self,
        run: RunId,
        round: u32,
        numbers: &[Numbered],
    ) -> StoreResult<()> {
        let mut pages: BTreeMap<u32, Vec<&Numbered>> = BTreeMap::new();
        for n in numbers {
            pages.entry(self.shard(&n.account_id)).or_default().push(n);
        }
        let mut items = Vec::with_capacity(pages.len());
        for (k, page) in pages {
            // In numbering order: the first entry has the first account and number.
            let Some(first) = page.first() else {
                continue;
            };
            let list: Vec<(DocumentId, &str)> =
                page.iter().map(|n| (n.id, n.number.as_str())).collect();
            let key = Key {
                pk: keys::shard_pk(run, k),
                sk: keys::number_page_sk(round, &first.account_id, &first.number),
            };
            items.push(entity(&key, &list)?);
        }
        let requests = items.into_iter().map(|item| {
            let req = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item));
            async move { req.send().await.map(|_| ()).map_err(sdk) }
        });
        self.in_flight("numbering", requests).await
    }

    async fn set_run_status(&self, run: RunId, status: DocumentStatus) -> StoreResult<()> {
        let docs = self.all_run_documents(run).await?;
        let ids: Vec<DocumentId> = docs
            .iter()
            .filter(|d| {
                !matches!(
                    d.document.status,
                    DocumentStatus::Canceled | DocumentStatus::Voided
                )
            })
            .map(|d| d.document.id)
            .collect();
        self.set_statuses(&ids, status, true).await
    }

    async fn set_document_statuses(
        &self,
        ids: &[DocumentId],
        from: &[DocumentStatus],
        to: DocumentStatus,
        by: Option<&str>,
        at: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<()> {
        use futures_util::stream::{self, StreamExt, TryStreamExt};
        stream::iter(ids.iter().copied())
            .map(|id| self.change_status(id, from, to, by, at))
            .buffer_unordered(super::client::IN_FLIGHT)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }
}

/// Reads of a document a status change makes before it gives up (its status only
/// moves forward, so a document changed by others is read at most a few times).
const STATUS_ATTEMPTS: u32 = 6;

impl DynamoStore {
    /// Moves document `id` to `to` if its status is one of `from`: one transaction of
    /// the update, conditioned on the status just read, and the change's audit entry.
    /// A document changed in between is read again.
    async fn change_status(
        &self,
        id: DocumentId,
        from: &[DocumentStatus],
        to: DocumentStatus,
        by: Option<&str>,
        at: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<()> {
        let mut last = StoreError::transient(format!("document {id}: no attempt made"));
        for attempt in 0..STATUS_ATTEMPTS {
            let Some(item) = self.get(&keys::document(id)).await? else {
                return Ok(());
            };
            let d = stored_document(&item)?;
            let before = d.document.status;
            if !from.contains(&before) {
                return Ok(());
            }
            let mut update = self.status_change(id, &item, before, to);
            let actor = match (to, by) {
                (DocumentStatus::Approved, Some(by)) => Some((APPROVED_BY, by)),
                (DocumentStatus::Posted, Some(by)) => Some((POSTED_BY, by)),
                _ => None,
            };
            update = match actor {
                Some((attribute, by)) => update
                    .update_expression("SET #s = :s, #by = :by")
                    .expression_attribute_names("#by", attribute)
                    .expression_attribute_values(":by", s(by)),
                None => update.update_expression("SET #s = :s"),
            };
            let entry = AuditEvent::of_document_status(id, d.document.run_id, before, to, by, at);
            let mut items = vec![TransactWriteItem::builder()
                .update(built(update.build())?)
                .build()];
            items.extend(self.audit_puts(&entry)?);
            let e = match self.transact(items).await {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            let c = canceled(e)?;
            if c.failed(0) {
                // Changed since it was read: read it again.
                continue;
            }
            if !c.conditions.is_empty() {
                // The entry exists: this change was written before.
                return Ok(());
            }
            backoff(attempt).await;
            last = c.transient();
        }
        Err(last)
    }

    /// The update that moves document `id` (its `item` just read) from `before` to `to`,
    /// conditioned on `before` still being its status.
    pub(super) fn status_change(
        &self,
        id: DocumentId,
        item: &super::codec::Item,
        before: DocumentStatus,
        to: DocumentStatus,
    ) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(keys::document(id).item()))
            .expression_attribute_names("#s", STATUS)
            .expression_attribute_values(":s", s(status_name(to)));
        // Without `st` the status is the one `data` was written with, which never
        // changes: the one just read.
        if item.contains_key(STATUS) {
            update
                .condition_expression("#s = :b")
                .expression_attribute_values(":b", s(status_name(before)))
        } else {
            update.condition_expression("attribute_not_exists(#s)")
        }
    }

    /// The update that sets document `id`'s status to `to` (`#s`), unconditioned.
    fn status_update(
        &self,
        id: DocumentId,
        to: DocumentStatus,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::document(id).item()))
            .update_expression("SET #s = :s")
            .expression_attribute_names("#s", STATUS)
            .expression_attribute_values(":s", s(status_name(to)))
    }

    pub(super) async fn set_statuses(
        &self,
        ids: &[DocumentId],
        status: DocumentStatus,
        unless_corrected: bool,
    ) -> StoreResult<()> {
        let requests = ids.iter().map(|id| {
            let mut req = self.status_update(*id, status);
            // A document canceled or voided stays so when its run moves on.
            if unless_corrected {
                req = req.condition_expression(super::corrections::UNLESS_CORRECTED);
                for (name, value) in super::corrections::unless_corrected_values() {
                    req = req.expression_attribute_values(name, value);
                }
            }
            async move {
                match req.send().await.map_err(sdk) {
                    Ok(_) | Err(StoreError::Conflict(_)) => Ok(()),
                    Err(e) => Err(e),
                }
            }
        });
        self.in_flight("status", requests).await
    }

    /// A page of the run's documents (of one round or of all) as the port answers it:
    /// the cursor is the last document's numbering key while more remain.
    async fn documents(
        &self,
        run: RunId,
        round: Option<u32>,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<DocumentPage> {
        let (page, more) = self.document_page(run, round, cursor, limit).await?;
        let next = if more {
            page.last().map(|(key, _)| key.clone())
        } else {
            None
        };
        Ok(DocumentPage {
            documents: page.into_iter().map(|(_, d)| d).collect(),
            next,
        })
    }

    /// The documents the outcomes list, with their numbering keys, in key order; only
    /// those after `after`.
    async fn documents_of(
        &self,
        outcomes: &[&AccountOutcomeRecord],
        after: Option<&str>,
    ) -> StoreResult<Vec<(String, StoredDocument)>> {
        let read: Vec<Key> = outcomes
            .iter()
            .flat_map(|o| o.document_ids.iter().map(|id| keys::document(*id)))
            .collect();
        let expected = read.len();
        let items = self.batch_get(read).await?;
        if items.len() != expected {
            return Err(StoreError::fatal(format!(
                "outcomes list {expected} documents, {} found",
                items.len()
            )));
        }
        let mut out = Vec::with_capacity(items.len());
        for item in &items {
            let d = stored_document(item)?;
            let key = keys::document_sort(d.round, &d.document.account_id, &d.document.group_key);
            if after.is_none_or(|a| key.as_str() > a) {
                out.push((key, d));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        let mut docs: Vec<&mut StoredDocument> = out.iter_mut().map(|(_, d)| d).collect();
        self.resolve_numbers(&mut docs).await?;
        Ok(out)
    }

    /// Fills in the numbers of documents that have none on their item from the number
    /// pages finalization wrote ([`DocumentStore::assign_numbers`]): per outcome partition
    /// and round, the pages from the one holding the last account down to the one holding
    /// the first (one Query, highest key first). Documents of a round not numbered yet
    /// stay without.
    pub(super) async fn resolve_numbers(
        &self,
        docs: &mut [&mut StoredDocument],
    ) -> StoreResult<()> {
        let mut spans: BTreeMap<(RunId, u32, u32), (AccountId, AccountId)> = BTreeMap::new();
        for d in docs.iter().filter(|d| d.document.number.is_none()) {
            let a = &d.document.account_id;
            let span = spans
                .entry((d.document.run_id, self.shard(a), d.round))
                .or_insert_with(|| (a.clone(), a.clone()));
            if *a < span.0 {
                span.0 = a.clone();
            }
            if *a > span.1 {
                span.1 = a.clone();
            }
        }
        let reads = spans
            .iter()
            .map(|((run, k, round), (first, last))| async move {
                let (lo, hi) = keys::number_pages_through(*round, last);
                let from = keys::number_pages_from(*round, first);
                let mut numbers: Vec<(DocumentId, String)> = Vec::new();
                let pages = SortKey::DownFrom(&lo, &hi);
                self.query_each(None, keys::shard_pk(*run, *k), pages, Limit::All, |item| {
                    let page: Vec<(DocumentId, String)> = decode(item)?;
                    numbers.extend(page);
                    // A page starts at its first account; the page before may hold that
                    // account's first documents too (a page can end within an account).
                    Ok(get_s(item, keys::SK).is_some_and(|sk| sk >= from.as_str()))
                })
                .await?;
                Ok::<_, StoreError>(numbers)
            });
        let numbers: HashMap<DocumentId, String> =
            try_join_all(reads).await?.into_iter().flatten().collect();
        for d in docs.iter_mut() {
            if d.document.number.is_none() {
                d.document.number = numbers.get(&d.document.id).cloned();
            }
        }
        Ok(())
    }

    /// A run's documents in numbering order, (round, account id, group key) as
    /// [`keys::document_sort`] keys: strictly after `after`, of one round or of every
    /// round of the run, at most `limit`, and whether more remain. Documents are not
    /// indexed: they are found through the outcomes that list them (account order, K
    /// partitions merged) and read by key, which saves each document its index entry's
    /// write units twice (when written and when numbered) for reads at a fraction of the
    /// price.
    pub(super) async fn document_page(
        &self,
        run: RunId,
        only_round: Option<u32>,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<(Vec<(String, StoredDocument)>, bool)> {
        let limit = limit.max(1);
        let rounds: Vec<u32> = match only_round {
            Some(r) => vec![r],
            None => match self.get_run(run).await? {
                None => return Ok((Vec::new(), false)),
                Some(r) => (0..=r.round).collect(),
            },
        };
        let cursor = after.map(keys::parse_document_sort).transpose()?;
        let mut out: Vec<(String, StoredDocument)> = Vec::new();
        for round in rounds {
            let mut from: Option<AccountId> = None;
            if let Some((cursor_round, account)) = &cursor {
                if round < *cursor_round {
                    continue;
                }
                if round == *cursor_round {
                    // The cursor's own account may have documents after it.
                    if let Some(o) = self.outcome(run, account).await? {
                        if o.round == round {
                            out.extend(self.documents_of(&[&o], after).await?);
                        }
                    }
                    from = Some(account.clone());
                }
            }
            while out.len() <= limit {
                let (page, more) = self
                    .outcome_page(run, from.as_ref(), limit + 1 - out.len())
                    .await?;
                let listed: Vec<&AccountOutcomeRecord> = page
                    .iter()
                    .filter(|o| o.round == round && !o.document_ids.is_empty())
                    .collect();
                out.extend(self.documents_of(&listed, after).await?);
                match page.last() {
                    Some(last) if more => from = Some(last.account_id.clone()),
                    _ => break,
                }
            }
            if out.len() > limit {
                break;
            }
        }
        let more = out.len() > limit;
        out.truncate(limit);
        Ok((out, more))
    }

    /// Every document of the run, in numbering order.
    pub(super) async fn all_run_documents(&self, run: RunId) -> StoreResult<Vec<StoredDocument>> {
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let (page, more) = self
                .document_page(run, None, after.as_deref(), 1000)
                .await?;
            after = page.last().map(|(key, _)| key.clone());
            all.extend(page.into_iter().map(|(_, d)| d));
            if !more {
                return Ok(all);
            }
        }
    }
}
