//! The categories beyond the four seeds, through the real binary: password auth
//! providers (`shared_secret_auth` and the `extras` test module), media repository,
//! rate-limit overrides, account data and unsigned fields (SYNAPSE.md §6, A31, A32).

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha512;

use crate::support::{config_with_modules, config_with_synapse_limits, enc, Server};

fn errcode(answer: &Value) -> Option<&str> {
    answer["errcode"].as_str()
}

/// `mxmod-policy-server` (which links the `extras` test module) with `extras` configured so.
fn extras_server(extras_config: &str) -> Server {
    let modules = format!("  - module: extras\n    config:\n{extras_config}");
    Server::start_policy_with_config(&config_with_modules(&modules))
}

fn extras_calls(server: &Server) -> Vec<Value> {
    let (status, calls) = server.call("GET", "/_synapse/client/extras/calls", None, None);
    assert_eq!(status, 200);
    calls.as_array().cloned().unwrap_or_default()
}

fn login_types(server: &Server) -> Vec<String> {
    let (status, answer) = server.call("GET", "/_matrix/client/v3/login", None, None);
    assert_eq!(status, 200);
    answer["flows"].as_array().unwrap().iter().map(|flow| flow["type"].as_str().unwrap().to_owned()).collect()
}

fn login(server: &Server, body: Value) -> (u16, Value) {
    server.call("POST", "/_matrix/client/v3/login", None, Some(&body))
}

/// What a client of matrix-synapse-shared-secret-auth computes (its README's
/// `obtain_access_token`): the hex HMAC-SHA512 of the full user ID under the secret.
pub(crate) fn devture_token(secret: &str, user_id: &str) -> String {
    let mut mac = Hmac::<Sha512>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(user_id.as_bytes());
    mac.finalize().into_bytes().iter().map(|byte| format!("{byte:02x}")).collect()
}

#[test]
fn shared_secret_auth_logs_a_client_in_with_its_login_type() {
    let modules = "  - module: shared_secret_auth\n    config:\n      shared_secret: 'a very secret secret'\n";
    let server = Server::start(&config_with_modules(modules));
    let (alice, _) = server.register("alice");
    assert_eq!(login_types(&server), ["m.login.password", "com.devture.shared_secret_auth"]);

    let token = devture_token("a very secret secret", &alice);
    let body = json!({
        "type": "com.devture.shared_secret_auth",
        "identifier": { "type": "m.id.user", "user": alice },
        "token": token,
    });
    let (status, answer) = login(&server, body);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["user_id"], alice);
    let access = answer["access_token"].as_str().unwrap();
    let (status, me) = server.call("GET", "/_matrix/client/v3/account/whoami", Some(access), None);
    assert_eq!((status, me["user_id"].as_str()), (200, Some(alice.as_str())));

    // By localpart too, as the original qualifies it.
    let body = json!({ "type": "com.devture.shared_secret_auth", "identifier": { "type": "m.id.user", "user": "alice" }, "token": token });
    assert_eq!(login(&server, body).0, 200);

    let wrong = devture_token("another secret", &alice);
    let body = json!({ "type": "com.devture.shared_secret_auth", "identifier": { "type": "m.id.user", "user": alice }, "token": wrong });
    let (status, answer) = login(&server, body);
    assert_eq!((status, errcode(&answer)), (403, Some("M_FORBIDDEN")), "{answer}");
    assert_eq!(answer["error"], "Invalid username or password");

    let nobody = devture_token("a very secret secret", "@nobody:test.local");
    let body = json!({ "type": "com.devture.shared_secret_auth", "identifier": { "type": "m.id.user", "user": "nobody" }, "token": nobody });
    assert_eq!(login(&server, body).0, 403, "a user who does not exist is not logged in");

    let body =
        json!({ "type": "com.devture.shared_secret_auth", "identifier": { "type": "m.id.user", "user": alice } });
    let (status, answer) = login(&server, body);
    assert_eq!((status, errcode(&answer)), (400, Some("M_UNKNOWN")), "{answer}");
    assert!(answer["error"].as_str().unwrap().starts_with("Missing parameters for login type"), "{answer}");

    // m.login.password is not handled by default: the token is no password.
    let body =
        json!({ "type": "m.login.password", "identifier": { "type": "m.id.user", "user": alice }, "password": token });
    assert_eq!(login(&server, body).0, 403);
    let body = json!({ "type": "m.login.password", "identifier": { "type": "m.id.user", "user": alice }, "password": "secret-pw" });
    assert_eq!(login(&server, body).0, 200, "the local password still works");
}

