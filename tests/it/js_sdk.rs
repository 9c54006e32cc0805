//! matrix-js-sdk (the SDK under Element Web), pinned to 37.5.0 in `tests/js/`, against
//! the real binary: `npm ci` installs it (into `tests/js/node_modules`, ignored by git),
//! then `tests/js/js_sdk_flow.mjs` runs its normal client flow and fails on any request
//! the server does not recognise. Without Node the test fails under `CI=true` and
//! otherwise prints that it was skipped.

use std::{
    path::PathBuf,
    process::{Command, Stdio},
    sync::Mutex,
};

use crate::support::{config_with_modules, workspace, Server};

/// `tests/js`.
fn js_dir() -> PathBuf {
    workspace().join("tests").join("js")
}

/// Whether `program --version` runs.
fn available(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Installs the pinned SDK from the lock file, once per test run.
fn npm_ci() {
    static INSTALLED: Mutex<bool> = Mutex::new(false);
    let mut installed = INSTALLED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if *installed {
        return;
    }
    let output = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(js_dir())
        .output()
        .expect("npm runs");
    assert!(
        output.status.success(),
        "npm ci failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    *installed = true;
}

#[test]
fn matrix_js_sdk_starts_two_clients_that_exchange_messages() {
    if !available("node") || !available("npm") {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "Node and npm are required when CI=true");
        println!("skipped: Node not installed (matrix-js-sdk test)");
        return;
    }
    npm_ci();
    let server = Server::start(&config_with_modules("  []\n"));
    let output = Command::new("node")
        .arg("js_sdk_flow.mjs")
        .arg(&server.base)
        .current_dir(js_dir())
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.trim_end().ends_with("js-sdk flow: ok"),
        "the js-sdk flow failed\n--- stdout (requests the SDK made) ---\n{stdout}\n--- stderr ---\n{stderr}\n--- server log ---\n{}",
        server.log()
    );
}
