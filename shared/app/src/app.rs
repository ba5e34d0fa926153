//! The composition: [`App`] holds every port once, with the configuration, and hands out
//! the feature services, each over only the ports it uses. Adapters are chosen by whoever
//! builds the `App` (a function's `main`, the local mode, a test): [`App::in_memory`], or
//! [`App::over`] a store that implements every storage port.

use crate::docgen::DocumentGenerator;
use crate::error::AppError;
use crate::memory::{MemoryBlobs, MemoryQueue, MemoryStore};
use crate::model::Message;
use crate::pipeline::{RunPipeline, DEFAULT_FINALIZE_PAGE, DEFAULT_PLAN_PAGE};
use crate::ports::*;
use crate::queries::Queries;
use crate::reference::Reference;
use crate::schedules::{Schedules, TickReport};
use crate::sweeper::{SweepConfig, Sweeper};
use crate::templates::Templates;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use tracing::warn;

/// Every port once, and the configuration. Services are built on demand (a handful of
/// `Arc` clones), so a test that swaps a port or the clock affects every service.
#[derive(Clone)]
pub struct App {
    pub runs: Arc<dyn RunStore>,
    pub book: Arc<dyn BookStore>,
    pub documents: Arc<dyn DocumentStore>,
    pub ledger: Arc<dyn WatermarkStore>,
    pub sequences: Arc<dyn SequenceStore>,
    pub queue: Arc<dyn WorkQueue>,
    /// Rendered document files.
    pub blobs: Arc<dyn BlobStore>,
    pub clock: Arc<dyn Clock>,
    pub run_listing: Arc<dyn RunListing>,
    pub account_listing: Arc<dyn AccountListing>,
    pub document_listing: Arc<dyn DocumentListing>,
    pub subscriptions: Arc<dyn SubscriptionIndex>,
    pub invoice_schedules: Arc<dyn ScheduleStore>,
    pub templates: Arc<dyn TemplateStore>,
    pub run_schedules: Arc<dyn RunScheduleStore>,
    pub due: Arc<dyn DueIndex>,
    pub document_requests: Arc<dyn DocumentRequestStore>,
    /// Reads templates and renders documents.
    pub renderer: Arc<dyn DocumentRenderer>,
    pub plan_page_size: usize,
    /// Documents numbered per finalization page (the cursor is stored after each).
    pub finalize_page_size: usize,
    /// When a Processing run counts as stuck, and how often its messages are re-sent.
    pub sweep: SweepConfig,
    /// Email delivery: absent in a composition with no mail transport, whose delivery
    /// requests are refused (409 `delivery_not_configured`).
    pub delivery: Option<DeliveryPorts>,
}

/// What email delivery needs beside the other ports: where results are stored, the
/// transport, and the sender address every message is from.
#[derive(Clone)]
pub struct DeliveryPorts {
    pub store: Arc<dyn DeliveryStore>,
    pub mailer: Arc<dyn Mailer>,
    /// The `From` address (a checked address; on AWS, an SES-verified identity).
    pub from: String,
}

