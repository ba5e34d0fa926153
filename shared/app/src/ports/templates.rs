//! Document templates.

use super::StoreResult;
use crate::model::audit::AuditEvent;
use crate::model::documents::DocumentTemplate;
use async_trait::async_trait;

/// Templates; each change writes its audit entry in the same write.
#[async_trait]
pub trait TemplateStore: Send + Sync {
    /// Upserts a template, keeping whether it is the active one.
    async fn put_template(
        &self,
        template: &DocumentTemplate,
        audit: &AuditEvent,
    ) -> StoreResult<DocumentTemplate>;
    /// Stores a new template; `Conflict`, nothing written, when one with its id exists
    /// (checked in the write itself, so that of two racing creates one wins).
    async fn create_template(
        &self,
        template: &DocumentTemplate,
        audit: &AuditEvent,
    ) -> StoreResult<DocumentTemplate>;
    async fn get_template(&self, id: &str) -> StoreResult<Option<DocumentTemplate>>;
    /// Makes the template the one active template; `None`, nothing written, when it
    /// does not exist.
    async fn activate_template(
        &self,
        id: &str,
        audit: &AuditEvent,
    ) -> StoreResult<Option<DocumentTemplate>>;
    async fn active_template(&self) -> StoreResult<Option<DocumentTemplate>>;
    /// Templates in byte-wise id order after `after`, at most `limit`, each with whether
    /// it is the active one.
    async fn list_templates(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<DocumentTemplate>>;
}
