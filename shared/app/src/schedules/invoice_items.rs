//! Executing an invoice-schedule item: a run of one account with one installment
//! document, claimed before anything is written.

use super::Schedules;
use crate::error::ConflictCode;
use crate::error::{AppError, StoreError};
use crate::model::schedules::ProcessedItem;
use crate::model::*;
use crate::pipeline::new_run_record;
use billrun_domain::book::InvoiceSchedule;
use billrun_domain::document::Document;
use billrun_domain::ids::{RunId, ScheduleId, ScheduleItemId};
use billrun_domain::request::{ExcludableType, RunRequest, RunType};
use billrun_domain::run::{Counters, Outcome, RunStatus};
use billrun_domain::schedule::{installment_document, pick_item, PickError};
use billrun_domain::FieldError;

/// What executing an invoice-schedule item did.
#[derive(Debug, Clone)]
pub struct ScheduleExecution {
    pub run: RunView,
    pub schedule: InvoiceSchedule,
    /// The item id the caller named (`None`: the next pending item was taken).
    pub requested_item: Option<ScheduleItemId>,
    pub executed_item: ScheduleItemId,
    pub document: Document,
}

impl Schedules {
    /// Executes one invoice-schedule item (docs/billing-rules.md "Invoice schedules"): a run
    /// filtered to the item's account whose single document has one line "Installment
    /// k of n" for the item's amount plus tax. The item becomes Processed and records
    /// the run and document. Without `item`, the earliest Pending item dated on or
    /// before the end of the schedule's subscriptions is taken (none: NotFound); a
    /// Processed item is a Conflict.
    pub async fn execute_schedule(
        &self,
        schedule_id: &ScheduleId,
        item: Option<ScheduleItemId>,
    ) -> Result<ScheduleExecution, AppError> {
        let stored = self.stored_schedule(schedule_id).await?;
        let schedule = stored.schedule;
        let ab = self
            .book
            .account_book(&schedule.account_id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("account {}", schedule.account_id)))?;
        let index =
            pick_item(&schedule, item.as_ref(), &ab.subscriptions).map_err(|e| match e {
                PickError::NotFound(_) => AppError::NotFound(match &item {
                    Some(i) => format!("pending item {i} of invoice schedule {schedule_id}"),
                    None => format!("pending item of invoice schedule {schedule_id}"),
                }),
                PickError::Processed(m) => AppError::Conflict {
                    code: ConflictCode::ScheduleItemProcessed,
                    message: m,
                    field: Some("scheduleItemId".into()),
                },
            })?;
        let it = schedule.items[index].clone();
        let mut request = RunRequest::for_target(it.invoice_date);
        request.name = Some(format!("Invoice schedule {schedule_id} item {}", it.id));
        request.run_type = RunType::Manual;
        request.invoice_date = Some(it.invoice_date);
        request.filters.account_ids = vec![schedule.account_id.clone()];
        request.charge_types_excluded = vec![ExcludableType::Usage];
        request.auto_post = schedule.auto_post;
        request.auto_email = schedule.auto_email;
        request.email_zero_amount_invoices = schedule.email_zero_amount_invoices;
        let request = request.validated()?;
        let run_id = RunId(uuid::Uuid::new_v4());
        let document = installment_document(
            run_id,
            &ab.account,
            &schedule,
            index,
            request.document_status(),
        )
        .ok_or_else(|| {
            AppError::Validation(FieldError::new(
                format!("items[{index}].amount"),
                "amount overflow",
            ))
        })?;
        let now = self.clock.now();
        // Claim the item first: of two concurrent executions, one wins.
        self.invoice_schedules
            .mark_processed(
                schedule_id,
                &ProcessedItem {
                    item_id: it.id.clone(),
                    run_id,
                    document_id: document.id,
                    processed_at: now,
                },
            )
            .await
            .map_err(|e| match e {
                StoreError::Conflict(m) => AppError::Conflict {
                    code: ConflictCode::ScheduleItemProcessed,
                    message: m,
                    field: Some("scheduleItemId".into()),
                },
                other => other.into(),
            })?;
        let mut record = new_run_record(run_id, request, None, now);
        record.announce(None, now);
        self.runs.create_run(record).await?;
        // One account, planned at once: the run goes straight to its commit.
        self.pipeline
            .modify_run(run_id, |r| {
                if r.status != RunStatus::Pending {
                    return Ok(false);
                }
                r.status = RunStatus::Processing;
                r.commenced_at = Some(now);
                r.plan = PlanState {
                    cursor: None,
                    selected: 1,
                    pages: 1,
                    done: true,
                };
                Ok(true)
            })
            .await?;
        let counters = Counters::for_account(Outcome::Billed, std::slice::from_ref(&document), 0);
        // Committed now or by an earlier attempt that may have stopped before its
        // progress: reported either way (a progress that leads costs one exact count).
        self.ledger
            .commit_account(&AccountCommit {
                outcome: AccountOutcomeRecord {
                    run_id,
                    account_id: schedule.account_id.clone(),
                    outcome: Outcome::Billed,
                    reason: None,
                    document_ids: vec![document.id],
                    changes: vec![],
                    counters: counters.clone(),
                    round: 0,
                },
                documents: vec![document.clone()],
                expires_at: None,
            })
            .await?;
        self.runs.add_progress(run_id, &counters).await?;
        self.pipeline.try_finalize(run_id).await?;
        let document = self
            .documents
            .get_document(document.id)
            .await?
            .map_or(document, |d| d.document);
        let schedule = self.stored_schedule(schedule_id).await?.schedule;
        Ok(ScheduleExecution {
            run: self.queries.run_view(run_id).await?,
            schedule,
            requested_item: item,
            executed_item: it.id,
            document,
        })
    }

    async fn stored_schedule(
        &self,
        id: &ScheduleId,
    ) -> Result<crate::model::schedules::StoredSchedule, AppError> {
        self.invoice_schedules
            .get_schedule(id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("invoice schedule {id}")))
    }
}
