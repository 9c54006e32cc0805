//! Events as clients receive them, with the fields modules add to `unsigned`
//! (`add_field_to_unsigned_callback`, `SYNAPSE.md` §6 and A32). Every endpoint that
//! serves events (`/sync`, `/messages`, `/event`, `/state`, `/members`) goes through
//! [`client_events`]; with no module in the category it awaits nothing.

use mxmod::{
    callbacks::add_extra_fields_to_unsigned_client_event::add_field_to_unsigned_callback,
    types::{Event, JsonObject, UserId},
};
use serde_json::Value;

use crate::{http::ApiResult, rooms::client_event, state::AppState};

/// Serialises `events` (each with the transaction ID it was sent with) for `viewer`. A
/// failing module fails the request, as in Synapse.
pub(crate) async fn client_events<'e>(
    state: &AppState,
    events: Vec<(&'e Event, Option<&'e str>)>,
    viewer: Option<&UserId>,
) -> ApiResult<Vec<Value>> {
    let hooks = &state.modules.callbacks().add_extra_fields_to_unsigned_client_event;
    if !add_field_to_unsigned_callback::is_implemented(hooks) {
        return Ok(events.into_iter().map(|(event, txn_id)| client_event(event, txn_id, viewer)).collect());
    }
    let mut out = Vec::with_capacity(events.len());
    for (event, txn_id) in events {
        let mut value = client_event(event, txn_id, viewer);
        let extra = hooks.add_field_to_unsigned_callback(event).await?;
        add_to_unsigned(&mut value, extra);
        out.push(value);
    }
    Ok(out)
}

/// One event, as [`client_events`] serialises it.
pub(crate) async fn one_client_event(
    state: &AppState,
    event: &Event,
    txn_id: Option<&str>,
    viewer: Option<&UserId>,
) -> ApiResult<Value> {
    let mut events = client_events(state, vec![(event, txn_id)], viewer).await?;
    Ok(events.pop().unwrap_or(Value::Null))
}

/// Adds modules' fields to the event's `unsigned`, keeping every key already there.
fn add_to_unsigned(event: &mut Value, extra: JsonObject) {
    if extra.is_empty() {
        return;
    }
    let Some(object) = event.as_object_mut() else { return };
    let unsigned = object.entry("unsigned").or_insert_with(|| Value::Object(JsonObject::new()));
    if let Some(unsigned) = unsigned.as_object_mut() {
        for (key, value) in extra {
            unsigned.entry(key).or_insert(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn module_fields_never_replace_the_servers() {
        let mut event = json!({ "type": "m.room.message", "unsigned": { "transaction_id": "t1" } });
        let extra = json!({ "transaction_id": "forged", "test_key": "$e" }).as_object().cloned().unwrap();
        add_to_unsigned(&mut event, extra);
        assert_eq!(event["unsigned"], json!({ "transaction_id": "t1", "test_key": "$e" }));
        let mut bare = json!({ "type": "m.room.message" });
        add_to_unsigned(&mut bare, json!({ "k": 1 }).as_object().cloned().unwrap());
        assert_eq!(bare["unsigned"], json!({ "k": 1 }));
    }
}
