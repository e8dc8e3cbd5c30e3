//! The Python front (`cyberfly_store._native`), built by maturin with the
//! `python` feature. Thin: argument conversion, error mapping and the bridge
//! from the core's futures to asyncio; every rule lives in the core.
//!
//! Files mirror the core: [`store`] wraps `src/store.rs` (strings, blobs,
//! lifecycle, metrics), [`types`] the container types of `src/types/`,
//! [`scan`] the paged scans, [`config`] `src/engine/config.rs`, [`error`] maps
//! `src/error.rs` (all of it, in one place), [`verify`] and [`oplog`] the
//! signed operations, [`convert`] the value shapes.
//!
//! Async: the core's futures run on the tokio runtime of
//! [pyo3-async-runtimes](https://docs.rs/pyo3-async-runtimes) (the maintained
//! successor of pyo3-asyncio, which stopped following pyo3 at 0.20); their
//! results complete asyncio futures in batches per event loop
//! ([`Completer`]) rather than one GIL hand-off each. A call whose answer is already
//! known (a cache hit) does not go there: it returns a [`Ready`], an
//! awaitable that is already complete (no thread hop, no event-loop round
//! trip).
//!
//! The blocking client ([`blocking`], `BlockingStore`) reuses every method
//! above: a thread-local flag makes [`Ready::wrap`] answer the value,
//! [`spawn_py`] and [`submit_then`] block (without the GIL) instead of
//! making an asyncio future, and [`failed`] raise. Without that flag and
//! without a running loop, the methods that need one raise `NoEventLoop`.

/// Every Rust allocation of the module goes through mimalloc (docs/ARCHITECTURE.md,
/// "Memory"): the core never sets a global allocator; this extension does.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use pyo3::prelude::*;
use pyo3::IntoPyObjectExt;

pub mod blocking;
pub mod check;
pub mod config;
pub mod convert;
pub mod error;
pub mod oplog;
pub mod ready;
pub mod scan;
pub mod store;
pub mod sync;
pub mod types;
pub mod verify;

pub use blocking::is_blocking;
use error::to_pyerr;

/// The tokio runtime every store opened from Python runs on (the one of
/// pyo3-async-runtimes). Its worker threads are not Python threads, so they
/// never keep the interpreter from exiting.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    pyo3_async_runtimes::tokio::get_runtime()
}

/// Constructor of the already complete awaitable (see [`ready`]).
pub struct Ready;

