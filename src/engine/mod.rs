//! The façade: one `Engine` per directory, cheap to clone and safe to share
//! between threads. Layout on disk:
//!
//! ```text
//! {path}/LOCK      exclusive lock held while the store is open
//! {path}/index/    sled
//! {path}/blobs/    iroh-blobs FsStore
//! ```

pub mod blobs;
pub mod cache;
pub mod clock;
pub mod config;
pub mod index;
pub mod journal;
pub mod mark;
pub mod memory;
pub mod metrics;
pub(crate) mod quiet;
pub mod readers;
pub mod snapshot;
pub mod writer;

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::future::try_join_all;
use tokio::runtime::{Handle, Runtime};
use tokio::sync::{mpsc, oneshot};

use crate::engine::blobs::Blobs;
use crate::engine::cache::{Cached, CachedValue, TieredCache, ValueRef};
use crate::engine::config::Config;
use crate::engine::index::Index;
use crate::engine::metrics::{histogram_quantile, Metrics, Op};
use crate::engine::readers::{InlineGuard, ReaderPool};
use crate::engine::writer::{Ack, CallAck, Msg, Reply, Txn, WriteGate, WriteOp, WriterCtx};
use crate::error::{Error, Result};
use crate::value::{decode_string, hash_hex, parse_hash_hex, Entry, Payload, ValueKind};

/// A BLAKE3 content hash (the same hash iroh-blobs reports).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContentHash(pub [u8; 32]);

impl ContentHash {
    pub fn of(bytes: &[u8]) -> Self {
        ContentHash(*blake3::hash(bytes).as_bytes())
    }
    pub fn to_hex(&self) -> String {
        hash_hex(&self.0)
    }
    pub fn from_hex(s: &str) -> Result<Self> {
        parse_hash_hex(s).map(ContentHash)
    }
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ContentHash({})", self.to_hex())
    }
}

impl std::fmt::Display for ContentHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// A snapshot of a store's counters.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    /// Operation counts by kind.
    pub ops: Vec<(&'static str, u64)>,
    pub hot_hits: u64,
    pub warm_hits: u64,
    pub misses: u64,
    /// Hits over lookups, 0 when there were none.
    pub hit_rate: f64,
    pub hot_entries: u64,
    pub hot_bytes: u64,
    pub warm_entries: u64,
    pub warm_bytes: u64,
    pub writer_batches: u64,
    pub writes_acked: u64,
    pub mean_batch_size: f64,
    pub queue_depth: i64,
    /// Upper bounds of the histogram buckets holding the percentile, seconds.
    pub write_latency_p50: Option<f64>,
    pub write_latency_p99: Option<f64>,
    pub read_miss_latency_p50: Option<f64>,
    pub read_miss_latency_p99: Option<f64>,
    pub gc_runs: u64,
    /// Keys of cache misses read from the index on the caller's thread.
    pub inline_reads: u64,
    /// Writes applied on the caller's thread (`set_now`, `delete_now`).
    pub inline_writes: u64,
    /// Keys of cache misses read from the index on the reader pool.
    pub pool_reads: u64,
    /// The longest single inline read, seconds: the longest the store held
    /// a caller's thread (an event loop) for one key.
    pub longest_inline_read: f64,
    /// How often a slow inline read sent misses to the pool for a while.
    pub inline_guard_trips: u64,
}

fn open_paths() -> &'static Mutex<HashSet<PathBuf>> {
    static OPEN: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    OPEN.get_or_init(Default::default)
}

/// Holds the directory: an in-process registration and an OS file lock
/// (flock, which also excludes other processes).
struct DirLock {
    path: PathBuf,
    _file: File,
}

impl DirLock {
    fn acquire(path: &Path) -> Result<Self> {
        let canon = path.canonicalize()?;
        {
            let mut open = open_paths().lock().expect("open-path registry");
            if !open.insert(canon.clone()) {
                return Err(Error::AlreadyOpen {
                    path: canon,
                    detail: "open in this process".into(),
                });
            }
        }
        let unregister = |p: &PathBuf| {
            open_paths().lock().expect("open-path registry").remove(p);
        };
        let file = match File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(canon.join("LOCK"))
        {
            Ok(f) => f,
            Err(e) => {
                unregister(&canon);
                return Err(e.into());
            }
        };
        match file.try_lock() {
            Ok(()) => Ok(DirLock {
                path: canon,
                _file: file,
            }),
            Err(std::fs::TryLockError::WouldBlock) => {
                unregister(&canon);
                Err(Error::AlreadyOpen {
                    path: canon,
                    detail: "locked by another process".into(),
                })
            }
            Err(std::fs::TryLockError::Error(e)) => {
                unregister(&canon);
                Err(e.into())
            }
        }
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        open_paths()
            .lock()
            .expect("open-path registry")
            .remove(&self.path);
    }
}

/// Why GC is refused after a recovery open.
const SUSPECT: &str = "blob garbage collection is off for this open: the index was \
opened for recovery behind the durability mark, and blobs it no longer \
references may be the only copy of lost values (see Store::recovery)";

/// What a recovery open found: see [`Engine::recovery`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// The durability mark recorded beside the index (what was last made
    /// durable), and the one the index holds (lower: writes are lost).
    pub recorded_mark: u64,
    pub index_mark: Option<u64>,
    /// Blobs in the blob store that no entry of the recovered index refers
    /// to: values of lost keys among them (hex BLAKE3 hashes; readable
    /// with `get_blob` during this open).
    pub unreferenced_blobs: Vec<String>,
    /// `recorded_mark - index_mark`: how many durability marks the index
    /// lost (a mark is made at most once a second, and at every flush and
    /// close: a lower bound on the flushes lost, not a count of writes);
    /// `None` when the index holds no mark.
    pub marks_lost: Option<u64>,
    /// What the open restored from the operation journal
    /// (`Config::oplog_journal`); `None` when the journal is off.
    pub journal: Option<JournalReplay>,
    /// When sled could not open the index at all (a damaged page): where
    /// the damaged `index/` was moved, untouched, before an empty index was
    /// started in its place (everything in it is then lost but what the
    /// journal and peers restore).
    pub damaged_index: Option<String>,
}

/// What a recovery open restored from the operation journal
/// (src/engine/journal.rs): each operation read is verified and applied
/// as a replicated one (last write wins, op_id de-duplication).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JournalReplay {
    /// Operations read from the journal.
    pub read: u64,
    /// Recorded again (applied, or superseded by a newer write): the
    /// index had lost them.
    pub restored: u64,
    /// Already in the index (duplicates).
    pub present: u64,
    /// Refused: a bad signature, shape or owner (nothing applied).
    pub rejected: u64,
    /// Records that did not verify (checksum, framing) or decode, skipped.
    pub damaged: u64,
    /// Bytes at the journal's end that could not be read (after damage to
    /// a record's length nothing can be; truncated at open).
    pub unreadable_bytes: u64,
}

struct Inner {
    path: PathBuf,
    config: Config,
    closed: AtomicBool,
    /// `None` once closed; taken so that sled's own lock is released at close.
    index: RwLock<Option<Arc<Index>>>,
    blobs: Arc<Blobs>,
    cache: Arc<TieredCache>,
    metrics: Arc<Metrics>,
    tx: mpsc::Sender<Msg>,
    /// Serialises group applies between the writer and inline writes.
    gate: Arc<WriteGate>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    handle: Handle,
    runtime: Mutex<Option<Runtime>>,
    lock: Mutex<Option<DirLock>>,
    verifier: Arc<crate::verify::Verifier>,
    /// Runs the blocking index reads (`Config::reader_threads` threads).
    readers: ReaderPool,
    /// Whether a miss may be read on the caller's thread (rule 2).
    guard: InlineGuard,
    /// The hot tier was loaded from a warm-restart snapshot at open.
    warm_loaded: bool,
    /// What a recovery open restored from the operation journal.
    replay: Mutex<Option<JournalReplay>>,
}

/// The result of [`Engine::get_many_cached`].
#[derive(Debug)]
pub enum GetMany {
    /// Every key was answered from the cache: the values, in order.
    Done(Vec<Option<Arc<str>>>),
    /// Some keys must be read from the index.
    Pending(GetManyPending),
}

/// Hits so far and the misses still to resolve (opaque).
#[derive(Debug)]
pub struct GetManyPending {
    out: Vec<Option<Arc<str>>>,
    misses: Vec<MissKey>,
}

