//! The black-box harness (shared by `tests/it`, `tests/benches/load.rs` and
//! `app/benches/sends.rs`, each naming its binaries as `crate::STOCK_BINARY` and
//! `crate::POLICY_BINARY`): starts the real `mxmod` binary on a free loopback
//! port with a temporary data directory and a config of the test's choosing, and talks
//! HTTP to it.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{json, Value};

/// The `mxmod` binary with its default modules, from this test's own build (in its profile:
/// debug for tests, release for the load benchmarks).
pub(crate) fn binary() -> &'static Path {
    Path::new(crate::STOCK_BINARY)
}

/// The workspace root.
pub(crate) fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is inside the workspace").to_path_buf()
}

/// Rate limits far above anything a test or the load benchmark does; only the
/// rate-limit tests run with Synapse's defaults ([`config_with_synapse_limits`]).
const RAISED_LIMITS: &str = "rc_message: { per_second: 100000, burst_count: 1000000 }
rc_registration: { per_second: 100000, burst_count: 1000000 }
rc_login:
  address: { per_second: 100000, burst_count: 1000000 }
  account: { per_second: 100000, burst_count: 1000000 }
  failed_attempts: { per_second: 100000, burst_count: 1000000 }
rc_joins:
  local: { per_second: 100000, burst_count: 1000000 }
rc_invites:
  per_room: { per_second: 100000, burst_count: 1000000 }
  per_user: { per_second: 100000, burst_count: 1000000 }
  per_issuer: { per_second: 100000, burst_count: 1000000 }
rc_media_create: { per_second: 100000, burst_count: 1000000 }
";

/// A config with the given `modules:` section (YAML, indented as a top-level key's value).
pub(crate) fn config_with_modules(modules_yaml: &str) -> String {
    format!("{RAISED_LIMITS}{}", config_with_synapse_limits(modules_yaml))
}

/// Like [`config_with_modules`], with Synapse's default rate limits.
pub(crate) fn config_with_synapse_limits(modules_yaml: &str) -> String {
    format!(
        "server_name: test.local
public_baseurl: http://127.0.0.1/
listeners:
  - port: 0
    bind_addresses: ['127.0.0.1']
    type: http
database:
  name: sqlite3
  args:
    database: DATA/homeserver.db
media_store_path: DATA/media
max_upload_size: 64K
enable_registration: true
enable_metrics: true
limits:
  shadow_ban_delay_ms: [10, 50]
modules:
{modules_yaml}"
    )
}

/// A fresh PostgreSQL database for one test (dropped with the guard); `None` with a
/// printed note when `MXMOD_TEST_POSTGRES_URL` is not set.
pub(crate) fn fresh_postgres() -> Option<mxmod_app::storage::postgres::test_database::TestDatabase> {
    mxmod_app::storage::postgres::test_database::TestDatabase::create()
}

/// Like [`config_with_modules`], on a PostgreSQL database (`database:` from
/// `TestDatabase::homeserver_yaml`) instead of SQLite.
pub(crate) fn config_on_postgres(database_yaml: &str, modules_yaml: &str) -> String {
    on_postgres(&config_with_modules(modules_yaml), database_yaml)
}

/// `config` (made from [`config_with_modules`]) with its SQLite `database:` section
/// replaced by `database_yaml` (from `TestDatabase::homeserver_yaml`).
pub(crate) fn on_postgres(config: &str, database_yaml: &str) -> String {
    let sqlite = "database:\n  name: sqlite3\n  args:\n    database: DATA/homeserver.db\n";
    assert!(config.contains(sqlite));
    config.replace(sqlite, database_yaml)
}

/// The three modules of the embedded default config (`demo`, `list_spam_checker`,
/// `custom_presence_router`) with the test server's name, for the load benchmarks.
#[allow(dead_code, reason = "only the benchmarks, which include this file, use it")]
pub(crate) const DEFAULT_MODULES: &str = "  - module: demo
    config:
      denied_users: ['@evilguy:test.local']
  - module: list_spam_checker
    config:
      evil_users: ['@mallory:test.local']
  - module: custom_presence_router
    config:
      routes: {}
";

