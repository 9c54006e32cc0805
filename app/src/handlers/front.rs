//! Requests answered in front of axum's router: a module's web resource on a path no app
//! route takes, and `GET /_matrix/client/versions` (a fixed answer). They skip the router's
//! table walk, its boxed service clone and boxed future, and the URL-parameter extension
//! map; they are counted in the same request metrics. Everything else goes to the router,
//! so an app route keeps its priority over a module mount on the same path.

use std::sync::Arc;

use axum::extract::Request;
use http::Method;

use crate::{
    handlers::{account, full_answer, module_resources, AnswerBody},
    metrics::{FallbackCounters, RouteCounters},
    state::AppState,
};

/// The path of the one fixed answer served here.
pub(super) const VERSIONS_PATH: &str = "/_matrix/client/versions";

/// What the front door knows: every app route's path, and the counters it counts into.
#[derive(Debug)]
pub(crate) struct FrontDoor {
    /// Every path the router has a route for, in the router's own syntax.
    app_paths: matchit::Router<()>,
    /// `Some` when metrics are on.
    counters: Option<Counters>,
}

#[derive(Debug)]
struct Counters {
    versions: Arc<RouteCounters>,
    fallback: FallbackCounters,
}

/// What the front door answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Front {
    /// `GET /_matrix/client/versions`.
    Versions,
    /// A module's web resource (or the 404 of a path no module mounted).
    Module,
}

impl FrontDoor {
    /// A front door for a router whose routes are `app_paths`.
    pub(super) fn new(app_paths: matchit::Router<()>, state: &AppState) -> Self {
        let counters = state.settings.enable_metrics.then(|| {
            let metrics = state.metrics.requests();
            Counters { versions: metrics.register(VERSIONS_PATH), fallback: FallbackCounters::new(metrics) }
        });
        Self { app_paths, counters }
    }

    /// Whether the request is answered here, and how; `None` sends it to the router.
    /// Every path outside `/_matrix/` that no app route takes is the module resources'
    /// (a module's, or their 404, exactly as the router's fallback would answer it), so
    /// the module routes are looked up once, when the request is served.
    pub(crate) fn route(&self, request: &Request) -> Option<Front> {
        let path = request.uri().path();
        if path == VERSIONS_PATH {
            return (request.method() == Method::GET).then_some(Front::Versions);
        }
        if path.starts_with("/_matrix/") || self.app_paths.at(path).is_ok() {
            return None;
        }
        Some(Front::Module)
    }

    /// Answers a request [`route`](Self::route) took, and counts it.
    pub(crate) async fn serve(&self, front: Front, request: Request, state: &AppState) -> http::Response<AnswerBody> {
        // What the answer is counted into, taken before the request is consumed (nothing
        // when metrics are off).
        let counted = self.counters.as_ref().map(|counters| {
            let route = match front {
                Front::Versions => &counters.versions,
                Front::Module => counters.fallback.for_path(request.uri().path()),
            };
            (route, request.method().clone())
        });
        let response = match front {
            Front::Versions => full_answer(account::versions_answer()),
            Front::Module => module_resources(state, request).await,
        };
        if let Some((route, method)) = counted {
            route.count_answer(&method, response.status());
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A front door for a router with these routes, metrics off.
    fn front_door(paths: &[&str]) -> FrontDoor {
        let mut app_paths = matchit::Router::new();
        for path in paths {
            app_paths.insert(*path, ()).unwrap();
        }
        FrontDoor { app_paths, counters: None }
    }

    fn route(front: &FrontDoor, method: Method, path: &str) -> Option<Front> {
        let request = Request::builder().method(method).uri(path).body(axum::body::Body::empty()).unwrap();
        front.route(&request)
    }

    #[test]
    fn app_routes_keep_their_priority_and_everything_else_outside_matrix_is_the_modules() {
        let front = front_door(&[VERSIONS_PATH, "/_synapse/admin/v2/users/{user_id}", "/_synapse/metrics"]);
        assert_eq!(route(&front, Method::GET, VERSIONS_PATH), Some(Front::Versions));
        // Every other method of `/versions` is the router's (its HEAD and its 405).
        assert_eq!(route(&front, Method::HEAD, VERSIONS_PATH), None);
        assert_eq!(route(&front, Method::POST, VERSIONS_PATH), None);
        // An app route wins over any module mount on its path.
        assert_eq!(route(&front, Method::GET, "/_synapse/admin/v2/users/@a:x"), None);
        assert_eq!(route(&front, Method::GET, "/_synapse/metrics"), None);
        // `/_matrix/` is never a module's: the router answers it (404 M_UNRECOGNIZED).
        assert_eq!(route(&front, Method::GET, "/_matrix/client/v3/nonexistent"), None);
        assert_eq!(route(&front, Method::GET, "/_synapse/client/demo/hello?name=x"), Some(Front::Module));
        assert_eq!(route(&front, Method::PUT, "/_synapse/admin/v2/other"), Some(Front::Module));
        assert_eq!(route(&front, Method::GET, "/custom"), Some(Front::Module));
    }
}
