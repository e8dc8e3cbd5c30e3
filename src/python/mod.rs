//! The Python front (`cyberfly_store._native`), built by maturin with the
//! `python` feature. Thin: argument conversion, error mapping and the bridge
//! from the core's futures to asyncio; every rule lives in the core.
//!
//! Files mirror the core: [`store`] wraps `crate::store` (strings, blobs,
//! lifecycle, metrics), [`types`] the container types of `crate::types`,
//! [`scan`] the paged scans, [`config`] `crate::config`, [`error`] maps
//! `crate::error` (all of it, in one place), [`verify`] and [`oplog`] the
//! signed operations, [`convert`] the value shapes.
//!
//! Async: the core's futures run on the tokio runtime of
//! [pyo3-async-runtimes](https://docs.rs/pyo3-async-runtimes) (the maintained
//! successor of pyo3-asyncio, which stopped following pyo3 at 0.20), and are
//! handed to asyncio with `future_into_py`. A call whose answer is already
//! known (a cache hit) does not go there: it returns a [`Ready`], an
//! awaitable that is already complete (no thread hop, no event-loop round
//! trip).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use pyo3::prelude::*;
use pyo3::IntoPyObjectExt;

pub mod config;
pub mod convert;
pub mod error;
pub mod oplog;
pub mod ready;
pub mod scan;
pub mod store;
pub mod types;
pub mod verify;

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
        ready::wrap(py, value)
    }
}

/// Set at interpreter exit (see [`_shutdown`]): from then on no future
/// completes into Python, so no runtime thread attaches to an interpreter
/// that is finalizing.
static EXITING: AtomicBool = AtomicBool::new(false);
/// Futures whose result is on its way into Python (between the core
/// answering and the conversion of the answer under the GIL).
static COMPLETING: AtomicUsize = AtomicUsize::new(0);

/// A result on its way into Python; counted in [`COMPLETING`] until it is
/// converted (or dropped).
struct Completing<T>(Option<PyResult<T>>);

impl<T> Drop for Completing<T> {
    fn drop(&mut self) {
        COMPLETING.fetch_sub(1, Ordering::SeqCst);
    }
}

impl<'py, T: IntoPyObject<'py>> IntoPyObject<'py> for Completing<T> {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;
    fn into_pyobject(mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self.0.take() {
            Some(Ok(v)) => v.into_bound_py_any(py),
            Some(Err(e)) => Err(e),
            None => Ok(py.None().into_bound(py)),
        }
    }
}

/// Hand a future to asyncio with pyo3-async-runtimes' `future_into_py`: it
/// runs on the tokio runtime (without the GIL) and completes an asyncio
/// Future on the caller's event loop.
///
/// Errors travel as the value (converted under the GIL with the rest), and
/// a future that finishes after interpreter exit began never completes
/// into Python: CPython before 3.14 terminates a thread that attaches while
/// it finalizes, which would unwind through the runtime's frames.
pub fn spawn_py<'py, F, T>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    pyo3_async_runtimes::tokio::future_into_py(py, async move {
        let out = fut.await;
        COMPLETING.fetch_add(1, Ordering::SeqCst);
        let done = Completing(Some(out));
        if EXITING.load(Ordering::SeqCst) {
            drop(done);
            std::future::pending::<()>().await;
            unreachable!("pending never completes");
        }
        Ok(done)
    })
}

/// [`spawn_py`] for a core future: its error is mapped in `error.rs`.
pub fn spawn<'py, F, T>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = crate::Result<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    spawn_py(py, async move { fut.await.map_err(to_pyerr) })
}

/// `()` results are `None` in Python (pyo3 converts `()` to an empty tuple).
#[inline]
pub fn none(r: crate::Result<()>) -> crate::Result<Option<bool>> {
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
        while COMPLETING.load(Ordering::SeqCst) > 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        // What follows a conversion (handing the result to the event loop)
        // is a few Python calls; let a thread that is in them finish.
        std::thread::sleep(std::time::Duration::from_millis(20));
    });
}

/// Poll a core future once on the caller's thread. If the core answered
/// without waiting (a cache hit), return a [`Ready`]; otherwise hand the
/// same, already started, future to [`spawn`]. The core documents which
/// paths complete on their first poll (`get`, `get_many` and `exists` when
/// every key is cached).
pub fn ready_or_spawn<'py, F, T>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = crate::Result<T>> + Send + 'static,
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
    m.add_function(pyo3::wrap_pyfunction!(_shutdown, m)?)?;
    error::register(m)?;
    store::register(m)?;
    scan::register(m)?;
    verify::register(m)?;
    oplog::register(m)?;
    Ok(())
}
