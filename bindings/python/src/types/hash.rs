//! Hashes (`src/types/hash.rs`): `hset`, `hset_many`, `hget`,
//! `hgetall`, `hdel`, `hlen`, and the filter `filter_hash`.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::convert::Dict;
use crate::scan::{Cursor, Pager};
use crate::spawn;
use crate::store::{args, pairs, text, PyStore};

#[pymethods]
impl PyStore {
    /// Set one field of a hash (`field`, `value`), and/or the fields of
    /// `mapping`, in one atomic update, as redis-py's `hset`; how many
    /// fields are new. Nothing to set is InvalidArgument.
    #[pyo3(signature = (key, field=None, value=None, mapping=None))]
    fn hset<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        field: Option<&Bound<'py, PyAny>>,
        value: Option<&Bound<'py, PyAny>>,
        mapping: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let s = self.s();
        if let (Some(f), Some(v), None) = (field, value, mapping) {
            let (f, v) = (text(f, "field")?, text(v, "value")?);
            return spawn(py, async move { s.hset(&k, &f, v).await });
        }
        let mut fields = Vec::new();
        match (field, value) {
            (Some(f), Some(v)) => fields.push((text(f, "field")?, text(v, "value")?)),
            (None, None) => {}
            _ => {
                return Err(PyTypeError::new_err(
                    "hset takes a field and a value together",
                ))
            }
        }
        if let Some(m) = mapping {
            fields.extend(pairs(m)?);
        }
        spawn(py, async move { s.hset_many(&k, fields).await })
    }

    /// Set many fields of a hash from a mapping, in one atomic update;
    /// returns how many fields are new.
    fn hset_many<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        mapping: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let fields = pairs(mapping)?;
        let s = self.s();
        spawn(py, async move { s.hset_many(&k, fields).await })
    }

    /// The value of a field, or None.
    fn hget<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        field: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (k, f) = (text(key, "key")?, text(field, "field")?);
        let s = self.s();
        spawn(py, async move { s.hget(&k, &f).await })
    }

    /// Every field and value, as a dict (empty for a missing key).
    fn hgetall<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let s = self.s();
        spawn(py, async move { s.hgetall(&k).await.map(Dict) })
    }

    /// Remove fields; returns how many existed.
    #[pyo3(signature = (key, *fields))]
    fn hdel<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        fields: &Bound<'py, PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let fields = args(fields, "field")?;
        let s = self.s();
        spawn(py, async move { s.hdel(&k, fields).await })
    }

    /// Number of fields of a hash.
    fn hlen<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let s = self.s();
        spawn(py, async move { s.hlen(&k).await })
    }

    /// Fields of a hash whose name contains `pattern`: a cursor of
    /// (field, value) (`async for`, or `await` for a list).
    fn filter_hash(&self, key: &Bound<'_, PyAny>, pattern: &str) -> PyResult<Cursor> {
        let k = text(key, "key")?;
        Ok(Cursor::new(Pager::Pair(
            self.store.filter_hash(&k, pattern),
        )))
    }
}
