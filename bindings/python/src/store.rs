//! `Store`: the façade of `src/store.rs` for Python — opening and closing,
//! strings, blobs, scans, stats and metrics. The container types are in
//! `types/` (one `#[pymethods]` block per type on the same class).

use std::path::PathBuf;

use bytes::Bytes;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyString, PyTuple};

use super::convert::{OptStr, OptStrs};
use super::error::{invalid, IntoPyResult};
use super::scan::{Cursor, Pager};
use super::{config, none, ready_or_spawn, spawn, Ready};
use cyberfly_store::{ContentHash, GetMany, Miss, Store};

/// An open store. Create it with `await cyberfly_store.open(path, **config)`.
///
/// Every method that touches data returns an awaitable. Reads answered by the
/// cache return an awaitable that is already complete; everything else runs
/// on the store's tokio runtime without the GIL. Safe to share between
/// threads and event loops.
#[pyclass(module = "cyberfly_store._native", name = "Store", frozen, weakref)]
pub struct PyStore {
    pub(crate) store: Store,
}

impl PyStore {
    #[inline]
    pub(crate) fn s(&self) -> Store {
        self.store.clone()
    }

    /// For the synchronous accessors: StoreClosed once closed.
    fn open_store(&self) -> PyResult<Store> {
        if self.store.is_closed() {
            return Err(super::error::to_pyerr(cyberfly_store::Error::Closed));
        }
        Ok(self.store.clone())
    }
}

/// A key, value or member: `str` only (values are text, as in Cyberfly).
#[inline]
pub(crate) fn text(v: &Bound<'_, PyAny>, what: &str) -> PyResult<String> {
    match v.cast::<PyString>() {
        Ok(s) => super::ready::borrow_str(s).map(std::borrow::Cow::into_owned),
        Err(_) => Err(PyTypeError::new_err(format!(
            "{what} must be str, not {}",
            v.get_type().name()?
        ))),
    }
}

/// A `str` argument as UTF-8, for `#[pyo3]` signatures: a `str` holding a
/// lone surrogate (no UTF-8 form) is `InvalidArgument`, like every other
/// text the module takes, where pyo3's own `String`/`&str` conversion
/// would raise `UnicodeEncodeError`; a non-`str` is a `TypeError`.
pub(crate) struct Text(pub String);

impl<'a, 'py> FromPyObject<'a, 'py> for Text {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        text(&obj, "argument").map(Text)
    }
}

impl std::ops::Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

/// `set_many` items: a mapping or an iterable of (key, value) pairs,
/// converted in one pass.
pub(crate) fn pairs(items: &Bound<'_, PyAny>) -> PyResult<Vec<(String, String)>> {
    if let Ok(d) = items.cast::<PyDict>() {
        let mut out = Vec::with_capacity(d.len());
        for (k, v) in d.iter() {
            out.push((text(&k, "key")?, text(&v, "value")?));
        }
        return Ok(out);
    }
    let iter = if items.hasattr("items")? && !items.is_instance_of::<PyString>() {
        items.call_method0("items")?.try_iter()?
    } else {
        items.try_iter()?
    };
    let mut out = Vec::with_capacity(items.len().unwrap_or(0));
    for p in iter {
        let p = p?;
        let t = p
            .cast::<PyTuple>()
            .map_err(|_| PyTypeError::new_err("items must be (key, value) pairs"))?;
        if t.len() != 2 {
            return Err(PyTypeError::new_err("items must be (key, value) pairs"));
        }
        out.push((
            text(&t.get_item(0)?, "key")?,
            text(&t.get_item(1)?, "value")?,
        ));
    }
    Ok(out)
}

/// A sequence of `str`, as the objects, in one pass. A lone `str` is refused
/// (it would be taken as its characters).
fn str_objects<'py>(items: &Bound<'py, PyAny>, what: &str) -> PyResult<Vec<Bound<'py, PyString>>> {
    if items.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(format!(
            "{what} must be a sequence of str, not a str"
        )));
    }
    let one = |x: Bound<'py, PyAny>| match x.cast_into::<PyString>() {
        Ok(s) => Ok(s),
        Err(e) => Err(PyTypeError::new_err(format!(
            "{what} must be str, not {}",
            e.into_inner().get_type().name()?
        ))),
    };
    if let Ok(l) = items.cast::<PyList>() {
        return l.iter().map(one).collect();
    }
    let mut out = Vec::with_capacity(items.len().unwrap_or(0));
    for x in items.try_iter()? {
        out.push(one(x?)?);
    }
    Ok(out)
}

