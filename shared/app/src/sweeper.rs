//! The stuck-run sweeper: [`Sweeper::sweep`] looks at every Processing run, and
//! [`crate::schedules::tick`] calls it, so it runs every 5 minutes.
//!
//! Progress is a marker stored on the run ([`SweepState`]): the round, the planned
//! pages and the accounts with an outcome. A sweep that finds the marker changed only
//! stores it (with the instant). One that finds it unchanged for longer than
//! [`SweepConfig::stale_after`] re-sends what is missing: the plan message of the
//! stored cursor while planning is not done, else a message for each selected account
//! without an outcome (the accounts are re-selected from the book by the run's
//! filters). After [`SweepConfig::resend_budget`] re-sends without progress, each
//! account still without an outcome is recorded Failed with reason
//! [`DEAD_LETTERED`]. A run whose accounts all have outcomes is finalized. Every step
//! is idempotent: a duplicate message finds the outcome, a Failed outcome recorded for
//! an account whose message still arrives wins (the commit finds it), and the failed
//! accounts can be re-driven by a retry.

use crate::error::AppError;
use crate::model::listing::{RunFilter, RunPosition};
use crate::model::*;
use crate::pipeline::RunPipeline;
use crate::ports::RunListing;
use billrun_domain::ids::{AccountId, RunId};
use billrun_domain::run::RunStatus;
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::Arc;
use tracing::{info, warn};

/// The reason recorded on an account whose message was lost past the re-send budget.
pub const DEAD_LETTERED: &str = "dead-lettered";
/// Processing runs read per listing page.
const SWEEP_PAGE: usize = 100;
/// Accounts re-selected (and messages sent) per page.
const SELECT_PAGE: usize = 1000;

/// When a Processing run counts as stuck and how often it is nudged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SweepConfig {
    /// How long a run may show no progress before its missing messages are re-sent.
    pub stale_after: TimeDelta,
    /// Re-sends without progress before the missing accounts are recorded Failed.
    pub resend_budget: u32,
}

impl Default for SweepConfig {
    fn default() -> Self {
        SweepConfig {
            stale_after: TimeDelta::minutes(15),
            resend_budget: 3,
        }
    }
}

impl SweepConfig {
    /// From `STUCK_RUN_AFTER_MINUTES` (1..=1440) and `STUCK_RUN_RESENDS` (0..=100), each
    /// defaulted when unset. The lookup is the caller's: configuration is read in the
    /// `main`s (the execute-schedules function, the local mode), not here.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<SweepConfig, String> {
        let mut config = SweepConfig::default();
        if let Some(v) = get("STUCK_RUN_AFTER_MINUTES") {
            let minutes = v
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|m| (1..=1440).contains(m))
                .ok_or_else(|| format!("STUCK_RUN_AFTER_MINUTES must be 1..=1440, got '{v}'"))?;
            config.stale_after = TimeDelta::minutes(minutes);
        }
        if let Some(v) = get("STUCK_RUN_RESENDS") {
            config.resend_budget = v
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| *n <= 100)
                .ok_or_else(|| format!("STUCK_RUN_RESENDS must be 0..=100, got '{v}'"))?;
        }
        Ok(config)
    }
}

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepReport {
    /// Stuck runs whose plan message was re-sent (planning resumes from the cursor).
    pub resumed: Vec<RunId>,
    /// Stuck runs whose missing account messages were re-sent, with how many.
    pub resent: Vec<(RunId, u64)>,
    /// Accounts recorded Failed `dead-lettered`.
    pub dead_lettered: Vec<(RunId, AccountId)>,
    /// Runs this sweep finalized.
    pub finalized: Vec<RunId>,
    /// Retries of failed accounts whose holder stopped, resumed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resumed_retries: Vec<RunId>,
    /// What failed (tried again on the next sweep).
    pub failures: Vec<String>,
}

/// What is done to each Processing run.
#[derive(Debug, Clone, Copy)]
enum Visit {
    /// A sweep at the instant.
    Sweep(DateTime<Utc>),
    /// A resume after a restart ([`Sweeper::resume_after_restart`]).
    Resume,
}

/// The sweeper over the run pipeline and the listing of Processing runs.
#[derive(Clone)]
pub struct Sweeper {
    pub pipeline: RunPipeline,
    pub run_listing: Arc<dyn RunListing>,
    pub config: SweepConfig,
}

