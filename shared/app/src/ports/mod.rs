//! The ports: small traits named by capability, one file per port group. Every one has
//! an in-memory adapter ([`crate::memory`]) and, in `shared/aws`, a DynamoDB / S3 / SQS
//! one. A feature service holds only the ports it uses.

mod audit;
mod blobs;
mod book;
mod clock;
mod deliveries;
mod document_requests;
mod documents;
mod exports;
mod ledger;
mod listings;
mod mailer;
mod payments;
mod queue;
mod renderer;
mod runs;
mod schedules;
mod sequences;
mod templates;
mod webhooks;

pub use audit::AuditLog;
pub use blobs::{byte_range, slice_range, BlobStore};
pub use book::BookStore;
pub use clock::{Clock, SystemClock};
pub use deliveries::DeliveryStore;
pub use document_requests::DocumentRequestStore;
pub use documents::DocumentStore;
pub use exports::{ExportCreated, ExportFiles, ExportStore};
pub use ledger::WatermarkStore;
pub use listings::{AccountListing, DocumentListing, RunListing, SubscriptionIndex};
pub use mailer::{Accepted, Mailer, SendFailed};
pub use payments::PaymentStore;
pub use queue::WorkQueue;
pub use renderer::{
    DocumentRenderer, EmailContent, RenderContext, RenderFailed, RenderTemplate, TemplateRejected,
};
pub use runs::RunStore;
pub use schedules::{DueIndex, RunScheduleStore, ScheduleStore};
pub use sequences::SequenceStore;
pub use templates::TemplateStore;
pub use webhooks::{
    EventBus, OutgoingWebhook, WebhookResponse, WebhookSendError, WebhookSender, WebhookStore,
};

use crate::error::StoreError;

pub type StoreResult<T> = Result<T, StoreError>;

/// Every storage port: what one store (the memory store, the DynamoDB table) implements,
/// so that composition can hand it out as each port.
pub trait Storage:
    RunStore
    + AuditLog
    + BookStore
    + DocumentStore
    + WatermarkStore
    + SequenceStore
    + RunListing
    + AccountListing
    + DocumentListing
    + SubscriptionIndex
    + ScheduleStore
    + TemplateStore
    + RunScheduleStore
    + DueIndex
    + DocumentRequestStore
    + PaymentStore
    + ExportStore
    + WebhookStore
{
}

impl<T> Storage for T where
    T: RunStore
        + AuditLog
        + BookStore
        + DocumentStore
        + WatermarkStore
        + SequenceStore
        + RunListing
        + AccountListing
        + DocumentListing
        + SubscriptionIndex
        + ScheduleStore
        + TemplateStore
        + RunScheduleStore
        + DueIndex
        + DocumentRequestStore
        + PaymentStore
        + ExportStore
        + WebhookStore
{
}
