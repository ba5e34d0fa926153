//! The work queue in memory.

use crate::error::StoreError;
use crate::model::*;
use crate::ports::*;
use async_trait::async_trait;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// A delivery of a message, with how often it has been received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub message: Message,
    pub receive_count: u32,
}

/// What [`MemoryQueue::try_receive`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Receive {
    Delivery(Delivery),
    /// Nothing queued now, but deliveries are in flight (and may come back).
    Empty,
    /// Nothing queued and nothing in flight.
    Drained,
}

#[derive(Default)]
struct QueueInner {
    ready: VecDeque<Delivery>,
    /// Returned deliveries, invisible until their instant (SQS's visibility timeout).
    delayed: Vec<(Instant, Delivery)>,
    /// Messages sent with a delay ([`WorkQueue::send_after`]): not counted as work until
    /// due, so a drain does not wait hours for a webhook retry.
    later: Vec<(Instant, Delivery)>,
    in_flight: usize,
    /// Chaos mode: every message is delivered twice, in a shuffled order.
    chaos: Option<u64>,
    sent: u64,
    /// Messages given to `send`, queued or not.
    attempted: u64,
    /// The message (by `attempted`) whose send fails.
    fail_at: Option<u64>,
}

/// An in-process work queue with at-least-once semantics: a consumer receives, then
/// acknowledges or returns the delivery. In chaos mode it duplicates and reorders.
#[derive(Default)]
pub struct MemoryQueue {
    inner: Mutex<QueueInner>,
}

impl MemoryQueue {
    pub fn new() -> Self {
        Self::default()
    }

    /// Delivers every message twice and picks deliveries in a seeded random order.
    pub fn chaotic(seed: u64) -> Self {
        let q = Self::default();
        q.inner.lock().chaos = Some(seed.max(1));
        q
    }

    fn next_random(state: &mut u64) -> u64 {
        // xorshift64*: enough to shuffle deliveries reproducibly.
        let mut x = *state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        *state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Moves the delayed messages that are due to the ready ones.
    fn promote_later(g: &mut QueueInner) {
        if g.later.is_empty() {
            return;
        }
        let now = Instant::now();
        let (due, wait): (Vec<_>, Vec<_>) = g.later.drain(..).partition(|(at, _)| *at <= now);
        g.later = wait;
        g.ready.extend(due.into_iter().map(|(_, d)| d));
    }

    /// Messages sent with a delay that is not over yet.
    pub fn waiting(&self) -> usize {
        self.inner.lock().later.len()
    }

    /// Takes the next delivery, if any.
    pub fn try_receive(&self) -> Receive {
        let mut g = self.inner.lock();
        let g = &mut *g;
        Self::promote_later(g);
        if !g.delayed.is_empty() {
            let now = Instant::now();
            let mut i = 0;
            while i < g.delayed.len() {
                if g.delayed[i].0 <= now {
                    let (_, d) = g.delayed.swap_remove(i);
                    g.ready.push_back(d);
                } else {
                    i += 1;
                }
            }
        }
        if g.ready.is_empty() {
            return if g.in_flight == 0 && g.delayed.is_empty() {
                Receive::Drained
            } else {
                Receive::Empty
            };
        }
        let idx = match &mut g.chaos {
            Some(state) => (Self::next_random(state) % g.ready.len() as u64) as usize,
            None => 0,
        };
        let Some(mut d) = g.ready.swap_remove_back(idx) else {
            return Receive::Empty;
        };
        d.receive_count += 1;
        g.in_flight += 1;
        Receive::Delivery(d)
    }

    /// The delivery was handled.
    pub fn ack(&self) {
        let mut g = self.inner.lock();
        g.in_flight = g.in_flight.saturating_sub(1);
    }

    /// The delivery failed: it becomes visible again after a back-off that doubles
    /// with every receive (5 ms, 10 ms, 20 ms...).
    pub fn retry(&self, d: Delivery) {
        let backoff = Duration::from_millis(5u64 << d.receive_count.min(10));
        let mut g = self.inner.lock();
        g.in_flight = g.in_flight.saturating_sub(1);
        g.delayed.push((Instant::now() + backoff, d));
    }

    /// Makes the `k`-th message sent from now on (1-based) fail: the send carrying it
    /// queues the messages before it and returns a transient error, as an SQS outage
    /// part-way through a request does. Once.
    pub fn fail_kth_message(&self, k: u64) {
        let mut g = self.inner.lock();
        g.fail_at = Some(g.attempted + k.max(1));
    }

    /// Messages sent so far (duplicates in chaos mode not counted).
    pub fn sent(&self) -> u64 {
        self.inner.lock().sent
    }

    /// Nothing to do now: no message ready, returned or in flight (messages sent with a
    /// delay that is not over do not count).
    pub fn is_drained(&self) -> bool {
        let mut g = self.inner.lock();
        Self::promote_later(&mut g);
        g.ready.is_empty() && g.delayed.is_empty() && g.in_flight == 0
    }
}

#[async_trait]
impl WorkQueue for MemoryQueue {
    async fn send(&self, messages: Vec<Message>) -> StoreResult<()> {
        let mut g = self.inner.lock();
        let copies = if g.chaos.is_some() { 2 } else { 1 };
        for m in messages {
            g.attempted += 1;
            if g.fail_at == Some(g.attempted) {
                g.fail_at = None;
                return Err(StoreError::transient(format!(
                    "queue unavailable (message {} of this queue failed on purpose)",
                    g.attempted
                )));
            }
            g.sent += 1;
            for _ in 1..copies {
                g.ready.push_back(Delivery {
                    message: m.clone(),
                    receive_count: 0,
                });
            }
            g.ready.push_back(Delivery {
                message: m,
                receive_count: 0,
            });
        }
        Ok(())
    }

    async fn send_after(&self, messages: Vec<Message>, delay: Duration) -> StoreResult<()> {
        let at = Instant::now() + delay;
        let mut g = self.inner.lock();
        g.sent += messages.len() as u64;
        g.later.extend(messages.into_iter().map(|message| {
            (
                at,
                Delivery {
                    message,
                    receive_count: 0,
                },
            )
        }));
        Ok(())
    }
}
