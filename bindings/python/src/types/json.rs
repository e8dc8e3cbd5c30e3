//! JSON documents (`src/types/json.rs`): `json_set`, `json_get`,
//! `json_filter`.

use pyo3::prelude::*;

use crate::convert::{py_to_json, Json, JsonList};
use crate::spawn;
use crate::store::{text, PyStore, Text};

#[pymethods]
impl PyStore {
    /// Set a JSON document (`path="$"`) or the value at a JSONPath inside
    /// the existing document. `value` is any JSON-shaped Python object.
    #[pyo3(signature = (key, value, path="$"))]
    fn json_set<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        value: &Bound<'py, PyAny>,
        path: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let v = py_to_json(value)?;
        let p = path.to_owned();
        let s = self.s();
        spawn(py, async move { crate::none(s.json_set(&k, &p, v).await) })
    }

    /// The whole document (`path=None`), or the list of values a JSONPath
    /// selects; None for a missing key.
    #[pyo3(signature = (key, path=None))]
    fn json_get<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        path: Option<Text>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let s = self.s();
        spawn(py, async move {
            s.json_get(&k, path.as_deref()).await.map(Json)
        })
    }

    /// The values a JSONPath filter expression selects in the document of
    /// `key` (e.g. `$.items[?@.price < 10]`), as a list.
    fn json_filter<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        jsonpath: Text,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let p = jsonpath.0;
        let s = self.s();
        spawn(py, async move { s.json_filter(&k, &p).await.map(JsonList) })
    }
}
