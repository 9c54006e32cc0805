//! `POST /_synapse/admin/v1/mxmod/reload`: reloads the modules from the config file
//! (mxmod's own admin endpoint; `SIGHUP` does the same). 200 with the modules now
//! running and the changed settings that need a restart; 400 with every problem (and
//! its line:column) when the config is refused, in which case nothing changed.

use std::sync::Arc;

use axum::{extract::State, Json};
use mxmod::ErrCode;
use serde_json::{json, Value};

use super::AdminAuth;
use crate::{
    http::{ApiError, ApiResult},
    reload::ReloadOutcome,
    state::AppState,
};

/// `POST /_synapse/admin/v1/mxmod/reload`.
pub(in crate::handlers) async fn reload_modules(
    State(state): State<Arc<AppState>>,
    _admin: AdminAuth,
) -> ApiResult<Json<Value>> {
    match state.reloader.reload(&state.modules).await {
        ReloadOutcome::Reloaded { modules, restart_required } => {
            Ok(Json(json!({ "reloaded": true, "modules": modules, "restart_required": restart_required })))
        }
        ReloadOutcome::BadConfig(problems) => {
            let listed: Vec<Value> = problems
                .problems
                .iter()
                .map(|problem| {
                    json!({
                        "path": problem.path, "line": problem.line, "column": problem.column,
                        "message": problem.message, "text": format!("{}:{problem}", problems.file),
                    })
                })
                .collect();
            let mut error =
                ApiError::new(400, ErrCode::INVALID_PARAM, "The configuration has problems; the modules are unchanged");
            error.0.fields.insert("problems".to_owned(), listed.into());
            Err(error)
        }
        ReloadOutcome::ModulesFailed(message) => Err(ApiError::new(
            400,
            ErrCode::UNKNOWN,
            format!("A module failed to start; the modules are unchanged: {message}"),
        )),
        ReloadOutcome::NoFile => Err(ApiError::new(
            400,
            ErrCode::UNKNOWN,
            "The server runs on the embedded default config: there is no file to reload",
        )),
    }
}
