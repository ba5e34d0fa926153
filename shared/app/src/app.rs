//! The composition: [`App`] holds every port once, with the configuration, and hands out
//! the feature services, each over only the ports it uses. Adapters are chosen by whoever
//! builds the `App` (a function's `main`, the local mode, a test): [`App::in_memory`], or
//! [`App::over`] a store that implements every storage port.

use crate::deliveries::Deliveries;
use crate::docgen::DocumentGenerator;
use crate::error::AppError;
use crate::error::ConflictCode;
use crate::memory::{MemoryBlobs, MemoryExportFiles, MemoryQueue, MemoryStore, NoExportFiles};
use crate::model::Message;
use crate::pipeline::{RunPipeline, DEFAULT_FINALIZE_PAGE, DEFAULT_PLAN_PAGE};
use crate::ports::*;
use crate::queries::Queries;
use crate::reference::Reference;
use crate::schedules::{Schedules, TickReport};
use crate::sweeper::{SweepConfig, Sweeper};
use crate::templates::Templates;
use billrun_domain::ids::RunId;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use tracing::warn;

/// How far back the tick looks for posted `autoEmail` runs without their request.
const AUTO_EMAIL_CATCH_UP_DAYS: i64 = 2;

/// Every port once, and the configuration. Services are built on demand (a handful of
/// `Arc` clones), so a test that swaps a port or the clock affects every service.
#[derive(Clone)]
pub struct App {
    pub runs: Arc<dyn RunStore>,
    /// The audit trail: read by [`App::audit`], added to by the dispatcher.
    pub audit: Arc<dyn AuditLog>,
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
    pub payments: Arc<dyn PaymentStore>,
    pub exports: Arc<dyn ExportStore>,
    /// Export files: none unless the composition gives a store ([`App::with_export_files`]).
    pub export_files: Arc<dyn ExportFiles>,
    /// Bytes per uploaded part of an export file.
    pub export_part_bytes: usize,
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
    /// Webhook endpoints and deliveries.
    pub webhooks: Arc<dyn WebhookStore>,
    /// Sends webhooks: none unless the composition gives one ([`App::with_webhooks`]).
    pub webhook_sender: Arc<dyn WebhookSender>,
    /// Where events are published (EventBridge on AWS); none locally.
    pub event_bus: Option<Arc<dyn EventBus>>,
    pub dispatch: crate::dispatch::DispatchConfig,
    /// The controls a deployment requires of its users (maker–checker).
    pub controls: crate::controls::Controls,
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
            audit: store.clone(),
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
            document_requests: store.clone(),
            payments: store.clone(),
            exports: store.clone(),
            webhooks: store,
            webhook_sender: Arc::new(crate::memory::NoWebhookSender),
            event_bus: None,
            dispatch: crate::dispatch::DispatchConfig::default(),
            controls: crate::controls::Controls::default(),
            export_files: Arc::new(NoExportFiles),
            export_part_bytes: crate::model::exports::EXPORT_PART_BYTES,
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

    /// The same composition writing export files to `files`.
    pub fn with_export_files(mut self, files: Arc<dyn ExportFiles>) -> App {
        self.export_files = files;
        self
    }

    /// The same composition sending webhooks with `sender`.
    pub fn with_webhooks(mut self, sender: Arc<dyn WebhookSender>) -> App {
        self.webhook_sender = sender;
        self
    }

    /// The same composition publishing events on `bus`.
    pub fn with_event_bus(mut self, bus: Arc<dyn EventBus>) -> App {
        self.event_bus = Some(bus);
        self
    }

    /// The same composition queuing the dispatch of a run's events after each write
    /// that recorded some ([`crate::dispatch::DispatchAfterWrite`]): for compositions
    /// without a change stream (the local mode, tests).
    pub fn dispatching_after_writes(mut self) -> App {
        self.runs = Arc::new(crate::dispatch::DispatchAfterWrite {
            inner: self.runs.clone(),
            queue: self.queue.clone(),
        });
        self
    }

    /// Every storage port in memory (export files too), with the renderer given.
    pub fn in_memory(
        store: Arc<MemoryStore>,
        queue: Arc<MemoryQueue>,
        renderer: Arc<dyn DocumentRenderer>,
    ) -> App {
        App::over(store, queue, Arc::new(MemoryBlobs::default()), renderer)
            .with_export_files(Arc::new(MemoryExportFiles::default()))
    }

    /// Create, start, plan, process, finalize, post, cancel, retry and change runs.
    pub fn pipeline(&self) -> RunPipeline {
        RunPipeline {
            runs: self.runs.clone(),
            book: self.book.clone(),
            documents: self.documents.clone(),
            ledger: self.ledger.clone(),
            payments: self.payments.clone(),
            sequences: self.sequences.clone(),
            queue: self.queue.clone(),
            due: self.due.clone(),
            clock: self.clock.clone(),
            plan_page_size: self.plan_page_size,
            finalize_page_size: self.finalize_page_size,
            emails: self.delivery.is_some(),
            controls: self.controls,
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
            clock: self.clock.clone(),
        }
    }

