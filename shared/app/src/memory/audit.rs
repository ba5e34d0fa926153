//! The audit trail in memory.

use super::{Inner, MemoryStore};
use crate::model::audit::{AuditEvent, AuditFilter, AuditPosition};
use crate::ports::{AuditLog, StoreResult};
use async_trait::async_trait;

/// Adds `event` unless one of its id is there (under the caller's lock, so that a
/// document's change and its entry are one write).
pub(super) fn record(g: &mut Inner, event: AuditEvent) {
    if g.audit_ids.insert(event.id) {
        g.audit.insert(event.position(), event);
    }
}

#[async_trait]
impl AuditLog for MemoryStore {
    async fn record_audit(&self, events: &[AuditEvent]) -> StoreResult<()> {
        let mut g = self.inner.lock();
        for e in events {
            record(&mut g, e.clone());
        }
        Ok(())
    }

    async fn audit_events(
        &self,
        filter: &AuditFilter,
        after: Option<&AuditPosition>,
        limit: usize,
    ) -> StoreResult<Vec<AuditEvent>> {
        use std::ops::Bound;
        let g = self.inner.lock();
        let from = match after {
            Some(p) => Bound::Excluded(p.clone()),
            None => Bound::Unbounded,
        };
        Ok(g.audit
            .range((from, Bound::Unbounded))
            .map(|(_, e)| e)
            .filter(|e| filter.keeps(e))
            .take(limit)
            .cloned()
            .collect())
    }
}
