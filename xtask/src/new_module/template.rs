//! The source of a scaffolded module: typed config, one working example per requested
//! callback category, a `//!` doc listing the config keys, and tests through
//! `mxmod::testing::Harness` that call every generated callback.
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
    // what the template imports
    "Deserialize",
    "ErrCode",
    "Event",
    "EventAllowed",
    "Harness",
    "InterestedUsers",
    "Module",
    "ModuleApi",
    "ModuleError",
    "OwnedUserId",
    "PresenceKind",
    "PresenceRouting",
    "RoomId",
    "SpamCheck",
    "StateMap",
    "UserId",
    "UserPresenceState",
    "WebRequest",
    "WebResponse",
];

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
        while TAKEN_TYPE_NAMES.contains(&type_name.as_str())
            || TAKEN_TYPE_NAMES.contains(&format!("{type_name}Config").as_str())
        {
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
    /// `#[serde(default)]` (`None`) or `#[serde(default = "...")]`.
    default_fn: Option<&'static str>,
    /// How the default reads in the docs.
    default_text: &'static str,
    /// The YAML value used in the doc example and the tests.
    example: &'static str,
}

/// The config keys a category's example uses.
fn keys(category: Category) -> &'static [Key] {
    match category {
        Category::SpamChecker => &[Key {
            name: "blocked_inviters",
            ty: "Vec<OwnedUserId>",
            doc: "Users who may not invite anyone.",
            default_fn: None,
            default_text: "none",
            example: "['@mallory:example.com']",
        }],
        Category::ThirdPartyRules => &[Key {
            name: "forbidden_event_types",
            ty: "Vec<String>",
            doc: "Event types that are refused.",
            default_fn: None,
            default_text: "none",
            example: "['org.example.forbidden']",
        }],
        Category::AccountValidity => &[Key {
            name: "expired_users",
            ty: "Vec<OwnedUserId>",
            doc: "Users whose accounts have expired.",
            default_fn: None,
            default_text: "none",
            example: "['@expired:example.com']",
        }],
        Category::PresenceRouter => &[Key {
            name: "presence_watchers",
            ty: "Vec<OwnedUserId>",
            doc: "Users who receive everyone's presence.",
            default_fn: None,
            default_text: "none",
            example: "['@watcher:example.com']",
        }],
        Category::WebResource => &[Key {
            name: "greeting",
            ty: "String",
            doc: "What the `hello` resource says before the name.",
            default_fn: Some("default_greeting"),
            default_text: "\"Hello\"",
            example: "Howdy",
        }],
        Category::Cached => &[],
    }
}

/// The imports of the module's code (not its tests).
fn imports(categories: &[Category]) -> Vec<&'static str> {
    let mut names = vec!["module", "Module", "ModuleApi", "ModuleError"];
    for category in categories {
        names.extend_from_slice(match category {
            Category::SpamChecker => {
                &["spam_checker", "ErrCode", "SpamCheck", "types::OwnedUserId", "types::RoomId", "types::UserId"][..]
            }
            Category::ThirdPartyRules => &["third_party_rules", "EventAllowed", "types::Event", "types::StateMap"],
            Category::AccountValidity => &["account_validity", "types::OwnedUserId", "types::UserId"],
            Category::PresenceRouter => &[
                "presence_router",
                "InterestedUsers",
                "callbacks::rules::PresenceRouting",
                "types::OwnedUserId",
                "types::UserId",
                "types::UserPresenceState",
            ],
            Category::WebResource => &["web_resource", "web::self", "web::WebRequest", "web::WebResponse"],
            Category::Cached => &["cached"],
        });
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
        out.push_str(match category {
            Category::SpamChecker => {
                "//! * `user_may_invite` (spam checker): users in `blocked_inviters` may not invite anyone\n\
                 //!   (403 `M_FORBIDDEN` \"Invites have been disabled on this server\").\n"
            }
            Category::ThirdPartyRules => {
                "//! * `check_event_allowed` (third-party rules): events whose type is in\n\
                 //!   `forbidden_event_types` are refused (403 `M_FORBIDDEN`); others pass unchanged.\n"
            }
            Category::AccountValidity => {
                "//! * `is_user_expired` (account validity): users in `expired_users` have expired (403\n\
                 //!   `ORG_MATRIX_EXPIRED_ACCOUNT`); about everyone else this module has no opinion.\n"
            }
            Category::PresenceRouter => {
                "//! * `get_users_for_states` and `get_interested_users` (presence router, always as a\n\
                 //!   pair): users in `presence_watchers` receive everyone's presence.\n"
            }
            Category::WebResource => "",
            Category::Cached => {
                "//! * `lookup` (`#[cached]`): a per-instance LRU of 1000 entries around a slow lookup;\n\
                 //!   `lookup_cache()` invalidates entries and counts hits and misses.\n"
            }
        });
        if *category == Category::WebResource {
            out.push_str(&format!(
                "//! * `GET /_synapse/client/{module}/hello?name=X` answers `{{\"greeting\": \"<greeting>, X\"}}`.\n"
            ));
        }
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
            Some(function) => out.push_str(&format!("    #[serde(default = \"{function}\")]\n")),
            None => out.push_str("    #[serde(default)]\n"),
        }
        out.push_str(&format!("    pub {}: {},\n", key.name, key.ty));
    }
    out.push_str("}\n\n");
    if categories.contains(&Category::WebResource) {
        out.push_str("fn default_greeting() -> String {\n    \"Hello\".to_owned()\n}\n\n");
    }
    out
}

