//! Number sequences in memory.

use super::MemoryStore;
use crate::error::StoreError;
use crate::model::*;
use crate::ports::*;
use async_trait::async_trait;
use billrun_domain::ids::RunId;

#[async_trait]
impl SequenceStore for MemoryStore {
    async fn reserve_block(
        &self,
        run: RunId,
        round: u32,
        invoices: u64,
        credit_memos: u64,
    ) -> StoreResult<NumberBlock> {
        let mut g = self.inner.lock();
        let g = &mut *g;
        let r = g
            .runs
            .get_mut(&run)
            .ok_or_else(|| StoreError::Conflict(format!("run {run} does not exist")))?;
        if let Some(b) = r.number_blocks.iter().find(|b| b.round == round) {
            return Ok(b.clone());
        }
        let block = NumberBlock {
            round,
            first_invoice: g.invoice_sequence + 1,
            invoices,
            first_credit_memo: g.credit_memo_sequence + 1,
            credit_memos,
        };
        g.invoice_sequence += invoices;
        g.credit_memo_sequence += credit_memos;
        r.number_blocks.push(block.clone());
        r.version += 1;
        Ok(block)
    }
}
