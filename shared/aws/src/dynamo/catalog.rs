//! The DynamoDB adapter of the API's catalog ports (`billrun_app::catalog`), in the same
//! table:
//!
//! | item | pk | sk | notes |
//! | --- | --- | --- | --- |
//! | subscription → account | `SUBREF#<id>` | `REF` | `account`; written by import and PUT |
//! | invoice schedule → account | `SCHEDREF#<id>` | `REF` | `account` |
//! | executed schedule item | `ISCH#<id>` | `ITEM#<item>` | written once (`attribute_not_exists`) |
//! | document template | `TMPL#<id>` | `TMPL` | gsi2: `TEMPLATES` / `<id>` |
//! | the active template | `TMPL` | `ACTIVE` | `id` |
//!
//! Runs list from gsi1 (`RUNS` / `<createdAt>#<id>`), accounts from gsi2 (`ACCOUNTS` /
//! `<id>`), templates and invoice schedules from gsi2 too (`TEMPLATES` and `INVSCHED` /
//! `<id>`: partitions of their own in the same index), a run's documents through its outcomes (`documents`): no new index.

use super::client::{Limit, SortKey};
use super::codec::{decode, entity, get_s, s, Item};
use super::keys::{self, Index, Key};
use super::DynamoStore;
use async_trait::async_trait;
use billrun_app::catalog::*;
use billrun_app::error::StoreError;
use billrun_app::model::audit::AuditEvent;
use billrun_app::model::{RunRecord, StoredDocument};
use billrun_app::ports::StoreResult;
use billrun_domain::book::{Account, InvoiceSchedule};
use billrun_domain::ids::{AccountId, RunId, ScheduleId, SubscriptionId};

/// Items read per query page while filtering.
const PAGE: usize = 500;
/// The account a reference item names.
const ACCOUNT: &str = "account";

/// An item that names the account an entity lives under.
fn reference(key: Key, account: &AccountId) -> Item {
    let mut item = key.item();
    item.insert(ACCOUNT.to_string(), s(account.to_string()));
    item
}

pub(super) fn subscription_ref(id: &SubscriptionId, account: &AccountId) -> Item {
    reference(keys::subscription_ref(id), account)
}

pub(super) fn schedule_ref(id: &ScheduleId, account: &AccountId) -> Item {
    reference(keys::schedule_ref(id), account)
}

/// An invoice schedule's item, in its account's partition and listed through gsi2
/// (`INVSCHED` / `<id>`).
pub(super) fn schedule_item(schedule: &InvoiceSchedule) -> StoreResult<Item> {
    let mut item = entity(
        &keys::schedule(&schedule.account_id, &schedule.id),
        schedule,
    )?;
    item.insert(Index::Gsi2.pk().to_string(), s(keys::INVOICE_SCHEDULES));
    item.insert(Index::Gsi2.sk().to_string(), s(schedule.id.to_string()));
    Ok(item)
}

fn account_of(item: Option<Item>) -> StoreResult<Option<AccountId>> {
    match item {
        None => Ok(None),
        Some(i) => get_s(&i, ACCOUNT)
            .map(|a| AccountId::parse(a).map_err(StoreError::fatal))
            .transpose(),
    }
}

#[async_trait]
impl RunListing for DynamoStore {
    async fn list_runs(
        &self,
        filter: &RunFilter,
        after: Option<&RunPosition>,
        limit: usize,
    ) -> StoreResult<Vec<RunRecord>> {
        // Start after the cursor, or just before the first run created since the bound.
        let from = match (after, filter.created_since) {
            (Some(a), _) => Some(keys::run_sort(&a.created_at, a.id)),
            (None, Some(t)) => Some(keys::runs_since(&t)),
            (None, None) => None,
        };
        let sk = match &from {
            Some(k) => SortKey::After(k, ""),
            None => SortKey::Any,
        };
        let mut out = Vec::new();
        self.query_each(
            Some(Index::Gsi1),
            keys::RUNS.into(),
            sk,
            Limit::PagesOf(PAGE),
            |item| {
                let run: RunRecord = decode(item)?;
                Ok(!keep(&mut out, run, |r| filter.keeps(r), limit))
            },
        )
        .await?;
        Ok(out)
    }

    async fn run_by_number(&self, number: u64) -> StoreResult<Option<RunRecord>> {
        // Run numbers follow creation order closely; a full read of the run index is
        // bounded by the number of runs (see docs/decisions.md).
        let filter = RunFilter {
            id_after: number.checked_sub(1),
            ..RunFilter::default()
        };
        let mut after: Option<RunPosition> = None;
        loop {
            let page = self.list_runs(&filter, after.as_ref(), PAGE).await?;
            if let Some(r) = page.iter().find(|r| run_number(&r.number) == Some(number)) {
                return Ok(Some(r.clone()));
            }
            match page.last() {
                Some(last) if page.len() == PAGE => after = Some(RunPosition::of(last)),
                _ => return Ok(None),
            }
        }
    }
}