impl Sweeper {
    /// Sweeps every Processing run at `now` (see the module documentation).
    pub async fn sweep(&self, now: DateTime<Utc>) -> Result<SweepReport, AppError> {
        self.each_processing(Visit::Sweep(now)).await
    }

    /// Sweeps one run at `now` as [`Sweeper::sweep`] sweeps each (a run that is not
    /// Processing is left alone): for a driver that owns one run, such as the local
    /// mode's queue pollers.
    pub async fn sweep_one(&self, id: RunId, now: DateTime<Utc>) -> Result<SweepReport, AppError> {
        let mut report = SweepReport::default();
        if let Some(run) = self.pipeline.runs.get_run(id).await? {
            if run.status == RunStatus::Processing {
                self.sweep_run(run, now, &mut report).await?;
            }
        }
        Ok(report)
    }

    /// Visits every Processing run, page by page; a run that fails is reported and the
    /// others are visited all the same.
    async fn each_processing(&self, visit: Visit) -> Result<SweepReport, AppError> {
        let mut report = SweepReport::default();
        let filter = RunFilter {
            status: Some(RunStatus::Processing),
            ..RunFilter::default()
        };
        let mut after: Option<RunPosition> = None;
        loop {
            let page = self
                .run_listing
                .list_runs(&filter, after.as_ref(), SWEEP_PAGE)
                .await?;
            let full = page.len() == SWEEP_PAGE;
            for run in page {
                after = Some(RunPosition::of(&run));
                let id = run.id;
                let visited = match visit {
                    Visit::Sweep(now) => self.sweep_run(run, now, &mut report).await,
                    Visit::Resume => self.resume_run(run, &mut report).await,
                };
                if let Err(e) = visited {
                    warn!(run_id = %id, error = %crate::error::chain(&e), ?visit, "a Processing run failed");
                    report.failures.push(format!("run {id}: {e}"));
                }
            }
            if !full {
                break;
            }
        }
        Ok(report)
    }

    async fn sweep_run(
        &self,
        run: RunRecord,
        now: DateTime<Utc>,
        report: &mut SweepReport,
    ) -> Result<(), AppError> {
        let id = run.id;
        if let Some(claim) = &run.transition {
            // A retry of failed accounts that stopped before queueing them: resumed once
            // its holder's lease has run out.
            if claim.kind == Transition::RetryFailed && claim.until <= now {
                self.resume_retry(&run, now).await?;
                report.resumed_retries.push(id);
            }
            return Ok(());
        }
        // The progress tells whether the run moves; a finalizer counts exactly.
        let progress = self.pipeline.runs.progress(id).await?;
        let accounted = progress.accounted_for();
        if run.plan.done
            && accounted >= progress.accounts_selected
            && self.finalize_swept(id, now, report).await?
        {
            // Every account had an outcome: finalized (or another finalizer did).
            return Ok(());
        }
        // Not finalized: accounts are missing, whatever the progress says (it can lead
        // the outcomes when an add was retried after it landed); the run is judged by
        // its marker like any other.
        let marker = &run.sweep;
        let seen = (run.round, run.plan.pages, accounted);
        if (marker.round, marker.pages, marker.accounted_for) != seen {
            // Progress since the last sweep: remember it, nothing else.
            self.pipeline
                .modify_run(id, |r| {
                    if r.status != RunStatus::Processing
                        || (r.round, r.plan.pages) != (seen.0, seen.1)
                    {
                        return Ok(false);
                    }
                    r.sweep = SweepState {
                        round: seen.0,
                        pages: seen.1,
                        accounted_for: seen.2,
                        at: Some(now),
                        resends: 0,
                    };
                    Ok(true)
                })
                .await?;
            return Ok(());
        }
        let since = marker.at.or(run.commenced_at).unwrap_or(run.updated_at);
        if now - since < self.config.stale_after {
            return Ok(());
        }
        if !run.plan.done {
            // Planning stopped: resume it from the stored cursor. Planning has no
            // account to record Failed, so it is nudged on every stale sweep.
            if marker.resends >= self.config.resend_budget {
                warn!(run_id = %id, resends = marker.resends, "planning is stuck");
            }
            self.pipeline
                .queue
                .send(vec![Message::Plan {
                    run_id: id,
                    page: run.plan.pages,
                }])
                .await?;
            self.note_resend(id, now).await?;
            info!(run_id = %id, page = run.plan.pages, "stuck run: plan message re-sent");
            report.resumed.push(id);
            return Ok(());
        }
        // Stuck: count exactly (the progress lags behind an account whose process stopped
        // between its commit and the progress write).
        let counters = self.pipeline.runs.counters(id).await?;
        if counters.accounted_for() >= counters.accounts_selected {
            self.finalize_swept(id, now, report).await?;
            return Ok(());
        }
        let wanted = counters
            .accounts_selected
            .saturating_sub(counters.accounted_for());
        let missing = self.missing_accounts(&run, wanted).await?;
        if marker.resends >= self.config.resend_budget {
            for account in missing {
                self.pipeline
                    .record_failure(id, &account, run.round, DEAD_LETTERED)
                    .await?;
                warn!(run_id = %id, account_id = %account, "account recorded Failed: {DEAD_LETTERED}");
                report.dead_lettered.push((id, account));
            }
            self.finalize_swept(id, now, report).await?;
            return Ok(());
        }
        let count = self.send_accounts(&run, &missing).await?;
        self.note_resend(id, now).await?;
        info!(run_id = %id, count, "stuck run: account messages re-sent");
        report.resent.push((id, count));
        Ok(())
    }

