//! Email delivery: a request to email a Posted run's numbered documents to their
//! accounts' `billTo` addresses, one queue message per chunk of
//! [`DOCUMENTS_PER_DELIVERY_MESSAGE`] documents in numbering order, each document sent
//! at most once per request with its PDF attached (the module comment of
//! [`crate::model::deliveries`] has the exactly-once design; docs/decisions.md
//! "Exactly-once email").

pub use crate::model::deliveries::*;

use crate::docgen::DocumentGenerator;
use crate::error::{AppError, ConflictCode, StoreError};
use crate::model::documents::GenerationStatus;
use crate::model::{Message, StoredDocument};
use crate::ports::*;
use billrun_domain::document::{DocumentKind, DocumentStatus};
use billrun_domain::ids::{DeliveryRequestId, DocumentId, RunId};
use billrun_domain::run::RunStatus;
use std::sync::Arc;
use tracing::{info_span, warn, Instrument};

/// The UUID v5 namespace of request ids derived from an `Idempotency-Key` (or a run's
/// `autoEmail`).
const IDEMPOTENCY_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x2c7e_91a4_5b3d_4f60_8e1a_7d2c_9b4e_0f13);
/// Minutes without a send after which the tick queues an unfinished `autoEmail`
/// request's documents again.
pub const STALLED_AFTER_MINUTES: i64 = 15;
/// Sends of one (request, document) before it is recorded Failed.
pub const MAX_SEND_ATTEMPTS: u32 = 5;
/// Tries of a result's record after its message was sent, before the message is left
/// to its lease (the window in which a second copy can go out).
const RECORD_TRIES: u32 = 3;

/// Email delivery over the ports it uses.
#[derive(Clone)]
pub struct Deliveries {
    pub runs: Arc<dyn RunStore>,
    pub documents: Arc<dyn DocumentStore>,
    /// The address a document is emailed to.
    pub book: Arc<dyn BookStore>,
    pub templates: Arc<dyn TemplateStore>,
    pub renderer: Arc<dyn DocumentRenderer>,
    /// The PDFs: generated first for documents that have none.
    pub docgen: DocumentGenerator,
    pub queue: Arc<dyn WorkQueue>,
    pub clock: Arc<dyn Clock>,
    pub store: Arc<dyn DeliveryStore>,
    pub mailer: Arc<dyn Mailer>,
    pub from: String,
}

/// What a delivery request asks beyond the run's documents.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmailOptions {
    /// Overrides the run's `emailZeroAmountInvoices`.
    #[serde(default)]
    pub email_zero_amount_invoices: Option<bool>,
    /// Skips documents an earlier request emailed.
    #[serde(default)]
    pub only_unsent: bool,
}

/// What [`Deliveries::request_emails`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    New,
    /// The key's request existed: its unfinished documents' messages were sent again.
    Replayed,
}

impl Deliveries {
    /// Creates a request to email the run's numbered Posted documents and queues its
    /// messages. With an `Idempotency-Key` the request's id is derived from the run and
    /// the key, so a replay answers the same request (and re-queues its unfinished
    /// documents). Refused, with nothing stored or queued, when the run is not Posted or
    /// no template is active. Documents without a PDF get one first: a document
    /// request of the run is made for them ([`DocumentGenerator`]), and each delivery
    /// message generates its chunk's missing PDFs through it before sending.
    pub async fn request_emails(
        &self,
        run_id: RunId,
        idempotency_key: Option<&str>,
        options: EmailOptions,
    ) -> Result<(DeliveryRequestView, DeliveryOutcome), AppError> {
        let id = match idempotency_key {
            Some(key) => derived_id(run_id, key),
            None => DeliveryRequestId(uuid::Uuid::new_v4()),
        };
        if idempotency_key.is_some() {
            if let Some(view) = self.replay(id, run_id).await? {
                return Ok((view, DeliveryOutcome::Replayed));
            }
        }
        self.create(id, run_id, DeliveryTrigger::Api, options).await
    }

    /// The delivery request of a posted run with `autoEmail`, made once (its id is
    /// derived from the run). When it exists, its unfinished documents are queued again
    /// (a redelivered `AutoEmail` message: the first may have stored the request and
    /// failed to queue its messages; a document already sent is never sent again).
    pub async fn auto_email(&self, run_id: RunId) -> Result<Option<DeliveryRequestView>, AppError> {
        match self.runs.get_run(run_id).await? {
            Some(run) => self.auto_email_of(&run, None).await,
            None => Ok(None),
        }
    }

