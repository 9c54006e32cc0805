//! The redaction algorithm of room versions 6 to 10 (the spec's "Redactions" section):
//! which content keys an event keeps once redacted. The storage backends apply it to the
//! stored original in the transaction that stores the `m.room.redaction` event.

use mxmod::types::{Event, JsonObject};
use serde_json::Value;

/// The content keys an event of this type keeps when redacted (room version 10).
fn kept_content_keys(event_type: &str) -> &'static [&'static str] {
    match event_type {
        "m.room.member" => &["membership", "join_authorised_via_users_server"],
        "m.room.create" => &["creator"],
        "m.room.join_rules" => &["join_rule", "allow"],
        "m.room.power_levels" => {
            &["ban", "events", "events_default", "kick", "redact", "state_default", "users", "users_default"]
        }
        "m.room.history_visibility" => &["history_visibility"],
        _ => &[],
    }
}

/// `event` redacted by `because` (the redaction event as clients see it): the content
/// reduced to the keys its type keeps, `unsigned` reduced to `redacted_because`. The
/// top-level keys of [`Event`] are all ones the algorithm keeps.
pub(crate) fn redact(event: &Event, because: &Event) -> Event {
    let keep = kept_content_keys(event.event_type.as_str());
    let content: JsonObject = event
        .content
        .iter()
        .filter(|(key, _)| keep.contains(&key.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut unsigned = JsonObject::new();
    unsigned.insert("redacted_because".to_owned(), Value::Object(because.get_dict()));
    Event { content, unsigned, ..event.clone() }
}

/// The event a redaction event redacts (`content.redacts`, where room version 11 puts it
/// and where this server stores it for every version).
pub(crate) fn redacts(event: &Event) -> Option<&str> {
    if event.event_type.as_str() != "m.room.redaction" {
        return None;
    }
    event.content.get("redacts").and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use mxmod::types::{EventId, RoomId, ServerName, StateKey, UserId};
    use serde_json::json;

    use super::*;

    fn event(event_type: &str, state_key: Option<&str>, content: Value) -> Event {
        Event {
            event_id: EventId::new_v1(<&ServerName>::try_from("x").unwrap()),
            room_id: RoomId::parse("!r:x").unwrap(),
            sender: UserId::parse("@a:x").unwrap(),
            event_type: event_type.into(),
            state_key: state_key.map(StateKey::from),
            content: serde_json::from_value(content).unwrap(),
            origin_server_ts: 1,
            unsigned: serde_json::from_value(json!({ "age": 5 })).unwrap(),
        }
    }

    #[test]
    fn a_message_loses_its_whole_content_and_gains_redacted_because() {
        let because = event("m.room.redaction", None, json!({ "redacts": "$x" }));
        let redacted =
            redact(&event("m.room.message", None, json!({ "body": "secret", "msgtype": "m.text" })), &because);
        assert!(redacted.content.is_empty());
        assert_eq!(redacted.unsigned.len(), 1);
        assert_eq!(redacted.unsigned["redacted_because"]["event_id"], because.event_id.as_str());
    }

    #[test]
    fn state_events_keep_the_keys_of_their_type() {
        let because = event("m.room.redaction", None, json!({}));
        let member = event("m.room.member", Some("@a:x"), json!({ "membership": "join", "displayname": "A" }));
        assert_eq!(Value::Object(redact(&member, &because).content), json!({ "membership": "join" }));
        let levels =
            event("m.room.power_levels", Some(""), json!({ "ban": 50, "invite": 0, "users": {}, "notifications": {} }));
        assert_eq!(Value::Object(redact(&levels, &because).content), json!({ "ban": 50, "users": {} }));
        let rules = event("m.room.join_rules", Some(""), json!({ "join_rule": "public", "other": 1 }));
        assert_eq!(Value::Object(redact(&rules, &because).content), json!({ "join_rule": "public" }));
        let topic = event("m.room.topic", Some(""), json!({ "topic": "t" }));
        assert!(redact(&topic, &because).content.is_empty());
    }
}
