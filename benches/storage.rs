//! Storage benchmarks on real on-disk stores (sled + iroh-blobs in tempdirs).
//!
//! Run: `cargo bench --bench storage` (results and how to read them:
//! docs/PERFORMANCE.md). Every group uses a multi-thread tokio runtime of 2
//! workers, like the store's own default (`Config::runtime_threads`). Work that
//! only prepares inputs (key strings, value strings) is done outside the timed
//! region with `iter_custom`, so our store and the raw sled baselines are timed
//! on exactly the same inputs.
//!
//! Groups:
//! - `write_1000_items/{none,batch,sync}`: 1 000 sequential awaited `set`.
//! - `read_1000_items/{get_hot,get_cached_hot,get_uncached}`.
//! - `set_many_1000/{none,batch}`.
//! - `get_many_1000/{cached,uncached}`.
//! - `mixed_90_10_64_tasks/{batch,sync}`: 64 tasks x 100 ops, 90 % get / 10 % set.
//! - `apply_signed/{many_1000,one_by_one_100}_{batch,sync}_{journal,off}`:
//!   signed String operations (100-byte values, signed outside the timed
//!   region), with the operation journal (`Config::oplog_journal`) on and off.
//! - `sled_raw/{insert_1000,batch_of_1_x1000,batch_1000,get_1000}`: plain sled with the store's
//!   default sled settings.
//! - `sled_mode_batch_1000/{low_space,high_throughput}_{plain,zstd}`: growing tree.
//! - `sled_mode_overwrite_1000/...`: the same on a tree kept at 100 000 keys.

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use cyberfly_store::{Config, Durability, Keypair, SignedOperation, Store, ValueKind};
use tempfile::TempDir;
use tokio::runtime::Runtime;

const N: usize = 1000;
/// Write benchmarks (ours and raw sled alike) first fill the tree with this
/// many scattered keys, then overwrite keys of the same space: every target
/// is timed on a tree of the same size and shape, whatever number of
/// iterations criterion chooses for it.
const WRITE_SPACE: u64 = 100_000;
const VALUE_LEN: usize = 100;
const MIXED_KEYS: usize = 10_000;
const MIXED_TASKS: usize = 64;
const MIXED_OPS_PER_TASK: usize = 100;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A 100-byte ASCII value (valid UTF-8, as the store's string API needs).
fn value() -> String {
    let mut s = String::with_capacity(VALUE_LEN);
    while s.len() < VALUE_LEN {
        s.push(char::from(b'a' + (s.len() % 26) as u8));
    }
    s
}

/// splitmix64: spreads consecutive counters over the whole key space, so that
/// write benchmarks insert into a growing tree at scattered positions (many
/// leaves touched per batch), not append to one page or overwrite one.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e3779b97f4a7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d049bb133111eb);
    x ^ (x >> 31)
}

/// Scattered keys `{prefix}:{mix(i)}` for i = 0, 1, 2, ... With a finite
/// `space`, i wraps around: after the first `space` keys every key is an
/// overwrite of a key already in the tree.
struct KeyGen {
    prefix: &'static str,
    next: u64,
    space: u64,
}

impl KeyGen {
    /// Never-repeating keys: the tree grows with every batch.
    fn growing(prefix: &'static str) -> Self {
        KeyGen {
            prefix,
            next: 0,
            space: u64::MAX,
        }
    }
    /// Keys cycling over a fixed space of `space` keys.
    fn cyclic(prefix: &'static str, space: u64) -> Self {
        KeyGen {
            prefix,
            next: 0,
            space,
        }
    }
    fn key(&mut self) -> String {
        let k = format!("{}:{:016x}", self.prefix, mix(self.next % self.space));
        self.next += 1;
        k
    }
    fn keys(&mut self, n: usize) -> Vec<String> {
        (0..n).map(|_| self.key()).collect()
    }
    fn items(&mut self, n: usize, v: &str) -> Vec<(String, String)> {
        (0..n).map(|_| (self.key(), v.to_owned())).collect()
    }
}

