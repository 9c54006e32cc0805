//! Moderation: kick, ban and unban with the power-level rules and Synapse's answers,
//! forget, redactions (the content gone from every read path, the callbacks run on the
//! redaction event), `/context` and event reports.

use serde_json::{json, Value};

use crate::support::{config_with_modules, enc, Server};

const V3: &str = "/_matrix/client/v3";

struct Room {
    server: Server,
    alice: String,
    bob_id: String,
    bob: String,
    carol_id: String,
    carol: String,
    room: String,
}

/// Alice's public room (she has power 100) with Bob and Carol joined (power 0).
fn room_on(server: Server) -> Room {
    let (_, alice) = server.register("alice");
    let (bob_id, bob) = server.register("bob");
    let (carol_id, carol) = server.register("carol");
    let room = server.create_room(&alice, json!({ "preset": "public_chat" }));
    for token in [&bob, &carol] {
        let (status, _) = server.call("POST", &format!("{V3}/join/{}", enc(&room)), Some(token), None);
        assert_eq!(status, 200);
    }
    Room { server, alice, bob_id, bob, carol_id, carol, room }
}

fn room() -> Room {
    room_on(Server::start(&config_with_modules("  []\n")))
}

impl Room {
    fn post(&self, token: &str, action: &str, body: Value) -> (u16, Value) {
        self.server.call("POST", &format!("{V3}/rooms/{}/{action}", enc(&self.room)), Some(token), Some(&body))
    }

    fn membership(&self, user: &str) -> Value {
        let path = format!("{V3}/rooms/{}/state/m.room.member/{}", enc(&self.room), enc(user));
        self.server.call("GET", &path, Some(&self.alice), None).1
    }

    fn join(&self, token: &str) -> u16 {
        self.server.call("POST", &format!("{V3}/join/{}", enc(&self.room)), Some(token), None).0
    }

    fn send(&self, token: &str, txn: &str, body: &str) -> String {
        let (status, answer) = self.server.send_text(token, &self.room, txn, body);
        assert_eq!(status, 200, "{answer}");
        answer["event_id"].as_str().unwrap().to_owned()
    }

    fn redact(&self, token: &str, event: &str, txn: &str, body: Value) -> (u16, Value) {
        let path = format!("{V3}/rooms/{}/redact/{}/{txn}", enc(&self.room), enc(event));
        self.server.call("PUT", &path, Some(token), Some(&body))
    }
}

fn assert_error(answer: (u16, Value), status: u16, errcode: &str) {
    assert_eq!(answer.0, status, "{}", answer.1);
    assert_eq!(answer.1["errcode"], errcode, "{}", answer.1);
}

#[test]
fn kick_ban_and_unban_follow_the_power_levels() {
    let r = room();
    let target = |user: &str| json!({ "user_id": user, "reason": "spam" });
    assert_error(r.post(&r.bob, "kick", target(&r.carol_id)), 403, "M_FORBIDDEN");
    assert_error(r.post(&r.bob, "ban", target(&r.carol_id)), 403, "M_FORBIDDEN");
    assert_error(r.post(&r.bob, "ban", target("@alice:test.local")), 403, "M_FORBIDDEN");

    let typing = format!("{V3}/rooms/{}/typing/{}", enc(&r.room), enc(&r.carol_id));
    let (status, _) = r.server.call("PUT", &typing, Some(&r.carol), Some(&json!({ "typing": true })));
    assert_eq!(status, 200);
    let typing_users = || {
        let (_, sync) = r.server.call("GET", &format!("{V3}/sync"), Some(&r.bob), None);
        let ephemeral = sync["rooms"]["join"][&r.room]["ephemeral"]["events"].clone();
        ephemeral.as_array().unwrap().iter().filter(|e| e["type"] == "m.typing").count()
    };
    assert_eq!(typing_users(), 1, "carol types");
    assert_eq!(r.post(&r.alice, "kick", target(&r.carol_id)).0, 200);
    assert_eq!(r.membership(&r.carol_id), json!({ "membership": "leave", "reason": "spam" }));
    assert_eq!(typing_users(), 0, "a kicked user stops typing");
    assert_eq!(r.join(&r.carol), 200, "a kicked user may come back to a public room");

    assert_eq!(r.post(&r.alice, "ban", target(&r.carol_id)).0, 200);
    assert_eq!(r.membership(&r.carol_id)["membership"], "ban");
    assert_eq!(r.join(&r.carol), 403, "a banned user cannot join");
    assert_error(r.post(&r.alice, "kick", target(&r.carol_id)), 403, "M_BAD_STATE");
    assert_error(r.post(&r.alice, "unban", target(&r.bob_id)), 403, "M_BAD_STATE");
    assert_error(r.post(&r.bob, "unban", target(&r.carol_id)), 403, "M_FORBIDDEN");

    assert_eq!(r.post(&r.alice, "unban", json!({ "user_id": r.carol_id })).0, 200);
    assert_eq!(r.membership(&r.carol_id)["membership"], "leave");
    assert_eq!(r.join(&r.carol), 200);
}

