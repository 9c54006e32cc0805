//! The string newtypes keep the wire format of a plain string and compare with strings.

use serde_json::json;

use super::{Event, EventType, StateKey, StateMap, UserId};

fn member_event(state_key: Option<&str>) -> serde_json::Value {
    let mut event = json!({
        "event_id": "$e", "room_id": "!r:example.com", "sender": "@alice:example.com",
        "type": "m.room.member", "content": { "membership": "join" }, "origin_server_ts": 1,
    });
    if let Some(key) = state_key {
        event["state_key"] = json!(key);
    }
    event
}

#[test]
fn state_key_compares_with_strings_and_derefs_to_str() {
    let key = StateKey::from("@bob:example.com");
    assert_eq!(key, "@bob:example.com");
    assert!(key == *"@bob:example.com");
    assert_ne!(key, "@carol:example.com");
    assert!(key.starts_with('@'), "derefs to str");
    assert_eq!(key.as_str(), "@bob:example.com");
    assert_eq!(key.to_string(), "@bob:example.com");
    assert_eq!(format!("{key:?}"), "\"@bob:example.com\"");
    assert_eq!(StateKey::EMPTY, "");
    assert_eq!(StateKey::default(), StateKey::EMPTY);
    assert_eq!(StateKey::from(String::new()), StateKey::EMPTY, "owned and borrowed compare by value");
    let bob = UserId::parse("@bob:example.com").unwrap();
    assert_eq!(StateKey::from(&*bob), key);
    assert_eq!(StateKey::from(bob), key, "an owned user ID too");
}

#[test]
fn state_key_wire_format_is_a_plain_string() {
    assert_eq!(serde_json::to_value(StateKey::from("x")).unwrap(), json!("x"));
    assert_eq!(serde_json::from_value::<StateKey>(json!("")).unwrap(), StateKey::EMPTY);
    assert!(serde_json::from_value::<StateKey>(json!(1)).is_err(), "a state key is a string");

    let wire = member_event(Some("@bob:example.com"));
    let event: Event = serde_json::from_value(wire.clone()).unwrap();
    assert_eq!(event.state_key.as_deref(), Some("@bob:example.com"));
    assert_eq!(serde_json::to_value(&event).unwrap(), wire, "round trip is byte-for-byte the same JSON");

    let wire = member_event(Some(""));
    let event: Event = serde_json::from_value(wire.clone()).unwrap();
    assert_eq!(event.state_key, Some(StateKey::EMPTY));
    assert_eq!(serde_json::to_value(&event).unwrap(), wire, "an empty state key is kept, not dropped");

    let wire = member_event(None);
    let event: Event = serde_json::from_value(wire.clone()).unwrap();
    assert!(!event.is_state());
    assert_eq!(serde_json::to_value(&event).unwrap(), wire, "no state key stays absent");
}

#[test]
fn state_map_is_keyed_by_typed_type_and_state_key() {
    let event: Event = serde_json::from_value(member_event(Some("@bob:example.com"))).unwrap();
    let map: StateMap = [event.clone()].into_iter().collect();
    assert_eq!(map.get("m.room.member", "@bob:example.com"), Some(&event));
    assert_eq!(map.get("m.room.member", ""), None);
    let ((kind, key), _) = map.iter().next().unwrap();
    assert_eq!((kind, key), (&EventType::ROOM_MEMBER, &StateKey::from("@bob:example.com")));
}
