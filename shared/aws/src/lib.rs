//! billrun's AWS adapters: DynamoDB (one table) for every storage port, S3 for document
//! files, SQS for the work queues. Names come from the environment once
//! ([`AwsConfig::from_env`]); SDK clients are built once ([`Clients::load`]) and shared.
//! `AWS_ENDPOINT_URL` points everything at LocalStack, moto or real AWS.
//!
//! The S3 and SQS clients are features (`s3`, `sqs`): a Lambda function links only the
//! ones it calls; without one, its port is [`NoBlobs`] or [`NoQueue`]. A function that
//! only writes document packs or reads PDFs out of them signs its PutObject and ranged
//! GetObject requests itself, without the S3 client (`s3-signed`).

pub mod absent;
pub mod config;
pub mod dynamo;
pub mod footprint;
pub mod metrics;
#[cfg(all(feature = "s3", feature = "sqs"))]
pub mod provision;
#[cfg(feature = "s3")]
pub mod s3;
#[cfg(feature = "s3-signed")]
pub mod s3_signed;
#[cfg(feature = "s3-signed")]
pub mod signed;
#[cfg(feature = "sqs")]
pub mod sqs;
#[cfg(feature = "s3-signed")]
pub mod uri;

pub use absent::{NoBlobs, NoQueue};
pub use config::{AwsConfig, Clients};
pub use dynamo::DynamoStore;
pub use metrics::Metrics;
#[cfg(feature = "s3")]
pub use s3::S3Blobs;
#[cfg(feature = "sqs")]
pub use sqs::SqsQueue;

use billrun_app::ports::{BlobStore, DocumentRenderer, WorkQueue};
use billrun_app::App;
use std::sync::Arc;

/// The use cases over DynamoDB, S3 (feature `s3`; with `s3-signed`, signed PutObject
/// and GetObject requests without the client; else [`NoBlobs`]) and SQS (feature
/// `sqs`, else [`NoQueue`]), rendering with `renderer`.
pub fn app(
    config: &AwsConfig,
    clients: &Clients,
    metrics: Arc<Metrics>,
    renderer: Arc<dyn DocumentRenderer>,
) -> (App, Arc<DynamoStore>) {
    let store = Arc::new(DynamoStore::new(
        clients.dynamodb.clone(),
        config,
        metrics.clone(),
    ));
    #[cfg(feature = "sqs")]
    let queue: Arc<dyn WorkQueue> =
        Arc::new(SqsQueue::new(clients.sqs.clone(), config, metrics.clone()));
    #[cfg(not(feature = "sqs"))]
    let queue: Arc<dyn WorkQueue> = Arc::new(NoQueue);
    #[cfg(feature = "s3")]
    let blobs: Arc<dyn BlobStore> = Arc::new(S3Blobs::new(
        clients.s3.clone(),
        config.bucket.clone(),
        metrics.clone(),
    ));
    #[cfg(all(feature = "s3-signed", not(feature = "s3")))]
    let blobs: Arc<dyn BlobStore> = Arc::new(s3_signed::S3SignedBlobs::new(
        signed::Signer::new(&clients.sdk_config),
        &config.bucket,
        metrics.clone(),
    ));
    #[cfg(not(any(feature = "s3", feature = "s3-signed")))]
    let blobs: Arc<dyn BlobStore> = Arc::new(NoBlobs);
    let app = App::over(store.clone(), queue, blobs, renderer);
    (app, store)
}

/// [`app`], with the SQS adapter it sends through: for the local mode and tests, whose
/// pollers stand in for the Lambda event source mappings.
#[cfg(feature = "sqs")]
pub fn app_on_sqs(
    config: &AwsConfig,
    clients: &Clients,
    metrics: Arc<Metrics>,
    renderer: Arc<dyn DocumentRenderer>,
) -> (App, Arc<DynamoStore>, Arc<SqsQueue>) {
    let (mut app, store) = app(config, clients, metrics.clone(), renderer);
    let queue = Arc::new(SqsQueue::new(clients.sqs.clone(), config, metrics));
    app.queue = queue.clone();
    (app, store, queue)
}