#[test]
fn membership_actions_reject_bad_requests() {
    let r = room();
    assert_error(r.post(&r.alice, "kick", json!({ "reason": "x" })), 400, "M_MISSING_PARAM");
    assert_error(r.post(&r.alice, "ban", json!({ "user_id": "nobody" })), 400, "M_INVALID_PARAM");
    assert_error(r.post(&r.alice, "ban", json!({ "user_id": r.bob_id, "reason": 5 })), 400, "M_BAD_JSON");
    let path = format!("{V3}/rooms/{}/kick", enc(&r.room));
    let (status, answer) = r.server.call_raw("POST", &path, Some(&r.alice), Some(b"[".to_vec()), None);
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&answer));
    let (status, answer) = r.server.call(
        "POST",
        &format!("{V3}/rooms/{}/ban", enc("!unknown:test.local")),
        Some(&r.alice),
        Some(&json!({ "user_id": r.bob_id })),
    );
    assert_error((status, answer), 404, "M_NOT_FOUND");
}

#[test]
fn forget_needs_the_user_to_have_left_and_drops_the_room_from_sync() {
    let r = room();
    assert_error(r.post(&r.bob, "forget", json!({})), 400, "M_UNKNOWN");
    let (_, before) = r.server.call("GET", &format!("{V3}/sync"), Some(&r.bob), None);
    let since = before["next_batch"].as_str().unwrap().to_owned();
    assert_eq!(r.post(&r.bob, "leave", json!({})).0, 200);
    let sync_since = |since: &str| r.server.call("GET", &format!("{V3}/sync?since={since}"), Some(&r.bob), None).1;
    assert!(sync_since(&since)["rooms"]["leave"][&r.room].is_object(), "the leave is in sync before forgetting");
    assert_eq!(r.post(&r.bob, "forget", json!({})).0, 200);
    let after = sync_since(&since);
    assert!(after["rooms"]["leave"].get(&r.room).is_none(), "a forgotten room leaves sync: {after}");
    // Forgetting a room one was never in is a harmless no-op, as in Synapse.
    let (_, dave) = r.server.register("dave");
    assert_eq!(r.post(&dave, "forget", json!({})).0, 200);
}

fn content_of(event: &Value) -> &Value {
    &event["content"]
}

