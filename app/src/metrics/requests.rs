//! `mxmod_http_requests_total{method, route, status}` without a lock or an allocation per
//! request.
//!
//! Every route's counters are registered once, when the router is built, and the route's
//! [`CountLayer`] holds them: a request finds its counters by the route that serves it,
//! not by its label text. Within a route, the (method, status) pairs seen are kept in a
//! small open-addressed table whose slots are claimed with one compare-and-swap the first
//! time a pair occurs; after that a request costs one atomic add. `prometheus-client`'s
//! `Family` would hash the label set and take its read lock on every request, which is
//! what this avoids.

use std::{
    future::Future,
    pin::Pin,
    sync::{
        atomic::{AtomicU32, AtomicU64, Ordering},
        Arc, Mutex,
    },
    task::{Context, Poll},
};

use axum::{extract::Request, response::Response};
use http::{Method, StatusCode};
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeLabel, EncodeLabelSet, EncodeLabelValue, LabelSetEncoder, LabelValueEncoder},
};
use tower_layer::Layer;
use tower_service::Service;

use super::modules::counters;

/// The method labels; any other method is counted as `other`, so a client cannot grow
/// the exposition with made-up methods.
const METHODS: [&str; 10] = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE", "other"];
/// Distinct (method, status) pairs one route can count; more are counted as `other`.
const SLOTS: usize = 32;
/// The route label of a request no route matched that falls to module web resources.
pub(crate) const MODULE_ROUTE: &str = "module";
/// The route label of a request nothing matched.
pub(crate) const UNMATCHED_ROUTE: &str = "unmatched";

fn method_index(method: &Method) -> u32 {
    match *method {
        Method::GET => 0,
        Method::HEAD => 1,
        Method::POST => 2,
        Method::PUT => 3,
        Method::DELETE => 4,
        Method::OPTIONS => 5,
        Method::PATCH => 6,
        Method::CONNECT => 7,
        Method::TRACE => 8,
        _ => 9,
    }
}

/// One (method, status) counter: `key` is `method << 16 | status`, 0 while free.
#[derive(Debug, Default)]
struct Slot {
    key: AtomicU32,
    count: AtomicU64,
}

/// The request counters of one route.
#[derive(Debug)]
pub(crate) struct RouteCounters {
    route: Box<str>,
    slots: [Slot; SLOTS],
    /// Requests whose (method, status) found no free slot.
    overflow: AtomicU64,
}

impl RouteCounters {
    fn new(route: &str) -> Self {
        Self { route: route.into(), slots: Default::default(), overflow: AtomicU64::new(0) }
    }

    /// Counts one answered request of `method`.
    pub(crate) fn count_answer(&self, method: &Method, status: StatusCode) {
        self.count(method_index(method), status);
    }

    /// Counts one answered request.
    pub(crate) fn count(&self, method: u32, status: StatusCode) {
        let key = (method << 16) | u32::from(status.as_u16());
        // Statuses cluster (200, 4xx), so start from a spread of the key.
        let start = (key as usize).wrapping_mul(0x9E37_79B9) >> 27;
        for probe in 0..SLOTS {
            let slot = &self.slots[(start + probe) % SLOTS];
            let mut held = slot.key.load(Ordering::Acquire);
            if held == 0 {
                held = match slot.key.compare_exchange(0, key, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => key,
                    Err(other) => other,
                };
            }
            if held == key {
                slot.count.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        self.overflow.fetch_add(1, Ordering::Relaxed);
    }

    /// Every (method, status, count) counted so far, the overflow as status `other`.
    fn samples(&self) -> impl Iterator<Item = (RequestLabels<'_>, u64)> {
        let counted = self.slots.iter().filter_map(move |slot| {
            let key = slot.key.load(Ordering::Acquire);
            (key != 0).then(|| {
                let method = METHODS.get((key >> 16) as usize).copied().unwrap_or("other");
                let status = Status::Code((key & 0xFFFF) as u16);
                (RequestLabels { method, route: &self.route, status }, slot.count.load(Ordering::Relaxed))
            })
        });
        let overflow = self.overflow.load(Ordering::Relaxed);
        let overflow = (overflow > 0)
            .then_some((RequestLabels { method: "other", route: &self.route, status: Status::Other }, overflow));
        counted.chain(overflow)
    }
}

/// A status label: the code, or `other` for the overflow.
#[derive(Clone, Copy, Debug)]
enum Status {
    Code(u16),
    Other,
}

impl EncodeLabelValue for Status {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        match self {
            Self::Code(code) => EncodeLabelValue::encode(code, encoder),
            Self::Other => EncodeLabelValue::encode(&"other", encoder),
        }
    }
}

/// The labels of one request counter, as `/_synapse/metrics` has always named them.
#[derive(Clone, Copy, Debug)]
struct RequestLabels<'a> {
    method: &'static str,
    route: &'a str,
    status: Status,
}

impl EncodeLabelSet for RequestLabels<'_> {
    fn encode(&self, encoder: &mut LabelSetEncoder<'_>) -> Result<(), std::fmt::Error> {
        EncodeLabel::encode(&("method", self.method), encoder.encode_label())?;
        EncodeLabel::encode(&("route", self.route), encoder.encode_label())?;
        EncodeLabel::encode(&("status", self.status), encoder.encode_label())
    }
}

/// Every route's request counters.
#[derive(Debug, Default)]
pub(crate) struct RequestMetrics {
    /// Locked when the router is built and when `/_synapse/metrics` is read, never by a
    /// request being counted.
    routes: Mutex<Vec<Arc<RouteCounters>>>,
}

