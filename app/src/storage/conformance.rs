//! The behaviours every [`Storage`] backend must have, written once. A backend runs them
//! all with one line in its tests: `crate::storage_conformance_suite!(open)`, where
//! `open: Fn(&Path) -> impl Storage` makes a fresh store in a temporary directory, or
//! `crate::storage_conformance_suite!(fresh_database = open)` where `open` is an async
//! function answering the store on a fresh database and a guard that drops it (`None`
//! skips the case, e.g. without `MXMOD_TEST_POSTGRES_URL`).

use std::{sync::Arc, time::Duration};

use mxmod::{
    types::{Event, EventId, JsonObject, Membership, OwnedRoomId, OwnedUserId, RoomId, ServerName, StateKey, UserId},
    ErrCode, MatrixError,
};
use serde_json::json;

use super::{
    AppendError, Appended, Authorise, CreateRoomError, Forget, LogOut, NewAccount, NewRoom, Profile, Receipt, Storage,
    Threepid, TokenOwner, TxnClient, TxnKey, UpdateAccountData, UserQuery, UserRecord, ValidatedThreepid,
    ValidationFailure, ValidationRequest, ValidationStarted,
};

/// Generates one `#[tokio::test]` per conformance case for a backend.
#[macro_export]
macro_rules! storage_conformance_suite {
    (fresh_database = $open:expr) => {
        $crate::storage_conformance_suite!(@all (fresh) $open);
    };
    ($open:expr) => {
        $crate::storage_conformance_suite!(@all (directory) $open);
    };
    (@all $mode:tt $open:expr) => {
        $crate::storage_conformance_suite!(@cases $mode $open;
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
            deleting_a_device_logs_out_its_tokens_only,
            a_password_change_logs_out_nothing_all_but_one_session_or_everything,
            concurrent_push_rule_edits_all_land_and_a_refused_edit_writes_nothing,
            unread_events_start_after_the_users_membership,
            identical_filters_share_an_id_and_filters_are_per_user,
            a_redaction_prunes_its_target_in_the_same_append,
            receipts_only_move_forward_and_private_ones_wake_only_their_user,
            room_account_data_shares_the_account_data_stream,
            forgetting_a_room_needs_the_user_to_have_left,
            state_at_a_position_holds_the_state_events_up_to_it,
            the_admin_user_page_filters_counts_and_pages,
            a_purged_room_is_gone_and_refuses_appends,
            a_threepid_belongs_to_one_user,
            a_threepid_has_one_owner_and_is_listed_per_user,
            logging_out_everywhere_deletes_only_that_users_tokens_and_devices,
            users_are_listed_in_pages,
            an_email_validation_session_mails_once_per_attempt_and_validates_with_its_token,
        );
    };
    (@cases (directory) $open:expr; $($case:ident),* $(,)?) => {
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
    // `open` is an async function answering `None` when its database is not available
    // (the case is then skipped with a note), else the store and a guard dropped after.
    (@cases (fresh) $open:expr; $($case:ident),* $(,)?) => {
        mod conformance {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let open = $open;
                    let Some((storage, _guard)) = open().await else { return };
                    $crate::storage::conformance::$case(std::sync::Arc::new(storage)).await;
                }
            )*
        }
    };
}

pub(crate) fn user(name: &str) -> OwnedUserId {
    UserId::parse(format!("@{name}:test.local")).unwrap()
}

fn new_room_id(n: u32) -> OwnedRoomId {
    RoomId::parse(format!("!room{n}:test.local")).unwrap()
}

