use billrun_domain::FieldError;
use std::sync::Arc;

/// What went wrong below a use case, and the error that caused it: the message for the
/// reader, the source for the log's error chain ([`chain`]). Two causes are equal when
/// their messages are (an underlying error has no equality).
#[derive(Debug, Clone)]
pub struct Cause {
    message: String,
    source: Option<Arc<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Cause {
    pub fn new(message: impl Into<String>) -> Self {
        Cause {
            message: message.into(),
            source: None,
        }
    }

    /// A cause that keeps the error it came from.
    pub fn from_error(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Cause {
            message: message.into(),
            source: Some(Arc::new(source)),
        }
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same cause, its message led by what was being done.
    pub fn context(self, doing: &str) -> Self {
        Cause {
            message: format!("{doing}: {}", self.message),
            source: self.source,
        }
    }

    /// The underlying error, if the cause kept one.
    pub fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl PartialEq for Cause {
    fn eq(&self, other: &Self) -> bool {
        self.message == other.message
    }
}

impl Eq for Cause {}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<String> for Cause {
    fn from(message: String) -> Self {
        Cause::new(message)
    }
}

impl From<&str> for Cause {
    fn from(message: &str) -> Self {
        Cause::new(message)
    }
}

/// An error and its sources, `: `-separated, for a log line (`error = %chain(&e)`):
/// what the logs keep of a failure's causes.
pub fn chain<'a>(e: &'a (dyn std::error::Error + 'static)) -> Chain<'a> {
    Chain(e)
}

/// See [`chain`].
pub struct Chain<'a>(&'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut shown = self.0.to_string();
        f.write_str(&shown)?;
        let mut next = self.0.source();
        while let Some(s) = next {
            let text = s.to_string();
            // A wrapper often repeats its source's text (ours and the SDK's do).
            if !shown.contains(&text) {
                write!(f, ": {text}")?;
                shown.push_str(&text);
            }
            next = s.source();
        }
        Ok(())
    }
}

/// What a storage or queue adapter can report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A conditional write lost: somebody else changed the item first (re-read and
    /// retry, or, for a create, it exists).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A run's idempotency key is stored with a different request (not worth a retry).
    #[error("idempotency key reused: {0}")]
    IdempotencyKeyReused(String),
    /// A later run has billed past what a run's revert would roll back (not worth a
    /// retry: the run can no longer be canceled).
    #[error("superseded: {0}")]
    Superseded(String),
    /// Worth retrying: throttling, a timeout, a 5xx.
    #[error("transient: {0}")]
    Transient(#[source] Cause),
    /// Not worth retrying: corrupt data, a misconfigured table.
    #[error("storage failure: {0}")]
    Fatal(#[source] Cause),
}

impl StoreError {
    pub fn transient(message: impl Into<String>) -> Self {
        StoreError::Transient(Cause::new(message))
    }

    pub fn fatal(message: impl Into<String>) -> Self {
        StoreError::Fatal(Cause::new(message))
    }

    /// A transient failure that keeps the error it came from.
    pub fn transient_from(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StoreError::Transient(Cause::from_error(message, source))
    }

    /// A fatal failure that keeps the error it came from.
    pub fn fatal_from(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StoreError::Fatal(Cause::from_error(message, source))
    }
}

impl std::error::Error for Cause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Cause::source(self)
    }
}

/// Why a resource's state refuses a valid request (HTTP 409): the one source of every
/// conflict code on the wire ([`ConflictCode::as_str`]) and of the list the API documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConflictCode {
    FieldLocked,
    IdempotencyKeyReused,
    RunNotPending,
    RunNotCompleted,
    RunNotCanceled,
    RunDeleted,
    RunProcessing,
    RunPosted,
    RunNotPosted,
    RunSuperseded,
    RunHasNoFailures,
    RunTransitionInProgress,
    ScheduleItemProcessed,
    AccountLocked,
    CurrencyLocked,
    NoActiveTemplate,
    StatusLocked,
    DeliveryNotConfigured,
    /// A payment of a document that is not a Posted invoice.
    DocumentNotPayable,
    /// A payment above the invoice's balance.
    Overpayment,
    /// A credit memo that is not Posted, or applied to an invoice of another account or
    /// currency.
    CreditMemoNotApplicable,
    /// A credit memo's application above its unapplied credit.
    CreditExceeded,
    /// A download of an export that is not Completed.
    ExportNotCompleted,
    /// The deployment requires a second person to post (maker–checker): the run's
    /// creator, an unidentified caller, or `autoPost`, may not.
    MakerChecker,
    /// A cancel of a completed run some of whose documents are posted.
    RunPartiallyPosted,
    /// A change a preview never takes (post, approve, cancel, email, export, payment),
    /// or a diff of a run that is not a preview.
    RunIsPreview,
    /// A void of a credit memo or of an invoice that is not Posted.
    DocumentNotVoidable,
    /// A void of an invoice that has payments or credit applied (refund or reverse
    /// them first: the void's credit memo reverses the whole invoice).
    DocumentHasPayments,
    /// A single cancel of a document that is not Draft or Approved (a Posted one is
    /// voided).
    DocumentNotCancelable,
    /// A void or single cancel whose rollback a later run has billed past.
    DocumentSuperseded,
    /// A create-only write (`If-None-Match: *`) of a run schedule whose id is taken.
    RunScheduleExists,
    /// A template's sample asked before the documents worker rendered it from the
    /// template's current content.
    SamplePending,
    /// A create-only write (`If-None-Match: *`) of a document template whose id is taken.
    TemplateExists,
    /// A create-only write (`If-None-Match: *`) of an invoice schedule whose id is taken.
    InvoiceScheduleExists,
}

