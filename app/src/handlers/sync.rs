//! `GET /sync`: joined, invited and left rooms with timeline and state, global account
//! data changed since the token, and presence routed through the presence router
//! (`get_interested_users`, `get_users_for_states`); `since` tokens and long-polling with
//! `timeout`. A `filter` (stored ID or inline JSON, `filter.rs`) narrows rooms and
//! timelines and lazy-loads members; each joined room carries `unread_notifications`,
//! counted by the user's push rules (`push/evaluate.rs`) over their unread events, at
//! most [`MAX_COUNTED`] of them per room.

use std::{
    collections::{BTreeMap, HashSet},
    sync::Arc,
    time::Duration,
};

use axum::{extract::State, Json};
use mxmod::{
    types::{OwnedRoomId, OwnedUserId, UserId},
    InterestedUsers,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    presence::presence_content,
    room::stream_position,
    room_extras::{ExtrasRange, RoomExtras},
};
use crate::{
    client_events::client_events,
    filter::Filter,
    http::{ApiError, ApiResult, Auth, MQuery},
    push::{
        evaluate::{CompiledRules, RoomContext},
        rules::ruleset,
    },
    state::AppState,
    storage::StoredEvent,
};

/// Longest wait a client may ask for.
const MAX_TIMEOUT_MS: u64 = 60_000;
/// Timeline events per room in an initial sync.
const INITIAL_TIMELINE: usize = 20;
/// Most timeline events per room in an incremental sync (more: `limited`).
const MAX_TIMELINE: usize = 1000;
/// Most unread events a room's notification counts are computed on (counts saturate
/// there): rules are evaluated at sync time, so this bounds each room's work.
const MAX_COUNTED: usize = 100;

/// `/sync` query.
#[derive(Deserialize)]
pub(super) struct SyncQuery {
    since: Option<String>,
    #[serde(default)]
    timeout: u64,
    #[serde(default)]
    full_state: bool,
    filter: Option<String>,
}

/// The filter a `/sync` names: inline JSON, or a stored ID (an unknown ID is the
/// default filter, as in Synapse).
async fn sync_filter(state: &AppState, auth: &Auth, filter: Option<&str>) -> ApiResult<Filter> {
    let Some(filter) = filter.filter(|f| !f.is_empty()) else { return Ok(Filter::default()) };
    if filter.starts_with('{') {
        let value: Value = serde_json::from_str(filter)
            .map_err(|_| ApiError::new(400, mxmod::ErrCode::NOT_JSON, "Invalid filter JSON"))?;
        return Filter::parse(&value).map(|(filter, _)| filter);
    }
    let id = super::filters::parse_filter_id(filter)?;
    match state.storage.filter(&auth.user_id, id).await? {
        Some(text) => {
            let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            Ok(Filter::parse(&value).map(|(filter, _)| filter).unwrap_or_default())
        }
        None => Ok(Filter::default()),
    }
}

/// `GET /sync`.
pub(super) async fn sync(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MQuery(query): MQuery<SyncQuery>,
) -> ApiResult<Json<Value>> {
    let since = match &query.since {
        Some(token) => Some(SyncToken::parse(token)?),
        None => None,
    };
    let deadline = tokio::time::Instant::now() + Duration::from_millis(query.timeout.min(MAX_TIMEOUT_MS));
    let interested = if state.settings.presence_enabled {
        state.modules.callbacks().presence_router.get_interested_users(&auth.user_id).await?
    } else {
        InterestedUsers::Users(HashSet::new())
    };
    // Interested in users beyond shared rooms: woken by every presence change.
    let all_presence = match &interested {
        InterestedUsers::All => true,
        InterestedUsers::Users(users) => !users.is_empty(),
    };
    let filter = sync_filter(&state, &auth, query.filter.as_deref()).await?;
    // Subscribed before the first read, so no write after it goes unnoticed.
    let mut waiter = state.storage.sync_waiter(&auth.user_id, all_presence);
    loop {
        let (response, has_news) = build(&state, &auth, since, query.full_state, &interested, &filter).await?;
        if since.is_none() || has_news || tokio::time::Instant::now() >= deadline {
            return Ok(Json(response));
        }
        if tokio::time::timeout_at(deadline, waiter.changed()).await.is_err() {
            let (response, _) = build(&state, &auth, since, query.full_state, &interested, &filter).await?;
            return Ok(Json(response));
        }
    }
}

