//! Runs: the run item (listed through gsi1), its idempotency key and number, and the
//! per-account outcomes and progress counters spread over the run's K partitions.

use super::client::{backoff, Limit, SortKey};
use super::codec::{decode, entity, expire_at, get_i64, get_s, get_u64, n, s, Item, VER};
use super::error::{built, is_canceled, sdk};
use super::keys::{self, Index, Key};
use super::sequences::VALUE;
use super::DynamoStore;
use crate::metrics::bump;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use billrun_app::error::StoreError;
use billrun_app::model::listing::format_run_number;
use billrun_app::model::{AccountOutcomeRecord, Created, RunRecord};
use billrun_app::ports::{RunStore, StoreResult};
use billrun_domain::ids::{AccountId, RunId};
use billrun_domain::money::Currency;
use billrun_domain::run::Counters;
use futures_util::future::try_join_all;
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// The most progress items a run has ([`DynamoStore::progress_items`]).
const PROGRESS_ITEMS: u32 = 4;
/// How often creating a run reads the sequence again after losing a race for a number.
const CREATE_RUN_ATTEMPTS: u32 = 10;

impl DynamoStore {
    pub(super) fn run_item(&self, run: &RunRecord) -> StoreResult<Item> {
        let mut item = entity(&keys::run(run.id), run)?;
        item.insert(Index::Gsi1.pk().to_string(), s(keys::RUNS));
        item.insert(
            Index::Gsi1.sk().to_string(),
            s(keys::run_sort(&run.created_at, run.id)),
        );
        item.insert(VER.to_string(), n(run.version));
        expire_at(&mut item, run.expires_at);
        Ok(item)
    }

    /// How many progress items a run has: the first of its K partitions, at most
    /// [`PROGRESS_ITEMS`]. Every completion check reads them all (1 RRU each), so fewer
    /// items cost fewer reads; each takes a run's batches / `PROGRESS_ITEMS` writes a
    /// second (~164 at 6,500 accounts/s), well within a partition's 1,000.
    fn progress_items(&self) -> u32 {
        self.shards.clamp(1, PROGRESS_ITEMS)
    }

