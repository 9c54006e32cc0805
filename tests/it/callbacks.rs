//! Every endpoint row of the server table, through the `policy` module, allowing and
//! denying: the status codes and errcodes Synapse gives (SYNAPSE.md §3 and §7).

use serde_json::{json, Value};

use crate::support::{config_with_modules, enc, Server};

fn errcode(answer: &Value) -> Option<&str> {
    answer["errcode"].as_str()
}

#[test]
fn registration_deny_is_429_and_shadow_ban_hides_events() {
    let server = Server::start_policy("      deny_registration: [spammer]\n      shadow_ban_registration: [shady]\n");
    let body = json!({ "username": "spammer", "password": "pw", "auth": { "type": "m.login.dummy" } });
    let (status, answer) = server.call("POST", "/_matrix/client/v3/register", None, Some(&body));
    assert_eq!((status, errcode(&answer), answer["error"].as_str()), (429, Some("M_UNKNOWN"), Some("Rate limited")));

    let (alice_id, alice) = server.register("alice");
    let (_, shady) = server.register("shady");
    let room = server.create_room(&alice, json!({ "preset": "public_chat" }));
    let (status, _) = server.call("POST", &format!("/_matrix/client/v3/join/{}", enc(&room)), Some(&shady), None);
    assert_eq!(status, 200);
    let (status, answer) = server.send_text(&shady, &room, "1", "you cannot see me");
    assert_eq!(status, 200, "the shadow-banned user is answered as if it worked");
    let event = answer["event_id"].as_str().unwrap();
    let (status, _) = server.call(
        "GET",
        &format!("/_matrix/client/v3/rooms/{}/event/{}", enc(&room), enc(event)),
        Some(&alice),
        None,
    );
    assert_eq!(status, 404, "nobody else sees it");
    let calls = server.policy_calls();
    assert!(calls.contains(&json!(["on_user_registration", alice_id])), "{calls:?}");
}

#[test]
fn login_spam_check_denies_with_the_module_errcode_and_fields() {
    let server = Server::start_policy("      deny_login: ['@blocked:test.local']\n");
    server.register("blocked");
    server.register("fine");
    let login = |user: &str| json!({ "type": "m.login.password", "identifier": { "type": "m.id.user", "user": user }, "password": "secret-pw" });
    let (status, answer) = server.call("POST", "/_matrix/client/v3/login", None, Some(&login("blocked")));
    assert_eq!((status, errcode(&answer), &answer["extra"]), (403, Some("M_LIMIT_EXCEEDED"), &json!("value")));
    let (status, answer) = server.call("POST", "/_matrix/client/v3/login", None, Some(&login("fine")));
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = server.call(
        "POST",
        "/_matrix/client/r0/login",
        None,
        Some(&json!({
            "type": "m.login.password", "user": "fine", "password": "wrong"
        })),
    );
    assert_eq!((status, errcode(&answer)), (403, Some("M_FORBIDDEN")));
    assert!(server.policy_calls().contains(&json!(["on_user_login", ["@fine:test.local", "m.login.password"]])));
}

#[test]
fn an_expired_account_is_refused_everywhere_but_logout() {
    let server = Server::start_policy("      expired_users: ['@old:test.local']\n");
    let (_, old) = server.register("old");
    for (method, path) in [("GET", "/_matrix/client/v3/sync"), ("GET", "/_matrix/client/v3/account/whoami")] {
        let (status, answer) = server.call(method, path, Some(&old), None);
        assert_eq!((status, errcode(&answer)), (403, Some("ORG_MATRIX_EXPIRED_ACCOUNT")), "{path}");
    }
    let (status, _) = server.call("POST", "/_matrix/client/v3/logout", Some(&old), Some(&json!({})));
    assert_eq!(status, 200);
    let (_, young) = server.register("young");
    let (status, _) = server.call("GET", "/_matrix/client/v3/account/whoami", Some(&young), None);
    assert_eq!(status, 200);
}

