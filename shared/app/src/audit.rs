//! AuditTrail: reads the audit trail ([`crate::model::audit`]). Entries are written by
//! the stores with the document changes they record and by the dispatcher from run
//! events; nothing here writes one.

use crate::error::AppError;
use crate::model::audit::{AuditEvent, AuditFilter, AuditPosition, DEFAULT_LOOKBACK};
use crate::ports::{AuditLog, Clock};
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// Reads the audit trail.
#[derive(Clone)]
pub struct AuditTrail {
    pub log: Arc<dyn AuditLog>,
    pub clock: Arc<dyn Clock>,
}

impl AuditTrail {
    /// The entries about `resource` (a run: its documents' too; a document; a
    /// configuration item) and by `actor` made at
    /// or after `since` ([`DEFAULT_LOOKBACK`] before now when none is given), in time
    /// order, after `after`, at most `limit`.
    pub async fn list(
        &self,
        resource: Option<String>,
        actor: Option<String>,
        since: Option<DateTime<Utc>>,
        after: Option<&AuditPosition>,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, AppError> {
        let filter = AuditFilter {
            resource,
            actor,
            since: since.unwrap_or_else(|| self.clock.now() - DEFAULT_LOOKBACK),
        };
        Ok(self.log.audit_events(&filter, after, limit).await?)
    }
}
