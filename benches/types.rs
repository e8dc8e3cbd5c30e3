//! Benchmarks of the container types (issue 3) and signed operations
//! (issue 4). Run: `cargo bench --bench types`. Setup (filling containers to
//! 1 000 000 elements, signing a million operations) is done once per group,
//! outside the measured loops.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use cyberfly_store::oplog::SignedOperation;
use cyberfly_store::verify::{verify_uncached, Keypair, Verifier, VerifyItem};
use cyberfly_store::{Config, Durability, GeoUnit, LogCheck, RadiusOpts, Store, ValueKind};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

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
    let (s, mid) = rt.block_on(async {
        let s = Store::open(dir.path(), cfg()).await.unwrap();
        let t = Instant::now();
        fill(&s, 1_000).await;
        let mid = fill(&s, 1_000_000).await;
        eprintln!("filled 4 containers to 1k and 4 to 1M in {:?}", t.elapsed());
        (s, mid)
    });
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
            b.to_async(&rt).iter(|| s.rpush(&list, ["new item"]))
        });
        g.bench_with_input(BenchmarkId::new("zadd", n), &n, |b, _| {
            b.to_async(&rt).iter(|| {
                seq += 1;
                let m = format!("new{seq}");
                let (s, k) = (s.clone(), zset.clone());
                async move { s.zadd(&k, [(m, seq as f64)]).await }
            })
        });
        g.bench_with_input(BenchmarkId::new("ts_add", n), &n, |b, _| {
            b.to_async(&rt).iter(|| {
                seq += 1;
                let (s, k) = (s.clone(), ts.clone());
                let t = seq as i64;
                async move { s.ts_add(&k, t, 1.0).await }
            })
        });
        g.bench_with_input(BenchmarkId::new("xadd", n), &n, |b, _| {
            b.to_async(&rt).iter(|| s.xadd(&stream, "*", [("v", "x")]))
        });
    }
    // ranges of 1 000 out of 1 000 000
    g.throughput(Throughput::Elements(1000));
    g.bench_function("range_1000_of_1m/lrange", |b| {
        b.to_async(&rt)
            .iter(|| s.lrange("list:1000000", 500_000, 500_999))
    });
    g.bench_function("range_1000_of_1m/xrange", |b| {
        b.to_async(&rt)
            .iter(|| s.xrange("stream:1000000", &mid, "+", Some(1000)))
    });
    g.bench_function("range_1000_of_1m/ts_range", |b| {
        b.to_async(&rt)
            .iter(|| s.ts_range("ts:1000000", 500_000, 500_999))
    });
    g.bench_function("range_1000_of_1m/zrangebyscore", |b| {
        b.to_async(&rt)
            .iter(|| s.zrangebyscore("zset:1000000", 500_000.0, 500_999.0))
    });
    g.finish();
    rt.block_on(s.close()).unwrap();
}

fn georadius(c: &mut Criterion) {
    let rt = rt();
    let dir = tempfile::tempdir().unwrap();
    let s = rt.block_on(async {
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
    });
    let mut g = c.benchmark_group("georadius_100k");
    g.sample_size(20);
    for km in [10.0, 200.0] {
        g.bench_with_input(BenchmarkId::new("radius_km", km as u64), &km, |b, km| {
            b.to_async(&rt)
                .iter(|| s.georadius("geo", 13.4, 52.5, *km, GeoUnit::Km, RadiusOpts::default()))
        });
    }
    g.finish();
    rt.block_on(s.close()).unwrap();
}

fn signed_items(n: usize) -> Vec<VerifyItem> {
    let kps: Vec<Keypair> = (0..16).map(|_| Keypair::generate()).collect();
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
        })
    });
    g.bench_function("verify_many_parallel_batched", |b| {
        // a fresh verifier each time: nothing cached
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let v = Verifier::new(100_000);
                let t = Instant::now();
                let r = v.verify_many(&items);
                total += t.elapsed();
                assert!(r.iter().all(|x| *x));
            }
            total
        })
    });
    g.finish();
    let v = Verifier::new(100_000);
    v.verify_many(&items);
    let mut g = c.benchmark_group("verdict_cache");
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("hits_10000", |b| {
        b.iter(|| items.iter().filter(|(pk, m, s)| v.verify(pk, m, s)).count())
    });
    g.finish();
}

/// A store whose log holds `n` applied operations.
fn store_with_log(rt: &tokio::runtime::Runtime, n: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let kp = Keypair::generate();
    let db = format!("bench-{}", kp.public_key_hex());
    rt.block_on(async {
        let c = Config::builder()
            .log_check(LogCheck::Skip)
            .freshness_window_ms(u64::MAX / 4)
            .build()
            .unwrap();
        let s = Store::open(dir.path(), c).await.unwrap();
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
    dir
}

fn open_with_log(c: &mut Criterion) {
    let rt = rt();
    let mut g = c.benchmark_group("open_with_log");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    // Building a log costs a signature and an apply per operation; set
    // CYBERFLY_BENCH_LOG_OPS for bigger logs (the figure is
    // 1 000 000 trusted).
    let n: usize = std::env::var("CYBERFLY_BENCH_LOG_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = store_with_log(&rt, n);
    for check in [LogCheck::Verify, LogCheck::Trust] {
        let name = format!("{n}_{check:?}");
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let c = Config::builder().log_check(check).build().unwrap();
                    let t = Instant::now();
                    let s = rt.block_on(Store::open(dir.path(), c)).unwrap();
                    total += t.elapsed();
                    let r = s.log_report().unwrap();
                    assert_eq!(r.ok as usize, n);
                    rt.block_on(s.close()).unwrap();
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group!(types, appends, georadius);
criterion_group!(signed, verification, open_with_log);
criterion_main!(types, signed);
