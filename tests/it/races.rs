//! The races of the old storage, each reproduced over HTTP: a ban while a message waits
//! in a slow spam check, concurrent retries of one transaction, one transaction ID in two
//! rooms, a half-created room, and incremental `/sync` during a send burst.

use std::{collections::HashSet, time::Duration};

use serde_json::{json, Value};

use crate::support::{config_with_modules, enc, Server};

/// The bodies of a room's messages, oldest first (up to 1000).
fn message_bodies(server: &Server, token: &str, room: &str) -> Vec<String> {
    let path = format!("/_matrix/client/v3/rooms/{}/messages?dir=f&limit=1000", enc(room));
    let (status, page) = server.call("GET", &path, Some(token), None);
    assert_eq!(status, 200, "{page}");
    page["chunk"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "m.room.message")
        .filter_map(|e| e["content"]["body"].as_str().map(str::to_owned))
        .collect()
}

fn slow_policy(millis: u64) -> String {
    format!("      slow_spam_check: {{ body: slow, millis: {millis} }}\n")
}

#[test]
fn a_ban_that_lands_while_a_message_waits_in_the_spam_checker_refuses_the_message() {
    let server = Server::start_policy(&slow_policy(1500));
    let (_, alice) = server.register("alice");
    let (bob_id, bob) = server.register("bob");
    let room = server.create_room(&alice, json!({ "preset": "public_chat" }));
    let (status, _) = server.call("POST", &format!("/_matrix/client/v3/join/{}", enc(&room)), Some(&bob), None);
    assert_eq!(status, 200);
    std::thread::scope(|scope| {
        let send = scope.spawn(|| server.send_text(&bob, &room, "late", "a slow message"));
        std::thread::sleep(Duration::from_millis(300));
        let ban = format!("/_matrix/client/v3/rooms/{}/state/m.room.member/{}", enc(&room), enc(&bob_id));
        let (status, answer) = server.call("PUT", &ban, Some(&alice), Some(&json!({ "membership": "ban" })));
        assert_eq!(status, 200, "{answer}");
        let (status, answer) = send.join().unwrap();
        assert_eq!((status, answer["errcode"].as_str()), (403, Some("M_FORBIDDEN")), "{answer}");
    });
    assert!(message_bodies(&server, &alice, &room).is_empty(), "the banned user's message is not stored");
}

#[test]
fn concurrent_retries_of_one_transaction_all_answer_the_one_event() {
    let server = Server::start_policy(&slow_policy(400));
    let (_, alice) = server.register("alice");
    let room = server.create_room(&alice, json!({}));
    let answers: Vec<(u16, Value)> = std::thread::scope(|scope| {
        let retries: Vec<_> =
            (0..8).map(|_| scope.spawn(|| server.send_text(&alice, &room, "once", "slow and retried"))).collect();
        retries.into_iter().map(|retry| retry.join().unwrap()).collect()
    });
    let ids: HashSet<&str> = answers
        .iter()
        .map(|(status, answer)| {
            assert_eq!(*status, 200, "{answer}");
            answer["event_id"].as_str().unwrap()
        })
        .collect();
    assert_eq!(ids.len(), 1, "one event for one transaction: {ids:?}");
    assert_eq!(message_bodies(&server, &alice, &room), ["slow and retried"]);
    // A later retry (another connection) gets the same event.
    let (status, again) = server.send_text(&alice, &room, "once", "slow and retried");
    assert_eq!((status, again["event_id"].as_str()), (200, ids.iter().next().copied()));
}

#[test]
fn one_transaction_id_in_two_rooms_sends_two_messages() {
    let server = Server::start(&config_with_modules("  []\n"));
    let (_, alice) = server.register("alice");
    let one = server.create_room(&alice, json!({}));
    let two = server.create_room(&alice, json!({}));
    let (status, first) = server.send_text(&alice, &one, "same-txn", "to room one");
    assert_eq!(status, 200);
    let (status, second) = server.send_text(&alice, &two, "same-txn", "to room two");
    assert_eq!(status, 200);
    assert_ne!(first["event_id"], second["event_id"]);
    assert_eq!(message_bodies(&server, &alice, &two), ["to room two"]);
    assert_eq!(message_bodies(&server, &alice, &one), ["to room one"]);
}