/// A `since`/`next_batch` token, `s{events}_{presence}_{account_data}_{receipts}_{typing}`:
/// the stream positions the client has seen (typing is this process's in-memory stream). A missing part (a token from an earlier version) is 0,
/// so that stream is sent again in full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct SyncToken {
    events: i64,
    presence: i64,
    account_data: i64,
    receipts: i64,
    typing: u64,
}

impl SyncToken {
    fn parse(token: &str) -> ApiResult<Self> {
        let events = stream_position(token)?;
        let part = |n: usize| token.split('_').nth(n).and_then(|p| p.parse().ok()).unwrap_or(0);
        let typing = token.split('_').nth(4).and_then(|p| p.parse().ok()).unwrap_or(0);
        Ok(Self { events, presence: part(1), account_data: part(2), receipts: part(3), typing })
    }
}

impl std::fmt::Display for SyncToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s{}_{}_{}_{}_{}", self.events, self.presence, self.account_data, self.receipts, self.typing)
    }
}

async fn build(
    state: &Arc<AppState>,
    auth: &Auth,
    since: Option<SyncToken>,
    full_state: bool,
    interested: &InterestedUsers,
    filter: &Filter,
) -> ApiResult<(Value, bool)> {
    let storage = &state.storage;
    let me = &auth.user_id;
    // Read first; every stream read below stops at these positions, so what is written
    // meanwhile comes in the next sync, once.
    let positions = storage.stream_positions().await?;
    let next_batch = SyncToken {
        events: positions.events,
        presence: positions.presence,
        account_data: positions.account_data,
        receipts: positions.receipts,
        typing: state.typing.position(),
    };
    let SyncToken { events: since_events, presence: since_presence, account_data: since_account_data, .. } =
        since.unwrap_or_default();
    let joined = storage.rooms_with_membership(me, "join").await?;
    let invited = storage.rooms_with_membership(me, "invite").await?;
    let mut left = storage.rooms_with_membership(me, "leave").await?;
    left.extend(storage.rooms_with_membership(me, "ban").await?);
    let mut has_news = false;
    let since_token = since.unwrap_or_default();
    let extras_range = ExtrasRange {
        initial: since.is_none(),
        since_receipts: since_token.receipts,
        until_receipts: next_batch.receipts,
        since_account_data,
        until_account_data: next_batch.account_data,
        since_typing: since_token.typing,
    };
    let mut extras = RoomExtras::read(state, me, &joined, extras_range).await?;

    let served_rules = ruleset(me, &storage.push_rules(me).await?);
    let push_rules = CompiledRules::new(me, &served_rules);
    let mut join = serde_json::Map::new();
    for room_id in joined.iter().filter(|room_id| filter.includes_room(room_id.as_str())) {
        let (timeline, limited) =
            timeline(state, room_id, since.map(|_| since_events), next_batch.events, filter).await?;
        if since.is_some() && timeline.is_empty() && !full_state && !extras.has_any(room_id) {
            continue;
        }
        has_news |= !timeline.is_empty() || extras.has_any(room_id);
        let newly_joined = timeline.iter().any(|e| e.event.state_key.as_deref() == Some(me.as_str()));
        let room_state = storage.current_state(room_id).await?.unwrap_or_default();
        let whole_state = since.is_none() || newly_joined || full_state;
        let state_events: Vec<Value> = if whole_state || filter.lazy_load_members() {
            let in_timeline: HashSet<&str> = timeline.iter().map(|e| e.event.event_id.as_str()).collect();
            // Lazy loading: of the members, only the timeline's senders and the user.
            let mut senders: HashSet<&str> = timeline.iter().map(|e| e.event.sender.as_str()).collect();
            senders.insert(me.as_str());
            let shown: Vec<_> = room_state
                .iter()
                .filter(|(_, e)| !in_timeline.contains(e.event_id.as_str()))
                .filter(|((event_type, state_key), _)| {
                    if !filter.lazy_load_members() {
                        return true;
                    }
                    if event_type == "m.room.member" {
                        senders.contains(state_key.as_str())
                    } else {
                        whole_state
                    }
                })
                .map(|(_, e)| (e, None))
                .collect();
            client_events(state, shown, None).await?
        } else {
            Vec::new()
        };
        let unread = storage.unread_events(me, room_id, next_batch.events, MAX_COUNTED).await?;
        let room_context = RoomContext::new(&room_state, me);
        let (mut notifications, mut highlights) = (0u64, 0u64);
        for event in &unread {
            let decision = push_rules.evaluate(&event.event, &room_context);
            notifications += u64::from(decision.notify);
            highlights += u64::from(decision.highlight);
        }
        let prev_batch = timeline
            .first()
            .map(|e| format!("t{}", e.stream_ordering - 1))
            .unwrap_or_else(|| format!("t{}", next_batch.events));
        join.insert(
            room_id.to_string(),
            json!({
                "timeline": { "events": timeline_json(state, &timeline, auth).await?, "limited": limited, "prev_batch": prev_batch },
                "state": { "events": state_events },
                "ephemeral": { "events": extras.take_ephemeral(room_id) },
                "account_data": { "events": extras.take_account_data(room_id) },
                "unread_notifications": { "notification_count": notifications, "highlight_count": highlights },
            }),
        );
    }

    let mut invite = serde_json::Map::new();
    for room_id in &invited {
        let Some(room_state) = storage.current_state(room_id).await? else { continue };
        if let Some(invite_event) = room_state.get("m.room.member", me.as_str()) {
            // Sent once: in the sync whose range holds the invite.
            let position = storage.event(invite_event.event_id.as_str()).await?.map(|e| e.stream_ordering);
            let in_range = position.is_some_and(|p| p > since_events && p <= next_batch.events);
            if !in_range {
                continue;
            }
        }
        has_news = true;
        let stripped: Vec<Value> = room_state
            .iter()
            .filter(|((event_type, key), _)| {
                matches!(event_type.as_str(), "m.room.create" | "m.room.name" | "m.room.join_rules" | "m.room.canonical_alias")
                    || (event_type == "m.room.member" && key == me.as_str())
            })
            .map(|(_, e)| json!({ "type": e.event_type, "state_key": e.state_key, "sender": e.sender, "content": e.content }))
            .collect();
        invite.insert(room_id.to_string(), json!({ "invite_state": { "events": stripped } }));
    }

    let mut leave = serde_json::Map::new();
    if since.is_some() {
        for room_id in &left {
            let events = storage
                .events_between(std::slice::from_ref(room_id), since_events, next_batch.events, MAX_TIMELINE)
                .await?;
            let mine: Vec<StoredEvent> =
                events.into_iter().filter(|e| e.event.state_key.as_deref() == Some(me.as_str())).collect();
            if mine.is_empty() {
                continue;
            }
            has_news = true;
            leave.insert(
                room_id.to_string(),
                json!({ "timeline": { "events": timeline_json(state, &mine, auth).await?, "limited": false }, "state": { "events": [] } }),
            );
        }
    }

    let presence = if state.settings.presence_enabled {
        routed_presence(state, me, &joined, since.map(|_| since_presence), next_batch.presence, interested).await?
    } else {
        Vec::new()
    };
    has_news |= !presence.is_empty();

    let mut account_data: Vec<Value> = storage
        .account_data_between(me, since_account_data, next_batch.account_data)
        .await?
        .into_iter()
        .map(|(kind, content)| json!({ "type": kind, "content": content }))
        .collect();
    has_news |= !account_data.is_empty();
    if since.is_none() {
        // As Synapse: the push rules come with every initial sync, as account data.
        account_data.push(json!({ "type": "m.push_rules", "content": served_rules }));
    }

    let response = json!({
        "next_batch": next_batch.to_string(),
        "rooms": { "join": join, "invite": invite, "leave": leave },
        "presence": { "events": presence },
        "account_data": { "events": account_data },
    });
    Ok((response, has_news))
}

