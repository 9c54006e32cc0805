//! Prometheus metrics at `/_synapse/metrics`: module callback calls, errors and latency
//! histograms per (module, callback); cache hits, misses and evictions; requests by
//! route and status.

use std::{
    collections::BTreeMap,
    fmt::Write,
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
};

use mxmod::{callbacks::hook::LATENCY_BUCKETS_US, registry::Registry};

/// Counters kept by the server itself.
#[derive(Default)]
pub(crate) struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    events: AtomicU64,
}

impl Metrics {
    pub(crate) fn request(&self, method: &str, route: &str, status: u16) {
        let mut requests = self.requests.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *requests.entry((method.to_owned(), route.to_owned(), status)).or_default() += 1;
    }

    pub(crate) fn event_stored(&self) {
        self.events.fetch_add(1, Ordering::Relaxed);
    }

    /// The exposition text.
    pub(crate) fn render(&self, modules: &Registry) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# HELP mxmod_module_callback_calls_total Calls of a module callback.");
        let _ = writeln!(out, "# TYPE mxmod_module_callback_calls_total counter");
        let stats = modules.callbacks().stats();
        for (category, callback, module, stats) in &stats {
            let _ = writeln!(
                out,
                "mxmod_module_callback_calls_total{{module=\"{module}\",category=\"{category}\",callback=\"{callback}\"}} {}",
                stats.calls()
            );
        }
        let _ = writeln!(out, "# HELP mxmod_module_callback_errors_total Failed calls (errors, panics, timeouts).");
        let _ = writeln!(out, "# TYPE mxmod_module_callback_errors_total counter");
        for (category, callback, module, stats) in &stats {
            let _ = writeln!(
                out,
                "mxmod_module_callback_errors_total{{module=\"{module}\",category=\"{category}\",callback=\"{callback}\"}} {}",
                stats.errors()
            );
        }
        let _ = writeln!(out, "# HELP mxmod_module_callback_seconds Callback latency.");
        let _ = writeln!(out, "# TYPE mxmod_module_callback_seconds histogram");
        for (category, callback, module, stats) in &stats {
            let labels = format!("module=\"{module}\",category=\"{category}\",callback=\"{callback}\"");
            let mut cumulative = 0;
            let buckets = stats.latency_buckets();
            for (bound, count) in LATENCY_BUCKETS_US.iter().zip(&buckets) {
                cumulative += count;
                let _ = writeln!(
                    out,
                    "mxmod_module_callback_seconds_bucket{{{labels},le=\"{}\"}} {cumulative}",
                    *bound as f64 / 1e6
                );
            }
            cumulative += buckets.last().copied().unwrap_or(0);
            let _ = writeln!(out, "mxmod_module_callback_seconds_bucket{{{labels},le=\"+Inf\"}} {cumulative}");
            let _ =
                writeln!(out, "mxmod_module_callback_seconds_sum{{{labels}}} {}", stats.latency_sum_us() as f64 / 1e6);
            let _ = writeln!(out, "mxmod_module_callback_seconds_count{{{labels}}} {cumulative}");
        }
        let _ = writeln!(out, "# HELP mxmod_module_cache_hits_total Hits of a #[cached] method's cache.");
        let _ = writeln!(out, "# TYPE mxmod_module_cache_hits_total counter");
        let caches = modules.cache_stats();
        for (module, method, stats) in &caches {
            let _ =
                writeln!(out, "mxmod_module_cache_hits_total{{module=\"{module}\",cache=\"{method}\"}} {}", stats.hits);
        }
        let _ = writeln!(out, "# TYPE mxmod_module_cache_misses_total counter");
        for (module, method, stats) in &caches {
            let _ = writeln!(
                out,
                "mxmod_module_cache_misses_total{{module=\"{module}\",cache=\"{method}\"}} {}",
                stats.misses
            );
        }
        let _ = writeln!(out, "# TYPE mxmod_module_cache_evictions_total counter");
        for (module, method, stats) in &caches {
            let _ = writeln!(
                out,
                "mxmod_module_cache_evictions_total{{module=\"{module}\",cache=\"{method}\"}} {}",
                stats.evictions
            );
        }
        let _ = writeln!(out, "# HELP mxmod_http_requests_total Requests by route and status.");
        let _ = writeln!(out, "# TYPE mxmod_http_requests_total counter");
        let requests = self.requests.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for ((method, route, status), count) in requests.iter() {
            let _ = writeln!(
                out,
                "mxmod_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {count}"
            );
        }
        let _ = writeln!(out, "# TYPE mxmod_events_stored_total counter");
        let _ = writeln!(out, "mxmod_events_stored_total {}", self.events.load(Ordering::Relaxed));
        out
    }
}
