//! Mail through the server's `email:` section: a module's `ModuleApi::send_mail` and the
//! email validation endpoints (`.../email/requestToken` with `is_3pid_allowed`, the mailed
//! `submit_token` link), against a loopback SMTP sink (SYNAPSE.md A28).

use std::time::Duration;

use mxmod::testing::{smtp_sink, SentMail};
use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::support::{binary, config_with_modules, Server};

const REGISTER: &str = "/_matrix/client/v3/register/email/requestToken";
const ADD: &str = "/_matrix/client/v3/account/3pid/email/requestToken";
const RESET: &str = "/_matrix/client/v3/account/password/email/requestToken";

/// A loopback SMTP server on a runtime of its own (these tests are synchronous).
struct Sink {
    runtime: tokio::runtime::Runtime,
    port: u16,
    mails: UnboundedReceiver<SentMail>,
}

impl Sink {
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let (port, mails) = runtime.block_on(smtp_sink());
        Sink { runtime, port, mails }
    }

    /// The `email:` section pointing at this sink.
    fn email_section(&self) -> String {
        format!(
            "email:\n  smtp_host: 127.0.0.1\n  smtp_port: {}\n  notif_from: '%(app)s <noreply@test.local>'\n  \
             app_name: Testing\n",
            self.port
        )
    }

    /// The next message the sink accepts (within 10 s).
    fn next(&mut self) -> SentMail {
        let mails = &mut self.mails;
        self.runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(10), mails.recv())
                .await
                .expect("a mail within 10 s")
                .expect("the sink is running")
        })
    }

    /// Whether a message arrives within `wait`.
    fn nothing_within(&mut self, wait: Duration) -> bool {
        let mails = &mut self.mails;
        self.runtime.block_on(async { tokio::time::timeout(wait, mails.recv()).await.is_err() })
    }
}

/// `mxmod-policy-server` with `extras` (configured so) and `extra_config` at the top level.
fn server(extras_config: &str, extra_config: &str) -> Server {
    let modules = format!("  - module: extras\n    config:\n{extras_config}");
    Server::start_policy_with_config(&format!("{extra_config}{}", config_with_modules(&modules)))
}

fn request_token(server: &Server, path: &str, email: &str, secret: &str, attempt: i64) -> (u16, Value) {
    let body = json!({ "client_secret": secret, "email": email, "send_attempt": attempt });
    server.call("POST", path, None, Some(&body))
}

fn extras_calls(server: &Server) -> Vec<Value> {
    let (status, calls) = server.call("GET", "/_synapse/client/extras/calls", None, None);
    assert_eq!(status, 200);
    calls.as_array().cloned().unwrap_or_default()
}

/// The `submit_token` link in a validation mail: (path and query, token, sid).
fn link(mail: &SentMail) -> (String, String, String) {
    let body = mail.readable();
    let start =
        body.find("http://127.0.0.1/").unwrap_or_else(|| panic!("no link in\n{body}")) + "http://127.0.0.1".len();
    let end = start + body[start..].find(char::is_whitespace).unwrap();
    let path = body[start..end].to_owned();
    let param = |name: &str| {
        let query = path.split_once('?').unwrap().1;
        form_pairs(query).into_iter().find(|(key, _)| key == name).map(|(_, value)| value).unwrap()
    };
    let (token, sid) = (param("token"), param("sid"));
    (path, token, sid)
}

