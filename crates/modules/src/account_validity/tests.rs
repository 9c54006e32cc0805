//! Behaviour tests of `account_validity`: expiry and its cache, the renewal and admin
//! resources, and notices delivered through the server's `email:` settings to a loopback
//! SMTP sink.

use std::{
    future::Future,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use mxmod::{
    testing::{smtp_sink, Harness, SentMail as Mail},
    types::{OwnedUserId, UserId},
    web::WebResponse,
};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::AccountValidity;

const WEEK: i64 = 7 * 86_400_000;
const SECRET: &str = "s3cret";

fn now() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

fn user(id: &str) -> OwnedUserId {
    UserId::parse(id).unwrap()
}

fn yaml(extra: &str) -> String {
    let extra: String = extra.lines().map(|line| format!("      {line}\n")).collect();
    format!(
        "modules:\n  - module: account_validity\n    config:\n      period: 6w\n      renew_at: 1w\n      \
         admin_secret: {SECRET}\n{extra}"
    )
}

/// The modules of `yaml` on a server whose `email:` section points at the sink on `port`.
fn mailing(yaml: &str, port: u16, app_name: &str) -> Harness {
    let email: mxmod::mail::EmailConfig = serde_yaml::from_str(&format!(
        "smtp_host: 127.0.0.1\nsmtp_port: {port}\nnotif_from: \"%(app)s <noreply@example.com>\"\napp_name: {app_name}"
    ))
    .unwrap();
    Harness::builder(yaml).email(&email).unwrap().start().unwrap()
}

fn module(harness: &Harness) -> &AccountValidity {
    harness.module::<AccountValidity>(0).unwrap()
}

async fn post(harness: &Harness, path: &str, token: Option<&str>, body: Value) -> WebResponse {
    let mut request = http::Request::post(path);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    harness.request(request.body(Bytes::from(body.to_string())).unwrap()).await.unwrap()
}

async fn admin(harness: &Harness, body: Value) -> Value {
    let reply = post(harness, "/_synapse/client/account_validity/admin", Some(SECRET), body).await;
    assert_eq!(reply.status(), 200, "{:?}", reply.body());
    serde_json::from_slice(reply.body()).unwrap()
}

async fn expired(harness: &Harness, user_id: &UserId) -> Option<bool> {
    harness.callbacks().account_validity.is_user_expired(user_id).await.unwrap()
}

fn text(reply: &WebResponse) -> String {
    String::from_utf8(reply.body().to_vec()).unwrap()
}

async fn next_mail(mails: &mut mpsc::UnboundedReceiver<Mail>) -> Mail {
    tokio::time::timeout(Duration::from_secs(10), mails.recv()).await.expect("a notice within 10 s").unwrap()
}

/// The 32-letter token of the renewal link in a notice.
fn link_token(mail: &Mail) -> String {
    let body = mail.readable();
    let marker = "https://example.com/_synapse/client/account_validity/renew?token=";
    let start = body.find(marker).unwrap_or_else(|| panic!("no renewal link in {body}")) + marker.len();
    body[start..start + 32].to_owned()
}

#[tokio::test]
async fn registration_sets_the_first_expiry() {
    let harness = Harness::from_yaml(&yaml("")).unwrap();
    let alice = user("@alice:example.com");
    let before = now();
    harness.callbacks().account_validity.on_user_registration(&alice).await.unwrap();
    let expiry = module(&harness).get_expiration_ts_for_user(alice.to_string()).await.unwrap().unwrap();
    assert!((before + 6 * WEEK..=now() + 6 * WEEK).contains(&expiry), "{expiry}");
    assert_eq!(expired(&harness, &alice).await, Some(false));
}

#[tokio::test]
async fn expiry_is_answered_from_the_cache_and_every_write_invalidates_it() {
    let harness = Harness::from_yaml(&yaml("")).unwrap();
    let alice = user("@alice:example.com");
    harness.callbacks().account_validity.on_user_registration(&alice).await.unwrap();
    let cache = module(&harness).get_expiration_ts_for_user_cache();
    assert_eq!(expired(&harness, &alice).await, Some(false));
    assert_eq!(expired(&harness, &alice).await, Some(false));
    let stats = cache.stats();
    assert_eq!((stats.misses, stats.hits), (1, 1));

    // An admin write moves the expiry into the past: the next answer sees it.
    let past = now() - 1000;
    assert_eq!(admin(&harness, json!({"user_id": alice, "expiration_ts": past})).await, json!({"expiration_ts": past}));
    assert_eq!(expired(&harness, &alice).await, Some(true));
    assert_eq!(cache.stats().misses, 2);

    // Registration again (a write) resets it.
    harness.callbacks().account_validity.on_user_registration(&alice).await.unwrap();
    assert_eq!(expired(&harness, &alice).await, Some(false));
    assert_eq!(cache.stats().misses, 3);
}

#[tokio::test]
async fn untracked_local_users_start_being_tracked_and_remote_ones_get_no_answer() {
    let harness = Harness::from_yaml(&yaml("")).unwrap();
    let old = user("@old-timer:example.com");
    let before = now();
    assert_eq!(expired(&harness, &old).await, Some(false));
    let expiry = module(&harness).get_expiration_ts_for_user(old.to_string()).await.unwrap().unwrap();
    let latest = now() + 6 * WEEK;
    assert!(expiry >= before + 6 * WEEK - 6 * WEEK / 10 && expiry < latest, "spread over the last 10 %: {expiry}");
    assert_eq!(expired(&harness, &user("@bob:elsewhere.org")).await, None);
}

#[tokio::test]
async fn the_admin_resource_requires_the_secret() {
    let harness = Harness::from_yaml(&yaml("")).unwrap();
    let path = "/_synapse/client/account_validity/admin";
    let body = json!({"user_id": "@alice:example.com"});
    let missing = post(&harness, path, None, body.clone()).await;
    assert_eq!(missing.status(), 401);
    assert_eq!(serde_json::from_slice::<Value>(missing.body()).unwrap()["errcode"], "M_MISSING_TOKEN");
    let wrong = post(&harness, path, Some("guess"), body.clone()).await;
    assert_eq!(wrong.status(), 401);
    assert_eq!(serde_json::from_slice::<Value>(wrong.body()).unwrap()["errcode"], "M_UNKNOWN_TOKEN");
    let no_user = post(&harness, path, Some(SECRET), json!({})).await;
    assert_eq!(no_user.status(), 400);
    let get = harness.get(path).await.unwrap();
    assert_eq!(get.status(), 405);

    // Without a secret configured, the resource is off.
    let closed =
        Harness::from_yaml("modules:\n  - module: account_validity\n    config: {period: 6w, renew_at: 1w}\n").unwrap();
    assert_eq!(post(&closed, path, Some(SECRET), body).await.status(), 403);

    // The default expiry is now + period.
    let before = now();
    let answer = admin(&harness, json!({"user_id": "@alice:example.com"})).await;
    let expiry = answer["expiration_ts"].as_i64().unwrap();
    assert!((before + 6 * WEEK..=now() + 6 * WEEK).contains(&expiry));
}

#[tokio::test]
async fn a_notice_is_mailed_and_its_link_renews_the_account() {
    let (port, mut mails) = smtp_sink().await;
    let harness = mailing(&yaml(""), port, "Matrix");
    let alice = user("@alice:example.com");
    let module = module(&harness);
    harness.callbacks().account_validity.on_user_registration(&alice).await.unwrap();
    // Not yet due: expires in 6 weeks, notices go out 1 week before.
    admin(&harness, json!({"user_id": alice, "emails": ["alice@example.org", "a2@example.org"]})).await;
    assert_eq!(module.send_renewal_notices().await.unwrap(), 0);

    let soon = now() + 2 * 86_400_000;
    admin(&harness, json!({"user_id": alice, "expiration_ts": soon})).await;
    assert_eq!(module.send_renewal_notices().await.unwrap(), 1);
    let first = next_mail(&mut mails).await;
    let second = next_mail(&mut mails).await;
    let mut recipients = [first.to.clone(), second.to.clone()].concat();
    recipients.sort();
    assert_eq!(recipients, ["a2@example.org", "alice@example.org"]);
    assert_eq!(first.from, "noreply@example.com");
    let body = first.readable();
    assert!(body.contains("Subject: Renew your Matrix account"), "{body}");
    assert!(body.contains("From: Matrix <noreply@example.com>"), "{body}");
    assert!(body.contains("Hi @alice:example.com,"), "{body}");
    assert!(body.contains(&format!("Your account will expire on {}.", super::format_date(soon))), "{body}");
    assert!(body.contains("text/html"), "{body}");
    let token = link_token(&first);
    assert!(token.chars().all(|c| c.is_ascii_alphabetic()));
    assert_eq!(link_token(&second), token, "one token per notice, to every address");
    assert_eq!(module.renewal_notice_sent(&alice).await.unwrap(), Some(true));
    // Notified once per period.
    assert_eq!(module.send_renewal_notices().await.unwrap(), 0);

    let before = now();
    let renewed = harness.get(&format!("/_synapse/client/account_validity/renew?token={token}")).await.unwrap();
    assert_eq!(renewed.status(), 200);
    assert_eq!(renewed.headers()["content-type"], "text/html; charset=utf-8");
    let expiry = module.get_expiration_ts_for_user(alice.to_string()).await.unwrap().unwrap();
    assert!((before + 6 * WEEK..=now() + 6 * WEEK).contains(&expiry));
    assert_eq!(
        text(&renewed),
        format!(
            "<html><body>Your account has been successfully renewed and is valid until {}.</body></html>",
            super::format_date(expiry)
        )
    );
    assert_eq!(expired(&harness, &alice).await, Some(false));
    assert_eq!(module.renewal_notice_sent(&alice).await.unwrap(), Some(false), "a new period, a new notice");

    // The same link again: the page, no second renewal.
    let again = harness.get(&format!("/_synapse/client/account_validity/renew?token={token}")).await.unwrap();
    assert_eq!(again.status(), 200);
    assert!(text(&again).contains("Your account is valid until"));
    assert_eq!(module.get_expiration_ts_for_user(alice.to_string()).await.unwrap(), Some(expiry));
}

#[tokio::test]
async fn unknown_or_malformed_tokens_are_refused() {
    let harness = Harness::from_yaml(&yaml("")).unwrap();
    for token in ["abcdefghijklmnopqrstuvwxyzABCDEF", "12345678", "short"] {
        let reply = harness.get(&format!("/_synapse/client/account_validity/renew?token={token}")).await.unwrap();
        assert_eq!(reply.status(), 400);
        assert_eq!(text(&reply), "<html><body>Invalid renewal token.</body></html>");
    }
    let missing = harness.get("/_synapse/client/account_validity/renew").await.unwrap();
    assert_eq!(missing.status(), 400);
}

#[tokio::test]
async fn the_periodic_task_sends_due_notices_by_itself() {
    let (port, mut mails) = smtp_sink().await;
    let harness = mailing(&yaml("check_interval: 100"), port, "Matrix");
    let bob = user("@bob:example.com");
    harness.callbacks().account_validity.on_user_registration(&bob).await.unwrap();
    admin(&harness, json!({"user_id": bob, "expiration_ts": now() - 1, "emails": ["bob@example.org"]})).await;
    let mail = next_mail(&mut mails).await;
    assert_eq!(mail.to, ["bob@example.org"]);
    assert_eq!(expired(&harness, &bob).await, Some(true));
    let token = link_token(&mail);
    let renewed = harness.get(&format!("/_synapse/client/account_validity/renew?token={token}")).await.unwrap();
    assert_eq!(renewed.status(), 200);
    assert_eq!(expired(&harness, &bob).await, Some(false));
}

#[tokio::test]
async fn addresses_come_from_3pid_callbacks_and_users_without_one_are_retried() {
    let harness = Harness::from_yaml(&yaml("")).unwrap();
    let carol = user("@carol:example.com");
    let module = module(&harness);
    let rules = &harness.callbacks().third_party_rules;
    harness.callbacks().account_validity.on_user_registration(&carol).await.unwrap();
    admin(&harness, json!({"user_id": carol, "expiration_ts": now() + 1000})).await;
    // No address: nothing sent, and not marked, so the next run tries again.
    assert_eq!(module.send_renewal_notices().await.unwrap(), 0);
    assert_eq!(module.renewal_notice_sent(&carol).await.unwrap(), Some(false));

    rules.on_add_user_third_party_identifier(&carol, "msisdn", "15551234567").await.unwrap();
    rules.on_add_user_third_party_identifier(&carol, "email", "carol@example.org").await.unwrap();
    assert_eq!(module.notice_addresses(&carol).await.unwrap(), ["carol@example.org"]);
    // Without the server's `email:` the notice goes to the log, and counts as sent.
    assert_eq!(module.send_renewal_notices().await.unwrap(), 1);
    assert_eq!(module.renewal_notice_sent(&carol).await.unwrap(), Some(true));

    rules.on_remove_user_third_party_identifier(&carol, "email", "carol@example.org").await.unwrap();
    assert!(module.notice_addresses(&carol).await.unwrap().is_empty());
}

#[tokio::test]
async fn send_mail_notifies_a_user_on_request() {
    let (port, mut mails) = smtp_sink().await;
    // `app_name` from the server's `email:` section.
    let harness = mailing(&yaml("renew_email_subject: Keep your %(app)s"), port, "Acme");
    let path = "/_synapse/client/account_validity/send_mail";
    let dave = user("@dave:example.com");
    let unknown = post(&harness, path, Some(SECRET), json!({"user_id": dave})).await;
    assert_eq!(unknown.status(), 400);
    assert!(text(&unknown).contains("User has no expiration time"));

    harness.callbacks().account_validity.on_user_registration(&dave).await.unwrap();
    admin(&harness, json!({"user_id": dave, "emails": ["dave@example.org"]})).await;
    assert_eq!(post(&harness, path, None, json!({"user_id": dave})).await.status(), 401);
    let sent = post(&harness, path, Some(SECRET), json!({"user_id": dave})).await;
    assert_eq!((sent.status().as_u16(), text(&sent)), (200, "{}".to_owned()));
    let mail = next_mail(&mut mails).await;
    let body = mail.readable();
    assert!(body.contains("Subject: Keep your Acme"), "{body}");
    assert!(body.contains("From: Acme <noreply@example.com>"), "{body}");
}

#[tokio::test]
async fn expiry_survives_a_restart_with_a_data_directory() {
    let dir = std::env::temp_dir().join(format!("mxmod-account-validity-{}", std::process::id()));
    let start = || Harness::builder(&yaml("")).data_dir(&dir).start().unwrap();
    let erin = user("@erin:example.com");
    let first = start();
    admin(&first, json!({"user_id": erin, "expiration_ts": 12345})).await;
    drop(first);
    let second = start();
    assert_eq!(module(&second).get_expiration_ts_for_user(erin.to_string()).await.unwrap(), Some(12345));
    assert_eq!(expired(&second, &erin).await, Some(true));
    drop(second);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Data of the module's own SQLite file (`modules/account_validity.db`, where earlier
/// mxmod versions kept it) moves into the server's database on first start; the old
/// file is renamed, not deleted.
#[tokio::test]
async fn rows_of_the_old_module_file_are_imported_on_first_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("modules")).unwrap();
    let old = dir.path().join("modules").join("account_validity.db");
    {
        let c = rusqlite::Connection::open(&old).unwrap();
        c.execute_batch(
            "CREATE TABLE email_account_validity (user_id TEXT PRIMARY KEY, expiration_ts_ms BIGINT NOT NULL,
                 email_sent BOOLEAN NOT NULL, long_renewal_token TEXT, token_used_ts_ms BIGINT);
             CREATE TABLE email_account_validity_addresses (user_id TEXT NOT NULL, address TEXT NOT NULL,
                 PRIMARY KEY (user_id, address));
             INSERT INTO email_account_validity VALUES ('@erin:example.com', 12345, 1, 'AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEf', NULL);
             INSERT INTO email_account_validity_addresses VALUES ('@erin:example.com', 'erin@example.org');",
        )
        .unwrap();
    }
    let harness = Harness::builder(&yaml("")).data_dir(dir.path()).start().unwrap();
    let erin = user("@erin:example.com");
    assert_eq!(module(&harness).get_expiration_ts_for_user(erin.to_string()).await.unwrap(), Some(12345));
    assert_eq!(module(&harness).renewal_notice_sent(&erin).await.unwrap(), Some(true));
    assert_eq!(module(&harness).notice_addresses(&erin).await.unwrap(), vec!["erin@example.org".to_owned()]);
    assert!(!old.exists(), "the old file is renamed");
    assert!(dir.path().join("modules").join("account_validity.db.imported").exists(), "and kept");
    drop(harness);
    // Later starts read the server's database; the import is not repeated.
    let again = Harness::builder(&yaml("")).data_dir(dir.path()).start().unwrap();
    assert_eq!(module(&again).get_expiration_ts_for_user(erin.to_string()).await.unwrap(), Some(12345));
}

