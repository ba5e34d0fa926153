//! The work queue.

use super::StoreResult;
use crate::model::Message;
use async_trait::async_trait;
use std::time::Duration;

/// Sends work messages.
#[async_trait]
pub trait WorkQueue: Send + Sync {
    async fn send(&self, messages: Vec<Message>) -> StoreResult<()>;
    /// Sends messages that are not received before `delay` (at most 15 minutes, SQS's
    /// limit). A queue that cannot delay refuses.
    async fn send_after(&self, _messages: Vec<Message>, delay: Duration) -> StoreResult<()> {
        Err(crate::error::StoreError::fatal(format!(
            "this queue cannot delay messages (asked for {delay:?})"
        )))
    }
}
