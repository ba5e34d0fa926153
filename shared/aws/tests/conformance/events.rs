//! Run events on every backend: the events written with each change of a run's
//! lifecycle (create, start, completion by the finalizer, post, cancel with its revert,
//! delete) come back from the store, one per change, in order.

use crate::common::Backend;
use billrun_app::model::events::RunEventType;
use billrun_app::RunRecord;

use billrun_testkit::fixtures::request;

fn types(run: &RunRecord) -> Vec<RunEventType> {
    run.events.iter().map(|e| e.event_type).collect()
}

pub(super) async fn each_change_of_a_run_is_stored_with_its_event(b: Backend) {
    let id = b.completed_manual_run(3).await;
    b.app.pipeline().post_run(id).await.unwrap();
    let posted = b.app.queries().get_run(id).await.unwrap();
    use RunEventType::*;
    assert_eq!(types(&posted), [Created, Started, Completed, Posted]);

    let id = b
        .app
        .pipeline()
        .create_run(request("2024-03-01"), None)
        .await
        .unwrap()
        .run()
        .id;
    b.finish(id).await;
    b.app.pipeline().cancel_run(id).await.unwrap();
    let canceled = b.app.queries().get_run(id).await.unwrap();
    assert_eq!(types(&canceled), [Created, Started, Completed, Canceled]);
    let ids: std::collections::HashSet<_> = canceled.events.iter().map(|e| e.id).collect();
    assert_eq!(ids.len(), 4);
    b.app.pipeline().delete_run(id).await.unwrap();
    let deleted = b.app.runs.get_run(id).await.unwrap().unwrap();
    assert_eq!(
        types(&deleted),
        [Created, Started, Completed, Canceled, Deleted]
    );
}
