//! Sync filters (`POST /user/{userId}/filter`, `/sync?filter=`): parsed and checked
//! once, stored as canonical JSON, applied by `/sync`. Honoured: `room.rooms` and
//! `room.not_rooms`, and in `room.timeline` `limit`, `types`/`not_types` (with `*`
//! globs), `senders`/`not_senders` and `rooms`/`not_rooms`; `room.state.lazy_load_members`
//! (the `state` of a room holds only the members who sent timeline events, and the
//! user). Other filter fields are accepted and ignored.

use serde::Deserialize;
use serde_json::Value;

use crate::http::{ApiError, ApiResult};

/// Largest filter (canonical JSON bytes).
pub(crate) const MAX_FILTER_BYTES: usize = 64 * 1024;
/// Largest timeline `limit` honoured (larger ones are capped).
pub(crate) const MAX_TIMELINE_LIMIT: usize = 1000;

/// An event filter's lists; `None` allows everything, a `not_` list wins.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct EventFilter {
    limit: Option<u64>,
    types: Option<Vec<String>>,
    not_types: Option<Vec<String>>,
    senders: Option<Vec<String>>,
    not_senders: Option<Vec<String>>,
    rooms: Option<Vec<String>>,
    not_rooms: Option<Vec<String>>,
    lazy_load_members: Option<bool>,
}

/// The `room` part of a filter.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct RoomFilter {
    rooms: Option<Vec<String>>,
    not_rooms: Option<Vec<String>>,
    #[serde(default)]
    timeline: EventFilter,
    #[serde(default)]
    state: EventFilter,
}

/// A whole filter: what `/sync` applies.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct Filter {
    #[serde(default)]
    room: RoomFilter,
}

/// The value with every object's keys in sorted order (its compact text is the
/// canonical form, so identical filters are stored once).
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(keys.into_iter().map(|key| (key.clone(), sorted(&map[key]))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// A `*` glob on an event type.
fn type_matches(pattern: &str, value: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == value,
        Some((prefix, rest)) => {
            let Some(tail) = value.strip_prefix(prefix) else { return false };
            // Try every place the rest of the pattern could start.
            (0..=tail.len()).filter(|i| tail.is_char_boundary(*i)).any(|i| type_matches(rest, &tail[i..]))
        }
    }
}

fn allowed(value: &str, allow: Option<&[String]>, deny: Option<&[String]>, matches: fn(&str, &str) -> bool) -> bool {
    if deny.is_some_and(|list| list.iter().any(|p| matches(p, value))) {
        return false;
    }
    allow.is_none_or(|list| list.iter().any(|p| matches(p, value)))
}

fn exact(pattern: &str, value: &str) -> bool {
    pattern == value
}

impl EventFilter {
    fn allows(&self, event_type: &str, sender: &str, room_id: &str) -> bool {
        allowed(event_type, self.types.as_deref(), self.not_types.as_deref(), type_matches)
            && allowed(sender, self.senders.as_deref(), self.not_senders.as_deref(), exact)
            && allowed(room_id, self.rooms.as_deref(), self.not_rooms.as_deref(), exact)
    }

    fn narrows(&self) -> bool {
        [&self.types, &self.not_types, &self.senders, &self.not_senders, &self.rooms, &self.not_rooms]
            .iter()
            .any(|list| list.is_some())
    }
}

impl Filter {
    /// Parses and checks a filter: 400 `M_BAD_JSON` when a field has the wrong type,
    /// 413 `M_TOO_LARGE` past [`MAX_FILTER_BYTES`]. Answers the filter and its canonical
    /// JSON (what is stored).
    pub(crate) fn parse(value: &Value) -> ApiResult<(Self, String)> {
        if !value.is_object() {
            return Err(ApiError::bad_json("A filter must be a JSON object"));
        }
        let canonical = sorted(value).to_string();
        if canonical.len() > MAX_FILTER_BYTES {
            let message = format!("A filter may hold at most {MAX_FILTER_BYTES} bytes");
            return Err(ApiError::new(413, mxmod::ErrCode::TOO_LARGE, message));
        }
        let filter = serde_json::from_value(value.clone())
            .map_err(|error| ApiError::bad_json(format!("Invalid filter: {error}")))?;
        Ok((filter, canonical))
    }

    /// Whether a room is in the sync at all.
    pub(crate) fn includes_room(&self, room_id: &str) -> bool {
        allowed(room_id, self.room.rooms.as_deref(), self.room.not_rooms.as_deref(), exact)
    }

    /// Timeline events per room asked for (capped), if any.
    pub(crate) fn timeline_limit(&self) -> Option<usize> {
        self.room.timeline.limit.map(|limit| usize::try_from(limit).unwrap_or(usize::MAX).clamp(1, MAX_TIMELINE_LIMIT))
    }

    /// Whether the timeline filter removes some events (then more are read to fill it).
    pub(crate) fn narrows_timeline(&self) -> bool {
        self.room.timeline.narrows()
    }

    /// Whether a timeline event passes the timeline filter.
    pub(crate) fn timeline_allows(&self, event_type: &str, sender: &str, room_id: &str) -> bool {
        self.room.timeline.allows(event_type, sender, room_id)
    }

    /// `room.state.lazy_load_members`.
    pub(crate) fn lazy_load_members(&self) -> bool {
        self.room.state.lazy_load_members == Some(true)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn globs_lists_and_not_lists() {
        assert!(type_matches("m.room.*", "m.room.message"));
        assert!(type_matches("m.*.message", "m.room.message"));
        assert!(!type_matches("m.room.*", "m.reaction"));
        let (filter, _) = Filter::parse(&json!({
            "room": { "not_rooms": ["!b:x"], "timeline": { "limit": 5, "types": ["m.room.*"], "not_types": ["m.room.member"] },
                      "state": { "lazy_load_members": true } }
        }))
        .unwrap();
        assert!(filter.includes_room("!a:x") && !filter.includes_room("!b:x"));
        assert!(filter.timeline_allows("m.room.message", "@u:x", "!a:x"));
        assert!(!filter.timeline_allows("m.room.member", "@u:x", "!a:x"));
        assert!(!filter.timeline_allows("m.reaction", "@u:x", "!a:x"));
        assert_eq!(filter.timeline_limit(), Some(5));
        assert!(filter.lazy_load_members() && filter.narrows_timeline());
    }

    #[test]
    fn bad_filters_are_refused() {
        let bad = Filter::parse(&json!({ "room": { "timeline": { "limit": "ten" } } })).unwrap_err();
        assert_eq!(bad.0.errcode, mxmod::ErrCode::BAD_JSON);
        assert!(Filter::parse(&json!([1])).is_err());
        let huge = json!({ "room": { "rooms": vec!["!aaaaaaaaaaaaaaaa:x"; 10_000] } });
        assert_eq!(Filter::parse(&huge).unwrap_err().0.status, 413);
        let (_, canonical) = Filter::parse(&json!({ "b": 1, "a": {} })).unwrap();
        assert_eq!(canonical, r#"{"a":{},"b":1}"#);
    }
}
