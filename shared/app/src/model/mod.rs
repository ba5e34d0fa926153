//! What the use cases store: run records, account outcomes, documents with their
//! numbering round, queue messages; in submodules, what the listings, the schedules and
//! document generation store.

pub mod audit;
pub mod changes;
pub mod corrections;
pub mod deliveries;
pub mod document_events;
pub mod documents;
pub mod events;
pub mod exports;
pub mod listing;
pub mod payments;
pub mod schedules;
pub mod webhooks;

use crate::error::StoreError;
use billrun_domain::document::Document;
use billrun_domain::ids::{AccountId, DocumentId, DocumentRequestId, RunId, SubscriptionId};
use billrun_domain::request::RunRequest;
use billrun_domain::run::{Counters, Outcome, RunStatus};
use billrun_domain::state::StateChange;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// `bytes` as lower-case hex: the one spelling of a digest in object keys and in the
/// audit trail.
pub fn lower_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Planning progress: a chain of bounded pages, the cursor stored after each.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanState {
    /// Where the next page starts (opaque to the use cases; adapter-specific).
    pub cursor: Option<String>,
    pub selected: u64,
    pub pages: u64,
    pub done: bool,
}

/// What the stuck-run sweeper last saw of a Processing run ([`crate::sweeper`]): its
/// progress marker (round, planned pages, accounts with an outcome), when that marker
/// last changed or the sweeper last re-sent, and how many re-sends found no progress.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepState {
    pub round: u32,
    pub pages: u64,
    pub accounted_for: u64,
    /// `None`: never swept (the run's `commencedAt` stands in).
    pub at: Option<DateTime<Utc>>,
    pub resends: u32,
}

/// A block of document numbers reserved for one finalization round of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NumberBlock {
    pub round: u32,
    pub first_invoice: u64,
    pub invoices: u64,
    pub first_credit_memo: u64,
    pub credit_memos: u64,
}

impl NumberBlock {
    /// The empty block of a round that numbers nothing (a preview's).
    pub fn none(round: u32) -> NumberBlock {
        NumberBlock {
            round,
            first_invoice: 0,
            invoices: 0,
            first_credit_memo: 0,
            credit_memos: 0,
        }
    }
}

