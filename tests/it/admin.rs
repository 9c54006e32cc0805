//! The admin API (issue 18): shared-secret registration and `mxmod register-user`, the
//! user list and details, creating and modifying users, deactivation and room deletion —
//! server admins only, through the module checks that guard them.

use std::{process::Command, time::Duration};

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha1::Sha1;

use crate::support::{config_with_modules, enc, eventually, Server};

/// The `registration_shared_secret` of the test servers.
pub(crate) const SECRET: &str = "s3cret-for-tests";

fn errcode(answer: &Value) -> Option<&str> {
    answer["errcode"].as_str()
}

/// A policy server (`policy` module with `policy_yaml`, indented under `config:`) with
/// shared-secret registration on.
pub(crate) fn start(policy_yaml: &str) -> Server {
    Server::start_policy_with_config(&policy_config(policy_yaml))
}

/// The config [`start`] uses.
pub(crate) fn policy_config(policy_yaml: &str) -> String {
    let modules = format!("  - module: policy\n    config:\n{policy_yaml}");
    format!("registration_shared_secret: {SECRET}\n{}", config_with_modules(&modules))
}

/// Synapse's MAC: HMAC-SHA1 over `nonce \0 user \0 password \0 admin|notadmin`.
fn mac(secret: &str, nonce: &str, user: &str, password: &str, admin: bool) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).unwrap();
    let kind = if admin { "admin" } else { "notadmin" };
    for (n, part) in [nonce, user, password, kind].into_iter().enumerate() {
        if n > 0 {
            mac.update(b"\x00");
        }
        mac.update(part.as_bytes());
    }
    mac.finalize().into_bytes().iter().map(|byte| format!("{byte:02x}")).collect()
}

fn nonce(server: &Server) -> String {
    let (status, answer) = server.call("GET", "/_synapse/admin/v1/register", None, None);
    assert_eq!(status, 200, "{answer}");
    answer["nonce"].as_str().unwrap().to_owned()
}

/// Registers `name` through shared-secret registration; returns (user ID, token).
pub(crate) fn register_admin(server: &Server, name: &str) -> (String, String) {
    let nonce = nonce(server);
    let body = json!({
        "nonce": nonce, "username": name, "password": "admin-pw", "admin": true,
        "mac": mac(SECRET, &nonce, name, "admin-pw", true),
    });
    let (status, answer) = server.call("POST", "/_synapse/admin/v1/register", None, Some(&body));
    assert_eq!(status, 200, "{answer}");
    (answer["user_id"].as_str().unwrap().to_owned(), answer["access_token"].as_str().unwrap().to_owned())
}

fn login(server: &Server, user: &str, password: &str) -> (u16, Value) {
    let body = json!({ "type": "m.login.password", "identifier": { "type": "m.id.user", "user": user }, "password": password });
    server.call("POST", "/_matrix/client/v3/login", None, Some(&body))
}

fn user_path(user_id: &str) -> String {
    format!("/_synapse/admin/v2/users/{}", enc(user_id))
}

