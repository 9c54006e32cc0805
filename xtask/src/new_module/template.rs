//! The source of a scaffolded module: typed config, one working example per requested
//! callback category, a `//!` doc listing the config keys, and tests through
//! `mxmod::testing::Harness` that call every generated callback.
//!
//! Each category's example is one row of [`EXAMPLES`] (its config keys, imports, struct
//! fields, methods and test); the module is assembled from the rows, so a category is
//! added by adding a row. A test holds the table to the categories `--callbacks` offers.
//!
//! The text is written already formatted (`rustfmt.toml`: `max_width = 120`,
//! `use_small_heuristics = "Max"`); a unit test holds it to what rustfmt prints.

use crate::new_module::Category;

/// Prelude and imported names a module's type must not shadow.
const TAKEN_TYPE_NAMES: &[&str] = &[
    // std prelude
    "AsMut",
    "AsRef",
    "Box",
    "Clone",
    "Copy",
    "Default",
    "DoubleEndedIterator",
    "Drop",
    "Eq",
    "Err",
    "ExactSizeIterator",
    "Extend",
    "Fn",
    "FnMut",
    "FnOnce",
    "From",
    "FromIterator",
    "Into",
    "IntoIterator",
    "Iterator",
    "None",
    "Ok",
    "Option",
    "Ord",
    "PartialEq",
    "PartialOrd",
    "Result",
    "Send",
    "Sized",
    "Some",
    "String",
    "Sync",
    "ToOwned",
    "ToString",
    "TryFrom",
    "TryInto",
    "Unpin",
    "Vec",
    // the template's own imports; the examples' are read from `EXAMPLES`
    "Deserialize",
    "Harness",
    "Module",
    "ModuleApi",
    "ModuleError",
];

/// Whether a type name would shadow a prelude name or a name the template imports.
fn is_taken(name: &str) -> bool {
    let mut imported = EXAMPLES.iter().flat_map(|example| example.imports.iter().chain(example.test_imports));
    TAKEN_TYPE_NAMES.contains(&name) || imported.any(|path| path.rsplit("::").next() == Some(name))
}

/// The names a module is known by in its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Names {
    /// The module name (snake_case): `#[module(name)]`, file, feature.
    pub(crate) module: String,
    /// The module type (`MyModule`).
    pub(crate) type_name: String,
    /// The config type (`MyModuleConfig`).
    pub(crate) config: String,
}

impl Names {
    /// Names for a valid snake_case module name. The type is the name in CamelCase, with
    /// `Module` appended while it would shadow a prelude or imported name.
    pub(crate) fn new(module: &str) -> Self {
        let mut type_name: String = module
            .split('_')
            .map(|word| {
                let mut chars = word.chars();
                chars.next().map(|first| first.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
            })
            .collect();
        while is_taken(&type_name) || is_taken(&format!("{type_name}Config")) {
            type_name.push_str("Module");
        }
        Names { module: module.to_owned(), config: format!("{type_name}Config"), type_name }
    }
}

/// One config key: its field, doc, default, and a value for examples and tests.
struct Key {
    name: &'static str,
    ty: &'static str,
    doc: &'static str,
    /// `#[serde(default)]` (`None`) or `#[serde(default = "name")]` and the function's body.
    default_fn: Option<(&'static str, &'static str)>,
    /// How the default reads in the docs.
    default_text: &'static str,
    /// The YAML value used in the doc example and the tests.
    example: &'static str,
}

/// A field of the module struct besides `config`.
struct Field {
    /// Its doc comment and declaration, indented by four spaces.
    decl: &'static str,
    /// Its initializer in `new` (`name: expr`).
    init: &'static str,
    /// Whether the initializer needs `new`'s `api`.
    uses_api: bool,
}

/// A function the tests share.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Helper {
    /// `fn user(id) -> OwnedUserId`.
    User,
    /// `fn event(event_type) -> Event`.
    Event,
}

/// One category's example: all a generated module holds for it. `__MODULE__` and
/// `__TYPE__` in the texts become the module's name and type.
struct Example {
    /// The category (`Category::as_str`).
    category: &'static str,
    /// Its bullet in the `//!` doc.
    doc: &'static str,
    /// The config keys it reads.
    keys: &'static [Key],
    /// What the module's code imports from `mxmod` for it.
    imports: &'static [&'static str],
    /// Fields of the module struct.
    fields: &'static [Field],
    /// The methods inside `#[module] impl`, indented by four spaces.
    methods: &'static str,
    /// The shared test functions its test calls.
    helpers: &'static [Helper],
    /// What the tests import from `mxmod` besides `testing::Harness`.
    test_imports: &'static [&'static str],
    /// Whether its test uses the module's items (`use super::*;`).
    test_uses_module: bool,
    /// Its test function, starting with a blank line.
    test: &'static str,
}

