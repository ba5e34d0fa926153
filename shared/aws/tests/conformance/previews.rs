//! Preview runs on every backend: a preview writes only items of its own (on DynamoDB,
//! each with the table's `ttl`), takes no number, moves no billing state, and the same
//! run afterwards bills the same documents.

use crate::common::Backend;
use billrun_app::{AppError, ConflictCode};
use billrun_domain::document::Document;
use billrun_domain::ids::{DocumentId, RunId};
use billrun_domain::request::RunType;
use billrun_domain::run::RunStatus;
use billrun_testkit::fixtures::request;

/// A document without what names its run or numbers it.
fn unnumbered(d: &Document) -> Document {
    let mut d = d.clone();
    d.id = DocumentId(uuid::Uuid::nil());
    d.run_id = RunId(uuid::Uuid::nil());
    d.number = None;
    for l in &mut d.lines {
        l.credits_document_id = None;
    }
    d
}

pub(super) async fn a_preview_leaves_the_store_as_it_found_it_and_the_run_then_bills_the_same(
    b: Backend,
) {
    b.app
        .reference()
        .import_book(&serde_json::to_vec(&super::many(6)).unwrap())
        .await
        .unwrap();
    // A first run moves the watermarks the preview then rates from.
    let first = super::run_to_end(&b, request("2024-01-01")).await;
    assert_eq!(first.status, RunStatus::Completed);
    let before = b.digest_without(None).await;
    let mut preview = request("2024-02-01");
    preview.run_type = RunType::Preview;
    let preview = super::run_to_end(&b, preview).await;
    assert_eq!(preview.status, RunStatus::Completed);
    assert!(preview.number.starts_with("PREVIEW-"), "{}", preview.number);
    assert!(preview.expires_at.is_some());
    let after = b.digest_without(Some(preview.id)).await;
    if before != after {
        let lines = |s: &str| {
            s.lines()
                .map(str::to_string)
                .collect::<std::collections::BTreeSet<_>>()
        };
        let (b_, a_) = (lines(&before), lines(&after));
        panic!(
            "the preview wrote beyond its own items:\ngone: {:?}\nnew: {:?}",
            b_.difference(&a_).collect::<Vec<_>>(),
            a_.difference(&b_).collect::<Vec<_>>()
        );
    }
    let previewed = b.app.queries().all_documents(preview.id).await.unwrap();
    assert_eq!(previewed.len(), 6);
    assert!(previewed.iter().all(|d| d.number.is_none()));
    // Never posted nor canceled.
    for refused in [
        b.app.pipeline().post_run(preview.id).await,
        b.app.pipeline().cancel_run(preview.id).await,
    ] {
        assert!(
            matches!(
                refused,
                Err(AppError::Conflict {
                    code: ConflictCode::RunIsPreview,
                    ..
                })
            ),
            "{refused:?}"
        );
    }
    let real = super::run_to_end(&b, request("2024-02-01")).await;
    assert_eq!(real.status, RunStatus::Completed);
    let billed = b.app.queries().all_documents(real.id).await.unwrap();
    assert_eq!(
        billed.iter().map(unnumbered).collect::<Vec<_>>(),
        previewed.iter().map(unnumbered).collect::<Vec<_>>()
    );
    assert!(billed.iter().all(|d| d.number.is_some()));
}