impl ConflictCode {
    /// Every code, in the order docs/api.md lists them.
    pub const ALL: [ConflictCode; 34] = [
        ConflictCode::FieldLocked,
        ConflictCode::IdempotencyKeyReused,
        ConflictCode::RunNotPending,
        ConflictCode::RunNotCompleted,
        ConflictCode::RunNotCanceled,
        ConflictCode::RunDeleted,
        ConflictCode::RunProcessing,
        ConflictCode::RunPosted,
        ConflictCode::RunNotPosted,
        ConflictCode::RunSuperseded,
        ConflictCode::RunHasNoFailures,
        ConflictCode::RunTransitionInProgress,
        ConflictCode::ScheduleItemProcessed,
        ConflictCode::AccountLocked,
        ConflictCode::CurrencyLocked,
        ConflictCode::StatusLocked,
        ConflictCode::NoActiveTemplate,
        ConflictCode::DeliveryNotConfigured,
        ConflictCode::DocumentNotPayable,
        ConflictCode::Overpayment,
        ConflictCode::CreditMemoNotApplicable,
        ConflictCode::CreditExceeded,
        ConflictCode::ExportNotCompleted,
        ConflictCode::MakerChecker,
        ConflictCode::RunPartiallyPosted,
        ConflictCode::RunIsPreview,
        ConflictCode::DocumentNotVoidable,
        ConflictCode::DocumentHasPayments,
        ConflictCode::DocumentNotCancelable,
        ConflictCode::DocumentSuperseded,
        ConflictCode::RunScheduleExists,
        ConflictCode::SamplePending,
        ConflictCode::TemplateExists,
        ConflictCode::InvoiceScheduleExists,
    ];

