//! Push rules over HTTP: the default set, adding/placing/deleting rules, `enabled` and
//! `actions`, Synapse's errcodes, and `unread_notifications` in `/sync` counted by them.

use serde_json::{json, Value};

use crate::support::{config_with_modules, enc, Server};

const RULES: &str = "/_matrix/client/v3/pushrules";

fn ids(list: &Value) -> Vec<String> {
    list.as_array().unwrap().iter().map(|r| r["rule_id"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn push_rules_are_served_changed_and_refused_as_synapse_does() {
    let server = Server::start(&config_with_modules("  []\n"));
    let (alice_id, alice) = server.register("alice");
    let (status, all) = server.call("GET", &format!("{RULES}/"), Some(&alice), None);
    assert_eq!(status, 200);
    let overrides = ids(&all["global"]["override"]);
    assert_eq!(overrides.len(), 12);
    assert_eq!(overrides[0], ".m.rule.master");
    assert_eq!(all["global"]["content"][0]["pattern"], "alice");
    assert_eq!(ids(&all["global"]["underride"]).last().unwrap(), ".m.rule.encrypted");
    let invite = all["global"]["override"].as_array().unwrap().iter().find(|r| r["rule_id"] == ".m.rule.invite_for_me");
    assert_eq!(invite.unwrap()["conditions"][2]["pattern"], alice_id.as_str());

    // Add two rules, one placed after the other; they sit after .m.rule.master.
    let rule = json!({ "conditions": [{ "kind": "event_match", "key": "content.body", "pattern": "cake" }], "actions": ["notify"] });
    assert_eq!(server.call("PUT", &format!("{RULES}/global/override/first"), Some(&alice), Some(&rule)).0, 200);
    let path = format!("{RULES}/global/override/second?after=first");
    assert_eq!(server.call("PUT", &path, Some(&alice), Some(&rule)).0, 200);
    let (_, list) = server.call("GET", &format!("{RULES}/global/override/"), Some(&alice), None);
    assert_eq!(ids(&list)[..3], [".m.rule.master", "first", "second"]);
    let (status, one) = server.call("GET", &format!("{RULES}/global/override/second"), Some(&alice), None);
    assert_eq!((status, one["default"].clone(), one["enabled"].clone()), (200, json!(false), json!(true)));

    // enabled and actions, of a user rule and of a default one.
    let path = format!("{RULES}/global/underride/.m.rule.message/enabled");
    assert_eq!(server.call("PUT", &path, Some(&alice), Some(&json!({ "enabled": false }))).0, 200);
    assert_eq!(server.call("GET", &path, Some(&alice), None), (200, json!({ "enabled": false })));
    let path = format!("{RULES}/global/override/first/actions");
    assert_eq!(server.call("PUT", &path, Some(&alice), Some(&json!({ "actions": [] }))).0, 200);
    assert_eq!(server.call("GET", &path, Some(&alice), None), (200, json!({ "actions": [] })));

    // Errors.
    let expect = |method: &str, path: &str, body: Option<&Value>, status: u16, errcode: &str| {
        let (got, answer) = server.call(method, &format!("{RULES}{path}"), Some(&alice), body);
        assert_eq!((got, answer["errcode"].as_str()), (status, Some(errcode)), "{method} {path}: {answer}");
    };
    expect("PUT", "/global/override/.mine", Some(&rule), 400, "M_UNKNOWN");
    expect("PUT", "/global/override/x", Some(&json!({ "actions": ["notify"] })), 400, "M_UNKNOWN");
    expect("PUT", "/global/override/x", Some(&json!({ "conditions": [], "actions": ["fly"] })), 400, "M_UNKNOWN");
    expect("PUT", "/global/override/x?before=nope", Some(&rule), 400, "M_UNKNOWN");
    expect("PUT", "/global/sideways/x", Some(&rule), 400, "M_UNKNOWN");
    expect("PUT", "/device/override/x", Some(&rule), 400, "M_UNRECOGNIZED");
    expect("DELETE", "/global/override/.m.rule.master", None, 404, "M_NOT_FOUND");
    expect("DELETE", "/global/override/never", None, 404, "M_NOT_FOUND");
    expect("GET", "/global/override/never", None, 404, "M_NOT_FOUND");
    expect("GET", "/global/sideways/", None, 400, "M_UNRECOGNIZED");
    expect("PUT", "/global/override/first/colour", Some(&json!({})), 400, "M_UNRECOGNIZED");
    expect("PUT", "/global/content/.m.rule.master/enabled", Some(&json!({ "enabled": true })), 404, "M_NOT_FOUND");
    expect("PUT", "/global/override/first/enabled", Some(&json!({ "enabled": "yes" })), 400, "M_UNKNOWN");
    expect("PUT", "/global/override/first", Some(&json!([1])), 400, "M_BAD_JSON");

    // Deleting a user rule; the rules are per user.
    assert_eq!(server.call("DELETE", &format!("{RULES}/global/override/first"), Some(&alice), None).0, 200);
    let (_, list) = server.call("GET", &format!("{RULES}/global/override/"), Some(&alice), None);
    assert_eq!(ids(&list)[..2], [".m.rule.master", "second"]);
    let (_, bob) = server.register("bob");
    let (_, theirs) = server.call("GET", &format!("{RULES}/global/override/"), Some(&bob), None);
    assert_eq!(ids(&theirs)[1], ".m.rule.suppress_notices");
    assert_eq!(server.call("GET", &format!("{RULES}/"), None, None).0, 401);
}

fn counts(sync: &Value, room: &str) -> (u64, u64) {
    let unread = &sync["rooms"]["join"][room]["unread_notifications"];
    (unread["notification_count"].as_u64().unwrap(), unread["highlight_count"].as_u64().unwrap())
}

#[test]
fn sync_counts_notifications_and_highlights_by_the_users_rules() {
    let server = Server::start(&config_with_modules("  []\n"));
    let (_, alice) = server.register("alice");
    let (bob_id, bob) = server.register("bob");
    let (carol_id, carol) = server.register("carol");
    let room = server.create_room(&alice, json!({ "invite": [bob_id, carol_id] }));
    for token in [&bob, &carol] {
        assert_eq!(server.call("POST", &format!("/_matrix/client/v3/join/{}", enc(&room)), Some(token), None).0, 200);
    }
    server.send_text(&alice, &room, "1", "hello all");
    server.send_text(&alice, &room, "2", "bob, lunch?");
    let notice = json!({ "msgtype": "m.notice", "body": "bob: a bot says hi" });
    let path = format!("/_matrix/client/v3/rooms/{}/send/m.room.message/3", enc(&room));
    assert_eq!(server.call("PUT", &path, Some(&alice), Some(&notice)).0, 200);
    let mention = json!({ "msgtype": "m.text", "body": "ping", "m.mentions": { "user_ids": [bob_id] } });
    let path = format!("/_matrix/client/v3/rooms/{}/send/m.room.message/4", enc(&room));
    assert_eq!(server.call("PUT", &path, Some(&alice), Some(&mention)).0, 200);
    server.send_text(&bob, &room, "5", "my own words do not count");

    let (_, sync) = server.call("GET", "/_matrix/client/v3/sync", Some(&bob), None);
    assert_eq!(counts(&sync, &room), (3, 2), "two messages and a mention; the notice is silent: {sync}");
    let (_, sync) = server.call("GET", "/_matrix/client/v3/sync", Some(&carol), None);
    assert_eq!(counts(&sync, &room), (4, 0), "every message but her own, no highlight");
    let (_, sync) = server.call("GET", "/_matrix/client/v3/sync", Some(&alice), None);
    assert_eq!(counts(&sync, &room), (1, 0), "only bob's message notifies alice");
    let rules = sync["account_data"]["events"].as_array().unwrap().iter().find(|e| e["type"] == "m.push_rules");
    assert!(rules.is_some_and(|r| r["content"]["global"]["override"].is_array()), "push rules in the initial sync");

    // Carol turns the master rule on: nothing notifies her any more.
    let path = "/_matrix/client/v3/pushrules/global/override/.m.rule.master/enabled";
    assert_eq!(server.call("PUT", path, Some(&carol), Some(&json!({ "enabled": true }))).0, 200);
    let (_, sync) = server.call("GET", "/_matrix/client/v3/sync", Some(&carol), None);
    assert_eq!(counts(&sync, &room), (0, 0));
}
