//! Ephemeral data and room account data in `/sync`: typing (with expiry), read receipts
//! (private ones only to their user), read markers, room account data and tags; each
//! wakes the long-polls that will see it, and every endpoint's error answers.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::{config_with_modules, enc, Server};

const V3: &str = "/_matrix/client/v3";

/// Alice's public room with Bob joined; (server, alice, bob, room) with their IDs.
struct Room {
    server: Server,
    alice_id: String,
    alice: String,
    bob_id: String,
    bob: String,
    room: String,
}

fn room() -> Room {
    let server = Server::start(&config_with_modules("  []\n"));
    let (alice_id, alice) = server.register("alice");
    let (bob_id, bob) = server.register("bob");
    let room = server.create_room(&alice, json!({ "preset": "public_chat" }));
    let (status, _) = server.call("POST", &format!("{V3}/join/{}", enc(&room)), Some(&bob), None);
    assert_eq!(status, 200);
    Room { server, alice_id, alice, bob_id, bob, room }
}

impl Room {
    fn sync(&self, token: &str, since: Option<&str>, timeout_ms: u64) -> Value {
        let path = match since {
            Some(since) => format!("{V3}/sync?since={since}&timeout={timeout_ms}"),
            None => format!("{V3}/sync"),
        };
        let (status, answer) = self.server.call("GET", &path, Some(token), None);
        assert_eq!(status, 200, "{answer}");
        answer
    }

    fn send(&self, token: &str, txn: &str, body: &str) -> String {
        let (status, answer) = self.server.send_text(token, &self.room, txn, body);
        assert_eq!(status, 200, "{answer}");
        answer["event_id"].as_str().unwrap().to_owned()
    }

    fn post(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        self.server.call("POST", &format!("{V3}{path}"), Some(token), Some(&body))
    }

    fn put(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        self.server.call("PUT", &format!("{V3}{path}"), Some(token), Some(&body))
    }

    fn typing_path(&self, user: &str) -> String {
        format!("/rooms/{}/typing/{}", enc(&self.room), enc(user))
    }
}

fn ephemeral<'a>(sync: &'a Value, room: &str, kind: &str) -> Option<&'a Value> {
    sync["rooms"]["join"][room]["ephemeral"]["events"].as_array()?.iter().find(|e| e["type"] == kind)
}

fn room_account_data<'a>(sync: &'a Value, room: &str, kind: &str) -> Option<&'a Value> {
    sync["rooms"]["join"][room]["account_data"]["events"].as_array()?.iter().find(|e| e["type"] == kind)
}

fn next(sync: &Value) -> String {
    sync["next_batch"].as_str().unwrap().to_owned()
}

fn assert_error(answer: (u16, Value), status: u16, errcode: &str) {
    assert_eq!(answer.0, status, "{}", answer.1);
    assert_eq!(answer.1["errcode"], errcode, "{}", answer.1);
}

#[test]
fn typing_wakes_the_other_members_long_poll_and_ends_at_its_timeout() {
    let r = room();
    let since = next(&r.sync(&r.bob, None, 0));
    let (typed, waited) = std::thread::scope(|scope| {
        let waiter = scope.spawn(|| {
            let started = Instant::now();
            (r.sync(&r.bob, Some(&since), 20_000), started.elapsed())
        });
        std::thread::sleep(Duration::from_millis(300));
        let answer = r.put(&r.alice, &r.typing_path(&r.alice_id), json!({ "typing": true, "timeout": 1500 }));
        assert_eq!(answer.0, 200, "{}", answer.1);
        waiter.join().unwrap()
    });
    assert!(waited < Duration::from_secs(10), "woken by the typing, not the timeout: {waited:?}");
    let typing = ephemeral(&typed, &r.room, "m.typing").unwrap_or_else(|| panic!("m.typing in {typed}"));
    assert_eq!(typing["content"]["user_ids"], json!([r.alice_id]));

    // The expiry wakes the next long-poll with nobody typing.
    let started = Instant::now();
    let expired = r.sync(&r.bob, Some(&next(&typed)), 20_000);
    assert!(started.elapsed() < Duration::from_secs(10), "woken by the expiry");
    let typing = ephemeral(&expired, &r.room, "m.typing").unwrap_or_else(|| panic!("m.typing in {expired}"));
    assert_eq!(typing["content"]["user_ids"], json!([]));

    // Stopping explicitly is seen too; an initial sync shows only current typing.
    r.put(&r.alice, &r.typing_path(&r.alice_id), json!({ "typing": true, "timeout": 600_000 }));
    assert!(ephemeral(&r.sync(&r.bob, None, 0), &r.room, "m.typing").is_some());
    let since = next(&r.sync(&r.bob, None, 0));
    r.put(&r.alice, &r.typing_path(&r.alice_id), json!({ "typing": false }));
    let stopped = r.sync(&r.bob, Some(&since), 5_000);
    assert_eq!(ephemeral(&stopped, &r.room, "m.typing").unwrap()["content"]["user_ids"], json!([]));
    assert!(ephemeral(&r.sync(&r.bob, None, 0), &r.room, "m.typing").is_none());
}

