//! Approving and posting a selection on every backend: each document's status change is
//! conditioned on its status (a Posted or Canceled one stays), the run is partially
//! posted (no cancel) until its last document is posted, then Posted.

use crate::common::Backend;
use billrun_app::pipeline::Selection;
use billrun_app::AppError;
use billrun_app::ConflictCode;
use billrun_domain::document::DocumentStatus;
use billrun_domain::run::RunStatus;

pub(super) async fn a_selection_is_approved_then_posted_and_the_last_post_posts_the_run(
    b: Backend,
) {
    let id = b.completed_manual_run(4).await;
    let docs = b.app.queries().all_documents(id).await.unwrap();
    assert_eq!(docs.len(), 4);
    let ids: Vec<_> = docs.iter().map(|d| d.id).collect();
    let statuses = || async {
        b.app
            .queries()
            .all_documents(id)
            .await
            .unwrap()
            .iter()
            .map(|d| d.status)
            .collect::<Vec<_>>()
    };
    use DocumentStatus::*;

    // The store's conditional change: only documents in `from` move.
    b.app
        .documents
        .set_document_statuses(&ids[..2], &[Draft], Approved, Some("ann"))
        .await
        .unwrap();
    b.app
        .documents
        .set_document_statuses(&ids[1..3], &[Posted], Canceled, None)
        .await
        .unwrap();
    assert_eq!(statuses().await, [Approved, Approved, Draft, Draft]);
    let stored = b.app.documents.get_document(ids[0]).await.unwrap().unwrap();
    assert_eq!(
        (stored.approved_by.as_deref(), stored.posted_by.as_deref()),
        (Some("ann"), None)
    );

    // The Approved ones posted: partially posted, a cancel refused.
    let run = b
        .app
        .pipeline()
        .post_documents(id, &Selection::Every)
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    assert!(run.partially_posted);
    assert_eq!(statuses().await, [Posted, Posted, Draft, Draft]);
    let refused = b.app.pipeline().cancel_run(id).await;
    assert!(
        matches!(
            &refused,
            Err(AppError::Conflict {
                code: ConflictCode::RunPartiallyPosted,
                ..
            })
        ),
        "{refused:?}"
    );
    b.app
        .pipeline()
        .approve_documents(id, &Selection::Ids(vec![ids[2]]))
        .await
        .unwrap();
    let run = b
        .app
        .pipeline()
        .post_documents(id, &Selection::Ids(ids[2..].to_vec()))
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Posted);
    assert_eq!(statuses().await, [Posted; 4]);
}