/// `*args` of strings.
pub(crate) fn args(t: &Bound<'_, PyTuple>, what: &str) -> PyResult<Vec<String>> {
    let mut out = Vec::with_capacity(t.len());
    for x in t.iter() {
        out.push(text(&x, what)?);
    }
    Ok(out)
}

/// A blob hash: 64 hex characters or 32 raw bytes.
pub(crate) fn content_hash(h: &Bound<'_, PyAny>) -> PyResult<ContentHash> {
    if let Ok(s) = h.cast::<PyString>() {
        return ContentHash::from_hex(&s.extract::<String>()?).py_err();
    }
    if let Ok(b) = h.cast::<PyBytes>() {
        let b = b.as_bytes();
        return <[u8; 32]>::try_from(b)
            .map(ContentHash)
            .map_err(|_| invalid(format!("a hash is 32 bytes, got {}", b.len())));
    }
    Err(PyTypeError::new_err("a hash is a hex str or 32 bytes"))
}

/// Bytes-like data (bytes, bytearray, memoryview) copied once.
pub(crate) fn data(v: &Bound<'_, PyAny>) -> PyResult<Bytes> {
    if let Ok(b) = v.cast::<PyBytes>() {
        return Ok(Bytes::copy_from_slice(b.as_bytes()));
    }
    if let Ok(b) = v.cast::<PyByteArray>() {
        return Ok(Bytes::from(b.to_vec()));
    }
    if v.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(
            "data must be bytes-like, not str (encode it first)",
        ));
    }
    let b = v
        .call_method0("tobytes")
        .or_else(|_| v.py().get_type::<PyBytes>().call1((v,)))
        .map_err(|_| {
            PyTypeError::new_err(format!(
                "data must be bytes-like, not {}",
                v.get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            ))
        })?;
    Ok(Bytes::copy_from_slice(b.cast::<PyBytes>()?.as_bytes()))
}

/// `set`'s answer with options: True or None (`nx`, `xx`), or the old
/// value (`get`).
pub(crate) enum SetAnswer {
    Written(bool),
    Old(Option<String>),
}

impl<'py> IntoPyObject<'py> for SetAnswer {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;
    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(match self {
            SetAnswer::Written(true) => pyo3::types::PyBool::new(py, true).to_owned().into_any(),
            SetAnswer::Written(false) | SetAnswer::Old(None) => py.None().into_bound(py),
            SetAnswer::Old(Some(v)) => PyString::new(py, &v).into_any(),
        })
    }
}

/// `get_blob`'s answer.
pub(crate) struct OptBytes(Option<Bytes>);

impl<'py> IntoPyObject<'py> for OptBytes {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;
    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(match self.0 {
            Some(b) => PyBytes::new(py, &b).into_any(),
            None => py.None().into_bound(py),
        })
    }
}

