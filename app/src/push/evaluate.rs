//! The push-rule evaluator: for one user's rule set, which events notify and which
//! highlight. Conditions: `event_match` (globs `*`/`?`, case-insensitive; on
//! `content.body` a whole-word match), `contains_display_name`, `room_member_count`,
//! `sender_notification_permission`, `event_property_is`, `event_property_contains`
//! (dotted keys with `\.` escapes, MSC3873). As Synapse does, an event that carries
//! `m.mentions` skips the legacy mention rules, a user's own events never notify them,
//! and an unknown condition kind makes its rule not match. Globs are compiled with a
//! bounded regex size and kept in a small process-wide cache ([`cached_regex`]), so a
//! sync compiles only patterns it has not seen.

use std::{
    collections::HashMap,
    sync::{LazyLock, Mutex, PoisonError},
};

use mxmod::types::{Event, JsonObject, StateMap, UserId};
use regex::Regex;
use serde_json::Value;

/// Largest compiled glob (bytes of regex program; Unicode `\W` alone takes about 100 KiB);
/// a larger pattern never matches.
const MAX_GLOB_REGEX: usize = 256 * 1024;
/// Compiled patterns kept; the cache is emptied when it is full.
const CACHED_REGEXES: usize = 256;

/// Compiles `source` (or takes it from the cache); `None` when it does not compile
/// within [`MAX_GLOB_REGEX`].
fn cached_regex(source: String) -> Option<Regex> {
    static CACHE: LazyLock<Mutex<HashMap<String, Option<Regex>>>> = LazyLock::new(Mutex::default);
    if let Some(found) = CACHE.lock().unwrap_or_else(PoisonError::into_inner).get(&source) {
        return found.clone();
    }
    let compiled = regex::RegexBuilder::new(&source).size_limit(MAX_GLOB_REGEX).build().ok();
    let mut cache = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
    if cache.len() >= CACHED_REGEXES {
        cache.clear();
    }
    cache.insert(source, compiled.clone());
    compiled
}
/// Legacy mention rules, skipped for events with `m.mentions`.
const LEGACY_MENTION_RULES: [&str; 3] =
    [".m.rule.contains_display_name", ".m.rule.contains_user_name", ".m.rule.roomnotif"];

/// What a rule set decides for one event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Decision {
    /// The event counts in `notification_count`.
    pub(crate) notify: bool,
    /// The event counts in `highlight_count`.
    pub(crate) highlight: bool,
}

/// The room facts conditions need, taken from the room's current state.
#[derive(Clone, Debug)]
pub(crate) struct RoomContext {
    member_count: u64,
    /// The user's display name in the room as a whole-word, case-insensitive regex.
    display_name: Option<Regex>,
    power_levels: JsonObject,
    creator: Option<String>,
}

impl RoomContext {
    /// The facts of a room for `user_id`: joined members, their display name there,
    /// the power levels.
    pub(crate) fn new(state: &StateMap, user_id: &UserId) -> Self {
        let member_count = state
            .iter()
            .filter(|((event_type, _), event)| {
                event_type == "m.room.member" && event.membership() == Some(mxmod::types::Membership::Join)
            })
            .count() as u64;
        let display_name = state
            .get("m.room.member", user_id.as_str())
            .and_then(|member| member.content.get("displayname"))
            .and_then(Value::as_str)
            .filter(|name| !name.trim().is_empty())
            .and_then(|name| cached_regex(format!(r"(?i)(?:^|\W){}(?:\W|$)", regex::escape(name))));
        let power_levels = state.get("m.room.power_levels", "").map(|e| e.content.clone()).unwrap_or_default();
        let creator = state.get("m.room.create", "").map(|e| e.sender.to_string());
        Self { member_count, display_name, power_levels, creator }
    }

    fn level(value: Option<&Value>, default: i64) -> i64 {
        value.and_then(|v| v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok()))).unwrap_or(default)
    }

    fn sender_level(&self, sender: &str) -> i64 {
        if self.power_levels.is_empty() {
            return if self.creator.as_deref() == Some(sender) { 100 } else { 0 };
        }
        let default = Self::level(self.power_levels.get("users_default"), 0);
        Self::level(self.power_levels.get("users").and_then(|u| u.get(sender)), default)
    }

    fn notification_level(&self, key: &str) -> i64 {
        Self::level(self.power_levels.get("notifications").and_then(|n| n.get(key)), 50)
    }
}

