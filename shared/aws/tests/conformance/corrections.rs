//! Corrections of one document on every store: a void credits a posted invoice once
//! (racing voids too) with the next credit-memo number and rolls its account's billing
//! back, so a rerun bills the same lines; a void past a later run, and a cancel of a
//! posted invoice, write nothing; a single cancel of a draft.

use super::{aid, many, request, run_to_end};
use crate::common::Backend;
use billrun_app::model::audit::AuditFilter;
use billrun_app::{AppError, ConflictCode};
use billrun_domain::document::{Document, DocumentKind, DocumentStatus};
use billrun_domain::ids::{DocumentId, RunId};
use billrun_domain::state::AccountState;
use futures_util::future::join_all;

async fn import(b: &Backend, accounts: usize) {
    b.app
        .reference()
        .import_book(serde_json::to_vec(&many(accounts)).unwrap().as_slice())
        .await
        .unwrap();
}

async fn state(b: &Backend, account: &str) -> AccountState {
    let mut state = b
        .app
        .book
        .account_book(&aid(account))
        .await
        .unwrap()
        .expect("the account is in the book")
        .state;
    // A reverted charge may keep an empty entry where none was before: the same state.
    state
        .recurring
        .retain(|_, r| r.billed_through.is_some() || !r.history.is_empty());
    state
}

async fn documents(b: &Backend, run: RunId) -> Vec<Document> {
    b.app.queries().all_documents(run).await.unwrap()
}

/// The documents of a rebill of `account` for `target`, run to its end.
async fn rebill(b: &Backend, account: &str, target: chrono::NaiveDate) -> Vec<Document> {
    let created = b
        .app
        .pipeline()
        .rebill_account(aid(account), target, None)
        .await
        .unwrap();
    let id = created.run().id;
    b.finish(id).await;
    documents(b, id).await
}

fn credit_memos(docs: &[Document]) -> Vec<&Document> {
    docs.iter()
        .filter(|d| d.kind == DocumentKind::CreditMemo)
        .collect()
}

/// A posted run of February over `accounts` accounts; its id and first invoice.
async fn posted_february(b: &Backend, accounts: usize) -> (RunId, Document) {
    import(b, accounts).await;
    let run = run_to_end(b, request("2024-02-01")).await;
    b.app.post_run(run.id).await.unwrap();
    let first = documents(b, run.id).await.remove(0);
    assert_eq!(first.status, DocumentStatus::Posted);
    (run.id, first)
}