/// A joined room's timeline for this sync and whether it is `limited`: the newest
/// events (the filter's `limit`, else [`INITIAL_TIMELINE`]) for an initial sync, the
/// events since the token for an incremental one, each passing the timeline filter.
async fn timeline(
    state: &AppState,
    room_id: &OwnedRoomId,
    since: Option<i64>,
    until: i64,
    filter: &Filter,
) -> ApiResult<(Vec<StoredEvent>, bool)> {
    let storage = &state.storage;
    let limit = filter.timeline_limit();
    let room = room_id.as_str();
    let passes = |e: &StoredEvent| filter.timeline_allows(e.event.event_type.as_str(), e.event.sender.as_str(), room);
    let mut events = match since {
        None => {
            let wanted = limit.unwrap_or(INITIAL_TIMELINE);
            // A narrowing filter reads further back to fill the timeline (bounded).
            let read = if filter.narrows_timeline() { MAX_TIMELINE } else { wanted };
            let mut recent = storage.room_events(room_id, until, true, read).await?;
            recent.retain(passes);
            recent.truncate(wanted);
            recent.reverse();
            return Ok((recent, true));
        }
        Some(since) => storage.events_between(std::slice::from_ref(room_id), since, until, MAX_TIMELINE).await?,
    };
    let mut limited = events.len() == MAX_TIMELINE;
    events.retain(passes);
    if let Some(limit) = limit {
        if events.len() > limit {
            events.drain(..events.len() - limit);
            limited = true;
        }
    }
    Ok((events, limited))
}