/// How a glob must match its value.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum GlobKind {
    /// The whole value.
    Whole,
    /// A whole word inside the value.
    Word,
}

/// A rule ready to evaluate.
struct CompiledRule {
    rule_id: String,
    conditions: Vec<Value>,
    decision: Decision,
}

/// One user's enabled rules in priority order, with their globs compiled.
pub(crate) struct CompiledRules {
    user_id: String,
    rules: Vec<CompiledRule>,
    globs: HashMap<(String, GlobKind), Option<Regex>>,
}

fn decision(actions: &Value) -> Decision {
    let actions = actions.as_array().map(Vec::as_slice).unwrap_or_default();
    let notify = actions.iter().any(|a| a.as_str() == Some("notify"));
    let highlight = actions.iter().any(|a| {
        a.get("set_tweak").and_then(Value::as_str) == Some("highlight")
            && a.get("value").is_none_or(|v| v.as_bool() == Some(true))
    });
    Decision { notify, highlight: notify && highlight }
}

fn glob_regex(pattern: &str, kind: GlobKind) -> Option<Regex> {
    let mut body = String::with_capacity(pattern.len() * 2);
    for c in pattern.chars() {
        match c {
            '*' => body.push_str(".*?"),
            '?' => body.push('.'),
            other => body.push_str(&regex::escape(&other.to_string())),
        }
    }
    let source = match kind {
        GlobKind::Whole => format!("(?is)^{body}$"),
        GlobKind::Word => format!(r"(?is)(?:^|\W){body}(?:\W|$)"),
    };
    cached_regex(source)
}

/// Splits a dotted key (`content.m\.relates_to.rel_type`) into its parts.
fn key_parts(key: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = key.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(next @ ('.' | '\\')) => parts.last_mut().into_iter().for_each(|p| p.push(next)),
                Some(next) => parts.last_mut().into_iter().for_each(|p| {
                    p.push('\\');
                    p.push(next);
                }),
                None => parts.last_mut().into_iter().for_each(|p| p.push('\\')),
            },
            '.' => parts.push(String::new()),
            other => parts.last_mut().into_iter().for_each(|p| p.push(other)),
        }
    }
    parts
}

/// The value at a dotted key of the event (top-level fields and `content`).
fn property(event: &Event, key: &str) -> Option<Value> {
    let parts = key_parts(key);
    let (first, rest) = parts.split_first()?;
    let mut value = match first.as_str() {
        "type" => return rest.is_empty().then(|| Value::from(event.event_type.as_str())),
        "room_id" => return rest.is_empty().then(|| Value::from(event.room_id.as_str())),
        "sender" => return rest.is_empty().then(|| Value::from(event.sender.as_str())),
        "state_key" => return rest.is_empty().then(|| event.state_key.as_deref().map(Value::from)).flatten(),
        "content" => Value::Object(event.content.clone()),
        _ => return None,
    };
    for part in rest {
        value = value.get(part.as_str())?.clone();
    }
    Some(value)
}

fn member_count_matches(is: &str, count: u64) -> bool {
    let digits = is.trim_start_matches(['=', '<', '>']);
    let Ok(wanted) = digits.parse::<u64>() else { return false };
    match &is[..is.len() - digits.len()] {
        "" | "==" => count == wanted,
        "<" => count < wanted,
        ">" => count > wanted,
        "<=" => count <= wanted,
        ">=" => count >= wanted,
        _ => false,
    }
}

impl CompiledRules {
    /// Compiles a rule set as [`super::rules::ruleset`] serves it, for `user_id`.
    pub(crate) fn new(user_id: &UserId, ruleset: &Value) -> Self {
        let mut compiled = Self { user_id: user_id.to_string(), rules: Vec::new(), globs: HashMap::new() };
        for kind in super::rules::KINDS {
            let list = ruleset["global"][kind].as_array().map(Vec::as_slice).unwrap_or_default();
            for rule in list {
                if rule["enabled"].as_bool() == Some(false) {
                    continue;
                }
                let rule_id = rule["rule_id"].as_str().unwrap_or_default().to_owned();
                let conditions = match kind {
                    "content" => vec![serde_json::json!({
                        "kind": "event_match", "key": "content.body", "pattern": rule["pattern"].as_str().unwrap_or_default()
                    })],
                    "room" => vec![serde_json::json!({ "kind": "event_match", "key": "room_id", "pattern": rule_id })],
                    "sender" => vec![serde_json::json!({ "kind": "event_match", "key": "sender", "pattern": rule_id })],
                    _ => rule["conditions"].as_array().cloned().unwrap_or_default(),
                };
                for condition in &conditions {
                    if condition["kind"] == "event_match" {
                        if let (Some(key), Some(pattern)) = (condition["key"].as_str(), condition["pattern"].as_str()) {
                            let glob = if key == "content.body" { GlobKind::Word } else { GlobKind::Whole };
                            compiled.glob(pattern, glob);
                        }
                    }
                }
                compiled.rules.push(CompiledRule { rule_id, conditions, decision: decision(&rule["actions"]) });
            }
        }
        compiled
    }

