//! `cargo xtask bench-pg`: PostgreSQL against SQLite, and two processes on one
//! PostgreSQL database against one (issue 17). Builds the release `mxmod`, creates two
//! fresh PostgreSQL databases (dropped afterwards) and starts, each on a free loopback
//! port: one process on SQLite, one on the first database, two on the second. Then:
//!
//! - durable sends (`PUT /rooms/{id}/send/m.room.message/{txn}`, a unique transaction ID
//!   per request, from a `wrk` Lua script) at 16 connections for `--seconds`, in
//!   `--rounds` rounds whose order rotates, into one room and round-robin into as many
//!   rooms as connections (sends to one room are serialised by its row lock on
//!   PostgreSQL); the two-process case splits the connections between two `wrk`s, one per
//!   process, whose latency histograms are merged. Reported: sends/s, p50/p99, the
//!   servers' CPU per send, and the ratios PostgreSQL / SQLite and two processes / one
//!   per round;
//! - the cross-process wake-up: a `/sync` long-poll parked on B, a send on A, the time
//!   from the send's request to B's answer (`--samples` times);
//! - the cross-process invalidation: `account_validity`'s `#[cached]` expiry lookup,
//!   cached on B, changed through its admin resource on A (which invalidates the entry),
//!   the time from that request until B's `whoami` answers by the new expiry. First a
//!   control: a change written straight into the table (no invalidation) must not be seen
//!   by B, or B is not answering from its cache and nothing would be measured.
//!
//! `wrk` is installed with apt-get when missing. Every `wrk` run, wait and sample loop is
//! bounded in count and time.

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use serde_json::{json, Value};

use crate::{
    bench_http::{cpu_seconds, ensure_wrk, free_port, median, wait_until_serving, Running},
    workspace::{self, Workspace},
    Error, Result,
};

/// The `wrk` script, shared with `mxmod-app`'s sends bench.
#[path = "../../tests/benches/wrk_script.rs"]
mod wrk_script;
use wrk_script::wrk_script;

/// The `account_validity` admin secret of the bench config.
const ADMIN_SECRET: &str = "bench-admin-secret";
/// How long a parked `/sync` waits before it is asked to answer anyway (ms).
const SYNC_TIMEOUT_MS: u64 = 30_000;
/// How long the parked `/sync` is given to reach B before the send on A.
const PARK: Duration = Duration::from_millis(100);
/// The longest one sample may take before it counts as a failure.
const SAMPLE_LIMIT: Duration = Duration::from_secs(10);
/// How long B must keep answering from its cache after a write that bypasses it.
const CONTROL: Duration = Duration::from_secs(1);
/// The pause between two probes of B while waiting for an invalidation.
const POLL: Duration = Duration::from_millis(1);
/// The fsync probe stops after this many rounds or this long.
const FSYNC_ROUNDS: u32 = 20_000;
const FSYNC_TIME: Duration = Duration::from_secs(3);
/// How long to let earlier invalidations arrive before the control starts.
const SETTLE: Duration = Duration::from_secs(1);
/// The pause between invalidation samples (so no sample's notification is still on its
/// way when the next one's write lands).
const BETWEEN_SAMPLES: Duration = Duration::from_millis(20);

/// Options of `cargo xtask bench-pg`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Rounds of the send load (the order of the three setups rotates per round).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=9))]
    rounds: u32,
    /// Seconds per send load run.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=60))]
    seconds: u32,
    /// Connections of the send load (split in two for two processes).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(2..=256))]
    connections: u32,
    /// Samples of each cross-process latency.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(10..=5000))]
    samples: u32,
    /// The PostgreSQL server (a database is created on it and dropped afterwards); by
    /// default `MXMOD_TEST_POSTGRES_URL`, else `postgresql://postgres@127.0.0.1:5432/postgres`.
    #[arg(long, value_name = "URL")]
    postgres_url: Option<String>,
    /// Use the binary already in the release target directory.
    #[arg(long)]
    no_build: bool,
    /// Measure this `mxmod` binary instead of the release build.
    #[arg(long, value_name = "PATH")]
    mxmod: Option<PathBuf>,
}