async fn timeline_json(state: &AppState, events: &[StoredEvent], auth: &Auth) -> ApiResult<Vec<Value>> {
    let served: Vec<_> = events.iter().map(|e| (&e.event, e.txn_id.as_deref())).collect();
    client_events(state, served, Some(&auth.user_id)).await
}

/// Presence updates this user receives: from users sharing a room, plus what the
/// presence router adds (`get_interested_users` and `get_users_for_states`).
async fn routed_presence(
    state: &Arc<AppState>,
    me: &UserId,
    joined: &[OwnedRoomId],
    since: Option<i64>,
    until: i64,
    interested: &InterestedUsers,
) -> ApiResult<Vec<Value>> {
    let updates = state.storage.presence_between(since.unwrap_or(0), until).await?;
    if updates.is_empty() {
        return Ok(Vec::new());
    }
    let mut co_members: HashSet<OwnedUserId> = HashSet::new();
    for room_id in joined {
        let Some(room_state) = state.storage.current_state(room_id).await? else { continue };
        for (_, event) in room_state.iter() {
            if event.membership() == Some(mxmod::types::Membership::Join) {
                if let Some(Ok(user)) = event.state_key.as_deref().map(UserId::parse) {
                    co_members.insert(user);
                }
            }
        }
    }
    co_members.insert(me.to_owned());
    let router = &state.modules.callbacks().presence_router;
    let states: Vec<_> = updates.iter().map(|record| record.state.clone()).collect();
    let routed = router.get_users_for_states(&states).await?;
    let routed_to_me = routed.get(me);
    let mut latest = BTreeMap::new();
    for update in states {
        let visible = co_members.contains(&update.user_id)
            || match interested {
                InterestedUsers::All => true,
                InterestedUsers::Users(users) => users.contains(&update.user_id),
            }
            || routed_to_me.is_some_and(|set| set.contains(&update));
        if visible {
            latest.insert(update.user_id.clone(), update);
        }
    }
    Ok(latest
        .into_values()
        .map(|update| json!({ "type": "m.presence", "sender": update.user_id, "content": presence_content(&update) }))
        .collect())
}
