//! The command line: check-config, list-modules, generate-config, exit codes.

use std::process::Command;

use crate::support::{binary, config_with_modules};

fn run(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(binary()).args(args).output().expect("mxmod runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn list_modules_shows_features_callbacks_paths_and_caches() {
    let (code, out, _) = run(&["list-modules"]);
    assert_eq!(code, 0);
    assert!(out.contains("demo (feature `demo` of mxmod-modules)"), "{out}");
    assert!(out.contains("callback  spam_checker.user_may_create_room"), "{out}");
    assert!(out.contains("resource  /_synapse/client/demo/hello"), "{out}");
    assert!(out.contains("cache     get_department_for_user (max 10000 entries)"), "{out}");
}

#[test]
fn check_config_lists_every_problem_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    let config = config_with_modules(
        "  - module: no_such_module
  - module: list_spam_checker
    config:
      evil_users: [not-a-user-id]
",
    )
    .replace("max_upload_size: 64K", "max_upload_size: huge");
    std::fs::write(&path, config).unwrap();
    let (code, _, err) = run(&["check-config", "-c", path.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("max_upload_size"), "{err}");
    assert!(err.contains("module `no_such_module` is not compiled into this binary"), "{err}");
    assert!(err.contains("modules[1].config.evil_users[0]"), "{err}");
    assert!(err.contains("3 problem(s) found"), "{err}");
}

#[test]
fn check_config_accepts_a_good_file_and_warns_about_synapse_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("good.yaml");
    std::fs::write(&path, format!("{}report_stats: false\n", config_with_modules("  - module: demo\n"))).unwrap();
    let (code, out, err) = run(&["check-config", "-c", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("unknown key `report_stats` is ignored"), "{out}");
}

#[test]
fn run_with_a_bad_config_exits_2_with_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, "server_name: [oops\n").unwrap();
    let (code, _, err) = run(&["run", "-c", path.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("bad.yaml:"), "{err}");
}

#[test]
fn generate_config_prints_a_loadable_commented_config() {
    let (code, out, _) = run(&["generate-config"]);
    assert_eq!(code, 0);
    assert!(out.contains("# The domain of user IDs"), "{out}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("generated.yaml");
    std::fs::write(&path, out).unwrap();
    let (code, _, err) = run(&["check-config", "-c", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
}