/// Runs the benchmark.
pub(crate) fn run(workspace: &Workspace, args: &Args) -> Result<()> {
    ensure_wrk()?;
    if Command::new("psql").arg("--version").stdout(Stdio::null()).status().is_err() {
        return Err(Error::new(
            "`psql` is missing (it creates and drops the databases): apt-get install postgresql-client",
        ));
    }
    let url = args
        .postgres_url
        .clone()
        .or_else(|| std::env::var("MXMOD_TEST_POSTGRES_URL").ok())
        .unwrap_or_else(|| "postgresql://postgres@127.0.0.1:5432/postgres".to_owned());
    let server = PgUrl::parse(&url)?;
    if !args.no_build && args.mxmod.is_none() {
        workspace.build_release(&[("mxmod-app", "mxmod")])?;
    }
    let binary = args.mxmod.clone().unwrap_or_else(|| workspace.target_dir().join("release").join("mxmod"));
    let scratch = std::env::temp_dir().join(format!("mxmod-bench-pg-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).map_err(|e| Error::new(format!("cannot create {}: {e}", scratch.display())))?;
    let load_before = load_average();
    let report = measure(&binary, &server, &scratch, args);
    let load_after = load_average();
    match report {
        Ok(report) => {
            let _ = std::fs::remove_dir_all(&scratch);
            print_report(&report, args, &load_before, &load_after);
            Ok(())
        }
        Err(error) => Err(Error::new(format!("{error}\n(the servers' logs are in {})", scratch.display()))),
    }
}

/// The three setups the send load compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Setup {
    Sqlite,
    PgOne,
    PgTwo,
}

impl Setup {
    const ALL: [Setup; 3] = [Setup::Sqlite, Setup::PgOne, Setup::PgTwo];

    fn label(self) -> &'static str {
        match self {
            Setup::Sqlite => "SQLite, 1 process",
            Setup::PgOne => "PostgreSQL, 1 process",
            Setup::PgTwo => "PostgreSQL, 2 processes",
        }
    }
}

/// Where the sends go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    OneRoom,
    ManyRooms,
}

impl Shape {
    const ALL: [Shape; 2] = [Shape::OneRoom, Shape::ManyRooms];

    fn label(self, connections: u32) -> String {
        match self {
            Shape::OneRoom => "1 room".to_owned(),
            Shape::ManyRooms => format!("{connections} rooms"),
        }
    }
}

/// What one setup's send load measured in one round.
#[derive(Debug, Default)]
struct Round {
    /// Sends per second (summed over the `wrk`s).
    rate: f64,
    /// Sends answered 200.
    ok: u64,
    /// The servers' CPU time per send (ms).
    cpu_ms: f64,
    /// `wrk`'s latency distribution: µs → count.
    histogram: BTreeMap<u64, u64>,
}

/// Everything one run measured.
struct Report {
    /// Single-writer fsyncs per second on the scratch directory's disk.
    fsyncs: f64,
    /// Per round, per [`Shape`], per [`Setup`].
    rounds: Vec<[[Round; 3]; 2]>,
    /// (B's answer after the send's request, the send's own round trip), ms.
    wakeups: Vec<(f64, f64)>,
    /// Wake-up samples retried because the sync answered without the send.
    wakeup_retries: u32,
    /// (B's new answer after the admin request, the admin request's own round trip), ms.
    invalidations: Vec<(f64, f64)>,
    /// How many `whoami`s B answered from its cache during the control.
    control_probes: u32,
}

/// A running `mxmod` and its base URL.
struct Mxmod {
    process: Running,
    base: String,
}

/// One user and its rooms on a setup.
struct Target {
    token: String,
    rooms: Vec<String>,
}

fn measure(binary: &Path, server: &PgUrl, scratch: &Path, args: &Args) -> Result<Report> {
    let fsyncs = fsync_rate(scratch)?;
    let one_db = Database::create(server)?;
    let two_db = Database::create(server)?;
    let sqlite_yaml = format!(
        "database:\n  name: sqlite3\n  args:\n    database: {}\n",
        scratch.join("sqlite").join("homeserver.db").display()
    );
    let sqlite = start(binary, scratch, "sqlite", &sqlite_yaml, &scratch.join("sqlite"))?;
    let pg_one = start(binary, scratch, "pg-one", &one_db.yaml(), &scratch.join("pg-one"))?;
    // The two processes share their media directory, as the README asks.
    let pg_a = start(binary, scratch, "pg-a", &two_db.yaml(), &scratch.join("pg-two"))?;
    let pg_b = start(binary, scratch, "pg-b", &two_db.yaml(), &scratch.join("pg-two"))?;
    let rooms = args.connections as usize;
    let targets = [
        prepare(&sqlite.base, "loader", rooms)?,
        prepare(&pg_one.base, "loader", rooms)?,
        prepare(&pg_a.base, "loader", rooms)?,
    ];

    let mut rounds = Vec::new();
    for round in 0..args.rounds as usize {
        let mut results: [[Round; 3]; 2] = Default::default();
        for (s, shape) in Shape::ALL.into_iter().enumerate() {
            for offset in 0..3 {
                let index = (round + offset) % 3;
                let setup = Setup::ALL[index];
                let target = &targets[index];
                let rooms = match shape {
                    Shape::OneRoom => &target.rooms[..1],
                    Shape::ManyRooms => &target.rooms[..],
                };
                let label = format!("r{round}h{s}s{index}");
                let (servers, connections) = match setup {
                    Setup::Sqlite => (vec![&sqlite], args.connections),
                    Setup::PgOne => (vec![&pg_one], args.connections),
                    Setup::PgTwo => (vec![&pg_a, &pg_b], args.connections / 2),
                };
                let measured = send_load(&servers, &target.token, rooms, &label, connections, args, scratch)?;
                eprintln!(
                    "round {} {:<8} {:<24} {:>7.0} sends/s p50 {:>6.2} ms p99 {:>6.2} ms, {:.3} ms CPU/send",
                    round + 1,
                    shape.label(args.connections),
                    setup.label(),
                    measured.rate,
                    percentile(&measured.histogram, 50.0),
                    percentile(&measured.histogram, 99.0),
                    measured.cpu_ms
                );
                results[s][index] = measured;
            }
        }
        rounds.push(results);
    }

    let (wakeups, wakeup_retries) = wakeup_latencies(&pg_a.base, &pg_b.base, args.samples)?;
    let (invalidations, control_probes) = invalidation_latencies(&pg_a.base, &pg_b.base, &two_db, args.samples)?;
    drop((sqlite, pg_one, pg_a, pg_b));
    drop((one_db, two_db));
    Ok(Report { fsyncs, rounds, wakeups, wakeup_retries, invalidations, control_probes })
}