#[test]
fn a_redaction_removes_the_content_from_every_read_path() {
    let r = room();
    let (_, initial) = r.server.call("GET", &format!("{V3}/sync"), Some(&r.bob), None);
    let since = initial["next_batch"].as_str().unwrap().to_owned();
    let secret = r.send(&r.carol, "1", "the secret");
    let after = r.send(&r.carol, "2", "after");

    assert_error(r.redact(&r.bob, &secret, "t1", json!({})), 403, "M_FORBIDDEN");
    let (status, answer) = r.redact(&r.alice, &secret, "t1", json!({ "reason": "leak" }));
    assert_eq!(status, 200, "{answer}");
    let redaction = answer["event_id"].as_str().unwrap().to_owned();
    let (_, again) = r.redact(&r.alice, &secret, "t1", json!({ "reason": "leak" }));
    assert_eq!(again["event_id"], redaction.as_str(), "the same transaction answers the same redaction");

    let check = |event: &Value, path: &str| {
        assert_eq!(content_of(event), &json!({}), "{path}: {event}");
        assert_eq!(event["unsigned"]["redacted_because"]["event_id"], redaction.as_str(), "{path}: {event}");
    };
    let event_path = format!("{V3}/rooms/{}/event/{}", enc(&r.room), enc(&secret));
    check(&r.server.call("GET", &event_path, Some(&r.bob), None).1, "/event");
    let (_, messages) =
        r.server.call("GET", &format!("{V3}/rooms/{}/messages?dir=b&limit=50", enc(&r.room)), Some(&r.bob), None);
    let found = messages["chunk"].as_array().unwrap().iter().find(|e| e["event_id"] == secret.as_str()).unwrap();
    check(found, "/messages");
    let context_path = format!("{V3}/rooms/{}/context/{}", enc(&r.room), enc(&after));
    let (_, context) = r.server.call("GET", &context_path, Some(&r.bob), None);
    check(&context["events_before"][0], "/context");
    let (_, initial) = r.server.call("GET", &format!("{V3}/sync"), Some(&r.bob), None);
    let timeline = initial["rooms"]["join"][&r.room]["timeline"]["events"].as_array().unwrap();
    check(timeline.iter().find(|e| e["event_id"] == secret.as_str()).unwrap(), "initial /sync");
    let (_, incremental) = r.server.call("GET", &format!("{V3}/sync?since={since}"), Some(&r.bob), None);
    let timeline = incremental["rooms"]["join"][&r.room]["timeline"]["events"].as_array().unwrap();
    check(timeline.iter().find(|e| e["event_id"] == secret.as_str()).unwrap(), "incremental /sync");
    let redaction_event = timeline.iter().find(|e| e["event_id"] == redaction.as_str()).unwrap();
    assert_eq!(redaction_event["redacts"], secret.as_str());
    assert_eq!(redaction_event["content"]["redacts"], secret.as_str());
    assert!(!initial.to_string().contains("the secret") && !incremental.to_string().contains("the secret"));

    // Anyone may redact their own events; an event of another room cannot be redacted here.
    let own = r.send(&r.bob, "3", "mine");
    assert_eq!(r.redact(&r.bob, &own, "t2", json!({})).0, 200);
    let other_room = r.server.create_room(&r.alice, json!({}));
    let (_, elsewhere) = r.server.send_text(&r.alice, &other_room, "x", "elsewhere");
    let elsewhere = elsewhere["event_id"].as_str().unwrap();
    assert_error(r.redact(&r.alice, elsewhere, "t3", json!({})), 400, "M_UNKNOWN");
    let (_, dave) = r.server.register("dave");
    assert_error(r.redact(&dave, &after, "t4", json!({})), 403, "M_FORBIDDEN");
    assert_error(r.redact(&r.alice, "not-an-event", "t5", json!({})), 400, "M_INVALID_PARAM");
    assert_error(r.redact(&r.alice, &after, "t6", json!({ "reason": 1 })), 400, "M_BAD_JSON");
}

#[test]
fn redactions_run_the_event_callbacks() {
    let denied = room_on(Server::start_policy("      forbidden_event_types: [m.room.redaction]\n"));
    let event = denied.send(&denied.carol, "1", "x");
    assert_error(denied.redact(&denied.alice, &event, "t", json!({})), 403, "M_FORBIDDEN");
    let spam = room_on(Server::start_policy("      spam_event_types: [m.room.redaction]\n"));
    let event = spam.send(&spam.carol, "1", "x");
    assert_error(spam.redact(&spam.alice, &event, "t", json!({})), 403, "M_FORBIDDEN");
    let (_, stored) = spam.server.call(
        "GET",
        &format!("{V3}/rooms/{}/event/{}", enc(&spam.room), enc(&event)),
        Some(&spam.bob),
        None,
    );
    assert_eq!(stored["content"]["body"], "x", "a refused redaction changes nothing");

    let allowed = room_on(Server::start_policy("      uppercase_bodies: false\n"));
    let event = allowed.send(&allowed.carol, "1", "x");
    assert_eq!(allowed.redact(&allowed.alice, &event, "t", json!({})).0, 200);
    assert_eq!(allowed.post(&allowed.alice, "kick", json!({ "user_id": allowed.carol_id })).0, 200);
    let seen = || {
        allowed.server.policy_calls().iter().filter(|call| call[0] == "on_new_event").map(|c| c[1].clone()).collect()
    };
    assert!(crate::support::eventually(std::time::Duration::from_secs(5), || {
        let calls: Vec<Value> = seen();
        calls.contains(&json!("m.room.redaction")) && calls.iter().filter(|c| *c == "m.room.member").count() >= 4
    }));
}

