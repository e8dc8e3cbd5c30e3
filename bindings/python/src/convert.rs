//! Value shapes between the core and Python: JSON documents, typed values
//! of `get_all`, signature metadata, the rows of scans and filters.
//! Shapes follow redis-py where redis-py has the operation.

use std::sync::Arc;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PySet, PyString, PyTuple};
use pyo3::IntoPyObjectExt;
use serde_json::Value;

use super::error::invalid;
use cyberfly_store::StreamEntry;
use cyberfly_store::TypedValue;
use cyberfly_store::{hash_hex, SigMeta};

/// Python object to JSON: dict (str keys), list/tuple, str, int, float,
/// bool, None. NaN and infinities are `InvalidArgument` (JSON has none).
pub fn py_to_json(v: &Bound<'_, PyAny>) -> PyResult<Value> {
    py_to_json_depth(v, 0)
}

fn py_to_json_depth(v: &Bound<'_, PyAny>, depth: usize) -> PyResult<Value> {
    if depth > 512 {
        return Err(invalid("JSON value nested more than 512 levels"));
    }
    if v.is_none() {
        return Ok(Value::Null);
    }
    if v.is_instance_of::<PyString>() {
        return Ok(Value::String(super::store::text(v, "JSON string")?));
    }
    if v.is_instance_of::<PyBool>() {
        return Ok(Value::Bool(v.extract()?));
    }
    if v.is_instance_of::<PyInt>() {
        if let Ok(i) = v.extract::<i64>() {
            return Ok(Value::from(i));
        }
        if let Ok(u) = v.extract::<u64>() {
            return Ok(Value::from(u));
        }
        return Err(invalid(format!("integer {v} does not fit in 64 bits")));
    }
    if v.is_instance_of::<PyFloat>() {
        let f: f64 = v.extract()?;
        return serde_json::Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| invalid(format!("{f} is not a JSON number")));
    }
    if let Ok(d) = v.cast::<PyDict>() {
        let mut m = serde_json::Map::with_capacity(d.len());
        for (k, x) in d.iter() {
            if !k.is_instance_of::<PyString>() {
                return Err(invalid(format!("JSON object keys must be str, got {k}")));
            }
            let k = super::store::text(&k, "JSON object key")?;
            m.insert(k, py_to_json_depth(&x, depth + 1)?);
        }
        return Ok(Value::Object(m));
    }
    if let Ok(l) = v.cast::<PyList>() {
        return l
            .iter()
            .map(|x| py_to_json_depth(&x, depth + 1))
            .collect::<PyResult<Vec<_>>>()
            .map(Value::Array);
    }
    if let Ok(t) = v.cast::<PyTuple>() {
        return t
            .iter()
            .map(|x| py_to_json_depth(&x, depth + 1))
            .collect::<PyResult<Vec<_>>>()
            .map(Value::Array);
    }
    Err(PyTypeError::new_err(format!(
        "cannot store a {} as JSON",
        v.get_type().name()?
    )))
}

/// JSON to Python: objects become dicts, arrays lists.
pub fn json_to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_bound_py_any(py)?
            } else if let Some(u) = n.as_u64() {
                u.into_bound_py_any(py)?
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_bound_py_any(py)?
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(a) => {
            let l = PyList::empty(py);
            for x in a {
                l.append(json_to_py(py, x)?)?;
            }
            l.into_any()
        }
        Value::Object(o) => {
            let d = PyDict::new(py);
            for (k, x) in o {
                d.set_item(k, json_to_py(py, x)?)?;
            }
            d.into_any()
        }
    })
}

/// A JSON value (or none) carried out of a tokio task.
pub struct Json(pub Option<Value>);

impl<'py> IntoPyObject<'py> for Json {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;
    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self.0 {
            None => Ok(py.None().into_bound(py)),
            Some(v) => json_to_py(py, &v),
        }
    }
}

/// A list of JSON values.
pub struct JsonList(pub Vec<Value>);

impl<'py> IntoPyObject<'py> for JsonList {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;
    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let l = PyList::empty(py);
        for v in &self.0 {
            l.append(json_to_py(py, v)?)?;
        }
        Ok(l.into_any())
    }
}

/// Field/value pairs as a dict (hgetall, stream entries).
pub fn pairs_to_dict<'py>(
    py: Python<'py>,
    pairs: &[(String, String)],
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in pairs {
        d.set_item(k, v)?;
    }
    Ok(d)
}

/// `hgetall`: a dict.
pub struct Dict(pub Vec<(String, String)>);

impl<'py> IntoPyObject<'py> for Dict {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;
    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(pairs_to_dict(py, &self.0)?.into_any())
    }
}

/// `smembers`: a set.
pub struct Set(pub Vec<String>);

impl<'py> IntoPyObject<'py> for Set {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;
    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(PySet::new(py, &self.0)?.into_any())
    }
}

/// Stream entries: `[(id, {field: value})]`, as redis-py decodes them.
pub struct Entries(pub Vec<StreamEntry>);

impl<'py> IntoPyObject<'py> for Entries {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;
    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let l = PyList::empty(py);
        for e in &self.0 {
            l.append(entry_to_py(py, e)?)?;
        }
        Ok(l.into_any())
    }
}

