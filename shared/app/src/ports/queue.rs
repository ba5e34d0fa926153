//! The work queue.

use super::StoreResult;
use crate::model::Message;
use async_trait::async_trait;
/// Sends work messages.
#[async_trait]
pub trait WorkQueue: Send + Sync {
    async fn send(&self, messages: Vec<Message>) -> StoreResult<()>;
}
