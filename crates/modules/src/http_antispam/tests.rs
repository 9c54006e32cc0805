//! Behaviour tests of `http_antispam` against a real HTTP service on loopback playing the
//! antispam server.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use mxmod::{
    testing::{eventually, Harness},
    types::{Event, FileInfo, JsonObject, RequestInfo, RoomAliasId, RoomId, UserId, UserProfile},
    MatrixError,
};
use serde_json::{json, Value};

use super::HttpAntispam;
use crate::test_http;

/// One request the fake service received.
#[derive(Clone, Debug)]
struct Seen {
    path: String,
    authorization: Option<String>,
    body: Value,
}

/// The fake antispam service: canned answers per path (default `200 {}`), and a log.
#[derive(Default)]
struct Service {
    answers: Mutex<HashMap<String, Vec<(u16, String)>>>,
    seen: Mutex<Vec<Seen>>,
}

impl Service {
    /// Answers `path` with `status` and `body` (queued answers are used up in order; the
    /// last one stays).
    fn answer(&self, path: &str, status: u16, body: &str) {
        self.answers.lock().unwrap().entry(path.to_owned()).or_default().push((status, body.to_owned()));
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn paths(&self) -> Vec<String> {
        self.seen().into_iter().map(|seen| seen.path).collect()
    }

    async fn start(self: &Arc<Self>) -> String {
        let service = self.clone();
        test_http::serve(move |request| {
            let path = request.uri().path().to_owned();
            let authorization = request.headers().get("authorization").map(|value| value.to_str().unwrap().to_owned());
            let body = serde_json::from_slice(request.body()).unwrap_or(Value::Null);
            service.seen.lock().unwrap().push(Seen { path: path.clone(), authorization, body: body.clone() });
            let mut answers = service.answers.lock().unwrap();
            let (status, text) = match answers.get_mut(&path) {
                Some(queue) if queue.len() > 1 => queue.remove(0),
                Some(queue) => queue[0].clone(),
                None if path == "/ping" => (200, json!({"id": body["id"], "status": "ok"}).to_string()),
                None => (200, "{}".to_owned()),
            };
            http::Response::builder().status(status).body(bytes::Bytes::from(text)).unwrap()
        })
        .await
    }
}

fn yaml(base_url: &str, extra: &str) -> String {
    let extra: String = extra.lines().map(|line| format!("      {line}\n")).collect();
    format!("modules:\n  - module: http_antispam\n    config:\n      base_url: {base_url}\n{extra}")
}

async fn started(extra: &str) -> (Arc<Service>, Harness) {
    let service = Arc::new(Service::default());
    let base = service.start().await;
    let harness = Harness::from_yaml(&yaml(&base, extra)).unwrap();
    (service, harness)
}

fn user(id: &str) -> mxmod::types::OwnedUserId {
    UserId::parse(id).unwrap()
}

fn room() -> mxmod::types::OwnedRoomId {
    RoomId::parse("!room:example.com").unwrap()
}

fn message() -> Event {
    serde_json::from_value(json!({
        "event_id": "$1", "room_id": "!room:example.com", "sender": "@alice:example.com",
        "type": "m.room.message", "content": {"msgtype": "m.text", "body": "hi"}, "origin_server_ts": 7
    }))
    .unwrap()
}

/// A port on loopback where nothing listens.
fn closed_port() -> String {
    let listener = std::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{address}")
}

#[tokio::test]
async fn every_callback_posts_its_arguments_with_the_bearer_token() {
    let (service, harness) = started("authorization: s3cret").await;
    let spam = &harness.callbacks().spam_checker;
    let (alice, bob, room) = (user("@alice:example.com"), user("@bob:example.com"), room());
    spam.user_may_join_room(&alice, &room, true).await.unwrap();
    spam.user_may_invite(&alice, &bob, &room).await.unwrap();
    spam.user_may_send_3pid_invite(&alice, "email", "bob@example.org", &room).await.unwrap();
    spam.user_may_create_room(&alice, &JsonObject::new()).await.unwrap();
    spam.user_may_create_room_alias(&alice, &RoomAliasId::parse("#a:example.com").unwrap()).await.unwrap();
    spam.user_may_publish_room(&alice, &room).await.unwrap();
    let profile = UserProfile { user_id: bob.clone(), display_name: Some("Bob".into()), avatar_url: None };
    assert!(!spam.check_username_for_spam(&profile, &alice).await.unwrap());
    let info = [RequestInfo { user_agent: "curl".into(), ip: [127, 0, 0, 1].into() }];
    spam.check_login_for_spam(&alice, Some("DEV"), None, &info, None).await.unwrap();
    spam.check_event_for_spam(&message()).await.unwrap();
    spam.federated_user_may_invite(&message()).await.unwrap();

    let seen = service.seen();
    assert!(seen.iter().all(|s| s.authorization.as_deref() == Some("Bearer s3cret")), "{seen:?}");
    let bodies: Vec<(String, Value)> = seen.into_iter().map(|s| (s.path, s.body)).collect();
    let event = json!({
        "event_id": "$1", "room_id": "!room:example.com", "sender": "@alice:example.com",
        "type": "m.room.message", "content": {"msgtype": "m.text", "body": "hi"}, "origin_server_ts": 7
    });
    let expected = [
        ("/user_may_join_room", json!({"user": "@alice:example.com", "room": "!room:example.com", "is_invited": true})),
        (
            "/user_may_invite",
            json!({"inviter": "@alice:example.com", "invitee": "@bob:example.com", "room_id": "!room:example.com"}),
        ),
        (
            "/user_may_send_3pid_invite",
            json!({"inviter": "@alice:example.com", "medium": "email", "address": "bob@example.org",
                   "room_id": "!room:example.com"}),
        ),
        ("/user_may_create_room", json!({"user_id": "@alice:example.com"})),
        ("/user_may_create_room_alias", json!({"user_id": "@alice:example.com", "room_alias": "#a:example.com"})),
        ("/user_may_publish_room", json!({"user_id": "@alice:example.com", "room_id": "!room:example.com"})),
        (
            "/check_username_for_spam",
            json!({"user_profile": {"user_id": "@bob:example.com", "display_name": "Bob", "avatar_url": null},
                   "requester_id": "@alice:example.com"}),
        ),
        (
            "/check_login_for_spam",
            json!({"user_id": "@alice:example.com", "device_id": "DEV", "initial_display_name": null,
                   "request_info": [["curl", "127.0.0.1"]], "auth_provider_id": null}),
        ),
        ("/check_event_for_spam", json!({ "event": event })),
        ("/federated_user_may_invite", json!({ "event": event })),
    ];
    let expected: Vec<(String, Value)> = expected.into_iter().map(|(p, b)| (p.to_owned(), b)).collect();
    assert_eq!(bodies, expected);
}

#[tokio::test]
async fn a_denial_passes_the_errcode_and_fields_through() {
    let (service, harness) = started("").await;
    service.answer(
        "/user_may_invite",
        403,
        r#"{"errcode": "M_LIMIT_EXCEEDED", "error": "Slow down", "retry_after_ms": 5000}"#,
    );
    let spam = &harness.callbacks().spam_checker;
    let error = spam.user_may_invite(&user("@a:example.com"), &user("@b:example.com"), &room()).await.unwrap_err();
    assert_eq!(error.status, 403);
    assert_eq!(error.to_json(), json!({"errcode": "M_LIMIT_EXCEEDED", "error": "Slow down", "retry_after_ms": 5000}));
    assert_eq!(service.seen()[0].authorization, None, "no token configured, no header");

    // Without an errcode: M_FORBIDDEN, and the body's fields as they are.
    service.answer("/check_event_for_spam", 400, r#"{"error": "Spam", "policy": "no-links"}"#);
    let error = spam.check_event_for_spam(&message()).await.unwrap_err();
    assert_eq!(error.to_json(), json!({"errcode": "M_FORBIDDEN", "error": "Spam", "policy": "no-links"}));
}

fn failure(error: &MatrixError, message: &str) {
    assert_eq!(error.status, 403);
    assert_eq!(error.to_json(), json!({"errcode": "M_UNKNOWN", "error": message}));
}

#[tokio::test]
async fn a_non_json_answer_fails_closed_unless_the_callback_fails_open() {
    let (service, harness) = started("fail_open:\n  user_may_publish_room: true").await;
    for path in ["/user_may_create_room", "/user_may_publish_room", "/check_event_for_spam"] {
        service.answer(path, 500, "<html>Internal error</html>");
    }
    let spam = &harness.callbacks().spam_checker;
    let alice = user("@alice:example.com");
    let error = spam.user_may_create_room(&alice, &JsonObject::new()).await.unwrap_err();
    failure(&error, "Unexpected response from antispam server");
    spam.user_may_publish_room(&alice, &room()).await.unwrap();
    // check_event_for_spam fails open by default.
    spam.check_event_for_spam(&message()).await.unwrap();
    // A JSON answer that is not an object is as bad as no JSON.
    service.answer("/user_may_create_room", 403, "[1, 2]");
    let error = spam.user_may_create_room(&alice, &JsonObject::new()).await.unwrap_err();
    failure(&error, "Unexpected response from antispam server");
}

#[tokio::test]
async fn a_2xx_that_is_not_json_is_a_failure() {
    let (service, harness) = started("").await;
    service.answer("/user_may_join_room", 204, "");
    let error =
        harness.callbacks().spam_checker.user_may_join_room(&user("@a:example.com"), &room(), false).await.unwrap_err();
    failure(&error, "Failed to connect to antispam server");
}

#[tokio::test]
async fn an_unreachable_service_fails_closed_except_for_events() {
    let harness = Harness::from_yaml(&yaml(&closed_port(), "")).unwrap();
    let spam = &harness.callbacks().spam_checker;
    let error = spam.user_may_invite(&user("@a:example.com"), &user("@b:example.com"), &room()).await.unwrap_err();
    failure(&error, "Failed to connect to antispam server");
    spam.check_event_for_spam(&message()).await.unwrap();
    assert!(spam
        .check_username_for_spam(
            &UserProfile { user_id: user("@b:example.com"), display_name: None, avatar_url: None },
            &user("@a:example.com")
        )
        .await
        .unwrap());

    let strict = Harness::from_yaml(&yaml(&closed_port(), "fail_open:\n  check_event_for_spam: false")).unwrap();
    let error = strict.callbacks().spam_checker.check_event_for_spam(&message()).await.unwrap_err();
    assert_eq!(error.to_json(), json!({"errcode": "M_UNKNOWN", "error": "Failed to connect to antispam server"}));
}

#[tokio::test]
async fn disabled_callbacks_allow_without_asking() {
    let (service, harness) = started("enabled_callbacks: [user_may_invite]").await;
    for path in ["/user_may_invite", "/user_may_join_room", "/check_event_for_spam", "/user_may_create_room"] {
        service.answer(path, 403, r#"{"errcode": "M_FORBIDDEN"}"#);
    }
    let spam = &harness.callbacks().spam_checker;
    let alice = user("@alice:example.com");
    assert!(spam.user_may_invite(&alice, &user("@b:example.com"), &room()).await.is_err());
    spam.user_may_join_room(&alice, &room(), false).await.unwrap();
    spam.check_event_for_spam(&message()).await.unwrap();
    spam.user_may_create_room(&alice, &JsonObject::new()).await.unwrap();
    assert_eq!(service.paths(), ["/user_may_invite"]);
}

#[tokio::test]
async fn async_callbacks_allow_at_once_and_still_send_the_request() {
    let (service, harness) = started("async:\n  user_may_join_room: true").await;
    service.answer("/user_may_join_room", 403, r#"{"errcode": "M_FORBIDDEN"}"#);
    let alice = user("@alice:example.com");
    harness.callbacks().spam_checker.user_may_join_room(&alice, &room(), true).await.unwrap();
    eventually(Duration::from_secs(10), || !service.paths().is_empty()).await;
    assert_eq!(service.paths(), ["/user_may_join_room"]);
    assert_eq!(service.seen()[0].body["is_invited"], json!(true));
}

#[tokio::test]
async fn the_token_can_come_from_a_file() {
    let path = std::env::temp_dir().join(format!("mxmod-antispam-token-{}", std::process::id()));
    std::fs::write(&path, "  from-a-file\n").unwrap();
    let (service, harness) = started(&format!("authorization_path: {}", path.display())).await;
    harness.callbacks().spam_checker.user_may_publish_room(&user("@a:example.com"), &room()).await.unwrap();
    assert_eq!(service.seen()[0].authorization.as_deref(), Some("Bearer from-a-file"));
    std::fs::remove_file(&path).unwrap();

    let missing = Harness::from_yaml(&yaml("http://127.0.0.1:1", "authorization_path: /nonexistent/mxmod-token"));
    let error = missing.unwrap_err().to_string();
    assert!(error.contains("cannot read `authorization_path` /nonexistent/mxmod-token"), "{error}");
}

async fn wait_for_ping(harness: &Harness, limit: Duration) -> bool {
    let module = harness.module::<HttpAntispam>(0).unwrap();
    eventually(limit, || module.ping_succeeded()).await
}

#[tokio::test]
async fn do_ping_checks_the_echoed_id_in_the_background() {
    let (service, harness) = started("do_ping: true\nauthorization: t").await;
    assert!(wait_for_ping(&harness, Duration::from_secs(10)).await);
    let pings = service.seen();
    assert_eq!(pings.len(), 1);
    assert_eq!(pings[0].path, "/ping");
    assert_eq!(pings[0].authorization.as_deref(), Some("Bearer t"));
    let id = pings[0].body["id"].as_str().unwrap();
    assert!(id.len() == 8 && id.chars().all(|c| c.is_ascii_alphabetic()), "{id}");

    let (quiet, harness) = started("").await;
    assert!(!wait_for_ping(&harness, Duration::from_millis(100)).await);
    assert!(quiet.seen().is_empty(), "no ping without do_ping");
}

#[tokio::test]
async fn a_wrong_ping_answer_is_retried() {
    let service = Arc::new(Service::default());
    service.answer("/ping", 200, r#"{"id": "wrong", "status": "ok"}"#);
    let base = service.start().await;
    let harness = Harness::from_yaml(&yaml(&base, "do_ping: true")).unwrap();
    eventually(Duration::from_secs(10), || !service.paths().is_empty()).await;
    assert_eq!(service.paths(), ["/ping"]);
    assert!(!harness.module::<HttpAntispam>(0).unwrap().ping_succeeded(), "a wrong id is not a success");
    // From now on the service echoes; the next attempt comes 5 s after the first.
    service.answers.lock().unwrap().clear();
    assert!(wait_for_ping(&harness, Duration::from_secs(20)).await);
    assert_eq!(service.paths(), ["/ping", "/ping"]);
}

#[test]
fn config_problems_are_reported_with_their_path() {
    let missing = Harness::from_yaml("modules:\n  - module: http_antispam\n    config: {}\n").unwrap_err().to_string();
    assert!(missing.contains("base_url"), "{missing}");
    assert!(Harness::from_yaml(&yaml("https://antispam.example.org", "")).is_ok(), "https is fine");
    let ftp = Harness::from_yaml(&yaml("ftp://antispam.example.org", "")).unwrap_err().to_string();
    let expected = "modules[0].config.base_url: `base_url` must be an `http://` or `https://` URL, not `ftp://";
    assert!(ftp.contains(expected), "{ftp}");
    let typo =
        Harness::from_yaml(&yaml("http://127.0.0.1:1", "enabled_callbacks: [user_may_invit]")).unwrap_err().to_string();
    assert!(typo.contains("modules[0].config.enabled_callbacks[0]") && typo.contains("user_may_invite"), "{typo}");
    let media = Harness::from_yaml(&yaml("http://127.0.0.1:1", "fail_open:\n  check_media_file_for_spam: true"))
        .unwrap_err()
        .to_string();
    assert!(media.contains("check_media_file_for_spam"), "{media}");
}

#[tokio::test]
async fn unforwarded_callbacks_are_not_implemented() {
    let (service, harness) = started("").await;
    let spam = &harness.callbacks().spam_checker;
    let file =
        FileInfo { server_name: None, file_id: "f".into(), upload_name: None, media_type: None, media_length: 1 };
    spam.check_media_file_for_spam(&mxmod::types::MediaFile::from_bytes(bytes::Bytes::from_static(b"x")), &file)
        .await
        .unwrap();
    assert!(!spam.should_drop_federated_event(&message()).await.unwrap());
    assert!(service.seen().is_empty());
    let names: Vec<&str> =
        mxmod::callbacks::implemented_by("http_antispam").into_iter().map(|(_, name)| name).collect();
    let mut expected: Vec<&str> = super::AntispamCallback::ALL.into_iter().map(super::AntispamCallback::name).collect();
    let mut names = names;
    names.sort_unstable();
    expected.sort_unstable();
    assert_eq!(names, expected);
}