async fn actions_of(b: &Backend, id: DocumentId) -> Vec<String> {
    let filter = AuditFilter {
        resource: Some(id.0.to_string()),
        actor: None,
        since: chrono::DateTime::<chrono::Utc>::MIN_UTC,
    };
    b.app
        .audit
        .audit_events(&filter, None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect()
}

pub async fn a_void_credits_a_posted_invoice_once_and_rolls_its_billing_back(b: Backend) {
    import(&b, 2).await;
    let before = state(&b, "A-00").await;
    let run = run_to_end(&b, request("2024-02-01")).await;
    b.app.post_run(run.id).await.unwrap();
    let invoice = documents(&b, run.id).await.remove(0);
    assert_eq!(invoice.account_id, aid("A-00"));
    let other_before = state(&b, "A-01").await;

    let done = b.app.pipeline().void_document(invoice.id).await.unwrap();
    assert_eq!(done.document.document.status, DocumentStatus::Voided);
    assert!(done.document.voided_at.is_some());
    let memo = done.credit_memo.expect("a credit memo").document;
    assert_eq!(memo.kind, DocumentKind::CreditMemo);
    assert_eq!(memo.status, DocumentStatus::Posted);
    assert_eq!(memo.number.as_deref(), Some("CM-000000001"));
    assert_eq!(memo.totals.total, -invoice.totals.total);
    assert!(memo
        .lines
        .iter()
        .all(|l| l.credits_document == Some(invoice.number.clone())));
    // The account's billing is back to before the run; the other account's is not.
    assert_eq!(state(&b, "A-00").await, before);
    assert_eq!(state(&b, "A-01").await, other_before);
    // Stored as answered, listed with the run, audited in the same write.
    let read = b
        .app
        .documents
        .get_document(invoice.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.document.status, DocumentStatus::Voided);
    assert_eq!(read.voided_at, done.document.voided_at);
    let stored_memo = b
        .app
        .documents
        .get_document(memo.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored_memo.document.number.as_deref(), Some("CM-000000001"));
    assert_eq!(credit_memos(&documents(&b, run.id).await).len(), 1);
    assert!(actions_of(&b, invoice.id)
        .await
        .contains(&"document.voided".to_string()));
    assert_eq!(actions_of(&b, memo.id).await, ["document.created"]);

    // Again: the same credit memo, nothing more.
    let again = b.app.pipeline().void_document(invoice.id).await.unwrap();
    assert_eq!(again.credit_memo.map(|m| m.document.id), Some(memo.id));
    assert_eq!(credit_memos(&documents(&b, run.id).await).len(), 1);

    // The rebill bills the voided lines again, with the next invoice number.
    let rebilled = rebill(&b, "A-00", invoice.invoice_date).await;
    assert_eq!(rebilled.len(), 1);
    assert_eq!(rebilled[0].lines, invoice.lines);
    assert_eq!(rebilled[0].number.as_deref(), Some("INV-000000003"));
}

pub async fn racing_voids_of_one_invoice_make_exactly_one_credit_memo(b: Backend) {
    let (run, invoice) = posted_february(&b, 1).await;
    let pipeline = b.app.pipeline();
    let voids = (0..8).map(|_| pipeline.void_document(invoice.id));
    let answers = join_all(voids).await;
    let mut memos = std::collections::BTreeSet::new();
    for a in answers {
        let done = a.unwrap();
        memos.insert(done.credit_memo.expect("a credit memo").document.number);
    }
    assert_eq!(memos.len(), 1, "{memos:?}");
    assert_eq!(
        memos.into_iter().next().flatten().as_deref(),
        Some("CM-000000001")
    );
    let docs = documents(&b, run).await;
    assert_eq!(credit_memos(&docs).len(), 1);
    // The next credit memo of the sequence follows without a gap.
    import(&b, 2).await;
    let later = run_to_end(&b, request("2024-02-01")).await;
    b.app.post_run(later.id).await.unwrap();
    let second = documents(&b, later.id).await.remove(0);
    let done = b.app.pipeline().void_document(second.id).await.unwrap();
    assert_eq!(
        done.credit_memo.unwrap().document.number.as_deref(),
        Some("CM-000000002")
    );
}

pub async fn a_void_past_a_later_run_or_of_a_wrong_status_writes_nothing(b: Backend) {
    let (feb, invoice) = posted_february(&b, 1).await;
    run_to_end(&b, request("2024-03-01")).await;
    let after_march = state(&b, "A-00").await;
    match b.app.pipeline().void_document(invoice.id).await {
        Err(AppError::Conflict { code, .. }) => assert_eq!(code, ConflictCode::DocumentSuperseded),
        other => panic!("expected document_superseded, got {other:?}"),
    }
    let read = b
        .app
        .documents
        .get_document(invoice.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.document.status, DocumentStatus::Posted);
    assert!(credit_memos(&documents(&b, feb).await).is_empty());
    assert_eq!(state(&b, "A-00").await, after_march);
    match b.app.pipeline().cancel_document(invoice.id).await {
        Err(AppError::Conflict { code, .. }) => {
            assert_eq!(code, ConflictCode::DocumentNotCancelable)
        }
        other => panic!("expected document_not_cancelable, got {other:?}"),
    }
}

pub async fn a_draft_is_canceled_alone_and_its_lines_billed_again(b: Backend) {
    import(&b, 2).await;
    let before = state(&b, "A-00").await;
    let run = run_to_end(&b, request("2024-02-01")).await;
    let docs = documents(&b, run.id).await;
    let draft = &docs[0];
    match b.app.pipeline().void_document(draft.id).await {
        Err(AppError::Conflict { code, .. }) => assert_eq!(code, ConflictCode::DocumentNotVoidable),
        other => panic!("expected document_not_voidable, got {other:?}"),
    }
    let done = b.app.pipeline().cancel_document(draft.id).await.unwrap();
    assert_eq!(done.document.document.status, DocumentStatus::Canceled);
    assert!(done.document.canceled_at.is_some());
    assert!(done.credit_memo.is_none());
    assert_eq!(state(&b, "A-00").await, before);
    // Posting the run leaves it canceled and posts the other.
    b.app.post_run(run.id).await.unwrap();
    let statuses: Vec<DocumentStatus> = documents(&b, run.id)
        .await
        .iter()
        .map(|d| d.status)
        .collect();
    assert_eq!(statuses, [DocumentStatus::Canceled, DocumentStatus::Posted]);
    let rebilled = rebill(&b, "A-00", draft.invoice_date).await;
    assert_eq!(rebilled.len(), 1);
    assert_eq!(rebilled[0].lines, draft.lines);
}