/// Rate limits far above the load (Synapse's defaults would refuse most sends).
const RAISED_LIMITS: &str = "rc_message: { per_second: 1000000, burst_count: 1000000 }
rc_registration: { per_second: 100000, burst_count: 1000000 }
rc_login:
  address: { per_second: 100000, burst_count: 1000000 }
  account: { per_second: 100000, burst_count: 1000000 }
  failed_attempts: { per_second: 100000, burst_count: 1000000 }
rc_joins:
  local: { per_second: 100000, burst_count: 1000000 }
";

/// Starts `mxmod` on `database_yaml` with the default config's three modules plus
/// `account_validity` (whose cache the invalidation latency is measured on), a free port
/// and its media under `data`; its log goes to `scratch/<name>.log`.
fn start(binary: &Path, scratch: &Path, name: &str, database_yaml: &str, data: &Path) -> Result<Mxmod> {
    std::fs::create_dir_all(data).map_err(|e| Error::new(format!("cannot create {}: {e}", data.display())))?;
    let port = free_port()?;
    let config = format!(
        "server_name: localhost
public_baseurl: http://127.0.0.1:{port}/
listeners:
  - port: {port}
    bind_addresses: ['127.0.0.1']
    type: http
{database_yaml}media_store_path: {media}
enable_registration: true
enable_metrics: true
{RAISED_LIMITS}modules:
  - module: demo
    config:
      denied_users: ['@evilguy:localhost']
  - module: list_spam_checker
    config:
      evil_users: ['@mallory:localhost']
  - module: custom_presence_router
    config:
      routes: {{}}
  - module: account_validity
    config:
      period: 6w
      renew_at: 1w
      admin_secret: {ADMIN_SECRET}
",
        media = data.join("media").display()
    );
    let config_path = scratch.join(format!("{name}.yaml"));
    workspace::write(&config_path, &config)?;
    let log = std::fs::File::create(scratch.join(format!("{name}.log")))
        .map_err(|e| Error::new(format!("cannot create the log: {e}")))?;
    let child = Command::new(binary)
        .args(["run", "-c"])
        .arg(&config_path)
        .env("MXMOD_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| Error::new(format!("cannot start {}: {e}", binary.display())))?;
    let process = Running(child);
    let base = format!("http://127.0.0.1:{port}");
    wait_until_serving(&base)?;
    Ok(Mxmod { process, base })
}

/// Registers `user` and creates `rooms` public rooms on `base`.
fn prepare(base: &str, user: &str, rooms: usize) -> Result<Target> {
    let mut client = Client::connect(base)?;
    let token = register(&mut client, user)?;
    let mut created = Vec::new();
    for _ in 0..rooms {
        let body = json!({ "preset": "public_chat" });
        let room = client.expect_ok("POST", "/_matrix/client/v3/createRoom", Some(&token), &body)?;
        created.push(
            room["room_id"].as_str().ok_or_else(|| Error::new(format!("createRoom answered {room}")))?.to_owned(),
        );
    }
    Ok(Target { token, rooms: created })
}

/// Registers `user`; its access token.
fn register(client: &mut Client, user: &str) -> Result<String> {
    let body = json!({ "username": user, "password": "bench-password", "auth": { "type": "m.login.dummy" } });
    let answer = client.expect_ok("POST", "/_matrix/client/v3/register", None, &body)?;
    answer["access_token"].as_str().map(str::to_owned).ok_or_else(|| Error::new(format!("register answered {answer}")))
}

/// One send load: a `wrk` with `connections` connections against each server at once,
/// round-robin over `rooms`.
fn send_load(
    servers: &[&Mxmod],
    token: &str,
    rooms: &[String],
    label: &str,
    connections: u32,
    args: &Args,
    scratch: &Path,
) -> Result<Round> {
    let cpu_before: f64 = servers.iter().map(|s| cpu_seconds(s.process.0.id())).sum();
    let mut runs = Vec::new();
    for (n, server) in servers.iter().enumerate() {
        let paths: Vec<String> = rooms
            .iter()
            .map(|room| format!("/_matrix/client/v3/rooms/{}/send/m.room.message/{label}p{n}-", percent_encode(room)))
            .collect();
        let script = scratch.join(format!("{label}p{n}.lua"));
        let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
        let body = r#"{"msgtype":"m.text","body":"bench"}"#;
        workspace::write(&script, &wrk_script(&paths, true, "PUT", Some(body), token))?;
        let mut command = Command::new("wrk");
        command
            .args(["-t1", &format!("-c{connections}"), &format!("-d{}s", args.seconds), "--timeout", "5s", "-s"])
            .arg(&script)
            .arg(&server.base);
        let shown = workspace::show(&command);
        let child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Error::new(format!("cannot start `{shown}`: {e}")))?;
        runs.push((Running(child), shown));
    }
    let limit = Duration::from_secs(u64::from(args.seconds) + 20);
    let mut round = Round::default();
    for (running, shown) in runs {
        let result = finish_wrk(running, &shown, limit)?;
        if result.other > 0 {
            return Err(Error::new(format!("`{shown}`: {} sends were not answered 200", result.other)));
        }
        round.rate += result.ok as f64 / result.seconds;
        round.ok += result.ok;
        for (latency, count) in result.histogram {
            *round.histogram.entry(latency).or_default() += count;
        }
    }
    let cpu_after: f64 = servers.iter().map(|s| cpu_seconds(s.process.0.id())).sum();
    round.cpu_ms = (cpu_after - cpu_before) * 1e3 / round.ok.max(1) as f64;
    Ok(round)
}

