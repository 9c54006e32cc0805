//! `cargo xtask bench-http`: the request hot path against its floor. Builds the release
//! `mxmod` and the workspace's `bare-hyper` server, starts `mxmod` on its default config
//! (a free loopback port, a fresh database) and two bare servers answering the exact bytes
//! of `demo`'s hello resource and of `/versions`, then runs `wrk` (one thread) in
//! alternating rounds at each connection count and prints the median ratios as a
//! Markdown table. Every wait and every `wrk` run is bounded in time.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use crate::{
    workspace::{self, Workspace},
    Error, Result,
};

/// The module resource the comparison is about, and what it answers.
const HELLO_PATH: &str = "/_synapse/client/demo/hello?name=x";
const HELLO_BODY: &str = r#"{"hello":"x"}"#;
/// The cheapest Matrix endpoint, whose body the second bare server repeats.
const VERSIONS_PATH: &str = "/_matrix/client/versions";
/// How long a server may take to answer its first request.
const START_LIMIT: Duration = Duration::from_secs(30);

/// Options of `cargo xtask bench-http`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Alternating rounds per connection count (the median is reported).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=9))]
    rounds: u32,
    /// Seconds per `wrk` run.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=30))]
    seconds: u32,
    /// Connection counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 16])]
    connections: Vec<u32>,
    /// Use the binaries already in the release target directory.
    #[arg(long)]
    no_build: bool,
    /// Measure this `mxmod` binary instead of the release build (an earlier commit's,
    /// to compare before and after).
    #[arg(long, value_name = "PATH")]
    mxmod: Option<PathBuf>,
}

/// One endpoint compared: the `mxmod` URL and the bare server answering the same bytes.
struct Pair {
    name: &'static str,
    mxmod: String,
    bare: String,
}

/// Requests per second and server CPU time per request (µs) of every round, per (pair,
/// connections).
struct Row {
    name: &'static str,
    connections: u32,
    mxmod: Vec<f64>,
    bare: Vec<f64>,
    mxmod_cpu: Vec<f64>,
    bare_cpu: Vec<f64>,
}