impl Ready {
    /// Wrap an already computed value.
    #[inline]
    pub fn wrap(py: Python<'_>, value: Py<PyAny>) -> PyResult<Bound<'_, PyAny>> {
        // A call through `BlockingStore` answers the value itself.
        if is_blocking() {
            return Ok(value.into_bound(py));
        }
        ready::wrap(py, value)
    }
}

/// Set at interpreter exit (see [`_shutdown`]): from then on no runtime
/// thread enters the interpreter to complete a future.
static EXITING: AtomicBool = AtomicBool::new(false);
/// Runtime threads on their way into the interpreter (scheduling a drain).
static ENTERING: AtomicUsize = AtomicUsize::new(0);

type Convert = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;

/// Completes the asyncio futures of one event loop in batches.
///
/// pyo3-async-runtimes' `future_into_py` completes each future from a
/// blocking-pool thread that takes the GIL and calls
/// `loop.call_soon_threadsafe` — one GIL hand-off and one wake-up of the
/// loop per operation. With 1 000 writes in flight that convoy, not the
/// store, is the limit (measured: fewer acknowledged writes per second than
/// aiosqlite). Here a finished operation only queues its result; the first
/// one of a batch schedules this object on the loop, and the loop thread
/// then converts and sets every queued result in one go.
#[pyclass(module = "cyberfly_store._native", frozen)]
pub struct Completer {
    queue: std::sync::Mutex<Vec<(Py<PyAny>, Convert)>>,
    scheduled: AtomicBool,
}

#[pymethods]
impl Completer {
    /// Set the results queued so far (runs on the event loop's thread).
    fn __call__(&self, py: Python<'_>) {
        self.scheduled.store(false, Ordering::SeqCst);
        let items = std::mem::take(&mut *self.queue.lock().unwrap_or_else(|e| e.into_inner()));
        for (fut, convert) in items {
            // One future that cannot be completed must not strand the rest.
            if let Err(e) = complete(fut.bind(py), convert) {
                e.write_unraisable(py, Some(fut.bind(py)));
            }
        }
    }
}

fn complete(fut: &Bound<'_, PyAny>, convert: Convert) -> PyResult<()> {
    let py = fut.py();
    // No `cancelled()` call first (a method call per future): setting the
    // result of a cancelled future raises InvalidStateError, which is
    // checked for only then.
    let r = match convert(py) {
        Ok(v) => fut.call_method1(pyo3::intern!(py, "set_result"), (v,)),
        Err(e) => fut.call_method1(pyo3::intern!(py, "set_exception"), (e.into_value(py),)),
    };
    match r {
        Ok(_) => Ok(()),
        Err(_)
            if fut
                .call_method0(pyo3::intern!(py, "cancelled"))?
                .is_truthy()? =>
        {
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// The completer of the running loop (kept as an attribute of the loop, so
/// it lives and dies with it).
fn completer<'py>(lp: &Bound<'py, PyAny>) -> PyResult<Bound<'py, Completer>> {
    let py = lp.py();
    let name = pyo3::intern!(py, "_cyberfly_completer");
    if let Ok(c) = lp.getattr(name) {
        if let Ok(c) = c.cast_into::<Completer>() {
            return Ok(c);
        }
    }
    let c = Bound::new(
        py,
        Completer {
            queue: std::sync::Mutex::new(Vec::new()),
            scheduled: AtomicBool::new(false),
        },
    )?;
    lp.setattr(name, &c)?;
    Ok(c)
}

/// Queue one result on the loop's [`Completer`]; the first of a batch
/// schedules the completer on the loop. Runs on any thread but the loop's
/// and never takes the GIL itself: the hand-off to the loop (which needs the
/// GIL) runs on the runtime's blocking pool, once per batch.
///
/// A result that arrives after interpreter exit began never completes into
/// Python: CPython before 3.14 terminates a thread that attaches while it
/// finalizes, which would unwind through the runtime's frames.
fn deliver(lp: Py<PyAny>, c: Py<Completer>, fut: Py<PyAny>, convert: Convert) {
    if EXITING.load(Ordering::SeqCst) {
        return;
    }
    let first = {
        let inner = c.get();
        inner
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((fut, convert));
        !inner.scheduled.swap(true, Ordering::SeqCst)
    };
    if first {
        ENTERING.fetch_add(1, Ordering::SeqCst);
        // Taking the GIL may wait: not on a runtime worker, nor on the
        // store's writer thread.
        runtime().spawn_blocking(move || {
            if !EXITING.load(Ordering::SeqCst) {
                Python::attach(|py| {
                    let r = lp
                        .bind(py)
                        .call_method1(pyo3::intern!(py, "call_soon_threadsafe"), (c.bind(py),));
                    if let Err(e) = r {
                        // The loop is closed: nobody awaits these.
                        tracing::debug!("cannot complete futures: {e}");
                    }
                    drop(lp);
                    drop(c);
                });
            }
            ENTERING.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

/// Hand a future to asyncio: it runs on the tokio runtime of
/// pyo3-async-runtimes (without the GIL) and its result completes an asyncio
/// Future of the running loop, in batches (see [`Completer`]).
pub fn spawn_py<'py, F, T>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    if is_blocking() {
        // `BlockingStore`: wait here, without the GIL, and answer the value.
        return blocking::wait(py, fut)?.into_bound_py_any(py);
    }
    let lp = running_loop(py)?;
    let py_fut = lp.call_method0(pyo3::intern!(py, "create_future"))?;
    let c = completer(&lp)?;
    let (lp, c2, f2) = (lp.unbind(), c.unbind(), py_fut.clone().unbind());
    runtime().spawn(async move {
        let out = fut.await;
        let convert: Convert = Box::new(move |py| out.and_then(|v| v.into_py_any(py)));
        deliver(lp, c2, f2, convert);
    });
    Ok(py_fut)
}

/// A completion callback of the core (`Store::set_then` and the like),
/// as handed to [`submit_then`].
pub type Done<T> = Box<dyn FnOnce(cyberfly_store::Result<T>) + Send>;

/// Hand a write to the core with a completion callback (`Store::set_then`
/// and the like) and return an asyncio Future of the running loop that the
/// callback completes, in batches (see [`Completer`]). Unlike [`spawn`],
/// no tokio task runs per call: the write goes from the loop's thread
/// straight to the writer's queue, and the writer's acknowledgement (after
/// its group's commit point, under the store's durability mode) queues the
/// result. An error the core reports before submitting (bad input, closed
/// store) is set on the future, as [`spawn`] would: it raises at `await`.
pub fn submit_then<'py, T, S>(py: Python<'py>, submit: S) -> PyResult<Bound<'py, PyAny>>
where
    T: for<'a> IntoPyObject<'a> + Send + 'static,
    S: FnOnce(Done<T>) -> cyberfly_store::Result<()>,
{
    if is_blocking() {
        return blocking::submit_wait(py, submit)?.into_bound_py_any(py);
    }
    let lp = running_loop(py)?;
    let py_fut = lp.call_method0(pyo3::intern!(py, "create_future"))?;
    let c = completer(&lp)?;
    let (lp, c, f2) = (lp.unbind(), c.unbind(), py_fut.clone().unbind());
    let done: Done<T> = Box::new(move |out| {
        let convert: Convert =
            Box::new(move |py| out.map_err(to_pyerr).and_then(|v| v.into_py_any(py)));
        deliver(lp, c, f2, convert);
    });
    if let Err(e) = submit(done) {
        py_fut.call_method1(
            pyo3::intern!(py, "set_exception"),
            (to_pyerr(e).into_value(py),),
        )?;
    }
    Ok(py_fut)
}

/// An asyncio Future of the running loop already failed with `e`: an
/// error the core reports at the call raises at `await`, as for a write
/// handed to [`submit_then`].
pub fn failed(py: Python<'_>, e: cyberfly_store::Error) -> PyResult<Bound<'_, PyAny>> {
    // Blocking, or no loop to carry it: raise the core's error at the call.
    if is_blocking() {
        return Err(to_pyerr(e));
    }
    let Ok(lp) = pyo3_async_runtimes::get_running_loop(py) else {
        return Err(to_pyerr(e));
    };
    let fut = lp.call_method0(pyo3::intern!(py, "create_future"))?;
    fut.call_method1(
        pyo3::intern!(py, "set_exception"),
        (to_pyerr(e).into_value(py),),
    )?;
    Ok(fut)
}

/// The running asyncio event loop, or `NoEventLoop` saying what to do:
/// an async method called from synchronous code (or its awaitable handed
/// to `asyncio.run` after being made outside the loop).
pub fn running_loop(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    pyo3_async_runtimes::get_running_loop(py).map_err(|_| error::no_event_loop())
}

/// [`spawn_py`] for a core future: its error is mapped in `error.rs`.
pub fn spawn<'py, F, T>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = cyberfly_store::Result<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    spawn_py(py, async move { fut.await.map_err(to_pyerr) })
}

/// [`spawn`] for the calls that end something (`Store.close`,
/// `SyncServer.shutdown`, `SyncHandle.stop`): called with no running event
/// loop, they finish before returning and answer an awaitable that is
/// already complete — `asyncio.run(store.close())` after the loop that
/// opened the store ended, or cleanup from synchronous code, just work.
pub fn spawn_or_finish<'py, F, T>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = cyberfly_store::Result<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    if !is_blocking() && pyo3_async_runtimes::get_running_loop(py).is_err() {
        let v = blocking::wait(py, async move { fut.await.map_err(to_pyerr) })?;
        return Ready::wrap(py, v.into_py_any(py)?);
    }
    spawn(py, fut)
}

/// `()` results are `None` in Python (pyo3 converts `()` to an empty tuple).
#[inline]
pub fn none(r: cyberfly_store::Result<()>) -> cyberfly_store::Result<Option<bool>> {
    r.map(|()| None)
}

/// Called at interpreter exit (registered by the package, after the open
/// stores are closed): stop completing futures into Python and wait,
/// without the GIL, for the ones already on their way, so that no runtime
/// thread is inside the interpreter when it finalizes.
#[pyfunction]
fn _shutdown(py: Python<'_>) {
    EXITING.store(true, Ordering::SeqCst);
    py.detach(|| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while ENTERING.load(Ordering::SeqCst) > 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        // Releasing the GIL state is the last step after the count drops.
        std::thread::sleep(std::time::Duration::from_millis(5));
    });
}

