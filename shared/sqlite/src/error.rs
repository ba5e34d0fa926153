//! What a call can fail with inside a transaction, and how it maps to the app's
//! [`StoreError`]: the source's own message (with SQLite's extended code) is in the text,
//! and the error itself is the failure's source (the log's error chain).

use billrun_app::error::StoreError;
use rusqlite::ErrorCode;

/// An error inside one port call.
#[derive(Debug)]
pub enum Error {
    Sql(rusqlite::Error),
    /// A `data` column that does not decode (or an entity that does not encode).
    Json(serde_json::Error),
    /// What the port answers (a conflict, a replay refused...).
    Store(StoreError),
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Sql(e)
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Json(e)
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::Store(e)
    }
}

impl From<Error> for StoreError {
    fn from(e: Error) -> Self {
        match e {
            Error::Store(e) => e,
            Error::Json(e) => {
                StoreError::fatal_from(format!("sqlite: a stored item does not decode: {e}"), e)
            }
            Error::Sql(e) => match e.sqlite_error_code() {
                // Another process holds the database (a second serve on the same
                // directory) or the disk is full for now: worth a retry.
                Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked | ErrorCode::DiskFull) => {
                    StoreError::transient_from(format!("sqlite: {e}"), e)
                }
                _ => StoreError::fatal_from(format!("sqlite: {e}"), e),
            },
        }
    }
}

/// Prefixes what was being done to a [`StoreError`]'s message, keeping its variant.
pub(crate) trait Context {
    fn context(self, doing: &str) -> Self;
}

impl Context for StoreError {
    fn context(self, doing: &str) -> Self {
        match self {
            StoreError::Conflict(m) => StoreError::Conflict(format!("{doing}: {m}")),
            StoreError::IdempotencyKeyReused(m) => {
                StoreError::IdempotencyKeyReused(format!("{doing}: {m}"))
            }
            StoreError::Superseded(m) => StoreError::Superseded(format!("{doing}: {m}")),
            StoreError::Transient(m) => StoreError::Transient(m.context(doing)),
            StoreError::Fatal(m) => StoreError::Fatal(m.context(doing)),
        }
    }
}

/// Shorthands for the errors the adapters answer.
pub(crate) fn conflict(m: String) -> Error {
    Error::Store(StoreError::Conflict(m))
}

pub(crate) fn fatal(m: String) -> Error {
    Error::Store(StoreError::fatal(m))
}
