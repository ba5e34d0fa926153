//! Correcting one document: voiding a Posted invoice (a linked credit memo takes it
//! back), canceling a Draft or Approved document alone, and rebilling one account.
//! Each correction is one atomic write of the store
//! ([`crate::ports::WatermarkStore::correct_document`]) conditioned on the document's
//! status, so a retried or racing correction finds it done and returns what the first
//! wrote: a void's credit memo id is derived from the invoice's, never a second one.

use super::{stored_run, RunPipeline};
use crate::error::{AppError, ConflictCode};
use crate::model::corrections::*;
use crate::model::{Created, StoredDocument};
use billrun_domain::document::{DocumentKind, DocumentStatus};
use billrun_domain::ids::{AccountId, DocumentId};
use billrun_domain::request::RunRequest;
use chrono::NaiveDate;

impl RunPipeline {
    /// Voids a Posted invoice: it becomes Voided (`voidedBy`, `voidedAt`), a credit
    /// memo for its full amount is posted with the next credit-memo number, and the
    /// account's billing state of its run is rolled back (once no other invoice of the
    /// run and account stands on it), so the next run or a rebill bills the items
    /// again. Refused (409) for a credit memo, an invoice that is not Posted, and when
    /// a later run billed past what the rollback would undo.
    pub async fn void_document(&self, id: DocumentId) -> Result<Corrected, AppError> {
        let stored = self.correctable(id).await?;
        let d = &stored.document;
        if d.kind == DocumentKind::CreditMemo {
            return Err(AppError::conflict(
                ConflictCode::DocumentNotVoidable,
                format!("document {id} is a credit memo; only a posted invoice is voided"),
            ));
        }
        let paid = self.payments.paid_amounts(&[id]).await?;
        if paid.first().is_some_and(|p| !p.is_zero()) {
            return Err(AppError::conflict(
                ConflictCode::DocumentHasPayments,
                format!(
                    "invoice {id} has payments or credit applied; its void's credit memo \
                     would reverse the whole invoice: reverse them first"
                ),
            ));
        }
        let credit_memo = Some(void_credit_memo(d));
        self.correct(id, CorrectionKind::Void, credit_memo).await
    }

    /// Cancels a Draft or Approved document alone: Canceled (`canceledBy`,
    /// `canceledAt`, keeping its number), its account's billing state rolled back as a
    /// void's is; no credit memo. A Posted one is refused (void it instead).
    pub async fn cancel_document(&self, id: DocumentId) -> Result<Corrected, AppError> {
        self.correctable(id).await?;
        self.correct(id, CorrectionKind::Cancel, None).await
    }

    /// An Immediate run of `account` alone (the run filter `accountIds`) for `target`:
    /// what a void or cancel rolled back is billed again.
    pub async fn rebill_account(
        &self,
        account: AccountId,
        target: NaiveDate,
        idempotency_key: Option<String>,
    ) -> Result<Created, AppError> {
        if self.book.account_book(&account).await?.is_none() {
            return Err(AppError::NotFound(format!("account {account}")));
        }
        let mut request = RunRequest::for_target(target);
        request.filters.account_ids = vec![account];
        self.create_run(request, idempotency_key).await
    }

    /// The document, refused when its run is a preview.
    async fn correctable(&self, id: DocumentId) -> Result<StoredDocument, AppError> {
        let stored = self
            .documents
            .get_document(id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("document {id}")))?;
        let run = stored_run(&*self.runs, stored.document.run_id).await?;
        super::refuse_preview(&run, "corrected")?;
        Ok(stored)
    }

    async fn correct(
        &self,
        id: DocumentId,
        kind: CorrectionKind,
        credit_memo: Option<billrun_domain::document::Document>,
    ) -> Result<Corrected, AppError> {
        let correction = DocumentCorrection {
            kind,
            document: id,
            credit_memo,
            by: crate::actor::current(),
            at: self.clock.now(),
        };
        match self.ledger.correct_document(&correction).await? {
            None => Err(AppError::NotFound(format!("document {id}"))),
            Some(Ok(done)) => Ok(done),
            Some(Err(CorrectionRefusal::Status(s))) => Err(refused(id, kind, s)),
            Some(Err(CorrectionRefusal::Superseded(m))) => Err(AppError::conflict(
                ConflictCode::DocumentSuperseded,
                format!(
                    "document {id} cannot be {}: a later run billed past it ({m})",
                    match kind {
                        CorrectionKind::Void => "voided",
                        CorrectionKind::Cancel => "canceled",
                    }
                ),
            )),
        }
    }
}

/// The 409 of a correction the document's status does not take.
fn refused(id: DocumentId, kind: CorrectionKind, status: DocumentStatus) -> AppError {
    match kind {
        CorrectionKind::Void => AppError::conflict(
            ConflictCode::DocumentNotVoidable,
            format!("document {id} is {status:?}; only a posted invoice is voided"),
        ),
        CorrectionKind::Cancel if status == DocumentStatus::Posted => AppError::conflict(
            ConflictCode::DocumentNotCancelable,
            format!("document {id} is Posted; void it instead"),
        ),
        CorrectionKind::Cancel => AppError::conflict(
            ConflictCode::DocumentNotCancelable,
            format!("document {id} is {status:?}; only a draft or approved one is canceled"),
        ),
    }
}