/// What one `wrk` run of the send script reported.
#[derive(Debug, PartialEq)]
struct WrkSends {
    ok: u64,
    other: u64,
    seconds: f64,
    histogram: BTreeMap<u64, u64>,
}

/// Waits (at most `limit`) for a `wrk` run and reads its report.
fn finish_wrk(mut running: Running, shown: &str, limit: Duration) -> Result<WrkSends> {
    let started = Instant::now();
    let mut stdout = running.0.stdout.take().ok_or_else(|| Error::new("wrk has no stdout"))?;
    // Read while waiting, so a long histogram cannot fill the pipe and stall `wrk`.
    let reader = std::thread::spawn(move || {
        let mut output = String::new();
        let _ = stdout.read_to_string(&mut output);
        output
    });
    loop {
        match running.0.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() > limit => return Err(Error::new(format!("`{shown}` ran over {limit:?}"))),
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(Error::new(format!("`{shown}`: {e}"))),
        }
    }
    let output = reader.join().map_err(|_| Error::new("the wrk reader panicked"))?;
    parse_wrk_sends(&output).map_err(|problem| Error::new(format!("`{shown}`: {problem}\n{output}")))
}

fn parse_wrk_sends(output: &str) -> std::result::Result<WrkSends, String> {
    let line = output.lines().find(|line| line.starts_with("RESULT ")).ok_or("no RESULT line")?;
    let field = |name: &str| -> std::result::Result<u64, String> {
        line.split_whitespace()
            .find_map(|part| part.strip_prefix(name)?.strip_prefix('='))
            .and_then(|value| value.parse().ok())
            .ok_or_else(|| format!("no {name} in {line}"))
    };
    let mut histogram = BTreeMap::new();
    for entry in output.lines().filter_map(|line| line.strip_prefix("LATENCY ")) {
        let mut parts = entry.split_whitespace().map(str::parse::<u64>);
        match (parts.next(), parts.next()) {
            (Some(Ok(value)), Some(Ok(count))) => *histogram.entry(value).or_default() += count,
            _ => return Err(format!("bad latency line {entry:?}")),
        }
    }
    if histogram.is_empty() {
        return Err("no latencies".to_owned());
    }
    let seconds = field("duration_us")? as f64 / 1e6;
    Ok(WrkSends { ok: field("ok")?, other: field("other")?, seconds, histogram })
}

/// The `p`th percentile (ms) of a µs histogram: the smallest latency at or below which
/// `p` % of the requests are.
fn percentile(histogram: &BTreeMap<u64, u64>, p: f64) -> f64 {
    let total: u64 = histogram.values().sum();
    let wanted = (p / 100.0 * total as f64).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (&value, &count) in histogram {
        seen += count;
        if seen >= wanted {
            return value as f64 / 1e3;
        }
    }
    f64::NAN
}

