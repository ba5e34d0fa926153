//! Requests per kind, counted in the adapters.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use parking_lot::Mutex;
use serde::Serialize;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Debug, Default)]
pub struct Metrics {
    pub dynamodb_reads: AtomicU64,
    pub dynamodb_queries: AtomicU64,
    pub dynamodb_writes: AtomicU64,
    pub dynamodb_batch_writes: AtomicU64,
    pub dynamodb_transactions: AtomicU64,
    /// Account commits that needed more than one transaction.
    pub split_commits: AtomicU64,
    /// Of `dynamodb_writes`: the run progress updates (one per batch and run).
    pub progress_writes: AtomicU64,
    pub sqs_sends: AtomicU64,
    pub sqs_receives: AtomicU64,
    pub sqs_deletes: AtomicU64,
    pub s3_puts: AtomicU64,
    pub s3_gets: AtomicU64,
    /// The IAM actions the SDK calls needed (`dynamodb:GetItem`, `sqs:SendMessage`...).
    pub actions: Mutex<BTreeSet<String>>,
}

/// The IAM action that authorizes an SDK operation. `TransactWriteItems` is authorized
/// per item (`PutItem`, `UpdateItem`...), which the DynamoDB adapter records itself.
pub fn iam_action(service: &str, operation: &str) -> Option<String> {
    let prefix = match service {
        "DynamoDB" => "dynamodb",
        "SQS" => "sqs",
        "S3" => "s3",
        // SESv2's SendEmail is authorized as `ses:SendEmail`; with raw content, also as
        // `ses:SendRawEmail`, which the SES adapter records itself.
        "SESv2" => "ses",
        "EventBridge" => "events",
        _ => return None,
    };
    let action = match (prefix, operation) {
        ("dynamodb", "TransactWriteItems") => return None,
        ("sqs", "SendMessageBatch") => "SendMessage",
        ("sqs", "DeleteMessageBatch") => "DeleteMessage",
        ("sqs", "ChangeMessageVisibilityBatch") => "ChangeMessageVisibility",
        (_, op) => op,
    };
    Some(format!("{prefix}:{action}"))
}

/// An SDK interceptor that records the IAM action of every operation a client runs.
#[derive(Debug)]
pub struct RecordActions(pub Arc<Metrics>);

impl Intercept for RecordActions {
    fn name(&self) -> &'static str {
        "RecordActions"
    }

    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(m) = cfg.load::<Metadata>() {
            if let Some(action) = iam_action(m.service(), m.name()) {
                self.0.record(action);
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricsSnapshot {
    pub dynamodb_reads: u64,
    pub dynamodb_queries: u64,
    pub dynamodb_writes: u64,
    pub dynamodb_batch_writes: u64,
    pub dynamodb_transactions: u64,
    pub sqs_sends: u64,
    pub sqs_receives: u64,
    pub sqs_deletes: u64,
    pub s3_puts: u64,
    pub s3_gets: u64,
}

pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Metrics {
    pub fn record(&self, action: String) {
        self.actions.lock().insert(action);
    }

    /// The IAM actions recorded so far.
    pub fn actions(&self) -> BTreeSet<String> {
        self.actions.lock().clone()
    }

    pub fn snapshot(&self) -> MetricsSnapshot {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        MetricsSnapshot {
            dynamodb_reads: g(&self.dynamodb_reads),
            dynamodb_queries: g(&self.dynamodb_queries),
            dynamodb_writes: g(&self.dynamodb_writes),
            dynamodb_batch_writes: g(&self.dynamodb_batch_writes),
            dynamodb_transactions: g(&self.dynamodb_transactions),
            sqs_sends: g(&self.sqs_sends),
            sqs_receives: g(&self.sqs_receives),
            sqs_deletes: g(&self.sqs_deletes),
            s3_puts: g(&self.s3_puts),
            s3_gets: g(&self.s3_gets),
        }
    }
}

impl MetricsSnapshot {
    /// `(kind, requests)` pairs, for printing.
    pub fn rows(&self) -> [(&'static str, u64); 10] {
        [
            ("DynamoDB GetItem", self.dynamodb_reads),
            ("DynamoDB Query", self.dynamodb_queries),
            ("DynamoDB Put/Update/Delete", self.dynamodb_writes),
            ("DynamoDB BatchWriteItem", self.dynamodb_batch_writes),
            ("DynamoDB TransactWriteItems", self.dynamodb_transactions),
            ("SQS SendMessageBatch", self.sqs_sends),
            ("SQS ReceiveMessage", self.sqs_receives),
            ("SQS DeleteMessageBatch", self.sqs_deletes),
            ("S3 PutObject", self.s3_puts),
            ("S3 GetObject", self.s3_gets),
        ]
    }
}
