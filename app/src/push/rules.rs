//! A user's push rules: the server-default set of the spec (v1.10) with the user's
//! changes applied. Storage keeps one JSON document per user holding only those changes:
//! the rules they added, per kind and in priority order, and their `enabled`/`actions`
//! overrides of server-default rules (`defaults`). Every edit here takes that document
//! and returns the next one, or the Matrix error Synapse answers; storage runs the edit
//! inside one transaction.
//!
//! Order, as Synapse serves it: `.m.rule.master`, the user's override rules, the other
//! default override rules; the user's content rules, then the default one; room and
//! sender rules; the user's underride rules, then the default ones.

use mxmod::{
    types::{JsonObject, UserId},
    ErrCode, MatrixError,
};
use serde_json::{json, Value};

/// The rule kinds, in priority order.
pub(crate) const KINDS: [&str; 5] = ["override", "content", "room", "sender", "underride"];
/// Most rules one user may add (over every kind).
pub(crate) const MAX_USER_RULES: usize = 500;
/// Longest rule ID.
const MAX_RULE_ID: usize = 255;
/// Largest rule (as JSON), conditions and actions included.
const MAX_RULE_BYTES: usize = 16 * 1024;

fn error(status: u16, code: ErrCode, message: impl Into<String>) -> MatrixError {
    MatrixError::new(status, code, message)
}

fn unknown(message: impl Into<String>) -> MatrixError {
    error(400, ErrCode::UNKNOWN, message)
}

/// 400 `M_UNRECOGNIZED`, Synapse's answer to a path it cannot parse.
pub(crate) fn unrecognized() -> MatrixError {
    error(400, ErrCode::UNRECOGNIZED, "Unrecognized request")
}

fn not_found(message: &str) -> MatrixError {
    error(404, ErrCode::NOT_FOUND, message)
}

/// `event_match` condition.
fn event_match(key: &str, pattern: &str) -> Value {
    json!({ "kind": "event_match", "key": key, "pattern": pattern })
}

fn notify_sound_highlight() -> Value {
    json!(["notify", { "set_tweak": "sound", "value": "default" }, { "set_tweak": "highlight" }])
}

fn rule(rule_id: &str, conditions: Value, actions: Value) -> Value {
    json!({ "rule_id": rule_id, "default": true, "enabled": true, "conditions": conditions, "actions": actions })
}

