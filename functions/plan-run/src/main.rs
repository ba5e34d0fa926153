//! `plan-run`: SQS consumer of planning pages: each page selects accounts by the run's filters, queues their messages and the next page.

use plan_run::handler;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    billrun_lambda::init_tracing();
    let runtime = billrun_lambda::Runtime::from_env(plan_run::adapters).await?;
    let (app, max_receives) = (runtime.app, runtime.max_receives);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let app = app.clone();
        async move {
            Ok::<SqsBatchResponse, lambda_runtime::Error>(
                handler::handle(&app, event.payload, max_receives).await,
            )
        }
    }))
    .await
}
