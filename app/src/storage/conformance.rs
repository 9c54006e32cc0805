//! The behaviours every [`Storage`] backend must have, written once. A backend runs them
//! all with one line in its tests: `crate::storage_conformance_suite!(open)`, where
//! `open: Fn(&Path) -> impl Storage` makes a fresh store in a temporary directory.

use std::{sync::Arc, time::Duration};

use mxmod::{
    types::{Event, EventId, JsonObject, Membership, OwnedRoomId, OwnedUserId, RoomId, ServerName, StateKey, UserId},
    ErrCode, MatrixError,
};
use serde_json::json;

use super::{
    AppendError, Appended, Authorise, CreateRoomError, NewAccount, NewRoom, Profile, Storage, Threepid, TokenOwner,
    TxnClient, TxnKey, UserRecord,
};

/// Generates one `#[tokio::test]` per conformance case for a backend.
#[macro_export]
macro_rules! storage_conformance_suite {
    ($open:expr) => {
        $crate::storage_conformance_suite!(@cases $open;
            registration_writes_everything_or_nothing,
            a_retried_transaction_answers_the_first_event,
            the_same_transaction_id_in_another_room_is_a_new_event,
            concurrent_retries_of_one_transaction_store_one_event,
            a_refused_append_stores_nothing_and_spares_its_batch,
            authorisation_sees_the_state_the_event_is_appended_to,
            concurrent_state_events_in_one_room_all_land,
            create_room_with_a_taken_alias_writes_nothing,
            event_reads_are_bounded_by_the_position_asked_for,
            account_data_positions_order_writes_and_wake_their_user,
            a_send_wakes_only_the_rooms_members,
            a_ban_wakes_the_banned_user,
            a_threepid_has_one_owner_and_is_listed_per_user,
            logging_out_everywhere_deletes_only_that_users_tokens,
            users_are_listed_in_pages,
        );
    };
    (@cases $open:expr; $($case:ident),* $(,)?) => {
        mod conformance {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let dir = tempfile::tempdir().unwrap();
                    let open = $open;
                    let storage = std::sync::Arc::new(open(dir.path()));
                    $crate::storage::conformance::$case(storage).await;
                }
            )*
        }
    };
}

fn user(name: &str) -> OwnedUserId {
    UserId::parse(format!("@{name}:test.local")).unwrap()
}

fn new_room_id(n: u32) -> OwnedRoomId {
    RoomId::parse(format!("!room{n}:test.local")).unwrap()
}

fn event(
    room: &RoomId,
    sender: &UserId,
    event_type: &str,
    state_key: Option<&str>,
    content: serde_json::Value,
) -> Event {
    let content: JsonObject = serde_json::from_value(content).unwrap();
    Event {
        event_id: EventId::new_v1(<&ServerName>::try_from("test.local").unwrap()),
        room_id: room.to_owned(),
        sender: sender.to_owned(),
        event_type: event_type.into(),
        state_key: state_key.map(StateKey::from),
        content,
        origin_server_ts: 1,
        unsigned: JsonObject::new(),
    }
}

fn member(room: &RoomId, sender: &UserId, target: &UserId, membership: &str) -> Event {
    event(room, sender, "m.room.member", Some(target.as_str()), json!({ "membership": membership }))
}

fn allow() -> Authorise {
    Box::new(|_| Ok(()))
}

/// Allows senders whose membership is `join`.
fn joined_only(sender: OwnedUserId) -> Authorise {
    Box::new(move |state| match state.get("m.room.member", sender.as_str()).and_then(Event::membership) {
        Some(Membership::Join) => Ok(()),
        _ => Err(MatrixError::new(403, ErrCode::FORBIDDEN, "not in room")),
    })
}

/// A room `n` created by alice, with bob joined when `with_bob`.
async fn room_with_members(storage: &dyn Storage, n: u32, with_bob: bool) -> OwnedRoomId {
    let room = new_room_id(n);
    let alice = user("alice");
    let mut events = vec![
        event(&room, &alice, "m.room.create", Some(""), json!({ "creator": alice })),
        member(&room, &alice, &alice, "join"),
    ];
    if with_bob {
        events.push(member(&room, &user("bob"), &user("bob"), "join"));
    }
    let room_id = room.clone();
    storage.create_room(NewRoom { room_id, creator: alice, events, alias: None, public: false }).await.unwrap();
    room
}