/// The server-default rules for `user_id`, by kind, in the spec's order. The first
/// override rule (`.m.rule.master`) goes before the user's own override rules.
pub(crate) fn server_defaults(user_id: &UserId) -> [(&'static str, Vec<Value>); 3] {
    let user = user_id.as_str();
    let localpart = user_id.localpart();
    let mut master = rule(".m.rule.master", json!([]), json!([]));
    master["enabled"] = false.into();
    let overrides = vec![
        master,
        rule(".m.rule.suppress_notices", json!([event_match("content.msgtype", "m.notice")]), json!([])),
        rule(
            ".m.rule.invite_for_me",
            json!([
                event_match("type", "m.room.member"),
                event_match("content.membership", "invite"),
                event_match("state_key", user)
            ]),
            json!(["notify", { "set_tweak": "sound", "value": "default" }]),
        ),
        rule(".m.rule.member_event", json!([event_match("type", "m.room.member")]), json!([])),
        rule(
            ".m.rule.is_user_mention",
            json!([{ "kind": "event_property_contains", "key": "content.m\\.mentions.user_ids", "value": user }]),
            notify_sound_highlight(),
        ),
        rule(".m.rule.contains_display_name", json!([{ "kind": "contains_display_name" }]), notify_sound_highlight()),
        rule(
            ".m.rule.is_room_mention",
            json!([
                { "kind": "event_property_is", "key": "content.m\\.mentions.room", "value": true },
                { "kind": "sender_notification_permission", "key": "room" }
            ]),
            json!(["notify", { "set_tweak": "highlight" }]),
        ),
        rule(
            ".m.rule.roomnotif",
            json!([{ "kind": "sender_notification_permission", "key": "room" }, event_match("content.body", "@room")]),
            json!(["notify", { "set_tweak": "highlight" }]),
        ),
        rule(
            ".m.rule.tombstone",
            json!([event_match("type", "m.room.tombstone"), event_match("state_key", "")]),
            json!(["notify", { "set_tweak": "highlight" }]),
        ),
        rule(".m.rule.reaction", json!([event_match("type", "m.reaction")]), json!([])),
        rule(
            ".m.rule.room.server_acl",
            json!([event_match("type", "m.room.server_acl"), event_match("state_key", "")]),
            json!([]),
        ),
        rule(
            ".m.rule.suppress_edits",
            json!([{ "kind": "event_property_is", "key": "content.m\\.relates_to.rel_type", "value": "m.replace" }]),
            json!([]),
        ),
    ];
    let content = vec![json!({
        "rule_id": ".m.rule.contains_user_name", "default": true, "enabled": true, "pattern": localpart,
        "actions": notify_sound_highlight(),
    })];
    let sound = |sound: &str| json!(["notify", { "set_tweak": "sound", "value": sound }]);
    let member_count_two = json!({ "kind": "room_member_count", "is": "2" });
    let underride = vec![
        rule(".m.rule.call", json!([event_match("type", "m.call.invite")]), sound("ring")),
        rule(
            ".m.rule.encrypted_room_one_to_one",
            json!([member_count_two, event_match("type", "m.room.encrypted")]),
            sound("default"),
        ),
        rule(
            ".m.rule.room_one_to_one",
            json!([member_count_two, event_match("type", "m.room.message")]),
            sound("default"),
        ),
        rule(".m.rule.message", json!([event_match("type", "m.room.message")]), json!(["notify"])),
        rule(".m.rule.encrypted", json!([event_match("type", "m.room.encrypted")]), json!(["notify"])),
    ];
    [("override", overrides), ("content", content), ("underride", underride)]
}

fn user_rules<'a>(document: &'a JsonObject, kind: &str) -> impl Iterator<Item = &'a Value> {
    document.get(kind).and_then(Value::as_array).into_iter().flatten()
}

/// The user's whole rule set as `GET /pushrules/` serves it: `{"global": {kind: [rule]}}`,
/// each rule with `rule_id`, `default`, `enabled`, `actions` and its `conditions` or
/// `pattern`.
pub(crate) fn ruleset(user_id: &UserId, document: &JsonObject) -> Value {
    let changed = document.get("defaults").and_then(Value::as_object);
    let with_changes = |mut rule: Value| {
        let change = rule["rule_id"].as_str().and_then(|id| changed.and_then(|c| c.get(id)));
        if let Some(change) = change {
            for attribute in ["enabled", "actions"] {
                if let Some(value) = change.get(attribute) {
                    rule[attribute] = value.clone();
                }
            }
        }
        rule
    };
    let mut global = serde_json::Map::new();
    let [(_, overrides), (_, content), (_, underride)] = server_defaults(user_id);
    let mut defaults = overrides.into_iter().map(with_changes);
    let mut list: Vec<Value> = defaults.next().into_iter().collect();
    list.extend(user_rules(document, "override").cloned());
    list.extend(defaults);
    global.insert("override".to_owned(), list.into());
    let mut list: Vec<Value> = user_rules(document, "content").cloned().collect();
    list.extend(content.into_iter().map(with_changes));
    global.insert("content".to_owned(), list.into());
    for kind in ["room", "sender"] {
        global.insert(kind.to_owned(), user_rules(document, kind).cloned().collect::<Vec<_>>().into());
    }
    let mut list: Vec<Value> = user_rules(document, "underride").cloned().collect();
    list.extend(underride.into_iter().map(with_changes));
    global.insert("underride".to_owned(), list.into());
    json!({ "global": global })
}