#[async_trait]
impl AccountListing for DynamoStore {
    async fn list_accounts(
        &self,
        batch: Option<&str>,
        after: Option<&AccountId>,
        limit: usize,
    ) -> StoreResult<Vec<Account>> {
        let from: Option<String> = after.map(|a| a.to_string());
        let sk = match &from {
            Some(k) => SortKey::After(k, ""),
            None => SortKey::Any,
        };
        let mut out = Vec::new();
        self.query_each(
            Some(Index::Gsi2),
            keys::ACCOUNTS.into(),
            sk,
            Limit::PagesOf(PAGE),
            |item| {
                let a: Account = decode(item)?;
                let in_batch = |a: &Account| batch.is_none_or(|b| a.batch.as_deref() == Some(b));
                Ok(!keep(&mut out, a, in_batch, limit))
            },
        )
        .await?;
        Ok(out)
    }
}

#[async_trait]
impl DocumentListing for DynamoStore {
    async fn list_run_documents(
        &self,
        run: RunId,
        kind: Option<billrun_domain::document::DocumentKind>,
        after: Option<&DocumentPosition>,
        limit: usize,
    ) -> StoreResult<Vec<StoredDocument>> {
        let mut from: Option<String> =
            after.map(|p| keys::document_sort(p.round, &p.account_id, &p.group_key));
        let mut out = Vec::new();
        let page = limit.clamp(1, PAGE);
        loop {
            let (items, more) = self.document_page(run, None, from.as_deref(), page).await?;
            let exhausted = !more;
            for (key, d) in items {
                from = Some(key);
                if kind.is_none_or(|k| d.document.kind == k) {
                    out.push(d);
                    if out.len() == limit {
                        return Ok(out);
                    }
                }
            }
            if exhausted {
                return Ok(out);
            }
        }
    }
}

#[async_trait]
impl SubscriptionIndex for DynamoStore {
    async fn subscription_account(&self, id: &SubscriptionId) -> StoreResult<Option<AccountId>> {
        account_of(self.get(&keys::subscription_ref(id)).await?)
    }
}

#[async_trait]
impl ScheduleStore for DynamoStore {
    async fn get_schedule(&self, id: &ScheduleId) -> StoreResult<Option<StoredSchedule>> {
        let Some(account) = account_of(self.get(&keys::schedule_ref(id)).await?)? else {
            return Ok(None);
        };
        let Some(item) = self.get(&keys::schedule(&account, id)).await? else {
            return Ok(None);
        };
        let schedule: InvoiceSchedule = decode(&item)?;
        let mut processed: Vec<ProcessedItem> = Vec::new();
        let items = SortKey::Prefix(keys::PROCESSED_ITEMS);
        for i in self
            .query(None, keys::processed_items_pk(id), items, Limit::All)
            .await?
        {
            processed.push(decode(&i)?);
        }
        Ok(Some(StoredSchedule::new(schedule, processed)))
    }

    async fn list_schedules(
        &self,
        after: Option<&ScheduleId>,
        limit: usize,
    ) -> StoreResult<Vec<InvoiceSchedule>> {
        let after = after.map(|a| a.to_string());
        let sk = match &after {
            Some(a) => SortKey::After(a, ""),
            None => SortKey::Any,
        };
        self.query(
            Some(Index::Gsi2),
            keys::INVOICE_SCHEDULES.into(),
            sk,
            Limit::AtMost(limit.max(1)),
        )
        .await?
        .iter()
        .map(decode)
        .collect()
    }

    async fn account_schedules(&self, account: &AccountId) -> StoreResult<Vec<InvoiceSchedule>> {
        let schedules = SortKey::Prefix(keys::SCHEDULES);
        self.query(None, keys::account_pk(account), schedules, Limit::All)
            .await?
            .iter()
            .map(decode)
            .collect()
    }

    async fn put_schedule(
        &self,
        schedule: &InvoiceSchedule,
        audit: &AuditEvent,
    ) -> StoreResult<()> {
        let item = schedule_item(schedule)?;
        let writes = vec![
            self.put_tx(item, None)?,
            self.put_tx(schedule_ref(&schedule.id, &schedule.account_id), None)?,
        ];
        self.write_audited(writes, Some(audit)).await.map(|_| ())
    }

