//! `DELETE /_synapse/admin/v2/rooms/{room_id}`: Synapse's asynchronous room shutdown.
//! The request is checked (`check_can_shutdown_room` with the admin; 403 when a module
//! refuses) and answered with a `delete_id` at once; a background task then blocks the
//! room (`block`), makes every local member leave (as themself, as Synapse does),
//! removes the room's aliases and directory entry, and with `purge` (the default)
//! deletes the room from the database. Progress is read at
//! `GET /_synapse/admin/v2/rooms/delete_status/{delete_id}` and
//! `GET /_synapse/admin/v2/rooms/{room_id}/delete_status`.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use axum::{extract::State, Json};
use mxmod::{
    types::{JsonObject, Membership, OwnedRoomId, OwnedUserId, RoomId},
    ErrCode,
};
use rand::distr::{Alphanumeric, SampleString};
use serde_json::{json, Value};

use super::AdminAuth;
use crate::{
    http::{ApiError, ApiResult, MPath, OptionalJsonBody},
    rooms::{self, Actor},
    state::AppState,
};

/// How long a finished deletion's status is kept (Synapse keeps it a day).
const KEEP_FINISHED: Duration = Duration::from_secs(24 * 60 * 60);

/// At most this many deletions are remembered; the oldest finished ones go first.
const MAX_REMEMBERED: usize = 1000;

/// Where a deletion stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Scheduled,
    Active,
    Complete,
    Failed,
}

impl Phase {
    fn as_str(self) -> &'static str {
        match self {
            Phase::Scheduled => "scheduled",
            Phase::Active => "active",
            Phase::Complete => "complete",
            Phase::Failed => "failed",
        }
    }

    fn finished(self) -> bool {
        matches!(self, Phase::Complete | Phase::Failed)
    }
}

/// One deletion and what it did so far.
#[derive(Clone, Debug)]
struct Deletion {
    room_id: OwnedRoomId,
    phase: Phase,
    started: Instant,
    kicked_users: Vec<OwnedUserId>,
    failed_to_kick_users: Vec<OwnedUserId>,
    local_aliases: Vec<String>,
    error: Option<String>,
}

impl Deletion {
    fn status(&self, delete_id: &str) -> Value {
        let mut status = json!({
            "delete_id": delete_id,
            "status": self.phase.as_str(),
            "shutdown_room": {
                "kicked_users": self.kicked_users,
                "failed_to_kick_users": self.failed_to_kick_users,
                "local_aliases": self.local_aliases,
                "new_room_id": null,
            },
        });
        if let Some(error) = &self.error {
            status["error"] = error.clone().into();
        }
        status
    }
}

/// The deletions of this process, by `delete_id`.
#[derive(Default)]
pub(crate) struct DeleteTasks {
    tasks: Mutex<HashMap<String, Deletion>>,
}

impl DeleteTasks {
    /// Registers a deletion of `room_id`; refused while another one of it runs.
    fn start(&self, room_id: &RoomId) -> ApiResult<String> {
        let mut tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        tasks.retain(|_, task| !(task.phase.finished() && task.started.elapsed() > KEEP_FINISHED));
        if tasks.values().any(|task| task.room_id == room_id && !task.phase.finished()) {
            return Err(ApiError::new(
                400,
                ErrCode::UNKNOWN,
                format!("History purge already in progress for {room_id}"),
            ));
        }
        if tasks.len() >= MAX_REMEMBERED {
            let oldest = tasks
                .iter()
                .filter(|(_, task)| task.phase.finished())
                .min_by_key(|(_, task)| task.started)
                .map(|(id, _)| id.clone());
            match oldest {
                Some(id) => tasks.remove(&id),
                None => return Err(ApiError::new(429, ErrCode::LIMIT_EXCEEDED, "Too many room deletions running")),
            };
        }
        let delete_id = Alphanumeric.sample_string(&mut rand::rng(), 16);
        let deletion = Deletion {
            room_id: room_id.to_owned(),
            phase: Phase::Scheduled,
            started: Instant::now(),
            kicked_users: Vec::new(),
            failed_to_kick_users: Vec::new(),
            local_aliases: Vec::new(),
            error: None,
        };
        tasks.insert(delete_id.clone(), deletion);
        Ok(delete_id)
    }

    fn update(&self, delete_id: &str, change: impl FnOnce(&mut Deletion)) {
        if let Some(task) = self.tasks.lock().unwrap_or_else(PoisonError::into_inner).get_mut(delete_id) {
            change(task);
        }
    }

    fn status(&self, delete_id: &str) -> Option<Value> {
        self.tasks.lock().unwrap_or_else(PoisonError::into_inner).get(delete_id).map(|task| task.status(delete_id))
    }

    fn of_room(&self, room_id: &RoomId) -> Vec<Value> {
        let tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        let mut found: Vec<(&String, &Deletion)> = tasks.iter().filter(|(_, task)| task.room_id == room_id).collect();
        found.sort_by_key(|(_, task)| task.started);
        found.into_iter().map(|(id, task)| task.status(id)).collect()
    }
}

