//! The backends the port conformance suite runs on: the in-memory adapters, the SQLite
//! adapters (a fresh database in a temporary directory), and the AWS adapters on the
//! local endpoint `infra/test.sh` starts (moto server on loopback).

#![allow(dead_code)]

use billrun_app::docgen::DocumentRequestStatus;
use billrun_app::memory::{MemoryBlobs, MemoryQueue, MemoryStore};
use billrun_app::ports::{BlobStore, DeliveryStore};
use billrun_app::worker::{drain, WorkerConfig};
use billrun_app::App;
use billrun_aws::provision::{provision, Names};
use billrun_aws::sqs::{pump_until_done, Pump};
use billrun_aws::{AwsConfig, Clients, Metrics, S3Blobs, SqsQueue};
use billrun_domain::ids::{DocumentRequestId, RunId};
use std::sync::Arc;
use std::time::Duration;

pub struct Backend {
    pub app: App,
    pub blobs: Arc<dyn BlobStore>,
    /// The backend's delivery store (not a port of `App::over`'s `Storage`: the
    /// composition adds it with `App::with_delivery`).
    pub deliveries: Arc<dyn DeliveryStore>,
    memory_queue: Option<Arc<MemoryQueue>>,
    sqs: Option<Arc<SqsQueue>>,
    pub aws: Option<(AwsConfig, Clients)>,
    pub metrics: Arc<Metrics>,
    /// The DynamoDB adapter (AWS only), for fault injection.
    pub dynamo: Option<Arc<billrun_aws::DynamoStore>>,
    /// The SQLite database's directory, removed when the backend is dropped.
    _data: Option<tempfile::TempDir>,
    /// The store itself, for [`Backend::digest_without`].
    memory_store: Option<Arc<MemoryStore>>,
    sqlite_store: Option<Arc<billrun_sqlite::SqliteStore>>,
}

/// The AWS endpoint of the test run; a missing one is a failure, never a skip.
pub fn endpoint() -> String {
    let url = std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| {
        panic!("AWS_ENDPOINT_URL is not set: run the tests with ./infra/test.sh, which starts a moto server")
    });
    assert!(
        url.starts_with("http://127.0.0.1:") || url.starts_with("http://localhost:"),
        "tests only talk to loopback, not {url}"
    );
    assert_eq!(
        std::env::var("AWS_EC2_METADATA_DISABLED").as_deref(),
        Ok("true"),
        "set AWS_EC2_METADATA_DISABLED=true (infra/test.sh does)"
    );
    url
}

impl Backend {
    pub async fn memory() -> Backend {
        let store = Arc::new(MemoryStore::new());
        let queue = Arc::new(MemoryQueue::new());
        let blobs = Arc::new(MemoryBlobs::default());
        let mut app = App::in_memory(
            store.clone(),
            queue.clone(),
            std::sync::Arc::new(billrun_documents::PdfRenderer),
        );
        app.blobs = blobs.clone();
        Backend {
            app,
            blobs,
            memory_store: Some(store.clone()),
            sqlite_store: None,
            deliveries: store,
            memory_queue: Some(queue),
            sqs: None,
            aws: None,
            metrics: Arc::new(Metrics::default()),
            dynamo: None,
            _data: None,
        }
    }

    /// The SQLite adapters on a fresh database, with the in-memory queue (as
    /// `billrun-local serve --data` composes them).
    pub async fn sqlite() -> Backend {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = Arc::new(billrun_sqlite::SqliteStore::open(dir.path()).expect("opening"));
        let queue = Arc::new(MemoryQueue::new());
        // serve keeps export files in a folder (billrun-local); here, in memory.
        let app = App::over(
            store.clone(),
            queue.clone(),
            store.clone(),
            std::sync::Arc::new(billrun_documents::PdfRenderer),
        )
        .with_export_files(Arc::new(billrun_app::memory::MemoryExportFiles::default()));
        Backend {
            app,
            blobs: store.clone(),
            memory_store: None,
            sqlite_store: Some(store.clone()),
            deliveries: store,
            memory_queue: Some(queue),
            sqs: None,
            aws: None,
            metrics: Arc::new(Metrics::default()),
            dynamo: None,
            _data: Some(dir),
        }
    }

