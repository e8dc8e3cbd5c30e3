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
