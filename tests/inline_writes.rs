//! Writes applied on the caller's thread (`Store::set_now`,
//! `Store::delete_now`; docs/ARCHITECTURE.md, "Inline writes"): only
//! outside an async runtime, only under durability `none` or `batch`, only
//! while the writer is idle with nothing queued; never reordered before a
//! write queued earlier; acknowledged writes survive close; a write racing
//! close is applied and kept, or answers `Closed`.

use std::sync::mpsc;
use std::time::Duration;

use cyberfly_store::{Config, Durability, Error, Store};

fn config(d: Durability) -> cyberfly_store::ConfigBuilder {
    Config::builder()
        .durability(d)
        .inline_read_limit(Duration::from_secs(1))
        .gc_interval(Duration::ZERO)
        .sweep_interval(Duration::ZERO)
        .memory_trim_interval(Duration::ZERO)
}

fn open(dir: &std::path::Path, d: Durability) -> Store {
    Store::open_blocking(dir, config(d).build().unwrap()).unwrap()
}

#[test]
fn a_write_from_a_plain_thread_is_applied_inline_and_survives_close() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), Durability::Batch);
    for i in 0..100 {
        let r = s.set_now(&format!("k{i}"), &format!("v{i}"), None);
        assert!(matches!(r, Some(Ok(()))), "{r:?}");
    }
    assert!(s.delete_now("k0").unwrap().unwrap());
    assert!(!s.delete_now("k0").unwrap().unwrap());
    assert!(matches!(s.set_now("t", "x", Some(100)), Some(Ok(()))));
    let st = s.stats();
    assert_eq!(st.inline_writes, 103);
    assert_eq!(st.writer_batches, 103, "one group each, on this thread");
    // Read back at cache-hit cost (written through) and after reopen.
    let hits = st.hot_hits;
    assert_eq!(s.get_blocking("k7").unwrap().as_deref(), Some("v7"));
    assert_eq!(s.stats().hot_hits, hits + 1);
    assert!(s.block_on(s.ttl("t")).unwrap() > 0);
    s.close_blocking().unwrap();
    let s = open(dir.path(), Durability::Batch);
    assert_eq!(s.get_blocking("k0").unwrap(), None);
    for i in 1..100 {
        assert_eq!(
            s.get_blocking(&format!("k{i}")).unwrap().as_deref(),
            Some(&*format!("v{i}"))
        );
    }
    s.close_blocking().unwrap();
}

#[test]
fn sync_durability_an_async_caller_and_a_zero_limit_use_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), Durability::Sync);
    assert!(
        s.set_now("k", "v", None).is_none(),
        "sync waits for an fsync"
    );
    assert!(s.delete_now("k").is_none());
    s.close_blocking().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), Durability::Batch);
    // Inside the runtime (an async caller): never inline.
    let inside = s.block_on(async { s.set_now("k", "v", None).is_none() });
    assert!(inside);
    // A blob-sized value: never inline (the blob is added asynchronously).
    let big = "x".repeat(s.config().inline_threshold + 1);
    assert!(s.set_now("big", &big, None).is_none());
    s.close_blocking().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let cfg = config(Durability::Batch)
        .inline_read_limit(Duration::ZERO)
        .build()
        .unwrap();
    let s = Store::open_blocking(dir.path(), cfg).unwrap();
    assert!(s.set_now("k", "v", None).is_none(), "limit 0: never inline");
    assert_eq!(s.stats().inline_writes, 0);
    s.close_blocking().unwrap();
}

#[test]
fn bad_input_and_a_closed_store_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), Durability::Batch);
    assert!(matches!(
        s.set_now("", "v", None),
        Some(Err(Error::InvalidArgument(_)))
    ));
    assert!(matches!(
        s.delete_now(""),
        Some(Err(Error::InvalidArgument(_)))
    ));
    let huge = "x".repeat(s.config().max_value_len + 1);
    assert!(matches!(
        s.set_now("k", &huge, None),
        Some(Err(Error::ValueTooLarge { .. }))
    ));
    assert_eq!(s.get_blocking("k").unwrap(), None, "nothing written");
    s.close_blocking().unwrap();
    assert!(matches!(
        s.set_now("k", "v", None),
        Some(Err(Error::Closed))
    ));
    assert!(matches!(s.delete_now("k"), Some(Err(Error::Closed))));
}

/// A write queued to the writer and not yet applied is never overtaken by
/// a later inline write of the same caller: the last write issued wins,
/// every time. (Without the in-flight count the inline write would often
/// land first and the queued one overwrite it.)
#[test]
fn an_inline_write_never_overtakes_a_queued_one() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), Durability::Batch);
    let (tx, rx) = mpsc::channel();
    let mut inline = 0;
    for i in 0..2000 {
        let t = tx.clone();
        s.set_then("k", format!("queued-{i}"), move |r| t.send(r).unwrap())
            .unwrap();
        let last = format!("last-{i}");
        match s.set_now("k", &last, None) {
            Some(r) => {
                r.unwrap();
                inline += 1;
            }
            None => {
                let t = tx.clone();
                s.set_then("k", last.clone(), move |r| t.send(r).unwrap())
                    .unwrap();
                rx.recv().unwrap().unwrap();
            }
        }
        rx.recv().unwrap().unwrap();
        assert_eq!(s.get_blocking("k").unwrap().as_deref(), Some(&*last));
    }
    // Both paths were taken (the test exercises the race it guards).
    let st = s.stats();
    assert_eq!(st.inline_writes, inline);
    assert!(inline < 2000, "some inline writes deferred to the queue");
    s.close_blocking().unwrap();
}

/// Threads writing inline while another closes the store: every write is
/// either acknowledged and then found after reopen, or answers `Closed`.
#[test]
fn writes_racing_close_are_kept_or_refused() {
    for round in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path(), Durability::None);
        let acked: Vec<Vec<String>> = std::thread::scope(|sc| {
            let writers: Vec<_> = (0..4)
                .map(|t| {
                    let s = s.clone();
                    sc.spawn(move || {
                        let mut ok = Vec::new();
                        for i in 0.. {
                            let k = format!("r{round}:t{t}:{i}");
                            let r = match s.set_now(&k, "v", None) {
                                Some(r) => r,
                                None => s.block_on(s.set(&k, "v")),
                            };
                            match r {
                                Ok(()) => ok.push(k),
                                Err(Error::Closed) => break,
                                Err(e) => panic!("{k}: {e}"),
                            }
                        }
                        ok
                    })
                })
                .collect();
            std::thread::sleep(Duration::from_millis(20));
            s.close_blocking().unwrap();
            writers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        drop(s);
        let s = open(dir.path(), Durability::None);
        let n: usize = acked.iter().map(Vec::len).sum();
        assert!(n > 0);
        for k in acked.iter().flatten() {
            assert_eq!(s.get_blocking(k).unwrap().as_deref(), Some("v"), "{k} lost");
        }
        s.close_blocking().unwrap();
    }
}
