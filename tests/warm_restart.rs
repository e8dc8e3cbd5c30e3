//! Warm restart (docs/ARCHITECTURE.md, "Warm restart"): a clean close
//! writes the hot tier to a snapshot bound to the index state by a nonce;
//! the next open loads it before answering reads. A snapshot that is
//! corrupt, from another store, or older than a write is never served.

#[path = "support/fs.rs"]
mod fs;
use fs::copy_dir;
use std::path::Path;
use std::time::Duration;

use cyberfly_store::internals::WARM_RESTART_FILE as FILE;
use cyberfly_store::Durability;
use cyberfly_store::{Config, Store};

const N: usize = 4000;

/// 1 000-byte values, 4 000 keys (about 5 MB weighed) against a 4 MiB hot
/// tier: the background warm-up does not preload (the index does not fit
/// in 90 % of the tier), so a hot entry right after open came from the
/// snapshot.
fn config() -> cyberfly_store::ConfigBuilder {
    Config::builder()
        .hot_cache_bytes(4 << 20)
        .durability(Durability::Sync)
        .inline_read_limit(Duration::from_secs(1))
        .gc_interval(Duration::ZERO)
        .sweep_interval(Duration::ZERO)
        .memory_trim_interval(Duration::ZERO)
}

fn key(i: usize) -> String {
    format!("k:{i:05}")
}

fn value(tag: &str, i: usize) -> String {
    format!("{tag}-{i:05}-{}", "x".repeat(990))
}

/// Write the keys with values `tag-…`, read them all (so that the hot
/// tier holds what fits), close. Returns the hot entries at close.
fn populate(dir: &Path, tag: &str, cfg: Config) -> u64 {
    let s = Store::open_blocking(dir, cfg).unwrap();
    s.block_on(s.set_many((0..N).map(|i| (key(i), value(tag, i)))))
        .unwrap();
    for i in 0..N {
        assert_eq!(
            s.get_blocking(&key(i)).unwrap().as_deref(),
            Some(&*value(tag, i))
        );
    }
    let hot = s.stats().hot_entries;
    s.close_blocking().unwrap();
    hot
}

/// The value of a `cyberfly_*` metric line (0 when absent).
fn metric(s: &Store, line: &str) -> u64 {
    let text = s.metrics_text().unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(line)?.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

fn outcome(s: &Store, r: &str) -> u64 {
    metric(s, &format!("cyberfly_warm_restart_total{{result=\"{r}\"}}"))
}

fn check_values(s: &Store, tag: &str) {
    for i in 0..N {
        assert_eq!(
            s.get_blocking(&key(i)).unwrap().as_deref(),
            Some(&*value(tag, i)),
            "key {i}"
        );
    }
}

#[test]
fn reads_after_reopen_are_hot_hits() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config().build().unwrap();
    let hot = {
        let s = Store::open_blocking(dir.path(), cfg.clone()).unwrap();
        // A value that expires before the reopen: written (through, into
        // the hot tier while it is empty), read, not loaded.
        s.block_on(s.set_ex("ttl", "soon gone", 1)).unwrap();
        assert!(s.get_blocking("ttl").unwrap().is_some());
        s.block_on(s.set_many((0..N).map(|i| (key(i), value("a", i)))))
            .unwrap();
        check_values(&s, "a");
        let hot = s.stats().hot_entries;
        s.close_blocking().unwrap();
        hot
    };
    assert!(hot > 1000, "the hot tier held {hot} entries at close");
    assert!(dir.path().join(FILE).exists(), "no snapshot at close");
    std::thread::sleep(Duration::from_millis(1100));
    let s = Store::open_blocking(dir.path(), cfg).unwrap();
    assert_eq!(outcome(&s, "loaded"), 1);
    assert!(!dir.path().join(FILE).exists(), "the snapshot is used once");
    let st = s.stats();
    // The expired value is not loaded (and the same process hashes keys to
    // the same shards, so everything else fits again).
    assert!(
        st.hot_entries + 1 >= hot && st.hot_entries < hot,
        "loaded {} of {hot}",
        st.hot_entries
    );
    assert_eq!(
        metric(&s, "cyberfly_warm_restart_entries_total"),
        st.hot_entries
    );
    assert_eq!(s.get_blocking("ttl").unwrap(), None, "expired value served");
    let before = s.stats();
    check_values(&s, "a");
    let after = s.stats();
    // Every key loaded is a hot hit, the rest are misses (nothing else
    // preloads: the warm-up does not run after a warm restart, and would
    // not preload this index) — except that the pass's own misses are
    // admitted into the full hot tier, and TinyLFU may let one of them
    // evict a loaded key not read yet (seen once in CI: 3254 of 3255).
    let hits = after.hot_hits - before.hot_hits;
    let misses = after.misses - before.misses;
    let warm = after.warm_hits - before.warm_hits;
    assert_eq!(hits + warm + misses, N as u64, "every read counted once");
    assert!(
        hits <= st.hot_entries && hits >= st.hot_entries * 99 / 100,
        "{hits} hot hits for {} loaded",
        st.hot_entries
    );
    s.close_blocking().unwrap();
}

