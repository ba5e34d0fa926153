//! The DynamoDB adapter of the scheduling ports (`billrun_app::scheduling`), in the same
//! table:
//!
//! | item | pk | sk | notes |
//! | --- | --- | --- | --- |
//! | run schedule | `RUNSCHED` | `<id>` | `ver`; every write conditional on it |
//! | due entry | `DUE#<k>` | `<instant>#<target>` | `k` = stable hash of the target mod [`DUE_SHARDS`] |
//!
//! `<instant>` is the due instant as a fixed-width, order-preserving number (microseconds
//! from the earliest instant chrono holds), so `sk < "<now>$"` reads exactly the
//! entries due by now: a tick makes one Query per shard and reads nothing that is not
//! due (no scan, no GSI). The shards spread the writes of a bulk import (one entry per
//! invoice-schedule item) over several partitions. Run schedules are configuration
//! (tens to thousands); every tick looks at each enabled one, so one partition lists
//! them in id order with a Query.

use super::*;
use aws_sdk_dynamodb::types::ReturnValue as Rv;
use billrun_app::scheduling::*;
use billrun_domain::ids::RunScheduleId;
use chrono::{DateTime, Utc};

/// Partitions of the due index.
pub const DUE_SHARDS: u64 = 8;
const RUNSCHED: &str = "RUNSCHED";

fn due_instant(at: DateTime<Utc>) -> String {
    // Non-negative and 20 digits wide for every i64 microsecond count.
    let v = i128::from(at.timestamp_micros()) - i128::from(i64::MIN);
    format!("{v:020}")
}

fn due_pk(target: &DueTarget) -> String {
    format!("DUE#{}", stable_hash(&target.key()) % DUE_SHARDS)
}

fn due_key(e: &DueEntry) -> (String, String) {
    (
        due_pk(&e.target),
        format!("{}#{}", due_instant(e.at), e.target.key()),
    )
}

impl DynamoStore {
    /// Every item of one partition with a sort key below `below`, in order, at most
    /// `limit`.
    async fn query_below(
        &self,
        pk: String,
        below: Option<String>,
        after: Option<String>,
        limit: usize,
    ) -> StoreResult<Vec<Item>> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .expression_attribute_names("#pk", PK)
                .expression_attribute_values(":pk", s(pk.clone()))
                .set_exclusive_start_key(start.take())
                .limit(limit.saturating_sub(out.len()).clamp(1, 1000) as i32);
            q = match (&below, &after) {
                (Some(b), _) => q
                    .key_condition_expression("#pk = :pk AND #sk < :b")
                    .expression_attribute_names("#sk", SK)
                    .expression_attribute_values(":b", s(b.clone())),
                (None, Some(a)) => q
                    .key_condition_expression("#pk = :pk AND #sk > :a")
                    .expression_attribute_names("#sk", SK)
                    .expression_attribute_values(":a", s(a.clone())),
                (None, None) => q.key_condition_expression("#pk = :pk"),
            };
            bump(&self.metrics.dynamodb_queries);
            let page = q.send().await.map_err(sdk)?;
            out.extend(page.items().iter().cloned());
            if out.len() >= limit {
                out.truncate(limit);
                return Ok(out);
            }
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(out),
            }
        }
    }
}

#[async_trait]
impl DueIndex for DynamoStore {
    async fn note_due(&self, entries: &[DueEntry]) -> StoreResult<()> {
        let mut items = Vec::with_capacity(entries.len());
        for e in entries {
            let (pk, sk) = due_key(e);
            items.push(HashMap::from([
                (PK.to_string(), s(pk)),
                (SK.to_string(), s(sk)),
                (DATA.to_string(), encode(e)?),
            ]));
        }
        // BatchWriteItem refuses two puts of one key in a request.
        let mut seen = std::collections::HashSet::new();
        items.retain(|i| {
            seen.insert((
                get_s(i, PK).unwrap_or_default().to_string(),
                get_s(i, SK).unwrap_or_default().to_string(),
            ))
        });
        self.batch_put(items).await
    }

    async fn drop_due(&self, entry: &DueEntry) -> StoreResult<()> {
        let (pk, sk) = due_key(entry);
        bump(&self.metrics.dynamodb_writes);
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(PK, s(pk))
            .key(SK, s(sk))
            .send()
            .await
            .map_err(sdk)?;
        Ok(())
    }

    async fn due(&self, now: DateTime<Utc>, limit: usize) -> StoreResult<Vec<DueEntry>> {
        let below = format!("{}$", due_instant(now)); // '$' sorts right after '#'
                                                      // The shards' queries are independent: one round trip, not one per shard.
        let shards = (0..DUE_SHARDS)
            .map(|k| self.query_below(format!("DUE#{k}"), Some(below.clone()), None, limit));
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
    async fn put_run_schedule(&self, schedule: &RunScheduleRecord) -> StoreResult<()> {
        let item = HashMap::from([
            (PK.to_string(), s(RUNSCHED)),
            (SK.to_string(), s(schedule.id.to_string())),
            (VER.to_string(), n(schedule.version)),
            (DATA.to_string(), encode(schedule)?),
        ]);
        let result = if schedule.version <= 1 {
            self.put(item, Some("attribute_not_exists(pk)"), vec![])
                .await
        } else {
            self.put(
                item,
                Some("ver = :v"),
                vec![(":v", n(schedule.version - 1))],
            )
            .await
        };
        result.map_err(|e| match e {
            StoreError::Conflict(_) => {
                StoreError::Conflict(format!("run schedule {} changed concurrently", schedule.id))
            }
            other => other,
        })
    }

    async fn get_run_schedule(&self, id: &RunScheduleId) -> StoreResult<Option<RunScheduleRecord>> {
        match self.get(RUNSCHED.into(), id.as_str()).await? {
            None => Ok(None),
            Some(item) => decode(&item).map(Some),
        }
    }

    async fn delete_run_schedule(&self, id: &RunScheduleId) -> StoreResult<bool> {
        bump(&self.metrics.dynamodb_writes);
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(PK, s(RUNSCHED))
            .key(SK, s(id.to_string()))
            .return_values(Rv::AllOld)
            .send()
            .await
            .map_err(sdk)?;
        Ok(out.attributes().is_some_and(|a| !a.is_empty()))
    }

    async fn list_run_schedules(
        &self,
        after: Option<&RunScheduleId>,
        limit: usize,
    ) -> StoreResult<Vec<RunScheduleRecord>> {
        self.query_below(
            RUNSCHED.into(),
            None,
            after.map(|a| a.to_string()),
            limit.max(1),
        )
        .await?
        .iter()
        .map(decode)
        .collect()
    }
}