    fn glob(&mut self, pattern: &str, kind: GlobKind) {
        self.globs.entry((pattern.to_owned(), kind)).or_insert_with(|| glob_regex(pattern, kind));
    }

    fn glob_matches(&self, pattern: &str, kind: GlobKind, value: &str) -> bool {
        self.globs.get(&(pattern.to_owned(), kind)).and_then(Option::as_ref).is_some_and(|regex| regex.is_match(value))
    }

    fn condition_holds(&self, condition: &Value, event: &Event, room: &RoomContext) -> bool {
        match condition["kind"].as_str() {
            Some("event_match") => {
                let (Some(key), Some(pattern)) = (condition["key"].as_str(), condition["pattern"].as_str()) else {
                    return false;
                };
                let Some(Value::String(value)) = property(event, key) else { return false };
                let kind = if key == "content.body" { GlobKind::Word } else { GlobKind::Whole };
                self.glob_matches(pattern, kind, &value)
            }
            Some("event_property_is") => {
                let Some(key) = condition["key"].as_str() else { return false };
                let expected = &condition["value"];
                !expected.is_array() && !expected.is_object() && property(event, key).as_ref() == Some(expected)
            }
            Some("event_property_contains") => {
                let Some(key) = condition["key"].as_str() else { return false };
                match property(event, key) {
                    Some(Value::Array(items)) => items.contains(&condition["value"]),
                    _ => false,
                }
            }
            Some("contains_display_name") => {
                let Some(name) = &room.display_name else { return false };
                event.content.get("body").and_then(Value::as_str).is_some_and(|body| name.is_match(body))
            }
            Some("room_member_count") => {
                condition["is"].as_str().is_some_and(|is| member_count_matches(is, room.member_count))
            }
            Some("sender_notification_permission") => {
                let Some(key) = condition["key"].as_str() else { return false };
                room.sender_level(event.sender.as_str()) >= room.notification_level(key)
            }
            _ => false,
        }
    }

    /// What the first matching rule decides for `event` (nothing when none matches or
    /// the user sent it).
    pub(crate) fn evaluate(&self, event: &Event, room: &RoomContext) -> Decision {
        if event.sender.as_str() == self.user_id {
            return Decision::default();
        }
        let has_mentions = event.content.get("m.mentions").is_some_and(Value::is_object);
        for rule in &self.rules {
            if has_mentions && LEGACY_MENTION_RULES.contains(&rule.rule_id.as_str()) {
                continue;
            }
            if rule.conditions.iter().all(|condition| self.condition_holds(condition, event, room)) {
                return rule.decision;
            }
        }
        Decision::default()
    }
}

#[cfg(test)]
mod tests {
    use mxmod::types::{EventId, RoomId, ServerName, StateKey};
    use serde_json::json;

    use super::*;
    use crate::push::rules::{ruleset, set_attribute};

    fn user(name: &str) -> mxmod::types::OwnedUserId {
        UserId::parse(format!("@{name}:test.local")).unwrap()
    }

    fn event(sender: &str, event_type: &str, state_key: Option<&str>, content: Value) -> Event {
        Event {
            event_id: EventId::new_v1(<&ServerName>::try_from("test.local").unwrap()),
            room_id: RoomId::parse("!r:test.local").unwrap(),
            sender: user(sender),
            event_type: event_type.into(),
            state_key: state_key.map(StateKey::from),
            content: serde_json::from_value(content).unwrap(),
            origin_server_ts: 1,
            unsigned: JsonObject::new(),
        }
    }

