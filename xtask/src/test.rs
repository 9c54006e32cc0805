//! `cargo xtask test`: the whole test suite, as `cargo test --workspace` runs it, but with
//! the test binaries run side by side.
//!
//! `cargo test` runs one test binary at a time. Three of ours take minutes and leave cores
//! idle for much of it (the macros' trybuild cases, the black-box `it` suite, the xtask
//! end-to-end test), so one after another they made most of a CI run. Here the workspace's
//! tests are built once (`cargo test --workspace --no-run`), every test binary is run as
//! cargo would run it (in its package's directory, with cargo's environment), a few at a
//! time with the slowest started first, and the doc tests come last. Each binary's output
//! is printed whole when it ends, then a summary with the time each took.

use std::{
    collections::VecDeque,
    fs::File,
    io::{BufRead, BufReader, Read},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
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

/// Builds the tests with `cargo()`, runs every test binary, then the doc tests.
pub(crate) fn run_with(cargo: impl Fn() -> Command, root: &Path) -> Result<()> {
    let started = Instant::now();
    let mut build = cargo();
    build
        .args(["test", "--workspace", "--no-run", "--message-format=json-render-diagnostics"])
        .current_dir(root)
        .stdout(Stdio::piped());
    let shown = workspace::show(&build);
    eprintln!("$ {shown}");
    let mut child = build.spawn().map_err(|e| Error::new(format!("cannot start `{shown}`: {e}")))?;
    let stdout = child.stdout.take().expect("piped");
    let binaries = test_binaries(BufReader::new(stdout).lines().map_while(std::io::Result::ok));
    let status = child.wait().map_err(|e| Error::new(format!("`{shown}`: {e}")))?;
    if !status.success() {
        return Err(Error::new(format!("`{shown}` failed ({status})")));
    }
    eprintln!("xtask test: {} test binaries built in {:.0?}", binaries.len(), started.elapsed());

    let jobs = std::thread::available_parallelism().map_or(2, usize::from) + 1;
    let outcomes = run_binaries(order(binaries), jobs, &cargo_program(&cargo))?;

    let doc_started = Instant::now();
    let doc = workspace::run(cargo().args(["test", "--workspace", "--doc"]).current_dir(root));

    eprintln!("\nxtask test: summary ({:.0?} in all)", started.elapsed());
    for outcome in &outcomes {
        let verdict = if outcome.status.success() { "ok" } else { "FAILED" };
        eprintln!("  {:>6.1?}  {verdict:<6}  {}", outcome.took, outcome.binary.label());
    }
    eprintln!("  {:>6.1?}  {:<6}  doc tests", doc_started.elapsed(), if doc.is_ok() { "ok" } else { "FAILED" });
    let failed: Vec<String> =
        outcomes.iter().filter(|outcome| !outcome.status.success()).map(|outcome| outcome.binary.label()).collect();
    doc?;
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Error::new(format!("test binaries failed: {}", failed.join(", "))))
    }
}

/// The test executables in `cargo --message-format=json` output: artifacts built with the
/// test profile that have an executable.
pub(crate) fn test_binaries(lines: impl Iterator<Item = String>) -> Vec<TestBinary> {
    let mut binaries = Vec::new();
    for line in lines {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
        if message["reason"] != "compiler-artifact" || message["profile"]["test"] != true {
            continue;
        }
        let (Some(executable), Some(manifest), Some(target)) =
            (message["executable"].as_str(), message["manifest_path"].as_str(), message["target"]["name"].as_str())
        else {
            continue;
        };
        let manifest = PathBuf::from(manifest);
        binaries.push(TestBinary {
            package: package_name(&manifest).unwrap_or_else(|| target.to_owned()),
            target: target.to_owned(),
            manifest,
            executable: PathBuf::from(executable),
        });
    }
    binaries
}

/// `[package] name` of a manifest.
fn package_name(manifest: &Path) -> Option<String> {
    let text = std::fs::read_to_string(manifest).ok()?;
    let document: toml_edit::DocumentMut = text.parse().ok()?;
    document.get("package")?.get("name")?.as_str().map(str::to_owned)
}

/// The binaries in [`SLOWEST_FIRST`] order, then the rest as cargo listed them.
pub(crate) fn order(mut binaries: Vec<TestBinary>) -> VecDeque<TestBinary> {
    let rank = |binary: &TestBinary| {
        SLOWEST_FIRST
            .iter()
            .position(|(package, target)| binary.package == *package && binary.target == *target)
            .unwrap_or(SLOWEST_FIRST.len())
    };
    binaries.sort_by_key(rank);
    binaries.into()
}

/// The program `cargo()` runs, for the test binaries' `CARGO` (trybuild and the xtask
/// end-to-end test start cargo through it).
fn cargo_program(cargo: &impl Fn() -> Command) -> PathBuf {
    PathBuf::from(cargo().get_program())
}

/// How one binary ended.
struct Outcome {
    binary: TestBinary,
    status: ExitStatus,
    took: Duration,
}

/// A running binary and where its output goes.
struct Running {
    binary: TestBinary,
    child: Child,
    output: PathBuf,
    started: Instant,
}

