//! The DynamoDB adapter of email delivery (`billrun_app::ports::DeliveryStore`), in the
//! same table:
//!
//! | item | pk | sk | notes |
//! | --- | --- | --- | --- |
//! | delivery request | `DLVREQ#<id>` | `DLVREQ` | |
//! | its counters, shard `j` of 8 | `DLVREQ#<id>#<j>` | `COUNT` | `sent`, `skipped`, `failed`, `bounced`, `complained`, `skip_<reason>` (ADD); `lastSent` (kept the latest by a condition) |
//! | (request, document) result | `DLVREQ#<id>` | `DOC#<document>` | `ver` |
//! | a document's latest delivery | `DOC#<document>` | `DLV` | `ver` |
//! | a run's latest request | `RUN#<run>` | `DLVREQ` | `id` |
//! | a run's request | `RUN#<run>` | `DLVREQ#<id>` | what `run_last_sent` queries |
//!
//! `record_delivery` reads the result and the document's record (and, for a first
//! result, the request), compares the result with `expected` by value, then writes one
//! transaction: the result conditioned on the version read, the document's record
//! ([`DocumentDelivery::after`] the one read) conditioned on its version, and the
//! counters of the document's shard. The version conditions make the read-compare-write
//! atomic: a result or record that changed since the read cancels the transaction. A
//! changed result is the caller's conflict; a changed record (another request's result
//! of the same document) is read again and the transaction retried.

use super::client::{backoff, Limit, SortKey};
use super::codec::{decode, entity, get_i64, get_s, n, s, Item, VER};
use super::error::{built, canceled};
use super::keys::{self, Key};
use super::DynamoStore;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use billrun_app::error::StoreError;
use billrun_app::model::deliveries::{
    DeliveryCounters, DeliveryRequest, DeliveryResult, DeliveryState, DocumentDelivery, SkipReason,
};
use billrun_app::ports::{DeliveryStore, StoreResult};
use billrun_domain::ids::{DeliveryRequestId, DocumentId, RunId};
use chrono::{DateTime, SecondsFormat, Utc};
use std::collections::BTreeMap;

const SENT: &str = "sent";
const SKIPPED: &str = "skipped";
const FAILED: &str = "failed";
const BOUNCED: &str = "bounced";
const COMPLAINED: &str = "complained";
/// The prefix of a shard's count of one skip reason (`skip_noAddress`).
const SKIP: &str = "skip_";
/// The latest send a shard counted, as [`sortable`] text.
const LAST_SENT: &str = "lastSent";
/// The request id of a run's latest-request item.
const ID: &str = "id";
/// Reads and transactions of one `record_delivery` before it gives up (Transient):
/// each retry follows a concurrent change of the document's record or a transaction
/// DynamoDB canceled for a conflicting request in flight.
const RECORD_ATTEMPTS: u32 = 8;

/// An instant as text whose byte order is the time order (RFC 3339 in UTC, fixed
/// width): DynamoDB compares strings byte-wise, so `lastSent < :t` is "earlier".
fn sortable(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

fn parse_sortable(v: &str) -> StoreResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(v)
        .map(|t| t.to_utc())
        .map_err(|e| StoreError::fatal_from(format!("corrupt {LAST_SENT} '{v}'"), e))
}

fn skip_attribute(reason: SkipReason) -> StoreResult<String> {
    match serde_json::to_value(reason) {
        Ok(serde_json::Value::String(name)) => Ok(format!("{SKIP}{name}")),
        Ok(other) => Err(StoreError::fatal(format!(
            "skip reason {reason:?} encodes as {other}"
        ))),
        Err(e) => Err(StoreError::fatal_from("cannot encode a skip reason", e)),
    }
}

fn parse_skip_attribute(name: &str) -> Option<StoreResult<SkipReason>> {
    let reason = name.strip_prefix(SKIP)?;
    Some(
        serde_json::from_value(serde_json::Value::String(reason.to_string()))
            .map_err(|e| StoreError::fatal_from(format!("corrupt counter {name}"), e)),
    )
}