#[test]
fn shared_secret_registration_checks_the_mac_and_uses_each_nonce_once() {
    let server = start("      generation: one\n");
    let first = nonce(&server);
    assert_eq!(first.len(), 128);
    assert!(first.bytes().all(|b| b.is_ascii_hexdigit()));

    let wrong = json!({
        "nonce": first, "username": "boss", "password": "pw", "admin": true,
        "mac": mac("not-the-secret", &first, "boss", "pw", true),
    });
    let (status, answer) = server.call("POST", "/_synapse/admin/v1/register", None, Some(&wrong));
    assert_eq!(
        (status, errcode(&answer), answer["error"].as_str()),
        (403, Some("M_FORBIDDEN"), Some("HMAC incorrect"))
    );
    let right = json!({
        "nonce": first, "username": "boss", "password": "pw", "admin": true,
        "mac": mac(SECRET, &first, "boss", "pw", true),
    });
    let (status, answer) = server.call("POST", "/_synapse/admin/v1/register", None, Some(&right));
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("unrecognised nonce")),
        "a nonce is used up by a refusal"
    );

    // The admin flag is part of the MAC: claiming admin with a non-admin MAC fails.
    let second = nonce(&server);
    let forged = json!({
        "nonce": second, "username": "boss", "password": "pw", "admin": true,
        "mac": mac(SECRET, &second, "boss", "pw", false),
    });
    let (status, _) = server.call("POST", "/_synapse/admin/v1/register", None, Some(&forged));
    assert_eq!(status, 403);

    let third = nonce(&server);
    let missing = json!({ "nonce": third, "password": "pw", "mac": "00" });
    let (status, answer) = server.call("POST", "/_synapse/admin/v1/register", None, Some(&missing));
    assert_eq!((status, errcode(&answer)), (400, Some("M_BAD_JSON")));

    let (boss_id, token) = register_admin(&server, "Boss");
    assert_eq!(boss_id, "@boss:test.local", "the username is lower-cased as Synapse does");
    let (status, answer) = server.call("GET", &user_path(&boss_id), Some(&token), None);
    assert_eq!((status, &answer["admin"]), (200, &json!(true)), "{answer}");
    let (status, answer) = login(&server, "boss", "admin-pw");
    assert_eq!(status, 200, "{answer}");

    let fourth = nonce(&server);
    let taken = json!({
        "nonce": fourth, "username": "boss", "password": "pw", "admin": false,
        "mac": mac(SECRET, &fourth, "boss", "pw", false),
    });
    let (status, answer) = server.call("POST", "/_synapse/admin/v1/register", None, Some(&taken));
    assert_eq!((status, errcode(&answer)), (400, Some("M_USER_IN_USE")));

    // Without a configured secret the endpoint refuses.
    let plain = Server::start_policy("      generation: one\n");
    let fifth = nonce(&plain);
    let body =
        json!({ "nonce": fifth, "username": "x", "password": "pw", "mac": mac(SECRET, &fifth, "x", "pw", false) });
    let (status, answer) = plain.call("POST", "/_synapse/admin/v1/register", None, Some(&body));
    assert_eq!((status, answer["error"].as_str()), (400, Some("Shared secret registration is not enabled")));
}

