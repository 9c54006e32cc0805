//! `event_censorer`: the third-party-rules example of Synapse's documentation.
//!
//! * `check_event_allowed`: posts the event (as JSON) to `endpoint` and replaces the
//!   event's content with the JSON object the service answers. If the service fails,
//!   the callback fails and the event is refused, as in Synapse.
//!
//! Config:
//!
//! ```yaml
//! modules:
//!   - module: event_censorer
//!     config:
//!       # Where events are posted (required; http:// or https://).
//!       endpoint: "http://127.0.0.1:9000/censor-event"
//! ```

use mxmod::{
    api::HttpClient,
    module, third_party_rules,
    types::{Event, JsonObject, StateMap},
    CallbackError, ConfigError, EventAllowed, Module, ModuleApi, ModuleError,
};
use serde::Deserialize;

/// The `config:` of `event_censorer`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventCensorerConfig {
    /// The censoring service: `POST` the event, answer the new content.
    pub endpoint: String,
}

/// The event censorer.
pub struct EventCensorer {
    endpoint: String,
    api: ModuleApi,
}

impl Module for EventCensorer {
    type Config = EventCensorerConfig;

    fn parse_config(config: EventCensorerConfig) -> Result<EventCensorerConfig, ConfigError> {
        HttpClient::check_url(&config.endpoint)
            .map_err(|problem| ConfigError::at(["endpoint"], format!("`endpoint` {problem}")))?;
        Ok(config)
    }

    fn new(config: EventCensorerConfig, api: ModuleApi) -> Result<Self, ModuleError> {
        Ok(EventCensorer { endpoint: config.endpoint, api })
    }
}

#[module(name = "event_censorer")]
impl EventCensorer {
    /// Sends the event to the service and applies the content it returns.
    #[third_party_rules]
    pub async fn check_event_allowed(&self, event: &Event, _state: &StateMap) -> Result<EventAllowed, CallbackError> {
        let mut event_dict = event.get_dict();
        let content: JsonObject = self.api.http_client().post_json_get_json(&self.endpoint, &event_dict, &[]).await?;
        event_dict.insert("content".to_owned(), content.into());
        Ok(EventAllowed::Replace(event_dict))
    }
}

#[cfg(test)]
mod tests {
    use mxmod::testing::Harness;

    use super::*;
    use crate::test_http;

    fn message(body: &str) -> Event {
        serde_json::from_value(serde_json::json!({
            "event_id": "$1", "room_id": "!r:example.com", "sender": "@alice:example.com",
            "type": "m.room.message", "content": {"msgtype": "m.text", "body": body}, "origin_server_ts": 1
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn the_service_rewrites_the_content() {
        let base = test_http::serve(|request| {
            let event: serde_json::Value = serde_json::from_slice(request.body()).unwrap();
            let body = event["content"]["body"].as_str().unwrap().replace("darn", "****");
            test_http::json(200, serde_json::json!({"msgtype": "m.text", "body": body}))
        })
        .await;
        let yaml = format!("modules:\n  - module: event_censorer\n    config:\n      endpoint: {base}/censor-event\n");
        let harness = Harness::from_yaml(&yaml).unwrap();
        let answer =
            harness.callbacks().third_party_rules.check_event_allowed(&message("darn it"), &StateMap::new()).await;
        let new_event = answer.unwrap().expect("the event is replaced");
        assert_eq!(new_event["content"]["body"], "**** it");
        assert_eq!(new_event["sender"], "@alice:example.com");
    }

    #[tokio::test]
    async fn a_failing_service_refuses_the_event() {
        let base = test_http::serve(|_| test_http::json(500, serde_json::json!({}))).await;
        let yaml = format!("modules:\n  - module: event_censorer\n    config:\n      endpoint: {base}/censor-event\n");
        let harness = Harness::from_yaml(&yaml).unwrap();
        let answer = harness.callbacks().third_party_rules.check_event_allowed(&message("hi"), &StateMap::new()).await;
        assert!(answer.is_err());
    }

    #[test]
    fn the_endpoint_is_validated() {
        let error = Harness::from_yaml("modules:\n  - module: event_censorer\n    config:\n      endpoint: ftp://x\n")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(
                "test.yaml:4:7: modules[0].config.endpoint: `endpoint` must be an `http://` or `https://` URL, not \
                 `ftp://x`"
            ),
            "{error}"
        );
    }
}
