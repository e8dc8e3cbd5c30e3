//! Integration tests of the core engine on real files: sled on disk, the
//! iroh-blobs FsStore on disk, real fsync, child processes killed with SIGKILL.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;

use cyberfly_store::{Config, ContentHash, Durability, Error, ErrorCode, Store};

fn cfg() -> Config {
    Config::builder()
        .inline_threshold(1024)
        .gc_interval(std::time::Duration::ZERO)
        .build()
        .unwrap()
}

fn big(tag: &str, len: usize) -> String {
    let mut s = String::with_capacity(len);
    s.push_str(tag);
    while s.len() < len {
        s.push(char::from(b'a' + (s.len() % 26) as u8));
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_after_reopen_inline_and_blob() {
    let dir = tempfile::tempdir().unwrap();
    let large = big("large", 200_000);
    {
        let s = Store::open(dir.path(), cfg()).await.unwrap();
        s.set("db:small", "hello ✓").await.unwrap();
        s.set("db:large", large.clone()).await.unwrap();
        s.set("db:empty", "").await.unwrap();
        s.close().await.unwrap();
    }
    let s = Store::open(dir.path(), cfg()).await.unwrap();
    assert_eq!(s.get("db:small").await.unwrap().as_deref(), Some("hello ✓"));
    assert_eq!(
        s.get("db:large").await.unwrap().as_deref(),
        Some(large.as_str())
    );
    assert_eq!(s.get("db:empty").await.unwrap().as_deref(), Some(""));
    assert_eq!(s.get("db:nope").await.unwrap(), None);
    // the large value went to the blob store, the small ones did not
    assert_eq!(s.blob_count().await.unwrap(), 1);
    s.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_values_are_stored_once_and_hash_matches_iroh() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), cfg()).await.unwrap();
    let v = big("same", 50_000);
    for i in 0..10 {
        s.set(&format!("k{i}"), v.clone()).await.unwrap();
    }
    assert_eq!(s.blob_count().await.unwrap(), 1);
    let h = s.add_blob(v.clone().into_bytes()).await.unwrap();
    assert_eq!(h, ContentHash(*blake3::hash(v.as_bytes()).as_bytes()));
    assert_eq!(
        s.blob_count().await.unwrap(),
        1,
        "raw blob deduplicated too"
    );
    let raw = b"\x00\x01 raw bytes, not text \xff".to_vec();
    let h2 = s.add_blob(raw.clone()).await.unwrap();
    assert_eq!(h2.to_hex(), blake3::hash(&raw).to_hex().to_string());
    assert_eq!(s.get_blob(&h2).await.unwrap().unwrap().as_ref(), &raw[..]);
    let absent = ContentHash::of(b"never added");
    assert!(s.get_blob(&absent).await.unwrap().is_none());
    assert!(ContentHash::from_hex("zz").is_err());
    s.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_is_invalidated_on_overwrite_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), cfg()).await.unwrap();
    s.set("k", "one").await.unwrap();
    // written through into the hot tier
    assert_eq!(s.get("k").await.unwrap().as_deref(), Some("one"));
    assert_eq!(s.get("k").await.unwrap().as_deref(), Some("one"));
    assert!(s.get_cached("k").is_some(), "value is cached");
    s.set("k", "two").await.unwrap();
    assert_eq!(
        s.get_cached("k").unwrap().unwrap().as_deref(),
        Some("two"),
        "overwrite replaced the cached value"
    );
    assert_eq!(s.get("k").await.unwrap().as_deref(), Some("two"));
    assert_eq!(s.get("k").await.unwrap().as_deref(), Some("two"));
    assert!(s.delete("k").await.unwrap());
    assert!(!s.delete("k").await.unwrap(), "second delete finds nothing");
    assert_eq!(s.get("k").await.unwrap(), None);
    assert!(!s.exists("k").await.unwrap());
    let st = s.stats();
    assert!(st.hot_hits >= 1 && st.misses >= 1, "{st:?}");
    s.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hit_returns_the_same_allocation() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), cfg()).await.unwrap();
    // A value over 1 KiB stays in its own allocation in the hot tier: a hit
    // clones the Arc. A shorter one is copied into the hot entry's block
    // (one cache miss a hit, not two), and a hit copies it out.
    s.set("k", big("v", 5000)).await.unwrap();
    s.set("small", big("s", 500)).await.unwrap();
    s.get("k").await.unwrap();
    let a = s.get("k").await.unwrap().unwrap();
    let b = s.get("k").await.unwrap().unwrap();
    assert!(
        Arc::ptr_eq(&a, &b),
        "a cache hit must not copy a long value"
    );
    let lent = s.get_cached_with("small", |v| v.map(str::to_owned));
    assert_eq!(lent.unwrap().unwrap(), Some(big("s", 500)));
    assert_eq!(
        s.get("small").await.unwrap().as_deref(),
        Some(big("s", 500).as_str())
    );
    s.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_many_keeps_order_with_missing_keys() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), cfg()).await.unwrap();
    let large = big("L", 5000);
    s.set_many((0..500).filter(|i| i % 3 != 0).map(|i| {
        let v = if i == 7 {
            large.clone()
        } else {
            format!("v{i}")
        };
        (format!("k{i}"), v)
    }))
    .await
    .unwrap();
    // warm a few so that hits and misses mix
    s.get("k1").await.unwrap();
    let keys: Vec<String> = (0..500).map(|i| format!("k{i}")).collect();
    let got = s.get_many(&keys).await.unwrap();
    assert_eq!(got.len(), 500);
    for (i, v) in got.iter().enumerate() {
        if i % 3 == 0 {
            assert_eq!(v, &None, "k{i}");
        } else if i == 7 {
            assert_eq!(v.as_deref(), Some(large.as_str()));
        } else {
            assert_eq!(v.as_deref(), Some(format!("v{i}").as_str()));
        }
    }
    assert!(s.get_many::<&str>(&[]).await.unwrap().is_empty());
    s.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_by_prefix_streams_in_pages() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::builder()
        .scan_page_size(7)
        .inline_threshold(64)
        .build()
        .unwrap();
    let s = Store::open(dir.path(), config).await.unwrap();
    s.set_many((0..100).map(|i| (format!("a:{i:03}"), format!("{i}"))))
        .await
        .unwrap();
    s.set_many((0..10).map(|i| (format!("b:{i}"), big("b", 100))))
        .await
        .unwrap();
    s.set("a", "not under a:").await.unwrap();
    let mut scan = s.scan("a:");
    let mut pages = 0;
    let mut seen = Vec::new();
    while let Some(page) = scan.next_page().await.unwrap() {
        assert!(page.len() <= 7);
        pages += 1;
        seen.extend(page);
    }
    assert_eq!(pages, 15);
    assert_eq!(seen.len(), 100);
    for (i, (k, v)) in seen.iter().enumerate() {
        assert_eq!(k, &format!("a:{i:03}"));
        assert_eq!(&**v, i.to_string());
    }
    let b = s.scan("b:").collect_all().await.unwrap();
    assert_eq!(b.len(), 10);
    assert!(b.iter().all(|(_, v)| v.len() == 100));
    assert!(s.scan("zzz").collect_all().await.unwrap().is_empty());
    let all = s.scan("").collect_all().await.unwrap();
    assert_eq!(all.len(), 111);
    s.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_concurrent_writers() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), cfg()).await.unwrap();
    let mut tasks = Vec::new();
    for w in 0..64 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..1000 {
                let k = format!("w{w}:{i}");
                s.set(&k, format!("{w}-{i}")).await.unwrap();
                if i % 97 == 0 {
                    // a writer reads its own write right after the ack
                    assert_eq!(
                        s.get(&k).await.unwrap().as_deref(),
                        Some(&*format!("{w}-{i}"))
                    );
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let keys: Vec<String> = (0..64)
        .flat_map(|w| (0..1000).map(move |i| format!("w{w}:{i}")))
        .collect();
    let got = s.get_many(&keys).await.unwrap();
    for (k, v) in keys.iter().zip(got) {
        let (w, i) = k[1..].split_once(':').unwrap();
        assert_eq!(v.as_deref(), Some(format!("{w}-{i}").as_str()), "{k}");
    }
    let st = s.stats();
    assert_eq!(st.writes_acked, 64_000);
    assert!(
        st.writer_batches < 64_000,
        "writes were grouped: {} batches",
        st.writer_batches
    );
    s.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_pressure_with_a_queue_of_one() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::builder()
        .writer_queue_depth(1)
        .writer_max_batch(2)
        .build()
        .unwrap();
    let s = Store::open(dir.path(), config).await.unwrap();
    let mut tasks = Vec::new();
    for w in 0..32 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..50 {
                s.set(&format!("{w}:{i}"), "x").await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(s.scan("").collect_all().await.unwrap().len(), 32 * 50);
    s.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_typed_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::builder()
        .max_key_len(16)
        .max_value_len(1000)
        .build()
        .unwrap();
    let s = Store::open(dir.path(), config).await.unwrap();
    s.set("good", "v").await.unwrap();
    let before = s.scan("").collect_all().await.unwrap();

    let e = s.set("", "v").await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidArgument);
    let e = s.set(&"k".repeat(17), "v").await.unwrap_err();
    assert!(matches!(e, Error::KeyTooLong { len: 17, max: 16 }));
    let e = s.set("k", "v".repeat(1001)).await.unwrap_err();
    assert!(matches!(e, Error::ValueTooLarge { .. }));
    assert!(s.get("").await.is_err());
    // one bad item in a set_many writes nothing at all
    let e = s
        .set_many(vec![("ok1", "v"), ("", "v"), ("ok2", "v")])
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidArgument);
    let e = s.get_many(&["good", &"x".repeat(40)]).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::KeyTooLong);
    assert!(s.add_blob(vec![0u8; 1001]).await.is_err());
    assert_eq!(s.scan("").collect_all().await.unwrap(), before);

    s.close().await.unwrap();
    s.close().await.unwrap(); // idempotent
    assert!(matches!(s.get("good").await, Err(Error::Closed)));
    assert!(matches!(s.set("good", "x").await, Err(Error::Closed)));
    assert!(matches!(s.delete("good").await, Err(Error::Closed)));
    assert!(matches!(s.flush().await, Err(Error::Closed)));
    assert!(matches!(s.scan("").next_page().await, Err(Error::Closed)));
    let s = Store::open(dir.path(), Config::default()).await.unwrap();
    assert_eq!(s.scan("").collect_all().await.unwrap(), before);
    s.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_config_is_a_typed_error_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let c = Config {
        writer_queue_depth: 0,
        ..Config::default()
    };
    let e = Store::open(dir.path(), c).await.unwrap_err();
    assert!(matches!(
        e,
        Error::InvalidConfig {
            field: "writer_queue_depth",
            ..
        }
    ));
    // the failed open left the directory usable
    Store::open(dir.path(), Config::default())
        .await
        .unwrap()
        .close()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_twice_in_one_process_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), cfg()).await.unwrap();
    s.set("k", "v").await.unwrap();
    let e = Store::open(dir.path(), cfg()).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::AlreadyOpen, "{e}");
    assert_eq!(s.get("k").await.unwrap().as_deref(), Some("v"));
    s.close().await.unwrap();
    // after close the directory opens again
    let s = Store::open(dir.path(), cfg()).await.unwrap();
    assert_eq!(s.get("k").await.unwrap().as_deref(), Some("v"));
    s.close().await.unwrap();
}

