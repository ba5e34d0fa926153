//! SDK errors as store errors.

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use billrun_app::error::StoreError;
use billrun_app::ports::StoreResult;

/// What a `TransactWriteItems` call fails with: kept apart from [`StoreError`] until the
/// caller has looked at the cancellation reasons.
pub(super) type TransactError =
    SdkError<TransactWriteItemsError, aws_sdk_dynamodb::config::http::HttpResponse>;

/// Maps an SDK error: throttling, 5xx, timeouts and transaction conflicts are worth
/// retrying (the SDK already retried them with jittered backoff); a failed condition is
/// a conflict; a missing table or a bad request is not worth retrying.
pub(super) fn sdk<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    e: SdkError<E, R>,
) -> StoreError {
    let code = e.code().unwrap_or("").to_string();
    let text = format!("{}", DisplayErrorContext(&e));
    match code.as_str() {
        "ConditionalCheckFailedException" => StoreError::Conflict(text),
        "ResourceNotFoundException"
        | "ValidationException"
        | "AccessDeniedException"
        | "UnrecognizedClientException"
        | "SerializationException" => StoreError::fatal(text),
        _ => StoreError::transient(text),
    }
}

/// A request the SDK's builder refused: a bug here, not worth retrying.
pub(super) fn built<T, E: std::fmt::Display>(r: Result<T, E>) -> StoreResult<T> {
    r.map_err(|e| StoreError::fatal(format!("request build: {e}")))
}

/// Whether DynamoDB canceled the transaction (a condition failed or another request
/// held an item): the caller reads again and retries.
pub(super) fn is_canceled(e: &TransactError) -> bool {
    matches!(
        e,
        SdkError::ServiceError(e)
            if matches!(e.err(), TransactWriteItemsError::TransactionCanceledException(_))
    )
}

/// Why DynamoDB canceled a transaction.
pub(super) struct Canceled {
    /// The indexes of the actions whose condition failed.
    pub conditions: Vec<usize>,
    /// Every action's reason code.
    codes: Vec<String>,
}

impl Canceled {
    pub fn failed(&self, action: usize) -> bool {
        self.conditions.contains(&action)
    }

    /// A retryable error that names the reasons.
    pub fn transient(&self) -> StoreError {
        StoreError::transient(format!("transaction canceled: {:?}", self.codes))
    }
}

/// The cancellation reasons of a canceled transaction; any other failure as a store
/// error.
pub(super) fn canceled(e: TransactError) -> Result<Canceled, StoreError> {
    match e {
        SdkError::ServiceError(e) => match e.err() {
            TransactWriteItemsError::TransactionCanceledException(c) => {
                let reasons = c.cancellation_reasons();
                Ok(Canceled {
                    conditions: reasons
                        .iter()
                        .enumerate()
                        .filter(|(_, r)| r.code() == Some("ConditionalCheckFailed"))
                        .map(|(i, _)| i)
                        .collect(),
                    codes: reasons
                        .iter()
                        .filter_map(|r| r.code())
                        .map(str::to_string)
                        .collect(),
                })
            }
            other => Err(StoreError::transient(format!(
                "{}",
                DisplayErrorContext(other)
            ))),
        },
        e => Err(sdk(e)),
    }
}