fn form_pairs(query: &str) -> Vec<(String, String)> {
    query.split('&').filter_map(|pair| pair.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

#[test]
fn an_address_a_module_denies_gets_threepid_denied_on_both_endpoints() {
    let sink = Sink::start();
    let server = server("      denied_email_domains: [blocked.example]\n", &sink.email_section());
    let (status, answer) = request_token(&server, REGISTER, "Foo@Blocked.Example", "secret", 1);
    assert_eq!((status, answer["errcode"].as_str()), (403, Some("M_THREEPID_DENIED")), "{answer}");
    let (status, answer) = request_token(&server, ADD, "foo@blocked.example", "secret", 1);
    assert_eq!((status, answer["errcode"].as_str()), (403, Some("M_THREEPID_DENIED")), "{answer}");
    // The canonical (lower-cased) address, and the registration flag of each endpoint.
    assert_eq!(
        extras_calls(&server),
        [
            json!(["is_3pid_allowed", ["email", "foo@blocked.example", true]]),
            json!(["is_3pid_allowed", ["email", "foo@blocked.example", false]]),
        ]
    );
    let (status, answer) = request_token(&server, REGISTER, "foo@test.com", "secret", 1);
    assert_eq!(status, 200, "another domain is allowed: {answer}");
}

#[test]
fn an_allowed_address_gets_a_sid_and_a_mail_whose_link_validates_the_session() {
    let mut sink = Sink::start();
    let server = server("      denied_email_domains: [blocked.example]\n", &sink.email_section());
    let (status, answer) = request_token(&server, REGISTER, "Foo@Test.com", "s3cret.x", 1);
    assert_eq!(status, 200, "{answer}");
    let sid = answer["sid"].as_str().unwrap().to_owned();
    let mail = sink.next();
    assert_eq!((mail.from.as_str(), mail.to.as_slice()), ("noreply@test.local", &["foo@test.com".to_owned()][..]));
    let body = mail.readable();
    assert!(body.contains("Subject: [test.local] Validate your email"), "{body}");
    assert!(body.contains("From: Testing <noreply@test.local>"), "{body}");
    assert!(body.contains("register this email with a new Matrix account"), "{body}");
    let (path, token, mailed_sid) = link(&mail);
    assert!(path.starts_with("/_matrix/client/unstable/registration/email/submit_token?"), "{path}");
    assert_eq!(mailed_sid, sid);
    assert!(path.contains("client_secret=s3cret.x"), "{path}");

    // The same attempt again: the same session, no second mail; a higher one mails a new token.
    let (status, again) = request_token(&server, REGISTER, "foo@test.com", "s3cret.x", 1);
    assert_eq!((status, again["sid"].as_str()), (200, Some(sid.as_str())));
    let (status, next) = request_token(&server, REGISTER, "foo@test.com", "s3cret.x", 2);
    assert_eq!((status, next["sid"].as_str()), (200, Some(sid.as_str())));
    let second = sink.next();
    let (second_path, second_token, _) = link(&second);
    assert_ne!(second_token, token, "the repeated attempt sent nothing; the next mail is attempt 2's");

    // The first token was replaced; a wrong secret knows no session; the mailed link validates.
    let (status, page) = server.call_raw("GET", &path, None, None, None);
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&page).contains("Validation token not found or has expired"));
    let wrong_secret = second_path.replace("client_secret=s3cret.x", "client_secret=other");
    let (status, page) = server.call_raw("GET", &wrong_secret, None, None, None);
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&page).contains("Unknown session_id"));
    let (status, page) = server.call_raw("GET", &second_path, None, None, None);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&page));
    assert!(String::from_utf8_lossy(&page).contains("Your email has now been validated"));
    let (status, answer) =
        server.call("GET", "/_matrix/client/unstable/registration/email/submit_token?sid=x", None, None);
    assert_eq!((status, answer["errcode"].as_str()), (400, Some("M_MISSING_PARAM")));

    // Adding an address links to the add_threepid page, which sends the browser on to
    // `next_link` with the session's `sid`.
    let body = json!({
        "client_secret": "other", "email": "new@test.com", "send_attempt": 1,
        "next_link": "https://client.example/validated?step=2",
    });
    let (status, answer) = server.call("POST", ADD, None, Some(&body));
    assert_eq!(status, 200, "{answer}");
    let added = sink.next();
    let (added_path, _, added_sid) = link(&added);
    assert!(added_path.starts_with("/_matrix/client/unstable/add_threepid/email/submit_token?"));
    assert!(added.readable().contains("add this email to your Matrix account"));
    let no_redirects: ureq::Agent =
        ureq::Agent::config_builder().http_status_as_error(false).max_redirects(0).build().into();
    let response = no_redirects.get(format!("{}{added_path}", server.base)).call().unwrap();
    assert_eq!(response.status().as_u16(), 302);
    let location = response.headers()["location"].to_str().unwrap();
    assert_eq!(location, format!("https://client.example/validated?step=2&sid={added_sid}"));

    // The validated address is bound with `/account/3pid/add` after password auth; it then
    // belongs to that user, and `/account/3pid/delete` unbinds it.
    let (alice, alice_token) = server.register("alice");
    let (_, bob_token) = server.register("bob");
    let add = |token: &str, sid: &str, auth: Value| {
        let body = json!({ "client_secret": "other", "sid": sid, "auth": auth });
        server.call("POST", "/_matrix/client/v3/account/3pid/add", Some(token), Some(&body))
    };
    let password = |user: &str| json!({ "type": "m.login.password", "identifier": { "type": "m.id.user", "user": user }, "password": "secret-pw" });
    let (status, answer) = add(&alice_token, &added_sid, Value::Null);
    assert_eq!((status, answer["flows"][0]["stages"][0].as_str()), (401, Some("m.login.password")), "{answer}");
    let (status, answer) = add(&alice_token, "unknown", password("alice"));
    assert_eq!((status, answer["errcode"].as_str()), (400, Some("M_THREEPID_AUTH_FAILED")), "{answer}");
    assert_eq!(add(&alice_token, &added_sid, password("alice")).0, 200);
    let (_, listed) = server.call("GET", "/_matrix/client/v3/account/3pid", Some(&alice_token), None);
    assert_eq!(listed["threepids"][0]["address"], "new@test.com", "{listed}");
    let (status, answer) = add(&bob_token, &added_sid, password("bob"));
    assert_eq!((status, answer["errcode"].as_str()), (400, Some("M_THREEPID_IN_USE")), "{answer}");
    let (status, answer) = request_token(&server, ADD, "new@test.com", "again", 1);
    assert_eq!((status, answer["errcode"].as_str()), (400, Some("M_THREEPID_IN_USE")), "{answer}");
    let unbind = json!({ "medium": "email", "address": "New@Test.com" });
    let (status, answer) =
        server.call("POST", "/_matrix/client/v3/account/3pid/delete", Some(&alice_token), Some(&unbind));
    assert_eq!((status, answer["id_server_unbind_result"].as_str()), (200, Some("no-support")), "{answer}");
    let (_, listed) = server.call("GET", "/_matrix/client/v3/account/3pid", Some(&alice_token), None);
    assert_eq!(listed["threepids"], json!([]), "{alice}: {listed}");
    let (_, capabilities) = server.call("GET", "/_matrix/client/v3/capabilities", Some(&alice_token), None);
    assert_eq!(capabilities["capabilities"]["m.3pid_changes"]["enabled"], true);
    assert!(sink.nothing_within(Duration::from_millis(300)), "one mail per request that sends one");
}

