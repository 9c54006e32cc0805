//! Module storage in the server's own database: `account_validity`'s rows survive a
//! restart and a reordering of `modules:` (tables are named by the entry's stable id,
//! not its position), a per-module SQLite file of earlier versions is imported, and
//! duplicate ids are a located config error.

use std::process::Command;

use serde_json::{json, Value};

use crate::support::{binary, config_with_modules, Server};

const ACCOUNT_VALIDITY: &str = "  - module: account_validity
    config:
      period: 6w
      renew_at: 1w
      admin_secret: hunter2
";

fn whoami(server: &Server, token: &str) -> (u16, Value) {
    server.call("GET", "/_matrix/client/v3/account/whoami", Some(token), None)
}

const EXPIRED: (u16, Option<&str>) = (403, Some("ORG_MATRIX_EXPIRED_ACCOUNT"));

fn status_and_errcode(answer: (u16, Value)) -> (u16, Option<String>) {
    (answer.0, answer.1["errcode"].as_str().map(str::to_owned))
}

/// Rewrites the server's config (kept in its data directory) for the next restart.
fn rewrite_config(server: &Server, modules: &str) {
    let data = server.dir.path().display().to_string();
    std::fs::write(server.dir.path().join("homeserver.yaml"), config_with_modules(modules).replace("DATA", &data))
        .unwrap();
}

#[test]
fn account_validity_state_survives_a_restart_and_a_reordering_of_modules() {
    let server = Server::start(&config_with_modules(&format!("{ACCOUNT_VALIDITY}  - module: demo\n")));
    let (user_id, token) = server.register("mortal");
    let (status, answer) = server.call(
        "POST",
        "/_synapse/client/account_validity/admin",
        Some("hunter2"),
        Some(&json!({ "user_id": user_id, "expiration_ts": 1 })),
    );
    assert_eq!(status, 200, "{answer}");
    let expired = (EXPIRED.0, EXPIRED.1.map(str::to_owned));
    assert_eq!(status_and_errcode(whoami(&server, &token)), expired);

    rewrite_config(&server, &format!("  - module: demo\n{ACCOUNT_VALIDITY}"));
    let server = server.kill_and_restart();
    assert_eq!(status_and_errcode(whoami(&server, &token)), expired, "the expiry survived; log:\n{}", server.log());

    // The rows are in the server's own database, under the instance's id.
    assert!(!server.dir.path().join("modules").join("account_validity.db").exists(), "no file of its own");
    let main = rusqlite::Connection::open(server.dir.path().join("homeserver.db")).unwrap();
    let stored: i64 = main
        .query_row(
            "SELECT expiration_ts_ms FROM mod_account_validity__email_account_validity WHERE user_id = ?1",
            [&user_id],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(stored, 1);
}

#[test]
fn rows_of_an_old_per_module_file_are_imported_on_the_first_start_after_the_upgrade() {
    let server = Server::start(&config_with_modules(ACCOUNT_VALIDITY));
    let (user_id, token) = server.register("veteran");
    assert_eq!(whoami(&server, &token).0, 200);
    // What an earlier mxmod left: `modules/account_validity.db`, with this user expired.
    let old = server.dir.path().join("modules").join("account_validity.db");
    std::fs::create_dir_all(old.parent().unwrap()).unwrap();
    let file = rusqlite::Connection::open(&old).unwrap();
    file.execute_batch(
        "CREATE TABLE email_account_validity (user_id TEXT PRIMARY KEY, expiration_ts_ms BIGINT NOT NULL,
             email_sent BOOLEAN NOT NULL, long_renewal_token TEXT, token_used_ts_ms BIGINT);
         CREATE TABLE email_account_validity_addresses (user_id TEXT NOT NULL, address TEXT NOT NULL,
             PRIMARY KEY (user_id, address));",
    )
    .unwrap();
    file.execute("INSERT INTO email_account_validity VALUES (?1, 1, 0, NULL, NULL)", [&user_id]).unwrap();
    drop(file);
    // The registration above tracked the user already: the server's row wins over the
    // old file's for the same user, so remove it to see the import.
    let main = rusqlite::Connection::open(server.dir.path().join("homeserver.db")).unwrap();
    main.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    main.execute("DELETE FROM mod_account_validity__email_account_validity WHERE user_id = ?1", [&user_id]).unwrap();
    drop(main);

    let server = server.kill_and_restart();
    let imported = crate::support::eventually(std::time::Duration::from_secs(10), || {
        let (status, answer) = whoami(&server, &token);
        (status, answer["errcode"].as_str()) == EXPIRED
    });
    assert!(imported, "the old file's expiry applies; log:\n{}", server.log());
    assert!(!old.exists(), "the old file is renamed");
    assert!(server.dir.path().join("modules").join("account_validity.db.imported").exists(), "not deleted");
}

#[test]
fn two_entries_of_a_module_without_distinct_ids_are_a_located_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("homeserver.yaml");
    std::fs::write(&path, config_with_modules("  - module: demo\n  - module: demo\n")).unwrap();
    let output = Command::new(binary()).args(["check-config", "-c"]).arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("modules[1].module") && stderr.contains("instance id `demo`"), "{stderr}");
    let located = stderr.lines().any(|line| {
        line.split("homeserver.yaml:")
            .nth(1)
            .is_some_and(|rest| rest.split(':').take(2).all(|n| n.parse::<usize>().is_ok()))
    });
    assert!(located, "{stderr}");
    std::fs::write(&path, config_with_modules("  - module: demo\n  - module: demo\n    id: demo_2\n")).unwrap();
    let output = Command::new(binary()).args(["check-config", "-c"]).arg(&path).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
}
