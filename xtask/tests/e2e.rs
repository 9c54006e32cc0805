//! End to end: `cargo xtask new-module` in a scratch copy of the workspace, then — with no
//! edit — the module's tests pass; an `--out-of-tree` crate's tests pass too, and its
//! custom binary, with the in-tree module's feature listed on mxmod-app as the crate's
//! manifest says, lists both modules and serves each when its YAML names it; the pair
//! still resolves once moved elsewhere.
//!
//! The scratch copy lives in `target/xtask-e2e/workspace/` and the nested builds put their
//! binaries in `target/xtask-e2e/`, but they compile in the build directory of the test run
//! itself (`CARGO_BUILD_BUILD_DIR`), so the dependencies the outer `cargo test` already
//! compiled are reused rather than compiled a second time: the module's tests and the
//! out-of-tree crate name `crates/workspace-hack`, which gives the third-party crates the
//! outer build's features. (`cargo xtask test` may start this test while the outer build
//! still runs; its nested cargo commands then wait for cargo's lock on that directory.) A
//! file lock keeps two runs from sharing the scratch copy.

use std::{
    fs::File,
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

/// The workspace this test belongs to.
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask/ is inside the workspace").to_path_buf()
}

/// Scratch space and `CARGO_TARGET_DIR` of the nested builds.
fn e2e_dir() -> PathBuf {
    workspace().join("target").join("xtask-e2e")
}

/// Copies `from` to `to`, leaving out `target/`, `.git/` and the server's data at the top,
/// keeping modification times so that cargo finds unchanged crates fresh on the next run.
fn copy_tree(from: &Path, to: &Path, top: bool) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if top && ["target", ".git", "mxmod-data"].iter().any(|skip| name == *skip) {
            continue;
        }
        let (source, destination) = (entry.path(), to.join(&name));
        if source.is_dir() {
            copy_tree(&source, &destination, false);
        } else {
            std::fs::copy(&source, &destination).unwrap();
            let modified = std::fs::metadata(&source).unwrap().modified().unwrap();
            File::options().write(true).open(&destination).unwrap().set_modified(modified).unwrap();
        }
    }
}

