//! Approving and posting a selection of a completed run's documents. Approval
//! (Draft → Approved) is a change of each document conditioned on its status, with no
//! claim on the run: it is not final, so a concurrent post or cancel simply wins.
//! Posting a selection claims the run like a whole post ([`super::transition`]) and
//! marks it `partiallyPosted` in the claim's write, so a cancel is refused from then
//! on (a posted document is final); posting its last unposted documents posts the run.

use super::transition::Admit;
use super::{stored_run, RunPipeline};
use crate::error::{AppError, ConflictCode};
use crate::model::{RunRecord, StoredDocument, Transition};
use billrun_domain::document::DocumentStatus;
use billrun_domain::ids::{DocumentId, RunId};
use billrun_domain::run::RunStatus;
use billrun_domain::FieldError;

/// The most documents one request names.
pub const MAX_SELECTION: usize = 1000;

/// Documents read per page when a selection is every document in a status.
const SELECTION_PAGE: usize = 500;

/// Which documents of a run an approval or a post acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// These (`invoiceIds`): each must be a document of the run.
    Ids(Vec<DocumentId>),
    /// Every document of the run in a status the action takes.
    Every,
}

impl RunPipeline {
    /// Approves the selected Draft documents of a completed run (an Approved one is
    /// left as it is). A named document that is Posted or Canceled is refused (409
    /// `status_locked` at its `invoiceIds[i]`) before anything changes.
    pub async fn approve_documents(
        &self,
        run_id: RunId,
        selection: &Selection,
    ) -> Result<RunRecord, AppError> {
        let run = stored_run(&*self.runs, run_id).await?;
        super::refuse_preview(&run, "approved")?;
        completed(&run)?;
        let ids = self
            .selected(
                run_id,
                selection,
                &[DocumentStatus::Draft],
                DocumentStatus::Approved,
            )
            .await?;
        let by = crate::actor::current();
        let at = self.clock.now();
        for chunk in ids.chunks(SELECTION_PAGE) {
            self.documents
                .set_document_statuses(
                    chunk,
                    &[DocumentStatus::Draft],
                    DocumentStatus::Approved,
                    by.as_deref(),
                    at,
                )
                .await?;
        }
        Ok(run)
    }

    /// Posts the selected documents of a completed run: those named (Draft or
    /// Approved), or every Approved one. The run is claimed for the post and marked
    /// partially posted; once none of its documents is Draft or Approved it is Posted.
    pub async fn post_documents(
        &self,
        run_id: RunId,
        selection: &Selection,
    ) -> Result<RunRecord, AppError> {
        let from: &[DocumentStatus] = match selection {
            Selection::Ids(_) => &[DocumentStatus::Draft, DocumentStatus::Approved],
            Selection::Every => &[DocumentStatus::Approved],
        };
        // Checked before the claim, so that a bad selection writes nothing.
        let run = stored_run(&*self.runs, run_id).await?;
        super::refuse_preview(&run, "posted")?;
        if run.status != RunStatus::Posted {
            completed(&run)?;
        }
        let ids = self
            .selected(run_id, selection, from, DocumentStatus::Posted)
            .await?;
        let poster = crate::actor::current();
        let claim = self
            .claim(run_id, Transition::Post, |r| match r.status {
                RunStatus::Posted => Ok(Admit::Done),
                s if s.is_completed() => {
                    self.controls.check_poster(r, poster.as_deref())?;
                    r.partially_posted = true;
                    Ok(Admit::Claim)
                }
                _ => completed(r).map(|_| Admit::Done),
            })
            .await?;
        let Some(token) = claim.token else {
            return Ok(claim.run);
        };
        let at = self.clock.now();
        let posted = async {
            for chunk in ids.chunks(SELECTION_PAGE) {
                self.documents
                    .set_document_statuses(
                        chunk,
                        from,
                        DocumentStatus::Posted,
                        poster.as_deref(),
                        at,
                    )
                    .await?;
            }
            self.none_left_to_post(run_id).await
        }
        .await;
        match posted {
            Ok(all) => {
                self.finish(run_id, Transition::Post, |r| {
                    if all {
                        r.status = RunStatus::Posted;
                    }
                })
                .await
            }
            Err(e) => Err(self.yield_claim(run_id, &token, e).await),
        }
    }

    /// The ids of the selection's documents in one of `from` (those already in `to`
    /// are skipped); a named document that is not the run's is refused (400), one in
    /// another status too (409 `status_locked`).
    async fn selected(
        &self,
        run_id: RunId,
        selection: &Selection,
        from: &[DocumentStatus],
        to: DocumentStatus,
    ) -> Result<Vec<DocumentId>, AppError> {
        let ids = match selection {
            Selection::Ids(ids) => ids,
            Selection::Every => return self.every_in(run_id, from).await,
        };
        if ids.is_empty() || ids.len() > MAX_SELECTION {
            return Err(FieldError::new(
                "invoiceIds",
                format!("must name 1 to {MAX_SELECTION} documents"),
            )
            .into());
        }
        let mut out = Vec::with_capacity(ids.len());
        for (i, id) in ids.iter().enumerate() {
            let field = format!("invoiceIds[{i}]");
            let d: Option<StoredDocument> = self.documents.get_document(*id).await?;
            let Some(d) = d.filter(|d| d.document.run_id == run_id) else {
                return Err(
                    FieldError::new(field, format!("no document {id} in run {run_id}")).into(),
                );
            };
            let status = d.document.status;
            if from.contains(&status) {
                out.push(*id);
            } else if status != to {
                return Err(AppError::Conflict {
                    code: ConflictCode::StatusLocked,
                    message: format!("document {id} is {status:?}"),
                    field: Some(field),
                });
            }
        }
        Ok(out)
    }

    /// Every document of the run in one of `from`, in numbering order.
    async fn every_in(
        &self,
        run_id: RunId,
        from: &[DocumentStatus],
    ) -> Result<Vec<DocumentId>, AppError> {
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let page = self
                .documents
                .run_documents(run_id, cursor.as_deref(), SELECTION_PAGE)
                .await?;
            out.extend(
                page.documents
                    .iter()
                    .filter(|d| from.contains(&d.document.status))
                    .map(|d| d.document.id),
            );
            match page.next {
                Some(next) => cursor = Some(next),
                None => return Ok(out),
            }
        }
    }

    /// Whether none of the run's documents is Draft or Approved (reads until it finds
    /// one).
    async fn none_left_to_post(&self, run_id: RunId) -> Result<bool, AppError> {
        let mut cursor = None;
        loop {
            let page = self
                .documents
                .run_documents(run_id, cursor.as_deref(), SELECTION_PAGE)
                .await?;
            if page.documents.iter().any(|d| {
                matches!(
                    d.document.status,
                    DocumentStatus::Draft | DocumentStatus::Approved
                )
            }) {
                return Ok(false);
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => return Ok(true),
            }
        }
    }
}

/// Refuses a run whose documents are not final yet, or posted already.
fn completed(run: &RunRecord) -> Result<(), AppError> {
    match run.status {
        s if s.is_completed() => Ok(()),
        RunStatus::Posted => Err(AppError::conflict(
            ConflictCode::RunPosted,
            format!("run {} is posted: its documents are posted", run.id),
        )),
        s => Err(AppError::conflict(
            ConflictCode::RunNotCompleted,
            format!(
                "run {} is {s:?}: only a completed run's documents are approved or posted",
                run.id
            ),
        )),
    }
}
