//! `cargo xtask test`: the whole test suite, as `cargo test --workspace` runs it, but with
//! the test binaries run side by side, each as soon as it is built.
//!
//! `cargo test` builds every test, then runs one test binary at a time. Three of ours take
//! minutes and leave cores idle for much of it (the macros' trybuild cases, the black-box
//! `it` suite, the xtask end-to-end test), so one after another they made most of a CI run.
//! Here the workspace's tests are built once (`cargo test --workspace --no-run`), and each
//! test binary starts as soon as cargo reports it built, while the rest still compiles: the
//! trybuild cases (their own target directory) and the short unit-test binaries fill the
//! cores the build's last, serial steps leave idle. Every binary runs as cargo would run it
//! (in its package's directory, with cargo's environment), a few at a time with the slowest
//! started first; the doc tests are queued when the build is done. Each one's output is
//! printed whole when it ends, then a summary with the time each took and when it started.
//!
//! A test that runs cargo in the build's own directory (the xtask end-to-end test) simply
//! waits for cargo's lock on it until the build is done.

use std::{
    collections::{HashMap, HashSet},
    fs::File,
    io::{BufRead, BufReader, Read},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{
        atomic::{AtomicUsize, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

use crate::{
    workspace::{self, Workspace},
    Error, Result,
};

/// Test binaries known to take minutes, `(package, target)`: started first, so the short
/// ones fill the gaps instead of the long ones starting last.
const SLOWEST_FIRST: &[(&str, &str)] = &[("xtask", "e2e"), ("mxmod-common", "ui"), ("mxmod-tests", "it")];

/// One test binary `cargo test --no-run` built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TestBinary {
    /// The package's name (`mxmod-app`).
    pub(crate) package: String,
    /// The target's name (`it`, or the crate's for unit tests).
    pub(crate) target: String,
    /// The package's `Cargo.toml`.
    pub(crate) manifest: PathBuf,
    /// The executable.
    pub(crate) executable: PathBuf,
}

impl TestBinary {
    fn label(&self) -> String {
        format!("{} {}", self.package, self.target)
    }
}

/// Runs the whole suite from the workspace root.
pub(crate) fn run(workspace: &Workspace) -> Result<()> {
    run_with(workspace::cargo, &workspace.root)
}

/// Builds the tests with `cargo()`, and runs every test binary as soon as cargo reports it
/// built, then the doc tests once the build is done.
pub(crate) fn run_with(cargo: impl Fn() -> Command, root: &Path) -> Result<()> {
    let started = Instant::now();
    // Which binaries each package's tests wait for; a test of a package not in the list
    // (or every test, if cargo cannot say) waits for the end of the build.
    let mut unbuilt = binary_targets(&cargo, root).unwrap_or_default();
    let mut build = cargo();
    build
        .args(["test", "--workspace", "--no-run", "--message-format=json-render-diagnostics"])
        .current_dir(root)
        .stdout(Stdio::piped());
    let shown = workspace::show(&build);
    eprintln!("$ {shown}");
    let mut child = build.spawn().map_err(|e| Error::new(format!("cannot start `{shown}`: {e}")))?;
    let stdout = child.stdout.take().expect("piped");
    let (sender, built) = mpsc::channel();
    std::thread::spawn(move || {
        for artifact in BufReader::new(stdout).lines().map_while(std::io::Result::ok).filter_map(|line| artifact(&line))
        {
            if sender.send(artifact).is_err() {
                break;
            }
        }
    });

    // The three slow binaries of `SLOWEST_FIRST` hold three slots for minutes, mostly
    // waiting on cargo or on the servers they start; one slot more keeps the short ones
    // from queueing behind them.
    let jobs = std::thread::available_parallelism().map_or(2, usize::from) + 2;
    let mut pool = Pool::new(jobs, cargo_program(&cargo))?;
    let mut building = Some(child);
    let mut held: Vec<TestBinary> = Vec::new();
    let mut binaries = 0;
    while building.is_some() || !pool.is_idle() {
        match built.recv_timeout(Duration::from_millis(50)) {
            Ok(Artifact::Test(binary)) => {
                binaries += 1;
                held.push(binary);
            }
            Ok(Artifact::Binary { manifest, name }) => {
                if let Some(names) = unbuilt.get_mut(&manifest) {
                    names.remove(&name);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => match building.take() {
                // cargo closed its output: the build is over.
                Some(mut child) => {
                    let status = child.wait().map_err(|e| Error::new(format!("`{shown}`: {e}")))?;
                    if !status.success() {
                        pool.stop();
                        return Err(Error::new(format!("`{shown}` failed ({status})")));
                    }
                    eprintln!("xtask test: {binaries} test binaries built in {:.0?}", started.elapsed());
                    let mut doc = cargo();
                    doc.args(["test", "--workspace", "--doc"]).current_dir(root);
                    pool.queue(Job::DocTests(doc));
                }
                None => std::thread::sleep(Duration::from_millis(50)),
            },
        }
        // A test may run its package's binaries (`CARGO_BIN_EXE_<name>`): it starts once
        // cargo has reported every one of them built, or the build is over.
        let build_over = building.is_none();
        let ready = |binary: &TestBinary| build_over || unbuilt.get(&binary.manifest).is_some_and(HashSet::is_empty);
        for binary in held.extract_if(.., |binary| ready(binary)) {
            pool.queue(Job::Binary(binary));
        }
        pool.start_queued()?;
        pool.reap()?;
    }

    eprintln!("\nxtask test: summary ({:.0?} in all)", started.elapsed());
    for outcome in &pool.outcomes {
        let verdict = if outcome.status.success() { "ok" } else { "FAILED" };
        eprintln!("  {:>6.1?}  {verdict:<6}  {} (started at {:.0?})", outcome.took, outcome.label, outcome.started);
    }
    let failed: Vec<&str> = pool
        .outcomes
        .iter()
        .filter(|outcome| !outcome.status.success())
        .map(|outcome| outcome.label.as_str())
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Error::new(format!("failed: {}", failed.join(", "))))
    }
}

/// What a line of `cargo --message-format=json` output announces, if it matters here.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Artifact {
    /// A test executable: an artifact built with the test profile that has an executable.
    Test(TestBinary),
    /// A package's binary target, built to be run (not its unit tests).
    Binary {
        /// The package's `Cargo.toml`.
        manifest: PathBuf,
        /// The target's name (`mxmod-stock`).
        name: String,
    },
}

/// The artifact a line of cargo's JSON output announces: a test executable or a binary.
pub(crate) fn artifact(line: &str) -> Option<Artifact> {
    let message = serde_json::from_str::<serde_json::Value>(line).ok()?;
    if message["reason"] != "compiler-artifact" {
        return None;
    }
    let executable = message["executable"].as_str()?;
    let manifest = PathBuf::from(message["manifest_path"].as_str()?);
    let target = message["target"]["name"].as_str()?;
    if message["profile"]["test"] != true {
        return is_binary(&message["target"]).then(|| Artifact::Binary { manifest, name: target.to_owned() });
    }
    Some(Artifact::Test(TestBinary {
        package: package_name(&manifest).unwrap_or_else(|| target.to_owned()),
        target: target.to_owned(),
        manifest,
        executable: PathBuf::from(executable),
    }))
}

/// The binary targets of each workspace package, by manifest (`cargo metadata`), or `None`
/// if cargo cannot say.
fn binary_targets(cargo: &impl Fn() -> Command, root: &Path) -> Option<HashMap<PathBuf, HashSet<String>>> {
    let output = cargo()
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(root)
        .stderr(Stdio::null())
        .output();
    let output = output.ok().filter(|output| output.status.success())?;
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).ok()?;
    let mut binaries = HashMap::new();
    for package in metadata["packages"].as_array()? {
        let names: HashSet<String> = package["targets"]
            .as_array()?
            .iter()
            .filter(|target| is_binary(target))
            .filter_map(|target| target["name"].as_str().map(str::to_owned))
            .collect();
        binaries.insert(PathBuf::from(package["manifest_path"].as_str()?), names);
    }
    Some(binaries)
}

