//! `BlockingStore`: the same methods as `Store`, for synchronous code — no
//! event loop, any thread — answering values instead of awaitables (as
//! redis-py's `redis.Redis` beside `redis.asyncio.Redis`).
//!
//! No method is written twice. A `BlockingStore` method calls the `Store`
//! method of the same name with a thread-local flag set ([`is_blocking`]);
//! the four places where the binding makes an awaitable read that flag:
//!
//! - [`Ready::wrap`](crate::Ready::wrap) (a cache hit, an in-memory miss,
//!   a write applied on the calling thread) answers the value itself — no
//!   thread hop, as in the async front;
//! - [`spawn_py`](crate::spawn_py) drives the core's future to its end on
//!   the calling thread with the GIL released ([`wait`]);
//! - [`submit_then`](crate::submit_then) hands the write to the writer and
//!   waits, without the GIL, for its acknowledgement ([`submit_wait`]);
//! - [`failed`](crate::failed) raises the core's error at the call.
//!
//! A paged read (`scan`, the filters, `get_all`, `ops_since`) answers a
//! [`BlockingCursor`](crate::scan::BlockingCursor), a plain iterator.

use std::cell::Cell;
use std::future::Future;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};

use crate::error::to_pyerr;
use crate::scan::Cursor;
use crate::store::PyStore;
use crate::{runtime, Done};

thread_local! {
    static BLOCKING: Cell<bool> = const { Cell::new(false) };
}

/// Whether the current call comes through a `BlockingStore` (answer values,
/// block for them) rather than the async `Store` (answer awaitables).
#[inline]
pub fn is_blocking() -> bool {
    BLOCKING.with(Cell::get)
}

/// Sets the flag for the duration of one call; restores the previous value
/// on drop (on error too).
struct Blocking(bool);

impl Blocking {
    #[inline]
    fn enter() -> Self {
        Blocking(BLOCKING.with(|b| b.replace(true)))
    }
}

impl Drop for Blocking {
    #[inline]
    fn drop(&mut self) {
        let prev = self.0;
        BLOCKING.with(|b| b.set(prev));
    }
}

fn lost() -> PyErr {
    to_pyerr(cyberfly_store::Error::Internal(
        "the operation ended without an answer".into(),
    ))
}

/// Run `fut` to its end from the calling (Python) thread, without the GIL.
/// The future is driven on this thread (`block_on`): its answer costs no
/// hop back. On a thread of the runtime itself (a callback the runtime
/// runs) `block_on` is not allowed: the future runs as a task and this
/// thread waits for it.
pub fn wait<F, T>(py: Python<'_>, fut: F) -> PyResult<T>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: Send + 'static,
{
    py.detach(move || {
        if tokio::runtime::Handle::try_current().is_ok() {
            let (tx, rx) = std::sync::mpsc::sync_channel(1);
            runtime().spawn(async move {
                let _ = tx.send(fut.await);
            });
            rx.recv().unwrap_or_else(|_| Err(lost()))
        } else {
            runtime().block_on(fut)
        }
    })
}

/// Hand a write to the core with a completion callback and wait, without
/// the GIL, for the writer's acknowledgement.
pub fn submit_wait<T, S>(py: Python<'_>, submit: S) -> PyResult<T>
where
    T: Send + 'static,
    S: FnOnce(Done<T>) -> cyberfly_store::Result<()>,
{
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    submit(Box::new(move |out| {
        let _ = tx.send(out);
    }))
    .map_err(to_pyerr)?;
    match py.detach(move || rx.recv()) {
        Ok(r) => r.map_err(to_pyerr),
        Err(_) => Err(lost()),
    }
}

/// A blocking call's answer: a paged read becomes a plain iterator.
fn answer(out: Bound<'_, PyAny>) -> PyResult<Bound<'_, PyAny>> {
    if let Ok(c) = out.cast::<Cursor>() {
        let b = c.get().blocking();
        return Ok(Bound::new(out.py(), b)?.into_any());
    }
    Ok(out)
}

/// A store for synchronous code: `cyberfly_store.open_blocking(path,
/// **config)`, or `BlockingStore(store)` over an open async `Store` (both
/// then share it). Every method has the name and arguments of the `Store`
/// method and answers its value; a read answered by the cache (or by
/// sled's memory) is answered on the calling thread, anything else blocks
/// that thread without the GIL. Usable from any thread, with no event
/// loop, and as `with open_blocking(path) as store:` (closed on exit).
/// Errors are the same `StoreError` classes.
#[pyclass(
    module = "cyberfly_store._native",
    name = "BlockingStore",
    frozen,
    weakref
)]
pub struct BlockingStore {
    store: Py<PyStore>,
}

impl BlockingStore {
    /// Call the `Store` method `name` in blocking mode.
    #[inline]
    fn call<'py>(
        &self,
        py: Python<'py>,
        name: &Bound<'py, PyString>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let out = {
            let _b = Blocking::enter();
            self.store
                .bind(py)
                .as_any()
                .call_method(name, args, kwargs)?
        };
        answer(out)
    }
}

#[pymethods]
impl BlockingStore {
    /// Wrap an open async `Store`: both share the same store.
    #[new]
    fn new(store: Py<PyStore>) -> Self {
        BlockingStore { store }
    }

