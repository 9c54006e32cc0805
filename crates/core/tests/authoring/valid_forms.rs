//! Valid forms of the macros compile and work: what the trybuild UI tests (in
//! `mxmod-common`) check only for misuse. Ordinary tests rather than trybuild `pass` cases,
//! so trybuild only type-checks its cases and never builds their dependencies.

mod every_category {
    // One module using every attribute: a callback of each category, both presence-router
    // callbacks, a web resource and `#[cached]` methods (plain return, `Result` return,
    // several arguments as the key); it starts and answers through the harness.

    use std::collections::HashSet;

    use mxmod::{
        account_data, account_validity, add_extra_fields_to_unsigned_client_event, cached,
        callbacks::rules::PresenceRouting,
        media_repository, module, password_auth_provider, presence_router, ratelimit, spam_checker, third_party_rules,
        types::{Event, JsonObject, Requester, RoomId, UserId, UserPresenceState},
        web::{self, WebRequest, WebResponse},
        web_resource, CallbackError, InterestedUsers, LoginType, Module, ModuleApi, ModuleError, RatelimitOverride,
        SpamCheck,
    };

    struct Everything {
        // Any names: `#[cached(cache = ...)]` says which field holds which cache.
        lengths: mxmod::cache::CacheHandle<String, usize>,
        numbers: mxmod::cache::CacheHandle<String, u32>,
        greetings: mxmod::cache::CacheHandle<(String, usize), String>,
    }

    impl Module for Everything {
        type Config = serde_json::Value;

        fn new(_config: serde_json::Value, api: ModuleApi) -> Result<Self, ModuleError> {
            Ok(Everything {
                lengths: Self::length_new_cache(&api),
                numbers: Self::parsed_new_cache(&api),
                greetings: Self::greeting_new_cache(&api),
            })
        }
    }

    #[module(name = "ui_every_category")]
    impl Everything {
        #[spam_checker]
        async fn user_may_create_room(&self, user_id: &UserId, _config: &JsonObject) -> SpamCheck {
            if self.length(user_id.to_string()).await > 30 {
                SpamCheck::Deny(mxmod::ErrCode::FORBIDDEN)
            } else {
                SpamCheck::NOT_SPAM
            }
        }

        #[third_party_rules]
        async fn on_create_room(
            &self,
            _requester: &Requester,
            content: &mut JsonObject,
            _is_admin: bool,
        ) -> Result<(), CallbackError> {
            content.insert("seen".to_owned(), true.into());
            Ok(())
        }

        #[account_validity]
        async fn is_user_expired(&self, _user_id: &UserId) -> Option<bool> {
            None
        }

        #[presence_router]
        async fn get_users_for_states(&self, _state_updates: &[UserPresenceState]) -> PresenceRouting {
            PresenceRouting::new()
        }

        #[presence_router]
        async fn get_interested_users(&self, _user_id: &UserId) -> InterestedUsers {
            InterestedUsers::Users(HashSet::new())
        }

        #[password_auth_provider]
        async fn auth_checkers(&self) -> Vec<LoginType> {
            vec![LoginType::new("org.example.ui", &["code"])]
        }

        #[media_repository]
        async fn is_user_allowed_to_upload_media_of_size(&self, _user_id: &UserId, size: u64) -> bool {
            size < 10
        }

        #[ratelimit]
        async fn get_ratelimit_override_for_user(
            &self,
            _user_id: &UserId,
            _limiter: &str,
        ) -> Option<RatelimitOverride> {
            None
        }

        #[account_data]
        async fn on_account_data_updated(
            &self,
            _user: &UserId,
            _room: Option<&RoomId>,
            _kind: &str,
            _content: &JsonObject,
        ) {
        }

        #[add_extra_fields_to_unsigned_client_event]
        async fn add_field_to_unsigned_callback(&self, _event: &Event) -> JsonObject {
            JsonObject::new()
        }

        #[web_resource("/_synapse/client/ui_every_category/hello")]
        async fn hello(&self, request: WebRequest) -> WebResponse {
            let name = web::query_param(&request, "name").unwrap_or_default();
            let greeting = self.greeting(name.clone(), name.len()).await;
            web::json(200, &serde_json::json!({ "hello": greeting }))
        }

        #[cached(cache = lengths)]
        async fn length(&self, text: String) -> usize {
            text.len()
        }

        #[cached(max_size = 10, cache = numbers)]
        async fn parsed(&self, text: String) -> Result<u32, CallbackError> {
            text.parse().map_err(CallbackError::other)
        }

        #[cached(cache = greetings)]
        async fn greeting(&self, name: String, times: usize) -> String {
            name.repeat(times.min(2))
        }
    }

    #[tokio::test]
    async fn one_module_with_every_attribute_starts_and_answers() {
        let harness = mxmod::testing::Harness::from_yaml("modules:\n  - module: ui_every_category\n").unwrap();
        let alice = UserId::parse("@alice:example.com").unwrap();
        harness.callbacks().spam_checker.user_may_create_room(&alice, &JsonObject::new()).await.unwrap();
        let declared = harness.callbacks().password_auth_provider.auth_checkers().await.unwrap();
        assert_eq!(declared, [LoginType::new("org.example.ui", &["code"])]);
        assert!(harness
            .callbacks()
            .media_repository
            .is_user_allowed_to_upload_media_of_size(&alice, 20)
            .await
            .is_err());
        let reply = harness.get("/_synapse/client/ui_every_category/hello?name=Bo").await.unwrap();
        assert_eq!(reply.body().as_ref(), br#"{"hello":"BoBo"}"#);

        let module = harness.module::<Everything>(0).unwrap();
        assert_eq!(module.parsed("7".to_owned()).await.unwrap(), 7);
        assert!(module.parsed("x".to_owned()).await.is_err());
        assert_eq!(module.parsed_cache().stats().size, 1, "errors are not cached");
        assert!(module.greeting_cache().invalidate(&("Bo".to_owned(), 2)));
    }
}

mod cfg_and_crate_override {
    // A `#[cfg]`-gated callback and a `#[cfg]`-gated impl block build either way (their
    // registrations are gated with them), and `crate = path` lets a crate that re-exports
    // `mxmod` under another name use the macros.

