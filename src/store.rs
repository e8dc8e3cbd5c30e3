//! The façade: every public operation of a store, listed here in one place.
//! Each method delegates to the engine (`crate::engine`: index, writer,
//! readers, cache, blobs, config, metrics, clock) or to the module that owns
//! the operation (`crate::types::*` for the container types,
//! `crate::oplog` for signed operations, `crate::sync` for replication),
//! passing the engine. None of those modules knows `Store`.
//!
//! Layout on disk:
//!
//! ```text
//! {path}/LOCK      exclusive lock held while the store is open
//! {path}/index/    sled
//! {path}/blobs/    iroh-blobs FsStore
//! ```

use std::path::Path;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::runtime::Handle;

use crate::engine::config::{Config, LogCheck};
use crate::engine::{Engine, Recovery};
use crate::error::{Error, Result};
use crate::oplog::{LoadReport, OpLogScan, Outcome, SignedOperation};
use crate::sync::{ProgressFn, SyncConfig, SyncHandle, SyncReport, SyncServer};
use crate::types::geo::{GeoMatch, GeoUnit, RadiusOpts};
use crate::types::stream::StreamEntry;
use crate::types::string::{SetOptions, SetOutcome};
use crate::types::ttl::{ExpireIf, KeyInfo, SweepReport};
use crate::types::zset::{ScoreBound, ZRangeBy, ZaddOptions, ZaddReply};
use crate::types::{GetAll, SubScan};
use crate::value::{SigMeta, ValueKind};

pub use crate::engine::clock::now_ms;
pub use crate::engine::{ContentHash, GetMany, GetManyPending, Miss, PendingGet, Scan, Stats};

/// An open store. Clones share the same store.
#[derive(Clone)]
pub struct Store {
    e: Engine,
    /// What reading the operation log at open found.
    log_report: Arc<Mutex<Option<LoadReport>>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.e.fmt(f)
    }
}

impl Store {
    /// Open (or create) the store at `path` on the calling tokio runtime; its
    /// background work runs on that runtime's blocking pool and on the
    /// store's own writer thread.
    pub async fn open(path: impl AsRef<Path>, config: Config) -> Result<Store> {
        Self::open_with(path.as_ref(), config, Handle::current(), None).await
    }

    /// Like [`open`](Self::open), reporting (done, total) while the
    /// operation log is read (`Config::log_check`).
    pub async fn open_with_progress(
        path: impl AsRef<Path>,
        config: Config,
        progress: Arc<dyn Fn(u64, u64) + Send + Sync>,
    ) -> Result<Store> {
        Self::open_with(path.as_ref(), config, Handle::current(), Some(progress)).await
    }

    /// Open from synchronous code: the store builds and owns a multi-thread
    /// runtime of `config.runtime_threads` workers. Use [`Store::block_on`] to
    /// drive its async methods from threads outside any runtime (the C ABI
    /// does). Must not be called from inside an async context.
    pub fn open_blocking(path: impl AsRef<Path>, config: Config) -> Result<Store> {
        config.validate()?;
        if Handle::try_current().is_ok() {
            return Err(Error::invalid(
                "open_blocking called inside an async runtime; use Store::open().await",
            ));
        }
        let rt = Engine::runtime(&config)?;
        let opened = rt.block_on(Self::open_with(
            path.as_ref(),
            config,
            rt.handle().clone(),
            None,
        ));
        match opened {
            Ok(s) => {
                s.e.keep_runtime(rt);
                Ok(s)
            }
            Err(e) => {
                rt.shutdown_background();
                Err(e)
            }
        }
    }

    /// The engine, then the operation log read (and checked per
    /// `Config::log_check`), then the background work.
    async fn open_with(
        path: &Path,
        config: Config,
        handle: Handle,
        progress: Option<Arc<dyn Fn(u64, u64) + Send + Sync>>,
    ) -> Result<Store> {
        let e = Engine::open(path, config, handle, crate::oplog::upgrade_log_layout).await?;
        let check = e.config().log_check;
        let report = match crate::oplog::check::load_log_at_open(&e, check, progress).await {
            Ok(r) => r,
            Err(err) => {
                let _ = e.close().await;
                return Err(err);
            }
        };
        if !report.corrupt.is_empty() || !report.invalid_signatures.is_empty() {
            tracing::warn!(
                corrupt = report.corrupt.len(),
                invalid = report.invalid_signatures.len(),
                "operation log has bad entries (skipped)"
            );
        }
        // A recovery open of an index behind its durability mark: restore
        // what the operation journal holds, and reset the sync cursors.
        if let Err(err) = Self::recover(&e).await {
            let _ = e.close().await;
            return Err(err);
        }
        let store = Store {
            e,
            log_report: Arc::new(Mutex::new(Some(report))),
        };
        store.spawn_sweeper();
        store.e.start();
        Ok(store)
    }

    async fn recover(e: &Engine) -> Result<()> {
        if !e.recovering()? {
            return Ok(());
        }
        if let Some(r) = crate::oplog::restore::restore_from_journal(e).await? {
            e.set_replay(r);
        }
        crate::oplog::restore::reset_sync(e).await
    }

    /// The engine beneath (for the crate's tests).
    #[cfg(test)]
    pub(crate) fn engine(&self) -> &Engine {
        &self.e
    }