/// A key of `get_many` still to read: its position, the epoch loaded
/// before reading the index, and its blob when the index was already read.
#[derive(Debug, Clone)]
struct MissKey {
    i: usize,
    key: String,
    epoch: u64,
    blob: Option<BlobRef>,
}

#[derive(Debug, Clone, Copy)]
struct BlobRef {
    hash: [u8; 32],
    expires_at_ms: Option<u64>,
}

/// The result of [`Engine::get_miss`].
#[derive(Debug)]
pub enum Miss {
    /// Answered on the caller's thread.
    Done(Result<Option<Arc<str>>>),
    /// Finish with [`Engine::finish_get`] (on the reader pool, or the blob
    /// store for a blob-backed value whose index entry was already read).
    Pending(PendingGet),
}

/// A read [`Engine::get_miss`] could not finish on the caller's thread
/// (opaque).
#[derive(Debug)]
pub struct PendingGet {
    key: String,
    epoch: u64,
    blob: Option<BlobRef>,
    t0: Instant,
}

/// An open store. Clones share the same store.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("path", &self.inner.path)
            .field("closed", &self.inner.closed.load(Ordering::Relaxed))
            .finish()
    }
}

/// One value read by a miss: the resolved value, or the blob to fetch.
enum Resolved {
    Absent,
    Value(Arc<Cached>),
    Blob {
        hash: [u8; 32],
        expires_at_ms: Option<u64>,
    },
}

/// Milliseconds since the Unix epoch (the clock of op timestamps), from
/// `crate::engine::clock`; public for the bindings.
pub use crate::engine::clock::now_ms;

/// Keys resolved (cache misses and promotions) or written after which the
/// memory trimmer runs without waiting for its interval: at 1 KiB values,
/// ~4 MiB of churn.
pub const TRIM_AFTER_OPS: u64 = 4096;

