//! `execute-schedules`: the scheduler tick, triggered by EventBridge every 5 minutes.
//! Starts due Scheduled runs, creates the runs of due run-schedule occurrences and
//! executes due invoice-schedule items, each exactly once however many ticks overlap.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use billrun_app::sweeper::SweepConfig;
use billrun_app::App;
use execute_schedules::handler;
use lambda_runtime::{service_fn, LambdaEvent};
use std::sync::Arc;

/// The sweeper's settings from `STUCK_RUN_AFTER_MINUTES` and `STUCK_RUN_RESENDS`; an
/// invalid value is logged and the default used (the sweeper must not stop the tick).
fn sweep_config() -> SweepConfig {
    SweepConfig::from_lookup(|k| std::env::var(k).ok().filter(|v| !v.is_empty())).unwrap_or_else(
        |e| {
            tracing::warn!("{e}; using the default sweeper configuration");
            SweepConfig::default()
        },
    )
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    billrun_lambda::init_tracing();
    let runtime = billrun_lambda::Runtime::from_env(execute_schedules::adapters).await?;
    let app = Arc::new(App {
        sweep: sweep_config(),
        ..(*runtime.app).clone()
    });
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<EventBridgeEvent<serde_json::Value>>| {
            let app = app.clone();
            async move { handler::handle(&app, event.payload).await }
        },
    ))
    .await
}
