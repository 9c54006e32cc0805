//! `domain_rule_checker`: a port of synapse-domain-rule-checker. Invites and joins are
//! allowed or refused by the servers (domains) of the users involved.
//!
//! # Callbacks
//!
//! * `user_may_invite` and `user_may_send_3pid_invite` (spam checker). An invite is
//!   checked in this order; the first rule that applies decides:
//!   1. `can_only_invite_during_room_creation`: if the inviter is local and the room
//!      does not look new, refuse. A room looks new when every `m.room.member` state
//!      event is the creator's own, was sent by the creator, or is an invite. A room
//!      without a create event (unknown here) does not look new.
//!   2. A 3PID invite (email, phone) is allowed iff `can_invite_by_third_party_id`.
//!   3. If the room is in the public room directory and the invitee's domain is listed
//!      in `domains_prevented_from_being_invited_to_published_rooms`, refuse.
//!   4. If the inviter's domain is not a key of `domain_mapping`, the answer is
//!      `can_invite_if_not_in_domain_mapping`.
//!   5. Otherwise the invite is allowed iff the invitee's domain is listed for the
//!      inviter's domain.
//!
//!   A refusal is 403 `M_FORBIDDEN` ("Invites have been disabled on this server", or
//!   "Cannot send threepid invite" for 3PID invites).
//! * `user_may_join_room` (spam checker): refused (403 `M_FORBIDDEN` "Not allowed to
//!   join this room") iff `can_only_join_rooms_with_invite` is on and the user was not
//!   invited.
//!
//! Invites between two local users go through the same rules: list the server's own
//! domain in `domain_mapping` (and keep it out of the prevented list) to allow them.
//!
//! # Config
//!
//! ```yaml
//! modules:
//!   - module: domain_rule_checker
//!     config:
//!       # Which domains users of a domain may invite: inviter domain → invitee domains.
//!       # Default: {} (no domain is listed).
//!       domain_mapping:
//!         "example.com": ["example.com", "partner.org"]
//!         "partner.org": ["example.com"]
//!       # Whether an inviter whose domain is not a key of `domain_mapping` may invite.
//!       # Required: its absence is a config error.
//!       can_invite_if_not_in_domain_mapping: false
//!       # Whether local users may only join rooms they were invited to. Default: false.
//!       can_only_join_rooms_with_invite: false
//!       # Whether local users may only invite while the room looks new. Default: false.
//!       can_only_invite_during_room_creation: false
//!       # Domains that may not be invited to rooms in the public room directory.
//!       # Default: [].
//!       domains_prevented_from_being_invited_to_published_rooms: []
//!       # Whether invites by email or phone number are allowed. Default: true.
//!       can_invite_by_third_party_id: true
//!       # Read the domains in `domain_mapping` and the prevented list as regular
//!       # expressions matching the whole domain (Rust `regex` syntax). Default: false.
//!       use_regex: false
//! ```

use std::collections::{HashMap, HashSet};

use mxmod::{
    api::HostError,
    module, spam_checker,
    types::{Membership, RoomId, StateMap, UserId},
    CallbackError, ConfigError, Module, ModuleApi, ModuleError, SpamCheck,
};
use regex::Regex;
use serde::Deserialize;

/// The `config:` of `domain_rule_checker`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainRuleCheckerConfig {
    /// Inviter domain → the invitee domains its users may invite.
    #[serde(default)]
    pub domain_mapping: Option<HashMap<String, Vec<String>>>,
    /// The answer for inviters whose domain is not in `domain_mapping` (required).
    #[serde(default)]
    pub can_invite_if_not_in_domain_mapping: Option<bool>,
    /// Local users may only join rooms they were invited to.
    #[serde(default)]
    pub can_only_join_rooms_with_invite: bool,
    /// Local users may only invite while the room looks new.
    #[serde(default)]
    pub can_only_invite_during_room_creation: bool,
    /// Domains that may not be invited to published rooms.
    #[serde(default)]
    pub domains_prevented_from_being_invited_to_published_rooms: Option<Vec<String>>,
    /// Whether 3PID invites are allowed.
    #[serde(default = "yes")]
    pub can_invite_by_third_party_id: bool,
    /// Domains are whole-match regular expressions.
    #[serde(default)]
    pub use_regex: bool,
}