#[test]
fn open_blocking_owns_its_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open_blocking(dir.path(), cfg()).unwrap();
    s.block_on(s.set("k", "v")).unwrap();
    assert_eq!(s.block_on(s.get("k")).unwrap().as_deref(), Some("v"));
    // from many host threads at once
    std::thread::scope(|sc| {
        for t in 0..8 {
            let s = &s;
            sc.spawn(move || {
                for i in 0..100 {
                    s.block_on(s.set(&format!("t{t}:{i}"), "x")).unwrap();
                }
            });
        }
    });
    assert_eq!(s.block_on(s.scan("t").collect_all()).unwrap().len(), 800);
    s.close_blocking().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_without_close_keeps_acknowledged_writes() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::builder()
        .durability(Durability::None)
        .build()
        .unwrap();
    {
        let s = Store::open(dir.path(), config.clone()).await.unwrap();
        s.set("k", "v").await.unwrap();
        let s2 = s.clone();
        tokio::task::spawn_blocking(move || drop((s, s2)))
            .await
            .unwrap();
    }
    let s = Store::open(dir.path(), config).await.unwrap();
    assert_eq!(s.get("k").await.unwrap().as_deref(), Some("v"));
    s.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_text_and_stats() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), cfg()).await.unwrap();
    s.set("a", "1").await.unwrap();
    s.get("a").await.unwrap();
    s.get("a").await.unwrap();
    s.get("missing").await.unwrap();
    let text = s.metrics_text().unwrap();
    assert!(text.contains("cyberfly_ops_total{op=\"set\"} 1"), "{text}");
    assert!(text.contains("cyberfly_ops_total{op=\"get\"} 3"), "{text}");
    // "a" was written through: two hot hits; "missing" read on the pool.
    assert!(text.contains("cyberfly_cache_lookups_total{result=\"hit\",tier=\"hot\"} 2"));
    assert!(
        text.contains("cyberfly_miss_reads_total{path=\"pool\"} 1"),
        "{text}"
    );
    assert!(text.contains("cyberfly_writer_batch_size_count"));
    assert!(text.contains("cyberfly_write_latency_seconds_bucket"));
    assert!(text.contains("cyberfly_writer_queue_depth"));
    let st = s.stats();
    assert_eq!(st.misses, 1);
    assert_eq!(st.hot_hits, 2);
    assert_eq!((st.inline_reads, st.pool_reads), (0, 1));
    assert!(st.write_latency_p50.is_some());
    s.close().await.unwrap();
}

