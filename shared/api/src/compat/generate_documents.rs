//! Seed 001: `POST /services/data/v64.0/actions/standard/generateInvoiceDocuments`
//! creates a document generation request for each input's invoice run
//! (`invoiceBatchRunId`) and answers with the seed's action result (`requestId`,
//! `requestStatus`); errors, such as no active invoice document template, in the seed's
//! shape. One input answers the seed's single object (HTTP 400 when refused); several
//! answer an array of results, one per input in order, each succeeding or failing on
//! its own (docs/decisions.md "HTTP API").

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
use serde_json::value::RawValue;
use utoipa::ToSchema;

pub const ACTION: &str = "generateInvoiceDocuments";

/// Most inputs one call takes: Salesforce's limit for an invocable action, and a bound
/// on the document requests one HTTP call creates (they are made one after another).
pub const MAX_INPUTS: usize = 200;

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Input {
    /// The invoice run id.
    pub invoice_batch_run_id: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    /// 1 to 200 inputs, each handled on its own.
    // Kept raw so that a malformed input fails its own result, not the call.
    #[schema(value_type = Vec<Input>, min_items = 1, max_items = 200)]
    pub inputs: Vec<Box<RawValue>>,
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

/// The answer: the seed's single result for one input, an array of results (one per
/// input, in order) for several.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum ActionResponse {
    One(ActionResult),
    Many(Vec<ActionResult>),
}

impl ActionResult {
    fn accepted(request_id: String) -> ActionResult {
        ActionResult {
            action_name: ACTION.into(),
            errors: None,
            is_success: true,
            output_values: Some(OutputValues {
                request_id,
                request_status: true,
            }),
        }
    }

    fn refused(e: &ApiError) -> ActionResult {
        let message = match &e.field {
            Some(f) => format!("{f}: {}", e.message),
            None => e.message.clone(),
        };
        ActionResult {
            action_name: ACTION.into(),
            errors: Some(vec![ActionError {
                status_code: e.code.to_uppercase(),
                message,
            }]),
            is_success: false,
            output_values: None,
        }
    }
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
        (status, Json(ActionResult::refused(&e))).into_response()
    }
}

/// Generates the PDF documents of the inputs' runs (seed 001).
#[utoipa::path(post, path = "/services/data/v64.0/actions/standard/generateInvoiceDocuments", operation_id = "generateInvoiceDocuments", tag = "compatibility",
    request_body = ActionRequest,
    responses(
        (status = 200, description = "One input: its result (accepted; the documents are generated asynchronously). Several inputs: an array of results, one per input in order, each accepted or refused on its own", body = ActionResponse),
        (status = 400, description = "One input refused (invalid, unknown run, run not completed, or no active invoice document template; nothing queued), or a malformed call (`inputs` missing, empty or over 200)", body = ActionResult),
        (status = 415, description = "Not JSON", body = ActionResult),
        (status = 500, description = "Several inputs, one of which met a server error: the array of results, that input's naming the error", body = Vec<ActionResult>),
        (status = 503, description = "Several inputs, one of which met a temporary failure: the array of results, that input's naming the error", body = Vec<ActionResult>)))]
pub async fn generate(
    State(app): AppState,
    body: Result<JsonBody, ApiError>,
) -> Result<Response, ActionFailure> {
    let JsonBody(body) = body?;
    let req: ActionRequest = parse_json(&body)?;
    if req.inputs.is_empty() || req.inputs.len() > MAX_INPUTS {
        return Err(
            ApiError::invalid("inputs", format!("must hold 1 to {MAX_INPUTS} inputs")).into(),
        );
    }
    // An input that is not an input (a missing or unknown field, not an object) makes
    // the call malformed, as the schema says: a 400 naming it, nothing requested. What
    // the inputs name is judged input by input below.
    let inputs = req
        .inputs
        .iter()
        .enumerate()
        .map(|(i, raw)| parse_input(i, raw))
        .collect::<Result<Vec<Input>, ApiError>>()?;
    if let [input] = inputs.as_slice() {
        let view = request_one(&app, 0, input).await?;
        return Ok(Json(ActionResult::accepted(view)).into_response());
    }
    // Each input on its own: a refusal is that input's result and the others go on. A
    // server error is that input's result too, so the caller learns which inputs were
    // accepted, and it sets the call's status so the failure is not taken for success.
    let mut status = StatusCode::OK;
    let mut results = Vec::with_capacity(req.inputs.len());
    for (i, input) in inputs.iter().enumerate() {
        match request_one(&app, i, input).await {
            Ok(id) => results.push(ActionResult::accepted(id)),
            Err(e) => {
                if e.status.is_server_error() && !status.is_server_error() {
                    status = e.status;
                }
                results.push(ActionResult::refused(&e));
            }
        }
    }
    Ok((status, Json(ActionResponse::Many(results))).into_response())
}

/// Input `i`, read on its own so that the error names it (`inputs[i].field`).
fn parse_input(i: usize, raw: &RawValue) -> Result<Input, ApiError> {
    parse_json(raw.get().as_bytes()).map_err(|e| {
        let field = if e.field == "$" || e.field.is_empty() {
            format!("inputs[{i}]")
        } else {
            format!("inputs[{i}].{}", e.field)
        };
        ApiError::invalid(field, e.message)
    })
}

/// The document request of input `i`: its id, or why it was refused (field paths name
/// the input, `inputs[i].invoiceBatchRunId`).
async fn request_one(
    app: &std::sync::Arc<billrun_app::App>,
    i: usize,
    input: &Input,
) -> Result<String, ApiError> {
    let run: RunId = path_id(
        &format!("inputs[{i}].invoiceBatchRunId"),
        &input.invoice_batch_run_id,
        |s| {
            s.parse()
                .map_err(|_| "must be an invoice run id (a UUID)".to_string())
        },
    )?;
    let view = app.docgen().request_documents(run).await?;
    Ok(view.id.to_string())
}
