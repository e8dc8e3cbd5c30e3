//! Time series (`src/types/timeseries.rs`): `ts_add`, `ts_range`,
//! `ts_get`, and the filter `filter_timeseries`.

use pyo3::prelude::*;

use super::number;
use crate::error::IntoPyResult;
use crate::scan::{Cursor, Pager};
use crate::spawn;
use crate::store::{text, PyStore};

#[pymethods]
impl PyStore {
    /// Add (or replace) the point at `timestamp_ms`; returns the timestamp.
    fn ts_add<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        timestamp_ms: i64,
        value: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let v = number(value, "value")?;
        let s = self.s();
        spawn(py, async move { s.ts_add(&k, timestamp_ms, v).await })
    }

    /// Points with `from_ms <= t <= to_ms`, oldest first, as
    /// (timestamp_ms, value) tuples.
    fn ts_range<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        from_ms: i64,
        to_ms: i64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let s = self.s();
        spawn(py, async move { s.ts_range(&k, from_ms, to_ms).await })
    }

    /// The latest point (timestamp_ms, value), or None.
    fn ts_get<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let s = self.s();
        spawn(py, async move { s.ts_get(&k).await })
    }

    /// Points with `from_ms <= t <= to_ms` and `min <= value <= max`: a
    /// cursor of (timestamp_ms, value).
    #[pyo3(signature = (key, from_ms, to_ms, min=f64::NEG_INFINITY, max=f64::INFINITY))]
    fn filter_timeseries(
        &self,
        key: &Bound<'_, PyAny>,
        from_ms: i64,
        to_ms: i64,
        min: f64,
        max: f64,
    ) -> PyResult<Cursor> {
        let k = text(key, "key")?;
        let sc = self
            .store
            .filter_timeseries(&k, from_ms, to_ms, min, max)
            .py_err()?;
        Ok(Cursor::new(Pager::Point(sc)))
    }
}
