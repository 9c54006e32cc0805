//! Web resources: module handlers mounted under paths such as `/_synapse/client/...`.
//!
//! A path is mounted by `#[web_resource("/path")]` on a method or by
//! [`ModuleApi::register_web_resource`](crate::ModuleApi::register_web_resource) during
//! construction. A mount serves its path and everything below it; the longest mount
//! wins. When two modules mount the same path, the first in YAML order serves it and the
//! other is reported as shadowed.

mod auth;
mod methods;

pub use self::{
    auth::{access_token, bearer_token, require_bearer_secret, secret_matches},
    methods::{head_of, method_not_allowed, MethodTable, Selected},
};

use std::{fmt, future::Future, panic::AssertUnwindSafe, pin::Pin, sync::Arc};

use bytes::Bytes;
use http::{header, Method, StatusCode};
use serde::Serialize;

use crate::{
    callbacks::hook::{CallbackFuture, ModuleObject},
    error::{CallbackError, MatrixError, WebError},
};

/// A request as a web resource sees it: the whole body, already read.
pub type WebRequest = http::Request<Bytes>;
/// What a web resource answers.
pub type WebResponse = http::Response<Bytes>;

/// The shim `#[web_resource]` generates for a method.
pub type WebShim = for<'a> fn(&'a ModuleObject, WebRequest) -> CallbackFuture<'a, Result<WebResponse, CallbackError>>;

/// A handler registered at run time through `register_web_resource`.
pub type DynHandler =
    Arc<dyn Fn(WebRequest) -> Pin<Box<dyn Future<Output = Result<WebResponse, CallbackError>> + Send>> + Send + Sync>;

/// One `#[web_resource]` method, as the macro records it in the link-time slice.
#[derive(Debug)]
pub struct WebResourceDescriptor {
    /// The module's name.
    pub module: &'static str,
    /// The mount path.
    pub path: &'static str,
    /// The HTTP method it serves (`method = "GET"`); `None` serves every method.
    pub http_method: Option<&'static str>,
    /// The method.
    pub method: &'static str,
    /// Source file.
    pub file: &'static str,
    /// Source line.
    pub line: u32,
    /// The shim.
    pub handler: WebShim,
}

impl WebResourceDescriptor {
    /// `file:line` of the method.
    pub fn location(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }
}

/// A valid mount path: absolute, no empty segment, no trailing `/`, nothing under
/// `/_matrix/`, no query or fragment.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ResourcePath(String);

impl ResourcePath {
    /// Checks a path; the same rules the macro applies to literals at compile time.
    pub fn parse(path: &str) -> Result<Self, WebError> {
        match mxmod_common::web_path::problem(path) {
            Some(reason) => Err(WebError::InvalidPath { path: path.to_owned(), reason }),
            None => Ok(Self(path.to_owned())),
        }
    }

    /// The path.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this mount serves `request_path` (itself or a path below it).
    pub fn serves(&self, request_path: &str) -> bool {
        request_path == self.0
            || (request_path.starts_with(&self.0) && request_path.as_bytes().get(self.0.len()) == Some(&b'/'))
            || self.0 == "/"
    }
}

/// The HTTP method a web resource names, checked with the rules the macro applies to
/// `method = "..."` at compile time.
pub fn parse_method(method: &str) -> Result<Method, WebError> {
    match mxmod_common::web_path::method_problem(method) {
        Some(reason) => Err(WebError::InvalidMethod { method: method.to_owned(), reason }),
        None => Method::from_bytes(method.as_bytes())
            .map_err(|_| WebError::InvalidMethod { method: method.to_owned(), reason: "not an HTTP method" }),
    }
}

impl fmt::Display for ResourcePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a mounted path is served.
#[derive(Clone)]
pub enum Handler {
    /// A `#[web_resource]` method on a module instance.
    Method {
        /// The instance.
        object: Arc<ModuleObject>,
        /// The generated shim.
        shim: WebShim,
    },
    /// A handler from `register_web_resource`.
    Dynamic(DynHandler),
}

/// One mounted path.
#[derive(Clone)]
pub struct Route {
    /// The mount path.
    pub path: ResourcePath,
    /// The module instance that mounted it.
    pub module: Arc<str>,
    /// What serves it, per HTTP method.
    pub methods: MethodTable,
}