fn fixed_keys(prefix: &str, n: usize) -> Vec<String> {
    (0..n as u64)
        .map(|i| format!("{prefix}:{:016x}", mix(i)))
        .collect()
}

fn store_config(durability: Durability) -> Config {
    Config::builder()
        .durability(durability)
        // No scheduled blob GC running behind a measurement.
        .gc_interval(Duration::ZERO)
        .build()
        .expect("config")
}

fn uncached_config() -> Config {
    Config::builder()
        .durability(Durability::Batch)
        .gc_interval(Duration::ZERO)
        .hot_cache_bytes(0)
        .warm_cache_bytes(0)
        .build()
        .expect("config")
}

fn open_store(rt: &Runtime, dir: &Path, cfg: Config) -> Store {
    rt.block_on(Store::open(dir, cfg)).expect("open store")
}

/// Print the store's counters (a check that hits were hits) and close it.
fn close_store(rt: &Runtime, name: &str, state: Option<(TempDir, Store)>) {
    let Some((_dir, s)) = state else { return };
    let st = s.stats();
    eprintln!(
        "    [{name}] hot_hits={} warm_hits={} misses={} writer_batches={} mean_batch={:.1} writes_acked={}",
        st.hot_hits,
        st.warm_hits,
        st.misses,
        st.writer_batches,
        st.mean_batch_size,
        st.writes_acked
    );
    rt.block_on(s.close()).expect("close store");
}

/// The sled configuration `Index::open` uses with the default `Config`.
fn sled_config(dir: &Path, high_throughput: bool, compression: bool) -> sled::Config {
    let d = Config::default();
    sled::Config::new()
        .path(dir)
        .cache_capacity(d.sled_cache_capacity)
        .flush_every_ms(Some(d.flush_every_ms))
        .mode(if high_throughput {
            sled::Mode::HighThroughput
        } else {
            sled::Mode::LowSpace
        })
        .use_compression(compression)
        .compression_factor(d.compression_factor)
}

// ------------------------------------------------------------------ writes

/// A store whose index holds the whole write key space (`WRITE_SPACE` keys).
fn prefilled_store(rt: &Runtime, cfg: Config, kg: &mut KeyGen, v: &str) -> (TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let s = open_store(rt, dir.path(), cfg);
    rt.block_on(async {
        for _ in 0..WRITE_SPACE as usize / N {
            s.set_many(kg.items(N, v)).await.unwrap();
        }
        s.flush().await.unwrap();
    });
    (dir, s)
}

fn write_1000_items(c: &mut Criterion) {
    let rt = runtime();
    let v = value();
    let mut g = c.benchmark_group("write_1000_items");
    g.throughput(Throughput::Elements(N as u64));
    for (name, d) in [
        ("none", Durability::None),
        ("batch", Durability::Batch),
        ("sync", Durability::Sync),
    ] {
        if d == Durability::Sync {
            // One fsync per acknowledged set: ~1 s and more per iteration.
            g.sample_size(10)
                .sampling_mode(SamplingMode::Flat)
                .measurement_time(Duration::from_secs(10))
                .warm_up_time(Duration::from_secs(1));
        } else {
            g.sample_size(20)
                .sampling_mode(SamplingMode::Auto)
                .measurement_time(Duration::from_secs(6))
                .warm_up_time(Duration::from_secs(2));
        }
        let mut state: Option<(TempDir, Store)> = None;
        let mut kg = KeyGen::cyclic("k", WRITE_SPACE);
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            let store = &state
                .get_or_insert_with(|| prefilled_store(&rt, store_config(d), &mut kg, &v))
                .1;
            b.to_async(&rt).iter_custom(|iters| {
                let inputs: Vec<Vec<String>> = (0..iters).map(|_| kg.keys(N)).collect();
                let (s, v) = (store.clone(), v.clone());
                async move {
                    let mut total = Duration::ZERO;
                    for keys in inputs {
                        let t = Instant::now();
                        for k in &keys {
                            s.set(k, v.as_str()).await.unwrap();
                        }
                        total += t.elapsed();
                    }
                    total
                }
            });
        });
        close_store(&rt, &format!("write/{name}"), state);
    }
    g.finish();
}