#[test]
fn media_deny_is_400_bad_content() {
    let modules = "  - module: policy\n    config:\n      deny_media_containing: evil\n";
    let config = config_with_modules(modules).replace("max_upload_size: 64K", "max_upload_size: 2M");
    let server = Server::start_policy_with_config(&config);
    let (_, token) = server.register("uploader");
    let upload = |bytes: &[u8]| {
        server.call_raw("POST", "/_matrix/media/v3/upload", Some(&token), Some(bytes.to_vec()), Some("image/png"))
    };
    let (status, body) = upload(b"an evil payload");
    let answer: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((status, errcode(&answer), answer["error"].as_str()), (400, Some("M_UNKNOWN"), Some("Bad content")));
    let (status, body) = upload(b"a fine picture");
    assert_eq!(status, 200);
    let answer: Value = serde_json::from_slice(&body).unwrap();
    let media = answer["content_uri"].as_str().unwrap().trim_start_matches("mxc://").to_owned();
    let (status, bytes) =
        server.call_raw("GET", &format!("/_matrix/client/v1/media/download/{media}"), Some(&token), None, None);
    assert_eq!((status, bytes.as_slice()), (200, b"a fine picture".as_slice()));

    // A 1 MiB upload reaches the module in 64 KiB chunks, read from the stored file: the
    // word across the boundary of the 9th chunk is found; the same file without it passes.
    let mut big = vec![b'.'; 1 << 20];
    let boundary = 9 * (1 << 16);
    big[boundary - 2..boundary + 2].copy_from_slice(b"evil");
    assert_eq!(upload(&big).0, 400, "a word split across two chunks is seen");
    big[boundary - 2..boundary + 2].copy_from_slice(b"good");
    assert_eq!(upload(&big).0, 200);
}

/// The peak resident memory of a process, in bytes (`VmHWM` in `/proc/PID/status`).
#[cfg(target_os = "linux")]
fn peak_memory(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|line| line.starts_with("VmHWM:")).expect("VmHWM in /proc/PID/status");
    let kib: u64 = line.trim_start_matches("VmHWM:").trim().trim_end_matches("kB").trim().parse().unwrap();
    kib * 1024
}

/// An upload goes to disk as it arrives, and `check_media_file_for_spam` reads it back
/// from there a chunk at a time: neither the host nor the module ever holds it whole. A
/// 32 MiB upload scanned to its end (the word is in the last chunk) raises the server's
/// peak memory by far less than its size; receiving it into memory, or handing the module
/// the bytes instead of the stored file, would raise it by at least 32 MiB.
#[cfg(target_os = "linux")]
#[test]
fn a_scanned_upload_is_never_held_in_memory() {
    let modules = "  - module: policy\n    config:\n      deny_media_containing: evil\n";
    let config = config_with_modules(modules).replace("max_upload_size: 64K", "max_upload_size: 40M");
    let server = Server::start_policy_with_config(&config);
    let (_, token) = server.register("uploader");
    let upload = |bytes: Vec<u8>| {
        server.call_raw("POST", "/_matrix/media/v3/upload", Some(&token), Some(bytes), Some("image/png")).0
    };
    // Warm up: the first upload's buffers and threads count in the baseline.
    assert_eq!(upload(vec![b'.'; 1 << 20]), 200);
    let before = peak_memory(server.pid());
    const SIZE: usize = 32 << 20;
    let mut big = vec![b'.'; SIZE];
    big[SIZE - 4..].copy_from_slice(b"evil");
    assert_eq!(upload(big), 400, "the word at the very end is found");
    let grown = peak_memory(server.pid()).saturating_sub(before);
    assert!(grown < (SIZE / 4) as u64, "the server's peak memory grew by {grown} bytes for a {SIZE}-byte upload");
}

#[test]
fn the_user_directory_filters_silently() {
    let server = Server::start_policy("      hidden_from_directory: ['@hidden_user:test.local']\n");
    let (_, searcher) = server.register("searcher");
    server.register("hidden_user");
    server.register("visible_user");
    let (status, answer) = server.call(
        "POST",
        "/_matrix/client/v3/user_directory/search",
        Some(&searcher),
        Some(&json!({ "search_term": "user" })),
    );
    assert_eq!(status, 200);
    let found: Vec<&str> = answer["results"].as_array().unwrap().iter().filter_map(|r| r["user_id"].as_str()).collect();
    assert_eq!(found, ["@visible_user:test.local"]);
}

