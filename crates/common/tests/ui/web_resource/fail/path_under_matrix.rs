//! A path under `/_matrix/`, which belongs to the Matrix APIs.

use mxmod::{
    module,
    web::{WebRequest, WebResponse},
    web_resource, Module, ModuleApi, ModuleError,
};

struct Demo;

impl Module for Demo {
    type Config = serde_json::Value;

    fn new(_config: serde_json::Value, _api: ModuleApi) -> Result<Self, ModuleError> {
        Ok(Demo)
    }
}

#[module(name = "demo")]
impl Demo {
    #[web_resource("/_matrix/client/v3/hello")]
    async fn hello(&self, _request: WebRequest) -> WebResponse {
        mxmod::web::json(200, &serde_json::json!({}))
    }
}

fn main() {}