/// The counter attributes a state counts in, by [`DeliveryCounters::apply`] itself (a
/// claim counts nowhere), so the shards count exactly what the other stores count.
fn counted_in(state: &DeliveryState) -> StoreResult<Vec<String>> {
    let mut one = DeliveryCounters::default();
    one.apply(None, state);
    let mut attributes = Vec::new();
    for (attribute, count) in [
        (SENT, one.sent),
        (SKIPPED, one.skipped),
        (FAILED, one.failed),
        (BOUNCED, one.bounced),
        (COMPLAINED, one.complained),
    ] {
        if count > 0 {
            attributes.push(attribute.to_string());
        }
    }
    for reason in one.skipped_reasons.keys() {
        attributes.push(skip_attribute(*reason)?);
    }
    Ok(attributes)
}

/// What [`DeliveryCounters::apply`] adds to each counter, by attribute, without the
/// zeros (a retried failure that fails again changes nothing; one update expression
/// cannot name an attribute twice).
fn counter_deltas(
    before: Option<&DeliveryState>,
    after: &DeliveryState,
) -> StoreResult<BTreeMap<String, i64>> {
    let mut deltas = BTreeMap::new();
    if let Some(b) = before {
        for a in counted_in(b)? {
            *deltas.entry(a).or_insert(0) -= 1;
        }
    }
    for a in counted_in(after)? {
        *deltas.entry(a).or_insert(0) += 1;
    }
    deltas.retain(|_, d| *d != 0);
    Ok(deltas)
}

/// The send time `apply` would keep as the latest (a `Sent` result's).
fn send_time(state: &DeliveryState) -> Option<DateTime<Utc>> {
    let mut one = DeliveryCounters::default();
    one.apply(None, state);
    one.last_sent_at
}

/// The sums of a request's counter shards (each shard's counts are consistent on their
/// own: every result of a document moves within its shard).
#[derive(Default)]
struct Sums {
    sent: i64,
    skipped: i64,
    failed: i64,
    bounced: i64,
    complained: i64,
    reasons: BTreeMap<SkipReason, i64>,
    last_sent_at: Option<DateTime<Utc>>,
}

impl Sums {
    fn add(&mut self, shard: &Item) -> StoreResult<()> {
        self.sent += get_i64(shard, SENT)?;
        self.skipped += get_i64(shard, SKIPPED)?;
        self.failed += get_i64(shard, FAILED)?;
        self.bounced += get_i64(shard, BOUNCED)?;
        self.complained += get_i64(shard, COMPLAINED)?;
        for name in shard.keys() {
            if let Some(reason) = parse_skip_attribute(name) {
                *self.reasons.entry(reason?).or_insert(0) += get_i64(shard, name)?;
            }
        }
        if let Some(t) = get_s(shard, LAST_SENT) {
            let t = parse_sortable(t)?;
            self.last_sent_at = self.last_sent_at.max(Some(t));
        }
        Ok(())
    }

    fn counters(self, requested: u64) -> StoreResult<DeliveryCounters> {
        let count = |v: i64, what: &str| {
            u64::try_from(v).map_err(|_| StoreError::fatal(format!("{what} counts {v}")))
        };
        let mut skipped_reasons = BTreeMap::new();
        for (reason, v) in self.reasons {
            // As `apply`: a reason whose count went back to zero is not listed.
            if v != 0 {
                skipped_reasons.insert(reason, count(v, "a skip reason")?);
            }
        }
        Ok(DeliveryCounters {
            requested,
            sent: count(self.sent, SENT)?,
            skipped: count(self.skipped, SKIPPED)?,
            failed: count(self.failed, FAILED)?,
            bounced: count(self.bounced, BOUNCED)?,
            complained: count(self.complained, COMPLAINED)?,
            skipped_reasons,
            last_sent_at: self.last_sent_at,
        })
    }
}

