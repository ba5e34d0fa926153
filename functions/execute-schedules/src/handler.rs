use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use billrun_app::App;
use billrun_lambda::HandlerError;
use serde::Serialize;

/// What a tick did, as the function's result (visible in the invocation log).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TickSummary {
    pub started: usize,
    pub created: usize,
    pub executed: usize,
    pub failures: Vec<String>,
}

/// One tick at the clock's now (not the event's time: a delayed or replayed event
/// must not act on an old instant).
pub async fn handle(
    app: &App,
    event: EventBridgeEvent<serde_json::Value>,
) -> Result<TickSummary, HandlerError> {
    tracing::info!(event_time = ?event.time, "scheduler tick");
    let report = app.tick(app.clock.now()).await?;
    Ok(TickSummary {
        started: report.started.len(),
        created: report.created.len(),
        executed: report.executed.len(),
        failures: report.failures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use billrun_app::memory::{MemoryQueue, MemoryStore};
    use billrun_domain::request::{RunRequest, RunType};
    use billrun_domain::run::RunStatus;
    use std::sync::Arc;

    const EVENT: &str = include_str!("../../events/schedule-tick.json");

    #[tokio::test]
    async fn a_tick_starts_a_due_scheduled_run_once_however_often_it_fires() {
        let app = App::in_memory(
            Arc::new(MemoryStore::new()),
            Arc::new(MemoryQueue::new()),
            std::sync::Arc::new(billrun_documents::PdfRenderer),
        );
        let mut req = RunRequest::for_target("2024-02-01".parse().unwrap());
        req.run_type = RunType::Scheduled;
        req.scheduled_at = Some(chrono::Utc::now() - chrono::Duration::minutes(1));
        let id = app.pipeline().create_run(req, None).await.unwrap().run().id;
        let event: EventBridgeEvent<serde_json::Value> = serde_json::from_str(EVENT).unwrap();
        let (a, b) = tokio::join!(handle(&app, event.clone()), handle(&app, event.clone()));
        let started = a.unwrap().started + b.unwrap().started;
        assert_eq!(started, 1);
        assert_eq!(handle(&app, event).await.unwrap().started, 0);
        assert_eq!(
            app.queries().get_run(id).await.unwrap().status,
            RunStatus::Processing
        );
    }
}