    mod reexported {
        pub(super) use mxmod as core_api;
    }

    use mxmod::{
        module, spam_checker,
        types::{JsonObject, UserId},
        Module, ModuleApi, ModuleError, SpamCheck,
    };

    struct Gated;

    impl Module for Gated {
        type Config = serde_json::Value;

        fn new(_config: serde_json::Value, _api: ModuleApi) -> Result<Self, ModuleError> {
            Ok(Gated)
        }
    }

    #[module(name = "ui_cfg_gated")]
    impl Gated {
        #[cfg(any())]
        #[spam_checker]
        async fn user_may_invite(
            &self,
            _inviter: &UserId,
            _invitee: &UserId,
            _room: &mxmod::types::RoomId,
        ) -> SpamCheck {
            SpamCheck::NOT_SPAM
        }

        #[cfg(test)]
        #[spam_checker]
        async fn user_may_create_room(&self, _user: &UserId, _config: &JsonObject) -> SpamCheck {
            SpamCheck::NOT_SPAM
        }
    }

    struct NeverBuilt;

    #[module(name = "ui_cfg_never_built")]
    #[cfg(any())]
    impl NeverBuilt {
        #[spam_checker]
        async fn user_may_invite(
            &self,
            _inviter: &UserId,
            _invitee: &UserId,
            _room: &mxmod::types::RoomId,
        ) -> SpamCheck {
            SpamCheck::NOT_SPAM
        }
    }

    struct Renamed;

    impl reexported::core_api::Module for Renamed {
        type Config = serde_json::Value;

        fn new(_config: serde_json::Value, _api: ModuleApi) -> Result<Self, ModuleError> {
            Ok(Renamed)
        }
    }

    #[reexported::core_api::module(name = "ui_crate_override", crate = reexported::core_api)]
    impl Renamed {
        #[reexported::core_api::spam_checker]
        async fn user_may_create_room(&self, _user: &UserId, _config: &JsonObject) -> SpamCheck {
            SpamCheck::NOT_SPAM
        }
    }

    #[test]
    fn cfg_gated_callbacks_and_a_renamed_crate_path_build() {
        let _ = NeverBuilt;
        let harness =
            mxmod::testing::Harness::from_yaml("modules:\n  - module: ui_cfg_gated\n  - module: ui_crate_override\n")
                .unwrap();
        assert_eq!(harness.callbacks().spam_checker.implemented(), ["user_may_create_room"]);
        assert!(mxmod::registry::find_module("ui_cfg_never_built").is_none());
    }
}

mod coerced_parameters {
    // A parameter may be written as what the callback's argument coerces to, as a plain
    // method call allows: `&str` for an `&EventType` or `&StateKey`, and `&T` for an `&mut T`
    // the callback lends (a reader).

    use mxmod::{
        module, spam_checker, third_party_rules,
        types::{JsonObject, Requester, RoomId, StateKey, UserId},
        CallbackError, ErrCode, Module, ModuleApi, ModuleError, SpamCheck,
    };

    struct Coerced;

    impl Module for Coerced {
        type Config = serde_json::Value;

        fn new(_config: serde_json::Value, _api: ModuleApi) -> Result<Self, ModuleError> {
            Ok(Coerced)
        }
    }

    #[module(name = "coerced_parameters")]
    impl Coerced {
        #[spam_checker]
        async fn user_may_send_state_event(
            &self,
            _user_id: &UserId,
            _room_id: &RoomId,
            event_type: &str,
            state_key: &str,
            _content: &JsonObject,
        ) -> SpamCheck {
            if event_type == "org.example.denied" && state_key.is_empty() {
                SpamCheck::Deny(ErrCode::FORBIDDEN)
            } else {
                SpamCheck::NOT_SPAM
            }
        }

        #[third_party_rules]
        async fn on_create_room(
            &self,
            _requester: &Requester,
            request_content: &JsonObject,
            _is_requester_admin: bool,
        ) -> Result<(), CallbackError> {
            match request_content.contains_key("forbidden") {
                true => Err(CallbackError::other("forbidden")),
                false => Ok(()),
            }
        }
    }

    #[tokio::test]
    async fn str_for_string_newtypes_and_shared_for_lent_mutable_arguments() {
        let harness = mxmod::testing::Harness::from_yaml("modules:\n  - module: coerced_parameters\n").unwrap();
        let (alice, room) = (UserId::parse("@alice:example.com").unwrap(), RoomId::parse("!r:example.com").unwrap());
        let send_state = |event_type: &'static str| {
            let (harness, alice, room) = (&harness, &alice, &room);
            async move {
                harness
                    .callbacks()
                    .spam_checker
                    .user_may_send_state_event(alice, room, &event_type.into(), &StateKey::from(""), &JsonObject::new())
                    .await
            }
        };
        assert!(send_state("org.example.denied").await.is_err());
        assert!(send_state("org.example.fine").await.is_ok());
    }
}
