//! OpenAPI schemas of the canonical JSON shapes (docs/book-format.md). The domain crate
//! stays free of HTTP and documentation dependencies, so its types are described here;
//! `tests/openapi.rs` checks that real responses use only the properties described.
#![allow(dead_code)]

use utoipa::ToSchema;

mod payments;
pub use payments::*;

/// A decimal amount as a JSON string (`"100.00"`).
pub type Decimal = String;

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Filters {
    pub account_ids: Vec<String>,
    pub batches: Vec<String>,
    /// 1 to 31.
    pub bill_cycle_days: Vec<u8>,
    pub product_ids: Vec<String>,
    pub location_ids: Vec<String>,
    /// ISO 4217 codes.
    pub currencies: Vec<String>,
}

#[derive(ToSchema)]
pub enum RunType {
    Immediate,
    Scheduled,
    Manual,
    /// A dry run: documents for review, unnumbered, no billing state moved; expires.
    Preview,
}

#[derive(ToSchema)]
pub enum InvoiceDateType {
    TargetDate,
    ReadyForInvoiceDate,
}

#[derive(ToSchema)]
pub enum Grouping {
    Account,
    Subscription,
    Location,
}

#[derive(ToSchema)]
pub enum ChargeType {
    Recurring,
    OneTime,
    Usage,
    Adjustment,
}

#[derive(ToSchema)]
pub enum RunStatus {
    Pending,
    Processing,
    Completed,
    CompletedWithErrors,
    Posted,
    Canceled,
}

/// A lifecycle transition under way on the run (claimed before its effects are
/// written; docs/reliability.md "Lifecycle claims").
#[derive(ToSchema)]
pub enum Transition {
    Post,
    Cancel,
    RetryFailed,
}

#[derive(ToSchema)]
pub enum Outcome {
    Billed,
    Suppressed,
    NothingToBill,
    Failed,
}

