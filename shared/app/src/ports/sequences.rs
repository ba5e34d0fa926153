//! Gapless number sequences.

use super::StoreResult;
use crate::model::NumberBlock;
use async_trait::async_trait;
use billrun_domain::ids::RunId;
/// Gapless number sequences.
#[async_trait]
pub trait SequenceStore: Send + Sync {
    /// Reserves the run's block for `round` and stores it on the run in one atomic step;
    /// calling again for the same (run, round) returns the stored block.
    async fn reserve_block(
        &self,
        run: RunId,
        round: u32,
        invoices: u64,
        credit_memos: u64,
    ) -> StoreResult<NumberBlock>;
}
