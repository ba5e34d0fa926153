//! In-process queue workers for the local mode and tests: the same at-least-once
//! contract as the SQS consumer (retry with a receive count, give up on the last
//! allowed receive by recording the account Failed).

use crate::memory::{MemoryQueue, Receive};
use crate::model::Message;
use crate::usecases::App;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct WorkerConfig {
    pub workers: usize,
    /// Deliveries of one message before it is given up (SQS `maxReceiveCount`).
    pub max_receives: u32,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            workers: 2,
            max_receives: 8,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerStats {
    pub handled: u64,
    pub retried: u64,
    pub given_up: u64,
}

/// Runs `config.workers` workers until the queue is drained (nothing queued, nothing
/// in flight).
pub async fn drain(app: Arc<App>, queue: Arc<MemoryQueue>, config: WorkerConfig) -> WorkerStats {
    let mut handles = Vec::new();
    for _ in 0..config.workers.max(1) {
        let app = app.clone();
        let queue = queue.clone();
        handles.push(tokio::spawn(
            async move { work(&app, &queue, config).await },
        ));
    }
    let mut total = WorkerStats::default();
    for h in handles {
        if let Ok(s) = h.await {
            total.handled += s.handled;
            total.retried += s.retried;
            total.given_up += s.given_up;
        }
    }
    total
}

async fn work(app: &App, queue: &MemoryQueue, config: WorkerConfig) -> WorkerStats {
    let mut stats = WorkerStats::default();
    loop {
        let delivery = match queue.try_receive() {
            Receive::Drained => return stats,
            Receive::Empty => {
                tokio::time::sleep(Duration::from_micros(200)).await;
                continue;
            }
            Receive::Delivery(d) => d,
        };
        match deliver(
            app,
            &delivery.message,
            delivery.receive_count,
            config.max_receives,
        )
        .await
        {
            Disposition::Done => {
                stats.handled += 1;
                queue.ack();
            }
            Disposition::GivenUp => {
                stats.given_up += 1;
                queue.ack();
            }
            Disposition::Retry => {
                stats.retried += 1;
                queue.retry(delivery);
            }
        }
    }
}

/// What a consumer does with a delivery once it was handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Handled: delete it.
    Done,
    /// Not handled and not worth another try, or on its last allowed receive: the
    /// account was recorded Failed with the reason; delete it.
    GivenUp,
    /// Let it be delivered again (SQS: report it in `batchItemFailures`).
    Retry,
}

/// The consumer contract every transport shares (in-process queue, SQS pollers, the
/// Lambda SQS handlers): handle one message; a retryable failure is retried until its
/// last allowed receive, which records the account Failed so the run always completes.
pub async fn deliver(
    app: &App,
    message: &Message,
    receives: u32,
    max_receives: u32,
) -> Disposition {
    match app.handle(message).await {
        Ok(()) => Disposition::Done,
        Err(e) if e.is_retryable() && receives < max_receives => {
            tracing::warn!(error = %e, receives, "message will be retried");
            Disposition::Retry
        }
        Err(e) => {
            let reason = format!("gave up after {receives} receives: {e}");
            match app.give_up(message, &reason).await {
                Ok(()) => Disposition::GivenUp,
                Err(e2) => {
                    tracing::error!(error = %e2, "could not record a given-up message");
                    Disposition::Retry
                }
            }
        }
    }
}
