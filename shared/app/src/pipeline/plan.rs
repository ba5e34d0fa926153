//! Planning: the run's accounts selected page by page, a message queued for each.

use super::RunPipeline;
use crate::error::AppError;
use crate::model::*;
use billrun_domain::ids::RunId;
use billrun_domain::run::RunStatus;
use tracing::{info, info_span, Instrument};

impl RunPipeline {
    /// Plans one page: selects accounts from the stored cursor by the account filters,
    /// queues a message for each, stores the cursor, then queues the next page's
    /// message. The next page is queued only once this page is stored, so that its
    /// message never arrives ahead of the cursor it starts from (sent earlier, a busy
    /// worker pool picked it up while this page was still storing, and it had to be
    /// retried: on AWS after the plan queue's visibility timeout). A crash before the
    /// store repeats the page (its account messages are idempotent); one between the
    /// store and the send is mended by the redelivery of this page, which finds it
    /// stored and queues the next page again (the sweeper resumes planning from the
    /// cursor if that message is lost too).
    pub async fn plan_page(&self, run_id: RunId, page: u64) -> Result<(), AppError> {
        self.plan(run_id, page, false).await
    }

    /// [`RunPipeline::plan_page`] for the `receives`-th delivery of its message.
    pub async fn plan_delivery(
        &self,
        run_id: RunId,
        page: u64,
        receives: u32,
    ) -> Result<(), AppError> {
        self.plan(run_id, page, receives > 1).await
    }

    async fn plan(&self, run_id: RunId, page: u64, redelivered: bool) -> Result<(), AppError> {
        let span = info_span!("plan_page", run_id = %run_id, page);
        async move {
            let Some(run) = self.runs.get_run(run_id).await? else {
                return Ok(());
            };
            if run.status == RunStatus::Processing && run.plan.pages == page + 1 {
                // This page again, already stored.
                if run.plan.done {
                    // The last page (its check asked to come again, or it stopped after
                    // storing the cursor): the completion check it owes.
                    return self.check_completion(run_id).await;
                }
                if redelivered {
                    // An earlier delivery may have stored the page and stopped before
                    // queueing the next one: queue it again (a duplicate plan message
                    // changes nothing). Only on a redelivery: a duplicate copy received
                    // for the first time did not store the page, and re-queueing from
                    // every such copy would chain a shadow message along the planning.
                    return self.queue_plan_page(run_id, page + 1).await;
                }
            }
            if run.status != RunStatus::Processing || run.plan.done || run.plan.pages > page {
                return Ok(()); // planned already
            }
            if run.plan.pages < page {
                // Only queued once its predecessor is stored: not expected, retried.
                return Err(AppError::transient(
                    "previous planning page not finished",
                ));
            }
            let limit = self.plan_page_size.max(1);
            let selected = self
                .book
                .select_accounts(
                    &run.request.account_selection(),
                    run.plan.cursor.as_deref(),
                    limit,
                )
                .await?;
            let count = selected.ids.len() as u64;
            let messages: Vec<Message> = selected
                .ids
                .into_iter()
                .map(|account_id| Message::Account {
                    run_id,
                    account_id,
                    round: run.round,
                })
                .collect();
            if !messages.is_empty() {
                self.queue.send(messages).await?;
            }
            let done = selected.next.is_none();
            let mut stored = false;
            self.modify_run(run_id, |r| {
                stored = !(r.plan.done || r.plan.pages != page);
                if !stored {
                    return Ok(false);
                }
                r.plan.cursor = selected.next.clone();
                r.plan.selected += count;
                r.plan.pages += 1;
                r.plan.done = done;
                Ok(true)
            })
            .await?;
            if !stored {
                // A concurrent delivery of this page stored it first; it queues the next.
                return Ok(());
            }
            info!(run_id = %run_id, page, accounts = count, last = done, "planned a page of accounts");
            if done {
                self.check_completion(run_id).await?;
            } else {
                self.queue_plan_page(run_id, page + 1).await?;
            }
            Ok(())
        }
        .instrument(span)
        .await
    }

    async fn queue_plan_page(&self, run_id: RunId, page: u64) -> Result<(), AppError> {
        self.queue
            .send(vec![Message::Plan { run_id, page }])
            .await?;
        Ok(())
    }
}
