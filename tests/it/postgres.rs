//! Two `mxmod` processes on one fresh PostgreSQL database serve the same users: an account
//! made on one logs in on the other, a send through one wakes a `/sync` parked on the
//! other, and after `kill -9` of one during a send load the other serves every event that
//! was answered 200, exactly once; a module's table written through one process is read
//! (and its cache invalidated) through the other. Skipped (with a note) without
//! `MXMOD_TEST_POSTGRES_URL`.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::{json, Value};

use crate::support::{config_on_postgres, enc, eventually, fake_service, fresh_postgres, Server};

/// Two processes (A, B) on one fresh database, and the guard that drops it.
fn two_processes(modules: &str) -> Option<(Server, Server, mxmod_app::storage::postgres::test_database::TestDatabase)> {
    let database = fresh_postgres()?;
    let config = config_on_postgres(&database.homeserver_yaml(), modules);
    let a = Server::start(&config);
    let b = Server::start(&config);
    Some((a, b, database))
}

fn login(server: &Server, user: &str) -> String {
    let body = json!({ "type": "m.login.password", "identifier": { "type": "m.id.user", "user": user }, "password": "secret-pw" });
    let (status, answer) = server.call("POST", "/_matrix/client/v3/login", None, Some(&body));
    assert_eq!(status, 200, "login on the other process: {answer}");
    answer["access_token"].as_str().unwrap().to_owned()
}