/// Runs the benchmark.
pub(crate) fn run(workspace: &Workspace, args: &Args) -> Result<()> {
    ensure_wrk()?;
    if !args.no_build {
        workspace.build_release(&[("mxmod-app", "mxmod"), ("mxmod-tests", "bare-hyper")])?;
    }
    let release = workspace.target_dir().join("release");
    let scratch = std::env::temp_dir().join(format!("mxmod-bench-http-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).map_err(|e| Error::new(format!("cannot create {}: {e}", scratch.display())))?;
    let result = measure(&release, &scratch, args);
    let _ = std::fs::remove_dir_all(&scratch);
    let rows = result?;
    print_table(&rows, args);
    Ok(())
}

fn measure(release: &Path, scratch: &Path, args: &Args) -> Result<Vec<Row>> {
    let binary = args.mxmod.clone().unwrap_or_else(|| release.join("mxmod"));
    let (mxmod, mxmod_base) = start_mxmod(&binary, scratch)?;
    let versions_body = get(&mxmod_base, VERSIONS_PATH)?;
    let hello_body = get(&mxmod_base, HELLO_PATH)?;
    if hello_body != HELLO_BODY {
        return Err(Error::new(format!("{HELLO_PATH} answered {hello_body:?}, not {HELLO_BODY:?}")));
    }
    let (bare_hello, bare_hello_base) = start_bare(&release.join("bare-hyper"), HELLO_BODY)?;
    let (bare_versions, bare_versions_base) = start_bare(&release.join("bare-hyper"), &versions_body)?;
    if get(&bare_versions_base, VERSIONS_PATH)? != versions_body {
        return Err(Error::new("the bare server does not repeat the /versions body"));
    }
    eprintln!("/versions body: {} bytes; hello body: {} bytes", versions_body.len(), hello_body.len());
    let pairs = [
        Pair {
            name: "GET /_synapse/client/demo/hello (module resource)",
            mxmod: format!("{mxmod_base}{HELLO_PATH}"),
            bare: format!("{bare_hello_base}{HELLO_PATH}"),
        },
        Pair {
            name: "GET /_matrix/client/versions",
            mxmod: format!("{mxmod_base}{VERSIONS_PATH}"),
            bare: format!("{bare_versions_base}{VERSIONS_PATH}"),
        },
    ];
    let mut rows: Vec<Row> = Vec::new();
    for pair in &pairs {
        for &connections in &args.connections {
            rows.push(Row {
                name: pair.name,
                connections,
                mxmod: Vec::new(),
                bare: Vec::new(),
                mxmod_cpu: Vec::new(),
                bare_cpu: Vec::new(),
            });
        }
    }
    for round in 0..args.rounds {
        for (p, pair) in pairs.iter().enumerate() {
            for (c, &connections) in args.connections.iter().enumerate() {
                let row = &mut rows[p * args.connections.len() + c];
                // Alternate which server goes first, so drift in the machine's load
                // does not always favour the same side.
                let mxmod_first = (round + c as u32).is_multiple_of(2);
                for mxmod_turn in [mxmod_first, !mxmod_first] {
                    let (url, server) = match (mxmod_turn, p) {
                        (true, _) => (&pair.mxmod, &mxmod),
                        (false, 0) => (&pair.bare, &bare_hello),
                        (false, _) => (&pair.bare, &bare_versions),
                    };
                    let cpu_before = cpu_seconds(server.0.id());
                    let run = wrk(url, connections, args.seconds)?;
                    let cpu = (cpu_seconds(server.0.id()) - cpu_before) / run.requests * 1e6;
                    eprintln!(
                        "round {} {:>2} conns {:<6} {:<52} {:>9.0} req/s {cpu:>6.1} µs CPU/request",
                        round + 1,
                        connections,
                        if mxmod_turn { "mxmod" } else { "bare" },
                        pair.name,
                        run.rate
                    );
                    if mxmod_turn {
                        row.mxmod.push(run.rate);
                        row.mxmod_cpu.push(cpu);
                    } else {
                        row.bare.push(run.rate);
                        row.bare_cpu.push(cpu);
                    }
                }
            }
        }
    }
    drop((mxmod, bare_hello, bare_versions));
    Ok(rows)
}

/// The Markdown table: median rates, per-round ratios, median ratio.
fn print_table(rows: &[Row], args: &Args) {
    println!("wrk -t1, {} alternating rounds of {} s per server and connection count", args.rounds, args.seconds);
    println!();
    println!(
        "| request | conns | mxmod (median) | bare hyper (median) | ratio per round | median ratio | \
         server CPU µs/request, mxmod / bare (median) | CPU ratio bare/mxmod |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for row in rows {
        let ratios: Vec<f64> = row.mxmod.iter().zip(&row.bare).map(|(m, b)| m / b).collect();
        let shown: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
        let cpu_ratios: Vec<f64> = row.bare_cpu.iter().zip(&row.mxmod_cpu).map(|(b, m)| b / m).collect();
        println!(
            "| `{}` | {} | {:.0}/s | {:.0}/s | {} | **{:.2}** | {:.1} / {:.1} | {:.2} |",
            row.name,
            row.connections,
            median(&row.mxmod),
            median(&row.bare),
            shown.join(", "),
            median(&ratios),
            median(&row.mxmod_cpu),
            median(&row.bare_cpu),
            median(&cpu_ratios)
        );
    }
}

/// The median (the mean of the middle two for an even count).
pub(crate) fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// A child process killed when dropped.
pub(crate) struct Running(pub(crate) Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `wrk` on `PATH`, installed with apt-get when missing.
pub(crate) fn ensure_wrk() -> Result<()> {
    if Command::new("wrk").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok() {
        return Ok(());
    }
    eprintln!("wrk is missing; installing it with apt-get");
    workspace::run(Command::new("apt-get").args(["install", "-y", "wrk"]))
        .map_err(|e| Error::new(format!("{e}; install wrk (`apt-get install wrk`) and run again")))
}

/// Starts `mxmod` on its default config with a free port and a fresh data directory.
fn start_mxmod(binary: &Path, scratch: &Path) -> Result<(Running, String)> {
    let output = Command::new(binary)
        .arg("generate-config")
        .output()
        .map_err(|e| Error::new(format!("cannot run {} generate-config: {e}", binary.display())))?;
    let default = String::from_utf8_lossy(&output.stdout).into_owned();
    let port = free_port()?;
    let data = scratch.join("mxmod-data");
    let config = replace_all(
        &default,
        &[("port: 8008", &format!("port: {port}")), ("./mxmod-data", &data.display().to_string())],
    )?;
    let config_path = scratch.join("homeserver.yaml");
    workspace::write(&config_path, &config)?;
    let log = std::fs::File::create(scratch.join("mxmod.log"))
        .map_err(|e| Error::new(format!("cannot create the log: {e}")))?;
    let child = Command::new(binary)
        .args(["run", "-c"])
        .arg(&config_path)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| Error::new(format!("cannot start {}: {e}", binary.display())))?;
    let running = Running(child);
    let base = format!("http://127.0.0.1:{port}");
    wait_until_serving(&base)?;
    Ok((running, base))
}

/// Every `from` must occur in `text`; each is replaced by its `to`.
fn replace_all(text: &str, replacements: &[(&str, &str)]) -> Result<String> {
    let mut out = text.to_owned();
    for (from, to) in replacements {
        if !out.contains(from) {
            return Err(Error::new(format!("the default config no longer contains `{from}`; update bench_http.rs")));
        }
        out = out.replace(from, to);
    }
    Ok(out)
}

/// Starts `bare-hyper` answering `body`; its base URL.
fn start_bare(binary: &Path, body: &str) -> Result<(Running, String)> {
    let child = Command::new(binary)
        .arg(body)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| Error::new(format!("cannot start {}: {e}", binary.display())))?;
    let mut running = Running(child);
    let stdout = running.0.stdout.take().ok_or_else(|| Error::new("bare-hyper has no stdout"))?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| Error::new(format!("cannot read bare-hyper's address: {e}")))?;
    let base = line.trim().to_owned();
    if !base.starts_with("http://127.0.0.1:") {
        return Err(Error::new(format!("bare-hyper printed {line:?}, not its address")));
    }
    wait_until_serving(&base)?;
    Ok((running, base))
}

