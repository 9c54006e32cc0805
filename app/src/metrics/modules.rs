//! What core counts for modules, read at scrape time: callback calls, errors and latency
//! histograms per (module, category, callback), and `#[cached]` statistics per
//! (module, cache). The hot path only touches core's atomics.

use std::sync::Arc;

use mxmod::{
    cache::CacheStats,
    callbacks::{CallStats, LATENCY_BUCKETS_US},
    registry::Registry,
};
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric, NoLabelSet},
    metrics::{counter::ConstCounter, MetricType},
};

/// The labels of one (module, callback) pair.
#[derive(Clone, Debug, EncodeLabelSet, PartialEq, Eq, Hash)]
struct CallbackLabels {
    module: Arc<str>,
    category: &'static str,
    callback: &'static str,
}

/// Callback statistics, as core holds them when the scrape starts.
#[derive(Debug)]
pub(super) struct CallbackCollector {
    callbacks: Vec<(CallbackLabels, CallStats)>,
}

impl CallbackCollector {
    /// The registered callbacks of `modules`.
    pub(super) fn read(modules: &Registry) -> Self {
        let callbacks = modules
            .callbacks()
            .stats()
            .into_iter()
            .map(|(category, callback, module, stats)| (CallbackLabels { module, category, callback }, stats))
            .collect();
        Self { callbacks }
    }
}

impl Collector for CallbackCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        counters(
            &mut encoder,
            "mxmod_module_callback_calls",
            "Calls of a module callback.",
            self.callbacks.iter().map(|(labels, stats)| (labels, stats.calls())),
        )?;
        counters(
            &mut encoder,
            "mxmod_module_callback_errors",
            "Failed calls (errors, panics, timeouts).",
            self.callbacks.iter().map(|(labels, stats)| (labels, stats.errors())),
        )?;
        let mut family = encoder.encode_descriptor(
            "mxmod_module_callback_seconds",
            "Callback latency.",
            None,
            MetricType::Histogram,
        )?;
        for (labels, stats) in &self.callbacks {
            let counts = stats.latency_buckets();
            let bounds = LATENCY_BUCKETS_US.iter().map(|&us| us as f64 / 1e6).chain([f64::INFINITY]);
            let buckets: Vec<(f64, u64)> = bounds.zip(counts.iter().copied()).collect();
            let count = counts.iter().sum();
            let sum = stats.latency_sum_us() as f64 / 1e6;
            family.encode_family(labels)?.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)?;
        }
        Ok(())
    }
}

/// The labels of one `#[cached]` method of one module instance.
#[derive(Clone, Debug, EncodeLabelSet, PartialEq, Eq, Hash)]
struct CacheLabels {
    module: Arc<str>,
    cache: &'static str,
}

/// Which number of a cache's statistics a family exports.
type CacheValue = fn(&CacheStats) -> u64;

/// Cache statistics, read when the scrape starts.
#[derive(Debug)]
pub(super) struct CacheCollector {
    caches: Vec<(CacheLabels, CacheStats)>,
}

impl CacheCollector {
    /// The caches of `modules`.
    pub(super) fn read(modules: &Registry) -> Self {
        let caches = modules
            .cache_stats()
            .into_iter()
            .map(|(module, cache, stats)| (CacheLabels { module, cache }, stats))
            .collect();
        Self { caches }
    }
}

impl Collector for CacheCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let families: [(&str, &str, CacheValue); 3] = [
            ("mxmod_module_cache_hits", "Hits of a #[cached] method's cache.", |s| s.hits),
            ("mxmod_module_cache_misses", "Misses of a #[cached] method's cache.", |s| s.misses),
            (
                "mxmod_module_cache_evictions",
                "Entries a #[cached] method's cache dropped to stay within its size.",
                |s| s.evictions,
            ),
        ];
        for (name, help, value) in families {
            counters(&mut encoder, name, help, self.caches.iter().map(|(labels, stats)| (labels, value(stats))))?;
        }
        Ok(())
    }
}

/// One counter family (`name` gets its `_total` from the encoder), a sample per label set.
pub(super) fn counters<'l, L: EncodeLabelSet + 'l>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    samples: impl Iterator<Item = (&'l L, u64)>,
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, value) in samples {
        ConstCounter::new(value).encode(family.encode_family(labels)?)?;
    }
    Ok(())
}
