//! Each shipped module through the real server, with loopback services where a module
//! talks to one.

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::{config_with_modules, enc, eventually, fake_service, Server};

fn errcode(answer: &Value) -> Option<&str> {
    answer["errcode"].as_str()
}

#[test]
fn http_antispam_relays_the_services_verdict() {
    let service = fake_service(|_, path, body| match path {
        "/user_may_create_room" if body["user_id"] == "@banned:test.local" => {
            (403, json!({ "errcode": "M_FORBIDDEN", "error": "You are banned", "reason": "spam" }))
        }
        _ => (200, json!({})),
    });
    let server = Server::start(&config_with_modules(&format!(
        "  - module: http_antispam\n    config:\n      base_url: {service}\n      authorization: token\n"
    )));
    let (_, banned) = server.register("banned");
    let (status, answer) = server.call("POST", "/_matrix/client/v3/createRoom", Some(&banned), Some(&json!({})));
    assert_eq!((status, errcode(&answer), &answer["reason"]), (403, Some("M_FORBIDDEN"), &json!("spam")), "{answer}");
    let (_, fine) = server.register("fine");
    server.create_room(&fine, json!({}));
}

#[test]
fn domain_rule_checker_limits_invites_by_domain() {
    let server = Server::start(&config_with_modules(
        "  - module: domain_rule_checker
    config:
      domain_mapping:
        test.local: [test.local]
      can_invite_if_not_in_domain_mapping: false
",
    ));
    let (_, alice) = server.register("alice");
    let (bob_id, _) = server.register("bob");
    let room = server.create_room(&alice, json!({}));
    let invite = |user: &str| {
        server.call(
            "POST",
            &format!("/_matrix/client/v3/rooms/{}/invite", enc(&room)),
            Some(&alice),
            Some(&json!({ "user_id": user })),
        )
    };
    assert_eq!(invite(&bob_id).0, 200);
    let (status, answer) = invite("@stranger:elsewhere.org");
    assert_eq!((status, errcode(&answer)), (403, Some("M_FORBIDDEN")));
}

#[test]
fn auto_accept_invite_joins_the_invitee_and_records_the_dm() {
    let server = Server::start(&config_with_modules("  - module: auto_accept_invite\n"));
    let (alice_id, alice) = server.register("alice");
    let (bob_id, bob) = server.register("bob");
    let room = server.create_room(&alice, json!({ "invite": [bob_id], "is_direct": true }));
    let joined = eventually(Duration::from_secs(15), || {
        let (_, rooms) = server.call("GET", "/_matrix/client/v3/joined_rooms", Some(&bob), None);
        rooms["joined_rooms"].as_array().is_some_and(|rooms| rooms.contains(&json!(room)))
    });
    assert!(joined, "bob joined without doing anything");
    let direct = eventually(Duration::from_secs(5), || {
        let path = format!("/_matrix/client/v3/user/{}/account_data/m.direct", enc(&bob_id));
        let (status, data) = server.call("GET", &path, Some(&bob), None);
        status == 200 && data[&alice_id] == json!([room])
    });
    assert!(direct, "the DM is in bob's m.direct");
}

#[test]
fn account_validity_expires_accounts_and_the_admin_resource_sets_expiry() {
    let server = Server::start(&config_with_modules(
        "  - module: account_validity
    config:
      period: 6w
      renew_at: 1w
      admin_secret: hunter2
",
    ));
    let (user_id, token) = server.register("mortal");
    assert_eq!(server.call("GET", "/_matrix/client/v3/account/whoami", Some(&token), None).0, 200);
    let (status, _) = server.call(
        "POST",
        "/_synapse/client/account_validity/admin",
        Some("wrong"),
        Some(&json!({ "user_id": user_id, "expiration_ts": 1 })),
    );
    assert_eq!(status, 401);
    let (status, answer) = server.call(
        "POST",
        "/_synapse/client/account_validity/admin",
        Some("hunter2"),
        Some(&json!({ "user_id": user_id, "expiration_ts": 1 })),
    );
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = server.call("GET", "/_matrix/client/v3/account/whoami", Some(&token), None);
    assert_eq!((status, errcode(&answer)), (403, Some("ORG_MATRIX_EXPIRED_ACCOUNT")));
}

#[test]
fn event_censorer_rewrites_content_through_its_service() {
    // The service sees every event the server creates; it censors messages only.
    let service = fake_service(|_, _, event| {
        if event["type"] != "m.room.message" {
            return (200, event["content"].clone());
        }
        let body = event["content"]["body"].as_str().unwrap_or_default().replace("darn", "****");
        (200, json!({ "msgtype": "m.text", "body": body }))
    });
    let server = Server::start(&config_with_modules(&format!(
        "  - module: event_censorer\n    config:\n      endpoint: {service}/censor\n"
    )));
    let (_, token) = server.register("speaker");
    let room = server.create_room(&token, json!({}));
    let (status, sent) = server.send_text(&token, &room, "1", "darn it");
    assert_eq!(status, 200, "{sent}");
    let path = format!("/_matrix/client/v3/rooms/{}/event/{}", enc(&room), enc(sent["event_id"].as_str().unwrap()));
    let (_, event) = server.call("GET", &path, Some(&token), None);
    assert_eq!(event["content"]["body"], "**** it");
}

#[test]
fn user_department_keeps_invites_within_a_department() {
    let service = fake_service(|_, path, _| {
        let department = if path.contains("sales") { "sales" } else { "engineering" };
        (200, json!({ "department": department }))
    });
    let server = Server::start(&config_with_modules(&format!(
        "  - module: user_department\n    config:\n      service: {service}/department\n      shared_secret: s3cret\n"
    )));
    let (_, seller) = server.register("sales1");
    let (colleague, _) = server.register("sales2");
    let (engineer, _) = server.register("engineer");
    let room = server.create_room(&seller, json!({}));
    let invite = |user: &str| {
        server.call(
            "POST",
            &format!("/_matrix/client/v3/rooms/{}/invite", enc(&room)),
            Some(&seller),
            Some(&json!({ "user_id": user })),
        )
    };
    assert_eq!(invite(&colleague).0, 200);
    let (status, answer) = invite(&engineer);
    assert_eq!((status, errcode(&answer)), (403, Some("M_FORBIDDEN")));
    let (status, stats) = server.call("GET", "/_synapse/client/user_department/stats", None, None);
    assert_eq!((status, &stats["misses"]), (200, &json!(3)), "{stats}");
}