#[test]
fn context_returns_the_events_around_with_state_and_tokens() {
    let r = room();
    let ids: Vec<String> = (0..5).map(|n| r.send(&r.alice, &n.to_string(), &format!("m{n}"))).collect();
    let path = |event: &str, limit: u32| format!("{V3}/rooms/{}/context/{}?limit={limit}", enc(&r.room), enc(event));
    let (status, context) = r.server.call("GET", &path(&ids[2], 2), Some(&r.bob), None);
    assert_eq!(status, 200, "{context}");
    assert_eq!(context["event"]["content"]["body"], "m2");
    assert_eq!(context["events_before"].as_array().unwrap().len(), 1);
    assert_eq!(context["events_before"][0]["content"]["body"], "m1");
    assert_eq!(context["events_after"][0]["content"]["body"], "m3");
    let state = context["state"].as_array().unwrap();
    assert!(state.iter().any(|e| e["type"] == "m.room.member" && e["state_key"] == r.bob_id.as_str()));
    let start = context["start"].as_str().unwrap();
    let end = context["end"].as_str().unwrap();
    let page = |from: &str, dir: &str| {
        let path = format!("{V3}/rooms/{}/messages?from={from}&dir={dir}&limit=1", enc(&r.room));
        r.server.call("GET", &path, Some(&r.bob), None).1["chunk"][0]["content"]["body"].clone()
    };
    assert_eq!(page(start, "b"), "m0");
    assert_eq!(page(end, "f"), "m4");

    let (_, dave) = r.server.register("dave");
    assert_error(r.server.call("GET", &path(&ids[2], 2), Some(&dave), None), 403, "M_FORBIDDEN");
    assert_error(r.server.call("GET", &path("$unknown:test.local", 2), Some(&r.bob), None), 404, "M_NOT_FOUND");
    let (status, _) = r.server.call("GET", &format!("{}&x=1", path(&ids[2], 0)), Some(&r.bob), None);
    assert_eq!(status, 200);
    let (status, answer) = r.server.call(
        "GET",
        &format!("{V3}/rooms/{}/context/{}?limit=-1", enc(&r.room), enc(&ids[2])),
        Some(&r.bob),
        None,
    );
    assert_error((status, answer), 400, "M_INVALID_PARAM");
}

#[test]
fn reports_are_stored_and_checked() {
    let r = room();
    let event = r.send(&r.carol, "1", "rude");
    let report = |token: &str, event: &str, body: Value| {
        let path = format!("{V3}/rooms/{}/report/{}", enc(&r.room), enc(event));
        r.server.call("POST", &path, Some(token), Some(&body))
    };
    assert_eq!(report(&r.bob, &event, json!({ "reason": "rude", "score": -100 })), (200, json!({})));
    assert_eq!(report(&r.bob, &event, json!({})).0, 200);
    assert_error(report(&r.bob, "$unknown:test.local", json!({ "reason": "x" })), 404, "M_NOT_FOUND");
    let (_, dave) = r.server.register("dave");
    assert_error(report(&dave, &event, json!({ "reason": "x" })), 404, "M_NOT_FOUND");
    assert_error(report(&r.bob, &event, json!({ "reason": 5 })), 400, "M_BAD_JSON");
    assert_error(report(&r.bob, &event, json!({ "score": "high" })), 400, "M_BAD_JSON");
    let _ = &r.carol;
}