/// A crash image of a store opened from a snapshot and written to: the
/// old snapshot, put back next to it, is never loaded (its nonce was
/// removed from the index, durably, before the write).
#[test]
fn a_write_after_open_is_never_undone_by_the_old_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config().build().unwrap();
    populate(dir.path(), "a", cfg.clone());
    let snap = std::fs::read(dir.path().join(FILE)).expect("a snapshot at close");
    let s = Store::open_blocking(dir.path(), cfg.clone()).unwrap();
    assert_eq!(outcome(&s, "loaded"), 1);
    assert_eq!(
        s.get_blocking(&key(7)).unwrap().as_deref(),
        Some(&*value("a", 7))
    );
    s.block_on(s.set(&key(7), "new")).unwrap(); // durable (sync)
                                                // The crash: the directory as it is now, with the old snapshot back.
    let crashed = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), crashed.path());
    std::fs::write(crashed.path().join(FILE), &snap).unwrap();
    s.close_blocking().unwrap();
    let c = Store::open_blocking(crashed.path(), cfg).unwrap();
    assert_eq!(outcome(&c, "loaded"), 0);
    assert_eq!(outcome(&c, "mismatch"), 1);
    assert_eq!(c.stats().hot_entries, 0);
    assert_eq!(c.get_blocking(&key(7)).unwrap().as_deref(), Some("new"));
    c.close_blocking().unwrap();
}

#[test]
fn a_flipped_byte_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config().build().unwrap();
    populate(dir.path(), "a", cfg.clone());
    let p = dir.path().join(FILE);
    let mut b = std::fs::read(&p).expect("a snapshot at close");
    // A byte of a value in the middle of the file.
    let at = b.len() / 2;
    b[at] ^= 0x01;
    std::fs::write(&p, &b).unwrap();
    let s = Store::open_blocking(dir.path(), cfg.clone()).unwrap();
    assert_eq!(outcome(&s, "invalid"), 1);
    assert_eq!(outcome(&s, "loaded"), 0);
    assert_eq!(s.stats().hot_entries, 0);
    assert!(!p.exists());
    check_values(&s, "a");
    s.close_blocking().unwrap();
    // A truncated one too.
    let b = std::fs::read(&p).expect("a snapshot at the second close");
    std::fs::write(&p, &b[..b.len() - 40]).unwrap();
    let s = Store::open_blocking(dir.path(), cfg).unwrap();
    assert_eq!(outcome(&s, "invalid"), 1);
    assert_eq!(s.stats().hot_entries, 0);
    check_values(&s, "a");
    s.close_blocking().unwrap();
}