#[test]
fn a_create_room_refused_midway_leaves_no_room_behind() {
    let server = Server::start_policy("      forbidden_event_types: [m.room.topic]\n");
    let (_, alice) = server.register("alice");
    let body = json!({ "name": "half", "topic": "refused", "visibility": "public", "room_alias_name": "half" });
    let (status, answer) = server.call("POST", "/_matrix/client/v3/createRoom", Some(&alice), Some(&body));
    assert_eq!(status, 403, "{answer}");
    let (_, joined) = server.call("GET", "/_matrix/client/v3/joined_rooms", Some(&alice), None);
    assert_eq!(joined["joined_rooms"], json!([]), "no room was stored");
    let (_, public) = server.call("GET", "/_matrix/client/v3/publicRooms", None, None);
    assert_eq!(public["chunk"], json!([]));
    let (status, _) =
        server.call("GET", &format!("/_matrix/client/v3/directory/room/{}", enc("#half:test.local")), None, None);
    assert_eq!(status, 404, "the alias was not stored");
}

/// Polls `token`'s incremental `/sync` (`timeout=0`) from `since` until `expected`
/// message events arrived or 120 s passed; every message event ID received, in order.
fn sync_until(server: &Server, token: &str, mut since: String, expected: usize) -> Vec<String> {
    let mut seen = Vec::new();
    let started = std::time::Instant::now();
    while seen.len() < expected && started.elapsed() < Duration::from_secs(120) {
        let path = format!("/_matrix/client/v3/sync?since={since}&timeout=0");
        let (status, answer) = server.call("GET", &path, Some(token), None);
        assert_eq!(status, 200, "{answer}");
        for room in answer["rooms"]["join"].as_object().into_iter().flat_map(|rooms| rooms.values()) {
            let events = room["timeline"]["events"].as_array().into_iter().flatten();
            let messages = events.filter(|e| e["type"] == "m.room.message");
            seen.extend(messages.filter_map(|e| e["event_id"].as_str().map(str::to_owned)));
        }
        since = answer["next_batch"].as_str().unwrap().to_owned();
    }
    seen
}

/// Sends into many rooms while two clients poll incremental syncs: an event committed
/// while a sync reads its rooms one by one must come in exactly one sync.
#[test]
fn incremental_sync_during_a_send_burst_delivers_every_event_once() {
    const ROOMS: usize = 24;
    const SENDERS: usize = 8;
    const PER_SENDER: usize = 40;
    let server = Server::start(&config_with_modules("  []\n"));
    let (_, alice) = server.register("alice");
    let rooms: Vec<String> = (0..ROOMS).map(|_| server.create_room(&alice, json!({}))).collect();
    let since = || {
        let (_, initial) = server.call("GET", "/_matrix/client/v3/sync", Some(&alice), None);
        initial["next_batch"].as_str().unwrap().to_owned()
    };
    let starts = [since(), since()];
    let expected = SENDERS * PER_SENDER;
    let seen_by: Vec<Vec<String>> = std::thread::scope(|scope| {
        let (server, alice, rooms) = (&server, &alice, &rooms);
        for sender in 0..SENDERS {
            scope.spawn(move || {
                for n in 0..PER_SENDER {
                    let room = &rooms[(sender + n) % ROOMS];
                    let (status, answer) = server.send_text(alice, room, &format!("{sender}-{n}"), "burst");
                    assert_eq!(status, 200, "{answer}");
                }
            });
        }
        let syncers = starts.map(|since| scope.spawn(move || sync_until(server, alice, since, expected)));
        syncers.map(|syncer| syncer.join().unwrap()).into()
    });
    for seen in seen_by {
        let distinct: HashSet<&String> = seen.iter().collect();
        assert_eq!(distinct.len(), seen.len(), "an incremental sync repeated an event");
        assert_eq!(seen.len(), expected, "every message arrived");
    }
}