/// The canonical run request; every field but `targetDate` has a default.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunRequest {
    pub name: Option<String>,
    pub run_type: Option<RunType>,
    pub scheduled_at: Option<chrono::DateTime<chrono::Utc>>,
    pub target_date: Option<chrono::NaiveDate>,
    pub invoice_date: Option<chrono::NaiveDate>,
    pub invoice_date_type: Option<InvoiceDateType>,
    pub process_from: Option<chrono::NaiveDate>,
    pub process_to: Option<chrono::NaiveDate>,
    pub usage_cutoff_date: Option<chrono::NaiveDate>,
    pub transaction_cutoff_date: Option<chrono::NaiveDate>,
    pub due_date: Option<chrono::NaiveDate>,
    pub filters: Option<Filters>,
    pub charge_types_excluded: Option<Vec<ChargeType>>,
    pub grouping: Option<Grouping>,
    pub suppress_zero_invoices: Option<bool>,
    pub auto_approve: Option<bool>,
    pub auto_post: Option<bool>,
    pub invoice_message: Option<String>,
    /// Selects only the accounts of this subrun (at most 64 bytes); null: accounts
    /// whatever their subrun.
    pub subrun: Option<String>,
    /// Renew auto-renewing subscriptions whose term ended by the target date before
    /// billing them (default false).
    pub renew_subscriptions: Option<bool>,
    /// Email each document once the run is Posted, auto-post included (default false;
    /// refused with 409 `delivery_not_configured` where no mail transport is set up).
    pub auto_email: Option<bool>,
    /// Whether invoices with a total of zero are emailed (default true). It decides
    /// emailing only: `suppressZeroInvoices` decides whether they are generated.
    pub email_zero_amount_invoices: Option<bool>,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CurrencyAmounts {
    pub currency: String,
    pub invoiced: Decimal,
    pub credited: Decimal,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Counters {
    pub accounts_selected: u64,
    pub billed: u64,
    pub suppressed: u64,
    pub nothing_to_bill: u64,
    pub failed: u64,
    pub invoices: u64,
    pub credit_memos: u64,
    pub suppressed_documents: u64,
    pub amounts: Vec<CurrencyAmounts>,
}

/// An invoice run with its counters.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    pub id: uuid::Uuid,
    /// `BR-00000001`.
    pub number: String,
    pub name: String,
    pub status: RunStatus,
    /// The request as accepted, defaults filled in.
    pub request: RunRequest,
    pub target_date: chrono::NaiveDate,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub commenced_at: Option<chrono::DateTime<chrono::Utc>>,
    pub completed_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Present while a post, cancel or retry-failed is under way: other lifecycle
    /// commands are refused with 409 `run_transition_in_progress` until it finishes.
    pub transition: Option<Transition>,
    pub counters: Counters,
    /// The counters of the run's latest document generation request (absent before
    /// the first).
    pub documents: Option<DocumentCounters>,
    /// Who created, posted and canceled the run: a token's name, a JWT's `sub` or an
    /// IAM ARN (absent when the change had no identified caller or has not happened).
    pub created_by: Option<String>,
    pub posted_by: Option<String>,
    pub canceled_by: Option<String>,
    /// A completed run some of whose documents are posted (`POST .../post` with a
    /// selection): it cannot be canceled, and is Posted once the rest are.
    pub partially_posted: bool,
    /// A preview's expiry: no read finds it from then on. Absent on other runs.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunList {
    pub items: Vec<Run>,
    pub next_cursor: Option<String>,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountOutcome {
    pub account_id: String,
    pub outcome: Outcome,
    pub document_numbers: Vec<String>,
    pub reason: Option<String>,
    /// The terms this run renewed for the account; absent when none.
    pub renewals: Option<Vec<Renewal>>,
}

/// A term a run renewed: its end before and after the renewal.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Renewal {
    pub subscription_id: String,
    pub term_end_before: chrono::NaiveDate,
    pub term_end_after: chrono::NaiveDate,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountOutcomeList {
    pub items: Vec<AccountOutcome>,
    pub next_cursor: Option<String>,
}

#[derive(ToSchema)]
pub enum LineType {
    OneTime,
    Recurring,
    Evergreen,
    Usage,
    Adjustment,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Line {
    pub charge_id: Option<String>,
    pub subscription_id: Option<String>,
    pub adjustment_id: Option<String>,
    #[serde(rename = "type")]
    pub line_type: LineType,
    pub description: String,
    pub period_start: Option<chrono::NaiveDate>,
    pub period_end: Option<chrono::NaiveDate>,
    pub quantity: Decimal,
    pub amount: Decimal,
    /// On a credit line: the number of the document that billed the credited period.
    pub credits_document: Option<String>,
    /// The revenue GL code in force when the line was rated (its charge's, else its
    /// account's); absent when the book named none.
    #[schema(min_length = 1, max_length = 32)]
    pub gl_account: Option<String>,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub one_time: Decimal,
    pub recurring: Decimal,
    pub evergreen: Decimal,
    pub usage: Decimal,
    pub adjustments: Decimal,
    pub fee: Decimal,
    pub sub_total: Decimal,
    pub tax: Decimal,
    pub total: Decimal,
}

#[derive(ToSchema)]
pub enum DocumentKind {
    Invoice,
    CreditMemo,
}

#[derive(ToSchema)]
pub enum DocumentStatus {
    Draft,
    Approved,
    Posted,
    Canceled,
    Voided,
}

/// Whether the document's PDF was generated: `NotRequested` (no generation request of
/// its run covers it), `Pending` (its run's latest request covers it, no result yet),
/// `Generated` or `Failed` (with `documentFailureReason`).
#[derive(ToSchema)]
pub enum GenerationStatus {
    NotRequested,
    Pending,
    Generated,
    Failed,
}

/// An invoice or credit memo.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Document {
    pub id: uuid::Uuid,
    /// `INV-000000001` / `CM-000000001`; null until the run is finalized.
    pub number: Option<String>,
    pub kind: DocumentKind,
    pub run_id: uuid::Uuid,
    pub account_id: String,
    pub group_key: String,
    pub currency: String,
    pub invoice_date: chrono::NaiveDate,
    pub due_date: chrono::NaiveDate,
    pub status: DocumentStatus,
    /// A preview's document (`runType` Preview): never numbered, approved or posted.
    pub preview: bool,
    /// Who created its run, approved it, and posted it (alone, or with its whole run):
    /// a token's name, a JWT's `sub` or an IAM ARN; null when no identified caller did.
    pub created_by: Option<String>,
    pub approved_by: Option<String>,
    pub posted_by: Option<String>,
    /// Who voided it, or canceled it alone, and when (`/void`, `/cancel`); else null.
    pub voided_by: Option<String>,
    pub voided_at: Option<chrono::DateTime<chrono::Utc>>,
    pub canceled_by: Option<String>,
    pub canceled_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The PDF's status, beside the invoice `status`.
    pub document_status: GenerationStatus,
    /// Why the PDF failed (`documentStatus` Failed); null otherwise.
    pub document_failure_reason: Option<String>,
    /// Its email, beside the invoice `status` and `documentStatus`.
    pub delivery_status: DeliveryStatus,
    /// Why it was skipped or failed, or why a retry is pending; null otherwise.
    pub delivery_reason: Option<String>,
    /// The time of its last send (kept when a later request skips or fails it).
    pub last_sent_at: Option<chrono::DateTime<chrono::Utc>>,
    /// An invoice's payments so far (a decimal string); null for a credit memo.
    pub amount_paid: Option<String>,
    /// The total less the payments; null for a credit memo.
    pub balance: Option<String>,
    /// Null for a credit memo.
    pub payment_status: Option<PaymentStatus>,
    /// A credit memo's credit applied to invoices so far; null for an invoice.
    pub amount_applied: Option<String>,
    /// A credit memo's credit not yet applied; null for an invoice.
    pub unapplied_amount: Option<String>,
    pub invoice_message: Option<String>,
    pub lines: Vec<Line>,
    pub totals: Totals,
    /// The account's GL codes when the document was rated; absent when it had none.
    pub gl_accounts: Option<GlAccounts>,
}

/// GL account codes (docs/book-format.md "GL accounts"): each 1 to 32 bytes, no control
/// characters. The journal uses a placeholder for each one absent (docs/accounting.md).
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GlAccounts {
    /// Debited with the documents' totals.
    #[schema(min_length = 1, max_length = 32)]
    pub receivable: Option<String>,
    /// Credited with the documents' tax.
    #[schema(min_length = 1, max_length = 32)]
    pub tax_payable: Option<String>,
    /// Credited with the lines whose charge names no code (adjustments included).
    #[schema(min_length = 1, max_length = 32)]
    pub revenue: Option<String>,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DocumentList {
    pub items: Vec<Document>,
    pub next_cursor: Option<String>,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    pub name: Option<String>,
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
    /// Where the account's documents are emailed (`billTo` only): a plain
    /// `name@example.com` address.
    #[schema(max_length = 254)]
    pub email: Option<String>,
    /// Copies of each email (`billTo` only, with `email`).
    #[schema(max_items = 10)]
    pub cc_emails: Option<Vec<String>>,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    pub id: String,
    pub name: String,
    pub currency: String,
    pub bill_cycle_day: u8,
    pub batch: Option<String>,
    pub payment_term_days: Option<u32>,
    pub payment_term_name: Option<String>,
    pub tax_rate: Option<Decimal>,
    pub bill_to: Option<Address>,
    pub ship_to: Option<Address>,
    pub location_id: Option<String>,
    /// The account's subrun: a run with a subrun selects only its accounts (at most 64
    /// bytes).
    pub subrun: Option<String>,
    pub gl_accounts: Option<GlAccounts>,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountList {
    pub items: Vec<Account>,
    pub next_cursor: Option<String>,
}

#[derive(ToSchema)]
pub enum BillingPeriod {
    Month,
    Quarter,
    SemiAnnual,
    Annual,
}

#[derive(ToSchema)]
pub enum Timing {
    InAdvance,
    InArrears,
}

#[derive(ToSchema)]
pub enum ChargeKind {
    Recurring,
    OneTime,
    Usage,
}

/// A charge; each type carries only its own fields (docs/book-format.md).
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Charge {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: ChargeKind,
    pub price: Option<Decimal>,
    pub quantity: Option<Decimal>,
    pub billing_period: Option<BillingPeriod>,
    pub timing: Option<Timing>,
    pub charge_date: Option<chrono::NaiveDate>,
    pub unit_price: Option<Decimal>,
    pub currency: Option<String>,
    pub billed_through: Option<chrono::NaiveDate>,
    pub billed: Option<bool>,
    /// The revenue GL code of the charge's lines (1 to 32 bytes, no control
    /// characters); none: the account's `glAccounts.revenue`.
    #[schema(min_length = 1, max_length = 32)]
    pub gl_account: Option<String>,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub id: String,
    pub account_id: String,
    pub product_id: String,
    pub product_name: Option<String>,
    pub location_id: Option<String>,
    pub start_date: chrono::NaiveDate,
    pub end_date: Option<chrono::NaiveDate>,
    pub cancellation_date: Option<chrono::NaiveDate>,
    pub charges: Vec<Charge>,
    pub term: Option<Term>,
}

/// A subscription's term: `endDate` (exclusive) ends its first term; an auto-renewing
/// term is renewed by `renewalMonths` (1 to 120, required when `autoRenew`).
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Term {
    pub end_date: chrono::NaiveDate,
    pub auto_renew: Option<bool>,
    #[schema(minimum = 1, maximum = 120)]
    pub renewal_months: Option<u32>,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageRecord {
    pub id: String,
    pub account_id: String,
    pub charge_id: String,
    pub date: chrono::NaiveDate,
    pub quantity: Decimal,
    pub billed: Option<bool>,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Adjustment {
    pub id: String,
    pub account_id: String,
    pub date: chrono::NaiveDate,
    pub amount: Decimal,
    pub description: Option<String>,
    pub billed: Option<bool>,
}

#[derive(ToSchema)]
pub enum ScheduleItemStatus {
    Pending,
    Processed,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceScheduleItem {
    pub id: String,
    pub invoice_date: chrono::NaiveDate,
    pub amount: Decimal,
    pub status: Option<ScheduleItemStatus>,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceSchedule {
    pub id: String,
    pub account_id: String,
    pub subscription_ids: Vec<String>,
    pub items: Vec<InvoiceScheduleItem>,
    /// The runs that execute its items post their documents at once (default false).
    pub auto_post: Option<bool>,
    /// The runs that execute its items email their documents once posted (default
    /// false).
    pub auto_email: Option<bool>,
    /// Whether those runs email zero-amount invoices (default true).
    pub email_zero_amount_invoices: Option<bool>,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProcessedItem {
    pub item_id: String,
    pub run_id: uuid::Uuid,
    pub document_id: uuid::Uuid,
    pub processed_at: chrono::DateTime<chrono::Utc>,
}

/// A stored invoice schedule with the items executed here.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceScheduleView {
    pub id: String,
    pub account_id: String,
    pub subscription_ids: Vec<String>,
    pub items: Vec<InvoiceScheduleItem>,
    pub auto_post: bool,
    pub auto_email: bool,
    pub email_zero_amount_invoices: bool,
    pub processed: Vec<ProcessedItem>,
}

/// The book: every list optional.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Book {
    pub accounts: Option<Vec<Account>>,
    pub subscriptions: Option<Vec<Subscription>>,
    pub usage: Option<Vec<UsageRecord>>,
    pub adjustments: Option<Vec<Adjustment>>,
    pub invoice_schedules: Option<Vec<InvoiceSchedule>>,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Imported {
    pub accounts: usize,
    pub subscriptions: usize,
    pub usage: usize,
    pub adjustments: usize,
    pub invoice_schedules: usize,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageBatch {
    /// At most 1,000 records.
    pub usage: Vec<UsageRecord>,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdjustmentBatch {
    /// At most 1,000 adjustments.
    pub adjustments: Vec<Adjustment>,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordsStored {
    pub received: usize,
    pub stored: usize,
    pub already_stored: usize,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateInput {
    pub name: String,
    /// The template: an object (or a string holding its JSON), validated on PUT.
    pub content: TemplateContent,
}

/// The seller block and look of a document.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateContent {
    pub company_name: String,
    pub address: Option<TemplateAddress>,
    pub tax_id: Option<String>,
    /// A PNG, base64.
    pub logo_png_base64: Option<String>,
    /// `#RRGGBB`, default `#1F4E79`.
    pub accent_color: Option<String>,
    pub footer: Option<String>,
    /// `en-US` (default), `en-GB`, `de-DE` or `fr-FR`.
    pub locale: Option<String>,
    /// What the emails carrying its documents read (defaults when absent).
    pub email: Option<TemplateEmail>,
}

/// The email that carries a document. Placeholders: `{number}`, `{total}` (in the
/// template's locale, as on the PDF), `{dueDate}`, `{invoiceDate}`, `{company}`,
/// `{accountName}`; `{{` and `}}` write a brace. Values are HTML-escaped in `html`.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateEmail {
    /// One line (default `Invoice {number} from {company}`, or `Credit memo ...`).
    #[schema(max_length = 200)]
    pub subject: Option<String>,
    #[schema(max_length = 20000)]
    pub text: Option<String>,
    /// Left out of the message when `text` is given without it.
    #[schema(max_length = 100000)]
    pub html: Option<String>,
    /// A plain address for `Reply-To`.
    #[schema(max_length = 254)]
    pub reply_to: Option<String>,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateAddress {
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub city: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
}

#[derive(ToSchema)]
pub enum DocumentRequestStatus {
    Pending,
    InProgress,
    Completed,
    CompletedWithErrors,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DocumentCounters {
    pub requested: u64,
    pub generated: u64,
    pub failed: u64,
}

/// A document generation request and its progress.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DocumentRequest {
    pub id: uuid::Uuid,
    pub run_id: uuid::Uuid,
    pub status: DocumentRequestStatus,
    /// The template every document of the request is rendered with.
    pub template_id: String,
    pub counters: DocumentCounters,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Template {
    pub id: String,
    pub name: String,
    pub content: String,
    pub active: bool,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

#[derive(ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
    pub version: String,
}

/// The form of the journal.
#[derive(ToSchema)]
#[allow(non_camel_case_types)]
pub enum JournalFormat {
    json,
    csv,
}

/// What a journal line books.
#[derive(ToSchema)]
pub enum JournalRole {
    Receivable,
    Revenue,
    TaxPayable,
}

/// An amount on one side of one GL account (docs/accounting.md).
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JournalLine {
    /// The GL code, or its placeholder (`RECEIVABLE`, `REVENUE`, `TAX_PAYABLE`).
    pub account: String,
    pub role: JournalRole,
    /// The documents it comes from: invoices and credit memos are booked apart.
    pub document_kind: DocumentKind,
    /// On a revenue line, the type of the lines it sums; null otherwise.
    pub line_type: Option<LineType>,
    pub debit: Decimal,
    pub credit: Decimal,
}

/// The entry of one (currency, invoice date); its debits equal its credits.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JournalEntry {
    pub currency: String,
    pub date: chrono::NaiveDate,
    /// How many documents it books.
    pub documents: u64,
    pub lines: Vec<JournalLine>,
    pub debits: Decimal,
    pub credits: Decimal,
}

/// A currency's totals: `invoiced` and `credited` (negative) equal the run's counters.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JournalTotals {
    pub currency: String,
    pub invoiced: Decimal,
    pub credited: Decimal,
    pub debits: Decimal,
    pub credits: Decimal,
}

/// The journal of a posted run.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Journal {
    pub run_id: uuid::Uuid,
    /// `BR-00000001`.
    pub run_number: String,
    pub entries: Vec<JournalEntry>,
    pub totals: Vec<JournalTotals>,
}

/// A document's email status.
#[derive(ToSchema)]
pub enum DeliveryStatus {
    NotRequested,
    Queued,
    Sent,
    Skipped,
    Failed,
    Bounced,
    Complained,
}

#[derive(ToSchema)]
pub enum DeliveryRequestStatus {
    Pending,
    InProgress,
    Completed,
    CompletedWithErrors,
}

/// Skipped documents by reason.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SkippedReasons {
    /// The account's `billTo` has no `email`.
    pub no_address: Option<u64>,
    /// A zero-total invoice of a request with `emailZeroAmountInvoices` false.
    pub zero_amount: Option<u64>,
    /// Emailed before, and the request sends only the unsent (`onlyUnsent`).
    pub already_sent: Option<u64>,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryCounters {
    pub requested: u64,
    pub sent: u64,
    pub skipped: u64,
    pub failed: u64,
    /// Sent, then bounced by the receiving side (SES's bounce events; among `sent`).
    pub bounced: u64,
    /// Sent, then reported as spam by the recipient (SES's complaint events; among
    /// `sent`).
    pub complained: u64,
    pub skipped_reasons: SkippedReasons,
    /// The latest send of the request.
    pub last_sent_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(ToSchema)]
pub enum DeliveryTrigger {
    Api,
    AutoEmail,
}

/// An email delivery request and its progress.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryRequest {
    pub id: uuid::Uuid,
    pub run_id: uuid::Uuid,
    pub status: DeliveryRequestStatus,
    pub email_zero_amount_invoices: bool,
    pub only_unsent: bool,
    pub trigger: DeliveryTrigger,
    /// The template whose email fields every message of the request reads.
    pub template_id: String,
    pub counters: DeliveryCounters,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// What `POST /v1/invoice-runs/{id}/emails` may ask (every field optional).
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EmailOptions {
    /// Overrides the run's `emailZeroAmountInvoices`.
    pub email_zero_amount_invoices: Option<bool>,
    /// Skip documents an earlier request emailed (default false: every Posted
    /// document is emailed again).
    pub only_unsent: Option<bool>,
}

/// How an account's documents differ from the base run's.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum DiffKind {
    /// Documents now, none in the base run.
    New,
    /// Documents in both, their totals different.
    Changed,
    /// Documents in the base run, none now.
    Disappeared,
}

/// An exact amount in a currency.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Amount {
    /// ISO 4217.
    pub currency: String,
    /// A decimal string.
    pub amount: String,
}

/// One account whose documents differ.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountDiff {
    pub account_id: String,
    pub change: DiffKind,
    /// Its documents' totals in the base run per currency (credit memos negative);
    /// empty when `new`.
    pub old_totals: Vec<Amount>,
    /// Its documents' totals in this run per currency; empty when `disappeared`.
    pub new_totals: Vec<Amount>,
}

/// A currency's totals over both runs (decimal strings).
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CurrencyDiff {
    pub currency: String,
    pub old_total: String,
    pub new_total: String,
    /// `newTotal - oldTotal`.
    pub difference: String,
}

/// A page of a run's diff against its base run.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunDiff {
    pub run_id: uuid::Uuid,
    /// The latest completed run (not a preview) created before this one with the same
    /// filters and subrun; null when there is none (every account is `new`).
    pub base_run_id: Option<uuid::Uuid>,
    /// The accounts that differ, by account id (unchanged ones are left out).
    pub items: Vec<AccountDiff>,
    pub next_cursor: Option<String>,
    /// Every account's totals per currency (the same on every page).
    pub totals: Vec<CurrencyDiff>,
}
