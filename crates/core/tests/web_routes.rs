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
