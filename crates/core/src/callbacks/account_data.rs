//! Account-data callbacks (`register_account_data_callbacks`, `SYNAPSE.md` §6). Failures
//! are logged and ignored, as in Synapse.

use crate::{
    callbacks::{outcome::DenySpec, rules::All, FailurePolicy},
    types::{JsonObject, RoomId, UserId},
};

crate::callbacks::define_category! {
    /// The account-data callbacks every module implements, in YAML order.
    category account_data, slice MXMOD_ACCOUNT_DATA_CALLBACKS, enum AccountDataCallback, struct AccountDataCallbacks;

    /// `on_account_data_updated(user_id, room_id, account_data_type, content)`: after a
    /// user's global (`room_id` `None`) or room account data was written; a deletion is
    /// an empty `content`; tags are not account data here. ALL.
    fn on_account_data_updated(user_id: &'a UserId, room_id: Option<&'a RoomId>, account_data_type: &'a str, content: &'a JsonObject) -> ()
        where rule = All,
        deny = DenySpec::NONE,
        on_error = FailurePolicy::Ignore;
}