/// Two entries of the module need distinct `id:`s; each has its own tables.
#[tokio::test]
async fn two_instances_need_distinct_ids_and_keep_their_rows_apart() {
    let entry = |id: &str| {
        format!("  - module: account_validity\n{id}    config: {{period: 6w, renew_at: 1w, admin_secret: {SECRET}}}\n")
    };
    let same = format!("modules:\n{}{}", entry(""), entry(""));
    let error = Harness::from_yaml(&same).unwrap_err().to_string();
    assert!(error.contains("test.yaml:4:") && error.contains("modules[1].module"), "{error}");
    assert!(error.contains("already has the instance id `account_validity`"), "{error}");
    let bad = format!("modules:\n{}", entry("    id: Bad-Id\n"));
    let error = Harness::from_yaml(&bad).unwrap_err().to_string();
    assert!(error.contains("modules[0].id") && error.contains("lowercase letters"), "{error}");

    let dir = tempfile::tempdir().unwrap();
    let two = format!("modules:\n{}{}", entry("    id: av_one\n"), entry("    id: av_two\n"));
    let harness = Harness::builder(&two).data_dir(dir.path()).start().unwrap();
    let erin = user("@erin:example.com");
    let (first, second) =
        (harness.module::<AccountValidity>(0).unwrap(), harness.module::<AccountValidity>(1).unwrap());
    first.api.db().unwrap().execute("SELECT 1", &[]).await.unwrap();
    assert_eq!(first.api.instance_id(), "av_one");
    first.core.store.set_expiration_date(erin.as_str(), 777).await.unwrap();
    assert_eq!(first.get_expiration_ts_for_user(erin.to_string()).await.unwrap(), Some(777));
    assert_eq!(second.get_expiration_ts_for_user(erin.to_string()).await.unwrap(), None);
}