/// Checks actions as Synapse does: `notify`, the legacy `dont_notify` and `coalesce`,
/// and `set_tweak` objects.
fn check_actions(actions: &Value) -> Result<(), MatrixError> {
    let Some(actions) = actions.as_array() else { return Err(unknown("No actions found")) };
    for action in actions {
        let known = matches!(action.as_str(), Some("notify" | "dont_notify" | "coalesce"))
            || action.get("set_tweak").is_some_and(Value::is_string);
        if !known {
            return Err(unknown(format!("Unrecognised action {action}")));
        }
    }
    Ok(())
}

/// What `PUT /pushrules/global/{kind}/{rule_id}` adds: the rule in its stored form.
pub(crate) fn new_rule(kind: &str, rule_id: &str, body: &Value) -> Result<Value, MatrixError> {
    if !KINDS.contains(&kind) {
        return Err(unknown(format!("Unknown template: {kind}")));
    }
    if rule_id.contains('/') || rule_id.contains('\\') {
        return Err(unknown("rule_id may not contain slashes"));
    }
    if rule_id.len() > MAX_RULE_ID {
        return Err(unknown(format!("rule_id may not be longer than {MAX_RULE_ID} bytes")));
    }
    if rule_id.starts_with('.') {
        return Err(unknown("cannot add new rule_ids that start with '.'"));
    }
    let mut rule = json!({ "rule_id": rule_id, "default": false, "enabled": true });
    match kind {
        "override" | "underride" => {
            let conditions = body.get("conditions").ok_or_else(|| unknown("Missing 'conditions'"))?;
            let Some(list) = conditions.as_array() else { return Err(unknown("'conditions' must be a list")) };
            if !list.iter().all(|c| c.get("kind").is_some_and(Value::is_string)) {
                return Err(unknown("Condition without 'kind'"));
            }
            rule["conditions"] = conditions.clone();
        }
        "content" => {
            let pattern = body.get("pattern").ok_or_else(|| unknown("Content rule missing 'pattern'"))?;
            if !pattern.is_string() {
                return Err(unknown("'pattern' must be a string"));
            }
            rule["pattern"] = pattern.clone();
        }
        _ => {}
    }
    let actions = body.get("actions").ok_or_else(|| unknown("No actions found"))?;
    check_actions(actions)?;
    rule["actions"] = actions.clone();
    if rule.to_string().len() > MAX_RULE_BYTES {
        return Err(error(400, ErrCode::TOO_LARGE, format!("A push rule may hold at most {MAX_RULE_BYTES} bytes")));
    }
    Ok(rule)
}

/// Adds (or replaces) a user rule, placed `before` or `after` another rule of the same
/// kind, or, new and unplaced, first in its kind; a replaced unplaced rule keeps its place.
pub(crate) fn add_rule(
    mut document: JsonObject,
    kind: &str,
    rule: Value,
    before: Option<&str>,
    after: Option<&str>,
) -> Result<JsonObject, MatrixError> {
    let total: usize = KINDS.iter().map(|k| user_rules(&document, k).count()).sum();
    let entry = document.entry(kind.to_owned()).or_insert_with(|| Value::Array(Vec::new()));
    if !entry.is_array() {
        *entry = Value::Array(Vec::new());
    }
    let Value::Array(list) = entry else { return Err(MatrixError::internal()) };
    let rule_id = rule["rule_id"].as_str().unwrap_or_default().to_owned();
    let existing = list.iter().position(|r| r["rule_id"] == rule_id.as_str());
    if existing.is_none() && total >= MAX_USER_RULES {
        return Err(unknown(format!("A user may hold at most {MAX_USER_RULES} push rules")));
    }
    let anchor = before.map(|id| (id, 0)).or(after.map(|id| (id, 1)));
    match (existing, anchor) {
        (Some(index), None) => list[index] = rule,
        (existing, Some((anchor_id, offset))) => {
            if let Some(index) = existing {
                list.remove(index);
            }
            let Some(position) = list.iter().position(|r| r["rule_id"] == anchor_id) else {
                return Err(unknown(format!(
                    "{} rule global/{kind}/{anchor_id} does not exist",
                    ["before", "after"][offset]
                )));
            };
            list.insert(position + offset, rule);
        }
        (None, None) => list.insert(0, rule),
    }
    Ok(document)
}

