//! The cache's byte budget is real memory: a counting global allocator
//! measures the heap a full tier holds, and it must stay within the tier's
//! configured bytes (moka's weigher is our only bound on it). Regression
//! test for the memory-budget finding in docs/RELIABILITY.md: the weigher
//! charged 64 bytes per entry for moka's bookkeeping, which costs several
//! times that.
//!
//! Not built with the feature `mimalloc`, which sets the global allocator
//! in the library (a second one here would not link).
#![cfg(not(feature = "mimalloc"))]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cyberfly_store::internals::Metrics;
use cyberfly_store::internals::{Cached, CachedValue, TieredCache};

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every method forwards to `System` unchanged, adding only a counter.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        // SAFETY: the pointer was just returned by the library under test and is valid.
        unsafe {
            LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
            System.alloc(l)
        }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: the pointer was just returned by the library under test and is valid.
        unsafe {
            LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
            System.dealloc(p, l);
        }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        // SAFETY: the pointer was just returned by the library under test and is valid.
        unsafe {
            LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
            System.realloc(p, l, new)
        }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// Fill both tiers (8 MiB each) with values of `value_len` bytes; the heap
/// the cache holds then, its accounted bytes (hot, warm) and its entries.
fn measure(value_len: usize) -> (f64, u64, u64, u64) {
    const BUDGET: u64 = 8 << 20;
    let m = Metrics::new().unwrap();
    let c = TieredCache::new(BUDGET, BUDGET, Duration::from_secs(600));
    let before = LIVE.load(Ordering::Relaxed);
    let value: String = "v".repeat(value_len);
    // Three times what the warm tier can hold, so it runs full and evicts.
    let n = 3 * BUDGET as usize / value_len.max(64);
    for i in 0..n {
        let k = format!("key:{i:08}");
        let v = Arc::new(Cached {
            value: CachedValue::String(value.as_str().into()),
            expires_at_ms: None,
            epoch: 0,
        });
        c.fill(&k, c.epoch(&k), v);
        if i % 1024 == 0 {
            c.sizes(); // let moka apply its pending evictions
        }
    }
    // Promote a third of the last entries into the hot tier.
    for i in n - n / 3..n {
        let _ = c.get(&format!("key:{i:08}"), &m);
    }
    let ((hn, hot), (wn, warm)) = c.sizes();
    let held = (LIVE.load(Ordering::Relaxed) - before) as f64;
    drop(c);
    (held, hot, warm, hn + wn)
}

#[test]
fn a_full_cache_holds_no_more_heap_than_it_accounts() {
    for value_len in [100, 1024, 16 * 1024] {
        let (held, hot, warm, n) = measure(value_len);
        let accounted = (hot + warm) as f64;
        eprintln!(
            "value {value_len} B: {n} entries, heap held {:.2} MiB, accounted {:.2} MiB",
            held / 1048576.0,
            accounted / 1048576.0,
        );
        // Both tiers are full or nearly so (entries move between them).
        assert!(accounted >= f64::from(7 << 20), "tiers not filled");
        // moka's fixed structures are outside the weigher (~0.2 MiB here);
        // per-entry costs must be inside it.
        assert!(
            held <= accounted + 1048576.0,
            "value {value_len} B: {:.2} MiB of heap held for {:.2} MiB accounted",
            held / 1048576.0,
            accounted / 1048576.0
        );
    }
}