#[test]
fn shared_secret_auth_password_variant_accepts_the_token_as_password() {
    let modules = "  - module: shared_secret_auth\n    config:\n      shared_secret: s\n      \
                   m_login_password_support_enabled: true\n      com_devture_shared_secret_auth_support_enabled: false\n";
    let server = Server::start(&config_with_modules(modules));
    let (alice, _) = server.register("alice");
    assert_eq!(login_types(&server), ["m.login.password"]);
    let body = json!({ "type": "m.login.password", "identifier": { "type": "m.id.user", "user": alice }, "password": devture_token("s", &alice) });
    assert_eq!(login(&server, body).0, 200);
    let body = json!({ "type": "m.login.password", "identifier": { "type": "m.id.user", "user": alice }, "password": "secret-pw" });
    assert_eq!(login(&server, body).0, 200, "a wrong token falls through to the local password");
    let body = json!({ "type": "com.devture.shared_secret_auth", "identifier": { "type": "m.id.user", "user": alice }, "token": "x" });
    let (status, answer) = login(&server, body);
    assert_eq!((status, errcode(&answer)), (400, Some("M_UNKNOWN")), "the disabled type is unknown: {answer}");
}

#[test]
fn a_module_login_type_is_offered_checked_and_followed_by_its_hook() {
    let server = extras_server("      pins: { '@alice:test.local': '1234' }\n");
    let (alice, _) = server.register("alice");
    assert_eq!(login_types(&server), ["m.login.password", "org.example.pin"]);
    let pin = |pin: &str| json!({ "type": "org.example.pin", "identifier": { "type": "m.id.user", "user": "alice" }, "pin": pin, "device_id": "PINDEV" });
    let (status, answer) = login(&server, pin("1234"));
    assert_eq!((status, answer["user_id"].as_str()), (200, Some(alice.as_str())), "{answer}");
    assert!(extras_calls(&server).contains(&json!(["on_logged_in", [alice, "PINDEV"]])));
    let (status, answer) = login(&server, pin("0000"));
    assert_eq!((status, errcode(&answer)), (403, Some("M_FORBIDDEN")));
    let (status, answer) = login(&server, json!({ "type": "org.example.other", "user": "alice" }));
    assert_eq!((status, errcode(&answer)), (400, Some("M_UNKNOWN")));
    assert_eq!(answer["error"], "Unknown login type org.example.other");
}

#[test]
fn check_3pid_auth_logs_in_by_third_party_identifier() {
    let server = extras_server("      threepid_passwords: { 'email:alice@example.org': '@alice:test.local' }\n");
    let (alice, _) = server.register("alice");
    let by_email = |address: &str, password: &str| {
        json!({
            "type": "m.login.password",
            "identifier": { "type": "m.id.thirdparty", "medium": "email", "address": address },
            "password": password,
        })
    };
    let (status, answer) = login(&server, by_email("alice@example.org", "3pid-secret"));
    assert_eq!((status, answer["user_id"].as_str()), (200, Some(alice.as_str())), "{answer}");
    assert_eq!(login(&server, by_email("alice@example.org", "wrong")).0, 403);
    assert_eq!(login(&server, by_email("bob@example.org", "3pid-secret")).0, 403, "no module knows it, nor the server");
    let (status, answer) = login(
        &server,
        json!({ "type": "m.login.password", "identifier": { "type": "m.id.thirdparty" }, "password": "x" }),
    );
    assert_eq!((status, errcode(&answer)), (400, Some("M_MISSING_PARAM")));
}

