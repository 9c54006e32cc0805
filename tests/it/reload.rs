//! Reload without restart (issue 18): `POST /_synapse/admin/v1/mxmod/reload` and
//! `SIGHUP` swap in a registry built from the re-read config; a request inside a
//! callback of the old registry finishes there with the old answer, and the old
//! instances are shut down only once it ended; a bad config changes nothing.

use std::{process::Command, time::Duration};

use serde_json::{json, Value};

use crate::{
    admin::{policy_config, register_admin, start},
    support::{eventually, Server},
};

fn generation(server: &Server) -> Value {
    let (status, answer) = server.call("GET", "/_synapse/client/policy/generation", None, None);
    assert_eq!(status, 200);
    answer
}

fn shutdowns(server: &Server) -> Vec<String> {
    let (status, answer) = server.call("GET", "/_synapse/client/policy/shutdowns", None, None);
    assert_eq!(status, 200);
    serde_json::from_value(answer).unwrap()
}

/// Rewrites the server's config file with a new `policy` config.
fn rewrite(server: &Server, policy_yaml: &str) {
    let config = policy_config(policy_yaml).replace("DATA", &server.dir.path().display().to_string());
    std::fs::write(server.config_path(), config).unwrap();
}

fn reload(server: &Server, admin: &str) -> (u16, Value) {
    server.call("POST", "/_synapse/admin/v1/mxmod/reload", Some(admin), Some(&json!({})))
}

#[test]
fn a_request_inside_an_old_callback_keeps_the_old_answer_and_the_old_instance() {
    let server = start("      generation: one\n      slow_spam_check: { body: slow, millis: 3000 }\n");
    let (_, admin) = register_admin(&server, "admin");
    let (_, alice) = server.register("alice");
    let room = server.create_room(&alice, json!({}));

    let in_flight = std::thread::scope(|scope| {
        let slow = scope.spawn(|| server.send_text(&alice, &room, "t1", "a slow message"));
        std::thread::sleep(Duration::from_millis(700));
        rewrite(&server, "      generation: two\n      spam_bodies: [slow]\n");
        let (status, answer) = reload(&server, &admin);
        assert_eq!(
            (status, &answer["modules"], &answer["restart_required"]),
            (200, &json!(["policy"]), &json!([])),
            "{answer}"
        );
        assert_eq!(generation(&server), "two", "a new request is served by the new registry");
        assert!(!shutdowns(&server).contains(&"one".to_owned()), "the old instance is in use: not shut down");
        slow.join().unwrap()
    });
    assert_eq!(in_flight.0, 200, "the old registry's answer (allowed): {}", in_flight.1);
    assert!(
        eventually(Duration::from_secs(10), || shutdowns(&server).contains(&"one".to_owned())),
        "the old instance is shut down once its last request ended"
    );
    let (status, answer) = server.send_text(&alice, &room, "t2", "another slow message");
    assert_eq!((status, answer["errcode"].as_str()), (403, Some("M_FORBIDDEN")), "the new config's answer");
}

#[test]
fn a_bad_config_changes_nothing_and_lists_every_problem_with_its_position() {
    let server = start("      generation: one\n      deny_registration: [denied]\n");
    let (_, admin) = register_admin(&server, "admin");
    rewrite(&server, "      generation: two\n      no_such_key: 1\n      deny_joins: not-a-list\n");
    let (status, answer) = reload(&server, &admin);
    assert_eq!((status, answer["errcode"].as_str()), (400, Some("M_INVALID_PARAM")), "{answer}");
    let problems = answer["problems"].as_array().unwrap();
    assert!(!problems.is_empty(), "{answer}");
    for problem in problems {
        assert!(problem["line"].is_u64() && problem["column"].is_u64(), "{problem}");
    }
    // The log is read from the server's stderr by another thread: wait for the line.
    assert!(eventually(Duration::from_secs(10), || server.log().contains("reload refused")), "{}", server.log());
    assert_eq!(generation(&server), "one");
    assert!(!shutdowns(&server).contains(&"one".to_owned()));
    let body = json!({ "username": "denied", "password": "pw", "auth": { "type": "m.login.dummy" } });
    let (status, _) = server.call("POST", "/_matrix/client/v3/register", None, Some(&body));
    assert_eq!(status, 429, "the old config still applies");

    std::fs::write(server.config_path(), "modules: [unclosed\n").unwrap();
    let (status, answer) = reload(&server, &admin);
    assert_eq!(status, 400, "{answer}");
    assert_eq!(generation(&server), "one");
}

#[test]
fn changed_settings_outside_modules_are_reported_and_sighup_reloads() {
    let server = start("      generation: one\n");
    let (_, admin) = register_admin(&server, "admin");
    let config = std::fs::read_to_string(server.config_path()).unwrap();
    let changed = config
        .replace("generation: one", "generation: two")
        .replace("enable_registration: true", "enable_registration: false");
    std::fs::write(server.config_path(), changed).unwrap();
    let (status, answer) = reload(&server, &admin);
    assert_eq!((status, &answer["restart_required"]), (200, &json!(["enable_registration"])), "{answer}");
    assert_eq!(generation(&server), "two");
    assert!(server.log().contains("setting `enable_registration` changed"), "{}", server.log());

    let config = std::fs::read_to_string(server.config_path()).unwrap();
    std::fs::write(server.config_path(), config.replace("generation: two", "generation: three")).unwrap();
    let status = Command::new("kill").arg("-HUP").arg(server.pid().to_string()).status().unwrap();
    assert!(status.success());
    assert!(eventually(Duration::from_secs(10), || generation(&server) == "three"), "SIGHUP reloads");
    assert!(eventually(Duration::from_secs(10), || shutdowns(&server).contains(&"two".to_owned())));
}
