//! Expiry and key types (`src/types/ttl.rs`): `expire`, `ttl`,
//! `pttl`, `persist`, `key_type`.

use pyo3::prelude::*;

use crate::spawn;
use crate::store::{text, PyStore};

#[pymethods]
impl PyStore {
    /// Expire `key` after `time` seconds (an int or a timedelta), as
    /// redis-py's `expire`: whether the expiry was set. Zero or less
    /// removes the key (True). `nx`: only a key without a TTL; `xx`: only
    /// one with a TTL; `gt`/`lt`: only a later/earlier expiry (no TTL
    /// counts as infinite).
    #[pyo3(signature = (key, time, nx=false, xx=false, gt=false, lt=false))]
    #[allow(clippy::too_many_arguments)]
    fn expire<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        time: &Bound<'py, PyAny>,
        nx: bool,
        xx: bool,
        gt: bool,
        lt: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let seconds = super::time_arg(time, "time", 1)?;
        let cond = cyberfly_store::ExpireIf { nx, xx, gt, lt };
        let s = self.s();
        spawn(py, async move { s.expire_with(&k, seconds, cond).await })
    }

    /// Expire `key` after `time` milliseconds (an int or a timedelta), as
    /// redis-py's `pexpire`; the options of `expire`.
    #[pyo3(signature = (key, time, nx=false, xx=false, gt=false, lt=false))]
    #[allow(clippy::too_many_arguments)]
    fn pexpire<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        time: &Bound<'py, PyAny>,
        nx: bool,
        xx: bool,
        gt: bool,
        lt: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let ms = super::time_arg(time, "time", 1000)?;
        let cond = cyberfly_store::ExpireIf { nx, xx, gt, lt };
        let s = self.s();
        spawn(py, async move { s.pexpire_with(&k, ms, cond).await })
    }

    /// Redis's `TYPE`: "none", "string", "hash", "list", "set", "zset",
    /// "stream", "ReJSON-RL" (json), "TSDB-TYPE" (time series), "geo".
    #[pyo3(name = "type")]
    fn r#type<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let s = self.s();
        spawn(py, async move { s.redis_type(&k).await })
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
