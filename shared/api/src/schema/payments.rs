//! The OpenAPI shapes of payments, credit memo applications, the aging report, exports
//! and run events.

use utoipa::ToSchema;

/// How far an invoice is paid (an invoice of total zero is Paid).
#[derive(ToSchema)]
pub enum PaymentStatus {
    Unpaid,
    PartiallyPaid,
    Paid,
}

/// A payment of an invoice.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentInput {
    /// A positive decimal string exact to the invoice currency's minor unit (`"25.00"`).
    #[schema(example = "25.00")]
    pub amount: String,
    /// The day the money was received (`YYYY-MM-DD`); today (UTC) when absent.
    pub date: Option<chrono::NaiveDate>,
    /// A bank or processor reference: at most 100 characters, no control characters.
    pub reference: Option<String>,
}

/// A recorded payment.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    pub id: uuid::Uuid,
    pub invoice_id: uuid::Uuid,
    pub account_id: String,
    pub currency: String,
    pub amount: String,
    pub date: chrono::NaiveDate,
    pub reference: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A credit memo's credit applied to an invoice.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationInput {
    /// A Posted invoice of the memo's account and currency.
    pub invoice_id: uuid::Uuid,
    /// A positive decimal string exact to the currency's minor unit.
    #[schema(example = "15.00")]
    pub amount: String,
}

/// A credit memo's application: the payment it records on the invoice, the invoice's
/// settlement and the memo's credit after it.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationReceipt {
    /// The payment of the invoice (its `creditMemoId` the memo).
    pub application: Payment,
    pub invoice: Settlement,
    pub credit_memo: CreditSettlement,
}

/// An invoice's settlement.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Settlement {
    pub amount_paid: String,
    pub balance: String,
    pub payment_status: PaymentStatus,
}

/// A credit memo's credit: applied and unapplied.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreditSettlement {
    pub amount_applied: String,
    pub unapplied_amount: String,
}

/// A payment with its invoice's settlement after it.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentReceipt {
    pub payment: Payment,
    pub amount_paid: String,
    pub balance: String,
    pub payment_status: PaymentStatus,
}

/// An invoice's payments, oldest first, with its settlement.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentList {
    pub items: Vec<Payment>,
    pub amount_paid: String,
    pub balance: String,
    pub payment_status: PaymentStatus,
}

/// Open balances in aging buckets (decimal strings).
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgingBuckets {
    /// Not yet due on the report's date.
    pub current: String,
    #[serde(rename = "days1To30")]
    pub days_1_to_30: String,
    #[serde(rename = "days31To60")]
    pub days_31_to_60: String,
    #[serde(rename = "days61To90")]
    pub days_61_to_90: String,
    #[serde(rename = "over90Days")]
    pub over_90_days: String,
    pub total: String,
}

/// One account's open balances in one currency.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgingRow {
    pub account_id: String,
    pub currency: String,
    /// Open invoices counted.
    pub invoices: u64,
    #[serde(flatten)]
    pub buckets: AgingBuckets,
}

/// A currency's open balances over every account.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgingTotal {
    pub currency: String,
    pub invoices: u64,
    #[serde(flatten)]
    pub buckets: AgingBuckets,
}

/// The aging report.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgingReport {
    pub as_of: chrono::NaiveDate,
    pub totals: Vec<AgingTotal>,
    pub items: Vec<AgingRow>,
    pub next_cursor: Option<String>,
}

/// Which documents an approval or a post acts on (every field optional).
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SelectionInput {
    /// Document ids of the run (1 to 1000).
    pub invoice_ids: Option<Vec<uuid::Uuid>>,
    /// A post of the run's Approved documents only.
    pub only_approved: Option<bool>,
}

/// The body of an export request.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExportInput {
    /// `documents` (default: a row a document) or `lines` (a row a line).
    pub content: Option<String>,
    /// `csv` (default; RFC 4180 with a header row) or `jsonl` (JSON Lines).
    pub format: Option<String>,
}

/// Where an export stands.
#[derive(ToSchema)]
pub enum ExportStatus {
    Pending,
    Completed,
    Failed,
}

/// An export of a run's documents or lines to a file.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Export {
    pub id: uuid::Uuid,
    pub run_id: uuid::Uuid,
    /// `documents` or `lines`.
    pub content: String,
    /// `csv` or `jsonl`.
    pub format: String,
    pub status: ExportStatus,
    /// The object's key in the bucket (`exports/{runId}/{id}.{csv|jsonl}`).
    pub key: String,
    /// Rows written (without the CSV header), once Completed.
    pub rows: u64,
    /// The file's size in bytes, once Completed.
    pub bytes: u64,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub completed_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Why a Failed export was given up.
    pub error: Option<String>,
    /// `/v1/exports/{id}/file` once Completed.
    pub download_url: Option<String>,
}

/// A run's lifecycle event (docs/events/).
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunEvent {
    /// Stable: the same change recorded again has the same id.
    pub id: uuid::Uuid,
    /// `run.created`, `run.updated`, `run.started`, `run.completed`, `run.completed_with_errors`,
    /// `run.posted`, `run.canceled`, `run.deleted`, `document_request.completed` or
    /// `delivery_request.completed`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// When the change was made.
    pub time: chrono::DateTime<chrono::Utc>,
    /// The run's status after the change.
    pub status: super::RunStatus,
    /// The run's status before it (absent for `run.created`, `run.updated` and the
    /// `*_request.completed` events).
    pub previous_status: Option<super::RunStatus>,
    /// The run's version the change wrote.
    pub version: u64,
    /// Who made the change; absent for the system's own (queue workers, the scheduler).
    pub actor: Option<String>,
    /// The request a `*_request.completed` event reports.
    pub request_id: Option<uuid::Uuid>,
    /// `run.updated`: the request fields that changed, with their values before and
    /// after.
    pub changes: Option<Vec<crate::audit::AuditChange>>,
}

/// A run's events.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunEventList {
    pub run_id: uuid::Uuid,
    pub number: String,
    pub items: Vec<RunEvent>,
}
