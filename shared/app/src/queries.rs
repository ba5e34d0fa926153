//! Queries: runs with their counters, listings with positions, a run's documents and
//! account outcomes. Reads only.

use crate::error::{AppError, ConflictCode};
use crate::model::documents::DocumentCounters;
use crate::model::listing::{DocumentPosition, RunFilter, RunPosition};
use crate::model::*;
use crate::pipeline::stored_run;
use crate::ports::*;
use billrun_domain::book::Account;
use billrun_domain::document::{Document, DocumentKind};
use billrun_domain::ids::{AccountId, DocumentId, RunId};
use billrun_domain::journal::{Journal, JournalBuilder};
use billrun_domain::run::{Counters, Outcome, RunStatus};
use std::sync::Arc;

/// The queries over the ports they read.
#[derive(Clone)]
pub struct Queries {
    pub runs: Arc<dyn RunStore>,
    pub documents: Arc<dyn DocumentStore>,
    pub run_listing: Arc<dyn RunListing>,
    pub account_listing: Arc<dyn AccountListing>,
    pub document_listing: Arc<dyn DocumentListing>,
    /// The counters of a run's latest document generation request.
    pub document_requests: Arc<dyn DocumentRequestStore>,
    /// Tells when a preview has expired.
    pub clock: Arc<dyn Clock>,
}

impl Queries {
    /// The stored run (a deleted run, or an expired preview, is not found).
    pub async fn get_run(&self, id: RunId) -> Result<RunRecord, AppError> {
        let run = stored_run(&*self.runs, id).await?;
        if run.is_expired(self.clock.now()) {
            return Err(AppError::NotFound(format!("invoice run {id}")));
        }
        Ok(run)
    }

    /// The run, once its documents are final (409 `run_not_completed` before).
    pub async fn run_with_final_documents(&self, id: RunId) -> Result<RunRecord, AppError> {
        self.get_run(id).await?;
        crate::pipeline::run_with_final_documents(&*self.runs, id).await
    }

    /// The run with its counters.
    pub async fn run_view(&self, id: RunId) -> Result<RunView, AppError> {
        let r = self.get_run(id).await?;
        self.view_of(r).await
    }

    /// The run with its counters.
    pub async fn view_of(&self, r: RunRecord) -> Result<RunView, AppError> {
        let counters = self.view_counters(&r).await?;
        let documents = self.run_document_counters(r.id).await?;
        Ok(view_with(r, counters, documents))
    }

    /// The view of a run this call has just created: nothing of it is counted or
    /// requested yet (the progress a read would find is its plan's selection and zeros,
    /// no document request), so its creation answers without reading it back.
    pub fn created_view(r: RunRecord) -> RunView {
        let counters = Counters {
            accounts_selected: r.plan.selected,
            ..Counters::default()
        };
        view_with(r, counters, None)
    }

    /// The counters a view of the run shows: exact once the round was counted at
    /// finalization (stored on the run), the cheap progress while it is processed (an
    /// exact count reads every outcome), else an exact count.
    async fn view_counters(&self, r: &RunRecord) -> Result<Counters, AppError> {
        if let Some(c) = r
            .finalize
            .as_ref()
            .filter(|f| f.round == r.round)
            .and_then(|f| f.counters.clone())
        {
            return Ok(c);
        }
        Ok(match r.status {
            RunStatus::Pending | RunStatus::Processing => self.runs.progress(r.id).await?,
            _ => self.runs.counters(r.id).await?,
        })
    }