    /// Adds (`sign` 1) or removes (`sign` -1) counters to one of the run's progress
    /// items, chosen at random: one plain `UpdateItem` (1 WRU) per batch of accounts, kept
    /// out of the accounts' transactions, where an item that every account of the run
    /// updates would cost each 2 WRU and conflict with concurrent transactions.
    pub(super) async fn bump_progress(
        &self,
        run: RunId,
        c: &Counters,
        sign: i64,
    ) -> StoreResult<()> {
        if *c == Counters::default() {
            return Ok(());
        }
        let k = (uuid::Uuid::new_v4().as_u128() % u128::from(self.progress_items())) as u32;
        let u = self.counter_update(run, k, c, sign)?;
        bump(&self.metrics.dynamodb_writes);
        bump(&self.metrics.progress_writes);
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(u.key().clone()))
            .update_expression(u.update_expression())
            .set_expression_attribute_names(u.expression_attribute_names().cloned())
            .set_expression_attribute_values(u.expression_attribute_values().cloned())
            .send()
            .await
            .map_err(sdk)?;
        Ok(())
    }

    fn counter_update(&self, run: RunId, k: u32, c: &Counters, sign: i64) -> StoreResult<Update> {
        let mut names: Vec<(String, String)> = Vec::new();
        let mut values: Vec<(String, AttributeValue)> = Vec::new();
        let mut adds: Vec<String> = Vec::new();
        let counts = [
            c.billed,
            c.suppressed,
            c.nothing_to_bill,
            c.failed,
            c.invoices,
            c.credit_memos,
            c.suppressed_documents,
        ];
        for (i, (name, v)) in PROGRESS_COUNTS.iter().zip(counts).enumerate() {
            if v == 0 {
                continue;
            }
            names.push((format!("#c{i}"), name.to_string()));
            values.push((
                format!(":c{i}"),
                n(i64::try_from(v).unwrap_or(i64::MAX) * sign),
            ));
            adds.push(format!("#c{i} :c{i}"));
        }
        for (i, a) in c.amounts.iter().enumerate() {
            let sgn = Decimal::from(sign);
            names.push((format!("#i{i}"), format!("inv_{}", a.currency.code())));
            values.push((format!(":i{i}"), n(a.invoiced * sgn)));
            adds.push(format!("#i{i} :i{i}"));
            names.push((format!("#r{i}"), format!("cred_{}", a.currency.code())));
            values.push((format!(":r{i}"), n(a.credited * sgn)));
            adds.push(format!("#r{i} :r{i}"));
        }
        let mut u = Update::builder()
            .table_name(&self.table)
            .set_key(Some(keys::progress(run, k).item()))
            .update_expression(format!("ADD {}", adds.join(", ")));
        for (k, v) in names {
            u = u.expression_attribute_names(k, v);
        }
        for (k, v) in values {
            u = u.expression_attribute_values(k, v);
        }
        built(u.build())
    }

    /// A page of a run's outcomes across its K partitions in account order, strictly
    /// after `after`, at most `limit`, and whether more remain. Each partition is read
    /// from `after`, a share of the page each; only keys up to the smallest last key of
    /// a partition that has more are certainly in order, so the page ends there.
    pub(super) async fn outcome_page(
        &self,
        run: RunId,
        after: Option<&AccountId>,
        limit: usize,
    ) -> StoreResult<(Vec<AccountOutcomeRecord>, bool)> {
        let limit = limit.max(1);
        let per_shard = (limit * 2 / self.shards as usize).clamp(1, limit);
        let after_key = after.map(keys::outcome_sk);
        let shards = (0..self.shards).map(|k| {
            let sk = match &after_key {
                Some(a) => SortKey::After(a, keys::OUTCOMES),
                None => SortKey::Prefix(keys::OUTCOMES),
            };
            self.query(None, keys::shard_pk(run, k), sk, Limit::AtMost(per_shard))
        });
        let mut read: Vec<(String, Item)> = Vec::new();
        let mut frontier: Option<String> = None;
        for items in try_join_all(shards).await? {
            if items.len() == per_shard {
                if let Some(last) = items.last().and_then(|i| get_s(i, keys::SK)) {
                    if frontier.as_deref().is_none_or(|f| last < f) {
                        frontier = Some(last.to_string());
                    }
                }
            }
            for item in items {
                read.push((Key::of(&item).sk, item));
            }
        }
        read.sort_by(|a, b| a.0.cmp(&b.0));
        if let Some(f) = &frontier {
            read.retain(|(key, _)| key <= f);
        }
        let more = frontier.is_some() || read.len() > limit;
        read.truncate(limit);
        let outcomes = read
            .iter()
            .map(|(_, item)| decode(item))
            .collect::<StoreResult<Vec<AccountOutcomeRecord>>>()?;
        Ok((outcomes, more))
    }
}