    /// Open (or create) the store at `path` and wait for it; keywords as
    /// for `cyberfly_store.open`. Prefer `cyberfly_store.open_blocking`.
    #[staticmethod]
    #[pyo3(signature = (path, **config))]
    fn open(
        py: Python<'_>,
        path: &Bound<'_, PyAny>,
        config: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let out = {
            let _b = Blocking::enter();
            py.get_type::<PyStore>()
                .call_method("open", (path,), config)?
        };
        Ok(BlockingStore {
            store: out.cast_into::<PyStore>()?.unbind(),
        })
    }

    /// The async `Store` this one blocks on (the same open store).
    #[getter]
    fn store(&self, py: Python<'_>) -> Py<PyStore> {
        self.store.clone_ref(py)
    }

    /// The string value of `key`, or None (called directly: the hottest
    /// path; the same code as `Store.get`).
    fn get<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let _b = Blocking::enter();
        self.store.get().get(py, key)
    }

    /// Whether the store was closed.
    #[getter]
    fn closed(&self) -> bool {
        self.store.get().store.is_closed()
    }

    /// The store's directory (canonical).
    #[getter]
    fn path(&self) -> std::path::PathBuf {
        self.store.get().store.path().to_path_buf()
    }

    /// `with store:` returns the store itself.
    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    /// Leaving `with store:` closes it.
    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> PyResult<()> {
        self.call(py, pyo3::intern!(py, "close"), &PyTuple::empty(py), None)?;
        Ok(())
    }

    /// The `Store` method named `type` (a Rust keyword, hence by hand).
    #[pyo3(name = "type", signature = (*args, **kwargs))]
    fn r#type<'py>(
        &self,
        py: Python<'py>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.call(py, pyo3::intern!(py, "type"), args, kwargs)
    }

    fn __repr__(&self) -> String {
        let s = &self.store.get().store;
        format!(
            "<cyberfly_store.BlockingStore path={:?}{}>",
            s.path(),
            if s.is_closed() { " closed" } else { "" }
        )
    }
}

/// One `BlockingStore` method per `Store` method, by name: those without
/// arguments, those with keywords only, then the rest (`*args, **kwargs`
/// passed on as given, so that each keeps the `Store` method's own
/// argument checks).
macro_rules! blocking_methods {
    (nullary: [$($n:ident),* $(,)?], keywords: [$($k:ident),* $(,)?], args: [$($a:ident),* $(,)?]) => {
        #[pymethods]
        impl BlockingStore {
            $(
                #[doc = concat!("`Store.", stringify!($n), "`, blocking: answers its value.")]
                fn $n<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                    self.call(py, pyo3::intern!(py, stringify!($n)), &PyTuple::empty(py), None)
                }
            )*
            $(
                #[doc = concat!("`Store.", stringify!($k), "`, blocking: the same keywords; answers its value.")]
                #[pyo3(signature = (**kwargs))]
                fn $k<'py>(
                    &self,
                    py: Python<'py>,
                    kwargs: Option<&Bound<'py, PyDict>>,
                ) -> PyResult<Bound<'py, PyAny>> {
                    self.call(py, pyo3::intern!(py, stringify!($k)), &PyTuple::empty(py), kwargs)
                }
            )*
            $(
                #[doc = concat!("`Store.", stringify!($a), "`, blocking: the same arguments; answers its value.")]
                #[pyo3(signature = (*args, **kwargs))]
                fn $a<'py>(
                    &self,
                    py: Python<'py>,
                    args: &Bound<'py, PyTuple>,
                    kwargs: Option<&Bound<'py, PyDict>>,
                ) -> PyResult<Bound<'py, PyAny>> {
                    self.call(py, pyo3::intern!(py, stringify!($a)), args, kwargs)
                }
            )*
        }
    };
}

blocking_methods! {
    nullary: [
        collect_garbage, recovery, blob_count, flush, sweep, close, close_blocking, config,
        disk_usage, stats, metrics_text, log_len, state_digest, verify_stats,
        sync_node_id, store_id, sync_watermarks,
    ],
    keywords: [serve],
    args: [
        // strings
        set, delete, exists, set_many, get_many, scan,
        // blobs
        add_blob, get_blob, remove_blob,
        // hash, list, set, sorted set
        hset, hset_many, hget, hgetall, hdel, hlen,
        lpush, rpush, lrange, llen,
        sadd, srem, smembers, sismember, scard,
        zadd, zrem, zrange, zrangebyscore, zcount, zscore, zcard,
        // json, stream, time series, geo
        json_set, json_get, json_filter,
        xadd, xrange, xrevrange, xlen,
        ts_add, ts_range, ts_get,
        geoadd, geopos, geodist, georadius, georadiusbymember,
        // ttl
        expire, pexpire, ttl, pttl, persist, key_type,
        // filters and get_all
        filter_hash, filter_list, filter_set, filter_sorted_set, filter_stream,
        filter_timeseries, get_all,
        // signed operations
        apply, apply_many, apply_replicated, ops_since,
        // replication
        sync_from, sync_continuous,
        // benchmark helper
        _bench_set_many,
    ]
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<BlockingStore>()?;
    m.add_class::<crate::scan::BlockingCursor>()?;
    Ok(())
}
