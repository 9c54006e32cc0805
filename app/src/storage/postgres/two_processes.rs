//! Two stores on one fresh database stand for two `mxmod` processes: positions in flight
//! bound every reader, and changes through one reach the other's waiters and caches.

use std::{sync::Arc, time::Duration};

use mxmod::types::{Event, Membership};

use super::{
    positions::{allocate, Stream},
    test_database::TestDatabase,
    PostgresStorage,
};
use crate::storage::{
    conformance::{allow, event, joined_only, member, message, room_with_members, user},
    AppendError, Storage,
};

/// Waits until `listener` has heard a write `writer` makes now (room `n`): the change
/// channel is one ordered stream, so `listener` has then handled every notification sent
/// before it.
async fn hears_a_later_write(listener: &PostgresStorage, writer: &PostgresStorage, n: u32) {
    let mut waiter = listener.sync_waiter(&user("alice"), false);
    room_with_members(writer, n, false).await;
    tokio::time::timeout(Duration::from_secs(10), waiter.changed()).await.expect("the write is heard");
}

async fn two_processes() -> Option<(PostgresStorage, PostgresStorage, TestDatabase)> {
    let database = TestDatabase::create()?;
    let a = PostgresStorage::connect(&database.settings).await.unwrap();
    let b = PostgresStorage::connect(&database.settings).await.unwrap();
    Some((a, b, database))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_reader_passes_a_position_still_being_written() {
    let Some((a, b, _database)) = two_processes().await else { return };
    let room = room_with_members(&a, 1, false).await;
    let alice = user("alice");
    // A writer on A draws a position and has not committed yet.
    let mut client = a.shared.client().await.unwrap();
    let transaction = client.transaction().await.unwrap();
    let held = allocate(&transaction, Stream::Events).await.unwrap();
    // Later positions commit through B meanwhile.
    for n in 0..3 {
        b.append_local_event(message(&room, &alice, &n.to_string()), None, allow()).await.unwrap();
    }
    for store in [&a, &b] {
        let persisted = store.stream_positions().await.unwrap().events;
        assert_eq!(persisted, held - 1, "every reader stops before the position in flight");
    }
    // The writer ends (here without writing): the bound moves past everything.
    transaction.rollback().await.unwrap();
    let persisted = b.stream_positions().await.unwrap().events;
    assert_eq!(persisted, held + 3);
    let events = b.events_between(std::slice::from_ref(&room), held - 1, persisted, 100).await.unwrap();
    assert_eq!(events.len(), 3, "the later events are delivered once the bound moves");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_on_one_process_wakes_a_sync_parked_on_the_other() {
    let Some((a, b, _database)) = two_processes().await else { return };
    let room = room_with_members(&a, 1, true).await;
    let (alice, bob, carol) = (user("alice"), user("bob"), user("carol"));
    let mut bob_on_b = b.sync_waiter(&bob, false);
    let carol_on_b = b.sync_waiter(&carol, false);
    a.append_local_event(message(&room, &alice, "hi"), None, allow()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), bob_on_b.changed()).await.expect("bob's sync on B is woken");
    assert!(!carol_on_b.has_changed(), "carol is not in the room");
    let until = b.stream_positions().await.unwrap().events;
    let seen = b.events_between(std::slice::from_ref(&room), 0, until, 100).await.unwrap();
    assert!(seen.iter().any(|stored| stored.event.content.get("body").and_then(|b| b.as_str()) == Some("hi")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_change_on_one_process_reaches_the_others_cache_and_authorisation() {
    let Some((a, b, _database)) = two_processes().await else { return };
    let room = room_with_members(&a, 1, true).await;
    let (alice, bob) = (user("alice"), user("bob"));
    // B caches the room with bob joined.
    let cached = b.current_state(&room).await.unwrap().unwrap();
    assert_eq!(cached.get("m.room.member", bob.as_str()).and_then(Event::membership), Some(Membership::Join));
    let mut bob_on_b = b.sync_waiter(&bob, false);
    a.append_local_event(member(&room, &alice, &bob, "ban"), None, allow()).await.unwrap();
    // The room's creation may still be on its way to B and wake bob first: wait for the
    // wake-up that comes with the ban.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        tokio::time::timeout_at(deadline, bob_on_b.changed()).await.expect("the ban wakes bob on B");
        let now = b.current_state(&room).await.unwrap().unwrap();
        if now.get("m.room.member", bob.as_str()).and_then(Event::membership) == Some(Membership::Ban) {
            break;
        }
    }
    // Even before any notification, an append checks the state version under the row lock.
    let refused = b.append_local_event(message(&room, &bob, "late"), None, joined_only(bob.clone())).await;
    assert!(matches!(refused, Err(AppendError::Refused(_))), "{refused:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sends_through_two_processes_are_each_delivered_once_in_order() {
    let Some((a, b, _database)) = two_processes().await else { return };
    let (a, b) = (Arc::new(a), Arc::new(b));
    let room = room_with_members(&*a, 1, false).await;
    let alice = user("alice");
    let reader = {
        let (b, room) = (b.clone(), room.clone());
        tokio::spawn(async move {
            // Incremental reads bounded by the persisted position, as `/sync` does.
            let mut since = 0;
            let mut seen = Vec::new();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            while seen.len() < 200 && tokio::time::Instant::now() < deadline {
                let until = b.stream_positions().await.unwrap().events;
                for stored in b.events_between(std::slice::from_ref(&room), since, until, 1000).await.unwrap() {
                    if stored.event.event_type == "m.room.message" {
                        seen.push(stored.event.event_id);
                    }
                }
                since = until;
            }
            seen
        })
    };
    let mut writers = Vec::new();
    for n in 0..200 {
        let (store, room, alice) = (if n % 2 == 0 { a.clone() } else { b.clone() }, room.clone(), alice.clone());
        writers.push(tokio::spawn(async move {
            store.append_local_event(message(&room, &alice, &n.to_string()), None, allow()).await.unwrap();
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let seen = reader.await.unwrap();
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (200, 200), "every event is read exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_invalidation_published_by_one_process_reaches_the_others_sink() {
    let Some((a, b, _database)) = two_processes().await else { return };
    let (sender, mut received) = tokio::sync::mpsc::unbounded_channel();
    b.on_remote_invalidation(move |instance, method, key| {
        let _ = sender.send((instance.to_owned(), method.to_owned(), key));
    });
    a.cluster().publish_invalidation("user_department", "get_department_for_user", Some(42));
    let got = tokio::time::timeout(Duration::from_secs(10), received.recv()).await.expect("B hears it");
    assert_eq!(got, Some(("user_department".to_owned(), "get_department_for_user".to_owned(), Some(42))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_request_reaches_every_other_process_and_not_the_sender() {
    let Some((a, b, _database)) = two_processes().await else { return };
    let (sender, mut received) = tokio::sync::mpsc::unbounded_channel();
    for (name, store) in [("a", &a), ("b", &b)] {
        let sender = sender.clone();
        store.on_remote_reload(move || {
            let _ = sender.send(name);
        });
    }
    a.request_reload().await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), received.recv()).await.expect("B hears it");
    assert_eq!(got, Some("b"));
    // A write through B afterwards: once A has heard it, A would have heard its own
    // request before it (one channel, in order).
    hears_a_later_write(&a, &b, 7).await;
    assert!(received.try_recv().is_err(), "the sender does not reload twice");
}

/// A connection of the test's own, to watch and cut `store`'s listener connection.
struct ListenerWatch {
    admin: tokio_postgres::Client,
    name: String,
}

impl ListenerWatch {
    async fn new(database: &TestDatabase, store: &PostgresStorage) -> Self {
        let (admin, connection) =
            super::connection_config(&database.settings).connect(tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        Self { admin, name: super::listener::application_name(store.shared.process) }
    }

    /// Cuts the listener connection and waits until it is gone: nothing reaches the
    /// store's listener until it reconnects (its first retry waits 100 ms).
    async fn cut(&self) {
        let cut = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1";
        assert_eq!(self.admin.query(cut, &[&self.name]).await.unwrap().len(), 1, "one listener connection");
        self.wait_for("SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name = $1").await;
    }

    /// Waits until the listener listens again and has read `module_reloads` (its last
    /// statement), so that what it does on reconnecting is done before the next
    /// notification it handles.
    async fn listening_again(&self) {
        self.wait_for(
            "SELECT count(*) = 1 FROM pg_stat_activity
             WHERE application_name = $1 AND state = 'idle' AND query LIKE 'SELECT generation FROM module_reloads%'",
        )
        .await;
    }

    async fn wait_for(&self, condition: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !self.admin.query_one(condition, &[&self.name]).await.unwrap().get::<_, bool>(0) {
            assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {condition}");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_asked_while_a_process_was_not_listening_runs_when_it_listens_again() {
    let Some((a, b, database)) = two_processes().await else { return };
    let (sender, mut received) = tokio::sync::mpsc::unbounded_channel();
    b.on_remote_reload(move || {
        let _ = sender.send(());
    });
    // B's listener connection is cut, and gone, before A asks: the notification reaches
    // nobody on B.
    ListenerWatch::new(&database, &b).await.cut().await;
    a.request_reload().await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), received.recv()).await.expect("B reloads once it listens again");
    // Once: the notification B missed does not reach it later.
    hears_a_later_write(&b, &a, 8).await;
    assert!(received.try_recv().is_err(), "B reloads once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_a_process_applied_is_not_applied_again_when_it_listens_again() {
    let Some((a, b, database)) = two_processes().await else { return };
    let (sender, mut received) = tokio::sync::mpsc::unbounded_channel();
    b.on_remote_reload(move || {
        let _ = sender.send(());
    });
    let watch = ListenerWatch::new(&database, &b).await;
    watch.listening_again().await;
    a.request_reload().await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), received.recv()).await.expect("B hears the first reload");
    // B reconnects with no reload asked meanwhile: the generation it reads is the one it
    // applied from the notification.
    watch.cut().await;
    watch.listening_again().await;
    // A second reload, heard on the new connection after B's reconnecting is done.
    a.request_reload().await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), received.recv()).await.expect("B hears the second reload");
    // A write through A afterwards: once B has heard it, B has handled everything before it.
    hears_a_later_write(&b, &a, 9).await;
    assert!(received.try_recv().is_err(), "two reloads asked, two applied: reconnecting applied none again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn periodic_tasks_run_on_one_process_and_move_when_it_stops() {
    let Some((a, b, _database)) = two_processes().await else { return };
    let (cluster_a, cluster_b) = (a.cluster(), b.cluster());
    let one_leader = || cluster_a.runs_background_tasks() ^ cluster_b.runs_background_tasks();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !one_leader() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(one_leader(), "exactly one process runs background tasks");
    let (leader, follower, follower_cluster) =
        if cluster_a.runs_background_tasks() { (a, b, cluster_b) } else { (b, a, cluster_a) };
    drop(leader);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !follower_cluster.runs_background_tasks() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(follower_cluster.runs_background_tasks(), "the other process takes over");
    drop(follower);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wake_up_waits_until_its_event_is_readable() {
    let Some((a, b, _database)) = two_processes().await else { return };
    let room = room_with_members(&a, 1, true).await;
    let (alice, bob) = (user("alice"), user("bob"));
    // Let the room's own wake-ups pass.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut client = a.shared.client().await.unwrap();
    let transaction = client.transaction().await.unwrap();
    let held = allocate(&transaction, Stream::Events).await.unwrap();
    let mut bob_on_b = b.sync_waiter(&bob, false);
    let mut bob_on_a = a.sync_waiter(&bob, false);
    a.append_local_event(message(&room, &alice, "after the held position"), None, allow()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!bob_on_a.has_changed() && !bob_on_b.has_changed(), "not readable yet: a sync would find nothing");
    assert_eq!(b.stream_positions().await.unwrap().events, held - 1);
    transaction.rollback().await.unwrap();
    for waiter in [&mut bob_on_a, &mut bob_on_b] {
        tokio::time::timeout(Duration::from_secs(5), waiter.changed()).await.expect("woken once readable");
    }
}

/// Waits up to ten seconds for `done` to hold, re-checking every 50 ms.
async fn eventually(mut done: impl AsyncFnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        if done().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    done().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redacted_state_event_reaches_the_others_cached_state() {
    let Some((a, b, _database)) = two_processes().await else { return };
    let room = room_with_members(&a, 1, true).await;
    let alice = user("alice");
    let topic = event(&room, &alice, "m.room.topic", Some(""), serde_json::json!({ "topic": "secret" }));
    let topic_id = topic.event_id.clone();
    a.append_local_event(topic, None, allow()).await.unwrap();
    let topic_on_b = async || {
        let state = b.current_state(&room).await.unwrap().unwrap();
        state.get("m.room.topic", "").map(|topic| topic.content.clone())
    };
    assert!(eventually(async || topic_on_b().await.is_some_and(|content| content["topic"] == "secret")).await);
    let redaction = event(&room, &alice, "m.room.redaction", None, serde_json::json!({ "redacts": topic_id }));
    a.append_local_event(redaction, None, allow()).await.unwrap();
    assert!(
        eventually(async || topic_on_b().await.is_some_and(|content| content.is_empty())).await,
        "B's cached state holds the pruned topic"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purged_room_leaves_every_process_cache() {
    let Some((a, b, _database)) = two_processes().await else { return };
    let room = room_with_members(&a, 1, true).await;
    assert!(b.current_state(&room).await.unwrap().is_some(), "B caches the room");
    a.purge_room(&room).await.unwrap();
    assert!(a.current_state(&room).await.unwrap().is_none(), "A forgets the room at once");
    assert!(eventually(async || b.current_state(&room).await.unwrap().is_none()).await, "B drops its cached state");
    let refused = b.append_local_event(message(&room, &user("alice"), "late"), None, allow()).await;
    assert!(matches!(refused, Err(AppendError::UnknownRoom)), "{refused:?}");
}
