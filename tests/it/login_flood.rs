//! A flood of wrong-password logins must not hurt everyone else: password hashing runs on
//! its own pool, so `/versions` stays fast while 64 logins hash, and the server's peak
//! memory stays within what the pool's hashes can hold (argon2's 19 MiB per thread).

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Barrier,
    },
    time::{Duration, Instant},
};

use serde_json::json;

use crate::support::{agent, config_with_modules, send, Server};

const FLOOD: usize = 64;
/// What one argon2 hash with the default parameters holds while it runs.
const ARGON2_MIB: u64 = 19;

fn versions_latency(agent: &ureq::Agent, base: &str) -> Duration {
    let started = Instant::now();
    let (status, _) = send(agent, "GET", &format!("{base}/_matrix/client/versions"), None, None, None).unwrap();
    assert_eq!(status, 200);
    started.elapsed()
}

fn p99(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[(samples.len() * 99).div_ceil(100) - 1]
}

/// A `/proc/<pid>/status` field in KiB (`VmRSS`, `VmHWM`).
fn memory_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc is readable");
    let line = status.lines().find(|line| line.starts_with(field)).expect("the field");
    line.split_whitespace().nth(1).and_then(|kib| kib.parse().ok()).expect("a number of KiB")
}

#[test]
fn versions_stays_fast_and_memory_bounded_while_64_wrong_password_logins_run() {
    let server = Server::start(&config_with_modules("  []\n"));
    let (user_id, _) = server.register("target");
    let probe = agent();
    for _ in 0..50 {
        versions_latency(&probe, &server.base);
    }
    let idle = p99((0..400).map(|_| versions_latency(&probe, &server.base)).collect());
    let rss_before = memory_kib(server.pid(), "VmRSS:");

    let start = Arc::new(Barrier::new(FLOOD + 1));
    let running = Arc::new(AtomicUsize::new(FLOOD));
    let login = json!({ "type": "m.login.password", "user": user_id, "password": "wrong" }).to_string();
    let url = format!("{}/_matrix/client/v3/login", server.base);
    let flood: Vec<_> = (0..FLOOD)
        .map(|_| {
            let (start, running, login, url) = (start.clone(), running.clone(), login.clone(), url.clone());
            std::thread::spawn(move || {
                let agent = agent();
                start.wait();
                let answer = send(&agent, "POST", &url, None, Some(login.into_bytes()), Some("application/json"));
                running.fetch_sub(1, Ordering::SeqCst);
                answer.map(|(status, _)| status)
            })
        })
        .collect();
    start.wait();
    let mut during = Vec::new();
    while running.load(Ordering::SeqCst) > 0 {
        during.push(versions_latency(&probe, &server.base));
    }
    for login in flood {
        assert_eq!(login.join().unwrap().unwrap(), 403, "each wrong password is refused");
    }

    let peak_kib = memory_kib(server.pid(), "VmHWM:");
    let loaded = p99(during.clone());
    eprintln!(
        "/versions p99 idle {idle:?}, during the flood {loaded:?} ({} samples); RSS before {} MiB, peak {} MiB",
        during.len(),
        rss_before / 1024,
        peak_kib / 1024
    );
    assert!(during.len() >= 20, "the flood was too short to measure: {} samples", during.len());
    // On a 2-core machine a sub-millisecond idle p99 is below the scheduler's time slices,
    // and this test's own 64 client threads compete for the same cores, so the bound is 3×
    // the idle p99 but never under 3 × 5 ms. What it must catch is hashing on the request
    // workers: every `/versions` then queues behind whole argon2 hashes (0.5 ms became
    // 72 ms at p50), far above 15 ms. A clean run on an idle CI machine measured 0.5 ms
    // idle and 6.4 ms during the flood.
    let baseline = idle.max(Duration::from_millis(5));
    assert!(loaded <= baseline * 3, "/versions p99 {loaded:?} during the flood, {idle:?} idle");
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get) as u64;
    // The pool's hashes, plus room for 64 connections and allocator slack.
    let bound_kib = rss_before + (threads * ARGON2_MIB + 16) * 1024;
    assert!(peak_kib <= bound_kib, "peak RSS {peak_kib} KiB, bound {bound_kib} KiB ({threads} hashing threads)");
}