fn register_user_cli(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_mxmod-policy-server"))
        .arg("register-user")
        .args(args)
        .output()
        .expect("the binary runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn register_user_creates_the_first_admin_online_and_users_offline() {
    let server = start("      generation: one\n");
    let config = server.config_path().to_str().unwrap().to_owned();
    let (code, out, err) = register_user_cli(&["-c", &config, "-u", "root", "-p", "root-pw", "-a", &server.base]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Success! Registered @root:test.local (server admin)"), "{out}");
    let (status, answer) = login(&server, "root", "root-pw");
    assert_eq!(status, 200, "{answer}");
    let root = answer["access_token"].as_str().unwrap().to_owned();

    // Offline: straight into the database (the server may be running; SQLite serialises).
    let (code, out, err) = register_user_cli(&["-c", &config, "-u", "carol", "-p", "carol-pw", "--offline"]);
    assert_eq!(code, 0, "{out}{err}");
    let (status, answer) = server.call("GET", &user_path("@carol:test.local"), Some(&root), None);
    assert_eq!((status, &answer["admin"]), (200, &json!(false)), "{answer}");
    let (status, answer) = login(&server, "carol", "carol-pw");
    assert_eq!(status, 200, "{answer}");
    let carol = answer["access_token"].as_str().unwrap();
    let (status, _) = server.call("GET", "/_synapse/admin/v2/users", Some(carol), None);
    assert_eq!(status, 403, "a user made without -a is not an admin");

    let (code, _, err) = register_user_cli(&["-c", &config, "-u", "carol", "-p", "other", "--offline"]);
    assert_eq!(code, 1, "an existing user is refused: {err}");
    let (code, _, err) = register_user_cli(&["-k", "wrong-secret", "-u", "dave", "-p", "pw", &server.base]);
    assert_eq!(code, 1, "a wrong secret is refused: {err}");
    assert!(err.contains("HMAC incorrect"), "{err}");
}

#[test]
fn admin_endpoints_refuse_everyone_but_server_admins() {
    let server = start("      generation: one\n");
    let (_, user) = server.register("plain");
    let room = server.create_room(&user, json!({}));
    let requests = [
        ("GET", "/_synapse/admin/v2/users".to_owned(), None),
        ("GET", user_path("@plain:test.local"), None),
        ("PUT", user_path("@plain:test.local"), Some(json!({ "admin": true }))),
        ("POST", format!("/_synapse/admin/v1/deactivate/{}", enc("@plain:test.local")), Some(json!({}))),
        ("DELETE", format!("/_synapse/admin/v2/rooms/{}", enc(&room)), Some(json!({}))),
        ("POST", "/_synapse/admin/v1/mxmod/reload".to_owned(), Some(json!({}))),
    ];
    for (method, path, body) in &requests {
        let (status, answer) = server.call(method, path, Some(&user), body.as_ref());
        assert_eq!((status, errcode(&answer)), (403, Some("M_FORBIDDEN")), "{method} {path}: {answer}");
        let (status, answer) = server.call(method, path, None, body.as_ref());
        assert_eq!((status, errcode(&answer)), (401, Some("M_MISSING_TOKEN")), "{method} {path}: {answer}");
    }
}

#[test]
fn the_user_list_pages_filters_and_validates_its_query() {
    let server = start("      generation: one\n");
    let (_, admin) = register_admin(&server, "admin");
    for name in ["ann", "bob", "cat"] {
        server.register(name);
    }
    let (status, _) =
        server.call("POST", &format!("/_synapse/admin/v1/deactivate/{}", enc("@cat:test.local")), Some(&admin), None);
    assert_eq!(status, 200);

    let list = |query: &str| server.call("GET", &format!("/_synapse/admin/v2/users{query}"), Some(&admin), None);
    let names = |answer: &Value| -> Vec<String> {
        answer["users"].as_array().unwrap().iter().map(|u| u["name"].as_str().unwrap().to_owned()).collect()
    };
    let (status, answer) = list("?limit=2");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(names(&answer), ["@admin:test.local", "@ann:test.local"]);
    assert_eq!((&answer["total"], &answer["next_token"]), (&json!(3), &json!("2")), "the deactivated user is left out");
    let (_, answer) = list("?from=2&limit=2");
    assert_eq!(names(&answer), ["@bob:test.local"]);
    assert!(answer.get("next_token").is_none(), "{answer}");
    let (_, answer) = list("?deactivated=true");
    assert_eq!(answer["total"], 4);
    let cat = answer["users"].as_array().unwrap().iter().find(|u| u["name"] == "@cat:test.local").unwrap().clone();
    assert_eq!((&cat["deactivated"], &cat["admin"]), (&json!(true), &json!(false)));
    let (_, answer) = list("?name=bo");
    assert_eq!(names(&answer), ["@bob:test.local"]);
    let (_, answer) = list("?user_id=ANN");
    assert_eq!(names(&answer), ["@ann:test.local"]);
    for bad in ["?from=-1", "?limit=x", "?deactivated=yes"] {
        let (status, answer) = list(bad);
        assert_eq!((status, errcode(&answer)), (400, Some("M_INVALID_PARAM")), "{bad}: {answer}");
    }
    let (status, answer) = server.call("GET", &user_path("@nobody:test.local"), Some(&admin), None);
    assert_eq!((status, errcode(&answer)), (404, Some("M_NOT_FOUND")));
    let (status, _) = server.call("GET", &user_path("@someone:elsewhere.example"), Some(&admin), None);
    assert_eq!(status, 400, "only local users");
}

#[test]
fn put_user_creates_and_modifies_with_the_profile_and_deactivation_callbacks() {
    let server = start("      generation: one\n");
    let (admin_id, admin) = register_admin(&server, "admin");
    let path = user_path("@frank:test.local");
    let (status, answer) =
        server.call("PUT", &path, Some(&admin), Some(&json!({ "password": "first-pw", "displayname": "Frank" })));
    assert_eq!((status, &answer["displayname"], &answer["admin"]), (201, &json!("Frank"), &json!(false)), "{answer}");
    let (status, answer) = login(&server, "frank", "first-pw");
    assert_eq!(status, 200, "{answer}");
    let frank = answer["access_token"].as_str().unwrap().to_owned();

    // A22: one on_profile_update per field, by_admin.
    let (status, answer) = server.call(
        "PUT",
        &path,
        Some(&admin),
        Some(&json!({ "displayname": "Foo", "avatar_url": "mxc://test.local/a" })),
    );
    assert_eq!((status, &answer["avatar_url"]), (200, &json!("mxc://test.local/a")), "{answer}");
    let updates: Vec<Value> = server.policy_calls().into_iter().filter(|c| c[0] == "on_profile_update").collect();
    let expected = json!(["on_profile_update", ["@frank:test.local", "Foo", true, false]]);
    assert_eq!(updates, [expected.clone(), expected]);

    let (status, answer) = server.call("PUT", &path, Some(&admin), Some(&json!({ "password": "second-pw" })));
    assert_eq!(status, 200, "{answer}");
    let (status, _) = server.call("GET", "/_matrix/client/v3/account/whoami", Some(&frank), None);
    assert_eq!(status, 401, "a new password logs the devices out");
    let (status, answer) = login(&server, "frank", "second-pw");
    assert_eq!(status, 200, "{answer}");
    let (new_token, new_device) = (answer["access_token"].as_str().unwrap(), answer["device_id"].clone());
    let (status, devices) = server.call("GET", "/_matrix/client/v3/devices", Some(new_token), None);
    let listed: Vec<&Value> = devices["devices"].as_array().unwrap().iter().map(|d| &d["device_id"]).collect();
    assert_eq!((status, listed), (200, vec![&new_device]), "the logged-out devices are gone: {devices}");

    let (status, answer) = server.call("PUT", &path, Some(&admin), Some(&json!({ "admin": true })));
    assert_eq!((status, &answer["admin"]), (200, &json!(true)));
    let (status, answer) = server.call("PUT", &user_path(&admin_id), Some(&admin), Some(&json!({ "admin": false })));
    assert_eq!((status, answer["error"].as_str()), (400, Some("You may not demote yourself.")));

    // A23: admin deactivation and reactivation.
    let (status, answer) = server.call("PUT", &path, Some(&admin), Some(&json!({ "deactivated": true })));
    assert_eq!((status, &answer["deactivated"]), (200, &json!(true)), "{answer}");
    let (status, answer) = login(&server, "frank", "second-pw");
    assert_eq!((status, errcode(&answer)), (403, Some("M_USER_DEACTIVATED")));
    let (status, answer) =
        server.call("PUT", &path, Some(&admin), Some(&json!({ "deactivated": false, "password": "third-pw" })));
    assert_eq!((status, &answer["deactivated"]), (200, &json!(false)), "{answer}");
    assert_eq!(login(&server, "frank", "third-pw").0, 200);
    let calls = server.policy_calls();
    assert!(calls.contains(&json!(["on_user_deactivation_status_changed", ["@frank:test.local", true, true]])));
    assert!(calls.contains(&json!(["on_user_deactivation_status_changed", ["@frank:test.local", false, true]])));

    for (body, code) in [
        (json!({ "admin": "yes" }), "M_BAD_JSON"),
        (json!({ "external_ids": [{ "auth_provider": "x", "external_id": "y" }] }), "M_INVALID_PARAM"),
        (json!({ "threepids": [{ "medium": "email" }] }), "M_MISSING_PARAM"),
        (json!({ "deactivated": 1 }), "M_UNKNOWN"),
    ] {
        let (status, answer) = server.call("PUT", &path, Some(&admin), Some(&body));
        assert_eq!((status, errcode(&answer)), (400, Some(code)), "{body}: {answer}");
    }
    let (status, answer) = server.call("PUT", &user_path("@Bad Name:test.local"), Some(&admin), Some(&json!({})));
    assert_eq!(status, 400, "{answer}");
}

#[test]
fn admin_deactivation_asks_check_can_deactivate_user_with_by_admin() {
    let server = start("      deny_deactivation: ['@kept:test.local']\n");
    let (_, admin) = register_admin(&server, "admin");
    server.register("kept");
    let (gone_id, gone) = server.register("gone");
    let deactivate = |user: &str, body: Option<Value>| {
        server.call("POST", &format!("/_synapse/admin/v1/deactivate/{}", enc(user)), Some(&admin), body.as_ref())
    };
    let (status, answer) = deactivate("@kept:test.local", None);
    assert_eq!((status, errcode(&answer)), (403, Some("M_FORBIDDEN")), "{answer}");
    let (status, answer) = deactivate(&gone_id, Some(json!({ "erase": "yes" })));
    assert_eq!((status, errcode(&answer)), (400, Some("M_BAD_JSON")));
    let (status, answer) = deactivate(&gone_id, Some(json!({ "erase": true })));
    assert_eq!((status, answer), (200, json!({ "id_server_unbind_result": "no-support" })));
    let (status, _) = server.call("GET", "/_matrix/client/v3/account/whoami", Some(&gone), None);
    assert_eq!(status, 401);
    let calls = server.policy_calls();
    assert!(calls.contains(&json!(["on_user_deactivation_status_changed", [gone_id, true, true]])), "{calls:?}");
    assert!(calls.contains(&json!(["on_profile_update", [gone_id, null, true, true]])), "{calls:?}");
    let (status, _) = deactivate("@nobody:test.local", None);
    assert_eq!(status, 404);
}

fn wait_for_deletion(server: &Server, admin: &str, delete_id: &str) -> Value {
    let path = format!("/_synapse/admin/v2/rooms/delete_status/{delete_id}");
    let mut last = Value::Null;
    let done = eventually(Duration::from_secs(20), || {
        let (status, answer) = server.call("GET", &path, Some(admin), None);
        assert_eq!(status, 200, "{answer}");
        last = answer;
        matches!(last["status"].as_str(), Some("complete" | "failed"))
    });
    assert!(done, "the deletion did not finish: {last}");
    last
}

#[test]
fn deleting_a_room_asks_check_can_shutdown_room_then_kicks_blocks_and_purges() {
    let denying = start("      deny_room_shutdown: true\n");
    let (admin_id, admin) = register_admin(&denying, "admin");
    let (_, owner) = denying.register("owner");
    let room = denying.create_room(&owner, json!({}));
    let (status, answer) =
        denying.call("DELETE", &format!("/_synapse/admin/v2/rooms/{}", enc(&room)), Some(&admin), Some(&json!({})));
    assert_eq!((status, errcode(&answer)), (403, Some("M_FORBIDDEN")), "{answer}");
    assert!(denying.policy_calls().contains(&json!(["check_can_shutdown_room", [admin_id, room]])));

    let server = start("      generation: one\n");
    let (_, admin) = register_admin(&server, "admin");
    let (owner_id, owner) = server.register("owner");
    let (guest_id, guest) = server.register("guest");
    let room = server.create_room(&owner, json!({ "preset": "public_chat", "room_alias_name": "doomed" }));
    let (status, _) =
        server.call("POST", &format!("/_matrix/client/v3/join/{}", enc(&room)), Some(&guest), Some(&json!({})));
    assert_eq!(status, 200);
    let delete = format!("/_synapse/admin/v2/rooms/{}", enc(&room));
    let (status, answer) = server.call("DELETE", &delete, Some(&admin), Some(&json!({ "block": "yes" })));
    assert_eq!((status, errcode(&answer)), (400, Some("M_BAD_JSON")));
    let (status, answer) = server.call("DELETE", &delete, Some(&admin), Some(&json!({ "block": true })));
    assert_eq!(status, 200, "{answer}");
    let status_of = wait_for_deletion(&server, &admin, answer["delete_id"].as_str().unwrap());
    assert_eq!(status_of["status"], "complete", "{status_of}");
    let mut kicked: Vec<String> = serde_json::from_value(status_of["shutdown_room"]["kicked_users"].clone()).unwrap();
    kicked.sort();
    assert_eq!(kicked, [guest_id, owner_id]);
    assert_eq!(status_of["shutdown_room"]["local_aliases"], json!(["#doomed:test.local"]));
    let (status, answer) = server.call("GET", "/_matrix/client/v3/joined_rooms", Some(&guest), None);
    assert_eq!((status, &answer["joined_rooms"]), (200, &json!([])));
    let (status, _) =
        server.call("GET", &format!("/_matrix/client/v3/directory/room/{}", enc("#doomed:test.local")), None, None);
    assert_eq!(status, 404, "the alias is gone");
    let (status, answer) =
        server.call("POST", &format!("/_matrix/client/v3/join/{}", enc(&room)), Some(&guest), Some(&json!({})));
    assert_eq!((status, answer["error"].as_str()), (403, Some("This room has been blocked on this server")));
    let (status, answer) =
        server.call("GET", &format!("/_synapse/admin/v2/rooms/{}/delete_status", enc(&room)), Some(&admin), None);
    assert_eq!((status, &answer["results"][0]["status"]), (200, &json!("complete")), "{answer}");

    // Without purge the room stays, emptied; without block it can be joined again.
    let kept = server.create_room(&owner, json!({ "preset": "public_chat" }));
    let (status, answer) = server.call(
        "DELETE",
        &format!("/_synapse/admin/v2/rooms/{}", enc(&kept)),
        Some(&admin),
        Some(&json!({ "purge": false })),
    );
    assert_eq!(status, 200, "{answer}");
    let status_of = wait_for_deletion(&server, &admin, answer["delete_id"].as_str().unwrap());
    assert_eq!(status_of["status"], "complete", "{status_of}");
    let (status, _) =
        server.call("POST", &format!("/_matrix/client/v3/join/{}", enc(&kept)), Some(&guest), Some(&json!({})));
    assert_eq!(status, 200, "the kept room is still there and public");

    let (status, _) = server.call("GET", "/_synapse/admin/v2/rooms/delete_status/unknown", Some(&admin), None);
    assert_eq!(status, 404);
    let (status, answer) = server.call("DELETE", "/_synapse/admin/v2/rooms/not-a-room", Some(&admin), None);
    assert_eq!((status, errcode(&answer)), (400, Some("M_INVALID_PARAM")));
}

#[test]
fn threepids_set_by_an_admin_run_the_identifier_callbacks_and_go_at_deactivation() {
    let server = start("      generation: one\n");
    let (_, admin) = register_admin(&server, "admin");
    let (user_id, _) = server.register("tess");
    let path = user_path(&user_id);
    let count = |callback: &str| {
        let wanted = json!([callback, [user_id, "email", "foo@example.com"]]);
        server.policy_calls().iter().filter(|call| **call == wanted).count()
    };
    // A25: added once (both add callbacks), removed once on removal.
    let email = json!({ "threepids": [{ "medium": "email", "address": "Foo@Example.com" }] });
    let (status, answer) = server.call("PUT", &path, Some(&admin), Some(&email));
    assert_eq!(status, 200, "{answer}");
    let listed = &answer["threepids"];
    assert_eq!((&listed[0]["medium"], &listed[0]["address"]), (&json!("email"), &json!("foo@example.com")), "{answer}");
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{answer}");
    assert!(listed[0]["added_at"].as_u64().is_some_and(|at| at > 0), "{answer}");
    let (status, _) = server.call("PUT", &path, Some(&admin), Some(&email));
    assert_eq!(status, 200, "setting the same list again changes nothing");
    assert_eq!((count("on_add_user_third_party_identifier"), count("on_threepid_bind")), (1, 1));
    assert_eq!(count("on_remove_user_third_party_identifier"), 0);
    let (status, answer) = server.call("PUT", &path, Some(&admin), Some(&json!({ "threepids": [] })));
    assert_eq!((status, &answer["threepids"]), (200, &json!([])));
    assert_eq!(count("on_remove_user_third_party_identifier"), 1);

    // Held by one user only.
    let (other_id, _) = server.register("other");
    let (status, answer) = server.call("PUT", &user_path(&other_id), Some(&admin), Some(&email));
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = server.call("PUT", &path, Some(&admin), Some(&email));
    assert_eq!((status, answer["errcode"].as_str()), (400, Some("M_THREEPID_IN_USE")));
    let (status, _) = server.call("PUT", &user_path(&other_id), Some(&admin), Some(&json!({ "threepids": [] })));
    assert_eq!(status, 200);

    // Deactivation removes the user's identifiers, with the callback.
    let (status, _) = server.call("PUT", &path, Some(&admin), Some(&email));
    assert_eq!(status, 200);
    let (status, answer) = server.call("PUT", &path, Some(&admin), Some(&json!({ "deactivated": true })));
    assert_eq!((status, &answer["threepids"]), (200, &json!([])), "{answer}");
    assert_eq!(count("on_remove_user_third_party_identifier"), 2);
}