/// A user who forgot the password: a mail to an address the user holds, a confirmation
/// page that validates the session only when its form is sent, then
/// `POST /account/password` without an access token, `m.login.email.identity`, once.
#[test]
fn a_forgotten_password_is_reset_through_a_mailed_link_once() {
    let mut sink = Sink::start();
    let server = server("      denied_email_domains: [blocked.example]\n", &sink.email_section());
    let (_, alice_token) = server.register("alice");
    // Alice binds an address (validated through its mailed link, then added).
    assert_eq!(request_token(&server, ADD, "alice@test.com", "bind", 1).0, 200);
    let (bind_path, _, bind_sid) = link(&sink.next());
    assert_eq!(server.call_raw("GET", &bind_path, None, None, None).0, 200);
    let password = json!({ "type": "m.login.password", "identifier": { "type": "m.id.user", "user": "alice" }, "password": "secret-pw" });
    let body = json!({ "client_secret": "bind", "sid": bind_sid, "auth": password });
    assert_eq!(server.call("POST", "/_matrix/client/v3/account/3pid/add", Some(&alice_token), Some(&body)).0, 200);

    let (status, answer) = request_token(&server, RESET, "nobody@test.com", "reset", 1);
    assert_eq!((status, answer["errcode"].as_str()), (400, Some("M_THREEPID_NOT_FOUND")), "{answer}");
    let (status, answer) = request_token(&server, RESET, "Alice@Test.com", "reset.secret", 1);
    assert_eq!(status, 200, "{answer}");
    let sid = answer["sid"].as_str().unwrap().to_owned();
    let mail = sink.next();
    assert_eq!(mail.to, ["alice@test.com".to_owned()]);
    let text = mail.readable();
    assert!(text.contains("Subject: [test.local] Password reset"), "{text}");
    assert!(text.contains("confirm resetting your password"), "{text}");
    let (path, token, mailed_sid) = link(&mail);
    assert!(path.starts_with("/_synapse/client/password_reset/email/submit_token?"), "{path}");
    assert_eq!(mailed_sid, sid);

    let reset = |auth: Option<Value>| {
        let mut body = json!({ "new_password": "new-pw" });
        if let Some(auth) = auth {
            body["auth"] = auth;
        }
        server.call("POST", "/_matrix/client/v3/account/password", None, Some(&body))
    };
    let identity =
        json!({ "type": "m.login.email.identity", "threepid_creds": { "sid": sid, "client_secret": "reset.secret" } });
    let (status, answer) = reset(None);
    assert_eq!((status, answer["flows"][0]["stages"][0].as_str()), (401, Some("m.login.email.identity")), "{answer}");
    let (status, answer) = reset(Some(identity.clone()));
    assert_eq!((status, answer["errcode"].as_str()), (401, Some("M_UNAUTHORIZED")), "not validated yet: {answer}");

    // Following the link shows a form and validates nothing; sending the form validates.
    let (status, page) = server.call_raw("GET", &path, None, None, None);
    let page = String::from_utf8_lossy(&page).into_owned();
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<form method=\"post\">"), "{page}");
    assert!(page.contains(&format!("name=\"token\" value=\"{token}\"")), "{page}");
    let (status, answer) = reset(Some(identity.clone()));
    assert_eq!((status, answer["errcode"].as_str()), (401, Some("M_UNAUTHORIZED")), "a GET validates nothing");
    let form = format!("sid={sid}&token={token}&client_secret=reset.secret");
    let (status, page) = server.call_raw(
        "POST",
        "/_synapse/client/password_reset/email/submit_token",
        None,
        Some(form.into_bytes()),
        Some("application/x-www-form-urlencoded"),
    );
    let page = String::from_utf8_lossy(&page).into_owned();
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("return to your client to reset your password"), "{page}");

    // The reset: once, for alice, logging every device out.
    let (status, answer) = reset(Some(identity.clone()));
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = reset(Some(identity));
    assert_eq!((status, answer["errcode"].as_str()), (401, Some("M_UNAUTHORIZED")), "used once: {answer}");
    let (status, answer) = server.call("GET", "/_matrix/client/v3/account/whoami", Some(&alice_token), None);
    assert_eq!((status, answer["errcode"].as_str()), (401, Some("M_UNKNOWN_TOKEN")), "{answer}");
    let login = |password: &str| {
        let body = json!({ "type": "m.login.password", "identifier": { "type": "m.id.user", "user": "alice" }, "password": password });
        server.call("POST", "/_matrix/client/v3/login", None, Some(&body)).0
    };
    assert_eq!((login("secret-pw"), login("new-pw")), (403, 200));
}

