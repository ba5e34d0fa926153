//! The DynamoDB single-table adapter of every storage port.
//!
//! | item | pk | sk | other keys |
//! | --- | --- | --- | --- |
//! | run | `RUN#<id>` | `RUN` | gsi1: `RUNS` / `<createdAt>#<id>` |
//! | idempotency key | `IDEM#<key>` | `IDEM` | |
//! | sequence | `SEQ#<RUN/INV/CM>` | `SEQ` | |
//! | run progress (added per batch) | `RUN#<id>#<k>` | `COUNT` | |
//! | run account outcome | `RUN#<id>#<k>` | `ACCT#<account>` | |
//! | account | `ACCT#<id>` | `ACCT` | gsi2: `ACCOUNTS` / `<id>` |
//! | subscription, usage, adjustment, invoice schedule | `ACCT#<id>` | `SUB#`, `USAGE#`, `ADJ#`, `SCHED#` + id | |
//! | billing state (watermarks, billed marks) | `ACCT#<id>` | `STATE` | |
//! | document | `DOC#<id>` | `DOC` | none: a run's documents are found through its outcomes |
//!
//! Catalog, scheduling and document generation items are listed in their modules.
//!
//! Entities are stored as JSON in `data`, mapped in one function pair per entity; the
//! attributes that conditions, counters and indexes need are top-level. `k` is a stable
//! hash of the account id modulo `RUN_SHARDS`, so no per-run partition takes more than
//! its share of a million accounts' writes.

use crate::config::AwsConfig;
use crate::metrics::{bump, Metrics};
use async_trait::async_trait;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, PutRequest, TransactWriteItem, Update, WriteRequest,
};
use billrun_app::error::StoreError;
use billrun_app::model::*;
use billrun_app::ports::*;
use billrun_domain::book::Book;
use billrun_domain::document::{DocumentKind, DocumentStatus};
use billrun_domain::ids::{AccountId, DocumentId, RunId};
use billrun_domain::money::Currency;
use billrun_domain::rating::AccountBook;
use billrun_domain::request::Filters;
use billrun_domain::run::{Counters, Outcome};
use billrun_domain::state::AccountState;
use futures_util::future::try_join_all;
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

mod catalog;
mod docgen;
mod ledger;
mod scheduling;

type Item = HashMap<String, AttributeValue>;

pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const GSI1: &str = "gsi1";
pub const GSI1PK: &str = "gsi1pk";
pub const GSI1SK: &str = "gsi1sk";
pub const GSI2: &str = "gsi2";
pub const GSI2PK: &str = "gsi2pk";
pub const GSI2SK: &str = "gsi2sk";
const DATA: &str = "data";
const VER: &str = "ver";
const NUMBER: &str = "num";
/// The most progress items a run has ([`DynamoStore::progress_items`]).
const PROGRESS_ITEMS: u32 = 4;
const STATUS: &str = "st";
const SEQ_VALUE: &str = "n";
/// How often creating a run reads the sequence again after losing a race for a number.
const CREATE_RUN_ATTEMPTS: u32 = 10;
/// Most actions of one TransactWriteItems.
const MAX_TRANSACTION: usize = 100;
/// BatchWriteItem takes 25 puts per request.
const BATCH: usize = 25;
/// Single-item writes of one call in flight at once (numbering, statuses).
const IN_FLIGHT: usize = 128;

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn get_s<'a>(item: &'a Item, k: &str) -> Option<&'a str> {
    item.get(k).and_then(|v| v.as_s().ok()).map(String::as_str)
}

fn get_u64(item: &Item, k: &str) -> u64 {
    item.get(k)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// `data` JSON over this many bytes is stored deflated, as a binary attribute: write
/// units are charged per started KB (2 per KB in a transaction, again for each index
/// entry), and a document's or outcome's JSON (~1–2 KB, repetitive field names) deflates
/// to well under a KB. Small items stay readable JSON.
const DEFLATE_OVER: usize = 400;
/// The most a stored `data` may inflate to (an item is at most 400 KB deflated).
const INFLATE_LIMIT: usize = 64 << 20;

fn encode<T: Serialize>(v: &T) -> StoreResult<AttributeValue> {
    let json =
        serde_json::to_vec(v).map_err(|e| StoreError::Fatal(format!("cannot encode item: {e}")))?;
    if json.len() <= DEFLATE_OVER {
        return String::from_utf8(json)
            .map(AttributeValue::S)
            .map_err(|e| StoreError::Fatal(format!("cannot encode item: {e}")));
    }
    Ok(AttributeValue::B(aws_smithy_types::Blob::new(
        miniz_oxide::deflate::compress_to_vec(&json, 9),
    )))
}

fn decode<T: DeserializeOwned>(item: &Item) -> StoreResult<T> {
    let corrupt = |e: String| StoreError::Fatal(format!("corrupt item: {e}"));
    match item.get(DATA) {
        Some(AttributeValue::S(raw)) => {
            serde_json::from_str(raw).map_err(|e| corrupt(e.to_string()))
        }
        Some(AttributeValue::B(raw)) => {
            let json =
                miniz_oxide::inflate::decompress_to_vec_with_limit(raw.as_ref(), INFLATE_LIMIT)
                    .map_err(|e| corrupt(format!("data does not inflate: {e}")))?;
            serde_json::from_slice(&json).map_err(|e| corrupt(e.to_string()))
        }
        _ => Err(StoreError::Fatal("item has no data".into())),
    }
}

/// Maps an SDK error: throttling, 5xx, timeouts and transaction conflicts are worth
/// retrying (the SDK already retried them with jittered backoff); a failed condition is
/// a conflict; a missing table or a bad request is not worth retrying.
fn sdk<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    e: SdkError<E, R>,
) -> StoreError {
    let code = e.code().unwrap_or("").to_string();
    let text = format!("{}", DisplayErrorContext(&e));
    match code.as_str() {
        "ConditionalCheckFailedException" => StoreError::Conflict(text),
        "ResourceNotFoundException"
        | "ValidationException"
        | "AccessDeniedException"
        | "UnrecognizedClientException"
        | "SerializationException" => StoreError::Fatal(text),
        _ => StoreError::Transient(text),
    }
}

