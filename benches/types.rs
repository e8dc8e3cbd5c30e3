//! Benchmarks of the container types (issue 3) and signed operations
//! (issue 4). Run: `cargo bench --bench types`. Setup (filling containers to
//! 1 000 000 elements, signing a million operations) is done once per group,
//! outside the measured loops.

use std::cell::OnceCell;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use cyberfly_store::SignedOperation;
use cyberfly_store::{verify_uncached, Keypair, Verifier, VerifyItem};
use cyberfly_store::{Config, Durability, GeoUnit, LogCheck, RadiusOpts, Store, ValueKind};

#[path = "../tests/support/rt.rs"]
mod support_rt;
use support_rt::rt;

fn cfg() -> Config {
    Config::builder()
        .durability(Durability::Batch)
        .sweep_interval(Duration::ZERO)
        .gc_interval(Duration::ZERO)
        .build()
        .unwrap()
}

/// Fill the containers `{kind}:{n}` to `n` elements; returns the id of the
/// stream entry in the middle.
async fn fill(s: &Store, n: usize) -> String {
    let mut mid = String::new();
    const B: usize = 10_000;
    for start in (0..n).step_by(B) {
        let end = (start + B).min(n);
        s.rpush(
            &format!("list:{n}"),
            (start..end).map(|i| format!("item-{i:08}")),
        )
        .await
        .unwrap();
        s.zadd(
            &format!("zset:{n}"),
            (start..end).map(|i| (format!("m{i:08}"), i as f64)),
        )
        .await
        .unwrap();
        s.ts_add_many(
            &format!("ts:{n}"),
            (start..end).map(|i| (i as i64, i as f64)),
        )
        .await
        .unwrap();
        // xadd has no bulk form: 64 pipelined requests at a time, ids from
        // "*" so that their order does not matter
        for w in (start..end).collect::<Vec<_>>().chunks(64) {
            let key = format!("stream:{n}");
            let futs = w.iter().map(|_| s.xadd(&key, "*", [("v", "x")]));
            for (i, r) in w.iter().zip(futures_util::future::join_all(futs).await) {
                let id = r.unwrap();
                if *i == n / 2 {
                    mid = id;
                }
            }
        }
    }
    mid
}

/// One store holding containers of 1 000 and of 1 000 000 elements side by
/// side, so that the comparison isolates the container's size from the
/// size of the index around it.
fn appends(c: &mut Criterion) {
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    // filled on first use, so that a filter that skips this group skips
    // the fill too
    let state = OnceCell::new();
    let setup = || {
        state.get_or_init(|| {
            rt.block_on(async {
                let s = Store::open(dir.path(), cfg()).await.unwrap();
                let t = Instant::now();
                fill(&s, 1_000).await;
                let mid = fill(&s, 1_000_000).await;
                eprintln!("filled 4 containers to 1k and 4 to 1M in {:?}", t.elapsed());
                (s, mid)
            })
        })
    };
    let mut g = c.benchmark_group("append_at_size");
    g.sample_size(30).measurement_time(Duration::from_secs(5));
    let mut seq = 10_000_000u64;
    for n in [1_000usize, 1_000_000] {
        let (list, zset, ts, stream) = (
            format!("list:{n}"),
            format!("zset:{n}"),
            format!("ts:{n}"),
            format!("stream:{n}"),
        );
        g.bench_with_input(BenchmarkId::new("rpush", n), &n, |b, _| {
            let (s, _) = setup();
            b.to_async(&rt).iter(|| s.rpush(&list, ["new item"]));
        });
        g.bench_with_input(BenchmarkId::new("zadd", n), &n, |b, _| {
            let (s, _) = setup();
            b.to_async(&rt).iter(|| {
                seq += 1;
                let m = format!("new{seq}");
                let (s, k) = (s.clone(), zset.clone());
                async move { s.zadd(&k, [(m, seq as f64)]).await }
            });
        });
        g.bench_with_input(BenchmarkId::new("ts_add", n), &n, |b, _| {
            let (s, _) = setup();
            b.to_async(&rt).iter(|| {
                seq += 1;
                let (s, k) = (s.clone(), ts.clone());
                let t = seq as i64;
                async move { s.ts_add(&k, t, 1.0).await }
            });
        });
        g.bench_with_input(BenchmarkId::new("xadd", n), &n, |b, _| {
            let (s, _) = setup();
            b.to_async(&rt).iter(|| s.xadd(&stream, "*", [("v", "x")]));
        });
    }
    // ranges of 1 000 out of 1 000 000
    g.throughput(Throughput::Elements(1000));
    g.bench_function("range_1000_of_1m/lrange", |b| {
        let (s, _) = setup();
        b.to_async(&rt)
            .iter(|| s.lrange("list:1000000", 500_000, 500_999));
    });
    g.bench_function("range_1000_of_1m/xrange", |b| {
        let (s, mid) = setup();
        b.to_async(&rt)
            .iter(|| s.xrange("stream:1000000", mid, "+", Some(1000)));
    });
    g.bench_function("range_1000_of_1m/ts_range", |b| {
        let (s, _) = setup();
        b.to_async(&rt)
            .iter(|| s.ts_range("ts:1000000", 500_000, 500_999));
    });
    g.bench_function("range_1000_of_1m/zrangebyscore", |b| {
        let (s, _) = setup();
        b.to_async(&rt)
            .iter(|| s.zrangebyscore("zset:1000000", 500_000.0, 500_999.0));
    });
    g.finish();
    if let Some((s, _)) = state.get() {
        rt.block_on(s.close()).unwrap();
    }
}