/// The `p`th percentile of samples (nearest rank).
fn sample_percentile(samples: &[f64], p: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0 * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// A `/sync` on B's own connection, answered on a channel: (when it answered, status, body).
type SyncAnswer = Result<(Instant, u16, String)>;

/// `samples` wake-ups: a `/sync` parked on B, a send on A, the time from the send's
/// request until B answers (and the send's own round trip). A sync that answers without
/// the send (something else woke it) is retried, at most `samples` times in all.
fn wakeup_latencies(a: &str, b: &str, samples: u32) -> Result<(Vec<(f64, f64)>, u32)> {
    let target = prepare(a, "waker", 1)?;
    let room = &target.rooms[0];
    let mut on_a = Client::connect(a)?;
    let mut on_b = Client::connect(b)?;
    let first = on_b.expect_ok_get("/_matrix/client/v3/sync?timeout=0", &target.token)?;
    let mut since = next_batch(&first)?;
    let (ask, asked) = mpsc::channel::<String>();
    let (answer, answers) = mpsc::channel::<SyncAnswer>();
    let token = target.token.clone();
    let syncer = std::thread::spawn(move || {
        for since in asked {
            let path = format!("/_matrix/client/v3/sync?since={since}&timeout={SYNC_TIMEOUT_MS}");
            let answered = on_b.request("GET", &path, Some(&token), None).map(|(s, body)| (Instant::now(), s, body));
            if answer.send(answered).is_err() {
                return;
            }
        }
    });
    let mut measured = Vec::new();
    let mut retries = 0;
    let started = Instant::now();
    let time_limit = SAMPLE_LIMIT + Duration::from_secs(u64::from(samples));
    while measured.len() < samples as usize {
        if started.elapsed() > time_limit || retries > samples {
            return Err(Error::new(format!(
                "wake-up samples: {} in {:?}, {retries} retries",
                measured.len(),
                time_limit
            )));
        }
        ask.send(since.clone()).map_err(|_| Error::new("the sync thread stopped"))?;
        std::thread::sleep(PARK);
        let marker = format!("wake-{}-{retries}", measured.len());
        let path = format!("/_matrix/client/v3/rooms/{}/send/m.room.message/{marker}", percent_encode(room));
        let sent_at = Instant::now();
        on_a.expect_ok("PUT", &path, Some(&target.token), &json!({ "msgtype": "m.text", "body": marker }))?;
        let send_ms = sent_at.elapsed().as_secs_f64() * 1e3;
        let (answered_at, status, body) = answers
            .recv_timeout(Duration::from_millis(SYNC_TIMEOUT_MS) + SAMPLE_LIMIT)
            .map_err(|_| Error::new("the parked sync did not answer"))??;
        if status != 200 {
            return Err(Error::new(format!("the parked sync answered {status}: {body}")));
        }
        let sync: Value = serde_json::from_str(&body).map_err(|e| Error::new(format!("sync answer: {e}")))?;
        since = next_batch(&sync)?;
        let timeline = &sync["rooms"]["join"][room]["timeline"]["events"];
        let woken_by_the_send =
            timeline.as_array().is_some_and(|events| events.iter().any(|e| e["content"]["body"] == marker.as_str()));
        if woken_by_the_send {
            measured.push(((answered_at - sent_at).as_secs_f64() * 1e3, send_ms));
        } else {
            retries += 1;
        }
    }
    drop(ask);
    let _ = syncer.join();
    Ok((measured, retries))
}

fn next_batch(sync: &Value) -> Result<String> {
    sync["next_batch"].as_str().map(str::to_owned).ok_or_else(|| Error::new(format!("sync answered {sync}")))
}

/// `samples` invalidations: B caches a user's expiry, A's admin resource changes it
/// (alternately to the past and to tomorrow), and B's `whoami` is polled until it answers
/// by the new expiry. The time is from A's request; A's own round trip beside it. First
/// the control (see the file's doc); answers how many probes it made.
fn invalidation_latencies(a: &str, b: &str, database: &Database, samples: u32) -> Result<(Vec<(f64, f64)>, u32)> {
    let mut on_a = Client::connect(a)?;
    let mut on_b = Client::connect(b)?;
    let token = register(&mut on_a, "cached")?;
    let user = "@cached:localhost";
    let tomorrow = || {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
        i64::try_from(now).unwrap_or(i64::MAX - 86_400_000) + 86_400_000
    };
    let mut set_expiry = |expiration_ts: i64| -> Result<f64> {
        let started = Instant::now();
        let body = json!({ "user_id": user, "expiration_ts": expiration_ts });
        on_a.expect_ok("POST", "/_synapse/client/account_validity/admin", Some(ADMIN_SECRET), &body)?;
        Ok(started.elapsed().as_secs_f64() * 1e3)
    };
    set_expiry(tomorrow())?;
    // Let the invalidations of the registration and of that write reach B first: one
    // arriving after B cached the entry would drop it and spoil the control.
    std::thread::sleep(SETTLE);
    let whoami = |client: &mut Client| -> Result<u16> {
        client.request("GET", "/_matrix/client/v3/account/whoami", Some(&token), None).map(|(status, _)| status)
    };
    if whoami(&mut on_b)? != 200 {
        return Err(Error::new("B refuses a user whose expiry is tomorrow"));
    }
    // The control: expire the user in the table itself, behind every cache's back.
    database.execute(&format!(
        "UPDATE mod_account_validity__email_account_validity SET expiration_ts_ms = 1 WHERE user_id = '{user}'"
    ))?;
    let control_started = Instant::now();
    let mut control_probes = 0;
    while control_started.elapsed() < CONTROL {
        let status = whoami(&mut on_b)?;
        control_probes += 1;
        if status != 200 {
            return Err(Error::new(format!(
                "B answered {status} after a write that invalidated nothing: it does not answer from its cache, \
                 so the invalidation latency would not be measured"
            )));
        }
    }
    let mut measured = Vec::new();
    for sample in 0..samples {
        // Every sample flips B's answer: after the control, B's cache says tomorrow and the
        // table says expired.
        let (expiration_ts, wanted) = if sample % 2 == 0 { (1, 403) } else { (tomorrow(), 200) };
        let requested_at = Instant::now();
        let admin_ms = set_expiry(expiration_ts)?;
        loop {
            if whoami(&mut on_b)? == wanted {
                break;
            }
            // A probe every millisecond or so: finer polling would mostly take CPU from B.
            std::thread::sleep(POLL);
            if requested_at.elapsed() > SAMPLE_LIMIT {
                return Err(Error::new(format!("B did not answer {wanted} within {SAMPLE_LIMIT:?} of A's change")));
            }
        }
        measured.push((requested_at.elapsed().as_secs_f64() * 1e3, admin_ms));
        std::thread::sleep(BETWEEN_SAMPLES);
    }
    Ok((measured, control_probes))
}

/// Prints the report as Markdown.
fn print_report(report: &Report, args: &Args, load_before: &str, load_after: &str) {
    println!(
        "Send load: `wrk -t1`, {} connections ({} per process with two), {} rounds of {} s per setup, \
         rotating order. Load average (1, 5, 15 min) before: {load_before}; after: {load_after}. \
         This disk: {:.0} single-writer fsyncs/s (4 KiB append + fdatasync).",
        args.connections,
        args.connections / 2,
        args.rounds,
        args.seconds,
        report.fsyncs
    );
    println!();
    println!("| sends into | setup | sends/s per round | median sends/s | p50 | p99 | mxmod CPU per send (median) |");
    println!("|---|---|---|---|---|---|---|");
    for (s, shape) in Shape::ALL.into_iter().enumerate() {
        for (index, setup) in Setup::ALL.iter().enumerate() {
            let rates: Vec<f64> = report.rounds.iter().map(|round| round[s][index].rate).collect();
            let mut histogram = BTreeMap::new();
            for round in &report.rounds {
                for (&value, &count) in &round[s][index].histogram {
                    *histogram.entry(value).or_default() += count;
                }
            }
            let cpu: Vec<f64> = report.rounds.iter().map(|round| round[s][index].cpu_ms).collect();
            let shown: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
            println!(
                "| {} | {} | {} | {:.0} | {:.2} ms | {:.2} ms | {:.3} ms |",
                shape.label(args.connections),
                setup.label(),
                shown.join(", "),
                median(&rates),
                percentile(&histogram, 50.0),
                percentile(&histogram, 99.0),
                median(&cpu)
            );
        }
    }
    println!();
    println!("| sends into | ratio (sends/s, same round) | per round | median |");
    println!("|---|---|---|---|");
    for (s, shape) in Shape::ALL.into_iter().enumerate() {
        for (name, over, under) in
            [("PostgreSQL 1 process / SQLite", 1, 0), ("PostgreSQL 2 processes / 1 process", 2, 1)]
        {
            let ratios: Vec<f64> =
                report.rounds.iter().map(|round| round[s][over].rate / round[s][under].rate).collect();
            let shown: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
            println!(
                "| {} | {name} | {} | **{:.2}** |",
                shape.label(args.connections),
                shown.join(", "),
                median(&ratios)
            );
        }
    }
    println!();
    println!("| across processes | samples | p50 | p99 | max | A's own answer p50 / p99 |");
    println!("|---|---|---|---|---|---|");
    for (name, samples) in [
        ("wake-up: send on A → parked `/sync` on B answers", &report.wakeups),
        ("invalidation: `account_validity` admin write on A → B's cached expiry replaced", &report.invalidations),
    ] {
        let latency: Vec<f64> = samples.iter().map(|s| s.0).collect();
        let own: Vec<f64> = samples.iter().map(|s| s.1).collect();
        println!(
            "| {name} | {} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} / {:.2} ms |",
            samples.len(),
            sample_percentile(&latency, 50.0),
            sample_percentile(&latency, 99.0),
            sample_percentile(&latency, 100.0),
            sample_percentile(&own, 50.0),
            sample_percentile(&own, 99.0)
        );
    }
    println!();
    println!(
        "Wake-up samples retried because the sync answered without the send: {}. Invalidation: B probed once \
         every {POLL:?} plus a round trip, from A's answer on; control: B answered 200 from its cache to all {} \
         `whoami`s in the {CONTROL:?} after the table was changed without an invalidation.",
        report.wakeup_retries, report.control_probes
    );
}

/// Single-writer fsyncs per second on the disk holding `dir`: append 4 KiB, `fdatasync`.
fn fsync_rate(dir: &Path) -> Result<f64> {
    let path = dir.join("fsync-probe");
    let fail = |e: std::io::Error| Error::new(format!("the fsync probe {}: {e}", path.display()));
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path).map_err(fail)?;
    let block = [0x5a_u8; 4096];
    let started = Instant::now();
    let mut rounds = 0;
    while rounds < FSYNC_ROUNDS && started.elapsed() < FSYNC_TIME {
        file.write_all(&block).and_then(|()| file.sync_data()).map_err(fail)?;
        rounds += 1;
    }
    let rate = f64::from(rounds) / started.elapsed().as_secs_f64();
    drop(file);
    let _ = std::fs::remove_file(&path);
    Ok(rate)
}