    async fn create_schedule(
        &self,
        schedule: &InvoiceSchedule,
        audit: &AuditEvent,
    ) -> StoreResult<()> {
        // The id's reference item (global, whatever the account) is the condition.
        let item = schedule_item(schedule)?;
        let reference = schedule_ref(&schedule.id, &schedule.account_id);
        let writes = vec![
            self.put_tx(item, None)?,
            self.put_tx(reference, Some("attribute_not_exists(pk)"))?,
        ];
        match self.write_audited(writes, Some(audit)).await? {
            true => Ok(()),
            false => Err(StoreError::Conflict(format!(
                "invoice schedule {} exists",
                schedule.id
            ))),
        }
    }

    async fn mark_processed(&self, schedule: &ScheduleId, item: &ProcessedItem) -> StoreResult<()> {
        let record = entity(&keys::processed_item(schedule, &item.item_id), item)?;
        self.put(record, Some("attribute_not_exists(pk)"), vec![])
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => StoreError::Conflict(format!(
                    "item {} of invoice schedule {schedule} is already processed",
                    item.item_id
                )),
                other => other,
            })
    }
}

impl DynamoStore {
    async fn active_template_id(&self) -> StoreResult<Option<String>> {
        Ok(self
            .get(&keys::active_template())
            .await?
            .and_then(|i| get_s(&i, "id").map(str::to_string)))
    }
}

#[async_trait]
impl TemplateStore for DynamoStore {
    async fn put_template(
        &self,
        template: &DocumentTemplate,
        audit: &AuditEvent,
    ) -> StoreResult<DocumentTemplate> {
        let mut t = template.clone();
        t.active = false;
        let mut item = entity(&keys::template(&t.id), &t)?;
        item.insert(Index::Gsi2.pk().to_string(), s(keys::TEMPLATES));
        item.insert(Index::Gsi2.sk().to_string(), s(t.id.clone()));
        self.write_audited(vec![self.put_tx(item, None)?], Some(audit))
            .await?;
        t.active = self.active_template_id().await?.as_deref() == Some(t.id.as_str());
        Ok(t)
    }

    async fn create_template(
        &self,
        template: &DocumentTemplate,
        audit: &AuditEvent,
    ) -> StoreResult<DocumentTemplate> {
        let mut t = template.clone();
        t.active = false;
        let mut item = entity(&keys::template(&t.id), &t)?;
        item.insert(Index::Gsi2.pk().to_string(), s(keys::TEMPLATES));
        item.insert(Index::Gsi2.sk().to_string(), s(t.id.clone()));
        let put = self.put_tx(item, Some("attribute_not_exists(pk)"))?;
        match self.write_audited(vec![put], Some(audit)).await? {
            true => Ok(t),
            false => Err(StoreError::Conflict(format!(
                "document template {} exists",
                t.id
            ))),
        }
    }

    async fn get_template(&self, id: &str) -> StoreResult<Option<DocumentTemplate>> {
        let Some(item) = self.get(&keys::template(id)).await? else {
            return Ok(None);
        };
        let mut t: DocumentTemplate = decode(&item)?;
        t.active = self.active_template_id().await?.as_deref() == Some(id);
        Ok(Some(t))
    }

    async fn activate_template(
        &self,
        id: &str,
        audit: &AuditEvent,
    ) -> StoreResult<Option<DocumentTemplate>> {
        let Some(mut t) = self.get_template(id).await? else {
            return Ok(None);
        };
        let mut item = keys::active_template().item();
        item.insert("id".to_string(), s(id));
        self.write_audited(vec![self.put_tx(item, None)?], Some(audit))
            .await?;
        t.active = true;
        Ok(Some(t))
    }

    async fn active_template(&self) -> StoreResult<Option<DocumentTemplate>> {
        match self.active_template_id().await? {
            None => Ok(None),
            Some(id) => self.get_template(&id).await,
        }
    }

    async fn list_templates(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<DocumentTemplate>> {
        let sk = match after {
            Some(a) => SortKey::After(a, ""),
            None => SortKey::Any,
        };
        let active = self.active_template_id().await?;
        let items = self
            .query(
                Some(Index::Gsi2),
                keys::TEMPLATES.into(),
                sk,
                Limit::AtMost(limit.max(1)),
            )
            .await?;
        items
            .iter()
            .map(|i| {
                let mut t: DocumentTemplate = decode(i)?;
                t.active = active.as_deref() == Some(t.id.as_str());
                Ok(t)
            })
            .collect()
    }
}

/// Adds `x` to `out` when `wanted`; answers whether `out` now holds `limit`.
fn keep<T>(out: &mut Vec<T>, x: T, wanted: impl Fn(&T) -> bool, limit: usize) -> bool {
    if !wanted(&x) {
        return false;
    }
    out.push(x);
    out.len() == limit
}