fn yes() -> bool {
    true
}

/// A set of domains: exact names, or whole-match patterns with `use_regex`.
#[derive(Debug)]
enum Domains {
    Exact(HashSet<String>),
    Patterns(Vec<Regex>),
}

impl Domains {
    fn matches(&self, domain: &str) -> bool {
        match self {
            Domains::Exact(names) => names.contains(domain),
            Domains::Patterns(patterns) => patterns.iter().any(|pattern| pattern.is_match(domain)),
        }
    }
}

/// A pattern that must match the whole domain (Python's `re.fullmatch`).
fn whole_match(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!("^(?:{pattern})$"))
}

fn domains(list: &[String], use_regex: bool) -> Result<Domains, (usize, regex::Error)> {
    if !use_regex {
        return Ok(Domains::Exact(list.iter().cloned().collect()));
    }
    let patterns =
        list.iter().enumerate().map(|(i, p)| whole_match(p).map_err(|e| (i, e))).collect::<Result<Vec<_>, _>>()?;
    Ok(Domains::Patterns(patterns))
}

/// The invite rules, compiled from the config.
#[derive(Debug)]
struct Rules {
    /// (inviter domain or pattern, invitee domains).
    mapping: Vec<(Domains, Domains)>,
    prevented: Domains,
}

impl Rules {
    fn compile(config: &DomainRuleCheckerConfig) -> Result<Self, ConfigError> {
        let mut mapping = Vec::new();
        if let Some(map) = &config.domain_mapping {
            // Sorted, so that errors come out in a stable order.
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort();
            for (inviter, invitees) in entries {
                let inviter_set = domains(std::slice::from_ref(inviter), config.use_regex)
                    .map_err(|(_, error)| ConfigError::at(["domain_mapping", inviter.as_str()], bad_pattern(&error)))?;
                let invitee_set = domains(invitees, config.use_regex).map_err(|(i, error)| {
                    ConfigError::at(["domain_mapping".to_owned(), inviter.clone(), i.to_string()], bad_pattern(&error))
                })?;
                mapping.push((inviter_set, invitee_set));
            }
        }
        let prevented_list = config.domains_prevented_from_being_invited_to_published_rooms.as_deref().unwrap_or(&[]);
        let prevented = domains(prevented_list, config.use_regex).map_err(|(i, error)| {
            ConfigError::at(
                ["domains_prevented_from_being_invited_to_published_rooms".to_owned(), i.to_string()],
                bad_pattern(&error),
            )
        })?;
        Ok(Self { mapping, prevented })
    }

    /// Whether the mapping lets `inviter` invite `invitee`; `None` when no key matches the
    /// inviter's domain. With patterns, the invitee lists of every matching key count.
    fn mapping_allows(&self, inviter: &str, invitee: &str) -> Option<bool> {
        let mut matched = false;
        for (inviters, invitees) in &self.mapping {
            if inviters.matches(inviter) {
                matched = true;
                if invitees.matches(invitee) {
                    return Some(true);
                }
            }
        }
        matched.then_some(false)
    }
}

fn bad_pattern(error: &regex::Error) -> String {
    format!("not a valid regular expression (`use_regex` is on): {error}")
}

/// The domain rule checker.
pub struct DomainRuleChecker {
    config: DomainRuleCheckerConfig,
    rules: Rules,
    api: ModuleApi,
}

impl Module for DomainRuleChecker {
    type Config = DomainRuleCheckerConfig;

