//! `/sync`: timelines, `since` tokens, long-polling, presence routed by the presence
//! router; `/messages` pagination; metrics.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::{config_with_modules, enc, Server};

fn timeline_bodies(sync: &Value, room: &str) -> Vec<String> {
    sync["rooms"]["join"][room]["timeline"]["events"]
        .as_array()
        .map(|events| events.iter().filter_map(|e| e["content"]["body"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

#[test]
fn incremental_sync_long_polls_until_a_message_arrives() {
    let server = Server::start(&config_with_modules("  []\n"));
    let (_, alice) = server.register("alice");
    let (bob_id, bob) = server.register("bob");
    let room = server.create_room(&alice, json!({ "invite": [bob_id] }));
    let (_, invited) = server.call("GET", "/_matrix/client/v3/sync", Some(&bob), None);
    assert!(invited["rooms"]["invite"][&room].is_object(), "bob sees the invite: {invited}");
    let (status, _) = server.call("POST", &format!("/_matrix/client/v3/join/{}", enc(&room)), Some(&bob), None);
    assert_eq!(status, 200);
    server.send_text(&alice, &room, "1", "first");
    let (_, initial) = server.call("GET", "/_matrix/client/v3/sync", Some(&bob), None);
    assert_eq!(timeline_bodies(&initial, &room), ["first"]);
    let since = initial["next_batch"].as_str().unwrap().to_owned();

    std::thread::scope(|scope| {
        let waiter = scope.spawn(|| {
            let started = Instant::now();
            let path = format!("/_matrix/client/v3/sync?since={since}&timeout=20000");
            let (status, answer) = server.call("GET", &path, Some(&bob), None);
            (status, answer, started.elapsed())
        });
        std::thread::sleep(Duration::from_millis(400));
        server.send_text(&alice, &room, "2", "second");
        let (status, answer, waited) = waiter.join().unwrap();
        assert_eq!(status, 200);
        assert_eq!(timeline_bodies(&answer, &room), ["second"]);
        assert!(waited < Duration::from_secs(10), "woken by the message, not the timeout: {waited:?}");
    });

    let (_, latest) = server.call("GET", "/_matrix/client/v3/sync", Some(&bob), None);
    let path = format!("/_matrix/client/v3/sync?since={}&timeout=100", latest["next_batch"].as_str().unwrap());
    let (status, quiet) = server.call("GET", &path, Some(&bob), None);
    assert_eq!(status, 200);
    assert!(quiet["rooms"]["join"].as_object().unwrap().is_empty(), "nothing new: {quiet}");
}

#[test]
fn account_data_changes_reach_incremental_sync_and_wake_a_long_poll() {
    let server = Server::start(&config_with_modules("  []\n"));
    let (alice_id, alice) = server.register("alice");
    let put = |data_type: &str, content: Value| {
        let path = format!("/_matrix/client/v3/user/{}/account_data/{data_type}", enc(&alice_id));
        let (status, _) = server.call("PUT", &path, Some(&alice), Some(&content));
        assert_eq!(status, 200);
    };
    let account_data = |sync: &Value| -> Vec<(String, Value)> {
        sync["account_data"]["events"]
            .as_array()
            .unwrap()
            .iter()
            // The push rules come with every initial sync (tests/it/push_rules.rs).
            .filter(|event| event["type"] != "m.push_rules")
            .map(|event| (event["type"].as_str().unwrap().to_owned(), event["content"].clone()))
            .collect()
    };
    put("org.example.first", json!({"n": 1}));
    let (_, initial) = server.call("GET", "/_matrix/client/v3/sync", Some(&alice), None);
    assert_eq!(account_data(&initial), [("org.example.first".to_owned(), json!({"n": 1}))]);
    let since = initial["next_batch"].as_str().unwrap().to_owned();

    let (_, quiet) =
        server.call("GET", &format!("/_matrix/client/v3/sync?since={since}&timeout=0"), Some(&alice), None);
    assert!(account_data(&quiet).is_empty(), "nothing new: {quiet}");

    std::thread::scope(|scope| {
        let waiter = scope.spawn(|| {
            let started = Instant::now();
            let path = format!("/_matrix/client/v3/sync?since={since}&timeout=20000");
            let (status, answer) = server.call("GET", &path, Some(&alice), None);
            (status, answer, started.elapsed())
        });
        std::thread::sleep(Duration::from_millis(400));
        put("org.example.second", json!({"n": 2}));
        let (status, answer, waited) = waiter.join().unwrap();
        assert_eq!(status, 200);
        assert_eq!(account_data(&answer), [("org.example.second".to_owned(), json!({"n": 2}))]);
        assert!(waited < Duration::from_secs(10), "woken by the account data, not the timeout: {waited:?}");
    });

    // A token from before stream positions for account data (two parts) gets it all again.
    let (_, old_token) = server.call("GET", "/_matrix/client/v3/sync?since=s0_0&timeout=0", Some(&alice), None);
    assert_eq!(account_data(&old_token).len(), 2);
}

#[test]
fn messages_paginate_both_ways() {
    let server = Server::start(&config_with_modules("  []\n"));
    let (_, alice) = server.register("alice");
    let room = server.create_room(&alice, json!({}));
    for n in 0..5 {
        server.send_text(&alice, &room, &n.to_string(), &format!("m{n}"));
    }
    let page = |query: &str| {
        let (status, answer) = server.call(
            "GET",
            &format!("/_matrix/client/v3/rooms/{}/messages?{query}", enc(&room)),
            Some(&alice),
            None,
        );
        assert_eq!(status, 200, "{answer}");
        answer
    };
    let first = page("dir=b&limit=2");
    let bodies: Vec<&str> =
        first["chunk"].as_array().unwrap().iter().filter_map(|e| e["content"]["body"].as_str()).collect();
    assert_eq!(bodies, ["m4", "m3"]);
    let next = page(&format!("dir=b&limit=2&from={}", first["end"].as_str().unwrap()));
    let bodies: Vec<&str> =
        next["chunk"].as_array().unwrap().iter().filter_map(|e| e["content"]["body"].as_str()).collect();
    assert_eq!(bodies, ["m2", "m1"]);
    let forward = page(&format!("dir=f&limit=3&from={}", next["end"].as_str().unwrap()));
    let bodies: Vec<&str> =
        forward["chunk"].as_array().unwrap().iter().filter_map(|e| e["content"]["body"].as_str()).collect();
    assert_eq!(bodies, ["m1", "m2", "m3"]);
}

#[test]
fn presence_is_routed_by_the_presence_router() {
    let server = Server::start(&config_with_modules(
        "  - module: custom_presence_router
    config:
      routes:
        '@alice:test.local': ['@bob:test.local']
",
    ));
    let (_, alice) = server.register("alice");
    let (bob_id, bob) = server.register("bob");
    let (_, carol) = server.register("carol");
    let (status, _) = server.call(
        "PUT",
        &format!("/_matrix/client/v3/presence/{}/status", enc(&bob_id)),
        Some(&bob),
        Some(&json!({ "presence": "online", "status_msg": "here" })),
    );
    assert_eq!(status, 200);
    let senders = |token: &str| -> Vec<String> {
        let (_, sync) = server.call("GET", "/_matrix/client/v3/sync", Some(token), None);
        sync["presence"]["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["sender"].as_str().map(str::to_owned))
            .collect()
    };
    assert_eq!(senders(&alice), std::slice::from_ref(&bob_id), "routed to alice, who shares no room with bob");
    assert!(senders(&carol).is_empty(), "carol is not routed bob's presence");
    let (status, presence) =
        server.call("GET", &format!("/_matrix/client/v3/presence/{}/status", enc(&bob_id)), Some(&carol), None);
    assert_eq!((status, &presence["errcode"]), (403, &json!("M_FORBIDDEN")), "a stranger does not see it");
    let (status, presence) =
        server.call("GET", &format!("/_matrix/client/v3/presence/{}/status", enc(&bob_id)), Some(&bob), None);
    assert_eq!((status, &presence["presence"], &presence["status_msg"]), (200, &json!("online"), &json!("here")));
}

#[test]
fn metrics_count_callbacks_and_requests() {
    let server = Server::start(&config_with_modules("  - module: demo\n"));
    let (_, token) = server.register("counted");
    server.create_room(&token, json!({}));
    let (status, text) = server.call_raw("GET", "/_synapse/metrics", None, None, None);
    let text = String::from_utf8(text).unwrap();
    assert_eq!(status, 200);
    assert!(
        text.contains(
            "mxmod_module_callback_calls_total{module=\"demo\",category=\"spam_checker\",callback=\"user_may_create_room\"} 1"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "mxmod_http_requests_total{method=\"POST\",route=\"/_matrix/client/v3/createRoom\",status=\"200\"} 1"
        ),
        "{text}"
    );
    assert!(text.contains("mxmod_module_callback_seconds_bucket{module=\"demo\""), "{text}");
}
