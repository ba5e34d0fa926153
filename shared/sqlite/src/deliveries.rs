//! Email delivery: requests with their counters, results by (request, document) and
//! each document's latest delivery.
//!
//! A request's counters are columns of its row and its skipped documents by reason are
//! rows of [`DELIVERY_SKIPS`]: `record_delivery` reads them, applies
//! [`DeliveryCounters::apply`] (the memory store's arithmetic, so the two cannot
//! drift) and writes them back, in the transaction that compares the stored result with
//! the caller's `expected` and writes the result and the document's record.

use crate::error::{conflict, fatal};
use crate::schema::*;
use crate::{from_json, int, read_entity, to_json, uint, Error, SqliteStore};
use async_trait::async_trait;
use billrun_app::model::deliveries::{
    DeliveryCounters, DeliveryRequest, DeliveryResult, DocumentDelivery,
};
use billrun_app::ports::{DeliveryStore, StoreResult};
use billrun_domain::ids::{DeliveryRequestId, DocumentId, RunId};
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Transaction};

/// The request with its counters, read in the caller's transaction or connection.
fn read_request(
    c: &Connection,
    id: DeliveryRequestId,
) -> Result<Option<(DeliveryRequest, DeliveryCounters)>, Error> {
    let row: Option<(String, [i64; 6], Option<String>)> = c
        .query_row(
            &format!(
                "SELECT data, requested, sent, skipped, failed, bounced, complained,
                 last_sent_at FROM {DELIVERY_REQUESTS} WHERE id = ?1"
            ),
            [id.to_string()],
            |r| {
                Ok((
                    r.get(0)?,
                    [
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                    ],
                    r.get(7)?,
                ))
            },
        )
        .optional()?;
    let Some((data, [requested, sent, skipped, failed, bounced, complained], last_sent_at)) = row
    else {
        return Ok(None);
    };
    let mut counters = DeliveryCounters {
        requested: uint(requested)?,
        sent: uint(sent)?,
        skipped: uint(skipped)?,
        failed: uint(failed)?,
        bounced: uint(bounced)?,
        complained: uint(complained)?,
        last_sent_at: last_sent_at.as_deref().map(parse_instant).transpose()?,
        ..DeliveryCounters::default()
    };
    let mut reasons = c.prepare(&format!(
        "SELECT reason, count FROM {DELIVERY_SKIPS} WHERE request_id = ?1"
    ))?;
    let rows = reasons.query_map([id.to_string()], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
    })?;
    for row in rows {
        let (reason, count) = row?;
        counters
            .skipped_reasons
            .insert(parse_skip_reason(&reason)?, uint(count)?);
    }
    Ok(Some((from_json(&data)?, counters)))
}

/// Writes the request's counters back (`requested` is the request's and never changes).
fn write_counters(
    tx: &Transaction<'_>,
    id: DeliveryRequestId,
    c: &DeliveryCounters,
) -> Result<(), Error> {
    let id = id.to_string();
    tx.execute(
        &format!(
            "UPDATE {DELIVERY_REQUESTS} SET sent = ?2, skipped = ?3, failed = ?4,
             bounced = ?5, complained = ?6, last_sent_at = ?7 WHERE id = ?1"
        ),
        params![
            id,
            int(c.sent)?,
            int(c.skipped)?,
            int(c.failed)?,
            int(c.bounced)?,
            int(c.complained)?,
            c.last_sent_at.as_ref().map(instant)
        ],
    )?;
    // `apply` drops a reason whose count fell to zero: so does the table.
    tx.execute(
        &format!("DELETE FROM {DELIVERY_SKIPS} WHERE request_id = ?1"),
        [&id],
    )?;
    for (reason, count) in &c.skipped_reasons {
        tx.execute(
            &format!(
                "INSERT INTO {DELIVERY_SKIPS} (request_id, reason, count) VALUES (?1, ?2, ?3)"
            ),
            params![id, skip_reason(*reason)?, int(*count)?],
        )?;
    }
    Ok(())
}

fn read_result(
    c: &Connection,
    request: DeliveryRequestId,
    document: DocumentId,
) -> Result<Option<DeliveryResult>, Error> {
    read_entity(
        c,
        &format!("SELECT data FROM {DELIVERY_RESULTS} WHERE request_id = ?1 AND document_id = ?2"),
        params![request.to_string(), document.to_string()],
    )
}

fn read_document_delivery(
    c: &Connection,
    document: DocumentId,
) -> Result<Option<DocumentDelivery>, Error> {
    read_entity(
        c,
        &format!("SELECT data FROM {DOCUMENT_DELIVERIES} WHERE document_id = ?1"),
        [document.to_string()],
    )
}

