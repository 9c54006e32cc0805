//! A request answered 200 survives `kill -9`, the durability settings that make it so are
//! in force, and SIGTERM shuts down cleanly.

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

/// `kill -9` cannot tell a missing fsync: the settings read back from the write
/// connection at start-up must be WAL with `synchronous=FULL` (2).
#[test]
fn the_write_connection_runs_wal_with_full_synchronous() {
    let server = Server::start(&config_with_modules("  []\n"));
    let log = server.log();
    assert!(log.contains("mxmod: storage sqlite, journal_mode=wal, synchronous=2"), "{log}");
    // WAL is also recorded in the database file itself (header bytes 18 and 19 are 2).
    let header = std::fs::read(server.dir.path().join("homeserver.db")).unwrap();
    assert_eq!((header[18], header[19]), (2, 2));
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let server = Server::start(&config_with_modules("  []\n"));
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
}
