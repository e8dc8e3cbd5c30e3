//! How much heap sled really holds against its `cache_capacity` (which
//! counts pages at their serialised size): a counting global allocator
//! measures the heap held after writing 4x the capacity in 1 000-key batches,
//! flushing, and reading every key back twice in a scattered order, and the
//! highest heap in use during the run. Same sled settings as the store
//! (flush every 500 ms, default mode). A measurement, no pass/fail:
//! `cargo run --release --example sled_memory` (figures in
//! docs/RELIABILITY.md, "Memory budget").

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

fn grew(by: isize) {
    let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every method forwards to `System` unchanged, adding only a counter.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        // SAFETY: the pointer was just returned by the library under test and is valid.
        unsafe {
            grew(l.size() as isize);
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
            grew(new as isize - l.size() as isize);
            System.realloc(p, l, new)
        }
    }
}

#[global_allocator]
static A: Counting = Counting;

const MIB: f64 = 1048576.0;

struct Measured {
    /// Heap held by the open index after the writes and two read passes.
    held: f64,
    /// Highest heap in use during the run (the run's own buffers included).
    peak: f64,
}

/// Open sled as the store does with `sled_capacity` as its cache capacity,
/// write `4 × budget` bytes of `value_len`-byte values, flush, read every
/// key back twice (a stride that visits the pages out of order), and
/// measure the heap sled holds.
fn measure(budget: u64, sled_capacity: u64, value_len: usize) -> Measured {
    let dir = tempfile::tempdir().unwrap();
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let db = sled::Config::new()
        .path(dir.path())
        .cache_capacity(sled_capacity)
        .flush_every_ms(Some(500))
        .open()
        .unwrap();
    let tree = db.open_tree("data").unwrap();
    let n = (4 * budget as usize / value_len).max(1000);
    let value = vec![b'v'; value_len];
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let mut b = sled::Batch::default();
        for i in chunk {
            b.insert(format!("key:{i:08}").as_bytes(), value.as_slice());
        }
        tree.apply_batch(b).unwrap();
    }
    db.flush().unwrap();
    for _ in 0..2 {
        let mut i = 0usize;
        for _ in 0..n {
            i = (i + 7919) % n; // 7919 is prime: every key once, scattered
            let v = tree.get(format!("key:{i:08}").as_bytes()).unwrap();
            assert_eq!(v.map(|v| v.len()), Some(value_len));
        }
    }
    let held = (LIVE.load(Ordering::Relaxed) - before) as f64;
    let peak = (PEAK.load(Ordering::Relaxed) - before) as f64;
    drop(tree);
    drop(db);
    Measured { held, peak }
}

fn main() {
    for cap in [8u64 << 20, 32 << 20, 64 << 20] {
        for value_len in [100, 1024] {
            for run in 1..=2 {
                let m = measure(cap, cap, value_len);
                println!(
                    "cache_capacity {} MiB, values {value_len} B, run {run}: held {:.1} MiB ({:.2}x), peak {:.1} MiB ({:.2}x)",
                    cap >> 20,
                    m.held / MIB,
                    m.held / cap as f64,
                    m.peak / MIB,
                    m.peak / cap as f64,
                );
            }
        }
    }
}
