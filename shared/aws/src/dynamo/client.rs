//! The requests every port is written with: single and batched reads and writes,
//! transactions, and the one helper that follows a paginated read.

use super::codec::{get_s, s, Item};
use super::error::{built, sdk, TransactError};
use super::keys::{Index, Key, PK, SK};
use super::DynamoStore;
use crate::metrics::bump;
use aws_sdk_dynamodb::types::{AttributeValue, Put, PutRequest, TransactWriteItem, WriteRequest};
use billrun_app::error::StoreError;
use billrun_app::ports::StoreResult;
use futures_util::future::try_join_all;
use std::future::Future;

/// Most actions of one TransactWriteItems.
pub(super) const MAX_TRANSACTION: usize = 100;
/// BatchWriteItem takes 25 puts per request.
const BATCH: usize = 25;
/// BatchGetItem takes 100 keys per request.
const BATCH_GET: usize = 100;
/// Single-item writes of one call in flight at once (numbering, statuses).
pub(super) const IN_FLIGHT: usize = 128;
/// Requests of a batch that DynamoDB leaves partly unprocessed before the call fails.
const UNPROCESSED_ATTEMPTS: u32 = 8;

/// Which sort keys of a partition a query reads.
pub(super) enum SortKey<'a> {
    Any,
    Prefix(&'a str),
    /// Strictly after this key, keeping only keys with the prefix.
    After(&'a str, &'a str),
    /// Strictly below this key.
    Below(&'a str),
    /// Keys from the first to the second (inclusive), highest first.
    DownFrom(&'a str, &'a str),
}

/// How many items a query reads.
#[derive(Clone, Copy)]
pub(super) enum Limit {
    /// Every item, in pages as large as DynamoDB returns.
    All,
    /// At most this many: each request asks for those still missing (at most 1,000).
    AtMost(usize),
    /// Until the caller stops, this many a request: a caller that filters what it reads
    /// pays for a page at a time, not for a whole partition.
    PagesOf(usize),
}

/// Follows a paginated read (Query or Scan): `send` makes the request that starts at
/// the given key (none: the first) and answers its items and LastEvaluatedKey; `page`
/// takes each page's items and answers whether to read on. Both see `state`, which
/// the requests may depend on (how many items are still wanted).
pub(crate) async fn follow_pages<S, E, Fut>(
    state: &mut S,
    mut send: impl FnMut(&S, Option<Item>) -> Fut,
    mut page: impl FnMut(&mut S, Vec<Item>) -> Result<bool, E>,
) -> Result<(), E>
where
    Fut: Future<Output = Result<(Vec<Item>, Option<Item>), E>>,
{
    let mut start: Option<Item> = None;
    loop {
        let (items, last) = send(state, start.take()).await?;
        if !page(state, items)? {
            return Ok(());
        }
        match last {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => return Ok(()),
        }
    }
}

impl DynamoStore {
    pub(super) async fn get(&self, key: &Key) -> StoreResult<Option<Item>> {
        bump(&self.metrics.dynamodb_reads);
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key.item()))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk)?;
        Ok(out.item().cloned())
    }

    /// Reads items by key with BatchGetItem (consistent reads, 100 keys a request),
    /// retrying unprocessed keys.
    pub(super) async fn batch_get(&self, keys: Vec<Key>) -> StoreResult<Vec<Item>> {
        let chunks = keys
            .chunks(BATCH_GET)
            .map(|chunk| self.batch_get_chunk(chunk));
        Ok(try_join_all(chunks).await?.into_iter().flatten().collect())
    }

    async fn batch_get_chunk(&self, chunk: &[Key]) -> StoreResult<Vec<Item>> {
        let mut out = Vec::with_capacity(chunk.len());
        let mut ka = aws_sdk_dynamodb::types::KeysAndAttributes::builder().consistent_read(true);
        for key in chunk {
            ka = ka.keys(key.item());
        }
        let mut pending = Some(built(ka.build())?);
        let mut attempt = 0u32;
        while let Some(request) = pending.take() {
            bump(&self.metrics.dynamodb_reads);
            let resp = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(sdk)?;
            if let Some(items) = resp.responses().and_then(|r| r.get(&self.table)) {
                out.extend(items.iter().cloned());
            }
            pending = resp
                .unprocessed_keys()
                .and_then(|u| u.get(&self.table))
                .filter(|k| !k.keys().is_empty())
                .cloned();
            if pending.is_some() {
                retry_unprocessed(&mut attempt, "keys").await?;
            }
        }
        Ok(out)
    }

    /// Queries one partition (of the table or an index), following pages until `limit`
    /// items (or all) were read.
    pub(super) async fn query(
        &self,
        index: Option<Index>,
        pk: String,
        sk: SortKey<'_>,
        limit: Limit,
    ) -> StoreResult<Vec<Item>> {
        let mut out = Vec::new();
        self.query_each(index, pk, sk, limit, |item| {
            out.push(item.clone());
            Ok(true)
        })
        .await?;
        Ok(out)
    }

    /// [`Self::query`], handing each item to `each` as its page arrives instead of
    /// collecting them (a run's outcomes do not fit a Lambda's memory), until `each`
    /// answers `false`.
    pub(super) async fn query_each(
        &self,
        index: Option<Index>,
        pk: String,
        sk: SortKey<'_>,
        limit: Limit,
        mut each: impl FnMut(&Item) -> StoreResult<bool>,
    ) -> StoreResult<()> {
        let (pk_attr, sk_attr) = match index {
            None => (PK, SK),
            Some(i) => (i.pk(), i.sk()),
        };
        let full = |seen: usize| matches!(limit, Limit::AtMost(l) if seen >= l);
        let send = |seen: &usize, start: Option<Item>| {
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(index.map(|i| i.name().to_string()))
                .expression_attribute_names("#pk", pk_attr)
                .expression_attribute_values(":pk", s(pk.clone()))
                .set_exclusive_start_key(start);
            q = match &sk {
                SortKey::Any => q.key_condition_expression("#pk = :pk"),
                SortKey::Prefix(p) => q
                    .key_condition_expression("#pk = :pk AND begins_with(#sk, :sk)")
                    .expression_attribute_names("#sk", sk_attr)
                    .expression_attribute_values(":sk", s(*p)),
                SortKey::After(a, _) => q
                    .key_condition_expression("#pk = :pk AND #sk > :sk")
                    .expression_attribute_names("#sk", sk_attr)
                    .expression_attribute_values(":sk", s(*a)),
                SortKey::Below(b) => q
                    .key_condition_expression("#pk = :pk AND #sk < :b")
                    .expression_attribute_names("#sk", sk_attr)
                    .expression_attribute_values(":b", s(*b)),
                SortKey::DownFrom(lo, hi) => q
                    .key_condition_expression("#pk = :pk AND #sk BETWEEN :lo AND :hi")
                    .expression_attribute_names("#sk", sk_attr)
                    .expression_attribute_values(":lo", s(*lo))
                    .expression_attribute_values(":hi", s(*hi))
                    .scan_index_forward(false),
            };
            if index.is_none() {
                q = q.consistent_read(true);
            }
            q = match limit {
                Limit::All => q,
                Limit::AtMost(l) => q.limit(l.saturating_sub(*seen).clamp(1, 1000) as i32),
                Limit::PagesOf(p) => q.limit(p.clamp(1, 1000) as i32),
            };
            bump(&self.metrics.dynamodb_queries);
            async move {
                let page = q.send().await.map_err(sdk)?;
                Ok((page.items.unwrap_or_default(), page.last_evaluated_key))
            }
        };
        let page = |seen: &mut usize, items: Vec<Item>| {
            for item in &items {
                if let SortKey::After(_, prefix) = &sk {
                    if !get_s(item, sk_attr).is_some_and(|v| v.starts_with(prefix)) {
                        continue;
                    }
                }
                if full(*seen) {
                    return Ok(false);
                }
                *seen += 1;
                if !each(item)? {
                    return Ok(false);
                }
            }
            Ok(!full(*seen))
        };
        follow_pages(&mut 0usize, send, page).await
    }

    pub(super) async fn put(
        &self,
        item: Item,
        condition: Option<&str>,
        values: Vec<(&str, AttributeValue)>,
    ) -> StoreResult<()> {
        bump(&self.metrics.dynamodb_writes);
        let mut p = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_string));
        for (k, v) in values {
            p = p.expression_attribute_values(k, v);
        }
        p.send().await.map_err(sdk)?;
        Ok(())
    }

    /// Puts `item` as version `version` of its record (the version in `ver`): a new
    /// record at version 1 (or 0), else only over version `version - 1`;
    /// `StoreError::Conflict` when another write came first.
    pub(super) async fn put_version(&self, mut item: Item, version: u64) -> StoreResult<()> {
        item.insert(super::codec::VER.to_string(), super::codec::n(version));
        if version <= 1 {
            self.put(item, Some("attribute_not_exists(pk)"), vec![])
                .await
        } else {
            self.put(
                item,
                Some("ver = :v"),
                vec![(":v", super::codec::n(version - 1))],
            )
            .await
        }
    }

    /// [`DynamoStore::put_version`]'s put as a transaction action.
    pub(super) fn put_version_tx(
        &self,
        mut item: Item,
        version: u64,
    ) -> StoreResult<TransactWriteItem> {
        item.insert(super::codec::VER.to_string(), super::codec::n(version));
        let put = Put::builder().table_name(&self.table).set_item(Some(item));
        let put = if version <= 1 {
            put.condition_expression("attribute_not_exists(pk)")
        } else {
            put.condition_expression("ver = :v")
                .expression_attribute_values(":v", super::codec::n(version - 1))
        };
        Ok(TransactWriteItem::builder()
            .put(built(put.build())?)
            .build())
    }

    /// The same conditional put as the transaction action `put`, on its own.
    pub(super) async fn put_alone(&self, put: &Put) -> StoreResult<()> {
        bump(&self.metrics.dynamodb_writes);
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(put.item().clone()))
            .set_condition_expression(put.condition_expression().map(str::to_string))
            .set_expression_attribute_values(put.expression_attribute_values().cloned())
            .send()
            .await
            .map_err(sdk)?;
        Ok(())
    }

    /// A DeleteItem of `key`, to send as it is or with a condition.
    pub(super) fn delete(
        &self,
        key: &Key,
    ) -> aws_sdk_dynamodb::operation::delete_item::builders::DeleteItemFluentBuilder {
        bump(&self.metrics.dynamodb_writes);
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key.item()))
    }

    /// Writes items in batches of 25, retrying unprocessed ones.
    pub(super) async fn batch_put(&self, items: Vec<Item>) -> StoreResult<()> {
        for chunk in items.chunks(BATCH) {
            let mut pending: Vec<WriteRequest> = Vec::with_capacity(chunk.len());
            for item in chunk {
                let put = built(PutRequest::builder().set_item(Some(item.clone())).build())?;
                pending.push(WriteRequest::builder().put_request(put).build());
            }
            let mut attempt = 0u32;
            while !pending.is_empty() {
                bump(&self.metrics.dynamodb_batch_writes);
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, pending)
                    .send()
                    .await
                    .map_err(sdk)?;
                pending = out
                    .unprocessed_items()
                    .and_then(|m| m.get(&self.table))
                    .cloned()
                    .unwrap_or_default();
                if !pending.is_empty() {
                    retry_unprocessed(&mut attempt, "batch items").await?;
                }
            }
        }
        Ok(())
    }

    /// One TransactWriteItems, recording the IAM action each of its actions needs (the
    /// call itself is authorized per action).
    pub(super) async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<(), TransactError> {
        bump(&self.metrics.dynamodb_transactions);
        for item in &items {
            let action = if item.put().is_some() {
                "dynamodb:PutItem"
            } else if item.update().is_some() {
                "dynamodb:UpdateItem"
            } else if item.delete().is_some() {
                "dynamodb:DeleteItem"
            } else {
                "dynamodb:ConditionCheckItem"
            };
            self.metrics.record(action.to_string());
        }
        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map(|_| ())
    }

    /// A Put of a new item: `attribute_not_exists(pk)`, so it is written once.
    pub(super) fn put_new(&self, item: Item) -> StoreResult<TransactWriteItem> {
        self.put_tx(item, Some("attribute_not_exists(pk)"))
    }

    /// A Put action of a transaction, with an optional condition.
    pub(super) fn put_tx(
        &self,
        item: Item,
        condition: Option<&str>,
    ) -> StoreResult<TransactWriteItem> {
        Ok(TransactWriteItem::builder()
            .put(built(
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .set_condition_expression(condition.map(str::to_string))
                    .build(),
            )?)
            .build())
    }

    /// Independent single-item writes, [`IN_FLIGHT`] at a time (a new one starts as soon
    /// as one ends); the first error ends the call (the writes are idempotent, so the
    /// caller's retry redoes the rest).
    pub(super) async fn in_flight<F>(
        &self,
        what: &str,
        requests: impl Iterator<Item = F>,
    ) -> StoreResult<()>
    where
        F: Future<Output = StoreResult<()>> + Send + 'static,
    {
        let mut set = tokio::task::JoinSet::new();
        for req in requests {
            if set.len() >= IN_FLIGHT {
                if let Some(r) = set.join_next().await {
                    r.map_err(|e| StoreError::transient(format!("{what} task: {e}")))??;
                }
            }
            bump(&self.metrics.dynamodb_writes);
            set.spawn(req);
        }
        while let Some(r) = set.join_next().await {
            r.map_err(|e| StoreError::transient(format!("{what} task: {e}")))??;
        }
        Ok(())
    }
}

/// Waits before sending what a batch request left unprocessed (DynamoDB throttled part
/// of it); after [`UNPROCESSED_ATTEMPTS`] the call fails, to be retried whole.
async fn retry_unprocessed(attempt: &mut u32, what: &str) -> StoreResult<()> {
    *attempt += 1;
    if *attempt > UNPROCESSED_ATTEMPTS {
        return Err(StoreError::transient(format!(
            "unprocessed {what} after {UNPROCESSED_ATTEMPTS} attempts"
        )));
    }
    backoff(*attempt).await;
    Ok(())
}

/// Sleeps before retry `attempt`: exponential, with jitter.
pub(super) async fn backoff(attempt: u32) {
    let base = 10u64 << attempt.min(8);
    // Jitter from the clock's low bits: enough to spread competing retries.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()));
    let jitter = nanos % (base + 1);
    tokio::time::sleep(std::time::Duration::from_millis(base / 2 + jitter)).await;
}