#[test]
fn an_address_in_use_is_not_revealed_when_3pid_errors_are_inhibited() {
    use crate::admin::{register_admin, SECRET};
    let mut sink = Sink::start();
    let top = format!(
        "registration_shared_secret: {SECRET}\nrequest_token_inhibit_3pid_errors: true\n{}",
        sink.email_section()
    );
    let server = server("      {}\n", &top);
    let (_, admin) = register_admin(&server, "admin");
    let (alice, _) = server.register("alice");
    let threepids = json!({ "threepids": [{ "medium": "email", "address": "taken@test.com" }] });
    let path = format!("/_synapse/admin/v2/users/{}", crate::support::enc(&alice));
    assert_eq!(server.call("PUT", &path, Some(&admin), Some(&threepids)).0, 200);
    // An address in use answers as a free one does, a `sid` and no error, after a wait,
    // and no mail goes out; so does a password reset for an address nobody holds.
    for (endpoint, address) in [(REGISTER, "taken@test.com"), (ADD, "taken@test.com"), (RESET, "free@test.com")] {
        let started = std::time::Instant::now();
        let (status, answer) = request_token(&server, endpoint, address, "s", 1);
        assert_eq!(status, 200, "{endpoint}: {answer}");
        assert!(answer["sid"].as_str().is_some_and(|sid| sid.len() == 16), "{answer}");
        assert!(started.elapsed() >= Duration::from_millis(100), "answered after {:?}", started.elapsed());
    }
    assert!(sink.nothing_within(Duration::from_millis(500)), "no mail for an address in use, or nobody's");
    // A free address is mailed as usual.
    let (status, answer) = request_token(&server, REGISTER, "free@test.com", "s", 1);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(sink.next().to, ["free@test.com"]);
}