fn georadius(c: &mut Criterion) {
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    let state = OnceCell::new();
    let setup = || {
        state.get_or_init(|| {
            rt.block_on(async {
                let s = Store::open(dir.path(), cfg()).await.unwrap();
                // 100 000 members spread over Europe, deterministic
                let mut x: u64 = 0x9E3779B97F4A7C15;
                let mut next = || {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x % 1_000_000) as f64 / 1_000_000.0
                };
                let pts: Vec<(f64, f64, String)> = (0..100_000)
                    .map(|i| (-10.0 + 40.0 * next(), 35.0 + 25.0 * next(), format!("m{i}")))
                    .collect();
                for c in pts.chunks(10_000) {
                    s.geoadd("geo", c.to_vec()).await.unwrap();
                }
                s
            })
        })
    };
    let mut g = c.benchmark_group("georadius_100k");
    g.sample_size(20);
    for km in [10.0, 200.0] {
        g.bench_with_input(BenchmarkId::new("radius_km", km as u64), &km, |b, km| {
            let s = setup();
            b.to_async(&rt)
                .iter(|| s.georadius("geo", 13.4, 52.5, *km, GeoUnit::Km, RadiusOpts::default()));
        });
    }
    g.finish();
    if let Some(s) = state.get() {
        rt.block_on(s.close()).unwrap();
    }
}

fn signed_items(n: usize) -> Vec<VerifyItem> {
    signed_items_by(n, 16)
}

fn signed_items_by(n: usize, keys: usize) -> Vec<VerifyItem> {
    let kps: Vec<Keypair> = (0..keys).map(|_| Keypair::generate()).collect();
    (0..n)
        .map(|i| {
            let kp = &kps[i % kps.len()];
            let m = format!("message number {i}").into_bytes();
            (kp.public_key().to_vec(), m.clone(), kp.sign(&m).to_vec())
        })
        .collect()
}

fn verification(c: &mut Criterion) {
    let items = signed_items(10_000);
    let mut g = c.benchmark_group("verify_10000");
    g.sample_size(10).throughput(Throughput::Elements(10_000));
    g.bench_function("single_thread_loop", |b| {
        b.iter(|| {
            items
                .iter()
                .filter(|(pk, m, s)| verify_uncached(pk, m, s))
                .count()
        });
    });
    // The baseline of the row above, same run: ed25519-dalek's
    // `verify_strict` (cofactorless, small-order R and A refused), the
    // single check before the store's rule became ZIP-215.
    g.bench_function("single_thread_loop_dalek_strict_baseline", |b| {
        b.iter(|| {
            items
                .iter()
                .filter(|(pk, m, s)| {
                    let vk =
                        ed25519_dalek::VerifyingKey::from_bytes(pk.as_slice().try_into().unwrap())
                            .unwrap();
                    let sig =
                        ed25519_dalek::Signature::from_bytes(s.as_slice().try_into().unwrap());
                    vk.verify_strict(m, &sig).is_ok()
                })
                .count()
        });
    });
    let distinct = signed_items_by(10_000, 10_000);
    for (name, items) in [
        ("verify_many_parallel_batched", &items),
        ("verify_many_parallel_batched_distinct_keys", &distinct),
    ] {
        g.bench_function(name, |b| {
            // a fresh verifier each time: nothing cached
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let v = Verifier::new(100_000);
                    let t = Instant::now();
                    let r = v.verify_many(items);
                    total += t.elapsed();
                    assert!(r.iter().all(|x| *x));
                }
                total
            });
        });
    }
    g.finish();
    let v = Verifier::new(100_000);
    v.verify_many(&items);
    let mut g = c.benchmark_group("verdict_cache");
    g.throughput(Throughput::Elements(10_000));
    // A hit, one call per item: BLAKE3 of (key, message, signature) and a
    // lookup in the verdict cache.
    g.bench_function("hits_10000", |b| {
        b.iter(|| items.iter().filter(|(pk, m, s)| v.verify(pk, m, s)).count());
    });
    // The same hit path with the verdicts in a moka cache, as before the
    // set-associative table (the baseline of the row above, same run).
    let moka: moka::sync::Cache<[u8; 32], bool> = moka::sync::Cache::new(100_000);
    let key = |pk: &[u8], m: &[u8], s: &[u8]| {
        let mut h = blake3::Hasher::new();
        h.update(&(pk.len() as u64).to_le_bytes());
        h.update(pk);
        h.update(&(m.len() as u64).to_le_bytes());
        h.update(m);
        h.update(s);
        *h.finalize().as_bytes()
    };
    for (pk, m, s) in &items {
        moka.insert(key(pk, m, s), true);
    }
    g.bench_function("moka_baseline_hits_10000", |b| {
        b.iter(|| {
            items
                .iter()
                .filter(|(pk, m, s)| moka.get(&key(pk, m, s)).unwrap_or(false))
                .count()
        });
    });
    // All 10 000 as one verify_many: lookups in parallel on the pool.
    g.bench_function("verify_many_all_cached_10000", |b| {
        b.iter(|| v.verify_many(&items).len());
    });
    g.finish();
}

