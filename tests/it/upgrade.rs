//! Room upgrades (`POST /rooms/{roomId}/upgrade`, issue 18): the tombstone power check,
//! `user_may_create_room` for the new room with the copied state (A5), the copied state
//! and bans, the tombstone and the restricted power levels of the old room.

use serde_json::{json, Value};

use crate::support::{enc, Server};

fn errcode(answer: &Value) -> Option<&str> {
    answer["errcode"].as_str()
}

fn state_event(server: &Server, token: &str, room: &str, event_type: &str) -> (u16, Value) {
    server.call("GET", &format!("/_matrix/client/v3/rooms/{}/state/{event_type}/", enc(room)), Some(token), None)
}

fn upgrade(server: &Server, token: &str, room: &str, body: Value) -> (u16, Value) {
    server.call("POST", &format!("/_matrix/client/v3/rooms/{}/upgrade", enc(room)), Some(token), Some(&body))
}

#[test]
fn an_upgrade_copies_the_state_asks_user_may_create_room_and_tombstones_the_old_room() {
    let server = Server::start_policy("      generation: one\n");
    let (alice_id, alice) = server.register("alice");
    let (_, bob) = server.register("bob");
    let (mallory_id, _) = server.register("mallory");
    let room = server.create_room(
        &alice,
        json!({ "preset": "public_chat", "name": "Old name", "topic": "Old topic", "room_alias_name": "upgraded" }),
    );
    let (status, _) =
        server.call("POST", &format!("/_matrix/client/v3/join/{}", enc(&room)), Some(&bob), Some(&json!({})));
    assert_eq!(status, 200);
    let ban = format!("/_matrix/client/v3/rooms/{}/state/m.room.member/{}", enc(&room), enc(&mallory_id));
    let (status, answer) =
        server.call("PUT", &ban, Some(&alice), Some(&json!({ "membership": "ban", "reason": "spam" })));
    assert_eq!(status, 200, "{answer}");

    let (status, answer) = upgrade(&server, &bob, &room, json!({ "new_version": "10" }));
    assert_eq!((status, errcode(&answer)), (403, Some("M_FORBIDDEN")), "bob may not send the tombstone: {answer}");
    let (status, answer) = upgrade(&server, &alice, &room, json!({ "new_version": "10" }));
    assert_eq!(status, 200, "{answer}");
    let new_room = answer["replacement_room"].as_str().unwrap().to_owned();

    // A5: asked for the new room, with the old topic in `initial_state`.
    let asked: Vec<Value> = server.policy_calls().into_iter().filter(|c| c[0] == "user_may_create_room").collect();
    let last = asked.last().expect("user_may_create_room was called");
    assert_eq!(last[1][0], json!(alice_id));
    let initial_state = last[1][1]["initial_state"].as_array().unwrap();
    assert!(
        initial_state
            .contains(&json!({ "type": "m.room.topic", "state_key": "", "content": { "topic": "Old topic" } })),
        "{initial_state:?}"
    );

    let (_, create) = state_event(&server, &alice, &new_room, "m.room.create");
    assert_eq!(create["predecessor"]["room_id"], json!(room), "{create}");
    assert_eq!(create["room_version"], "10");
    let (_, topic) = state_event(&server, &alice, &new_room, "m.room.topic");
    assert_eq!(topic["topic"], "Old topic");
    let (_, name) = state_event(&server, &alice, &new_room, "m.room.name");
    assert_eq!(name["name"], "Old name");
    let (_, join_rules) = state_event(&server, &alice, &new_room, "m.room.join_rules");
    assert_eq!(join_rules["join_rule"], "public");
    let (status, banned) = server.call(
        "GET",
        &format!("/_matrix/client/v3/rooms/{}/state/m.room.member/{}", enc(&new_room), enc(&mallory_id)),
        Some(&alice),
        None,
    );
    assert_eq!((status, &banned["membership"]), (200, &json!("ban")), "bans are carried over");

    let (_, tombstone) = state_event(&server, &alice, &room, "m.room.tombstone");
    assert_eq!(tombstone["replacement_room"], json!(new_room), "{tombstone}");
    assert_eq!(create["predecessor"]["event_id"].as_str().map(|id| id.starts_with('$')), Some(true));
    let (_, power) = state_event(&server, &alice, &room, "m.room.power_levels");
    assert_eq!((&power["events_default"], &power["invite"]), (&json!(50), &json!(50)), "{power}");
    let (status, _) = server.send_text(&bob, &room, "after", "still here?");
    assert_eq!(status, 403, "the old room is closed to regular members");
    let (_, new_power) = state_event(&server, &alice, &new_room, "m.room.power_levels");
    assert_eq!(new_power["events_default"], 0, "the new room keeps the old levels: {new_power}");

    let (status, answer) =
        server.call("GET", &format!("/_matrix/client/v3/directory/room/{}", enc("#upgraded:test.local")), None, None);
    assert_eq!((status, &answer["room_id"]), (200, &json!(new_room)), "the alias moved");
    let (_, canonical) = state_event(&server, &alice, &new_room, "m.room.canonical_alias");
    assert_eq!(canonical["alias"], "#upgraded:test.local", "{canonical}");
    let (_, old_canonical) = state_event(&server, &alice, &room, "m.room.canonical_alias");
    assert!(old_canonical.get("alias").is_none(), "{old_canonical}");
}

#[test]
fn an_upgrade_refused_by_user_may_create_room_leaves_the_old_room_alone() {
    let server = Server::start_policy("      deny_room_creation: ['@alice:test.local']\n");
    let (_, bob) = server.register("bob");
    let (_, alice) = server.register("alice");
    // bob creates it and makes alice an admin of it.
    let room = server.create_room(&bob, json!({ "preset": "public_chat" }));
    let (status, _) =
        server.call("POST", &format!("/_matrix/client/v3/join/{}", enc(&room)), Some(&alice), Some(&json!({})));
    assert_eq!(status, 200);
    let (_, mut power) = state_event(&server, &bob, &room, "m.room.power_levels");
    power["users"]["@alice:test.local"] = json!(100);
    let path = format!("/_matrix/client/v3/rooms/{}/state/m.room.power_levels/", enc(&room));
    assert_eq!(server.call("PUT", &path, Some(&bob), Some(&power)).0, 200);

    let (status, answer) = upgrade(&server, &alice, &room, json!({ "new_version": "10" }));
    assert_eq!((status, errcode(&answer)), (403, Some("M_FORBIDDEN")), "{answer}");
    let (status, _) = state_event(&server, &bob, &room, "m.room.tombstone");
    assert_eq!(status, 404, "no tombstone after a refusal");

    let (status, answer) = upgrade(&server, &alice, &room, json!({ "new_version": "1" }));
    assert_eq!((status, errcode(&answer)), (400, Some("M_UNSUPPORTED_ROOM_VERSION")));
    let (status, answer) = upgrade(&server, &alice, &room, json!({}));
    assert_eq!((status, errcode(&answer)), (400, Some("M_BAD_JSON")));
    let (status, _) = upgrade(&server, &alice, "!unknown:test.local", json!({ "new_version": "10" }));
    assert_eq!(status, 404);
}