/// A mount that lost to an earlier module on the same path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shadowed {
    /// The path.
    pub path: String,
    /// The module that serves it.
    pub winner: Arc<str>,
    /// The module that is not reached.
    pub loser: Arc<str>,
}

/// The mounted paths of all module instances.
#[derive(Clone, Default)]
pub struct WebRoutes {
    routes: Vec<Route>,
    shadowed: Vec<Shadowed>,
    /// The mounts as a radix tree: a request path resolves to its route in one walk,
    /// with no scan of the table. See [`WebRoutes::index`] for how mounts are entered.
    tree: matchit::Router<usize>,
}

impl WebRoutes {
    /// Mounts a route unless its path is taken by another module (then it is recorded as
    /// shadowed). The same module's handlers for other methods of a path join its table.
    pub(crate) fn mount(&mut self, route: Route) {
        if let Some(own) = self.routes.iter_mut().find(|r| r.path == route.path && r.module == route.module) {
            for method in own.methods.merge(route.methods) {
                let method = method.as_ref().map_or("every method", Method::as_str);
                tracing::warn!(
                    path = route.path.as_str(),
                    "module `{}` serves {method} of web resource `{}` twice; the first handler is kept",
                    route.module,
                    route.path
                );
            }
            return;
        }
        if let Some(winner) = self.routes.iter().find(|r| r.path == route.path) {
            tracing::warn!(
                path = route.path.as_str(),
                "web resource `{}` of module `{}` is shadowed by module `{}`, listed earlier in `modules:`",
                route.path,
                route.module,
                winner.module
            );
            self.shadowed.push(Shadowed {
                path: route.path.to_string(),
                winner: winner.module.clone(),
                loser: route.module,
            });
            return;
        }
        Self::index(&mut self.tree, &route.path, self.routes.len());
        self.routes.push(route);
    }

    /// Enters one mount in the tree: the path itself, the path with a trailing `/`, and
    /// everything below it (a catch-all, which matches one character or more). A static
    /// segment takes priority over a catch-all, so the longest mount covering a request
    /// path wins, as [`ResourcePath::serves`] defines it; a mount already taken never
    /// gets here (it is shadowed), so an insert cannot conflict.
    fn index(tree: &mut matchit::Router<usize>, path: &ResourcePath, route: usize) {
        // `{` and `}` are matchit's parameter syntax; a literal one is doubled.
        let literal = path.as_str().replace('{', "{{").replace('}', "}}");
        let base = if literal == "/" { "" } else { literal.as_str() };
        let entries = [literal.clone(), format!("{base}/"), format!("{base}/{{*below}}")];
        for entry in entries.iter().skip(usize::from(base.is_empty())) {
            if let Err(error) = tree.insert(entry.as_str(), route) {
                // Unreachable for valid, unshadowed mounts; logged rather than trusted.
                tracing::error!("web resource `{path}` could not be routed: {error}");
            }
        }
    }

    /// The route serving `request_path`: the longest mount that covers it.
    pub fn find(&self, request_path: &str) -> Option<&Route> {
        let route = *self.tree.at(request_path).ok()?.value;
        self.routes.get(route)
    }

    /// Every mounted route, in YAML order of their modules.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// Mounts that lost to an earlier module.
    pub fn shadowed(&self) -> &[Shadowed] {
        &self.shadowed
    }

    /// Serves a request if a module mounted its path: `None` if none did. A failing or
    /// panicking handler answers its [`MatrixError`], or 500 `M_UNKNOWN`.
    ///
    /// The handler is started here, so the request moves once, into it; the returned
    /// future holds only the handler's future and what its answer needs.
    pub fn handle(&self, request: WebRequest) -> Handling<'_> {
        let Some(route) = self.find(request.uri().path()) else { return Handling::answered(None) };
        let (handler, head) = match route.methods.select(request.method()) {
            Selected::Handler { handler, head } => (handler, head),
            Selected::NotAllowed(allow) => return Handling::answered(Some(method_not_allowed(allow))),
        };
        let future = match handler {
            Handler::Method { object, shim } => shim(&**object, request),
            // A boxed future fits the inline buffer: no second allocation.
            Handler::Dynamic(handler) => CallbackFuture::from_or_box(handler(request)),
        };
        Handling { state: HandlingState::Running { future, route, head } }
    }
}

