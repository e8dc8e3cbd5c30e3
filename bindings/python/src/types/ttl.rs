//! Expiry and key types (`src/types/ttl.rs`): `expire`, `ttl`,
//! `pttl`, `persist`, `key_type`.

use pyo3::prelude::*;

use crate::spawn;
use crate::store::{text, PyStore};

#[pymethods]
impl PyStore {
    /// Expire `key` after `seconds` (0 expires it now); whether it exists.
    fn expire<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        seconds: u64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let s = self.s();
        spawn(py, async move { s.expire(&k, seconds).await })
    }

    /// Seconds to live: -2 if the key does not exist, -1 if it has no
    /// expiry (as Redis answers).
    fn ttl<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let s = self.s();
        spawn(py, async move { s.ttl(&k).await })
    }

    /// Milliseconds to live: -2 absent, -1 no expiry.
    fn pttl<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let s = self.s();
        spawn(py, async move { s.pttl(&k).await })
    }

    /// Remove the expiry of `key`; whether it had one.
    fn persist<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let s = self.s();
        spawn(py, async move { s.persist(&k).await })
    }

    /// The type name of a key ("string", "hash", "list", "set",
    /// "sorted_set", "json", "stream", "timeseries", "geo"), or None.
    fn key_type<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let s = self.s();
        spawn(py, async move {
            s.key_type(&k)
                .await
                .map(|t| t.map(cyberfly_store::ValueKind::name))
        })
    }
}
