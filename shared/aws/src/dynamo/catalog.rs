//! The DynamoDB adapter of the API's catalog ports (`billrun_app::catalog`), in the same
//! table:
//!
//! | item | pk | sk | notes |
//! | --- | --- | --- | --- |
//! | subscription → account | `SUBREF#<id>` | `REF` | `account`; written by import and PUT |
//! | invoice schedule → account | `SCHEDREF#<id>` | `REF` | `account` |
//! | executed schedule item | `ISCH#<id>` | `ITEM#<item>` | written once (`attribute_not_exists`) |
//! | document template | `TMPL#<id>` | `TMPL` | |
//! | the active template | `TMPL` | `ACTIVE` | `id` |
//!
//! Runs list from gsi1 (`RUNS` / `<createdAt>#<id>`), accounts from gsi2 (`ACCOUNTS` /
//! `<id>`), a run's documents from its gsi1 shards: no new index.

use super::*;
use billrun_app::catalog::*;
use billrun_domain::book::{Account, InvoiceSchedule};
use billrun_domain::ids::{ScheduleId, SubscriptionId};

/// Items read per query page while filtering.
const PAGE: usize = 500;

pub(super) fn subscription_ref(id: &SubscriptionId, account: &AccountId) -> Item {
    HashMap::from([
        (PK.to_string(), s(format!("SUBREF#{id}"))),
        (SK.to_string(), s("REF")),
        ("account".to_string(), s(account.to_string())),
    ])
}

pub(super) fn schedule_ref(id: &ScheduleId, account: &AccountId) -> Item {
    HashMap::from([
        (PK.to_string(), s(format!("SCHEDREF#{id}"))),
        (SK.to_string(), s("REF")),
        ("account".to_string(), s(account.to_string())),
    ])
}

pub(super) fn run_sort(created_at: &chrono::DateTime<chrono::Utc>, id: RunId) -> String {
    format!("{}#{id}", created_at.to_rfc3339())
}