#[test]
fn typing_is_only_for_oneself_in_a_joined_room() {
    let r = room();
    let (_, carol) = r.server.register("carol");
    let carol_path = r.typing_path("@carol:test.local");
    assert_error(r.put(&r.alice, &r.typing_path(&r.bob_id), json!({ "typing": true })), 400, "M_FORBIDDEN");
    assert_error(r.put(&carol, &carol_path, json!({ "typing": true })), 403, "M_FORBIDDEN");
    assert_error(r.put(&r.alice, &r.typing_path(&r.alice_id), json!({ "timeout": 5 })), 400, "M_BAD_JSON");
    let bad_timeout = json!({ "typing": true, "timeout": "soon" });
    assert_error(r.put(&r.alice, &r.typing_path(&r.alice_id), bad_timeout), 400, "M_BAD_JSON");
    assert_error(r.put(&r.alice, &r.typing_path("not-a-user"), json!({ "typing": true })), 400, "M_INVALID_PARAM");
    let remote = r.typing_path("@alice:elsewhere.example");
    assert_error(r.put(&r.alice, &remote, json!({ "typing": true })), 400, "M_UNKNOWN");
}

#[test]
fn read_receipts_reach_members_and_private_ones_only_their_user() {
    let r = room();
    let first = r.send(&r.alice, "1", "one");
    let second = r.send(&r.alice, "2", "two");
    let alice_since = next(&r.sync(&r.alice, None, 0));
    let bob_since = next(&r.sync(&r.bob, None, 0));
    let receipt_path = |kind: &str, event: &str| format!("/rooms/{}/receipt/{kind}/{}", enc(&r.room), enc(event));

    let (seen, waited) = std::thread::scope(|scope| {
        let waiter = scope.spawn(|| {
            let started = Instant::now();
            (r.sync(&r.alice, Some(&alice_since), 20_000), started.elapsed())
        });
        std::thread::sleep(Duration::from_millis(300));
        let answer = r.post(&r.bob, &receipt_path("m.read", &first), json!({ "thread_id": "main" }));
        assert_eq!(answer.0, 200, "{}", answer.1);
        waiter.join().unwrap()
    });
    assert!(waited < Duration::from_secs(10), "woken by the receipt: {waited:?}");
    let receipt = ephemeral(&seen, &r.room, "m.receipt").unwrap_or_else(|| panic!("m.receipt in {seen}"));
    let mine = &receipt["content"][&first]["m.read"][&r.bob_id];
    assert!(mine["ts"].is_u64(), "{receipt}");
    assert_eq!(mine["thread_id"], "main");

    // A private receipt reaches only its user.
    let alice_since = next(&seen);
    assert_eq!(r.post(&r.bob, &receipt_path("m.read.private", &second), json!({})).0, 200);
    let alice_view = r.sync(&r.alice, Some(&alice_since), 300);
    assert!(ephemeral(&alice_view, &r.room, "m.receipt").is_none(), "{alice_view}");
    let bob_view = r.sync(&r.bob, Some(&bob_since), 0);
    let bob_receipts = &ephemeral(&bob_view, &r.room, "m.receipt").unwrap()["content"];
    assert!(bob_receipts[&second]["m.read.private"][&r.bob_id].is_object(), "{bob_receipts}");
    // An initial sync carries the receipts too, still without the other's private one.
    let initial = r.sync(&r.alice, None, 0);
    let all = &ephemeral(&initial, &r.room, "m.receipt").unwrap()["content"];
    assert!(all[&first]["m.read"][&r.bob_id].is_object());
    assert!(all.get(&second).is_none(), "{all}");
}

