//! The DynamoDB adapter of the scheduling ports (`billrun_app::scheduling`), in the same
//! table:
//!
//! | item | pk | sk | notes |
//! | --- | --- | --- | --- |
//! | run schedule | `RUNSCHED` | `<id>` | `ver`; every write conditional on it |
//! | due entry | `DUE#<k>` | `<instant>#<target>` | `k` = stable hash of the target mod `DUE_SHARDS` |
//!
//! `<instant>` is the due instant as a fixed-width, order-preserving number (microseconds
//! from the earliest instant chrono holds), so `sk < "<now>$"` reads exactly the
//! entries due by now: a tick makes one Query per shard and reads nothing that is not
//! due (no scan, no GSI). The shards spread the writes of a bulk import (one entry per
//! invoice-schedule item) over several partitions. Run schedules are configuration
//! (tens to thousands); every tick looks at each enabled one, so one partition lists
//! them in id order with a Query.

use super::client::{Limit, SortKey};
use super::codec::{decode, entity};
use super::error::{built, sdk};
use super::keys::{self, Key, DUE_SHARDS};
use super::DynamoStore;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Delete, TransactWriteItem};
use billrun_app::error::StoreError;
use billrun_app::model::audit::AuditEvent;
use billrun_app::ports::StoreResult;
use billrun_app::scheduling::*;
use billrun_domain::ids::RunScheduleId;
use chrono::{DateTime, Utc};
use futures_util::future::try_join_all;
use std::collections::HashSet;

#[async_trait]
impl DueIndex for DynamoStore {
    async fn note_due(&self, entries: &[DueEntry]) -> StoreResult<()> {
        let mut items = Vec::with_capacity(entries.len());
        for e in entries {
            items.push(entity(&keys::due(e.at, &e.target), e)?);
        }
        // BatchWriteItem refuses two puts of one key in a request.
        let mut seen = HashSet::new();
        items.retain(|i| seen.insert(Key::of(i)));
        self.batch_put(items).await
    }

    async fn drop_due(&self, entry: &DueEntry) -> StoreResult<()> {
        self.delete(&keys::due(entry.at, &entry.target))
            .send()
            .await
            .map_err(sdk)?;
        Ok(())
    }

    async fn due(&self, now: DateTime<Utc>, limit: usize) -> StoreResult<Vec<DueEntry>> {
        let below = keys::due_by(now);
        // The shards' queries are independent: one round trip, not one per shard.
        let shards = (0..DUE_SHARDS).map(|k| {
            let due = SortKey::Below(&below);
            self.query(None, keys::due_pk(k), due, Limit::AtMost(limit))
        });
        let mut out: Vec<DueEntry> = Vec::new();
        for item in try_join_all(shards).await?.iter().flatten() {
            out.push(decode(item)?);
        }
        out.sort_by(|a, b| (a.at, &a.target).cmp(&(b.at, &b.target)));
        out.truncate(limit);
        Ok(out)
    }
}

#[async_trait]
impl RunScheduleStore for DynamoStore {
    async fn put_run_schedule(
        &self,
        schedule: &RunScheduleRecord,
        audit: Option<&AuditEvent>,
    ) -> StoreResult<()> {
        let item = entity(&keys::run_schedule(&schedule.id), schedule)?;
        let lost =
            || StoreError::Conflict(format!("run schedule {} changed concurrently", schedule.id));
        match audit {
            // The scheduler's bookkeeping: a plain conditional put.
            None => self
                .put_version(item, schedule.version)
                .await
                .map_err(|e| match e {
                    StoreError::Conflict(_) => lost(),
                    other => other,
                }),
            Some(audit) => {
                let put = self.put_version_tx(item, schedule.version)?;
                match self.write_audited(vec![put], Some(audit)).await? {
                    true => Ok(()),
                    false => Err(lost()),
                }
            }
        }
    }

    async fn get_run_schedule(&self, id: &RunScheduleId) -> StoreResult<Option<RunScheduleRecord>> {
        match self.get(&keys::run_schedule(id)).await? {
            None => Ok(None),
            Some(item) => decode(&item).map(Some),
        }
    }

    async fn delete_run_schedule(
        &self,
        id: &RunScheduleId,
        audit: &AuditEvent,
    ) -> StoreResult<bool> {
        let delete = built(
            Delete::builder()
                .table_name(&self.table)
                .set_key(Some(keys::run_schedule(id).item()))
                .condition_expression("attribute_exists(pk)")
                .build(),
        )?;
        let delete = TransactWriteItem::builder().delete(delete).build();
        self.write_audited(vec![delete], Some(audit)).await
    }

    async fn list_run_schedules(
        &self,
        after: Option<&RunScheduleId>,
        limit: usize,
    ) -> StoreResult<Vec<RunScheduleRecord>> {
        let after = after.map(|a| a.to_string());
        let sk = match &after {
            Some(a) => SortKey::After(a, ""),
            None => SortKey::Any,
        };
        self.query(
            None,
            keys::RUN_SCHEDULES.into(),
            sk,
            Limit::AtMost(limit.max(1)),
        )
        .await?
        .iter()
        .map(decode)
        .collect()
    }
}