/// Where numbering a round's documents has got to, stored on the run after each page so
/// a finalizer that stops resumes there.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FinalizeState {
    pub round: u32,
    /// After the last numbered document (opaque to the use cases); `None`: the start.
    pub cursor: Option<String>,
    /// The numbers the next page starts with.
    pub next_invoice: u64,
    pub next_credit_memo: u64,
    pub pages: u64,
    /// Every document of the round is numbered.
    pub done: bool,
    /// The finalizer numbering now (its token) and until when its claim holds; renewed
    /// with every page. Others leave the run to it meanwhile: finalizers that ran
    /// together would number every page the same way, each paying the writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<FinalizeLease>,
    /// The run's exact counters, counted from the outcomes under the claim once every
    /// account of the round had one (numbering starts after); the run's counters from
    /// then on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counters: Option<Counters>,
    /// How far the progress is known to lead the outcomes (progress reported twice):
    /// the most any count of this round found. The next count is worth making only once
    /// the progress reaches the selected accounts plus this.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub excess: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FinalizeLease {
    pub holder: String,
    pub until: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunRecord {
    pub id: RunId,
    /// `BR-00000001`, assigned when the run is stored.
    pub number: String,
    pub name: String,
    pub status: RunStatus,
    pub request: RunRequest,
    pub target_date: NaiveDate,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub commenced_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub idempotency_key: Option<String>,
    pub plan: PlanState,
    /// 0 for the first processing; each retry of failed accounts adds one.
    pub round: u32,
    pub number_blocks: Vec<NumberBlock>,
    /// The sweeper's progress marker (absent on runs stored before the sweeper).
    #[serde(default)]
    pub sweep: SweepState,
    /// Numbering progress of the latest finalized round (absent until it starts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finalize: Option<FinalizeState>,
    /// The lifecycle transition under way, claimed before its effects are written
    /// ([`TransitionClaim`]); absent when none is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transition: Option<TransitionClaim>,
    /// Fields of the create request that an API keeps with the run and returns on every
    /// read, with no effect on billing (seed 002's `custom_fields`, `email`...): stored
    /// with the run in its one write, and part of what an idempotent replay compares.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_fields: Option<ClientFields>,
    /// When a Canceled run was deleted: from then on no read finds it and no listing
    /// shows it, while its Canceled documents keep their numbers (no gap) and stay
    /// readable as documents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<DateTime<Utc>>,
    /// Optimistic-concurrency version: every update is conditioned on it.
    pub version: u64,
    /// The run's lifecycle events, oldest first, each written with its change
    /// ([`events`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<events::RunEvent>,
    /// Some of its documents may be posted (a post began: of a selection, or of all):
    /// a cancel is refused. Set in the write that claims the post.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partially_posted: bool,
    /// When a preview stops being readable (a preview's items carry it as their expiry:
    /// DynamoDB's TTL deletes them some time after; every read hides them from then).
    /// Absent on every other run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

impl RunRecord {
    /// A preview run ([`billrun_domain::request::RunType::Preview`]): rated and listed,
    /// never numbered, posted or allowed to move the billing state.
    pub fn is_preview(&self) -> bool {
        self.request.run_type == billrun_domain::request::RunType::Preview
    }

    /// Whether the run is a preview past its expiry at `now`: no read finds it.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// A run's client fields: a JSON object the client owns.
pub type ClientFields = serde_json::Map<String, serde_json::Value>;

/// A lifecycle transition that writes effects beyond the run record (documents Posted,
/// billing state reverted, Failed outcomes cleared) before the run's status says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Transition {
    Post,
    Cancel,
    RetryFailed,
}

impl Transition {
    /// What the run is while the transition holds it, for messages.
    pub fn doing(self) -> &'static str {
        match self {
            Transition::Post => "being posted",
            Transition::Cancel => "being canceled",
            Transition::RetryFailed => "retrying its failed accounts",
        }
    }

    /// What the transition does to a run, for messages.
    pub fn done(self) -> &'static str {
        match self {
            Transition::Post => "posted",
            Transition::Cancel => "canceled",
            Transition::RetryFailed => "retried",
        }
    }
}

/// A transition claimed on the run with a conditional write before any of its effects
/// is written, so that of two racing commands exactly one acts and the other is refused
/// having written nothing. Once claimed, a transition is only rolled forward, never
/// undone: its effects may be partly written (a crash, a timeout). A retry of the same
/// command finishes it once `until` has passed (a live holder is still writing); the
/// other commands are refused until it is finished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransitionClaim {
    pub kind: Transition,
    /// The claiming command's token.
    pub holder: String,
    /// Until when the holder is taken to be alive and writing.
    pub until: DateTime<Utc>,
}

/// A number given to a document at finalization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Numbered {
    pub id: DocumentId,
    pub account_id: AccountId,
    pub number: String,
}

/// One selected account's result in one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountOutcomeRecord {
    pub run_id: RunId,
    pub account_id: AccountId,
    pub outcome: Outcome,
    pub reason: Option<String>,
    pub document_ids: Vec<DocumentId>,
    /// What the account's processing changed, so a cancel can revert it.
    pub changes: Vec<StateChange>,
    /// What this outcome adds to the run's counters.
    pub counters: Counters,
    pub round: u32,
}

/// A document as stored: the canonical document and the round that produced it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredDocument {
    pub document: Document,
    pub round: u32,
    /// Who approved it, and who posted it alone (a selection): absent for the system's
    /// changes and for a post of the whole run (the run's `postedBy` says who).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub posted_by: Option<String>,
    /// Who voided or canceled it alone, and when ([`corrections`]): absent for a
    /// document canceled with its whole run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voided_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voided_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canceled_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canceled_at: Option<DateTime<Utc>>,
}

impl StoredDocument {
    /// A document as a run's account commit writes it (nobody approved or posted it
    /// yet).
    pub fn new(document: Document, round: u32) -> StoredDocument {
        StoredDocument {
            document,
            round,
            approved_by: None,
            posted_by: None,
            voided_by: None,
            voided_at: None,
            canceled_by: None,
            canceled_at: None,
        }
    }

