//! Document templates in memory.

use super::MemoryStore;
use crate::error::StoreError;
use crate::model::audit::AuditEvent;
use crate::model::documents::*;
use crate::ports::*;
use async_trait::async_trait;

#[async_trait]
impl TemplateStore for MemoryStore {
    async fn put_template(
        &self,
        template: &DocumentTemplate,
        audit: &AuditEvent,
    ) -> StoreResult<DocumentTemplate> {
        let mut g = self.inner.lock();
        let mut t = template.clone();
        t.active = g.active_template.as_deref() == Some(t.id.as_str());
        g.templates.insert(t.id.clone(), t.clone());
        super::audit::record(&mut g, audit.clone());
        Ok(t)
    }

    async fn create_template(
        &self,
        template: &DocumentTemplate,
        audit: &AuditEvent,
    ) -> StoreResult<DocumentTemplate> {
        let mut g = self.inner.lock();
        if g.templates.contains_key(&template.id) {
            return Err(StoreError::Conflict(format!(
                "document template {} exists",
                template.id
            )));
        }
        let mut t = template.clone();
        t.active = false;
        g.templates.insert(t.id.clone(), t.clone());
        super::audit::record(&mut g, audit.clone());
        Ok(t)
    }

    async fn get_template(&self, id: &str) -> StoreResult<Option<DocumentTemplate>> {
        let g = self.inner.lock();
        Ok(g.templates.get(id).cloned().map(|mut t| {
            t.active = g.active_template.as_deref() == Some(id);
            t
        }))
    }

    async fn activate_template(
        &self,
        id: &str,
        audit: &AuditEvent,
    ) -> StoreResult<Option<DocumentTemplate>> {
        let mut g = self.inner.lock();
        let Some(mut t) = g.templates.get(id).cloned() else {
            return Ok(None);
        };
        g.active_template = Some(id.to_string());
        super::audit::record(&mut g, audit.clone());
        t.active = true;
        Ok(Some(t))
    }

    async fn active_template(&self) -> StoreResult<Option<DocumentTemplate>> {
        let g = self.inner.lock();
        Ok(g.active_template
            .as_ref()
            .and_then(|id| g.templates.get(id))
            .cloned()
            .map(|mut t| {
                t.active = true;
                t
            }))
    }

    async fn list_templates(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<DocumentTemplate>> {
        let g = self.inner.lock();
        Ok(super::page_after(&g.templates, after, limit)
            .cloned()
            .map(|mut t| {
                t.active = g.active_template.as_deref() == Some(t.id.as_str());
                t
            })
            .collect())
    }
}
