//! Rate limits with Synapse's default settings: the 429 `M_LIMIT_EXCEEDED` answer with
//! `retry_after_ms` and `Retry-After`, recovery once the bucket refills, per-address
//! isolation (requests sent from other loopback addresses, or through a trusted proxy's
//! `X-Forwarded-For`), and the address modules are given.

use std::{
    io::{Read, Write},
    net::{IpAddr, SocketAddr},
    path::Path,
    time::{Duration, Instant},
};

use serde_json::{json, Value};

use crate::support::{config_with_modules, config_with_synapse_limits, enc, Server};

/// An answer: status, headers (lower-case names), JSON body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }
}

/// One `POST` from the local address `source` (any of 127.0.0.0/8 works on loopback),
/// with extra headers; the connection is closed after the answer.
fn post_from(source: IpAddr, server: &Server, path: &str, body: &Value, headers: &[(&str, &str)]) -> Answer {
    let target: SocketAddr = server.base.trim_start_matches("http://").parse().expect("the server's address");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_io().build().expect("a runtime");
    let stream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        socket.bind(SocketAddr::new(source, 0)).expect("a loopback source address");
        socket.connect(target).await.expect("connected")
    });
    let mut stream = stream.into_std().expect("a std stream");
    stream.set_nonblocking(false).expect("blocking mode");
    let body = body.to_string();
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nhost: {target}\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(&body);
    stream.write_all(request.as_bytes()).expect("request sent");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("an answer");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a complete answer");
    let mut lines = head.lines();
    let status = lines.next().and_then(|line| line.split(' ').nth(1)).and_then(|code| code.parse().ok()).unwrap_or(0);
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Answer { status, headers, body: serde_json::from_str(body).unwrap_or(Value::Null) }
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn registration(name: &str) -> Value {
    json!({ "username": name, "password": "secret-pw", "auth": { "type": "m.login.dummy" } })
}

fn login(name: &str, password: &str) -> Value {
    json!({ "type": "m.login.password", "identifier": { "type": "m.id.user", "user": name }, "password": password })
}

const REGISTER: &str = "/_matrix/client/v3/register";
const LOGIN: &str = "/_matrix/client/v3/login";

/// Checks Synapse's 429 and returns `retry_after_ms`.
fn assert_limited(answer: &Answer) -> u64 {
    assert_eq!(answer.status, 429, "{}", answer.body);
    assert_eq!(answer.body["errcode"], "M_LIMIT_EXCEEDED");
    assert_eq!(answer.body["error"], "Too Many Requests");
    let retry_after_ms = answer.body["retry_after_ms"].as_u64().expect("retry_after_ms");
    let header: u64 = answer.header("retry-after").expect("a Retry-After header").parse().unwrap();
    assert_eq!(header, retry_after_ms.div_ceil(1000), "Retry-After is retry_after_ms in whole seconds, rounded up");
    retry_after_ms
}