impl Engine {
    /// A multi-thread runtime of `config.runtime_threads` workers, for a
    /// store opened from synchronous code (`Store::open_blocking`).
    pub(crate) fn runtime(config: &Config) -> Result<Runtime> {
        Ok(tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.runtime_threads)
            .thread_name("cyberfly-store")
            .enable_all()
            .build()?)
    }

    /// Keep the runtime the engine runs on (dropped after close).
    pub(crate) fn keep_runtime(&self, rt: Runtime) {
        *self.inner.runtime.lock().expect("runtime lock") = Some(rt);
    }

    /// Open (or create) the engine at `path`, its background work on
    /// `handle`'s runtime and on its own writer thread. Nothing runs in the
    /// background until [`start`](Self::start). `migrate` runs on the index
    /// before anything else reads or writes it (the op log's layout upgrade,
    /// passed in by the façade: the engine knows nothing of the op log).
    pub(crate) async fn open(
        path: &Path,
        config: Config,
        handle: Handle,
        migrate: fn(&Index) -> Result<()>,
    ) -> Result<Engine> {
        config.validate()?;
        std::fs::create_dir_all(path)?;
        let lock = DirLock::acquire(path)?;
        let path = lock.path.clone();
        blobs::check_db(&path.join("blobs"), config.recovery)?;
        let index_dir = path.join("index");
        let cfg = config.clone();
        let dir = path.clone();
        let (index, snap) = handle
            .spawn_blocking(move || {
                let ix = Index::open(&index_dir, &cfg)?;
                migrate(&ix)?;
                // Before the writer exists: the snapshot's nonce is removed
                // durably ahead of any write (src/engine/snapshot.rs).
                let snap = snapshot::take(
                    &dir,
                    &ix,
                    cfg.warm_restart && cfg.hot_cache_bytes > 0,
                    cfg.hot_cache_bytes,
                    now_ms(),
                )?;
                Ok::<_, Error>((ix, snap))
            })
            .await??;
        let index = Arc::new(index);
        let blobs = Arc::new(Blobs::open(&path.join("blobs"), config.gc_interval).await?);
        let weak_index = Arc::downgrade(&index);
        let suspect = index.suspect();
        blobs.set_live_source(Arc::new(move || match weak_index.upgrade() {
            // A recovery open: what the index lost is still referenced by
            // nothing, so GC would delete it. Off for the whole open.
            Some(_) if suspect => Err(Error::Corrupt(SUSPECT.into())),
            Some(ix) => {
                // A blob is deleted only once the write that unreferenced
                // it is durable: a crash after the sweep must not bring
                // back an entry whose blob is gone.
                ix.flush_routine()?;
                ix.live_blob_hashes()
            }
            None => Err(Error::Closed),
        }));
        let metrics = Arc::new(Metrics::new()?);
        let cache = Arc::new(TieredCache::new(
            config.hot_cache_bytes,
            config.warm_cache_bytes,
            config.warm_ttl,
        ));
        // Warm restart: the hot tier as the last clean close left it, loaded
        // before the store answers reads or accepts writes.
        let warm = snap.outcome == snapshot::Outcome::Loaded;
        metrics
            .warm_restart
            .with_label_values(&[snap.outcome.label()])
            .inc();
        if warm {
            let t0 = Instant::now();
            let offered = snap.entries.len();
            let n = snapshot::load(&cache, snap.entries);
            metrics.warm_restart_entries.inc_by(n);
            tracing::info!(
                loaded = n,
                offered,
                ms = t0.elapsed().as_secs_f64() * 1e3,
                "warm restart: hot tier loaded from the snapshot"
            );
        }
        let (tx, rx) = mpsc::channel(config.writer_queue_depth);
        let gate = WriteGate::new();
        let ctx = WriterCtx {
            gate: gate.clone(),
            index: index.clone(),
            cache: cache.clone(),
            blobs: blobs.clone(),
            metrics: metrics.clone(),
            durability: config.durability,
            max_batch: config.writer_max_batch,
            max_delay: config.writer_max_delay,
        };
        let cap = config.writer_queue_depth;
        let readers = ReaderPool::new(config.reader_threads)?;
        let writer = std::thread::Builder::new()
            .name("cyberfly-writer".into())
            .spawn(move || writer::run(ctx, rx, cap))?;
        tracing::debug!(path = %path.display(), "store opened");
        let store = Engine {
            inner: Arc::new(Inner {
                path,
                config: config.clone(),
                closed: AtomicBool::new(false),
                index: RwLock::new(Some(index)),
                blobs,
                cache,
                metrics,
                tx,
                gate,
                writer: Mutex::new(Some(writer)),
                handle,
                runtime: Mutex::new(None),
                warm_loaded: warm,
                replay: Mutex::new(None),
                lock: Mutex::new(Some(lock)),
                verifier: Arc::new(crate::verify::Verifier::new(config.verdict_cache_entries)),
                readers,
                guard: InlineGuard::new(config.inline_read_limit),
            }),
        };
        Ok(store)
    }

    /// Start the engine's background work: the memory trimmer, and the
    /// warm-up walk unless the hot tier was loaded from a warm-restart
    /// snapshot.
    pub(crate) fn start(&self) {
        self.spawn_trimmer();
        if !self.inner.warm_loaded {
            // The fallback (a first open, a crash, warm restart off).
            self.spawn_warmup();
        }
    }

    /// The verifier of this store (its verdict cache and counters).
    pub fn verifier(&self) -> &Arc<crate::verify::Verifier> {
        &self.inner.verifier
    }

    /// After open, walk the string entries of the index in key order on one
    /// reader thread: sled loads their pages into its cache (up to half of
    /// `sled_cache_capacity`), and their values fill the free room of the
    /// hot tier (`TieredCache::preload`: never evicting, never a value a
    /// write replaced meanwhile). The first reads after opening are then
    /// hot hits, or misses whose page sled holds, where each would
    /// otherwise load a page from the file and pay a sled lookup (about
    /// 3-4 µs a read over 100 000 shuffled keys). Preloaded entries start
    /// with no CLOCK use, so keys that are read replace them first. Only
    /// when all the string entries fit in 90 % of the hot tier (a first
    /// walk counts them). Stops at close.
    fn spawn_warmup(&self) {
        let Ok(index) = self.index() else {
            return;
        };
        let budget = self.inner.config.sled_cache_capacity / 2;
        let inner = Arc::downgrade(&self.inner);
        let cache = self.inner.cache.clone();
        let preload = self.inner.config.hot_cache_bytes > 0;
        let hot_budget = self.inner.config.hot_cache_bytes;
        let alive = {
            let inner = inner.clone();
            move || matches!(inner.upgrade(), Some(i) if !i.closed.load(Ordering::Relaxed))
        };
        drop(self.inner.readers.run(move || {
            // Preload only an index whose strings all fit in 90 % of the hot
            // tier: a larger one would fill it with the first keys in key
            // order, not the ones that are read (Zipf reads lost 5 points of
            // hit rate that way; docs/PERFORMANCE.md).
            let mut preload = preload;
            let mut need = 0u64;
            for (n, item) in index.tree.scan_prefix([index::NS_ENTRY]).enumerate() {
                let Ok((k, v)) = item else { return };
                need += (k.len() + v.len() + 256) as u64;
                if need > hot_budget / 10 * 9 {
                    preload = false;
                    break;
                }
                if n % 1024 == 0 && !alive() {
                    return;
                }
            }
            let mut bytes = 0u64;
            let mut refused = 0;
            let mut iter = index.tree.scan_prefix([index::NS_ENTRY]);
            for n in 0usize.. {
                let generation = cache.generation();
                let Some(Ok((k, v))) = iter.next() else {
                    return;
                };
                bytes += (k.len() + v.len()) as u64;
                if bytes > budget {
                    return;
                }
                if preload && refused < 64 {
                    match cache::written_string(&k, &v, now_ms()) {
                        Some((_, key, c)) if cache.preload(&key, generation, &c) => refused = 0,
                        _ => refused += 1,
                    }
                }
                if n % 1024 == 0 && !alive() {
                    return;
                }
            }
        }));
    }

    /// The memory trimmer: hand freed heap pages back to the OS
    /// ([`crate::engine::memory::trim`]; why in that module) once the store has
    /// resolved or written [`TRIM_AFTER_OPS`] keys since the last trim
    /// (checked ten times per `memory_trim_interval`), or did any work at
    /// all and a whole interval passed. An idle store never trims.
    fn spawn_trimmer(&self) {
        let every = self.inner.config.memory_trim_interval;
        let last = Arc::new(Mutex::new((0u64, Instant::now())));
        self.spawn_every(every / 10, move |store| {
            let last = last.clone();
            async move {
                let m = &store.inner.metrics;
                let work = m.misses.get() + m.warm_hits.get() + m.writes_acked.get();
                let due = {
                    let mut l = last.lock().expect("trim state");
                    let ops = work - l.0;
                    let due = ops >= TRIM_AFTER_OPS || (ops > 0 && l.1.elapsed() >= every);
                    if due {
                        *l = (work, Instant::now());
                    }
                    due
                };
                if due {
                    let _ = store.inner.handle.spawn_blocking(memory::trim).await;
                }
                true
            }
        });
    }

    /// Run `task` every `every` (never if zero) until the store closes or
    /// the task returns false. Holds only a weak reference between runs, so
    /// it never keeps a dropped store alive.
    pub(crate) fn spawn_every<F, Fut>(&self, every: Duration, task: F)
    where
        F: Fn(Engine) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = bool> + Send,
    {
        if every.is_zero() {
            return;
        }
        let weak = Arc::downgrade(&self.inner);
        self.inner.handle.spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(inner) = weak.upgrade() else { break };
                let store = Engine { inner };
                if store.is_closed() || !task(store.clone()).await {
                    break;
                }
                // Drop the strong reference before sleeping; if this was the
                // last one, the store's Drop must not run on a worker thread
                // blocking the runtime — hand it to the blocking pool.
                let h = store.inner.handle.clone();
                h.spawn_blocking(move || drop(store));
            }
        });
    }

    /// Drive a future of this store to completion from a thread outside any
    /// async runtime (blocking the caller).
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.inner.handle.block_on(f)
    }

    /// The runtime handle the store runs its background work on.
    pub fn handle(&self) -> &Handle {
        &self.inner.handle
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    /// `Err(Error::Closed)` once the store is closed; public for the bindings
    /// (bindings/c).
    #[inline]
    pub fn check_open(&self) -> Result<()> {
        if self.inner.closed.load(Ordering::Acquire) {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    pub(crate) fn index(&self) -> Result<Arc<Index>> {
        self.inner
            .index
            .read()
            .expect("index lock")
            .clone()
            .ok_or(Error::Closed)
    }

    #[inline]
    pub(crate) fn check_key(&self, key: &str) -> Result<()> {
        if key.is_empty() {
            return Err(Error::invalid("key is empty"));
        }
        let max = self.inner.config.max_key_len;
        if key.len() > max {
            return Err(Error::KeyTooLong {
                len: key.len(),
                max,
            });
        }
        Ok(())
    }

    /// An expiry in seconds for a write (`set` with `ex`): at least 1, as
    /// Redis ("invalid expire time in 'set' command"); nothing is written.
    pub(crate) fn check_ex(seconds: u64) -> Result<()> {
        if seconds == 0 {
            return Err(Error::invalid(
                "invalid expire time: ex must be at least 1 second",
            ));
        }
        Ok(())
    }

    /// A container member, field name or geo member name to write: at most
    /// `max_member_len` bytes.
    pub(crate) fn check_member(&self, len: usize) -> Result<()> {
        let max = self.inner.config.max_member_len;
        if len > max {
            return Err(Error::ValueTooLarge { len, max });
        }
        Ok(())
    }

    pub(crate) fn check_value(&self, len: usize) -> Result<()> {
        let max = self.inner.config.max_value_len;
        if len > max {
            return Err(Error::ValueTooLarge { len, max });
        }
        Ok(())
    }

    /// Run a blocking read against the index on the store's reader pool
    /// (`Config::reader_threads` long-lived threads): one hop.
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Index) -> Result<T> + Send + 'static,
    {
        self.check_open()?;
        let index = self.index()?;
        self.inner.readers.run(move || f(&index)).await?
    }

    /// Run a read-modify-write of `key` on the writer thread, atomically.
    pub(crate) async fn update<F>(&self, key: &str, f: F) -> Result<Reply>
    where
        F: FnOnce(&mut Txn<'_>) -> Result<Reply> + Send + 'static,
    {
        self.check_open()?;
        self.check_key(key)?;
        let mut r = self
            .submit(
                vec![WriteOp::Update {
                    key: key.to_owned(),
                    f: Box::new(f),
                }],
                vec![],
            )
            .await?;
        r.pop()
            .ok_or_else(|| Error::internal("writer returned no reply"))
    }

    pub(crate) fn blobs(&self) -> &Blobs {
        &self.inner.blobs
    }

    // ---------------------------------------------------------------- reads

    /// Read from the cache only: `Some(Ok(v))` on a hit (no thread hop, no
    /// copy of the value), `None` when the index must be consulted. The
    /// bindings use this to answer hits synchronously.
    #[inline]
    pub fn get_cached(&self, key: &str) -> Option<Result<Option<Arc<str>>>> {
        self.cached(key, cached_string)
    }

    /// [`get_cached`](Self::get_cached) lending the value: `f` of the
    /// cached text (`None`: the cached entry expired) under the cache's
    /// read lock, nothing copied or cloned before `f` runs (a binding
    /// converts the text to its own string there; keep `f` short).
    #[inline]
    pub fn get_cached_with<R>(
        &self,
        key: &str,
        f: impl FnOnce(Option<&str>) -> R,
    ) -> Option<Result<R>> {
        self.cached(key, |v, exp| f((!is_expired(exp)).then(|| v.as_str())))
    }

    #[inline]
    fn cached<R>(
        &self,
        key: &str,
        f: impl FnOnce(ValueRef<'_>, Option<u64>) -> R,
    ) -> Option<Result<R>> {
        if let Err(e) = self.check_open() {
            return Some(Err(e));
        }
        if let Err(e) = self.check_key(key) {
            return Some(Err(e));
        }
        let v = self.inner.cache.with(key, &self.inner.metrics, f)?;
        self.inner.metrics.op(Op::Get);
        Some(Ok(v))
    }

    /// The string value of `key`, or `None`.
    pub async fn get(&self, key: &str) -> Result<Option<Arc<str>>> {
        if let Some(r) = self.get_cached(key) {
            return r;
        }
        self.get_uncached(key).await
    }

    /// The index path of [`get`](Self::get), for a caller that already
    /// missed with [`get_cached`](Self::get_cached) (the bindings answer
    /// hits synchronously and send only misses here; a second cache probe
    /// would count the miss twice). From a thread outside any runtime the
    /// index is read on that thread ([`get_miss`](Self::get_miss));
    /// inside a runtime, on the reader pool.
    pub async fn get_uncached(&self, key: &str) -> Result<Option<Arc<str>>> {
        match self.get_miss(key) {
            Miss::Done(r) => r,
            Miss::Pending(p) => self.finish_get(p).await,
        }
    }

    /// The synchronous part of a miss: on a thread that is not inside an
    /// async runtime (a Python thread, a C host thread, a blocking Rust
    /// caller), while the store's inline-read guard allows it
    /// (`Config::inline_read_limit`), the index is read here and the value
    /// cached: [`Miss::Done`]. Otherwise, or for a blob-backed value (its
    /// entry read here, its bytes in the blob store: one hop),
    /// [`Miss::Pending`], to finish with [`finish_get`](Self::finish_get).
    /// For a caller that already missed with [`get_cached`](Self::get_cached).
    pub fn get_miss(&self, key: &str) -> Miss {
        if let Err(e) = self.check_open().and_then(|()| self.check_key(key)) {
            return Miss::Done(Err(e));
        }
        self.inner.metrics.op(Op::Get);
        let t0 = Instant::now();
        let epoch = self.inner.cache.epoch(key);
        let mut pending = PendingGet {
            key: String::new(),
            epoch,
            blob: None,
            t0,
        };
        if self.inner.guard.allowed() {
            let resolved = {
                let index = self.inner.index.read().expect("index lock");
                let Some(index) = index.as_ref() else {
                    return Miss::Done(Err(Error::Closed));
                };
                let t = Instant::now();
                let r = resolve(index, key);
                self.inner.guard.record(t);
                r
            };
            self.inner.metrics.inline_reads.inc();
            match resolved {
                Err(e) => return Miss::Done(Err(e)),
                Ok(Resolved::Blob {
                    hash,
                    expires_at_ms,
                }) => {
                    pending.blob = Some(BlobRef {
                        hash,
                        expires_at_ms,
                    });
                }
                Ok(r) => {
                    let out = self.finish_local(key, epoch, r);
                    self.inner
                        .metrics
                        .read_latency
                        .observe(t0.elapsed().as_secs_f64());
                    return Miss::Done(Ok(out));
                }
            }
        }
        pending.key = key.to_owned();
        Miss::Pending(pending)
    }

    /// Finish a [`Miss::Pending`]: the index read on the reader pool, or
    /// the blob read.
    pub async fn finish_get(&self, p: PendingGet) -> Result<Option<Arc<str>>> {
        let PendingGet {
            key,
            epoch,
            blob,
            t0,
        } = p;
        let resolved = match blob {
            Some(b) => Resolved::Blob {
                hash: b.hash,
                expires_at_ms: b.expires_at_ms,
            },
            None => {
                self.check_open()?;
                let index = self.index()?;
                self.inner.metrics.pool_reads.inc();
                let k = key.clone();
                self.inner
                    .readers
                    .run(move || resolve(&index, &k))
                    .await??
            }
        };
        let out = self.finish_resolve(&key, epoch, resolved).await;
        self.inner
            .metrics
            .read_latency
            .observe(t0.elapsed().as_secs_f64());
        out
    }

    /// [`get`](Self::get) for a blocking caller outside any async runtime
    /// (panics inside one, as `Handle::block_on` does): a hit or a miss
    /// whose index page sled holds is answered on this thread.
    pub fn get_blocking(&self, key: &str) -> Result<Option<Arc<str>>> {
        if let Some(r) = self.get_cached(key) {
            return r;
        }
        match self.get_miss(key) {
            Miss::Done(r) => r,
            Miss::Pending(p) => self.block_on(self.finish_get(p)),
        }
    }

    /// A resolved value that needs no blob read: cache it, return it.
    fn finish_local(&self, key: &str, epoch: u64, r: Resolved) -> Option<Arc<str>> {
        match r {
            Resolved::Value(c) => {
                let out = resolved_string(&c.value, c.expires_at_ms);
                self.inner.cache.fill(key, epoch, c);
                out
            }
            _ => None,
        }
    }

    async fn finish_resolve(&self, key: &str, epoch: u64, r: Resolved) -> Result<Option<Arc<str>>> {
        let cached = match r {
            Resolved::Absent => return Ok(None),
            Resolved::Value(c) => c,
            Resolved::Blob {
                hash,
                expires_at_ms,
            } => {
                let bytes = self.inner.blobs.get_referenced(&hash).await?;
                let s = decode_string(bytes.to_vec())?;
                Arc::new(Cached {
                    value: CachedValue::String(s.into()),
                    expires_at_ms,
                    epoch: 0,
                })
            }
        };
        let out = resolved_string(&cached.value, cached.expires_at_ms);
        self.inner.cache.fill(key, epoch, cached);
        Ok(out)
    }

    /// Values of `keys`, in order; hits from the cache, misses resolved in
    /// parallel chunks on the blocking pool.
    pub async fn get_many<K: AsRef<str>>(&self, keys: &[K]) -> Result<Vec<Option<Arc<str>>>> {
        match self.get_many_cached(keys)? {
            GetMany::Done(out) => Ok(out),
            pending => match self.get_many_inline(pending)? {
                GetMany::Done(out) => Ok(out),
                pending => self.get_many_misses(pending).await,
            },
        }
    }

    /// The cache pass of [`get_many`](Self::get_many), synchronous and on
    /// the caller's thread: every key is checked and looked up once. When
    /// all were cached the result is [`GetMany::Done`]; otherwise finish it
    /// with [`get_many_misses`](Self::get_many_misses), which owns what it
    /// needs (the bindings borrow keys for this pass and copy only misses).
    pub fn get_many_cached<K: AsRef<str>>(&self, keys: &[K]) -> Result<GetMany> {
        self.check_open()?;
        for k in keys {
            self.check_key(k.as_ref())?;
        }
        self.inner.metrics.op(Op::GetMany);
        let found = self
            .inner
            .cache
            .with_many(keys, &self.inner.metrics, cached_string);
        let mut out: Vec<Option<Arc<str>>> = Vec::with_capacity(keys.len());
        let mut misses: Vec<MissKey> = Vec::new();
        for (i, (v, k)) in found.into_iter().zip(keys).enumerate() {
            match v {
                Some(v) => out.push(v),
                None => {
                    let k = k.as_ref();
                    out.push(None);
                    misses.push(MissKey {
                        i,
                        key: k.to_owned(),
                        epoch: self.inner.cache.epoch(k),
                        blob: None,
                    });
                }
            }
        }
        Ok(if misses.is_empty() {
            GetMany::Done(out)
        } else {
            GetMany::Pending(GetManyPending { out, misses })
        })
    }

    /// Read the misses of [`get_many_cached`](Self::get_many_cached) on
    /// the caller's thread, as [`get_miss`](Self::get_miss) does for one
    /// key, when the thread and the inline-read guard allow it, for at most
    /// [`MANY_INLINE_BUDGET`] (or until a read is slow): what is left
    /// (keys not reached, blob-backed values) stays pending for
    /// [`get_many_misses`](Self::get_many_misses).
    pub fn get_many_inline(&self, p: GetMany) -> Result<GetMany> {
        let GetMany::Pending(GetManyPending { mut out, misses }) = p else {
            return Ok(p);
        };
        if !self.inner.guard.allowed() {
            return Ok(GetMany::Pending(GetManyPending { out, misses }));
        }
        let t0 = Instant::now();
        let mut left = Vec::new();
        {
            let index = self.inner.index.read().expect("index lock");
            let Some(index) = index.as_ref() else {
                return Err(Error::Closed);
            };
            let mut stop = false;
            let mut n = 0;
            for m in misses {
                if stop || m.blob.is_some() {
                    left.push(m);
                    continue;
                }
                let t = Instant::now();
                let r = resolve(index, &m.key);
                stop = self.inner.guard.record(t) || t0.elapsed() > MANY_INLINE_BUDGET;
                n += 1;
                match r? {
                    Resolved::Blob {
                        hash,
                        expires_at_ms,
                    } => left.push(MissKey {
                        blob: Some(BlobRef {
                            hash,
                            expires_at_ms,
                        }),
                        ..m
                    }),
                    r => out[m.i] = self.finish_local(&m.key, m.epoch, r),
                }
            }
            self.inner.metrics.inline_reads.inc_by(n);
        }
        Ok(if left.is_empty() {
            self.inner
                .metrics
                .read_latency
                .observe(t0.elapsed().as_secs_f64());
            GetMany::Done(out)
        } else {
            GetMany::Pending(GetManyPending { out, misses: left })
        })
    }

    /// Resolve the misses of [`get_many_cached`](Self::get_many_cached).
    pub async fn get_many_misses(&self, p: GetMany) -> Result<Vec<Option<Arc<str>>>> {
        let (mut out, misses) = match p {
            GetMany::Done(out) => return Ok(out),
            GetMany::Pending(GetManyPending { out, misses }) => (out, misses),
        };
        let t0 = Instant::now();
        let (blobs, misses): (Vec<MissKey>, Vec<MissKey>) =
            misses.into_iter().partition(|m| m.blob.is_some());
        self.inner.metrics.pool_reads.inc_by(misses.len() as u64);
        let index = self.index()?;
        // Two chunks per runtime thread at least, at most 256 keys a chunk.
        let chunk = misses
            .len()
            .div_ceil(self.inner.config.runtime_threads.max(2) * 2)
            .clamp(1, 256);
        let mut tasks = Vec::new();
        for part in misses.chunks(chunk) {
            let index = index.clone();
            let part: Vec<MissKey> = part.to_vec();
            tasks.push(self.inner.readers.run(move || {
                part.into_iter()
                    .map(|m| resolve(&index, &m.key).map(|r| (m.i, m.key, m.epoch, r)))
                    .collect::<Result<Vec<_>>>()
            }));
        }
        drop(index);
        let mut blob_reads: Vec<(usize, String, u64, Resolved)> = blobs
            .into_iter()
            .map(|m| {
                let b = m.blob.expect("partitioned on blob");
                (
                    m.i,
                    m.key,
                    m.epoch,
                    Resolved::Blob {
                        hash: b.hash,
                        expires_at_ms: b.expires_at_ms,
                    },
                )
            })
            .collect();
        for t in tasks {
            for (i, k, e, r) in t.await?? {
                match r {
                    Resolved::Blob { .. } => blob_reads.push((i, k, e, r)),
                    other => out[i] = self.finish_resolve(&k, e, other).await?,
                }
            }
        }
        let fetched = try_join_all(blob_reads.into_iter().map(|(i, k, e, r)| async move {
            self.finish_resolve(&k, e, r).await.map(|v| (i, v))
        }))
        .await?;
        for (i, v) in fetched {
            out[i] = v;
        }
        self.inner
            .metrics
            .read_latency
            .observe(t0.elapsed().as_secs_f64());
        Ok(out)
    }

    /// Whether `key` holds a value (of any type).
    pub async fn exists(&self, key: &str) -> Result<bool> {
        self.check_open()?;
        self.check_key(key)?;
        self.inner.metrics.op(Op::Exists);
        if let Some(live) = self
            .inner
            .cache
            .with(key, &self.inner.metrics, |_, e| !is_expired(e))
        {
            return Ok(live);
        }
        let index = self.index()?;
        let k = key.to_owned();
        self.inner
            .readers
            .run(move || -> Result<bool> {
                match index.get(k.as_bytes())? {
                    None => Ok(false),
                    Some(v) => {
                        let h = crate::value::EntryHeader::decode(&v)?;
                        Ok(!is_expired(h.expires_at_ms(&v)))
                    }
                }
            })
            .await?
    }

    /// Scan string values whose key starts with `prefix`, in key order, a page
    /// at a time (`config.scan_page_size` entries per trip to the index).
    pub fn scan(&self, prefix: &str) -> Scan {
        Scan {
            store: self.clone(),
            prefix: prefix.as_bytes().to_vec(),
            after: None,
            done: false,
            page: std::collections::VecDeque::new(),
        }
    }

    // --------------------------------------------------------------- writes

    pub(crate) async fn submit(
        &self,
        ops: Vec<WriteOp>,
        tags: Vec<iroh_blobs::api::TempTag>,
    ) -> Result<Vec<Reply>> {
        self.submit_with(ops, tags, false).await
    }

    /// Submit ops to the writer; with `independent`, each op succeeds or
    /// fails on its own (`Reply::Failed`).
    pub(crate) async fn submit_with(
        &self,
        ops: Vec<WriteOp>,
        tags: Vec<iroh_blobs::api::TempTag>,
        independent: bool,
    ) -> Result<Vec<Reply>> {
        self.check_open()?;
        let t0 = Instant::now();
        let (ack, rx) = oneshot::channel();
        self.inner
            .tx
            .send(Msg::Write {
                ops,
                tags,
                independent,
                ack: Ack::Chan(ack),
                token: self.inner.gate.queued(),
            })
            .await
            .map_err(|_| Error::Closed)?;
        let r = rx.await.map_err(|_| Error::Closed)?;
        self.inner
            .metrics
            .write_latency
            .observe(t0.elapsed().as_secs_f64());
        r
    }

    /// Encode a value into an entry of `kind`, storing it as a blob when
    /// larger than `inline_threshold`; the temp tag protects the blob until
    /// the entry is applied.
    pub(crate) async fn prepare_value(
        &self,
        kind: ValueKind,
        value: Vec<u8>,
    ) -> Result<(Vec<u8>, Option<iroh_blobs::api::TempTag>)> {
        self.prepare_entry(kind, value)
            .await
            .map(|(e, t)| (e.encode(), t))
    }

    pub(crate) async fn prepare_entry(
        &self,
        kind: ValueKind,
        value: Vec<u8>,
    ) -> Result<(Entry, Option<iroh_blobs::api::TempTag>)> {
        if value.len() <= self.inner.config.inline_threshold {
            return Ok((Entry::inline(kind, value), None));
        }
        let len = value.len() as u64;
        let tag = self.inner.blobs.add(Bytes::from(value)).await?;
        // Commit the blob store's metadata before the index can reference the
        // blob, in every durability mode: sled may flush the entry on its own
        // schedule, and an entry whose blob was lost in a crash would be a
        // corrupt store, not a lost write (found by tests/crash.rs).
        self.inner.blobs.sync().await?;
        let entry = Entry::blob(kind, *tag.hash().as_bytes(), len);
        Ok((entry, Some(tag)))
    }

    /// Write a whole value of `kind` with optional expiry and signature
    /// metadata (replacing whatever the key held).
    pub(crate) async fn set_entry(
        &self,
        key: &str,
        kind: ValueKind,
        value: Vec<u8>,
        expires_at_ms: Option<u64>,
        sig: Option<crate::value::SigMeta>,
    ) -> Result<()> {
        self.check_open()?;
        self.check_key(key)?;
        self.check_value(value.len())?;
        let (mut entry, tag) = self.prepare_entry(kind, value).await?;
        entry.expires_at_ms = expires_at_ms;
        entry.sig = sig;
        self.submit(
            vec![WriteOp::Put {
                key: key.to_owned(),
                entry: entry.encode(),
            }],
            tag.into_iter().collect(),
        )
        .await?;
        Ok(())
    }

    /// Set `key` to a string value.
    pub async fn set(&self, key: &str, value: impl Into<String>) -> Result<()> {
        self.check_open()?;
        self.inner.metrics.op(Op::Set);
        self.set_entry(
            key,
            ValueKind::String,
            value.into().into_bytes(),
            None,
            None,
        )
        .await
    }

    /// Set many keys in one atomic group. Every item is validated first: one
    /// bad item fails the call and nothing is written.
    pub async fn set_many<K, V, I>(&self, items: I) -> Result<()>
    where
        K: Into<String>,
        V: Into<String>,
        I: IntoIterator<Item = (K, V)>,
    {
        self.check_open()?;
        let items: Vec<(String, String)> = items
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        for (k, v) in &items {
            self.check_key(k)?;
            self.check_value(v.len())?;
        }
        self.inner.metrics.op(Op::SetMany);
        let threshold = self.inner.config.inline_threshold;
        let mut ops = Vec::with_capacity(items.len());
        let mut large = Vec::new();
        for (k, v) in items {
            if v.len() <= threshold {
                ops.push(Some(WriteOp::Put {
                    key: k,
                    entry: Entry::inline(ValueKind::String, v.into_bytes()).encode(),
                }));
            } else {
                // filled in once its blob is stored, below (the batch keeps
                // the caller's order: the last write of a key wins)
                large.push((ops.len(), k, v));
                ops.push(None);
            }
        }
        let mut tags = Vec::new();
        if !large.is_empty() {
            let added = try_join_all(large.into_iter().map(|(i, k, v)| async move {
                let len = v.len() as u64;
                let tag = self.inner.blobs.add(Bytes::from(v.into_bytes())).await?;
                Ok::<_, Error>((i, k, len, tag))
            }))
            .await?;
            for (i, k, len, tag) in added {
                ops[i] = Some(WriteOp::Put {
                    key: k,
                    entry: Entry::blob(ValueKind::String, *tag.hash().as_bytes(), len).encode(),
                });
                tags.push(tag);
            }
            // before the index can reference them (see prepare_entry)
            self.inner.blobs.sync().await?;
        }
        self.submit(ops.into_iter().flatten().collect(), tags)
            .await?;
        Ok(())
    }

    /// Remove `key`; whether it existed.
    pub async fn delete(&self, key: &str) -> Result<bool> {
        self.check_open()?;
        self.check_key(key)?;
        self.inner.metrics.op(Op::Delete);
        let r = self
            .submit(
                vec![WriteOp::Delete {
                    key: key.to_owned(),
                }],
                vec![],
            )
            .await?;
        Ok(matches!(r.first(), Some(Reply::Bool(true))))
    }

    // ------------------------------------------- writes with a completion callback

    /// Submit ops to the writer with a completion callback instead of a
    /// future: `done` runs on the writer thread with the request's result,
    /// after the group's commit point (the same acknowledgement as
    /// [`Engine::submit`], under the store's durability mode). No task and no
    /// channel per write: a caller on a thread outside the runtime (an
    /// event loop) hands the write straight to the writer's queue. When the
    /// queue is full the submission waits on the store's runtime instead
    /// (back-pressure moves there; the caller never blocks).
    ///
    /// On `Ok`, `done` is called exactly once (with `Error::Closed` if the
    /// store closes first); on `Err` (store already closed) it is never
    /// called. `done` must be short and must not block: it delays the
    /// acknowledgements of the rest of the group.
    pub(crate) fn submit_then<F>(
        &self,
        ops: Vec<WriteOp>,
        tags: Vec<iroh_blobs::api::TempTag>,
        done: F,
    ) -> Result<()>
    where
        F: FnOnce(Result<Vec<Reply>>) + Send + 'static,
    {
        self.check_open()?;
        let t0 = Instant::now();
        let metrics = self.inner.metrics.clone();
        let ack = Ack::Call(CallAck::new(Box::new(move |r: Result<Vec<Reply>>| {
            metrics.write_latency.observe(t0.elapsed().as_secs_f64());
            done(r);
        })));
        let msg = Msg::Write {
            ops,
            tags,
            independent: false,
            ack,
            token: self.inner.gate.queued(),
        };
        match self.inner.tx.try_send(msg) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(msg)) => {
                let tx = self.inner.tx.clone();
                self.inner.handle.spawn(async move {
                    // A queue that closes meanwhile drops the message: its
                    // callback then answers `Error::Closed`.
                    let _ = tx.send(msg).await;
                });
            }
            // Dropped here: the callback answers `Error::Closed`.
            Err(mpsc::error::TrySendError::Closed(msg)) => drop(msg),
        }
        Ok(())
    }

    /// Apply `ops` on the caller's thread if the store allows it now:
    /// durability `none` or `batch` (a `sync` write waits for an fsync),
    /// a caller outside any async runtime whose inline-read guard allows
    /// it (`Config::inline_read_limit`), no group being applied and
    /// nothing queued before it. The commit point is the same as the
    /// writer's (the index apply); `None`: queue the write instead.
    fn write_inline(
        &self,
        ops: Vec<WriteOp>,
    ) -> std::result::Result<Result<Vec<Reply>>, Vec<WriteOp>> {
        if self.inner.config.durability == crate::Durability::Sync || !self.inner.guard.allowed() {
            return Err(ops);
        }
        let Some(_gate) = self.inner.gate.try_inline() else {
            return Err(ops);
        };
        let index = self.inner.index.read().expect("index lock");
        let Some(index) = index.as_ref() else {
            return Ok(Err(Error::Closed));
        };
        let t0 = Instant::now();
        let parts = writer::Parts {
            index,
            cache: &self.inner.cache,
            blobs: &self.inner.blobs,
            metrics: &self.inner.metrics,
            durability: self.inner.config.durability,
        };
        let r = writer::apply_inline(&parts, ops);
        self.inner.guard.record(t0);
        self.inner.metrics.inline_writes.inc();
        self.inner
            .metrics
            .write_latency
            .observe(t0.elapsed().as_secs_f64());
        Ok(r)
    }

    /// [`set`](Self::set) (with an expiry in seconds with `ex`) answered on
    /// the caller's thread when the store allows it: a caller outside any
    /// async runtime, durability `none` or `batch`, a value stored inline
    /// (not a blob), the writer idle with nothing queued, and the
    /// inline-read guard not tripped. `None`: nothing was done; submit the
    /// write as usual ([`set_then`](Self::set_then)). Bad input and a
    /// closed store answer `Some(Err)` and change nothing.
    pub fn set_now(&self, key: &str, value: &str, ex: Option<u64>) -> Option<Result<()>> {
        if let Err(e) = self
            .check_open()
            .and_then(|()| self.check_key(key))
            .and_then(|()| self.check_value(value.len()))
            .and_then(|()| ex.map_or(Ok(()), Self::check_ex))
        {
            return Some(Err(e));
        }
        if value.len() > self.inner.config.inline_threshold {
            return None;
        }
        let mut entry = Entry::inline(ValueKind::String, value.as_bytes().to_vec());
        entry.expires_at_ms = ex.map(|secs| now_ms().saturating_add(secs.saturating_mul(1000)));
        let ops = vec![WriteOp::Put {
            key: key.to_owned(),
            entry: entry.encode(),
        }];
        let r = self.write_inline(ops).ok()?;
        self.inner.metrics.op(Op::Set);
        Some(r.map(|_| ()))
    }

    /// [`delete`](Self::delete) answered on the caller's thread when the
    /// store allows it (see [`set_now`](Self::set_now)); `None`: submit it.
    pub fn delete_now(&self, key: &str) -> Option<Result<bool>> {
        if let Err(e) = self.check_open().and_then(|()| self.check_key(key)) {
            return Some(Err(e));
        }
        let ops = vec![WriteOp::Delete {
            key: key.to_owned(),
        }];
        let r = self.write_inline(ops).ok()?;
        self.inner.metrics.op(Op::Delete);
        Some(r.map(|r| matches!(r.first(), Some(Reply::Bool(true)))))
    }

    /// A whole string value with optional expiry, acknowledged by callback
    /// (see [`Engine::set_then`]).
    fn set_string_then<F>(
        &self,
        key: &str,
        value: String,
        expires_at_ms: Option<u64>,
        done: F,
    ) -> Result<()>
    where
        F: FnOnce(Result<()>) + Send + 'static,
    {
        self.check_open()?;
        self.check_key(key)?;
        self.check_value(value.len())?;
        if value.len() > self.inner.config.inline_threshold {
            // A blob first (async, on the runtime), then the index entry.
            let s = self.clone();
            let key = key.to_owned();
            self.inner.handle.spawn(async move {
                done(
                    s.set_entry(
                        &key,
                        ValueKind::String,
                        value.into_bytes(),
                        expires_at_ms,
                        None,
                    )
                    .await,
                );
            });
            return Ok(());
        }
        let mut entry = Entry::inline(ValueKind::String, value.into_bytes());
        entry.expires_at_ms = expires_at_ms;
        self.submit_then(
            vec![WriteOp::Put {
                key: key.to_owned(),
                entry: entry.encode(),
            }],
            vec![],
            move |r| done(r.map(|_| ())),
        )
    }

    /// [`Engine::set`] acknowledged by a callback instead of a future, for
    /// callers outside the async runtime (the Python binding's event loop):
    /// `done` runs once the write is acknowledged under the store's
    /// durability mode, on the writer thread (keep it short, never block in
    /// it), or on the runtime for values stored as blobs.
    ///
    /// Bad input (empty or too long key, too large value) and a closed store
    /// return the typed error here, change nothing and never call `done`;
    /// otherwise `done` is called exactly once, with the write's result.
    pub fn set_then<F>(&self, key: &str, value: impl Into<String>, done: F) -> Result<()>
    where
        F: FnOnce(Result<()>) + Send + 'static,
    {
        self.check_open()?;
        self.inner.metrics.op(Op::Set);
        self.set_string_then(key, value.into(), None, done)
    }

    /// [`Engine::set_ex`] acknowledged by a callback (see [`Engine::set_then`]).
    pub fn set_ex_then<F>(
        &self,
        key: &str,
        value: impl Into<String>,
        seconds: u64,
        done: F,
    ) -> Result<()>
    where
        F: FnOnce(Result<()>) + Send + 'static,
    {
        Self::check_ex(seconds)?;
        let at = now_ms().saturating_add(seconds.saturating_mul(1000));
        self.set_string_then(key, value.into(), Some(at), done)
    }

    /// [`Engine::delete`] acknowledged by a callback (see
    /// [`Engine::set_then`]): `done` gets whether the key existed.
    pub fn delete_then<F>(&self, key: &str, done: F) -> Result<()>
    where
        F: FnOnce(Result<bool>) + Send + 'static,
    {
        self.check_open()?;
        self.check_key(key)?;
        self.inner.metrics.op(Op::Delete);
        self.submit_then(
            vec![WriteOp::Delete {
                key: key.to_owned(),
            }],
            vec![],
            move |r| done(r.map(|r| matches!(r.first(), Some(Reply::Bool(true))))),
        )
    }

    /// Make every write acknowledged before this call durable (fsync of the
    /// index and commit of the blob store's metadata).
    pub async fn flush(&self) -> Result<()> {
        self.check_open()?;
        self.inner.metrics.op(Op::Flush);
        self.inner.blobs.sync().await?;
        let (ack, rx) = oneshot::channel();
        self.inner
            .tx
            .send(Msg::Flush(ack))
            .await
            .map_err(|_| Error::Closed)?;
        rx.await.map_err(|_| Error::Closed)?
    }

    // ---------------------------------------------------------------- blobs

    /// Engine raw bytes content-addressed and keep them until
    /// [`remove_blob`](Self::remove_blob). Returns their BLAKE3 hash.
    pub async fn add_blob(&self, data: impl Into<Bytes>) -> Result<ContentHash> {
        self.check_open()?;
        let data: Bytes = data.into();
        self.check_value(data.len())?;
        self.inner.metrics.op(Op::AddBlob);
        let tag = self.inner.blobs.add(data).await?;
        let hash = ContentHash(*tag.hash().as_bytes());
        // before the pin can reference it (see prepare_entry)
        self.inner.blobs.sync().await?;
        self.submit(vec![WriteOp::Pin { hash: hash.0 }], vec![tag])
            .await?;
        Ok(hash)
    }

    /// The bytes of a blob, or `None` if the store does not hold it.
    pub async fn get_blob(&self, hash: &ContentHash) -> Result<Option<Bytes>> {
        self.check_open()?;
        self.inner.metrics.op(Op::GetBlob);
        self.inner.blobs.get(&hash.0).await
    }

    /// Stop keeping a raw blob; it is collected unless a value refers to it.
    /// Whether it was kept.
    pub async fn remove_blob(&self, hash: &ContentHash) -> Result<bool> {
        let r = self
            .submit(vec![WriteOp::Unpin { hash: hash.0 }], vec![])
            .await?;
        Ok(matches!(r.first(), Some(Reply::Bool(true))))
    }

    /// Collect blobs no key or pin refers to, now, and wait for it.
    pub async fn collect_garbage(&self) -> Result<()> {
        self.check_open()?;
        if self.index()?.suspect() {
            return Err(Error::Corrupt(SUSPECT.into()));
        }
        self.inner.metrics.op(Op::Gc);
        self.inner.blobs.collect(Duration::from_secs(120)).await?;
        self.inner.metrics.gc_runs.inc();
        Ok(())
    }

    /// After an open with `Config::recovery` of an index that was behind
    /// its durability mark, or that sled could not open (set aside, an
    /// empty one started): the marks and the blobs nothing refers to any
    /// more. `None` when the index was not behind (nothing was lost).
    pub async fn recovery(&self) -> Result<Option<Recovery>> {
        self.check_open()?;
        let ix = self.index()?;
        let found = ix.found;
        if !ix.suspect() {
            return Ok(None);
        }
        let damaged_index = ix.salvaged.as_ref().map(|p| p.display().to_string());
        let live = self
            .inner
            .handle
            .spawn_blocking(move || ix.live_blob_hashes())
            .await??;
        let mut unreferenced: Vec<String> = self
            .inner
            .blobs
            .hashes()
            .await?
            .into_iter()
            .filter(|h| !live.contains(h))
            .map(|h| blake3::Hash::from_bytes(h).to_hex().to_string())
            .collect();
        unreferenced.sort();
        let recorded = found.recorded.unwrap_or(0);
        Ok(Some(Recovery {
            recorded_mark: recorded,
            index_mark: found.index,
            unreferenced_blobs: unreferenced,
            marks_lost: found.index.map(|i| recorded.saturating_sub(i)),
            journal: self.inner.replay.lock().expect("replay").clone(),
            damaged_index,
        }))
    }

    /// Whether this is a recovery open of an index that was behind its
    /// durability mark.
    pub(crate) fn recovering(&self) -> Result<bool> {
        Ok(self.index()?.suspect())
    }

    /// What walking the operation journal at open found (`None`: off).
    pub(crate) fn journal_scan(&self) -> Result<Option<journal::Scan>> {
        Ok(self.index()?.journal_scan.clone())
    }

    /// Record what the recovery open restored from the journal.
    pub(crate) fn set_replay(&self, r: JournalReplay) {
        *self.inner.replay.lock().expect("replay") = Some(r);
    }

    /// Number of blobs in the blob store.
    pub async fn blob_count(&self) -> Result<usize> {
        self.check_open()?;
        self.inner.blobs.count().await
    }

    // ------------------------------------------------------------ lifecycle

    /// Flush, stop the writer, release the directory. Idempotent; every call
    /// after it returns [`Error::Closed`].
    pub async fn close(&self) -> Result<()> {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let inner = self.inner.clone();
        let r = self
            .inner
            .handle
            .spawn_blocking(move || inner.shutdown_writer_and_index(true))
            .await?;
        let b = self.inner.blobs.shutdown().await;
        self.inner.cache.clear();
        self.inner.lock.lock().expect("lock").take();
        r.and(b)
    }

    /// `close` for synchronous callers outside a runtime.
    pub fn close_blocking(&self) -> Result<()> {
        self.block_on(self.close())
    }

    // -------------------------------------------------------------- metrics

    /// Prometheus text exposition of this store's registry.
    pub fn metrics_text(&self) -> Result<String> {
        self.inner.metrics.text()
    }

    /// The store's Prometheus registry (to merge into a process registry).
    pub fn registry(&self) -> &prometheus::Registry {
        &self.inner.metrics.registry
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        let m = &self.inner.metrics;
        let (hot, warm) = self.inner.cache.sizes();
        let (hh, wh, mi) = (m.hot_hits.get(), m.warm_hits.get(), m.misses.get());
        let lookups = hh + wh + mi;
        let batches = m.batch_size.get_sample_count();
        Stats {
            ops: m.op_counts(),
            hot_hits: hh,
            warm_hits: wh,
            misses: mi,
            hit_rate: if lookups == 0 {
                0.0
            } else {
                (hh + wh) as f64 / lookups as f64
            },
            hot_entries: hot.0,
            hot_bytes: hot.1,
            warm_entries: warm.0,
            warm_bytes: warm.1,
            writer_batches: batches,
            writes_acked: m.writes_acked.get(),
            mean_batch_size: if batches == 0 {
                0.0
            } else {
                m.batch_size.get_sample_sum() / batches as f64
            },
            queue_depth: m.queue_depth.get(),
            write_latency_p50: histogram_quantile(&m.write_latency, 0.5),
            write_latency_p99: histogram_quantile(&m.write_latency, 0.99),
            read_miss_latency_p50: histogram_quantile(&m.read_latency, 0.5),
            read_miss_latency_p99: histogram_quantile(&m.read_latency, 0.99),
            gc_runs: m.gc_runs.get(),
            inline_reads: m.inline_reads.get(),
            inline_writes: m.inline_writes.get(),
            pool_reads: m.pool_reads.get(),
            longest_inline_read: self.inner.guard.longest_ns.load(Ordering::Relaxed) as f64 / 1e9,
            inline_guard_trips: self.inner.guard.trips.load(Ordering::Relaxed),
        }
    }

    /// Bytes on disk under the store's directory (index and blobs).
    pub fn disk_usage(&self) -> Result<u64> {
        std::fs::metadata(&self.inner.path)?;
        dir_size(&self.inner.path)
    }
}

impl Inner {
    /// Blocking part of close: drain the writer, flush, drop the index,
    /// stop the reader pool (joining its threads with `join_readers`).
    fn shutdown_writer_and_index(&self, join_readers: bool) -> Result<()> {
        // The writer drains what is queued, flushes, and exits.
        let _ = self.tx.blocking_send(Msg::Shutdown);
        let mut writer_ok = true;
        if let Some(h) = self.writer.lock().expect("writer lock").take() {
            if h.join().is_err() {
                tracing::error!("writer thread panicked");
                writer_ok = false;
            }
        }
        let index = self.index.write().expect("index lock").take();
        let mut r = Ok(());
        if let Some(index) = index {
            r = index.flush();
            // Wait (briefly) for in-flight reads to drop their clones, so that
            // sled closes and releases its own file lock now.
            let deadline = Instant::now() + Duration::from_secs(10);
            while Arc::strong_count(&index) > 1 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            // Warm restart: only after a clean final flush, with the writer
            // gone (nothing writes to the index after this).
            if r.is_ok() && writer_ok && self.config.warm_restart && self.config.hot_cache_bytes > 0
            {
                let t0 = Instant::now();
                match snapshot::write(&self.path, &index, &self.cache, now_ms()) {
                    Ok(n) => tracing::debug!(
                        entries = n,
                        ms = t0.elapsed().as_secs_f64() * 1e3,
                        "warm restart: snapshot written"
                    ),
                    Err(e) => tracing::warn!("warm restart: snapshot not written: {e}"),
                }
            }
            if index.failed().is_some() {
                // sled failed with an I/O error: its drop flushes, and that
                // flush can wait forever (sled 0.34.7 after ENOSPC). Drop it
                // on a thread of its own so that close returns; until that
                // thread ends, sled's own lock on its file stays held by this
                // process (a reopen in another process works).
                let _ = std::thread::Builder::new()
                    .name("cyberfly-sled-drop".into())
                    .spawn(move || drop(index));
            } else {
                drop(index);
            }
        }
        // Every read still queued holds an index clone; none is left (or the
        // deadline passed): the readers exit once their channel is drained.
        self.readers.shutdown(join_readers);
        r
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            // Dropped without close(): drain the writer, flush, and shut the
            // blob store down so that nothing acknowledged is lost and the
            // directory can be opened again at once. The drop may run on a
            // runtime worker, where blocking calls panic; a scoped thread is
            // never inside an async context.
            let this = &*self;
            // Dropped on a reader thread (a job held the last handle): the
            // readers cannot be joined from here; they exit on their own.
            let join_readers = !self.readers.is_reader_thread();
            std::thread::scope(|sc| {
                sc.spawn(|| {
                    if let Err(e) = this.shutdown_writer_and_index(join_readers) {
                        tracing::error!("flush on drop failed: {e}");
                    }
                    if let Err(e) = this.handle.block_on(this.blobs.shutdown()) {
                        tracing::warn!("blob store shutdown on drop: {e}");
                    }
                });
            });
        }
        if let Some(rt) = self.runtime.lock().ok().and_then(|mut r| r.take()) {
            rt.shutdown_background();
        }
    }
}