#[test]
fn receipt_errors_follow_synapse() {
    let r = room();
    let event = r.send(&r.alice, "1", "one");
    let (_, carol) = r.server.register("carol");
    let path = |kind: &str, event: &str| format!("/rooms/{}/receipt/{kind}/{}", enc(&r.room), enc(event));
    assert_error(r.post(&r.bob, &path("m.unknown", &event), json!({})), 400, "M_UNKNOWN");
    assert_error(r.post(&r.bob, &path("m.read", "not-an-event"), json!({})), 400, "M_UNKNOWN");
    assert_error(r.post(&carol, &path("m.read", &event), json!({})), 403, "M_FORBIDDEN");
    assert_error(r.post(&r.bob, &path("m.read", &event), json!({ "thread_id": "" })), 400, "M_INVALID_PARAM");
    assert_error(r.post(&r.bob, &path("m.read", &event), json!({ "thread_id": "$other" })), 400, "M_INVALID_PARAM");
    let fully_read_thread = json!({ "thread_id": "main" });
    assert_error(r.post(&r.bob, &path("m.fully_read", &event), fully_read_thread), 400, "M_INVALID_PARAM");
    let (status, _) = r.server.call_raw(
        "POST",
        &format!("{V3}{}", path("m.read", &event)),
        Some(&r.bob),
        Some(b"{not json".to_vec()),
        None,
    );
    assert_eq!(status, 400);
    // An event the server does not know is ignored, as Synapse ignores it.
    assert_eq!(r.post(&r.bob, &path("m.read", "$unknown:test.local"), json!({})).0, 200);
}

#[test]
fn read_markers_set_the_fully_read_marker_and_receipts() {
    let r = room();
    let first = r.send(&r.alice, "1", "one");
    let second = r.send(&r.alice, "2", "two");
    let bob_since = next(&r.sync(&r.bob, None, 0));
    let alice_since = next(&r.sync(&r.alice, None, 0));
    let markers = format!("/rooms/{}/read_markers", enc(&r.room));
    let answer = r.post(&r.bob, &markers, json!({ "m.fully_read": second, "m.read": second, "m.other": 1 }));
    assert_eq!(answer.0, 200, "{}", answer.1);

    let marker_path = format!("{V3}/user/{}/rooms/{}/account_data/m.fully_read", enc(&r.bob_id), enc(&r.room));
    let (status, marker) = r.server.call("GET", &marker_path, Some(&r.bob), None);
    assert_eq!((status, marker.clone()), (200, json!({ "event_id": second })));
    let bob_view = r.sync(&r.bob, Some(&bob_since), 0);
    let fully_read = room_account_data(&bob_view, &r.room, "m.fully_read").unwrap_or_else(|| panic!("{bob_view}"));
    assert_eq!(fully_read["content"]["event_id"], second.as_str());
    let alice_view = r.sync(&r.alice, Some(&alice_since), 0);
    assert!(ephemeral(&alice_view, &r.room, "m.receipt").unwrap()["content"][&second]["m.read"][&r.bob_id].is_object());

    // The marker never moves back.
    assert_eq!(r.post(&r.bob, &markers, json!({ "m.fully_read": first })).0, 200);
    assert_eq!(r.server.call("GET", &marker_path, Some(&r.bob), None).1, json!({ "event_id": second }));
    assert_error(r.post(&r.bob, &markers, json!({ "m.fully_read": "$unknown:test.local" })), 404, "M_NOT_FOUND");
    assert_error(r.post(&r.bob, &markers, json!({ "m.read": 5 })), 400, "M_BAD_JSON");
    assert_error(r.put(&r.bob, &marker_path[V3.len()..], json!({ "event_id": first })), 405, "M_BAD_JSON");
}