pub(crate) fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| Error::new(format!("no free port: {e}")))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| Error::new(format!("no free port: {e}")))
}

pub(crate) fn wait_until_serving(base: &str) -> Result<()> {
    let started = Instant::now();
    loop {
        match get(base, VERSIONS_PATH) {
            Ok(_) => return Ok(()),
            Err(error) if started.elapsed() > START_LIMIT => {
                return Err(Error::new(format!("{base} did not answer within {START_LIMIT:?}: {error}")))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// One `GET` over a fresh connection; the body of a 200 answer.
fn get(base: &str, path: &str) -> Result<String> {
    let address: SocketAddr = base
        .trim_start_matches("http://")
        .parse()
        .map_err(|e| Error::new(format!("{base} is not http://IP:PORT: {e}")))?;
    let fail = |e: std::io::Error| Error::new(format!("GET {base}{path}: {e}"));
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2)).map_err(fail)?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).map_err(fail)?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").map_err(fail)?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).map_err(fail)?;
    let (head, body) =
        answer.split_once("\r\n\r\n").ok_or_else(|| Error::new(format!("GET {base}{path}: no header end")))?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(Error::new(format!("GET {base}{path}: {}", head.lines().next().unwrap_or_default())));
    }
    Ok(body.to_owned())
}

/// What one `wrk` run measured.
#[derive(Debug, PartialEq)]
struct WrkRun {
    /// Requests completed.
    requests: f64,
    /// Requests per second.
    rate: f64,
}

