//! SQS adapter of the work queue, and pollers that stand in for the Lambda event source
//! mappings in the local mode: same contract (one record at a time, delete on success,
//! a retryable failure becomes visible again after a back-off, the last allowed receive
//! records the account Failed).

use crate::config::AwsConfig;
use crate::metrics::{bump, Metrics};
use async_trait::async_trait;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, SendMessageBatchRequestEntry,
};
use billrun_app::error::StoreError;
use billrun_app::model::Message;
use billrun_app::ports::{StoreResult, WorkQueue};
use billrun_app::sweeper::{SweepConfig, SweepReport, Sweeper};
use billrun_app::worker::{deliver_batch, Disposition};
use billrun_app::App;
use std::sync::Arc;

pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    plan_url: String,
    account_url: String,
    document_url: Option<String>,
    delivery_url: Option<String>,
    /// The queue of webhook deliveries (`WEBHOOK_QUEUE_URL`), read by dispatch-events.
    webhook_url: Option<String>,
    metrics: Arc<Metrics>,
}

/// The SDK error stays the failure's source (the log's error chain).
fn sqs_err(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::transient_from(format!("{}", DisplayErrorContext(&e)), e)
}

/// SendMessageBatch requests in flight per `send_to`: a plan page's 100 requests in 4
/// rounds (at 8, 13 rounds of ~15 ms held planning to ~4,000 accounts a second, behind
/// what a pre-warmed table lets processing do; docs/scale.md).
pub const SEND_CONCURRENCY: usize = 25;

/// One `SendMessageBatch` of up to 10 bodies, re-sending the entries SQS reports failed.
async fn send_batch(
    client: &aws_sdk_sqs::Client,
    metrics: &Metrics,
    url: &str,
    chunk: Vec<String>,
    delay_seconds: Option<i32>,
) -> StoreResult<()> {
    let mut pending: Vec<(String, String)> = chunk
        .into_iter()
        .enumerate()
        .map(|(i, b)| (i.to_string(), b))
        .collect();
    for attempt in 0..5 {
        if pending.is_empty() {
            break;
        }
        let mut entries = Vec::with_capacity(pending.len());
        for (id, body) in &pending {
            entries.push(
                SendMessageBatchRequestEntry::builder()
                    .id(id)
                    .message_body(body)
                    .set_delay_seconds(delay_seconds)
                    .build()
                    .map_err(|e| StoreError::fatal(format!("request build: {e}")))?,
            );
        }
        bump(&metrics.sqs_sends);
        let out = client
            .send_message_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(sqs_err)?;
        let failed: Vec<&str> = out.failed().iter().map(|f| f.id()).collect();
        pending.retain(|(id, _)| failed.contains(&id.as_str()));
        if !pending.is_empty() && attempt == 4 {
            return Err(StoreError::transient(format!(
                "{} messages not sent",
                pending.len()
            )));
        }
    }
    Ok(())
}

impl SqsQueue {
    pub fn new(client: aws_sdk_sqs::Client, config: &AwsConfig, metrics: Arc<Metrics>) -> Self {
        SqsQueue {
            client,
            plan_url: config.plan_queue_url.clone(),
            account_url: config.account_queue_url.clone(),
            document_url: config.document_queue_url.clone(),
            delivery_url: config.delivery_queue_url.clone(),
            webhook_url: config.webhook_queue_url.clone(),
            metrics,
        }
    }

    pub fn plan_url(&self) -> &str {
        &self.plan_url
    }

    pub fn account_url(&self) -> &str {
        &self.account_url
    }

    /// The document queue, when configured (`DOCUMENT_QUEUE_URL`).
    pub fn document_url(&self) -> Option<&str> {
        self.document_url.as_deref()
    }

    /// The delivery queue, when configured (`DELIVERY_QUEUE_URL`).
    pub fn delivery_url(&self) -> Option<&str> {
        self.delivery_url.as_deref()
    }