fn built<T, E: std::fmt::Display>(r: Result<T, E>) -> StoreResult<T> {
    r.map_err(|e| StoreError::Fatal(format!("request build: {e}")))
}

/// FNV-1a: a stable hash (the same in every process and release).
fn stable_hash(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn run_pk(run: RunId) -> String {
    format!("RUN#{run}")
}

fn acct_pk(id: &AccountId) -> String {
    format!("ACCT#{id}")
}

fn doc_pk(id: DocumentId) -> String {
    format!("DOC#{id}")
}

fn doc_sort(round: u32, account: &AccountId, group: &str) -> String {
    // \u{1} sorts below every character an id may hold, so the byte order of this key
    // is the (round, accountId, groupKey) numbering order.
    format!("{round:06}\u{1}{account}\u{1}{group}")
}

pub struct DynamoStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
    shards: u32,
    metrics: Arc<Metrics>,
    /// Fault injection for tests: the account commit stops (as a crash would) before
    /// writing its chunk with this index; `usize::MAX`: never.
    crash_before_chunk: std::sync::atomic::AtomicUsize,
}

enum SortKey<'a> {
    Any,
    Prefix(&'a str),
    /// Strictly after this key, keeping only keys with the prefix.
    After(&'a str, &'a str),
    /// Keys from the first to the second (inclusive), highest first.
    DownFrom(&'a str, &'a str),
}

impl DynamoStore {
    pub fn new(
        client: aws_sdk_dynamodb::Client,
        config: &AwsConfig,
        metrics: Arc<Metrics>,
    ) -> Self {
        DynamoStore {
            client,
            table: config.table.clone(),
            shards: config.shards.max(1),
            metrics,
            crash_before_chunk: std::sync::atomic::AtomicUsize::new(usize::MAX),
        }
    }

    fn shard(&self, account: &AccountId) -> u32 {
        (stable_hash(account.as_str()) % u64::from(self.shards)) as u32
    }

    fn shard_pk(&self, run: RunId, k: u32) -> String {
        format!("RUN#{run}#{k}")
    }

