//! Seed 001: `POST /services/data/v64.0/actions/standard/generateInvoiceDocuments`
//! creates a document generation request for an invoice run (`invoiceBatchRunId`) and
//! answers with the seed's action result (`requestId`, `requestStatus`); errors, such
//! as no active invoice document template, in the seed's shape with HTTP 400.

use crate::error::ApiError;
use crate::extract::{path_id, JsonBody};
use crate::v1::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use billrun_domain::error::parse_json;
use billrun_domain::ids::RunId;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub const ACTION: &str = "generateInvoiceDocuments";

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Input {
    /// The invoice run id.
    pub invoice_batch_run_id: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    /// Exactly one input.
    pub inputs: Vec<Input>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutputValues {
    /// The canonical document request id (`GET /v1/document-requests/{id}`).
    pub request_id: String,
    pub request_status: bool,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActionError {
    /// The canonical error code in upper case (`NO_ACTIVE_TEMPLATE`, `NOT_FOUND`,
    /// `VALIDATION_FAILED`...).
    pub status_code: String,
    pub message: String,
}

/// The action result of seed 001.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActionResult {
    pub action_name: String,
    pub errors: Option<Vec<ActionError>>,
    pub is_success: bool,
    pub output_values: Option<OutputValues>,
}

/// An [`ApiError`] in the shape of seed 001, HTTP 400 for every refusal (5xx stay).
#[derive(Debug)]
pub struct ActionFailure(pub ApiError);

impl<E: Into<ApiError>> From<E> for ActionFailure {
    fn from(e: E) -> Self {
        ActionFailure(e.into())
    }
}

impl IntoResponse for ActionFailure {
    fn into_response(self) -> Response {
        let e = self.0;
        let status = if e.status.is_client_error() {
            StatusCode::BAD_REQUEST
        } else {
            e.status
        };
        let message = match &e.field {
            Some(f) => format!("{f}: {}", e.message),
            None => e.message.clone(),
        };
        let body = ActionResult {
            action_name: ACTION.into(),
            errors: Some(vec![ActionError {
                status_code: e.code.to_uppercase(),
                message,
            }]),
            is_success: false,
            output_values: None,
        };
        (status, Json(body)).into_response()
    }
}

/// Generates the PDF documents of a run (seed 001).
#[utoipa::path(post, path = "/services/data/v64.0/actions/standard/generateInvoiceDocuments", operation_id = "generateInvoiceDocuments", tag = "compatibility",
    request_body = ActionRequest,
    responses(
        (status = 200, description = "Accepted; the documents are generated asynchronously", body = ActionResult),
        (status = 400, description = "Invalid, unknown run, run not completed, or no active invoice document template (nothing queued)", body = ActionResult),
        (status = 415, description = "Not JSON", body = ActionResult)))]
pub async fn generate(
    State(app): AppState,
    body: Result<JsonBody, ApiError>,
) -> Result<Response, ActionFailure> {
    let JsonBody(body) = body?;
    let req: ActionRequest = parse_json(&body)?;
    let [input] = req.inputs.as_slice() else {
        return Err(ApiError::invalid("inputs", "must hold exactly one input").into());
    };
    let run: RunId = path_id(
        "inputs[0].invoiceBatchRunId",
        &input.invoice_batch_run_id,
        |s| {
            s.parse()
                .map_err(|_| "must be an invoice run id (a UUID)".to_string())
        },
    )?;
    let view = app.docgen().request_documents(run).await?;
    Ok(Json(ActionResult {
        action_name: ACTION.into(),
        errors: None,
        is_success: true,
        output_values: Some(OutputValues {
            request_id: view.id.to_string(),
            request_status: true,
        }),
    })
    .into_response())
}