    /// The wire string (`code` of the error body).
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictCode::FieldLocked => "field_locked",
            ConflictCode::IdempotencyKeyReused => "idempotency_key_reused",
            ConflictCode::RunNotPending => "run_not_pending",
            ConflictCode::RunNotCompleted => "run_not_completed",
            ConflictCode::RunNotCanceled => "run_not_canceled",
            ConflictCode::RunDeleted => "run_deleted",
            ConflictCode::RunProcessing => "run_processing",
            ConflictCode::RunPosted => "run_posted",
            ConflictCode::RunNotPosted => "run_not_posted",
            ConflictCode::RunSuperseded => "run_superseded",
            ConflictCode::RunHasNoFailures => "run_has_no_failures",
            ConflictCode::RunTransitionInProgress => "run_transition_in_progress",
            ConflictCode::ScheduleItemProcessed => "schedule_item_processed",
            ConflictCode::AccountLocked => "account_locked",
            ConflictCode::CurrencyLocked => "currency_locked",
            ConflictCode::NoActiveTemplate => "no_active_template",
            ConflictCode::StatusLocked => "status_locked",
            ConflictCode::DeliveryNotConfigured => "delivery_not_configured",
            ConflictCode::DocumentNotPayable => "document_not_payable",
            ConflictCode::Overpayment => "overpayment",
            ConflictCode::CreditMemoNotApplicable => "credit_memo_not_applicable",
            ConflictCode::CreditExceeded => "credit_exceeded",
            ConflictCode::ExportNotCompleted => "export_not_completed",
            ConflictCode::MakerChecker => "maker_checker",
            ConflictCode::RunPartiallyPosted => "run_partially_posted",
            ConflictCode::RunIsPreview => "run_is_preview",
            ConflictCode::DocumentNotVoidable => "document_not_voidable",
            ConflictCode::DocumentHasPayments => "document_has_payments",
            ConflictCode::DocumentNotCancelable => "document_not_cancelable",
            ConflictCode::DocumentSuperseded => "document_superseded",
            ConflictCode::RunScheduleExists => "run_schedule_exists",
            ConflictCode::SamplePending => "sample_pending",
            ConflictCode::TemplateExists => "template_exists",
            ConflictCode::InvoiceScheduleExists => "invoice_schedule_exists",
        }
    }
}

impl std::fmt::Display for ConflictCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The errors of a use case, by meaning. The HTTP layer maps each to one status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Validation(FieldError),
    #[error("{0} not found")]
    NotFound(String),
    /// The request is valid but the resource's state refuses it (HTTP 409).
    #[error("{message}")]
    Conflict {
        code: ConflictCode,
        message: String,
        field: Option<String>,
    },
    #[error("temporarily unavailable: {0}")]
    Transient(#[source] Cause),
    #[error("internal error: {0}")]
    Internal(#[source] Cause),
}

impl AppError {
    pub fn conflict(code: ConflictCode, message: impl Into<String>) -> Self {
        AppError::Conflict {
            code,
            message: message.into(),
            field: None,
        }
    }

    pub fn transient(message: impl Into<String>) -> Self {
        AppError::Transient(Cause::new(message))
    }

    pub fn internal(message: impl Into<String>) -> Self {
        AppError::Internal(Cause::new(message))
    }

    /// Whether a queue consumer should let the message be delivered again.
    pub fn is_retryable(&self) -> bool {
        matches!(self, AppError::Transient(_))
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => AppError::transient(format!("concurrent update: {m}")),
            StoreError::IdempotencyKeyReused(m) => {
                AppError::conflict(ConflictCode::IdempotencyKeyReused, m)
            }
            StoreError::Superseded(m) => AppError::conflict(ConflictCode::RunSuperseded, m),
            StoreError::Transient(m) => AppError::Transient(m),
            StoreError::Fatal(m) => AppError::Internal(m),
        }
    }
}

impl From<FieldError> for AppError {
    fn from(e: FieldError) -> Self {
        AppError::Validation(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_keeps_its_source_and_the_log_line_shows_it() {
        let io = std::io::Error::new(std::io::ErrorKind::TimedOut, "socket timed out");
        let app: AppError = StoreError::transient_from("GetItem on table t", io).into();
        let source = std::error::Error::source(&app).expect("a source");
        assert_eq!(source.to_string(), "GetItem on table t");
        assert_eq!(
            source.source().map(|s| s.to_string()).as_deref(),
            Some("socket timed out")
        );
        assert_eq!(
            chain(&app).to_string(),
            "temporarily unavailable: GetItem on table t: socket timed out"
        );
        // Equality is the message's: a cause without a source equals one with.
        assert_eq!(
            StoreError::fatal("x"),
            StoreError::fatal_from("x", std::fmt::Error)
        );
    }

    #[test]
    fn every_conflict_code_has_its_own_snake_case_wire_string() {
        let mut seen = std::collections::HashSet::new();
        for c in ConflictCode::ALL {
            let s = c.as_str();
            assert!(seen.insert(s), "{s} twice");
            assert!(
                s.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_'),
                "{s}"
            );
            assert_eq!(c.to_string(), s);
        }
    }
}
