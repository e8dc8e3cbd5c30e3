//! The container types of `src/types/` on `Store`, with redis-py's names,
//! arguments and result shapes where redis-py has the operation: hash, list,
//! set, sorted set, JSON, stream, time series, geo; TTLs; the node's filters
//! and `get_all`.
//!
//! One file per type, as in the core's `src/types/`, each with its own
//! `#[pymethods]` block on `PyStore` (pyo3's `multiple-pymethods`):
//! `hash.rs`, `list.rs`, `set.rs`, `zset.rs`, `json.rs`, `stream.rs`,
//! `timeseries.rs`, `geo.rs`, `ttl.rs` (expiry and `key_type`); each type's
//! filter is in its file, `get_all` in `scan.rs`.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

mod geo;
mod hash;
mod json;
mod list;
mod scan;
mod set;
mod stream;
mod timeseries;
mod ttl;
mod zset;

/// A score or value: any real number, NaN refused by the core.
fn number(v: &Bound<'_, PyAny>, what: &str) -> PyResult<f64> {
    v.extract::<f64>()
        .map_err(|_| PyTypeError::new_err(format!("{what} must be a number")))
}

/// A time for redis-py's shapes: an int, a `timedelta` (`ex`, `px`,
/// `expire`) or a `datetime` (`exat`, `pxat`), converted as redis-py does
/// (`int(total_seconds() * per_second)`, `int(timestamp() * per_second)`).
pub(crate) fn time_arg(v: &Bound<'_, PyAny>, what: &str, per_second: i64) -> PyResult<i64> {
    if let Ok(n) = v.extract::<i64>() {
        return Ok(n);
    }
    for method in ["total_seconds", "timestamp"] {
        if v.hasattr(method)? {
            let f: f64 = v.call_method0(method)?.extract()?;
            return Ok((f * per_second as f64) as i64);
        }
    }
    Err(PyTypeError::new_err(format!(
        "{what} must be an int, a timedelta or a datetime"
    )))
}
