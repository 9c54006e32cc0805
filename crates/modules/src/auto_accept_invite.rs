//! `auto_accept_invite`: a port of synapse-auto-accept-invite. Local users join the rooms
//! they are invited to without doing anything.
//!
//! # Callbacks
//!
//! * `on_new_event` (third-party rules): when a stored event is an invite
//!   (`m.room.member` state event with `membership: invite`) whose invitee is a local
//!   user, and the options below allow it, the invitee joins the room
//!   (`update_room_membership(invitee, invitee, room, "join")`). The join runs in the
//!   background, as in Synapse, and is retried when it fails: up to 5 attempts, waiting
//!   1, 2, 4 and 8 seconds between them. If the invite has a truthy `is_direct`, the
//!   room is also added to the invitee's `m.direct` account data under the inviter
//!   (existing entries are kept; an entry that is not a list is left alone).
//!
//! No paths are served.
//!
//! # Config
//!
//! ```yaml
//! modules:
//!   - module: auto_accept_invite
//!     config:
//!       # Accept only invites to direct messages (`is_direct: true`). Default: false.
//!       accept_invites_only_for_direct_messages: false
//!       # Accept only invites sent by local users. Default: false.
//!       accept_invites_only_from_local_users: false
//! ```
//!
//! The original's `worker_to_run_on` picks the Synapse worker that accepts invites;
//! mxmod is a single process, so only `null` (the default) is accepted.

use std::time::Duration;

use mxmod::{
    module, third_party_rules,
    types::{Event, JsonObject, Membership, OwnedRoomId, OwnedUserId, RoomId, StateMap, UserId},
    CallbackError, ConfigError, Module, ModuleApi, ModuleError,
};
use serde::Deserialize;
use serde_json::Value;

/// The account-data type of the direct-message map.
const DIRECT: &str = "m.direct";

/// Join attempts before giving up.
const JOIN_ATTEMPTS: u32 = 5;

/// The `config:` of `auto_accept_invite`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoAcceptInviteConfig {
    /// Accept only invites with `is_direct: true`.
    #[serde(default)]
    pub accept_invites_only_for_direct_messages: bool,
    /// Accept only invites sent by local users.
    #[serde(default)]
    pub accept_invites_only_from_local_users: bool,
    /// Synapse's worker selection; must be absent or `null` here.
    #[serde(default)]
    pub worker_to_run_on: Option<String>,
}

/// The invite auto-accepter.
pub struct AutoAcceptInvite {
    config: AutoAcceptInviteConfig,
    api: ModuleApi,
}

impl Module for AutoAcceptInvite {
    type Config = AutoAcceptInviteConfig;

    fn parse_config(config: AutoAcceptInviteConfig) -> Result<AutoAcceptInviteConfig, ConfigError> {
        if config.worker_to_run_on.is_some() {
            return Err(ConfigError::at(
                ["worker_to_run_on"],
                "mxmod runs as a single process with no workers; remove `worker_to_run_on`",
            ));
        }
        Ok(config)
    }

    fn new(config: AutoAcceptInviteConfig, api: ModuleApi) -> Result<Self, ModuleError> {
        Ok(AutoAcceptInvite { config, api })
    }
}

/// Python truthiness of a JSON value (`if event.content.get("is_direct")`).
fn truthy(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|n| n != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
    }
}

/// Joins `user` to `room`, retrying with an increasing back-off (Synapse's
/// `_retry_make_join`): no wait before the first attempt, then 1, 2, 4, 8 seconds.
async fn join_with_retries(api: ModuleApi, user: OwnedUserId, room: OwnedRoomId) -> bool {
    let mut wait = Duration::ZERO;
    for attempt in 1..=JOIN_ATTEMPTS {
        tokio::time::sleep(wait).await;
        match api.update_room_membership(&user, &user, &room, Membership::Join).await {
            Ok(_) => {
                tracing::info!(module = api.instance_name(), "{user} joined {room} (auto-accepted invite)");
                return true;
            }
            Err(error) => {
                tracing::info!(
                    module = api.instance_name(),
                    "joining {user} to {room} failed (attempt {attempt} of {JOIN_ATTEMPTS}): {error}"
                );
                wait = Duration::from_secs(1 << (attempt - 1));
            }
        }
    }
    false
}

impl AutoAcceptInvite {
    /// Adds `room_id` to `user_id`'s `m.direct` map under `dm_user_id`.
    async fn mark_room_as_direct_message(
        &self,
        user_id: &UserId,
        dm_user_id: &UserId,
        room_id: &RoomId,
    ) -> Result<(), CallbackError> {
        let mut dm_map: JsonObject = self.api.account_data(user_id, DIRECT).await?.unwrap_or_default();
        match dm_map.get_mut(dm_user_id.as_str()) {
            None => {
                dm_map.insert(dm_user_id.to_string(), Value::Array(vec![Value::String(room_id.to_string())]));
            }
            Some(Value::Array(rooms)) => rooms.push(Value::String(room_id.to_string())),
            Some(other) => {
                // Don't mangle data we don't understand.
                tracing::warn!(
                    module = self.api.instance_name(),
                    "not marking {room_id} as a DM for {user_id}: m.direct[{dm_user_id}] is not a list but {other}"
                );
                return Ok(());
            }
        }
        Ok(self.api.set_account_data(user_id, DIRECT, dm_map).await?)
    }
}

#[module(name = "auto_accept_invite")]
impl AutoAcceptInvite {
    /// Accepts invites for local users (see the module docs).
    #[third_party_rules]
    pub async fn on_new_event(&self, event: &Event, _state_events: &StateMap) -> Result<(), CallbackError> {
        let invitee = match (event.membership(), event.state_key.as_deref()) {
            (Some(Membership::Invite), Some(state_key)) => match UserId::parse(state_key) {
                Ok(invitee) if self.api.is_mine(&invitee) => invitee,
                _ => return Ok(()),
            },
            _ => return Ok(()),
        };
        let is_direct = event.content.get("is_direct");
        if self.config.accept_invites_only_for_direct_messages && is_direct != Some(&Value::Bool(true)) {
            return Ok(());
        }
        if self.config.accept_invites_only_from_local_users && !self.api.is_mine(&event.sender) {
            return Ok(());
        }
        self.api.spawn(join_with_retries(self.api.clone(), invitee.clone(), event.room_id.clone()));
        if truthy(is_direct) {
            self.mark_room_as_direct_message(&invitee, &event.sender, &event.room_id).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
