//! What `/sync` adds to a joined room beside its timeline and state: the ephemeral events
//! (`m.typing` from this process's typing state, `m.receipt` from the receipt stream,
//! other users' `m.read.private` left out) and the user's room account data (on the
//! account-data stream).

use std::collections::HashMap;

use mxmod::types::{OwnedRoomId, UserId};
use serde_json::{json, Map, Value};

use crate::{http::ApiResult, state::AppState};

/// The stream ranges one `/sync` reads: `since` positions (0 and `initial` for an
/// initial sync) and the positions read at its start.
#[derive(Clone, Copy, Debug)]
pub(super) struct ExtrasRange {
    pub(super) initial: bool,
    pub(super) since_receipts: i64,
    pub(super) until_receipts: i64,
    pub(super) since_account_data: i64,
    pub(super) until_account_data: i64,
    /// The typing position of the token; one beyond this process's position (a token
    /// from before a restart) counts as 0.
    pub(super) since_typing: u64,
}

/// The ephemeral events and room account data of each joined room with any.
#[derive(Default)]
pub(super) struct RoomExtras {
    ephemeral: HashMap<OwnedRoomId, Vec<Value>>,
    account_data: HashMap<OwnedRoomId, Vec<Value>>,
}

impl RoomExtras {
    /// Reads them for `joined` over `range`.
    pub(super) async fn read(
        state: &AppState,
        me: &UserId,
        joined: &[OwnedRoomId],
        range: ExtrasRange,
    ) -> ApiResult<Self> {
        let mut extras = Self::default();
        let since_typing = if range.since_typing > state.typing.position() { 0 } else { range.since_typing };
        for room_id in joined {
            let Some((position, users)) = state.typing.room(room_id) else { continue };
            let wanted = if range.initial { !users.is_empty() } else { position > since_typing };
            if wanted {
                extras.ephemeral.entry(room_id.clone()).or_default().push(json!({
                    "type": "m.typing", "content": { "user_ids": users }
                }));
            }
        }
        let receipts = state.storage.receipts_between(joined, range.since_receipts, range.until_receipts).await?;
        let mut contents: HashMap<OwnedRoomId, Map<String, Value>> = HashMap::new();
        for record in receipts {
            let receipt = record.receipt;
            if receipt.receipt_type == "m.read.private" && receipt.user_id != me {
                continue;
            }
            let mut data = json!({ "ts": receipt.ts });
            if let Some(thread_id) = receipt.thread_id {
                data["thread_id"] = thread_id.into();
            }
            let content = contents.entry(receipt.room_id).or_default();
            let by_type = content.entry(receipt.event_id.to_string()).or_insert_with(|| json!({}));
            by_type[receipt.receipt_type.as_str()][receipt.user_id.as_str()] = data;
        }
        for (room_id, content) in contents {
            extras.ephemeral.entry(room_id).or_default().push(json!({ "type": "m.receipt", "content": content }));
        }
        let entries =
            state.storage.room_account_data_between(me, range.since_account_data, range.until_account_data).await?;
        for entry in entries {
            if !joined.contains(&entry.room_id) {
                continue;
            }
            let events = extras.account_data.entry(entry.room_id).or_default();
            // A type written twice in the range is sent once, with its latest content.
            events.retain(|event| event["type"] != entry.data_type.as_str());
            events.push(json!({ "type": entry.data_type, "content": entry.content }));
        }
        Ok(extras)
    }

    /// Whether the room has anything to send.
    pub(super) fn has_any(&self, room_id: &OwnedRoomId) -> bool {
        self.ephemeral.contains_key(room_id) || self.account_data.contains_key(room_id)
    }

    /// The room's ephemeral events (taken out).
    pub(super) fn take_ephemeral(&mut self, room_id: &OwnedRoomId) -> Vec<Value> {
        self.ephemeral.remove(room_id).unwrap_or_default()
    }

    /// The room's account data events (taken out).
    pub(super) fn take_account_data(&mut self, room_id: &OwnedRoomId) -> Vec<Value> {
        self.account_data.remove(room_id).unwrap_or_default()
    }
}