/// The store on PostgreSQL (when `MXMOD_TEST_POSTGRES_URL` is set): the same statements,
/// types and transactions as on SQLite.
#[tokio::test]
async fn the_store_works_on_postgresql() {
    let Some(postgres) = mxmod::testing::TestPostgres::create("account_validity store").await else {
        return;
    };
    let harness = Harness::builder(&yaml("")).database(postgres.database()).start().unwrap();
    let erin = user("@erin:example.com");
    let av = module(&harness);
    assert_eq!(av.get_expiration_ts_for_user(erin.to_string()).await.unwrap(), None);
    harness.callbacks().account_validity.on_user_registration(&erin).await.unwrap();
    assert!(av.get_expiration_ts_for_user(erin.to_string()).await.unwrap().is_some_and(|ts| ts > now()));
    admin(&harness, json!({"user_id": erin, "expiration_ts": 12345, "emails": ["b@example.org", "a@example.org"]}))
        .await;
    assert_eq!(av.get_expiration_ts_for_user(erin.to_string()).await.unwrap(), Some(12345));
    assert_eq!(expired(&harness, &erin).await, Some(true));
    assert_eq!(av.renewal_notice_sent(&erin).await.unwrap(), Some(false));
    assert_eq!(av.notice_addresses(&erin).await.unwrap(), vec!["a@example.org".to_owned(), "b@example.org".to_owned()]);
    let token = av.core.generate_link_token(av.get_expiration_ts_for_user_cache(), erin.as_str()).await.unwrap();
    assert_eq!(av.core.store.token_owner(&token).await.unwrap().map(|owner| owner.user_id), Some(erin.to_string()));
    assert_eq!(av.core.store.users_expiring_soon(now(), WEEK).await.unwrap(), vec![(erin.to_string(), 12345)]);
    drop(harness);
}