fn txn(sender: &UserId, device: &str, room: &RoomId, txn_id: &str) -> TxnKey {
    TxnKey::send(sender.to_owned(), TxnClient::Device(device.to_owned()), room, "m.room.message", txn_id)
}

fn message(room: &RoomId, sender: &UserId, body: &str) -> Event {
    event(room, sender, "m.room.message", None, json!({ "msgtype": "m.text", "body": body }))
}

async fn room_messages(storage: &dyn Storage, room: &RoomId) -> Vec<Event> {
    let until = storage.stream_positions().await.unwrap().events;
    let events = storage.events_between(&[room.to_owned()], 0, until, 10_000).await.unwrap();
    events.into_iter().map(|e| e.event).filter(|e| e.event_type == "m.room.message").collect()
}

/// Registration stores the user, profile and token together; a taken ID writes nothing.
pub(crate) async fn registration_writes_everything_or_nothing(storage: Arc<impl Storage>) {
    let record = UserRecord {
        user_id: user("carol"),
        password_hash: Some("hash".into()),
        is_admin: false,
        shadow_banned: false,
        deactivated: false,
        creation_ts: 5,
    };
    let profile = Profile { displayname: Some("Carol".into()), avatar_url: None };
    let account =
        NewAccount { user: record.clone(), profile: profile.clone(), login: Some(("tok1".into(), "DEV".into())) };
    assert!(storage.register(account).await.unwrap());
    let session = storage.session("tok1").await.unwrap().expect("the token is stored");
    assert_eq!((session.device_id.as_str(), session.user.user_id.as_str()), ("DEV", "@carol:test.local"));
    assert_eq!(storage.profile(&record.user_id).await.unwrap(), profile);
    let again = NewAccount {
        user: record.clone(),
        profile: Profile { displayname: Some("Other".into()), avatar_url: None },
        login: Some(("tok2".into(), "DEV2".into())),
    };
    assert!(!storage.register(again).await.unwrap());
    assert!(storage.session("tok2").await.unwrap().is_none(), "a refused registration stores no token");
    assert_eq!(storage.profile(&record.user_id).await.unwrap(), profile);
}

/// A transaction key used before answers the event it produced, and stores nothing new.
pub(crate) async fn a_retried_transaction_answers_the_first_event(storage: Arc<impl Storage>) {
    let room = room_with_members(&*storage, 1, false).await;
    let alice = user("alice");
    let first = message(&room, &alice, "one");
    let key = txn(&alice, "DEV", &room, "t1");
    let Appended::Stored { event: stored, .. } =
        storage.append_local_event(first.clone(), Some(key.clone()), allow()).await.unwrap()
    else {
        panic!("the first use stores");
    };
    assert_eq!(stored.txn_id.as_deref(), Some("t1"));
    let retry = storage.append_local_event(message(&room, &alice, "one"), Some(key.clone()), allow()).await.unwrap();
    assert!(matches!(&retry, Appended::Duplicate(id) if *id == first.event_id), "{retry:?}");
    assert_eq!(storage.txn_event(&key).await.unwrap(), Some(first.event_id.clone()));
    assert_eq!(room_messages(&*storage, &room).await.len(), 1);
    // Another device of the same user has its own transactions.
    let other =
        storage.append_local_event(message(&room, &alice, "two"), Some(txn(&alice, "DEV2", &room, "t1")), allow());
    assert!(matches!(other.await.unwrap(), Appended::Stored { .. }));
}

/// The key includes the room: one transaction ID in two rooms makes two events.
pub(crate) async fn the_same_transaction_id_in_another_room_is_a_new_event(storage: Arc<impl Storage>) {
    let alice = user("alice");
    let one = room_with_members(&*storage, 1, false).await;
    let two = room_with_members(&*storage, 2, false).await;
    for room in [&one, &two] {
        let appended =
            storage.append_local_event(message(room, &alice, "hi"), Some(txn(&alice, "DEV", room, "same")), allow());
        assert!(matches!(appended.await.unwrap(), Appended::Stored { .. }));
    }
    assert_eq!(room_messages(&*storage, &two).await.len(), 1);
}