fn timeline_bodies(sync: &Value, room: &str) -> Vec<String> {
    sync["rooms"]["join"][room]["timeline"]["events"]
        .as_array()
        .map(|events| events.iter().filter_map(|e| e["content"]["body"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

#[test]
fn an_account_made_on_one_process_logs_in_on_the_other_and_a_send_wakes_the_others_sync() {
    let Some((a, b, _database)) = two_processes("  []\n") else { return };
    assert!(a.log().contains("mxmod: storage postgresql, synchronous_commit=on"), "{}", a.log());
    let (_, alice_on_a) = a.register("alice");
    let alice_on_b = login(&b, "alice");
    let room = a.create_room(&alice_on_a, json!({ "name": "shared" }));
    let (status, first) = b.call("GET", "/_matrix/client/v3/sync", Some(&alice_on_b), None);
    assert_eq!(status, 200, "{first}");
    let since = first["next_batch"].as_str().unwrap().to_owned();
    // Park a long-poll on B, then send through A.
    let parked = {
        let base = b.base.clone();
        let token = alice_on_b.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            let url = format!("{base}/_matrix/client/v3/sync?since={since}&timeout=20000");
            let (status, body) = crate::support::send(&crate::support::agent(), "GET", &url, Some(&token), None, None)
                .expect("the sync answers");
            (status, serde_json::from_slice::<Value>(&body).unwrap(), started.elapsed())
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let (status, sent) = a.send_text(&alice_on_a, &room, "t1", "through A");
    assert_eq!(status, 200, "{sent}");
    let (status, sync, waited) = parked.join().unwrap();
    assert_eq!(status, 200);
    assert_eq!(timeline_bodies(&sync, &room), ["through A"], "{sync}");
    assert!(waited < Duration::from_secs(10), "woken by the send, not by the timeout: {waited:?}");
    // The transaction is remembered across processes: a retry on B with A's token (the
    // same device) answers A's event.
    let (status, again) = b.send_text(&alice_on_a, &room, "t1", "through A");
    assert_eq!((status, &again["event_id"]), (200, &sent["event_id"]));
}

#[test]
fn a_cache_invalidation_on_one_process_reaches_the_same_module_on_the_other() {
    // The department service: `mover` moves from sales to engineering during the test.
    let moved = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let service = {
        let moved = moved.clone();
        fake_service(move |_, path, _| {
            let engineering = path.contains("engineer")
                || (path.contains("mover") && moved.load(std::sync::atomic::Ordering::SeqCst));
            (200, json!({ "department": if engineering { "engineering" } else { "sales" } }))
        })
    };
    let modules = format!(
        "  - module: user_department\n    config:\n      service: {service}/department\n      shared_secret: s3cret\n"
    );
    let Some((a, b, _database)) = two_processes(&modules) else { return };
    let (_, seller) = b.register("seller");
    let (mover, _) = b.register("mover");
    let invite_on_b = |user: &str| {
        let room = b.create_room(&seller, json!({}));
        let path = format!("/_matrix/client/v3/rooms/{}/invite", enc(&room));
        b.call("POST", &path, Some(&seller), Some(&json!({ "user_id": user }))).0
    };
    assert_eq!(invite_on_b(&mover), 200, "both in sales; B caches mover's department");
    moved.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(invite_on_b(&mover), 200, "B still answers from its cache");
    // The service tells process A; A's invalidation reaches B's cache.
    let (status, answer) = a.call_raw(
        "POST",
        "/_synapse/client/user_department/invalidate",
        Some("s3cret"),
        Some(json!({ "user_id": mover }).to_string().into_bytes()),
        Some("application/json"),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    assert!(
        eventually(Duration::from_secs(10), || invite_on_b(&mover) == 403),
        "B looks mover up again and refuses the invite across departments"
    );
}

/// `account_validity` with its admin resource, as in `module_storage.rs`.
const ACCOUNT_VALIDITY: &str = "  - module: account_validity
    config:
      period: 6w
      renew_at: 1w
      admin_secret: hunter2
";

/// Sets `user`'s expiry through `server`'s `account_validity` admin resource.
fn set_expiry(server: &Server, user: &str, expiration_ts: i64) {
    let body = json!({ "user_id": user, "expiration_ts": expiration_ts });
    let (status, answer) = server.call("POST", "/_synapse/client/account_validity/admin", Some("hunter2"), Some(&body));
    assert_eq!(status, 200, "{answer}");
}

/// `whoami`'s status and errcode on `server`.
fn whoami(server: &Server, token: &str) -> (u16, Option<String>) {
    let (status, answer) = server.call("GET", "/_matrix/client/v3/account/whoami", Some(token), None);
    (status, answer["errcode"].as_str().map(str::to_owned))
}

#[test]
fn a_module_table_written_through_one_process_is_read_through_the_other() {
    let Some((a, b, _database)) = two_processes(ACCOUNT_VALIDITY) else { return };
    let expired = (403, Some("ORG_MATRIX_EXPIRED_ACCOUNT".to_owned()));
    // Registered on A: A's `account_validity` starts tracking the user in its table.
    let (fresh, fresh_token) = a.register("fresh");
    let (watched, watched_token) = a.register("watched");
    assert_eq!(whoami(&b, &watched_token), (200, None), "B reads the row A wrote (and caches it)");

    // An expiry set through A for a user B never looked up: B's first read is the table.
    set_expiry(&a, &fresh, 1);
    assert_eq!(whoami(&b, &fresh_token), expired, "B enforces the expiry A stored");

    // A user B has cached: A's write invalidates B's cache entry too.
    set_expiry(&a, &watched, 1);
    let enforced = eventually(Duration::from_secs(10), || whoami(&b, &watched_token) == expired);
    assert!(enforced, "B enforces the new expiry; B's log:\n{}", b.log());

    // And the other way round: a renewal through B lets the user in on A.
    let later = i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis())
        .unwrap()
        + 86_400_000;
    assert_eq!(whoami(&a, &fresh_token), expired);
    set_expiry(&b, &fresh, later);
    let renewed = eventually(Duration::from_secs(10), || whoami(&a, &fresh_token) == (200, None));
    assert!(renewed, "A sees the renewal made through B; A's log:\n{}", a.log());
}

#[test]
fn after_kill_9_of_one_process_the_other_serves_every_acknowledged_event_once() {
    let Some((a, b, _database)) = two_processes("  []\n") else { return };
    let (_, token) = a.register("loader");
    let room = a.create_room(&token, json!({ "name": "load" }));
    let acknowledged: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut senders = Vec::new();
    for thread in 0..8 {
        let (base, token, room) = (a.base.clone(), token.clone(), room.clone());
        let (acknowledged, stop) = (acknowledged.clone(), stop.clone());
        senders.push(std::thread::spawn(move || {
            let agent = crate::support::agent();
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let txn = format!("w{thread}-{n}");
                let url = format!("{base}/_matrix/client/v3/rooms/{}/send/m.room.message/{txn}", enc(&room));
                let body = json!({ "msgtype": "m.text", "body": txn }).to_string().into_bytes();
                match crate::support::send(&agent, "PUT", &url, Some(&token), Some(body), None) {
                    Ok((200, answer)) => {
                        let answer: Value = serde_json::from_slice(&answer).unwrap();
                        let id = answer["event_id"].as_str().unwrap().to_owned();
                        acknowledged.lock().unwrap().insert(txn, id);
                    }
                    // The process is gone: stop sending.
                    _ => break,
                }
                n += 1;
            }
        }));
    }
    // Kill A in the middle of the load.
    let started = Instant::now();
    while acknowledged.lock().unwrap().len() < 100 && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = a.pid();
    let _ = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for sender in senders {
        sender.join().unwrap();
    }
    drop(a);
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= 100, "the load ran: {}", acknowledged.len());

    // Everything B serves, paginating forwards from the start.
    let mut served: HashMap<String, usize> = HashMap::new();
    let mut from = "t0".to_owned();
    loop {
        let path = format!("/_matrix/client/v3/rooms/{}/messages?dir=f&from={from}&limit=1000", enc(&room));
        let (status, page) = b.call("GET", &path, Some(&token), None);
        assert_eq!(status, 200, "{page}");
        for event in page["chunk"].as_array().unwrap() {
            if event["type"] == "m.room.message" {
                *served.entry(event["event_id"].as_str().unwrap().to_owned()).or_default() += 1;
            }
        }
        match page["end"].as_str() {
            Some(end) => from = end.to_owned(),
            None => break,
        }
    }
    for (txn, event_id) in &acknowledged {
        assert_eq!(served.get(event_id), Some(&1), "{txn} was answered 200 and must be served once");
    }
    assert!(served.values().all(|count| *count == 1), "no event is served twice");
    // A retry of an acknowledged transaction through B answers the same event.
    let (txn, event_id) = acknowledged.iter().next().unwrap();
    let (status, again) = b.send_text(&token, &room, txn, txn);
    assert_eq!((status, again["event_id"].as_str()), (200, Some(event_id.as_str())));
}

/// Bad `database:` values are refused before anything starts: exit 2, each at its line.
/// (Needs no PostgreSQL server.)
#[test]
fn a_bad_postgres_section_exits_2_with_positions() {
    let database = "database:\n  name: psycopg2\n  args:\n    user: u\n    dbname: d\n    cp_min: 20\n    cp_max: 5\n";
    let config = config_on_postgres(database, "  []\n");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, &config).unwrap();
    let line = config.lines().position(|line| line.contains("cp_min: 20")).unwrap() + 1;
    for command in ["check-config", "run"] {
        let output = std::process::Command::new(crate::support::binary())
            .args([command, "-c", path.to_str().unwrap()])
            .output()
            .expect("mxmod runs");
        let err = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{command}: {err}");
        assert!(err.contains(&format!("bad.yaml:{line}:")) && err.contains("`cp_min` (20) is larger"), "{err}");
    }
}

#[test]
fn a_receipt_through_one_process_wakes_a_sync_on_the_other_and_tags_are_shared() {
    let Some((a, b, _database)) = two_processes("  []\n") else { return };
    let (_, alice_on_a) = a.register("alice");
    let (bob_id, bob_on_a) = a.register("bob");
    let bob_on_b = login(&b, "bob");
    let room = a.create_room(&alice_on_a, json!({ "preset": "public_chat" }));
    let (status, joined) =
        a.call("POST", &format!("/_matrix/client/v3/join/{}", enc(&room)), Some(&bob_on_a), Some(&json!({})));
    assert_eq!(status, 200, "{joined}");
    let (status, sent) = a.send_text(&alice_on_a, &room, "t1", "read me");
    assert_eq!(status, 200, "{sent}");
    let event = sent["event_id"].as_str().unwrap().to_owned();
    let (status, first) = a.call("GET", "/_matrix/client/v3/sync", Some(&alice_on_a), None);
    assert_eq!(status, 200, "{first}");
    let since = first["next_batch"].as_str().unwrap().to_owned();
    // Park alice's long-poll on A, then bob reads through B.
    let parked = {
        let (base, token) = (a.base.clone(), alice_on_a.clone());
        std::thread::spawn(move || {
            let started = Instant::now();
            let url = format!("{base}/_matrix/client/v3/sync?since={since}&timeout=20000");
            let (status, body) = crate::support::send(&crate::support::agent(), "GET", &url, Some(&token), None, None)
                .expect("the sync answers");
            (status, serde_json::from_slice::<Value>(&body).unwrap(), started.elapsed())
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let receipt = format!("/_matrix/client/v3/rooms/{}/receipt/m.read/{}", enc(&room), enc(&event));
    let (status, answer) = b.call("POST", &receipt, Some(&bob_on_b), Some(&json!({})));
    assert_eq!(status, 200, "{answer}");
    let (status, sync, waited) = parked.join().unwrap();
    assert_eq!(status, 200);
    assert!(waited < Duration::from_secs(10), "woken by the receipt, not by the timeout: {waited:?}");
    let ephemeral = &sync["rooms"]["join"][&room]["ephemeral"]["events"];
    let readers = ephemeral
        .as_array()
        .and_then(|events| events.iter().find(|e| e["type"] == "m.receipt"))
        .map(|receipt| receipt["content"][&event]["m.read"].clone());
    assert!(readers.is_some_and(|readers| readers.get(&bob_id).is_some()), "{sync}");
    // A tag set through A is in bob's sync on B.
    let tag = format!("/_matrix/client/v3/user/{}/rooms/{}/tags/u.work", enc(&bob_id), enc(&room));
    assert_eq!(a.call("PUT", &tag, Some(&bob_on_a), Some(&json!({ "order": 0.5 }))).0, 200);
    let (status, sync) = b.call("GET", "/_matrix/client/v3/sync", Some(&bob_on_b), None);
    assert_eq!(status, 200, "{sync}");
    let account_data = &sync["rooms"]["join"][&room]["account_data"]["events"];
    let tags = account_data.as_array().and_then(|events| events.iter().find(|e| e["type"] == "m.tag")).cloned();
    assert!(tags.is_some_and(|tags| tags["content"]["tags"]["u.work"]["order"] == 0.5), "{sync}");
}