/// A running server.
pub(crate) struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub(crate) base: String,
    /// The temporary data directory (kept across restarts of the same `Server`).
    pub(crate) dir: tempfile::TempDir,
    config: PathBuf,
    binary: PathBuf,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Server {
    /// Starts the binary on `config` (where `DATA` stands for the data directory).
    pub(crate) fn start(config: &str) -> Server {
        Self::start_binary(binary(), config)
    }

    /// Starts `mxmod-policy-server`: mxmod plus the `policy` test module, a custom
    /// binary built from `mxmod_app` with a module crate from outside `mxmod-modules`.
    pub(crate) fn start_policy(policy_config: &str) -> Server {
        let modules = format!("  - module: policy\n    config:\n{policy_config}");
        Self::start_binary(Path::new(crate::POLICY_BINARY), &config_with_modules(&modules))
    }

    /// Starts `mxmod-policy-server` on a whole config of the test's choosing.
    pub(crate) fn start_policy_with_config(config: &str) -> Server {
        Self::start_binary(Path::new(crate::POLICY_BINARY), config)
    }

    /// The server's process ID (tests read its memory, benchmarks its CPU time).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Starts `binary` on `config` (where `DATA` stands for the data directory).
    pub(crate) fn start_binary(binary: &Path, config: &str) -> Server {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("homeserver.yaml");
        std::fs::write(&path, config.replace("DATA", &dir.path().display().to_string())).expect("config written");
        Self::launch(binary.to_path_buf(), dir, path)
    }

    fn launch(binary: PathBuf, dir: tempfile::TempDir, config: PathBuf) -> Server {
        let mut child = Command::new(&binary)
            .args(["run", "-c"])
            .arg(&config)
            .env("MXMOD_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("mxmod starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (sender, receiver) = std::sync::mpsc::channel();
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let log_writer = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(address) = line.strip_prefix("mxmod: listening on ") {
                    let _ = sender.send(address.to_owned());
                }
                log_writer.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        let base = match receiver.recv_timeout(Duration::from_secs(60)) {
            Ok(base) => base,
            Err(_) => {
                let _ = child.kill();
                panic!("mxmod did not start; its output:\n{}", log.lock().unwrap());
            }
        };
        Server { child, base, dir, config, binary, stderr: log }
    }

    /// Kills the process (`SIGKILL`, no shutdown) and starts it again on the same data.
    pub(crate) fn kill_and_restart(mut self) -> Server {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let placeholder = tempfile::tempdir().expect("a temporary directory");
        let dir = std::mem::replace(&mut self.dir, placeholder);
        let config = self.config.clone();
        let binary = self.binary.clone();
        drop(self);
        Self::launch(binary, dir, config)
    }

    /// The config file the server runs on (tests rewrite it to reload).
    pub(crate) fn config_path(&self) -> &Path {
        &self.config
    }

    /// What the server logged so far.
    pub(crate) fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Sends SIGTERM and waits for the exit status.
    pub(crate) fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "mxmod did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A request; returns (status, JSON body or `null`).
    pub(crate) fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> (u16, Value) {
        let (status, bytes) = self.call_raw(method, path, token, body.map(|b| b.to_string().into_bytes()), None);
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// A request with a raw body; returns (status, body bytes).
    pub(crate) fn call_raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
        content_type: Option<&str>,
    ) -> (u16, Vec<u8>) {
        send(&agent(), method, &format!("{}{path}", self.base), token, body, content_type)
            .unwrap_or_else(|error| panic!("{method} {path} failed: {error}\nserver log:\n{}", self.log()))
    }

    /// Registers a user; returns (user ID, access token).
    pub(crate) fn register(&self, name: &str) -> (String, String) {
        let body = json!({ "username": name, "password": "secret-pw", "auth": { "type": "m.login.dummy" } });
        let (status, answer) = self.call("POST", "/_matrix/client/v3/register", None, Some(&body));
        assert_eq!(status, 200, "register {name}: {answer}");
        (answer["user_id"].as_str().unwrap().to_owned(), answer["access_token"].as_str().unwrap().to_owned())
    }

    /// A module's recorded calls (the `policy` module's `/calls` resource).
    pub(crate) fn policy_calls(&self) -> Vec<Value> {
        let (status, calls) = self.call("GET", "/_synapse/client/policy/calls", None, None);
        assert_eq!(status, 200);
        calls.as_array().cloned().unwrap_or_default()
    }

    /// Sends a message; returns (status, answer).
    pub(crate) fn send_text(&self, token: &str, room: &str, txn: &str, body: &str) -> (u16, Value) {
        let path = format!("/_matrix/client/v3/rooms/{}/send/m.room.message/{txn}", enc(room));
        self.call("PUT", &path, Some(token), Some(&json!({ "msgtype": "m.text", "body": body })))
    }

    /// Creates a room; returns its ID.
    pub(crate) fn create_room(&self, token: &str, body: Value) -> String {
        let (status, answer) = self.call("POST", "/_matrix/client/v3/createRoom", Some(token), Some(&body));
        assert_eq!(status, 200, "createRoom: {answer}");
        answer["room_id"].as_str().unwrap().to_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP client whose connections are kept alive between its requests; a non-2xx
/// status is an answer, not an error.
pub(crate) fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(90)))
        .build()
        .into()
}

/// One request through `agent`; (status, body bytes).
pub(crate) fn send(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<Vec<u8>>,
    content_type: Option<&str>,
) -> Result<(u16, Vec<u8>), ureq::Error> {
    let mut request = ureq::http::Request::builder().method(method).uri(url);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let request = request.body(body.unwrap_or_default())?;
    let mut response = agent.run(request)?;
    let status = response.status().as_u16();
    let bytes = response.body_mut().with_config().limit(64 * 1024 * 1024).read_to_vec().unwrap_or_default();
    Ok((status, bytes))
}

/// Percent-encodes a path segment (room IDs, user IDs, aliases).
pub(crate) fn enc(segment: &str) -> String {
    form_urlencoded::byte_serialize(segment.as_bytes()).collect::<String>().replace('+', "%20")
}

/// A fake HTTP service on a free loopback port (an antispam server, a censor, a
/// directory): `answer(method, path_and_query, body) -> (status, JSON)`. It serves until
/// the test process ends.
pub(crate) fn fake_service(answer: impl Fn(&str, &str, &Value) -> (u16, Value) + Send + Sync + 'static) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let base = format!("http://{}", listener.local_addr().expect("an address"));
    let answer = std::sync::Arc::new(answer);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let answer = answer.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("a stream"));
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    return;
                }
                let mut parts = request_line.split_whitespace();
                let (method, target) =
                    (parts.next().unwrap_or_default().to_owned(), parts.next().unwrap_or_default().to_owned());
                let mut length = 0;
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
                        break;
                    }
                    if let Some((name, value)) = header.split_once(':') {
                        if name.eq_ignore_ascii_case("content-length") {
                            length = value.trim().parse().unwrap_or(0);
                        }
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let (status, reply) = answer(&method, &target, &body);
                let reply = reply.to_string();
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
                    reply.len()
                );
            });
        }
    });
    base
}

/// Polls `check` every 50 ms for at most `limit`; whether it became true.
pub(crate) fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    check()
}
