//! A path that is not a string literal.

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

const PATH: &str = "/_synapse/client/demo/hello";

#[module(name = "demo")]
impl Demo {
    #[web_resource(PATH)]
    async fn hello(&self, _request: WebRequest) -> WebResponse {
        mxmod::web::json(200, &serde_json::json!({}))
    }
}

fn main() {}
