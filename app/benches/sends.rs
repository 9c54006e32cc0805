//! Durable sends under load, measured with `wrk` against the release binary, beside this
//! disk's single-writer fsync rate measured in the same run:
//!
//! - `PUT /rooms/{id}/send` at 1 and 16 connections with the three default modules, every
//!   request with a unique transaction ID: sends/s, p50/p99, server CPU per send, and
//!   sends/s as a multiple of the fsync rate (above 1 only with group commit);
//! - afterwards, the room's new events against the 200s `wrk` counted: every 200 is an
//!   event, no transaction is stored twice, and the only surplus is the requests still in
//!   flight when `wrk` stopped (committed, but never answered to `wrk`);
//! - `GET /account/whoami` p99 at one connection, idle and under a 16-connection send load.
//!
//! `cargo bench -p mxmod-app --bench sends` (installs `wrk` with `apt-get` if missing;
//! every `wrk` run is bounded in time). It lives in `mxmod-app`, whose only
//! dev-dependencies are small, so the release build it needs is the server's and no more
//! (from `mxmod-tests` it also compiled `matrix-sdk` in release); it shares the black-box
//! harness with `tests/it`.

/// The binary `support` starts: this package's own `mxmod`.
pub(crate) const STOCK_BINARY: &str = env!("CARGO_BIN_EXE_mxmod");
/// This bench starts only the stock binary; the custom one is `mxmod-tests`'.
pub(crate) const POLICY_BINARY: &str = "mxmod-policy-server is not built by mxmod-app";

#[path = "../../tests/it/support.rs"]
#[allow(dead_code)]
mod support;
#[path = "../../tests/benches/wrk_script.rs"]
mod wrk_script;

use std::{
    collections::HashSet,
    io::Write,
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use serde_json::json;
use support::{config_with_modules, enc, Server};
use wrk_script::wrk_script;

/// Seconds per `wrk` run.
const SECONDS: u64 = 10;
/// The fsync loop stops after this many rounds or this long.
const FSYNC_ROUNDS: usize = 20_000;
const FSYNC_TIME: Duration = Duration::from_secs(3);

/// What one `wrk` run reported.
#[derive(Debug, Default)]
struct Run {
    ok: u64,
    other: u64,
    seconds: f64,
    p50_ms: f64,
    p99_ms: f64,
}

impl Run {
    fn rate(&self) -> f64 {
        self.ok as f64 / self.seconds
    }
}

/// Runs `wrk` with one thread and `connections` connections for `seconds`.
fn wrk(base: &str, script_text: &str, connections: u32, seconds: u64, dir: &Path) -> Run {
    let path = dir.join(format!("bench-{}.lua", rand_suffix()));
    std::fs::write(&path, script_text).expect("the Lua script is written");
    let output = Command::new("wrk")
        .args(["-t1", &format!("-c{connections}"), &format!("-d{seconds}s"), "--latency", "-s"])
        .arg(&path)
        .arg(base)
        .output()
        .expect("wrk runs");
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text.lines().find(|line| line.starts_with("RESULT ")).unwrap_or_else(|| panic!("wrk said: {text}"));
    let field = |name: &str| -> f64 {
        line.split_whitespace()
            .find_map(|part| part.strip_prefix(&format!("{name}=")))
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {line}"))
    };
    Run {
        ok: field("ok") as u64,
        other: field("other") as u64,
        seconds: field("duration_us") / 1e6,
        p50_ms: field("p50_us") / 1e3,
        p99_ms: field("p99_us") / 1e3,
    }
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

/// Installs `wrk` from Debian's packages if it is missing.
fn ensure_wrk() {
    if Command::new("wrk").arg("--version").output().is_ok() {
        return;
    }
    println!("installing wrk (apt-get install -y wrk)");
    let status = Command::new("apt-get").args(["install", "-y", "wrk"]).status().expect("apt-get runs");
    assert!(status.success(), "apt-get install wrk failed; install wrk and run again");
}

/// Single-writer fsyncs per second on the disk holding `dir`: append 4 KiB, `fdatasync`.
fn fsync_rate(dir: &Path) -> f64 {
    let path = dir.join("fsync-probe");
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path).expect("a probe file");
    let block = [0x5a_u8; 4096];
    let started = Instant::now();
    let mut rounds = 0;
    while rounds < FSYNC_ROUNDS && started.elapsed() < FSYNC_TIME {
        file.write_all(&block).expect("a write");
        file.sync_data().expect("an fsync");
        rounds += 1;
    }
    let rate = rounds as f64 / started.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(path);
    rate
}

/// The server's CPU time so far (user + system), from `/proc`.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/<pid>/stat");
    let after_name = &stat[stat.rfind(')').expect("a stat line") + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: f64 = fields[11].parse::<f64>().unwrap_or(0.0) + fields[12].parse::<f64>().unwrap_or(0.0);
    let hertz = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<f64>().ok())
        .unwrap_or(100.0);
    ticks / hertz
}