    /// What reading the operation log at open found.
    pub fn log_report(&self) -> Option<LoadReport> {
        self.log_report.lock().expect("report").clone()
    }

    /// The verifier of this store (its verdict cache and counters).
    pub fn verifier(&self) -> &Arc<crate::verify::Verifier> {
        self.e.verifier()
    }

    /// The background sweeper: every `sweep_interval`, remove expired keys
    /// and orphaned sub-entries.
    fn spawn_sweeper(&self) {
        self.e
            .spawn_every(self.e.config().sweep_interval, |e| async move {
                match crate::types::ttl::sweep(&e).await {
                    Ok(r) if r != Default::default() => {
                        tracing::debug!(?r, "sweep");
                    }
                    Ok(_) => {}
                    Err(Error::Closed) => return false,
                    Err(e) => tracing::warn!("sweep failed: {e}"),
                }
                true
            });
    }

    // ------------------------------------------------ lifecycle, String, blobs, metrics (src/engine/mod.rs)

    /// Drive a future of this store to completion from a thread outside any
    /// async runtime (blocking the caller).
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.e.block_on(f)
    }

    /// The runtime handle the store runs its background work on.
    pub fn handle(&self) -> &Handle {
        self.e.handle()
    }

    pub fn path(&self) -> &Path {
        self.e.path()
    }

    pub fn config(&self) -> &Config {
        self.e.config()
    }

    pub fn is_closed(&self) -> bool {
        self.e.is_closed()
    }

    /// `Err(Error::Closed)` once the store is closed; public for the bindings
    /// (bindings/c).
    #[inline]
    pub fn check_open(&self) -> Result<()> {
        self.e.check_open()
    }

    /// Read from the cache only: `Some(Ok(v))` on a hit (no thread hop, no
    /// copy of the value), `None` when the index must be consulted. The
    /// bindings use this to answer hits synchronously.
    #[inline]
    pub fn get_cached(&self, key: &str) -> Option<Result<Option<Arc<str>>>> {
        self.e.get_cached(key)
    }

    /// [`get_cached`](Self::get_cached) lending the value instead of
    /// returning it: `f` of the cached text (`None` if it expired) runs
    /// under the cache's read lock, and a hit copies nothing before it (a
    /// binding makes its own string from the text; keep `f` short: a write
    /// to a key of the same cache shard waits for it). `None`: a miss.
    #[inline]
    pub fn get_cached_with<R>(
        &self,
        key: &str,
        f: impl FnOnce(Option<&str>) -> R,
    ) -> Option<Result<R>> {
        self.e.get_cached_with(key, f)
    }

    /// The string value of `key`, or `None`.
    pub async fn get(&self, key: &str) -> Result<Option<Arc<str>>> {
        self.e.get(key).await
    }

    /// The index path of [`get`](Self::get), for a caller that already
    /// missed with [`get_cached`](Self::get_cached) (the bindings answer
    /// hits synchronously and send only misses here; a second cache probe
    /// would count the miss twice). From a thread outside any runtime the
    /// index is read on that thread ([`get_miss`](Self::get_miss));
    /// inside a runtime, on the reader pool.
    pub async fn get_uncached(&self, key: &str) -> Result<Option<Arc<str>>> {
        self.e.get_uncached(key).await
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
        self.e.get_miss(key)
    }

    /// Finish a [`Miss::Pending`]: the index read on the reader pool, or
    /// the blob read.
    pub async fn finish_get(&self, p: PendingGet) -> Result<Option<Arc<str>>> {
        self.e.finish_get(p).await
    }

    /// [`get`](Self::get) for a blocking caller outside any async runtime
    /// (panics inside one, as `Handle::block_on` does): a hit or a miss
    /// whose index page sled holds is answered on this thread.
    pub fn get_blocking(&self, key: &str) -> Result<Option<Arc<str>>> {
        self.e.get_blocking(key)
    }

    /// Values of `keys`, in order; hits from the cache, misses resolved in
    /// parallel chunks on the blocking pool.
    pub async fn get_many<K: AsRef<str>>(&self, keys: &[K]) -> Result<Vec<Option<Arc<str>>>> {
        self.e.get_many(keys).await
    }

    /// The cache pass of [`get_many`](Self::get_many), synchronous and on
    /// the caller's thread: every key is checked and looked up once. When
    /// all were cached the result is [`GetMany::Done`]; otherwise finish it
    /// with [`get_many_misses`](Self::get_many_misses), which owns what it
    /// needs (the bindings borrow keys for this pass and copy only misses).
    pub fn get_many_cached<K: AsRef<str>>(&self, keys: &[K]) -> Result<GetMany> {
        self.e.get_many_cached(keys)
    }

    /// Read the misses of [`get_many_cached`](Self::get_many_cached) on
    /// the caller's thread, as [`get_miss`](Self::get_miss) does for one
    /// key, when the thread and the inline-read guard allow it, for at most
    /// [`MANY_INLINE_BUDGET`] (or until a read is slow): what is left
    /// (keys not reached, blob-backed values) stays pending for
    /// [`get_many_misses`](Self::get_many_misses).
    pub fn get_many_inline(&self, p: GetMany) -> Result<GetMany> {
        self.e.get_many_inline(p)
    }

    /// Resolve the misses of [`get_many_cached`](Self::get_many_cached).
    pub async fn get_many_misses(&self, p: GetMany) -> Result<Vec<Option<Arc<str>>>> {
        self.e.get_many_misses(p).await
    }

    /// Whether `key` holds a value (of any type).
    pub async fn exists(&self, key: &str) -> Result<bool> {
        self.e.exists(key).await
    }

    /// Scan string values whose key starts with `prefix`, in key order, a page
    /// at a time (`config.scan_page_size` entries per trip to the index).
    pub fn scan(&self, prefix: &str) -> Scan {
        self.e.scan(prefix)
    }

    /// Set `key` to a string value.
    pub async fn set(&self, key: &str, value: impl Into<String>) -> Result<()> {
        self.e.set(key, value).await
    }

    /// Set many keys in one atomic group. Every item is validated first: one
    /// bad item fails the call and nothing is written.
    pub async fn set_many<K, V, I>(&self, items: I) -> Result<()>
    where
        K: Into<String>,
        V: Into<String>,
        I: IntoIterator<Item = (K, V)>,
    {
        self.e.set_many(items).await
    }

    /// Remove `key`; whether it existed.
    pub async fn delete(&self, key: &str) -> Result<bool> {
        self.e.delete(key).await
    }

    /// `SET` with Redis's options (NX/XX, EX/PX/EXAT/PXAT/KEEPTTL, GET):
    /// whether the value was written, and with `get` the string the key
    /// held. See [`SetOptions`].
    pub async fn set_with(
        &self,
        key: &str,
        value: impl Into<String>,
        opts: SetOptions,
    ) -> Result<SetOutcome> {
        crate::types::string::set_with(&self.e, key, value.into(), opts).await
    }

    /// `DEL` of many keys (any type) in one atomic group: how many existed.
    /// A bad key fails the call and nothing is removed; no key is an error.
    pub async fn delete_many<K: AsRef<str>>(&self, keys: &[K]) -> Result<u64> {
        crate::types::string::delete_many(&self.e, keys).await
    }

    /// `EXISTS` of many keys: how many hold a value (a key named twice
    /// counts twice, as Redis); no key is an error.
    pub async fn exists_many<K: AsRef<str>>(&self, keys: &[K]) -> Result<u64> {
        crate::types::string::exists_many(&self.e, keys).await
    }

    /// [`set`](Self::set) (with an expiry in seconds with `ex`) answered on
    /// the caller's thread when the store allows it: a caller outside any
    /// async runtime, durability `none` or `batch`, a value stored inline
    /// (not a blob), the writer idle with nothing queued, and the
    /// inline-read guard not tripped. `None`: nothing was done; submit the
    /// write as usual ([`set_then`](Self::set_then)). Bad input and a
    /// closed store answer `Some(Err)` and change nothing.
    pub fn set_now(&self, key: &str, value: &str, ex: Option<u64>) -> Option<Result<()>> {
        self.e.set_now(key, value, ex)
    }

    /// [`delete`](Self::delete) answered on the caller's thread when the
    /// store allows it (see [`set_now`](Self::set_now)); `None`: submit it.
    pub fn delete_now(&self, key: &str) -> Option<Result<bool>> {
        self.e.delete_now(key)
    }

    /// [`Store::set`] acknowledged by a callback instead of a future, for
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
        self.e.set_then(key, value, done)
    }

    /// [`Store::set_ex`] acknowledged by a callback (see [`Store::set_then`]).
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
        self.e.set_ex_then(key, value, seconds, done)
    }

    /// [`Store::delete`] acknowledged by a callback (see
    /// [`Store::set_then`]): `done` gets whether the key existed.
    pub fn delete_then<F>(&self, key: &str, done: F) -> Result<()>
    where
        F: FnOnce(Result<bool>) + Send + 'static,
    {
        self.e.delete_then(key, done)
    }

    /// Make every write acknowledged before this call durable (fsync of the
    /// index and commit of the blob store's metadata).
    pub async fn flush(&self) -> Result<()> {
        self.e.flush().await
    }

    /// Store raw bytes content-addressed and keep them until
    /// [`remove_blob`](Self::remove_blob). Returns their BLAKE3 hash.
    pub async fn add_blob(&self, data: impl Into<Bytes>) -> Result<ContentHash> {
        self.e.add_blob(data).await
    }

    /// The bytes of a blob, or `None` if the store does not hold it.
    pub async fn get_blob(&self, hash: &ContentHash) -> Result<Option<Bytes>> {
        self.e.get_blob(hash).await
    }

    /// Stop keeping a raw blob; it is collected unless a value refers to it.
    /// Whether it was kept.
    pub async fn remove_blob(&self, hash: &ContentHash) -> Result<bool> {
        self.e.remove_blob(hash).await
    }

    /// Collect blobs no key or pin refers to, now, and wait for it.
    pub async fn collect_garbage(&self) -> Result<()> {
        self.e.collect_garbage().await
    }

    /// After an open with [`Config::recovery`] of an index that was behind
    /// its durability mark (damaged or rolled back): the marks, and the
    /// blobs no entry refers to any more (values of lost keys among them),
    /// and what was restored from the operation journal
    /// ([`Config::oplog_journal`]). `None` when nothing was lost. Blob GC is off for such an open.
    pub async fn recovery(&self) -> Result<Option<Recovery>> {
        self.e.recovery().await
    }

    /// Number of blobs in the blob store.
    pub async fn blob_count(&self) -> Result<usize> {
        self.e.blob_count().await
    }

    /// Flush, stop the writer, release the directory. Idempotent; every call
    /// after it returns [`Error::Closed`].
    pub async fn close(&self) -> Result<()> {
        self.e.close().await
    }

    /// `close` for synchronous callers outside a runtime.
    pub fn close_blocking(&self) -> Result<()> {
        self.e.close_blocking()
    }

    /// Prometheus text exposition of this store's registry.
    pub fn metrics_text(&self) -> Result<String> {
        self.e.metrics_text()
    }

    /// The store's Prometheus registry (to merge into a process registry).
    pub fn registry(&self) -> &prometheus::Registry {
        self.e.registry()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.e.stats()
    }

    /// Bytes on disk under the store's directory (index and blobs).
    pub fn disk_usage(&self) -> Result<u64> {
        self.e.disk_usage()
    }

    // ------------------------------------------------ Geo (src/types/geo.rs)
    /// Add or move members: (longitude, latitude, member). Returns how many
    /// were new.
    pub async fn geoadd<M: Into<String>>(
        &self,
        key: &str,
        items: impl IntoIterator<Item = (f64, f64, M)>,
    ) -> Result<i64> {
        crate::types::geo::geoadd(&self.e, key, items).await
    }

    /// Positions (longitude, latitude) of members, in order.
    pub async fn geopos<M: AsRef<str>>(
        &self,
        key: &str,
        members: &[M],
    ) -> Result<Vec<Option<(f64, f64)>>> {
        crate::types::geo::geopos(&self.e, key, members).await
    }

    /// Distance between two members in `unit`; `None` if either is missing.
    pub async fn geodist(
        &self,
        key: &str,
        m1: &str,
        m2: &str,
        unit: GeoUnit,
    ) -> Result<Option<f64>> {
        crate::types::geo::geodist(&self.e, key, m1, m2, unit).await
    }

    /// Members within `radius` of (longitude, latitude).
    pub async fn georadius(
        &self,
        key: &str,
        longitude: f64,
        latitude: f64,
        radius: f64,
        unit: GeoUnit,
        opts: RadiusOpts,
    ) -> Result<Vec<GeoMatch>> {
        crate::types::geo::georadius(&self.e, key, longitude, latitude, radius, unit, opts).await
    }

    /// Members within `radius` of another member: empty when the key does
    /// not exist, `InvalidArgument` when the member is not in it (as Redis).
    pub async fn georadiusbymember(
        &self,
        key: &str,
        member: &str,
        radius: f64,
        unit: GeoUnit,
        opts: RadiusOpts,
    ) -> Result<Vec<GeoMatch>> {
        crate::types::geo::georadiusbymember(&self.e, key, member, radius, unit, opts).await
    }

    /// Every member with its position.
    pub async fn geo_members(&self, key: &str) -> Result<Vec<(String, f64, f64)>> {
        crate::types::geo::geo_members(&self.e, key).await
    }

    // ------------------------------------------------ Hash (src/types/hash.rs)
    /// Set fields of a hash; returns how many fields are new.
    pub async fn hset_many<F, V, I>(&self, key: &str, fields: I) -> Result<i64>
    where
        F: Into<String>,
        V: Into<String>,
        I: IntoIterator<Item = (F, V)>,
    {
        crate::types::hash::hset_many(&self.e, key, fields).await
    }

    /// Set one field; returns 1 if the field is new, 0 if it was updated.
    pub async fn hset(&self, key: &str, field: &str, value: impl Into<String>) -> Result<i64> {
        crate::types::hash::hset(&self.e, key, field, value).await
    }

    /// The value of a field.
    pub async fn hget(&self, key: &str, field: &str) -> Result<Option<String>> {
        crate::types::hash::hget(&self.e, key, field).await
    }

    /// Every (field, value), ordered by field.
    pub async fn hgetall(&self, key: &str) -> Result<Vec<(String, String)>> {
        crate::types::hash::hgetall(&self.e, key).await
    }

    /// Remove fields; returns how many existed.
    pub async fn hdel<F: Into<String>>(
        &self,
        key: &str,
        fields: impl IntoIterator<Item = F>,
    ) -> Result<i64> {
        crate::types::hash::hdel(&self.e, key, fields).await
    }

    /// Number of fields.
    pub async fn hlen(&self, key: &str) -> Result<u64> {
        crate::types::hash::hlen(&self.e, key).await
    }

    /// Fields whose name contains `pattern` (the node's `filter_hash`),
    /// streamed in pages.
    pub fn filter_hash(&self, key: &str, pattern: &str) -> SubScan<(String, String)> {
        crate::types::hash::filter_hash(&self.e, key, pattern)
    }

    // ------------------------------------------------ Json (src/types/json.rs)
    /// Set a document (`path = "$"`) or the value at a JSONPath inside the
    /// existing document. A missing key can only be set at `$`.
    pub async fn json_set(&self, key: &str, path: &str, value: serde_json::Value) -> Result<()> {
        crate::types::json::json_set(&self.e, key, path, value).await
    }

    /// The whole document (`path = None`), or the array of values the
    /// JSONPath selects.
    pub async fn json_get(
        &self,
        key: &str,
        path: Option<&str>,
    ) -> Result<Option<serde_json::Value>> {
        crate::types::json::json_get(&self.e, key, path).await
    }

    /// The values a JSONPath filter expression selects in the document of
    /// `key` (e.g. `$.items[?@.price < 10]`). Only this key's document is
    /// decoded.
    pub async fn json_filter(&self, key: &str, path: &str) -> Result<Vec<serde_json::Value>> {
        crate::types::json::json_filter(&self.e, key, path).await
    }

    // ------------------------------------------------ List (src/types/list.rs)
    /// Append values at the tail; returns the new length.
    pub async fn rpush<V: Into<String>>(
        &self,
        key: &str,
        values: impl IntoIterator<Item = V>,
    ) -> Result<i64> {
        crate::types::list::rpush(&self.e, key, values).await
    }

    /// Prepend values at the head, one after the other (so the last given
    /// ends first, as in Redis); returns the new length.
    pub async fn lpush<V: Into<String>>(
        &self,
        key: &str,
        values: impl IntoIterator<Item = V>,
    ) -> Result<i64> {
        crate::types::list::lpush(&self.e, key, values).await
    }

    /// Items from `start` to `stop` inclusive; negative indices count from
    /// the end (-1 is the last), as in Redis.
    pub async fn lrange(&self, key: &str, start: i64, stop: i64) -> Result<Vec<String>> {
        crate::types::list::lrange(&self.e, key, start, stop).await
    }

    /// Number of items.
    pub async fn llen(&self, key: &str) -> Result<u64> {
        crate::types::list::llen(&self.e, key).await
    }

    /// Items containing `pattern` (the node's `filter_list`), in order,
    /// streamed in pages.
    pub fn filter_list(&self, key: &str, pattern: &str) -> SubScan<String> {
        crate::types::list::filter_list(&self.e, key, pattern)
    }

    // ------------------------------------------------ Whole-store reads (src/types/scan.rs)
    /// Every key of `kind` in database `db` (keys `{db}:…`), with contents
    /// and signature metadata, streamed a page of keys at a time.
    pub fn get_all(&self, db: &str, kind: ValueKind) -> GetAll {
        crate::types::scan::get_all(&self.e, db, kind)
    }

    /// A BLAKE3 digest of the store's whole logical state: every live key
    /// with its type, contents, expiry and signature metadata, in key order.
    /// Internal details (container versions, blob placement, orphans not yet
    /// swept) do not affect it, so two stores holding the same data agree.
    pub async fn state_digest(&self) -> Result<String> {
        crate::types::scan::state_digest(&self.e).await
    }

    // ------------------------------------------------ Set (src/types/set.rs)
    /// Add members; returns how many were new.
    pub async fn sadd<M: Into<String>>(
        &self,
        key: &str,
        members: impl IntoIterator<Item = M>,
    ) -> Result<i64> {
        crate::types::set::sadd(&self.e, key, members).await
    }

    /// Remove members; returns how many were present.
    pub async fn srem<M: Into<String>>(
        &self,
        key: &str,
        members: impl IntoIterator<Item = M>,
    ) -> Result<i64> {
        crate::types::set::srem(&self.e, key, members).await
    }

    /// Every member, ordered bytewise.
    pub async fn smembers(&self, key: &str) -> Result<Vec<String>> {
        crate::types::set::smembers(&self.e, key).await
    }

    /// Whether `member` is in the set.
    pub async fn sismember(&self, key: &str, member: &str) -> Result<bool> {
        crate::types::set::sismember(&self.e, key, member).await
    }

    /// Number of members.
    pub async fn scard(&self, key: &str) -> Result<u64> {
        crate::types::set::scard(&self.e, key).await
    }

    /// Members containing `pattern` (the node's `filter_set`), streamed.
    pub fn filter_set(&self, key: &str, pattern: &str) -> SubScan<String> {
        crate::types::set::filter_set(&self.e, key, pattern)
    }

    // ------------------------------------------------ Stream (src/types/stream.rs)
    /// Append an entry. `id` is `*` (a new id `{now ms}-{seq}`, strictly
    /// increasing even within one millisecond), `{ms}-*`, or an explicit
    /// `{ms}-{seq}` that must be greater than the last id. Returns the id.
    pub async fn xadd<F: Into<String>, V: Into<String>>(
        &self,
        key: &str,
        id: &str,
        fields: impl IntoIterator<Item = (F, V)>,
    ) -> Result<String> {
        crate::types::stream::xadd(&self.e, key, id, fields).await
    }

    /// Entries with `start <= id <= end` (`-` and `+` for the extremes),
    /// oldest first, at most `count`.
    pub async fn xrange(
        &self,
        key: &str,
        start: &str,
        end: &str,
        count: Option<usize>,
    ) -> Result<Vec<StreamEntry>> {
        crate::types::stream::xrange(&self.e, key, start, end, count).await
    }

    /// Like [`xrange`](Self::xrange), newest first; note the argument order
    /// (`end` first), as in Redis.
    pub async fn xrevrange(
        &self,
        key: &str,
        end: &str,
        start: &str,
        count: Option<usize>,
    ) -> Result<Vec<StreamEntry>> {
        crate::types::stream::xrevrange(&self.e, key, end, start, count).await
    }

    /// Number of entries.
    pub async fn xlen(&self, key: &str) -> Result<u64> {
        crate::types::stream::xlen(&self.e, key).await
    }

    /// Entries with ids in `[start, end]` having a value containing
    /// `pattern` (the node's `filter_stream`), streamed in id order.
    pub fn filter_stream(
        &self,
        key: &str,
        start: &str,
        end: &str,
        pattern: Option<&str>,
    ) -> Result<SubScan<StreamEntry>> {
        crate::types::stream::filter_stream(&self.e, key, start, end, pattern)
    }

    // ------------------------------------------------ TimeSeries (src/types/timeseries.rs)
    /// Add (or replace) the point at `timestamp_ms`; returns the timestamp.
    pub async fn ts_add(&self, key: &str, timestamp_ms: i64, value: f64) -> Result<i64> {
        crate::types::timeseries::ts_add(&self.e, key, timestamp_ms, value).await
    }

    /// Add many points in one atomic update; returns how many were new.
    pub async fn ts_add_many(
        &self,
        key: &str,
        points: impl IntoIterator<Item = (i64, f64)>,
    ) -> Result<i64> {
        crate::types::timeseries::ts_add_many(&self.e, key, points).await
    }

    /// Points with `from_ms <= t <= to_ms`, oldest first.
    pub async fn ts_range(&self, key: &str, from_ms: i64, to_ms: i64) -> Result<Vec<(i64, f64)>> {
        crate::types::timeseries::ts_range(&self.e, key, from_ms, to_ms).await
    }

    /// The latest point.
    pub async fn ts_get(&self, key: &str) -> Result<Option<(i64, f64)>> {
        crate::types::timeseries::ts_get(&self.e, key).await
    }

    /// Number of points.
    pub async fn ts_len(&self, key: &str) -> Result<u64> {
        crate::types::timeseries::ts_len(&self.e, key).await
    }

    /// Points in `[from_ms, to_ms]` whose value is in `[min, max]` (the
    /// node's `filter_timeseries`): a scan of the time range, streamed.
    pub fn filter_timeseries(
        &self,
        key: &str,
        from_ms: i64,
        to_ms: i64,
        min: f64,
        max: f64,
    ) -> Result<SubScan<(i64, f64)>> {
        crate::types::timeseries::filter_timeseries(&self.e, key, from_ms, to_ms, min, max)
    }

    // ------------------------------------------------ Expiry and key types (src/types/ttl.rs)
    /// Expire `key` after `seconds` (0 expires it now). Whether the key exists.
    pub async fn expire(&self, key: &str, seconds: u64) -> Result<bool> {
        crate::types::ttl::expire(&self.e, key, seconds).await
    }

    /// `EXPIRE` as Redis 7.0, with its NX/XX/GT/LT conditions: whether the
    /// expiry was set. A time of zero or less removes the key (true); a
    /// missing key or a condition that says no answers false.
    pub async fn expire_with(&self, key: &str, seconds: i64, cond: ExpireIf) -> Result<bool> {
        crate::types::ttl::expire_with(&self.e, key, seconds, cond).await
    }

    /// `PEXPIRE`: [`expire_with`](Self::expire_with) in milliseconds.
    pub async fn pexpire_with(&self, key: &str, ms: i64, cond: ExpireIf) -> Result<bool> {
        crate::types::ttl::pexpire_with(&self.e, key, ms, cond).await
    }

    /// Redis's `TYPE` answer: `none` for no key, `zset` for a sorted set
    /// ([`ValueKind::redis_type`]).
    pub async fn redis_type(&self, key: &str) -> Result<&'static str> {
        Ok(ValueKind::redis_type_of(self.key_type(key).await?))
    }

    /// Set (or with `None` clear) the expiry of `key`, in ms since the epoch.
    /// Whether the key exists.
    pub async fn expire_at_ms(&self, key: &str, at: Option<u64>) -> Result<bool> {
        crate::types::ttl::expire_at_ms(&self.e, key, at).await
    }

    /// Remove the expiry of `key`; whether it had one.
    pub async fn persist(&self, key: &str) -> Result<bool> {
        crate::types::ttl::persist(&self.e, key).await
    }

    /// Seconds to live, as Redis answers: -2 if the key does not exist, -1 if
    /// it has no expiry.
    pub async fn ttl(&self, key: &str) -> Result<i64> {
        crate::types::ttl::ttl(&self.e, key).await
    }

    /// Milliseconds to live; -2 absent, -1 no expiry.
    pub async fn pttl(&self, key: &str) -> Result<i64> {
        crate::types::ttl::pttl(&self.e, key).await
    }

    /// The type, size, expiry and signature metadata of a key.
    pub async fn key_info(&self, key: &str) -> Result<Option<KeyInfo>> {
        crate::types::ttl::key_info(&self.e, key).await
    }

    /// The type of a key.
    pub async fn key_type(&self, key: &str) -> Result<Option<ValueKind>> {
        crate::types::ttl::key_type(&self.e, key).await
    }

    /// Attach signature metadata to an existing key (any type). Whether the
    /// key exists.
    pub async fn set_signature(&self, key: &str, sig: SigMeta) -> Result<bool> {
        crate::types::ttl::set_signature(&self.e, key, sig).await
    }

    /// Set a string value with an expiry, in one write.
    pub async fn set_ex(&self, key: &str, value: impl Into<String>, seconds: u64) -> Result<()> {
        crate::types::ttl::set_ex(&self.e, key, value, seconds).await
    }

    /// Remove expired keys and orphaned container sub-entries now. Reads
    /// entry headers and sub-entry keys only; never decodes a value.
    pub async fn sweep(&self) -> Result<SweepReport> {
        crate::types::ttl::sweep(&self.e).await
    }

    // ------------------------------------------------ SortedSet (src/types/zset.rs)
    /// Add members with scores (or update their scores); returns how many
    /// members are new. Scores must be finite. A JSON-object member with a
    /// string `_id` replaces the member that had the same `_id`.
    pub async fn zadd<M: Into<String>>(
        &self,
        key: &str,
        items: impl IntoIterator<Item = (M, f64)>,
    ) -> Result<i64> {
        crate::types::zset::zadd(&self.e, key, items).await
    }

    /// `ZADD` with Redis's options (NX/XX, GT/LT, CH, INCR); see
    /// [`ZaddOptions`] and [`ZaddReply`].
    pub async fn zadd_with<M: Into<String>>(
        &self,
        key: &str,
        items: impl IntoIterator<Item = (M, f64)>,
        opts: ZaddOptions,
    ) -> Result<ZaddReply> {
        crate::types::zset::zadd_with(&self.e, key, items, opts).await
    }

    /// `ZRANGE` with Redis's options: by rank or by score ([`ZRangeBy`]),
    /// highest first with `rev`, `limit` (offset, count) with scores only.
    pub async fn zrange_by(
        &self,
        key: &str,
        by: ZRangeBy,
        rev: bool,
        limit: Option<(i64, i64)>,
    ) -> Result<Vec<(String, f64)>> {
        crate::types::zset::zrange_by(&self.e, key, by, rev, limit).await
    }

    /// `ZCOUNT`: how many members have a score within the bounds.
    pub async fn zcount(&self, key: &str, min: ScoreBound, max: ScoreBound) -> Result<u64> {
        crate::types::zset::zcount(&self.e, key, min, max).await
    }

    /// Remove members; returns how many were present.
    pub async fn zrem<M: Into<String>>(
        &self,
        key: &str,
        members: impl IntoIterator<Item = M>,
    ) -> Result<i64> {
        crate::types::zset::zrem(&self.e, key, members).await
    }

    /// Members by rank from `start` to `stop` inclusive (negative from the
    /// end), lowest score first, with their scores.
    pub async fn zrange(&self, key: &str, start: i64, stop: i64) -> Result<Vec<(String, f64)>> {
        crate::types::zset::zrange(&self.e, key, start, stop).await
    }

    /// Members with `min <= score <= max`, lowest first, with scores. The
    /// bounds may be infinite; NaN is an error.
    pub async fn zrangebyscore(&self, key: &str, min: f64, max: f64) -> Result<Vec<(String, f64)>> {
        crate::types::zset::zrangebyscore(&self.e, key, min, max).await
    }

    /// The score of a member.
    pub async fn zscore(&self, key: &str, member: &str) -> Result<Option<f64>> {
        crate::types::zset::zscore(&self.e, key, member).await
    }

    /// Number of members.
    pub async fn zcard(&self, key: &str) -> Result<u64> {
        crate::types::zset::zcard(&self.e, key).await
    }

    /// Members with `min <= score <= max` (the node's `filter_sorted_set`),
    /// streamed: a range scan over the score-ordered sub-entries.
    pub fn filter_sorted_set(
        &self,
        key: &str,
        min: f64,
        max: f64,
    ) -> Result<SubScan<(String, f64)>> {
        crate::types::zset::filter_sorted_set(&self.e, key, min, max)
    }

    // ------------------------------------------------ signed operations (src/oplog/apply.rs)
    /// Apply one newly submitted signed operation. A refused operation is a
    /// typed error (`InvalidSignature`, `NotOwner`, `Stale`, …) and changes
    /// nothing.
    pub async fn apply(&self, op: SignedOperation) -> Result<Outcome> {
        crate::oplog::apply::apply(&self.e, op).await
    }

    /// Apply newly submitted operations, in order, with one outcome each.
    /// Signatures are verified in parallel batches off the async executor.
    pub async fn apply_many(&self, ops: Vec<SignedOperation>) -> Result<Vec<Outcome>> {
        crate::oplog::apply::apply_many(&self.e, ops).await
    }

    /// Apply operations loaded from a log or received for sync: like
    /// `apply_many` but never rejected for their age.
    pub async fn apply_replicated(&self, ops: Vec<SignedOperation>) -> Result<Vec<Outcome>> {
        crate::oplog::apply::apply_replicated(&self.e, ops).await
    }

    // ------------------------------------------------ signed operations (src/oplog/check.rs)
    /// Read the whole log in parallel, decoding every entry and, with
    /// `LogCheck::Verify`, re-verifying every signature. A corrupt entry is
    /// reported and skipped; the load never aborts on one. `progress` gets
    /// (done, total), every `LOAD_CHUNK` entries per range.
    ///
    /// The log's key range is split by timestamp into a few ranges per CPU
    /// thread, each scanned and decoded by one task of the rayon pool (so
    /// the sled scan runs in parallel too, and at most one task per thread
    /// is in flight). Trusting the log checks each entry's shape without
    /// building the operation ([`OpShape`]); verifying builds it and checks
    /// its signature in batches of `LOAD_CHUNK`.
    pub async fn load_log(
        &self,
        check: LogCheck,
        progress: Option<Arc<dyn Fn(u64, u64) + Send + Sync>>,
    ) -> Result<LoadReport> {
        crate::oplog::check::load_log(&self.e, check, progress).await
    }

    // ------------------------------------------------ signed operations (src/oplog/scan.rs)
    /// Applied operations with `timestamp >= since_ms`, in (timestamp, op_id)
    /// order, a page at a time (for sync and replay).
    pub fn ops_since(&self, since_ms: u64) -> OpLogScan {
        crate::oplog::scan::ops_since(&self.e, since_ms)
    }

    /// Number of operations in the log.
    pub async fn log_len(&self) -> Result<u64> {
        crate::oplog::scan::log_len(&self.e).await
    }

    // ------------------------------------------------ replication (src/sync/mod.rs)
    /// Serve this store to peers: iroh-blobs plus `cyberfly-sync/1` on an
    /// endpoint bound per `config`. The endpoint's key is kept in the store,
    /// so its node id (and address, with a fixed port) stays the same.
    pub async fn serve(&self, config: SyncConfig) -> Result<SyncServer> {
        crate::sync::serve(&self.e, config).await
    }

    /// Pull every operation the peer has that this store lacks (until the
    /// peer has no more), verifying each, and record the watermark.
    pub async fn sync_from(&self, peer: &str, config: &SyncConfig) -> Result<SyncReport> {
        crate::sync::sync_from(&self.e, peer, config).await
    }

    /// [`sync_from`](Self::sync_from), calling `progress` after every page.
    pub async fn sync_from_with_progress(
        &self,
        peer: &str,
        config: &SyncConfig,
        progress: Option<ProgressFn>,
    ) -> Result<SyncReport> {
        crate::sync::sync_from_with_progress(&self.e, peer, config, progress).await
    }

    /// Keep pulling from the peer in the background until stopped: each
    /// request waits up to `poll_wait` for new operations; failures are
    /// retried after `retry_after`.
    pub fn sync_continuous(
        &self,
        peer: &str,
        config: SyncConfig,
        progress: Option<ProgressFn>,
    ) -> Result<SyncHandle> {
        crate::sync::sync_continuous(&self.e, peer, config, progress)
    }

    /// This store's iroh node id (hex): it serves under it and dials peers
    /// from it, so it is what a peer lists in [`ServeAccess::Peers`]. Kept
    /// in the index: stable across restarts.
    pub async fn sync_node_id(&self) -> Result<String> {
        crate::sync::sync_node_id(&self.e).await
    }

    /// This store's id (hex): what peers key their watermarks by.
    pub async fn store_id(&self) -> Result<String> {
        crate::sync::store_id(&self.e).await
    }

    /// How far this store has pulled from each peer store: (peer store id
    /// hex, arrival number).
    pub async fn sync_watermarks(&self) -> Result<Vec<(String, u64)>> {
        crate::sync::sync_watermarks(&self.e).await
    }

    /// The arrival number of the last operation this store logged.
    pub async fn log_head(&self) -> Result<u64> {
        crate::sync::log_head(&self.e).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The writer's panic boundary: an operation that panics fails alone,
    /// with Internal and the panic's message, its staged writes dropped; the
    /// writer goes on applying later writes (before, every later write
    /// failed with Closed while reads went on).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_operation_fails_alone_and_the_writer_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), Config::default()).await.unwrap();
        s.set("before", "1").await.unwrap();
        let r = s
            .engine()
            .update("h", |txn| {
                crate::types::hash::txn_hset(txn, "h", vec![("f".into(), "v".into())])?;
                panic!("boom in an operation");
            })
            .await;
        assert!(
            matches!(&r, Err(Error::Internal(m)) if m.contains("boom in an operation")),
            "{r:?}"
        );
        assert_eq!(
            s.hget("h", "f").await.unwrap(),
            None,
            "staged write dropped"
        );
        s.set("after", "2").await.unwrap();
        assert_eq!(s.get("after").await.unwrap().as_deref(), Some("2"));
        assert_eq!(s.hset("h", "f", "v").await.unwrap(), 1);
        s.close().await.unwrap();
        let s = Store::open(dir.path(), Config::default()).await.unwrap();
        assert_eq!(s.get("before").await.unwrap().as_deref(), Some("1"));
        assert_eq!(s.hget("h", "f").await.unwrap().as_deref(), Some("v"));
        s.close().await.unwrap();
    }
}
