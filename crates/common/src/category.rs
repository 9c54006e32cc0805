//! The callback categories and the Synapse callbacks of each. `mxmod`'s category tables
//! (`mxmod::callbacks::*`) are checked against this list by a test, and the macros use it
//! to recognise category attributes and to say which category a misplaced callback
//! belongs to.

/// A callback category: its attribute, its table's names in `mxmod::callbacks`, and its
/// callbacks.
#[derive(Debug)]
pub struct Category {
    /// The attribute and the module of `mxmod::callbacks` holding the table.
    pub name: &'static str,
    /// The linkme slice.
    pub slice: &'static str,
    /// The enum of shims.
    pub shim_enum: &'static str,
    /// The Synapse names of its callbacks, in table order.
    pub callbacks: &'static [&'static str],
}

/// The callback categories, in the order `mxmod` lists them.
pub const CATEGORIES: [Category; 9] = [
    Category {
        name: "spam_checker",
        slice: "MXMOD_SPAM_CHECKER_CALLBACKS",
        shim_enum: "SpamCheckerCallback",
        callbacks: &[
            "check_event_for_spam",
            "should_drop_federated_event",
            "user_may_join_room",
            "user_may_invite",
            "federated_user_may_invite",
            "user_may_send_3pid_invite",
            "user_may_create_room",
            "user_may_create_room_alias",
            "user_may_publish_room",
            "user_may_send_state_event",
            "check_username_for_spam",
            "check_registration_for_spam",
            "check_media_file_for_spam",
            "check_login_for_spam",
        ],
    },
    Category {
        name: "third_party_rules",
        slice: "MXMOD_THIRD_PARTY_RULES_CALLBACKS",
        shim_enum: "ThirdPartyRulesCallback",
        callbacks: &[
            "check_event_allowed",
            "on_create_room",
            "check_threepid_can_be_invited",
            "check_visibility_can_be_modified",
            "on_new_event",
            "check_can_shutdown_room",
            "check_can_deactivate_user",
            "on_profile_update",
            "on_user_deactivation_status_changed",
            "on_threepid_bind",
            "on_add_user_third_party_identifier",
            "on_remove_user_third_party_identifier",
        ],
    },
    Category {
        name: "account_validity",
        slice: "MXMOD_ACCOUNT_VALIDITY_CALLBACKS",
        shim_enum: "AccountValidityCallback",
        callbacks: &["is_user_expired", "on_user_registration", "on_user_login"],
    },
    Category {
        name: "presence_router",
        slice: "MXMOD_PRESENCE_ROUTER_CALLBACKS",
        shim_enum: "PresenceRouterCallback",
        callbacks: &["get_users_for_states", "get_interested_users"],
    },
    Category {
        name: "password_auth_provider",
        slice: "MXMOD_PASSWORD_AUTH_PROVIDER_CALLBACKS",
        shim_enum: "PasswordAuthProviderCallback",
        callbacks: &[
            "auth_checkers",
            "check_auth",
            "check_3pid_auth",
            "on_logged_out",
            "get_username_for_registration",
            "get_displayname_for_registration",
            "is_3pid_allowed",
        ],
    },
    Category {
        name: "media_repository",
        slice: "MXMOD_MEDIA_REPOSITORY_CALLBACKS",
        shim_enum: "MediaRepositoryCallback",
        callbacks: &["get_media_config_for_user", "is_user_allowed_to_upload_media_of_size"],
    },
    Category {
        name: "ratelimit",
        slice: "MXMOD_RATELIMIT_CALLBACKS",
        shim_enum: "RatelimitCallback",
        callbacks: &["get_ratelimit_override_for_user"],
    },
    Category {
        name: "account_data",
        slice: "MXMOD_ACCOUNT_DATA_CALLBACKS",
        shim_enum: "AccountDataCallback",
        callbacks: &["on_account_data_updated"],
    },
    Category {
        name: "add_extra_fields_to_unsigned_client_event",
        slice: "MXMOD_ADD_EXTRA_FIELDS_TO_UNSIGNED_CLIENT_EVENT_CALLBACKS",
        shim_enum: "AddExtraFieldsToUnsignedClientEventCallback",
        callbacks: &["add_field_to_unsigned_callback"],
    },
];

/// A callback's signature as an author writes it (from `signatures.rs`, generated from
/// `mxmod`'s tables by `cargo xtask codegen`).
#[derive(Debug)]
pub struct Signature {
    /// The Synapse name.
    pub callback: &'static str,
    /// How many arguments it takes after `&self`.
    pub arguments: usize,
    /// `async fn name(&self, ...) -> Answer`.
    pub text: &'static str,
}

/// The signature of a callback, if it is one.
pub fn signature_of(callback: &str) -> Option<&'static Signature> {
    crate::signatures::SIGNATURES.iter().find(|signature| signature.callback == callback)
}

/// The category a callback name belongs to, if any.
pub fn category_of(callback: &str) -> Option<&'static Category> {
    CATEGORIES.iter().find(|category| category.callbacks.contains(&callback))
}

#[cfg(test)]
mod tests {
    use super::{category_of, signature_of, CATEGORIES};

    #[test]
    fn every_callback_belongs_to_exactly_one_category() {
        for category in &CATEGORIES {
            for callback in category.callbacks {
                assert_eq!(category_of(callback).map(|c| c.name), Some(category.name), "{callback}");
            }
        }
        assert!(category_of("user_may_fly").is_none());
    }

    #[test]
    fn every_callback_has_one_signature_in_table_order() {
        let listed: Vec<&str> = CATEGORIES.iter().flat_map(|category| category.callbacks.iter().copied()).collect();
        let signed: Vec<&str> = crate::signatures::SIGNATURES.iter().map(|signature| signature.callback).collect();
        assert_eq!(signed, listed);
        let signature = signature_of("user_may_create_room").unwrap();
        assert_eq!(signature.arguments, 2);
        assert_eq!(
            signature.text,
            "async fn user_may_create_room(&self, user_id: &UserId, room_config: &JsonObject) -> SpamCheck"
        );
        assert!(signature_of("user_may_fly").is_none());
    }
}