/// A store whose log holds `n` applied operations. With
/// `CYBERFLY_BENCH_LOG_DIR` set, the store is kept there and reused by later
/// runs that ask for the same `n` (building a 1 000 000-operation log costs
/// minutes); otherwise it lives in a temporary directory.
fn store_with_log(
    rt: &tokio::runtime::Runtime,
    n: usize,
) -> (std::path::PathBuf, Option<tempfile::TempDir>) {
    let (path, tmp) = match std::env::var_os("CYBERFLY_BENCH_LOG_DIR") {
        Some(d) => (std::path::PathBuf::from(d).join(format!("log-{n}")), None),
        None => {
            let t = tempfile::tempdir().unwrap();
            (t.path().to_path_buf(), Some(t))
        }
    };
    let skip = Config::builder().log_check(LogCheck::Skip).build().unwrap();
    if path.exists() {
        let len = rt.block_on(async {
            let s = Store::open(&path, skip.clone()).await.unwrap();
            let len = s.log_len().await.unwrap();
            s.close().await.unwrap();
            len
        });
        if len == n as u64 {
            eprintln!("reusing the log of {n} operations in {}", path.display());
            return (path, tmp);
        }
        std::fs::remove_dir_all(&path).unwrap();
    }
    let kp = Keypair::generate();
    let db = format!("bench-{}", kp.public_key_hex());
    rt.block_on(async {
        let c = Config::builder()
            .log_check(LogCheck::Skip)
            .freshness_window_ms(u64::MAX / 4)
            .build()
            .unwrap();
        let s = Store::open(&path, c).await.unwrap();
        let t = Instant::now();
        for start in (0..n).step_by(10_000) {
            let ops: Vec<SignedOperation> = (start..(start + 10_000).min(n))
                .map(|i| {
                    let mut o = SignedOperation::new(
                        db.clone(),
                        format!("k{}", i % 50_000),
                        format!("value {i}"),
                        ValueKind::String,
                    );
                    o.sign(&kp);
                    o
                })
                .collect();
            s.apply_replicated(ops).await.unwrap();
        }
        eprintln!("applied {n} signed ops in {:?}", t.elapsed());
        s.close().await.unwrap();
    });
    (path, tmp)
}

fn open_with_log(c: &mut Criterion) {
    let rt = rt();
    let mut g = c.benchmark_group("open_with_log");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    // Building a log costs a signature and an apply per operation; set
    // CYBERFLY_BENCH_LOG_OPS for bigger logs (the figure is
    // 1 000 000 trusted) and CYBERFLY_BENCH_LOG_DIR to keep the log for the
    // next run.
    let n: usize = std::env::var("CYBERFLY_BENCH_LOG_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    // CYBERFLY_BENCH_LOG_CHECKS picks the modes (default all three; `skip`
    // is the open without reading the log, the baseline of the others).
    let checks: Vec<LogCheck> = std::env::var("CYBERFLY_BENCH_LOG_CHECKS")
        .unwrap_or_else(|_| "skip,trust,verify".into())
        .split(',')
        .map(|c| LogCheck::parse(c.trim()).unwrap())
        .collect();
    let log = OnceCell::new();
    for &check in &checks {
        let name = format!("{n}_{check:?}");
        g.bench_function(name, |b| {
            let (dir, _) = log.get_or_init(|| store_with_log(&rt, n));
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let c = Config::builder().log_check(check).build().unwrap();
                    let t = Instant::now();
                    let s = rt.block_on(Store::open(dir, c)).unwrap();
                    total += t.elapsed();
                    if check != LogCheck::Skip {
                        let r = s.log_report().unwrap();
                        assert_eq!(r.ok as usize, n);
                    }
                    rt.block_on(s.close()).unwrap();
                }
                total
            });
        });
    }
    // A trusted open of a log never checked before (a new store, or one
    // that received the whole log by sync since it was last opened) reads
    // every entry: `load_log(Trust)` is that full check.
    if checks.contains(&LogCheck::Trust) {
        g.bench_function(format!("{n}_Trust_full_check"), |b| {
            let (dir, _) = log.get_or_init(|| store_with_log(&rt, n));
            let skip = Config::builder().log_check(LogCheck::Skip).build().unwrap();
            let s = rt.block_on(Store::open(dir, skip)).unwrap();
            b.iter(|| {
                let r = rt.block_on(s.load_log(LogCheck::Trust, None)).unwrap();
                assert_eq!(r.ok as usize, n);
            });
            rt.block_on(s.close()).unwrap();
        });
    }
    g.finish();
}

criterion_group!(types, appends, georadius);
criterion_group!(signed, verification, open_with_log);
criterion_main!(types, signed);
