//! The audit trail: each entry is put once under each of its keys (its month, its
//! resource, a document's run: `keys::audit_items`) with `attribute_not_exists(pk)`, and
//! never updated or deleted. A document's status change writes its entry in the same
//! transaction (`documents.rs`).

use super::client::{backoff, Limit, SortKey};
use super::codec::{decode, entity, Item};
use super::error::{canceled, sdk};
use super::keys;
use super::DynamoStore;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::TransactWriteItem;
use billrun_app::error::StoreError;
use billrun_app::model::audit::{AuditEvent, AuditFilter, AuditPosition};
use billrun_app::ports::{AuditLog, StoreResult};
use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};

/// Items read a request while listing (the listing filters by actor after reading).
const AUDIT_READ_PAGE: usize = 200;

/// The items of `event`: the entry under each of its keys.
fn items(event: &AuditEvent) -> StoreResult<Vec<Item>> {
    keys::audit_items(
        &event.time,
        event.seq,
        event.id,
        &event.resource_id,
        event.run_id,
    )
    .iter()
    .map(|k| entity(k, event))
    .collect()
}

/// Attempts of a write with its audit entry that other transactions got in the way of.
const AUDITED_WRITE_ATTEMPTS: u32 = 6;

impl DynamoStore {
    /// The Put actions of `event`'s items, each conditioned on its absence.
    pub(super) fn audit_puts(&self, event: &AuditEvent) -> StoreResult<Vec<TransactWriteItem>> {
        items(event)?
            .into_iter()
            .map(|item| self.put_new(item))
            .collect()
    }

    /// `writes` (a configuration item's, each with its own condition) and the items of
    /// their audit entry, in one transaction: `false`, nothing written, when a condition
    /// of `writes` failed. An entry that exists already is this change written before
    /// (its id is stable for the change).
    pub(super) async fn write_audited(
        &self,
        writes: Vec<TransactWriteItem>,
        audit: Option<&AuditEvent>,
    ) -> StoreResult<bool> {
        let count = writes.len();
        let mut actions = writes;
        if let Some(audit) = audit {
            actions.extend(self.audit_puts(audit)?);
        }
        let mut last = StoreError::transient("audited write: no attempt made");
        for attempt in 0..AUDITED_WRITE_ATTEMPTS {
            let e = match self.transact(actions.clone()).await {
                Ok(()) => return Ok(true),
                Err(e) => e,
            };
            let c = canceled(e)?;
            if (0..count).any(|i| c.failed(i)) {
                return Ok(false);
            }
            if !c.conditions.is_empty() {
                return Ok(true);
            }
            backoff(attempt).await;
            last = c.transient();
        }
        Err(last)
    }
}

/// The first day of each month from `from`'s through `through`'s.
fn months(from: &DateTime<Utc>, through: &DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let first = |t: &DateTime<Utc>| NaiveDate::from_ymd_opt(t.year(), t.month(), 1);
    let (Some(mut m), Some(last)) = (first(from), first(through)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    while m <= last {
        out.push(m.and_time(chrono::NaiveTime::MIN).and_utc());
        match m.checked_add_months(Months::new(1)) {
            Some(next) => m = next,
            None => break,
        }
    }
    out
}

#[async_trait]
impl AuditLog for DynamoStore {
    async fn record_audit(&self, events: &[AuditEvent]) -> StoreResult<()> {
        let mut requests = Vec::new();
        for e in events {
            for item in items(e)? {
                let put = self
                    .client
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .condition_expression("attribute_not_exists(pk)");
                requests.push(async move {
                    match put.send().await.map_err(sdk) {
                        // Written before (a repeated projection): it stays as it was.
                        Ok(_) | Err(StoreError::Conflict(_)) => Ok(()),
                        Err(e) => Err(e),
                    }
                });
            }
        }
        self.in_flight("audit", requests.into_iter()).await
    }

    async fn audit_events(
        &self,
        filter: &AuditFilter,
        after: Option<&AuditPosition>,
        limit: usize,
    ) -> StoreResult<Vec<AuditEvent>> {
        let (from, lower) = match after {
            Some(p) if p.time >= filter.since => (p.time, keys::audit_sort(&p.time, p.seq, p.id)),
            _ => (filter.since, keys::audit_since(&filter.since)),
        };
        let partitions = match &filter.resource {
            Some(r) => vec![keys::audit_resource(r)],
            None => months(&from, &from.max(Utc::now()))
                .iter()
                .map(keys::audit_month)
                .collect(),
        };
        let mut out = Vec::new();
        for pk in partitions {
            if out.len() >= limit {
                break;
            }
            self.query_each(
                None,
                pk,
                SortKey::After(&lower, ""),
                Limit::PagesOf(AUDIT_READ_PAGE),
                |item| {
                    let e: AuditEvent = decode(item)?;
                    if filter.keeps(&e) {
                        out.push(e);
                    }
                    Ok(out.len() < limit)
                },
            )
            .await?;
        }
        Ok(out)
    }
}
