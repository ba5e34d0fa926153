//! billrun's AWS adapters: DynamoDB (one table) for every storage port, S3 for document
//! files, SQS for the work queues, SES for email. Names come from the environment once
//! ([`AwsConfig::from_env`]); SDK clients are built once ([`Clients::load`]) and shared.
//! `AWS_ENDPOINT_URL` points everything at LocalStack, moto or real AWS.
//!
//! The S3, SQS and SES clients are features (`s3`, `sqs`, `ses`): a Lambda function links
//! only the ones it calls. A function that only writes document packs or reads PDFs out of them
//! signs its PutObject and ranged GetObject requests itself, without the S3 client
//! (`s3-signed`). Which adapter serves each port is the composition root's choice
//! ([`Adapters`], built from a [`Wiring`]); a port a function never calls is [`NoBlobs`],
//! [`NoQueue`] or [`NoMailer`].

pub mod absent;
pub mod config;
pub mod dynamo;
#[cfg(feature = "eventbridge")]
pub mod eventbridge;
pub mod footprint;
pub mod metrics;
#[cfg(all(feature = "s3", feature = "sqs"))]
pub mod provision;
#[cfg(feature = "s3")]
pub mod s3;
#[cfg(feature = "s3-signed")]
pub mod s3_signed;
#[cfg(feature = "secrets")]
pub mod secret;
#[cfg(feature = "ses")]
pub mod ses;
pub mod ses_events;
#[cfg(any(feature = "s3-signed", feature = "secrets"))]
pub mod signed;
#[cfg(feature = "sqs")]
pub mod sqs;
#[cfg(feature = "s3-signed")]
pub mod sqs_signed;
#[cfg(any(feature = "s3-signed", feature = "secrets"))]
pub mod uri;

pub use absent::{NoBlobs, NoMailer, NoQueue};
pub use billrun_app::memory::NoExportFiles;
pub use config::{AwsConfig, Clients};
pub use dynamo::DynamoStore;
pub use metrics::Metrics;
#[cfg(feature = "s3")]
pub use s3::S3Blobs;
#[cfg(feature = "ses")]
pub use ses::SesMailer;
#[cfg(feature = "sqs")]
pub use sqs::SqsQueue;

use billrun_app::app::DeliveryPorts;
use billrun_app::ports::{
    BlobStore, DeliveryStore, DocumentRenderer, ExportFiles, Mailer, WorkQueue,
};
use billrun_app::App;
use std::sync::Arc;

/// The adapters of the ports other than storage, as a composition root (a function's
/// `main`, the local mode, a test) chooses them: the library never picks one by feature.
pub struct Adapters {
    pub queue: Arc<dyn WorkQueue>,
    pub blobs: Arc<dyn BlobStore>,
    pub renderer: Arc<dyn DocumentRenderer>,
    /// The mail transport, used where email delivery is configured (`SENDER`): SES in
    /// deliver-documents, [`NoMailer`] in the functions that only request, queue and
    /// show deliveries.
    pub mailer: Arc<dyn Mailer>,
    /// Where exports are written (S3 multipart uploads in generate-documents) and
    /// linked from (presigned in api-queries); [`NoExportFiles`] elsewhere.
    pub exports: Arc<dyn ExportFiles>,
}

/// What a composition root builds its adapters from: the configuration, the clients and
/// the recorder they report to. The constructors exist in builds that link the client
/// (features `s3`, `s3-signed`, `sqs`, `ses`); [`NoQueue`], [`NoBlobs`] and [`NoMailer`]
/// always do.
pub struct Wiring<'a> {
    pub config: &'a AwsConfig,
    pub clients: &'a Clients,
    pub metrics: &'a Arc<Metrics>,
}

