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
    let at = chrono::Utc::now();

    // The store's conditional change: only documents in `from` move.
    b.app
        .documents
        .set_document_statuses(&ids[..2], &[Draft], Approved, Some("ann"), at)
        .await
        .unwrap();
    b.app
        .documents
        .set_document_statuses(&ids[1..3], &[Posted], Canceled, None, at)
        .await
        .unwrap();
    assert_eq!(statuses().await, [Approved, Approved, Draft, Draft]);
    let stored = b.app.documents.get_document(ids[0]).await.unwrap().unwrap();
    assert_eq!(
        (stored.approved_by.as_deref(), stored.posted_by.as_deref()),
        (Some("ann"), None)
    );
    // Each change came with its audit entry, the unchanged ones with none; doing the
    // same again adds nothing.
    b.app
        .documents
        .set_document_statuses(&ids[..2], &[Draft], Approved, Some("ann"), at)
        .await
        .unwrap();
    let trail = audit_of(&b, id).await;
    let mut expected: Vec<_> = ids[..2]
        .iter()
        .map(|d| {
            (
                d.0.to_string(),
                "document.approved".to_string(),
                Some("ann".to_string()),
            )
        })
        .collect();
    expected.sort();
    let mut seen: Vec<_> = trail
        .iter()
        .map(|e| (e.resource_id.clone(), e.action.clone(), e.actor.clone()))
        .collect();
    seen.sort();
    assert_eq!(seen, expected);
    assert!(trail
        .iter()
        .all(|e| e.changes[0].before.as_deref() == Some("Draft")
            && e.changes[0].after.as_deref() == Some("Approved")));

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

/// Every audit entry about the run (its documents' too), in order.
async fn audit_of(
    b: &Backend,
    run: billrun_domain::ids::RunId,
) -> Vec<billrun_app::model::audit::AuditEvent> {
    let filter = billrun_app::model::audit::AuditFilter {
        resource: Some(run.0.to_string()),
        actor: None,
        since: chrono::Utc::now() - chrono::TimeDelta::days(1),
    };
    b.app.audit.audit_events(&filter, None, 1000).await.unwrap()
}

/// Approvals and posts of the same documents racing each other: each document changes
/// once per status, with one audit entry for each change, whoever wins.
pub(super) async fn racing_approvals_and_posts_record_each_change_once(b: Backend) {
    let id = b.completed_manual_run(6).await;
    let docs = b.app.queries().all_documents(id).await.unwrap();
    let ids: Vec<_> = docs.iter().map(|d| d.id).collect();
    let every = Selection::Ids(ids.clone());
    let (one, two) = (b.app.pipeline(), b.app.pipeline());
    let (a, p, a2, p2) = tokio::join!(
        one.approve_documents(id, &every),
        one.post_documents(id, &every),
        two.approve_documents(id, &every),
        two.post_documents(id, &every),
    );
    // An approval may find a document posted already (409 status_locked); a post may
    // find the run claimed by the other post (409 transition in progress).
    for r in [a.map(|_| ()), a2.map(|_| ())]
        .into_iter()
        .chain([p.map(|_| ()), p2.map(|_| ())])
    {
        if let Err(e) = r {
            assert!(matches!(e, AppError::Conflict { .. }), "{e:?}");
        }
    }
    // Whatever was left, posted now.
    b.app
        .pipeline()
        .post_documents(id, &Selection::Ids(ids.clone()))
        .await
        .unwrap();
    let trail = audit_of(&b, id).await;
    for d in &ids {
        let of = |action: &str| {
            trail
                .iter()
                .filter(|e| e.resource_id == d.0.to_string() && e.action == action)
                .count()
        };
        assert_eq!(of("document.posted"), 1, "{d}: {trail:?}");
        assert!(of("document.approved") <= 1, "{d}: {trail:?}");
    }
    let mut unique: Vec<_> = trail.iter().map(|e| e.id).collect();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), trail.len(), "no entry twice");
}
