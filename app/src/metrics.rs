//! Prometheus metrics at `/_synapse/metrics`, written by `prometheus-client` in the
//! Prometheus text format: module callback calls, errors and latency histograms per
//! (module, callback); cache hits, misses and evictions; requests by method, route and
//! status; events stored.
//!
//! Nothing here takes a lock or allocates per request: request counters are registered
//! per route when the router is built ([`requests`]), module statistics are atomics that
//! core keeps and a scrape reads ([`modules`]).

mod modules;
mod requests;

use mxmod::registry::Registry;
use prometheus_client::{encoding::prometheus_text, metrics::counter::Counter};

pub(crate) use self::requests::{CountLayer, FallbackCounters, RequestMetrics, RouteCounters};

/// The `Content-Type` of the exposition.
pub(crate) const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Counters kept by the server itself.
#[derive(Default)]
pub(crate) struct Metrics {
    requests: RequestMetrics,
    events: Counter,
}

impl Metrics {
    /// The per-route request counters.
    pub(crate) fn requests(&self) -> &RequestMetrics {
        &self.requests
    }

    /// Counts one stored event.
    pub(crate) fn event_stored(&self) {
        self.events.inc();
    }

    /// The exposition text: every family under the names `/_synapse/metrics` has always
    /// used, so dashboards keep working.
    pub(crate) fn render(&self, modules: &Registry, password_dummy_checks: u64) -> String {
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(modules::CallbackCollector::read(modules)));
        registry.register_collector(Box::new(modules::CacheCollector::read(modules)));
        registry.register_collector(Box::new(self.requests.collector()));
        registry.register("mxmod_events_stored", "Events stored.", self.events.clone());
        registry.register(
            "mxmod_password_dummy_checks",
            "Password checks run against the dummy hash (no such account).",
            prometheus_client::metrics::counter::ConstCounter::new(password_dummy_checks),
        );
        let mut out = String::new();
        if let Err(error) = prometheus_text::encode(&mut out, &registry) {
            tracing::error!("cannot encode the metrics: {error}");
        }
        out
    }
}
