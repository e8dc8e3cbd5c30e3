//! The tiered read cache: a hot tier (small, no TTL) and a warm tier (larger,
//! with TTL), both holding `Arc` values weighed in bytes.
//!
//! A lookup is synchronous and stays on the caller's thread; a hit clones an
//! `Arc`, never the value. Values enter the warm tier when a miss is resolved
//! and move to the hot tier on their next read.
//!
//! The warm tier is a moka cache (TTL, TinyLFU admission). The hot tier is
//! the path every cached read takes first, so it is a map of its own built
//! for that path: [`HOT_SHARDS`] shards, each a `hashbrown` table of entries
//! (keys up to 30 bytes inline) under a `parking_lot` read-write lock,
//! evicted by CLOCK (a
//! "referenced" bit per entry, set by reads and cleared by the eviction hand)
//! within a per-shard byte budget. One hash of the key (foldhash, seeded once
//! per process) picks the epoch stripe, the shard and the table bucket. A hit
//! is one hash, one read lock and an atomic flag load; moka's hit recorded
//! the access time (`Instant::now()`), pushed a read record into its policy
//! channel and hashed with SipHash, about a third of an awaited `get` from
//! Python (docs/PERFORMANCE.md). Promotion from warm already filters the
//! hot tier by frequency (two reads), which is what moka's TinyLFU admission
//! did there.
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

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use hashbrown::HashTable;
use moka::sync::Cache;
use parking_lot::RwLock;

use crate::metrics::Metrics;

/// Epoch stripes: 2 MiB of counters; a write makes the other keys of its
/// stripe miss once, so more stripes mean fewer false misses.
const STRIPES: usize = 1 << 18;
/// Shards of the hot tier (a power of two): enough that two threads rarely
/// meet on one lock, few enough that a small budget still holds entries.
pub const HOT_SHARDS: usize = 64;
/// Bookkeeping bytes charged per hot-tier entry on top of key and value:
/// the 64-byte `Entry` in a hashbrown table that may be less than half full
/// after it grows (up to ~150 bytes of table per entry with the control
/// bytes), the `Arc<Cached>` (56 bytes, a 64-byte chunk) and the value's
/// `Arc<str>` header and malloc rounding (~32). Checked against the real
/// heap by tests/cache_memory.rs.
const HOT_ENTRY_OVERHEAD: usize = 256;
/// The same for the warm tier (moka): moka's entry, key and deque nodes,
/// the `Arc<Cached>` and the `Arc<str>` header measured ~330 bytes
/// requested per entry (tests/cache_memory.rs), plus malloc's chunk headers
/// and rounding on the ~8 allocations. It was 64, which let a full tier
/// hold up to twice its bytes in small values.
const WARM_ENTRY_OVERHEAD: usize = 448;

/// The hash of a key, the same for every store in the process (the writer
/// computes stripes without a cache at hand); seeded at random once (from
/// the OS, through std's `RandomState`), so keys cannot be chosen to collide.
static HASHER: LazyLock<foldhash::fast::FixedState> = LazyLock::new(|| {
    foldhash::fast::FixedState::with_seed(
        std::collections::hash_map::RandomState::new().hash_one(0u64),
    )
});

#[inline]
fn hash(key: &str) -> u64 {
    HASHER.hash_one(key)
}

#[inline]
fn stripe_of(h: u64) -> usize {
    // The table uses the low bits (bucket) and the top 7 (tag); take others.
    (h >> 24) as usize % STRIPES
}

#[inline]
fn shard_of(h: u64) -> usize {
    (h >> 44) as usize % HOT_SHARDS
}

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

fn weight(key: &str, v: &Cached) -> usize {
    key.len() + v.value.weight() + HOT_ENTRY_OVERHEAD
}

#[allow(clippy::borrowed_box)] // moka passes &K
fn weigh(k: &Box<str>, v: &Arc<Cached>) -> u32 {
    (k.len() + v.value.weight() + WARM_ENTRY_OVERHEAD).min(u32::MAX as usize) as u32
}