/// Runs the binaries, at most `jobs` at a time; each one's output is printed when it ends.
fn run_binaries(mut queue: VecDeque<TestBinary>, jobs: usize, cargo: &Path) -> Result<Vec<Outcome>> {
    let scratch = tempfile_dir()?;
    let mut running: Vec<Running> = Vec::new();
    let mut outcomes = Vec::new();
    while !queue.is_empty() || !running.is_empty() {
        while running.len() < jobs {
            let Some(binary) = queue.pop_front() else { break };
            running.push(start(binary, cargo, &scratch, outcomes.len() + running.len())?);
        }
        std::thread::sleep(Duration::from_millis(50));
        let mut index = 0;
        while index < running.len() {
            let status =
                running[index].child.try_wait().map_err(|e| Error::new(format!("waiting for a test binary: {e}")))?;
            match status {
                Some(status) => {
                    let done = running.swap_remove(index);
                    let took = done.started.elapsed();
                    let mut output = String::new();
                    let _ = File::open(&done.output).and_then(|mut file| file.read_to_string(&mut output));
                    eprintln!(
                        "\n     Ran {} ({}) in {took:.1?}",
                        done.binary.label(),
                        done.binary.executable.display()
                    );
                    eprint!("{output}");
                    outcomes.push(Outcome { binary: done.binary, status, took });
                }
                None => index += 1,
            }
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(outcomes)
}

/// Starts one binary as `cargo test` would: in its package's directory, with the
/// environment cargo gives a test, output to a file in `scratch`.
fn start(binary: TestBinary, cargo: &Path, scratch: &Path, n: usize) -> Result<Running> {
    let output = scratch.join(format!("{n}.log"));
    let file = File::create(&output).map_err(|e| Error::new(format!("{}: {e}", output.display())))?;
    let directory = binary.manifest.parent().unwrap_or(Path::new(".")).to_path_buf();
    let mut command = Command::new(&binary.executable);
    command
        .current_dir(&directory)
        .env("CARGO", cargo)
        .env("CARGO_MANIFEST_DIR", &directory)
        .env("CARGO_MANIFEST_PATH", &binary.manifest)
        .env("CARGO_PKG_NAME", &binary.package)
        .env("CARGO_CRATE_NAME", binary.target.replace('-', "_"))
        .stdin(Stdio::null())
        .stdout(file.try_clone().map_err(|e| Error::new(e.to_string()))?)
        .stderr(file);
    let child =
        command.spawn().map_err(|e| Error::new(format!("cannot start {}: {e}", binary.executable.display())))?;
    Ok(Running { binary, child, output, started: Instant::now() })
}

/// A fresh directory for the binaries' output.
fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("xtask-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| Error::new(format!("{}: {e}", dir.display())))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifact(manifest: &str, target: &str, test: bool, executable: Option<&str>) -> String {
        serde_json::json!({
            "reason": "compiler-artifact",
            "manifest_path": manifest,
            "target": { "name": target },
            "profile": { "test": test },
            "executable": executable,
        })
        .to_string()
    }

    #[test]
    fn only_test_profile_artifacts_with_an_executable_are_run() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("Cargo.toml");
        std::fs::write(&manifest, "[package]\nname = \"mxmod-tests\"\nversion = \"0.1.0\"\n").unwrap();
        let manifest = manifest.display().to_string();
        let lines = [
            artifact(&manifest, "it", true, Some("/t/it-1")),
            artifact(&manifest, "mxmod-stock", false, Some("/t/mxmod-stock")),
            artifact(&manifest, "mxmod_tests", false, None),
            r#"{"reason":"build-finished","success":true}"#.to_owned(),
            "not json".to_owned(),
        ];
        let binaries = test_binaries(lines.into_iter());
        assert_eq!(
            binaries,
            [TestBinary {
                package: "mxmod-tests".to_owned(),
                target: "it".to_owned(),
                manifest: PathBuf::from(&manifest),
                executable: PathBuf::from("/t/it-1"),
            }]
        );
    }

    #[test]
    fn the_slowest_binaries_start_first() {
        let binary = |package: &str, target: &str| TestBinary {
            package: package.to_owned(),
            target: target.to_owned(),
            manifest: PathBuf::new(),
            executable: PathBuf::new(),
        };
        let listed = vec![
            binary("mxmod", "mxmod"),
            binary("mxmod-tests", "it"),
            binary("mxmod-app", "mxmod_app"),
            binary("xtask", "e2e"),
            binary("mxmod-common", "ui"),
        ];
        let labels: Vec<String> = order(listed).iter().map(TestBinary::label).collect();
        assert_eq!(labels, ["xtask e2e", "mxmod-common ui", "mxmod-tests it", "mxmod mxmod", "mxmod-app mxmod_app"]);
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
            artifact(&manifest, "pass", true, Some(&root.join("pass").display().to_string())),
            artifact(&manifest, "fail", true, Some(&root.join("fail").display().to_string())),
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
        assert_eq!(error, "test binaries failed: demo fail");
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
}