#[async_trait]
impl DeliveryStore for SqliteStore {
    async fn create_delivery_request(&self, request: &DeliveryRequest) -> StoreResult<()> {
        let request = request.clone();
        self.write(move |tx| {
            let added = tx.execute(
                &format!(
                    "INSERT INTO {DELIVERY_REQUESTS}
                     (id, run_id, requested, sent, skipped, failed, last_sent_at, data)
                     VALUES (?1, ?2, ?3, 0, 0, 0, NULL, ?4) ON CONFLICT (id) DO NOTHING"
                ),
                params![
                    request.id.to_string(),
                    request.run_id.to_string(),
                    int(request.requested)?,
                    to_json(&request)?
                ],
            )?;
            if added == 0 {
                return Err(conflict(format!("delivery request {} exists", request.id)));
            }
            tx.execute(
                &format!(
                    "INSERT INTO {LATEST_DELIVERY_REQUESTS} (run_id, request_id) VALUES (?1, ?2)
                     ON CONFLICT (run_id) DO UPDATE SET request_id = excluded.request_id"
                ),
                params![request.run_id.to_string(), request.id.to_string()],
            )?;
            Ok(())
        })
        .await
    }

    async fn get_delivery_request(
        &self,
        id: DeliveryRequestId,
    ) -> StoreResult<Option<(DeliveryRequest, DeliveryCounters)>> {
        self.call(move |c| read_request(c, id)).await
    }

    async fn latest_delivery_request(&self, run: RunId) -> StoreResult<Option<DeliveryRequestId>> {
        self.call(move |c| {
            let id: Option<String> = c
                .query_row(
                    &format!("SELECT request_id FROM {LATEST_DELIVERY_REQUESTS} WHERE run_id = ?1"),
                    [run.to_string()],
                    |r| r.get(0),
                )
                .optional()?;
            id.map(|s| {
                s.parse()
                    .map_err(|e| fatal(format!("stored delivery request id '{s}': {e}")))
            })
            .transpose()
        })
        .await
    }

    async fn delivery_result(
        &self,
        request: DeliveryRequestId,
        document: DocumentId,
    ) -> StoreResult<Option<DeliveryResult>> {
        self.call(move |c| read_result(c, request, document)).await
    }

    async fn record_delivery(
        &self,
        expected: Option<&DeliveryResult>,
        next: &DeliveryResult,
    ) -> StoreResult<()> {
        let (expected, next) = (expected.cloned(), next.clone());
        self.write(move |tx| {
            let (request, document) = (next.request_id, next.document_id);
            // Compared as values, not as stored text: JSON written by an earlier build
            // still matches the result it decodes to.
            if read_result(tx, request, document)? != expected {
                return Err(conflict(format!(
                    "the delivery of document {document} for request {request} changed"
                )));
            }
            let Some((_, mut counters)) = read_request(tx, request)? else {
                return Err(fatal(format!("delivery request {request} does not exist")));
            };
            counters.apply(expected.as_ref().map(|r| &r.state), &next.state);
            write_counters(tx, request, &counters)?;
            let record =
                DocumentDelivery::after(read_document_delivery(tx, document)?.as_ref(), &next);
            tx.execute(
                &format!(
                    "INSERT INTO {DOCUMENT_DELIVERIES} (document_id, data) VALUES (?1, ?2)
                     ON CONFLICT (document_id) DO UPDATE SET data = excluded.data"
                ),
                params![document.to_string(), to_json(&record)?],
            )?;
            tx.execute(
                &format!(
                    "INSERT INTO {DELIVERY_RESULTS} (request_id, document_id, data)
                     VALUES (?1, ?2, ?3)
                     ON CONFLICT (request_id, document_id) DO UPDATE SET data = excluded.data"
                ),
                params![request.to_string(), document.to_string(), to_json(&next)?],
            )?;
            Ok(())
        })
        .await
    }

    async fn document_delivery(
        &self,
        document: DocumentId,
    ) -> StoreResult<Option<DocumentDelivery>> {
        self.call(move |c| read_document_delivery(c, document))
            .await
    }

    async fn run_last_sent(&self, run: RunId) -> StoreResult<Option<DateTime<Utc>>> {
        self.call(move |c| {
            // `instant` text orders as time does, so the text maximum is the latest.
            let last: Option<String> = c.query_row(
                &format!("SELECT MAX(last_sent_at) FROM {DELIVERY_REQUESTS} WHERE run_id = ?1"),
                [run.to_string()],
                |r| r.get(0),
            )?;
            last.as_deref().map(parse_instant).transpose()
        })
        .await
    }
}
