//! Number sequences: run numbers (taken when a run is created, `runs`) and the blocks of
//! invoice and credit memo numbers a run reserves per round.

use super::client::backoff;
use super::codec::{get_u64, n};
use super::error::{built, is_canceled, sdk};
use super::keys::{self, Key};
use super::DynamoStore;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::builders::UpdateBuilder;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use billrun_app::error::StoreError;
use billrun_app::model::NumberBlock;
use billrun_app::ports::{RunStore, SequenceStore, StoreResult};
use billrun_domain::document::DocumentKind;
use billrun_domain::ids::RunId;

/// A sequence's last number taken.
pub(super) const VALUE: &str = "n";
/// How often reserving a block reads the run and the sequences again after a race.
const RESERVE_ATTEMPTS: u32 = 16;

impl DynamoStore {
    /// The update that sets the sequence to `new`; the caller adds its condition.
    pub(super) fn sequence_set(&self, sequence: &Key, new: u64) -> UpdateBuilder {
        Update::builder()
            .table_name(&self.table)
            .set_key(Some(sequence.item()))
            .update_expression("SET #n = :new")
            .expression_attribute_names("#n", VALUE)
            .expression_attribute_values(":new", n(new))
    }

    /// The last number the sequence gave out (0: none yet).
    async fn sequence_now(&self, sequence: &Key) -> StoreResult<u64> {
        Ok(self.get(sequence).await?.map_or(0, |i| get_u64(&i, VALUE)))
    }
}

#[async_trait]
impl SequenceStore for DynamoStore {
    async fn reserve_block(
        &self,
        run: RunId,
        round: u32,
        invoices: u64,
        credit_memos: u64,
    ) -> StoreResult<NumberBlock> {
        let invoice_numbers = keys::sequence(DocumentKind::Invoice.prefix());
        let credit_memo_numbers = keys::sequence(DocumentKind::CreditMemo.prefix());
        for attempt in 0..RESERVE_ATTEMPTS {
            let mut record = self
                .get_run(run)
                .await?
                .ok_or_else(|| StoreError::Conflict(format!("run {run} does not exist")))?;
            if let Some(b) = record.number_blocks.iter().find(|b| b.round == round) {
                return Ok(b.clone());
            }
            let inv_now = self.sequence_now(&invoice_numbers).await?;
            let cm_now = self.sequence_now(&credit_memo_numbers).await?;
            let block = NumberBlock {
                round,
                first_invoice: inv_now + 1,
                invoices,
                first_credit_memo: cm_now + 1,
                credit_memos,
            };
            record.number_blocks.push(block.clone());
            record.version += 1;
            let seq = |sequence: &Key, now: u64, add: u64| -> StoreResult<TransactWriteItem> {
                let u = self
                    .sequence_set(sequence, now + add)
                    .expression_attribute_values(":old", n(now));
                let u = if now == 0 {
                    u.condition_expression("attribute_not_exists(#n) OR #n = :old")
                } else {
                    u.condition_expression("#n = :old")
                };
                Ok(TransactWriteItem::builder()
                    .update(built(u.build())?)
                    .build())
            };
            let run_put = built(
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(self.run_item(&record)?))
                    .condition_expression("ver = :v")
                    .expression_attribute_values(":v", n(record.version - 1))
                    .build(),
            )?;
            // The block is stored on the run in the same transaction that advances both
            // sequences: one reservation per (run, round), never a gap.
            let items = vec![
                seq(&invoice_numbers, inv_now, invoices)?,
                seq(&credit_memo_numbers, cm_now, credit_memos)?,
                TransactWriteItem::builder().put(run_put).build(),
            ];
            match self.transact(items).await {
                Ok(()) => return Ok(block),
                Err(e) if is_canceled(&e) => backoff(attempt).await,
                Err(e) => return Err(sdk(e)),
            }
        }
        Err(StoreError::transient(format!(
            "could not reserve numbers for run {run}"
        )))
    }
}