    async fn get(&self, pk: String, sk: &str) -> StoreResult<Option<Item>> {
        bump(&self.metrics.dynamodb_reads);
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(pk))
            .key(SK, s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk)?;
        Ok(out.item().cloned())
    }

    /// Reads items by key with BatchGetItem (consistent reads, 100 keys a request),
    /// retrying unprocessed keys.
    async fn batch_get(&self, keys: Vec<(String, &str)>) -> StoreResult<Vec<Item>> {
        let chunks = keys.chunks(100).map(|chunk| self.batch_get_chunk(chunk));
        Ok(try_join_all(chunks).await?.into_iter().flatten().collect())
    }

    async fn batch_get_chunk(&self, chunk: &[(String, &str)]) -> StoreResult<Vec<Item>> {
        let mut out = Vec::with_capacity(chunk.len());
        let mut ka = aws_sdk_dynamodb::types::KeysAndAttributes::builder().consistent_read(true);
        for (pk, sk) in chunk {
            ka = ka.keys(HashMap::from([
                (PK.to_string(), s(pk.clone())),
                (SK.to_string(), s(*sk)),
            ]));
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
                attempt += 1;
                if attempt > 8 {
                    return Err(StoreError::Transient(
                        "unprocessed keys after 8 attempts".into(),
                    ));
                }
                backoff(attempt).await;
            }
        }
        Ok(out)
    }

    /// Queries one partition (of the table or an index), following pages until `limit`
    /// items (or all) were read.
    async fn query(
        &self,
        index: Option<&str>,
        pk: String,
        sk: SortKey<'_>,
        limit: Option<usize>,
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
    async fn query_each(
        &self,
        index: Option<&str>,
        pk: String,
        sk: SortKey<'_>,
        limit: Option<usize>,
        mut each: impl FnMut(&Item) -> StoreResult<bool>,
    ) -> StoreResult<()> {
        let (pk_attr, sk_attr) = match index {
            None => (PK, SK),
            Some(GSI1) => (GSI1PK, GSI1SK),
            Some(_) => (GSI2PK, GSI2SK),
        };
        let mut seen = 0usize;
        let mut start: Option<Item> = None;
        loop {
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(index.map(str::to_string))
                .expression_attribute_names("#pk", pk_attr)
                .expression_attribute_values(":pk", s(pk.clone()))
                .set_exclusive_start_key(start.take());
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
            if let Some(l) = limit {
                q = q.limit(l.saturating_sub(seen).clamp(1, 1000) as i32);
            }
            bump(&self.metrics.dynamodb_queries);
            let page = q.send().await.map_err(sdk)?;
            for item in page.items() {
                if let SortKey::After(_, prefix) = &sk {
                    if !get_s(item, sk_attr).is_some_and(|v| v.starts_with(prefix)) {
                        continue;
                    }
                }
                if limit.is_some_and(|l| seen >= l) {
                    return Ok(());
                }
                seen += 1;
                if !each(item)? {
                    return Ok(());
                }
            }
            if limit.is_some_and(|l| seen >= l) {
                return Ok(());
            }
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(()),
            }
        }
    }

    async fn put(
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

    /// Writes items in batches of 25, retrying unprocessed ones.
    async fn batch_put(&self, items: Vec<Item>) -> StoreResult<()> {
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
                    attempt += 1;
                    if attempt > 8 {
                        return Err(StoreError::Transient(
                            "unprocessed batch items after 8 attempts".into(),
                        ));
                    }
                    backoff(attempt).await;
                }
            }
        }
        Ok(())
    }

    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<(), SdkError<TransactWriteItemsError, aws_sdk_dynamodb::config::http::HttpResponse>>
    {
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
    pub(crate) fn put_new(&self, item: Item) -> StoreResult<TransactWriteItem> {
        self.put_tx(item, Some("attribute_not_exists(pk)"))
    }

    /// A Put action of a transaction, with an optional condition.
    pub(crate) fn put_tx(
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

    fn run_item(&self, run: &RunRecord) -> StoreResult<Item> {
        Ok(HashMap::from([
            (PK.to_string(), s(run_pk(run.id))),
            (SK.to_string(), s("RUN")),
            (GSI1PK.to_string(), s("RUNS")),
            (
                GSI1SK.to_string(),
                s(catalog::run_sort(&run.created_at, run.id)),
            ),
            (VER.to_string(), n(run.version)),
            (DATA.to_string(), encode(run)?),
        ]))
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
    async fn bump_progress(&self, run: RunId, c: &Counters, sign: i64) -> StoreResult<()> {
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
        let fields = [
            ("billed", c.billed),
            ("suppressed", c.suppressed),
            ("nothingToBill", c.nothing_to_bill),
            ("failed", c.failed),
            ("invoices", c.invoices),
            ("creditMemos", c.credit_memos),
            ("suppressedDocuments", c.suppressed_documents),
        ];
        for (i, (name, v)) in fields.iter().enumerate() {
            if *v == 0 {
                continue;
            }
            names.push((format!("#c{i}"), name.to_string()));
            values.push((format!(":c{i}"), n(*v as i64 * sign)));
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
            .key(PK, s(self.shard_pk(run, k)))
            .key(SK, s("COUNT"))
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
    async fn outcome_page(
        &self,
        run: RunId,
        after: Option<&AccountId>,
        limit: usize,
    ) -> StoreResult<(Vec<AccountOutcomeRecord>, bool)> {
        let limit = limit.max(1);
        let per_shard = (limit * 2 / self.shards as usize).clamp(1, limit);
        let after_key = after.map(|a| format!("ACCT#{a}"));
        let shards = (0..self.shards).map(|k| {
            let sk = match &after_key {
                Some(a) => SortKey::After(a, "ACCT#"),
                None => SortKey::Prefix("ACCT#"),
            };
            self.query(None, self.shard_pk(run, k), sk, Some(per_shard))
        });
        let mut read: Vec<(String, Item)> = Vec::new();
        let mut frontier: Option<String> = None;
        for items in try_join_all(shards).await? {
            if items.len() == per_shard {
                if let Some(last) = items.last().and_then(|i| get_s(i, SK)) {
                    if frontier.as_deref().is_none_or(|f| last < f) {
                        frontier = Some(last.to_string());
                    }
                }
            }
            for item in items {
                read.push((get_s(&item, SK).unwrap_or_default().to_string(), item));
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

    /// The documents the outcomes list, with their numbering keys, in key order; only
    /// those after `after`.
    async fn documents_of(
        &self,
        outcomes: &[&AccountOutcomeRecord],
        after: Option<&str>,
    ) -> StoreResult<Vec<(String, StoredDocument)>> {
        let pks: Vec<String> = outcomes
            .iter()
            .flat_map(|o| o.document_ids.iter().map(|id| doc_pk(*id)))
            .collect();
        let expected = pks.len();
        let items = self
            .batch_get(pks.into_iter().map(|pk| (pk, "DOC")).collect())
            .await?;
        if items.len() != expected {
            return Err(StoreError::Fatal(format!(
                "outcomes list {expected} documents, {} found",
                items.len()
            )));
        }
        let mut out = Vec::with_capacity(items.len());
        for item in &items {
            let d = stored_document(item)?;
            let key = doc_sort(d.round, &d.document.account_id, &d.document.group_key);
            if after.is_none_or(|a| key.as_str() > a) {
                out.push((key, d));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        let mut docs: Vec<&mut StoredDocument> = out.iter_mut().map(|(_, d)| d).collect();
        self.resolve_numbers(&mut docs).await?;
        Ok(out)
    }

    /// A number page's item key: the round, the first account of the page's documents
    /// in one outcome partition and the page's first number there (two pages can start
    /// at one account: a page may end within an account). `\u{1}` sorts below every
    /// character an id holds, so keys sort by (round, account, number).
    fn number_page_sk(round: u32, first: &AccountId, number: &str) -> String {
        format!("{}{number}", Self::number_pages_from(round, first))
    }

    /// The lowest key of the number pages of `round` that start at `account`.
    fn number_pages_from(round: u32, account: &AccountId) -> String {
        format!("NUM#{round:05}#{account}\u{1}")
    }

    /// Fills in the numbers of documents that have none on their item from the number
    /// pages finalization wrote ([`DocumentStore::assign_numbers`]): per outcome partition
    /// and round, the pages from the one holding the last account down to the one holding
    /// the first (one Query, highest key first). Documents of a round not numbered yet
    /// stay without.
    async fn resolve_numbers(&self, docs: &mut [&mut StoredDocument]) -> StoreResult<()> {
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
                let lo = format!("NUM#{round:05}#");
                // Every page starting at `last` (and none starting after it) is below `hi`.
                let hi = format!("NUM#{round:05}#{last}\u{2}");
                let from = Self::number_pages_from(*round, first);
                let mut numbers: Vec<(DocumentId, String)> = Vec::new();
                let pages = SortKey::DownFrom(&lo, &hi);
                self.query_each(None, self.shard_pk(*run, *k), pages, None, |item| {
                    let page: Vec<(DocumentId, String)> = decode(item)?;
                    numbers.extend(page);
                    // A page starts at its first account; the page before may hold that
                    // account's first documents too (a page can end within an account).
                    Ok(get_s(item, SK).is_some_and(|sk| sk >= from.as_str()))
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
    /// [`doc_sort`] keys: strictly after `after`, of one round or of every round of the
    /// run, at most `limit`, and whether more remain. Documents are not indexed: they are
    /// found through the outcomes that list them (account order, K partitions merged)
    /// and read by key, which saves each document its index entry's write units twice
    /// (when written and when numbered) for reads at a fraction of the price.
    async fn document_page(
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
        let cursor = after.map(parse_doc_sort).transpose()?;
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
    pub(crate) async fn all_run_documents(&self, run: RunId) -> StoreResult<Vec<StoredDocument>> {
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

/// The (round, account id) of a [`doc_sort`] key.
fn parse_doc_sort(key: &str) -> StoreResult<(u32, AccountId)> {
    let bad = || StoreError::Fatal(format!("bad document cursor '{key}'"));
    let mut parts = key.split('\u{1}');
    let round = parts.next().and_then(|r| r.parse().ok()).ok_or_else(bad)?;
    let account = parts
        .next()
        .and_then(|a| AccountId::parse(a).ok())
        .ok_or_else(bad)?;
    Ok((round, account))
}

async fn backoff(attempt: u32) {
    let base = 10u64 << attempt.min(8);
    // Jitter from the clock's low bits: enough to spread competing retries.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()));
    let jitter = nanos % (base + 1);
    tokio::time::sleep(std::time::Duration::from_millis(base / 2 + jitter)).await;
}

fn stored_document(item: &Item) -> StoreResult<StoredDocument> {
    let mut d: StoredDocument = decode(item)?;
    if let Some(num) = get_s(item, NUMBER) {
        d.document.number = Some(num.to_string());
    }
    if let Some(st) = get_s(item, STATUS) {
        d.document.status = serde_json::from_value(serde_json::Value::String(st.to_string()))
            .map_err(|e| StoreError::Fatal(format!("corrupt document status: {e}")))?;
    }
    Ok(d)
}

fn status_name(st: DocumentStatus) -> &'static str {
    match st {
        DocumentStatus::Draft => "Draft",
        DocumentStatus::Approved => "Approved",
        DocumentStatus::Posted => "Posted",
        DocumentStatus::Canceled => "Canceled",
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
        const SEQ_PK: &str = "SEQ#RUN";
        let idem_pk = run.idempotency_key.as_ref().map(|k| format!("IDEM#{k}"));
        for attempt in 0..CREATE_RUN_ATTEMPTS {
            if attempt > 0 {
                backoff(attempt - 1).await;
            }
            let mut keys = vec![(SEQ_PK.to_string(), "SEQ")];
            if let Some(pk) = &idem_pk {
                keys.push((pk.clone(), "IDEM"));
            }
            let items = self.batch_get(keys).await?;
            if let Some(item) = items.iter().find(|i| get_s(i, SK) == Some("IDEM")) {
                let id: RunId = get_s(item, "runId")
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| StoreError::Fatal("corrupt idempotency item".into()))?;
                let existing = self.get_run(id).await?.ok_or_else(|| {
                    StoreError::Fatal(format!("idempotency key names missing run {id}"))
                })?;
                return if existing.request == run.request {
                    Ok(Created::Replayed(existing))
                } else {
                    Err(StoreError::Conflict(
                        "idempotency key reused with a different request".into(),
                    ))
                };
            }
            let last = items
                .iter()
                .find(|i| get_s(i, SK) == Some("SEQ"))
                .map(|i| get_u64(i, SEQ_VALUE));
            let number = last.unwrap_or(0) + 1;
            run.number = format!("BR-{number:08}");
            let seq = Update::builder()
                .table_name(&self.table)
                .key(PK, s(SEQ_PK))
                .key(SK, s("SEQ"))
                .update_expression("SET #n = :new")
                .expression_attribute_names("#n", SEQ_VALUE)
                .expression_attribute_values(":new", n(number));
            let seq = match last {
                None => seq.condition_expression("attribute_not_exists(#n)"),
                Some(old) => seq
                    .condition_expression("#n = :old")
                    .expression_attribute_values(":old", n(old)),
            };
            let mut items = vec![
                self.put_new(self.run_item(&run)?)?,
                TransactWriteItem::builder()
                    .update(built(seq.build())?)
                    .build(),
            ];
            if let Some(pk) = &idem_pk {
                let item = HashMap::from([
                    (PK.to_string(), s(pk.clone())),
                    (SK.to_string(), s("IDEM")),
                    ("runId".to_string(), s(run.id.to_string())),
                    ("createdAt".to_string(), s(run.created_at.to_rfc3339())),
                ]);
                items.push(self.put_new(item)?);
            }
            match self.transact(items).await {
                Ok(()) => return Ok(Created::New(run)),
                // Lost a race for the idempotency key (read the winner) or for the number.
                Err(SdkError::ServiceError(e))
                    if matches!(
                        e.err(),
                        TransactWriteItemsError::TransactionCanceledException(_)
                    ) =>
                {
                    continue
                }
                Err(e) => return Err(sdk(e)),
            }
        }
        Err(StoreError::Transient(
            "could not create the run: runs are being created concurrently".into(),
        ))
    }

    async fn get_run(&self, id: RunId) -> StoreResult<Option<RunRecord>> {
        match self.get(run_pk(id), "RUN").await? {
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
                self.shard_pk(id, k),
                SortKey::Prefix("ACCT#"),
                None,
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
        let mut keys: Vec<(String, &str)> = (0..self.progress_items())
            .map(|k| (self.shard_pk(id, k), "COUNT"))
            .collect();
        keys.push((run_pk(id), "RUN"));
        let items = self.batch_get(keys).await?;
        let mut c = Counters::default();
        let mut selected = 0;
        for item in &items {
            if get_s(item, SK) == Some("RUN") {
                let run: RunRecord = decode(item)?;
                selected = run.plan.selected;
            }
        }
        for item in items.iter().filter(|i| get_s(i, SK) == Some("COUNT")) {
            let mut part = Counters {
                billed: get_u64(item, "billed"),
                suppressed: get_u64(item, "suppressed"),
                nothing_to_bill: get_u64(item, "nothingToBill"),
                failed: get_u64(item, "failed"),
                invoices: get_u64(item, "invoices"),
                credit_memos: get_u64(item, "creditMemos"),
                suppressed_documents: get_u64(item, "suppressedDocuments"),
                ..Counters::default()
            };
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
                    .ok_or_else(|| StoreError::Fatal(format!("corrupt counter {key}")))?;
                let e = amounts.entry(code.to_string()).or_default();
                if invoiced {
                    e.0 = value;
                } else {
                    e.1 = value;
                }
            }
            for (code, (inv, cred)) in amounts {
                let currency = Currency::parse(&code).map_err(StoreError::Fatal)?;
                part.amounts.push(billrun_domain::run::CurrencyAmounts {
                    currency,
                    invoiced: currency.round(inv),
                    credited: currency.round(cred),
                });
            }
            c.merge(&part, 1);
        }
        c.accounts_selected = selected;
        Ok(c)
    }

    async fn outcome(
        &self,
        run: RunId,
        account: &AccountId,
    ) -> StoreResult<Option<AccountOutcomeRecord>> {
        match self
            .get(
                self.shard_pk(run, self.shard(account)),
                &format!("ACCT#{account}"),
            )
            .await?
        {
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

#[async_trait]
impl BookStore for DynamoStore {
    async fn import_book(&self, book: &Book) -> StoreResult<()> {
        let mut items: Vec<Item> = Vec::new();
        let entity = |pk: String, sk: String, data: AttributeValue| -> Item {
            HashMap::from([
                (PK.to_string(), s(pk)),
                (SK.to_string(), s(sk)),
                (DATA.to_string(), data),
            ])
        };
        for a in &book.accounts {
            let mut item = entity(acct_pk(&a.id), "ACCT".into(), encode(a)?);
            item.insert(GSI2PK.to_string(), s("ACCOUNTS"));
            item.insert(GSI2SK.to_string(), s(a.id.to_string()));
            items.push(item);
        }
        for x in &book.subscriptions {
            items.push(entity(
                acct_pk(&x.account_id),
                format!("SUB#{}", x.id),
                encode(x)?,
            ));
            items.push(catalog::subscription_ref(&x.id, &x.account_id));
        }
        for x in &book.usage {
            items.push(entity(
                acct_pk(&x.account_id),
                format!("USAGE#{}", x.id),
                encode(x)?,
            ));
        }
        for x in &book.adjustments {
            items.push(entity(
                acct_pk(&x.account_id),
                format!("ADJ#{}", x.id),
                encode(x)?,
            ));
        }
        for x in &book.invoice_schedules {
            items.push(entity(
                acct_pk(&x.account_id),
                format!("SCHED#{}", x.id),
                encode(x)?,
            ));
            items.push(catalog::schedule_ref(&x.id, &x.account_id));
        }
        self.batch_put(items).await?;
        // Billing state the book carries (imported watermarks, billed marks) is merged
        // into each account's state: it only adds what the store does not have yet.
        let mut imported: BTreeMap<&AccountId, AccountState> = BTreeMap::new();
        for x in &book.subscriptions {
            let st = AccountState::from_book(std::slice::from_ref(x), &[], &[]);
            merge_state(imported.entry(&x.account_id).or_default(), st);
        }
        for x in &book.usage {
            let st = AccountState::from_book(&[], std::slice::from_ref(x), &[]);
            merge_state(imported.entry(&x.account_id).or_default(), st);
        }
        for x in &book.adjustments {
            let st = AccountState::from_book(&[], &[], std::slice::from_ref(x));
            merge_state(imported.entry(&x.account_id).or_default(), st);
        }
        for (account, st) in imported {
            if st == AccountState::default() {
                continue;
            }
            for attempt in 0..8u32 {
                let mut row = self.read_state(account).await?;
                let before = row.state.clone();
                merge_state(&mut row.state, st.clone());
                if row.state == before {
                    break;
                }
                let put = self.state_put(account, &row)?;
                bump(&self.metrics.dynamodb_writes);
                let mut req = self
                    .client
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(put.item().clone()))
                    .set_condition_expression(put.condition_expression().map(str::to_string));
                if let Some(v) = put.expression_attribute_values() {
                    req = req.set_expression_attribute_values(Some(v.clone()));
                }
                match req.send().await.map_err(sdk) {
                    Ok(_) => break,
                    Err(StoreError::Conflict(_)) if attempt < 7 => backoff(attempt).await,
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    async fn account_book(&self, id: &AccountId) -> StoreResult<Option<AccountBook>> {
        let items = self.query(None, acct_pk(id), SortKey::Any, None).await?;
        let mut account = None;
        // Billed-mark items with the run that wrote them; only runs the state lists as
        // committed count (a partially written commit's marks do not).
        let mut marks: Vec<(&str, &str)> = Vec::new();
        let mut runs = std::collections::BTreeSet::new();
        let mut book = AccountBook {
            account: match items.iter().find(|i| get_s(i, SK) == Some("ACCT")) {
                Some(i) => decode(i)?,
                None => return Ok(None),
            },
            subscriptions: vec![],
            usage: vec![],
            adjustments: vec![],
            scheduled_subscriptions: Default::default(),
            state: AccountState::default(),
        };
        for item in &items {
            let sk = get_s(item, SK).unwrap_or_default();
            if sk == "ACCT" {
                account = Some(());
            } else if sk.starts_with("SUB#") {
                book.subscriptions.push(decode(item)?);
            } else if sk.starts_with("USAGE#") {
                book.usage.push(decode(item)?);
            } else if sk.starts_with("ADJ#") {
                book.adjustments.push(decode(item)?);
            } else if sk.starts_with("SCHED#") {
                let sched: billrun_domain::book::InvoiceSchedule = decode(item)?;
                book.scheduled_subscriptions.extend(sched.subscription_ids);
            } else if sk.starts_with("MARK#") {
                marks.push((sk, get_s(item, ledger::BY).unwrap_or_default()));
            } else if sk == "STATE" {
                book.state = decode(item)?;
                runs = ledger::state_runs(item);
            }
        }
        for (sk, by) in marks {
            if runs.contains(by) {
                ledger::add_mark(&mut book.state, sk)?;
            }
        }
        Ok(account.map(|_| book))
    }

    async fn select_accounts(
        &self,
        filters: &Filters,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<AccountPage> {
        let mut ids: Vec<AccountId> = Vec::new();
        let mut after: Option<String> = cursor.map(str::to_string);
        // Read the index in pages, keeping the accounts the filters select, until the page
        // is full or the index is exhausted.
        loop {
            let sk = match &after {
                Some(a) => SortKey::After(a, ""),
                None => SortKey::Any,
            };
            let batch = self
                .query(Some(GSI2), "ACCOUNTS".into(), sk, Some(1000))
                .await?;
            let exhausted = batch.len() < 1000;
            for item in &batch {
                let a: billrun_domain::book::Account = decode(item)?;
                after = Some(a.id.to_string());
                if filters.selects(&a.id, a.batch.as_deref(), a.bill_cycle_day, a.currency) {
                    ids.push(a.id);
                    if ids.len() == limit {
                        return Ok(AccountPage { ids, next: after });
                    }
                }
            }
            if exhausted {
                return Ok(AccountPage { ids, next: None });
            }
        }
    }
}

fn merge_state(into: &mut AccountState, from: AccountState) {
    into.merge_imported(from);
}

#[async_trait]
impl DocumentStore for DynamoStore {
    async fn get_document(&self, id: DocumentId) -> StoreResult<Option<StoredDocument>> {
        let Some(item) = self.get(doc_pk(id), "DOC").await? else {
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
        let (page, more) = self.document_page(run, Some(round), cursor, limit).await?;
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

    async fn run_documents(
        &self,
        run: RunId,
        cursor: Option<&str>,
        limit: usize,
    ) -> StoreResult<DocumentPage> {
        let (page, more) = self.document_page(run, None, cursor, limit).await?;
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

    /// One item per outcome partition with documents in the page (`NUM#<round>#<first
    /// account>\u{1}<first number>` in `RUN#<id>#<k>`), listing their ids and numbers, instead of an update
    /// of each document: ~0.04 WRU a document instead of 1 (a page of 1,000 documents
    /// over 16 partitions is 16 items of ~1 KB deflated). Rewriting a page writes the
    /// same items.
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
            items.push(HashMap::from([
                (PK.to_string(), s(self.shard_pk(run, k))),
                (
                    SK.to_string(),
                    s(Self::number_page_sk(
                        round,
                        &first.account_id,
                        &first.number,
                    )),
                ),
                (DATA.to_string(), encode(&list)?),
            ]));
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
            .filter(|d| d.document.status != DocumentStatus::Canceled)
            .map(|d| d.document.id)
            .collect();
        self.set_statuses(&ids, status, true).await
    }
}

impl DynamoStore {
    async fn set_statuses(
        &self,
        ids: &[DocumentId],
        status: DocumentStatus,
        unless_canceled: bool,
    ) -> StoreResult<()> {
        let requests = ids.iter().map(|id| {
            let mut req = self
                .client
                .update_item()
                .table_name(&self.table)
                .key(PK, s(doc_pk(*id)))
                .key(SK, s("DOC"))
                .update_expression("SET #s = :s")
                .expression_attribute_names("#s", STATUS)
                .expression_attribute_values(":s", s(status_name(status)));
            if unless_canceled {
                req = req
                    .condition_expression("attribute_not_exists(#s) OR #s <> :c")
                    .expression_attribute_values(":c", s("Canceled"));
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

    /// Independent single-item writes, [`IN_FLIGHT`] at a time (a new one starts as soon
    /// as one ends); the first error ends the call (the writes are idempotent, so the
    /// caller's retry redoes the rest).
    async fn in_flight<F>(&self, what: &str, requests: impl Iterator<Item = F>) -> StoreResult<()>
    where
        F: std::future::Future<Output = StoreResult<()>> + Send + 'static,
    {
        let mut set = tokio::task::JoinSet::new();
        for req in requests {
            if set.len() >= IN_FLIGHT {
                if let Some(r) = set.join_next().await {
                    r.map_err(|e| StoreError::Transient(format!("{what} task: {e}")))??;
                }
            }
            bump(&self.metrics.dynamodb_writes);
            set.spawn(req);
        }
        while let Some(r) = set.join_next().await {
            r.map_err(|e| StoreError::Transient(format!("{what} task: {e}")))??;
        }
        Ok(())
    }
}

#[async_trait]
impl SequenceStore for DynamoStore {
    async fn reserve_block(
        &self,
        run: RunId,
        round: u32,
        invoices: u64,
        credit_memos: u64,
    ) -> StoreResult<NumberBlock> {
        for attempt in 0..16u32 {
            let mut record = self
                .get_run(run)
                .await?
                .ok_or_else(|| StoreError::Conflict(format!("run {run} does not exist")))?;
            if let Some(b) = record.number_blocks.iter().find(|b| b.round == round) {
                return Ok(b.clone());
            }
            let inv_now = self
                .get("SEQ#INV".into(), "SEQ")
                .await?
                .map_or(0, |i| get_u64(&i, SEQ_VALUE));
            let cm_now = self
                .get("SEQ#CM".into(), "SEQ")
                .await?
                .map_or(0, |i| get_u64(&i, SEQ_VALUE));
            let block = NumberBlock {
                round,
                first_invoice: inv_now + 1,
                invoices,
                first_credit_memo: cm_now + 1,
                credit_memos,
            };
            record.number_blocks.push(block.clone());
            record.version += 1;
            let seq = |kind: &str, now: u64, add: u64| -> StoreResult<TransactWriteItem> {
                let u = Update::builder()
                    .table_name(&self.table)
                    .key(PK, s(format!("SEQ#{kind}")))
                    .key(SK, s("SEQ"))
                    .update_expression("SET #n = :new")
                    .expression_attribute_names("#n", SEQ_VALUE)
                    .expression_attribute_values(":new", n(now + add))
                    .expression_attribute_values(":old", n(now));
                let u = if now == 0 {
                    u.condition_expression("attribute_not_exists(#n) OR #n = :old")
                } else {
                    u.condition_expression("#n = :old")
                };
                Ok(TransactWriteItem::builder()
                    .update(built(u.build())?)
                    .build())
            };
            let run_put = built(
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(self.run_item(&record)?))
                    .condition_expression("ver = :v")
                    .expression_attribute_values(":v", n(record.version - 1))
                    .build(),
            )?;
            // The block is stored on the run in the same transaction that advances both
            // sequences: one reservation per (run, round), never a gap.
            let items = vec![
                seq(DocumentKind::Invoice.prefix(), inv_now, invoices)?,
                seq(DocumentKind::CreditMemo.prefix(), cm_now, credit_memos)?,
                TransactWriteItem::builder().put(run_put).build(),
            ];
            match self.transact(items).await {
                Ok(()) => return Ok(block),
                Err(SdkError::ServiceError(e))
                    if matches!(
                        e.err(),
                        TransactWriteItemsError::TransactionCanceledException(_)
                    ) =>
                {
                    backoff(attempt).await;
                }
                Err(e) => return Err(sdk(e)),
            }
        }
        Err(StoreError::Transient(format!(
            "could not reserve numbers for run {run}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(data: AttributeValue) -> Item {
        HashMap::from([(DATA.to_string(), data)])
    }

    #[test]
    fn large_data_is_stored_deflated_and_reads_back_small_data_stays_json() {
        let small = vec!["U-1".to_string(); 3];
        let AttributeValue::S(json) = encode(&small).unwrap() else {
            panic!("small data is JSON text");
        };
        assert_eq!(json, r#"["U-1","U-1","U-1"]"#);
        let large: Vec<String> = (0..200).map(|i| format!("line {i}: Widget, USD")).collect();
        let encoded = encode(&large).unwrap();
        let AttributeValue::B(blob) = &encoded else {
            panic!("large data is deflated");
        };
        let plain = serde_json::to_vec(&large).unwrap().len();
        assert!(
            blob.as_ref().len() * 3 < plain,
            "{} of {plain}",
            blob.as_ref().len()
        );
        let back: Vec<String> = decode(&item(encoded)).unwrap();
        assert_eq!(back, large);
        let text: Vec<String> = decode(&item(AttributeValue::S(json))).unwrap();
        assert_eq!(text, small);
    }

    #[test]
    fn data_that_does_not_inflate_is_a_fatal_corruption_not_a_panic() {
        let bad = item(AttributeValue::B(aws_smithy_types::Blob::new(vec![
            0xff;
            16
        ])));
        match decode::<Vec<String>>(&bad) {
            Err(StoreError::Fatal(m)) => assert!(m.contains("does not inflate"), "{m}"),
            other => panic!("expected a fatal error, got {other:?}"),
        }
        assert!(matches!(
            decode::<Vec<String>>(&HashMap::new()),
            Err(StoreError::Fatal(_))
        ));
    }
}
