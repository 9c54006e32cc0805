//! Typing notifications: per-process state in memory, as in Synapse (nothing is written
//! to the database; a restart forgets who was typing). One owner: [`Typing`] keeps every
//! room's typing users behind one mutex with its own stream counter, and one background
//! task ends typing at its deadline. Each change wakes the syncs of the room's joined
//! members through [`Storage::wake_users`].

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use mxmod::types::{Membership, OwnedRoomId, OwnedUserId, RoomId, StateMap, UserId};
use tokio::{sync::Notify, time::Instant};

use crate::storage::Storage;

/// Longest typing timeout a client may ask for (Synapse's cap).
pub(crate) const MAX_TIMEOUT: Duration = Duration::from_secs(120);
/// The timeout when a client gives none (Synapse's default).
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Default)]
struct RoomTyping {
    /// The typing stream position of the room's last change.
    position: u64,
    /// Who is typing, until when.
    users: HashMap<OwnedUserId, Instant>,
}

#[derive(Default)]
struct Rooms {
    /// The typing stream position: bumped on every change of who types in any room.
    position: u64,
    rooms: HashMap<OwnedRoomId, RoomTyping>,
}

/// Who is typing where, and the stream position of each room's last change.
pub(crate) struct Typing {
    rooms: Mutex<Rooms>,
    /// Tells the expiry task a deadline may have come closer.
    reschedule: Notify,
    storage: Arc<dyn Storage>,
}

/// The joined members of a room (whose syncs see its typing notifications).
fn joined_members(state: &StateMap) -> Vec<OwnedUserId> {
    state
        .iter()
        .filter(|((event_type, _), event)| {
            event_type == "m.room.member" && event.membership() == Some(Membership::Join)
        })
        .filter_map(|((_, key), _)| UserId::parse(key.as_str()).ok())
        .collect()
}

impl Typing {
    /// The typing state of this process, with its expiry task on the current runtime.
    pub(crate) fn start(storage: Arc<dyn Storage>) -> Arc<Self> {
        let typing = Arc::new(Self { rooms: Mutex::default(), reschedule: Notify::new(), storage });
        tokio::spawn(typing.clone().expire_loop());
        typing
    }

    /// Marks `user` typing in the room until `until`, or no longer typing for `None`, and
    /// wakes the members in `room_state` if who is typing changed (a repeated start only
    /// moves the deadline).
    pub(crate) fn set(&self, room_state: &StateMap, room_id: &RoomId, user: &UserId, until: Option<Instant>) {
        let changed = {
            let mut guard = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
            let rooms = &mut *guard;
            let room = rooms.rooms.entry(room_id.to_owned()).or_default();
            let changed = match until {
                Some(until) => room.users.insert(user.to_owned(), until).is_none(),
                None => room.users.remove(user).is_some(),
            };
            if changed {
                rooms.position += 1;
                room.position = rooms.position;
            }
            changed
        };
        if until.is_some() {
            self.reschedule.notify_one();
        }
        if changed {
            self.storage.wake_users(&joined_members(room_state));
        }
    }

    /// The current typing stream position.
    pub(crate) fn position(&self) -> u64 {
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner).position
    }

    /// The position of the room's last change and who types in it now, if it ever had
    /// a typing user.
    pub(crate) fn room(&self, room_id: &RoomId) -> Option<(u64, Vec<OwnedUserId>)> {
        let rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        let room = rooms.rooms.get(room_id)?;
        let mut users: Vec<OwnedUserId> = room.users.keys().cloned().collect();
        users.sort();
        Some((room.position, users))
    }

    /// Ends the typing whose deadline passed; returns the rooms that changed and the
    /// next deadline.
    fn expire(&self, now: Instant) -> (Vec<OwnedRoomId>, Option<Instant>) {
        let mut guard = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        let rooms = &mut *guard;
        let mut changed = Vec::new();
        let mut next: Option<Instant> = None;
        for (room_id, room) in &mut rooms.rooms {
            let before = room.users.len();
            room.users.retain(|_, until| *until > now);
            if room.users.len() != before {
                rooms.position += 1;
                room.position = rooms.position;
                changed.push(room_id.clone());
            }
            if let Some(earliest) = room.users.values().min() {
                next = Some(next.map_or(*earliest, |next| next.min(*earliest)));
            }
        }
        (changed, next)
    }

    /// The expiry task: sleeps until the next deadline (or a new one), ends what expired
    /// and wakes the members of the rooms it changed.
    async fn expire_loop(self: Arc<Self>) {
        loop {
            let (changed, next) = self.expire(Instant::now());
            for room_id in changed {
                match self.storage.current_state(&room_id).await {
                    Ok(Some(state)) => self.storage.wake_users(&joined_members(&state)),
                    Ok(None) => {}
                    Err(error) => tracing::warn!("typing expiry cannot read the room state: {error}"),
                }
            }
            match next {
                Some(deadline) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(deadline) => {}
                        () = self.reschedule.notified() => {}
                    }
                }
                None => self.reschedule.notified().await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use mxmod::types::{Event, EventId, JsonObject, ServerName, StateKey};
    use serde_json::json;

    use super::*;
    use crate::storage::sqlite::SqliteStorage;

    fn member(room: &RoomId, user: &UserId, membership: &str) -> Event {
        Event {
            event_id: EventId::new_v1(<&ServerName>::try_from("test.local").unwrap()),
            room_id: room.to_owned(),
            sender: user.to_owned(),
            event_type: "m.room.member".into(),
            state_key: Some(StateKey::from(user.as_str())),
            content: serde_json::from_value::<JsonObject>(json!({ "membership": membership })).unwrap(),
            origin_server_ts: 1,
            unsigned: JsonObject::new(),
        }
    }

    #[tokio::test]
    async fn a_change_wakes_the_joined_members_only_and_ends_at_its_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let storage: Arc<dyn Storage> = Arc::new(SqliteStorage::open(&dir.path().join("homeserver.db")).unwrap());
        let typing = Typing::start(storage.clone());
        let room = RoomId::parse("!r:test.local").unwrap();
        let user = |name: &str| UserId::parse(format!("@{name}:test.local")).unwrap();
        let (alice, bob, carol) = (user("alice"), user("bob"), user("carol"));
        let mut state = StateMap::new();
        state.insert(member(&room, &alice, "join"));
        state.insert(member(&room, &bob, "join"));
        state.insert(member(&room, &carol, "leave"));
        let bob_waiter = storage.sync_waiter(&bob, false);
        let carol_waiter = storage.sync_waiter(&carol, false);

        let until = Instant::now() + Duration::from_millis(200);
        typing.set(&state, &room, &alice, Some(until));
        assert!(bob_waiter.has_changed(), "a joined member is woken");
        assert!(!carol_waiter.has_changed(), "a user who left is not");
        let (position, users) = typing.room(&room).unwrap();
        assert_eq!((position, users), (1, vec![alice.clone()]));

        // A repeated start only moves the deadline: no new position, nobody woken.
        let bob_waiter = storage.sync_waiter(&bob, false);
        typing.set(&state, &room, &alice, Some(until));
        assert_eq!(typing.position(), 1);
        assert!(!bob_waiter.has_changed());

        // The expiry task ends it (it reads the room state from storage, which has no
        // such room here, so only the position moves).
        tokio::time::timeout(Duration::from_secs(5), async {
            while typing.room(&room).is_some_and(|(_, users)| !users.is_empty()) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("typing ends at its deadline");
        assert_eq!(typing.position(), 2);
        typing.set(&state, &room, &bob, None);
        assert_eq!(typing.position(), 2, "stopping when not typing changes nothing");
    }
}