impl App {
    /// Every storage port on `store`, with the queue, the file store and the renderer
    /// given, the wall clock and the default configuration.
    pub fn over<S: Storage + 'static>(
        store: Arc<S>,
        queue: Arc<dyn WorkQueue>,
        blobs: Arc<dyn BlobStore>,
        renderer: Arc<dyn DocumentRenderer>,
    ) -> App {
        App {
            runs: store.clone(),
            book: store.clone(),
            documents: store.clone(),
            ledger: store.clone(),
            sequences: store.clone(),
            run_listing: store.clone(),
            account_listing: store.clone(),
            document_listing: store.clone(),
            subscriptions: store.clone(),
            invoice_schedules: store.clone(),
            templates: store.clone(),
            run_schedules: store.clone(),
            due: store.clone(),
            document_requests: store,
            queue,
            blobs,
            renderer,
            clock: Arc::new(SystemClock),
            plan_page_size: DEFAULT_PLAN_PAGE,
            finalize_page_size: DEFAULT_FINALIZE_PAGE,
            sweep: SweepConfig::default(),
            delivery: None,
        }
    }

    /// The same composition with email delivery.
    pub fn with_delivery(mut self, delivery: DeliveryPorts) -> App {
        self.delivery = Some(delivery);
        self
    }

    /// Every storage port in memory, with the renderer given.
    pub fn in_memory(
        store: Arc<MemoryStore>,
        queue: Arc<MemoryQueue>,
        renderer: Arc<dyn DocumentRenderer>,
    ) -> App {
        App::over(store, queue, Arc::new(MemoryBlobs::default()), renderer)
    }

    /// Create, start, plan, process, finalize, post, cancel, retry and change runs.
    pub fn pipeline(&self) -> RunPipeline {
        RunPipeline {
            runs: self.runs.clone(),
            book: self.book.clone(),
            documents: self.documents.clone(),
            ledger: self.ledger.clone(),
            sequences: self.sequences.clone(),
            queue: self.queue.clone(),
            due: self.due.clone(),
            clock: self.clock.clone(),
            plan_page_size: self.plan_page_size,
            finalize_page_size: self.finalize_page_size,
        }
    }

    /// Runs with their counters, listings, a run's documents and outcomes.
    pub fn queries(&self) -> Queries {
        Queries {
            runs: self.runs.clone(),
            documents: self.documents.clone(),
            run_listing: self.run_listing.clone(),
            account_listing: self.account_listing.clone(),
            document_listing: self.document_listing.clone(),
            document_requests: self.document_requests.clone(),
        }
    }

    /// The book, accounts, subscriptions, usage, adjustments, invoice schedules.
    pub fn reference(&self) -> Reference {
        Reference {
            book: self.book.clone(),
            subscriptions: self.subscriptions.clone(),
            invoice_schedules: self.invoice_schedules.clone(),
            due: self.due.clone(),
            clock: self.clock.clone(),
        }
    }

    /// Document templates.
    pub fn templates(&self) -> Templates {
        Templates {
            templates: self.templates.clone(),
            renderer: self.renderer.clone(),
            clock: self.clock.clone(),
        }
    }

    /// Run schedules, due entries, invoice-schedule items.
    pub fn schedules(&self) -> Schedules {
        Schedules {
            pipeline: self.pipeline(),
            queries: self.queries(),
            run_schedules: self.run_schedules.clone(),
            due: self.due.clone(),
            invoice_schedules: self.invoice_schedules.clone(),
            runs: self.runs.clone(),
            book: self.book.clone(),
            ledger: self.ledger.clone(),
            documents: self.documents.clone(),
            clock: self.clock.clone(),
        }
    }

    /// PDF generation requests, rendering, downloads.
    pub fn docgen(&self) -> DocumentGenerator {
        DocumentGenerator {
            runs: self.runs.clone(),
            documents: self.documents.clone(),
            book: self.book.clone(),
            document_requests: self.document_requests.clone(),
            templates: self.templates.clone(),
            blobs: self.blobs.clone(),
            queue: self.queue.clone(),
            renderer: self.renderer.clone(),
            clock: self.clock.clone(),
        }
    }

    /// The stuck-run sweeper.
    pub fn sweeper(&self) -> Sweeper {
        Sweeper {
            pipeline: self.pipeline(),
            run_listing: self.run_listing.clone(),
            config: self.sweep,
        }
    }

    /// Every piece of time-driven work that is due at `now` ([`crate::schedules::tick`]).
    pub async fn tick(&self, now: DateTime<Utc>) -> Result<TickReport, AppError> {
        crate::schedules::tick(&self.schedules(), &self.sweeper(), now).await
    }

    /// Handles one queue message.
    pub async fn handle(&self, message: &Message) -> Result<(), AppError> {
        self.handle_delivery(message, 1).await
    }

    /// Handles the `receives`-th delivery of a queue message (SQS's
    /// ApproximateReceiveCount): a planning page delivered again may have to queue its
    /// successor again ([`crate::pipeline::RunPipeline::plan_page`]).
    pub async fn handle_delivery(&self, message: &Message, receives: u32) -> Result<(), AppError> {
        match message {
            Message::Plan { run_id, page } => {
                self.pipeline()
                    .plan_delivery(*run_id, *page, receives)
                    .await
            }
            Message::Account {
                run_id,
                account_id,
                round,
            } => {
                self.pipeline()
                    .process_account(*run_id, account_id, *round)
                    .await
            }
            Message::Document {
                request_id,
                document_ids,
            } => {
                self.docgen()
                    .generate_documents(*request_id, document_ids)
                    .await
            }
        }
    }

    /// What to do with a message that will not be delivered again (its last allowed
    /// receive failed): an account is recorded Failed with the reason, so the run
    /// still completes.
    pub async fn give_up(&self, message: &Message, reason: &str) -> Result<(), AppError> {
        match message {
            Message::Account {
                run_id,
                account_id,
                round,
            } => {
                self.pipeline()
                    .record_failure(*run_id, account_id, *round, reason)
                    .await
            }
            Message::Plan { run_id, .. } => {
                warn!(run_id = %run_id, reason, "planning message given up");
                Ok(())
            }
            Message::Document {
                request_id,
                document_ids,
            } => {
                self.docgen()
                    .give_up_documents(*request_id, document_ids, reason)
                    .await
            }
        }
    }
}
