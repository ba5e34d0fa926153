//! `dispatch-events`: the consumer of the table's stream (a run's write that recorded
//! events: they go to the EventBridge bus and one delivery per subscribed webhook
//! endpoint) and of the webhook queue (each delivery's attempts).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    billrun_lambda::init_tracing();
    let runtime = billrun_lambda::Runtime::from_env(dispatch_events::adapters).await?;
    let app = std::sync::Arc::new(dispatch_events::compose(&runtime)?);
    let max_receives = runtime.max_receives;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<serde_json::Value>| {
            let app = app.clone();
            async move { dispatch_events::handle(&app, event.payload, max_receives).await }
        },
    ))
    .await
}
