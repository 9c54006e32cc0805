//! Unsigned-field callbacks (`register_add_extra_fields_to_unsigned_client_event_callbacks`,
//! `SYNAPSE.md` §6 and A32). A failure fails the request that serialises the event (500).

use crate::{
    callbacks::{outcome::DenySpec, rules::MergeObjects, FailurePolicy},
    types::{Event, JsonObject},
};

crate::callbacks::define_category! {
    /// The unsigned-field callbacks every module implements, in YAML order.
    category add_extra_fields_to_unsigned_client_event, slice MXMOD_ADD_EXTRA_FIELDS_TO_UNSIGNED_CLIENT_EVENT_CALLBACKS, enum AddExtraFieldsToUnsignedClientEventCallback, struct AddExtraFieldsToUnsignedClientEventCallbacks;

    /// `add_field_to_unsigned_callback(event)`: every event served to a client (`/sync`,
    /// `/messages`, `/event`, `/state`, ...). The objects of every module are merged, a
    /// later module's key winning, then added to the event's `unsigned` without
    /// replacing a key the server set (`transaction_id`).
    fn add_field_to_unsigned_callback(event: &'a Event) -> JsonObject
        where rule = MergeObjects,
        deny = DenySpec::NONE,
        on_error = FailurePolicy::INTERNAL;
}
