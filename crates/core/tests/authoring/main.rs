//! What a module author gets: `?` on the API's errors mapped to each callback's failure
//! policy, web resources per HTTP method (405 with `Allow`, `HEAD` from `GET`), the
//! `Harness` builder with the in-memory `TestHost` and `EventBuilder`, shutdown hooks,
//! Synapse's duration syntax, and the answer types and `http`/`bytes` at the crate root.
//! `valid_forms` builds every attribute of the macros.

mod valid_forms;

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use mxmod::{
    bytes::Bytes,
    http::{self, header, Method},
    module, spam_checker,
    testing::{EventBuilder, Harness, TestHost},
    third_party_rules,
    types::{Event, RoomId, StateMap, UserId},
    web::{self, WebRequest, WebResponse},
    web_resource, CallbackError, ErrCode, Module, ModuleApi, ModuleError, PresenceRouting, SpamCheck,
};

/// Shutdown hooks that have run, by instance label.
static SHUT_DOWN: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Author {
    api: ModuleApi,
    ticks: Arc<AtomicUsize>,
}

impl Module for Author {
    type Config = serde_json::Value;

    fn new(config: serde_json::Value, api: ModuleApi) -> Result<Self, ModuleError> {
        let label = format!("{}:{}", api.instance_name(), config["tag"].as_str().unwrap_or_default());
        api.on_shutdown(move || SHUT_DOWN.lock().unwrap().push(label));
        api.register_web_resource_for("DELETE", "/_synapse/client/author/item", |_request: WebRequest| async {
            web::json(200, &serde_json::json!({ "deleted": true }))
        })?;
        let ticks = Arc::new(AtomicUsize::new(0));
        if tokio::runtime::Handle::try_current().is_ok() {
            let counter = ticks.clone();
            api.spawn_periodic(Duration::from_millis(10), move || {
                counter.fetch_add(1, Ordering::SeqCst);
                async {}
            });
        }
        Ok(Author { api, ticks })
    }
}

#[module(name = "author")]
impl Author {
    /// FIRST-DENY with Synapse's 500 policy: `?` on a host error fails the request.
    #[spam_checker]
    async fn user_may_create_room(
        &self,
        _user: &UserId,
        _config: &mxmod::types::JsonObject,
    ) -> Result<SpamCheck, CallbackError> {
        let room = RoomId::parse("!nowhere:example.com").map_err(CallbackError::other)?;
        self.api.room_state(&room).await?;
        Ok(SpamCheck::NOT_SPAM)
    }

    /// FIRST-FALSE with Synapse's fail-open policy: `?` on a host error is ignored.
    #[third_party_rules]
    async fn check_threepid_can_be_invited(
        &self,
        _medium: &str,
        _address: &str,
        _state: &StateMap,
    ) -> Result<bool, CallbackError> {
        let room = RoomId::parse("!nowhere:example.com").map_err(CallbackError::other)?;
        self.api.room_state(&room).await?;
        Ok(false)
    }

    /// Denies events whose body says "spam", built with `EventBuilder` in the test.
    #[spam_checker]
    async fn check_event_for_spam(&self, event: &Event) -> SpamCheck {
        if event.content.get("body").and_then(serde_json::Value::as_str) == Some("spam") {
            SpamCheck::Deny(ErrCode::FORBIDDEN)
        } else {
            SpamCheck::NOT_SPAM
        }
    }

    /// # `GET /_synapse/client/author/item`
    #[web_resource("/_synapse/client/author/item", method = "GET")]
    async fn get_item(&self, _request: WebRequest) -> WebResponse {
        web::json(200, &serde_json::json!({ "item": 1 }))
    }

    /// # `POST /_synapse/client/author/item`: `?` on a database error answers 500.
    #[web_resource("/_synapse/client/author/item", method = "POST")]
    async fn post_item(&self, request: WebRequest) -> Result<WebResponse, CallbackError> {
        let body: serde_json::Value = web::json_body(&request)?;
        let db = self.api.db()?;
        db.execute("INSERT INTO {no_such_table} VALUES ($1)", &[1.into()]).await?;
        Ok(web::json(200, &body))
    }

    /// # `* /_synapse/client/author/any`: every method.
    #[web_resource("/_synapse/client/author/any")]
    async fn any(&self, request: WebRequest) -> WebResponse {
        web::json(200, &serde_json::json!({ "method": request.method().as_str() }))
    }
}

fn request(method: Method, path: &str) -> WebRequest {
    http::Request::builder().method(method).uri(path).body(Bytes::from_static(b"{}")).unwrap()
}

const YAML: &str = "modules:\n  - module: author\n";

#[tokio::test]
async fn question_mark_on_api_errors_follows_each_callbacks_failure_policy() {
    let harness = Harness::from_yaml(YAML).unwrap();
    let alice = UserId::parse("@alice:example.com").unwrap();
    let error = harness.callbacks().spam_checker.user_may_create_room(&alice, &Default::default()).await.unwrap_err();
    assert_eq!((error.status, error.errcode, error.error.as_str()), (500, ErrCode::UNKNOWN, "Internal server error"));
    let allowed =
        harness.callbacks().third_party_rules.check_threepid_can_be_invited("email", "a@b.c", &StateMap::new()).await;
    assert_eq!(allowed, Ok(()), "a failing fail-open callback is skipped, not taken as `false`");
}

