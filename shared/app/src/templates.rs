//! Document templates: stored, checked when they are put, one of them active.

use crate::error::{AppError, ConflictCode, StoreError};
use crate::model::audit::{ConfigChange, ConfigVerb, FieldChange, ResourceKind};
use crate::model::documents::DocumentTemplate;
use crate::ports::*;
use billrun_domain::error::parse_json;
use billrun_domain::ids::AccountId;
use billrun_domain::FieldError;
use serde::Deserialize;
use std::sync::Arc;

/// Longest document template content, in bytes.
pub const MAX_TEMPLATE_BYTES: usize = 1 << 20;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TemplateInput {
    name: String,
    /// The template JSON, as an object or as a string holding it.
    content: serde_json::Value,
}

/// Templates over the ports they use.
#[derive(Clone)]
pub struct Templates {
    pub templates: Arc<dyn TemplateStore>,
    /// Checks an uploaded template's content.
    pub renderer: Arc<dyn DocumentRenderer>,
    pub clock: Arc<dyn Clock>,
}

impl Templates {
    /// Creates or replaces a template (a replaced one keeps whether it is active).
    pub async fn put_template(&self, id: &str, bytes: &[u8]) -> Result<DocumentTemplate, AppError> {
        self.write_template(id, bytes, false).await
    }

    /// Creates a template, refusing an id that is taken (`template_exists`, at `id`): a
    /// form that makes a new template must not replace one by typing its id. The
    /// store's conditional write makes the refusal hold under a race.
    pub async fn create_template(
        &self,
        id: &str,
        bytes: &[u8],
    ) -> Result<DocumentTemplate, AppError> {
        self.write_template(id, bytes, true).await
    }

    async fn write_template(
        &self,
        id: &str,
        bytes: &[u8],
        create_only: bool,
    ) -> Result<DocumentTemplate, AppError> {
        AccountId::parse(id).map_err(|m| AppError::Validation(FieldError::new("id", m)))?;
        let input: TemplateInput = parse_json(bytes)?;
        if input.name.trim().is_empty() || input.name.len() > 256 {
            return Err(AppError::Validation(FieldError::new(
                "name",
                "must be a non-empty string of at most 256 bytes",
            )));
        }
        let content = match input.content {
            serde_json::Value::String(s) => s,
            v @ serde_json::Value::Object(_) => v.to_string(),
            _ => {
                return Err(AppError::Validation(FieldError::new(
                    "content",
                    "must be the template as a JSON object (or a string holding it)",
                )))
            }
        };
        if content.len() > MAX_TEMPLATE_BYTES {
            return Err(AppError::Validation(FieldError::new(
                "content",
                format!("must be at most {MAX_TEMPLATE_BYTES} bytes"),
            )));
        }
        if let Err(e) = self.renderer.template(&content) {
            let field = if e.field.is_empty() {
                "content".to_string()
            } else {
                format!("content.{}", e.field)
            };
            return Err(AppError::Validation(FieldError::new(field, e.message)));
        }
        let now = self.clock.now();
        let template = DocumentTemplate {
            id: id.to_string(),
            name: input.name,
            content,
            active: false,
            updated_at: now,
        };
        let before = self.templates.get_template(id).await?;
        let taken = || AppError::Conflict {
            code: ConflictCode::TemplateExists,
            message: format!("a document template {id} exists"),
            field: Some("id".into()),
        };
        if create_only && before.is_some() {
            return Err(taken());
        }
        let change = ConfigChange::between(
            ResourceKind::Template,
            id,
            before.as_ref().map(audited_fields).as_ref(),
            Some(&audited_fields(&template)),
        );
        let entry = change.entry(None, crate::actor::current(), now);
        if !create_only {
            return Ok(self.templates.put_template(&template, &entry).await?);
        }
        match self.templates.create_template(&template, &entry).await {
            Err(StoreError::Conflict(_)) => Err(taken()),
            other => Ok(other?),
        }
    }

    /// A page of templates in id order, after `after`, at most `limit`.
    pub async fn list_templates(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DocumentTemplate>, AppError> {
        Ok(self.templates.list_templates(after, limit).await?)
    }

    pub async fn get_template(&self, id: &str) -> Result<DocumentTemplate, AppError> {
        self.templates
            .get_template(id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("document template {id}")))
    }

    /// The template's rendering of the fixed sample invoice ([`RenderTemplate::sample`]):
    /// what its documents will look like, shown before it is activated.
    pub async fn sample(&self, id: &str) -> Result<Vec<u8>, AppError> {
        let t = self.get_template(id).await?;
        if !self.renderer.renders() {
            return Err(AppError::conflict(
                ConflictCode::RenderingNotBuilt,
                "this deployment's API renders no PDFs (only document generation links the PDF writer): see the sample under billrun-local serve",
            ));
        }
        // A stored template was checked when it was put; one the renderer no longer
        // reads (or a composition that renders nothing) is a fault of this build.
        let template = self
            .renderer
            .template(&t.content)
            .map_err(|e| AppError::internal(format!("template {id} is not readable: {e}")))?;
        template
            .sample()
            .map_err(|e| AppError::internal(format!("sample of template {id}: {e}")))
    }

    pub async fn activate_template(&self, id: &str) -> Result<DocumentTemplate, AppError> {
        let before = self.templates.active_template().await?.map(|t| t.id);
        let entry = ConfigChange {
            kind: ResourceKind::Template,
            id: id.to_string(),
            verb: ConfigVerb::Activated,
            changes: vec![FieldChange {
                field: "activeTemplate".into(),
                before,
                after: Some(id.to_string()),
            }],
        }
        .entry(None, crate::actor::current(), self.clock.now());
        self.templates
            .activate_template(id, &entry)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("document template {id}")))
    }
}

/// What a template's audit entry compares: what a caller puts (a long content is
/// recorded by its digest).
fn audited_fields(t: &DocumentTemplate) -> serde_json::Value {
    serde_json::json!({ "name": t.name, "content": t.content })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{MemoryStore, NoRenderer};
    use crate::model::audit::ConfigChange;

    #[tokio::test]
    async fn a_build_that_renders_nothing_refuses_a_sample_with_its_own_code() {
        let store = Arc::new(MemoryStore::new());
        let t = DocumentTemplate {
            id: "T-1".into(),
            name: "T".into(),
            content: "{}".into(),
            active: false,
            updated_at: chrono::Utc::now(),
        };
        let entry = ConfigChange {
            kind: ResourceKind::Template,
            id: "T-1".into(),
            verb: ConfigVerb::Created,
            changes: Vec::new(),
        }
        .entry(None, None, chrono::Utc::now());
        store.put_template(&t, &entry).await.unwrap();
        let templates = Templates {
            templates: store,
            renderer: Arc::new(NoRenderer),
            clock: Arc::new(SystemClock),
        };
        match templates.sample("T-1").await {
            Err(AppError::Conflict { code, .. }) => {
                assert_eq!(code, ConflictCode::RenderingNotBuilt)
            }
            other => panic!("expected rendering_not_built, got {other:?}"),
        }
        match templates.sample("T-9").await {
            Err(AppError::NotFound(_)) => {}
            other => panic!("an unknown template is not found, got {other:?}"),
        }
    }
}