/// Deletes a user rule: 404 for an unknown one and for server-default rules.
pub(crate) fn delete_rule(mut document: JsonObject, kind: &str, rule_id: &str) -> Result<JsonObject, MatrixError> {
    let list = document.get_mut(kind).and_then(Value::as_array_mut);
    let Some(list) = list else { return Err(not_found("Unknown rule")) };
    let Some(index) = list.iter().position(|r| r["rule_id"] == rule_id) else {
        return Err(not_found("Unknown rule"));
    };
    list.remove(index);
    Ok(document)
}

/// Sets `enabled` or `actions` of a rule, the user's or a server-default one.
pub(crate) fn set_attribute(
    mut document: JsonObject,
    user_id: &UserId,
    kind: &str,
    rule_id: &str,
    attribute: &str,
    body: &Value,
) -> Result<JsonObject, MatrixError> {
    let value = match attribute {
        "enabled" => {
            let enabled = body.get("enabled").unwrap_or(body);
            if !enabled.is_boolean() {
                return Err(unknown("Value for 'enabled' must be boolean"));
            }
            enabled.clone()
        }
        "actions" => {
            let Some(actions) = body.get("actions").filter(|a| a.is_array()) else {
                return Err(unknown("Value for 'actions' must be dict"));
            };
            check_actions(actions)?;
            actions.clone()
        }
        _ => return Err(unrecognized()),
    };
    if rule_id.starts_with('.') {
        let is_default = server_defaults(user_id)
            .iter()
            .any(|(k, rules)| *k == kind && rules.iter().any(|r| r["rule_id"] == rule_id));
        if !is_default {
            return Err(not_found("Unknown rule"));
        }
        let defaults = document.entry("defaults".to_owned()).or_insert_with(|| json!({}));
        if !defaults.is_object() {
            *defaults = json!({});
        }
        let change = defaults.as_object_mut().map(|d| d.entry(rule_id.to_owned()).or_insert_with(|| json!({})));
        if let Some(change) = change {
            change[attribute] = value;
        }
        return Ok(document);
    }
    let rule = document
        .get_mut(kind)
        .and_then(Value::as_array_mut)
        .and_then(|list| list.iter_mut().find(|r| r["rule_id"] == rule_id));
    let Some(rule) = rule else { return Err(not_found("Unknown rule")) };
    rule[attribute] = value;
    Ok(document)
}

