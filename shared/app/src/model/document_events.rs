//! Per-document events: `documents.posted`, `documents.delivered` and
//! `documents.bounced`. They are derived, not stored: a page of a posted run's
//! documents follows from its `run.posted` event (the documents' statuses change under
//! the claim the run's Posted write releases), a page of a delivery request's results
//! from its `delivery_request.completed` event, and a bounce from the result it was
//! recorded on. So no event exists without its change, a change is announced as long
//! as the event that implies it is dispatched, and an event's id follows from what it
//! reports: made again, it is the same event (docs/events/README.md "Per-document
//! events").

use super::deliveries::DeliveryState;
use billrun_domain::document::{Document, DocumentKind, DocumentStatus, Totals};
use billrun_domain::ids::{AccountId, DeliveryRequestId, DocumentId, RunId};
use billrun_domain::money::Currency;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// Documents per event: ~40 KB of summaries, well inside EventBridge's 256 KB entry,
/// and 10,000 events for a million-document run.
pub const DOCUMENTS_PER_EVENT: usize = 100;

/// Pages one message makes before it queues the next (so that a large run's batch is
/// a chain of short messages, each well inside a function's timeout).
pub const PAGES_PER_MESSAGE: u32 = 10;

/// The UUID v5 namespace of per-document event ids.
const DOCUMENT_EVENT_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x6a0e_2f41_93c8_4b7d_b25a_e1f3_07c6_9d84);

/// What a `DocumentEvents` message asks for: pages of a batch, from a cursor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum DocumentBatch {
    /// The posted run's documents in numbering order, announced by its `run.posted`
    /// event `source`.
    #[serde(rename_all = "camelCase")]
    Posted {
        source: uuid::Uuid,
        page: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cursor: Option<String>,
    },
    /// The documents of a delivery request with their results, announced by its
    /// `delivery_request.completed` event `source`.
    #[serde(rename_all = "camelCase")]
    Delivered {
        request_id: DeliveryRequestId,
        source: uuid::Uuid,
        page: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cursor: Option<String>,
    },
    /// The bounce recorded on a (request, document) result.
    #[serde(rename_all = "camelCase")]
    Bounced {
        request_id: DeliveryRequestId,
        document_id: DocumentId,
    },
}

impl DocumentBatch {
    /// The batch a run event implies: the posted documents of `run.posted`, the
    /// results of `delivery_request.completed`'s request.
    pub fn implied_by(event: &super::events::RunEvent) -> Option<DocumentBatch> {
        use super::events::RunEventType;
        match event.event_type {
            RunEventType::Posted => Some(DocumentBatch::Posted {
                source: event.id,
                page: 0,
                cursor: None,
            }),
            RunEventType::DeliveryRequestCompleted => {
                event.request_id.map(|r| DocumentBatch::Delivered {
                    request_id: DeliveryRequestId(r),
                    source: event.id,
                    page: 0,
                    cursor: None,
                })
            }
            _ => None,
        }
    }

    /// The same batch at `page` from `cursor` (a bounce is one page).
    pub fn at(self, page: u32, cursor: Option<String>) -> DocumentBatch {
        match self {
            DocumentBatch::Posted { source, .. } => DocumentBatch::Posted {
                source,
                page,
                cursor,
            },
            DocumentBatch::Delivered {
                request_id, source, ..
            } => DocumentBatch::Delivered {
                request_id,
                source,
                page,
                cursor,
            },
            b @ DocumentBatch::Bounced { .. } => b,
        }
    }

    /// The id of the event that reports the batch's page `page`.
    pub fn event_id(&self, page: u32) -> uuid::Uuid {
        let name = match self {
            DocumentBatch::Posted { source, .. } | DocumentBatch::Delivered { source, .. } => {
                format!("documents/{source}/{page}")
            }
            DocumentBatch::Bounced {
                request_id,
                document_id,
            } => format!("bounce/{request_id}/{document_id}"),
        };
        uuid::Uuid::new_v5(&DOCUMENT_EVENT_NAMESPACE, name.as_bytes())
    }

    pub fn event_type(&self) -> super::events::RunEventType {
        use super::events::RunEventType;
        match self {
            DocumentBatch::Posted { .. } => RunEventType::DocumentsPosted,
            DocumentBatch::Delivered { .. } => RunEventType::DocumentsDelivered,
            DocumentBatch::Bounced { .. } => RunEventType::DocumentsBounced,
        }
    }
}

/// The `data` of a per-document event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentsData {
    pub run_id: RunId,
    pub run_number: String,
    /// The delivery request a `documents.delivered` or `documents.bounced` event
    /// reports on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<DeliveryRequestId>,
    /// The page of the batch (0-based): a receiver has every document of a batch once
    /// it has its pages from 0 up to the one with `lastPage`.
    pub page: u32,
    pub last_page: bool,
    pub documents: Vec<DocumentSummary>,
}

/// A document as an event reports it: the canonical document without its lines
/// (`GET /v1/invoices/{id}` has them), and the result of its delivery where the event
/// is about one.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentSummary {
    pub id: DocumentId,
    pub number: Option<String>,
    pub kind: DocumentKind,
    pub account_id: AccountId,
    pub currency: Currency,
    pub invoice_date: NaiveDate,
    pub due_date: NaiveDate,
    pub status: DocumentStatus,
    pub totals: Totals,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliveryState>,
}

impl DocumentSummary {
    pub fn of(d: &Document, delivery: Option<DeliveryState>) -> DocumentSummary {
        DocumentSummary {
            id: d.id,
            number: d.number.clone(),
            kind: d.kind,
            account_id: d.account_id.clone(),
            currency: d.currency,
            invoice_date: d.invoice_date,
            due_date: d.due_date,
            status: d.status,
            totals: d.totals.clone(),
            delivery,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_of_a_batch_has_one_id_and_batches_do_not_share_ids() {
        let source = uuid::Uuid::new_v4();
        let posted = DocumentBatch::Posted {
            source,
            page: 0,
            cursor: None,
        };
        assert_eq!(
            posted.event_id(3),
            posted.clone().at(3, Some("x".into())).event_id(3)
        );
        assert_ne!(posted.event_id(0), posted.event_id(1));
        let request_id = DeliveryRequestId(uuid::Uuid::new_v4());
        let document_id = DocumentId(uuid::Uuid::new_v4());
        let bounced = DocumentBatch::Bounced {
            request_id,
            document_id,
        };
        assert_eq!(bounced.event_id(0), bounced.clone().at(5, None).event_id(0));
        let other = DocumentBatch::Posted {
            source: uuid::Uuid::new_v4(),
            page: 0,
            cursor: None,
        };
        assert_ne!(posted.event_id(0), other.event_id(0));
    }
}