    /// A room with `members` joined (alice named "Alice Liddell"), bob at power 100.
    fn room(members: &[&str]) -> RoomContext {
        let mut state = StateMap::new();
        state.insert(event("bob", "m.room.create", Some(""), json!({})));
        state.insert(event(
            "bob",
            "m.room.power_levels",
            Some(""),
            json!({ "users": { "@bob:test.local": 100 }, "users_default": 0 }),
        ));
        for member in members {
            let name = if *member == "alice" { "Alice Liddell" } else { member };
            let id = user(member);
            state.insert(event(
                member,
                "m.room.member",
                Some(id.as_str()),
                json!({ "membership": "join", "displayname": name }),
            ));
        }
        RoomContext::new(&state, &user("alice"))
    }

    fn decide(event: &Event, room: &RoomContext) -> (bool, bool) {
        let rules = CompiledRules::new(&user("alice"), &ruleset(&user("alice"), &JsonObject::new()));
        let decision = rules.evaluate(event, room);
        (decision.notify, decision.highlight)
    }

    fn text(sender: &str, body: &str) -> Event {
        event(sender, "m.room.message", None, json!({ "msgtype": "m.text", "body": body }))
    }

    #[test]
    fn messages_notify_and_mentions_highlight() {
        let group = room(&["alice", "bob", "carol"]);
        assert_eq!(decide(&text("carol", "hello"), &group), (true, false));
        assert_eq!(decide(&text("carol", "hi alice!"), &group), (true, true), "user name");
        assert_eq!(decide(&text("carol", "hi alicex"), &group), (true, false), "not a whole word");
        assert_eq!(decide(&text("carol", "ALICE LIDDELL, tea?"), &group), (true, true), "display name");
        assert_eq!(decide(&text("carol", "@room look"), &group), (true, false), "carol may not @room");
        assert_eq!(decide(&text("bob", "@room look"), &group), (true, true), "bob may");
        let mention = event(
            "carol",
            "m.room.message",
            None,
            json!({ "body": "x", "m.mentions": { "user_ids": ["@alice:test.local"] } }),
        );
        assert_eq!(decide(&mention, &group), (true, true));
        let no_legacy = event("carol", "m.room.message", None, json!({ "body": "alice", "m.mentions": {} }));
        assert_eq!(decide(&no_legacy, &group), (true, false), "m.mentions turns off the legacy rules");
    }

    #[test]
    fn notices_edits_reactions_members_and_own_events_are_silent() {
        let group = room(&["alice", "bob", "carol"]);
        let notice = event("carol", "m.room.message", None, json!({ "msgtype": "m.notice", "body": "alice" }));
        assert_eq!(decide(&notice, &group), (false, false));
        let edit =
            event("carol", "m.room.message", None, json!({ "body": "x", "m.relates_to": { "rel_type": "m.replace" } }));
        assert_eq!(decide(&edit, &group), (false, false));
        assert_eq!(decide(&event("carol", "m.reaction", None, json!({})), &group), (false, false));
        assert_eq!(
            decide(
                &event("carol", "m.room.member", Some("@carol:test.local"), json!({ "membership": "join" })),
                &group
            ),
            (false, false)
        );
        assert_eq!(decide(&text("alice", "alice"), &group), (false, false));
    }

    #[test]
    fn one_to_one_rooms_and_the_master_rule() {
        let pair = room(&["alice", "carol"]);
        assert_eq!(decide(&text("carol", "psst"), &pair), (true, false));
        assert_eq!(decide(&event("carol", "m.room.encrypted", None, json!({})), &pair), (true, false));
        let alice = user("alice");
        let doc =
            set_attribute(JsonObject::new(), &alice, "override", ".m.rule.master", "enabled", &json!(true)).unwrap();
        let rules = CompiledRules::new(&alice, &ruleset(&alice, &doc));
        assert_eq!(rules.evaluate(&text("carol", "alice"), &pair), Decision::default());
    }

    #[test]
    fn globs_keys_and_member_counts() {
        assert!(glob_regex("m.room.*", GlobKind::Whole).unwrap().is_match("M.ROOM.message"));
        assert!(!glob_regex("m.room.?", GlobKind::Whole).unwrap().is_match("m.room.ab"));
        assert!(glob_regex("cake*", GlobKind::Word).unwrap().is_match("I like cakes."));
        assert_eq!(key_parts(r"content.m\.relates_to.rel_type"), ["content", "m.relates_to", "rel_type"]);
        assert!(member_count_matches("2", 2) && member_count_matches(">=2", 3) && !member_count_matches("<2", 2));
        assert!(!member_count_matches("two", 2));
    }
}