/// Whether a target in cargo's JSON (a message's or `cargo metadata`'s) is a binary target.
fn is_binary(target: &serde_json::Value) -> bool {
    target["kind"].as_array().is_some_and(|kinds| kinds.iter().any(|kind| kind == "bin"))
}

/// `[package] name` of a manifest.
fn package_name(manifest: &Path) -> Option<String> {
    let text = std::fs::read_to_string(manifest).ok()?;
    let document: toml_edit::DocumentMut = text.parse().ok()?;
    document.get("package")?.get("name")?.as_str().map(str::to_owned)
}

/// The program `cargo()` runs, for the test binaries' `CARGO` (trybuild and the xtask
/// end-to-end test start cargo through it).
fn cargo_program(cargo: &impl Fn() -> Command) -> PathBuf {
    PathBuf::from(cargo().get_program())
}

/// What the pool runs: one test binary, or the workspace's doc tests.
#[derive(Debug)]
pub(crate) enum Job {
    /// A test binary, run as `cargo test` would run it.
    Binary(TestBinary),
    /// `cargo test --workspace --doc`, queued when the build is done (it needs the libraries).
    DocTests(Command),
}

impl Job {
    fn label(&self) -> String {
        match self {
            Job::Binary(binary) => binary.label(),
            Job::DocTests(_) => "doc tests".to_owned(),
        }
    }

