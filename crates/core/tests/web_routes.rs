//! Web resources: slice-collected and registered at construction, first module in YAML
//! order wins a path, `/_matrix/` paths and late registration are refused.

use std::sync::Mutex;

use mxmod::{
    module,
    testing::Harness,
    web::{self, WebRequest, WebResponse},
    web_resource, Module, ModuleApi, ModuleError, WebError,
};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PagesConfig {
    greeting: String,
    #[serde(default)]
    extra_path: Option<String>,
}

struct Pages {
    greeting: String,
    api: ModuleApi,
}

/// The API of the last built instance, to try registering after start-up.
static LAST_API: Mutex<Option<ModuleApi>> = Mutex::new(None);

impl Module for Pages {
    type Config = PagesConfig;

    fn new(config: PagesConfig, api: ModuleApi) -> Result<Self, ModuleError> {
        if let Some(path) = &config.extra_path {
            let greeting = config.greeting.clone();
            api.register_web_resource(path, move |_request: WebRequest| {
                let greeting = greeting.clone();
                async move { web::json(200, &serde_json::json!({ "dynamic": greeting })) }
            })?;
        }
        *LAST_API.lock().unwrap() = Some(api.clone());
        Ok(Pages { greeting: config.greeting, api })
    }
}

#[module(name = "pages")]
impl Pages {
    #[web_resource("/_synapse/client/pages")]
    async fn page(&self, request: WebRequest) -> WebResponse {
        let sub = request.uri().path().trim_start_matches("/_synapse/client/pages").to_owned();
        web::json(200, &serde_json::json!({ "greeting": self.greeting, "sub": sub, "by": self.api.instance_name() }))
    }
}

#[tokio::test]
async fn the_first_module_in_yaml_order_wins_and_the_other_is_shadowed() {
    let harness = Harness::from_yaml(
        "modules:
  - module: pages
    config: { greeting: first }
  - module: pages
    id: pages_2
    config: { greeting: second, extra_path: /_synapse/client/pages/extra }
",
    )
    .unwrap();
    let reply = harness.get("/_synapse/client/pages/deeper/path").await.unwrap();
    assert_eq!(reply.body().as_ref(), br#"{"by":"pages","greeting":"first","sub":"/deeper/path"}"#);
    let shadowed = harness.registry().routes().shadowed();
    assert_eq!(shadowed.len(), 1);
    assert_eq!((&*shadowed[0].winner, &*shadowed[0].loser), ("pages", "pages#2"));
    let extra = harness.get("/_synapse/client/pages/extra").await.unwrap();
    assert_eq!(extra.body().as_ref(), br#"{"dynamic":"second"}"#, "the longest mount wins");
}

#[test]
fn a_matrix_path_registered_at_run_time_stops_start_up() {
    let error = Harness::from_yaml(
        "modules:\n  - module: pages\n    config: { greeting: x, extra_path: /_matrix/client/v3/steal }\n",
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("module `pages` (modules[0]) failed to start"), "{error}");
}

#[test]
fn registering_after_start_up_is_an_error() {
    let _harness = Harness::from_yaml("modules:\n  - module: pages\n    config: { greeting: x }\n").unwrap();
    let api = LAST_API.lock().unwrap().clone().unwrap();
    let late = api.register_web_resource("/_synapse/client/late", |_request: WebRequest| async {
        web::json(200, &serde_json::json!({}))
    });
    assert!(matches!(late, Err(WebError::AfterStartup { .. })), "{late:?}");
}

/// Web resources that fail in every way a handler can, each after waiting once.
struct Faulty;

impl Module for Faulty {
    type Config = serde_json::Value;

    fn new(_config: serde_json::Value, _api: ModuleApi) -> Result<Self, ModuleError> {
        Ok(Faulty)
    }
}

/// Answers `Pending` once (waking itself), then `Ready`.
async fn wait_once() {
    let mut waited = false;
    std::future::poll_fn(|cx| {
        if std::mem::replace(&mut waited, true) {
            std::task::Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await;
}

#[module(name = "faulty_pages")]
impl Faulty {
    #[web_resource("/_synapse/client/faulty/slow", method = "GET")]
    async fn slow(&self, _request: WebRequest) -> WebResponse {
        wait_once().await;
        web::json(200, &serde_json::json!({ "waited": true }))
    }

    #[web_resource("/_synapse/client/faulty/denied")]
    async fn denied(&self, _request: WebRequest) -> Result<WebResponse, mxmod::CallbackError> {
        wait_once().await;
        Err(mxmod::MatrixError::new(403, mxmod::ErrCode::FORBIDDEN, "not you").into())
    }

    #[web_resource("/_synapse/client/faulty/panics")]
    async fn panics(&self, _request: WebRequest) -> WebResponse {
        wait_once().await;
        panic!("a web resource panicked on purpose");
    }
}

#[tokio::test]
async fn a_handler_that_waits_fails_or_panics_gets_its_matrix_answer() {
    let harness = Harness::from_yaml("modules:\n  - module: faulty_pages\n").unwrap();
    let request =
        |method: &str, path: &str| http::Request::builder().method(method).uri(path).body(bytes::Bytes::new());
    let slow = harness.get("/_synapse/client/faulty/slow").await.unwrap();
    assert_eq!((slow.status().as_u16(), slow.body().as_ref()), (200, br#"{"waited":true}"#.as_slice()));
    // HEAD is the GET handler's answer without its body.
    let head = harness.request(request("HEAD", "/_synapse/client/faulty/slow").unwrap()).await.unwrap();
    assert_eq!((head.status().as_u16(), head.body().len()), (200, 0));
    let denied = harness.get("/_synapse/client/faulty/denied").await.unwrap();
    assert_eq!(denied.status().as_u16(), 403);
    assert_eq!(denied.body().as_ref(), br#"{"errcode":"M_FORBIDDEN","error":"not you"}"#);
    let panicked = harness.get("/_synapse/client/faulty/panics").await.unwrap();
    assert_eq!(panicked.status().as_u16(), 500);
    assert!(std::str::from_utf8(panicked.body()).unwrap().contains("M_UNKNOWN"), "{panicked:?}");
    assert!(harness.get("/_synapse/client/nothing").await.is_none(), "no module mounted it");
}