#[async_trait]
impl RunStore for DynamoStore {
    /// One BatchGetItem (the idempotency key's item, if any, and the run sequence), then
    /// one transaction: the run, the key's item and the sequence's next value, each
    /// conditional (the key and run new, the sequence unchanged since the read). A replay
    /// finds the key's item; a lost race for the key or for a number cancels the
    /// transaction, takes no number, and reads again. Two round trips instead of three
    /// (Get, UpdateItem, transaction), and no number taken by a lost race.
    async fn create_run(&self, mut run: RunRecord) -> StoreResult<Created> {
        let sequence = keys::sequence(keys::RUN_NUMBERS);
        let idempotency = run.idempotency_key.as_ref().map(keys::idempotency);
        for attempt in 0..CREATE_RUN_ATTEMPTS {
            if attempt > 0 {
                backoff(attempt - 1).await;
            }
            let mut read = vec![sequence.clone()];
            read.extend(idempotency.clone());
            let items = self.batch_get(read).await?;
            if let Some(item) = items.iter().find(|i| keys::is_idempotency(i)) {
                let id: RunId = get_s(item, "runId")
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| StoreError::fatal("corrupt idempotency item"))?;
                let existing = self.get_run(id).await?.ok_or_else(|| {
                    StoreError::fatal(format!("idempotency key names missing run {id}"))
                })?;
                return Created::replay(existing, &run);
            }
            let mut writes = Vec::with_capacity(3);
            // A preview keeps its own number and takes none of the sequence.
            if !run.is_preview() {
                let last = items
                    .iter()
                    .find(|i| keys::is_sequence(i))
                    .map(|i| get_u64(i, VALUE));
                let number = last.unwrap_or(0) + 1;
                run.number = format_run_number(number);
                let seq = self.sequence_set(&sequence, number);
                let seq = match last {
                    None => seq.condition_expression("attribute_not_exists(#n)"),
                    Some(old) => seq
                        .condition_expression("#n = :old")
                        .expression_attribute_values(":old", n(old)),
                };
                writes.push(
                    TransactWriteItem::builder()
                        .update(built(seq.build())?)
                        .build(),
                );
            }
            writes.push(self.put_new(self.run_item(&run)?)?);
            if run.is_preview() {
                // A preview's progress items are made here, empty, with its expiry: the
                // batches' `ADD`s keep it, so they expire with the rest of the preview.
                for k in 0..self.progress_items() {
                    let mut item = keys::progress(run.id, k).item();
                    expire_at(&mut item, run.expires_at);
                    writes.push(self.put_new(item)?);
                }
            }
            if let Some(key) = &idempotency {
                let mut item = key.item();
                item.insert("runId".to_string(), s(run.id.to_string()));
                item.insert("createdAt".to_string(), s(run.created_at.to_rfc3339()));
                expire_at(&mut item, run.expires_at);
                writes.push(self.put_new(item)?);
            }
            match self.transact(writes).await {
                Ok(()) => return Ok(Created::New(run)),
                // Lost a race for the idempotency key (read the winner) or for the number.
                Err(e) if is_canceled(&e) => continue,
                Err(e) => return Err(sdk(e)),
            }
        }
        Err(StoreError::transient(
            "could not create the run: runs are being created concurrently",
        ))
    }

    async fn get_run(&self, id: RunId) -> StoreResult<Option<RunRecord>> {
        match self.get(&keys::run(id)).await? {
            None => Ok(None),
            Some(item) => decode(&item).map(Some),
        }
    }

    async fn update_run(&self, run: &RunRecord) -> StoreResult<()> {
        self.put(
            self.run_item(run)?,
            Some("ver = :v"),
            vec![(":v", n(run.version.saturating_sub(1)))],
        )
        .await
    }

    /// Every outcome of the run, read partition by partition (the K at once) and summed
    /// page by page: 1 RRU per 4 KB of outcomes, ~110k for a million accounts.
    async fn counters(&self, id: RunId) -> StoreResult<Counters> {
        let shards = (0..self.shards).map(|k| async move {
            let mut sum = Counters::default();
            self.query_each(
                None,
                keys::shard_pk(id, k),
                SortKey::Prefix(keys::OUTCOMES),
                Limit::All,
                |item| {
                    let o: AccountOutcomeRecord = decode(item)?;
                    sum.merge(&o.counters, 1);
                    Ok(true)
                },
            )
            .await?;
            Ok::<_, StoreError>(sum)
        });
        let mut c = Counters::default();
        for part in try_join_all(shards).await? {
            c.merge(&part, 1);
        }
        c.accounts_selected = self.get_run(id).await?.map_or(0, |r| r.plan.selected);
        Ok(c)
    }

    async fn add_progress(&self, id: RunId, added: &Counters) -> StoreResult<()> {
        self.bump_progress(id, added, 1).await
    }

    async fn progress(&self, id: RunId) -> StoreResult<Counters> {
        // One BatchGetItem reads the run and every progress shard.
        let mut read: Vec<Key> = (0..self.progress_items())
            .map(|k| keys::progress(id, k))
            .collect();
        read.push(keys::run(id));
        let items = self.batch_get(read).await?;
        let mut selected = 0;
        for item in &items {
            if keys::is_run(item) {
                let run: RunRecord = decode(item)?;
                selected = run.plan.selected;
            }
        }
        let mut c = progress_total(items.iter().filter(|i| keys::is_progress(i)))?;
        c.accounts_selected = selected;
        Ok(c)
    }

    async fn outcome(
        &self,
        run: RunId,
        account: &AccountId,
    ) -> StoreResult<Option<AccountOutcomeRecord>> {
        match self.get(&self.outcome_key(run, account)).await? {
            None => Ok(None),
            Some(item) => decode(&item).map(Some),
        }
    }

    async fn outcomes(
        &self,
        run: RunId,
        after: Option<&AccountId>,
        limit: usize,
    ) -> StoreResult<Vec<AccountOutcomeRecord>> {
        Ok(self.outcome_page(run, after, limit).await?.0)
    }
}

