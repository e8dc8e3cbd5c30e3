//! Sets (`src/types/set.rs`): `sadd`, `srem`, `smembers`,
//! `sismember`, `scard`, and the filter `filter_set`.

use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::convert::Set;
use crate::scan::{Cursor, Pager};
use crate::spawn;
use crate::store::{args, text, PyStore};

#[pymethods]
impl PyStore {
    /// Add members; returns how many were new.
    #[pyo3(signature = (key, *members))]
    fn sadd<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        members: &Bound<'py, PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let m = args(members, "member")?;
        let s = self.s();
        spawn(py, async move { s.sadd(&k, m).await })
    }

    /// Remove members; returns how many were present.
    #[pyo3(signature = (key, *members))]
    fn srem<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        members: &Bound<'py, PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let m = args(members, "member")?;
        let s = self.s();
        spawn(py, async move { s.srem(&k, m).await })
    }

    /// Every member, as a set.
    fn smembers<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let s = self.s();
        spawn(py, async move { s.smembers(&k).await.map(Set) })
    }

    /// Whether `member` is in the set.
    fn sismember<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        member: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (k, m) = (text(key, "key")?, text(member, "member")?);
        let s = self.s();
        spawn(py, async move { s.sismember(&k, &m).await })
    }

    /// Number of members of a set.
    fn scard<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let s = self.s();
        spawn(py, async move { s.scard(&k).await })
    }

    /// Members of a set containing `pattern`: a cursor of str.
    fn filter_set(&self, key: &Bound<'_, PyAny>, pattern: &str) -> PyResult<Cursor> {
        let k = text(key, "key")?;
        Ok(Cursor::new(Pager::Text(self.store.filter_set(&k, pattern))))
    }
}