    /// Sends `bodies` with `SendMessageBatch` (10 per request), up to
    /// [`SEND_CONCURRENCY`] requests in flight: a plan page of 1,000 accounts is 100
    /// requests, which one after the other would bound planning to a few thousand
    /// accounts a second (docs/scale.md).
    async fn send_to(
        &self,
        url: &str,
        bodies: Vec<String>,
        delay_seconds: Option<i32>,
    ) -> StoreResult<()> {
        let mut chunks: std::collections::VecDeque<Vec<String>> =
            bodies.chunks(10).map(<[String]>::to_vec).collect();
        let mut in_flight = tokio::task::JoinSet::new();
        let mut first_error = None;
        loop {
            while in_flight.len() < SEND_CONCURRENCY {
                let Some(chunk) = chunks.pop_front() else {
                    break;
                };
                let (client, metrics, url) =
                    (self.client.clone(), self.metrics.clone(), url.to_string());
                in_flight.spawn(async move {
                    send_batch(&client, &metrics, &url, chunk, delay_seconds).await
                });
            }
            let Some(joined) = in_flight.join_next().await else {
                break;
            };
            let result = joined
                .map_err(|e| StoreError::transient(format!("send task: {e}")))
                .and_then(|r| r);
            if let Err(e) = result {
                // Stop sending more; the chunks in flight finish. The caller retries the
                // whole page (messages are idempotent).
                first_error.get_or_insert(e);
                chunks.clear();
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Receives up to 10 messages from `url` (long polling `wait_seconds`), handles each
    /// on its own and deletes the handled ones. Returns how many were received.
    pub async fn poll_once(
        &self,
        app: &App,
        url: &str,
        wait_seconds: i32,
        max_receives: u32,
    ) -> StoreResult<usize> {
        bump(&self.metrics.sqs_receives);
        let out = self
            .client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(wait_seconds)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(sqs_err)?;
        let messages = out.messages();
        let mut done: Vec<DeleteMessageBatchRequestEntry> = Vec::new();
        let mut handles = Vec::with_capacity(messages.len());
        let mut batch = Vec::with_capacity(messages.len());
        for m in messages {
            let Some(handle) = m.receipt_handle() else {
                continue;
            };
            let receives: u32 = m
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .and_then(|v| v.parse().ok())
                .unwrap_or(1);
            // A malformed body fails alone: it is not deleted and reaches the DLQ.
            let Ok(message) = serde_json::from_str::<Message>(m.body().unwrap_or_default()) else {
                tracing::warn!(
                    message_id = m.message_id().unwrap_or_default(),
                    "malformed queue message"
                );
                continue;
            };
            handles.push(handle);
            batch.push((message, receives));
        }
        let dispositions = deliver_batch(app, &batch, max_receives).await;
        for (i, (handle, disposition)) in handles.into_iter().zip(dispositions).enumerate() {
            let receives = batch[i].1;
            let delete = match disposition {
                Disposition::Done | Disposition::GivenUp => true,
                Disposition::Retry => {
                    let delay = (1i32 << receives.min(5)).min(30);
                    let _ = self
                        .client
                        .change_message_visibility()
                        .queue_url(url)
                        .receipt_handle(handle)
                        .visibility_timeout(delay)
                        .send()
                        .await;
                    false
                }
            };
            if delete {
                done.push(
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(handle)
                        .build()
                        .map_err(|e| StoreError::fatal(format!("request build: {e}")))?,
                );
            }
        }
        if !done.is_empty() {
            bump(&self.metrics.sqs_deletes);
            self.client
                .delete_message_batch()
                .queue_url(url)
                .set_entries(Some(done))
                .send()
                .await
                .map_err(sqs_err)?;
        }
        Ok(messages.len())
    }
}

#[async_trait]
impl WorkQueue for SqsQueue {
    async fn send(&self, messages: Vec<Message>) -> StoreResult<()> {
        self.send_routed(messages, None).await
    }

    async fn send_after(
        &self,
        messages: Vec<Message>,
        delay: std::time::Duration,
    ) -> StoreResult<()> {
        // SQS's limit is 900 s; the dispatcher hops longer waits through several.
        let seconds = i32::try_from(delay.as_secs().min(900)).unwrap_or(900);
        self.send_routed(messages, Some(seconds)).await
    }
}

impl SqsQueue {
    /// Sends each message to its function's queue, each `delay_seconds` late.
    async fn send_routed(
        &self,
        messages: Vec<Message>,
        delay_seconds: Option<i32>,
    ) -> StoreResult<()> {
        let mut plan = Vec::new();
        let mut webhook = Vec::new();
        let mut account = Vec::new();
        let mut document = Vec::new();
        let mut delivery = Vec::new();
        for m in &messages {
            let body = serde_json::to_string(m)
                .map_err(|e| StoreError::fatal(format!("encode message: {e}")))?;
            match m {
                Message::Plan { .. } => plan.push(body),
                Message::Account { .. } => account.push(body),
                // Exports and template samples write to S3 like the PDFs: the documents
                // function takes them all (it alone links the PDF writer).
                Message::Document { .. }
                | Message::Export { .. }
                | Message::TemplateSample { .. } => document.push(body),
                // All go to the queue of the one function that sends email
                // (deliver-documents): an `AutoEmail` makes the request whose `Deliver`
                // messages follow it there, and SES's events reach it there too.
                Message::Deliver { .. } | Message::AutoEmail { .. } | Message::Feedback { .. } => {
                    delivery.push(body)
                }
                // The function that holds the HTTP client of webhooks (dispatch-events);
                // on AWS a run's events are dispatched from the table's stream, so a
                // `Dispatch` message is only ever a re-drive by hand. Per-document
                // events come from it too, and from the delivery function's bounces.
                Message::Dispatch { .. }
                | Message::DocumentEvents { .. }
                | Message::Webhook { .. } => webhook.push(body),
            }
        }
        let webhook_url = match (webhook.is_empty(), &self.webhook_url) {
            (true, _) => None,
            (false, Some(url)) => Some(url.clone()),
            (false, None) => {
                return Err(StoreError::fatal(
                    "WEBHOOK_QUEUE_URL is not set: cannot queue webhook deliveries",
                ))
            }
        };
        // Checked before anything is sent, so that a batch is not half queued.
        let delivery_url = match (delivery.is_empty(), &self.delivery_url) {
            (true, _) => None,
            (false, Some(url)) => Some(url.clone()),
            (false, None) => {
                return Err(StoreError::fatal(
                    "DELIVERY_QUEUE_URL is not set: cannot queue email deliveries",
                ))
            }
        };
        if !document.is_empty() {
            let url = self.document_url.clone().ok_or_else(|| {
                StoreError::fatal("DOCUMENT_QUEUE_URL is not set: cannot queue documents")
            })?;
            self.send_to(&url, document, delay_seconds).await?;
        }
        if !plan.is_empty() {
            self.send_to(&self.plan_url.clone(), plan, delay_seconds)
                .await?;
        }
        if !account.is_empty() {
            self.send_to(&self.account_url.clone(), account, delay_seconds)
                .await?;
        }
        if let Some(url) = delivery_url {
            self.send_to(&url, delivery, delay_seconds).await?;
        }
        if let Some(url) = webhook_url {
            self.send_to(&url, webhook, delay_seconds).await?;
        }
        Ok(())
    }
}

/// How [`pump_until_done`] drives a run.
#[derive(Debug, Clone, Copy)]
pub struct Pump {
    /// Concurrent consumers of the account queue (the first also serves the plan queue).
    pub pollers: usize,
    /// The receive on which a failing message is given up (the queues' redrive count).
    pub max_receives: u32,
    /// How long to wait for the run to leave Processing.
    pub timeout: std::time::Duration,
    /// The stuck-run sweep run while the queues are idle; `None` for a driver that
    /// must see its run complete through redeliveries alone (the tests of that).
    pub sweep: Option<SweepConfig>,
}

/// Queues idle this long before the pump sweeps its run.
const PUMP_IDLE: std::time::Duration = std::time::Duration::from_secs(5);
/// Sweeps of an idle run at most this often.
const PUMP_SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

impl Pump {
    /// `pollers` consumers, giving up on the fifth receive, for at most `timeout`,
    /// without the sweep.
    pub fn new(pollers: usize, timeout: std::time::Duration) -> Pump {
        Pump {
            pollers,
            max_receives: 5,
            timeout,
            sweep: None,
        }
    }

    /// With the stuck-run sweep at local time scales, as a deployment has its scheduled
    /// sweeper (which waits 15 minutes; docs/reliability.md): a run without progress
    /// for 30 s has its missing messages re-sent, three times, before its missing
    /// accounts are recorded Failed.
    pub fn sweeping(self) -> Pump {
        Pump {
            sweep: Some(SweepConfig {
                stale_after: chrono::TimeDelta::seconds(30),
                resend_budget: 3,
            }),
            ..self
        }
    }
}

/// Polls the plan and account queues until the run has left Processing (or the
/// timeout passed): the local stand-in for the Lambda event source mappings and, while
/// the queues are idle, for the scheduled stuck-run sweeper, which a deployment relies
/// on to finish a run whose last messages left it to the sweeper (a completion check
/// that failed on a message's last receive, a finalizer that stopped). Returns whether
/// the run completed in time.
pub async fn pump_until_done(
    app: Arc<App>,
    queue: Arc<SqsQueue>,
    run: billrun_domain::ids::RunId,
    pump: Pump,
) -> Result<bool, billrun_app::AppError> {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::time::{Duration, Instant};
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    // Milliseconds since `started` of the last receive that returned a message.
    let last_message = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for i in 0..pump.pollers.max(1) {
        let (app, queue, stop, last_message) = (
            app.clone(),
            queue.clone(),
            stop.clone(),
            last_message.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                // The first poller also serves the plan queue.
                let planned = if i == 0 {
                    let url = queue.plan_url().to_string();
                    queue
                        .poll_once(&app, &url, 0, pump.max_receives)
                        .await
                        .unwrap_or(0)
                } else {
                    0
                };
                let url = queue.account_url().to_string();
                let got = queue
                    .poll_once(&app, &url, 1, pump.max_receives)
                    .await
                    .unwrap_or(0);
                if planned + got == 0 {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                } else {
                    let now = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                    last_message.fetch_max(now, Ordering::Relaxed);
                }
            }
        }));
    }
    let sweeper = pump.sweep.map(|config| Sweeper {
        config,
        ..app.sweeper()
    });
    let mut swept = started;
    let mut done = false;
    while started.elapsed() < pump.timeout {
        let status = app.queries().get_run(run).await?.status;
        if status != billrun_domain::run::RunStatus::Processing {
            done = true;
            break;
        }
        let idle = started
            .elapsed()
            .saturating_sub(Duration::from_millis(last_message.load(Ordering::Relaxed)));
        if let Some(sweeper) = sweeper
            .as_ref()
            .filter(|_| idle >= PUMP_IDLE && swept.elapsed() >= PUMP_SWEEP_EVERY)
        {
            swept = Instant::now();
            match sweeper.sweep_one(run, app.clock.now()).await {
                Ok(report) if report != SweepReport::default() => {
                    tracing::info!(run_id = %run, ?report, "idle run swept");
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(run_id = %run, error = %billrun_app::error::chain(&e), "sweep failed");
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A queue whose client would fail any call: the refusals below come before one.
    fn queue(delivery_url: Option<&str>) -> SqsQueue {
        let client = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::Config::builder()
                .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
                .region(aws_sdk_sqs::config::Region::new("us-east-1"))
                .endpoint_url("http://127.0.0.1:9")
                .build(),
        );
        let config = AwsConfig::from_lookup(|k| match k {
            "TABLE_NAME" | "BUCKET_NAME" | "PLAN_QUEUE_URL" | "ACCOUNT_QUEUE_URL" => {
                Some(k.to_string())
            }
            "DELIVERY_QUEUE_URL" => delivery_url.map(str::to_string),
            _ => None,
        })
        .unwrap();
        SqsQueue::new(client, &config, Arc::new(Metrics::default()))
    }

    #[tokio::test]
    async fn email_messages_without_a_delivery_queue_fail_fatally_before_anything_is_sent() {
        let run_id = billrun_domain::ids::RunId(uuid::Uuid::new_v4());
        let messages = vec![
            Message::Plan { run_id, page: 0 },
            Message::AutoEmail { run_id },
        ];
        let e = queue(None).send(messages).await.unwrap_err();
        assert!(
            matches!(&e, StoreError::Fatal(m) if m.message().contains("DELIVERY_QUEUE_URL")),
            "{e}"
        );
        assert_eq!(queue(Some("d")).delivery_url(), Some("d"));
    }
}
