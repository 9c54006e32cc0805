//! [`TestHost`]: an in-memory [`Host`] for module tests: rooms with state, the public
//! room directory, memberships, account data and users, with scripted membership
//! failures. Test helpers: they panic on an invalid ID, as an assertion would.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, MutexGuard,
    },
};

use crate::{
    api::{Host, HostError, HostFuture, NewEvent, Threepid, UserInfo},
    testing::json_object as object,
    types::{Event, JsonObject, Membership, OwnedRoomId, OwnedUserId, RoomId, StateMap, UserId},
};

/// One call of `update_room_membership`, as the test host saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MembershipCall {
    /// Who asked.
    pub sender: OwnedUserId,
    /// Whose membership.
    pub target: OwnedUserId,
    /// In which room.
    pub room_id: OwnedRoomId,
    /// The membership asked for.
    pub membership: Membership,
}

#[derive(Default)]
struct State {
    rooms: HashMap<OwnedRoomId, StateMap>,
    published: HashSet<OwnedRoomId>,
    account_data: HashMap<(OwnedUserId, String), JsonObject>,
    users: HashMap<OwnedUserId, UserInfo>,
    threepids: HashMap<OwnedUserId, Vec<Threepid>>,
    membership_calls: Vec<MembershipCall>,
    failing_memberships: usize,
    sent: Vec<NewEvent>,
}

/// A server in memory, for module tests: give it to [`Harness::builder`](crate::testing::Harness::builder)
/// with `.host(host.clone())`, set up rooms and users, then assert on what the module did.
#[derive(Default)]
pub struct TestHost {
    state: Mutex<State>,
    next_event: AtomicU64,
}

impl TestHost {
    /// An empty server.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn event(&self, room_id: &RoomId, sender: &UserId, kind: &str, state_key: &str, content: JsonObject) -> Event {
        let n = self.next_event.fetch_add(1, Ordering::SeqCst);
        Event {
            event_id: format!("$test{n}").try_into().expect("a valid event ID"),
            room_id: room_id.to_owned(),
            sender: sender.to_owned(),
            event_type: kind.into(),
            state_key: Some(state_key.into()),
            content,
            origin_server_ts: n,
            unsigned: JsonObject::new(),
        }
    }

    /// A room with its create event and the creator's join.
    pub fn create_room(&self, room_id: &str, creator: &str) -> OwnedRoomId {
        let room_id = RoomId::parse(room_id).unwrap_or_else(|error| panic!("`{room_id}` is not a room ID: {error}"));
        let creator = user(creator);
        let create = self.event(&room_id, &creator, "m.room.create", "", object(serde_json::json!({})));
        let join = self.event(
            &room_id,
            &creator,
            "m.room.member",
            creator.as_str(),
            object(serde_json::json!({"membership": "join"})),
        );
        self.lock().rooms.insert(room_id.clone(), [create, join].into_iter().collect());
        room_id
    }

    /// Adds a membership event (`sender` sets `target`'s membership) to a room's state.
    pub fn set_membership(&self, room_id: &RoomId, sender: &str, target: &str, membership: Membership) {
        let sender = user(sender);
        let content = object(serde_json::json!({ "membership": membership.as_str() }));
        let event = self.event(room_id, &sender, "m.room.member", target, content);
        self.lock()
            .rooms
            .get_mut(room_id)
            .unwrap_or_else(|| panic!("room {room_id} was not created with `create_room`"))
            .insert(event);
    }

    /// Puts a room in the public room directory.
    pub fn publish(&self, room_id: &RoomId) {
        self.lock().published.insert(room_id.to_owned());
    }

    /// Makes the next `n` membership updates fail.
    pub fn fail_next_memberships(&self, n: usize) {
        self.lock().failing_memberships = n;
    }

    /// Every membership update asked for, failed ones included.
    pub fn membership_calls(&self) -> Vec<MembershipCall> {
        self.lock().membership_calls.clone()
    }

    /// A user's account data of one type.
    pub fn account_data_of(&self, user_id: &str, data_type: &str) -> Option<JsonObject> {
        self.lock().account_data.get(&(user(user_id), data_type.to_owned())).cloned()
    }

    /// Stores account data as a client would.
    pub fn put_account_data(&self, user_id: &str, data_type: &str, content: serde_json::Value) {
        self.lock().account_data.insert((user(user_id), data_type.to_owned()), object(content));
    }

    /// Registers a local user.
    pub fn add_user(&self, user_id: &str, is_admin: bool) {
        let user_id = user(user_id);
        let info = UserInfo {
            user_id: user_id.clone(),
            is_admin,
            is_deactivated: false,
            is_shadow_banned: false,
            creation_ts: 0,
        };
        self.lock().users.insert(user_id, info);
    }

    /// Binds a third-party identifier (`email`, `msisdn`) to a user.
    pub fn add_threepid(&self, user_id: &str, medium: &str, address: &str) {
        let threepid =
            Threepid { medium: medium.to_owned(), address: address.to_owned(), validated_at: 0, added_at: 0 };
        self.lock().threepids.entry(user(user_id)).or_default().push(threepid);
    }

    /// Events sent through `send_event`.
    pub fn sent_events(&self) -> Vec<NewEvent> {
        self.lock().sent.clone()
    }
}

