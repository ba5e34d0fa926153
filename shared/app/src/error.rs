use billrun_domain::FieldError;

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
    Transient(String),
    /// Not worth retrying: corrupt data, a misconfigured table.
    #[error("storage failure: {0}")]
    Fatal(String),
}

/// Why a resource's state refuses a valid request (HTTP 409): the one source of every
/// conflict code on the wire ([`ConflictCode::as_str`]) and of the list the API documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConflictCode {
    FieldLocked,
    IdempotencyKeyReused,
    RunNotPending,
    RunNotCompleted,
    RunProcessing,
    RunPosted,
    RunSuperseded,
    RunHasNoFailures,
    RunTransitionInProgress,
    ScheduleItemProcessed,
    AccountLocked,
    CurrencyLocked,
    NoActiveTemplate,
    StatusLocked,
}

impl ConflictCode {
    /// Every code, in the order docs/api.md lists them.
    pub const ALL: [ConflictCode; 14] = [
        ConflictCode::FieldLocked,
        ConflictCode::IdempotencyKeyReused,
        ConflictCode::RunNotPending,
        ConflictCode::RunNotCompleted,
        ConflictCode::RunProcessing,
        ConflictCode::RunPosted,
        ConflictCode::RunSuperseded,
        ConflictCode::RunHasNoFailures,
        ConflictCode::RunTransitionInProgress,
        ConflictCode::ScheduleItemProcessed,
        ConflictCode::AccountLocked,
        ConflictCode::CurrencyLocked,
        ConflictCode::StatusLocked,
        ConflictCode::NoActiveTemplate,
    ];

    /// The wire string (`code` of the error body).
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictCode::FieldLocked => "field_locked",
            ConflictCode::IdempotencyKeyReused => "idempotency_key_reused",
            ConflictCode::RunNotPending => "run_not_pending",
            ConflictCode::RunNotCompleted => "run_not_completed",
            ConflictCode::RunProcessing => "run_processing",
            ConflictCode::RunPosted => "run_posted",
            ConflictCode::RunSuperseded => "run_superseded",
            ConflictCode::RunHasNoFailures => "run_has_no_failures",
            ConflictCode::RunTransitionInProgress => "run_transition_in_progress",
            ConflictCode::ScheduleItemProcessed => "schedule_item_processed",
            ConflictCode::AccountLocked => "account_locked",
            ConflictCode::CurrencyLocked => "currency_locked",
            ConflictCode::NoActiveTemplate => "no_active_template",
            ConflictCode::StatusLocked => "status_locked",
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
    Transient(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    pub fn conflict(code: ConflictCode, message: impl Into<String>) -> Self {
        AppError::Conflict {
            code,
            message: message.into(),
            field: None,
        }
    }

    /// Whether a queue consumer should let the message be delivered again.
    pub fn is_retryable(&self) -> bool {
        matches!(self, AppError::Transient(_))
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => AppError::Transient(format!("concurrent update: {m}")),
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