/// An optional boolean of the body.
fn flag(body: &JsonObject, name: &str, default: bool) -> ApiResult<bool> {
    match body.get(name) {
        None => Ok(default),
        Some(Value::Bool(value)) => Ok(*value),
        Some(_) => Err(ApiError::bad_json(format!("Param '{name}' must be a boolean, if given"))),
    }
}

fn room_id(text: &str) -> ApiResult<OwnedRoomId> {
    RoomId::parse(text).map_err(|_| ApiError::invalid_param(format!("{text} is not a legal room ID")))
}

/// `DELETE /_synapse/admin/v2/rooms/{room_id}` with Synapse's body (`block`, `purge`,
/// `force_purge`, `message`, `room_name`). Moving the members to a new room
/// (`new_room_user_id`) is not offered: such a request is refused.
pub(in crate::handlers) async fn delete_room(
    State(state): State<Arc<AppState>>,
    AdminAuth(admin): AdminAuth,
    MPath(room): MPath<String>,
    OptionalJsonBody(body): OptionalJsonBody<JsonObject>,
) -> ApiResult<Json<Value>> {
    let room_id = room_id(&room)?;
    if body.get("new_room_user_id").is_some_and(|user| !user.is_null()) {
        return Err(ApiError::invalid_param("`new_room_user_id` (moving members to a new room) is not supported"));
    }
    let block = flag(&body, "block", false)?;
    let purge = flag(&body, "purge", true)?;
    flag(&body, "force_purge", false)?;
    let rules = &state.modules.callbacks().third_party_rules;
    rules.check_can_shutdown_room(Some(&admin.user_id), &room_id).await?;
    let delete_id = state.deletions.start(&room_id)?;
    let task_state = state.clone();
    let task_id = delete_id.clone();
    tokio::spawn(async move {
        let deletions = &task_state.deletions;
        deletions.update(&task_id, |task| task.phase = Phase::Active);
        let outcome = shut_down(&task_state, &task_id, &admin.user_id, &room_id, block, purge).await;
        deletions.update(&task_id, |task| match outcome {
            Ok(()) => task.phase = Phase::Complete,
            Err(error) => {
                tracing::warn!("deleting room {}: {:?}", task.room_id, error.0);
                task.phase = Phase::Failed;
                task.error = Some(error.0.error);
            }
        });
    });
    Ok(Json(json!({ "delete_id": delete_id })))
}

/// The shutdown itself, recording progress under `delete_id`.
async fn shut_down(
    state: &Arc<AppState>,
    delete_id: &str,
    admin: &OwnedUserId,
    room_id: &RoomId,
    block: bool,
    purge: bool,
) -> ApiResult<()> {
    if block {
        state.storage.set_room_blocked(room_id, Some(admin)).await?;
    }
    let members: Vec<OwnedUserId> = match state.storage.current_state(room_id).await? {
        Some(room_state) => room_state
            .iter()
            .filter(|(_, event)| matches!(event.membership(), Some(Membership::Join | Membership::Invite)))
            .filter_map(|((_, key), _)| mxmod::types::UserId::parse(key.as_str()).ok())
            .filter(|user| user.server_name() == state.settings.server_name)
            .collect(),
        None => Vec::new(),
    };
    for member in members {
        let Some(user) = state.storage.user(&member).await? else { continue };
        let actor = Actor { user_id: member.clone(), device_id: None, shadow_banned: false, is_admin: user.is_admin };
        let left = rooms::update_membership(state, &actor, &member, room_id, "leave", JsonObject::new()).await;
        state.deletions.update(delete_id, |task| match left {
            Ok(_) => task.kicked_users.push(member),
            Err(_) => task.failed_to_kick_users.push(member),
        });
    }
    let aliases = state.storage.room_aliases(room_id).await?;
    for alias in &aliases {
        state.storage.delete_alias(alias).await?;
    }
    state.deletions.update(delete_id, |task| task.local_aliases = aliases);
    if state.storage.room_exists(room_id).await? {
        state.storage.set_room_public(room_id, false).await?;
    }
    if purge {
        state.storage.purge_room(room_id).await?;
    }
    Ok(())
}

/// `GET /_synapse/admin/v2/rooms/delete_status/{delete_id}`.
pub(in crate::handlers) async fn delete_status(
    State(state): State<Arc<AppState>>,
    _admin: AdminAuth,
    MPath(delete_id): MPath<String>,
) -> ApiResult<Json<Value>> {
    let mut status = state
        .deletions
        .status(&delete_id)
        .ok_or_else(|| ApiError::not_found(format!("delete id '{delete_id}' not found")))?;
    if let Value::Object(fields) = &mut status {
        fields.remove("delete_id");
    }
    Ok(Json(status))
}

/// `GET /_synapse/admin/v2/rooms/{room_id}/delete_status`.
pub(in crate::handlers) async fn room_delete_status(
    State(state): State<Arc<AppState>>,
    _admin: AdminAuth,
    MPath(room): MPath<String>,
) -> ApiResult<Json<Value>> {
    let room_id = room_id(&room)?;
    let results = state.deletions.of_room(&room_id);
    if results.is_empty() {
        return Err(ApiError::not_found(format!("No delete task for room_id '{room_id}' found")));
    }
    Ok(Json(json!({ "results": results })))
}