    /// Records `by` as the one who moved it to `status` (approved or posted).
    pub fn set_actor(
        &mut self,
        status: billrun_domain::document::DocumentStatus,
        by: Option<&str>,
    ) {
        use billrun_domain::document::DocumentStatus;
        let by = by.map(str::to_string);
        match status {
            DocumentStatus::Approved => self.approved_by = by,
            DocumentStatus::Posted => self.posted_by = by,
            DocumentStatus::Draft | DocumentStatus::Canceled | DocumentStatus::Voided => {}
        }
    }

    /// Records a correction of this document alone: its new status (Voided or
    /// Canceled), who made it and when.
    pub fn set_correction(
        &mut self,
        status: billrun_domain::document::DocumentStatus,
        by: Option<&str>,
        at: DateTime<Utc>,
    ) {
        use billrun_domain::document::DocumentStatus;
        self.document.status = status;
        let by = by.map(str::to_string);
        match status {
            DocumentStatus::Voided => (self.voided_by, self.voided_at) = (by, Some(at)),
            DocumentStatus::Canceled => (self.canceled_by, self.canceled_at) = (by, Some(at)),
            _ => self.set_actor(status, by.as_deref()),
        }
    }
}

/// Everything processing one account writes, applied atomically or not at all.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountCommit {
    pub outcome: AccountOutcomeRecord,
    pub documents: Vec<Document>,
    /// A preview's commit: when its outcome and documents expire (a store that deletes
    /// expired items, DynamoDB, writes it on them). `None` for every other run.
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitResult {
    Committed,
    /// The outcome was already recorded (a redelivered or duplicate message).
    AlreadyDone,
}

/// A work-queue message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Message {
    /// Plan page number `page` (0-based) of the run's accounts.
    #[serde(rename_all = "camelCase")]
    Plan { run_id: RunId, page: u64 },
    /// Rate and bill one account.
    #[serde(rename_all = "camelCase")]
    Account {
        run_id: RunId,
        account_id: AccountId,
        round: u32,
    },
    /// Render the PDFs of a chunk of a generation request's documents (at most
    /// [`documents::DOCUMENTS_PER_PACK`], in numbering order) and store them as one
    /// S3 object (a pack).
    #[serde(rename_all = "camelCase")]
    Document {
        request_id: DocumentRequestId,
        /// A message queued before packs (one document, `documentId`) reads as a chunk
        /// of one.
        #[serde(alias = "documentId", deserialize_with = "one_or_many")]
        document_ids: Vec<DocumentId>,
    },
    /// Email a chunk of a delivery request's documents (at most
    /// [`deliveries::DOCUMENTS_PER_DELIVERY_MESSAGE`], in numbering order).
    #[serde(rename_all = "camelCase")]
    Deliver {
        request_id: billrun_domain::ids::DeliveryRequestId,
        document_ids: Vec<DocumentId>,
    },
    /// A run with `autoEmail` was posted: make its delivery request.
    #[serde(rename_all = "camelCase")]
    AutoEmail { run_id: RunId },
    /// The receiving side bounced or complained about the email of (request,
    /// document): record it on the result (from an SES event on AWS).
    #[serde(rename_all = "camelCase")]
    Feedback {
        request_id: billrun_domain::ids::DeliveryRequestId,
        document_id: DocumentId,
        feedback: deliveries::Feedback,
    },
    /// Write an export's file ([`crate::exports`]).
    #[serde(rename_all = "camelCase")]
    Export {
        export_id: billrun_domain::ids::ExportId,
    },
    /// Hand the events a run's writes recorded at versions `fromVersion` through
    /// `throughVersion` (absent: every later one) to the bus and the webhook endpoints
    /// ([`crate::dispatch`]): queued by the local composition after each such write (on
    /// AWS, the table's stream does it).
    #[serde(rename_all = "camelCase")]
    Dispatch {
        run_id: RunId,
        from_version: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        through_version: Option<u64>,
    },
    /// Make the per-document events of a batch from its page `batch` names on
    /// ([`crate::document_events`]): queued by the dispatch of the event that implies
    /// them, and by a bounce's record.
    #[serde(rename_all = "camelCase")]
    DocumentEvents {
        run_id: RunId,
        batch: document_events::DocumentBatch,
    },
    /// Render a template's sample PDF from the content whose
    /// [`documents::template_digest`] is `digest`, and store it under
    /// [`documents::template_sample_key`] ([`crate::templates`]): queued when the template
    /// is put, and by `POST /v1/document-templates/{id}/sample`.
    #[serde(rename_all = "camelCase")]
    TemplateSample { template_id: String, digest: String },
    /// Make a webhook delivery's next attempt.
    #[serde(rename_all = "camelCase")]
    Webhook {
        delivery_id: billrun_domain::ids::WebhookDeliveryId,
    },
}

