//! The endpoints, with the shipped modules allowing and denying.

use serde_json::json;

use crate::support::{config_with_modules, enc, Server};

const DEMO: &str = "  - module: demo
    config:
      denied_users: ['@evilguy:test.local']
  - module: list_spam_checker
    config:
      evil_users: ['@mallory:test.local']
";

#[test]
fn demo_denies_evilguy_room_creation_and_serves_hello() {
    let server = Server::start(&config_with_modules(DEMO));
    let (_, alice) = server.register("alice");
    server.create_room(&alice, json!({}));
    let (_, evil) = server.register("evilguy");
    let (status, answer) = server.call("POST", "/_matrix/client/v3/createRoom", Some(&evil), Some(&json!({})));
    assert_eq!((status, answer["errcode"].as_str()), (403, Some("M_FORBIDDEN")), "{answer}");
    assert_eq!(answer["error"], "You are not permitted to create rooms");
    let (status, hello) = server.call("GET", "/_synapse/client/demo/hello?name=Bob", None, None);
    assert_eq!((status, hello), (200, json!({ "hello": "Bob" })));
}

#[test]
fn list_spam_checker_rejects_mallory_messages() {
    let server = Server::start(&config_with_modules(DEMO));
    let (_, mallory) = server.register("mallory");
    let room = server.create_room(&mallory, json!({}));
    let path = format!("/_matrix/client/v3/rooms/{}/send/m.room.message/1", enc(&room));
    let (status, answer) =
        server.call("PUT", &path, Some(&mallory), Some(&json!({ "msgtype": "m.text", "body": "spam" })));
    assert_eq!(status, 403, "{answer}");
    assert_eq!(answer["error"], "This message has been rejected as probable spam");
    let (status, answer) =
        server.call("GET", "/_synapse/client/list_spam_checker/is_evil?user=%40mallory%3Atest.local", None, None);
    assert_eq!((status, answer), (200, json!({ "evil": true })));
}

#[test]
fn bad_input_gets_the_matrix_answer() {
    let server = Server::start(&config_with_modules("  []\n"));
    let (_, token) = server.register("carol");
    let (status, answer) =
        server.call_raw("POST", "/_matrix/client/v3/createRoom", Some(&token), Some(b"{nope".to_vec()), None);
    let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!((status, answer["errcode"].as_str()), (400, Some("M_NOT_JSON")));
    let (status, answer) = server.call("POST", "/_matrix/client/v3/createRoom", None, Some(&json!({})));
    assert_eq!((status, answer["errcode"].as_str()), (401, Some("M_MISSING_TOKEN")));
    let (status, answer) = server.call("POST", "/_matrix/client/v3/createRoom", Some("wrong"), Some(&json!({})));
    assert_eq!((status, answer["errcode"].as_str()), (401, Some("M_UNKNOWN_TOKEN")));
    let (status, answer) = server.call("GET", "/_matrix/client/v3/rooms/not-a-room/state", Some(&token), None);
    assert_eq!((status, answer["errcode"].as_str()), (400, Some("M_INVALID_PARAM")));
    let (status, answer) = server.call("GET", "/_matrix/client/v3/no/such/endpoint", None, None);
    assert_eq!((status, answer["errcode"].as_str()), (404, Some("M_UNRECOGNIZED")));
    let (status, _) = server.call("DELETE", "/_matrix/client/v3/createRoom", Some(&token), None);
    assert_eq!(status, 405);
    let (status, answer) = server.call_raw(
        "POST",
        "/_matrix/media/v3/upload",
        Some(&token),
        Some(vec![0; 70 * 1024]),
        Some("application/octet-stream"),
    );
    let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!((status, answer["errcode"].as_str()), (413, Some("M_TOO_LARGE")));
}