#[test]
fn a_registration_flood_from_one_address_is_limited_recovers_and_leaves_other_addresses_alone() {
    let server = Server::start(&config_with_synapse_limits("  []\n"));
    let flooder = ip("127.0.0.1");
    // rc_registration: per_second 0.17, burst_count 3.
    for n in 0..3 {
        let answer = post_from(flooder, &server, REGISTER, &registration(&format!("flood{n}")), &[]);
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    // A forged X-Forwarded-For changes nothing on a listener without `x_forwarded`.
    let limited = post_from(flooder, &server, REGISTER, &registration("flood3"), &[("x-forwarded-for", "203.0.113.5")]);
    let retry_after_ms = assert_limited(&limited);
    assert!((1..=5883).contains(&retry_after_ms), "one registration per 1/0.17 s: {retry_after_ms}");

    let other = post_from(ip("127.0.0.2"), &server, REGISTER, &registration("neighbour"), &[]);
    assert_eq!(other.status, 200, "another address is not limited: {}", other.body);

    std::thread::sleep(Duration::from_millis(retry_after_ms + 50));
    let recovered = post_from(flooder, &server, REGISTER, &registration("flood3"), &[]);
    assert_eq!(recovered.status, 200, "allowed again after retry_after_ms: {}", recovered.body);
    let again = post_from(flooder, &server, REGISTER, &registration("flood4"), &[]);
    assert_limited(&again);
}

#[test]
fn failed_logins_lock_the_account_even_for_the_right_password_until_it_refills() {
    let server = Server::start(&config_with_synapse_limits("  []\n"));
    let (user_id, _) = server.register("victim");
    let attacker = ip("127.0.0.3");
    // rc_login.failed_attempts: per_second 0.17, burst_count 3.
    for _ in 0..3 {
        let answer = post_from(attacker, &server, LOGIN, &login(&user_id, "guess"), &[]);
        assert_eq!((answer.status, answer.body["errcode"].as_str()), (403, Some("M_FORBIDDEN")));
    }
    let locked = post_from(attacker, &server, LOGIN, &login(&user_id, "secret-pw"), &[]);
    let retry_after_ms = assert_limited(&locked);
    // The lockout is per account: another address with the right password is refused too.
    let elsewhere = post_from(ip("127.0.0.4"), &server, LOGIN, &login(&user_id, "secret-pw"), &[]);
    assert_limited(&elsewhere);

    std::thread::sleep(Duration::from_millis(retry_after_ms + 50));
    let owner = post_from(ip("127.0.0.4"), &server, LOGIN, &login(&user_id, "secret-pw"), &[]);
    assert_eq!(owner.status, 200, "{}", owner.body);
    assert!(owner.body["access_token"].as_str().is_some());
}

#[test]
fn login_attempts_are_limited_per_address() {
    let server = Server::start(&config_with_synapse_limits("  []\n"));
    let scanner = ip("127.0.0.5");
    // rc_login.address: per_second 0.003, burst_count 5; a different account each time,
    // so only the per-address limit applies.
    for n in 0..5 {
        let answer = post_from(scanner, &server, LOGIN, &login(&format!("nobody{n}"), "pw"), &[]);
        assert_eq!(answer.status, 403, "{}", answer.body);
    }
    let limited = post_from(scanner, &server, LOGIN, &login("nobody5", "pw"), &[]);
    let retry_after_ms = assert_limited(&limited);
    assert!(retry_after_ms > 300_000, "one attempt per 1/0.003 s: {retry_after_ms}");
    let other = post_from(ip("127.0.0.6"), &server, LOGIN, &login("nobody5", "pw"), &[]);
    assert_eq!(other.status, 403, "another address may still try: {}", other.body);
    // Each refused login for a missing account ran the dummy hash (the limited one did not).
    let (status, _) = server.call("GET", "/_synapse/metrics", None, None);
    assert_eq!(status, 200);
    let (_, metrics) = server.call_raw("GET", "/_synapse/metrics", None, None, None);
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(metrics.contains("\nmxmod_password_dummy_checks_total 6\n"), "{metrics}");
}

#[test]
fn behind_a_trusted_proxy_the_address_it_appended_is_the_key_never_the_clients_own_entries() {
    let config =
        config_with_synapse_limits("  []\n").replace("    type: http\n", "    type: http\n    x_forwarded: true\n");
    let server = Server::start(&config);
    let proxy = ip("127.0.0.1");
    for n in 0..3 {
        // The client writes whatever it likes first; the proxy appends the real address.
        let forwarded = format!("10.9.9.{n}, 198.51.100.7");
        let answer =
            post_from(proxy, &server, REGISTER, &registration(&format!("p{n}")), &[("x-forwarded-for", &forwarded)]);
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    let forged = [("x-forwarded-for", "10.9.9.99, 198.51.100.7")];
    assert_limited(&post_from(proxy, &server, REGISTER, &registration("p3"), &forged));
    let other_client = [("x-forwarded-for", "198.51.100.8")];
    let answer = post_from(proxy, &server, REGISTER, &registration("p4"), &other_client);
    assert_eq!(answer.status, 200, "another client behind the proxy: {}", answer.body);
}

#[test]
fn modules_are_given_the_client_address() {
    let config = config_with_modules("  - module: policy\n    config: {}\n")
        .replace("    type: http\n", "    type: http\n    x_forwarded: true\n");
    let server = Server::start_binary(Path::new(env!("CARGO_BIN_EXE_mxmod-policy-server")), &config);
    let registered = post_from(
        ip("127.0.0.1"),
        &server,
        REGISTER,
        &registration("carol"),
        &[("x-forwarded-for", "6.6.6.6, 198.51.100.9")],
    );
    assert_eq!(registered.status, 200, "{}", registered.body);
    // Without the header, the peer address it came from.
    let logged_in = post_from(ip("127.0.0.7"), &server, LOGIN, &login("carol", "secret-pw"), &[]);
    assert_eq!(logged_in.status, 200, "{}", logged_in.body);
    let (status, ips) = server.call("GET", "/_synapse/client/policy/client_ips", None, None);
    assert_eq!(status, 200);
    assert_eq!(ips, json!([["check_registration_for_spam", "198.51.100.9"], ["check_login_for_spam", "127.0.0.7"]]));
}

/// Registers `name` from its own loopback address (so rc_registration does not interfere).
fn register_from(server: &Server, n: u8, name: &str) -> (String, String) {
    let answer = post_from(IpAddr::from([127, 0, 1, n]), server, REGISTER, &registration(name), &[]);
    assert_eq!(answer.status, 200, "{}", answer.body);
    (answer.body["user_id"].as_str().unwrap().to_owned(), answer.body["access_token"].as_str().unwrap().to_owned())
}

fn assert_429(status: u16, answer: &Value) {
    assert_eq!((status, answer["errcode"].as_str()), (429, Some("M_LIMIT_EXCEEDED")), "{answer}");
    assert!(answer["retry_after_ms"].as_u64().is_some_and(|ms| ms > 0), "{answer}");
}

#[test]
fn messages_joins_invites_and_uploads_are_limited_at_synapses_bursts() {
    let server = Server::start(&config_with_synapse_limits("  []\n"));
    let call = |method: &str, path: String, token: &str| server.call(method, &path, Some(token), Some(&json!({})));
    let room_path = |room: &str, action: &str| format!("/_matrix/client/v3/rooms/{}/{action}", enc(room));

    // rc_message, burst 10: creating a room counts too.
    let (_, alice) = register_from(&server, 1, "alice");
    let room = server.create_room(&alice, json!({ "preset": "public_chat" }));
    for n in 1..10 {
        assert_eq!(server.send_text(&alice, &room, &format!("t{n}"), "hi").0, 200);
    }
    let (status, answer) = server.send_text(&alice, &room, "t10", "one too many");
    assert_429(status, &answer);
    // Retrying a transaction that went through is not a new message.
    assert_eq!(server.send_text(&alice, &room, "t9", "hi").0, 200);

    // rc_joins.local, burst 10 per user; joining a room one is in is not a join.
    let (_, dave) = register_from(&server, 2, "dave");
    let rooms: Vec<String> = (0..10).map(|_| server.create_room(&dave, json!({ "preset": "public_chat" }))).collect();
    let (_, carol) = register_from(&server, 3, "carol");
    for room in &rooms {
        let (status, answer) = call("POST", room_path(room, "join"), &carol);
        assert_eq!(status, 200, "{answer}");
    }
    let (status, answer) = call("POST", room_path(&room, "join"), &carol);
    assert_429(status, &answer);
    assert_eq!(call("POST", room_path(&rooms[0], "join"), &carol).0, 200);

    // rc_invites.per_user, burst 5 invites received.
    let (bob_id, _) = register_from(&server, 4, "bob");
    for (n, room) in rooms.iter().take(6).enumerate() {
        let invite = json!({ "user_id": bob_id });
        let (status, answer) = server.call("POST", &room_path(room, "invite"), Some(&dave), Some(&invite));
        if n < 5 {
            assert_eq!(status, 200, "{answer}");
        } else {
            assert_429(status, &answer);
        }
    }

    // rc_media_create, burst 50 and 10 per second: of uploads sent one after another, the
    // first 50 pass, and no more pass than the burst plus what refilled meanwhile.
    let (_, erin) = register_from(&server, 5, "erin");
    let started = Instant::now();
    let mut passed = 0u64;
    let mut limited = 0;
    for n in 0..200 {
        let (status, body) =
            server.call_raw("POST", "/_matrix/media/v3/upload", Some(&erin), Some(b"x".to_vec()), Some("text/plain"));
        match status {
            200 => passed += 1,
            _ => {
                assert!(n >= 50, "upload {n} within the burst was refused");
                assert_429(status, &serde_json::from_slice(&body).unwrap());
                limited += 1;
            }
        }
    }
    let refilled = (started.elapsed().as_secs_f64() * 10.0).ceil() as u64;
    assert!(passed <= 50 + refilled, "{passed} uploads passed in {:?}", started.elapsed());
    assert!(limited > 0, "200 uploads in {:?} were never limited", started.elapsed());
}
