//! Reload without restart (issue 18): `POST /_synapse/admin/v1/mxmod/reload` and
//! `SIGHUP` swap in a registry built from the re-read config; a request inside a
//! callback of the old registry finishes there with the old answer, and the old
//! instances are shut down only once it ended; a bad config changes nothing. With
//! several processes on one PostgreSQL database the endpoint reloads every process,
//! each from its own file (skipped without `MXMOD_TEST_POSTGRES_URL`).

use std::{process::Command, time::Duration};

use serde_json::{json, Value};

use crate::{
    admin::{policy_config, register_admin, start},
    support::{eventually, fresh_postgres, on_postgres, Server},
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

/// Replaces `from` by `to` in the server's config file.
fn edit(server: &Server, from: &str, to: &str) {
    let config = std::fs::read_to_string(server.config_path()).unwrap();
    assert!(config.contains(from), "{from:?} is not in {config}");
    std::fs::write(server.config_path(), config.replace(from, to)).unwrap();
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
        assert_eq!(answer.get("other_processes"), None, "one process on SQLite: {answer}");
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
fn an_idle_kept_alive_connection_does_not_keep_the_old_instance() {
    use std::io::{Read, Write};
    let server = start("      generation: one\n");
    let (_, admin) = register_admin(&server, "admin");
    // A connection that served a request on the first registry and then stays open, idle
    // (each connection pins the registry its requests use).
    let mut idle = std::net::TcpStream::connect(server.base.trim_start_matches("http://")).unwrap();
    idle.write_all(b"GET /_synapse/client/policy/generation HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut answer = [0; 12];
    idle.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"HTTP/1.1 200");
    rewrite(&server, "      generation: two\n");
    assert_eq!(reload(&server, &admin).0, 200);
    assert_eq!(generation(&server), "two");
    assert!(
        eventually(Duration::from_secs(10), || shutdowns(&server).contains(&"one".to_owned())),
        "the old instance is shut down while the connection that used it is still open"
    );
    drop(idle);
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
    // The log reaches the test through a reader thread: the answer can come first.
    let logged = eventually(Duration::from_secs(10), || server.log().contains("reload refused"));
    assert!(logged, "{}", server.log());
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
    let logged = eventually(Duration::from_secs(10), || server.log().contains("setting `enable_registration` changed"));
    assert!(logged, "{}", server.log());

    let config = std::fs::read_to_string(server.config_path()).unwrap();
    std::fs::write(server.config_path(), config.replace("generation: two", "generation: three")).unwrap();
    let status = Command::new("kill").arg("-HUP").arg(server.pid().to_string()).status().unwrap();
    assert!(status.success());
    assert!(eventually(Duration::from_secs(10), || generation(&server) == "three"), "SIGHUP reloads");
    assert!(eventually(Duration::from_secs(10), || shutdowns(&server).contains(&"two".to_owned())));
}

#[test]
fn on_postgres_the_endpoint_reloads_every_process_from_its_own_file() {
    let Some(database) = fresh_postgres() else { return };
    let config = on_postgres(&policy_config("      generation: one\n"), &database.homeserver_yaml());
    let a = Server::start_policy_with_config(&config);
    let b = Server::start_policy_with_config(&config);
    let (_, admin) = register_admin(&a, "admin");
    edit(&a, "generation: one", "generation: a-two");
    edit(&b, "generation: one", "generation: b-two");
    let (status, answer) = reload(&a, &admin);
    assert_eq!(
        (status, &answer["modules"], &answer["other_processes"]),
        (200, &json!(["policy"]), &json!("notified")),
        "{answer}"
    );
    assert_eq!(generation(&a), "a-two", "the serving process reloaded before answering");
    assert!(
        eventually(Duration::from_secs(10), || generation(&b) == "b-two"),
        "B reloads its own file through the notification; its log:\n{}",
        b.log()
    );
    assert!(eventually(Duration::from_secs(10), || shutdowns(&b).contains(&"one".to_owned())));

    // A bad file on B: B keeps its modules and logs the problem; A still reloads.
    edit(&a, "generation: a-two", "generation: a-three");
    edit(&b, "generation: b-two", "generation: b-three\n      no_such_key: 1");
    let (status, answer) = reload(&a, &admin);
    assert_eq!((status, &answer["other_processes"]), (200, &json!("notified")), "{answer}");
    assert_eq!(generation(&a), "a-three");
    assert!(
        eventually(Duration::from_secs(10), || b.log().contains("reload refused")),
        "B logs why it refused; its log:\n{}",
        b.log()
    );
    assert_eq!(generation(&b), "b-two", "B keeps the modules it ran");
    assert!(!a.log().contains("reload refused"), "{}", a.log());
    assert!(eventually(Duration::from_secs(10), || shutdowns(&a).len() >= 2));
    assert_eq!(shutdowns(&a), ["one", "a-two"], "A reloads once per request, not again on its own notification");

    // A bad file on the serving process: it answers 400 with the problems, and the
    // other process is asked all the same.
    edit(&a, "generation: a-three", "generation: a-four\n      no_such_key: 1");
    edit(&b, "generation: b-three\n      no_such_key: 1", "generation: b-four");
    let (status, answer) = reload(&a, &admin);
    assert_eq!(
        (status, answer["errcode"].as_str(), &answer["other_processes"]),
        (400, Some("M_INVALID_PARAM"), &json!("notified")),
        "{answer}"
    );
    assert_eq!(generation(&a), "a-three");
    assert!(eventually(Duration::from_secs(10), || generation(&b) == "b-four"), "{}", b.log());
}
