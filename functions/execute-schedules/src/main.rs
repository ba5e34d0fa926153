//! `execute-schedules`: the scheduler tick, triggered by EventBridge every 5 minutes.
//! Starts due Scheduled runs, creates the runs of due run-schedule occurrences and
//! executes due invoice-schedule items, each exactly once however many ticks overlap.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use execute_schedules::handler;
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    billrun_lambda::init_tracing();
    let runtime = billrun_lambda::Runtime::from_env().await?;
    let app = runtime.app;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<EventBridgeEvent<serde_json::Value>>| {
            let app = app.clone();
            async move { handler::handle(&app, event.payload).await }
        },
    ))
    .await
}