fn set_many_1000(c: &mut Criterion) {
    let rt = runtime();
    let v = value();
    let mut g = c.benchmark_group("set_many_1000");
    g.throughput(Throughput::Elements(N as u64))
        .sample_size(20)
        .measurement_time(Duration::from_secs(6))
        .warm_up_time(Duration::from_secs(2));
    for (name, d) in [("none", Durability::None), ("batch", Durability::Batch)] {
        let mut state: Option<(TempDir, Store)> = None;
        let mut kg = KeyGen::cyclic("k", WRITE_SPACE);
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            let store = &state
                .get_or_insert_with(|| prefilled_store(&rt, store_config(d), &mut kg, &v))
                .1;
            b.to_async(&rt).iter_custom(|iters| {
                let inputs: Vec<Vec<(String, String)>> =
                    (0..iters).map(|_| kg.items(N, &v)).collect();
                let s = store.clone();
                async move {
                    let mut total = Duration::ZERO;
                    for items in inputs {
                        let t = Instant::now();
                        s.set_many(items).await.unwrap();
                        total += t.elapsed();
                    }
                    total
                }
            });
        });
        close_store(&rt, &format!("set_many/{name}"), state);
    }
    g.finish();
}

// ------------------------------------------------------------------- reads

/// A store holding `keys`, each read twice so it sits in the hot tier (the
/// first read of a miss fills the warm tier, the next one promotes).
fn store_with_keys(rt: &Runtime, cfg: Config, keys: &[String], v: &str) -> (TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let s = open_store(rt, dir.path(), cfg);
    rt.block_on(async {
        for chunk in keys.chunks(N) {
            s.set_many(chunk.iter().map(|k| (k.clone(), v.to_owned())))
                .await
                .unwrap();
        }
        for _ in 0..2 {
            for k in keys {
                assert!(s.get(k).await.unwrap().is_some());
            }
        }
    });
    (dir, s)
}

fn read_1000_items(c: &mut Criterion) {
    let rt = runtime();
    let v = value();
    let keys = fixed_keys("r", N);
    let mut g = c.benchmark_group("read_1000_items");
    g.throughput(Throughput::Elements(N as u64))
        .sample_size(20)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(2));

    let mut cached: Option<(TempDir, Store)> = None;
    // Awaited `get`, single task (criterion drives it with block_on on the
    // bench thread): every read is a hot-tier hit.
    g.bench_function("get_hot", |b| {
        let store = &cached
            .get_or_insert_with(|| store_with_keys(&rt, store_config(Durability::Batch), &keys, &v))
            .1;
        b.to_async(&rt).iter(|| async {
            for k in &keys {
                black_box(store.get(k).await.unwrap());
            }
        });
    });
    // The synchronous hit path, no future at all.
    g.bench_function("get_cached_hot", |b| {
        let store = &cached
            .get_or_insert_with(|| store_with_keys(&rt, store_config(Durability::Batch), &keys, &v))
            .1;
        b.iter(|| {
            for k in &keys {
                black_box(store.get_cached(k).unwrap().unwrap());
            }
        });
    });
    close_store(&rt, "read/cached", cached);

    let mut uncached: Option<(TempDir, Store)> = None;
    // Cache tiers of 0 bytes: every get is a spawn_blocking + sled lookup.
    g.bench_function("get_uncached", |b| {
        let store = &uncached
            .get_or_insert_with(|| store_with_keys(&rt, uncached_config(), &keys, &v))
            .1;
        b.to_async(&rt).iter(|| async {
            for k in &keys {
                black_box(store.get(k).await.unwrap());
            }
        });
    });
    close_store(&rt, "read/uncached", uncached);
    g.finish();
}