impl RequestMetrics {
    /// The counters of `route` (registered on first use; the same counters after).
    pub(crate) fn register(&self, route: &str) -> Arc<RouteCounters> {
        let mut routes = self.routes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(known) = routes.iter().find(|known| &*known.route == route) {
            return known.clone();
        }
        let counters = Arc::new(RouteCounters::new(route));
        routes.push(counters.clone());
        counters
    }

    /// What a scrape encodes: the routes registered now.
    pub(super) fn collector(&self) -> RequestCollector {
        RequestCollector(self.routes.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone())
    }
}

/// The request counters, as a scrape reads them.
#[derive(Debug)]
pub(super) struct RequestCollector(Vec<Arc<RouteCounters>>);

impl Collector for RequestCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let samples: Vec<(RequestLabels<'_>, u64)> = self.0.iter().flat_map(|route| route.samples()).collect();
        counters(
            &mut encoder,
            "mxmod_http_requests",
            "Requests by route and status.",
            samples.iter().map(|(labels, count)| (labels, *count)),
        )
    }
}

/// The counters of requests no app route matched: [`MODULE_ROUTE`] under
/// `/_synapse/client/`, else [`UNMATCHED_ROUTE`]. The router's fallback counts into them,
/// and so does the front door (`handlers/front.rs`) for the module resources it serves.
#[derive(Clone, Debug)]
pub(crate) struct FallbackCounters {
    module: Arc<RouteCounters>,
    unmatched: Arc<RouteCounters>,
}

impl FallbackCounters {
    /// The fallback's counters (the same ones on every call).
    pub(crate) fn new(metrics: &RequestMetrics) -> Self {
        Self { module: metrics.register(MODULE_ROUTE), unmatched: metrics.register(UNMATCHED_ROUTE) }
    }

    /// The counters a request for `path` counts into.
    pub(crate) fn for_path(&self, path: &str) -> &Arc<RouteCounters> {
        if path.starts_with("/_synapse/client/") {
            &self.module
        } else {
            &self.unmatched
        }
    }
}

/// Which counters a [`CountLayer`] counts into.
#[derive(Clone, Debug)]
enum Target {
    /// A route's own.
    Route(Arc<RouteCounters>),
    /// The fallback's.
    Fallback(FallbackCounters),
}

/// Counts each request its service answers, by method and status.
#[derive(Clone, Debug)]
pub(crate) struct CountLayer(Target);

impl CountLayer {
    /// Counts into `route`'s counters.
    pub(crate) fn route(metrics: &RequestMetrics, route: &str) -> Self {
        Self(Target::Route(metrics.register(route)))
    }

    /// Counts the router's fallback: module web resources and unmatched paths.
    pub(crate) fn fallback(metrics: &RequestMetrics) -> Self {
        Self(Target::Fallback(FallbackCounters::new(metrics)))
    }
}

impl<S> Layer<S> for CountLayer {
    type Service = Count<S>;

    fn layer(&self, inner: S) -> Count<S> {
        Count { inner, target: self.0.clone() }
    }
}

/// The service [`CountLayer`] makes.
#[derive(Clone, Debug)]
pub(crate) struct Count<S> {
    inner: S,
    target: Target,
}

impl<S> Service<Request> for Count<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = CountFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let counters = match &self.target {
            Target::Route(counters) => counters.clone(),
            Target::Fallback(fallback) => fallback.for_path(request.uri().path()).clone(),
        };
        let method = method_index(request.method());
        CountFuture { inner: self.inner.call(request), counters, method }
    }
}

pin_project_lite::pin_project! {
    /// Counts the response when the inner future yields it.
    pub(crate) struct CountFuture<F> {
        #[pin]
        inner: F,
        counters: Arc<RouteCounters>,
        method: u32,
    }
}

impl<F, E> Future for CountFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let output = std::task::ready!(this.inner.poll(cx));
        if let Ok(response) = &output {
            this.counters.count(*this.method, response.status());
        }
        Poll::Ready(output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_counted_apart_and_overflow_is_other() {
        let counters = RouteCounters::new("/x");
        counters.count(method_index(&Method::GET), StatusCode::OK);
        counters.count(method_index(&Method::GET), StatusCode::OK);
        counters.count(method_index(&Method::PUT), StatusCode::OK);
        counters.count(method_index(&Method::from_bytes(b"BREW").unwrap()), StatusCode::METHOD_NOT_ALLOWED);
        let mut seen: Vec<(&str, String, u64)> = counters
            .samples()
            .map(|(labels, count)| {
                let status = match labels.status {
                    Status::Code(code) => code.to_string(),
                    Status::Other => "other".to_owned(),
                };
                (labels.method, status, count)
            })
            .collect();
        seen.sort();
        assert_eq!(seen, [("GET", "200".to_owned(), 2), ("PUT", "200".to_owned(), 1), ("other", "405".to_owned(), 1)]);

        let crowded = RouteCounters::new("/y");
        for status in 200..(200 + SLOTS as u16 + 3) {
            crowded.count(0, StatusCode::from_u16(status).unwrap());
        }
        let overflow: u64 = crowded.samples().filter(|(l, _)| matches!(l.status, Status::Other)).map(|(_, c)| c).sum();
        assert_eq!(overflow, 3, "every pair past the slots lands in `other`");
        assert_eq!(crowded.samples().count(), SLOTS + 1);
    }

    #[test]
    fn a_route_registered_twice_shares_its_counters() {
        let metrics = RequestMetrics::default();
        let first = metrics.register("/a");
        let again = metrics.register("/a");
        assert!(Arc::ptr_eq(&first, &again));
        assert_eq!(metrics.collector().0.len(), 1);
    }
}