    /// Lower starts first: the binaries in [`SLOWEST_FIRST`] in its order, then the doc
    /// tests, then the rest as cargo built them.
    fn rank(&self) -> usize {
        match self {
            Job::Binary(binary) => SLOWEST_FIRST
                .iter()
                .position(|(package, target)| binary.package == *package && binary.target == *target)
                .unwrap_or(SLOWEST_FIRST.len() + 1),
            Job::DocTests(_) => SLOWEST_FIRST.len(),
        }
    }
}

/// Takes the queued job to start next: the lowest [`Job::rank`], the earliest queued of those.
pub(crate) fn next(queue: &mut Vec<Job>) -> Option<Job> {
    let index = (0..queue.len()).min_by_key(|&index| queue[index].rank())?;
    Some(queue.remove(index))
}

/// How one job ended.
struct Outcome {
    label: String,
    status: ExitStatus,
    /// When it started, from the start of the pool.
    started: Duration,
    took: Duration,
}

/// A running job and where its output goes.
struct Running {
    label: String,
    child: Child,
    output: PathBuf,
    started: Instant,
}

/// Runs jobs, at most `jobs` at a time; each one's output is printed when it ends.
struct Pool {
    jobs: usize,
    cargo: PathBuf,
    scratch: PathBuf,
    created: Instant,
    queue: Vec<Job>,
    running: Vec<Running>,
    outcomes: Vec<Outcome>,
    count: usize,
}

impl Pool {
    fn new(jobs: usize, cargo: PathBuf) -> Result<Self> {
        static POOLS: AtomicUsize = AtomicUsize::new(0);
        let pool = POOLS.fetch_add(1, Ordering::Relaxed);
        let scratch = std::env::temp_dir().join(format!("xtask-test-{}-{pool}", std::process::id()));
        std::fs::create_dir_all(&scratch).map_err(|e| Error::new(format!("{}: {e}", scratch.display())))?;
        Ok(Pool {
            jobs,
            cargo,
            scratch,
            created: Instant::now(),
            queue: Vec::new(),
            running: Vec::new(),
            outcomes: Vec::new(),
            count: 0,
        })
    }

    fn queue(&mut self, job: Job) {
        self.queue.push(job);
    }

    fn is_idle(&self) -> bool {
        self.queue.is_empty() && self.running.is_empty()
    }

    /// Starts queued jobs while fewer than `jobs` run.
    fn start_queued(&mut self) -> Result<()> {
        while self.running.len() < self.jobs {
            let Some(job) = next(&mut self.queue) else { break };
            let label = job.label();
            let output = self.scratch.join(format!("{}.log", self.count));
            self.count += 1;
            let file = File::create(&output).map_err(|e| Error::new(format!("{}: {e}", output.display())))?;
            let mut command = match job {
                Job::Binary(binary) => binary.command(&self.cargo),
                Job::DocTests(command) => command,
            };
            let shown = workspace::show(&command);
            command.stdin(Stdio::null()).stdout(file.try_clone().map_err(|e| Error::new(e.to_string()))?).stderr(file);
            let child = command.spawn().map_err(|e| Error::new(format!("cannot start {shown}: {e}")))?;
            self.running.push(Running { label, child, output, started: Instant::now() });
        }
        Ok(())
    }