    pub async fn run_by_number(&self, number: u64) -> Result<RunRecord, AppError> {
        self.run_listing
            .run_by_number(number)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("invoice run {number}")))
    }

    pub async fn list_runs(
        &self,
        filter: &RunFilter,
        after: Option<&RunPosition>,
        limit: usize,
    ) -> Result<Vec<RunView>, AppError> {
        // Deleted runs are skipped; pages are read on until `limit` runs are found or
        // the listing ends, so a page is short only at the end.
        let mut out = Vec::with_capacity(limit);
        let mut cursor = after.cloned();
        let now = self.clock.now();
        loop {
            let runs = self
                .run_listing
                .list_runs(filter, cursor.as_ref(), limit)
                .await?;
            let ended = runs.len() < limit;
            cursor = runs.last().map(RunPosition::of);
            for r in runs {
                if r.deleted_at.is_some() || r.is_expired(now) {
                    continue;
                }
                out.push(self.view_of(r).await?);
                if out.len() == limit {
                    return Ok(out);
                }
            }
            if ended || cursor.is_none() {
                return Ok(out);
            }
        }
    }

    pub async fn list_accounts(
        &self,
        batch: Option<&str>,
        after: Option<&AccountId>,
        limit: usize,
    ) -> Result<Vec<Account>, AppError> {
        Ok(self
            .account_listing
            .list_accounts(batch, after, limit)
            .await?)
    }

    /// Every document of the run in numbering order.
    pub async fn all_documents(&self, id: RunId) -> Result<Vec<Document>, AppError> {
        let mut out = Vec::new();
        self.each_document(id, |d| {
            out.push(d);
            Ok(())
        })
        .await?;
        Ok(out)
    }

    /// Calls `f` with every document of the run in numbering order, read a page at a
    /// time.
    async fn each_document(
        &self,
        id: RunId,
        mut f: impl FnMut(Document) -> Result<(), AppError>,
    ) -> Result<(), AppError> {
        let mut cursor: Option<String> = None;
        loop {
            let page = self
                .documents
                .run_documents(id, cursor.as_deref(), 1000)
                .await?;
            for d in page.documents {
                f(d.document)?;
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => return Ok(()),
            }
        }
    }

    /// The journal of a Posted run (docs/accounting.md), its documents read a page at a
    /// time so memory stays bounded by a page and the journal's accounts whatever the
    /// run's size. Any other status: 409 `run_not_posted` (only posted documents are in
    /// the ledger).
    pub async fn run_journal(&self, id: RunId) -> Result<(RunRecord, Journal), AppError> {
        let run = self.get_run(id).await?;
        if run.status != RunStatus::Posted {
            return Err(AppError::conflict(
                ConflictCode::RunNotPosted,
                format!(
                    "run {id} is {:?}; only a posted run has a journal",
                    run.status
                ),
            ));
        }
        let mut journal = JournalBuilder::default();
        self.each_document(id, |d| {
            journal
                .add(&d)
                .map_err(|e| AppError::internal(e.to_string()))
        })
        .await?;
        let journal = journal
            .finish()
            .map_err(|e| AppError::internal(e.to_string()))?;
        Ok((run, journal))
    }

    /// Every account outcome of the run, by account id, with document numbers.
    pub async fn account_outcomes(&self, id: RunId) -> Result<Vec<AccountOutcomeView>, AppError> {
        let mut out: Vec<AccountOutcomeView> = Vec::new();
        let mut after: Option<AccountId> = None;
        loop {
            let page = self.runs.outcomes(id, after.as_ref(), 1000).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.account_id.clone());
            for o in page {
                out.push(self.outcome_view(o).await?);
            }
        }
        Ok(out)
    }

    /// One page of a run's documents in numbering order, of one kind when given.
    pub async fn run_documents_page(
        &self,
        run: RunId,
        kind: Option<DocumentKind>,
        after: Option<&DocumentPosition>,
        limit: usize,
    ) -> Result<Vec<StoredDocument>, AppError> {
        self.get_run(run).await?;
        Ok(self
            .document_listing
            .list_run_documents(run, kind, after, limit)
            .await?)
    }

    pub async fn get_document(&self, id: DocumentId) -> Result<Document, AppError> {
        self.documents
            .get_document(id)
            .await?
            .map(|d| d.document)
            .ok_or_else(|| AppError::NotFound(format!("document {id}")))
    }

    /// One page of a run's account outcomes by account id, of one outcome when given.
    pub async fn outcomes_page(
        &self,
        run: RunId,
        outcome: Option<Outcome>,
        after: Option<AccountId>,
        limit: usize,
    ) -> Result<Vec<AccountOutcomeView>, AppError> {
        self.get_run(run).await?;
        let limit = limit.max(1);
        let mut out = Vec::new();
        let mut after = after;
        loop {
            let page = self
                .runs
                .outcomes(run, after.as_ref(), limit.max(100))
                .await?;
            let exhausted = page.len() < limit.max(100);
            for o in page {
                after = Some(o.account_id.clone());
                if outcome.is_some_and(|x| x != o.outcome) {
                    continue;
                }
                out.push(self.outcome_view(o).await?);
                if out.len() == limit {
                    return Ok(out);
                }
            }
            if exhausted {
                return Ok(out);
            }
        }
    }

    /// The counters of the run's latest document request, if it has one.
    pub async fn run_document_counters(
        &self,
        run: RunId,
    ) -> Result<Option<DocumentCounters>, AppError> {
        let Some(id) = self.document_requests.latest_document_request(run).await? else {
            return Ok(None);
        };
        Ok(self
            .document_requests
            .get_document_request(id)
            .await?
            .map(|(r, generated, failed)| DocumentCounters {
                requested: r.documents,
                generated,
                failed,
            }))
    }

    /// An outcome with the numbers of its documents.
    async fn outcome_view(&self, o: AccountOutcomeRecord) -> Result<AccountOutcomeView, AppError> {
        let mut numbers = Vec::with_capacity(o.document_ids.len());
        for d in &o.document_ids {
            if let Some(n) = self
                .documents
                .get_document(*d)
                .await?
                .and_then(|s| s.document.number)
            {
                numbers.push(n);
            }
        }
        Ok(AccountOutcomeView {
            renewals: RenewalView::of(&o.changes),
            account_id: o.account_id,
            outcome: o.outcome,
            document_numbers: numbers,
            reason: o.reason,
        })
    }
}

/// A run's view from the run and what was read of it.
fn view_with(r: RunRecord, counters: Counters, documents: Option<DocumentCounters>) -> RunView {
    use crate::model::events::RunEventType;
    let by = |t| r.actor_of(t).map(str::to_string);
    let (created_by, posted_by, canceled_by) = (
        by(RunEventType::Created),
        by(RunEventType::Posted),
        by(RunEventType::Canceled),
    );
    RunView {
        id: r.id,
        number: r.number,
        name: r.name,
        status: r.status,
        request: r.request,
        target_date: r.target_date,
        created_at: r.created_at,
        updated_at: r.updated_at,
        commenced_at: r.commenced_at,
        completed_at: r.completed_at,
        transition: r.transition.map(|t| t.kind),
        counters,
        documents,
        client_fields: r.client_fields,
        created_by,
        posted_by,
        canceled_by,
        partially_posted: r.partially_posted && r.status.is_completed(),
        expires_at: r.expires_at,
    }
}