/// The version a conditional put of the item expects: `None` when it is absent.
fn version_of(item: Option<&Item>) -> StoreResult<Option<i64>> {
    item.map(|i| get_i64(i, VER)).transpose()
}

#[async_trait]
impl DeliveryStore for DynamoStore {
    async fn create_delivery_request(&self, request: &DeliveryRequest) -> StoreResult<()> {
        let mut latest = keys::latest_delivery_request(request.run_id).item();
        latest.insert(ID.to_string(), s(request.id.to_string()));
        let items = vec![
            self.put_new(entity(&keys::delivery_request(request.id), request)?)?,
            self.put_tx(latest, None)?,
            self.put_tx(
                keys::run_delivery_request(request.run_id, request.id).item(),
                None,
            )?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(()),
            Err(e) => {
                let c = canceled(e)?;
                if c.failed(0) {
                    Err(StoreError::Conflict(format!(
                        "delivery request {} exists",
                        request.id
                    )))
                } else {
                    Err(c.transient())
                }
            }
        }
    }

    async fn get_delivery_request(
        &self,
        id: DeliveryRequestId,
    ) -> StoreResult<Option<(DeliveryRequest, DeliveryCounters)>> {
        let request_key = keys::delivery_request(id);
        let mut wanted = vec![request_key.clone()];
        wanted.extend((0..keys::DELIVERY_SHARDS).map(|j| keys::delivery_counters(id, j)));
        let mut request = None;
        let mut sums = Sums::default();
        for item in self.batch_get(wanted).await? {
            if Key::of(&item) == request_key {
                request = Some(decode::<DeliveryRequest>(&item)?);
            } else {
                sums.add(&item)?;
            }
        }
        match request {
            None => Ok(None),
            Some(r) => {
                let counters = sums.counters(r.requested)?;
                Ok(Some((r, counters)))
            }
        }
    }

    async fn latest_delivery_request(&self, run: RunId) -> StoreResult<Option<DeliveryRequestId>> {
        match self.get(&keys::latest_delivery_request(run)).await? {
            None => Ok(None),
            Some(item) => get_s(&item, ID)
                .map(|v| {
                    v.parse().map_err(|e| {
                        StoreError::fatal_from(format!("corrupt delivery request id '{v}'"), e)
                    })
                })
                .transpose(),
        }
    }

    async fn delivery_result(
        &self,
        request: DeliveryRequestId,
        document: DocumentId,
    ) -> StoreResult<Option<DeliveryResult>> {
        match self.get(&keys::delivery_result(request, document)).await? {
            None => Ok(None),
            Some(item) => decode(&item).map(Some),
        }
    }