pin_project_lite::pin_project! {
    /// A web resource's answer as it completes: what [`WebRoutes::handle`] returns.
    #[must_use = "a web resource does nothing unless awaited"]
    pub struct Handling<'a> {
        #[pin]
        state: HandlingState<'a>,
    }
}

pin_project_lite::pin_project! {
    #[project = HandlingProj]
    enum HandlingState<'a> {
        // Answered without a handler (`None`: no module mounted the path), or answered
        // already (then `None` again).
        Answered { answer: Option<WebResponse> },
        // The handler's future, and what its answer needs.
        Running {
            #[pin]
            future: CallbackFuture<'a, Result<WebResponse, CallbackError>>,
            route: &'a Route,
            head: bool,
        },
    }
}

impl Handling<'_> {
    /// An answer known without calling a handler (`None`: no module mounted the path).
    fn answered(answer: Option<WebResponse>) -> Self {
        Self { state: HandlingState::Answered { answer } }
    }
}

impl Future for Handling<'_> {
    type Output = Option<WebResponse>;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<WebResponse>> {
        use std::task::Poll;
        let mut state = self.project().state;
        let (outcome, route, head) = match state.as_mut().project() {
            HandlingProj::Answered { answer } => return Poll::Ready(answer.take()),
            HandlingProj::Running { future, route, head } => {
                match std::panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
                    Ok(Poll::Pending) => return Poll::Pending,
                    Ok(Poll::Ready(outcome)) => (Some(outcome), *route, *head),
                    Err(_) => (None, *route, *head),
                }
            }
        };
        // The handler's future is dropped in place, as soon as it has answered.
        state.set(HandlingState::Answered { answer: None });
        Poll::Ready(Some(match outcome {
            Some(Ok(response)) if head => head_of(response),
            Some(Ok(response)) => response,
            Some(Err(CallbackError::Matrix(error))) => error_response(&error),
            Some(Err(other)) => {
                tracing::error!(module = &*route.module, "web resource `{}` failed: {other}", route.path);
                error_response(&MatrixError::internal())
            }
            None => {
                tracing::error!(module = &*route.module, "web resource `{}` panicked", route.path);
                error_response(&MatrixError::internal())
            }
        }))
    }
}

/// A JSON response with the given status.
pub fn json(status: u16, body: &impl Serialize) -> WebResponse {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = WebResponse::new(Bytes::from(bytes));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    response
}

/// A Matrix error response: `{"errcode": ..., "error": ..., extra fields}`.
pub fn error_response(error: &MatrixError) -> WebResponse {
    json(error.status, &error.to_json())
}

/// The first value of a query parameter, percent-decoded.
pub fn query_param(request: &WebRequest, name: &str) -> Option<String> {
    let query = request.uri().query()?;
    form_urlencoded::parse(query.as_bytes()).find(|(key, _)| key == name).map(|(_, value)| value.into_owned())
}

/// The body as `T`, as Synapse reads a JSON request: 400 `M_NOT_JSON` if it is not JSON,
/// 400 `M_BAD_JSON` if it is JSON of the wrong shape.
pub fn json_body<T: serde::de::DeserializeOwned>(request: &WebRequest) -> Result<T, MatrixError> {
    let value: serde_json::Value = serde_json::from_slice(request.body())
        .map_err(|_| MatrixError::new(400, crate::ErrCode::NOT_JSON, "Content not JSON."))?;
    serde_json::from_value(value).map_err(|error| MatrixError::new(400, crate::ErrCode::BAD_JSON, error.to_string()))
}

