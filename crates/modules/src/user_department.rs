//! `user_department`: the `#[cached]` example of Synapse's documentation, made useful.
//!
//! A user's department comes from an HTTP service (`GET {service}?user_id=X` answering
//! `{"department": "..."}`) and is cached per user. Invites across departments are
//! refused. When a user changes department, the service (or an operator) posts to
//! `/_synapse/client/user_department/invalidate` and the cached answer is dropped.
//!
//! * `user_may_invite` (spam checker): 403 `M_FORBIDDEN` when inviter and invitee are in
//!   different departments and `same_department_invites_only` is on.
//! * `POST /_synapse/client/user_department/invalidate` with
//!   `Authorization: Bearer <shared_secret>` and `{"user_id": "@x:y"}` answers
//!   `{"invalidated": bool}`.
//! * `GET /_synapse/client/user_department/stats` answers the cache's hit, miss and
//!   eviction counts.
//!
//! Config:
//!
//! ```yaml
//! modules:
//!   - module: user_department
//!     config:
//!       # The department service (required; http:// or https://).
//!       service: "http://127.0.0.1:9001/department"
//!       # Secret for the invalidate resource (required).
//!       shared_secret: "change me"
//!       # Refuse invites across departments. Default: true.
//!       same_department_invites_only: true
//!       # Cached users. Default: 10000.
//! ```

use mxmod::{
    api::HttpClient,
    cached, module, spam_checker,
    types::{RoomId, UserId},
    web::{self, WebRequest, WebResponse},
    web_resource, CallbackError, ConfigError, ErrCode, MatrixError, Module, ModuleApi, ModuleError, SpamCheck,
};
use serde::Deserialize;

/// The `config:` of `user_department`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserDepartmentConfig {
    /// `GET {service}?user_id=X` answers `{"department": "..."}`.
    pub service: String,
    /// Bearer token the invalidate resource requires.
    pub shared_secret: String,
    /// Refuse invites across departments.
    #[serde(default = "yes")]
    pub same_department_invites_only: bool,
}

fn yes() -> bool {
    true
}

/// The department module.
pub struct UserDepartment {
    config: UserDepartmentConfig,
    api: ModuleApi,
    /// The cache of `get_department_for_user`.
    departments: mxmod::cache::CacheHandle<String, String>,
}

impl Module for UserDepartment {
    type Config = UserDepartmentConfig;

    fn parse_config(config: UserDepartmentConfig) -> Result<UserDepartmentConfig, ConfigError> {
        HttpClient::check_url(&config.service)
            .map_err(|problem| ConfigError::at(["service"], format!("`service` {problem}")))?;
        if config.shared_secret.is_empty() {
            return Err(ConfigError::at(["shared_secret"], "`shared_secret` must not be empty"));
        }
        Ok(config)
    }

    fn new(config: UserDepartmentConfig, api: ModuleApi) -> Result<Self, ModuleError> {
        let departments = Self::get_department_for_user_new_cache(&api);
        Ok(UserDepartment { config, api, departments })
    }
}

#[derive(Deserialize)]
struct DepartmentAnswer {
    department: String,
}

#[derive(Deserialize)]
struct InvalidateRequest {
    user_id: String,
}

#[module(name = "user_department")]
impl UserDepartment {
    /// The user's department, from the service; cached per user, errors are not cached.
    #[cached(max_size = 10000, cache = departments)]
    pub async fn get_department_for_user(&self, user_id: String) -> Result<String, CallbackError> {
        let query: String = form_urlencoded::Serializer::new(String::new()).append_pair("user_id", &user_id).finish();
        let uri = format!("{}?{query}", self.config.service);
        let answer: DepartmentAnswer = self.api.http_client().get_json(&uri).await?;
        Ok(answer.department)
    }

    /// Refuses invites across departments.
    #[spam_checker]
    pub async fn user_may_invite(
        &self,
        inviter: &UserId,
        invitee: &UserId,
        _room_id: &RoomId,
    ) -> Result<SpamCheck, CallbackError> {
        if !self.config.same_department_invites_only {
            return Ok(SpamCheck::NOT_SPAM);
        }
        let from = self.get_department_for_user(inviter.to_string()).await?;
        let to = self.get_department_for_user(invitee.to_string()).await?;
        Ok(if from == to { SpamCheck::NOT_SPAM } else { SpamCheck::Deny(ErrCode::FORBIDDEN) })
    }

    /// Drops a user's cached department.
    #[web_resource("/_synapse/client/user_department/invalidate", method = "POST")]
    pub async fn invalidate(&self, request: WebRequest) -> Result<WebResponse, MatrixError> {
        let authorized = web::bearer_token(request.headers())
            .is_some_and(|token| web::secret_matches(token, &self.config.shared_secret));
        if !authorized {
            return Err(MatrixError::new(403, ErrCode::FORBIDDEN, "Invalid or missing shared secret"));
        }
        let body: InvalidateRequest = web::json_body(&request)?;
        let invalidated = self.get_department_for_user_cache().invalidate(&body.user_id);
        Ok(web::json(200, &serde_json::json!({ "invalidated": invalidated })))
    }

