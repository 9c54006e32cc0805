//! A bounded loopback load generator for the server, reported as requests per second and
//! ratios from one run:
//!
//! - a module web resource (`demo`'s `GET /_synapse/client/demo/hello`) served by the
//!   real binary against a bare hyper hello-world in this process answering the same
//!   bytes: what the whole stack (routing, the module table, the handler) costs;
//! - message sends and `whoami` against the real binary with no modules and with three
//!   modules implementing callbacks on those paths: what the module system costs there.
//!
//! Every client thread keeps its connection alive (as a Matrix client or a load tool
//! does), and every loop is bounded in count and in time.
//!
//! `cargo bench -p mxmod-tests --bench load` (the server is built in release mode).

/// The binaries `support` starts: the stock `mxmod` and the custom one with the test modules.
pub(crate) const STOCK_BINARY: &str = env!("CARGO_BIN_EXE_mxmod-stock");
pub(crate) const POLICY_BINARY: &str = env!("CARGO_BIN_EXE_mxmod-policy-server");

#[path = "../it/support.rs"]
#[allow(dead_code)]
mod support;

use std::{
    convert::Infallible,
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant},
};

use http_body_util::Full;
use hyper::{body::Bytes, server::conn::http1, service::service_fn, Response};
use hyper_util::rt::TokioIo;
use serde_json::json;
use support::{agent, config_with_modules, enc, send, Server};

/// Client threads.
const THREADS: usize = 4;
/// Requests per thread, at most.
const REQUESTS_PER_THREAD: usize = 5000;
/// Wall-clock bound per scenario.
const TIME_LIMIT: Duration = Duration::from_secs(20);
/// What `demo`'s hello resource answers to `?name=x`, and so what the bare server sends.
const HELLO_BODY: &[u8] = br#"{"hello":"x"}"#;

/// One request; its status (0 if it failed on the wire).
fn request(agent: &ureq::Agent, method: &str, url: &str, token: Option<&str>, body: Option<&[u8]>) -> u16 {
    send(agent, method, url, token, body.map(<[u8]>::to_vec), None).map_or(0, |(status, _)| status)
}

/// Runs `request(agent, thread, n)` from every thread until the count or the time
/// bound; requests/second.
fn drive(label: &str, request: impl Fn(&ureq::Agent, usize, usize) -> u16 + Sync) -> f64 {
    let done = AtomicUsize::new(0);
    let failures = AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let (done, failures, request) = (&done, &failures, &request);
            scope.spawn(move || {
                let agent = agent();
                for n in 0..REQUESTS_PER_THREAD {
                    if started.elapsed() > TIME_LIMIT {
                        break;
                    }
                    if request(&agent, thread, n) != 200 {
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
        "  {label:<58} {count:>6} requests in {elapsed:>6.2} s = {rate:>8.0} req/s ({} failed)",
        failures.load(Ordering::Relaxed)
    );
    rate
}

/// A bare hyper 1.x HTTP/1.1 server on a free loopback port, on a multi-threaded tokio
/// runtime as the real binary uses, answering every request with [`HELLO_BODY`]; its
/// base URL. It serves until the process ends.
fn bare_hyper_hello_world() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.set_nonblocking(true).expect("a non-blocking listener");
    let base = format!("http://{}", listener.local_addr().expect("an address"));
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                tokio::spawn(async move {
                    let hello = service_fn(|_request| async {
                        let response = Response::builder()
                            .header("content-type", "application/json")
                            .body(Full::new(Bytes::from_static(HELLO_BODY)))
                            .expect("a valid response");
                        Ok::<_, Infallible>(response)
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), hello).await;
                });
            }
        });
    });
    base
}

/// The hello resource, through the real binary or the bare server at `base`.
fn hello(label: &str, base: &str) -> f64 {
    let url = format!("{base}/_synapse/client/demo/hello?name=x");
    drive(label, |agent, _, _| request(agent, "GET", &url, None, None))
}

/// (send, whoami) rates, and the server, for one module configuration.
fn scenario(name: &str, modules: &str) -> (f64, f64, Server) {
    println!("{name}:");
    let server = Server::start(&config_with_modules(modules));
    let tokens: Vec<String> = (0..THREADS).map(|n| server.register(&format!("load{n}")).1).collect();
    let room = server.create_room(&tokens[0], json!({ "preset": "public_chat" }));
    for token in &tokens[1..] {
        server.call("POST", &format!("/_matrix/client/v3/join/{}", enc(&room)), Some(token), None);
    }
    let send_base = format!("{}/_matrix/client/v3/rooms/{}/send/m.room.message", server.base, enc(&room));
    let body = json!({ "msgtype": "m.text", "body": "load" }).to_string();
    let send = drive("PUT /rooms/{id}/send (checks + durable write)", |agent, thread, n| {
        request(agent, "PUT", &format!("{send_base}/t{thread}n{n}"), Some(&tokens[thread]), Some(body.as_bytes()))
    });
    let whoami_url = format!("{}/_matrix/client/v3/account/whoami", server.base);
    let whoami = drive("GET /account/whoami (auth + is_user_expired)", |agent, thread, _| {
        request(agent, "GET", &whoami_url, Some(&tokens[thread]), None)
    });
    (send, whoami, server)
}

fn main() {
    if std::env::args().any(|arg| arg == "--list") {
        return;
    }
    println!("{THREADS} keep-alive client threads, at most {REQUESTS_PER_THREAD} requests each or {TIME_LIMIT:?}:");
    let (send_without, whoami_without, bare_mxmod) = scenario("mxmod, no modules", "  []\n");
    drop(bare_mxmod);
    let (send_with, whoami_with, server) =
        scenario("mxmod, demo + list_spam_checker + custom_presence_router", support::DEFAULT_MODULES);
    println!("module web resource against a bare hyper server:");
    let resource = hello("GET /_synapse/client/demo/hello (mxmod, demo module)", &server.base);
    drop(server);
    let bare = hello("GET /_synapse/client/demo/hello (bare hyper hello-world)", &bare_hyper_hello_world());
    println!("ratios (1.00 = no measurable cost):");
    println!("  send, with modules / without       {:.2}", send_with / send_without);
    println!("  whoami, with modules / without     {:.2}", whoami_with / whoami_without);
    println!("  module resource / bare hyper       {:.2}", resource / bare);
}
