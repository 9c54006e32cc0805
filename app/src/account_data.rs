//! What follows a write of account data: `on_account_data_updated` (`SYNAPSE.md` §6).
//! Every path that writes a user's global or room account data calls
//! [`account_data_updated`] once the write is committed; tags are not account data here.

use mxmod::types::{JsonObject, RoomId, UserId};

use crate::state::AppState;

/// Tells modules that `user_id`'s account data of `data_type` (in `room_id`, or global)
/// is now `content` (empty for a deletion). ALL; a failing module is logged by the hook
/// and the write stands.
pub(crate) async fn account_data_updated(
    state: &AppState,
    user_id: &UserId,
    room_id: Option<&RoomId>,
    data_type: &str,
    content: &JsonObject,
) {
    let hooks = &state.modules.callbacks().account_data;
    let _ = hooks.on_account_data_updated(user_id, room_id, data_type, content).await;
}
