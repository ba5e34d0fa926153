//! Processing one account: rate it, commit its documents, state changes and outcome in
//! one atomic step; or record it Failed.

use super::RunPipeline;
use crate::error::{AppError, StoreError};
use crate::model::*;
use billrun_domain::document::Document;
use billrun_domain::ids::{AccountId, RunId};
use billrun_domain::rating::{rate_account, RunSpec};
use billrun_domain::run::{Counters, Outcome, RunStatus};
use std::collections::HashMap;
use tracing::{info_span, Instrument};

/// How often a conflicting account commit is re-read and re-rated before giving up
/// for this delivery.
const COMMIT_ATTEMPTS: usize = 8;

impl RunPipeline {
    /// Rates one account and commits its documents, state changes and outcome in one
    /// atomic step. A duplicate message finds the outcome and changes nothing.
    pub async fn process_account(
        &self,
        run_id: RunId,
        account_id: &AccountId,
        round: u32,
    ) -> Result<(), AppError> {
        let Some(run) = self.runs.get_run(run_id).await? else {
            return Ok(());
        };
        if let Some(added) = self.process_account_of(&run, account_id, round).await? {
            self.runs.add_progress(run_id, &added).await?;
            self.check_completion(run_id).await?;
        }
        Ok(())
    }

    /// Rates and commits one account of `run` as the caller read it (a batch of account
    /// messages shares one read of the run record instead of each reading it: that item
    /// is read by every account of a run, and one item takes at most 3,000 reads a
    /// second), without the completion check, which the caller runs once after the
    /// batch ([`RunPipeline::try_finalize`]), like the progress it adds ([`RunStore::add_progress`]).
    /// `None` when the run is not processing this round (nothing to do, nothing to
    /// check); else the counters this call committed (zero when a redelivery found the
    /// account done).
    pub async fn process_account_of(
        &self,
        run: &RunRecord,
        account_id: &AccountId,
        round: u32,
    ) -> Result<Option<Counters>, AppError> {
        let run_id = run.id;
        let span = info_span!("process_account", run_id = %run_id, account_id = %account_id);
        async move {
            if run.status != RunStatus::Processing || run.round != round {
                return Ok(None);
            }
            // A redelivered message is re-rated and its commit finds the outcome already
            // recorded (no extra read on the hot path to detect it earlier).
            let spec = RunSpec::new(run_id, &run.request);
            let mut committed = None;
            let mut last_conflict = String::new();
            for _ in 0..COMMIT_ATTEMPTS {
                let mut commit = match self.book.account_book(account_id).await? {
                    None => failed_commit(
                        run_id,
                        account_id,
                        round,
                        "account is not in the book".into(),
                    ),
                    Some(book) => match rate_account(&spec, &book) {
                        Err(reason) => failed_commit(run_id, account_id, round, reason.to_string()),
                        Ok(rated) => {
                            let mut docs: Vec<Document> = Vec::with_capacity(rated.documents.len());
                            let mut suppressed = 0u64;
                            for d in rated.documents {
                                if d.suppressed {
                                    suppressed += 1;
                                } else {
                                    docs.push(d.document);
                                }
                            }
                            self.resolve_credited_numbers(&mut docs).await?;
                            let outcome = if !docs.is_empty() {
                                Outcome::Billed
                            } else if suppressed > 0 {
                                Outcome::Suppressed
                            } else {
                                Outcome::NothingToBill
                            };
                            AccountCommit {
                                outcome: AccountOutcomeRecord {
                                    run_id,
                                    account_id: account_id.clone(),
                                    outcome,
                                    reason: None,
                                    document_ids: docs.iter().map(|d| d.id).collect(),
                                    changes: rated.changes,
                                    counters: Counters::for_account(outcome, &docs, suppressed),
                                    round,
                                },
                                documents: docs,
                                expires_at: None,
                            }
                        }
                    },
                };
                super::preview::preview_only(run, &mut commit);
                match self.ledger.commit_account(&commit).await {
                    Ok(CommitResult::Committed) => {
                        committed = Some(commit.outcome.counters);
                        break;
                    }
                    // Done by an earlier delivery, which may have stopped before adding
                    // its progress (a crash, a timeout): the progress is reported again,
                    // so that completion never waits for the sweeper's exact count. It
                    // may then lead the outcomes, which only costs an exact count that
                    // finds an account missing.
                    Ok(CommitResult::AlreadyDone) => {
                        committed = Some(self.reported_again(run_id, account_id, round).await?);
                        break;
                    }
                    // A watermark moved under us (a concurrent run): re-read, re-rate.
                    Err(StoreError::Conflict(m)) => last_conflict = m,
                    Err(e) => return Err(e.into()),
                }
            }
            match committed {
                None => Err(AppError::transient(format!(
                    "account kept changing: {last_conflict}"
                ))),
                added => Ok(added),
            }
        }
        .instrument(span)
        .await
    }

    /// The counters of the account's stored outcome of `round`, for a redelivery that
    /// found it committed (none of another round: that round counted it).
    async fn reported_again(
        &self,
        run_id: RunId,
        account_id: &AccountId,
        round: u32,
    ) -> Result<Counters, AppError> {
        Ok(self
            .runs
            .outcome(run_id, account_id)
            .await?
            .filter(|o| o.round == round)
            .map(|o| o.counters)
            .unwrap_or_default())
    }

    /// Credit lines name the document that billed the credited period by number.
    async fn resolve_credited_numbers(&self, docs: &mut [Document]) -> Result<(), AppError> {
        let mut cache: HashMap<billrun_domain::ids::DocumentId, Option<String>> = HashMap::new();
        for d in docs.iter_mut() {
            for l in d.lines.iter_mut() {
                if !l.is_credit() {
                    continue;
                }
                let number = match l.credits_document_id {
                    None => None,
                    Some(id) => match cache.get(&id) {
                        Some(n) => n.clone(),
                        None => {
                            let n = self
                                .documents
                                .get_document(id)
                                .await?
                                .and_then(|s| s.document.number);
                            cache.insert(id, n.clone());
                            n
                        }
                    },
                };
                l.credits_document = Some(number);
            }
        }
        Ok(())
    }

    /// Records an account as Failed with `reason` (its message's last receive failed).
    pub async fn record_failure(
        &self,
        run_id: RunId,
        account_id: &AccountId,
        round: u32,
        reason: &str,
    ) -> Result<(), AppError> {
        let Some(run) = self.runs.get_run(run_id).await? else {
            return Ok(());
        };
        if run.status != RunStatus::Processing || run.round != round {
            return Ok(());
        }
        let mut commit = failed_commit(run_id, account_id, round, reason.to_string());
        super::preview::preview_only(&run, &mut commit);
        let added = match self.ledger.commit_account(&commit).await? {
            CommitResult::Committed => commit.outcome.counters,
            // Committed by an earlier delivery that may have stopped before its progress.
            CommitResult::AlreadyDone => self.reported_again(run_id, account_id, round).await?,
        };
        self.runs.add_progress(run_id, &added).await?;
        self.try_finalize(run_id).await?;
        Ok(())
    }
}

fn failed_commit(
    run_id: RunId,
    account_id: &AccountId,
    round: u32,
    reason: String,
) -> AccountCommit {
    AccountCommit {
        outcome: AccountOutcomeRecord {
            run_id,
            account_id: account_id.clone(),
            outcome: Outcome::Failed,
            reason: Some(reason),
            document_ids: vec![],
            changes: vec![],
            counters: Counters::for_account(Outcome::Failed, &[], 0),
            round,
        },
        documents: vec![],
        expires_at: None,
    }
}