/// Overwrite 1 000 keys with 64 KiB values 20 times; after collection the
/// store's disk use is within 3x of one generation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreferenced_blobs_are_collected() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), cfg()).await.unwrap();
    const KEYS: usize = 1000;
    const SIZE: usize = 64 * 1024;
    let generation_bytes = (KEYS * SIZE) as u64;
    let pinned = s.add_blob(vec![7u8; 100_000]).await.unwrap();
    for g in 0..20 {
        let items: Vec<(String, String)> = (0..KEYS)
            .map(|i| (format!("k{i}"), big(&format!("{g}/{i}/"), SIZE)))
            .collect();
        for chunk in items.chunks(100) {
            s.set_many(chunk.to_vec()).await.unwrap();
        }
        if g == 9 {
            // a scheduled-or-requested run in the middle must keep live blobs
            s.collect_garbage().await.unwrap();
        }
    }
    s.delete("k0").await.unwrap();
    s.flush().await.unwrap();
    s.collect_garbage().await.unwrap();
    let blobs = s.blob_count().await.unwrap();
    assert_eq!(blobs, KEYS - 1 + 1, "live values plus the pinned blob");
    let used = s.disk_usage().unwrap();
    assert!(
        used <= 3 * generation_bytes,
        "disk use {used} bytes > 3x one generation ({generation_bytes})"
    );
    // everything still reads back, from the index, not the cache
    let s2 = {
        s.close().await.unwrap();
        Store::open(dir.path(), cfg()).await.unwrap()
    };
    let keys: Vec<String> = (1..KEYS).map(|i| format!("k{i}")).collect();
    for (i, v) in s2.get_many(&keys).await.unwrap().into_iter().enumerate() {
        let v = v.unwrap();
        assert!(v.starts_with(&format!("19/{}/", i + 1)));
        assert_eq!(v.len(), SIZE);
    }
    assert!(s2.get_blob(&pinned).await.unwrap().is_some());
    assert!(s2.remove_blob(&pinned).await.unwrap());
    s2.collect_garbage().await.unwrap();
    assert!(s2.get_blob(&pinned).await.unwrap().is_none());
    s2.close().await.unwrap();
}