fn entry_to_py<'py>(py: Python<'py>, e: &StreamEntry) -> PyResult<Bound<'py, PyAny>> {
    Ok(PyTuple::new(
        py,
        [
            PyString::new(py, &e.0).into_any(),
            pairs_to_dict(py, &e.1)?.into_any(),
        ],
    )?
    .into_any())
}

/// Sorted-set members, with or without their scores.
pub struct Scored {
    pub items: Vec<(String, f64)>,
    pub withscores: bool,
}

impl<'py> IntoPyObject<'py> for Scored {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;
    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if self.withscores {
            self.items.into_bound_py_any(py)
        } else {
            let l = PyList::empty(py);
            for (m, _) in &self.items {
                l.append(m)?;
            }
            Ok(l.into_any())
        }
    }
}

/// Signature metadata as a dict: public_key and signature in hex, and the
/// timestamp in ms.
pub fn sig_to_py<'py>(py: Python<'py>, s: &SigMeta) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("public_key", hex(&s.public_key))?;
    d.set_item("signature", hex(&s.signature))?;
    d.set_item("timestamp_ms", s.timestamp_ms)?;
    Ok(d)
}

/// Lower-case hex.
pub fn hex(b: &[u8]) -> String {
    if let Ok(h) = <&[u8; 32]>::try_from(b) {
        return hash_hex(h);
    }
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push(D[(x >> 4) as usize] as char);
        s.push(D[(x & 15) as usize] as char);
    }
    s
}

/// The contents of a key of any type, in the shape its own read returns.
pub fn typed_to_py<'py>(py: Python<'py>, v: &TypedValue) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        TypedValue::String(s) => PyString::new(py, s).into_any(),
        TypedValue::Hash(p) => pairs_to_dict(py, p)?.into_any(),
        TypedValue::List(l) => l.into_bound_py_any(py)?,
        TypedValue::Set(s) => PySet::new(py, s)?.into_any(),
        TypedValue::SortedSet(z) => z.into_bound_py_any(py)?,
        TypedValue::Json(j) => json_to_py(py, j)?,
        TypedValue::Stream(e) => Entries(e.clone()).into_pyobject(py)?,
        TypedValue::TimeSeries(t) => t.into_bound_py_any(py)?,
        TypedValue::Geo(g) => g.into_bound_py_any(py)?,
    })
}

/// One item of a scan, a filter or `get_all`.
pub enum Row {
    /// `scan`: (key, value).
    Kv(String, Arc<str>),
    /// `filter_list`, `filter_set`: the item.
    Text(String),
    /// `filter_hash`: (field, value).
    Pair(String, String),
    /// `filter_sorted_set`: (member, score).
    Scored(String, f64),
    /// `filter_stream`: (id, {field: value}).
    Entry(StreamEntry),
    /// `filter_timeseries`: (timestamp_ms, value).
    Point(i64, f64),
    /// `get_all`: (key, value, signature metadata or None).
    Keyed(String, TypedValue, Option<SigMeta>),
    /// `ops_since`: a SignedOperation.
    Op(Box<cyberfly_store::SignedOperation>),
}

impl<'py> IntoPyObject<'py> for Row {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;
    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self {
            Row::Kv(k, v) => (k, &*v).into_bound_py_any(py),
            Row::Text(s) => s.into_bound_py_any(py),
            Row::Pair(a, b) => (a, b).into_bound_py_any(py),
            Row::Scored(m, s) => (m, s).into_bound_py_any(py),
            Row::Entry(e) => entry_to_py(py, &e),
            Row::Point(t, v) => (t, v).into_bound_py_any(py),
            Row::Op(op) => super::oplog::op_to_py(py, *op),
            Row::Keyed(k, v, sig) => {
                let sig = match sig {
                    Some(s) => sig_to_py(py, &s)?.into_any(),
                    None => py.None().into_bound(py),
                };
                Ok(PyTuple::new(
                    py,
                    [PyString::new(py, &k).into_any(), typed_to_py(py, &v)?, sig],
                )?
                .into_any())
            }
        }
    }
}

/// A list of rows (what awaiting a cursor returns).
pub struct Rows(pub Vec<Row>);

impl<'py> IntoPyObject<'py> for Rows {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;
    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let l = PyList::empty(py);
        for r in self.0 {
            l.append(r.into_pyobject(py)?)?;
        }
        Ok(l.into_any())
    }
}

/// Optional string values (get, get_many) into `str | None` without copying
/// through an intermediate `String`.
pub struct OptStr(pub Option<Arc<str>>);

impl<'py> IntoPyObject<'py> for OptStr {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;
    #[inline]
    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(match self.0 {
            Some(s) => PyString::new(py, &s).into_any(),
            None => py.None().into_bound(py),
        })
    }
}

/// `get_many`: a list of `str | None`.
pub struct OptStrs(pub Vec<Option<Arc<str>>>);

impl<'py> IntoPyObject<'py> for OptStrs {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;
    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let items = self.0.into_iter().map(|v| match v {
            Some(s) => PyString::new(py, &s).into_any(),
            None => py.None().into_bound(py),
        });
        Ok(PyList::new(py, items)?.into_any())
    }
}
