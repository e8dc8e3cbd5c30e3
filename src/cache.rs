//! The tiered read cache: a hot tier (small, no TTL) and a warm tier (larger,
//! with TTL), both moka caches of `Arc` values weighed in bytes.
//!
//! A lookup is synchronous and stays on the caller's thread; a hit clones an
//! `Arc`, never the value. Values enter the warm tier when a miss is resolved
//! and move to the hot tier on their next read.
//!
//! Staleness: a reader that resolved a miss from an older index state must not
//! serve that value after the writer replaced it. Each key maps to one of
//! `STRIPES` epoch counters; a cached value carries the epoch its reader loaded
//! *before* reading the index, and a lookup whose value's epoch differs from
//! the stripe's current epoch is a miss. The writer, after applying a batch
//! and before acknowledging it, bumps the epoch of every key it wrote: one
//! atomic add per key, no cache call. A value read from the index before the
//! write carries an epoch loaded before the bump, so it can never be served
//! after the acknowledgement, whichever tier it sits in and however it got
//! there. (An earlier design invalidated both tiers around the bump; it cost
//! four moka calls per written key and left a window in which a promotion could
//! carry a stale value into the hot tier.) Stale values are not removed: they
//! are overwritten by the next fill or evicted by size or TTL.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;

use crate::metrics::Metrics;

/// Epoch stripes: 2 MiB of counters; a write makes the other keys of its
/// stripe miss once, so more stripes mean fewer false misses.
const STRIPES: usize = 1 << 18;
/// Bookkeeping bytes charged per entry on top of key and value: moka's
/// entry, key and deque nodes, the `Arc<Cached>` and the `Arc<str>` header
/// measured ~330 bytes requested per entry (tests/cache_memory.rs), plus
/// malloc's chunk headers and rounding on the ~8 allocations. It was 64,
/// which let a full tier hold up to twice its bytes in small values.
const ENTRY_OVERHEAD: usize = 448;

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

/// What the cache holds: the value, its expiry, and the epoch of its key's
/// stripe when it was read from the index.
#[derive(Debug, Clone)]
pub struct Cached {
    pub value: CachedValue,
    pub expires_at_ms: Option<u64>,
    /// Set by [`TieredCache::fill`].
    pub epoch: u64,
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

/// The epoch stripe of a key.
#[inline]
pub fn stripe(key: &str) -> usize {
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

    /// Look a key up in both tiers, promoting warm hits to the hot tier. A
    /// value older than the last write to its stripe is a miss.
    #[inline]
    pub fn get(&self, key: &str, m: &Metrics) -> Option<Arc<Cached>> {
        let current = self.epoch(key);
        if let Some(v) = self.hot.get(key) {
            if v.epoch == current {
                m.hot_hits.inc();
                return Some(v);
            }
        }
        if let Some(v) = self.warm.get(key) {
            if v.epoch == current {
                m.warm_hits.inc();
                let k: Box<str> = key.into();
                self.hot.insert(k.clone(), v.clone());
                self.warm.invalidate(&k);
                return Some(v);
            }
        }
        m.misses.inc();
        None
    }

    /// Insert a value read from the index after loading `epoch` into the
    /// warm tier (unless a write to the key's stripe already happened).
    pub fn fill(&self, key: &str, epoch: u64, value: Arc<Cached>) {
        if self.epoch(key) != epoch {
            return;
        }
        let mut v = (*value).clone(); // clones an Arc<str>, not the text
        v.epoch = epoch;
        self.warm.insert(key.into(), Arc::new(v));
    }

    /// Called by the writer after it applied writes to keys of these
    /// stripes, before acknowledging them.
    pub fn bump(&self, stripes: impl Iterator<Item = usize>) {
        for s in stripes {
            self.epochs[s].fetch_add(1, Ordering::SeqCst);
        }
    }

    /// `bump` by key (for tests and callers outside the writer).
    pub fn invalidate<'a>(&self, keys: impl Iterator<Item = &'a str>) {
        self.bump(keys.map(stripe));
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
            epoch: 0,
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

    /// A value filled before a write is never served after it, from either
    /// tier, even if it was promoted in between.
    #[test]
    fn a_write_hides_older_values_in_both_tiers() {
        let m = Metrics::new().unwrap();
        let c = TieredCache::new(1 << 20, 1 << 20, Duration::from_secs(60));
        let e = c.epoch("k");
        c.fill("k", e, val("old"));
        assert!(c.get("k", &m).is_some()); // promoted to hot
        c.fill("k2", c.epoch("k2"), val("x"));
        c.invalidate(std::iter::once("k"));
        assert!(c.get("k", &m).is_none(), "hot value is stale");
        // a fill that loaded its epoch before the write is refused
        c.fill("k", e, val("old"));
        assert!(c.get("k", &m).is_none());
        let e2 = c.epoch("k");
        c.fill("k", e2, val("new"));
        assert_eq!(
            c.get("k", &m).unwrap().value,
            CachedValue::String("new".into())
        );
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