#[test]
fn room_creation_edits_aliases_and_publishing() {
    let server = Server::start_policy(
        "      default_topic: set by a module\n      deny_aliases: ['#forbidden:test.local']\n      deny_publish: true\n",
    );
    let (_, token) = server.register("creator");
    let room = server.create_room(&token, json!({ "room_alias_name": "allowed" }));
    let path = format!("/_matrix/client/v3/rooms/{}/state/m.room.topic/", enc(&room));
    let (status, topic) = server.call("GET", &path, Some(&token), None);
    assert_eq!((status, topic), (200, json!({ "topic": "set by a module" })), "on_create_room edited the request");
    let (status, answer) = server.call("GET", "/_matrix/client/v3/directory/room/%23allowed%3Atest.local", None, None);
    assert_eq!((status, answer["room_id"].as_str()), (200, Some(room.as_str())));

    let (status, answer) = server.call(
        "POST",
        "/_matrix/client/v3/createRoom",
        Some(&token),
        Some(&json!({ "room_alias_name": "forbidden" })),
    );
    assert_eq!((status, errcode(&answer)), (403, Some("M_FORBIDDEN")), "{answer}");
    let (status, answer) = server.call(
        "PUT",
        "/_matrix/client/v3/directory/room/%23forbidden%3Atest.local",
        Some(&token),
        Some(&json!({ "room_id": room })),
    );
    assert_eq!((status, errcode(&answer)), (403, Some("M_FORBIDDEN")));
    let (status, _) = server.call(
        "PUT",
        "/_matrix/client/v3/directory/room/%23second%3Atest.local",
        Some(&token),
        Some(&json!({ "room_id": room })),
    );
    assert_eq!(status, 200);
    let (status, answer) = server.call(
        "PUT",
        &format!("/_matrix/client/v3/directory/list/room/{}", enc(&room)),
        Some(&token),
        Some(&json!({ "visibility": "public" })),
    );
    assert_eq!((status, errcode(&answer)), (403, Some("M_FORBIDDEN")));
    let (status, answer) =
        server.call("POST", "/_matrix/client/v3/createRoom", Some(&token), Some(&json!({ "visibility": "public" })));
    assert_eq!((status, errcode(&answer)), (403, Some("M_FORBIDDEN")));
    let (status, rooms) = server.call("GET", "/_matrix/client/v3/publicRooms", None, None);
    assert_eq!((status, rooms["chunk"].as_array().map(Vec::len)), (200, Some(0)));
}

#[test]
fn publishing_and_visibility_rules() {
    let server = Server::start_policy("      {}\n");
    let (_, token) = server.register("publisher");
    let room = server.create_room(&token, json!({ "visibility": "public", "name": "Lobby" }));
    let (status, rooms) = server.call("GET", "/_matrix/client/v3/publicRooms", None, None);
    assert_eq!((status, &rooms["chunk"][0]["name"]), (200, &json!("Lobby")));
    let (status, answer) =
        server.call("GET", &format!("/_matrix/client/v3/directory/list/room/{}", enc(&room)), None, None);
    assert_eq!((status, &answer["visibility"]), (200, &json!("public")));

    let server = Server::start_policy("      deny_visibility_changes: true\n");
    let (_, token) = server.register("publisher");
    let (status, answer) = server.call("POST", "/_matrix/client/v3/createRoom", Some(&token), Some(&json!({})));
    assert_eq!(
        (status, errcode(&answer), answer["error"].as_str()),
        (403, Some("M_UNKNOWN"), Some("Room visibility value not allowed."))
    );
}

#[test]
fn joins_invites_and_third_party_invites() {
    let server = Server::start_policy(
        "      deny_joins: ['@blocked:test.local']\n      deny_invites_to: ['@uninvitable:test.local']\n      deny_threepids: ['no@example.com']\n",
    );
    let (_, owner) = server.register("owner");
    let (_, blocked) = server.register("blocked");
    let (bob_id, bob) = server.register("bob");
    server.register("uninvitable");
    let room = server.create_room(&owner, json!({ "preset": "public_chat" }));
    let join =
        |token: &str| server.call("POST", &format!("/_matrix/client/v3/rooms/{}/join", enc(&room)), Some(token), None);
    let (status, answer) = join(&blocked);
    assert_eq!((status, errcode(&answer)), (403, Some("M_CONSENT_NOT_GIVEN")));
    assert_eq!(join(&bob).0, 200);

    let private = server.create_room(&owner, json!({}));
    let invite = |body: Value| {
        server.call("POST", &format!("/_matrix/client/v3/rooms/{}/invite", enc(&private)), Some(&owner), Some(&body))
    };
    let (status, answer) = invite(json!({ "user_id": "@uninvitable:test.local" }));
    assert_eq!(
        (status, errcode(&answer), answer["error"].as_str()),
        (403, Some("M_FORBIDDEN"), Some("Invites have been disabled on this server"))
    );
    let (status, answer) = server.call("POST", &format!("/_matrix/client/v3/join/{}", enc(&private)), Some(&bob), None);
    assert_eq!(status, 403, "not invited: {answer}");
    assert_eq!(invite(json!({ "user_id": bob_id })).0, 200);
    let (status, _) = server.call("POST", &format!("/_matrix/client/v3/join/{}", enc(&private)), Some(&bob), None);
    assert_eq!(status, 200);
    let (status, _) = invite(json!({ "medium": "email", "address": "yes@example.com", "id_server": "is.example.com" }));
    assert_eq!(status, 200);
    let (status, answer) =
        invite(json!({ "medium": "email", "address": "no@example.com", "id_server": "is.example.com" }));
    assert_eq!((status, errcode(&answer)), (403, Some("M_FORBIDDEN")));
    let (status, _) =
        server.call("POST", &format!("/_matrix/client/v3/rooms/{}/leave", enc(&private)), Some(&bob), None);
    assert_eq!(status, 200);
}