#[test]
fn logout_and_logout_all_tell_modules_once_per_token() {
    let server = extras_server("      {}\n");
    let (alice, first) = server.register("alice");
    let body = json!({ "type": "m.login.password", "user": "alice", "password": "secret-pw", "device_id": "SECOND" });
    let (status, answer) = login(&server, body.clone());
    assert_eq!(status, 200);
    let second = answer["access_token"].as_str().unwrap().to_owned();
    let (status, _) = server.call("POST", "/_matrix/client/v3/logout", Some(&second), Some(&json!({})));
    assert_eq!(status, 200);
    assert!(extras_calls(&server).contains(&json!(["on_logged_out", [alice, "SECOND", second]])));
    let (status, _) = server.call("GET", "/_matrix/client/v3/account/whoami", Some(&second), None);
    assert_eq!(status, 401);

    let (_, third) = login(
        &server,
        json!({ "type": "m.login.password", "user": "alice", "password": "secret-pw", "device_id": "THIRD" }),
    );
    let third = third["access_token"].as_str().unwrap().to_owned();
    let (status, _) = server.call("POST", "/_matrix/client/v3/logout/all", Some(&first), Some(&json!({})));
    assert_eq!(status, 200);
    let logged_out: Vec<Value> = extras_calls(&server).into_iter().filter(|call| call[0] == "on_logged_out").collect();
    assert_eq!(logged_out.len(), 3, "{logged_out:?}");
    assert!(logged_out.iter().any(|call| call[1][2] == first.as_str()), "the request's own token, as sent");
    assert!(logged_out.iter().any(|call| call[1][1] == "THIRD"));
    for token in [&first, &third] {
        let (status, _) = server.call("GET", "/_matrix/client/v3/account/whoami", Some(token), None);
        assert_eq!(status, 401);
    }
}

#[test]
fn a_password_change_tells_modules_of_each_token_it_logs_out() {
    let server = extras_server("      {}\n");
    let (alice, first) = server.register("alice");
    let body = json!({ "type": "m.login.password", "user": "alice", "password": "secret-pw", "device_id": "SECOND" });
    let (status, answer) = login(&server, body);
    assert_eq!(status, 200, "{answer}");
    let second = answer["access_token"].as_str().unwrap().to_owned();
    let auth = json!({ "type": "m.login.password", "identifier": { "type": "m.id.user", "user": "alice" }, "password": "secret-pw" });
    let change = json!({ "new_password": "new-pw", "auth": auth });
    let (status, answer) = server.call("POST", "/_matrix/client/v3/account/password", Some(&first), Some(&change));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(server.call("GET", "/_matrix/client/v3/account/whoami", Some(&second), None).0, 401);
    let logged_out: Vec<Value> = extras_calls(&server).into_iter().filter(|call| call[0] == "on_logged_out").collect();
    assert_eq!(logged_out.len(), 1, "only the other device's token: {logged_out:?}");
    assert_eq!((&logged_out[0][1][0], &logged_out[0][1][1]), (&json!(alice), &json!("SECOND")), "{logged_out:?}");
}

