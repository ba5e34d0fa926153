//! Run events on every backend: the events written with each change of a run's
//! lifecycle (create, start, completion by the finalizer, post, cancel with its revert,
//! delete) come back from the store, one per change, in order.

use crate::common::Backend;
use billrun_app::model::events::RunEventType;
use billrun_app::RunRecord;
use billrun_domain::request::RunType;
use billrun_testkit::fixtures::{monthly_book, request};

fn types(run: &RunRecord) -> Vec<RunEventType> {
    run.events.iter().map(|e| e.event_type).collect()
}

pub(super) async fn each_change_of_a_run_is_stored_with_its_event(b: Backend) {
    let book = monthly_book(3, |i| format!("{}.00", 10 + i), |_| serde_json::json!({}));
    b.app
        .reference()
        .import_book(&serde_json::to_vec(&book).unwrap())
        .await
        .unwrap();
    let mut manual = request("2024-02-01");
    manual.run_type = RunType::Manual;
    let id = b
        .app
        .pipeline()
        .create_run(manual, None)
        .await
        .unwrap()
        .run()
        .id;
    b.app.pipeline().start_run(id).await.unwrap();
    b.finish(id).await;
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