impl Wiring<'_> {
    /// The work queues on SQS.
    #[cfg(feature = "sqs")]
    pub fn sqs(&self) -> Arc<SqsQueue> {
        Arc::new(SqsQueue::new(
            self.clients.sqs.clone(),
            self.config,
            self.metrics.clone(),
        ))
    }

    /// Document files through the S3 client.
    #[cfg(feature = "s3")]
    pub fn s3(&self) -> Arc<S3Blobs> {
        Arc::new(S3Blobs::new(
            self.clients.s3.clone(),
            self.config.bucket.clone(),
            self.metrics.clone(),
        ))
    }

    /// Email through SES, with the configuration set of `SES_CONFIGURATION_SET`, at this
    /// environment's share of the send rate.
    #[cfg(feature = "ses")]
    pub fn ses(&self) -> Arc<SesMailer> {
        Arc::new(SesMailer::new(
            self.clients.ses.clone(),
            self.config,
            self.metrics.clone(),
        ))
    }

    /// The deployment's EventBridge bus (`EVENT_BUS_NAME`), when it has one.
    #[cfg(feature = "eventbridge")]
    pub fn event_bus(&self) -> Option<Arc<eventbridge::EventBridgeBus>> {
        self.config.event_bus_name.as_ref().map(|bus| {
            Arc::new(eventbridge::EventBridgeBus::new(
                self.clients.events.clone(),
                bus.clone(),
            ))
        })
    }

    /// The document queue through signed SendMessage requests, without the SQS client
    /// (document and export messages only).
    #[cfg(feature = "s3-signed")]
    pub fn signed_document_queue(&self) -> Arc<sqs_signed::SignedDocumentQueue> {
        Arc::new(sqs_signed::SignedDocumentQueue::new(
            signed::Signer::new(&self.clients.sdk_config),
            self.config.document_queue_url.clone(),
            self.metrics.clone(),
        ))
    }

    /// Document files through signed PutObject and ranged GetObject requests, without
    /// the S3 client.
    #[cfg(feature = "s3-signed")]
    pub fn s3_signed(&self) -> Arc<s3_signed::S3SignedBlobs> {
        Arc::new(s3_signed::S3SignedBlobs::new(
            signed::Signer::new(&self.clients.sdk_config),
            &self.config.bucket,
            self.metrics.clone(),
        ))
    }
}

/// The use cases over DynamoDB and the `adapters` the caller chose; with email delivery
/// (results in the table, the adapters' mailer) when `SENDER` is configured.
pub fn app(
    config: &AwsConfig,
    clients: &Clients,
    metrics: Arc<Metrics>,
    adapters: Adapters,
) -> (App, Arc<DynamoStore>) {
    let store = Arc::new(DynamoStore::new(clients.dynamodb.clone(), config, metrics));
    let app = App::over(
        store.clone(),
        adapters.queue,
        adapters.blobs,
        adapters.renderer,
    )
    .with_export_files(adapters.exports);
    let mut app = app;
    app.controls.maker_checker = config.maker_checker;
    let app = match &config.sender {
        Some(from) => app.with_delivery(DeliveryPorts {
            store: store.clone() as Arc<dyn DeliveryStore>,
            mailer: adapters.mailer,
            from: from.clone(),
        }),
        None => app,
    };
    (app, store)
}

/// [`app`] over SQS and the S3 client, with the SQS adapter it sends through: for the
/// local mode and tests, whose pollers stand in for the Lambda event source mappings.
#[cfg(all(feature = "s3", feature = "s3-signed", feature = "sqs"))]
pub fn app_on_sqs(
    config: &AwsConfig,
    clients: &Clients,
    metrics: Arc<Metrics>,
    renderer: Arc<dyn DocumentRenderer>,
) -> (App, Arc<DynamoStore>, Arc<SqsQueue>) {
    let wiring = Wiring {
        config,
        clients,
        metrics: &metrics,
    };
    let queue = wiring.sqs();
    // The local mode and the tests send no email through SES: a configured sender gives
    // them delivery requests whose sends fail (`NoMailer`).
    let adapters = Adapters {
        queue: queue.clone(),
        blobs: wiring.s3(),
        renderer,
        mailer: Arc::new(NoMailer),
        exports: wiring.s3_signed(),
    };
    let (app, store) = app(config, clients, metrics, adapters);
    (app, store, queue)
}
