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
        let calls: Vec<(String, _)> = modules
            .callbacks()
            .stats()
            .into_iter()
            .map(|(category, callback, module, stats)| {
                (format!("module=\"{module}\",category=\"{category}\",callback=\"{callback}\""), stats)
            })
            .collect();
        counter(
            &mut out,
            "mxmod_module_callback_calls_total",
            "Calls of a module callback.",
            calls.iter().map(|(l, s)| (l, s.calls())),
        );
        counter(
            &mut out,
            "mxmod_module_callback_errors_total",
            "Failed calls (errors, panics, timeouts).",
            calls.iter().map(|(l, s)| (l, s.errors())),
        );
        let _ = writeln!(out, "# HELP mxmod_module_callback_seconds Callback latency.");
        let _ = writeln!(out, "# TYPE mxmod_module_callback_seconds histogram");
        for (labels, stats) in &calls {
            let buckets = stats.latency_buckets();
            let mut cumulative = 0;
            for (bound, count) in LATENCY_BUCKETS_US.iter().zip(&buckets) {
                cumulative += count;
                let le = *bound as f64 / 1e6;
                let _ = writeln!(out, "mxmod_module_callback_seconds_bucket{{{labels},le=\"{le}\"}} {cumulative}");
            }
            cumulative += buckets.last().copied().unwrap_or(0);
            let _ = writeln!(out, "mxmod_module_callback_seconds_bucket{{{labels},le=\"+Inf\"}} {cumulative}");
            let sum = stats.latency_sum_us() as f64 / 1e6;
            let _ = writeln!(out, "mxmod_module_callback_seconds_sum{{{labels}}} {sum}");
            let _ = writeln!(out, "mxmod_module_callback_seconds_count{{{labels}}} {cumulative}");
        }
        let caches: Vec<(String, _)> = modules
            .cache_stats()
            .into_iter()
            .map(|(module, method, stats)| (format!("module=\"{module}\",cache=\"{method}\""), stats))
            .collect();
        counter(
            &mut out,
            "mxmod_module_cache_hits_total",
            "Hits of a #[cached] method's cache.",
            caches.iter().map(|(l, s)| (l, s.hits)),
        );
        counter(
            &mut out,
            "mxmod_module_cache_misses_total",
            "Misses of a #[cached] method's cache.",
            caches.iter().map(|(l, s)| (l, s.misses)),
        );
        counter(
            &mut out,
            "mxmod_module_cache_evictions_total",
            "Entries a #[cached] method's cache dropped to stay within its size.",
            caches.iter().map(|(l, s)| (l, s.evictions)),
        );
        let requests: Vec<(String, u64)> = self
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|((method, route, status), count)| {
                (format!("method=\"{method}\",route=\"{route}\",status=\"{status}\""), *count)
            })
            .collect();
        counter(
            &mut out,
            "mxmod_http_requests_total",
            "Requests by route and status.",
            requests.iter().map(|(l, c)| (l, *c)),
        );
        let stored = [(String::new(), self.events.load(Ordering::Relaxed))];
        counter(&mut out, "mxmod_events_stored_total", "Events stored.", stored.iter().map(|(l, c)| (l, *c)));
        out
    }
}

/// One counter family: its help and type lines, then a sample per label set.
fn counter<'a>(out: &mut String, name: &str, help: &str, samples: impl Iterator<Item = (&'a String, u64)>) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} counter");
    for (labels, value) in samples {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {value}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    }
}