    /// The cache's counters.
    #[web_resource("/_synapse/client/user_department/stats", method = "GET")]
    pub async fn stats(&self, _request: WebRequest) -> WebResponse {
        let stats = self.get_department_for_user_cache().stats();
        web::json(
            200,
            &serde_json::json!({
                "hits": stats.hits, "misses": stats.misses, "evictions": stats.evictions, "size": stats.size
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    };

    use mxmod::testing::Harness;

    use super::*;
    use crate::test_http;

    /// A department service whose answers can change; counts lookups.
    async fn service(departments: Arc<Mutex<Vec<(String, String)>>>, lookups: Arc<AtomicUsize>) -> String {
        test_http::serve(move |request| {
            lookups.fetch_add(1, Ordering::SeqCst);
            let query = request.uri().query().unwrap_or_default().to_owned();
            let user: String = form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "user_id").unwrap().1.into();
            match departments.lock().unwrap().iter().find(|(u, _)| *u == user) {
                Some((_, department)) => test_http::json(200, serde_json::json!({ "department": department })),
                None => test_http::json(404, serde_json::json!({"errcode": "M_NOT_FOUND"})),
            }
        })
        .await
    }

    fn yaml(base: &str) -> String {
        format!("modules:\n  - module: user_department\n    config:\n      service: {base}/department\n      shared_secret: s3cret\n")
    }

    fn ids() -> (mxmod::types::OwnedUserId, mxmod::types::OwnedUserId, mxmod::types::OwnedRoomId) {
        (
            UserId::parse("@alice:example.com").unwrap(),
            UserId::parse("@bob:example.com").unwrap(),
            RoomId::parse("!room:example.com").unwrap(),
        )
    }

    #[tokio::test]
    async fn lookups_are_cached_until_invalidated() {
        let departments = Arc::new(Mutex::new(vec![
            ("@alice:example.com".to_owned(), "sales".to_owned()),
            ("@bob:example.com".to_owned(), "sales".to_owned()),
        ]));
        let lookups = Arc::new(AtomicUsize::new(0));
        let base = service(departments.clone(), lookups.clone()).await;
        let harness = Harness::from_yaml(&yaml(&base)).unwrap();
        let spam = &harness.callbacks().spam_checker;
        let (alice, bob, room) = ids();

        spam.user_may_invite(&alice, &bob, &room).await.unwrap();
        spam.user_may_invite(&alice, &bob, &room).await.unwrap();
        assert_eq!(lookups.load(Ordering::SeqCst), 2, "second invite served from the cache");

        departments.lock().unwrap()[1].1 = "engineering".to_owned();
        spam.user_may_invite(&alice, &bob, &room).await.unwrap();

        let request = http::Request::post("/_synapse/client/user_department/invalidate")
            .header("authorization", "Bearer s3cret")
            .body(bytes::Bytes::from(r#"{"user_id": "@bob:example.com"}"#))
            .unwrap();
        let reply = harness.request(request).await.unwrap();
        assert_eq!(reply.body().as_ref(), br#"{"invalidated":true}"#);

        let error = spam.user_may_invite(&alice, &bob, &room).await.unwrap_err();
        assert_eq!((error.status, error.error.as_str()), (403, "Invites have been disabled on this server"));
        assert_eq!(lookups.load(Ordering::SeqCst), 3);

        let module = harness.module::<UserDepartment>(0).unwrap();
        let stats = module.get_department_for_user_cache().stats();
        assert_eq!((stats.hits, stats.misses, stats.size), (5, 3, 2));
    }

    #[tokio::test]
    async fn failed_lookups_are_not_cached() {
        let departments = Arc::new(Mutex::new(vec![("@alice:example.com".to_owned(), "sales".to_owned())]));
        let lookups = Arc::new(AtomicUsize::new(0));
        let base = service(departments.clone(), lookups.clone()).await;
        let harness = Harness::from_yaml(&yaml(&base)).unwrap();
        let module = harness.module::<UserDepartment>(0).unwrap();
        assert!(module.get_department_for_user("@bob:example.com".to_owned()).await.is_err());
        departments.lock().unwrap().push(("@bob:example.com".to_owned(), "ops".to_owned()));
        assert_eq!(module.get_department_for_user("@bob:example.com".to_owned()).await.unwrap(), "ops");
        assert_eq!(lookups.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn invalidation_needs_the_secret() {
        let base = service(Arc::default(), Arc::default()).await;
        let harness = Harness::from_yaml(&yaml(&base)).unwrap();
        let reply = harness
            .post_json("/_synapse/client/user_department/invalidate", &serde_json::json!({"user_id": "@a:b"}))
            .await
            .unwrap();
        assert_eq!(reply.status(), 403);
    }
}
