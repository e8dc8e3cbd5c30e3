//! The tiered read cache: a hot tier (small, no TTL) and a warm tier (larger,
//! with TTL), both moka caches of `Arc` values weighed in bytes.
//!
//! A lookup is synchronous and stays on the caller's thread; a hit clones an
//! `Arc`, never the value. Values enter the warm tier when a miss is resolved
//! and move to the hot tier on their next read.
//!
//! Staleness: a reader that resolved a miss from an older index state must not
//! leave that value in the cache after the writer replaced it. Each key maps to
//! one of `STRIPES` epoch counters. The writer, after applying a batch, for
//! every key: invalidates, bumps the key's epoch, invalidates again. A reader
//! loads the epoch before it reads the index (or the warm tier, when
//! promoting), inserts, then re-checks the epoch and removes its insert if the
//! epoch moved. Either the re-check sees the bump, or the insert happened before
//! the bump and the writer's second invalidation removes it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;

use crate::metrics::Metrics;

const STRIPES: usize = 1024;
/// Bookkeeping bytes charged per entry on top of key and value.
const ENTRY_OVERHEAD: usize = 64;

/// A cached value.
#[derive(Debug, Clone, PartialEq)]
pub enum CachedValue {
    String(Arc<str>),
}

impl CachedValue {
    fn weight(&self) -> usize {
        match self {
            CachedValue::String(s) => s.len(),
        }
    }
}

/// What the cache holds: the value and its expiry.
#[derive(Debug, Clone)]
pub struct Cached {
    pub value: CachedValue,
    pub expires_at_ms: Option<u64>,
}

pub struct TieredCache {
    hot: Cache<Box<str>, Arc<Cached>>,
    warm: Cache<Box<str>, Arc<Cached>>,
    epochs: Box<[AtomicU64]>,
}

#[allow(clippy::borrowed_box)] // moka passes &K
fn weigh(k: &Box<str>, v: &Arc<Cached>) -> u32 {
    (k.len() + v.value.weight() + ENTRY_OVERHEAD).min(u32::MAX as usize) as u32
}

#[inline]
fn stripe(key: &str) -> usize {
    // FNV-1a: cheap for short keys, good enough to spread stripes.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in key.as_bytes() {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    (h as usize) % STRIPES
}

impl TieredCache {
    pub fn new(hot_bytes: u64, warm_bytes: u64, warm_ttl: Duration) -> Self {
        let hot = Cache::builder()
            .max_capacity(hot_bytes)
            .weigher(weigh)
            .build();
        let warm = Cache::builder()
            .max_capacity(warm_bytes)
            .weigher(weigh)
            .time_to_live(warm_ttl)
            .build();
        TieredCache {
            hot,
            warm,
            epochs: (0..STRIPES).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// The epoch to pass to [`fill`](Self::fill); load it before reading the index.
    #[inline]
    pub fn epoch(&self, key: &str) -> u64 {
        self.epochs[stripe(key)].load(Ordering::SeqCst)
    }

    /// Look a key up in both tiers, promoting warm hits to the hot tier.
    #[inline]
    pub fn get(&self, key: &str, m: &Metrics) -> Option<Arc<Cached>> {
        if let Some(v) = self.hot.get(key) {
            m.hot_hits.inc();
            return Some(v);
        }
        let e0 = self.epoch(key);
        if let Some(v) = self.warm.get(key) {
            m.warm_hits.inc();
            let k: Box<str> = key.into();
            self.hot.insert(k.clone(), v.clone());
            self.warm.invalidate(&k);
            if self.epoch(key) != e0 {
                self.hot.invalidate(&k);
            }
            return Some(v);
        }
        m.misses.inc();
        None
    }

    /// Insert a value read from the index at `epoch` into the warm tier, unless
    /// a write to the key's stripe happened since.
    pub fn fill(&self, key: &str, epoch: u64, value: Arc<Cached>) {
        if self.epoch(key) != epoch {
            return;
        }
        let k: Box<str> = key.into();
        self.warm.insert(k.clone(), value);
        if self.epoch(key) != epoch {
            self.warm.invalidate(&k);
            self.hot.invalidate(&k);
        }
    }

    /// Called by the writer after it applied writes to these keys.
    pub fn invalidate<'a>(&self, keys: impl Iterator<Item = &'a str> + Clone) {
        for k in keys.clone() {
            self.hot.invalidate(k);
            self.warm.invalidate(k);
        }
        for k in keys.clone() {
            self.epochs[stripe(k)].fetch_add(1, Ordering::SeqCst);
        }
        for k in keys {
            self.hot.invalidate(k);
            self.warm.invalidate(k);
        }
    }

    pub fn clear(&self) {
        for e in self.epochs.iter() {
            e.fetch_add(1, Ordering::SeqCst);
        }
        self.hot.invalidate_all();
        self.warm.invalidate_all();
    }

    /// (entries, weighted bytes) per tier: (hot, warm).
    pub fn sizes(&self) -> ((u64, u64), (u64, u64)) {
        self.hot.run_pending_tasks();
        self.warm.run_pending_tasks();
        (
            (self.hot.entry_count(), self.hot.weighted_size()),
            (self.warm.entry_count(), self.warm.weighted_size()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn val(s: &str) -> Arc<Cached> {
        Arc::new(Cached {
            value: CachedValue::String(s.into()),
            expires_at_ms: None,
        })
    }

    #[test]
    fn fill_then_promote() {
        let m = Metrics::new().unwrap();
        let c = TieredCache::new(1 << 20, 1 << 20, Duration::from_secs(60));
        assert!(c.get("k", &m).is_none());
        let e = c.epoch("k");
        c.fill("k", e, val("v"));
        // first read: warm hit, promoted
        assert!(c.get("k", &m).is_some());
        assert_eq!(m.warm_hits.get(), 1);
        // second read: hot hit, and the same allocation (no clone of the value)
        let a = c.get("k", &m).unwrap();
        let b = c.get("k", &m).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(m.hot_hits.get(), 2);
        assert_eq!(m.misses.get(), 1);
    }

    #[test]
    fn stale_fill_is_dropped() {
        let m = Metrics::new().unwrap();
        let c = TieredCache::new(1 << 20, 1 << 20, Duration::from_secs(60));
        let e = c.epoch("k");
        // a write lands between the reader's index read and its fill
        c.invalidate(std::iter::once("k"));
        c.fill("k", e, val("old"));
        assert!(c.get("k", &m).is_none());
    }

    #[test]
    fn weigher_bounds_bytes() {
        let m = Metrics::new().unwrap();
        let c = TieredCache::new(0, 10_000, Duration::from_secs(60));
        let big: String = "x".repeat(1000);
        for i in 0..100 {
            let k = format!("k{i}");
            c.fill(&k, c.epoch(&k), val(&big));
        }
        let (_, (_, warm_bytes)) = c.sizes();
        assert!(warm_bytes <= 10_000, "warm tier holds {warm_bytes} bytes");
        let _ = c.get("k1", &m);
    }
}