    async fn record_delivery(
        &self,
        expected: Option<&DeliveryResult>,
        next: &DeliveryResult,
    ) -> StoreResult<()> {
        let (request, document) = (next.request_id, next.document_id);
        let deltas = counter_deltas(expected.map(|r| &r.state), &next.state)?;
        let mut sent_at = send_time(&next.state);
        let changed = || {
            StoreError::Conflict(format!(
                "the delivery of document {document} for request {request} changed"
            ))
        };
        let mut last = StoreError::transient("record_delivery was not attempted");
        for attempt in 0..RECORD_ATTEMPTS {
            let Some(read) = self.read_for_record(expected, next).await? else {
                return Err(changed());
            };
            let record = DocumentDelivery::after(read.record.as_ref(), next);
            let mut items = vec![
                self.versioned_put(
                    entity(&keys::delivery_result(request, document), next)?,
                    read.result_version,
                )?,
                self.versioned_put(
                    entity(&keys::document_delivery(document), &record)?,
                    read.record_version,
                )?,
            ];
            if let Some(update) = self.count(request, document, &deltas, sent_at)? {
                items.push(update);
            }
            let e = match self.transact(items).await {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            let c = canceled(e)?;
            if c.failed(0) {
                // Another worker replaced the result since the read: the caller's
                // `expected` is stale, and nothing was written.
                return Err(changed());
            }
            if c.failed(2) {
                // The shard counted a later send already: it stays the latest.
                sent_at = None;
            } else if !c.failed(1) {
                // Canceled for a request in flight on one of the items, not a condition.
                backoff(attempt).await;
            }
            last = c.transient();
        }
        Err(last)
    }

    async fn document_delivery(
        &self,
        document: DocumentId,
    ) -> StoreResult<Option<DocumentDelivery>> {
        match self.get(&keys::document_delivery(document)).await? {
            None => Ok(None),
            Some(item) => decode(&item).map(Some),
        }
    }

    /// The run's requests from its partition (a run has a few: one per API request or
    /// auto-email), then every counters shard of each, read in batches.
    async fn run_last_sent(&self, run: RunId) -> StoreResult<Option<DateTime<Utc>>> {
        let (pk, prefix) = keys::run_delivery_requests(run);
        let listed = self
            .query(None, pk, SortKey::Prefix(prefix), Limit::All)
            .await?;
        let mut shards = Vec::with_capacity(listed.len() * keys::DELIVERY_SHARDS as usize);
        for item in &listed {
            let id = keys::parse_run_delivery_request(&Key::of(item).sk)?;
            shards.extend((0..keys::DELIVERY_SHARDS).map(|j| keys::delivery_counters(id, j)));
        }
        let mut last = None;
        for shard in self.batch_get(shards).await? {
            if let Some(t) = get_s(&shard, LAST_SENT) {
                last = last.max(Some(parse_sortable(t)?));
            }
        }
        Ok(last)
    }
}

/// What `record_delivery` read before its transaction.
struct RecordRead {
    result_version: Option<i64>,
    record: Option<DocumentDelivery>,
    record_version: Option<i64>,
}

impl DynamoStore {
    /// Reads the (request, document) result and the document's record in one request;
    /// `None` when the result is not `expected`. A first result (`expected` is `None`)
    /// also reads the request, which must exist; a later one was written under it.
    async fn read_for_record(
        &self,
        expected: Option<&DeliveryResult>,
        next: &DeliveryResult,
    ) -> StoreResult<Option<RecordRead>> {
        let result_key = keys::delivery_result(next.request_id, next.document_id);
        let record_key = keys::document_delivery(next.document_id);
        let request_key = keys::delivery_request(next.request_id);
        let mut wanted = vec![result_key.clone(), record_key.clone()];
        if expected.is_none() {
            wanted.push(request_key.clone());
        }
        let (mut result, mut record, mut request) = (None, None, false);
        for item in self.batch_get(wanted).await? {
            let key = Key::of(&item);
            if key == result_key {
                result = Some(item);
            } else if key == record_key {
                record = Some(item);
            } else if key == request_key {
                request = true;
            }
        }
        let stored: Option<DeliveryResult> = result.as_ref().map(decode).transpose()?;
        // Compared as values, not as stored text: JSON written by an earlier build still
        // matches the result it decodes to.
        if stored.as_ref() != expected {
            return Ok(None);
        }
        if expected.is_none() && !request {
            return Err(StoreError::fatal(format!(
                "delivery request {} does not exist",
                next.request_id
            )));
        }
        Ok(Some(RecordRead {
            result_version: version_of(result.as_ref())?,
            record: record.as_ref().map(decode).transpose()?,
            record_version: version_of(record.as_ref())?,
        }))
    }