    fn parse_config(config: DomainRuleCheckerConfig) -> Result<DomainRuleCheckerConfig, ConfigError> {
        if config.can_invite_if_not_in_domain_mapping.is_none() {
            return Err(ConfigError::new(
                "`can_invite_if_not_in_domain_mapping` is required: whether users of a domain absent from \
                 `domain_mapping` may invite (true or false)",
            ));
        }
        Rules::compile(&config)?;
        Ok(config)
    }

    fn new(config: DomainRuleCheckerConfig, api: ModuleApi) -> Result<Self, ModuleError> {
        let rules = Rules::compile(&config).map_err(|error| ModuleError::with_source("invalid config", error))?;
        Ok(DomainRuleChecker { config, rules, api })
    }
}

/// Whether the room looks new: every member event is the creator's, was sent by the
/// creator, or is an invite. No create event (a room unknown here) means not new.
fn looks_new(state: &StateMap) -> bool {
    let Some(create) = state.get("m.room.create", "") else { return false };
    let creator = &create.sender;
    state.iter().filter(|((kind, _), _)| kind == "m.room.member").all(|((_, state_key), event)| {
        state_key == creator.as_str() || event.sender == *creator || event.membership() == Some(Membership::Invite)
    })
}

impl DomainRuleChecker {
    /// Whether the room looks new (see [`looks_new`]).
    async fn is_new_room(&self, room_id: &RoomId) -> Result<bool, CallbackError> {
        match self.api.room_state(room_id).await {
            Ok(state) => Ok(looks_new(&state)),
            Err(HostError::NotFound(_)) => Ok(false),
            Err(error) => Err(CallbackError::other(error)),
        }
    }

    /// The invite rules; `invitee` is `None` for a 3PID invite.
    async fn may_invite(
        &self,
        inviter: &UserId,
        invitee: Option<&UserId>,
        room_id: &RoomId,
    ) -> Result<bool, CallbackError> {
        let inviter_domain = inviter.server_name();
        if self.config.can_only_invite_during_room_creation
            && inviter_domain == self.api.server_name()
            && !self.is_new_room(room_id).await?
        {
            return Ok(false);
        }
        let Some(invitee) = invitee else {
            return Ok(self.config.can_invite_by_third_party_id);
        };
        let invitee_domain = invitee.server_name().as_str();
        let prevents_any = match &self.rules.prevented {
            Domains::Exact(names) => !names.is_empty(),
            Domains::Patterns(patterns) => !patterns.is_empty(),
        };
        if prevents_any && self.rules.prevented.matches(invitee_domain) && self.api.is_room_published(room_id).await? {
            return Ok(false);
        }
        Ok(match self.rules.mapping_allows(inviter_domain.as_str(), invitee_domain) {
            Some(allowed) => allowed,
            None => self.config.can_invite_if_not_in_domain_mapping.unwrap_or(false),
        })
    }
}

#[module(name = "domain_rule_checker")]
impl DomainRuleChecker {
    /// Applies the invite rules to a Matrix invite.
    #[spam_checker]
    pub async fn user_may_invite(
        &self,
        inviter: &UserId,
        invitee: &UserId,
        room_id: &RoomId,
    ) -> Result<SpamCheck, CallbackError> {
        Ok(SpamCheck::from_may(self.may_invite(inviter, Some(invitee), room_id).await?))
    }

    /// Applies the invite rules to an invite by email or phone number.
    #[spam_checker]
    pub async fn user_may_send_3pid_invite(
        &self,
        inviter: &UserId,
        _medium: &str,
        _address: &str,
        room_id: &RoomId,
    ) -> Result<SpamCheck, CallbackError> {
        Ok(SpamCheck::from_may(self.may_invite(inviter, None, room_id).await?))
    }

    /// Refuses joins without an invite when `can_only_join_rooms_with_invite` is on.
    #[spam_checker]
    pub async fn user_may_join_room(&self, _user_id: &UserId, _room_id: &RoomId, is_invited: bool) -> SpamCheck {
        SpamCheck::from_may(!self.config.can_only_join_rooms_with_invite || is_invited)
    }
}

#[cfg(test)]
mod tests;