fn get_many_1000(c: &mut Criterion) {
    let rt = runtime();
    let v = value();
    let keys = fixed_keys("g", N);
    let mut g = c.benchmark_group("get_many_1000");
    g.throughput(Throughput::Elements(N as u64))
        .sample_size(20)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(2));
    for (name, cfg) in [
        ("cached", store_config(Durability::Batch)),
        ("uncached", uncached_config()),
    ] {
        let mut state: Option<(TempDir, Store)> = None;
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            let store = &state
                .get_or_insert_with(|| store_with_keys(&rt, cfg.clone(), &keys, &v))
                .1;
            b.to_async(&rt).iter(|| async {
                let out = store.get_many(&keys).await.unwrap();
                debug_assert!(out.iter().all(Option::is_some));
                black_box(out)
            });
        });
        close_store(&rt, &format!("get_many/{name}"), state);
    }
    g.finish();
}

// ------------------------------------------------------------------- mixed

fn mixed_90_10_64_tasks(c: &mut Criterion) {
    let rt = runtime();
    let v: Arc<str> = value().into();
    let keys: Arc<Vec<String>> = Arc::new(fixed_keys("x", MIXED_KEYS));
    let mut g = c.benchmark_group("mixed_90_10_64_tasks");
    g.throughput(Throughput::Elements(
        (MIXED_TASKS * MIXED_OPS_PER_TASK) as u64,
    ))
    .sample_size(10)
    .measurement_time(Duration::from_secs(8))
    .warm_up_time(Duration::from_secs(2));
    for (name, d) in [("batch", Durability::Batch), ("sync", Durability::Sync)] {
        let mut state: Option<(TempDir, Store)> = None;
        let mut round = 0u64;
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            let store = &state
                .get_or_insert_with(|| store_with_keys(&rt, store_config(d), &keys, &v))
                .1;
            b.to_async(&rt).iter_custom(|iters| {
                let (store, keys, v) = (store.clone(), keys.clone(), v.clone());
                let first = round;
                round += iters;
                async move {
                    let t = Instant::now();
                    for r in first..first + iters {
                        let mut tasks = Vec::with_capacity(MIXED_TASKS);
                        for task in 0..MIXED_TASKS as u64 {
                            let (s, keys, v) = (store.clone(), keys.clone(), v.clone());
                            tasks.push(tokio::spawn(async move {
                                let mut rng = mix(r.wrapping_mul(1_000_003) ^ task);
                                for _ in 0..MIXED_OPS_PER_TASK {
                                    rng = mix(rng);
                                    let k = &keys[(rng >> 8) as usize % keys.len()];
                                    if rng.is_multiple_of(10) {
                                        s.set(k, &*v).await.unwrap();
                                    } else {
                                        black_box(s.get(k).await.unwrap());
                                    }
                                }
                            }));
                        }
                        for t in tasks {
                            t.await.unwrap();
                        }
                    }
                    t.elapsed()
                }
            });
        });
        close_store(&rt, &format!("mixed/{name}"), state);
    }
    g.finish();
}

// ------------------------------------------------------- raw sled baselines

struct RawSled {
    _dir: TempDir,
    db: sled::Db,
    tree: sled::Tree,
}

fn raw_sled(high_throughput: bool, compression: bool) -> RawSled {
    let dir = tempfile::tempdir().unwrap();
    let db = sled_config(dir.path(), high_throughput, compression)
        .open()
        .unwrap();
    let tree = db.open_tree("kv").unwrap();
    RawSled {
        _dir: dir,
        db,
        tree,
    }
}

/// A raw sled tree holding the whole write key space.
fn prefilled_raw(high_throughput: bool, compression: bool, kg: &mut KeyGen, v: &str) -> RawSled {
    let s = raw_sled(high_throughput, compression);
    for _ in 0..WRITE_SPACE as usize / N {
        apply_items(&s.tree, kg.items(N, v));
    }
    s.db.flush().unwrap();
    s
}

/// Apply `items` as one sled batch, built from the same owned
/// `(String, String)` items `set_many` receives.
fn apply_items(tree: &sled::Tree, items: Vec<(String, String)>) {
    let mut batch = sled::Batch::default();
    for (k, v) in items {
        batch.insert(k.as_bytes(), v.as_bytes());
    }
    tree.apply_batch(batch).unwrap();
}

