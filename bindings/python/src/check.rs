//! `cyberfly_store.check(path)`: the core's `check` of a closed store, as
//! a plain blocking function (the GIL released while it runs) answering
//! the report as a dict (the same fields as the C front's JSON).

use std::path::PathBuf;

use pyo3::prelude::*;

use crate::convert::json_to_py;
use crate::error::to_pyerr;

/// Verify the closed store at ``path`` without changing it: the durability
/// mark against the index, every entry, every blob's bytes and outboard,
/// and every log entry. Answers the report as a dict (``clean``, counts,
/// ``unreferenced_blobs``, ``problems``: each a dict with ``kind``,
/// ``message`` and its fields). Raises ``AlreadyOpen`` for an open store,
/// ``IoError`` for a directory that cannot be read.
#[pyfunction]
pub fn check<'py>(py: Python<'py>, path: PathBuf) -> PyResult<Bound<'py, PyAny>> {
    let report = py
        .detach(move || cyberfly_store::check(&path))
        .map_err(to_pyerr)?;
    json_to_py(py, &report.to_json())
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(pyo3::wrap_pyfunction!(check, m)?)?;
    Ok(())
}