#[test]
fn deleting_devices_tells_modules_of_each_token_it_logs_out() {
    let server = extras_server("      {}\n");
    let (alice, first) = server.register("alice");
    let mut tokens = Vec::new();
    for device in ["SECOND", "THIRD", "FOURTH"] {
        let body = json!({ "type": "m.login.password", "user": "alice", "password": "secret-pw", "device_id": device });
        let (status, answer) = login(&server, body);
        assert_eq!(status, 200, "{answer}");
        tokens.push(answer["access_token"].as_str().unwrap().to_owned());
    }
    let auth = json!({ "type": "m.login.password", "identifier": { "type": "m.id.user", "user": "alice" }, "password": "secret-pw" });
    let logged_out = |server: &Server| -> Vec<Value> {
        extras_calls(server).into_iter().filter(|call| call[0] == "on_logged_out").collect()
    };
    // `DELETE /devices/{id}`: that device's one token.
    let (status, answer) =
        server.call("DELETE", "/_matrix/client/v3/devices/SECOND", Some(&first), Some(&json!({ "auth": auth })));
    assert_eq!(status, 200, "{answer}");
    let calls = logged_out(&server);
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!((&calls[0][1][0], &calls[0][1][1]), (&json!(alice), &json!("SECOND")), "{calls:?}");
    // `POST /delete_devices`: one call per token of the devices named.
    let body = json!({ "devices": ["THIRD", "FOURTH", "NOPE"], "auth": auth });
    let (status, answer) = server.call("POST", "/_matrix/client/v3/delete_devices", Some(&first), Some(&body));
    assert_eq!(status, 200, "{answer}");
    let calls = logged_out(&server);
    assert_eq!(calls.len(), 3, "{calls:?}");
    for device in ["THIRD", "FOURTH"] {
        assert!(calls.iter().any(|call| call[1][1] == device), "{device}: {calls:?}");
    }
    for token in &tokens {
        assert_eq!(server.call("GET", "/_matrix/client/v3/account/whoami", Some(token), None).0, 401);
    }
    assert_eq!(server.call("GET", "/_matrix/client/v3/account/whoami", Some(&first), None).0, 200);
}

#[test]
fn registration_takes_the_username_and_display_name_modules_give() {
    let server = extras_server("      rename_registrations: { wanted: renamed }\n      displayname_prefix: 'Dr. '\n");
    let body = json!({ "username": "wanted", "password": "pw", "auth": { "type": "m.login.dummy" } });
    let (status, answer) = server.call("POST", "/_matrix/client/v3/register", None, Some(&body));
    assert_eq!((status, answer["user_id"].as_str()), (200, Some("@renamed:test.local")), "{answer}");
    let (status, profile) = server.call("GET", "/_matrix/client/v3/profile/@renamed:test.local", None, None);
    assert_eq!((status, profile["displayname"].as_str()), (200, Some("Dr. wanted")), "{profile}");
}

#[test]
fn media_config_and_upload_size_follow_modules() {
    let server = extras_server("      media_config: { m.upload.size: 5 }\n      max_upload_size: 5\n");
    let (_, alice) = server.register("alice");
    for path in ["/_matrix/client/v1/media/config", "/_matrix/media/v3/config"] {
        let (status, answer) = server.call("GET", path, Some(&alice), None);
        assert_eq!((status, answer), (200, json!({ "m.upload.size": 5 })), "{path}");
    }
    let upload = |bytes: &[u8]| {
        let (status, body) =
            server.call_raw("POST", "/_matrix/media/v3/upload", Some(&alice), Some(bytes.to_vec()), Some("text/plain"));
        (status, serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null))
    };
    let (status, answer) = upload(b"too many bytes");
    assert_eq!((status, errcode(&answer)), (413, Some("M_TOO_LARGE")), "{answer}");
    assert_eq!(answer["error"], "Upload request body is too large");
    let (status, answer) = upload(b"ok");
    assert_eq!(status, 200, "{answer}");
}

#[test]
fn a_ratelimit_override_replaces_the_configured_limit() {
    // Synapse's rc_message: 0.2/s, burst 10. Alice is exempt, Carol gets a burst of 15.
    let modules = "  - module: extras\n    config:\n      ratelimit_overrides:\n        \
                   '@alice:test.local': [0, 0]\n        '@carol:test.local': [0.1, 15]\n";
    let config =
        format!("rc_registration: {{ per_second: 1000, burst_count: 1000 }}\n{}", config_with_synapse_limits(modules));
    let server = Server::start_policy_with_config(&config);
    let (_, alice) = server.register("alice");
    let (_, bob) = server.register("bob");
    let (_, carol) = server.register("carol");
    let room = server.create_room(&alice, json!({ "preset": "public_chat" }));
    for token in [&bob, &carol] {
        let (status, _) = server.call("POST", &format!("/_matrix/client/v3/join/{}", enc(&room)), Some(token), None);
        assert_eq!(status, 200);
    }
    let sent = |token: &str, who: &str, count: usize| -> usize {
        (0..count).take_while(|n| server.send_text(token, &room, &format!("{who}{n}"), "hi").0 == 200).count()
    };
    assert_eq!(sent(&bob, "b", 12), 10, "the configured burst");
    assert_eq!(sent(&carol, "c", 17), 15, "the module's burst");
    assert_eq!(sent(&alice, "a", 30), 30, "a rate of 0 exempts");
    let (status, answer) = server.send_text(&bob, &room, "b-again", "hi");
    assert_eq!((status, errcode(&answer)), (429, Some("M_LIMIT_EXCEEDED")));
}