#[tokio::test]
async fn config_problems_are_reported() {
    let missing = |yaml: &str| Harness::from_yaml(yaml).unwrap_err().to_string();
    let period = missing("modules:\n  - module: account_validity\n    config: {renew_at: 1w}\n");
    assert!(period.contains("`period` is required"), "{period}");
    let renew_at = missing("modules:\n  - module: account_validity\n    config: {period: 1w}\n");
    assert!(renew_at.contains("`renew_at` is required"), "{renew_at}");
    let bad = missing("modules:\n  - module: account_validity\n    config: {period: 6x, renew_at: 1w}\n");
    assert!(bad.contains("modules[0].config.period") && bad.contains("unknown duration unit"), "{bad}");
    let codes = missing(&yaml("send_links: false"));
    assert!(codes.contains("modules[0].config.send_links"), "{codes}");
    let moved = missing(&yaml("smtp:\n  host: 127.0.0.1\n  notif_from: a@b.org"));
    assert!(moved.contains("modules[0].config.smtp") && moved.contains("homeserver's `email:` section"), "{moved}");
    let ms = Harness::from_yaml(
        "modules:\n  - module: account_validity\n    config: {period: 3600000, renew_at: '60000'}\n",
    );
    assert!(ms.is_ok());
}

/// A waker that records that it was woken.
struct Flag(std::sync::atomic::AtomicBool);

