//! billrun's AWS adapters: DynamoDB (one table) for every storage port, S3 for document
//! files, SQS for the work queues. Names come from the environment once
//! ([`AwsConfig::from_env`]); SDK clients are built once ([`Clients::load`]) and shared.
//! `AWS_ENDPOINT_URL` points everything at LocalStack, moto or real AWS.

pub mod config;
pub mod dynamo;
pub mod footprint;
pub mod metrics;
pub mod provision;
pub mod s3;
pub mod sqs;

pub use config::{AwsConfig, Clients};
pub use dynamo::DynamoStore;
pub use metrics::Metrics;
pub use s3::S3Blobs;
pub use sqs::SqsQueue;

use billrun_app::App;
use std::sync::Arc;

/// The use cases over DynamoDB and SQS.
pub fn app(
    config: &AwsConfig,
    clients: &Clients,
    metrics: Arc<Metrics>,
) -> (App, Arc<DynamoStore>, Arc<SqsQueue>) {
    let store = Arc::new(DynamoStore::new(
        clients.dynamodb.clone(),
        config,
        metrics.clone(),
    ));
    let queue = Arc::new(SqsQueue::new(clients.sqs.clone(), config, metrics.clone()));
    let app = App {
        runs: store.clone(),
        book: store.clone(),
        documents: store.clone(),
        ledger: store.clone(),
        sequences: store.clone(),
        catalog: store.clone(),
        queue: queue.clone(),
        blobs: Arc::new(S3Blobs::new(
            clients.s3.clone(),
            config.bucket.clone(),
            metrics.clone(),
        )),
        clock: Arc::new(billrun_app::ports::SystemClock),
        plan_page_size: billrun_app::usecases::DEFAULT_PLAN_PAGE,
        finalize_page_size: billrun_app::usecases::DEFAULT_FINALIZE_PAGE,
        sweeper: billrun_app::sweeper::SweepConfig::from_env(),
    };
    (app, store, queue)
}