    /// The audit trail.
    pub fn audit(&self) -> crate::audit::AuditTrail {
        crate::audit::AuditTrail {
            log: self.audit.clone(),
            clock: self.clock.clone(),
        }
    }

    /// The book, accounts, subscriptions, usage, adjustments, invoice schedules.
    pub fn reference(&self) -> Reference {
        Reference {
            book: self.book.clone(),
            subscriptions: self.subscriptions.clone(),
            invoice_schedules: self.invoice_schedules.clone(),
            due: self.due.clone(),
            audit: self.audit.clone(),
            clock: self.clock.clone(),
        }
    }

    /// Document templates.
    pub fn templates(&self) -> Templates {
        Templates {
            templates: self.templates.clone(),
            renderer: self.renderer.clone(),
            blobs: self.blobs.clone(),
            queue: self.queue.clone(),
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

    /// Email delivery; refused (409 `delivery_not_configured`) by a composition without
    /// a mail transport.
    pub fn deliveries(&self) -> Result<Deliveries, AppError> {
        let Some(d) = &self.delivery else {
            return Err(AppError::conflict(
                ConflictCode::DeliveryNotConfigured,
                "this deployment has no mail transport: documents cannot be emailed",
            ));
        };
        Ok(Deliveries {
            runs: self.runs.clone(),
            documents: self.documents.clone(),
            book: self.book.clone(),
            templates: self.templates.clone(),
            renderer: self.renderer.clone(),
            docgen: self.docgen(),
            queue: self.queue.clone(),
            clock: self.clock.clone(),
            store: d.store.clone(),
            mailer: d.mailer.clone(),
            from: d.from.clone(),
        })
    }

    /// Exports of runs to files.
    pub fn exports(&self) -> crate::exports::Exports {
        crate::exports::Exports {
            runs: self.runs.clone(),
            document_listing: self.document_listing.clone(),
            store: self.exports.clone(),
            files: self.export_files.clone(),
            queue: self.queue.clone(),
            clock: self.clock.clone(),
            part_bytes: self.export_part_bytes,
        }
    }

    /// Webhook endpoints and their deliveries.
    pub fn webhooks(&self) -> crate::webhooks::Webhooks {
        crate::webhooks::Webhooks {
            store: self.webhooks.clone(),
            sender: self.webhook_sender.clone(),
            queue: self.queue.clone(),
            clock: self.clock.clone(),
        }
    }

    /// Hands run events to the bus and the webhook endpoints; sends deliveries.
    pub fn dispatcher(&self) -> crate::dispatch::Dispatcher {
        crate::dispatch::Dispatcher {
            runs: self.runs.clone(),
            audit: self.audit.clone(),
            queries: self.queries(),
            store: self.webhooks.clone(),
            documents: self.documents.clone(),
            deliveries: self.delivery.as_ref().map(|d| d.store.clone()),
            sender: self.webhook_sender.clone(),
            bus: self.event_bus.clone(),
            queue: self.queue.clone(),
            clock: self.clock.clone(),
            config: self.dispatch.clone(),
        }
    }

    /// Payments against posted invoices and each invoice's settlement.
    pub fn payments(&self) -> crate::payments::Payments {
        crate::payments::Payments {
            documents: self.documents.clone(),
            store: self.payments.clone(),
            clock: self.clock.clone(),
            run_listing: self.run_listing.clone(),
            document_listing: self.document_listing.clone(),
        }
    }

    /// Refuses, before anything is stored, a run request with `autoEmail` where no mail
    /// transport is set up (409 `delivery_not_configured`), and one with `autoPost`
    /// under maker–checker (409 `maker_checker`).
    pub fn check_request(
        &self,
        request: &billrun_domain::request::RunRequest,
    ) -> Result<(), AppError> {
        self.controls.check_request(request)?;
        if request.auto_email && self.delivery.is_none() {
            return Err(AppError::Conflict {
                code: ConflictCode::DeliveryNotConfigured,
                message: "autoEmail needs a mail transport, and this deployment has none".into(),
                field: Some("autoEmail".into()),
            });
        }
        Ok(())
    }

    /// Posts a completed run ([`RunPipeline::post_run`]), then makes its `autoEmail`
    /// delivery request (once: a repeated post finds it made).
    pub async fn post_run(&self, id: RunId) -> Result<crate::model::RunRecord, AppError> {
        let run = self.pipeline().post_run(id).await?;
        if run.request.auto_email && self.delivery.is_some() {
            self.deliveries()?.auto_email_of(&run, None).await?;
        }
        Ok(run)
    }

    /// Posts a selection of a completed run's documents
    /// ([`RunPipeline::post_documents`]); when that posts the run, its `autoEmail`
    /// delivery request is made as for a whole post.
    pub async fn post_documents(
        &self,
        id: RunId,
        selection: &crate::pipeline::Selection,
    ) -> Result<crate::model::RunRecord, AppError> {
        let run = self.pipeline().post_documents(id, selection).await?;
        if run.status == billrun_domain::run::RunStatus::Posted
            && run.request.auto_email
            && self.delivery.is_some()
        {
            self.deliveries()?.auto_email_of(&run, None).await?;
        }
        Ok(run)
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
        let mut report = crate::schedules::tick(&self.schedules(), &self.sweeper(), now).await?;
        if self.delivery.is_some() {
            if let Err(e) = self.auto_email_catch_up(now).await {
                report.failures.push(format!("autoEmail catch-up: {e}"));
            }
        }
        Ok(report)
    }

    /// Makes the `autoEmail` request of each run created in the last
    /// [`AUTO_EMAIL_CATCH_UP_DAYS`] days that was posted without one (its queue message
    /// was lost to a crash after the post), and queues again the documents of such a
    /// request that stalled unfinished (its messages were lost).
    async fn auto_email_catch_up(&self, now: DateTime<Utc>) -> Result<(), AppError> {
        let filter = crate::model::listing::RunFilter {
            created_since: Some(now - chrono::TimeDelta::days(AUTO_EMAIL_CATCH_UP_DAYS)),
            status: Some(billrun_domain::run::RunStatus::Posted),
            ..Default::default()
        };
        let deliveries = self.deliveries()?;
        let mut after = None;
        loop {
            let page = self
                .run_listing
                .list_runs(&filter, after.as_ref(), 100)
                .await?;
            for run in &page {
                if run.request.auto_email {
                    deliveries.auto_email_of(run, Some(now)).await?;
                }
            }
            match page.last() {
                Some(last) if page.len() == 100 => {
                    after = Some(crate::model::listing::RunPosition::of(last))
                }
                _ => return Ok(()),
            }
        }
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
            Message::Deliver {
                request_id,
                document_ids,
            } => self.deliveries()?.deliver(*request_id, document_ids).await,
            Message::Feedback {
                request_id,
                document_id,
                feedback,
            } => {
                self.deliveries()?
                    .record_feedback(*request_id, *document_id, feedback)
                    .await
            }
            Message::Export { export_id } => self.exports().write(*export_id).await,
            Message::Dispatch {
                run_id,
                from_version,
                through_version,
            } => self
                .dispatcher()
                .dispatch(*run_id, *from_version..=through_version.unwrap_or(u64::MAX))
                .await
                .map(|_| ()),
            Message::DocumentEvents { run_id, batch } => self
                .dispatcher()
                .dispatch_documents(*run_id, batch.clone())
                .await
                .map(|_| ()),
            Message::Webhook { delivery_id } => self.dispatcher().send(*delivery_id).await,
            Message::TemplateSample {
                template_id,
                digest,
            } => self.templates().render_sample(template_id, digest).await,
            Message::AutoEmail { run_id } => match &self.delivery {
                Some(_) => self.deliveries()?.auto_email(*run_id).await.map(|_| ()),
                None => {
                    warn!(run_id = %run_id, "autoEmail: this composition has no mail transport");
                    Ok(())
                }
            },
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
            Message::Deliver {
                request_id,
                document_ids,
            } => {
                self.deliveries()?
                    .give_up(*request_id, document_ids, reason)
                    .await
            }
            Message::Export { export_id } => self.exports().give_up(*export_id, reason).await,
            Message::Dispatch { run_id, .. } => {
                // Locally only (AWS dispatches from the table's stream): the next start
                // of `serve` dispatches the run's events again.
                warn!(run_id = %run_id, reason, "the dispatch of a run's events given up");
                Ok(())
            }
            Message::DocumentEvents { run_id, .. } => {
                // The events already made stand; the rest of the batch is made again by
                // a dispatch of the event that implies it (`serve` at its start).
                warn!(run_id = %run_id, reason, "a batch of document events given up");
                Ok(())
            }
            Message::Webhook { delivery_id } => {
                self.dispatcher().give_up(*delivery_id, reason).await
            }
            Message::AutoEmail { run_id } => {
                warn!(run_id = %run_id, reason, "autoEmail message given up");
                Ok(())
            }
            Message::TemplateSample { template_id, .. } => {
                // The sample stays pending; `POST .../sample` queues it again.
                warn!(template_id = %template_id, reason, "a template's sample given up");
                Ok(())
            }
            Message::Feedback {
                request_id,
                document_id,
                ..
            } => {
                // The send it reports was never recorded (the claim's lease gives
                // the document to another send): the report is of no result.
                warn!(request_id = %request_id, document_id = %document_id, reason,
                    "a bounce or complaint given up");
                Ok(())
            }
        }
    }
}
