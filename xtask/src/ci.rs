//! `cargo xtask ci`: the checks CI runs, in order, stopping at the first failure: the
//! formatting and lint steps, then the test suite as `cargo xtask test` runs it.

use std::{path::Path, process::Command};

use crate::{
    workspace::{self, Workspace},
    Result,
};

/// The steps before the tests, as `cargo` arguments: formatting, lints as errors.
pub(crate) const STEPS: &[&[&str]] =
    &[&["fmt", "--all", "--check"], &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]];

/// Runs every step from the workspace root with streamed output.
pub(crate) fn run(workspace: &Workspace) -> Result<()> {
    run_with(workspace::cargo, &workspace.root)
}

/// Runs the steps with `cargo()` as the cargo command, in `root`; the first failure ends it.
fn run_with(cargo: impl Fn() -> Command, root: &Path) -> Result<()> {
    let total = STEPS.len() + 1;
    for (n, step) in STEPS.iter().enumerate() {
        eprintln!("xtask ci: step {} of {total}", n + 1);
        workspace::run(cargo().args(*step).current_dir(root))?;
    }
    eprintln!("xtask ci: step {total} of {total}: the tests");
    crate::test::run_with(&cargo, root)?;
    eprintln!("xtask ci: all {total} steps passed");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ci_checks_formatting_then_lints_before_the_tests() {
        let lines: Vec<String> = STEPS.iter().map(|step| step.join(" ")).collect();
        assert_eq!(lines, ["fmt --all --check", "clippy --workspace --all-targets -- -D warnings"]);
    }

    /// With a stand-in for cargo (a `sh` script, so nothing freshly written is executed)
    /// that logs its arguments and fails on `clippy`.
    #[cfg(unix)]
    #[test]
    fn the_first_failing_step_stops_the_run_with_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let (fake, log) = (dir.path().join("cargo.sh"), dir.path().join("log"));
        let fake_cargo = || {
            let mut command = Command::new("sh");
            command.arg(&fake);
            command
        };
        std::fs::write(&fake, format!("echo \"$@\" >> '{}'\n[ \"$1\" != clippy ]\n", log.display())).unwrap();

        let error = run_with(fake_cargo, dir.path()).unwrap_err().to_string();
        assert!(
            error.ends_with(" clippy --workspace --all-targets -- -D warnings` failed (exit status: 1)"),
            "{error}"
        );
        let ran = std::fs::read_to_string(&log).unwrap();
        assert_eq!(ran, "fmt --all --check\nclippy --workspace --all-targets -- -D warnings\n", "`test` must not run");

        std::fs::write(&fake, format!("echo \"$@\" >> '{}'\n", log.display())).unwrap();
        std::fs::remove_file(&log).unwrap();
        run_with(fake_cargo, dir.path()).unwrap();
        let ran = std::fs::read_to_string(&log).unwrap();
        assert_eq!(
            ran.lines().collect::<Vec<_>>(),
            [
                "fmt --all --check",
                "clippy --workspace --all-targets -- -D warnings",
                "metadata --no-deps --format-version 1",
                "test --workspace --no-run --message-format=json-render-diagnostics",
                "test --workspace --doc"
            ]
        );
    }
}
