//! Loading a hostile or broken config: linear in its size, every problem with
//! line:column, and files over 16 MiB refused before they are read.

use std::{
    process::Command,
    time::{Duration, Instant},
};

use crate::support::{binary, config_with_modules};

/// `mxmod check-config` on `text`: (exit code, stderr, how long it took).
fn check(text: &str) -> (i32, String, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("homeserver.yaml");
    std::fs::write(&path, text).unwrap();
    let binary = binary();
    let started = Instant::now();
    let output = Command::new(binary).args(["check-config", "-c"]).arg(&path).output().expect("mxmod runs");
    (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stderr).into_owned(), started.elapsed())
}

/// Every problem line names `homeserver.yaml:LINE:COLUMN:`.
fn every_problem_is_located(stderr: &str) -> bool {
    let problems: Vec<&str> = stderr.lines().filter(|line| line.contains("homeserver.yaml")).collect();
    !problems.is_empty()
        && problems.iter().all(|line| {
            let after = line.split("homeserver.yaml:").nth(1).unwrap_or_default();
            let mut parts = after.split(':');
            parts.next().is_some_and(|l| l.parse::<usize>().is_ok())
                && parts.next().is_some_and(|c| c.parse::<usize>().is_ok())
        })
}

#[test]
fn two_thousand_module_entries_load_in_linear_time() {
    let entries: String = (0..2000)
        .map(|n| {
            format!(
                "  - module: list_spam_checker\n    id: lsc_{n}\n    config:\n      evil_users: ['@a:test.local']\n"
            )
        })
        .collect();
    let (code, stderr, took) = check(&config_with_modules(&entries));
    assert_eq!(code, 0, "{stderr}");
    assert!(took < Duration::from_secs(10), "2,000 entries took {took:?}");
}

#[test]
fn a_file_of_brackets_is_refused_at_once_with_a_position() {
    let (code, stderr, took) = check(&"[".repeat(100_000));
    assert_eq!(code, 2);
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(stderr.contains("nested more than 128 levels deep"), "{stderr}");
    assert!(every_problem_is_located(&stderr), "{stderr}");
}

#[test]
fn two_documents_are_located_at_the_second() {
    let text = format!("{}---\nserver_name: other\n", config_with_modules("  []\n"));
    let second = text.lines().position(|line| line == "---").unwrap() + 1;
    let (code, stderr, _) = check(&text);
    assert_eq!(code, 2);
    assert!(stderr.contains(&format!("homeserver.yaml:{second}:1:")), "{stderr}");
    assert!(every_problem_is_located(&stderr), "{stderr}");
}

#[test]
fn a_missing_config_is_located_at_its_entry() {
    let text = config_with_modules("  - module: demo\n  - module: http_antispam\n");
    let entry = text.lines().position(|line| line.contains("http_antispam")).unwrap() + 1;
    let (code, stderr, _) = check(&text);
    assert_eq!(code, 2);
    assert!(stderr.contains("`config` is required here"), "{stderr}");
    assert!(stderr.contains(&format!("homeserver.yaml:{entry}:")), "{stderr}");
    assert!(every_problem_is_located(&stderr), "{stderr}");
}

#[test]
fn an_alias_bomb_is_refused_with_a_position() {
    let mut bomb = String::from("a: &a [\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\"]\n");
    for (name, previous) in
        ["b", "c", "d", "e", "f", "g", "h", "i"].iter().zip(["a", "b", "c", "d", "e", "f", "g", "h"])
    {
        bomb.push_str(&format!("{name}: &{name} [*{previous},*{previous},*{previous},*{previous},*{previous},*{previous},*{previous},*{previous},*{previous}]\n"));
    }
    let text = format!("{}{bomb}", config_with_modules("  []\n"));
    let (code, stderr, took) = check(&text);
    assert_eq!(code, 2, "{stderr}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(every_problem_is_located(&stderr), "{stderr}");
}

#[test]
fn a_file_over_16_mib_is_refused_before_reading() {
    let mut text = config_with_modules("  []\n");
    text.push_str(&format!("# {}\n", "x".repeat(17 * 1024 * 1024)));
    let (code, stderr, _) = check(&text);
    assert_eq!(code, 2);
    assert!(stderr.contains("at most 16777216 (16 MiB) are read"), "{stderr}");
    assert!(every_problem_is_located(&stderr), "{stderr}");
}