#[test]
fn requests_are_checked_and_rate_limited() {
    let sink = Sink::start();
    let server = server("      {}\n", &sink.email_section());
    let post = |body: Value| server.call("POST", REGISTER, None, Some(&body));
    let cases = [
        (json!({ "email": "a@test.com", "send_attempt": 1 }), "M_MISSING_PARAM"),
        (json!({ "client_secret": "has space", "email": "a@test.com", "send_attempt": 1 }), "M_INVALID_PARAM"),
        (json!({ "client_secret": "x".repeat(256), "email": "a@test.com", "send_attempt": 1 }), "M_INVALID_PARAM"),
        (json!({ "client_secret": "s", "email": "not an address", "send_attempt": 1 }), "M_INVALID_PARAM"),
        (json!({ "client_secret": "s", "email": "a@test.com", "send_attempt": "1" }), "M_INVALID_PARAM"),
    ];
    for (body, errcode) in cases {
        let (status, answer) = post(body.clone());
        assert_eq!((status, answer["errcode"].as_str()), (400, Some(errcode)), "{body}: {answer}");
    }
    let (status, answer) = server.call_raw("POST", REGISTER, None, Some(b"not json".to_vec()), None);
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&answer));
    // `rc_3pid_validation` (Synapse's default burst of 5), per client address.
    for n in 0..5 {
        let (status, answer) = request_token(&server, REGISTER, &format!("user{n}@test.com"), "s", 1);
        assert_eq!(status, 200, "request {n}: {answer}");
    }
    let (status, answer) = request_token(&server, REGISTER, "user5@test.com", "s", 1);
    assert_eq!((status, answer["errcode"].as_str()), (429, Some("M_LIMIT_EXCEEDED")), "{answer}");
}

#[test]
fn a_mail_the_smtp_server_does_not_take_fails_the_request_and_keeps_no_session() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let email = format!("email:\n  smtp_host: 127.0.0.1\n  smtp_port: {port}\n  notif_from: n@test.local\n");
    let server = server("      {}\n", &email);
    for attempt in 0..2 {
        let (status, answer) = request_token(&server, REGISTER, "a@test.com", "s", 1);
        // The same send_attempt again: had the first session been kept, this would be 200
        // with its sid and no mail.
        assert_eq!((status, answer["errcode"].as_str()), (500, Some("M_UNKNOWN")), "attempt {attempt}: {answer}");
    }
    assert!(server.log().contains("validation mail to a@test.com failed"), "{}", server.log());
}