/// The epoch stripe of a key.
#[inline]
pub fn stripe(key: &str) -> usize {
    stripe_of(hash(key))
}

/// A key of the hot tier: up to [`INLINE_KEY`] bytes in the entry itself (no
/// pointer to follow on a lookup), longer ones on the heap.
enum Key {
    Inline(u8, [u8; INLINE_KEY]),
    Heap(Box<str>),
}

const INLINE_KEY: usize = 30;

impl Key {
    fn new(key: &str) -> Self {
        let b = key.as_bytes();
        if b.len() <= INLINE_KEY {
            let mut buf = [0; INLINE_KEY];
            buf[..b.len()].copy_from_slice(b);
            Key::Inline(b.len() as u8, buf)
        } else {
            Key::Heap(key.into())
        }
    }

    #[inline]
    fn is(&self, key: &str) -> bool {
        match self {
            Key::Inline(n, buf) => &buf[..*n as usize] == key.as_bytes(),
            Key::Heap(k) => &**k == key,
        }
    }
}

struct Entry {
    hash: u64,
    key: Key,
    value: Arc<Cached>,
    weight: u64,
    /// CLOCK's second chance: set by a read, cleared by the hand.
    referenced: AtomicBool,
}

/// One shard of the hot tier: the entries, in a table, and the CLOCK hand
/// over the table's buckets.
#[derive(Default)]
struct Shard {
    table: HashTable<Entry>,
    hand: usize,
    bytes: u64,
}

impl Shard {
    #[inline]
    fn find(&self, h: u64, key: &str) -> Option<&Entry> {
        self.table.find(h, |e| e.hash == h && e.key.is(key))
    }

    /// Insert or replace, evicting by CLOCK so that the shard fits `budget`
    /// (`w <= budget`).
    fn insert(&mut self, h: u64, key: &str, value: Arc<Cached>, w: u64, budget: u64) {
        match self.table.find_mut(h, |e| e.hash == h && e.key.is(key)) {
            Some(e) => {
                self.bytes = self.bytes - e.weight + w;
                e.value = value;
                e.weight = w;
                *e.referenced.get_mut() = true;
            }
            None => {
                // Room first, so the hand never takes the entry it admits.
                while self.bytes + w > budget && !self.table.is_empty() {
                    self.evict_one();
                }
                let e = Entry {
                    hash: h,
                    key: Key::new(key),
                    value,
                    weight: w,
                    // Promoted by a read: one pass of the hand before eviction.
                    referenced: AtomicBool::new(true),
                };
                self.table.insert_unique(h, e, |e| e.hash);
                self.bytes += w;
            }
        }
        while self.bytes > budget {
            self.evict_one();
        }
    }

    /// Advance the hand to the first entry not read since the hand last
    /// passed it, clearing the bits it passes, and evict that entry.
    fn evict_one(&mut self) {
        let n = self.table.num_buckets();
        // Two turns find a victim: the first clears every bit it passes.
        for _ in 0..2 * n + 1 {
            let i = self.hand % n;
            self.hand = (i + 1) % n;
            if let Some(e) = self.table.get_bucket_mut(i) {
                if std::mem::take(e.referenced.get_mut()) {
                    continue;
                }
                if let Ok(o) = self.table.get_bucket_entry(i) {
                    self.bytes -= o.remove().0.weight;
                }
                return;
            }
        }
    }

    fn clear(&mut self) {
        *self = Shard::default();
    }
}

/// The hot tier: sharded, CLOCK-evicted, bounded in bytes per shard.
struct HotTier {
    shards: Box<[RwLock<Shard>]>,
    shard_budget: u64,
}

impl HotTier {
    fn new(bytes: u64) -> Self {
        HotTier {
            shards: (0..HOT_SHARDS).map(|_| RwLock::default()).collect(),
            shard_budget: bytes / HOT_SHARDS as u64,
        }
    }