#[pymethods]
impl PyStore {
    /// Open (or create) the store at `path`; keywords mirror the Rust
    /// `Config` (durability="none"|"batch"|"sync", hot_cache_bytes,
    /// warm_cache_bytes, inline_threshold, flush_every_ms, ...). Awaitable.
    /// Prefer `cyberfly_store.open(path, **config)`, which also works as
    /// `async with`.
    #[staticmethod]
    #[pyo3(signature = (path, **config))]
    fn open<'py>(
        py: Python<'py>,
        path: PathBuf,
        config: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let cfg = config::from_kwargs(config)?;
        spawn(py, async move {
            Store::open(&path, cfg).await.map(|store| PyStore { store })
        })
    }

    // ------------------------------------------------------------ strings

    /// The string value of `key`, or None. A cache hit returns an awaitable
    /// that is already complete.
    pub(crate) fn get<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let Ok(ks) = key.cast::<PyString>() else {
            return Err(PyTypeError::new_err(format!(
                "key must be str, not {}",
                key.get_type().name()?
            )));
        };
        let k = super::ready::borrow_str(ks)?;
        // A hit makes the Python str from the cache's own bytes, under the
        // cache's read lock: no Arc is cloned or dropped on the way.
        let hit = self.store.get_cached_with(&k, |v| match v {
            Some(s) => PyString::new(py, s).into_any().unbind(),
            None => py.None(),
        });
        match hit {
            Some(Ok(v)) => Ready::wrap(py, v),
            Some(Err(e)) => Err(super::error::to_pyerr(e)),
            // A miss: read on this thread (with the GIL: a read from
            // sled's memory is about a microsecond, less than releasing and
            // taking the GIL back) unless the store's inline-read guard
            // sends it to the reader pool (docs/ARCHITECTURE.md, "Reads").
            None => match self.store.get_miss(&k) {
                Miss::Done(Ok(v)) => Ready::wrap(py, OptStr(v).into_pyobject(py)?.unbind()),
                Miss::Done(Err(e)) => Err(super::error::to_pyerr(e)),
                Miss::Pending(p) => {
                    let s = self.s();
                    spawn(py, async move { s.finish_get(p).await.map(OptStr) })
                }
            },
        }
    }

    /// Set `key` to the string `value`, with redis-py's options: `ex`/`px`
    /// (seconds/ms, or a timedelta), `exat`/`pxat` (Unix time, or a
    /// datetime), `keepttl`, `nx` (only if absent), `xx` (only if present),
    /// `get` (answer the old string). Answers None, as before, unless `nx`,
    /// `xx` or `get` is given: then True if written and None if not, or
    /// with `get` the old value (docs/REDIS.md). Acknowledged as the
    /// store's durability mode promises.
    #[pyo3(signature = (key, value, ex=None, px=None, nx=false, xx=false, keepttl=false, get=false, exat=None, pxat=None))]
    #[allow(clippy::too_many_arguments)]
    fn set<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        value: &Bound<'py, PyAny>,
        ex: Option<&Bound<'py, PyAny>>,
        px: Option<&Bound<'py, PyAny>>,
        nx: bool,
        xx: bool,
        keepttl: bool,
        get: bool,
        exat: Option<&Bound<'py, PyAny>>,
        pxat: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let key = text(key, "key")?;
        let value = text(value, "value")?;
        let t = |v: Option<&Bound<'py, PyAny>>, what: &str, per: i64| {
            v.map(|v| super::types::time_arg(v, what, per)).transpose()
        };
        let ex = t(ex, "ex", 1)?;
        let (px, exat, pxat) = (
            t(px, "px", 1000)?,
            t(exat, "exat", 1)?,
            t(pxat, "pxat", 1000)?,
        );
        let plain = px.is_none() && exat.is_none() && pxat.is_none() && !keepttl;
        if !plain || nx || xx || get || ex.is_some_and(|s| s < 1) {
            let expiry =
                cyberfly_store::SetExpiry::from_options(ex, px, exat, pxat, keepttl).py_err()?;
            let opts = cyberfly_store::SetOptions {
                expiry,
                cond: cyberfly_store::SetCond::from_flags(nx, xx).py_err()?,
                get,
            };
            let s = self.s();
            return spawn(py, async move {
                let r = s.set_with(&key, value, opts).await?;
                Ok(if get {
                    SetAnswer::Old(r.old)
                } else if nx || xx {
                    SetAnswer::Written(r.written)
                } else {
                    SetAnswer::Old(None)
                })
            });
        }
        let ex = ex.map(|s| s as u64);
        let s = &self.store;
        // Applied on this thread when the store allows it (durability none
        // or batch, the writer idle: docs/ARCHITECTURE.md, "Inline
        // writes"): an awaitable that is already complete.
        match s.set_now(&key, &value, ex) {
            Some(Ok(())) => return Ready::wrap(py, py.None()),
            Some(Err(e)) => return super::failed(py, e),
            None => {}
        }
        // No tokio task per write: the writer acknowledges by callback.
        super::submit_then(py, |done: super::Done<Option<bool>>| {
            let done = move |r: cyberfly_store::Result<()>| done(none(r));
            match ex {
                None => s.set_then(&key, value, done),
                Some(secs) => s.set_ex_then(&key, value, secs, done),
            }
        })
    }

    /// Remove keys (of any type). One key: whether it existed (a bool, as
    /// before); several: how many existed, as redis-py's `delete(*names)`.
    #[pyo3(signature = (*keys))]
    fn delete<'py>(
        &self,
        py: Python<'py>,
        keys: &Bound<'py, PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if keys.len() != 1 {
            let keys = args(keys, "key")?;
            let s = self.s();
            return spawn(py, async move { s.delete_many(&keys).await });
        }
        let key = text(&keys.get_item(0)?, "key")?;
        match self.store.delete_now(&key) {
            Some(Ok(existed)) => {
                return Ready::wrap(py, pyo3::IntoPyObjectExt::into_py_any(existed, py)?)
            }
            Some(Err(e)) => return super::failed(py, e),
            None => {}
        }
        super::submit_then(py, |done| self.store.delete_then(&key, done))
    }

    /// Whether keys hold a value of any type. One key: a bool (as
    /// before); several: how many do (a key named twice counts twice), as
    /// redis-py's `exists(*names)`.
    #[pyo3(signature = (*keys))]
    fn exists<'py>(
        &self,
        py: Python<'py>,
        keys: &Bound<'py, PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let s = self.s();
        if keys.len() != 1 {
            let keys = args(keys, "key")?;
            return ready_or_spawn(py, async move { s.exists_many(&keys).await });
        }
        let key = text(&keys.get_item(0)?, "key")?;
        ready_or_spawn(py, async move { s.exists(&key).await })
    }

    /// Set many keys in one atomic group: `items` is a mapping or an
    /// iterable of (key, value) pairs. One bad item fails the call and
    /// nothing is written.
    fn set_many<'py>(
        &self,
        py: Python<'py>,
        items: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let items = pairs(items)?;
        let s = self.s();
        spawn(py, async move { none(s.set_many(items).await) })
    }

    /// The values of `keys`, in the order given (None for absent keys).
    /// When every key is cached the awaitable is already complete.
    fn get_many<'py>(
        &self,
        py: Python<'py>,
        keys: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        // Keys are borrowed for the cache pass, done without the GIL; only
        // misses are copied, for the index reads on the runtime.
        let objs = str_objects(keys, "keys")?;
        let keys = objs
            .iter()
            .map(super::ready::borrow_str)
            .collect::<PyResult<Vec<_>>>()?;
        let store = &self.store;
        // Without the GIL: the cache pass, then the misses read on this
        // thread while that stays fast (the rest go to the reader pool).
        let found = py.detach(|| match store.get_many_cached(&keys)? {
            GetMany::Done(v) => Ok(GetMany::Done(v)),
            pending => store.get_many_inline(pending),
        });
        match found.py_err()? {
            GetMany::Done(values) => Ready::wrap(py, OptStrs(values).into_pyobject(py)?.unbind()),
            pending => {
                let s = self.s();
                spawn(
                    py,
                    async move { s.get_many_misses(pending).await.map(OptStrs) },
                )
            }
        }
    }

    /// An async iterator of (key, value) for the string keys starting with
    /// `prefix`, in key order, fetched a page at a time:
    /// `async for key, value in store.scan("db:")`. Awaiting it returns the
    /// whole list.
    #[pyo3(signature = (prefix=""))]
    fn scan(&self, prefix: &str) -> Cursor {
        Cursor::new(Pager::Scan(self.store.scan(prefix)))
    }

    // -------------------------------------------------------------- blobs

    /// Store raw bytes content-addressed (BLAKE3) and keep them until
    /// `remove_blob`; returns the hash in hex.
    fn add_blob<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let data = self::data(data)?;
        let s = self.s();
        spawn(
            py,
            async move { s.add_blob(data).await.map(|h| h.to_hex()) },
        )
    }

    /// The bytes of a blob (hash as hex or 32 bytes), or None.
    fn get_blob<'py>(
        &self,
        py: Python<'py>,
        hash: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let h = content_hash(hash)?;
        let s = self.s();
        spawn(py, async move { s.get_blob(&h).await.map(OptBytes) })
    }

    /// Stop keeping a blob added with `add_blob`; whether it was kept.
    fn remove_blob<'py>(
        &self,
        py: Python<'py>,
        hash: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let h = content_hash(hash)?;
        let s = self.s();
        spawn(py, async move { s.remove_blob(&h).await })
    }

    /// Collect the blobs no key or pin refers to, now.
    fn collect_garbage<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let s = self.s();
        spawn(py, async move { none(s.collect_garbage().await) })
    }

    /// After an open with ``recovery=True`` of an index that was behind its
    /// durability mark (damaged or rolled back), or that could not be
    /// opened at all (moved aside, an empty one started: ``damaged_index``
    /// is where it went, else ``None``): a dict with
    /// ``recorded_mark``, ``index_mark``, ``marks_lost``, ``damaged_index``,
    /// ``unreferenced_blobs`` (hex hashes of blobs no key refers to any
    /// more: values of lost keys among them, readable with ``get_blob``
    /// during this open) and ``journal``: what the open restored from the
    /// operation journal, a dict with ``read``, ``restored``, ``present``,
    /// ``rejected``, ``damaged`` and ``unreadable_bytes`` (``None`` with
    /// ``oplog_journal=False``); ``None`` when nothing was lost. Blob GC is off for such an open.
    fn recovery<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let s = self.s();
        spawn(py, async move {
            Ok(s.recovery().await?.map(|r| RecoveryDict {
                recorded_mark: r.recorded_mark,
                index_mark: r.index_mark,
                unreferenced_blobs: r.unreferenced_blobs,
                marks_lost: r.marks_lost,
                damaged_index: r.damaged_index,
                journal: r.journal.map(|j| JournalDict {
                    read: j.read,
                    restored: j.restored,
                    present: j.present,
                    rejected: j.rejected,
                    damaged: j.damaged,
                    unreadable_bytes: j.unreadable_bytes,
                }),
            }))
        })
    }

    /// Number of blobs in the blob store.
    fn blob_count<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let s = self.s();
        spawn(py, async move { s.blob_count().await })
    }

    // ---------------------------------------------------------- lifecycle

    /// Make every write acknowledged before this call durable.
    fn flush<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let s = self.s();
        spawn(py, async move { none(s.flush().await) })
    }

    /// Remove expired keys and orphaned container entries now; returns
    /// {"expired_keys": n, "orphan_sub_entries": n}.
    fn sweep<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let s = self.s();
        spawn(py, async move {
            s.sweep().await.map(|r| {
                std::collections::BTreeMap::from([
                    ("expired_keys", r.expired_keys),
                    ("orphan_sub_entries", r.orphan_sub_entries),
                ])
            })
        })
    }

    /// Flush, stop the writer and release the directory. Idempotent; every
    /// other call afterwards raises StoreClosed. Called with no running
    /// event loop (`asyncio.run(store.close())` after the loop that opened
    /// the store ended), it closes the store before returning and answers
    /// an awaitable that is already complete.
    fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if self.store.is_closed() {
            return Ready::wrap(py, py.None());
        }
        let s = self.s();
        super::spawn_or_finish(py, async move { none(s.close().await) })
    }

    /// `close()` for synchronous code (no event loop needed); blocks the
    /// calling thread, without the GIL, until the store is closed.
    fn close_blocking(&self, py: Python<'_>) -> PyResult<()> {
        let s = self.s();
        py.detach(move || super::runtime().block_on(s.close()))
            .py_err()
    }

    /// Whether the store was closed.
    #[getter]
    fn closed(&self) -> bool {
        self.store.is_closed()
    }

    /// The store's directory (canonical).
    #[getter]
    fn path(&self) -> PathBuf {
        self.store.path().to_path_buf()
    }

    /// The configuration the store was opened with, as a dict of the
    /// `open` keywords (durations in seconds).
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        config::to_dict(py, self.open_store()?.config())
    }

    /// Bytes on disk under the store's directory.
    fn disk_usage(&self, py: Python<'_>) -> PyResult<u64> {
        let s = self.open_store()?;
        py.detach(move || s.disk_usage()).py_err()
    }

    // ------------------------------------------------------------ metrics

    /// A snapshot of the counters as a dict: "ops" (count per operation),
    /// "cache" (hits, hit rate, entries and bytes per tier; misses),
    /// "latency" (p50/p99 of writes and of reads that missed the cache, in
    /// seconds, None before the first), "writer" (batches, writes
    /// acknowledged, mean batch size, queue depth), "reads" (keys of misses
    /// read on the caller's thread and on the reader pool, the longest
    /// inline read in seconds, inline-guard trips) and "gc_runs".
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.open_store()?;
        let st = py.detach(move || s.stats());
        let d = PyDict::new(py);
        let ops = PyDict::new(py);
        for (name, n) in &st.ops {
            ops.set_item(name, n)?;
        }
        d.set_item("ops", ops)?;
        let lookups = st.hot_hits + st.warm_hits + st.misses;
        let rate = |hits: u64, of: u64| {
            if of == 0 {
                0.0
            } else {
                hits as f64 / of as f64
            }
        };
        let hot = PyDict::new(py);
        hot.set_item("hits", st.hot_hits)?;
        hot.set_item("hit_rate", rate(st.hot_hits, lookups))?;
        hot.set_item("entries", st.hot_entries)?;
        hot.set_item("bytes", st.hot_bytes)?;
        let warm = PyDict::new(py);
        warm.set_item("hits", st.warm_hits)?;
        // Of the lookups that reached the warm tier (missed the hot one).
        warm.set_item("hit_rate", rate(st.warm_hits, st.warm_hits + st.misses))?;
        warm.set_item("entries", st.warm_entries)?;
        warm.set_item("bytes", st.warm_bytes)?;
        let cache = PyDict::new(py);
        cache.set_item("hot", hot)?;
        cache.set_item("warm", warm)?;
        cache.set_item("misses", st.misses)?;
        cache.set_item("lookups", lookups)?;
        cache.set_item("hit_rate", st.hit_rate)?;
        d.set_item("cache", cache)?;
        let lat = PyDict::new(py);
        lat.set_item("write_p50", st.write_latency_p50)?;
        lat.set_item("write_p99", st.write_latency_p99)?;
        lat.set_item("read_miss_p50", st.read_miss_latency_p50)?;
        lat.set_item("read_miss_p99", st.read_miss_latency_p99)?;
        d.set_item("latency", lat)?;
        let w = PyDict::new(py);
        w.set_item("batches", st.writer_batches)?;
        w.set_item("writes_acked", st.writes_acked)?;
        w.set_item("mean_batch_size", st.mean_batch_size)?;
        w.set_item("queue_depth", st.queue_depth)?;
        w.set_item("inline", st.inline_writes)?;
        d.set_item("writer", w)?;
        let r = PyDict::new(py);
        r.set_item("inline", st.inline_reads)?;
        r.set_item("pool", st.pool_reads)?;
        r.set_item("longest_inline", st.longest_inline_read)?;
        r.set_item("guard_trips", st.inline_guard_trips)?;
        d.set_item("reads", r)?;
        d.set_item("gc_runs", st.gc_runs)?;
        Ok(d)
    }

    /// The store's metrics in the Prometheus text exposition format.
    fn metrics_text(&self, py: Python<'_>) -> PyResult<String> {
        let s = self.open_store()?;
        py.detach(move || s.metrics_text()).py_err()
    }

    // ----------------------------------------------------- context manager

    /// `async with store:` returns the store itself.
    fn __aenter__<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        Ready::wrap(py, slf.into_any().unbind())
    }

    /// Leaving `async with store:` closes it.
    #[pyo3(signature = (*_exc))]
    fn __aexit__<'py>(
        &self,
        py: Python<'py>,
        _exc: &Bound<'py, PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.close(py)
    }

    /// For benches/python/compare.py: write `items` (a list of (key, value))
    /// with the core's `set_many` in batches of `batch`, then flush, all
    /// from Rust without the GIL; returns the seconds it took. Measures
    /// what the core reaches from Rust, to compare with `set_many` from
    /// Python on the same data.
    fn _bench_set_many(
        &self,
        py: Python<'_>,
        items: &Bound<'_, PyAny>,
        batch: usize,
    ) -> PyResult<f64> {
        let items = pairs(items)?;
        let batches: Vec<Vec<(String, String)>> = items
            .chunks(batch.max(1))
            .map(<[(String, String)]>::to_vec)
            .collect();
        let s = self.s();
        py.detach(move || {
            super::runtime().block_on(async move {
                let t0 = std::time::Instant::now();
                for b in batches {
                    s.set_many(b).await?;
                }
                s.flush().await?;
                Ok(t0.elapsed().as_secs_f64())
            })
        })
        .py_err()
    }

    fn __repr__(&self) -> String {
        format!(
            "<cyberfly_store.Store path={:?}{}>",
            self.store.path(),
            if self.store.is_closed() {
                " closed"
            } else {
                ""
            }
        )
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyStore>()?;
    Ok(())
}

/// `Store.recovery()`'s answer, a dict in Python.
#[derive(IntoPyObject)]
struct RecoveryDict {
    recorded_mark: u64,
    index_mark: Option<u64>,
    unreferenced_blobs: Vec<String>,
    marks_lost: Option<u64>,
    damaged_index: Option<String>,
    journal: Option<JournalDict>,
}

/// `recovery()["journal"]`: what was restored from the operation journal.
#[derive(IntoPyObject)]
struct JournalDict {
    read: u64,
    restored: u64,
    present: u64,
    rejected: u64,
    damaged: u64,
    unreadable_bytes: u64,
}
