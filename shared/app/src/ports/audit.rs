//! The audit trail: entries are added, never updated or deleted (no method here does).

use super::StoreResult;
use crate::model::audit::{AuditEvent, AuditFilter, AuditPosition};
use async_trait::async_trait;

/// The append-only audit trail ([`crate::model::audit`]).
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Adds each entry unless one of its id exists (that one stays as it was).
    async fn record_audit(&self, events: &[AuditEvent]) -> StoreResult<()>;
    /// The entries `filter` keeps in (time, id) order, after `after`, at most `limit`;
    /// fewer than `limit` only after the last.
    async fn audit_events(
        &self,
        filter: &AuditFilter,
        after: Option<&AuditPosition>,
        limit: usize,
    ) -> StoreResult<Vec<AuditEvent>>;
}
