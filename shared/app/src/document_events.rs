//! Per-document events leave here: [`Dispatcher::dispatch_documents`] makes the events
//! of a batch ([`DocumentBatch`]) page by page, each page one event of at most
//! [`DOCUMENTS_PER_EVENT`] documents (by default) with an id of (batch, page), handed
//! to the bus and the endpoints like a run's events ([`Dispatcher::fan_out`]). A
//! message makes up to [`PAGES_PER_MESSAGE`] pages and queues the rest; run again, it makes the same events
//! (a posted run's documents and a completed request's results keep their order), so
//! the deliveries it made are found, not made twice.

use crate::dispatch::Dispatcher;
use crate::error::AppError;
use crate::model::deliveries::DeliveryState;
use crate::model::document_events::*;
use crate::model::events::{EventBody, EventEnvelope};
use crate::model::{Message, RunRecord};
use billrun_domain::document::DocumentStatus;
use billrun_domain::ids::RunId;
use chrono::{DateTime, Utc};
use tracing::warn;

impl Dispatcher {
    /// Makes the events of `batch` from the page it names: up to
    /// `pages_per_message` pages, then queues the rest. Returns the events made.
    pub async fn dispatch_documents(
        &self,
        run_id: RunId,
        batch: DocumentBatch,
    ) -> Result<usize, AppError> {
        let Some(run) = self.runs.get_run(run_id).await? else {
            warn!(run_id = %run_id, "document events of an unknown run");
            return Ok(0);
        };
        let endpoints = self.store.list_endpoints().await?;
        let (mut page, mut cursor, source) = match &batch {
            DocumentBatch::Posted {
                page,
                cursor,
                source,
            }
            | DocumentBatch::Delivered {
                page,
                cursor,
                source,
                ..
            } => (*page, cursor.clone(), *source),
            DocumentBatch::Bounced { .. } => return self.dispatch_bounce(&run, &batch).await,
        };
        // Each page is stamped with the time of the change that implies it.
        let Some(time) = run.events.iter().find(|e| e.id == source).map(|e| e.time) else {
            warn!(run_id = %run_id, "document events of an event the run does not have");
            return Ok(0);
        };
        if !self.documents_wanted(batch.event_type(), time, &endpoints) {
            return Ok(0);
        }
        let mut made = 0;
        for _ in 0..self.config.pages_per_message.max(1) {
            let docs = self
                .documents
                .run_documents(
                    run_id,
                    cursor.as_deref(),
                    self.config.documents_per_event.max(1),
                )
                .await?;
            let mut documents = Vec::with_capacity(docs.documents.len());
            for d in &docs.documents {
                let d = &d.document;
                match &batch {
                    DocumentBatch::Posted { .. } => {
                        // A posted run's documents are Posted but those canceled alone.
                        if d.status != DocumentStatus::Canceled && d.number.is_some() {
                            documents.push(DocumentSummary::of(d, None));
                        }
                    }
                    DocumentBatch::Delivered { request_id, .. } => {
                        let Some(store) = &self.deliveries else {
                            break;
                        };
                        if let Some(r) = store.delivery_result(*request_id, d.id).await? {
                            documents.push(DocumentSummary::of(d, Some(r.state)));
                        }
                    }
                    DocumentBatch::Bounced { .. } => {}
                }
            }
            // Every page is an event, even one whose documents the batch has none of,
            // so that a receiver always gets the page marked last.
            let last_page = docs.next.is_none();
            let request_id = match &batch {
                DocumentBatch::Delivered { request_id, .. } => Some(*request_id),
                _ => None,
            };
            let envelope = envelope(&batch, page, time, &run, request_id, last_page, documents);
            self.fan_out(&[envelope], &endpoints).await?;
            made += 1;
            if last_page {
                return Ok(made);
            }
            cursor = docs.next;
            page += 1;
        }
        self.queue
            .send(vec![Message::DocumentEvents {
                run_id,
                batch: batch.at(page, cursor),
            }])
            .await?;
        Ok(made)
    }

    /// The one event of a bounce, once its result shows it (a complaint recorded
    /// since outranks it: the result no longer says what bounced).
    async fn dispatch_bounce(
        &self,
        run: &RunRecord,
        batch: &DocumentBatch,
    ) -> Result<usize, AppError> {
        let DocumentBatch::Bounced {
            request_id,
            document_id,
        } = batch
        else {
            return Ok(0);
        };
        let Some(store) = &self.deliveries else {
            return Ok(0);
        };
        let Some(result) = store.delivery_result(*request_id, *document_id).await? else {
            return Ok(0);
        };
        let DeliveryState::Bounced { at, .. } = &result.state else {
            return Ok(0);
        };
        let endpoints = self.store.list_endpoints().await?;
        if !self.documents_wanted(batch.event_type(), *at, &endpoints) {
            return Ok(0);
        }
        let Some(document) = self.documents.get_document(*document_id).await? else {
            return Ok(0);
        };
        let documents = vec![DocumentSummary::of(
            &document.document,
            Some(result.state.clone()),
        )];
        let envelope = envelope(batch, 0, *at, run, Some(*request_id), true, documents);
        self.fan_out(&[envelope], &endpoints).await?;
        Ok(1)
    }
}

fn envelope(
    batch: &DocumentBatch,
    page: u32,
    time: DateTime<Utc>,
    run: &RunRecord,
    request_id: Option<billrun_domain::ids::DeliveryRequestId>,
    last_page: bool,
    documents: Vec<DocumentSummary>,
) -> EventEnvelope {
    EventEnvelope {
        id: batch.event_id(page),
        event_type: batch.event_type(),
        timestamp: time,
        data: EventBody::Documents(DocumentsData {
            run_id: run.id,
            run_number: run.number.clone(),
            request_id,
            page,
            last_page,
            documents,
        }),
    }
}
