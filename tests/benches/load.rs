//! A bounded loopback load generator for the server: the same request mix against the
//! real binary with no modules and with the default modules, reported as requests per
//! second and their ratio, from one run. Every loop is bounded in count and in time.
//!
//! `cargo bench -p mxmod-tests --bench load` (debug or `--profile release`).

#[path = "../it/support.rs"]
#[allow(dead_code)]
mod support;

use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant},
};

use serde_json::json;
use support::{config_with_modules, enc, Server};

/// Client threads.
const THREADS: usize = 4;
/// Requests per thread, at most.
const REQUESTS_PER_THREAD: usize = 500;
/// Wall-clock bound per scenario.
const TIME_LIMIT: Duration = Duration::from_secs(20);

const MODULES: &str = "  - module: demo
    config:
      denied_users: ['@evilguy:test.local']
  - module: list_spam_checker
    config:
      evil_users: ['@mallory:test.local']
  - module: custom_presence_router
    config:
      routes: {}
";

/// Runs `request` from every thread until the count or the time bound; requests/second.
fn drive(server: &Server, label: &str, request: impl Fn(&Server, usize, usize) -> u16 + Sync) -> f64 {
    let done = AtomicUsize::new(0);
    let failures = AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let (done, failures, request) = (&done, &failures, &request);
            scope.spawn(move || {
                for n in 0..REQUESTS_PER_THREAD {
                    if started.elapsed() > TIME_LIMIT {
                        break;
                    }
                    if request(server, thread, n) != 200 {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    let count = done.load(Ordering::Relaxed);
    let rate = count as f64 / elapsed;
    println!(
        "  {label:<44} {count:>6} requests in {elapsed:>6.2} s = {rate:>8.0} req/s ({} failed)",
        failures.load(Ordering::Relaxed)
    );
    rate
}

/// (send, whoami, module resource) rates for one configuration.
fn scenario(name: &str, modules: &str) -> (f64, f64, f64) {
    println!("{name}:");
    let server = Server::start(&config_with_modules(modules));
    let tokens: Vec<String> = (0..THREADS).map(|n| server.register(&format!("load{n}")).1).collect();
    let room = server.create_room(&tokens[0], json!({ "preset": "public_chat" }));
    for token in &tokens[1..] {
        server.call("POST", &format!("/_matrix/client/v3/join/{}", enc(&room)), Some(token), None);
    }
    let send = drive(&server, "PUT /rooms/{id}/send (checks + durable write)", |server, thread, n| {
        server.send_text(&tokens[thread], &room, &format!("t{thread}n{n}"), "load").0
    });
    let whoami = drive(&server, "GET /account/whoami (auth + is_user_expired)", |server, thread, _| {
        server.call("GET", "/_matrix/client/v3/account/whoami", Some(&tokens[thread]), None).0
    });
    let resource = drive(&server, "GET /_synapse/client/demo/hello (or 404)", |server, _, _| {
        let (status, _) = server.call("GET", "/_synapse/client/demo/hello?name=x", None, None);
        if status == 404 {
            200
        } else {
            status
        }
    });
    (send, whoami, resource)
}

fn main() {
    if std::env::args().any(|arg| arg == "--list") {
        return;
    }
    let without = scenario("no modules", "  []\n");
    let with = scenario("demo + list_spam_checker + custom_presence_router", MODULES);
    println!("ratio with modules / without (1.00 = no measurable cost):");
    println!("  send    {:.2}", with.0 / without.0);
    println!("  whoami  {:.2}", with.1 / without.1);
    println!("  (the resource row compares a module page with a 404 and is not a cost ratio)");
}
