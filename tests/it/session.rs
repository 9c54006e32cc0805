//! The session basics over HTTP: `/capabilities`, `/devices` with user-interactive auth
//! for deletion, `/account/password`, filters and `/sync?filter=`, and the honest empty
//! answers (`/thirdparty/protocols`, `/voip/turnServer`).

use serde_json::{json, Value};

use crate::support::{config_with_modules, enc, Server};

const CLIENT: &str = "/_matrix/client/v3";

fn login(server: &Server, user: &str, password: &str, device: &str) -> (u16, Value) {
    let body = json!({
        "type": "m.login.password", "identifier": { "type": "m.id.user", "user": user }, "password": password,
        "device_id": device, "initial_device_display_name": format!("{device} of {user}")
    });
    server.call("POST", &format!("{CLIENT}/login"), None, Some(&body))
}

fn password_auth(user: &str, password: &str) -> Value {
    json!({ "type": "m.login.password", "identifier": { "type": "m.id.user", "user": user }, "password": password })
}

#[test]
fn capabilities_and_the_empty_answers() {
    let server = Server::start(&config_with_modules("  []\n"));
    let (_, alice) = server.register("alice");
    let (status, caps) = server.call("GET", &format!("{CLIENT}/capabilities"), Some(&alice), None);
    assert_eq!(status, 200);
    let caps = &caps["capabilities"];
    assert_eq!(caps["m.room_versions"]["default"], "10");
    assert_eq!(caps["m.room_versions"]["available"]["10"], "stable");
    for enabled in ["m.change_password", "m.set_displayname", "m.set_avatar_url"] {
        assert_eq!(caps[enabled]["enabled"], true, "{enabled}");
    }
    assert!(caps["m.3pid_changes"]["enabled"].is_boolean());
    assert_eq!(server.call("GET", &format!("{CLIENT}/thirdparty/protocols"), Some(&alice), None), (200, json!({})));
    assert_eq!(server.call("GET", &format!("{CLIENT}/voip/turnServer"), Some(&alice), None), (200, json!({})));
    assert_eq!(server.call("GET", &format!("{CLIENT}/capabilities"), None, None).0, 401);
}