#[test]
fn without_an_email_section_nothing_is_validated_and_modules_are_told() {
    let server = server("      {}\n", "");
    let (status, answer) = request_token(&server, REGISTER, "a@test.com", "s", 1);
    assert_eq!((status, answer["errcode"].as_str()), (400, Some("M_UNKNOWN")), "{answer}");
    let (status, answer) = request_token(&server, ADD, "a@test.com", "s", 1);
    assert_eq!((status, answer["errcode"].as_str()), (400, Some("M_THREEPID_MEDIUM_NOT_SUPPORTED")), "{answer}");
    let (status, answer) = request_token(&server, RESET, "a@test.com", "s", 1);
    assert_eq!((status, answer["errcode"].as_str()), (400, Some("M_UNKNOWN")), "{answer}");
    let body = json!({ "new_password": "p", "auth": { "type": "m.login.email.identity" } });
    let (status, answer) = server.call("POST", "/_matrix/client/v3/account/password", None, Some(&body));
    assert_eq!((status, answer["errcode"].as_str()), (401, Some("M_MISSING_TOKEN")), "no reset by email: {answer}");
    assert!(extras_calls(&server).is_empty(), "no module is asked when nothing would be validated");
    let (_, token) = server.register("carol");
    let (_, capabilities) = server.call("GET", "/_matrix/client/v3/capabilities", Some(&token), None);
    assert_eq!(capabilities["capabilities"]["m.3pid_changes"]["enabled"], false);
    let body = json!({ "client_secret": "s", "sid": "x" });
    let (status, answer) = server.call("POST", "/_matrix/client/v3/account/3pid/add", Some(&token), Some(&body));
    assert_eq!((status, answer["errcode"].as_str()), (400, Some("M_THREEPID_MEDIUM_NOT_SUPPORTED")), "{answer}");
    let mail = json!({ "recipient": "a@test.com", "subject": "s", "html": "<p>h</p>", "text": "t" });
    let (status, answer) = server.call("POST", "/_synapse/client/extras/send_mail", None, Some(&mail));
    assert_eq!(status, 503);
    assert!(answer["error"].as_str().unwrap().contains("no `email:` section"), "{answer}");
}

#[test]
fn a_modules_send_mail_reaches_the_configured_smtp_server() {
    let mut sink = Sink::start();
    let server = server("      {}\n", &sink.email_section());
    let mail = json!({ "recipient": "bob@example.org", "subject": "From a module", "html": "<p>Hi</p>", "text": "Hi" });
    let (status, answer) = server.call("POST", "/_synapse/client/extras/send_mail", None, Some(&mail));
    assert_eq!(status, 200, "{answer}");
    let sent = sink.next();
    assert_eq!(sent.to, ["bob@example.org"]);
    let body = sent.readable();
    assert!(body.contains("Subject: From a module") && body.contains("From: Testing <noreply@test.local>"), "{body}");
}

#[test]
fn check_config_refuses_an_unknown_or_inconsistent_email_key_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("homeserver.yaml");
    let config = config_with_modules("  []\n");
    let email = "email:\n  smtp_host: 127.0.0.1\n  notif_from: n@test.local\n  smtp_pasword: x\n";
    std::fs::write(&path, format!("{email}{config}")).unwrap();
    let output = std::process::Command::new(binary()).args(["check-config", "-c"]).arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("homeserver.yaml:4:") && stderr.contains("smtp_pasword"), "{stderr}");

    let email = "email:\n  smtp_host: 127.0.0.1\n  enable_tls: false\n  require_transport_security: true\n";
    std::fs::write(&path, format!("{email}{config}")).unwrap();
    let output = std::process::Command::new(binary()).args(["check-config", "-c"]).arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("`notif_from` is required"), "{stderr}");
    assert!(stderr.contains("homeserver.yaml:4:") && stderr.contains("requires `enable_tls`"), "{stderr}");
}