fn is_expired(expires_at_ms: Option<u64>) -> bool {
    matches!(expires_at_ms, Some(t) if t <= now_ms())
}

#[inline]
fn cached_string(v: ValueRef<'_>, expires_at_ms: Option<u64>) -> Option<Arc<str>> {
    if is_expired(expires_at_ms) {
        return None;
    }
    Some(v.to_arc())
}

/// [`cached_string`] of a value read from the index.
fn resolved_string(v: &CachedValue, expires_at_ms: Option<u64>) -> Option<Arc<str>> {
    let CachedValue::String(s) = v;
    cached_string(ValueRef::Shared(s), expires_at_ms)
}

/// The longest one `get_many` call reads misses on the caller's thread
/// before it hands the rest to the reader pool.
pub const MANY_INLINE_BUDGET: Duration = Duration::from_millis(2);

/// Index lookup and decode, on the reader pool or an inline reader.
fn resolve(index: &Index, key: &str) -> Result<Resolved> {
    let Some(raw) = index.get(key.as_bytes())? else {
        return Ok(Resolved::Absent);
    };
    let entry = Entry::decode(&raw)?;
    // Expiry first, as every other read does (and Redis): a key whose TTL
    // ran out is gone, whatever its type, even before the sweeper runs.
    if is_expired(entry.expires_at_ms) {
        return Ok(Resolved::Absent);
    }
    if entry.kind != ValueKind::String {
        return Err(Error::WrongType {
            expected: ValueKind::String.name(),
            actual: entry.kind.name(),
        });
    }
    Ok(match entry.payload {
        Payload::Inline(bytes) => Resolved::Value(Arc::new(Cached {
            value: CachedValue::String(decode_string(bytes)?.into()),
            expires_at_ms: entry.expires_at_ms,
            epoch: 0,
        })),
        Payload::Blob => Resolved::Blob {
            hash: entry.hash,
            expires_at_ms: entry.expires_at_ms,
        },
    })
}