/// One example per category `--callbacks` offers, in `Category::ALL` order.
const EXAMPLES: &[Example] = &[
    Example {
        category: "spam_checker",
        doc: "//! * `user_may_invite` (spam checker): users in `blocked_inviters` may not invite anyone\n\
              //!   (403 `M_FORBIDDEN` \"Invites have been disabled on this server\").\n",
        keys: &[Key {
            name: "blocked_inviters",
            ty: "Vec<OwnedUserId>",
            doc: "Users who may not invite anyone.",
            default_fn: None,
            default_text: "none",
            example: "['@mallory:example.com']",
        }],
        imports: &["spam_checker", "ErrCode", "SpamCheck", "types::OwnedUserId", "types::RoomId", "types::UserId"],
        fields: &[],
        methods: "    \
    /// Refuses invites sent by `blocked_inviters`.
    #[spam_checker]
    pub async fn user_may_invite(&self, inviter: &UserId, _invitee: &UserId, _room_id: &RoomId) -> SpamCheck {
        if self.config.blocked_inviters.iter().any(|blocked| blocked == inviter) {
            SpamCheck::Deny(ErrCode::FORBIDDEN)
        } else {
            SpamCheck::NOT_SPAM
        }
    }
",
        helpers: &[Helper::User],
        test_imports: &[],
        test_uses_module: true,
        test: "
    #[tokio::test]
    async fn blocked_inviters_may_not_invite() {
        let harness = Harness::from_yaml(YAML).unwrap();
        let spam = &harness.callbacks().spam_checker;
        let room = RoomId::parse(\"!room:example.com\").unwrap();
        let (alice, bob) = (user(\"@alice:example.com\"), user(\"@bob:example.com\"));
        let error = spam.user_may_invite(&user(\"@mallory:example.com\"), &bob, &room).await.unwrap_err();
        assert_eq!((error.status, error.errcode.as_str()), (403, \"M_FORBIDDEN\"));
        spam.user_may_invite(&alice, &bob, &room).await.unwrap();
    }
",
    },
    Example {
        category: "third_party_rules",
        doc: "//! * `check_event_allowed` (third-party rules): events whose type is in\n\
              //!   `forbidden_event_types` are refused (403 `M_FORBIDDEN`); others pass unchanged.\n",
        keys: &[Key {
            name: "forbidden_event_types",
            ty: "Vec<String>",
            doc: "Event types that are refused.",
            default_fn: None,
            default_text: "none",
            example: "['org.example.forbidden']",
        }],
        imports: &["third_party_rules", "EventAllowed", "types::Event", "types::StateMap"],
        fields: &[],
        methods: "    \
    /// Refuses events whose type is in `forbidden_event_types`; lets the others through unchanged.
    #[third_party_rules]
    pub async fn check_event_allowed(&self, event: &Event, _state_events: &StateMap) -> EventAllowed {
        if self.config.forbidden_event_types.iter().any(|forbidden| event.event_type == forbidden.as_str()) {
            EventAllowed::Deny
        } else {
            EventAllowed::Allow
        }
    }
",
        helpers: &[Helper::Event],
        test_imports: &[],
        test_uses_module: true,
        test: "
    #[tokio::test]
    async fn forbidden_event_types_are_refused() {
        let harness = Harness::from_yaml(YAML).unwrap();
        let rules = &harness.callbacks().third_party_rules;
        let state = StateMap::new();
        let error = rules.check_event_allowed(&event(\"org.example.forbidden\"), &state).await.unwrap_err();
        assert_eq!((error.status, error.errcode.as_str()), (403, \"M_FORBIDDEN\"));
        assert_eq!(rules.check_event_allowed(&event(\"m.room.message\"), &state).await.unwrap(), None);
    }
",
    },
    Example {
        category: "account_validity",
        doc: "//! * `is_user_expired` (account validity): users in `expired_users` have expired (403\n\
              //!   `ORG_MATRIX_EXPIRED_ACCOUNT`); about everyone else this module has no opinion.\n",
        keys: &[Key {
            name: "expired_users",
            ty: "Vec<OwnedUserId>",
            doc: "Users whose accounts have expired.",
            default_fn: None,
            default_text: "none",
            example: "['@expired:example.com']",
        }],
        imports: &["account_validity", "types::OwnedUserId", "types::UserId"],
        fields: &[],
        methods: "    \
    /// `Some(true)` (expired) for `expired_users`; `None` (no opinion) for everyone else.
    #[account_validity]
    pub async fn is_user_expired(&self, user_id: &UserId) -> Option<bool> {
        self.config.expired_users.iter().any(|expired| expired == user_id).then_some(true)
    }
",
        helpers: &[Helper::User],
        test_imports: &[],
        test_uses_module: true,
        test: "
    #[tokio::test]
    async fn expired_users_have_expired() {
        let harness = Harness::from_yaml(YAML).unwrap();
        let validity = &harness.callbacks().account_validity;
        assert_eq!(validity.is_user_expired(&user(\"@expired:example.com\")).await.unwrap(), Some(true));
        assert_eq!(validity.is_user_expired(&user(\"@alice:example.com\")).await.unwrap(), None);
    }
",
    },
    Example {
        category: "presence_router",
        doc: "//! * `get_users_for_states` and `get_interested_users` (presence router, always as a\n\
              //!   pair): users in `presence_watchers` receive everyone's presence.\n",
        keys: &[Key {
            name: "presence_watchers",
            ty: "Vec<OwnedUserId>",
            doc: "Users who receive everyone's presence.",
            default_fn: None,
            default_text: "none",
            example: "['@watcher:example.com']",
        }],
        imports: &[
            "presence_router",
            "InterestedUsers",
            "callbacks::rules::PresenceRouting",
            "types::OwnedUserId",
            "types::UserId",
            "types::UserPresenceState",
        ],
        fields: &[],
        methods: "    \
    /// Sends every presence update to each of `presence_watchers`.
    #[presence_router]
    pub async fn get_users_for_states(&self, state_updates: &[UserPresenceState]) -> PresenceRouting {
        let mut routing = PresenceRouting::new();
        for watcher in &self.config.presence_watchers {
            routing.entry(watcher.clone()).or_default().extend(state_updates.iter().cloned());
        }
        routing
    }

    /// `presence_watchers` see everyone's presence; everyone else sees no extra users.
    #[presence_router]
    pub async fn get_interested_users(&self, user_id: &UserId) -> InterestedUsers {
        if self.config.presence_watchers.iter().any(|watcher| watcher == user_id) {
            InterestedUsers::All
        } else {
            InterestedUsers::Users(Default::default())
        }
    }
",
        helpers: &[Helper::User],
        test_imports: &["types::PresenceKind"],
        test_uses_module: true,
        test: "
    #[tokio::test]
    async fn watchers_receive_everyones_presence() {
        let harness = Harness::from_yaml(YAML).unwrap();
        let router = &harness.callbacks().presence_router;
        let (watcher, alice) = (user(\"@watcher:example.com\"), user(\"@alice:example.com\"));
        let updates = [UserPresenceState::new(alice.clone(), PresenceKind::Online)];
        let routing = router.get_users_for_states(&updates).await.unwrap();
        assert_eq!(routing.len(), 1);
        assert_eq!(routing[&watcher].len(), 1);
        assert_eq!(router.get_interested_users(&watcher).await.unwrap(), InterestedUsers::All);
        assert_eq!(router.get_interested_users(&alice).await.unwrap(), InterestedUsers::Users(Default::default()));
    }
",
    },
    Example {
        category: "password_auth_provider",
        doc: "//! * `is_3pid_allowed` (password auth provider): email addresses in `denied_email_domains`\n\
              //!   may not be validated, for registration or otherwise (403 `M_THREEPID_DENIED`).\n",
        keys: &[Key {
            name: "denied_email_domains",
            ty: "Vec<String>",
            doc: "Email domains whose addresses may not be validated.",
            default_fn: None,
            default_text: "none",
            example: "['spam.example']",
        }],
        imports: &["password_auth_provider"],
        fields: &[],
        methods: "    \
    /// Refuses email addresses in `denied_email_domains`; allows every other identifier.
    #[password_auth_provider]
    pub async fn is_3pid_allowed(&self, medium: &str, address: &str, _registration: bool) -> bool {
        let domain = address.rsplit_once('@').map_or(\"\", |(_, domain)| domain);
        let denied = self.config.denied_email_domains.iter().any(|denied| denied.eq_ignore_ascii_case(domain));
        !(medium == \"email\" && denied)
    }
",
        helpers: &[],
        test_imports: &[],
        test_uses_module: false,
        test: "
    #[tokio::test]
    async fn denied_email_domains_may_not_be_validated() {
        let harness = Harness::from_yaml(YAML).unwrap();
        let providers = &harness.callbacks().password_auth_provider;
        let error = providers.is_3pid_allowed(\"email\", \"eve@spam.example\", true).await.unwrap_err();
        assert_eq!((error.status, error.errcode.as_str()), (403, \"M_THREEPID_DENIED\"));
        providers.is_3pid_allowed(\"email\", \"alice@example.com\", true).await.unwrap();
        providers.is_3pid_allowed(\"msisdn\", \"15551234567\", false).await.unwrap();
    }
",
    },
    Example {
        category: "media_repository",
        doc: "//! * `is_user_allowed_to_upload_media_of_size` (media repository): uploads over\n\
              //!   `max_upload_bytes` are refused (413 `M_TOO_LARGE`), except from `unlimited_uploaders`.\n",
        keys: &[
            Key {
                name: "max_upload_bytes",
                ty: "u64",
                doc: "The largest upload allowed, in bytes.",
                default_fn: Some(("default_max_upload_bytes", "10 * 1024 * 1024")),
                default_text: "10485760 (10 MiB)",
                example: "1048576",
            },
            Key {
                name: "unlimited_uploaders",
                ty: "Vec<OwnedUserId>",
                doc: "Users whose uploads are never refused.",
                default_fn: None,
                default_text: "none",
                example: "['@archivist:example.com']",
            },
        ],
        imports: &["media_repository", "types::OwnedUserId", "types::UserId"],
        fields: &[],
        methods: "    \
    /// Refuses uploads over `max_upload_bytes`, except from `unlimited_uploaders`.
    #[media_repository]
    pub async fn is_user_allowed_to_upload_media_of_size(&self, user_id: &UserId, size: u64) -> bool {
        size <= self.config.max_upload_bytes || self.config.unlimited_uploaders.iter().any(|user| user == user_id)
    }
",
        helpers: &[Helper::User],
        test_imports: &[],
        test_uses_module: true,
        test: "
    #[tokio::test]
    async fn uploads_over_the_limit_are_refused() {
        let harness = Harness::from_yaml(YAML).unwrap();
        let media = &harness.callbacks().media_repository;
        let (alice, archivist) = (user(\"@alice:example.com\"), user(\"@archivist:example.com\"));
        media.is_user_allowed_to_upload_media_of_size(&alice, 1_048_576).await.unwrap();
        let error = media.is_user_allowed_to_upload_media_of_size(&alice, 1_048_577).await.unwrap_err();
        assert_eq!((error.status, error.errcode.as_str()), (413, \"M_TOO_LARGE\"));
        media.is_user_allowed_to_upload_media_of_size(&archivist, 1_048_577).await.unwrap();
    }
",
    },
    Example {
        category: "ratelimit",
        doc: "//! * `get_ratelimit_override_for_user` (rate limit): users in `unlimited_users` are not\n\
              //!   rate limited by any limiter; everyone else gets the server's limits.\n",
        keys: &[Key {
            name: "unlimited_users",
            ty: "Vec<OwnedUserId>",
            doc: "Users no limiter applies to.",
            default_fn: None,
            default_text: "none",
            example: "['@bot:example.com']",
        }],
        imports: &["ratelimit", "RatelimitOverride", "types::OwnedUserId", "types::UserId"],
        fields: &[],
        methods: "    \
    /// No limit (`per_second: 0`) for `unlimited_users`; no opinion about everyone else.
    #[ratelimit]
    pub async fn get_ratelimit_override_for_user(
        &self,
        user_id: &UserId,
        _limiter_name: &str,
    ) -> Option<RatelimitOverride> {
        let unlimited = self.config.unlimited_users.iter().any(|user| user == user_id);
        unlimited.then_some(RatelimitOverride { per_second: 0.0, burst_count: 0 })
    }
",
        helpers: &[Helper::User],
        test_imports: &[],
        test_uses_module: true,
        test: "
    #[tokio::test]
    async fn unlimited_users_get_no_limit() {
        let harness = Harness::from_yaml(YAML).unwrap();
        let limits = &harness.callbacks().ratelimit;
        let unlimited = limits.get_ratelimit_override_for_user(&user(\"@bot:example.com\"), \"rc_message\").await;
        assert_eq!(unlimited.unwrap(), Some(RatelimitOverride { per_second: 0.0, burst_count: 0 }));
        let other = limits.get_ratelimit_override_for_user(&user(\"@alice:example.com\"), \"rc_message\").await;
        assert_eq!(other.unwrap(), None);
    }
",
    },
    Example {
        category: "account_data",
        doc: "//! * `on_account_data_updated` (account data): counts the changes to the types in\n\
              //!   `watched_account_data_types` (global or per room) in `account_data_updates`.\n",
        keys: &[Key {
            name: "watched_account_data_types",
            ty: "Vec<String>",
            doc: "Account data types whose changes are counted.",
            default_fn: None,
            default_text: "none",
            example: "['m.direct']",
        }],
        imports: &["account_data", "types::JsonObject", "types::RoomId", "types::UserId"],
        fields: &[Field {
            decl: "    /// Changes seen by `on_account_data_updated` to the watched types.\n    \
                   account_data_updates: std::sync::atomic::AtomicU64,\n",
            init: "account_data_updates: Default::default()",
            uses_api: false,
        }],
        methods: "    \
    /// Counts changes to `watched_account_data_types`.
    #[account_data]
    pub async fn on_account_data_updated(
        &self,
        _user_id: &UserId,
        _room_id: Option<&RoomId>,
        account_data_type: &str,
        _content: &JsonObject,
    ) {
        if self.config.watched_account_data_types.iter().any(|watched| watched == account_data_type) {
            self.account_data_updates.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
",
        helpers: &[],
        test_imports: &[],
        test_uses_module: true,
        test: "
    #[tokio::test]
    async fn changes_to_watched_types_are_counted() {
        let harness = Harness::from_yaml(YAML).unwrap();
        let account_data = &harness.callbacks().account_data;
        let alice = UserId::parse(\"@alice:example.com\").unwrap();
        account_data.on_account_data_updated(&alice, None, \"m.direct\", &JsonObject::new()).await.unwrap();
        account_data.on_account_data_updated(&alice, None, \"m.push_rules\", &JsonObject::new()).await.unwrap();
        let module = harness.module::<__TYPE__>(0).unwrap();
        assert_eq!(module.account_data_updates.load(std::sync::atomic::Ordering::Relaxed), 1);
    }
",
    },
    Example {
        category: "add_extra_fields_to_unsigned_client_event",
        doc: "//! * `add_field_to_unsigned_callback` (unsigned fields): every event served to clients\n\
              //!   carries its sender's server name under `unsigned.<unsigned_field>`.\n",
        keys: &[Key {
            name: "unsigned_field",
            ty: "String",
            doc: "The `unsigned` key the sender's server name goes under.",
            default_fn: Some(("default_unsigned_field", "\"org.example.sender_server\".to_owned()")),
            default_text: "\"org.example.sender_server\"",
            example: "org.example.origin",
        }],
        imports: &["add_extra_fields_to_unsigned_client_event", "types::Event", "types::JsonObject"],
        fields: &[],
        methods: "    \
    /// Adds the sender's server name under `unsigned_field`.
    #[add_extra_fields_to_unsigned_client_event]
    pub async fn add_field_to_unsigned_callback(&self, event: &Event) -> JsonObject {
        let mut fields = JsonObject::new();
        fields.insert(self.config.unsigned_field.clone(), event.sender.server_name().as_str().into());
        fields
    }
",
        helpers: &[Helper::Event],
        test_imports: &[],
        test_uses_module: true,
        test: "
    #[tokio::test]
    async fn events_carry_their_senders_server() {
        let harness = Harness::from_yaml(YAML).unwrap();
        let unsigned = &harness.callbacks().add_extra_fields_to_unsigned_client_event;
        let fields = unsigned.add_field_to_unsigned_callback(&event(\"m.room.message\")).await.unwrap();
        assert_eq!(fields.get(\"org.example.origin\"), Some(&serde_json::json!(\"example.com\")));
    }
",
    },
    Example {
        category: "web_resource",
        doc: "//! * `GET /_synapse/client/__MODULE__/hello?name=X` answers `{\"greeting\": \"<greeting>, X\"}`.\n",
        keys: &[Key {
            name: "greeting",
            ty: "String",
            doc: "What the `hello` resource says before the name.",
            default_fn: Some(("default_greeting", "\"Hello\".to_owned()")),
            default_text: "\"Hello\"",
            example: "Howdy",
        }],
        imports: &["web_resource", "web::self", "web::WebRequest", "web::WebResponse"],
        fields: &[],
        methods: "    \
    /// # `GET /_synapse/client/__MODULE__/hello?name=X`
    ///
    /// Answers `{\"greeting\": \"<greeting>, X\"}`; `name` defaults to `world`.
    #[web_resource(\"/_synapse/client/__MODULE__/hello\", method = \"GET\")]
    pub async fn hello(&self, request: WebRequest) -> WebResponse {
        let name = web::query_param(&request, \"name\").unwrap_or_else(|| \"world\".to_owned());
        web::json(200, &serde_json::json!({ \"greeting\": format!(\"{}, {name}\", self.config.greeting) }))
    }
",
        helpers: &[],
        test_imports: &[],
        test_uses_module: false,
        test: r##"
    #[tokio::test]
    async fn hello_greets_by_name() {
        let harness = Harness::from_yaml(YAML).unwrap();
        let reply = harness.get(&format!("{HELLO}?name=Bob")).await.unwrap();
        assert_eq!(reply.status(), 200);
        assert_eq!(reply.body().as_ref(), br#"{"greeting":"Howdy, Bob"}"#);
        let reply = harness.get(HELLO).await.unwrap();
        assert_eq!(reply.body().as_ref(), br#"{"greeting":"Howdy, world"}"#);
    }
"##,
    },
    Example {
        category: "cached",
        doc: "//! * `lookup` (`#[cached]`): a per-instance LRU of 1000 entries around a slow lookup;\n\
              //!   `lookup_cache()` invalidates entries and counts hits and misses.\n",
        keys: &[],
        imports: &["cached"],
        fields: &[Field {
            decl: "    /// The cache of `lookup` (`#[cached(cache = lookups)]`), created in `new`.\n    \
                   lookups: mxmod::cache::CacheHandle<String, String>,\n",
            init: "lookups: Self::lookup_new_cache(&api)",
            uses_api: true,
        }],
        methods: "    \
    /// A slow lookup whose answers are worth keeping: replace the body with yours (an HTTP
    /// call through the `ModuleApi::http_client()` of `new`, a database query). Answers are cached per
    /// key; `self.lookup_cache()` invalidates them and counts hits and misses.
    #[cached(max_size = 1000, cache = lookups)]
    pub async fn lookup(&self, key: String) -> String {
        key.to_uppercase()
    }
",
        helpers: &[],
        test_imports: &[],
        test_uses_module: true,
        test: "
    #[tokio::test]
    async fn lookups_are_cached_until_invalidated() {
        let harness = Harness::from_yaml(YAML).unwrap();
        let module = harness.module::<__TYPE__>(0).unwrap();
        assert_eq!(module.lookup(\"key\".to_owned()).await, \"KEY\");
        assert_eq!(module.lookup(\"key\".to_owned()).await, \"KEY\");
        let stats = module.lookup_cache().stats();
        assert_eq!((stats.hits, stats.misses, stats.size), (1, 1, 1));
        assert!(module.lookup_cache().invalidate(&\"key\".to_owned()));
        assert_eq!(module.lookup(\"key\".to_owned()).await, \"KEY\");
        assert_eq!(module.lookup_cache().stats().misses, 2);
    }
",
    },
];

/// The example of a category. `parse_categories` offers only categories with one, and a
/// test holds [`EXAMPLES`] to `Category::ALL`.
pub(crate) fn has_example(category: Category) -> bool {
    EXAMPLES.iter().any(|example| example.category == category.as_str())
}

fn example(category: Category) -> &'static Example {
    EXAMPLES
        .iter()
        .find(|example| example.category == category.as_str())
        .unwrap_or_else(|| panic!("`{category}` has no row in EXAMPLES (checked by `parse_categories`)"))
}

/// `__MODULE__` and `__TYPE__` replaced.
fn fill(text: &str, names: &Names) -> String {
    text.replace("__MODULE__", &names.module).replace("__TYPE__", &names.type_name)
}

/// The config keys a category's example uses.
fn keys(category: Category) -> &'static [Key] {
    example(category).keys
}

/// The imports of the module's code (not its tests).
fn imports(categories: &[Category]) -> Vec<&'static str> {
    let mut names = vec!["module", "Module", "ModuleApi", "ModuleError"];
    for category in categories {
        names.extend_from_slice(example(*category).imports);
    }
    names.sort_unstable();
    names.dedup();
    names
}

/// rustfmt's order of names in a `use` list: `self`, then lowercase names, then the rest.
fn use_order(name: &str) -> (u8, String) {
    let rank = if name == "self" {
        0
    } else if name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_') {
        1
    } else {
        2
    };
    (rank, name.to_owned())
}

/// `use mxmod::{...};` for `a::b::C`-style paths, grouped and laid out as rustfmt does.
fn use_mxmod(paths: &[&str]) -> String {
    // Group by first segment: `types::UserId` + `types::RoomId` → `types::{RoomId, UserId}`.
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for path in paths {
        let (head, rest) = match path.split_once("::") {
            Some((head, rest)) => (head.to_owned(), Some(rest.to_owned())),
            None => ((*path).to_owned(), None),
        };
        match groups.iter_mut().find(|(existing, _)| *existing == head) {
            Some((_, members)) => members.extend(rest),
            None => groups.push((head, rest.into_iter().collect())),
        }
    }
    let mut items: Vec<(String, bool)> = groups
        .into_iter()
        .map(|(head, mut members)| {
            members.sort_by_key(|member| use_order(member));
            match members.len() {
                0 => (head, false),
                1 => (format!("{head}::{}", members[0]), true),
                _ => (format!("{head}::{{{}}}", members.join(", ")), true),
            }
        })
        .collect();
    items.sort_by_key(|(item, _)| use_order(item));
    let one_line =
        format!("use mxmod::{{{}}};", items.iter().map(|(item, _)| item.as_str()).collect::<Vec<_>>().join(", "));
    // rustfmt keeps a list on one line only if it fits and holds no nested list `a::{b, c}`.
    if one_line.len() <= 120 && !items.iter().any(|(item, _)| item.ends_with('}')) {
        return one_line + "\n";
    }
    // Vertical: plain names packed per line, each path (`a::b`, `a::{b, c}`) on a line of its own.
    let mut out = String::from("use mxmod::{\n");
    let mut line = String::new();
    for (item, nested) in &items {
        if *nested {
            if !line.is_empty() {
                out.push_str(&format!("    {line}\n"));
                line.clear();
            }
            out.push_str(&format!("    {item},\n"));
        } else if line.is_empty() {
            line = format!("{item},");
        } else if format!("    {line} {item},").len() <= 120 {
            line.push_str(&format!(" {item},"));
        } else {
            out.push_str(&format!("    {line}\n"));
            line = format!("{item},");
        }
    }
    if !line.is_empty() {
        out.push_str(&format!("    {line}\n"));
    }
    out.push_str("};\n");
    out
}

/// The complete module source.
pub(crate) fn module_source(names: &Names, categories: &[Category]) -> String {
    let mut out = String::new();
    out.push_str(&header(names, categories));
    out.push('\n');
    out.push_str(&use_mxmod(&imports(categories)));
    out.push_str("use serde::Deserialize;\n\n");
    out.push_str(&config(names, categories));
    out.push_str(&module_type(names, categories));
    out.push_str(&methods(names, categories));
    out.push('\n');
    out.push_str(&tests(names, categories));
    out
}

/// A one-line description, for the table of `crates/modules/src/lib.rs`.
pub(crate) fn summary(categories: &[Category]) -> String {
    let list: Vec<&str> = categories.iter().map(|category| category.as_str()).collect();
    format!("scaffolded by `cargo xtask new-module` ({}); replace the examples with your logic", list.join(", "))
}

fn all_keys(categories: &[Category]) -> Vec<&'static Key> {
    categories.iter().flat_map(|category| keys(*category)).collect()
}

/// The `//!` doc: what each example does and the config keys.
fn header(names: &Names, categories: &[Category]) -> String {
    let module = &names.module;
    let mut out = format!(
        "//! `{module}`: scaffolded by `cargo xtask new-module`. Each method below is a working example\n\
         //! of its callback category; replace its body with your logic and its tests with yours.\n//!\n"
    );
    for category in categories {
        out.push_str(&fill(example(*category).doc, names));
    }
    let keys = all_keys(categories);
    out.push_str("//!\n");
    if keys.is_empty() {
        out.push_str(&format!(
            "//! Config: no keys yet (add fields to `{}`; unknown keys are rejected).\n",
            names.config
        ));
    } else {
        out.push_str("//! Config (every key optional; unknown keys are rejected):\n");
    }
    out.push_str(&format!("//!\n//! ```yaml\n//! modules:\n//!   - module: {module}\n"));
    if !keys.is_empty() {
        out.push_str("//!     config:\n");
        for key in keys {
            out.push_str(&format!(
                "//!       # {} Default: {}.\n//!       {}: {}\n",
                key.doc, key.default_text, key.name, key.example
            ));
        }
    }
    out.push_str("//! ```\n");
    out
}

/// The config struct (and default functions).
fn config(names: &Names, categories: &[Category]) -> String {
    let keys = all_keys(categories);
    let mut out = format!(
        "/// The `config:` of `{}`.\n#[derive(Debug, Deserialize)]\n#[serde(deny_unknown_fields)]\n",
        names.module
    );
    if keys.is_empty() {
        out.push_str(&format!("pub struct {} {{}}\n\n", names.config));
        return out;
    }
    out.push_str(&format!("pub struct {} {{\n", names.config));
    for key in &keys {
        out.push_str(&format!("    /// {}\n", key.doc));
        match key.default_fn {
            Some((function, _)) => out.push_str(&format!("    #[serde(default = \"{function}\")]\n")),
            None => out.push_str("    #[serde(default)]\n"),
        }
        out.push_str(&format!("    pub {}: {},\n", key.name, key.ty));
    }
    out.push_str("}\n\n");
    for key in &keys {
        if let Some((function, body)) = key.default_fn {
            out.push_str(&format!("fn {function}() -> {} {{\n    {body}\n}}\n\n", key.ty));
        }
    }
    out
}

/// The module struct and its `Module` impl.
fn module_type(names: &Names, categories: &[Category]) -> String {
    let has_config = !all_keys(categories).is_empty();
    let fields: Vec<&Field> = categories.iter().flat_map(|category| example(*category).fields).collect();
    let uses_api = fields.iter().any(|field| field.uses_api);
    let Names { module, type_name, config, .. } = names;
    let mut out = format!("/// The `{module}` module.\npub struct {type_name} {{\n");
    if has_config {
        out.push_str(&format!("    config: {config},\n"));
    }
    for field in &fields {
        out.push_str(field.decl);
    }
    out.push_str("}\n\n");
    let (config_arg, api_arg) = (if has_config { "config" } else { "_config" }, if uses_api { "api" } else { "_api" });
    let inits: Vec<&str> =
        has_config.then_some("config").into_iter().chain(fields.iter().map(|field| field.init)).collect();
    let signature = format!("    fn new({config_arg}: {config}, {api_arg}: ModuleApi) -> Result<Self, ModuleError> {{");
    out.push_str(&format!("impl Module for {type_name} {{\n    type Config = {config};\n\n"));
    if signature.len() <= 120 {
        out.push_str(&signature);
        out.push('\n');
    } else {
        out.push_str(&format!(
            "    fn new(\n        {config_arg}: {config},\n        {api_arg}: ModuleApi,\n    ) -> Result<Self, ModuleError> {{\n"
        ));
    }
    // rustfmt keeps a struct literal on one line while it fits in 120 columns.
    let one_line = if inits.is_empty() {
        format!("        Ok({type_name} {{}})")
    } else {
        format!("        Ok({type_name} {{ {} }})", inits.join(", "))
    };
    if one_line.len() <= 120 {
        out.push_str(&one_line);
        out.push('\n');
    } else {
        out.push_str(&format!("        Ok({type_name} {{\n"));
        for init in &inits {
            out.push_str(&format!("            {init},\n"));
        }
        out.push_str("        })\n");
    }
    out.push_str("    }\n}\n\n");
    out
}

/// The `#[module]` impl with one example per category.
fn methods(names: &Names, categories: &[Category]) -> String {
    let bodies: Vec<String> = categories.iter().map(|category| fill(example(*category).methods, names)).collect();
    format!("#[module(name = \"{}\")]\nimpl {} {{\n{}}}\n", names.module, names.type_name, bodies.join("\n"))
}

/// `modules:` YAML with every key of the requested categories set to its example.
fn test_yaml(names: &Names, categories: &[Category]) -> String {
    let mut yaml = format!("modules:\n  - module: {}\n", names.module);
    let keys = all_keys(categories);
    if !keys.is_empty() {
        yaml.push_str("    config:\n");
        for key in keys {
            yaml.push_str(&format!("      {}: {}\n", key.name, key.example));
        }
    }
    yaml
}

/// The text of a shared test function.
fn helper_source(helper: Helper) -> &'static str {
    match helper {
        Helper::User => "\n    fn user(id: &str) -> OwnedUserId {\n        UserId::parse(id).unwrap()\n    }\n",
        Helper::Event => {
            r#"
    fn event(event_type: &str) -> Event {
        serde_json::from_value(serde_json::json!({
            "event_id": "$1", "room_id": "!room:example.com", "sender": "@alice:example.com",
            "type": event_type, "content": {}, "origin_server_ts": 1
        }))
        .unwrap()
    }
"#
        }
    }
}

/// The tests: the module starts on its defaults, unknown keys are rejected, and every
/// generated callback is called through the harness.
fn tests(names: &Names, categories: &[Category]) -> String {
    let examples: Vec<&Example> = categories.iter().map(|category| example(*category)).collect();
    let mut out = String::from("#[cfg(test)]\nmod tests {\n");
    let mut test_imports: Vec<&str> = vec!["testing::Harness"];
    test_imports.extend(examples.iter().flat_map(|example| example.test_imports));
    test_imports.sort_unstable();
    test_imports.dedup();
    out.push_str(&indented_use(&test_imports));
    if examples.iter().any(|example| example.test_uses_module) {
        out.push_str("\n    use super::*;\n");
    }
    out.push('\n');
    out.push_str(&format!(
        "    /// The module with no `config:`.\n    const BARE: &str = \"modules:\n  - module: {}\n\";\n",
        names.module
    ));
    out.push_str(&format!(
        "    /// The module with every key set.\n    const YAML: &str = \"{}\";\n",
        test_yaml(names, categories)
    ));
    if categories.contains(&Category::WEB_RESOURCE) {
        out.push_str(&format!(
            "    /// The example web resource.\n    const HELLO: &str = \"/_synapse/client/{}/hello\";\n",
            names.module
        ));
    }
    for helper in [Helper::User, Helper::Event] {
        if examples.iter().any(|example| example.helpers.contains(&helper)) {
            out.push_str(helper_source(helper));
        }
    }
    out.push_str(
        r#"
    #[test]
    fn starts_on_its_defaults_and_rejects_unknown_keys() {
        Harness::from_yaml(BARE).unwrap();
        let error = Harness::from_yaml(&format!("{BARE}    config:\n      no_such_key: 1\n")).unwrap_err();
        assert!(error.to_string().contains("no_such_key"), "{error}");
    }
"#,
    );
    for example in &examples {
        out.push_str(&fill(example.test, names));
    }
    out.push_str("}\n");
    out
}

/// The tests' `use mxmod::...;`, indented into `mod tests`.
fn indented_use(paths: &[&str]) -> String {
    match paths {
        [single] => format!("    use mxmod::{single};\n"),
        _ => use_mxmod(paths).lines().map(|line| format!("    {line}\n")).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_are_camel_case_and_never_shadow_imports() {
        assert_eq!(
            Names::new("my_module"),
            Names { module: "my_module".into(), type_name: "MyModule".into(), config: "MyModuleConfig".into() }
        );
        assert_eq!(Names::new("a2_b").type_name, "A2B");
        assert_eq!(Names::new("spam_check").type_name, "SpamCheckModule");
        assert_eq!(Names::new("module").type_name, "ModuleModule");
        assert_eq!(Names::new("vec").type_name, "VecModule");
        assert_eq!(Names::new("some").config, "SomeModuleConfig");
    }

    #[test]
    fn imports_follow_the_categories() {
        assert_eq!(
            use_mxmod(&imports(&[Category::CACHED])),
            "use mxmod::{cached, module, Module, ModuleApi, ModuleError};\n"
        );
        let all = use_mxmod(&imports(&Category::ALL));
        assert!(
            all.contains("    types::{Event, JsonObject, OwnedUserId, RoomId, StateMap, UserId, UserPresenceState},\n"),
            "{all}"
        );
        assert!(all.contains("    web::{self, WebRequest, WebResponse},\n"), "{all}");
    }

    #[test]
    fn the_doc_lists_every_config_key() {
        let names = Names::new("my_module");
        let source = module_source(&names, &Category::ALL);
        for key in EXAMPLES.iter().flat_map(|example| example.keys).map(|key| key.name) {
            assert!(source.contains(&format!("//!       {key}: ")), "{key} missing from the doc");
            assert!(source.contains(&format!("    pub {key}: ")), "{key} missing from the config");
        }
        let cached_only = module_source(&names, &[Category::CACHED]);
        assert!(cached_only.contains("//! Config: no keys yet"), "{cached_only}");
        assert!(cached_only.contains("pub struct MyModuleConfig {}"), "{cached_only}");
    }

    #[test]
    fn every_category_offered_has_one_example_and_every_example_is_offered() {
        let offered: Vec<&str> = Category::ALL.iter().map(|category| category.as_str()).collect();
        let examples: Vec<&str> = EXAMPLES.iter().map(|example| example.category).collect();
        assert_eq!(examples, offered, "one row per category, in `Category::ALL` order");
        for name in mxmod_common::CATEGORIES.iter().map(|category| category.name) {
            assert!(has_example(Category::named(name)), "`{name}` (a category of the macros) has no example");
        }
    }

    #[test]
    fn each_category_has_its_callback_and_a_test_calling_it() {
        let names = Names::new("probe");
        let cases: [(&str, &[&str], &str); 11] = [
            (
                "spam_checker",
                &["#[spam_checker]\n    pub async fn user_may_invite(&self, inviter: &UserId, _invitee: &UserId, _room_id: &RoomId) -> SpamCheck {"],
                "spam.user_may_invite(",
            ),
            (
                "third_party_rules",
                &["#[third_party_rules]\n    pub async fn check_event_allowed(&self, event: &Event, _state_events: &StateMap) -> EventAllowed {"],
                "rules.check_event_allowed(",
            ),
            (
                "account_validity",
                &["#[account_validity]\n    pub async fn is_user_expired(&self, user_id: &UserId) -> Option<bool> {"],
                "validity.is_user_expired(",
            ),
            (
                "presence_router",
                &[
                    "#[presence_router]\n    pub async fn get_users_for_states(&self, state_updates: &[UserPresenceState]) -> PresenceRouting {",
                    "#[presence_router]\n    pub async fn get_interested_users(&self, user_id: &UserId) -> InterestedUsers {",
                ],
                "router.get_interested_users(",
            ),
            (
                "password_auth_provider",
                &["#[password_auth_provider]\n    pub async fn is_3pid_allowed(&self, medium: &str, address: &str, _registration: bool) -> bool {"],
                "providers.is_3pid_allowed(",
            ),
            (
                "media_repository",
                &["#[media_repository]\n    pub async fn is_user_allowed_to_upload_media_of_size(&self, user_id: &UserId, size: u64) -> bool {"],
                "media.is_user_allowed_to_upload_media_of_size(",
            ),
            (
                "ratelimit",
                &["#[ratelimit]\n    pub async fn get_ratelimit_override_for_user(\n        &self,\n        user_id: &UserId,"],
                "limits.get_ratelimit_override_for_user(",
            ),
            (
                "account_data",
                &["#[account_data]\n    pub async fn on_account_data_updated(\n        &self,"],
                "account_data.on_account_data_updated(",
            ),
            (
                "add_extra_fields_to_unsigned_client_event",
                &["#[add_extra_fields_to_unsigned_client_event]\n    pub async fn add_field_to_unsigned_callback(&self, event: &Event) -> JsonObject {"],
                "unsigned.add_field_to_unsigned_callback(",
            ),
            (
                "web_resource",
                &["#[web_resource(\"/_synapse/client/probe/hello\", method = \"GET\")]\n    pub async fn hello(&self, request: WebRequest) -> WebResponse {"],
                "const HELLO: &str = \"/_synapse/client/probe/hello\";",
            ),
            (
                "cached",
                &["#[cached(max_size = 1000, cache = lookups)]\n    pub async fn lookup(&self, key: String) -> String {"],
                "module.lookup_cache().stats()",
            ),
        ];
        for (name, methods, call) in cases {
            let category = Category::named(name);
            let source = module_source(&names, &[category]);
            for method in methods {
                assert!(source.contains(method), "{name}: `{method}` missing:\n{source}");
            }
            assert!(source.contains(call), "{name}: the test does not call `{call}`:\n{source}");
            assert!(!source.contains("__MODULE__") && !source.contains("__TYPE__"), "{name}:\n{source}");
            for other in Category::ALL.iter().filter(|other| **other != category) {
                assert!(!source.contains(&format!("#[{}]", other.as_str())), "{name} also has {other}");
                assert!(!source.contains(&format!("#[{}(", other.as_str())), "{name} also has {other}");
            }
        }
        let cached = module_source(&names, &[Category::CACHED]);
        assert!(cached.contains("    lookups: mxmod::cache::CacheHandle<String, String>,\n"), "{cached}");
        assert!(cached.contains("Ok(Probe { lookups: Self::lookup_new_cache(&api) })"), "{cached}");
        let web = module_source(&names, &[Category::WEB_RESOURCE]);
        assert!(!web.contains("use super::*;"), "its tests use nothing of the module:\n{web}");
        let spam = module_source(&names, &[Category::named("spam_checker")]);
        assert!(!spam.contains("api: ModuleApi,\n"), "{spam}");
        assert!(spam.contains("fn new(config: ProbeConfig, _api: ModuleApi)"), "{spam}");
        let media = module_source(&names, &[Category::named("media_repository")]);
        assert!(media.contains("fn default_max_upload_bytes() -> u64 {\n    10 * 1024 * 1024\n}"), "{media}");
    }

    #[test]
    fn imported_names_are_not_taken_by_the_module_type() {
        assert_eq!(Names::new("ratelimit_override").type_name, "RatelimitOverrideModule");
        assert_eq!(Names::new("json_object").type_name, "JsonObjectModule");
        assert_eq!(Names::new("presence_kind").type_name, "PresenceKindModule");
    }

    /// Every non-empty set of categories.
    fn combinations() -> Vec<Vec<Category>> {
        (1..(1u32 << Category::ALL.len()))
            .map(|mask| {
                Category::ALL.iter().enumerate().filter(|(n, _)| mask & (1 << n) != 0).map(|(_, c)| *c).collect()
            })
            .collect()
    }

    /// Every category alone, every pair, every set but one, and all of them (a short and a
    /// long name too): what one category's text does next to another's. One rustfmt run
    /// over all of them, with `//!` turned into `//` so that the sources can be concatenated.
    #[test]
    fn the_source_is_already_formatted() {
        let all = Category::ALL.len();
        let mut cases: Vec<(&str, Vec<Category>)> = combinations()
            .into_iter()
            .filter(|c| c.len() <= 2 || c.len() >= all - 1)
            .map(|c| ("my_module", c))
            .collect();
        cases.push(("x", Category::ALL.to_vec()));
        cases.push(("a_rather_long_module_name_for_testing_widths", Category::ALL.to_vec()));
        let sources: Vec<String> = cases
            .iter()
            .map(|(name, categories)| module_source(&Names::new(name), categories).replace("//!", "//"))
            .collect();
        let all = sources.join("\n");
        let formatted = crate::workspace::rustfmt(&all);
        if formatted != all {
            let (line, (ours, theirs)) =
                all.lines().zip(formatted.lines()).enumerate().find(|(_, (ours, theirs))| ours != theirs).unwrap();
            let mut start = 0;
            for ((name, categories), source) in cases.iter().zip(&sources) {
                let end = start + source.lines().count() + 1;
                if (start..end).contains(&line) {
                    panic!("{name} {categories:?}, line {}: rustfmt changes\n{ours}\ninto\n{theirs}", line - start + 1);
                }
                start = end;
            }
            panic!("rustfmt changes line {line}: {ours}");
        }
    }

    #[test]
    fn every_combination_of_categories_is_valid_rust() {
        for categories in combinations() {
            let source = module_source(&Names::new("my_module"), &categories);
            if let Err(error) = syn::parse_file(&source) {
                panic!("{categories:?}: {error}\n{source}");
            }
        }
    }
}