fn sled_raw(c: &mut Criterion) {
    let v = value();
    let mut g = c.benchmark_group("sled_raw");
    g.throughput(Throughput::Elements(N as u64))
        .sample_size(20)
        .measurement_time(Duration::from_secs(6))
        .warm_up_time(Duration::from_secs(2));

    // 1 000 single inserts (the counterpart of write_1000_items/batch).
    let mut state: Option<RawSled> = None;
    let mut kg = KeyGen::cyclic("k", WRITE_SPACE);
    g.bench_function("insert_1000", |b| {
        let tree = &state
            .get_or_insert_with(|| prefilled_raw(false, false, &mut kg, &v))
            .tree;
        b.iter_custom(|iters| {
            let inputs: Vec<Vec<String>> = (0..iters).map(|_| kg.keys(N)).collect();
            let mut total = Duration::ZERO;
            for keys in inputs {
                let t = Instant::now();
                for k in &keys {
                    tree.insert(k.as_bytes(), v.as_bytes()).unwrap();
                }
                total += t.elapsed();
            }
            total
        });
    });
    drop(state);

    // 1 000 batches of one insert each: what the store's writer does for
    // sequential awaited `set`s, where every group holds a single write.
    let mut state: Option<RawSled> = None;
    let mut kg = KeyGen::cyclic("k", WRITE_SPACE);
    g.bench_function("batch_of_1_x1000", |b| {
        let tree = &state
            .get_or_insert_with(|| prefilled_raw(false, false, &mut kg, &v))
            .tree;
        b.iter_custom(|iters| {
            let inputs: Vec<Vec<String>> = (0..iters).map(|_| kg.keys(N)).collect();
            let mut total = Duration::ZERO;
            for keys in inputs {
                let t = Instant::now();
                for k in keys {
                    apply_items(tree, vec![(k, v.clone())]);
                }
                total += t.elapsed();
            }
            total
        });
    });
    drop(state);

    // One batch of 1 000 (the counterpart of set_many_1000/batch).
    let mut state: Option<RawSled> = None;
    let mut kg = KeyGen::cyclic("k", WRITE_SPACE);
    g.bench_function("batch_1000", |b| {
        let tree = &state
            .get_or_insert_with(|| prefilled_raw(false, false, &mut kg, &v))
            .tree;
        b.iter_custom(|iters| {
            let inputs: Vec<Vec<(String, String)>> = (0..iters).map(|_| kg.items(N, &v)).collect();
            let mut total = Duration::ZERO;
            for items in inputs {
                let t = Instant::now();
                apply_items(tree, items);
                total += t.elapsed();
            }
            total
        });
    });
    drop(state);

    // 1 000 gets of present keys (the counterpart of read_1000_items/get_uncached).
    let keys = fixed_keys("r", N);
    let mut state: Option<RawSled> = None;
    g.bench_function("get_1000", |b| {
        let tree = &state
            .get_or_insert_with(|| {
                let s = raw_sled(false, false);
                for k in &keys {
                    s.tree.insert(k.as_bytes(), v.as_bytes()).unwrap();
                }
                s
            })
            .tree;
        b.iter(|| {
            for k in &keys {
                black_box(tree.get(k.as_bytes()).unwrap().unwrap());
            }
        });
    });
    g.finish();
}

/// sled's two modes with and without zstd, on batches of 1 000 scattered new
/// keys into a tree that already holds 100 000 and keeps growing.
fn sled_mode_batch_1000(c: &mut Criterion) {
    sled_modes(c, "sled_mode_batch_1000", true);
}

/// The same four configurations overwriting scattered keys of a tree that
/// stays at 100 000 keys (every configuration timed on the same tree size,
/// whatever its speed).
fn sled_mode_overwrite_1000(c: &mut Criterion) {
    sled_modes(c, "sled_mode_overwrite_1000", false);
}

