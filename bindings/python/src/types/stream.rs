//! Streams (`src/types/stream.rs`): `xadd`, `xrange`, `xrevrange`,
//! `xlen`, and the filter `filter_stream`.

use pyo3::prelude::*;

use crate::convert::Entries;
use crate::error::IntoPyResult;
use crate::scan::{Cursor, Pager};
use crate::spawn;
use crate::store::{pairs, text, PyStore, Text};

#[pymethods]
impl PyStore {
    /// Append an entry with `fields` {field: value}; `id` is "*" (a new,
    /// increasing id), "{ms}-*" or an explicit "{ms}-{seq}". Returns the id.
    #[pyo3(signature = (key, fields, id="*"))]
    fn xadd<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        fields: &Bound<'py, PyAny>,
        id: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let f = pairs(fields)?;
        let id = id.to_owned();
        let s = self.s();
        spawn(py, async move { s.xadd(&k, &id, f).await })
    }

    /// Entries with `start <= id <= end` ("-" and "+" for the extremes,
    /// "(" before an id for an exclusive bound), oldest first, at most
    /// `count`: a list of (id, {field: value}).
    #[pyo3(signature = (key, start="-", end="+", count=None))]
    fn xrange<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        start: &str,
        end: &str,
        count: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let (a, b) = (start.to_owned(), end.to_owned());
        let s = self.s();
        spawn(
            py,
            async move { s.xrange(&k, &a, &b, count).await.map(Entries) },
        )
    }

    /// Like `xrange`, newest first; `end` comes first, as in Redis.
    #[pyo3(signature = (key, end="+", start="-", count=None))]
    fn xrevrange<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        end: &str,
        start: &str,
        count: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let (a, b) = (start.to_owned(), end.to_owned());
        let s = self.s();
        spawn(py, async move {
            s.xrevrange(&k, &b, &a, count).await.map(Entries)
        })
    }

    /// Number of entries of a stream.
    fn xlen<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let s = self.s();
        spawn(py, async move { s.xlen(&k).await })
    }

    /// Stream entries with ids in [start, end] having a value that contains
    /// `pattern` (every entry when None): a cursor of (id, {field: value}).
    #[pyo3(signature = (key, start="-", end="+", pattern=None))]
    fn filter_stream(
        &self,
        key: &Bound<'_, PyAny>,
        start: &str,
        end: &str,
        pattern: Option<Text>,
    ) -> PyResult<Cursor> {
        let k = text(key, "key")?;
        let sc = self
            .store
            .filter_stream(&k, start, end, pattern.as_deref())
            .py_err()?;
        Ok(Cursor::new(Pager::Entry(sc)))
    }
}