/// Poll a core future once on the caller's thread. If the core answered
/// without waiting (a cache hit), return a [`Ready`]; otherwise hand the
/// same, already started, future to [`spawn`]. The core documents which
/// paths complete on their first poll (`get`, `get_many` and `exists` when
/// every key is cached).
pub fn ready_or_spawn<'py, F, T>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = cyberfly_store::Result<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    let mut fut: Pin<Box<F>> = Box::pin(fut);
    let polled = {
        let _rt = runtime().enter();
        let mut cx = Context::from_waker(std::task::Waker::noop());
        fut.as_mut().poll(&mut cx)
    };
    match polled {
        Poll::Ready(Ok(v)) => Ready::wrap(py, v.into_py_any(py)?),
        Poll::Ready(Err(e)) => Err(to_pyerr(e)),
        Poll::Pending => spawn(py, fut),
    }
}

/// The native module `cyberfly_store._native`.
#[pymodule]
#[pyo3(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all().thread_name("cyberfly-py");
    pyo3_async_runtimes::tokio::init(builder);

    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    ready::register(m)?;
    m.add_class::<Completer>()?;
    blocking::register(m)?;
    m.add_function(pyo3::wrap_pyfunction!(_shutdown, m)?)?;
    error::register(m)?;
    store::register(m)?;
    scan::register(m)?;
    verify::register(m)?;
    oplog::register(m)?;
    sync::register(m)?;
    check::register(m)?;
    Ok(())
}
