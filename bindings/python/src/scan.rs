//! Paged reads as async iterators: `scan` (`Store::scan`), the
//! filters (`SubScan`) and `get_all` (`GetAll`).
//!
//! A [`Cursor`] fetches one page per trip to the runtime and hands out its
//! items from a buffer: `__anext__` on a buffered item returns an already
//! complete awaitable. Awaiting the cursor itself collects everything left
//! into a list.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use pyo3::exceptions::PyStopAsyncIteration;
use pyo3::prelude::*;

use super::convert::{Row, Rows};
use super::error::to_pyerr;
use super::{spawn_py, Ready};
use cyberfly_store::Scan;
use cyberfly_store::StreamEntry;
use cyberfly_store::{GetAll, SubScan};

/// The core's paged scans, each yielding [`Row`]s.
pub enum Pager {
    Scan(Scan),
    Text(SubScan<String>),
    Pair(SubScan<(String, String)>),
    Scored(SubScan<(String, f64)>),
    Entry(SubScan<StreamEntry>),
    Point(SubScan<(i64, f64)>),
    All(GetAll),
    Ops(cyberfly_store::OpLogScan),
}

impl Pager {
    async fn next_page(&mut self) -> cyberfly_store::Result<Option<Vec<Row>>> {
        fn map<T>(p: Option<Vec<T>>, f: impl FnMut(T) -> Row) -> Option<Vec<Row>> {
            p.map(|v| v.into_iter().map(f).collect())
        }
        Ok(match self {
            Pager::Scan(s) => map(s.next_page().await?, |(k, v)| Row::Kv(k, v)),
            Pager::Text(s) => map(s.next_page().await?, Row::Text),
            Pager::Pair(s) => map(s.next_page().await?, |(a, b)| Row::Pair(a, b)),
            Pager::Scored(s) => map(s.next_page().await?, |(m, x)| Row::Scored(m, x)),
            Pager::Entry(s) => map(s.next_page().await?, Row::Entry),
            Pager::Point(s) => map(s.next_page().await?, |(t, v)| Row::Point(t, v)),
            Pager::All(s) => map(s.next_page().await?, |(k, v, sig)| Row::Keyed(k, v, sig)),
            Pager::Ops(s) => map(s.next_page().await?, |op| Row::Op(Box::new(op))),
        })
    }
}

struct State {
    buffer: VecDeque<Row>,
    done: bool,
}

/// An async iterator over a paged read (`scan`, the `filter_*` methods,
/// `get_all`). Use `async for item in cursor`, or `await cursor` for a list
/// of everything left.
#[pyclass(module = "cyberfly_store._native", frozen)]
pub struct Cursor {
    pager: Arc<tokio::sync::Mutex<Pager>>,
    state: Arc<Mutex<State>>,
}

impl Cursor {
    /// The same paged read as a plain iterator (for `BlockingStore`).
    pub fn blocking(&self) -> BlockingCursor {
        BlockingCursor {
            pager: self.pager.clone(),
            state: self.state.clone(),
        }
    }

    pub fn new(pager: Pager) -> Self {
        Cursor {
            pager: Arc::new(tokio::sync::Mutex::new(pager)),
            state: Arc::new(Mutex::new(State {
                buffer: VecDeque::new(),
                done: false,
            })),
        }
    }
}

fn lock(m: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[pymethods]
impl Cursor {
    fn __aiter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    /// The next item: already complete when it is buffered, otherwise one
    /// trip to the runtime for the next page. Raises StopAsyncIteration at
    /// the end.
    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        {
            let mut st = lock(&self.state);
            if let Some(row) = st.buffer.pop_front() {
                drop(st);
                let obj = row.into_pyobject(py)?.unbind();
                return Ready::wrap(py, obj);
            }
            if st.done {
                return Err(PyStopAsyncIteration::new_err(()));
            }
        }
        let (pager, state) = (self.pager.clone(), self.state.clone());
        spawn_py(py, async move {
            let mut p = pager.lock().await;
            // Another __anext__ may have filled the buffer meanwhile.
            if let Some(row) = lock(&state).buffer.pop_front() {
                return Ok(row);
            }
            if lock(&state).done {
                return Err(PyStopAsyncIteration::new_err(()));
            }
            match p.next_page().await.map_err(to_pyerr)? {
                Some(page) => {
                    let mut page = VecDeque::from(page);
                    let first = page.pop_front();
                    let mut st = lock(&state);
                    st.buffer.extend(page);
                    match first {
                        Some(r) => Ok(r),
                        None => {
                            st.done = true;
                            Err(PyStopAsyncIteration::new_err(()))
                        }
                    }
                }
                None => {
                    lock(&state).done = true;
                    Err(PyStopAsyncIteration::new_err(()))
                }
            }
        })
    }

    /// `await cursor`: every item left, as a list.
    fn __await__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let (pager, state) = (self.pager.clone(), self.state.clone());
        let fut = spawn_py(py, async move {
            let mut p = pager.lock().await;
            let mut all: Vec<Row> = {
                let mut st = lock(&state);
                st.buffer.drain(..).collect()
            };
            if !lock(&state).done {
                while let Some(page) = p.next_page().await.map_err(to_pyerr)? {
                    all.extend(page);
                }
                lock(&state).done = true;
            }
            Ok(Rows(all))
        })?;
        fut.call_method0("__await__")
    }
}

/// A paged read for synchronous code (what `BlockingStore.scan`, the
/// filters, `get_all` and `ops_since` answer): `for key, value in
/// store.scan("db:")`, or `list(cursor)`. Buffered items are handed out on
/// the calling thread; the next page is read without the GIL.
#[pyclass(module = "cyberfly_store._native", frozen)]
pub struct BlockingCursor {
    pager: Arc<tokio::sync::Mutex<Pager>>,
    state: Arc<Mutex<State>>,
}

#[pymethods]
impl BlockingCursor {
    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    /// The next item; StopIteration at the end.
    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        {
            let mut st = lock(&self.state);
            if let Some(row) = st.buffer.pop_front() {
                drop(st);
                return Ok(Some(row.into_pyobject(py)?.unbind()));
            }
            if st.done {
                return Ok(None);
            }
        }
        let (pager, state) = (self.pager.clone(), self.state.clone());
        let row = crate::blocking::wait(py, async move {
            let mut p = pager.lock().await;
            if let Some(row) = lock(&state).buffer.pop_front() {
                return Ok(Some(row));
            }
            if lock(&state).done {
                return Ok(None);
            }
            match p.next_page().await.map_err(to_pyerr)? {
                Some(page) if !page.is_empty() => {
                    let mut page = VecDeque::from(page);
                    let first = page.pop_front();
                    lock(&state).buffer.extend(page);
                    Ok(first)
                }
                _ => {
                    lock(&state).done = true;
                    Ok(None)
                }
            }
        })?;
        match row {
            Some(r) => Ok(Some(r.into_pyobject(py)?.unbind())),
            None => Ok(None),
        }
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Cursor>()?;
    Ok(())
}
