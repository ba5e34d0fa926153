//! Corrections of one document: a void (a Posted invoice taken back by a linked credit
//! memo) and a single cancel (a Draft or Approved document alone). Each is one atomic
//! write of the store ([`crate::ports::WatermarkStore::correct_document`]): the status
//! change conditioned on the status before, the credit memo (a void's), the account's
//! billing state rolled back, and their audit entries.

use super::StoredDocument;
use billrun_domain::document::{Document, DocumentKind, DocumentStatus, Totals};
use billrun_domain::ids::DocumentId;
use chrono::{DateTime, Utc};

/// The UUID v5 namespace of the credit memos of voids: a void's credit memo id is
/// derived from the voided invoice's id, so a retried or racing void of the same
/// invoice names the same credit memo and can never write a second one.
const VOID_CREDIT_MEMO_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x3b6f_9a12_5c4e_4d7b_9e08_c1a2_77d4_e6f0);

/// What a correction does to its document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorrectionKind {
    /// Posted invoice → Voided, with a linked credit memo for its full amount.
    Void,
    /// Draft or Approved document → Canceled, no credit memo.
    Cancel,
}

impl CorrectionKind {
    /// The statuses the correction takes a document from.
    pub fn from(self) -> &'static [DocumentStatus] {
        match self {
            CorrectionKind::Void => &[DocumentStatus::Posted],
            CorrectionKind::Cancel => &[DocumentStatus::Draft, DocumentStatus::Approved],
        }
    }

    /// The status it leaves the document in.
    pub fn to(self) -> DocumentStatus {
        match self {
            CorrectionKind::Void => DocumentStatus::Voided,
            CorrectionKind::Cancel => DocumentStatus::Canceled,
        }
    }
}

/// One correction, as the use case hands it to the store.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentCorrection {
    pub kind: CorrectionKind,
    pub document: DocumentId,
    /// A void's credit memo, unnumbered: the store numbers it from the credit-memo
    /// sequence in the same write ([`void_credit_memo`]).
    pub credit_memo: Option<Document>,
    pub by: Option<String>,
    pub at: DateTime<Utc>,
}

/// What a correction left, read in the write that made it (or found it made).
#[derive(Debug, Clone, PartialEq)]
pub struct Corrected {
    pub document: StoredDocument,
    pub credit_memo: Option<StoredDocument>,
}

/// Why a store refused a correction (the use case reports each as a 409).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorrectionRefusal {
    /// The document is in another status than the correction takes (it moved since
    /// it was read).
    Status(DocumentStatus),
    /// A later run billed past what the rollback would undo.
    Superseded(String),
}

/// What a store answers a correction: `None`, no such document; `Some(Err(_))`, a
/// refusal (nothing written); `Some(Ok(_))`, done now or before.
pub type CorrectionResult = Option<Result<Corrected, CorrectionRefusal>>;

/// The id of the credit memo that voids `invoice`.
pub fn void_credit_memo_id(invoice: DocumentId) -> DocumentId {
    DocumentId(uuid::Uuid::new_v5(
        &VOID_CREDIT_MEMO_NAMESPACE,
        invoice.0.as_bytes(),
    ))
}

/// Whether `d` is the credit memo of a void: its credit is the void itself (it
/// reverses the voided invoice), never credit to apply elsewhere.
pub fn is_void_credit_memo(d: &Document) -> bool {
    d.kind == DocumentKind::CreditMemo
        && d.lines
            .iter()
            .filter_map(|l| l.credits_document_id)
            .any(|invoice| void_credit_memo_id(invoice) == d.id)
}

/// The group key of a void's credit memo among its run's documents: the invoice's,
/// marked, so it never takes the place of a document the run rated.
pub fn void_group_key(invoice: &Document) -> String {
    format!("{}#void", invoice.group_key)
}

/// The credit memo that voids `invoice`: every line credited in full (each naming the
/// invoice in `creditsDocument`), its totals the invoice's negated, Posted, in the
/// invoice's run, account and currency; unnumbered (the store numbers it).
pub fn void_credit_memo(invoice: &Document) -> Document {
    let lines = invoice
        .lines
        .iter()
        .map(|l| {
            let mut l = l.clone();
            l.amount = -l.amount;
            l.credits_document = Some(invoice.number.clone());
            l.credits_document_id = Some(invoice.id);
            l
        })
        .collect();
    let t = &invoice.totals;
    Document {
        id: void_credit_memo_id(invoice.id),
        number: None,
        kind: DocumentKind::CreditMemo,
        run_id: invoice.run_id,
        account_id: invoice.account_id.clone(),
        group_key: void_group_key(invoice),
        currency: invoice.currency,
        invoice_date: invoice.invoice_date,
        due_date: invoice.due_date,
        status: DocumentStatus::Posted,
        invoice_message: None,
        lines,
        totals: Totals {
            one_time: -t.one_time,
            recurring: -t.recurring,
            evergreen: -t.evergreen,
            usage: -t.usage,
            adjustments: -t.adjustments,
            fee: -t.fee,
            sub_total: -t.sub_total,
            tax: -t.tax,
            total: -t.total,
        },
        gl_accounts: invoice.gl_accounts.clone(),
    }
}

/// Whether `d`, another document of the corrected one's run and account, still stands
/// on the billing state they share: the state is rolled back only when none does.
pub fn still_billed(d: &Document) -> bool {
    d.kind == DocumentKind::Invoice
        && matches!(
            d.status,
            DocumentStatus::Draft | DocumentStatus::Approved | DocumentStatus::Posted
        )
}