// ------------------------------------------------------------------------
// Durability across a killed process. The test binary re-runs itself as the
// child (`child_writer`, which does nothing unless CYBERFLY_CHILD is set),
// the child acknowledges on stdout, the parent kills it with SIGKILL and
// reopens the store.

fn run_child_and_kill(mode: &str, dir: &std::path::Path) {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "child_writer",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("CYBERFLY_CHILD", mode)
        .env("CYBERFLY_DIR", dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let mut acked = false;
    for line in BufReader::new(out).lines() {
        let line = line.unwrap();
        if line.contains("ACKED") {
            acked = true;
            break;
        }
    }
    assert!(acked, "child never acknowledged");
    // SIGKILL: no destructor, no close, no flush on exit
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn child_writer() {
    let Ok(mode) = std::env::var("CYBERFLY_CHILD") else {
        return;
    };
    let dir = std::env::var("CYBERFLY_DIR").unwrap();
    let durability = if mode == "sync" {
        Durability::Sync
    } else {
        Durability::None
    };
    let config = Config::builder()
        .durability(durability)
        .inline_threshold(1024)
        .build()
        .unwrap();
    let s = Store::open_blocking(&dir, config).unwrap();
    s.block_on(s.set("small", "acknowledged")).unwrap();
    s.block_on(s.set("large", big("acknowledged", 100_000)))
        .unwrap();
    if mode == "flush" {
        s.block_on(s.flush()).unwrap();
    }
    println!("ACKED");
    // wait to be killed, holding the store open
    std::thread::sleep(std::time::Duration::from_secs(600));
}

fn check_after_kill(dir: &std::path::Path) {
    let s = Store::open_blocking(dir, cfg()).unwrap();
    assert_eq!(
        s.block_on(s.get("small")).unwrap().as_deref(),
        Some("acknowledged")
    );
    let large = s
        .block_on(s.get("large"))
        .unwrap()
        .expect("large value survived");
    assert_eq!(&*large, big("acknowledged", 100_000));
    s.close_blocking().unwrap();
}

#[test]
fn sync_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    run_child_and_kill("sync", dir.path());
    check_after_kill(dir.path());
}

#[test]
fn flushed_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    run_child_and_kill("flush", dir.path());
    check_after_kill(dir.path());
}

