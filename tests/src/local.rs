//! A run on the in-memory adapters, from the book's import to its end.

use billrun_app::worker::{drain, WorkerConfig};
use billrun_app::RunRecord;
use billrun_domain::request::RunRequest;
use billrun_local::pipeline::Local;

/// The in-memory app (`chaos`: a seeded queue that duplicates and reorders) with `book`
/// imported.
pub async fn local_with(book: &[u8], chaos: Option<u64>) -> Local {
    let local = Local::new(chaos);
    local
        .app
        .reference()
        .import_book(book)
        .await
        .expect("the book imports");
    local
}

/// Handles every queued message with the default workers until the queue is drained.
pub async fn drain_queue(local: &Local) {
    drain(
        local.app.clone(),
        local.queue.clone(),
        WorkerConfig::default(),
    )
    .await;
}

/// Creates a run, processes it to the end and reads it back.
pub async fn run_to_end(local: &Local, req: RunRequest) -> RunRecord {
    let created = local
        .app
        .pipeline()
        .create_run(req, None)
        .await
        .expect("a run");
    drain_queue(local).await;
    local
        .app
        .queries()
        .get_run(created.run().id)
        .await
        .expect("the run")
}