/// CPU time (user + system) a process has used so far, in seconds, from
/// `/proc/PID/stat`; 0 where that cannot be read. On a machine shared with other work
/// this is steadier than throughput: it is what each request cost the server.
pub(crate) fn cpu_seconds(pid: u32) -> f64 {
    // Linux reports these in clock ticks of 1/100 s (USER_HZ) on every architecture.
    const TICKS_PER_SECOND: f64 = 100.0;
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0.0 };
    // The command name (field 2) is parenthesised and may hold spaces; count after it.
    let Some((_, rest)) = stat.rsplit_once(')') else { return 0.0 };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15, so 11 and 12 after the name and state.
    let ticks = |n: usize| fields.get(n).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / TICKS_PER_SECOND
}

/// One `wrk` run. A run with socket errors or non-2xx answers fails.
fn wrk(url: &str, connections: u32, seconds: u32) -> Result<WrkRun> {
    let mut command = Command::new("wrk");
    command.args(["-t1", &format!("-c{connections}"), &format!("-d{seconds}s"), "--timeout", "2s", url]);
    let shown = workspace::show(&command);
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::new(format!("cannot start `{shown}`: {e}")))?;
    let mut running = Running(child);
    let limit = Duration::from_secs(u64::from(seconds) + 15);
    let started = Instant::now();
    loop {
        match running.0.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() > limit => return Err(Error::new(format!("`{shown}` ran over {limit:?}"))),
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(Error::new(format!("`{shown}`: {e}"))),
        }
    }
    let mut output = String::new();
    if let Some(mut stdout) = running.0.stdout.take() {
        let _ = stdout.read_to_string(&mut output);
    }
    parse_wrk(&output).map_err(|problem| Error::new(format!("`{shown}`: {problem}\n{output}")))
}

/// Requests and requests/sec from `wrk`'s report; an error if any request failed.
fn parse_wrk(output: &str) -> std::result::Result<WrkRun, String> {
    for bad in ["Socket errors", "Non-2xx or 3xx responses"] {
        if output.contains(bad) {
            return Err(format!("requests failed ({bad})"));
        }
    }
    let rate = output
        .lines()
        .find_map(|line| line.trim().strip_prefix("Requests/sec:"))
        .and_then(|rate| rate.trim().parse().ok())
        .ok_or_else(|| "no `Requests/sec:` line".to_owned())?;
    let requests = output
        .lines()
        .find_map(|line| line.trim().split_once(" requests in ").map(|(count, _)| count.trim().parse().ok()))
        .flatten()
        .filter(|&count: &f64| count > 0.0)
        .ok_or_else(|| "no `N requests in` line".to_owned())?;
    Ok(WrkRun { requests, rate })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_reports_are_read_and_failed_runs_refused() {
        let good = "Running 5s test @ http://127.0.0.1:1/\n  1 threads and 16 connections\n  \
                    150000 requests in 5.00s, 20.00MB read\nRequests/sec:  30123.45\nTransfer/sec:      4.00MB\n";
        assert_eq!(parse_wrk(good), Ok(WrkRun { requests: 150_000.0, rate: 30123.45 }));
        let failed = format!("{good}  Non-2xx or 3xx responses: 12\n");
        assert!(parse_wrk(&failed).unwrap_err().contains("Non-2xx"));
        assert!(parse_wrk("nothing").is_err());
    }

    #[test]
    fn the_cpu_time_of_a_busy_process_grows() {
        let (pid, started) = (std::process::id(), Instant::now());
        let before = cpu_seconds(pid);
        let mut spin = 0u64;
        while cpu_seconds(pid) <= before && started.elapsed() < Duration::from_secs(10) {
            spin = (0..100_000u64).fold(spin, |a, b| a.wrapping_add(b * b));
        }
        assert!(cpu_seconds(pid) > before, "{spin}");
        assert_eq!(cpu_seconds(u32::MAX), 0.0, "no such process");
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn config_edits_fail_loudly_when_the_default_changes() {
        assert_eq!(replace_all("port: 8008", &[("port: 8008", "port: 1")]).unwrap(), "port: 1");
        assert!(replace_all("port: 9", &[("port: 8008", "port: 1")]).is_err());
    }
}