#[test]
fn a_store_open_in_another_process_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "child_writer",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("CYBERFLY_CHILD", "sync")
        .env("CYBERFLY_DIR", dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    for line in BufReader::new(out).lines() {
        if line.unwrap().contains("ACKED") {
            break;
        }
    }
    let e = Store::open_blocking(dir.path(), cfg()).unwrap_err();
    assert_eq!(e.code(), ErrorCode::AlreadyOpen, "{e}");
    child.kill().unwrap();
    child.wait().unwrap();
    // the other process is gone: the store opens and is intact
    check_after_kill(dir.path());
}

/// A store on a runtime of its own, used from the test's plain threads (as
/// the Python binding's event loop uses the store: from outside the runtime).
fn open_outside_runtime(config: Config) -> (tokio::runtime::Runtime, tempfile::TempDir, Store) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let s = rt.block_on(Store::open(dir.path(), config)).unwrap();
    (rt, dir, s)
}

/// Writes acknowledged by callback (`set_then` and the like), submitted from
/// plain OS threads outside the runtime, as the Python binding's event loop
/// does: every callback runs once, after the write is applied (a read right
/// after sees it), inline values on the writer thread; a value stored as a
/// blob goes through the runtime first.
#[test]
fn writes_acknowledged_by_callback_from_threads_outside_the_runtime() {
    let (rt, _dir, s) = open_outside_runtime(cfg());
    let (tx, rx) = std::sync::mpsc::channel::<(String, Result<(), Error>, Option<String>)>();
    let threads: Vec<_> = (0..4)
        .map(|w| {
            let (s, tx) = (s.clone(), tx.clone());
            std::thread::spawn(move || {
                for i in 0..500 {
                    let k = format!("t{w}:{i}");
                    // every 100th value is larger than the inline threshold
                    let v = if i % 100 == 0 {
                        big(&k, 2000)
                    } else {
                        k.clone()
                    };
                    let tx = tx.clone();
                    let k2 = k.clone();
                    s.set_then(&k, v, move |r| {
                        let thread = std::thread::current().name().map(str::to_owned);
                        tx.send((k2, r, thread)).unwrap();
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    drop(tx);
    let mut acked = 0;
    let mut on_writer = 0;
    for (k, r, thread) in rx.iter() {
        r.unwrap();
        acked += 1;
        if thread.as_deref() == Some("cyberfly-writer") {
            on_writer += 1;
        }
        // acknowledged means applied: the value is there right away
        let got = rt.block_on(s.get(&k)).unwrap().unwrap();
        assert!(got.starts_with(&*k), "{k}");
    }
    assert_eq!(acked, 2000);
    assert_eq!(
        on_writer,
        2000 - 20,
        "inline writes are acked on the writer thread"
    );
    assert_eq!(s.stats().writes_acked, 2000);

    // set_ex_then and delete_then
    let (tx, rx) = std::sync::mpsc::channel();
    let t2 = tx.clone();
    s.set_ex_then("ttl", "v", 100, move |r| t2.send(r.map(|()| true)).unwrap())
        .unwrap();
    assert!(rx.recv().unwrap().unwrap());
    let ttl = rt.block_on(s.ttl("ttl")).unwrap();
    assert!((1..=100).contains(&ttl), "ttl {ttl}");
    for expected in [true, false] {
        let t = tx.clone();
        s.delete_then("ttl", move |r| t.send(r).unwrap()).unwrap();
        assert_eq!(rx.recv().unwrap().unwrap(), expected);
    }
    assert_eq!(rt.block_on(s.get("ttl")).unwrap(), None);
    rt.block_on(s.close()).unwrap();
}

/// A full writer queue does not block the submitting thread: the write waits
/// on the runtime and is still acknowledged, in any number.
#[test]
fn callback_writes_with_a_queue_of_one() {
    let config = Config::builder()
        .writer_queue_depth(1)
        .writer_max_batch(2)
        .build()
        .unwrap();
    let (rt, _dir, s) = open_outside_runtime(config);
    let (tx, rx) = std::sync::mpsc::channel();
    for i in 0..2000 {
        let tx = tx.clone();
        s.set_then(&format!("k{i}"), "x", move |r| tx.send(r).unwrap())
            .unwrap();
    }
    drop(tx);
    assert_eq!(rx.iter().map(|r| r.unwrap()).count(), 2000);
    assert_eq!(rt.block_on(s.scan("").collect_all()).unwrap().len(), 2000);
    rt.block_on(s.close()).unwrap();
}

/// Bad input and a closed store are typed errors returned by the call
/// itself: nothing is written and the callback never runs.
#[test]
fn callback_writes_reject_bad_input_without_calling_back() {
    let config = Config::builder()
        .max_key_len(16)
        .max_value_len(1000)
        .build()
        .unwrap();
    let (rt, _dir, s) = open_outside_runtime(config);
    let called = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let cb = || {
        let c = called.clone();
        move |_r: Result<(), Error>| {
            c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    };
    let e = s.set_then("", "v", cb()).unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidArgument);
    let e = s.set_then(&"k".repeat(17), "v", cb()).unwrap_err();
    assert!(matches!(e, Error::KeyTooLong { len: 17, max: 16 }));
    let e = s.set_then("k", "v".repeat(1001), cb()).unwrap_err();
    assert!(matches!(e, Error::ValueTooLarge { .. }));
    let e = s.set_ex_then("", "v", 5, cb()).unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidArgument);
    let c = called.clone();
    let e = s
        .delete_then("", move |_r| {
            c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        })
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidArgument);
    assert!(rt.block_on(s.scan("").collect_all()).unwrap().is_empty());
    rt.block_on(s.close()).unwrap();
    assert!(matches!(s.set_then("k", "v", cb()), Err(Error::Closed)));
    assert!(matches!(s.delete_then("k", |_| ()), Err(Error::Closed)));
    assert_eq!(called.load(std::sync::atomic::Ordering::SeqCst), 0);
}