/// An HTML page with the given status (`text/html; charset=utf-8`).
pub fn html(status: u16, body: impl Into<String>) -> WebResponse {
    let mut response = WebResponse::new(Bytes::from(body.into()));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/html; charset=utf-8"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_validated() {
        assert!(ResourcePath::parse("/_synapse/client/demo/hello").is_ok());
        for bad in ["relative", "/_matrix/client/v3/x", "/_matrix", "/a/", "/a//b", "/a?b=1", "/a b"] {
            assert!(ResourcePath::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn a_mount_serves_itself_and_below_but_not_siblings() {
        let path = ResourcePath::parse("/_synapse/client/demo").unwrap();
        assert!(path.serves("/_synapse/client/demo"));
        assert!(path.serves("/_synapse/client/demo/hello"));
        assert!(!path.serves("/_synapse/client/demonic"));
    }

    fn mounted(paths: &[(&str, &str)]) -> WebRoutes {
        let mut routes = WebRoutes::default();
        for (module, path) in paths {
            let handler: DynHandler = Arc::new(|_| Box::pin(async { Ok(WebResponse::new(Bytes::new())) }));
            routes.mount(Route {
                path: ResourcePath::parse(path).unwrap(),
                module: Arc::from(*module),
                methods: MethodTable::new(None, Handler::Dynamic(handler)),
            });
        }
        routes
    }

    /// What the tree answers is what the rule says: of the mounts that serve the path,
    /// the longest; the first module in YAML order keeps a path.
    #[test]
    fn the_tree_finds_the_longest_mount_and_the_first_module_keeps_a_path() {
        let routes = mounted(&[
            ("a", "/_synapse/client/x"),
            ("b", "/_synapse/client/x/deeper"),
            ("c", "/_synapse/client/x"),
            ("d", "/_synapse/client/xy"),
            ("e", "/_synapse/{odd}"),
            ("f", "/_synapse"),
        ]);
        let by_rule =
            |path: &str| routes.routes().iter().filter(|r| r.path.serves(path)).max_by_key(|r| r.path.as_str().len());
        for path in [
            "/_synapse/client/x",
            "/_synapse/client/x/",
            "/_synapse/client/x/hello",
            "/_synapse/client/x//hello",
            "/_synapse/client/x/deeper",
            "/_synapse/client/x/deeper/still",
            "/_synapse/client/x/deeperer",
            "/_synapse/client/xy",
            "/_synapse/client/xyz",
            "/_synapse/client/y",
            "/_synapse/client",
            "/_synapse/{odd}",
            "/_synapse/{odd}/below",
            "/_synapse/odd",
            "/_synapse",
            "/_synapsex",
            "/other",
            "/",
        ] {
            let found = routes.find(path).map(|r| (&*r.module, r.path.as_str()));
            let expected = by_rule(path).map(|r| (&*r.module, r.path.as_str()));
            assert_eq!(found, expected, "{path}");
        }
        assert_eq!(routes.find("/_synapse/client/x/hello").map(|r| &*r.module), Some("a"));
        assert_eq!(routes.find("/_synapse/client/x/deeper/z").map(|r| &*r.module), Some("b"));
        assert_eq!(routes.shadowed().len(), 1);
        assert_eq!(&*routes.shadowed()[0].loser, "c");
    }

    #[test]
    fn a_root_mount_serves_every_path_no_longer_mount_serves() {
        let routes = mounted(&[("root", "/"), ("demo", "/_synapse/client/demo")]);
        for (path, module) in [
            ("/", "root"),
            ("/anything/at/all", "root"),
            ("/_synapse/client/demonic", "root"),
            ("/_synapse/client/demo", "demo"),
            ("/_synapse/client/demo/hello", "demo"),
        ] {
            assert_eq!(routes.find(path).map(|r| &*r.module), Some(module), "{path}");
        }
    }

    #[test]
    fn json_bodies_are_not_json_or_bad_json() {
        #[derive(serde::Deserialize, Debug)]
        struct Body {
            #[allow(dead_code, reason = "only its presence is checked")]
            user_id: String,
        }
        let request = |body: &'static str| http::Request::post("/x").body(Bytes::from_static(body.as_bytes())).unwrap();
        assert_eq!(json_body::<Body>(&request("{")).unwrap_err().errcode, crate::ErrCode::NOT_JSON);
        assert_eq!(json_body::<Body>(&request("{\"user\": 1}")).unwrap_err().errcode, crate::ErrCode::BAD_JSON);
        assert!(json_body::<Body>(&request("{\"user_id\": \"@a:b\"}")).is_ok());
    }

    #[test]
    fn query_parameters_are_decoded() {
        let request = http::Request::get("/x?name=Bob%20B&other=1").body(Bytes::new()).unwrap();
        assert_eq!(query_param(&request, "name").as_deref(), Some("Bob B"));
        assert_eq!(query_param(&request, "missing"), None);
    }
}
