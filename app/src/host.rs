//! The server side of `ModuleApi`: room state, memberships, events, account data and
//! user lookups for modules, through the same code paths clients use.

use std::sync::{Arc, OnceLock, Weak};

use mxmod::{
    api::{Host, HostError, HostFuture, NewEvent, Threepid, UserInfo},
    types::{Event, JsonObject, ProfileInfo, RoomId, StateMap, UserId},
};

use crate::{
    rooms::{self, Actor},
    state::AppState,
    storage::StorageError,
};

/// The host handed to modules; bound to the server state once it exists.
#[derive(Default)]
pub(crate) struct ServerHost {
    state: OnceLock<Weak<AppState>>,
}

impl ServerHost {
    pub(crate) fn bind(&self, state: &Arc<AppState>) {
        let _ = self.state.set(Arc::downgrade(state));
    }

    fn state(&self) -> Result<Arc<AppState>, HostError> {
        self.state.get().and_then(Weak::upgrade).ok_or(HostError::Unavailable("the server (not started yet)"))
    }
}

fn storage_error(error: StorageError) -> HostError {
    HostError::Storage(crate::http::error_chain(&error))
}

fn user_info(user: crate::storage::UserRecord) -> UserInfo {
    UserInfo {
        user_id: user.user_id,
        is_admin: user.is_admin,
        is_deactivated: user.deactivated,
        is_shadow_banned: user.shadow_banned,
        creation_ts: user.creation_ts,
    }
}

async fn actor(state: &AppState, user_id: &UserId) -> Result<Actor, HostError> {
    let user = state
        .storage
        .user(user_id)
        .await
        .map_err(storage_error)?
        .ok_or_else(|| HostError::NotFound(user_id.to_string()))?;
    Ok(Actor { user_id: user.user_id, device_id: None, shadow_banned: user.shadow_banned, is_admin: user.is_admin })
}

impl Host for ServerHost {
    fn room_state<'a>(&'a self, room_id: &'a RoomId) -> HostFuture<'a, StateMap> {
        Box::pin(async move {
            let state = self.state()?;
            match state.storage.current_state(room_id).await.map_err(storage_error)? {
                Some(room_state) => Ok(StateMap::clone(&room_state)),
                None => Err(HostError::NotFound(room_id.to_string())),
            }
        })
    }

    fn is_room_published<'a>(&'a self, room_id: &'a RoomId) -> HostFuture<'a, bool> {
        Box::pin(async move { self.state()?.storage.room_is_public(room_id).await.map_err(storage_error) })
    }

    fn update_room_membership<'a>(
        &'a self,
        sender: &'a UserId,
        target: &'a UserId,
        room_id: &'a RoomId,
        membership: mxmod::types::Membership,
    ) -> HostFuture<'a, Event> {
        Box::pin(async move {
            let state = self.state()?;
            let actor = actor(&state, sender).await?;
            rooms::update_membership(&state, &actor, target, room_id, membership.as_str(), JsonObject::new())
                .await
                .map_err(|error| HostError::Refused(error.0))
        })
    }

    fn send_event(&self, event: NewEvent) -> HostFuture<'_, Event> {
        Box::pin(async move {
            let state = self.state()?;
            if event.event_type == "m.room.member" {
                return Err(HostError::Refused(mxmod::MatrixError::new(
                    400,
                    mxmod::ErrCode::BAD_JSON,
                    "use update_room_membership for membership events",
                )));
            }
            let actor = actor(&state, &event.sender).await?;
            let event_id = rooms::send(
                &state,
                &actor,
                &event.room_id,
                &event.event_type,
                event.state_key.as_deref(),
                event.content,
                None,
            )
            .await
            .map_err(|error| HostError::Refused(error.0))?;
            state
                .storage
                .event(event_id.as_str())
                .await
                .map_err(storage_error)?
                .map(|stored| stored.event)
                .ok_or_else(|| HostError::NotFound(event_id.to_string()))
        })
    }

    fn account_data<'a>(&'a self, user_id: &'a UserId, data_type: &'a str) -> HostFuture<'a, Option<JsonObject>> {
        Box::pin(async move { self.state()?.storage.account_data(user_id, data_type).await.map_err(storage_error) })
    }

    fn set_account_data<'a>(
        &'a self,
        user_id: &'a UserId,
        data_type: &'a str,
        content: JsonObject,
    ) -> HostFuture<'a, ()> {
        Box::pin(async move {
            let state = self.state()?;
            state.storage.set_account_data(user_id, data_type, &content).await.map_err(storage_error)?;
            crate::account_data::account_data_updated(&state, user_id, None, data_type, &content).await;
            Ok(())
        })
    }

    fn user_info<'a>(&'a self, user_id: &'a UserId) -> HostFuture<'a, Option<UserInfo>> {
        Box::pin(async move {
            let user = self.state()?.storage.user(user_id).await.map_err(storage_error)?;
            Ok(user.map(user_info))
        })
    }

    fn user_for_access_token<'a>(&'a self, token: &'a str) -> HostFuture<'a, Option<UserInfo>> {
        Box::pin(async move {
            let token_hash = crate::access_token::stored_form(token);
            let session = self.state()?.storage.session(&token_hash).await.map_err(storage_error)?;
            Ok(session.map(|session| user_info(session.user)))
        })
    }

    fn profile<'a>(&'a self, user_id: &'a UserId) -> HostFuture<'a, ProfileInfo> {
        Box::pin(async move {
            let profile = self.state()?.storage.profile(user_id).await.map_err(storage_error)?;
            Ok(ProfileInfo { display_name: profile.displayname, avatar_url: profile.avatar_url.map(Into::into) })
        })
    }

    fn threepids<'a>(&'a self, user_id: &'a UserId) -> HostFuture<'a, Vec<Threepid>> {
        Box::pin(async move {
            let stored = self.state()?.storage.threepids(user_id).await.map_err(storage_error)?;
            Ok(stored
                .into_iter()
                .map(|t| Threepid {
                    medium: t.medium,
                    address: t.address,
                    validated_at: t.validated_at,
                    added_at: t.added_at,
                })
                .collect())
        })
    }

    fn local_users<'a>(&'a self, from: Option<&'a UserId>, limit: usize) -> HostFuture<'a, Vec<UserInfo>> {
        Box::pin(async move {
            let page = self.state()?.storage.users_after(from, limit).await.map_err(storage_error)?;
            Ok(page.into_iter().map(user_info).collect())
        })
    }
}