    /// Queues a message for each of the run's `accounts` (this round's); how many.
    async fn send_accounts(
        &self,
        run: &RunRecord,
        accounts: &[AccountId],
    ) -> Result<u64, AppError> {
        for chunk in accounts.chunks(SELECT_PAGE) {
            let messages = chunk
                .iter()
                .map(|account_id| Message::Account {
                    run_id: run.id,
                    account_id: account_id.clone(),
                    round: run.round,
                })
                .collect();
            self.pipeline.queue.send(messages).await?;
        }
        Ok(accounts.len() as u64)
    }

    /// Re-drives every Processing run at once, for a process starting on a durable store
    /// whose work queue did not survive the previous process (`billrun-local serve
    /// --data` after a restart or a kill; its queue is in memory). Only for a process that
    /// is alone on the store (serve holds the data directory's lock): every claim found
    /// is then a dead process's and is taken over at once, not after its lease.
    ///
    /// Per run: a complete one is finalized (a finalization killed part-way resumes from
    /// its stored cursor); otherwise the plan message of the stored cursor is queued when
    /// planning is not done, and a message for each planned account without an outcome
    /// (the accounts are re-selected as the sweeper re-selects them); a stopped retry of
    /// failed accounts is finished. Nothing counts against the sweeper's re-send budget:
    /// the messages were lost with the process, not by the queue. Exactly once holds as
    /// for any redelivery: an account's commit is conditioned on its outcome not
    /// existing.
    pub async fn resume_after_restart(&self) -> Result<SweepReport, AppError> {
        self.each_processing(Visit::Resume).await
    }

    async fn resume_run(&self, run: RunRecord, report: &mut SweepReport) -> Result<(), AppError> {
        // Every claim of the previous process has run out (see resume_after_restart).
        let dead = DateTime::<Utc>::MAX_UTC;
        let id = run.id;
        if let Some(claim) = &run.transition {
            // A post or cancel is the client's to retry; a retry of failed accounts has
            // no client waiting for it.
            if claim.kind == Transition::RetryFailed {
                self.resume_retry(&run, dead).await?;
                report.resumed_retries.push(id);
            }
            return Ok(());
        }
        if run.plan.done && self.finalize_swept(id, dead, report).await? {
            return Ok(());
        }
        if !run.plan.done {
            self.pipeline
                .queue
                .send(vec![Message::Plan {
                    run_id: id,
                    page: run.plan.pages,
                }])
                .await?;
            report.resumed.push(id);
        }
        let counters = self.pipeline.runs.counters(id).await?;
        let wanted = counters
            .accounts_selected
            .saturating_sub(counters.accounted_for());
        let missing = self.missing_accounts(&run, wanted).await?;
        let count = self.send_accounts(&run, &missing).await?;
        info!(run_id = %id, count, planning = !run.plan.done, "run resumed after a restart");
        if count > 0 {
            report.resent.push((id, count));
        }
        Ok(())
    }

    /// Finalizes a run the sweeper found complete (a no-op if another finalizer holds
    /// it); whether the run has left Processing.
    async fn finalize_swept(
        &self,
        id: RunId,
        now: DateTime<Utc>,
        report: &mut SweepReport,
    ) -> Result<bool, AppError> {
        self.pipeline.finalize_at(id, Some(now)).await?;
        let done = self.pipeline.get_run(id).await?.status != RunStatus::Processing;
        if done {
            report.finalized.push(id);
        }
        Ok(done)
    }