    #[inline]
    fn get(&self, h: u64, key: &str) -> Option<Arc<Cached>> {
        let shard = self.shards[shard_of(h)].read();
        let s = shard.find(h, key)?;
        // Write the bit only when it changes: hits on a hot key stay reads.
        if !s.referenced.load(Ordering::Relaxed) {
            s.referenced.store(true, Ordering::Relaxed);
        }
        Some(s.value.clone())
    }

    /// Whether the entry was admitted (larger than a shard's budget: not).
    fn insert(&self, h: u64, key: &str, value: Arc<Cached>) -> bool {
        let w = weight(key, &value) as u64;
        if w > self.shard_budget {
            return false;
        }
        self.shards[shard_of(h)]
            .write()
            .insert(h, key, value, w, self.shard_budget);
        true
    }

    fn clear(&self) {
        for s in self.shards.iter() {
            s.write().clear();
        }
    }

    /// (entries, weighted bytes).
    fn size(&self) -> (u64, u64) {
        self.shards.iter().fold((0, 0), |(n, b), s| {
            let s = s.read();
            (n + s.table.len() as u64, b + s.bytes)
        })
    }
}

pub struct TieredCache {
    hot: HotTier,
    warm: Cache<Box<str>, Arc<Cached>>,
    epochs: Box<[AtomicU64]>,
}

