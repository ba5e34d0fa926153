//! In-process queue workers for the local mode and tests: the same at-least-once
//! contract as the SQS consumer (retry with a receive count, give up on the last
//! allowed receive by recording the account Failed).

use crate::memory::{MemoryQueue, Receive};
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
        match app.handle(&delivery.message).await {
            Ok(()) => {
                stats.handled += 1;
                queue.ack();
            }
            Err(e) if e.is_retryable() && delivery.receive_count < config.max_receives => {
                stats.retried += 1;
                queue.retry(delivery);
            }
            Err(e) => {
                stats.given_up += 1;
                let reason = format!("gave up after {} receives: {e}", delivery.receive_count);
                if let Err(e2) = app.give_up(&delivery.message, &reason).await {
                    tracing::error!(error = %e2, "could not record a given-up message");
                }
                queue.ack();
            }
        }
    }
}