pub(crate) fn event(
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

pub(crate) fn member(room: &RoomId, sender: &UserId, target: &UserId, membership: &str) -> Event {
    event(room, sender, "m.room.member", Some(target.as_str()), json!({ "membership": membership }))
}

pub(crate) fn allow() -> Authorise {
    Box::new(|_| Ok(()))
}

/// Allows senders whose membership is `join`.
pub(crate) fn joined_only(sender: OwnedUserId) -> Authorise {
    Box::new(move |state| match state.get("m.room.member", sender.as_str()).and_then(Event::membership) {
        Some(Membership::Join) => Ok(()),
        _ => Err(MatrixError::new(403, ErrCode::FORBIDDEN, "not in room")),
    })
}

/// A room `n` created by alice, with bob joined when `with_bob`.
pub(crate) async fn room_with_members(storage: &dyn Storage, n: u32, with_bob: bool) -> OwnedRoomId {
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

pub(crate) fn txn(sender: &UserId, device: &str, room: &RoomId, txn_id: &str) -> TxnKey {
    TxnKey::send(sender.to_owned(), TxnClient::Device(device.to_owned()), room, "m.room.message", txn_id)
}

pub(crate) fn message(room: &RoomId, sender: &UserId, body: &str) -> Event {
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

fn owner(name: &str, device: &str) -> TokenOwner {
    TokenOwner { user_id: user(name), device_id: device.to_owned() }
}

async fn registered(storage: &dyn Storage, name: &str) -> OwnedUserId {
    let record = UserRecord {
        user_id: user(name),
        password_hash: Some("old".into()),
        is_admin: false,
        shadow_banned: false,
        deactivated: false,
        creation_ts: 1,
    };
    let login = Some((format!("{name}-tok1"), "DEV1".to_owned()));
    assert!(storage.register(NewAccount { user: record, profile: Profile::default(), login }).await.unwrap());
    user(name)
}

/// A login makes a device; deleting it deletes its tokens and no other device's.
pub(crate) async fn deleting_a_device_logs_out_its_tokens_only(storage: Arc<impl Storage>) {
    let dave = registered(&*storage, "dave").await;
    storage.create_token("dave-tok2", &owner("dave", "DEV2")).await.unwrap();
    storage.create_token("dave-tok3", &owner("dave", "DEV2")).await.unwrap();
    let ids: Vec<String> = storage.devices(&dave).await.unwrap().into_iter().map(|d| d.device_id).collect();
    assert_eq!(ids, ["DEV1", "DEV2"]);
    assert!(storage.rename_device(&dave, "DEV2", Some("Phone")).await.unwrap());
    assert!(!storage.rename_device(&dave, "NOPE", Some("x")).await.unwrap());
    assert_eq!(storage.devices(&dave).await.unwrap()[1].display_name.as_deref(), Some("Phone"));
    let deleted = storage.delete_devices(&dave, &["DEV2".to_owned(), "NOPE".to_owned()]).await.unwrap();
    // Each deleted token, stored form and device, for `on_logged_out`.
    assert_eq!(deleted.len(), 2, "{deleted:?}");
    assert!(deleted.iter().all(|(_, device)| device == "DEV2"), "{deleted:?}");
    assert!(storage.session("dave-tok2").await.unwrap().is_none());
    assert!(storage.session("dave-tok3").await.unwrap().is_none());
    assert!(storage.session("dave-tok1").await.unwrap().is_some());
    assert_eq!(storage.devices(&dave).await.unwrap().len(), 1);
}

async fn device_ids(storage: &dyn Storage, user: &UserId) -> Vec<String> {
    storage.devices(user).await.unwrap().into_iter().map(|d| d.device_id).collect()
}

async fn password_hash(storage: &dyn Storage, user: &UserId) -> Option<String> {
    storage.user(user).await.unwrap().unwrap().password_hash
}

/// A password change replaces the hash and, in the same write, logs out what it is told
/// to: nothing, every session but the requester's (device and token), or everything;
/// a logged-out device is gone from the device list, and the deleted tokens are
/// answered. Another user's sessions are untouched.
pub(crate) async fn a_password_change_logs_out_nothing_all_but_one_session_or_everything(storage: Arc<impl Storage>) {
    let erin = registered(&*storage, "erin").await;
    let fred = registered(&*storage, "fred").await;
    storage.create_token("erin-tok2", &owner("erin", "DEV1")).await.unwrap();
    storage.create_token("erin-tok3", &owner("erin", "DEV3")).await.unwrap();
    assert!(storage.set_password(&erin, "first", LogOut::Nothing).await.unwrap().is_empty());
    assert_eq!(password_hash(&*storage, &erin).await.as_deref(), Some("first"));
    assert_eq!(device_ids(&*storage, &erin).await, ["DEV1", "DEV3"], "no log-out asked");
    assert!(storage.session("erin-tok3").await.unwrap().is_some());

    let keep = LogOut::AllBut { device_id: "DEV1", token: "erin-tok1" };
    let mut deleted = storage.set_password(&erin, "second", keep).await.unwrap();
    deleted.sort();
    assert_eq!(deleted, [("erin-tok2".to_owned(), "DEV1".to_owned()), ("erin-tok3".to_owned(), "DEV3".to_owned())]);
    assert_eq!(password_hash(&*storage, &erin).await.as_deref(), Some("second"));
    assert!(storage.session("erin-tok1").await.unwrap().is_some());
    assert!(storage.session("erin-tok2").await.unwrap().is_none(), "another token of the same device");
    assert!(storage.session("erin-tok3").await.unwrap().is_none());
    assert_eq!(device_ids(&*storage, &erin).await, ["DEV1"]);

    storage.create_token("erin-tok4", &owner("erin", "DEV4")).await.unwrap();
    let mut deleted = storage.set_password(&erin, "third", LogOut::Everything).await.unwrap();
    deleted.sort();
    assert_eq!(deleted, [("erin-tok1".to_owned(), "DEV1".to_owned()), ("erin-tok4".to_owned(), "DEV4".to_owned())]);
    assert_eq!(password_hash(&*storage, &erin).await.as_deref(), Some("third"));
    assert!(storage.session("erin-tok1").await.unwrap().is_none());
    assert!(storage.session("erin-tok4").await.unwrap().is_none());
    assert!(device_ids(&*storage, &erin).await.is_empty(), "a logged-out device is gone");

    assert_eq!(password_hash(&*storage, &fred).await.as_deref(), Some("old"));
    assert!(storage.session("fred-tok1").await.unwrap().is_some());
    assert_eq!(device_ids(&*storage, &fred).await, ["DEV1"]);
}

/// Push-rule edits run one at a time on the stored document: concurrent edits all land,
/// and a refused edit writes nothing.
pub(crate) async fn concurrent_push_rule_edits_all_land_and_a_refused_edit_writes_nothing(
    storage: Arc<impl Storage + 'static>,
) {
    let frank = user("frank");
    assert!(storage.push_rules(&frank).await.unwrap().is_empty());
    let mut tasks = Vec::new();
    for n in 0..16 {
        let (storage, frank) = (storage.clone(), frank.clone());
        tasks.push(tokio::spawn(async move {
            let edit: super::PushRulesEdit = Box::new(move |mut document| {
                let list = document.entry("override").or_insert_with(|| json!([]));
                list.as_array_mut().unwrap().push(json!({ "rule_id": format!("r{n}") }));
                Ok(document)
            });
            storage.update_push_rules(&frank, edit).await.unwrap().unwrap();
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let document = storage.push_rules(&frank).await.unwrap();
    assert_eq!(document["override"].as_array().unwrap().len(), 16);
    let refused: super::PushRulesEdit = Box::new(|_| Err(MatrixError::new(404, ErrCode::NOT_FOUND, "Unknown rule")));
    let answer = storage.update_push_rules(&frank, refused).await.unwrap();
    assert_eq!(answer.unwrap_err().status, 404);
    assert_eq!(storage.push_rules(&frank).await.unwrap(), document);
}

/// Unread events are those after the user's membership event, newest `limit`, oldest
/// first, none past `until`; a user not in the room has none.
pub(crate) async fn unread_events_start_after_the_users_membership(storage: Arc<impl Storage>) {
    let room = room_with_members(&*storage, 1, false).await;
    let (alice, bob) = (user("alice"), user("bob"));
    storage.append_local_event(message(&room, &alice, "before bob"), None, allow()).await.unwrap();
    storage.append_local_event(member(&room, &bob, &bob, "join"), None, allow()).await.unwrap();
    for body in ["one", "two", "three"] {
        storage.append_local_event(message(&room, &alice, body), None, allow()).await.unwrap();
    }
    let until = storage.stream_positions().await.unwrap().events;
    let bodies = |events: Vec<super::StoredEvent>| -> Vec<String> {
        events.into_iter().map(|e| e.event.content["body"].as_str().unwrap_or_default().to_owned()).collect()
    };
    assert_eq!(bodies(storage.unread_events(&bob, &room, until, 10).await.unwrap()), ["one", "two", "three"]);
    assert_eq!(bodies(storage.unread_events(&bob, &room, until, 2).await.unwrap()), ["two", "three"]);
    assert_eq!(bodies(storage.unread_events(&bob, &room, until - 1, 10).await.unwrap()), ["one", "two"]);
    assert!(storage.unread_events(&user("carol"), &room, until, 10).await.unwrap().is_empty());
}

/// The same filter text answers the same ID; IDs and filters are per user.
pub(crate) async fn identical_filters_share_an_id_and_filters_are_per_user(storage: Arc<impl Storage>) {
    let (gina, hank) = (user("gina"), user("hank"));
    let first = storage.create_filter(&gina, r#"{"room":{}}"#).await.unwrap();
    let second = storage.create_filter(&gina, r#"{"presence":{}}"#).await.unwrap();
    assert_ne!(first, second);
    assert_eq!(storage.create_filter(&gina, r#"{"room":{}}"#).await.unwrap(), first);
    assert_eq!(storage.filter(&gina, second).await.unwrap().as_deref(), Some(r#"{"presence":{}}"#));
    assert_eq!(storage.filter(&hank, second).await.unwrap(), None);
    assert_eq!(storage.filter(&gina, u64::MAX).await.unwrap(), None);
}

async fn stored(storage: &dyn Storage, event: Event) -> (i64, Event) {
    match storage.append_local_event(event, None, allow()).await.unwrap() {
        Appended::Stored { event, .. } => (event.stream_ordering, event.event),
        Appended::Duplicate(id) => panic!("unexpected duplicate {id}"),
    }
}

/// Appending a redaction prunes the event it names, in the stored event and in the
/// current state, and marks it with `redacted_because`; an event of another room is left alone.
pub(crate) async fn a_redaction_prunes_its_target_in_the_same_append(storage: Arc<impl Storage>) {
    let room = room_with_members(&*storage, 1, true).await;
    let other = room_with_members(&*storage, 2, false).await;
    let (alice, bob) = (user("alice"), user("bob"));
    let (_, secret) = stored(&*storage, message(&room, &bob, "secret")).await;
    let (_, topic) = stored(&*storage, event(&room, &alice, "m.room.topic", Some(""), json!({ "topic": "t" }))).await;
    let (_, elsewhere) = stored(&*storage, message(&other, &alice, "kept")).await;
    for target in [&secret, &topic, &elsewhere] {
        let redaction = event(&room, &alice, "m.room.redaction", None, json!({ "redacts": target.event_id }));
        stored(&*storage, redaction).await;
    }
    let read = storage.event(secret.event_id.as_str()).await.unwrap().unwrap().event;
    assert!(read.content.is_empty(), "{:?}", read.content);
    assert_eq!(read.unsigned["redacted_because"]["content"]["redacts"], secret.event_id.as_str());
    let state = storage.current_state(&room).await.unwrap().unwrap();
    let topic_now = state.get("m.room.topic", "").unwrap();
    assert_eq!(topic_now.event_id, topic.event_id);
    assert!(topic_now.content.is_empty());
    let kept = storage.event(elsewhere.event_id.as_str()).await.unwrap().unwrap().event;
    assert_eq!(kept.content["body"], "kept");
}

/// Returns once `user` has had no wake-up for 300 ms (at most 5 s of wake-ups).
async fn settle(storage: &impl Storage, user: &UserId) {
    for _ in 0..16 {
        let mut waiter = storage.sync_waiter(user, false);
        if tokio::time::timeout(Duration::from_millis(300), waiter.changed()).await.is_err() {
            return;
        }
    }
    panic!("{user} kept being woken for 5 s with nothing written");
}

fn receipt(room: &RoomId, reader: &UserId, receipt_type: &str, event: &Event) -> Receipt {
    Receipt {
        room_id: room.to_owned(),
        user_id: reader.to_owned(),
        receipt_type: receipt_type.to_owned(),
        thread_id: None,
        event_id: event.event_id.clone(),
        ts: 7,
    }
}

/// A receipt for an earlier event than the stored one is ignored; `read_up_to` follows
/// the latest; a private receipt wakes only its user, a public one the room.
pub(crate) async fn receipts_only_move_forward_and_private_ones_wake_only_their_user(storage: Arc<impl Storage>) {
    let room = room_with_members(&*storage, 1, true).await;
    let (alice, bob) = (user("alice"), user("bob"));
    let (first_position, first) = stored(&*storage, message(&room, &alice, "one")).await;
    let mut woken = storage.sync_waiter(&alice, false);
    let (second_position, second) = stored(&*storage, message(&room, &alice, "two")).await;
    tokio::time::timeout(Duration::from_secs(5), woken.changed()).await.expect("alice is woken by her message");
    // A backend may deliver a send's wake-ups after the send returned (PostgreSQL wakes
    // once the position is persisted), and the first message's may come after the second
    // one's waiter was made: wait until both users' wake-ups go quiet, so the waiters made
    // below see only the receipts'.
    settle(&*storage, &alice).await;
    settle(&*storage, &bob).await;
    assert_eq!(storage.read_up_to(&bob, &room).await.unwrap(), None);
    let start = storage.stream_positions().await.unwrap().receipts;

    let alice_waiter = storage.sync_waiter(&alice, false);
    let mut bob_waiter = storage.sync_waiter(&bob, false);
    assert!(storage.set_receipt(receipt(&room, &bob, "m.read.private", &first)).await.unwrap().is_some());
    tokio::time::timeout(Duration::from_secs(5), bob_waiter.changed()).await.expect("bob is woken");
    assert!(!alice_waiter.has_changed(), "a private receipt wakes nobody else");
    assert_eq!(storage.read_up_to(&bob, &room).await.unwrap(), Some(first_position));

    let mut alice_waiter = storage.sync_waiter(&alice, false);
    let position = storage.set_receipt(receipt(&room, &bob, "m.read", &second)).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), alice_waiter.changed()).await.expect("alice is woken");
    assert_eq!(storage.read_up_to(&bob, &room).await.unwrap(), Some(second_position));
    assert!(storage.set_receipt(receipt(&room, &bob, "m.read", &first)).await.unwrap().is_none(), "older");
    assert_eq!(storage.stream_positions().await.unwrap().receipts, position.unwrap());

    let all = storage.receipts_between(std::slice::from_ref(&room), start, position.unwrap()).await.unwrap();
    let kinds: Vec<(&str, &str)> =
        all.iter().map(|r| (r.receipt.receipt_type.as_str(), r.receipt.event_id.as_str())).collect();
    assert_eq!(kinds, [("m.read.private", first.event_id.as_str()), ("m.read", second.event_id.as_str())]);
    let unknown = message(&room, &alice, "never stored");
    assert!(storage.set_receipt(receipt(&room, &bob, "m.read", &unknown)).await.unwrap().is_none());
}

/// Room account data takes positions on the account-data stream, is replaced atomically
/// by its update (which may leave it unchanged), and wakes its user.
pub(crate) async fn room_account_data_shares_the_account_data_stream(storage: Arc<impl Storage>) {
    let room = room_with_members(&*storage, 1, false).await;
    let (alice, bob) = (user("alice"), user("bob"));
    let content = |v: i64| serde_json::from_value::<JsonObject>(json!({ "v": v })).unwrap();
    storage.set_account_data(&alice, "m.direct", &content(1)).await.unwrap();
    let before = storage.stream_positions().await.unwrap().account_data;
    let mut alice_waiter = storage.sync_waiter(&alice, false);
    let bob_waiter = storage.sync_waiter(&bob, false);
    let set: UpdateAccountData = Box::new(move |old| {
        assert!(old.is_none());
        Some(content(2))
    });
    assert_eq!(storage.update_room_account_data(&alice, &room, "m.tag", set).await.unwrap(), Some(content(2)));
    tokio::time::timeout(Duration::from_secs(5), alice_waiter.changed()).await.expect("alice is woken");
    assert!(!bob_waiter.has_changed());
    let after = storage.stream_positions().await.unwrap().account_data;
    assert!(after > before);
    let unchanged: UpdateAccountData = Box::new(move |old| {
        assert_eq!(old, Some(content(2)));
        None
    });
    assert_eq!(storage.update_room_account_data(&alice, &room, "m.tag", unchanged).await.unwrap(), None);
    assert_eq!(storage.stream_positions().await.unwrap().account_data, after);
    assert_eq!(storage.room_account_data(&alice, &room, "m.tag").await.unwrap(), Some(content(2)));
    let entries = storage.room_account_data_between(&alice, before, after).await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!((entries[0].room_id.as_str(), entries[0].data_type.as_str()), (room.as_str(), "m.tag"));
    storage.set_account_data(&alice, "m.direct", &content(3)).await.unwrap();
    assert!(storage.stream_positions().await.unwrap().account_data > after, "global data follows room data");
    assert!(storage.room_account_data_between(&alice, after, after + 10).await.unwrap().is_empty());
}

/// Forgetting is refused while joined, hides a left room, and ends with a new membership.
pub(crate) async fn forgetting_a_room_needs_the_user_to_have_left(storage: Arc<impl Storage>) {
    let room = room_with_members(&*storage, 1, true).await;
    let bob = user("bob");
    assert_eq!(storage.forget_room(&bob, &room).await.unwrap(), Forget::StillInRoom("join".into()));
    assert_eq!(storage.forget_room(&bob, &new_room_id(9)).await.unwrap(), Forget::Forgotten, "never a member");
    storage.append_local_event(member(&room, &bob, &bob, "leave"), None, allow()).await.unwrap();
    assert_eq!(storage.rooms_with_membership(&bob, "leave").await.unwrap(), std::slice::from_ref(&room));
    assert_eq!(storage.forget_room(&bob, &room).await.unwrap(), Forget::Forgotten);
    assert!(storage.rooms_with_membership(&bob, "leave").await.unwrap().is_empty());
    storage.append_local_event(member(&room, &bob, &bob, "join"), None, allow()).await.unwrap();
    assert_eq!(storage.rooms_with_membership(&bob, "join").await.unwrap(), [room]);
}

/// The state at a position is made of the state events up to it.
pub(crate) async fn state_at_a_position_holds_the_state_events_up_to_it(storage: Arc<impl Storage>) {
    let room = room_with_members(&*storage, 1, false).await;
    let alice = user("alice");
    let (first, _) = stored(&*storage, event(&room, &alice, "m.room.topic", Some(""), json!({ "topic": "a" }))).await;
    stored(&*storage, message(&room, &alice, "between")).await;
    stored(&*storage, event(&room, &alice, "m.room.topic", Some(""), json!({ "topic": "b" }))).await;
    let then = storage.state_at(&room, first).await.unwrap().unwrap();
    assert_eq!(then.get("m.room.topic", "").unwrap().content["topic"], "a");
    assert!(then.get("m.room.member", alice.as_str()).is_some());
    let now = storage.state_at(&room, i64::MAX).await.unwrap().unwrap();
    assert_eq!(now.get("m.room.topic", "").unwrap().content["topic"], "b");
    assert!(storage.state_at(&new_room_id(9), 1).await.unwrap().is_none());
}

async fn register_plain(storage: &dyn Storage, name: &str, displayname: &str, login: Option<&str>) {
    let record = UserRecord {
        user_id: user(name),
        password_hash: Some("hash".into()),
        is_admin: false,
        shadow_banned: false,
        deactivated: false,
        creation_ts: 1,
    };
    let profile = Profile { displayname: Some(displayname.into()), avatar_url: None };
    let login = login.map(|token| (token.to_owned(), "DEV".to_owned()));
    assert!(storage.register(NewAccount { user: record, profile, login }).await.unwrap());
}

/// The admin user list: ordered by ID, deactivated users only when asked, `name`
/// matching the ID or the display name, `total` counting every match.
pub(crate) async fn the_admin_user_page_filters_counts_and_pages(storage: Arc<impl Storage>) {
    for (name, displayname) in [("ann", "Annie"), ("bob", "Robert"), ("cat", "Cathy"), ("dan", "Daniel")] {
        register_plain(&*storage, name, displayname, None).await;
    }
    storage.set_deactivated(&user("dan"), true).await.unwrap();
    storage.set_admin(&user("ann"), true).await.unwrap();
    let names =
        |page: &[(UserRecord, Profile)]| page.iter().map(|(u, _)| u.user_id.localpart().to_owned()).collect::<Vec<_>>();
    let (page, total) = storage.users_page(&UserQuery { from: 1, limit: 1, ..UserQuery::default() }).await.unwrap();
    assert_eq!((names(&page), total), (vec!["bob".to_owned()], 3));
    let all = UserQuery { limit: 10, deactivated: true, ..UserQuery::default() };
    let (page, total) = storage.users_page(&all).await.unwrap();
    assert_eq!((names(&page).len(), total), (4, 4));
    assert!(page[0].0.is_admin && page[0].1.displayname.as_deref() == Some("Annie"));
    let by_name = UserQuery { limit: 10, name: Some("ROBE".into()), ..UserQuery::default() };
    assert_eq!(names(&storage.users_page(&by_name).await.unwrap().0), ["bob"]);
    let by_id = UserQuery { limit: 10, user_id: Some("@c".into()), ..UserQuery::default() };
    assert_eq!(names(&storage.users_page(&by_id).await.unwrap().0), ["cat"]);
}

/// A purged room is unknown afterwards (state, events, aliases), appends to it are
/// refused, and blocking is remembered apart from the room.
pub(crate) async fn a_purged_room_is_gone_and_refuses_appends(storage: Arc<impl Storage>) {
    let room = room_with_members(&*storage, 9, true).await;
    let alice = user("alice");
    storage.append_local_event(message(&room, &alice, "hi"), None, allow()).await.unwrap();
    assert!(storage.create_alias("#gone:test.local", &room, &alice).await.unwrap());
    assert_eq!(storage.room_aliases(&room).await.unwrap(), ["#gone:test.local"]);
    storage.set_room_blocked(&room, Some(&alice)).await.unwrap();
    storage.purge_room(&room).await.unwrap();
    assert!(storage.current_state(&room).await.unwrap().is_none());
    assert!(room_messages(&*storage, &room).await.is_empty());
    assert!(storage.alias("#gone:test.local").await.unwrap().is_none());
    assert!(storage.rooms_with_membership(&user("bob"), "join").await.unwrap().is_empty());
    let late = storage.append_local_event(message(&room, &alice, "late"), None, allow()).await;
    assert!(matches!(late, Err(AppendError::UnknownRoom)), "{late:?}");
    assert!(storage.room_blocked(&room).await.unwrap());
    storage.set_room_blocked(&room, None).await.unwrap();
    assert!(!storage.room_blocked(&room).await.unwrap());
}

/// A third-party identifier is held by one user at most; adding it again is a no-op.
pub(crate) async fn a_threepid_belongs_to_one_user(storage: Arc<impl Storage>) {
    register_plain(&*storage, "una", "Una", None).await;
    register_plain(&*storage, "vic", "Vic", None).await;
    assert!(storage.add_threepid(&user("una"), "email", "u@x.org", 1).await.unwrap());
    assert!(storage.add_threepid(&user("una"), "email", "u@x.org", 2).await.unwrap());
    assert!(!storage.add_threepid(&user("vic"), "email", "u@x.org", 3).await.unwrap());
    assert!(storage.add_threepid(&user("una"), "msisdn", "123", 4).await.unwrap());
    let held = storage.threepids(&user("una")).await.unwrap();
    let held: Vec<(String, String)> = held.into_iter().map(|held| (held.medium, held.address)).collect();
    assert_eq!(held, [("email".to_owned(), "u@x.org".to_owned()), ("msisdn".to_owned(), "123".to_owned())]);
    assert!(storage.threepids(&user("vic")).await.unwrap().is_empty());
    storage.remove_threepid(&user("una"), "email", "u@x.org").await.unwrap();
    assert!(storage.add_threepid(&user("vic"), "email", "u@x.org", 5).await.unwrap());
}

fn threepid(address: &str, added_at: u64) -> Threepid {
    Threepid { medium: "email".to_owned(), address: address.to_owned(), validated_at: added_at, added_at }
}

async fn add_email(storage: &dyn Storage, owner: &UserId, address: &str, added_at: u64) -> bool {
    storage.add_threepid(owner, "email", address, added_at).await.unwrap()
}

pub(crate) async fn a_threepid_has_one_owner_and_is_listed_per_user(storage: Arc<impl Storage>) {
    let (alice, bob) = (user("alice"), user("bob"));
    assert!(add_email(&*storage, &alice, "a@example.org", 1).await);
    assert!(add_email(&*storage, &alice, "a2@example.org", 2).await);
    assert!(!add_email(&*storage, &bob, "a@example.org", 3).await, "taken by alice");
    let listed = storage.threepids(&alice).await.unwrap();
    assert_eq!(listed, [threepid("a@example.org", 1), threepid("a2@example.org", 2)]);
    assert!(storage.threepids(&bob).await.unwrap().is_empty());
    assert_eq!(storage.user_by_threepid("email", "a@example.org").await.unwrap(), Some(alice));
    assert_eq!(storage.user_by_threepid("msisdn", "a@example.org").await.unwrap(), None);
}

/// `/logout/all`: every token and device of the user go, in one write; another user's
/// stay.
pub(crate) async fn logging_out_everywhere_deletes_only_that_users_tokens_and_devices(storage: Arc<impl Storage>) {
    let (alice, bob) = (user("alice"), user("bob"));
    for (token, owner, device) in [("t1", &alice, "D1"), ("t2", &alice, "D2"), ("t3", &bob, "D3")] {
        let owner = TokenOwner { user_id: owner.clone(), device_id: device.to_owned() };
        storage.create_token(token, &owner).await.unwrap();
    }
    assert_eq!(storage.devices(&alice).await.unwrap().len(), 2);
    let mut deleted = storage.log_out_everywhere(&alice).await.unwrap();
    deleted.sort();
    assert_eq!(deleted, [("t1".to_owned(), "D1".to_owned()), ("t2".to_owned(), "D2".to_owned())]);
    assert!(storage.log_out_everywhere(&alice).await.unwrap().is_empty());
    assert!(storage.devices(&alice).await.unwrap().is_empty(), "a logged-out device is gone");
    let kept: Vec<String> = storage.devices(&bob).await.unwrap().into_iter().map(|d| d.device_id).collect();
    assert_eq!(kept, ["D3"]);
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
    let first = storage.users_after(None, 2).await.unwrap();
    let last = first[1].user_id.clone();
    assert_eq!(page(first), [("@a:test.local".to_owned(), false), ("@b:test.local".to_owned(), true)]);
    let rest = storage.users_after(Some(&last), 2).await.unwrap();
    assert_eq!(page(rest), [("@c:test.local".to_owned(), false)]);
}

fn validation_request(client_secret: &str, send_attempt: i64, session_id: &str, token: &str) -> ValidationRequest {
    ValidationRequest {
        medium: "email".to_owned(),
        address: "v@x.org".to_owned(),
        client_secret: client_secret.to_owned(),
        send_attempt,
        session_id: session_id.to_owned(),
        token: token.to_owned(),
        next_link: Some(format!("https://client.example/done?attempt={send_attempt}")),
        token_expires: 1000,
        now: 100,
    }
}

/// A session is continued (not duplicated) for the same client secret and address; a
/// mail goes out only for a higher `send_attempt`, whose token replaces the earlier one;
/// the token validates the session until it expires, and a validated session stays so.
pub(crate) async fn an_email_validation_session_mails_once_per_attempt_and_validates_with_its_token(
    storage: Arc<impl Storage>,
) {
    let started = |session_id: &str, send: bool| ValidationStarted { session_id: session_id.to_owned(), send };
    let first = storage.start_threepid_validation(validation_request("cs", 1, "S1", "tok1")).await.unwrap();
    assert_eq!(first, started("S1", true));
    let again = storage.start_threepid_validation(validation_request("cs", 1, "S2", "tok2")).await.unwrap();
    assert_eq!(again, started("S1", false), "the same attempt: no mail, the same session");
    let next = storage.start_threepid_validation(validation_request("cs", 2, "S3", "tok3")).await.unwrap();
    assert_eq!(next, started("S1", true), "a higher attempt: a mail with a new token");
    let other = storage.start_threepid_validation(validation_request("other", 1, "S4", "tok4")).await.unwrap();
    assert_eq!(other, started("S4", true), "another client secret is another session");

    let validate = |sid: &'static str, secret: &'static str, token: &'static str, now: i64| {
        let storage = storage.clone();
        async move { storage.validate_threepid_session(sid, secret, token, now).await.unwrap() }
    };
    assert_eq!(validate("S1", "other", "tok3", 200).await, Err(ValidationFailure::UnknownSession));
    assert_eq!(validate("S9", "cs", "tok3", 200).await, Err(ValidationFailure::UnknownSession));
    assert_eq!(validate("S1", "cs", "tok1", 200).await, Err(ValidationFailure::WrongToken), "replaced by tok3");
    assert_eq!(validate("S1", "cs", "tok3", 1001).await, Err(ValidationFailure::Expired));
    assert_eq!(storage.validated_threepid_session("S1", "cs").await.unwrap(), None, "not validated yet");
    let validated = ValidatedThreepid {
        medium: "email".to_owned(),
        address: "v@x.org".to_owned(),
        validated_at: 300,
        next_link: Some("https://client.example/done?attempt=2".to_owned()),
    };
    assert_eq!(validate("S1", "cs", "tok3", 300).await, Ok(validated.clone()));
    assert_eq!(validate("S1", "cs", "tok3", 400).await, Ok(validated.clone()), "validated once, at 300");
    assert_eq!(storage.validated_threepid_session("S1", "cs").await.unwrap(), Some(validated.clone()));
    assert_eq!(storage.validated_threepid_session("S1", "other").await.unwrap(), None);
    // Taken once: of two takes at the same time, exactly one gets it.
    let take = || storage.take_validated_threepid_session("S1", "cs");
    assert_eq!(storage.take_validated_threepid_session("S1", "other").await.unwrap(), None, "another secret");
    let (first, second) = tokio::join!(take(), take());
    let taken: Vec<ValidatedThreepid> = [first.unwrap(), second.unwrap()].into_iter().flatten().collect();
    assert_eq!(taken, std::slice::from_ref(&validated), "one of two concurrent takes gets the session");
    assert_eq!(take().await.unwrap(), None, "taken for good");
    assert_eq!(storage.validated_threepid_session("S1", "cs").await.unwrap(), None);

    // A validated session is not continued: the same triple opens a new one.
    let fresh = storage.start_threepid_validation(validation_request("cs", 1, "S5", "tok5")).await.unwrap();
    assert_eq!(fresh, started("S5", true));
    // Unvalidated sessions whose token expired are dropped when the next one starts.
    let mut late = validation_request("late", 1, "S6", "tok6");
    late.now = 2000;
    late.token_expires = 5000;
    storage.start_threepid_validation(late).await.unwrap();
    assert_eq!(validate("S4", "other", "tok4", 500).await, Err(ValidationFailure::UnknownSession), "S4 expired");
    storage.abandon_threepid_validation("S6").await.unwrap();
    assert_eq!(validate("S6", "late", "tok6", 2100).await, Err(ValidationFailure::UnknownSession));
}