#[test]
fn devices_are_listed_renamed_and_deleted_behind_password_auth() {
    let server = Server::start(&config_with_modules("  []\n"));
    let (alice_id, alice) = server.register("alice");
    let (status, phone) = login(&server, "alice", "secret-pw", "PHONE");
    assert_eq!(status, 200, "{phone}");
    let phone_token = phone["access_token"].as_str().unwrap().to_owned();
    let (_, laptop) = login(&server, "alice", "secret-pw", "LAPTOP");
    let laptop_token = laptop["access_token"].as_str().unwrap().to_owned();

    let (status, list) = server.call("GET", &format!("{CLIENT}/devices"), Some(&alice), None);
    assert_eq!(status, 200);
    let ids: Vec<&str> = list["devices"].as_array().unwrap().iter().map(|d| d["device_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 3, "{list}");
    assert!(ids.contains(&"PHONE") && ids.contains(&"LAPTOP"));
    let (_, laptop_device) = server.call("GET", &format!("{CLIENT}/devices/LAPTOP"), Some(&alice), None);
    assert_eq!(laptop_device["display_name"], "LAPTOP of alice", "the name offered at login");

    let path = format!("{CLIENT}/devices/PHONE");
    assert_eq!(server.call("PUT", &path, Some(&alice), Some(&json!({ "display_name": "Pocket" }))).0, 200);
    let (status, device) = server.call("GET", &path, Some(&alice), None);
    assert_eq!((status, device["display_name"].as_str()), (200, Some("Pocket")));
    let long = json!({ "display_name": "x".repeat(101) });
    assert_eq!(server.call("PUT", &path, Some(&alice), Some(&long)).1["errcode"], "M_TOO_LARGE");
    let missing = format!("{CLIENT}/devices/NOPE");
    assert_eq!(server.call("GET", &missing, Some(&alice), None).1["errcode"], "M_NOT_FOUND");
    assert_eq!(server.call("PUT", &missing, Some(&alice), Some(&json!({ "display_name": "x" }))).0, 404);

    // Deleting asks for the password first, refuses a wrong one, then logs the device out.
    let (status, challenge) = server.call("DELETE", &path, Some(&alice), None);
    assert_eq!(status, 401);
    assert_eq!(challenge["flows"][0]["stages"][0], "m.login.password");
    assert!(challenge["session"].is_string());
    let wrong = json!({ "auth": password_auth(&alice_id, "wrong") });
    let (status, refused) = server.call("DELETE", &path, Some(&alice), Some(&wrong));
    assert_eq!((status, refused["errcode"].as_str()), (401, Some("M_FORBIDDEN")));
    assert_eq!(server.call("GET", &format!("{CLIENT}/account/whoami"), Some(&phone_token), None).0, 200);
    let right = json!({ "auth": password_auth("alice", "secret-pw") });
    assert_eq!(server.call("DELETE", &path, Some(&alice), Some(&right)).0, 200);
    assert_eq!(server.call("GET", &format!("{CLIENT}/account/whoami"), Some(&phone_token), None).0, 401);

    // POST /delete_devices: the same auth, several devices at once.
    let path = format!("{CLIENT}/delete_devices");
    assert_eq!(server.call("POST", &path, Some(&alice), Some(&json!({ "devices": ["LAPTOP"] }))).0, 401);
    assert_eq!(
        server.call("POST", &path, Some(&alice), Some(&json!({ "devices": "LAPTOP" }))).1["errcode"],
        "M_BAD_JSON"
    );
    let body = json!({ "devices": ["LAPTOP"], "auth": password_auth("alice", "secret-pw") });
    assert_eq!(server.call("POST", &path, Some(&alice), Some(&body)).0, 200);
    assert_eq!(server.call("GET", &format!("{CLIENT}/account/whoami"), Some(&laptop_token), None).0, 401);
    let (_, list) = server.call("GET", &format!("{CLIENT}/devices"), Some(&alice), None);
    assert_eq!(list["devices"].as_array().unwrap().len(), 1);
}

#[test]
fn a_password_change_logs_out_the_other_devices_unless_asked_not_to() {
    let server = Server::start(&config_with_modules("  []\n"));
    let (_, alice) = server.register("alice");
    let (_, other) = login(&server, "alice", "secret-pw", "OTHER");
    let other = other["access_token"].as_str().unwrap().to_owned();
    let path = format!("{CLIENT}/account/password");
    assert_eq!(server.call("POST", &path, Some(&alice), Some(&json!({ "new_password": "n1" }))).0, 401);
    let keep =
        json!({ "new_password": "second-pw", "logout_devices": false, "auth": password_auth("alice", "secret-pw") });
    assert_eq!(server.call("POST", &path, Some(&alice), Some(&keep)).0, 200);
    assert_eq!(server.call("GET", &format!("{CLIENT}/account/whoami"), Some(&other), None).0, 200);
    assert_eq!(login(&server, "alice", "secret-pw", "X").0, 403, "the old password is gone");
    let missing = json!({ "auth": password_auth("alice", "second-pw") });
    assert_eq!(server.call("POST", &path, Some(&alice), Some(&missing)).1["errcode"], "M_MISSING_PARAM");
    let change = json!({ "new_password": "third-pw", "auth": password_auth("alice", "second-pw") });
    assert_eq!(server.call("POST", &path, Some(&alice), Some(&change)).0, 200);
    assert_eq!(server.call("GET", &format!("{CLIENT}/account/whoami"), Some(&other), None).0, 401);
    assert_eq!(server.call("GET", &format!("{CLIENT}/account/whoami"), Some(&alice), None).0, 200);
    assert_eq!(login(&server, "alice", "third-pw", "Y").0, 200);
}

#[test]
fn logging_out_everywhere_leaves_no_device_behind() {
    let server = Server::start(&config_with_modules("  []\n"));
    let (_, alice) = server.register("alice");
    assert_eq!(login(&server, "alice", "secret-pw", "PHONE").0, 200);
    let (_, list) = server.call("GET", &format!("{CLIENT}/devices"), Some(&alice), None);
    assert_eq!(list["devices"].as_array().unwrap().len(), 2, "{list}");
    assert_eq!(server.call("POST", &format!("{CLIENT}/logout/all"), Some(&alice), Some(&json!({}))).0, 200);
    let (status, again) = login(&server, "alice", "secret-pw", "AGAIN");
    assert_eq!(status, 200, "{again}");
    let token = again["access_token"].as_str().unwrap();
    let (status, list) = server.call("GET", &format!("{CLIENT}/devices"), Some(token), None);
    let ids: Vec<&str> = list["devices"].as_array().unwrap().iter().map(|d| d["device_id"].as_str().unwrap()).collect();
    assert_eq!((status, ids), (200, vec!["AGAIN"]), "the logged-out devices are gone: {list}");
}

fn timeline(sync: &Value, room: &str) -> Vec<Value> {
    sync["rooms"]["join"][room]["timeline"]["events"].as_array().cloned().unwrap_or_default()
}

#[test]
fn filters_are_stored_per_user_and_shape_sync() {
    let server = Server::start(&config_with_modules("  []\n"));
    let (alice_id, alice) = server.register("alice");
    let (bob_id, bob) = server.register("bob");
    let (carol_id, carol) = server.register("carol");
    let room = server.create_room(&alice, json!({ "invite": [bob_id, carol_id] }));
    let quiet = server.create_room(&alice, json!({}));
    for token in [&bob, &carol] {
        assert_eq!(server.call("POST", &format!("{CLIENT}/join/{}", enc(&room)), Some(token), None).0, 200);
    }
    for n in 0..5 {
        server.send_text(&alice, &room, &format!("a{n}"), &format!("alice {n}"));
    }
    let reaction = json!({ "m.relates_to": { "rel_type": "m.annotation", "event_id": "$x", "key": "+" } });
    let path = format!("{CLIENT}/rooms/{}/send/m.reaction/r1", enc(&room));
    assert_eq!(server.call("PUT", &path, Some(&alice), Some(&reaction)).0, 200);

    let filter = json!({
        "room": { "not_rooms": [quiet], "timeline": { "limit": 3, "types": ["m.room.*"] }, "state": { "lazy_load_members": true } }
    });
    let path = format!("{CLIENT}/user/{}/filter", enc(&bob_id));
    let (status, created) = server.call("POST", &path, Some(&bob), Some(&filter));
    assert_eq!(status, 200);
    let id = created["filter_id"].as_str().unwrap().to_owned();
    assert_eq!(
        server.call("POST", &path, Some(&bob), Some(&filter)).1["filter_id"],
        id.as_str(),
        "same filter, same ID"
    );
    assert_eq!(server.call("GET", &format!("{path}/{id}"), Some(&bob), None), (200, filter.clone()));
    assert_eq!(server.call("POST", &path, Some(&alice), Some(&filter)).1["errcode"], "M_FORBIDDEN");
    assert_eq!(server.call("GET", &format!("{path}/{id}"), Some(&alice), None).0, 403);
    assert_eq!(server.call("GET", &format!("{path}/999"), Some(&bob), None).1["errcode"], "M_NOT_FOUND");
    assert_eq!(server.call("GET", &format!("{path}/abc"), Some(&bob), None).1["errcode"], "M_INVALID_PARAM");
    let bad = json!({ "room": { "timeline": { "limit": "three" } } });
    assert_eq!(server.call("POST", &path, Some(&bob), Some(&bad)).1["errcode"], "M_BAD_JSON");

    let (_, plain) = server.call("GET", &format!("{CLIENT}/sync"), Some(&alice), None);
    assert!(plain["rooms"]["join"][&quiet].is_object());
    // Alice syncs with Bob's filter inline: it is checked, not stored.
    let inline = enc(&filter.to_string());
    let (status, sync) = server.call("GET", &format!("{CLIENT}/sync?filter={inline}"), Some(&alice), None);
    assert_eq!(status, 200);
    assert!(sync["rooms"]["join"][&quiet].is_null(), "not_rooms");
    let events = timeline(&sync, &room);
    let bodies: Vec<&str> = events.iter().filter_map(|e| e["content"]["body"].as_str()).collect();
    assert_eq!(bodies, ["alice 2", "alice 3", "alice 4"], "the newest 3 of the types asked for");
    assert_eq!(sync["rooms"]["join"][&room]["timeline"]["limited"], true);
    let members: Vec<&str> = sync["rooms"]["join"][&room]["state"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "m.room.member")
        .map(|e| e["state_key"].as_str().unwrap())
        .collect();
    assert_eq!(members, [alice_id.as_str()], "lazy loading: only the timeline's senders");
    assert!(sync["rooms"]["join"][&room]["state"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["type"] == "m.room.create"));

    // By ID; an unknown ID is the default filter; a malformed one is refused.
    let (_, by_id) = server.call("GET", &format!("{CLIENT}/sync?filter={id}"), Some(&bob), None);
    assert_eq!(timeline(&by_id, &room).len(), 3);
    let (status, unknown) = server.call("GET", &format!("{CLIENT}/sync?filter=4242"), Some(&bob), None);
    assert_eq!(status, 200);
    assert!(timeline(&unknown, &room).len() > 3);
    assert_eq!(
        server.call("GET", &format!("{CLIENT}/sync?filter=%7Bnope"), Some(&bob), None).1["errcode"],
        "M_NOT_JSON"
    );
    assert_eq!(
        server.call("GET", &format!("{CLIENT}/sync?filter=x1"), Some(&bob), None).1["errcode"],
        "M_INVALID_PARAM"
    );

    // Incremental: the limit applies to what is new.
    let since = by_id["next_batch"].as_str().unwrap().to_owned();
    for n in 5..10 {
        server.send_text(&alice, &room, &format!("a{n}"), &format!("alice {n}"));
    }
    let (_, next) = server.call("GET", &format!("{CLIENT}/sync?filter={id}&since={since}"), Some(&bob), None);
    let bodies: Vec<String> =
        timeline(&next, &room).iter().filter_map(|e| e["content"]["body"].as_str().map(str::to_owned)).collect();
    assert_eq!(bodies, ["alice 7", "alice 8", "alice 9"]);
    assert_eq!(next["rooms"]["join"][&room]["timeline"]["limited"], true);
}

/// Sessions are cached in memory (SQLite): every way a token or its user changes must
/// reach the next request at once. Each token is used first, so it is in the cache.
#[test]
fn a_token_stops_working_the_moment_it_is_logged_out_or_its_user_changes() {
    let server = Server::start(&config_with_modules("  []\n"));
    let (user_id, first) = server.register("cached");
    let whoami = |token: &str| server.call("GET", &format!("{CLIENT}/account/whoami"), Some(token), None);
    let errcode = |answer: &Value| answer["errcode"].as_str().map(str::to_owned);

    assert_eq!(whoami(&first).0, 200);
    assert_eq!(server.call("POST", &format!("{CLIENT}/logout"), Some(&first), Some(&json!({}))).0, 200);
    let (status, answer) = whoami(&first);
    assert_eq!((status, errcode(&answer).as_deref()), (401, Some("M_UNKNOWN_TOKEN")), "after /logout");

    let (_, second) = login(&server, &user_id, "secret-pw", "SECOND");
    let (_, third) = login(&server, &user_id, "secret-pw", "THIRD");
    let (second, third) = (second["access_token"].as_str().unwrap(), third["access_token"].as_str().unwrap());
    assert_eq!((whoami(second).0, whoami(third).0), (200, 200));
    assert_eq!(server.call("POST", &format!("{CLIENT}/logout/all"), Some(second), Some(&json!({}))).0, 200);
    assert_eq!((whoami(second).0, whoami(third).0), (401, 401), "after /logout/all");

    // A change to the user row (here a password change logging the other devices out)
    // reaches the cached session of the device that stays logged in too.
    let (_, kept) = login(&server, &user_id, "secret-pw", "KEPT");
    let (_, other) = login(&server, &user_id, "secret-pw", "OTHER");
    let (kept, other) = (kept["access_token"].as_str().unwrap(), other["access_token"].as_str().unwrap());
    assert_eq!((whoami(kept).0, whoami(other).0), (200, 200));
    let body =
        json!({ "new_password": "another-pw", "logout_devices": true, "auth": password_auth(&user_id, "secret-pw") });
    assert_eq!(server.call("POST", &format!("{CLIENT}/account/password"), Some(kept), Some(&body)).0, 200);
    assert_eq!((whoami(kept).0, whoami(other).0), (200, 401), "after a password change");
}