    /// [`Deliveries::auto_email`] of a run its caller has read already (the post, the
    /// tick's listing). From the scheduler's tick (`now` given), an existing request's
    /// documents are queued again only when it is unfinished and nothing was sent for
    /// [`STALLED_AFTER_MINUTES`] (its messages were lost), so that a large request in
    /// progress is not queued again every tick.
    pub async fn auto_email_of(
        &self,
        run: &crate::model::RunRecord,
        now: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<Option<DeliveryRequestView>, AppError> {
        let run_id = run.id;
        if run.status != RunStatus::Posted || !run.request.auto_email || run.deleted_at.is_some() {
            return Ok(None);
        }
        let id = derived_id(run_id, AUTO_EMAIL_KEY);
        if let Some((request, counters)) = self.store.get_delivery_request(id).await? {
            let unfinished = counters.sent + counters.skipped + counters.failed < request.requested;
            let last = counters.last_sent_at.unwrap_or(request.created_at);
            let stalled = now.is_none_or(|now| {
                now.signed_duration_since(last).num_minutes() >= STALLED_AFTER_MINUTES
            });
            if unfinished && stalled {
                return Ok(Some(self.resend(id).await?.0));
            }
            return Ok(None);
        }
        match self
            .create(
                id,
                run_id,
                DeliveryTrigger::AutoEmail,
                EmailOptions::default(),
            )
            .await
        {
            Ok((view, _)) => Ok(Some(view)),
            // No active template: the run's documents cannot be emailed; the run stays
            // Posted and the request can be made once a template is active.
            Err(AppError::Conflict {
                code: ConflictCode::NoActiveTemplate,
                ..
            }) => {
                warn!(run_id = %run_id, "autoEmail: no active document template; nothing sent");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    async fn replay(
        &self,
        id: DeliveryRequestId,
        run_id: RunId,
    ) -> Result<Option<DeliveryRequestView>, AppError> {
        match self.store.get_delivery_request(id).await? {
            Some((existing, _)) if existing.run_id == run_id => Ok(Some(self.resend(id).await?.0)),
            _ => Ok(None),
        }
    }

    async fn create(
        &self,
        id: DeliveryRequestId,
        run_id: RunId,
        trigger: DeliveryTrigger,
        options: EmailOptions,
    ) -> Result<(DeliveryRequestView, DeliveryOutcome), AppError> {
        let run = crate::pipeline::stored_run(&*self.runs, run_id).await?;
        if run.status != RunStatus::Posted {
            return Err(AppError::conflict(
                ConflictCode::RunNotPosted,
                format!(
                    "run {run_id} is {:?}; documents are emailed once their run is Posted",
                    run.status
                ),
            ));
        }
        let template = self.templates.active_template().await?.ok_or_else(|| {
            AppError::conflict(
                ConflictCode::NoActiveTemplate,
                "no active invoice document template",
            )
        })?;
        let docs = self.covered(run_id).await?;
        if self.any_without_pdf(&docs).await? {
            self.docgen
                .request_documents_once(run_id, Some(&format!("delivery/{id}")))
                .await?;
        }
        let request = DeliveryRequest {
            id,
            run_id,
            requested: docs.len() as u64,
            email_zero_amount_invoices: options
                .email_zero_amount_invoices
                .unwrap_or(run.request.email_zero_amount_invoices),
            only_unsent: options.only_unsent,
            template_id: template.id,
            trigger,
            created_at: self.clock.now(),
        };
        match self.store.create_delivery_request(&request).await {
            Ok(()) => {}
            // A concurrent replay of the same key stored it first.
            Err(StoreError::Conflict(_)) => {
                return Ok((self.resend(id).await?.0, DeliveryOutcome::Replayed));
            }
            Err(e) => return Err(e.into()),
        }
        let ids: Vec<DocumentId> = docs.iter().map(|d| d.document.id).collect();
        if let Err(e) = self.send_messages(id, &ids).await {
            return Err(AppError::transient(format!(
                "delivery request {id} is stored but queueing its messages failed ({e}); \
                 POST /v1/delivery-requests/{id}/resend (or a replay with the same \
                 Idempotency-Key) queues them"
            )));
        }
        if ids.is_empty() {
            // Nothing to send: complete as made.
            self.note_completion(id).await?;
        }
        Ok((
            DeliveryRequestView::new(request, DeliveryCounters::default()),
            DeliveryOutcome::New,
        ))
    }

    /// Sends again the messages of the request's documents that have not ended: no
    /// result, a retry pending, a claim whose lease ran out, or Failed (tried again with
    /// a fresh allowance of attempts). Returns the request and how many documents the
    /// messages sent cover.
    pub async fn resend(
        &self,
        id: DeliveryRequestId,
    ) -> Result<(DeliveryRequestView, u64), AppError> {
        let (request, counters) = self
            .store
            .get_delivery_request(id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("delivery request {id}")))?;
        let mut missing = Vec::new();
        if counters.sent + counters.skipped < request.requested {
            for d in self.covered(request.run_id).await? {
                let result = self.store.delivery_result(id, d.document.id).await?;
                if !result.is_some_and(|r| r.state.is_settled()) {
                    missing.push(d.document.id);
                }
            }
        }
        self.send_messages(id, &missing).await?;
        Ok((self.delivery_request(id).await?, missing.len() as u64))
    }

    pub async fn delivery_request(
        &self,
        id: DeliveryRequestId,
    ) -> Result<DeliveryRequestView, AppError> {
        let (r, counters) = self
            .store
            .get_delivery_request(id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("delivery request {id}")))?;
        Ok(DeliveryRequestView::new(r, counters))
    }

    /// Emails a chunk of the request's documents: each once. A document held by
    /// another sender, whose send is worth retrying, or whose store call failed,
    /// makes the message fail after the rest are done, so that it comes again (with
    /// the first error when there was one, so that its kind decides the disposition).
    pub async fn deliver(
        &self,
        request_id: DeliveryRequestId,
        document_ids: &[DocumentId],
    ) -> Result<(), AppError> {
        let span = info_span!("deliver_documents", request_id = %request_id,
            documents = document_ids.len());
        async move {
            let Some((request, _)) = self.store.get_delivery_request(request_id).await? else {
                return Ok(());
            };
            let template = self.template(&request).await?;
            if let Err(e) = self.generate_missing_pdfs(request.run_id, document_ids).await {
                // The documents still without a PDF wait (and come again); the others
                // need not.
                warn!(error = %e, "rendering the chunk's missing PDFs failed");
            }
            let mut again = 0usize;
            let mut first_error = None;
            for id in document_ids {
                match self.deliver_one(&request, &template, *id).await {
                    Ok(Step::Done) => {}
                    Ok(Step::Again) => again += 1,
                    // One document's failed read or write does not hold back the rest
                    // of the chunk: they are sent now, and the message comes again for
                    // this one.
                    Err(e) => {
                        warn!(document_id = %id, error = %e, "delivering a document failed");
                        again += 1;
                        first_error.get_or_insert(e);
                    }
                }
            }
            if let Some(e) = first_error {
                return Err(e);
            }
            if again > 0 {
                return Err(AppError::transient(format!(
                    "{again} of {} documents of delivery request {request_id} are to be tried again",
                    document_ids.len()
                )));
            }
            self.note_completion(request_id).await
        }
        .instrument(span)
        .await
    }

    /// The chunk's message will not come again (its last receive failed). A document
    /// held by a `Sending` claim may or may not have gone out: it is queued again in a
    /// message of its own, which sends it once the claim's lease has run out (its
    /// claims are bounded by [`MAX_SEND_ATTEMPTS`]), so no delivery is lost to a crash.
    /// The other unfinished documents are recorded Failed with the reason.
    pub async fn give_up(
        &self,
        request_id: DeliveryRequestId,
        document_ids: &[DocumentId],
        reason: &str,
    ) -> Result<(), AppError> {
        let mut held = Vec::new();
        for id in document_ids {
            let existing = self.store.delivery_result(request_id, *id).await?;
            let state = existing.as_ref().map(|r| &r.state);
            let reason = match state {
                Some(s) if s.is_final() => continue,
                Some(DeliveryState::Sending { attempt, .. }) if *attempt < MAX_SEND_ATTEMPTS => {
                    held.push(*id);
                    continue;
                }
                Some(DeliveryState::Sending { .. }) => {
                    format!("{reason} (interrupted while sending: the message may have gone out)")
                }
                Some(DeliveryState::Retrying { reason: last, .. }) => {
                    format!("{reason}; last send: {last}")
                }
                _ => reason.to_string(),
            };
            let failed = self.result(
                request_id,
                *id,
                DeliveryState::Failed {
                    reason,
                    attempt: state.map_or(0, DeliveryState::attempts),
                },
            );
            match self.store.record_delivery(existing.as_ref(), &failed).await {
                Ok(()) | Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.send_messages(request_id, &held).await?;
        self.note_completion(request_id).await
    }

    /// Records the request's `delivery_request.completed` event on its run once every
    /// document of it has a final result (sent, skipped or failed).
    async fn note_completion(&self, request_id: DeliveryRequestId) -> Result<(), AppError> {
        let Some((request, counters)) = self.store.get_delivery_request(request_id).await? else {
            return Ok(());
        };
        if counters.sent + counters.skipped + counters.failed < request.requested {
            return Ok(());
        }
        crate::pipeline::announce_request(
            &*self.runs,
            &*self.clock,
            request.run_id,
            crate::model::events::RunEventType::DeliveryRequestCompleted,
            request_id.0,
        )
        .await
    }

    /// Records a bounce or a complaint on the (request, document) result it concerns.
    /// Idempotent: a repeated event finds its state recorded and changes nothing. An
    /// event that overtakes the record of its send fails (transient), so that it comes
    /// again once the send is recorded; one about a result that is not a send is
    /// dropped with a warning.
    pub async fn record_feedback(
        &self,
        request_id: DeliveryRequestId,
        document_id: DocumentId,
        feedback: &Feedback,
    ) -> Result<(), AppError> {
        for _ in 0..RECORD_TRIES {
            let Some(existing) = self.store.delivery_result(request_id, document_id).await? else {
                warn!(request_id = %request_id, document_id = %document_id,
                    "a bounce or complaint names no result of this store; dropped");
                return Ok(());
            };
            let next = match feedback.step(&existing.state) {
                FeedbackStep::Record(next) => next,
                // A repeated event: its record may have been the last thing a worker
                // did before it stopped, so its announcement is queued (again).
                FeedbackStep::Unchanged => {
                    return self
                        .announce_bounce(&existing, request_id, document_id)
                        .await
                }
                FeedbackStep::NotYetSent => {
                    return Err(AppError::transient(format!(
                        "the send of document {document_id} for delivery request \
                         {request_id} is not recorded yet"
                    )))
                }
                FeedbackStep::NotSent => {
                    warn!(request_id = %request_id, document_id = %document_id,
                        "a bounce or complaint names a document this request did not send; dropped");
                    return Ok(());
                }
            };
            let next = self.result(request_id, document_id, next);
            if self.record(Some(&existing), &next).await? {
                return self.announce_bounce(&next, request_id, document_id).await;
            }
        }
        Err(AppError::transient(format!(
            "the delivery of document {document_id} for request {request_id} kept changing"
        )))
    }

    /// Queues the `documents.bounced` event of a result that shows a bounce (the
    /// dispatcher makes it once, by its id of (request, document), and only when
    /// someone asked for it). A failure fails the feedback's message, which comes
    /// again and finds the bounce recorded.
    async fn announce_bounce(
        &self,
        result: &DeliveryResult,
        request_id: DeliveryRequestId,
        document_id: DocumentId,
    ) -> Result<(), AppError> {
        if !matches!(result.state, DeliveryState::Bounced { .. }) {
            return Ok(());
        }
        let Some(document) = self.documents.get_document(document_id).await? else {
            return Ok(());
        };
        self.queue
            .send(vec![Message::DocumentEvents {
                run_id: document.document.run_id,
                batch: crate::model::document_events::DocumentBatch::Bounced {
                    request_id,
                    document_id,
                },
            }])
            .await?;
        Ok(())
    }

    /// The `deliveryStatus` of each document: its latest delivery record, or Queued
    /// when its run's latest request covers it and has no result for it yet.
    pub async fn document_deliveries(
        &self,
        docs: &[StoredDocument],
    ) -> Result<Vec<DocumentDeliveryView>, AppError> {
        let mut latest: std::collections::HashMap<RunId, Option<DeliveryRequestId>> =
            std::collections::HashMap::new();
        let mut out = Vec::with_capacity(docs.len());
        for d in docs {
            let run = d.document.run_id;
            let request = match latest.get(&run) {
                Some(r) => *r,
                None => {
                    let r = self.store.latest_delivery_request(run).await?;
                    latest.insert(run, r);
                    r
                }
            };
            let record = self.store.document_delivery(d.document.id).await?;
            out.push(document_delivery_view(d, request, record));
        }
        Ok(out)
    }

    /// One document of a chunk.
    async fn deliver_one(
        &self,
        request: &DeliveryRequest,
        template: &Result<Box<dyn RenderTemplate>, String>,
        id: DocumentId,
    ) -> Result<Step, AppError> {
        let now = self.clock.now();
        let existing = self.store.delivery_result(request.id, id).await?;
        let attempts = match existing.as_ref().map(|r| &r.state) {
            // Settled (`is_settled`), listed so that a new state is decided here.
            Some(
                DeliveryState::Sent { .. }
                | DeliveryState::Skipped { .. }
                | DeliveryState::Bounced { .. }
                | DeliveryState::Complained { .. },
            ) => return Ok(Step::Done),
            Some(DeliveryState::Sending { since, attempt }) => {
                if now.signed_duration_since(*since).num_seconds() < SENDING_LEASE_SECONDS {
                    return Ok(Step::Again); // another sender holds it
                }
                *attempt
            }
            // A Failed one is here through a resend: a fresh allowance.
            Some(DeliveryState::Failed { .. }) => 0,
            Some(DeliveryState::Retrying { attempt, .. }) => *attempt,
            None => 0,
        };
        let prepared = match self.prepare(request, template, id).await? {
            Prepared::Mail(mail) => mail,
            Prepared::Skip(reason) => {
                let next = self.result(request.id, id, DeliveryState::Skipped { reason });
                return self
                    .record(existing.as_ref(), &next)
                    .await
                    .map(|_| Step::Done);
            }
            Prepared::Fail(reason) => {
                let next = self.result(
                    request.id,
                    id,
                    DeliveryState::Failed {
                        reason,
                        attempt: attempts,
                    },
                );
                return self
                    .record(existing.as_ref(), &next)
                    .await
                    .map(|_| Step::Done);
            }
            Prepared::Wait => return Ok(Step::Again),
        };
        let claim = self.result(
            request.id,
            id,
            DeliveryState::Sending {
                since: now,
                attempt: attempts + 1,
            },
        );
        if !self.record(existing.as_ref(), &claim).await? {
            return Ok(Step::Again); // another sender claimed it first
        }
        let sent = self.mailer.send(&prepared).await;
        let next = match sent {
            Ok(accepted) => DeliveryState::Sent {
                at: self.clock.now(),
                provider_id: accepted.provider_id,
            },
            Err(SendFailed::Permanent(reason)) => DeliveryState::Failed {
                reason,
                attempt: attempts + 1,
            },
            Err(SendFailed::Transient(reason)) if attempts + 1 >= MAX_SEND_ATTEMPTS => {
                DeliveryState::Failed {
                    reason: format!("{reason} (after {MAX_SEND_ATTEMPTS} attempts)"),
                    attempt: attempts + 1,
                }
            }
            Err(SendFailed::Transient(reason)) => DeliveryState::Retrying {
                reason,
                attempt: attempts + 1,
            },
        };
        let retry = matches!(next, DeliveryState::Retrying { .. });
        let next = self.result(request.id, id, next);
        // The message went out (or not) whatever happens now: the record is tried a few
        // times before the claim is left to its lease.
        let mut tries = 0;
        loop {
            tries += 1;
            match self.store.record_delivery(Some(&claim), &next).await {
                Ok(()) => break,
                Err(StoreError::Transient(e)) if tries < RECORD_TRIES => {
                    warn!(request_id = %request.id, document_id = %id,
                        error = %e, "recording a sent email failed; trying again");
                    tokio::time::sleep(std::time::Duration::from_millis(100 * u64::from(tries)))
                        .await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(if retry { Step::Again } else { Step::Done })
    }

    /// Stores `next` over `existing`: `false` when another worker changed it first.
    async fn record(
        &self,
        existing: Option<&DeliveryResult>,
        next: &DeliveryResult,
    ) -> Result<bool, AppError> {
        match self.store.record_delivery(existing, next).await {
            Ok(()) => Ok(true),
            Err(StoreError::Conflict(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    fn result(
        &self,
        request: DeliveryRequestId,
        document: DocumentId,
        state: DeliveryState,
    ) -> DeliveryResult {
        DeliveryResult {
            request_id: request,
            document_id: document,
            state,
            at: self.clock.now(),
        }
    }

    /// The message for one document, or why there is none.
    async fn prepare(
        &self,
        request: &DeliveryRequest,
        template: &Result<Box<dyn RenderTemplate>, String>,
        id: DocumentId,
    ) -> Result<Prepared, AppError> {
        let Some(stored) = self.documents.get_document(id).await? else {
            return Ok(Prepared::Fail(format!("document {id} does not exist")));
        };
        let document = stored.document;
        let Some(number) = document.number.clone() else {
            return Ok(Prepared::Fail(format!("document {id} has no number")));
        };
        if document.status != DocumentStatus::Posted {
            return Ok(Prepared::Fail(format!(
                "document {number} is {:?}; only Posted documents are emailed",
                document.status
            )));
        }
        let Some(book) = self.book.account_book(&document.account_id).await? else {
            return Ok(Prepared::Fail(format!(
                "account {} is not in the book",
                document.account_id
            )));
        };
        let account = book.account;
        let Some(to) = account.bill_to.as_ref().and_then(|a| a.email.clone()) else {
            return Ok(Prepared::Skip(SkipReason::NoAddress));
        };
        if document.kind == DocumentKind::Invoice
            && document.totals.total.is_zero()
            && !request.email_zero_amount_invoices
        {
            return Ok(Prepared::Skip(SkipReason::ZeroAmount));
        }
        if request.only_unsent {
            let before = self.store.document_delivery(id).await?;
            if before.is_some_and(|d| d.request_id != request.id && d.last_sent_at.is_some()) {
                return Ok(Prepared::Skip(SkipReason::AlreadySent));
            }
        }
        let template = match template {
            Ok(t) => t,
            Err(reason) => return Ok(Prepared::Fail(reason.clone())),
        };
        let Some(pdf) = self.pdf(document.id).await? else {
            return Ok(Prepared::Wait);
        };
        let pdf = match pdf {
            Ok(bytes) => bytes,
            Err(reason) => return Ok(Prepared::Fail(reason)),
        };
        let content = match template.email(&document, &account) {
            Ok(c) => c,
            Err(e) => return Ok(Prepared::Fail(e.to_string())),
        };
        let cc = account
            .bill_to
            .as_ref()
            .map(|a| a.cc_emails.clone())
            .unwrap_or_default();
        Ok(Prepared::Mail(Box::new(OutgoingMail {
            message_id: OutgoingMail::message_id_of(request.id, id),
            from: self.from.clone(),
            to: vec![to],
            cc,
            reply_to: content.reply_to,
            subject: content.subject,
            text: content.text,
            html: content.html,
            attachment: Some(Attachment {
                filename: format!("{number}.pdf"),
                content_type: "application/pdf".into(),
                bytes: pdf,
            }),
        })))
    }

    /// Generates the chunk's PDFs through the run's latest document request when any
    /// has none: the chunk is the same as that request's message would render (both
    /// cover the Posted run's numbered documents, 25 at a time in numbering order), so
    /// the generation message finds them recorded and renders nothing again.
    async fn generate_missing_pdfs(&self, run: RunId, ids: &[DocumentId]) -> Result<(), AppError> {
        let requests = &self.docgen.document_requests;
        let mut missing = false;
        for id in ids {
            if requests.document_file(*id).await?.is_none() {
                missing = true;
                break;
            }
        }
        if !missing {
            return Ok(());
        }
        if let Some(request) = requests.latest_document_request(run).await? {
            self.docgen.generate_documents(request, ids).await?;
        }
        Ok(())
    }

    /// The document's PDF: `None` while it has none, `Some(Err)` when its generation
    /// failed.
    async fn pdf(&self, id: DocumentId) -> Result<Option<Result<Vec<u8>, String>>, AppError> {
        if let Some(pdf) = self.docgen.document_pdf(id).await? {
            return Ok(Some(Ok(pdf)));
        }
        Ok(
            match self.docgen.document_requests.document_file(id).await? {
                Some(f) if f.status == GenerationStatus::Failed => Some(Err(format!(
                    "its PDF could not be generated: {}",
                    f.reason.unwrap_or_default()
                ))),
                _ => None,
            },
        )
    }

    /// The request's template (or why it cannot be used), read once per message.
    async fn template(
        &self,
        request: &DeliveryRequest,
    ) -> Result<Result<Box<dyn RenderTemplate>, String>, AppError> {
        Ok(
            match self.templates.get_template(&request.template_id).await? {
                None => Err(format!(
                    "document template {} no longer exists",
                    request.template_id
                )),
                Some(stored) => self.renderer.template(&stored.content).map_err(|e| {
                    format!("document template {} is invalid: {e}", request.template_id)
                }),
            },
        )
    }

    /// The run's numbered Posted documents, in numbering order.
    async fn covered(&self, run: RunId) -> Result<Vec<StoredDocument>, AppError> {
        let mut docs = self.docgen.stored_documents(run).await?;
        docs.retain(covers);
        Ok(docs)
    }

    async fn any_without_pdf(&self, docs: &[StoredDocument]) -> Result<bool, AppError> {
        for d in docs {
            let generated = self
                .docgen
                .document_requests
                .document_file(d.document.id)
                .await?
                .is_some_and(|f| f.status == GenerationStatus::Generated);
            if !generated {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// One message per [`DOCUMENTS_PER_DELIVERY_MESSAGE`] of `ids`, in their order.
    async fn send_messages(
        &self,
        request_id: DeliveryRequestId,
        ids: &[DocumentId],
    ) -> Result<(), AppError> {
        crate::docgen::send_chunks(
            &*self.queue,
            ids,
            DOCUMENTS_PER_DELIVERY_MESSAGE,
            |document_ids| Message::Deliver {
                request_id,
                document_ids,
            },
        )
        .await
    }
}

/// The key a run's `autoEmail` request is derived from.
const AUTO_EMAIL_KEY: &str = "autoEmail";

fn derived_id(run: RunId, key: &str) -> DeliveryRequestId {
    DeliveryRequestId(uuid::Uuid::new_v5(
        &IDEMPOTENCY_NAMESPACE,
        format!("{run}/{key}").as_bytes(),
    ))
}

/// Whether a request covers the document: numbered and Posted.
pub fn covers(d: &StoredDocument) -> bool {
    d.document.number.is_some() && d.document.status == DocumentStatus::Posted
}

/// A document's delivery as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentDeliveryView {
    pub status: DeliveryStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_sent_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl DocumentDeliveryView {
    pub fn not_requested() -> DocumentDeliveryView {
        DocumentDeliveryView {
            status: DeliveryStatus::NotRequested,
            reason: None,
            last_sent_at: None,
        }
    }
}

fn document_delivery_view(
    d: &StoredDocument,
    latest: Option<DeliveryRequestId>,
    record: Option<DocumentDelivery>,
) -> DocumentDeliveryView {
    let last_sent_at = record.as_ref().and_then(|r| r.last_sent_at);
    match (record, latest) {
        (Some(r), Some(l)) if r.request_id != l && covers(d) => DocumentDeliveryView {
            status: DeliveryStatus::Queued,
            reason: None,
            last_sent_at,
        },
        (Some(r), _) => DocumentDeliveryView {
            status: r.status,
            reason: r.reason,
            last_sent_at,
        },
        (None, Some(_)) if covers(d) => DocumentDeliveryView {
            status: DeliveryStatus::Queued,
            reason: None,
            last_sent_at: None,
        },
        (None, _) => DocumentDeliveryView::not_requested(),
    }
}

enum Step {
    Done,
    /// The message must come again for this document.
    Again,
}

enum Prepared {
    Mail(Box<OutgoingMail>),
    Skip(SkipReason),
    Fail(String),
    /// Its PDF is not generated yet.
    Wait,
}
