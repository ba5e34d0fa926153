use billrun_domain::FieldError;

/// What a storage or queue adapter can report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A conditional write lost: somebody else changed the item first.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Worth retrying: throttling, a timeout, a 5xx.
    #[error("transient: {0}")]
    Transient(String),
    /// Not worth retrying: corrupt data, a misconfigured table.
    #[error("storage failure: {0}")]
    Fatal(String),
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
        code: &'static str,
        message: String,
        field: Option<String>,
    },
    #[error("temporarily unavailable: {0}")]
    Transient(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
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