/// Every message of the room as (event ID, transaction ID), oldest first.
fn room_messages(server: &Server, token: &str, room: &str) -> Vec<(String, Option<String>)> {
    let mut messages = Vec::new();
    let mut from = "t0".to_owned();
    loop {
        let path = format!("/_matrix/client/v3/rooms/{}/messages?dir=f&limit=1000&from={from}", enc(room));
        let (status, page) = server.call("GET", &path, Some(token), None);
        assert_eq!(status, 200, "{page}");
        for event in page["chunk"].as_array().into_iter().flatten().filter(|e| e["type"] == "m.room.message") {
            let txn = event["unsigned"]["transaction_id"].as_str().map(str::to_owned);
            messages.push((event["event_id"].as_str().unwrap_or_default().to_owned(), txn));
        }
        match page["end"].as_str() {
            Some(end) => from = end.to_owned(),
            None => return messages,
        }
    }
}

fn main() {
    if std::env::args().any(|arg| arg == "--list") {
        return;
    }
    ensure_wrk();
    let server = Server::start(&config_with_modules(support::DEFAULT_MODULES));
    let dir = server.dir.path().to_path_buf();
    let (_, token) = server.register("bench");
    let room = server.create_room(&token, json!({ "preset": "public_chat" }));
    let fsyncs = fsync_rate(&dir);
    println!("disk: {fsyncs:.0} single-writer fsyncs/s (4 KiB append + fdatasync, same directory)");

    let body = json!({ "msgtype": "m.text", "body": "bench" }).to_string();
    let send_prefix = |label: &str| format!("/_matrix/client/v3/rooms/{}/send/m.room.message/{label}-", enc(&room));
    let mut sent = 0_u64;
    for connections in [1, 16] {
        let before_cpu = cpu_seconds(server.pid());
        let before_events = room_messages(&server, &token, &room).len() as u64;
        let run = wrk(
            &server.base,
            &wrk_script(&[&send_prefix(&format!("c{connections}"))], true, "PUT", Some(&body), &token),
            connections,
            SECONDS,
            &dir,
        );
        std::thread::sleep(Duration::from_millis(500));
        let cpu = cpu_seconds(server.pid()) - before_cpu;
        let messages = room_messages(&server, &token, &room);
        let new_events = messages.len() as u64 - before_events;
        let txns: HashSet<&Option<String>> = messages.iter().map(|(_, txn)| txn).collect();
        assert_eq!(txns.len(), messages.len(), "a transaction was stored twice");
        assert_eq!(run.other, 0, "every send answered 200");
        assert!(
            new_events >= run.ok && new_events <= run.ok + u64::from(connections),
            "{new_events} new events for {} 200s at {connections} connections",
            run.ok
        );
        sent += new_events;
        println!(
            "PUT send, {connections:>2} conn: {:>7.0} sends/s = {:>5.2}x fsync rate, p50 {:>6.2} ms, p99 {:>6.2} ms, \
             server CPU {:.3} ms/send; {} 200s, {new_events} new events ({} in flight at the end)",
            run.rate(),
            run.rate() / fsyncs,
            run.p50_ms,
            run.p99_ms,
            cpu * 1e3 / new_events.max(1) as f64,
            run.ok,
            new_events - run.ok,
        );
    }

    let whoami = "/_matrix/client/v3/account/whoami";
    let idle = wrk(&server.base, &wrk_script(&[whoami], false, "GET", None, &token), 1, SECONDS / 2, &dir);
    let loaded = std::thread::scope(|scope| {
        let load = scope.spawn(|| {
            wrk(
                &server.base,
                &wrk_script(&[&send_prefix("whoami-load")], true, "PUT", Some(&body), &token),
                16,
                SECONDS / 2 + 2,
                &dir,
            )
        });
        std::thread::sleep(Duration::from_millis(500));
        let whoami = wrk(&server.base, &wrk_script(&[whoami], false, "GET", None, &token), 1, SECONDS / 2, &dir);
        let load = load.join().expect("the load run");
        println!("  (send load beside it: {:.0} sends/s)", load.rate());
        whoami
    });
    println!(
        "GET whoami, 1 conn: idle p50 {:.2} ms p99 {:.2} ms; under 16-conn send load p50 {:.2} ms p99 {:.2} ms \
         (p99 ratio {:.2})",
        idle.p50_ms,
        idle.p99_ms,
        loaded.p50_ms,
        loaded.p99_ms,
        loaded.p99_ms / idle.p99_ms
    );
    println!("{sent} messages stored by the send runs, each transaction once");
}