/// The counts a run's progress items hold, by stored name.
const PROGRESS_COUNTS: [&str; 7] = [
    "billed",
    "suppressed",
    "nothingToBill",
    "failed",
    "invoices",
    "creditMemos",
    "suppressedDocuments",
];

/// The sum of a run's progress items: the counts by name, the amounts per currency as
/// `inv_<code>` and `cred_<code>`. One item may hold a negative count: a retry's removal
/// of the Failed outcomes is added to any item, not to the ones their reports went to,
/// so only the sum of every item means anything, and it is summed signed.
fn progress_total<'a>(items: impl Iterator<Item = &'a Item>) -> StoreResult<Counters> {
    let mut counts = [0i64; PROGRESS_COUNTS.len()];
    let mut c = Counters::default();
    for item in items {
        for (sum, name) in counts.iter_mut().zip(PROGRESS_COUNTS) {
            *sum = sum.saturating_add(get_i64(item, name)?);
        }
        c.merge(&progress_amounts(item)?, 1);
    }
    let [billed, suppressed, nothing_to_bill, failed, invoices, credit_memos, suppressed_documents] =
        counts.map(|v| u64::try_from(v).unwrap_or(0));
    Ok(Counters {
        billed,
        suppressed,
        nothing_to_bill,
        failed,
        invoices,
        credit_memos,
        suppressed_documents,
        ..c
    })
}

/// The amounts one progress item holds, per currency.
fn progress_amounts(item: &Item) -> StoreResult<Counters> {
    let mut part = Counters::default();
    let mut amounts: BTreeMap<String, (Decimal, Decimal)> = BTreeMap::new();
    for (key, v) in item {
        let (code, invoiced) = if let Some(code) = key.strip_prefix("inv_") {
            (code, true)
        } else if let Some(code) = key.strip_prefix("cred_") {
            (code, false)
        } else {
            continue;
        };
        let value: Decimal = v
            .as_n()
            .ok()
            .and_then(|x| x.parse().ok())
            .ok_or_else(|| StoreError::fatal(format!("corrupt counter {key}")))?;
        let e = amounts.entry(code.to_string()).or_default();
        if invoiced {
            e.0 = value;
        } else {
            e.1 = value;
        }
    }
    for (code, (inv, cred)) in amounts {
        let currency = Currency::parse(&code).map_err(StoreError::fatal)?;
        part.amounts.push(billrun_domain::run::CurrencyAmounts {
            currency,
            invoiced: currency.round(inv),
            credited: currency.round(cred),
        });
    }
    Ok(part)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress_item(counts: &[(&str, &str)]) -> Item {
        counts
            .iter()
            .map(|(k, v)| (k.to_string(), AttributeValue::N(v.to_string())))
            .collect()
    }

    #[test]
    fn progress_items_are_summed_signed_so_a_removal_added_to_another_item_cancels() {
        // Two failures reported to items 0 and 1; the retry's removal of both added to
        // item 2; then one of them failing again, reported to item 2.
        let items = [
            progress_item(&[("billed", "3"), ("failed", "1"), ("inv_USD", "38.50")]),
            progress_item(&[("failed", "1")]),
            progress_item(&[("failed", "-1")]),
        ];
        let c = progress_total(items.iter()).unwrap();
        assert_eq!((c.billed, c.failed, c.accounted_for()), (3, 1, 4));
        assert_eq!(c.amounts[0].invoiced.to_string(), "38.50");
        // A sum below zero (a removal read before the report it removes) reads as none.
        let c = progress_total([progress_item(&[("failed", "-2")])].iter()).unwrap();
        assert_eq!(c.failed, 0);
    }

    #[test]
    fn a_progress_count_that_is_not_an_integer_is_an_error() {
        let items = [progress_item(&[("failed", "1.5")])];
        assert!(matches!(
            progress_total(items.iter()),
            Err(StoreError::Fatal(m)) if m.message().contains("failed")
        ));
    }
}