fn account_of(item: Option<Item>) -> StoreResult<Option<AccountId>> {
    match item {
        None => Ok(None),
        Some(i) => get_s(&i, "account")
            .map(|a| AccountId::parse(a).map_err(StoreError::Fatal))
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
        let mut from = match (after, filter.created_since) {
            (Some(a), _) => Some(run_sort(&a.created_at, a.id)),
            (None, Some(t)) => Some(t.to_rfc3339()),
            (None, None) => None,
        };
        let mut out = Vec::new();
        loop {
            let sk = match &from {
                Some(k) => SortKey::After(k, ""),
                None => SortKey::Any,
            };
            let items = self
                .query(Some(GSI1), "RUNS".into(), sk, Some(PAGE))
                .await?;
            let exhausted = items.len() < PAGE;
            for item in &items {
                from = get_s(item, GSI1SK).map(str::to_string);
                let run: RunRecord = decode(item)?;
                if filter.keeps(&run) {
                    out.push(run);
                    if out.len() == limit {
                        return Ok(out);
                    }
                }
            }
            if exhausted || from.is_none() {
                return Ok(out);
            }
        }
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
        let mut from: Option<String> = after.map(|a| a.to_string());
        let mut out = Vec::new();
        loop {
            let sk = match &from {
                Some(k) => SortKey::After(k, ""),
                None => SortKey::Any,
            };
            let items = self
                .query(Some(GSI2), "ACCOUNTS".into(), sk, Some(PAGE))
                .await?;
            let exhausted = items.len() < PAGE;
            for item in &items {
                let a: Account = decode(item)?;
                from = Some(a.id.to_string());
                if batch.is_none_or(|b| a.batch.as_deref() == Some(b)) {
                    out.push(a);
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
impl DocumentListing for DynamoStore {
    async fn list_run_documents(
        &self,
        run: RunId,
        kind: Option<billrun_domain::document::DocumentKind>,
        after: Option<&DocumentPosition>,
        limit: usize,
    ) -> StoreResult<Vec<StoredDocument>> {
        let mut from: Option<String> =
            after.map(|p| doc_sort(p.round, &p.account_id, &p.group_key));
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
        account_of(self.get(format!("SUBREF#{id}"), "REF").await?)
    }
}

#[async_trait]
impl ScheduleStore for DynamoStore {
    async fn get_schedule(&self, id: &ScheduleId) -> StoreResult<Option<StoredSchedule>> {
        let Some(account) = account_of(self.get(format!("SCHEDREF#{id}"), "REF").await?)? else {
            return Ok(None);
        };
        let Some(item) = self.get(acct_pk(&account), &format!("SCHED#{id}")).await? else {
            return Ok(None);
        };
        let schedule: InvoiceSchedule = decode(&item)?;
        let mut processed: Vec<ProcessedItem> = Vec::new();
        for i in self
            .query(None, format!("ISCH#{id}"), SortKey::Prefix("ITEM#"), None)
            .await?
        {
            processed.push(decode(&i)?);
        }
        Ok(Some(StoredSchedule::new(schedule, processed)))
    }

    async fn account_schedules(&self, account: &AccountId) -> StoreResult<Vec<InvoiceSchedule>> {
        self.query(None, acct_pk(account), SortKey::Prefix("SCHED#"), None)
            .await?
            .iter()
            .map(decode)
            .collect()
    }

    async fn put_schedule(&self, schedule: &InvoiceSchedule) -> StoreResult<()> {
        let item = HashMap::from([
            (PK.to_string(), s(acct_pk(&schedule.account_id))),
            (SK.to_string(), s(format!("SCHED#{}", schedule.id))),
            (DATA.to_string(), encode(schedule)?),
        ]);
        self.batch_put(vec![item, schedule_ref(&schedule.id, &schedule.account_id)])
            .await
    }

    async fn mark_processed(&self, schedule: &ScheduleId, item: &ProcessedItem) -> StoreResult<()> {
        let record = HashMap::from([
            (PK.to_string(), s(format!("ISCH#{schedule}"))),
            (SK.to_string(), s(format!("ITEM#{}", item.item_id))),
            (DATA.to_string(), encode(item)?),
        ]);
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
            .get("TMPL".into(), "ACTIVE")
            .await?
            .and_then(|i| get_s(&i, "id").map(str::to_string)))
    }
}

#[async_trait]
impl TemplateStore for DynamoStore {
    async fn put_template(&self, template: &DocumentTemplate) -> StoreResult<DocumentTemplate> {
        let mut t = template.clone();
        t.active = false;
        let item = HashMap::from([
            (PK.to_string(), s(format!("TMPL#{}", t.id))),
            (SK.to_string(), s("TMPL")),
            (DATA.to_string(), encode(&t)?),
        ]);
        self.put(item, None, vec![]).await?;
        t.active = self.active_template_id().await?.as_deref() == Some(t.id.as_str());
        Ok(t)
    }

    async fn get_template(&self, id: &str) -> StoreResult<Option<DocumentTemplate>> {
        let Some(item) = self.get(format!("TMPL#{id}"), "TMPL").await? else {
            return Ok(None);
        };
        let mut t: DocumentTemplate = decode(&item)?;
        t.active = self.active_template_id().await?.as_deref() == Some(id);
        Ok(Some(t))
    }

    async fn activate_template(&self, id: &str) -> StoreResult<Option<DocumentTemplate>> {
        let Some(mut t) = self.get_template(id).await? else {
            return Ok(None);
        };
        let item = HashMap::from([
            (PK.to_string(), s("TMPL")),
            (SK.to_string(), s("ACTIVE")),
            ("id".to_string(), s(id)),
        ]);
        self.put(item, None, vec![]).await?;
        t.active = true;
        Ok(Some(t))
    }

    async fn active_template(&self) -> StoreResult<Option<DocumentTemplate>> {
        match self.active_template_id().await? {
            None => Ok(None),
            Some(id) => self.get_template(&id).await,
        }
    }
}