/// `/proc/loadavg`'s three averages.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| text.split_whitespace().take(3).collect::<Vec<_>>().join(", "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// Percent-encodes a path segment (room IDs).
fn percent_encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A `postgresql://user[:password]@host[:port]/dbname` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
struct PgUrl {
    user: String,
    password: Option<String>,
    host: String,
    port: u16,
    dbname: String,
}

impl PgUrl {
    fn parse(url: &str) -> Result<Self> {
        let bad = || Error::new(format!("not a postgresql://user[:password]@host[:port]/dbname URL: {url}"));
        let rest = url.strip_prefix("postgresql://").or_else(|| url.strip_prefix("postgres://")).ok_or_else(bad)?;
        let (authority, dbname) = rest.split_once('/').ok_or_else(bad)?;
        let (credentials, address) = authority.rsplit_once('@').ok_or_else(bad)?;
        let (user, password) = match credentials.split_once(':') {
            Some((user, password)) => (user, Some(password.to_owned())),
            None => (credentials, None),
        };
        let (host, port) = match address.rsplit_once(':') {
            Some((host, port)) => (host, port.parse().map_err(|_| bad())?),
            None => (address, 5432),
        };
        let dbname = dbname.split('?').next().unwrap_or_default();
        if user.is_empty() || host.is_empty() || dbname.is_empty() {
            return Err(bad());
        }
        Ok(Self { user: user.to_owned(), password, host: host.to_owned(), port, dbname: dbname.to_owned() })
    }

