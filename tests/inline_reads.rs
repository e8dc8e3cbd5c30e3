//! Cache misses from a thread outside any async runtime are read from the
//! index on that thread (design rule 2, docs/ARCHITECTURE.md "Reads"); the
//! reader pool serves async callers, a store with `inline_read_limit` 0, and
//! misses while the inline-read guard is tripped. A value just written, or
//! read once, is a hot hit next time. No read returns a value older than an
//! acknowledged write, on the inline path too.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cyberfly_store::{Config, Miss, Store};

/// The longest inline read allowed: generous, so that a descheduled read
/// on a loaded machine does not trip the guard and move the counts.
fn config() -> cyberfly_store::ConfigBuilder {
    Config::builder()
        .inline_read_limit(Duration::from_secs(1))
        .gc_interval(Duration::ZERO)
        .sweep_interval(Duration::ZERO)
        .memory_trim_interval(Duration::ZERO)
}

/// No cache at all: every read is a miss.
fn uncached() -> cyberfly_store::ConfigBuilder {
    config().hot_cache_bytes(0).warm_cache_bytes(0)
}

fn fill(s: &Store, n: usize) -> Vec<String> {
    let keys: Vec<String> = (0..n).map(|i| format!("k:{i:05}")).collect();
    s.block_on(s.set_many(keys.iter().map(|k| (k.clone(), format!("v-{k}")))))
        .unwrap();
    keys
}

#[test]
fn a_miss_from_a_plain_thread_is_read_inline() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open_blocking(dir.path(), uncached().build().unwrap()).unwrap();
    let keys = fill(&s, 200);
    for k in &keys {
        assert_eq!(
            s.get_blocking(k).unwrap().as_deref(),
            Some(&*format!("v-{k}"))
        );
    }
    assert_eq!(s.get_blocking("k:absent").unwrap(), None);
    // get_miss answers on this thread.
    assert!(matches!(s.get_miss("k:00001"), Miss::Done(Ok(Some(_)))));
    // get_many: misses read inline too.
    let many = s.block_on(async { s.get_many(&keys[..50]).await }).unwrap();
    assert_eq!(many.len(), 50);
    let st = s.stats();
    assert_eq!(st.pool_reads, 50, "block_on enters the runtime: the pool");
    assert_eq!(st.inline_reads, 202, "200 + absent + get_miss");
    assert!(st.longest_inline_read > 0.0);
    // The C-style path: cache pass, then inline misses, no pool.
    // Each call reads inline for at most MANY_INLINE_BUDGET (2 ms): a
    // loaded machine running a debug build may need a few calls (CI, load
    // 7: the first call left misses), none of which touches the pool.
    let mut p = s.get_many_cached(&keys[50..]).unwrap();
    let mut calls = 0;
    let v = loop {
        calls += 1;
        assert!(calls < 10_000, "the inline reads never finish");
        match s.get_many_inline(p).unwrap() {
            cyberfly_store::GetMany::Done(v) => break v,
            pending => {
                p = pending;
                // (the guard may be cooling down after a slow read)
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    };
    assert!(v.iter().all(std::option::Option::is_some));
    assert_eq!(s.stats().inline_reads, 352);
    assert_eq!(s.stats().pool_reads, 50);
    s.close_blocking().unwrap();
}

#[test]
fn never_inline_sends_misses_to_the_pool() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = uncached()
        .inline_read_limit(Duration::ZERO)
        .build()
        .unwrap();
    assert_eq!(
        Config::default().inline_read_limit,
        Duration::from_micros(500)
    );
    let s = Store::open_blocking(dir.path(), cfg).unwrap();
    let keys = fill(&s, 100);
    for k in &keys {
        assert!(s.get_blocking(k).unwrap().is_some());
    }
    assert!(matches!(s.get_miss("k:00001"), Miss::Pending(_)));
    let p = s.get_many_cached(&keys).unwrap();
    assert!(matches!(
        s.get_many_inline(p).unwrap(),
        cyberfly_store::GetMany::Pending(_)
    ));
    let st = s.stats();
    assert_eq!(st.inline_reads, 0);
    assert_eq!(st.pool_reads, 100);
    s.close_blocking().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_callers_use_the_pool() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), uncached().build().unwrap())
        .await
        .unwrap();
    let keys: Vec<String> = (0..100).map(|i| format!("k:{i:05}")).collect();
    s.set_many(keys.iter().map(|k| (k.clone(), "v".to_owned())))
        .await
        .unwrap();
    for k in &keys {
        assert!(s.get(k).await.unwrap().is_some());
    }
    assert!(s
        .get_many(&keys)
        .await
        .unwrap()
        .iter()
        .all(std::option::Option::is_some));
    let st = s.stats();
    assert_eq!(st.inline_reads, 0, "no sled call on a runtime worker");
    assert_eq!(st.pool_reads, 200);
    s.close().await.unwrap();
}