    /// Takes over a stopped retry of failed accounts (its claim's lease ran out by
    /// `now`) and finishes it: clears and queues the Failed accounts, ends the claim.
    async fn resume_retry(&self, run: &RunRecord, now: DateTime<Utc>) -> Result<(), AppError> {
        let token = uuid::Uuid::new_v4().to_string();
        let taken = self
            .pipeline
            .modify_run(run.id, |r| match &mut r.transition {
                Some(c) if c.kind == Transition::RetryFailed && c.until <= now => {
                    c.holder = token.clone();
                    c.until =
                        self.pipeline.clock.now() + crate::pipeline::transition::TRANSITION_LEASE;
                    Ok(true)
                }
                _ => Ok(false),
            })
            .await?;
        if taken.transition.as_ref().is_none_or(|c| c.holder != token) {
            return Ok(());
        }
        if let Err(e) = self.pipeline.redrive_failed(&taken).await {
            return Err(self.pipeline.yield_claim(run.id, &token, e).await);
        }
        self.pipeline
            .finish(run.id, Transition::RetryFailed, |_| {})
            .await?;
        info!(run_id = %run.id, round = taken.round, "stopped retry of failed accounts resumed");
        self.pipeline.try_finalize(run.id).await?;
        Ok(())
    }

    /// Counts a re-send without progress on the run's marker.
    async fn note_resend(&self, id: RunId, now: DateTime<Utc>) -> Result<(), AppError> {
        self.pipeline
            .modify_run(id, |r| {
                if r.status != RunStatus::Processing {
                    return Ok(false);
                }
                r.sweep.at = Some(now);
                r.sweep.resends += 1;
                Ok(true)
            })
            .await?;
        Ok(())
    }

    /// The run's selected accounts without an outcome, at most `wanted` (the selected
    /// count less the outcomes: accounts the book gained since planning are never
    /// taken beyond it). The accounts are re-selected as planning selected them (filters, subrun) and merged
    /// with the run's outcomes, both in byte-wise account order, page by page (no read
    /// per account).
    async fn missing_accounts(
        &self,
        run: &RunRecord,
        wanted: u64,
    ) -> Result<Vec<AccountId>, AppError> {
        let mut missing = Vec::new();
        let mut cursor: Option<String> = None;
        let mut outcomes: VecDeque<AccountId> = VecDeque::new();
        let mut outcomes_after: Option<AccountId> = None;
        let mut outcomes_done = false;
        let selection = run.request.account_selection();
        while (missing.len() as u64) < wanted {
            let page = self
                .pipeline
                .book
                .select_accounts(&selection, cursor.as_deref(), SELECT_PAGE)
                .await?;
            for account in page.ids {
                if (missing.len() as u64) >= wanted {
                    break;
                }
                loop {
                    if outcomes.is_empty() && !outcomes_done {
                        let next = self
                            .pipeline
                            .runs
                            .outcomes(run.id, outcomes_after.as_ref(), SELECT_PAGE)
                            .await?;
                        outcomes_done = next.len() < SELECT_PAGE;
                        outcomes.extend(next.into_iter().map(|o| o.account_id));
                        outcomes_after = outcomes.back().cloned();
                    }
                    match outcomes.front() {
                        Some(o) if *o < account => {
                            outcomes.pop_front();
                        }
                        _ => break,
                    }
                }
                if outcomes.front() == Some(&account) {
                    outcomes.pop_front();
                } else {
                    missing.push(account);
                }
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        Ok(missing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_reads_its_variables_with_defaults() {
        let none = |_: &str| None;
        assert_eq!(SweepConfig::from_lookup(none), Ok(SweepConfig::default()));
        let set = |k: &str| match k {
            "STUCK_RUN_AFTER_MINUTES" => Some("30".to_string()),
            "STUCK_RUN_RESENDS" => Some("5".to_string()),
            _ => None,
        };
        assert_eq!(
            SweepConfig::from_lookup(set),
            Ok(SweepConfig {
                stale_after: TimeDelta::minutes(30),
                resend_budget: 5
            })
        );
        let bad = |k: &str| (k == "STUCK_RUN_AFTER_MINUTES").then(|| "0".to_string());
        assert!(SweepConfig::from_lookup(bad)
            .unwrap_err()
            .contains("STUCK_RUN_AFTER_MINUTES"));
    }
}
