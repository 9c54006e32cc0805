//! What a `#[cached]` lookup costs: a hit through `CacheHandle` (single flight and
//! generation checks included) against the `cached` crate's `LruCache` used directly, and
//! an invalidation.
//!
//! Run with `cargo bench -p mxmod --bench cache`.

use std::{
    future::Future,
    hint::black_box,
    pin::pin,
    sync::Mutex,
    task::{Context, Poll, Waker},
};

use cached::{stores::LruCache, Cached};
use criterion::{criterion_group, criterion_main, Criterion};
use mxmod::cache::CacheHandle;

/// Polls a future once with a no-op waker; every future here completes at once.
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("a benchmarked future awaited something"),
    }
}

const KEYS: usize = 1000;

fn keys() -> Vec<String> {
    (0..KEYS).map(|n| format!("@user{n}:example.com")).collect()
}

fn hit(c: &mut Criterion) {
    let keys = keys();
    let mut group = c.benchmark_group("cache_hit");

    let handle = CacheHandle::<String, u64>::new(KEYS);
    for (n, key) in keys.iter().enumerate() {
        handle.insert(key.clone(), n as u64);
    }
    let key = &keys[KEYS / 2];
    // What a `#[cached]` method does on a hit: the key is cloned into the call.
    group.bench_function("mxmod_cached_method", |b| {
        b.iter(|| {
            ready(handle.get_or_compute(black_box(key).clone(), async { unreachable!("a hit computes nothing") }))
        });
    });
    group.bench_function("mxmod_get", |b| b.iter(|| handle.get(black_box(key))));

    let mut direct = LruCache::<String, u64>::new(KEYS);
    for (n, key) in keys.iter().enumerate() {
        direct.cache_set(key.clone(), n as u64);
    }
    group.bench_function("cached_lru_direct", |b| b.iter(|| direct.cache_get(black_box(key)).copied()));

    let locked = Mutex::new(direct.clone());
    group.bench_function("cached_lru_in_mutex", |b| {
        b.iter(|| locked.lock().unwrap().cache_get(black_box(key)).copied());
    });
    group.finish();
}

fn invalidate(c: &mut Criterion) {
    let keys = keys();
    let key = &keys[KEYS / 2];
    let mut group = c.benchmark_group("cache_invalidate");
    let handle = CacheHandle::<String, u64>::new(KEYS);
    for (n, key) in keys.iter().enumerate() {
        handle.insert(key.clone(), n as u64);
    }
    // An invalidation and the refill that follows it, so every invalidation finds its key.
    group.bench_function("mxmod_invalidate_and_refill", |b| {
        b.iter(|| {
            black_box(handle.invalidate(black_box(key)));
            handle.insert(key.clone(), 1);
        });
    });
    let mut direct = LruCache::<String, u64>::new(KEYS);
    for (n, key) in keys.iter().enumerate() {
        direct.cache_set(key.clone(), n as u64);
    }
    group.bench_function("cached_lru_direct_remove_and_refill", |b| {
        b.iter(|| {
            black_box(direct.cache_remove(black_box(key)));
            direct.cache_set(key.clone(), 1);
        });
    });
    group.finish();
}

criterion_group!(benches, hit, invalidate);
criterion_main!(benches);
