//! `POST /_synapse/admin/v1/mxmod/reload`: reloads the modules from the config file
//! (mxmod's own admin endpoint; `SIGHUP` does the same for one process). 200 with the
//! modules now running and the changed settings that need a restart; 400 with every
//! problem (and its line:column) when the config is refused, in which case nothing
//! changed. The answer is about the process serving the request. With several processes
//! on one PostgreSQL database, every other process is asked to reload too and does so
//! asynchronously, each from its own config file; `other_processes` says whether they
//! were asked (`"notified"`; `"not_notified"` with `other_processes_error` when the
//! database failed) and is absent with one process (SQLite).

use std::sync::Arc;

use axum::{extract::State, Json};
use mxmod::ErrCode;
use serde_json::{json, Map, Value};

use super::AdminAuth;
use crate::{
    http::{ApiError, ApiResult},
    reload::{OtherProcesses, ReloadOutcome},
    state::AppState,
};

/// `POST /_synapse/admin/v1/mxmod/reload`.
pub(in crate::handlers) async fn reload_modules(
    State(state): State<Arc<AppState>>,
    _admin: AdminAuth,
) -> ApiResult<Json<Value>> {
    let (outcome, others) = state.reloader.reload_everywhere(&state.modules).await;
    let others = other_processes(others);
    match answer(outcome) {
        Ok(mut answer) => {
            answer.extend(others);
            Ok(Json(answer.into()))
        }
        Err(mut error) => {
            error.0.fields.extend(others);
            Err(error)
        }
    }
}

/// The fields saying whether the other processes were asked to reload.
fn other_processes(others: OtherProcesses) -> Map<String, Value> {
    let mut fields = Map::new();
    match others {
        OtherProcesses::None => {}
        OtherProcesses::Notified => {
            fields.insert("other_processes".to_owned(), "notified".into());
        }
        OtherProcesses::NotNotified(message) => {
            fields.insert("other_processes".to_owned(), "not_notified".into());
            fields.insert("other_processes_error".to_owned(), message.into());
        }
    }
    fields
}

/// What this process's reload answers.
fn answer(outcome: ReloadOutcome) -> Result<Map<String, Value>, ApiError> {
    match outcome {
        ReloadOutcome::Reloaded { modules, restart_required } => Ok(Map::from_iter([
            ("reloaded".to_owned(), true.into()),
            ("modules".to_owned(), modules.into()),
            ("restart_required".to_owned(), restart_required.into()),
        ])),
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