/// Bytes of the files under `p`. Files and directories that vanish during
/// the walk (blob GC, a blob import finishing, sled rewriting a segment)
/// count as zero instead of failing the whole call.
fn dir_size(p: &Path) -> Result<u64> {
    fn gone(e: &std::io::Error) -> bool {
        e.kind() == std::io::ErrorKind::NotFound
    }
    let mut total = 0;
    let entries = match std::fs::read_dir(p) {
        Ok(it) => it,
        Err(e) if gone(&e) => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    for e in entries {
        let md = match e.and_then(|e| e.metadata().map(|md| (e.path(), md))) {
            Ok(x) => x,
            Err(e) if gone(&e) => continue,
            Err(e) => return Err(e.into()),
        };
        let (path, md) = md;
        if md.is_dir() {
            total += dir_size(&path)?;
        } else {
            total += md.len();
        }
    }
    Ok(total)
}

/// A prefix scan, fetched a page at a time.
pub struct Scan {
    store: Engine,
    prefix: Vec<u8>,
    after: Option<Vec<u8>>,
    done: bool,
    page: std::collections::VecDeque<(String, Arc<str>)>,
}

impl Scan {
    /// The next page of (key, value) pairs; `None` at the end.
    pub async fn next_page(&mut self) -> Result<Option<Vec<(String, Arc<str>)>>> {
        if !self.page.is_empty() {
            return Ok(Some(self.page.drain(..).collect()));
        }
        // A loop, not a call per page: a prefix over many keys of other
        // types (or expired ones) must not nest a future per empty page.
        loop {
            if self.done {
                return Ok(None);
            }
            self.store.check_open()?;
            self.store.inner.metrics.op(Op::Scan);
            let index = self.store.index()?;
            let prefix = self.prefix.clone();
            let after = self.after.clone();
            let limit = self.store.inner.config.scan_page_size;
            let raw = self
                .store
                .inner
                .readers
                .run(move || index.scan_page(&prefix, after.as_deref(), limit))
                .await??;
            if raw.len() < limit {
                self.done = true;
            }
            let Some((last, _)) = raw.last() else {
                self.done = true;
                return Ok(None);
            };
            self.after = Some(last.clone());
            let mut out = Vec::with_capacity(raw.len());
            for (k, v) in raw {
                let entry = Entry::decode(&v)?;
                if entry.kind != ValueKind::String || is_expired(entry.expires_at_ms) {
                    continue;
                }
                let key =
                    String::from_utf8(k).map_err(|_| Error::Corrupt("key is not UTF-8".into()))?;
                let value: Arc<str> = match entry.payload {
                    Payload::Inline(b) => decode_string(b)?.into(),
                    Payload::Blob => {
                        let b = self.store.inner.blobs.get_referenced(&entry.hash).await?;
                        decode_string(b.to_vec())?.into()
                    }
                };
                out.push((key, value));
            }
            if out.is_empty() && !self.done {
                // Every entry of this page was of another type or expired.
                continue;
            }
            if out.is_empty() {
                return Ok(None);
            }
            return Ok(Some(out));
        }
    }

    /// The next (key, value) pair; `None` at the end.
    pub async fn next(&mut self) -> Result<Option<(String, Arc<str>)>> {
        if self.page.is_empty() {
            match self.next_page().await? {
                Some(p) => self.page.extend(p),
                None => return Ok(None),
            }
        }
        Ok(self.page.pop_front())
    }

    /// Collect everything left (for tests and small scans).
    pub async fn collect_all(mut self) -> Result<Vec<(String, Arc<str>)>> {
        let mut all = Vec::new();
        while let Some(p) = self.next_page().await? {
            all.extend(p);
        }
        Ok(all)
    }
}
