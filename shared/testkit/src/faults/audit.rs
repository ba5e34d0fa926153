//! Faults of the audit trail: an entry's write can fail before it lands, time out
//! (landing or not) or fail after it landed; the projection is then run again.

use super::Faulty;
use async_trait::async_trait;
use billrun_app::model::audit::{AuditEvent, AuditFilter, AuditPosition};
use billrun_app::ports::*;

#[async_trait]
impl<T: ?Sized + AuditLog> AuditLog for Faulty<T> {
    async fn record_audit(&self, events: &[AuditEvent]) -> StoreResult<()> {
        self.plan
            .write("record_audit", self.inner.record_audit(events))
            .await
    }
    async fn audit_events(
        &self,
        filter: &AuditFilter,
        after: Option<&AuditPosition>,
        limit: usize,
    ) -> StoreResult<Vec<AuditEvent>> {
        self.plan
            .read(
                "audit_events",
                self.inner.audit_events(filter, after, limit),
            )
            .await
    }
}