#[test]
fn account_data_writes_reach_modules() {
    let server = extras_server("      {}\n");
    let (alice, token) = server.register("alice");
    let path = format!("/_matrix/client/v3/user/{}/account_data/org.example.settings", enc(&alice));
    let (status, _) = server.call("PUT", &path, Some(&token), Some(&json!({ "theme": "dark" })));
    assert_eq!(status, 200);
    let calls = extras_calls(&server);
    assert!(
        calls.contains(&json!(["on_account_data_updated", [alice, null, "org.example.settings", { "theme": "dark" }]])),
        "{calls:?}"
    );
}

#[test]
fn unsigned_fields_from_modules_reach_every_served_event() {
    // A32: `{"test_key": event_id}` in `unsigned`, without replacing the server's keys.
    let server = extras_server("      unsigned_test_key: true\n");
    let (_, alice) = server.register("alice");
    let room = server.create_room(&alice, json!({}));
    let (status, answer) = server.send_text(&alice, &room, "txn1", "hello");
    assert_eq!(status, 200);
    let event_id = answer["event_id"].as_str().unwrap().to_owned();

    let path = format!("/_matrix/client/v3/rooms/{}/event/{}", enc(&room), enc(&event_id));
    let (status, event) = server.call("GET", &path, Some(&alice), None);
    assert_eq!(status, 200);
    assert_eq!(event["unsigned"]["test_key"], event_id.as_str());
    assert_eq!(event["unsigned"]["transaction_id"], "txn1");

    let path = format!("/_matrix/client/v3/rooms/{}/messages?dir=b&limit=5", enc(&room));
    let (_, messages) = server.call("GET", &path, Some(&alice), None);
    for event in messages["chunk"].as_array().unwrap() {
        assert_eq!(event["unsigned"]["test_key"], event["event_id"], "{event}");
    }
    let (_, sync) = server.call("GET", "/_matrix/client/v3/sync", Some(&alice), None);
    let timeline = &sync["rooms"]["join"][&room]["timeline"]["events"];
    let sent = timeline.as_array().unwrap().iter().find(|e| e["event_id"] == event_id.as_str()).unwrap();
    assert_eq!(sent["unsigned"]["test_key"], event_id.as_str());
    let (_, state) = server.call("GET", &format!("/_matrix/client/v3/rooms/{}/state", enc(&room)), Some(&alice), None);
    assert!(state.as_array().unwrap().iter().all(|e| e["unsigned"]["test_key"] == e["event_id"]));
}

#[test]
fn modules_list_local_users_and_read_threepids() {
    let server = extras_server("      {}\n");
    let (_, token) = server.register("carol");
    server.register("alice");
    server.register("bob");
    let (status, users) = server.call("GET", "/_synapse/client/extras/users?limit=2", None, None);
    assert_eq!((status, users), (200, json!(["@alice:test.local", "@bob:test.local"])));
    let (_, rest) = server.call("GET", "/_synapse/client/extras/users?from=@bob:test.local&limit=2", None, None);
    assert_eq!(rest, json!(["@carol:test.local"]));
    let (status, threepids) =
        server.call("GET", "/_synapse/client/extras/threepids?user=@carol:test.local", None, None);
    assert_eq!((status, threepids), (200, json!([])));
    let (status, answer) = server.call("GET", "/_matrix/client/v3/account/3pid", Some(&token), None);
    assert_eq!((status, answer), (200, json!({ "threepids": [] })));
}
