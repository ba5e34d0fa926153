//! Document templates: stored, checked when they are put, one of them active; each
//! with its sample PDF, rendered by the documents worker from the template's current
//! content ([`Message::TemplateSample`]) and stored under a key naming that content
//! ([`template_sample_key`]), so that the API serves it without linking the PDF writer.

use crate::error::{AppError, ConflictCode, StoreError};
use crate::model::audit::{ConfigChange, ConfigVerb, FieldChange, ResourceKind};
use crate::model::documents::{template_digest, template_sample_key, DocumentTemplate};
use crate::model::Message;
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
    /// Checks an uploaded template's content; renders its sample (the documents worker).
    pub renderer: Arc<dyn DocumentRenderer>,
    /// Where samples are stored.
    pub blobs: Arc<dyn BlobStore>,
    /// Where a sample's rendering is queued (the documents queue).
    pub queue: Arc<dyn WorkQueue>,
    pub clock: Arc<dyn Clock>,
}

/// What `POST /v1/document-templates/{id}/sample` queued.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SampleRequested {
    pub template_id: String,
    /// The [`template_digest`] of the content the sample is rendered from.
    pub digest: String,
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
        let stored = if create_only {
            match self.templates.create_template(&template, &entry).await {
                Err(StoreError::Conflict(_)) => return Err(taken()),
                other => other?,
            }
        } else {
            self.templates.put_template(&template, &entry).await?
        };
        // The template is stored whatever the queue says: a sample that was not queued
        // stays pending until `POST .../sample` asks for it again.
        if let Err(e) = self.queue_sample(&stored).await {
            tracing::warn!(template_id = %id, error = %e, "the sample of a put template was not queued");
        }
        Ok(stored)
    }

    /// Queues the rendering of the sample of the template's current content
    /// (`POST /v1/document-templates/{id}/sample`): for a template put before samples were
    /// rendered by the worker, or one whose queueing failed. Idempotent: the rendering of
    /// the same content stores the same bytes under the same key, once.
    pub async fn request_sample(&self, id: &str) -> Result<SampleRequested, AppError> {
        let t = self.get_template(id).await?;
        Ok(self.queue_sample(&t).await?)
    }

    async fn queue_sample(
        &self,
        t: &DocumentTemplate,
    ) -> Result<SampleRequested, crate::error::StoreError> {
        let digest = template_digest(&t.content);
        self.queue
            .send(vec![Message::TemplateSample {
                template_id: t.id.clone(),
                digest: digest.clone(),
            }])
            .await?;
        Ok(SampleRequested {
            template_id: t.id.clone(),
            digest,
        })
    }

    /// Renders and stores the sample of template `id` as its content with `digest` reads
    /// (the worker of [`Message::TemplateSample`]). A message whose content has since been
    /// replaced renders nothing: the put that replaced it queued its own. A sample already
    /// stored is left as it is (the same content renders the same bytes), so a message
    /// delivered twice, or again after a worker stored the sample and stopped before
    /// acknowledging it, stores one object.
    pub async fn render_sample(&self, id: &str, digest: &str) -> Result<(), AppError> {
        let Some(t) = self.templates.get_template(id).await? else {
            tracing::warn!(template_id = %id, "the sample of an unknown template: nothing to render");
            return Ok(());
        };
        if template_digest(&t.content) != digest {
            tracing::info!(template_id = %id, "the sample of replaced content: nothing to render");
            return Ok(());
        }
        if !self.renderer.renders() {
            return Err(AppError::internal(
                "this composition renders no PDFs: template samples are rendered by the documents worker",
            ));
        }
        // A stored template was checked when it was put; one the renderer no longer
        // reads is a fault of this build.
        let template = self
            .renderer
            .template(&t.content)
            .map_err(|e| AppError::internal(format!("template {id} is not readable: {e}")))?;
        let pdf = template
            .sample()
            .map_err(|e| AppError::internal(format!("sample of template {id}: {e}")))?;
        self.blobs
            .put_blob(&template_sample_key(id, digest), pdf, "application/pdf")
            .await?;
        Ok(())
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
    /// what its documents will look like, shown before it is activated. Read from the
    /// sample stored for the template's current content; until the documents worker has
    /// rendered it, 409 `sample_pending`.
    pub async fn sample(&self, id: &str) -> Result<Vec<u8>, AppError> {
        let t = self.get_template(id).await?;
        let key = template_sample_key(id, &template_digest(&t.content));
        self.blobs.get_blob(&key).await?.ok_or_else(|| {
            AppError::conflict(
                ConflictCode::SamplePending,
                format!("the sample of template {id}'s current content is not rendered yet: it was queued when the template was put (POST /v1/document-templates/{id}/sample queues it again)"),
            )
        })
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
    use crate::memory::{MemoryBlobs, MemoryQueue, MemoryStore, Receive};

    fn templates(
        renderer: Arc<dyn DocumentRenderer>,
    ) -> (Templates, Arc<MemoryBlobs>, Arc<MemoryQueue>) {
        let blobs = Arc::new(MemoryBlobs::default());
        let queue = Arc::new(MemoryQueue::new());
        let t = Templates {
            templates: Arc::new(MemoryStore::new()),
            renderer,
            blobs: blobs.clone(),
            queue: queue.clone(),
            clock: Arc::new(SystemClock),
        };
        (t, blobs, queue)
    }

    /// The messages queued, acknowledged.
    fn drain(queue: &MemoryQueue) -> Vec<Message> {
        let mut out = Vec::new();
        while let Receive::Delivery(d) = queue.try_receive() {
            queue.ack();
            out.push(d.message);
        }
        out
    }

    fn body(company: &str) -> Vec<u8> {
        serde_json::json!({"name": "T", "content": {"companyName": company}})
            .to_string()
            .into_bytes()
    }

    #[tokio::test]
    async fn a_put_queues_the_sample_of_its_content_which_is_pending_until_rendered_and_then_served(
    ) {
        let (t, blobs, queue) = templates(Arc::new(stub_renderer::Renders(true)));
        t.put_template("T-1", &body("Acme")).await.unwrap();
        match t.sample("T-1").await {
            Err(AppError::Conflict { code, .. }) => assert_eq!(code, ConflictCode::SamplePending),
            other => panic!("expected sample_pending, got {other:?}"),
        }
        let messages = drain(&queue);
        let digest = template_digest(&t.get_template("T-1").await.unwrap().content);
        assert_eq!(
            messages,
            vec![Message::TemplateSample {
                template_id: "T-1".into(),
                digest: digest.clone()
            }]
        );
        // Delivered twice (or again after the worker stored it and stopped before its
        // acknowledgement): one object, the same bytes.
        t.render_sample("T-1", &digest).await.unwrap();
        t.render_sample("T-1", &digest).await.unwrap();
        assert_eq!(blobs.keys(), vec![template_sample_key("T-1", &digest)]);
        assert_eq!(t.sample("T-1").await.unwrap(), b"sample of Acme".to_vec());
    }

    #[tokio::test]
    async fn new_content_is_pending_until_its_own_sample_and_a_message_of_replaced_content_renders_nothing(
    ) {
        let (t, blobs, queue) = templates(Arc::new(stub_renderer::Renders(true)));
        t.put_template("T-1", &body("Old")).await.unwrap();
        let Some(Message::TemplateSample { digest: old, .. }) = drain(&queue).pop() else {
            panic!("a put queues its sample")
        };
        t.render_sample("T-1", &old).await.unwrap();
        t.put_template("T-1", &body("New")).await.unwrap();
        let Some(Message::TemplateSample { digest: new, .. }) = drain(&queue).pop() else {
            panic!("a put queues its sample")
        };
        assert_ne!(old, new);
        match t.sample("T-1").await {
            Err(AppError::Conflict { code, .. }) => assert_eq!(code, ConflictCode::SamplePending),
            other => panic!("the old content's sample is not the new one's: {other:?}"),
        }
        // The first put's message delivered late: nothing rendered from the new content
        // under the old key, nothing under the new one.
        t.render_sample("T-1", &old).await.unwrap();
        assert_eq!(blobs.keys().len(), 1);
        t.render_sample("T-1", &new).await.unwrap();
        assert_eq!(t.sample("T-1").await.unwrap(), b"sample of New".to_vec());
    }

    #[tokio::test]
    async fn a_sample_is_requested_again_for_a_known_template_only_and_a_composition_without_the_writer_renders_none(
    ) {
        let (t, _, queue) = templates(Arc::new(stub_renderer::Renders(false)));
        t.put_template("T-1", &body("Acme")).await.unwrap();
        drain(&queue);
        let requested = t.request_sample("T-1").await.unwrap();
        assert_eq!(
            drain(&queue),
            vec![Message::TemplateSample {
                template_id: "T-1".into(),
                digest: requested.digest.clone()
            }]
        );
        assert!(matches!(
            t.request_sample("T-9").await,
            Err(AppError::NotFound(_))
        ));
        assert!(matches!(t.sample("T-9").await, Err(AppError::NotFound(_))));
        assert!(matches!(
            t.render_sample("T-1", &requested.digest).await,
            Err(AppError::Internal(_))
        ));
    }

    /// A renderer whose sample names the template's company (the PDF writer is not a
    /// dependency of this crate), or that says it writes no files.
    mod stub_renderer {
        use crate::ports::*;

        /// Whether it writes files.
        pub struct Renders(pub bool);
        struct Company(String);

        impl DocumentRenderer for Renders {
            fn template(&self, content: &str) -> Result<Box<dyn RenderTemplate>, TemplateRejected> {
                let v: serde_json::Value =
                    serde_json::from_str(content).map_err(|e| TemplateRejected {
                        field: String::new(),
                        message: e.to_string(),
                    })?;
                Ok(Box::new(Company(
                    v["companyName"].as_str().unwrap_or_default().into(),
                )))
            }
            fn renders(&self) -> bool {
                self.0
            }
        }

        impl RenderTemplate for Company {
            fn render(
                &self,
                _: &billrun_domain::document::Document,
                _: &billrun_domain::book::Account,
                _: &RenderContext,
            ) -> Result<Vec<u8>, RenderFailed> {
                Err(RenderFailed("not in this test".into()))
            }
            fn email(
                &self,
                _: &billrun_domain::document::Document,
                _: &billrun_domain::book::Account,
            ) -> Result<EmailContent, RenderFailed> {
                Err(RenderFailed("not in this test".into()))
            }
            fn sample(&self) -> Result<Vec<u8>, RenderFailed> {
                Ok(format!("sample of {}", self.0).into_bytes())
            }
        }
    }
}
