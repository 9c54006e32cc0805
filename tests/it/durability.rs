//! A request answered 200 survives `kill -9`, and SIGTERM shuts down cleanly.

use serde_json::json;

use crate::support::{config_with_modules, enc, Server};

#[test]
fn acknowledged_writes_survive_kill_9() {
    let server = Server::start(&config_with_modules("  []\n"));
    let (_, token) = server.register("durable");
    let room = server.create_room(&token, json!({ "name": "kept" }));
    let path = format!("/_matrix/client/v3/rooms/{}/send/m.room.message/t1", enc(&room));
    let (status, sent) =
        server.call("PUT", &path, Some(&token), Some(&json!({ "msgtype": "m.text", "body": "hello" })));
    assert_eq!(status, 200);
    let (status, upload) = server.call_raw(
        "POST",
        "/_matrix/media/v3/upload?filename=a.txt",
        Some(&token),
        Some(b"file body".to_vec()),
        Some("text/plain"),
    );
    assert_eq!(status, 200);
    let upload: serde_json::Value = serde_json::from_slice(&upload).unwrap();

    let server = server.kill_and_restart();
    let event = format!("/_matrix/client/v3/rooms/{}/event/{}", enc(&room), enc(sent["event_id"].as_str().unwrap()));
    let (status, event) = server.call("GET", &event, Some(&token), None);
    assert_eq!(status, 200, "{event}");
    assert_eq!(event["content"]["body"], "hello");
    let media = upload["content_uri"].as_str().unwrap().trim_start_matches("mxc://").to_owned();
    let (status, bytes) =
        server.call_raw("GET", &format!("/_matrix/client/v1/media/download/{media}"), Some(&token), None, None);
    assert_eq!((status, bytes.as_slice()), (200, b"file body".as_slice()));
    let (status, again) =
        server.call("PUT", &path, Some(&token), Some(&json!({ "msgtype": "m.text", "body": "hello" })));
    assert_eq!((status, &again["event_id"]), (200, &sent["event_id"]), "the transaction ID is remembered");
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let server = Server::start(&config_with_modules("  []\n"));
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
}