    /// Fresh, randomly named table, bucket and queues on the local endpoint.
    pub async fn aws() -> Backend {
        endpoint();
        let clients = Clients::load().await;
        let prefix = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let mut names = Names::new(prefix);
        names.visibility_timeout_seconds = 2;
        let mut config = provision(&clients, &names)
            .await
            .expect("provisioning on the local endpoint");
        config.shards = 4;
        let metrics = Arc::new(Metrics::default());
        let (app, store, queue) = billrun_aws::app_on_sqs(
            &config,
            &clients,
            metrics.clone(),
            std::sync::Arc::new(billrun_documents::PdfRenderer),
        );
        let blobs = Arc::new(S3Blobs::new(
            clients.s3.clone(),
            config.bucket.clone(),
            metrics.clone(),
        ));
        Backend {
            app,
            blobs,
            memory_store: None,
            sqlite_store: None,
            deliveries: store.clone(),
            memory_queue: None,
            sqs: Some(queue),
            aws: Some((config, clients)),
            metrics,
            dynamo: Some(store),
            _data: None,
        }
    }

    /// Everything stored, in a stable order, but `run`'s own items: on DynamoDB every
    /// item of the table except those with a `ttl` (a preview's, which expire; the
    /// preview's own items must each have one).
    pub async fn digest_without(&self, run: Option<RunId>) -> String {
        if let Some(store) = &self.memory_store {
            return store.digest_without(run);
        }
        if let Some(store) = &self.sqlite_store {
            return store
                .digest_without(run.map(|r| r.to_string()))
                .await
                .expect("a digest of the database");
        }
        let (config, clients) = self.aws.as_ref().expect("an AWS backend");
        let mut items: Vec<String> = Vec::new();
        let mut start = None;
        loop {
            let page = clients
                .dynamodb
                .scan()
                .table_name(&config.table)
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("a scan of the table");
            for item in page.items.unwrap_or_default() {
                if item.contains_key(billrun_aws::dynamo::TTL) {
                    continue;
                }
                let sorted: std::collections::BTreeMap<String, String> = item
                    .into_iter()
                    .map(|(k, v)| {
                        let v = match v {
                            aws_sdk_dynamodb::types::AttributeValue::Ss(mut ss) => {
                                ss.sort();
                                format!("SS{ss:?}")
                            }
                            other => format!("{other:?}"),
                        };
                        (k, v)
                    })
                    .collect();
                items.push(format!("{sorted:?}"));
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        items.sort();
        items.join("\n")
    }

    /// Pumps the AWS queues for `run` as `pump` says; whether the run completed.
    pub async fn pump(&self, run: RunId, pump: Pump) -> bool {
        let q = self.sqs.as_ref().expect("the AWS backend");
        pump_until_done(Arc::new(self.app.clone()), q.clone(), run, pump)
            .await
            .expect("pumping the queues")
    }

    /// Receives and deletes every visible message of the account queue (AWS): lost
    /// messages. How many.
    pub async fn lose_account_messages(&self) -> usize {
        let (config, clients) = self.aws.as_ref().expect("the AWS backend");
        let mut lost = 0;
        loop {
            let out = clients
                .sqs
                .receive_message()
                .queue_url(&config.account_queue_url)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("receiving");
            if out.messages().is_empty() {
                return lost;
            }
            for m in out.messages() {
                clients
                    .sqs
                    .delete_message()
                    .queue_url(&config.account_queue_url)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("deleting");
                lost += 1;
            }
        }
    }

    pub fn is_aws(&self) -> bool {
        self.sqs.is_some()
    }

    /// Delivers queued messages until the run has completed.
    /// Messages queued so far (memory), or visible on the document queue (AWS).
    pub async fn queued_documents(&self) -> u64 {
        if let Some(q) = &self.memory_queue {
            return q.sent();
        }
        let (Some(q), Some((_, clients))) = (&self.sqs, &self.aws) else {
            return 0;
        };
        let Some(url) = q.document_url() else {
            return 0;
        };
        let out = clients
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .expect("queue attributes");
        out.attributes()
            .and_then(|a| {
                a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            })
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// Delivers queued document messages until the request has completed.
    pub async fn finish_documents(&self, request: DocumentRequestId) {
        let app = Arc::new(self.app.clone());
        if let Some(q) = &self.memory_queue {
            drain(app, q.clone(), WorkerConfig::default()).await;
            return;
        }
        let Some(q) = &self.sqs else { return };
        let url = q.document_url().expect("a document queue").to_string();
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_secs(120) {
            let view = app.docgen().document_request(request).await.unwrap();
            if matches!(
                view.status,
                DocumentRequestStatus::Completed | DocumentRequestStatus::CompletedWithErrors
            ) {
                return;
            }
            q.poll_once(&app, &url, 1, 5).await.unwrap();
        }
        panic!("document request {request} did not complete within 120 s");
    }

    /// Imports `n` monthly accounts and bills them in a Manual run for 2024-02-01,
    /// started and finished; its id.
    pub async fn completed_manual_run(&self, n: usize) -> RunId {
        let book = billrun_testkit::fixtures::monthly_book(
            n,
            |i| format!("{}.00", 10 + i),
            |_| serde_json::json!({}),
        );
        self.app
            .reference()
            .import_book(&serde_json::to_vec(&book).unwrap_or_default())
            .await
            .unwrap();
        let mut manual = billrun_testkit::fixtures::request("2024-02-01");
        manual.run_type = billrun_domain::request::RunType::Manual;
        let id = self
            .app
            .pipeline()
            .create_run(manual, None)
            .await
            .unwrap()
            .run()
            .id;
        self.app.pipeline().start_run(id).await.unwrap();
        self.finish(id).await;
        id
    }

    pub async fn finish(&self, run: RunId) {
        let app = Arc::new(self.app.clone());
        if let Some(q) = &self.memory_queue {
            drain(app, q.clone(), WorkerConfig::default()).await;
        } else if let Some(q) = &self.sqs {
            let done = pump_until_done(app, q.clone(), run, Pump::new(3, Duration::from_secs(120)))
                .await
                .expect("pumping the queues");
            if !done {
                // What the run was waiting for: its record, the progress and the exact count.
                let record = self.app.runs.get_run(run).await;
                let progress = self.app.runs.progress(run).await;
                let counters = self.app.runs.counters(run).await;
                panic!(
                    "run {run} did not complete within 120 s: {record:?}\nprogress {progress:?}\ncounted {counters:?}"
                );
            }
        }
    }
}

/// Account `A-00` with a monthly charge and `usage` usage records of 2 units at 0.05
/// in January; `A-01` with the monthly charge only.
pub fn usage_book(usage: usize) -> billrun_domain::book::Book {
    let mut records = Vec::new();
    for i in 0..usage {
        records.push(serde_json::json!({
            // Ids that do not compress away (random-looking, like real ones): 250 billed
            // marks then outgrow the state item and are written as items of their own.
            "id": format!("U-{i:04}-{:08x}", (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32),
            "accountId": "A-00", "chargeId": "C-U",
            "date": "2024-01-20", "quantity": "2"
        }));
    }
    let json = serde_json::json!({
        "accounts": [
            {"id": "A-00", "name": "Heavy", "currency": "USD", "billCycleDay": 1},
            {"id": "A-01", "name": "Light", "currency": "USD", "billCycleDay": 1}
        ],
        "subscriptions": [
            {"id": "S-00", "accountId": "A-00", "productId": "P", "startDate": "2024-01-01",
             "charges": [
                {"id": "C-R0", "type": "Recurring", "price": "10.00", "billingPeriod": "Month"},
                {"id": "C-U", "type": "Usage", "unitPrice": "0.05"}
             ]},
            {"id": "S-01", "accountId": "A-01", "productId": "P", "startDate": "2024-01-01",
             "charges": [{"id": "C-R1", "type": "Recurring", "price": "10.00", "billingPeriod": "Month"}]}
        ],
        "usage": records
    });
    billrun_domain::book::Book::parse(json.to_string().as_bytes()).unwrap()
}
