//! The store's index reads run on a fixed pool of `reader_threads` threads
//! (src/engine/readers.rs), not on tokio's elastic blocking pool: a loop of
//! uncached gets does not grow the process's threads, close joins the
//! readers, and a store dropped without close stops them too. One test in
//! its own file: it counts the threads of the whole process.

use std::time::Duration;

use cyberfly_store::{Config, Store};

/// Threads of this process whose name starts with `prefix` (Linux truncates
/// names to 15 bytes). A thread spawned unnamed by a reader (sled starts its
/// IO threads lazily from whichever thread first needs them) inherits the
/// reader's name, so counts are at least the readers, not exactly.
fn threads_named(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with(prefix))
        .count()
}

fn all_threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// Wait up to 5 s for a thread count to fall to `want` or below (threads
/// that were told to exit take a moment to disappear from /proc).
fn settles(prefix: &str, want: usize) -> usize {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let n = threads_named(prefix);
        if n <= want || std::time::Instant::now() > deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

const READER: &str = "cyberfly-reade";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_run_on_a_fixed_pool_joined_at_close_and_drop() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::builder()
        .hot_cache_bytes(0)
        .warm_cache_bytes(0)
        .gc_interval(Duration::ZERO)
        .sweep_interval(Duration::ZERO)
        .reader_threads(3)
        .build()
        .unwrap();
    assert_eq!(threads_named(READER), 0);
    let s = Store::open(dir.path(), config.clone()).await.unwrap();
    let open = threads_named(READER);
    assert!(open >= 3, "{open}");
    let keys: Vec<String> = (0..200).map(|i| format!("k:{i:04}")).collect();
    s.set_many(keys.iter().map(|k| (k.clone(), "v".repeat(100))))
        .await
        .unwrap();
    let before = all_threads();
    // Every read below misses the (zero-byte) cache and goes to the index.
    for _ in 0..10 {
        for k in &keys {
            assert!(s.get(k).await.unwrap().is_some());
        }
    }
    let many = s.get_many(&keys).await.unwrap();
    assert!(many.iter().all(std::option::Option::is_some));
    assert!(s.exists("k:0001").await.unwrap());
    assert_eq!(s.scan("k:").collect_all().await.unwrap().len(), 200);
    assert!(s.stats().misses >= 2200);
    let after = all_threads();
    // tokio's blocking pool grew one thread per overlapping job here (up to
    // 125 in a longer loop); the pool adds none. Two of slack for the
    // store's occasional own blocking work (the memory trimmer).
    assert!(after <= before + 2, "threads {before} -> {after}");
    s.close().await.unwrap();
    // The three readers are joined (what inherited their name may remain).
    let closed = threads_named(READER);
    assert!(
        closed + 3 <= open,
        "close joins the readers: {open} -> {closed}"
    );
    assert!(matches!(
        s.get("k:0001").await,
        Err(cyberfly_store::Error::Closed)
    ));

    // Dropped without close, from a blocking thread (not a reader): the
    // drop joins them as well.
    let s = Store::open(dir.path(), config).await.unwrap();
    let open = threads_named(READER);
    assert!(open >= closed + 3, "{closed} -> {open}");
    assert!(s.get("k:0002").await.unwrap().is_some());
    tokio::task::spawn_blocking(move || drop(s)).await.unwrap();
    let dropped = settles(READER, open - 3);
    assert!(
        dropped + 3 <= open,
        "drop stops the readers: {open} -> {dropped}"
    );
}