    /// Records the jobs that have ended and prints their output.
    fn reap(&mut self) -> Result<()> {
        let mut index = 0;
        while index < self.running.len() {
            let status =
                self.running[index].child.try_wait().map_err(|e| Error::new(format!("waiting for a test: {e}")))?;
            let Some(status) = status else {
                index += 1;
                continue;
            };
            let done = self.running.swap_remove(index);
            let took = done.started.elapsed();
            let mut output = String::new();
            let _ = File::open(&done.output).and_then(|mut file| file.read_to_string(&mut output));
            eprintln!("\n     Ran {} in {took:.1?}", done.label);
            eprint!("{output}");
            let started = done.started.duration_since(self.created);
            self.outcomes.push(Outcome { label: done.label, status, started, took });
        }
        Ok(())
    }

    /// Kills what runs and forgets what is queued (the build failed).
    fn stop(&mut self) {
        self.queue.clear();
        for running in &mut self.running {
            let _ = running.child.kill();
            let _ = running.child.wait();
        }
        self.running.clear();
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

impl TestBinary {
    /// The binary as `cargo test` starts it: in its package's directory, with the
    /// environment cargo gives a test.
    fn command(&self, cargo: &Path) -> Command {
        let directory = self.manifest.parent().unwrap_or(Path::new(".")).to_path_buf();
        let mut command = Command::new(&self.executable);
        command
            .current_dir(&directory)
            .env("CARGO", cargo)
            .env("CARGO_MANIFEST_DIR", &directory)
            .env("CARGO_MANIFEST_PATH", &self.manifest)
            .env("CARGO_PKG_NAME", &self.package)
            .env("CARGO_CRATE_NAME", self.target.replace('-', "_"));
        command
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(manifest: &str, target: &str, kind: &str, test: bool, executable: Option<&str>) -> String {
        serde_json::json!({
            "reason": "compiler-artifact",
            "manifest_path": manifest,
            "target": { "name": target, "kind": [kind] },
            "profile": { "test": test },
            "executable": executable,
        })
        .to_string()
    }

    #[test]
    fn test_executables_and_binaries_are_told_apart_and_the_rest_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("Cargo.toml");
        std::fs::write(&manifest, "[package]\nname = \"mxmod-tests\"\nversion = \"0.1.0\"\n").unwrap();
        let manifest = manifest.display().to_string();
        let lines = [
            message(&manifest, "it", "test", true, Some("/t/it-1")),
            message(&manifest, "mxmod-stock", "bin", false, Some("/t/mxmod-stock")),
            message(&manifest, "mxmod_tests", "lib", false, None),
            message(&manifest, "load", "bench", false, Some("/t/load-1")),
            r#"{"reason":"build-finished","success":true}"#.to_owned(),
            "not json".to_owned(),
        ];
        let artifacts: Vec<Artifact> = lines.iter().filter_map(|line| artifact(line)).collect();
        assert_eq!(
            artifacts,
            [
                Artifact::Test(TestBinary {
                    package: "mxmod-tests".to_owned(),
                    target: "it".to_owned(),
                    manifest: PathBuf::from(&manifest),
                    executable: PathBuf::from("/t/it-1"),
                }),
                Artifact::Binary { manifest: PathBuf::from(&manifest), name: "mxmod-stock".to_owned() },
            ]
        );
    }

    #[test]
    fn the_slowest_jobs_start_first_then_the_doc_tests_then_the_rest_as_built() {
        let binary = |package: &str, target: &str| {
            Job::Binary(TestBinary {
                package: package.to_owned(),
                target: target.to_owned(),
                manifest: PathBuf::new(),
                executable: PathBuf::new(),
            })
        };
        let mut queue = vec![
            binary("mxmod", "mxmod"),
            binary("mxmod-tests", "it"),
            binary("mxmod-app", "mxmod_app"),
            Job::DocTests(Command::new("cargo")),
            binary("xtask", "e2e"),
            binary("mxmod-common", "ui"),
        ];
        let labels: Vec<String> = std::iter::from_fn(|| next(&mut queue)).map(|job| job.label()).collect();
        assert_eq!(
            labels,
            ["xtask e2e", "mxmod-common ui", "mxmod-tests it", "doc tests", "mxmod mxmod", "mxmod-app mxmod_app"]
        );
    }

    /// With a stand-in for cargo that lists two test binaries (`sh` scripts, one failing),
    /// both run and the failure is reported after the doc tests.
    #[cfg(unix)]
    #[test]
    fn every_binary_runs_and_a_failure_fails_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("Cargo.toml"), "[package]\nname = \"demo\"\nversion = \"0.1.0\"\n").unwrap();
        let log = root.join("log");
        for (name, code) in [("pass", 0), ("fail", 1)] {
            let script = root.join(name);
            std::fs::write(
                &script,
                format!(
                    "#!/bin/sh\necho \"{name} in $(pwd) for $CARGO_PKG_NAME\" >> '{}'\nexit {code}\n",
                    log.display()
                ),
            )
            .unwrap();
            let mut permissions = std::fs::metadata(&script).unwrap().permissions();
            std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
            std::fs::set_permissions(&script, permissions).unwrap();
        }
        let manifest = root.join("Cargo.toml").display().to_string();
        let listing = [
            message(&manifest, "pass", "test", true, Some(&root.join("pass").display().to_string())),
            message(&manifest, "fail", "test", true, Some(&root.join("fail").display().to_string())),
        ]
        .join("\n");
        let fake = root.join("cargo.sh");
        std::fs::write(
            &fake,
            format!(
                "echo \"cargo $*\" >> '{log}'\ncase \"$*\" in *--no-run*) cat <<'EOF'\n{listing}\nEOF\n;; esac\n",
                log = log.display()
            ),
        )
        .unwrap();
        let fake_cargo = || {
            let mut command = Command::new("sh");
            command.arg(&fake);
            command
        };
        let error = run_with(fake_cargo, root).unwrap_err().to_string();
        assert_eq!(error, "failed: demo fail");
        let ran = std::fs::read_to_string(&log).unwrap();
        let root = root.display();
        for line in [
            "cargo test --workspace --no-run --message-format=json-render-diagnostics".to_owned(),
            format!("pass in {root} for demo"),
            format!("fail in {root} for demo"),
            "cargo test --workspace --doc".to_owned(),
        ] {
            assert!(ran.lines().any(|ran| ran == line), "`{line}` is not in:\n{ran}");
        }
    }