/// `documentIds` (an array) or the `documentId` of a message queued before packs.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<DocumentId>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(DocumentId),
        Many(Vec<DocumentId>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(id) => vec![id],
        OneOrMany::Many(ids) => ids,
    })
}

/// One page of selected accounts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccountPage {
    pub ids: Vec<AccountId>,
    /// Where the next page starts; `None` when this was the last page.
    pub next: Option<String>,
}

/// One page of a run's documents in numbering order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DocumentPage {
    pub documents: Vec<StoredDocument>,
    /// Where the next page starts; `None` when this was the last page.
    pub next: Option<String>,
}

/// What `create_run` did with an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// A new run (HTTP 201).
    New(RunRecord),
    /// A replay with the same key and body (HTTP 200).
    Replayed(RunRecord),
}

impl Created {
    pub fn run(&self) -> &RunRecord {
        match self {
            Created::New(r) | Created::Replayed(r) => r,
        }
    }

    /// What a store answers when `requested` carries an idempotency key that `existing`
    /// was stored under: a replay of the same (validated) request, else a refusal.
    pub fn replay(existing: RunRecord, requested: &RunRecord) -> Result<Created, StoreError> {
        if existing.request == requested.request
            && existing.client_fields == requested.client_fields
        {
            Ok(Created::Replayed(existing))
        } else {
            Err(StoreError::IdempotencyKeyReused(
                "idempotency key reused with a different request".into(),
            ))
        }
    }
}

/// A run with its counters, as the API and `run.json` show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunView {
    pub id: RunId,
    pub number: String,
    pub name: String,
    pub status: RunStatus,
    pub request: RunRequest,
    pub target_date: NaiveDate,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub commenced_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    /// The lifecycle transition under way, if one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transition: Option<Transition>,
    pub counters: Counters,
    /// The counters of the run's latest document generation request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub documents: Option<documents::DocumentCounters>,
    /// The run's client fields ([`RunRecord::client_fields`]): shown by the API that
    /// stored them, not by `/v1`.
    #[serde(skip)]
    pub client_fields: Option<ClientFields>,
    /// Who created, posted and canceled the run (from its events; absent when the
    /// change had no caller or has not happened).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub posted_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canceled_by: Option<String>,
    /// A completed run some of whose documents are posted (a selection was): it can no
    /// longer be canceled, and is Posted once the rest are.
    pub partially_posted: bool,
    /// A preview's expiry ([`RunRecord::expires_at`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// One line of `run.json`'s `accounts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountOutcomeView {
    pub account_id: AccountId,
    pub outcome: Outcome,
    pub document_numbers: Vec<String>,
    pub reason: Option<String>,
    /// The terms the run renewed (docs/billing-rules.md "Terms and renewals"), read from
    /// the outcome's changes; left out when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub renewals: Vec<RenewalView>,
}

/// A renewal as an account's outcome reports it: the term end before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RenewalView {
    pub subscription_id: SubscriptionId,
    pub term_end_before: NaiveDate,
    pub term_end_after: NaiveDate,
}

impl RenewalView {
    /// The renewals among an outcome's changes, in their order.
    pub fn of(changes: &[StateChange]) -> Vec<RenewalView> {
        changes
            .iter()
            .filter_map(|c| match c {
                StateChange::Renewal {
                    subscription_id,
                    term_end_from,
                    term_end_to,
                    ..
                } => Some(RenewalView {
                    subscription_id: subscription_id.clone(),
                    term_end_before: *term_end_from,
                    term_end_after: *term_end_to,
                }),
                _ => None,
            })
            .collect()
    }
}