#[test]
fn state_events_and_event_rewrites() {
    let server = Server::start_policy(
        "      deny_state_types: [test.denied]\n      forbidden_event_types: [foo.bar.forbidden]\n      uppercase_bodies: true\n",
    );
    let (_, token) = server.register("writer");
    let room = server.create_room(&token, json!({}));
    let state = |event_type: &str| {
        server.call(
            "PUT",
            &format!("/_matrix/client/v3/rooms/{}/state/{event_type}/key", enc(&room)),
            Some(&token),
            Some(&json!({ "foo": "bar" })),
        )
    };
    assert_eq!(state("test.allowed").0, 200);
    let (status, answer) = state("test.denied");
    assert_eq!((status, errcode(&answer)), (403, Some("M_FORBIDDEN")));
    let (status, answer) = server.call(
        "PUT",
        &format!("/_matrix/client/v3/rooms/{}/send/foo.bar.forbidden/1", enc(&room)),
        Some(&token),
        Some(&json!({})),
    );
    assert_eq!((status, errcode(&answer)), (403, Some("M_FORBIDDEN")));
    let (status, answer) = server.send_text(&token, &room, "2", "original body");
    assert_eq!(status, 200);
    let event = answer["event_id"].as_str().unwrap();
    let (_, stored) = server.call(
        "GET",
        &format!("/_matrix/client/v3/rooms/{}/event/{}", enc(&room), enc(event)),
        Some(&token),
        None,
    );
    assert_eq!(stored["content"]["body"], "ORIGINAL BODY");
    let (status, page) = server.call(
        "GET",
        &format!("/_matrix/client/v3/rooms/{}/messages?dir=b&limit=1", enc(&room)),
        Some(&token),
        None,
    );
    assert_eq!((status, &page["chunk"][0]["content"]["body"]), (200, &json!("ORIGINAL BODY")));
    let news = server.policy_calls().iter().filter(|c| c[0] == "on_new_event").count();
    assert!(news >= 7, "on_new_event saw the room's events: {news}");
}

#[test]
fn profile_updates_are_reported() {
    let server = Server::start_policy("      {}\n");
    let (user_id, token) = server.register("renamed");
    let (status, _) = server.call(
        "PUT",
        &format!("/_matrix/client/v3/profile/{}/displayname", enc(&user_id)),
        Some(&token),
        Some(&json!({ "displayname": "Foo" })),
    );
    assert_eq!(status, 200);
    let (status, profile) = server.call("GET", &format!("/_matrix/client/v3/profile/{}", enc(&user_id)), None, None);
    assert_eq!((status, &profile["displayname"]), (200, &json!("Foo")));
    assert!(server.policy_calls().contains(&json!(["on_profile_update", [user_id, "Foo", false, false]])));
    let (status, me) = server.call("GET", "/_synapse/client/policy/me", Some(&token), None);
    assert_eq!(
        (status, me),
        (200, json!({ "user_id": user_id, "displayname": "Foo" })),
        "a module authenticated the request"
    );
    let (status, answer) = server.call("GET", "/_synapse/client/policy/me", Some("nonsense"), None);
    assert_eq!((status, errcode(&answer)), (401, Some("M_UNKNOWN_TOKEN")));
}

#[test]
fn deactivation_is_checked_and_reported() {
    let server = Server::start_policy("      deny_deactivation: ['@kept:test.local']\n");
    let deactivate = |token: &str, auth: Value| {
        server.call(
            "POST",
            "/_matrix/client/v3/account/deactivate",
            Some(token),
            Some(&json!({ "auth": auth, "erase": true })),
        )
    };
    let password = json!({ "type": "m.login.password", "password": "secret-pw" });
    let (_, kept) = server.register("kept");
    let (status, answer) = deactivate(&kept, password.clone());
    assert_eq!((status, errcode(&answer)), (403, Some("M_FORBIDDEN")), "{answer}");

    let (leaver_id, leaver) = server.register("leaver");
    let (status, challenge) = deactivate(&leaver, Value::Null);
    assert_eq!((status, &challenge["flows"][0]["stages"][0]), (401, &json!("m.login.password")));
    let (status, _) = deactivate(&leaver, password);
    assert_eq!(status, 200);
    let (status, answer) = server.call("GET", "/_matrix/client/v3/account/whoami", Some(&leaver), None);
    assert_eq!((status, errcode(&answer)), (401, Some("M_UNKNOWN_TOKEN")), "the tokens are gone");
    let calls = server.policy_calls();
    assert!(calls.contains(&json!(["on_user_deactivation_status_changed", [leaver_id, true, false]])), "{calls:?}");
    assert!(calls.contains(&json!(["on_profile_update", [leaver_id, null, false, true]])), "{calls:?}");
}