impl TieredCache {
    pub fn new(hot_bytes: u64, warm_bytes: u64, warm_ttl: Duration) -> Self {
        let warm = Cache::builder()
            .max_capacity(warm_bytes)
            .weigher(weigh)
            .time_to_live(warm_ttl)
            .build();
        TieredCache {
            hot: HotTier::new(hot_bytes),
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
        let h = hash(key);
        let current = self.epochs[stripe_of(h)].load(Ordering::SeqCst);
        if let Some(v) = self.hot.get(h, key) {
            if v.epoch == current {
                m.hot_hits.inc();
                return Some(v);
            }
        }
        self.get_warm(h, key, current, m)
    }

    #[cold]
    fn get_warm(&self, h: u64, key: &str, current: u64, m: &Metrics) -> Option<Arc<Cached>> {
        if let Some(v) = self.warm.get(key) {
            if v.epoch == current {
                m.warm_hits.inc();
                if self.hot.insert(h, key, v.clone()) {
                    self.warm.invalidate(key);
                }
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
        self.hot.clear();
        self.warm.invalidate_all();
    }

    /// (entries, weighted bytes) per tier: (hot, warm).
    pub fn sizes(&self) -> ((u64, u64), (u64, u64)) {
        self.warm.run_pending_tasks();
        (
            self.hot.size(),
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

    /// Fill and read `key` twice: it ends in the hot tier.
    fn promote(c: &TieredCache, m: &Metrics, key: &str, v: &str) {
        c.fill(key, c.epoch(key), val(v));
        assert!(c.get(key, m).is_some());
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
        let ((hot_n, hot_b), (warm_n, _)) = c.sizes();
        assert_eq!((hot_n, warm_n), (1, 0), "moved, not copied");
        assert_eq!(hot_b, (1 + 1 + HOT_ENTRY_OVERHEAD) as u64);
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
        // promoted again: the hot entry is replaced, not duplicated
        assert_eq!(
            c.get("k", &m).unwrap().value,
            CachedValue::String("new".into())
        );
        assert_eq!(c.sizes().0 .0, 1);
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

    /// The hot tier holds at most its budget in bytes, whatever is promoted.
    #[test]
    fn hot_tier_is_bounded_in_bytes() {
        let m = Metrics::new().unwrap();
        let budget = 64 * 1024;
        let c = TieredCache::new(budget, 64 << 20, Duration::from_secs(60));
        let v = "v".repeat(200);
        for i in 0..5_000 {
            promote(&c, &m, &format!("key:{i}"), &v);
        }
        let ((n, bytes), _) = c.sizes();
        assert!(bytes <= budget, "hot tier holds {bytes} bytes");
        assert!(n > 0 && n < 5_000, "{n} entries");
        // what it reports is what it holds (keys of 5 to 8 bytes)
        let per = (200 + HOT_ENTRY_OVERHEAD) as u64;
        assert!(bytes >= n * (per + 5) && bytes <= n * (per + 8));
    }

    /// A value larger than a shard's share of the budget is not promoted: it
    /// stays in the warm tier and is still served from there.
    #[test]
    fn oversized_values_stay_warm() {
        let m = Metrics::new().unwrap();
        let c = TieredCache::new(HOT_SHARDS as u64 * 1024, 1 << 20, Duration::from_secs(60));
        let big = "x".repeat(4096);
        promote(&c, &m, "big", &big);
        assert!(c.get("big", &m).is_some());
        assert_eq!(m.warm_hits.get(), 2);
        assert_eq!(m.hot_hits.get(), 0);
        assert_eq!(c.sizes().0, (0, 0));
    }

    /// CLOCK: an entry read since the hand last passed survives an eviction
    /// that takes an unread one; with every entry read, one still goes.
    #[test]
    fn clock_keeps_entries_that_are_read() {
        let mut s = Shard::default();
        let w = 100;
        let ins = |s: &mut Shard, k: &str| s.insert(hash(k), k, val(k), w, 4 * w);
        for k in ["k0", "k1", "k2", "k3"] {
            ins(&mut s, k);
        }
        // the hand passed (bits cleared), then k1 and k2 were read
        for e in s.table.iter_mut() {
            *e.referenced.get_mut() =
                matches!(&e.key, Key::Inline(_, b) if b[1] == b'1' || b[1] == b'2');
        }
        ins(&mut s, "k4");
        let has = |s: &Shard, k: &str| s.find(hash(k), k).is_some();
        assert!(has(&s, "k1") && has(&s, "k2") && has(&s, "k4"));
        assert!(
            has(&s, "k0") != has(&s, "k3"),
            "exactly one unread entry evicted"
        );
        assert_eq!((s.bytes, s.table.len()), (4 * w, 4));
        // every entry read: the hand clears the bits and still evicts one
        for e in s.table.iter_mut() {
            *e.referenced.get_mut() = true;
        }
        ins(&mut s, "k5");
        assert!(has(&s, "k5"));
        assert_eq!((s.bytes, s.table.len()), (4 * w, 4));
    }

    #[test]
    fn long_and_short_keys() {
        let m = Metrics::new().unwrap();
        let c = TieredCache::new(1 << 20, 1 << 20, Duration::from_secs(60));
        let long = "k".repeat(INLINE_KEY + 1);
        let edge = "e".repeat(INLINE_KEY);
        for k in [long.as_str(), edge.as_str(), "", "é"] {
            promote(&c, &m, k, k);
        }
        for k in [long.as_str(), edge.as_str(), "", "é"] {
            assert_eq!(c.get(k, &m).unwrap().value, CachedValue::String(k.into()));
        }
        assert!(c.get(&long[1..], &m).is_none());
        assert_eq!(m.hot_hits.get(), 4);
    }

    /// Readers and promoters on several threads: every hit is the value
    /// filled for that key, and the budget holds.
    #[test]
    fn concurrent_reads_and_promotions() {
        let budget = 256 * 1024;
        let c = Arc::new(TieredCache::new(budget, 64 << 20, Duration::from_secs(60)));
        let m = Arc::new(Metrics::new().unwrap());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let (c, m) = (c.clone(), m.clone());
                std::thread::spawn(move || {
                    for round in 0..3 {
                        for i in 0..3_000 {
                            let k = format!("k{}", (i * 7 + t * 1_000 + round) % 4_000);
                            match c.get(&k, &m) {
                                Some(v) => assert_eq!(v.value, CachedValue::String(k.into())),
                                None => c.fill(&k, c.epoch(&k), val(&k)),
                            }
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let ((n, bytes), _) = c.sizes();
        assert!(bytes <= budget && n > 0, "{n} entries, {bytes} bytes");
        assert!(m.hot_hits.get() > 0);
    }
}