    /// The URL of database `dbname` on the same server.
    fn with_dbname(&self, dbname: &str) -> String {
        let password = self.password.as_deref().map(|p| format!(":{p}")).unwrap_or_default();
        format!("postgresql://{}{password}@{}:{}/{dbname}", self.user, self.host, self.port)
    }
}

/// Runs `sql` with `psql` on `url`.
fn psql(url: &str, sql: &str) -> Result<()> {
    let output = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1"])
        .arg(url)
        .args(["-c", sql])
        .output()
        .map_err(|e| Error::new(format!("cannot run psql: {e}")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(Error::new(format!("psql `{sql}`: {}", String::from_utf8_lossy(&output.stderr).trim())))
    }
}

/// A fresh database, dropped (with its connections) when this guard drops.
struct Database {
    server: PgUrl,
    name: String,
}

impl Database {
    fn create(server: &PgUrl) -> Result<Self> {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let name = format!("mxmod_bench_{}_{nanos}", std::process::id());
        psql(&server.with_dbname(&server.dbname), &format!("CREATE DATABASE {name}"))?;
        Ok(Self { server: server.clone(), name })
    }

    /// The `database:` section of a `homeserver.yaml` on this database.
    fn yaml(&self) -> String {
        let s = &self.server;
        let password = s.password.as_deref().map(|p| format!(", password: \"{p}\"")).unwrap_or_default();
        format!(
            "database:\n  name: psycopg2\n  args: {{user: \"{}\"{password}, dbname: \"{}\", host: \"{}\", port: {}}}\n",
            s.user, self.name, s.host, s.port
        )
    }

    /// Runs `sql` on this database.
    fn execute(&self, sql: &str) -> Result<()> {
        psql(&self.server.with_dbname(&self.name), sql)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(error) = psql(&self.server.with_dbname(&self.server.dbname), &sql) {
            eprintln!("cannot drop the bench database {}: {error}", self.name);
        }
    }
}

/// A keep-alive HTTP/1.1 connection (answers with `content-length` or chunked bodies).
struct Client {
    address: SocketAddr,
    reader: BufReader<TcpStream>,
}

impl Client {
    fn connect(base: &str) -> Result<Self> {
        let address: SocketAddr = base
            .trim_start_matches("http://")
            .parse()
            .map_err(|e| Error::new(format!("{base} is not http://IP:PORT: {e}")))?;
        let stream = TcpStream::connect_timeout(&address, Duration::from_secs(2))
            .map_err(|e| Error::new(format!("cannot connect to {base}: {e}")))?;
        stream
            .set_read_timeout(Some(Duration::from_millis(SYNC_TIMEOUT_MS) + SAMPLE_LIMIT))
            .and_then(|()| stream.set_nodelay(true))
            .map_err(|e| Error::new(format!("{base}: {e}")))?;
        Ok(Self { address, reader: BufReader::new(stream) })
    }

    /// One request; (status, body).
    fn request(&mut self, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> Result<(u16, String)> {
        let fail = |e: std::io::Error| Error::new(format!("{method} {path}: {e}"));
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.address);
        if let Some(token) = token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        let body = body.unwrap_or_default();
        head.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()));
        self.reader.get_mut().write_all(head.as_bytes()).map_err(fail)?;
        let mut line = String::new();
        self.reader.read_line(&mut line).map_err(fail)?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| Error::new(format!("{method} {path}: bad status line {line:?}")))?;
        let (mut length, mut chunked) = (0usize, false);
        loop {
            line.clear();
            self.reader.read_line(&mut line).map_err(fail)?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    chunked = value.trim().eq_ignore_ascii_case("chunked");
                }
            }
        }
        let mut bytes = Vec::new();
        if chunked {
            loop {
                line.clear();
                self.reader.read_line(&mut line).map_err(fail)?;
                let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or_default(), 16)
                    .map_err(|_| Error::new(format!("{method} {path}: bad chunk size {line:?}")))?;
                let mut chunk = vec![0; size + 2];
                self.reader.read_exact(&mut chunk).map_err(fail)?;
                if size == 0 {
                    break;
                }
                bytes.extend_from_slice(&chunk[..size]);
            }
        } else {
            bytes.resize(length, 0);
            self.reader.read_exact(&mut bytes).map_err(fail)?;
        }
        Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// A request that must answer 200; its JSON body.
    fn expect_ok(&mut self, method: &str, path: &str, token: Option<&str>, body: &Value) -> Result<Value> {
        let (status, answer) = self.request(method, path, token, Some(&body.to_string()))?;
        if status != 200 {
            return Err(Error::new(format!("{method} {path} answered {status}: {answer}")));
        }
        serde_json::from_str(&answer).map_err(|e| Error::new(format!("{method} {path}: {e}: {answer}")))
    }

    /// A `GET` that must answer 200; its JSON body.
    fn expect_ok_get(&mut self, path: &str, token: &str) -> Result<Value> {
        let (status, answer) = self.request("GET", path, Some(token), None)?;
        if status != 200 {
            return Err(Error::new(format!("GET {path} answered {status}: {answer}")));
        }
        serde_json::from_str(&answer).map_err(|e| Error::new(format!("GET {path}: {e}: {answer}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_send_reports_are_read_and_histograms_merged() {
        let output = "Running 10s test\nRESULT ok=5 other=0 duration_us=2000000\nLATENCY 100 3\nLATENCY 900 2\n";
        let run = parse_wrk_sends(output).unwrap();
        assert_eq!((run.ok, run.other, run.seconds), (5, 0, 2.0));
        assert_eq!(run.histogram, BTreeMap::from([(100, 3), (900, 2)]));
        assert!(parse_wrk_sends("RESULT ok=5 other=0 duration_us=1\n").is_err(), "no latencies");
        assert!(parse_wrk_sends("LATENCY 1 1\n").is_err(), "no RESULT");
    }

    #[test]
    fn percentiles_of_histograms_and_samples() {
        let histogram = BTreeMap::from([(1_000, 50), (2_000, 49), (9_000, 1)]);
        assert_eq!(percentile(&histogram, 50.0), 1.0);
        assert_eq!(percentile(&histogram, 99.0), 2.0);
        assert_eq!(percentile(&histogram, 100.0), 9.0);
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(sample_percentile(&samples, 50.0), 50.0);
        assert_eq!(sample_percentile(&samples, 99.0), 99.0);
        assert_eq!(sample_percentile(&[3.0], 99.0), 3.0);
    }

    #[test]
    fn postgres_urls_are_parsed_and_rewritten() {
        let url = PgUrl::parse("postgresql://postgres@127.0.0.1:5432/test").unwrap();
        assert_eq!(
            (url.user.as_str(), url.host.as_str(), url.port, url.dbname.as_str()),
            ("postgres", "127.0.0.1", 5432, "test")
        );
        assert_eq!(url.with_dbname("other"), "postgresql://postgres@127.0.0.1:5432/other");
        let with_password = PgUrl::parse("postgres://u:pw@db/x?sslmode=disable").unwrap();
        assert_eq!(
            (with_password.password.as_deref(), with_password.port, with_password.dbname.as_str()),
            (Some("pw"), 5432, "x")
        );
        assert!(PgUrl::parse("mysql://u@h/x").is_err());
        assert!(PgUrl::parse("postgresql://h/x").is_err());
    }

    #[test]
    fn room_ids_are_percent_encoded() {
        assert_eq!(percent_encode("!abc:localhost"), "%21abc%3Alocalhost");
    }
}
