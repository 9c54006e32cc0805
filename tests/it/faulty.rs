//! Faulty modules through the real binary: for each category a callback that returns an
//! error, one that panics and one that hangs (cut by the entry's `timeout:`). The client
//! gets the answer the category's failure policy dictates, the same whichever way the
//! callback failed, and other requests are served meanwhile.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::{config_with_modules, enc, Server};

/// The `faulty` module failing `how`, with `extra` lines in its entry.
fn start(how: &str, extra: &str) -> Server {
    let modules = format!("  - module: faulty\n{extra}    config:\n      fail: {how}\n");
    Server::start_policy_with_config(&config_with_modules(&modules))
}

/// (what, status, errcode) of every faulty callback, in the order `exercise` runs them.
fn exercise(server: &Server) -> Vec<(&'static str, u16, Option<String>)> {
    let (_, alice) = server.register("alice");
    let (_, faulty) = server.register("faultyuser");
    let (_, expired) = server.register("expiredfaultuser");
    let room = server.create_room(&alice, json!({ "preset": "public_chat" }));
    let errcode = |answer: &Value| answer["errcode"].as_str().map(str::to_owned);
    let mut answers = Vec::new();
    let (status, answer) = server.call("POST", "/_matrix/client/v3/createRoom", Some(&faulty), Some(&json!({})));
    answers.push(("on_create_room", status, errcode(&answer)));
    let (status, answer) = server.call("POST", &format!("/_matrix/client/v3/join/{}", enc(&room)), Some(&faulty), None);
    answers.push(("user_may_join_room", status, errcode(&answer)));
    let (status, answer) = server.send_text(&alice, &room, "a1", "fault-allowed");
    answers.push(("check_event_allowed", status, errcode(&answer)));
    let (status, answer) = server.send_text(&alice, &room, "a2", "fault-new");
    answers.push(("on_new_event", status, errcode(&answer)));
    let visibility = format!("/_matrix/client/v3/directory/list/room/{}", enc(&room));
    let (status, answer) = server.call("PUT", &visibility, Some(&alice), Some(&json!({ "visibility": "public" })));
    answers.push(("check_visibility_can_be_modified", status, errcode(&answer)));
    let (status, answer) = server.call("GET", "/_matrix/client/v3/account/whoami", Some(&expired), None);
    answers.push(("is_user_expired", status, errcode(&answer)));
    let (status, body) =
        server.call_raw("POST", "/_matrix/media/v3/upload", Some(&faulty), Some(b"bytes".to_vec()), Some("text/plain"));
    let answer: Value = serde_json::from_slice(&body).unwrap_or_default();
    answers.push(("is_user_allowed_to_upload_media_of_size", status, errcode(&answer)));
    let body = json!({ "username": "faultyreg1", "password": "secret-pw", "auth": { "type": "m.login.dummy" } });
    let (status, answer) = server.call("POST", "/_matrix/client/v3/register", None, Some(&body));
    answers.push(("get_username_for_registration", status, errcode(&answer)));
    let faulty_id = server.call("GET", "/_matrix/client/v3/account/whoami", Some(&faulty), None).1["user_id"].clone();
    let path = format!("/_matrix/client/v3/user/{}/account_data/org.example.fault", enc(faulty_id.as_str().unwrap()));
    let (status, answer) = server.call("PUT", &path, Some(&faulty), Some(&json!({ "a": 1 })));
    answers.push(("on_account_data_updated", status, errcode(&answer)));
    let (status, sent) = server.send_text(&alice, &room, "a3", "fault-unsigned");
    assert_eq!(status, 200, "{sent}");
    let path = format!("/_matrix/client/v3/rooms/{}/event/{}", enc(&room), enc(sent["event_id"].as_str().unwrap()));
    let (status, answer) = server.call("GET", &path, Some(&alice), None);
    answers.push(("add_field_to_unsigned_callback", status, errcode(&answer)));
    answers
}

fn policy_answers() -> Vec<(&'static str, u16, Option<String>)> {
    let unknown = Some("M_UNKNOWN".to_owned());
    vec![
        ("on_create_room", 403, unknown.clone()),
        ("user_may_join_room", 500, unknown.clone()),
        ("check_event_allowed", 500, unknown.clone()),
        ("on_new_event", 200, None),
        ("check_visibility_can_be_modified", 200, None),
        ("is_user_expired", 500, unknown.clone()),
        ("is_user_allowed_to_upload_media_of_size", 500, unknown.clone()),
        ("get_username_for_registration", 500, unknown.clone()),
        ("on_account_data_updated", 200, None),
        ("add_field_to_unsigned_callback", 500, unknown),
    ]
}

#[test]
fn an_erroring_callback_follows_its_category_policy() {
    let server = start("error", "");
    assert_eq!(exercise(&server), policy_answers());
}

#[test]
fn a_panicking_callback_answers_what_an_error_answers() {
    let server = start("panic", "");
    assert_eq!(exercise(&server), policy_answers());
    let (status, _) = server.call("GET", "/_matrix/client/versions", None, None);
    assert_eq!(status, 200, "the server survives the panics");
}

#[test]
fn a_hanging_callback_cut_by_the_timeout_answers_what_an_error_answers() {
    let server = start("hang", "    timeout: 1500ms\n");
    let started = Instant::now();
    assert_eq!(exercise(&server), policy_answers());
    // Eight calls hang until the timeout; none waits for more than it.
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
    // While one request hangs, others are served at once.
    let (_, alice) = server.register("bystander");
    let room = server.create_room(&alice, json!({}));
    std::thread::scope(|scope| {
        let hanging = scope.spawn(|| server.send_text(&alice, &room, "h1", "fault-allowed"));
        std::thread::sleep(Duration::from_millis(200));
        let started = Instant::now();
        let (status, _) = server.send_text(&alice, &room, "h2", "a normal message");
        assert_eq!(status, 200);
        assert!(started.elapsed() < Duration::from_millis(1000), "served in {:?}", started.elapsed());
        let (status, _) = hanging.join().unwrap();
        assert_eq!(status, 500);
    });
}

#[test]
fn on_error_applies_to_panics_and_timeouts_alike() {
    for (how, extra) in [("panic", ""), ("hang", "    timeout: 500ms\n")] {
        let server = start(how, &format!("{extra}    on_error: allow\n"));
        let (_, faulty) = server.register("faultyuser");
        let (status, answer) = server.call("POST", "/_matrix/client/v3/createRoom", Some(&faulty), Some(&json!({})));
        assert_eq!(status, 200, "{how}: {answer}");
    }
}