fn sled_modes(c: &mut Criterion, group: &str, growing: bool) {
    let v = value();
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(N as u64))
        .sample_size(20)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1));
    for (name, high, zstd) in [
        ("low_space_plain", false, false),
        ("low_space_zstd", false, true),
        ("high_throughput_plain", true, false),
        ("high_throughput_zstd", true, true),
    ] {
        let mut state: Option<RawSled> = None;
        let mut kg = if growing {
            KeyGen::growing("k")
        } else {
            KeyGen::cyclic("k", WRITE_SPACE)
        };
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            let tree = &state
                .get_or_insert_with(|| prefilled_raw(high, zstd, &mut kg, &v))
                .tree;
            b.iter_custom(|iters| {
                let inputs: Vec<Vec<(String, String)>> =
                    (0..iters).map(|_| kg.items(N, &v)).collect();
                let mut total = Duration::ZERO;
                for items in inputs {
                    let t = Instant::now();
                    apply_items(tree, items);
                    total += t.elapsed();
                }
                total
            });
        });
        if let Some(s) = state {
            s.db.flush().unwrap();
            let (n, bytes) = (s.tree.len(), s.db.size_on_disk().unwrap_or(0));
            eprintln!(
                "    [{group}/{name}] entries={n} size_on_disk={bytes} bytes ({:.0} B/entry)",
                bytes as f64 / n.max(1) as f64
            );
        }
    }
    g.finish();
}

/// Signed operations: `apply_many` of 1 000, and 100 awaited `apply` one
/// by one (under `sync`, a group and an fsync each), journal on and off.
fn apply_signed(c: &mut Criterion) {
    let rt = runtime();
    let v = value();
    let kp = Keypair::generate();
    let db = format!("bench-{}", kp.public_key_hex());
    let mut g = c.benchmark_group("apply_signed");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .measurement_time(Duration::from_secs(6))
        .warm_up_time(Duration::from_secs(1));
    let mut n = 0u64;
    let mut sign = |count: usize| -> Vec<SignedOperation> {
        (0..count)
            .map(|_| {
                n += 1;
                let mut o = SignedOperation::new(
                    db.clone(),
                    format!("k{}", n % 10_000),
                    &v,
                    ValueKind::String,
                );
                o.sign(&kp);
                o
            })
            .collect()
    };
    for (batch, count) in [("many_1000", 1000usize), ("one_by_one_100", 100)] {
        for (dname, d) in [("batch", Durability::Batch), ("sync", Durability::Sync)] {
            for journal in [true, false] {
                let name = format!(
                    "{batch}_{dname}_{}",
                    if journal { "journal" } else { "off" }
                );
                let dir = tempfile::tempdir().unwrap();
                let cfg = Config {
                    oplog_journal: journal,
                    ..store_config(d)
                };
                let s = open_store(&rt, dir.path(), cfg);
                g.throughput(Throughput::Elements(count as u64));
                g.bench_function(BenchmarkId::from_parameter(&name), |b| {
                    b.to_async(&rt).iter_custom(|iters| {
                        let inputs: Vec<Vec<SignedOperation>> =
                            (0..iters).map(|_| sign(count)).collect();
                        let s = s.clone();
                        async move {
                            let mut total = Duration::ZERO;
                            for ops in inputs {
                                let t = Instant::now();
                                if count == 1000 {
                                    black_box(s.apply_many(ops).await.unwrap());
                                } else {
                                    for op in ops {
                                        black_box(s.apply(op).await.unwrap());
                                    }
                                }
                                total += t.elapsed();
                            }
                            total
                        }
                    });
                });
                close_store(&rt, &format!("apply_signed/{name}"), Some((dir, s)));
            }
        }
    }
    g.finish();
}

criterion_group!(
    benches,
    write_1000_items,
    apply_signed,
    read_1000_items,
    set_many_1000,
    get_many_1000,
    mixed_90_10_64_tasks,
    sled_raw,
    sled_mode_batch_1000,
    sled_mode_overwrite_1000
);
criterion_main!(benches);
