//! Planning: the run's accounts selected page by page, a message queued for each.

use super::RunPipeline;
use crate::error::AppError;
use crate::model::*;
use billrun_domain::ids::RunId;
use billrun_domain::run::RunStatus;
use tracing::{info, info_span, Instrument};

impl RunPipeline {
    /// Plans one page: selects accounts from the stored cursor by the account filters,
    /// queues a message for each and the next page's message, then stores the cursor.
    /// A crash repeats the page (its messages are idempotent); a page message that
    /// arrives before its predecessor stored the cursor is retried.
    pub async fn plan_page(&self, run_id: RunId, page: u64) -> Result<(), AppError> {
        let span = info_span!("plan_page", run_id = %run_id, page);
        async move {
            let Some(run) = self.runs.get_run(run_id).await? else {
                return Ok(());
            };
            if run.status == RunStatus::Processing && run.plan.done && run.plan.pages == page + 1 {
                // The last page again (its check asked to come again, or it stopped
                // after storing the cursor): the completion check it owes.
                return self.check_completion(run_id).await;
            }
            if run.status != RunStatus::Processing || run.plan.done || run.plan.pages > page {
                return Ok(()); // planned already
            }
            if run.plan.pages < page {
                return Err(AppError::Transient(
                    "previous planning page not finished".into(),
                ));
            }
            let limit = self.plan_page_size.max(1);
            let selected = self
                .book
                .select_accounts(&run.request.filters, run.plan.cursor.as_deref(), limit)
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
            if !done {
                self.queue
                    .send(vec![Message::Plan {
                        run_id,
                        page: page + 1,
                    }])
                    .await?;
            }
            self.modify_run(run_id, |r| {
                if r.plan.done || r.plan.pages != page {
                    return Ok(false);
                }
                r.plan.cursor = selected.next.clone();
                r.plan.selected += count;
                r.plan.pages += 1;
                r.plan.done = done;
                Ok(true)
            })
            .await?;
            info!(run_id = %run_id, page, accounts = count, last = done, "planned a page of accounts");
            if done {
                self.check_completion(run_id).await?;
            }
            Ok(())
        }
        .instrument(span)
        .await
    }
}
