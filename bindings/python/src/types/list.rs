//! Lists (`src/types/list.rs`): `lpush`, `rpush`, `lrange`, `llen`,
//! and the filter `filter_list`.

use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::scan::{Cursor, Pager};
use crate::spawn;
use crate::store::{args, text, PyStore};

#[pymethods]
impl PyStore {
    /// Prepend values (the last given ends first, as in Redis); returns the
    /// new length.
    #[pyo3(signature = (key, *values))]
    fn lpush<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        values: &Bound<'py, PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let v = args(values, "value")?;
        let s = self.s();
        spawn(py, async move { s.lpush(&k, v).await })
    }

    /// Append values; returns the new length.
    #[pyo3(signature = (key, *values))]
    fn rpush<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        values: &Bound<'py, PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let v = args(values, "value")?;
        let s = self.s();
        spawn(py, async move { s.rpush(&k, v).await })
    }

    /// Items from `start` to `stop` inclusive; negative indices count from
    /// the end (-1 is the last).
    fn lrange<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        start: i64,
        stop: i64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let s = self.s();
        spawn(py, async move { s.lrange(&k, start, stop).await })
    }

    /// Length of a list.
    fn llen<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let s = self.s();
        spawn(py, async move { s.llen(&k).await })
    }

    /// Items of a list containing `pattern`, in order: a cursor of str.
    fn filter_list(&self, key: &Bound<'_, PyAny>, pattern: &str) -> PyResult<Cursor> {
        let k = text(key, "key")?;
        Ok(Cursor::new(Pager::Text(
            self.store.filter_list(&k, pattern),
        )))
    }
}
