//! Finalization: once every selected account has an outcome, the round is counted,
//! its block of numbers reserved, its documents numbered page by page under a claim, and
//! the run completed.

use super::RunPipeline;
use crate::error::AppError;
use crate::model::*;
use billrun_domain::document::DocumentKind;
use billrun_domain::ids::RunId;
use billrun_domain::run::{Counters, RunStatus};
use tracing::{info, warn};

/// How long a finalizer's claim holds without a page stored (a page takes well under a
/// second, the exact count of a million outcomes a few seconds; a stopped finalizer is
/// taken over by the next check after this: a redelivered message retries until then,
/// see [`Finalizing::Held`]).
const FINALIZE_LEASE: chrono::TimeDelta = chrono::TimeDelta::seconds(20);

/// What a completion check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finalizing {
    /// Nothing more for this check to do: the run is not complete, was finalized (by
    /// this check or another), or left Processing.
    Idle,
    /// Another finalizer's claim holds the run. `counting`: it is still counting the
    /// outcomes and may let go on finding an account missing (it reads the progress
    /// again before it does, see [`Finalizing::Again`]; the check comes again all the
    /// same, as a second net: a holder stopped by a crash leaves its claim to run out; one
    /// that fails with an error gives it up). Otherwise it has counted every account and is numbering: it completes the
    /// run. If it stopped (a crash), its claim runs out after [`FINALIZE_LEASE`] and the
    /// next check takes over, so a redelivered message comes again rather than being
    /// acknowledged.
    Held { counting: bool },
    /// This check counted, found accounts missing, and the progress that came during
    /// its counts says they may have landed since: the check must come again.
    Again,
}

/// What [`RunPipeline::number_documents`] found.
enum Numbering {
    Done(Box<(FinalizeState, NumberBlock)>),
    Held { counting: bool },
    Again,
    Idle,
}

/// What an exact count of a round found.
enum Count {
    /// Every selected account has an outcome: the counters and the round's block.
    Complete(Counters, NumberBlock),
    /// Accounts are missing: the outcomes counted.
    Missing(Counters),
}

/// How many times one check counts again when progress came during its count.
const RECOUNTS: u32 = 3;

/// Whether the progress says an exact count may find every account: it reaches the
/// selected accounts plus the lead (`excess`) an earlier count proved.
fn worth_counting(progress: &Counters, excess: u64) -> bool {
    progress.accounted_for() >= progress.accounts_selected.saturating_add(excess)
}

impl RunPipeline {
    /// Completes the run once planning is done and every selected account has an
    /// outcome: checks the reconciliation invariant, reserves the round's block of
    /// numbers (stored on the run first), numbers the round's documents in byte-wise
    /// (accountId, groupKey) order and sets Completed or CompletedWithErrors. Safe to
    /// run any number of times, concurrently.
    pub async fn try_finalize(&self, run_id: RunId) -> Result<Finalizing, AppError> {
        self.finalize_at(run_id, None).await
    }

    /// A message's completion check: [`Finalizing::Again`] fails the message so that it
    /// is delivered again and checks again.
    pub(crate) async fn check_completion(&self, run_id: RunId) -> Result<(), AppError> {
        match self.try_finalize(run_id).await? {
            Finalizing::Again => Err(AppError::transient(
                "accounts were missing while progress came; checking again",
            )),
            Finalizing::Idle | Finalizing::Held { .. } => Ok(()),
        }
    }