/// Many concurrent appends with one key: one event, every caller gets its ID.
pub(crate) async fn concurrent_retries_of_one_transaction_store_one_event(storage: Arc<impl Storage + 'static>) {
    let room = room_with_members(&*storage, 1, false).await;
    let alice = user("alice");
    let mut tasks = Vec::new();
    for n in 0..16 {
        let (storage, room, alice) = (storage.clone(), room.clone(), alice.clone());
        tasks.push(tokio::spawn(async move {
            let key = txn(&alice, "DEV", &room, "race");
            match storage.append_local_event(message(&room, &alice, &format!("try {n}")), Some(key), allow()).await {
                Ok(Appended::Stored { event, .. }) => event.event.event_id,
                Ok(Appended::Duplicate(id)) => id,
                Err(error) => panic!("{error}"),
            }
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every retry answers the first event: {ids:?}");
    assert_eq!(room_messages(&*storage, &room).await.len(), 1);
}

/// A refused event stores nothing (not its key either); the writes batched with it land.
pub(crate) async fn a_refused_append_stores_nothing_and_spares_its_batch(storage: Arc<impl Storage + 'static>) {
    let room = room_with_members(&*storage, 1, false).await;
    let (alice, mallory) = (user("alice"), user("mallory"));
    let mut tasks = Vec::new();
    for n in 0..10 {
        let (storage, room) = (storage.clone(), room.clone());
        let sender = if n % 2 == 0 { alice.clone() } else { mallory.clone() };
        tasks.push(tokio::spawn(async move {
            let key = txn(&sender, "DEV", &room, &format!("t{n}"));
            storage.append_local_event(message(&room, &sender, "x"), Some(key), joined_only(sender.clone())).await
        }));
    }
    let mut refused = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(Appended::Stored { .. }) => {}
            Err(AppendError::Refused(error)) => {
                assert_eq!(error.status, 403);
                refused += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(refused, 5);
    assert_eq!(room_messages(&*storage, &room).await.len(), 5);
    assert!(storage.txn_event(&txn(&mallory, "DEV", &room, "t1")).await.unwrap().is_none());
    let unknown = storage.append_local_event(message(&new_room_id(9), &alice, "x"), None, allow()).await;
    assert!(matches!(unknown, Err(AppendError::UnknownRoom)));
}

/// The authorisation runs on the state the event lands on: after a ban, a message
/// authorised against membership is refused, whatever the sender saw before.
pub(crate) async fn authorisation_sees_the_state_the_event_is_appended_to(storage: Arc<impl Storage>) {
    let room = room_with_members(&*storage, 1, true).await;
    let (alice, bob) = (user("alice"), user("bob"));
    let seen_before = storage.current_state(&room).await.unwrap().unwrap();
    assert_eq!(seen_before.get("m.room.member", bob.as_str()).and_then(Event::membership), Some(Membership::Join));
    storage.append_local_event(member(&room, &alice, &bob, "ban"), None, allow()).await.unwrap();
    let refused = storage.append_local_event(message(&room, &bob, "late"), None, joined_only(bob.clone())).await;
    assert!(matches!(refused, Err(AppendError::Refused(_))), "{refused:?}");
    let now = storage.current_state(&room).await.unwrap().unwrap();
    assert_eq!(now.get("m.room.member", bob.as_str()).and_then(Event::membership), Some(Membership::Ban));
}

/// Concurrent state events in one room all end up in the current state.
pub(crate) async fn concurrent_state_events_in_one_room_all_land(storage: Arc<impl Storage + 'static>) {
    let room = room_with_members(&*storage, 1, false).await;
    let alice = user("alice");
    let mut tasks = Vec::new();
    for n in 0..20 {
        let (storage, room, alice) = (storage.clone(), room.clone(), alice.clone());
        tasks.push(tokio::spawn(async move {
            let key = format!("k{n}");
            let state = event(&room, &alice, "org.example.flag", Some(&key), json!({ "n": n }));
            storage.append_local_event(state, None, allow()).await.unwrap()
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let state = storage.current_state(&room).await.unwrap().unwrap();
    for n in 0..20 {
        assert!(state.get("org.example.flag", &format!("k{n}")).is_some(), "k{n} is in the current state");
    }
}

/// createRoom is one transaction: with the alias taken, no room, event or state is left.
pub(crate) async fn create_room_with_a_taken_alias_writes_nothing(storage: Arc<impl Storage>) {
    let alice = user("alice");
    let first = new_room_id(1);
    assert!(storage.create_alias("#taken:test.local", &first, &alice).await.unwrap());
    let room = new_room_id(2);
    let events = vec![
        event(&room, &alice, "m.room.create", Some(""), json!({ "creator": alice })),
        member(&room, &alice, &alice, "join"),
    ];
    let created = storage
        .create_room(NewRoom {
            room_id: room.clone(),
            creator: alice.clone(),
            events: events.clone(),
            alias: Some("#taken:test.local".into()),
            public: true,
        })
        .await;
    assert!(matches!(created, Err(CreateRoomError::AliasTaken)), "{created:?}");
    assert!(!storage.room_exists(&room).await.unwrap());
    assert!(storage.event(events[0].event_id.as_str()).await.unwrap().is_none());
    assert!(storage.public_rooms().await.unwrap().is_empty());
    assert!(storage.rooms_with_membership(&alice, "join").await.unwrap().is_empty());
}

/// Reads between two positions return exactly that range.
pub(crate) async fn event_reads_are_bounded_by_the_position_asked_for(storage: Arc<impl Storage>) {
    let room = room_with_members(&*storage, 1, false).await;
    let alice = user("alice");
    let start = storage.stream_positions().await.unwrap().events;
    for n in 0..5 {
        storage.append_local_event(message(&room, &alice, &n.to_string()), None, allow()).await.unwrap();
    }
    let middle = start + 3;
    let first = storage.events_between(std::slice::from_ref(&room), start, middle, 100).await.unwrap();
    let rest = storage.events_between(std::slice::from_ref(&room), middle, middle + 100, 100).await.unwrap();
    assert_eq!(first.len(), 3);
    assert_eq!(rest.len(), 2);
    assert!(first.iter().all(|e| e.stream_ordering > start && e.stream_ordering <= middle));
    assert!(storage.events_between(&[room], middle, middle, 100).await.unwrap().is_empty());
}

/// Account data positions increase; a write wakes its user's sync and nobody else's.
pub(crate) async fn account_data_positions_order_writes_and_wake_their_user(storage: Arc<impl Storage>) {
    let (alice, bob) = (user("alice"), user("bob"));
    let mut alice_waiter = storage.sync_waiter(&alice, false);
    let bob_waiter = storage.sync_waiter(&bob, false);
    let content = |v: i64| serde_json::from_value::<JsonObject>(json!({ "v": v })).unwrap();
    storage.set_account_data(&alice, "m.direct", &content(1)).await.unwrap();
    storage.set_account_data(&alice, "m.push_rules", &content(1)).await.unwrap();
    let seen = storage.stream_positions().await.unwrap().account_data;
    storage.set_account_data(&alice, "m.direct", &content(2)).await.unwrap();
    let now = storage.stream_positions().await.unwrap().account_data;
    let all: Vec<String> =
        storage.account_data_between(&alice, 0, now).await.unwrap().into_iter().map(|(t, _)| t).collect();
    assert_eq!(all, ["m.push_rules", "m.direct"]);
    assert_eq!(storage.account_data_between(&alice, seen, now).await.unwrap(), [("m.direct".into(), content(2))]);
    assert!(storage.account_data_between(&alice, 0, seen - 1).await.unwrap().len() < 2);
    tokio::time::timeout(Duration::from_secs(5), alice_waiter.changed()).await.expect("alice is woken");
    assert!(!bob_waiter.has_changed(), "bob is not woken by alice's account data");
}

/// A message wakes the room's joined members only.
pub(crate) async fn a_send_wakes_only_the_rooms_members(storage: Arc<impl Storage>) {
    let room = room_with_members(&*storage, 1, true).await;
    let (alice, bob, carol) = (user("alice"), user("bob"), user("carol"));
    let mut bob_waiter = storage.sync_waiter(&bob, false);
    let carol_waiter = storage.sync_waiter(&carol, false);
    storage.append_local_event(message(&room, &alice, "hi"), None, allow()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), bob_waiter.changed()).await.expect("bob is woken");
    assert!(!carol_waiter.has_changed(), "carol is not in the room");
}

/// A user removed from a room is woken by their own membership change.
pub(crate) async fn a_ban_wakes_the_banned_user(storage: Arc<impl Storage>) {
    let room = room_with_members(&*storage, 1, true).await;
    let (alice, bob) = (user("alice"), user("bob"));
    let mut bob_waiter = storage.sync_waiter(&bob, false);
    storage.append_local_event(member(&room, &alice, &bob, "ban"), None, allow()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), bob_waiter.changed()).await.expect("bob is woken");
}

fn threepid(address: &str, added_at: u64) -> Threepid {
    Threepid { medium: "email".to_owned(), address: address.to_owned(), validated_at: added_at, added_at }
}

pub(crate) async fn a_threepid_has_one_owner_and_is_listed_per_user(storage: Arc<impl Storage>) {
    let (alice, bob) = (user("alice"), user("bob"));
    assert!(storage.add_threepid(&alice, &threepid("a@example.org", 1)).await.unwrap());
    assert!(storage.add_threepid(&alice, &threepid("a2@example.org", 2)).await.unwrap());
    assert!(!storage.add_threepid(&bob, &threepid("a@example.org", 3)).await.unwrap(), "taken by alice");
    let listed = storage.threepids(&alice).await.unwrap();
    assert_eq!(listed, [threepid("a@example.org", 1), threepid("a2@example.org", 2)]);
    assert!(storage.threepids(&bob).await.unwrap().is_empty());
    assert_eq!(storage.user_by_threepid("email", "a@example.org").await.unwrap(), Some(alice));
    assert_eq!(storage.user_by_threepid("msisdn", "a@example.org").await.unwrap(), None);
}

pub(crate) async fn logging_out_everywhere_deletes_only_that_users_tokens(storage: Arc<impl Storage>) {
    let (alice, bob) = (user("alice"), user("bob"));
    for (token, owner, device) in [("t1", &alice, "D1"), ("t2", &alice, "D2"), ("t3", &bob, "D3")] {
        let owner = TokenOwner { user_id: owner.clone(), device_id: device.to_owned() };
        storage.create_token(token, &owner).await.unwrap();
    }
    let mut deleted = storage.delete_tokens_of_user(&alice).await.unwrap();
    deleted.sort();
    assert_eq!(deleted, [("t1".to_owned(), "D1".to_owned()), ("t2".to_owned(), "D2".to_owned())]);
    assert!(storage.delete_tokens_of_user(&alice).await.unwrap().is_empty());
}

pub(crate) async fn users_are_listed_in_pages(storage: Arc<impl Storage>) {
    for name in ["c", "a", "b"] {
        let record = UserRecord {
            user_id: user(name),
            password_hash: None,
            is_admin: false,
            shadow_banned: false,
            deactivated: name == "b",
            creation_ts: 0,
        };
        let account = NewAccount { user: record, profile: Profile::default(), login: None };
        assert!(storage.register(account).await.unwrap());
    }
    let page = |records: Vec<UserRecord>| -> Vec<(String, bool)> {
        records.into_iter().map(|r| (r.user_id.to_string(), r.deactivated)).collect()
    };
    let first = storage.users_page(None, 2).await.unwrap();
    let last = first[1].user_id.clone();
    assert_eq!(page(first), [("@a:test.local".to_owned(), false), ("@b:test.local".to_owned(), true)]);
    let rest = storage.users_page(Some(&last), 2).await.unwrap();
    assert_eq!(page(rest), [("@c:test.local".to_owned(), false)]);
}