/// Runs a command to success, returning its output; on failure, shows all of it.
fn succeed(command: &mut Command) -> Output {
    let shown = format!("{command:?}");
    let output = command.output().unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
    assert!(
        output.status.success(),
        "{shown} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The build directory this test binary was compiled in: the nearest ancestor of the
/// running executable that cargo marked with `CACHEDIR.TAG` (`target/` by default, or
/// wherever `CARGO_TARGET_DIR` / `build.build-dir` pointed the outer build).
fn outer_build_dir() -> PathBuf {
    let executable = std::env::current_exe().expect("the test knows its own path");
    executable
        .ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .unwrap_or_else(|| panic!("{} is not inside a cargo build directory", executable.display()))
        .to_path_buf()
}

/// `cargo ARGS` in `dir`: final artifacts in the e2e directory (so the outer run's
/// `target/debug/mxmod` is never replaced), intermediate ones in the outer build directory.
fn cargo(dir: &Path, args: &[&str]) -> Output {
    succeed(
        Command::new(env!("CARGO"))
            .args(args)
            .current_dir(dir)
            .env("CARGO_TARGET_DIR", e2e_dir())
            .env("CARGO_BUILD_BUILD_DIR", outer_build_dir()),
    )
}

/// This package's `xtask` binary, run in `dir` (it works on the workspace around `dir`).
fn xtask(dir: &Path, args: &[&str]) -> Output {
    succeed(Command::new(env!("CARGO_BIN_EXE_xtask")).args(args).current_dir(dir))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The `mxmod` binary the last nested build produced.
fn binary() -> PathBuf {
    e2e_dir().join("debug").join(format!("mxmod{}", std::env::consts::EXE_SUFFIX))
}

/// Starts `binary` on a config naming `module` (with `greeting: Hi`), asks its `hello`
/// resource for a greeting, stops it, and returns the HTTP response.
fn serve_and_greet(binary: &Path, module: &str) -> String {
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("homeserver.yaml");
    let yaml = format!(
        "server_name: e2e.local
public_baseurl: http://127.0.0.1/
listeners:
  - port: 0
    bind_addresses: ['127.0.0.1']
    type: http
database:
  name: sqlite3
  args:
    database: {data}/homeserver.db
media_store_path: {data}/media
modules:
  - module: {module}
    config:
      greeting: Hi
",
        data = data.path().display()
    );
    std::fs::write(&config, yaml).unwrap();
    let mut child = Command::new(binary)
        .args(["run", "-c"])
        .arg(&config)
        .env("MXMOD_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    let mut log = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let address = loop {
        match receiver.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => match line.strip_prefix("mxmod: listening on http://") {
                Some(address) => break address.to_owned(),
                None => log.push_str(&format!("{line}\n")),
            },
            Err(_) => {
                let _ = child.kill();
                panic!("{} did not start with `{module}` in its YAML; its output:\n{log}", binary.display());
            }
        }
    };
    let mut stream = TcpStream::connect(&address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        stream,
        "GET /_synapse/client/{module}/hello?name=CI HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    let read = stream.read_to_string(&mut response);
    let _ = child.kill();
    let _ = child.wait();
    read.unwrap();
    response
}

#[test]
fn a_scaffolded_module_passes_its_tests_and_is_listed_and_served_by_the_binary() {
    let started = Instant::now();
    std::fs::create_dir_all(e2e_dir()).unwrap();
    let lock = File::create(e2e_dir().join(".lock")).unwrap();
    lock.lock().unwrap();

    let copy = e2e_dir().join("workspace");
    if copy.exists() {
        std::fs::remove_dir_all(&copy).unwrap();
    }
    copy_tree(&workspace(), &copy, true);

    // In the tree: one example of every category the macros support, and the two others.
    let categories: Vec<&str> = mxmod_common::CATEGORIES.iter().map(|category| category.name).collect();
    let all = format!("{},web_resource,cached", categories.join(","));
    let created = xtask(&copy, &["new-module", "e2e_probe", "--callbacks", &all]);
    assert!(text(&created.stdout).contains("created crates/modules/src/e2e_probe.rs"), "{}", text(&created.stdout));
    let module_file = copy.join("crates/modules/src/e2e_probe.rs");
    succeed(
        Command::new(std::env::var_os("RUSTFMT").unwrap_or_else(|| "rustfmt".into()))
            .args(["--edition", "2021", "--check"])
            .arg(&module_file)
            .current_dir(&copy),
    );

    // As `new-module` says: the module's own tests, without the shipped modules. `--lib`:
    // the generated tests are unit tests of the module's file; the crate's doc tests are
    // the outer run's.
    let tested =
        cargo(&copy, &["test", "-p", "mxmod-modules", "--no-default-features", "--features", "e2e_probe", "--lib"]);
    eprintln!("xtask e2e: in-tree module tested at {:.0?}", started.elapsed());
    let (stdout, stderr) = (text(&tested.stdout), text(&tested.stderr));
    for test in [
        "starts_on_its_defaults_and_rejects_unknown_keys",
        "blocked_inviters_may_not_invite",
        "forbidden_event_types_are_refused",
        "expired_users_have_expired",
        "watchers_receive_everyones_presence",
        "denied_email_domains_may_not_be_validated",
        "uploads_over_the_limit_are_refused",
        "unlimited_users_get_no_limit",
        "changes_to_watched_types_are_counted",
        "events_carry_their_senders_server",
        "hello_greets_by_name",
        "lookups_are_cached_until_invalidated",
        "every_enabled_module_is_in_the_registry",
    ] {
        assert!(stdout.contains(&format!("{test} ... ok")), "`{test}` did not pass:\n{stdout}");
    }
    assert!(!stderr.contains("e2e_probe.rs:"), "the generated module has warnings:\n{stderr}");

    // Out of the tree: a crate of its own with a custom binary.
    let outside = e2e_dir().join("out_of_tree");
    if outside.exists() {
        std::fs::remove_dir_all(&outside).unwrap();
    }
    let outside_arg = outside.display().to_string();
    let args = ["new-module", "e2e_outside", "--callbacks", "web_resource", "--out-of-tree", &outside_arg];
    xtask(&copy, &args);
    // The binary links a shipped module too, the in-tree one, the way the manifest's
    // comment says (`features = [...]` on mxmod-app): one build serves both modules, so
    // the in-tree module is served by a binary built with its feature without a second
    // compile of mxmod-app.
    let manifest_path = outside.join("Cargo.toml");
    let manifest = std::fs::read_to_string(&manifest_path).unwrap();
    let linked =
        manifest.replacen("default-features = false }", "default-features = false, features = [\"e2e_probe\"] }", 1);
    assert_ne!(linked, manifest, "the manifest names mxmod-app with `default-features = false`:\n{manifest}");
    // The test adds one thing a user would not: the workspace's feature pin (a crate with
    // no code, crates/workspace-hack), so that the third-party crates build with the
    // features the outer `cargo test --workspace` built them with and are reused from its
    // build directory. Without it this crate's build compiled some eighty of them again;
    // our own crates it compiles again regardless (cargo hashes a path dependency outside
    // the crate's workspace by its absolute path). The pin adds features only, and the
    // crate's own dependencies' features are already unified with mxmod-app's.
    let pinned = linked.replacen(
        "[dependencies]\n",
        "[dependencies]\nmxmod-workspace-hack = { path = \"../workspace/crates/workspace-hack\" }\n",
        1,
    );
    assert_ne!(pinned, linked, "the manifest has a [dependencies] table:\n{linked}");
    std::fs::write(&manifest_path, pinned).unwrap();
    let tested = cargo(&outside, &["test"]);
    let (stdout, stderr) = (text(&tested.stdout), text(&tested.stderr));
    assert!(stdout.contains("hello_greets_by_name ... ok"), "{stdout}");
    assert!(!stderr.contains("warning"), "the out-of-tree crate has warnings:\n{stderr}");
    eprintln!("xtask e2e: out-of-tree crate tested at {:.0?}", started.elapsed());
    cargo(&outside, &["build"]);
    eprintln!("xtask e2e: out-of-tree binary built at {:.0?}", started.elapsed());
    let listed = text(&succeed(Command::new(binary()).arg("list-modules")).stdout);
    assert!(listed.contains("e2e_outside (crate e2e_outside)\n"), "{listed}");
    assert!(listed.contains("e2e_probe (feature `e2e_probe` of mxmod-modules)"), "{listed}");
    assert!(listed.contains("  resource  /_synapse/client/e2e_probe/hello"), "{listed}");
    assert!(!listed.contains("demo"), "built without mxmod-app's default modules:\n{listed}");
    let response = serve_and_greet(&binary(), "e2e_outside");
    assert!(response.ends_with(r#"{"greeting":"Hi, CI"}"#), "{response}");
    let response = serve_and_greet(&binary(), "e2e_probe");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with(r#"{"greeting":"Hi, CI"}"#), "{response}");

    // The crate names the checkout by a relative path, so the pair resolves wherever it is
    // moved together: moved to another directory, cargo finds every path dependency in the
    // moved checkout (`cargo metadata` resolves the whole graph without compiling it again).
    let manifest = std::fs::read_to_string(outside.join("Cargo.toml")).unwrap();
    assert!(manifest.contains("path = \"../workspace/crates/core\""), "{manifest}");
    let relocated = e2e_dir().join("relocated");
    if relocated.exists() {
        std::fs::remove_dir_all(&relocated).unwrap();
    }
    std::fs::create_dir_all(&relocated).unwrap();
    std::fs::rename(&copy, relocated.join("workspace")).unwrap();
    std::fs::rename(&outside, relocated.join("out_of_tree")).unwrap();
    let metadata = text(&cargo(&relocated.join("out_of_tree"), &["metadata", "--format-version", "1"]).stdout);
    let moved = relocated.join("workspace").canonicalize().unwrap();
    for package in ["crates/core/Cargo.toml", "app/Cargo.toml", "crates/modules/Cargo.toml"] {
        let path = moved.join(package).display().to_string();
        assert!(
            metadata.contains(&format!("\"manifest_path\":\"{path}\"")),
            "{path} is not in the moved graph:\n{metadata}"
        );
    }
    std::fs::remove_dir_all(&relocated).unwrap();

    eprintln!("xtask e2e: {:.0?}", started.elapsed());
}
