//! The `file:line` the macros record for each method point at the method (not at
//! `#[module]`), and start-up errors about methods name them: two `#[web_resource]`
//! methods of one module on the same path and HTTP method, a presence router with one of
//! its two callbacks. This test binary links such modules; each test lists one.

use mxmod::{
    module, presence_router,
    testing::Harness,
    types::{JsonObject, UserPresenceState},
    web::{self, WebRequest, WebResponse},
    web_resource, Module, ModuleApi, ModuleError, PresenceRouting,
};

/// `file:line` of the first line of this file containing `needle`.
fn location_of(needle: &str) -> String {
    let source = include_str!("descriptor_locations.rs");
    let line = source.lines().position(|line| line.contains(needle)).expect("the needle is in this file") + 1;
    format!("crates/core/tests/descriptor_locations.rs:{line}")
}

macro_rules! unit_module {
    ($($ty:ident),*) => {$(
        struct $ty;

        impl Module for $ty {
            type Config = JsonObject;
            fn new(_: JsonObject, _: ModuleApi) -> Result<Self, ModuleError> {
                Ok($ty)
            }
        }
    )*};
}

unit_module!(Twice, Apart, HalfRouter);

#[module(name = "twice")]
impl Twice {
    #[web_resource("/_synapse/client/twice", method = "GET")]
    async fn first_hello(&self, _request: WebRequest) -> WebResponse {
        web::json(200, &serde_json::json!({}))
    }

    #[web_resource("/_synapse/client/twice", method = "POST")]
    async fn posted(&self, _request: WebRequest) -> WebResponse {
        web::json(200, &serde_json::json!({}))
    }

    #[web_resource("/_synapse/client/twice", method = "GET")]
    async fn second_hello(&self, _request: WebRequest) -> WebResponse {
        web::json(200, &serde_json::json!({}))
    }
}

/// One path, one handler per method and one for every other method: no conflict.
#[module(name = "apart")]
impl Apart {
    #[web_resource("/_synapse/client/apart", method = "GET")]
    async fn got(&self, _request: WebRequest) -> WebResponse {
        web::json(200, &serde_json::json!({}))
    }

    #[web_resource("/_synapse/client/apart", method = "POST")]
    async fn posted(&self, _request: WebRequest) -> WebResponse {
        web::json(200, &serde_json::json!({}))
    }

    #[web_resource("/_synapse/client/apart")]
    async fn anything(&self, _request: WebRequest) -> WebResponse {
        web::json(200, &serde_json::json!({}))
    }
}

#[module(name = "half_router")]
impl HalfRouter {
    #[presence_router]
    async fn get_users_for_states(&self, _state_updates: &[UserPresenceState]) -> PresenceRouting {
        PresenceRouting::new()
    }
}

#[test]
fn two_web_resources_on_one_path_and_method_name_both_methods_where_they_are() {
    let error = Harness::from_yaml("modules:\n  - module: twice\n").unwrap_err().to_string();
    assert_eq!(
        error,
        format!(
            "module `twice` serves GET of web resource `/_synapse/client/twice` twice: \
             `first_hello` at {} and `second_hello` at {}; remove one, or give each its own `method = \"...\"`",
            location_of("async fn first_hello"),
            location_of("async fn second_hello"),
        )
    );
}

#[test]
fn one_path_with_different_methods_is_no_conflict() {
    let harness = Harness::from_yaml("modules:\n  - module: apart\n").unwrap();
    assert_eq!(harness.registry().routes().routes().len(), 1);
}

#[test]
fn a_presence_router_with_one_callback_names_where_it_is() {
    let error = Harness::from_yaml("modules:\n  - module: half_router\n").unwrap_err().to_string();
    assert_eq!(
        error,
        format!(
            "module `half_router` implements presence router callback `get_users_for_states` (at {}) \
             but not `get_interested_users`; Synapse requires both",
            location_of("async fn get_users_for_states"),
        )
    );
}
