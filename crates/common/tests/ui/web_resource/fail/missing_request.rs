//! A web resource without the request parameter.

use mxmod::{module, web::WebResponse, web_resource, Module, ModuleApi, ModuleError};

struct Demo;

impl Module for Demo {
    type Config = serde_json::Value;

    fn new(_config: serde_json::Value, _api: ModuleApi) -> Result<Self, ModuleError> {
        Ok(Demo)
    }
}

#[module(name = "demo")]
impl Demo {
    #[web_resource("/_synapse/client/demo/hello")]
    async fn hello(&self) -> WebResponse {
        mxmod::web::json(200, &serde_json::json!({}))
    }
}

fn main() {}
