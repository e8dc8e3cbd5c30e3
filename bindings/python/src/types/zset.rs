//! Sorted sets (`src/types/zset.rs`): `zadd`, `zrem`, `zrange`,
//! `zrangebyscore`, `zscore`, `zcard`, and the filter `filter_sorted_set`.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use super::number;
use crate::convert::Scored;
use crate::error::IntoPyResult;
use crate::scan::{Cursor, Pager};
use crate::spawn;
use crate::store::{args, text, PyStore};

#[pymethods]
impl PyStore {
    /// Add members with scores from a mapping {member: score} (or update
    /// their scores); returns how many members are new.
    fn zadd<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        mapping: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let d = mapping
            .cast::<PyDict>()
            .map_err(|_| PyTypeError::new_err("zadd takes a mapping {member: score}"))?;
        let mut items = Vec::with_capacity(d.len());
        for (m, sc) in d.iter() {
            items.push((text(&m, "member")?, number(&sc, "score")?));
        }
        let s = self.s();
        spawn(py, async move { s.zadd(&k, items).await })
    }

    /// Remove members; returns how many were present.
    #[pyo3(signature = (key, *members))]
    fn zrem<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        members: &Bound<'py, PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let m = args(members, "member")?;
        let s = self.s();
        spawn(py, async move { s.zrem(&k, m).await })
    }

    /// Members by rank from `start` to `stop` inclusive (negative from the
    /// end), lowest score first; with `withscores`, (member, score) tuples.
    #[pyo3(signature = (key, start, stop, withscores=false))]
    fn zrange<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        start: i64,
        stop: i64,
        withscores: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let s = self.s();
        spawn(py, async move {
            s.zrange(&k, start, stop)
                .await
                .map(|items| Scored { items, withscores })
        })
    }

    /// Members with `min <= score <= max`, lowest first; with
    /// `withscores`, (member, score) tuples.
    #[pyo3(signature = (key, min, max, withscores=false))]
    fn zrangebyscore<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        min: f64,
        max: f64,
        withscores: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let s = self.s();
        spawn(py, async move {
            s.zrangebyscore(&k, min, max)
                .await
                .map(|items| Scored { items, withscores })
        })
    }

    /// The score of a member, or None.
    fn zscore<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        member: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (k, m) = (text(key, "key")?, text(member, "member")?);
        let s = self.s();
        spawn(py, async move { s.zscore(&k, &m).await })
    }

    /// Number of members of a sorted set.
    fn zcard<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let s = self.s();
        spawn(py, async move { s.zcard(&k).await })
    }

    /// Members with `min <= score <= max`, lowest first: a cursor of
    /// (member, score).
    fn filter_sorted_set(&self, key: &Bound<'_, PyAny>, min: f64, max: f64) -> PyResult<Cursor> {
        let k = text(key, "key")?;
        let sc = self.store.filter_sorted_set(&k, min, max).py_err()?;
        Ok(Cursor::new(Pager::Scored(sc)))
    }
}
