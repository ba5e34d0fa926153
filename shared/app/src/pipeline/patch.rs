//! Changing a run's request.

use super::RunPipeline;
use crate::error::AppError;
use crate::error::ConflictCode;
use crate::model::*;
use billrun_domain::error::parse_json;
use billrun_domain::ids::RunId;
use billrun_domain::request::RunRequest;
use billrun_domain::run::RunStatus;
use billrun_domain::FieldError;

impl RunPipeline {
    /// Changes fields of a run's request (a JSON merge patch over the canonical
    /// request, validated whole). While the run is Pending every field may change;
    /// after processing has started only `name` may, and a change to any other field
    /// is a Conflict naming it (`field_locked`). Returns the run as stored.
    pub async fn patch_run(&self, id: RunId, bytes: &[u8]) -> Result<RunRecord, AppError> {
        let patch: serde_json::Value = parse_json(bytes)?;
        let serde_json::Value::Object(patch) = patch else {
            return Err(AppError::Validation(FieldError::new(
                "$",
                "must be a JSON object",
            )));
        };
        let run = self.get_run(id).await?;
        let mut merged = serde_json::to_value(&run.request)
            .map_err(|e| AppError::internal(format!("encode request: {e}")))?;
        if let serde_json::Value::Object(m) = &mut merged {
            for (k, v) in patch {
                match (m.get_mut(&k), v) {
                    (Some(serde_json::Value::Object(inner)), serde_json::Value::Object(p)) => {
                        for (ik, iv) in p {
                            inner.insert(ik, iv);
                        }
                    }
                    (_, v) => {
                        m.insert(k, v);
                    }
                }
            }
        }
        let bytes = serde_json::to_vec(&merged)
            .map_err(|e| AppError::internal(format!("encode request: {e}")))?;
        let request = RunRequest::parse(&bytes)?;
        if request.scheduled_at != run.request.scheduled_at {
            self.note_scheduled_run(id, &request).await?;
        }
        let updated = self
            .modify_run(id, |r| {
                if r.request == request {
                    return Ok(false);
                }
                let changed = changed_fields(&r.request, &request)?;
                let locked = |f: &str| {
                    f == "runType" || (r.status != RunStatus::Pending && f != "name")
                };
                if let Some(field) = changed.into_iter().find(|f| locked(f)) {
                    return Err(AppError::Conflict {
                        code: ConflictCode::FieldLocked,
                        message: if field == "runType" {
                            "runType cannot change; create another run".to_string()
                        } else {
                            format!(
                                "{field} cannot change: run {} is {:?}, and fields lock once processing has started",
                                r.number, r.status
                            )
                        },
                        field: Some(field),
                    });
                }
                r.target_date = request.target();
                r.name = request
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("Invoice run {}", r.target_date));
                r.request = request.clone();
                Ok(true)
            })
            .await?;
        Ok(updated)
    }
}

/// The top-level request fields whose values differ, date fields first.
fn changed_fields(a: &RunRequest, b: &RunRequest) -> Result<Vec<String>, AppError> {
    let enc = |r: &RunRequest| {
        serde_json::to_value(r).map_err(|e| AppError::internal(format!("encode request: {e}")))
    };
    let (va, vb) = (enc(a)?, enc(b)?);
    // Dates first: they are the fields a caller most needs to hear are locked.
    let fields = RunRequest::FIELDS;
    let mut order: Vec<&str> = fields
        .into_iter()
        .filter(|f| RunRequest::is_date_field(f))
        .collect();
    order.extend(fields.into_iter().filter(|f| !RunRequest::is_date_field(f)));
    Ok(order
        .into_iter()
        .filter(|f| va.get(*f) != vb.get(*f))
        .map(str::to_string)
        .collect())
}