    /// [`RunPipeline::try_finalize`], judging another finalizer's claim at `now` (the sweeper's
    /// time) instead of the clock's: a claim that ran out by then is taken over.
    pub(crate) async fn finalize_at(
        &self,
        run_id: RunId,
        now: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<Finalizing, AppError> {
        let Some(run) = self.runs.get_run(run_id).await? else {
            return Ok(Finalizing::Idle);
        };
        // A retry of failed accounts that holds the run has not cleared and queued them
        // all yet: the round is not complete whatever the outcomes say.
        if run.status != RunStatus::Processing || !run.plan.done || run.transition.is_some() {
            return Ok(Finalizing::Idle);
        }
        let this_round = run.finalize.as_ref().filter(|f| f.round == run.round);
        let counted = this_round.is_some_and(|f| f.counters.is_some());
        // A worker's check after each batch reads the progress, which is cheap; the exact
        // count reads every outcome, so it is made once the progress says it is worth it
        // (or the sweeper asks), under the finalization claim. The progress can lead the
        // outcomes (an add retried after it landed, a redelivery reporting again) by at
        // least the excess an earlier count found, so it is worth it only past that.
        if !counted && now.is_none() {
            let progress = self.runs.progress(run_id).await?;
            let excess = this_round.map_or(0, |f| f.excess);
            if !worth_counting(&progress, excess) {
                return Ok(Finalizing::Idle);
            }
        }
        let round = run.round;
        let (progress, block) = match self.number_documents(run_id, round, now).await? {
            Numbering::Done(done) => *done,
            Numbering::Held { counting } => return Ok(Finalizing::Held { counting }),
            Numbering::Again => return Ok(Finalizing::Again),
            // Not complete yet, or the run moved on.
            Numbering::Idle => return Ok(Finalizing::Idle),
        };
        let counters = match progress.counters.clone() {
            Some(c) => c,
            None => self.runs.counters(run_id).await?,
        };
        if progress.next_invoice != block.first_invoice + block.invoices
            || progress.next_credit_memo != block.first_credit_memo + block.credit_memos
        {
            return Err(AppError::internal(format!(
                "run {run_id} round {round}: numbered up to {}/{} in a block {block:?}",
                progress.next_invoice, progress.next_credit_memo
            )));
        }
        let now = self.clock.now();
        let mut auto_email = false;
        self.modify_run(run_id, |r| {
            if r.status != RunStatus::Processing || r.round != round || r.transition.is_some() {
                return Ok(false);
            }
            r.status = if counters.failed > 0 {
                RunStatus::CompletedWithErrors
            } else if r.request.auto_post && self.controls.honours_auto_post() {
                auto_email = r.request.auto_email && self.emails;
                RunStatus::Posted
            } else {
                RunStatus::Completed
            };
            r.completed_at = Some(now);
            Ok(true)
        })
        .await?;
        if auto_email {
            // Posted by autoPost: its emails are requested through the queue (the tick
            // makes the request of a run whose message was lost).
            self.queue.send(vec![Message::AutoEmail { run_id }]).await?;
        }
        // Counts only: amounts, like names and addresses, stay out of the logs.
        info!(
            run_id = %run_id,
            round,
            selected = counters.accounts_selected,
            billed = counters.billed,
            suppressed = counters.suppressed,
            nothing_to_bill = counters.nothing_to_bill,
            failed = counters.failed,
            invoices = block.invoices,
            credit_memos = block.credit_memos,
            "run finished"
        );
        Ok(Finalizing::Idle)
    }

    /// Counts the run exactly and, once every account of the run has an outcome,
    /// reserves the round's block.
    async fn count_round(&self, run: &RunRecord) -> Result<Count, AppError> {
        let run_id = run.id;
        let counters = self.runs.counters(run_id).await?;
        if counters.accounted_for() < counters.accounts_selected {
            return Ok(Count::Missing(counters));
        }
        if !counters.reconciles() {
            return Err(AppError::internal(format!(
                "run {run_id}: {} outcomes for {} selected accounts",
                counters.accounted_for(),
                counters.accounts_selected
            )));
        }
        // The round's documents by kind: the counters hold every round so far; earlier
        // rounds have their blocks.
        let earlier = |f: fn(&NumberBlock) -> u64| -> u64 {
            run.number_blocks
                .iter()
                .filter(|b| b.round < run.round)
                .map(f)
                .sum()
        };
        let (Some(invoices), Some(credit_memos)) = (
            counters.invoices.checked_sub(earlier(|b| b.invoices)),
            counters
                .credit_memos
                .checked_sub(earlier(|b| b.credit_memos)),
        ) else {
            return Err(AppError::internal(format!(
                "run {run_id}: counters below the numbers of earlier rounds"
            )));
        };
        if run.is_preview() {
            // No number is taken for a preview: the sequences stay as they were.
            return Ok(Count::Complete(counters, NumberBlock::none(run.round)));
        }
        let block = self
            .sequences
            .reserve_block(run_id, run.round, invoices, credit_memos)
            .await?;
        if block.invoices != invoices || block.credit_memos != credit_memos {
            return Err(AppError::internal(format!(
                "run {run_id} round {}: block reserved for {}+{} documents, found {invoices}+{credit_memos}",
                run.round, block.invoices, block.credit_memos
            )));
        }
        Ok(Count::Complete(counters, block))
    }

    /// Under a claim stored on the run: counts the run exactly, reserves the round's
    /// block of numbers ([`RunPipeline::count_round`]) and numbers the round's documents page by
    /// page in numbering order, storing the counters, the cursor and the next numbers on
    /// the run after each step, so a finalizer that stops resumes after the last stored
    /// step; a page numbered again gets the same numbers. `None` when the run is not
    /// complete, another finalizer holds it, or it left this round meanwhile.
    async fn number_documents(
        &self,
        run_id: RunId,
        round: u32,
        judged_at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<Numbering, AppError> {
        let me = uuid::Uuid::new_v4().to_string();
        match self
            .number_documents_as(&me, run_id, round, judged_at)
            .await
        {
            Ok(n) => Ok(n),
            // Whatever step failed, a claim this finalizer holds goes with it, so that
            // the next check (the redelivery of its batch) resumes at once rather than
            // when the claim runs out.
            Err(e) => Err(self.release_claim(run_id, &me, e).await),
        }
    }

    /// [`RunPipeline::number_documents`] as finalizer `me`.
    async fn number_documents_as(
        &self,
        me: &str,
        run_id: RunId,
        round: u32,
        judged_at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<Numbering, AppError> {
        let limit = self.finalize_page_size.max(1);
        let mut recounts = 0;
        loop {
            let run = self.get_run(run_id).await?;
            if run.status != RunStatus::Processing || run.round != round {
                return Ok(Numbering::Idle);
            }
            let at = match &run.finalize {
                Some(f) if f.round == round => f.clone(),
                _ => FinalizeState {
                    round,
                    ..FinalizeState::default()
                },
            };
            if at.done && run.is_preview() {
                // A preview numbers nothing: its block is empty.
                return Ok(Numbering::Done(Box::new((at, NumberBlock::none(round)))));
            }
            if at.done {
                let block = run
                    .number_blocks
                    .iter()
                    .find(|b| b.round == round)
                    .cloned()
                    .ok_or_else(|| {
                        AppError::internal(format!(
                            "run {run_id} round {round}: numbered without a block"
                        ))
                    })?;
                return Ok(Numbering::Done(Box::new((at, block))));
            }
            let now = judged_at.unwrap_or_else(|| self.clock.now());
            match &at.lease {
                // Another finalizer holds the run: it completes it (or, if it stops, its
                // claim runs out and the next check — a redelivery, the sweeper — resumes).
                Some(l) if l.holder != me && l.until > now => {
                    return Ok(Numbering::Held {
                        counting: at.counters.is_none(),
                    })
                }
                Some(l) if l.holder == me => {}
                _ => {
                    let mut claimed = at.clone();
                    claimed.lease = Some(FinalizeLease {
                        holder: me.to_string(),
                        until: self.clock.now() + FINALIZE_LEASE,
                    });
                    self.store_finalize(run_id, &run, claimed).await?;
                    continue; // re-read: counted and numbered only under a stored claim
                }
            }
            let lease = Some(FinalizeLease {
                holder: me.to_string(),
                until: self.clock.now() + FINALIZE_LEASE,
            });
            if at.counters.is_none() {
                // Read before the count: what it says beyond the outcomes counted after
                // is progress reported twice (an account reports only once committed).
                let before = self.runs.progress(run_id).await?.accounted_for();
                let (counters, block) = match self.count_round(&run).await? {
                    Count::Complete(counters, block) => (counters, block),
                    Count::Missing(counted) => {
                        let excess = at
                            .excess
                            .max(before.saturating_sub(counted.accounted_for()));
                        self.release_counted(run_id, me, excess).await?;
                        // A commit that landed after the count reported its progress
                        // before its check found this claim (and left the run to it):
                        // the progress read now shows it.
                        let after = self.runs.progress(run_id).await?;
                        if !worth_counting(&after, excess) {
                            return Ok(Numbering::Idle);
                        }
                        if recounts < RECOUNTS {
                            recounts += 1;
                            continue;
                        }
                        return Ok(Numbering::Again);
                    }
                };
                let next = FinalizeState {
                    round,
                    cursor: None,
                    next_invoice: block.first_invoice,
                    next_credit_memo: block.first_credit_memo,
                    pages: 0,
                    // A preview's count is its finalization: nothing to number.
                    done: run.is_preview(),
                    lease: lease.filter(|_| !run.is_preview()),
                    counters: Some(counters),
                    excess: at.excess,
                };
                self.store_finalize(run_id, &run, next).await?;
                continue;
            }
            let page = self
                .documents
                .round_documents(run_id, round, at.cursor.as_deref(), limit)
                .await?;
            let mut next = at.clone();
            next.lease = lease;
            let mut numbers = Vec::with_capacity(page.documents.len());
            for d in &page.documents {
                let n = match d.document.kind {
                    DocumentKind::Invoice => &mut next.next_invoice,
                    DocumentKind::CreditMemo => &mut next.next_credit_memo,
                };
                numbers.push(Numbered {
                    id: d.document.id,
                    account_id: d.document.account_id.clone(),
                    number: d.document.kind.number(*n),
                });
                *n += 1;
            }
            self.documents
                .assign_numbers(run_id, round, &numbers)
                .await?;
            next.cursor = page.next.clone().or(at.cursor.clone());
            next.pages += 1;
            next.done = page.next.is_none();
            if next.done {
                next.lease = None;
            }
            self.store_finalize(run_id, &run, next).await?;
        }
    }

    /// Stores the round's finalization state over the one `read` had: a concurrent
    /// finalizer that stored first did the same step the same way, and this one re-reads.
    async fn store_finalize(
        &self,
        run_id: RunId,
        read: &RunRecord,
        next: FinalizeState,
    ) -> Result<(), AppError> {
        let round = next.round;
        let started = read.finalize.as_ref().filter(|f| f.round == round);
        self.modify_run(run_id, |r| {
            if r.status != RunStatus::Processing || r.round != round {
                return Ok(false);
            }
            if r.finalize.as_ref().filter(|f| f.round == round) != started {
                return Ok(false);
            }
            r.finalize = Some(next.clone());
            Ok(true)
        })
        .await?;
        Ok(())
    }

    /// Gives up this finalizer's claim, if it still holds it.
    async fn release(&self, run_id: RunId, me: &str) -> Result<(), AppError> {
        self.release_counted(run_id, me, 0).await
    }

    /// Gives up this finalizer's claim, if it still holds it, after a count that found
    /// accounts missing and the progress leading the outcomes by at least `excess`.
    async fn release_counted(&self, run_id: RunId, me: &str, excess: u64) -> Result<(), AppError> {
        self.modify_run(run_id, |r| match &mut r.finalize {
            Some(f) if f.lease.as_ref().is_some_and(|l| l.holder == me) => {
                f.lease = None;
                f.excess = f.excess.max(excess);
                Ok(true)
            }
            _ => Ok(false),
        })
        .await?;
        Ok(())
    }

    /// A finalizer that failed gives up its claim (best effort), so that the next check
    /// (the redelivery of its batch) resumes at once rather than when the claim runs out;
    /// returns the error it failed with.
    async fn release_claim(&self, run_id: RunId, me: &str, error: AppError) -> AppError {
        if let Err(e) = self.release(run_id, me).await {
            warn!(run_id = %run_id, error = %crate::error::chain(&e), "could not release the finalization claim");
        }
        error
    }
}