    /// A put of `item` with the version after `read` (1 for a new item), conditioned on
    /// the stored item being the one read: absent, or of version `read`.
    fn versioned_put(&self, mut item: Item, read: Option<i64>) -> StoreResult<TransactWriteItem> {
        item.insert(VER.to_string(), n(read.unwrap_or(0) + 1));
        let put = Put::builder().table_name(&self.table).set_item(Some(item));
        let put = match read {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(v) => put
                .condition_expression("#v = :v")
                .expression_attribute_names("#v", VER)
                .expression_attribute_values(":v", n(v)),
        };
        Ok(TransactWriteItem::builder()
            .put(built(put.build())?)
            .build())
    }

    /// The update of the document's counters shard: the deltas, and a send's time when
    /// it is later than the shard's (the condition; `None`: nothing to count).
    fn count(
        &self,
        request: DeliveryRequestId,
        document: DocumentId,
        deltas: &BTreeMap<String, i64>,
        sent_at: Option<DateTime<Utc>>,
    ) -> StoreResult<Option<TransactWriteItem>> {
        if deltas.is_empty() && sent_at.is_none() {
            return Ok(None);
        }
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(keys::delivery_counters_of(request, document).item()));
        let mut clauses = Vec::with_capacity(2);
        if let Some(at) = sent_at {
            clauses.push("SET #ls = :ls".to_string());
            update = update
                .condition_expression("attribute_not_exists(#ls) OR #ls < :ls")
                .expression_attribute_names("#ls", LAST_SENT)
                .expression_attribute_values(":ls", s(sortable(&at)));
        }
        let mut adds = Vec::with_capacity(deltas.len());
        for (i, (attribute, delta)) in deltas.iter().enumerate() {
            adds.push(format!("#c{i} :c{i}"));
            update = update
                .expression_attribute_names(format!("#c{i}"), attribute)
                .expression_attribute_values(format!(":c{i}"), n(*delta));
        }
        if !adds.is_empty() {
            clauses.push(format!("ADD {}", adds.join(", ")));
        }
        let update = update.update_expression(clauses.join(" "));
        Ok(Some(
            TransactWriteItem::builder()
                .update(built(update.build())?)
                .build(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed() -> DeliveryState {
        DeliveryState::Failed {
            reason: "refused".into(),
            attempt: 1,
        }
    }

    #[test]
    fn deltas_move_a_retried_failure_to_sent_and_count_a_repeated_one_nowhere() {
        let at = Utc::now();
        let sent = DeliveryState::Sent {
            at,
            provider_id: None,
        };
        let moved = counter_deltas(Some(&failed()), &sent).unwrap();
        assert_eq!(
            moved,
            BTreeMap::from([(FAILED.to_string(), -1), (SENT.to_string(), 1)])
        );
        assert!(counter_deltas(Some(&failed()), &failed())
            .unwrap()
            .is_empty());
        let claim = DeliveryState::Sending {
            since: at,
            attempt: 1,
        };
        assert!(counter_deltas(None, &claim).unwrap().is_empty());
        let skipped = DeliveryState::Skipped {
            reason: SkipReason::NoAddress,
        };
        assert_eq!(
            counter_deltas(Some(&claim), &skipped).unwrap(),
            BTreeMap::from([("skip_noAddress".to_string(), 1), (SKIPPED.to_string(), 1)])
        );
    }

    #[test]
    fn sortable_instants_order_as_time_and_read_back() {
        let a = DateTime::parse_from_rfc3339("2026-01-01T00:00:00.5Z")
            .unwrap()
            .to_utc();
        let b = DateTime::parse_from_rfc3339("2026-01-01T00:00:01Z")
            .unwrap()
            .to_utc();
        assert!(sortable(&a) < sortable(&b));
        assert_eq!(parse_sortable(&sortable(&a)).unwrap(), a);
        assert!(parse_skip_attribute("sent").is_none());
        assert_eq!(
            parse_skip_attribute("skip_zeroAmount").unwrap().unwrap(),
            SkipReason::ZeroAmount
        );
        assert!(parse_skip_attribute("skip_other").unwrap().is_err());
    }
}
