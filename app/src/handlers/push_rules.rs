//! `/pushrules/`: the user's rule set (server defaults with their changes), one kind,
//! one rule or one attribute of it; `PUT`/`DELETE` of rules (with `before`/`after`) and
//! `PUT` of `enabled`/`actions`. Each change is one storage transaction on the user's
//! push-rule document (`push/rules.rs` does the edit), with Synapse's errcodes.

use std::sync::Arc;

use axum::{extract::State, Json};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{
    http::{ApiError, ApiResult, Auth, MPath, MQuery, OptionalJsonBody},
    push::rules,
    state::AppState,
};

/// The user's served rule set.
async fn served(state: &AppState, auth: &Auth) -> ApiResult<Value> {
    let document = state.storage.push_rules(&auth.user_id).await?;
    Ok(rules::ruleset(&auth.user_id, &document))
}

fn global_scope(scope: &str) -> ApiResult<()> {
    if scope == "global" {
        Ok(())
    } else {
        Err(ApiError(rules::unrecognized()))
    }
}

/// `GET /pushrules/`.
pub(super) async fn get_all(State(state): State<Arc<AppState>>, auth: Auth) -> ApiResult<Json<Value>> {
    served(&state, &auth).await.map(Json)
}

/// `GET /pushrules/{scope}/`.
pub(super) async fn get_scope(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MPath(scope): MPath<String>,
) -> ApiResult<Json<Value>> {
    global_scope(&scope)?;
    Ok(Json(served(&state, &auth).await?["global"].take()))
}

/// `GET /pushrules/{scope}/{kind}/`.
pub(super) async fn get_kind(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MPath((scope, kind)): MPath<(String, String)>,
) -> ApiResult<Json<Value>> {
    global_scope(&scope)?;
    let list = served(&state, &auth).await?["global"][kind.as_str()].take();
    if list.is_null() {
        return Err(ApiError(rules::unrecognized()));
    }
    Ok(Json(list))
}

/// `GET /pushrules/{scope}/{kind}/{rule_id}`.
pub(super) async fn get_rule(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MPath((scope, kind, rule_id)): MPath<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    global_scope(&scope)?;
    let set = served(&state, &auth).await?;
    Ok(Json(rules::find(&set, &kind, &rule_id, None)?))
}

/// `GET /pushrules/{scope}/{kind}/{rule_id}/{attribute}`.
pub(super) async fn get_attribute(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MPath((scope, kind, rule_id, attribute)): MPath<(String, String, String, String)>,
) -> ApiResult<Json<Value>> {
    global_scope(&scope)?;
    let set = served(&state, &auth).await?;
    Ok(Json(rules::find(&set, &kind, &rule_id, Some(&attribute))?))
}

/// Where `PUT` places a new rule.
#[derive(Deserialize)]
pub(super) struct Placement {
    before: Option<String>,
    after: Option<String>,
}

/// `PUT /pushrules/{scope}/{kind}/{rule_id}`: adds or replaces a user rule.
pub(super) async fn put_rule(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MPath((scope, kind, rule_id)): MPath<(String, String, String)>,
    MQuery(placement): MQuery<Placement>,
    OptionalJsonBody(body): OptionalJsonBody<Value>,
) -> ApiResult<Json<Value>> {
    global_scope(&scope)?;
    let rule = rules::new_rule(&kind, &rule_id, &body)?;
    let edit = Box::new(move |document| {
        let (before, after) = (placement.before.filter(|b| !b.is_empty()), placement.after.filter(|a| !a.is_empty()));
        rules::add_rule(document, &kind, rule, before.as_deref(), after.as_deref())
    });
    state.storage.update_push_rules(&auth.user_id, edit).await??;
    Ok(Json(json!({})))
}

/// `DELETE /pushrules/{scope}/{kind}/{rule_id}`: 404 for server-default rules.
pub(super) async fn delete_rule(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MPath((scope, kind, rule_id)): MPath<(String, String, String)>,
) -> ApiResult<Json<Value>> {
    global_scope(&scope)?;
    let edit = Box::new(move |document| rules::delete_rule(document, &kind, &rule_id));
    state.storage.update_push_rules(&auth.user_id, edit).await??;
    Ok(Json(json!({})))
}

/// `PUT /pushrules/{scope}/{kind}/{rule_id}/{attribute}`: `enabled` or `actions`.
pub(super) async fn put_attribute(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    MPath((scope, kind, rule_id, attribute)): MPath<(String, String, String, String)>,
    OptionalJsonBody(body): OptionalJsonBody<Value>,
) -> ApiResult<Json<Value>> {
    global_scope(&scope)?;
    let user_id = auth.user_id.clone();
    let edit = Box::new(move |document| rules::set_attribute(document, &user_id, &kind, &rule_id, &attribute, &body));
    state.storage.update_push_rules(&auth.user_id, edit).await??;
    Ok(Json(json!({})))
}
