//! `custom_presence_router`: the presence-router example of Synapse's documentation,
//! with its routing from config.
//!
//! * `get_users_for_states`: a presence update of a user listed under some receiver is
//!   also sent to that receiver.
//! * `get_interested_users`: a receiver sees the presence of the users listed under it;
//!   a user in `all_users_receivers` sees everyone's.
//!
//! Config:
//!
//! ```yaml
//! modules:
//!   - module: custom_presence_router
//!     config:
//!       # receiver: [users whose presence it receives]. Default: none.
//!       routes:
//!         "@alice:example.com": ["@bob:example.com", "@charlie:somewhere.org"]
//!       # Users who receive everyone's presence. Default: none.
//!       all_users_receivers: []
//! ```

use std::collections::{BTreeMap, HashSet};

use mxmod::{
    callbacks::rules::PresenceRouting,
    module, presence_router,
    types::{OwnedUserId, UserId, UserPresenceState},
    InterestedUsers, Module, ModuleApi, ModuleError,
};
use serde::Deserialize;

/// The `config:` of `custom_presence_router`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresenceRouterConfig {
    /// Receiver → users whose presence it receives.
    #[serde(default)]
    pub routes: BTreeMap<OwnedUserId, Vec<OwnedUserId>>,
    /// Users who receive everyone's presence.
    #[serde(default)]
    pub all_users_receivers: Vec<OwnedUserId>,
}

/// The presence router.
pub struct CustomPresenceRouter {
    config: PresenceRouterConfig,
}

impl Module for CustomPresenceRouter {
    type Config = PresenceRouterConfig;

    fn new(config: PresenceRouterConfig, _api: ModuleApi) -> Result<Self, ModuleError> {
        Ok(CustomPresenceRouter { config })
    }
}

#[module(name = "custom_presence_router")]
impl CustomPresenceRouter {
    /// Sends each listed user's updates to their receivers.
    #[presence_router]
    pub async fn get_users_for_states(&self, state_updates: &[UserPresenceState]) -> PresenceRouting {
        let mut routing = PresenceRouting::new();
        for update in state_updates {
            for (receiver, senders) in &self.config.routes {
                if senders.contains(&update.user_id) {
                    routing.entry(receiver.clone()).or_default().insert(update.clone());
                }
            }
            for receiver in &self.config.all_users_receivers {
                routing.entry(receiver.clone()).or_default().insert(update.clone());
            }
        }
        routing
    }

    /// The users whose presence `user_id` receives.
    #[presence_router]
    pub async fn get_interested_users(&self, user_id: &UserId) -> InterestedUsers {
        if self.config.all_users_receivers.iter().any(|receiver| receiver == user_id) {
            return InterestedUsers::All;
        }
        let senders: HashSet<OwnedUserId> = self.config.routes.get(user_id).into_iter().flatten().cloned().collect();
        InterestedUsers::Users(senders)
    }
}

#[cfg(test)]
mod tests {
    use mxmod::{testing::Harness, types::PresenceKind};

    use super::*;

    const YAML: &str = "modules:
  - module: custom_presence_router
    config:
      routes:
        '@alice:example.com': ['@bob:example.com', '@charlie:somewhere.org']
      all_users_receivers: ['@gobbler:example.com']
";

    fn user(id: &str) -> OwnedUserId {
        UserId::parse(id).unwrap()
    }

    #[tokio::test]
    async fn bob_and_charlie_are_routed_to_alice() {
        let harness = Harness::from_yaml(YAML).unwrap();
        let updates: Vec<UserPresenceState> = ["@bob:example.com", "@charlie:somewhere.org", "@dave:example.com"]
            .into_iter()
            .map(|id| UserPresenceState::new(user(id), PresenceKind::Online))
            .collect();
        let routing = harness.callbacks().presence_router.get_users_for_states(&updates).await.unwrap();
        let to_alice: HashSet<&str> = routing[&user("@alice:example.com")].iter().map(|u| u.user_id.as_str()).collect();
        assert_eq!(to_alice, HashSet::from(["@bob:example.com", "@charlie:somewhere.org"]));
        assert_eq!(routing[&user("@gobbler:example.com")].len(), 3);
    }

    #[tokio::test]
    async fn alice_is_interested_in_bob_and_charlie() {
        let harness = Harness::from_yaml(YAML).unwrap();
        let router = &harness.callbacks().presence_router;
        let InterestedUsers::Users(users) = router.get_interested_users(&user("@alice:example.com")).await.unwrap()
        else {
            panic!("expected a set")
        };
        assert_eq!(users, HashSet::from([user("@bob:example.com"), user("@charlie:somewhere.org")]));
        assert_eq!(router.get_interested_users(&user("@gobbler:example.com")).await.unwrap(), InterestedUsers::All);
    }
}