    /// A test binary cargo reports before its package's binary waits for it: the stand-in
    /// for cargo reports the test, then, half a second later, writes the binary and reports
    /// it; the test fails if the binary is not there when it runs.
    #[cfg(unix)]
    #[test]
    fn a_test_starts_only_once_its_packages_binaries_are_built() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("Cargo.toml"), "[package]\nname = \"demo\"\nversion = \"0.1.0\"\n").unwrap();
        let (test, tool) = (root.join("uses_tool"), root.join("tool"));
        std::fs::write(&test, format!("#!/bin/sh\ntest -f '{}'\n", tool.display())).unwrap();
        let mut permissions = std::fs::metadata(&test).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
        std::fs::set_permissions(&test, permissions).unwrap();
        let manifest = root.join("Cargo.toml").display().to_string();
        let metadata = serde_json::json!({ "packages": [{
            "manifest_path": manifest,
            "targets": [{ "name": "tool", "kind": ["bin"] }, { "name": "uses_tool", "kind": ["test"] }],
        }]});
        let fake = root.join("cargo.sh");
        std::fs::write(
            &fake,
            format!(
                "case \"$*\" in\n\
                 *metadata*) echo '{metadata}' ;;\n\
                 *--no-run*) echo '{test_message}'; sleep 0.5; touch '{tool}'; echo '{tool_message}' ;;\n\
                 esac\n",
                test_message = message(&manifest, "uses_tool", "test", true, Some(&test.display().to_string())),
                tool = tool.display(),
                tool_message = message(&manifest, "tool", "bin", false, Some(&tool.display().to_string())),
            ),
        )
        .unwrap();
        let fake_cargo = || {
            let mut command = Command::new("sh");
            command.arg(&fake);
            command
        };
        run_with(fake_cargo, root).unwrap();
    }
}
