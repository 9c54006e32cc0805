//! Which handler serves which HTTP method on one mounted path: a handler per method
//! (`#[web_resource("/p", method = "GET")]`), or one for every method. A method with no
//! handler is 405 with `Allow`; `HEAD` is served by the `GET` handler, without the body.

use http::{header, HeaderValue, Method, StatusCode};

use crate::{
    error::{ErrCode, MatrixError},
    web::{error_response, Handler, WebResponse},
};

/// The handlers of one mounted path, by HTTP method.
#[derive(Clone, Default)]
pub struct MethodTable {
    /// Serves every method no entry of `by_method` names.
    any: Option<Handler>,
    /// One handler per method, in registration order.
    by_method: Vec<(Method, Handler)>,
}

/// What serves a request's method.
pub enum Selected<'a> {
    /// This handler; `head` says the request is `HEAD` served by the `GET` handler, so the
    /// body must be dropped.
    Handler {
        /// The handler.
        handler: &'a Handler,
        /// Answer without the body.
        head: bool,
    },
    /// No handler: 405 with this `Allow` value.
    NotAllowed(HeaderValue),
}

impl MethodTable {
    /// A table where `method` (`None`: every method) is served by `handler`.
    pub fn new(method: Option<Method>, handler: Handler) -> Self {
        let mut table = Self::default();
        table.insert(method, handler);
        table
    }

    /// Adds a handler; `false` (and nothing changes) if that method is already served.
    pub fn insert(&mut self, method: Option<Method>, handler: Handler) -> bool {
        match method {
            None if self.any.is_some() => false,
            None => {
                self.any = Some(handler);
                true
            }
            Some(method) if self.by_method.iter().any(|(m, _)| *m == method) => false,
            Some(method) => {
                self.by_method.push((method, handler));
                true
            }
        }
    }

    /// Adds every handler of `other` whose method is free; returns the methods that were
    /// taken (`None` for the every-method handler).
    pub fn merge(&mut self, other: MethodTable) -> Vec<Option<Method>> {
        let mut taken = Vec::new();
        if let Some(any) = other.any {
            if !self.insert(None, any) {
                taken.push(None);
            }
        }
        for (method, handler) in other.by_method {
            if !self.insert(Some(method.clone()), handler) {
                taken.push(Some(method));
            }
        }
        taken
    }

    /// The handler for a request's method.
    pub fn select(&self, method: &Method) -> Selected<'_> {
        let exact = |wanted: &Method| self.by_method.iter().find(|(m, _)| m == wanted).map(|(_, h)| h);
        if let Some(handler) = exact(method) {
            return Selected::Handler { handler, head: false };
        }
        if let Some(handler) = &self.any {
            return Selected::Handler { handler, head: false };
        }
        if *method == Method::HEAD {
            if let Some(handler) = exact(&Method::GET) {
                return Selected::Handler { handler, head: true };
            }
        }
        Selected::NotAllowed(self.allow())
    }

    /// The methods served, for `Allow`: `HEAD` follows `GET`.
    pub fn allow(&self) -> HeaderValue {
        let mut methods: Vec<&str> = self.by_method.iter().map(|(m, _)| m.as_str()).collect();
        if methods.contains(&"GET") && !methods.contains(&"HEAD") {
            methods.push("HEAD");
        }
        methods.sort_unstable();
        HeaderValue::from_str(&methods.join(", ")).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

/// Synapse's answer to a method a path does not serve: 405 `M_UNRECOGNIZED`
/// "Unrecognized request", with `Allow`.
pub fn method_not_allowed(allow: HeaderValue) -> WebResponse {
    let mut response = error_response(&MatrixError::new(405, ErrCode::UNRECOGNIZED, "Unrecognized request"));
    response.headers_mut().insert(header::ALLOW, allow);
    response
}

/// A `GET` answer turned into the `HEAD` answer: same status and headers, no body, and
/// `Content-Length` of the body `GET` would send.
pub fn head_of(response: WebResponse) -> WebResponse {
    let (mut parts, body) = response.into_parts();
    if parts.status != StatusCode::NO_CONTENT && !parts.headers.contains_key(header::CONTENT_LENGTH) {
        parts.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    }
    WebResponse::from_parts(parts, bytes::Bytes::new())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn handler() -> Handler {
        Handler::Dynamic(Arc::new(|_| Box::pin(async { Ok(WebResponse::new(bytes::Bytes::from_static(b"x"))) })))
    }

    fn served(table: &MethodTable, method: Method) -> Option<bool> {
        match table.select(&method) {
            Selected::Handler { head, .. } => Some(head),
            Selected::NotAllowed(_) => None,
        }
    }

    #[test]
    fn methods_without_a_handler_are_not_allowed_and_head_follows_get() {
        let mut table = MethodTable::new(Some(Method::GET), handler());
        assert!(table.insert(Some(Method::POST), handler()));
        assert!(!table.insert(Some(Method::POST), handler()), "a method is served once");
        assert_eq!(served(&table, Method::GET), Some(false));
        assert_eq!(served(&table, Method::HEAD), Some(true));
        assert_eq!(served(&table, Method::PUT), None);
        assert_eq!(table.allow(), "GET, HEAD, POST");
    }

    #[test]
    fn a_handler_for_every_method_serves_what_no_other_does() {
        let mut table = MethodTable::new(None, handler());
        assert_eq!(table.merge(MethodTable::new(Some(Method::DELETE), handler())), vec![]);
        assert_eq!(table.merge(MethodTable::new(None, handler())), vec![None]);
        assert_eq!(served(&table, Method::PATCH), Some(false));
        assert_eq!(served(&table, Method::HEAD), Some(false));
    }

    #[test]
    fn a_head_answer_has_no_body_but_the_length() {
        let response = head_of(crate::web::json(200, &serde_json::json!({"a": 1})));
        assert!(response.body().is_empty());
        assert_eq!(response.headers()[header::CONTENT_LENGTH], "7");
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let refused = method_not_allowed(HeaderValue::from_static("GET, HEAD"));
        assert_eq!(refused.status(), 405);
        assert_eq!(refused.headers()[header::ALLOW], "GET, HEAD");
    }
}