/// `GET /pushrules/global/{kind}/{rule_id}[/{attribute}]` from the served rule set.
pub(crate) fn find(ruleset: &Value, kind: &str, rule_id: &str, attribute: Option<&str>) -> Result<Value, MatrixError> {
    let list = ruleset["global"].get(kind).and_then(Value::as_array).ok_or_else(unrecognized)?;
    let rule = list.iter().find(|r| r["rule_id"] == rule_id).ok_or_else(|| not_found("Unknown rule"))?;
    match attribute {
        None => Ok(rule.clone()),
        Some(attribute) => match rule.get(attribute) {
            Some(value) if attribute != "rule_id" => Ok(json!({ attribute: value })),
            _ => Err(unrecognized()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> mxmod::types::OwnedUserId {
        UserId::parse("@alice:test.local").unwrap()
    }

    fn ids(ruleset: &Value, kind: &str) -> Vec<String> {
        ruleset["global"][kind].as_array().unwrap().iter().map(|r| r["rule_id"].as_str().unwrap().to_owned()).collect()
    }

    #[test]
    fn the_default_set_is_the_specs_in_its_order() {
        let set = ruleset(&alice(), &JsonObject::new());
        assert_eq!(
            ids(&set, "override"),
            [
                ".m.rule.master",
                ".m.rule.suppress_notices",
                ".m.rule.invite_for_me",
                ".m.rule.member_event",
                ".m.rule.is_user_mention",
                ".m.rule.contains_display_name",
                ".m.rule.is_room_mention",
                ".m.rule.roomnotif",
                ".m.rule.tombstone",
                ".m.rule.reaction",
                ".m.rule.room.server_acl",
                ".m.rule.suppress_edits"
            ]
        );
        assert_eq!(ids(&set, "content"), [".m.rule.contains_user_name"]);
        assert_eq!(set["global"]["content"][0]["pattern"], "alice");
        assert_eq!(
            ids(&set, "underride"),
            [
                ".m.rule.call",
                ".m.rule.encrypted_room_one_to_one",
                ".m.rule.room_one_to_one",
                ".m.rule.message",
                ".m.rule.encrypted"
            ]
        );
        assert_eq!(set["global"]["override"][0]["enabled"], false);
        assert_eq!(set["global"]["override"][2]["conditions"][2]["pattern"], "@alice:test.local");
    }

    #[test]
    fn user_rules_sit_after_master_and_before_or_after_their_anchor() {
        let body = json!({ "conditions": [], "actions": ["notify"] });
        let doc =
            add_rule(JsonObject::new(), "override", new_rule("override", "a", &body).unwrap(), None, None).unwrap();
        let doc = add_rule(doc, "override", new_rule("override", "b", &body).unwrap(), None, Some("a")).unwrap();
        let doc = add_rule(doc, "override", new_rule("override", "c", &body).unwrap(), Some("a"), None).unwrap();
        let set = ruleset(&alice(), &doc);
        assert_eq!(ids(&set, "override")[..5], [".m.rule.master", "c", "a", "b", ".m.rule.suppress_notices"]);
        let missing = add_rule(doc.clone(), "override", new_rule("override", "d", &body).unwrap(), Some("zz"), None);
        assert_eq!(missing.unwrap_err().status, 400);
        let deleted = delete_rule(doc, "override", "a").unwrap();
        assert_eq!(ids(&ruleset(&alice(), &deleted), "override")[1..3], ["c", "b"]);
    }

    #[test]
    fn edits_are_refused_with_synapses_errors() {
        let body = json!({ "conditions": [], "actions": ["notify"] });
        assert_eq!(new_rule("override", ".mine", &body).unwrap_err().errcode, ErrCode::UNKNOWN);
        assert_eq!(new_rule("nope", "x", &body).unwrap_err().status, 400);
        assert!(new_rule("override", "x", &json!({ "actions": ["notify"] })).is_err());
        assert!(new_rule("override", "x", &json!({ "conditions": [], "actions": ["fly"] })).is_err());
        assert!(new_rule("content", "x", &json!({ "actions": [] })).is_err());
        let default = delete_rule(JsonObject::new(), "override", ".m.rule.master").unwrap_err();
        assert_eq!((default.status, default.errcode), (404, ErrCode::NOT_FOUND));
        let wrong_kind = set_attribute(
            JsonObject::new(),
            &alice(),
            "content",
            ".m.rule.master",
            "enabled",
            &json!({"enabled": true}),
        );
        assert_eq!(wrong_kind.unwrap_err().status, 404);
        let bad =
            set_attribute(JsonObject::new(), &alice(), "override", ".m.rule.master", "enabled", &json!({"enabled": 1}));
        assert_eq!(bad.unwrap_err().status, 400);
        let attr = set_attribute(JsonObject::new(), &alice(), "override", ".m.rule.master", "colour", &json!({}));
        assert_eq!(attr.unwrap_err().errcode, ErrCode::UNRECOGNIZED);
    }

    #[test]
    fn default_rules_can_be_toggled_and_given_actions() {
        let doc = set_attribute(
            JsonObject::new(),
            &alice(),
            "override",
            ".m.rule.master",
            "enabled",
            &json!({"enabled": true}),
        )
        .unwrap();
        let doc =
            set_attribute(doc, &alice(), "underride", ".m.rule.message", "actions", &json!({"actions": []})).unwrap();
        let set = ruleset(&alice(), &doc);
        assert_eq!(find(&set, "override", ".m.rule.master", Some("enabled")).unwrap(), json!({ "enabled": true }));
        assert_eq!(find(&set, "underride", ".m.rule.message", Some("actions")).unwrap(), json!({ "actions": [] }));
    }
}