#[tokio::test]
async fn web_resources_answer_per_method_with_405_and_head_from_get() {
    let harness = Harness::from_yaml(YAML).unwrap();
    let path = "/_synapse/client/author/item";
    let get = harness.request(request(Method::GET, path)).await.unwrap();
    assert_eq!((get.status().as_u16(), get.body().as_ref()), (200, br#"{"item":1}"#.as_ref()));

    let head = harness.request(request(Method::HEAD, path)).await.unwrap();
    assert_eq!(head.status(), 200);
    assert!(head.body().is_empty());
    assert_eq!(head.headers()[header::CONTENT_LENGTH], "10");

    let deleted = harness.request(request(Method::DELETE, path)).await.unwrap();
    assert_eq!(deleted.body().as_ref(), br#"{"deleted":true}"#);

    let put = harness.request(request(Method::PUT, path)).await.unwrap();
    assert_eq!(put.status(), 405);
    assert_eq!(put.headers()[header::ALLOW], "DELETE, GET, HEAD, POST");
    let body: serde_json::Value = serde_json::from_slice(put.body()).unwrap();
    assert_eq!(body, serde_json::json!({ "errcode": "M_UNRECOGNIZED", "error": "Unrecognized request" }));

    let failed = harness.request(request(Method::POST, path)).await.unwrap();
    assert_eq!(failed.status(), 500, "`?` on a database error is an internal error");
    let not_json = http::Request::post(path).body(Bytes::from_static(b"{")).unwrap();
    let refused = harness.request(not_json).await.unwrap();
    assert_eq!(refused.status(), 400);

    for method in [Method::PUT, Method::PATCH, Method::GET] {
        let any = harness.request(request(method.clone(), "/_synapse/client/author/any")).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(any.body()).unwrap();
        assert_eq!(body["method"], method.as_str(), "a resource without `method` serves every method");
    }
}

#[tokio::test]
async fn the_builder_sets_server_name_and_host_and_events_are_built_in_one_line() {
    let host = TestHost::new();
    let room = host.create_room("!r:other.org", "@alice:other.org");
    let harness = Harness::builder(YAML).server_name("other.org").host(host.clone()).start().unwrap();
    let api = &harness.module::<Author>(0).unwrap().api;
    assert_eq!(api.server_name().as_str(), "other.org");
    assert_eq!(api.room_state(&room).await.unwrap().len(), 2, "the test host's room: create event and join");

    let alice = UserId::parse("@alice:other.org").unwrap();
    let spam =
        EventBuilder::new("m.room.message", &alice, &room).content(serde_json::json!({ "body": "spam" })).build();
    let ham = EventBuilder::new("m.room.message", &alice, &room).content(serde_json::json!({ "body": "ham" })).build();
    assert_ne!(spam.event_id, ham.event_id);
    assert!(harness.callbacks().spam_checker.check_event_for_spam(&spam).await.is_err());
    assert!(harness.callbacks().spam_checker.check_event_for_spam(&ham).await.is_ok());

    let bad = Harness::builder(YAML).server_name("not a server name").start();
    assert!(bad.is_err(), "a bad server name is a start-up error, not a panic");
}

#[tokio::test(start_paused = true)]
async fn dropping_the_harness_runs_shutdown_hooks_and_stops_periodic_tasks() {
    let tagged = "    config: { tag: drop }\n";
    let harness = Harness::from_yaml(&format!(
        "modules:\n  - module: author\n{tagged}  - module: author\n    id: author_2\n{tagged}"
    ))
    .unwrap();
    let ticks = harness.module::<Author>(0).unwrap().ticks.clone();
    tokio::time::sleep(Duration::from_millis(35)).await;
    let before = ticks.load(Ordering::SeqCst);
    assert!(before >= 3, "the periodic task runs: {before}");
    drop(harness);
    let hooks: Vec<String> = SHUT_DOWN.lock().unwrap().iter().filter(|l| l.ends_with(":drop")).cloned().collect();
    assert_eq!(hooks, ["author#2:drop", "author:drop"], "last started, first shut down");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(ticks.load(Ordering::SeqCst), before, "no tick after shutdown");
}

#[test]
fn a_bare_timeout_is_milliseconds_and_ms_still_works() {
    for (timeout, expected) in [("500", 500), ("500ms", 500), ("2s", 2000)] {
        let yaml = format!("modules:\n  - module: author\n    timeout: {timeout}\n");
        let entries = mxmod::config::load_modules(&yaml, "test.yaml").unwrap();
        assert_eq!(entries[0].timeout, Some(Duration::from_millis(expected)), "timeout: {timeout}");
    }
    let error = mxmod::config::load_modules("modules:\n  - module: author\n    timeout: 0\n", "t.yaml").unwrap_err();
    assert!(error.to_string().contains("longer than zero"), "{error}");
}

#[test]
fn answer_types_live_at_the_crate_root() {
    let routing: PresenceRouting = PresenceRouting::new();
    assert!(routing.is_empty());
    let _: Option<mxmod::InterestedUsers> = None;
    let _: Option<mxmod::EventAllowed> = None;
    let _: Option<mxmod::RegistrationBehaviour> = None;
    let _: Option<mxmod::WebResponse> = None;
}