#[test]
fn a_snapshot_of_another_store_is_ignored() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let cfg = config().build().unwrap();
    populate(a.path(), "a", cfg.clone());
    populate(b.path(), "b", cfg.clone());
    // Same keys, other values: loading A's file into B would serve A's.
    std::fs::copy(a.path().join(FILE), b.path().join(FILE)).unwrap();
    let s = Store::open_blocking(b.path(), cfg).unwrap();
    assert_eq!(outcome(&s, "mismatch"), 1);
    assert_eq!(outcome(&s, "loaded"), 0);
    assert_eq!(s.stats().hot_entries, 0);
    check_values(&s, "b");
    s.close_blocking().unwrap();
}

#[test]
fn the_off_switch() {
    let dir = tempfile::tempdir().unwrap();
    let off = config().warm_restart(false).build().unwrap();
    let on = config().build().unwrap();
    assert!(Config::default().warm_restart);
    // Off at close: no snapshot written.
    populate(dir.path(), "a", off.clone());
    assert!(!dir.path().join(FILE).exists());
    // A snapshot from an "on" close, opened with it off: discarded.
    let s = Store::open_blocking(dir.path(), on.clone()).unwrap();
    assert_eq!(outcome(&s, "missing"), 1);
    s.close_blocking().unwrap();
    assert!(dir.path().join(FILE).exists());
    let s = Store::open_blocking(dir.path(), off.clone()).unwrap();
    assert_eq!(outcome(&s, "off"), 1);
    assert_eq!(s.stats().hot_entries, 0);
    assert!(!dir.path().join(FILE).exists());
    check_values(&s, "a");
    s.close_blocking().unwrap();
    // And it stays discarded: turning it back on finds nothing.
    let s = Store::open_blocking(dir.path(), on).unwrap();
    assert_eq!(outcome(&s, "missing"), 1);
    assert_eq!(s.stats().hot_entries, 0);
    s.close_blocking().unwrap();
}

/// The snapshot's records are in key order whatever order the keys were
/// written and read in: the next open allocates the hot tier's entries in
/// that order, so a pass over keys in order walks memory forwards.
#[test]
fn the_snapshot_is_in_key_order() {
    let d = tempfile::tempdir().unwrap();
    let s = Store::open_blocking(d.path(), config().build().unwrap()).unwrap();
    // Written and read in a scrambled order (i * 7919 mod N is a
    // permutation: 7919 is a prime, so coprime to 4 000).
    let order: Vec<usize> = (0..N).map(|i| i * 7919 % N).collect();
    for chunk in order.chunks(500) {
        s.block_on(s.set_many(chunk.iter().map(|&i| (key(i), value("o", i)))))
            .unwrap();
    }
    for &i in &order {
        s.get_blocking(&key(i)).unwrap().unwrap();
    }
    let hot = s.stats().hot_entries;
    s.close_blocking().unwrap();
    assert!(hot > 1000, "{hot} hot entries");

    // magic [8] | nonce [16] | count u64 | (klen u32 | key | vlen u32 | value | expires u64)*
    let data = std::fs::read(d.path().join(FILE)).unwrap();
    let count = u64::from_le_bytes(data[24..32].try_into().unwrap());
    assert_eq!(count, hot);
    let mut at = 32;
    let mut keys = Vec::new();
    let u32_at = |at: usize| u32::from_le_bytes(data[at..at + 4].try_into().unwrap()) as usize;
    for _ in 0..count {
        let kl = u32_at(at);
        keys.push(String::from_utf8(data[at + 4..at + 4 + kl].to_vec()).unwrap());
        at += 4 + kl;
        at += 4 + u32_at(at) + 8;
    }
    assert_eq!(at + 32, data.len(), "records then the checksum");
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "keys out of order");

    // And it loads: every key reads back exactly.
    let s = Store::open_blocking(d.path(), config().build().unwrap()).unwrap();
    assert_eq!(outcome(&s, "loaded"), 1);
    check_values(&s, "o");
    s.close_blocking().unwrap();
}