impl std::task::Wake for Flag {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewal_during_an_expiry_read_is_not_undone_by_the_read() {
    let harness = Harness::from_yaml(&yaml("")).unwrap();
    let alice = user("@alice:example.com");
    harness.callbacks().account_validity.on_user_registration(&alice).await.unwrap();
    let past = now() - 1000;

    // An expiry check misses the cache and reads the old (past) expiration time...
    let flag = std::sync::Arc::new(Flag(std::sync::atomic::AtomicBool::new(false)));
    let waker = std::task::Waker::from(flag.clone());
    let mut attempts = 0;
    let read = loop {
        attempts += 1;
        // Sets the past expiry and drops any cached answer.
        admin(&harness, json!({"user_id": alice, "expiration_ts": past})).await;
        let mut read = Box::pin(harness.callbacks().account_validity.is_user_expired(&alice));
        if read.as_mut().poll(&mut std::task::Context::from_waker(&waker)).is_pending() {
            break read;
        }
        // The blocking pool answered before the first poll (this thread was preempted
        // between spawning the read and polling it): nothing interleaved; try again.
        assert!(attempts < 50, "the read never awaited the database");
    };
    let started = std::time::Instant::now();
    while !flag.0.load(std::sync::atomic::Ordering::SeqCst) {
        assert!(started.elapsed() < Duration::from_secs(10), "the database read finishes");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // ... and, before it stores what it read, the account is renewed.
    let future = now() + WEEK;
    admin(&harness, json!({"user_id": alice, "expiration_ts": future})).await;
    assert_eq!(read.await.unwrap(), Some(true), "the check answers from what it read before the renewal");

    // Its stale read is not stored after the renewal's invalidation: the next check sees
    // the renewal.
    assert_eq!(expired(&harness, &alice).await, Some(false));
}