#[test]
fn room_account_data_and_tags_reach_sync_and_wake_a_long_poll() {
    let r = room();
    let since = next(&r.sync(&r.bob, None, 0));
    let data_path = format!("/user/{}/rooms/{}/account_data/org.example.note", enc(&r.bob_id), enc(&r.room));
    let (seen, waited) = std::thread::scope(|scope| {
        let waiter = scope.spawn(|| {
            let started = Instant::now();
            (r.sync(&r.bob, Some(&since), 20_000), started.elapsed())
        });
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(r.put(&r.bob, &data_path, json!({ "text": "hello" })).0, 200);
        waiter.join().unwrap()
    });
    assert!(waited < Duration::from_secs(10), "woken by the account data: {waited:?}");
    let note = room_account_data(&seen, &r.room, "org.example.note").unwrap_or_else(|| panic!("{seen}"));
    assert_eq!(note["content"], json!({ "text": "hello" }));
    assert_eq!(r.server.call("GET", &format!("{V3}{data_path}"), Some(&r.bob), None).1, json!({ "text": "hello" }));
    assert!(room_account_data(&r.sync(&r.alice, None, 0), &r.room, "org.example.note").is_none());

    let tags = format!("/user/{}/rooms/{}/tags", enc(&r.bob_id), enc(&r.room));
    let since = next(&seen);
    assert_eq!(r.put(&r.bob, &format!("{tags}/u.work"), json!({ "order": 0.5 })).0, 200);
    assert_eq!(r.put(&r.bob, &format!("{tags}/m.favourite"), json!({})).0, 200);
    let (status, listed) = r.server.call("GET", &format!("{V3}{tags}"), Some(&r.bob), None);
    assert_eq!((status, listed), (200, json!({ "tags": { "u.work": { "order": 0.5 }, "m.favourite": {} } })));
    let tagged = r.sync(&r.bob, Some(&since), 0);
    let m_tag = room_account_data(&tagged, &r.room, "m.tag").unwrap_or_else(|| panic!("{tagged}"));
    assert_eq!(m_tag["content"]["tags"]["u.work"]["order"], 0.5);
    let (status, _) = r.server.call("DELETE", &format!("{V3}{tags}/u.work"), Some(&r.bob), None);
    assert_eq!(status, 200);
    let (status, _) = r.server.call("DELETE", &format!("{V3}{tags}/u.missing"), Some(&r.bob), None);
    assert_eq!(status, 200);
    let (_, listed) = r.server.call("GET", &format!("{V3}{tags}"), Some(&r.bob), None);
    assert_eq!(listed, json!({ "tags": { "m.favourite": {} } }));
}

#[test]
fn room_account_data_errors_follow_synapse() {
    let r = room();
    let path =
        |user: &str, room: &str, kind: &str| format!("/user/{}/rooms/{}/account_data/{kind}", enc(user), enc(room));
    assert_error(r.put(&r.alice, &path(&r.bob_id, &r.room, "x"), json!({})), 403, "M_FORBIDDEN");
    let (status, answer) =
        r.server.call("GET", &format!("{V3}{}", path(&r.bob_id, &r.room, "x")), Some(&r.alice), None);
    assert_error((status, answer), 403, "M_FORBIDDEN");
    assert_error(r.put(&r.bob, &path(&r.bob_id, "no-room", "x"), json!({})), 400, "M_INVALID_PARAM");
    let (status, answer) = r.server.call("GET", &format!("{V3}{}", path(&r.bob_id, &r.room, "x")), Some(&r.bob), None);
    assert_error((status, answer), 404, "M_NOT_FOUND");
    let tags = format!("/user/{}/rooms/{}/tags", enc(&r.bob_id), enc(&r.room));
    assert_error(r.put(&r.alice, &format!("{tags}/u.x"), json!({})), 403, "M_FORBIDDEN");
    assert_error(r.put(&r.bob, &format!("{tags}/u.x"), json!({ "order": "first" })), 400, "M_BAD_JSON");
    let (status, answer) = r.server.call("GET", &format!("{V3}{tags}"), Some(&r.alice), None);
    assert_error((status, answer), 403, "M_FORBIDDEN");
}

#[test]
fn typing_and_receipts_are_not_sent_to_users_outside_the_room() {
    let r = room();
    let (_, carol) = r.server.register("carol");
    let event = r.send(&r.alice, "1", "one");
    let since = next(&r.sync(&carol, None, 0));
    let (quiet, waited) = std::thread::scope(|scope| {
        let waiter = scope.spawn(|| {
            let started = Instant::now();
            (r.sync(&carol, Some(&since), 1_500), started.elapsed())
        });
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(r.put(&r.alice, &r.typing_path(&r.alice_id), json!({ "typing": true })).0, 200);
        let receipt = format!("/rooms/{}/receipt/m.read/{}", enc(&r.room), enc(&event));
        assert_eq!(r.post(&r.bob, &receipt, json!({})).0, 200);
        waiter.join().unwrap()
    });
    assert!(waited >= Duration::from_millis(1_400), "carol's long-poll had nothing to answer: {waited:?}");
    assert!(quiet["rooms"]["join"].as_object().unwrap().is_empty(), "{quiet}");
}

#[test]
fn concurrent_tag_changes_all_land() {
    let r = room();
    let tags = format!("/user/{}/rooms/{}/tags", enc(&r.bob_id), enc(&r.room));
    std::thread::scope(|scope| {
        for n in 0..12 {
            let (r, tags) = (&r, &tags);
            scope.spawn(move || {
                assert_eq!(r.put(&r.bob, &format!("{tags}/u.tag{n}"), json!({ "order": n })).0, 200);
            });
        }
    });
    let (_, listed) = r.server.call("GET", &format!("{V3}{tags}"), Some(&r.bob), None);
    assert_eq!(listed["tags"].as_object().unwrap().len(), 12, "{listed}");
}