/// A user ID a test wrote.
fn user(user_id: &str) -> OwnedUserId {
    UserId::parse(user_id).unwrap_or_else(|error| panic!("`{user_id}` is not a user ID: {error}"))
}

impl Host for TestHost {
    fn room_state<'a>(&'a self, room_id: &'a RoomId) -> HostFuture<'a, StateMap> {
        Box::pin(async move { self.lock().rooms.get(room_id).cloned().ok_or(HostError::NotFound(room_id.to_string())) })
    }

    fn is_room_published<'a>(&'a self, room_id: &'a RoomId) -> HostFuture<'a, bool> {
        Box::pin(async move { Ok(self.lock().published.contains(room_id)) })
    }

    fn update_room_membership<'a>(
        &'a self,
        sender: &'a UserId,
        target: &'a UserId,
        room_id: &'a RoomId,
        membership: Membership,
    ) -> HostFuture<'a, Event> {
        Box::pin(async move {
            {
                let mut state = self.lock();
                state.membership_calls.push(MembershipCall {
                    sender: sender.to_owned(),
                    target: target.to_owned(),
                    room_id: room_id.to_owned(),
                    membership,
                });
                if state.failing_memberships > 0 {
                    state.failing_memberships -= 1;
                    return Err(HostError::NotFound(format!("{room_id} (scripted failure)")));
                }
            }
            let content = object(serde_json::json!({ "membership": membership.as_str() }));
            let event = self.event(room_id, sender, "m.room.member", target.as_str(), content);
            self.lock().rooms.entry(room_id.to_owned()).or_default().insert(event.clone());
            Ok(event)
        })
    }

    fn send_event(&self, event: NewEvent) -> HostFuture<'_, Event> {
        Box::pin(async move {
            let stored = Event {
                state_key: event.state_key.clone(),
                ..self.event(&event.room_id, &event.sender, &event.event_type, "", event.content.clone())
            };
            let mut state = self.lock();
            state.sent.push(event);
            if let Some(room) = state.rooms.get_mut(&stored.room_id) {
                room.insert(stored.clone());
            }
            Ok(stored)
        })
    }

    fn account_data<'a>(&'a self, user_id: &'a UserId, data_type: &'a str) -> HostFuture<'a, Option<JsonObject>> {
        Box::pin(async move { Ok(self.lock().account_data.get(&(user_id.to_owned(), data_type.to_owned())).cloned()) })
    }

    fn set_account_data<'a>(
        &'a self,
        user_id: &'a UserId,
        data_type: &'a str,
        content: JsonObject,
    ) -> HostFuture<'a, ()> {
        Box::pin(async move {
            self.lock().account_data.insert((user_id.to_owned(), data_type.to_owned()), content);
            Ok(())
        })
    }

    fn user_info<'a>(&'a self, user_id: &'a UserId) -> HostFuture<'a, Option<UserInfo>> {
        Box::pin(async move { Ok(self.lock().users.get(user_id).cloned()) })
    }

    fn threepids<'a>(&'a self, user_id: &'a UserId) -> HostFuture<'a, Vec<Threepid>> {
        Box::pin(async move { Ok(self.lock().threepids.get(user_id).cloned().unwrap_or_default()) })
    }

    fn local_users<'a>(&'a self, from: Option<&'a UserId>, limit: usize) -> HostFuture<'a, Vec<UserInfo>> {
        Box::pin(async move {
            let mut users: Vec<UserInfo> = self
                .lock()
                .users
                .values()
                .filter(|info| from.is_none_or(|from| info.user_id.as_str() > from.as_str()))
                .cloned()
                .collect();
            users.sort_by(|a, b| a.user_id.cmp(&b.user_id));
            users.truncate(limit);
            Ok(users)
        })
    }
}