#[test]
fn a_value_written_or_read_once_is_a_hot_hit_next() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open_blocking(dir.path(), config().build().unwrap()).unwrap();
    s.block_on(s.set("k:one", "1")).unwrap();
    s.block_on(s.set_many((0..100).map(|i| (format!("k:m{i}"), format!("{i}")))))
        .unwrap();
    // Written: hot hits, no miss.
    assert_eq!(
        s.get_cached("k:one").unwrap().unwrap().as_deref(),
        Some("1")
    );
    for i in 0..100 {
        assert!(s.get_cached(&format!("k:m{i}")).is_some(), "k:m{i}");
    }
    let st = s.stats();
    assert_eq!((st.hot_hits, st.misses), (101, 0));
    // An overwrite replaces the cached value before it is acknowledged.
    s.block_on(s.set("k:one", "2")).unwrap();
    assert_eq!(
        s.get_cached("k:one").unwrap().unwrap().as_deref(),
        Some("2")
    );
    // A deleted key is no longer cached.
    s.block_on(s.delete("k:one")).unwrap();
    assert!(s.get_cached("k:one").is_none());
    assert_eq!(s.get_blocking("k:one").unwrap(), None);
    s.close_blocking().unwrap();
    // After reopening: the first read is a miss read inline (or a hit, if
    // the warm-up after open preloaded the key already), the second is a
    // hot hit.
    let s = Store::open_blocking(dir.path(), config().build().unwrap()).unwrap();
    assert_eq!(s.get_blocking("k:m7").unwrap().as_deref(), Some("7"));
    let hot = s.stats().hot_hits;
    assert_eq!(s.get_blocking("k:m7").unwrap().as_deref(), Some("7"));
    let st = s.stats();
    assert_eq!(st.hot_hits, hot + 1);
    assert!(st.inline_reads <= 1 && st.pool_reads == 0, "{st:?}");
    // The warm-up preloads the written values into the hot tier.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while s.stats().hot_entries < 100 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(s.stats().hot_entries, 100, "preloaded after open");
    for i in 0..100 {
        assert_eq!(
            s.get_cached(&format!("k:m{i}"))
                .unwrap()
                .unwrap()
                .as_deref(),
            Some(&*format!("{i}"))
        );
    }
    s.close_blocking().unwrap();
}

/// A blob-backed value: its index entry is read inline, its bytes come from
/// the blob store (one hop).
#[test]
fn a_blob_backed_value_costs_one_hop() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = uncached().inline_threshold(16).build().unwrap();
    let s = Store::open_blocking(dir.path(), cfg).unwrap();
    let big = "b".repeat(5000);
    s.block_on(s.set("k:big", big.clone())).unwrap();
    match s.get_miss("k:big") {
        Miss::Pending(p) => {
            assert_eq!(s.block_on(s.finish_get(p)).unwrap().as_deref(), Some(&*big));
        }
        Miss::Done(r) => panic!("a blob needs the blob store: {r:?}"),
    }
    let st = s.stats();
    assert_eq!((st.inline_reads, st.pool_reads), (1, 0));
    assert_eq!(s.get_blocking("k:big").unwrap().as_deref(), Some(&*big));
    s.close_blocking().unwrap();
}

/// Writers on one thread, readers on plain threads reading misses inline
/// (a hot tier of about one entry a shard, so fills, write-through and
/// evictions all happen): no read returns a value older than one
/// acknowledged before the read began.
#[test]
fn no_stale_inline_read_after_an_acknowledged_write() {
    const KEYS: usize = 64;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config()
        .hot_cache_bytes(64 * 300)
        .warm_cache_bytes(1 << 20)
        .build()
        .unwrap();
    let s = Store::open_blocking(dir.path(), cfg).unwrap();
    let keys: Arc<Vec<String>> = Arc::new((0..KEYS).map(|i| format!("k:{i}")).collect());
    s.block_on(s.set_many(keys.iter().map(|k| (k.clone(), "0".to_owned()))))
        .unwrap();
    let acked: Arc<Vec<AtomicU64>> = Arc::new((0..KEYS).map(|_| AtomicU64::new(0)).collect());
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|t| {
            let (s, keys, acked, stop) = (s.clone(), keys.clone(), acked.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut i = t;
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    i = (i + 7) % KEYS;
                    let floor = acked[i].load(Ordering::SeqCst);
                    let v: u64 = s.get_blocking(&keys[i]).unwrap().unwrap().parse().unwrap();
                    assert!(v >= floor, "{}: read {v} after {floor} was acked", keys[i]);
                    if n.is_multiple_of(5) {
                        let j = (i + 1) % KEYS;
                        let fl = [
                            acked[i].load(Ordering::SeqCst),
                            acked[j].load(Ordering::SeqCst),
                        ];
                        let got = s
                            .block_on(s.get_many(&[keys[i].as_str(), keys[j].as_str()]))
                            .unwrap();
                        for (v, f) in got.into_iter().zip(fl) {
                            let v: u64 = v.unwrap().parse().unwrap();
                            assert!(v >= f, "batch read {v} after {f} was acked");
                        }
                    }
                    n += 1;
                }
                n
            })
        })
        .collect();
    for round in 1..=300u64 {
        for i in (0..KEYS).filter(|i| i % 4 == (round % 4) as usize) {
            if round % 2 == 0 {
                s.block_on(s.set(&keys[i], round.to_string())).unwrap();
            } else {
                s.block_on(s.set_many([(keys[i].clone(), round.to_string())]))
                    .unwrap();
            }
            acked[i].store(round, Ordering::SeqCst);
        }
    }
    stop.store(true, Ordering::Relaxed);
    let reads: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    let st = s.stats();
    assert!(reads > 0 && st.inline_reads > 0, "{reads} reads, {st:?}");
    s.close_blocking().unwrap();
}
