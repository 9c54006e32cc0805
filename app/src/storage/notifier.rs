//! Per-user `/sync` wake-ups. A parked `/sync` holds a [`SyncWaiter`] for its user; a
//! write wakes only the users who will see it, so a send in one room never wakes the
//! syncs of users outside it. Backends call the `wake_*` methods after a commit (the
//! PostgreSQL backend also after a `NOTIFY` from another process).

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
};

use mxmod::types::{Membership, StateMap, UserId};
use tokio::sync::watch;

/// The wake-up signals of every user with a parked `/sync`.
#[derive(Debug)]
pub struct Notifier {
    users: Mutex<HashMap<String, watch::Sender<u64>>>,
    /// Bumped on every presence change, for users a presence router made interested in all.
    presence: watch::Sender<u64>,
}

impl Default for Notifier {
    fn default() -> Self {
        Self { users: Mutex::new(HashMap::new()), presence: watch::channel(0).0 }
    }
}

fn bump(sender: &watch::Sender<u64>) {
    sender.send_modify(|generation| *generation = generation.wrapping_add(1));
}

impl Notifier {
    /// A waiter for `user_id`; see [`crate::storage::Storage::sync_waiter`].
    pub fn subscribe(&self, user_id: &UserId, all_presence: bool) -> SyncWaiter {
        let mut users = self.users.lock().unwrap_or_else(PoisonError::into_inner);
        let user = match users.get(user_id.as_str()) {
            Some(sender) => sender.subscribe(),
            None => {
                let (sender, receiver) = watch::channel(0);
                users.insert(user_id.as_str().to_owned(), sender);
                receiver
            }
        };
        SyncWaiter { user, presence: all_presence.then(|| self.presence.subscribe()) }
    }

    /// Wakes the parked syncs of these users; forgets users nobody waits for any more.
    pub fn wake<'a>(&self, user_ids: impl IntoIterator<Item = &'a str>) {
        let mut users = self.users.lock().unwrap_or_else(PoisonError::into_inner);
        if users.is_empty() {
            return;
        }
        for user_id in user_ids {
            let Some(sender) = users.get(user_id) else { continue };
            if sender.receiver_count() == 0 {
                users.remove(user_id);
            } else {
                bump(sender);
            }
        }
    }

    /// Wakes the members of a room (joined, and with `invited` also invited users).
    pub fn wake_room(&self, state: &StateMap, invited: bool) {
        let members = state.iter().filter_map(|((event_type, state_key), event)| {
            let wanted = event_type == "m.room.member"
                && matches!(event.membership(), Some(Membership::Join))
                    | (invited && event.membership() == Some(Membership::Invite));
            wanted.then_some(state_key.as_str())
        });
        self.wake(members);
    }

    /// Wakes the syncs interested in every presence change.
    pub fn wake_presence_watchers(&self) {
        bump(&self.presence);
    }

    /// Wakes every parked sync (the PostgreSQL backend after it may have missed
    /// notifications from other processes); each re-reads and finds what changed, if any.
    pub fn wake_all(&self) {
        let users = self.users.lock().unwrap_or_else(PoisonError::into_inner);
        for sender in users.values() {
            bump(sender);
        }
        bump(&self.presence);
    }

    /// How many users have a signal (for tests).
    pub fn tracked_users(&self) -> usize {
        self.users.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// What a parked `/sync` waits on.
#[derive(Debug)]
pub struct SyncWaiter {
    user: watch::Receiver<u64>,
    presence: Option<watch::Receiver<u64>>,
}

impl SyncWaiter {
    /// Returns once something was written for this user since the waiter was made or
    /// last woke.
    pub async fn changed(&mut self) {
        let (user, presence) = (&mut self.user, &mut self.presence);
        let user = async {
            if user.changed().await.is_err() {
                // The notifier is gone (shutdown): never wake.
                std::future::pending::<()>().await;
            }
        };
        match presence {
            Some(presence) => {
                tokio::select! {
                    () = user => {}
                    Ok(()) = presence.changed() => {}
                }
            }
            None => user.await,
        }
    }

    /// Whether a wake-up is pending, without waiting.
    pub fn has_changed(&self) -> bool {
        self.user.has_changed().unwrap_or(false)
            || self.presence.as_ref().is_some_and(|p| p.has_changed().unwrap_or(false))
    }
}