/// The module struct and its `Module` impl.
fn module_type(names: &Names, categories: &[Category]) -> String {
    let has_config = !all_keys(categories).is_empty();
    let has_cache = categories.contains(&Category::Cached);
    let Names { module, type_name, config, .. } = names;
    let mut out = format!("/// The `{module}` module.\npub struct {type_name} {{\n");
    if has_config {
        out.push_str(&format!("    config: {config},\n"));
    }
    if has_cache {
        out.push_str(
            "    /// The cache of `lookup` (`#[cached(cache = lookups)]`), created in `new`.\n    \
             lookups: mxmod::cache::CacheHandle<String, String>,\n",
        );
    }
    out.push_str("}\n\n");
    let (config_arg, api_arg) = (if has_config { "config" } else { "_config" }, if has_cache { "api" } else { "_api" });
    let fields: Vec<&str> = [(has_config, "config"), (has_cache, "lookups: Self::lookup_new_cache(&api)")]
        .into_iter()
        .filter_map(|(present, field)| present.then_some(field))
        .collect();
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
    out.push_str(&format!("        Ok({type_name} {{ {} }})\n    }}\n}}\n\n", fields.join(", ")));
    out
}

/// The `#[module]` impl with one example per category.
fn methods(names: &Names, categories: &[Category]) -> String {
    let module = &names.module;
    let mut bodies: Vec<String> = Vec::new();
    for category in categories {
        bodies.push(match category {
            Category::SpamChecker => "    \
    /// Refuses invites sent by `blocked_inviters`.
    #[spam_checker]
    pub async fn user_may_invite(&self, inviter: &UserId, _invitee: &UserId, _room_id: &RoomId) -> SpamCheck {
        if self.config.blocked_inviters.iter().any(|blocked| blocked == inviter) {
            SpamCheck::Deny(ErrCode::FORBIDDEN)
        } else {
            SpamCheck::NOT_SPAM
        }
    }
"
            .to_owned(),
            Category::ThirdPartyRules => "    \
    /// Refuses events whose type is in `forbidden_event_types`; lets the others through unchanged.
    #[third_party_rules]
    pub async fn check_event_allowed(&self, event: &Event, _state_events: &StateMap) -> EventAllowed {
        if self.config.forbidden_event_types.iter().any(|forbidden| event.event_type == forbidden.as_str()) {
            EventAllowed::Deny
        } else {
            EventAllowed::Allow
        }
    }
"
            .to_owned(),
            Category::AccountValidity => "    \
    /// `Some(true)` (expired) for `expired_users`; `None` (no opinion) for everyone else.
    #[account_validity]
    pub async fn is_user_expired(&self, user_id: &UserId) -> Option<bool> {
        self.config.expired_users.iter().any(|expired| expired == user_id).then_some(true)
    }
"
            .to_owned(),
            Category::PresenceRouter => "    \
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
"
            .to_owned(),
            Category::WebResource => format!(
                "    \
    /// # `GET /_synapse/client/{module}/hello?name=X`
    ///
    /// Answers `{{\"greeting\": \"<greeting>, X\"}}`; `name` defaults to `world`.
    #[web_resource(\"/_synapse/client/{module}/hello\", method = \"GET\")]
    pub async fn hello(&self, request: WebRequest) -> WebResponse {{
        let name = web::query_param(&request, \"name\").unwrap_or_else(|| \"world\".to_owned());
        web::json(200, &serde_json::json!({{ \"greeting\": format!(\"{{}}, {{name}}\", self.config.greeting) }}))
    }}
"
            ),
            Category::Cached => "    \
    /// A slow lookup whose answers are worth keeping: replace the body with yours (an HTTP
    /// call through the `ModuleApi::http_client()` of `new`, a database query). Answers are cached per
    /// key; `self.lookup_cache()` invalidates them and counts hits and misses.
    #[cached(max_size = 1000, cache = lookups)]
    pub async fn lookup(&self, key: String) -> String {
        key.to_uppercase()
    }
"
            .to_owned(),
        });
    }
    format!("#[module(name = \"{module}\")]\nimpl {} {{\n{}}}\n", names.type_name, bodies.join("\n"))
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

/// The tests: the module starts on its defaults, unknown keys are rejected, and every
/// generated callback is called through the harness.
fn tests(names: &Names, categories: &[Category]) -> String {
    let uses_users = categories.iter().any(|category| {
        matches!(category, Category::SpamChecker | Category::AccountValidity | Category::PresenceRouter)
    });
    let mut out = String::from("#[cfg(test)]\nmod tests {\n");
    if categories.contains(&Category::PresenceRouter) {
        out.push_str("    use mxmod::{testing::Harness, types::PresenceKind};\n");
    } else {
        out.push_str("    use mxmod::testing::Harness;\n");
    }
    // Only the web resource's test needs nothing from the module but its YAML.
    if categories.iter().any(|category| *category != Category::WebResource) {
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
    if categories.contains(&Category::WebResource) {
        out.push_str(&format!(
            "    /// The example web resource.\n    const HELLO: &str = \"/_synapse/client/{}/hello\";\n",
            names.module
        ));
    }
    if uses_users {
        out.push_str("\n    fn user(id: &str) -> OwnedUserId {\n        UserId::parse(id).unwrap()\n    }\n");
    }
    if categories.contains(&Category::ThirdPartyRules) {
        out.push_str(
            r#"
    fn event(event_type: &str) -> Event {
        serde_json::from_value(serde_json::json!({
            "event_id": "$1", "room_id": "!room:example.com", "sender": "@alice:example.com",
            "type": event_type, "content": {}, "origin_server_ts": 1
        }))
        .unwrap()
    }
"#,
        );
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
    for category in categories {
        out.push_str(&test_for(names, *category));
    }
    out.push_str("}\n");
    out
}

/// The test of one category's example.
fn test_for(names: &Names, category: Category) -> String {
    match category {
        Category::SpamChecker => "
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
"
        .to_owned(),
        Category::ThirdPartyRules => "
    #[tokio::test]
    async fn forbidden_event_types_are_refused() {
        let harness = Harness::from_yaml(YAML).unwrap();
        let rules = &harness.callbacks().third_party_rules;
        let state = StateMap::new();
        let error = rules.check_event_allowed(&event(\"org.example.forbidden\"), &state).await.unwrap_err();
        assert_eq!((error.status, error.errcode.as_str()), (403, \"M_FORBIDDEN\"));
        assert_eq!(rules.check_event_allowed(&event(\"m.room.message\"), &state).await.unwrap(), None);
    }
"
        .to_owned(),
        Category::AccountValidity => "
    #[tokio::test]
    async fn expired_users_have_expired() {
        let harness = Harness::from_yaml(YAML).unwrap();
        let validity = &harness.callbacks().account_validity;
        assert_eq!(validity.is_user_expired(&user(\"@expired:example.com\")).await.unwrap(), Some(true));
        assert_eq!(validity.is_user_expired(&user(\"@alice:example.com\")).await.unwrap(), None);
    }
"
        .to_owned(),
        Category::PresenceRouter => "
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
"
        .to_owned(),
        Category::WebResource => r##"
    #[tokio::test]
    async fn hello_greets_by_name() {
        let harness = Harness::from_yaml(YAML).unwrap();
        let reply = harness.get(&format!("{HELLO}?name=Bob")).await.unwrap();
        assert_eq!(reply.status(), 200);
        assert_eq!(reply.body().as_ref(), br#"{"greeting":"Howdy, Bob"}"#);
        let reply = harness.get(HELLO).await.unwrap();
        assert_eq!(reply.body().as_ref(), br#"{"greeting":"Howdy, world"}"#);
    }
"##
        .to_owned(),
        Category::Cached => format!(
            "
    #[tokio::test]
    async fn lookups_are_cached_until_invalidated() {{
        let harness = Harness::from_yaml(YAML).unwrap();
        let module = harness.module::<{}>(0).unwrap();
        assert_eq!(module.lookup(\"key\".to_owned()).await, \"KEY\");
        assert_eq!(module.lookup(\"key\".to_owned()).await, \"KEY\");
        let stats = module.lookup_cache().stats();
        assert_eq!((stats.hits, stats.misses, stats.size), (1, 1, 1));
        assert!(module.lookup_cache().invalidate(&\"key\".to_owned()));
        assert_eq!(module.lookup(\"key\".to_owned()).await, \"KEY\");
        assert_eq!(module.lookup_cache().stats().misses, 2);
    }}
",
            names.type_name
        ),
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
            use_mxmod(&imports(&[Category::Cached])),
            "use mxmod::{cached, module, Module, ModuleApi, ModuleError};\n"
        );
        let all = use_mxmod(&imports(&Category::ALL));
        assert!(
            all.contains("    types::{Event, OwnedUserId, RoomId, StateMap, UserId, UserPresenceState},\n"),
            "{all}"
        );
        assert!(all.contains("    web::{self, WebRequest, WebResponse},\n"), "{all}");
    }

    #[test]
    fn the_doc_lists_every_config_key() {
        let names = Names::new("my_module");
        let source = module_source(&names, &Category::ALL);
        for key in ["blocked_inviters", "forbidden_event_types", "expired_users", "presence_watchers", "greeting"] {
            assert!(source.contains(&format!("//!       {key}: ")), "{key} missing from the doc");
            assert!(source.contains(&format!("    pub {key}: ")), "{key} missing from the config");
        }
        let cached_only = module_source(&names, &[Category::Cached]);
        assert!(cached_only.contains("//! Config: no keys yet"), "{cached_only}");
        assert!(cached_only.contains("pub struct MyModuleConfig {}"), "{cached_only}");
    }

    #[test]
    fn each_category_has_its_callback_and_a_test_calling_it() {
        let names = Names::new("probe");
        let cases: [(Category, &[&str], &str); 6] = [
            (
                Category::SpamChecker,
                &["#[spam_checker]\n    pub async fn user_may_invite(&self, inviter: &UserId, _invitee: &UserId, _room_id: &RoomId) -> SpamCheck {"],
                "spam.user_may_invite(",
            ),
            (
                Category::ThirdPartyRules,
                &["#[third_party_rules]\n    pub async fn check_event_allowed(&self, event: &Event, _state_events: &StateMap) -> EventAllowed {"],
                "rules.check_event_allowed(",
            ),
            (
                Category::AccountValidity,
                &["#[account_validity]\n    pub async fn is_user_expired(&self, user_id: &UserId) -> Option<bool> {"],
                "validity.is_user_expired(",
            ),
            (
                Category::PresenceRouter,
                &[
                    "#[presence_router]\n    pub async fn get_users_for_states(&self, state_updates: &[UserPresenceState]) -> PresenceRouting {",
                    "#[presence_router]\n    pub async fn get_interested_users(&self, user_id: &UserId) -> InterestedUsers {",
                ],
                "router.get_interested_users(",
            ),
            (
                Category::WebResource,
                &["#[web_resource(\"/_synapse/client/probe/hello\", method = \"GET\")]\n    pub async fn hello(&self, request: WebRequest) -> WebResponse {"],
                "const HELLO: &str = \"/_synapse/client/probe/hello\";",
            ),
            (
                Category::Cached,
                &["#[cached(max_size = 1000, cache = lookups)]\n    pub async fn lookup(&self, key: String) -> String {"],
                "module.lookup_cache().stats()",
            ),
        ];
        for (category, methods, call) in cases {
            let source = module_source(&names, &[category]);
            for method in methods {
                assert!(source.contains(method), "{category:?}: `{method}` missing:\n{source}");
            }
            assert!(source.contains(call), "{category:?}: the test does not call `{call}`:\n{source}");
            for other in Category::ALL.iter().filter(|other| **other != category) {
                assert!(!source.contains(&format!("#[{}", other.as_str())), "{category:?} also has {other:?}");
            }
        }
        let cached = module_source(&names, &[Category::Cached]);
        assert!(cached.contains("    lookups: mxmod::cache::CacheHandle<String, String>,\n"), "{cached}");
        assert!(cached.contains("Ok(Probe { lookups: Self::lookup_new_cache(&api) })"), "{cached}");
        let web = module_source(&names, &[Category::WebResource]);
        assert!(!web.contains("use super::*;"), "its tests use nothing of the module:\n{web}");
        let spam = module_source(&names, &[Category::SpamChecker]);
        assert!(!spam.contains("api: ModuleApi,\n"), "{spam}");
        assert!(spam.contains("fn new(config: ProbeConfig, _api: ModuleApi)"), "{spam}");
    }

    /// Every non-empty set of categories.
    fn combinations() -> Vec<Vec<Category>> {
        (1..(1u32 << Category::ALL.len()))
            .map(|mask| {
                Category::ALL.iter().enumerate().filter(|(n, _)| mask & (1 << n) != 0).map(|(_, c)| *c).collect()
            })
            .collect()
    }

    /// Every combination of categories (and a short and a long name): one rustfmt run over
    /// all of them, with `//!` turned into `//` so that the sources can be concatenated.
    #[test]
    fn the_source_is_already_formatted() {
        let mut cases: Vec<(&str, Vec<Category>)> = combinations().into_iter().map(|c| ("my_module", c)).collect();
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
