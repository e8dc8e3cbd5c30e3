//! `src/oplog/` for Python: `SignedOperation`, `Outcome`, and the
//! `apply` / `apply_many` / `ops_since` methods of `Store`.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};

use super::convert::hex;
use super::error::{to_pyerr, IntoPyResult};
use super::scan::{Cursor, Pager};
use super::spawn;
use super::store::{pairs, PyStore, Text};
use super::verify::{key_bytes, PyKeypair};
use cyberfly_store::now_ms;
use cyberfly_store::{new_op_id, parse_store_type, store_type_name, Outcome, SignedOperation};

/// A signed write with the Cyberfly node's fields. Build it with keywords,
/// then `.sign(keypair)` fills `public_key` and `signature` over the
/// canonical message; `op_id` and `timestamp` are filled in when not given.
#[pyclass(module = "cyberfly_store._native", name = "SignedOperation")]
#[derive(Clone)]
pub struct PySignedOperation {
    pub(crate) op: SignedOperation,
}

fn hex_field(v: Option<&Bound<'_, PyAny>>, len: usize, what: &str) -> PyResult<String> {
    match v {
        None => Ok(String::new()),
        Some(v) if v.is_none() => Ok(String::new()),
        Some(v) => key_bytes(v, len, what).map(|b| hex(&b)),
    }
}

fn stream_fields(v: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Vec<(String, String)>>> {
    match v {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) => pairs(v).map(Some),
    }
}

#[pymethods]
impl PySignedOperation {
    /// `store_type` is the node's name (String, Hash, List, Set, SortedSet,
    /// Json, Stream, TimeSeries, Geo) or its snake-case form. The other
    /// keywords are the Rust fields; `public_key` and `signature` take bytes
    /// or hex.
    #[new]
    #[pyo3(signature = (db_name, key, value, store_type="String", *, op_id=None, timestamp=None, field=None, score=None, json_path=None, stream_fields=None, ts_timestamp=None, longitude=None, latitude=None, public_key=None, signature=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        db_name: Text,
        key: Text,
        value: Text,
        store_type: &str,
        op_id: Option<Text>,
        timestamp: Option<u64>,
        field: Option<Text>,
        score: Option<f64>,
        json_path: Option<Text>,
        stream_fields: Option<&Bound<'_, PyAny>>,
        ts_timestamp: Option<i64>,
        longitude: Option<f64>,
        latitude: Option<f64>,
        public_key: Option<&Bound<'_, PyAny>>,
        signature: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let kind = parse_store_type(store_type).py_err()?;
        let timestamp = timestamp.unwrap_or_else(now_ms);
        Ok(PySignedOperation {
            op: SignedOperation {
                op_id: op_id.map_or_else(|| new_op_id(timestamp), |t| t.0),
                timestamp,
                db_name: db_name.0,
                key: key.0,
                value: value.0,
                store_type: store_type_name(kind).to_owned(),
                field: field.map(|t| t.0),
                score,
                json_path: json_path.map(|t| t.0),
                stream_fields: self::stream_fields(stream_fields)?,
                ts_timestamp,
                longitude,
                latitude,
                public_key: hex_field(public_key, 32, "public key")?,
                signature: hex_field(signature, 64, "signature")?,
            },
        })
    }

    /// Fill `public_key` and `signature` by signing the canonical message
    /// with `keypair`; returns the operation itself.
    fn sign<'py>(slf: Bound<'py, Self>, keypair: &Bound<'py, PyKeypair>) -> Bound<'py, Self> {
        slf.borrow_mut().op.sign(&keypair.get().kp);
        slf
    }

    /// The bytes that are signed: a versioned encoding of every field that
    /// changes the outcome.
    fn canonical_message<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.op.canonical_message())
    }

    /// Whether the signature verifies over the canonical message.
    fn verify(&self, py: Python<'_>) -> bool {
        let op = self.op.clone();
        py.detach(
            move || match (hex::decode(&op.public_key), hex::decode(&op.signature)) {
                (Ok(pk), Ok(sig)) => {
                    cyberfly_store::verify_uncached(&pk, &op.canonical_message(), &sig)
                }
                _ => false,
            },
        )
    }

    /// The operation as JSON (the form the operation log stores).
    fn to_json(&self) -> String {
        self.op.to_json()
    }

    /// An operation from its JSON form.
    #[staticmethod]
    fn from_json(text: &str) -> PyResult<Self> {
        Ok(PySignedOperation {
            op: SignedOperation::from_json(text).py_err()?,
        })
    }

    /// The operation as a dict of its fields.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let json = py.import("json")?;
        json.call_method1("loads", (self.op.to_json(),))?
            .cast_into::<PyDict>()
            .map_err(Into::into)
    }

    /// The store key the operation writes: "{db_name}:{key}".
    #[getter]
    fn full_key(&self) -> String {
        self.op.full_key()
    }

    #[getter]
    fn op_id(&self) -> String {
        self.op.op_id.clone()
    }
    #[setter]
    fn set_op_id(&mut self, v: Text) {
        self.op.op_id = v.0;
    }
    #[getter]
    fn timestamp(&self) -> u64 {
        self.op.timestamp
    }
    #[setter]
    fn set_timestamp(&mut self, v: u64) {
        self.op.timestamp = v;
    }
    #[getter]
    fn db_name(&self) -> String {
        self.op.db_name.clone()
    }
    #[setter]
    fn set_db_name(&mut self, v: Text) {
        self.op.db_name = v.0;
    }
    #[getter]
    fn key(&self) -> String {
        self.op.key.clone()
    }
    #[setter]
    fn set_key(&mut self, v: Text) {
        self.op.key = v.0;
    }
    #[getter]
    fn value(&self) -> String {
        self.op.value.clone()
    }
    #[setter]
    fn set_value(&mut self, v: Text) {
        self.op.value = v.0;
    }
    #[getter]
    fn store_type(&self) -> String {
        self.op.store_type.clone()
    }
    #[setter]
    fn set_store_type(&mut self, v: Text) -> PyResult<()> {
        self.op.store_type = store_type_name(parse_store_type(&v).py_err()?).to_owned();
        Ok(())
    }
    #[getter]
    fn field(&self) -> Option<String> {
        self.op.field.clone()
    }
    #[setter]
    fn set_field(&mut self, v: Option<Text>) {
        self.op.field = v.map(|t| t.0);
    }
    #[getter]
    fn score(&self) -> Option<f64> {
        self.op.score
    }
    #[setter]
    fn set_score(&mut self, v: Option<f64>) {
        self.op.score = v;
    }
    #[getter]
    fn json_path(&self) -> Option<String> {
        self.op.json_path.clone()
    }
    #[setter]
    fn set_json_path(&mut self, v: Option<Text>) {
        self.op.json_path = v.map(|t| t.0);
    }
    #[getter]
    fn stream_fields(&self) -> Option<Vec<(String, String)>> {
        self.op.stream_fields.clone()
    }
    #[setter]
    fn set_stream_fields(&mut self, v: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        self.op.stream_fields = stream_fields(v)?;
        Ok(())
    }
    #[getter]
    fn ts_timestamp(&self) -> Option<i64> {
        self.op.ts_timestamp
    }
    #[setter]
    fn set_ts_timestamp(&mut self, v: Option<i64>) {
        self.op.ts_timestamp = v;
    }
    #[getter]
    fn longitude(&self) -> Option<f64> {
        self.op.longitude
    }
    #[setter]
    fn set_longitude(&mut self, v: Option<f64>) {
        self.op.longitude = v;
    }
    #[getter]
    fn latitude(&self) -> Option<f64> {
        self.op.latitude
    }
    #[setter]
    fn set_latitude(&mut self, v: Option<f64>) {
        self.op.latitude = v;
    }
    /// The signer's public key, hex ("" until signed).
    #[getter]
    fn public_key(&self) -> String {
        self.op.public_key.clone()
    }
    #[setter]
    fn set_public_key(&mut self, v: &Bound<'_, PyAny>) -> PyResult<()> {
        self.op.public_key = hex_field(Some(v), 32, "public key")?;
        Ok(())
    }
    /// The signature, hex ("" until signed).
    #[getter]
    fn signature(&self) -> String {
        self.op.signature.clone()
    }
    #[setter]
    fn set_signature(&mut self, v: &Bound<'_, PyAny>) -> PyResult<()> {
        self.op.signature = hex_field(Some(v), 64, "signature")?;
        Ok(())
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        match other.cast::<Self>() {
            Ok(o) => o.borrow().op == self.op,
            Err(_) => false,
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "SignedOperation(db_name={:?}, key={:?}, store_type={:?}, op_id={:?}, timestamp={}{})",
            self.op.db_name,
            self.op.key,
            self.op.store_type,
            self.op.op_id,
            self.op.timestamp,
            if self.op.signature.is_empty() {
                ", unsigned"
            } else {
                ""
            }
        )
    }
}

/// What applying one operation did: `name` is "applied", "superseded"
/// (older than what the store holds: no change), "duplicate" (op_id seen
/// before: no change) or "rejected" (with `error`, the exception it would
/// raise). Compares equal to its name.
#[pyclass(module = "cyberfly_store._native", name = "Outcome", frozen)]
pub struct PyOutcome {
    name: &'static str,
    error: Option<Py<PyAny>>,
}

impl PyOutcome {
    fn from_core(py: Python<'_>, o: Outcome) -> Self {
        let name = o.name();
        let error = match o {
            Outcome::Rejected(e) => Some(to_pyerr(e).into_value(py).into_any()),
            _ => None,
        };
        PyOutcome { name, error }
    }
}

#[pymethods]
impl PyOutcome {
    /// "applied", "superseded", "duplicate" or "rejected".
    #[getter]
    fn name(&self) -> &'static str {
        self.name
    }

    /// Whether the operation changed the store.
    #[getter]
    fn applied(&self) -> bool {
        self.name == "applied"
    }

    /// For "rejected": the exception (a StoreError subclass); else None.
    #[getter]
    fn error(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.error.as_ref().map(|e| e.clone_ref(py))
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        if let Ok(s) = other.cast::<PyString>() {
            return s.to_cow().map(|s| s == self.name).unwrap_or(false);
        }
        match other.cast::<Self>() {
            Ok(o) => o.get().name == self.name,
            Err(_) => false,
        }
    }

    fn __hash__(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.name.hash(&mut h);
        h.finish()
    }

    fn __str__(&self) -> &'static str {
        self.name
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        match &self.error {
            Some(e) => format!(
                "Outcome('{}', error={})",
                self.name,
                e.bind(py).repr().map(|r| r.to_string()).unwrap_or_default()
            ),
            None => format!("Outcome('{}')", self.name),
        }
    }
}

struct OneOutcome(Outcome);

impl<'py> IntoPyObject<'py> for OneOutcome {
    type Target = PyOutcome;
    type Output = Bound<'py, PyOutcome>;
    type Error = PyErr;
    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyOutcome>> {
        Bound::new(py, PyOutcome::from_core(py, self.0))
    }
}

struct Outcomes(Vec<Outcome>);

impl<'py> IntoPyObject<'py> for Outcomes {
    type Target = PyList;
    type Output = Bound<'py, PyList>;
    type Error = PyErr;
    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let l = PyList::empty(py);
        for o in self.0 {
            l.append(Bound::new(py, PyOutcome::from_core(py, o))?)?;
        }
        Ok(l)
    }
}

/// An operation out of a tokio task, into a `SignedOperation` object.
pub(crate) fn op_to_py(py: Python<'_>, op: SignedOperation) -> PyResult<Bound<'_, PyAny>> {
    Ok(Bound::new(py, PySignedOperation { op })?.into_any())
}

fn ops(items: &Bound<'_, PyAny>) -> PyResult<Vec<SignedOperation>> {
    let mut out = Vec::with_capacity(items.len().unwrap_or(0));
    for it in items.try_iter()? {
        let it = it?;
        let op = it
            .cast::<PySignedOperation>()
            .map_err(|_| PyTypeError::new_err("expected SignedOperation objects"))?;
        out.push(op.borrow().op.clone());
    }
    Ok(out)
}

#[pymethods]
impl PyStore {
    /// Apply one newly submitted signed operation: checked (shape,
    /// ownership, freshness, signature), de-duplicated by op_id, last write
    /// wins. Returns the Outcome ("applied", "superseded" or "duplicate");
    /// a refused operation raises its error (InvalidSignature, NotOwner,
    /// Stale, InvalidArgument, ...) and changes nothing.
    fn apply<'py>(
        &self,
        py: Python<'py>,
        op: &Bound<'py, PySignedOperation>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let op = op.borrow().op.clone();
        let s = self.s();
        spawn(py, async move { s.apply(op).await.map(OneOutcome) })
    }

    /// Apply operations in order, signatures verified in parallel batches;
    /// one Outcome each (a refused one is "rejected" with its `error`).
    fn apply_many<'py>(
        &self,
        py: Python<'py>,
        ops: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let ops = self::ops(ops)?;
        let s = self.s();
        spawn(py, async move { s.apply_many(ops).await.map(Outcomes) })
    }

    /// Like `apply_many` for operations from a log or a peer: never refused
    /// for their age.
    fn apply_replicated<'py>(
        &self,
        py: Python<'py>,
        ops: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let ops = self::ops(ops)?;
        let s = self.s();
        spawn(
            py,
            async move { s.apply_replicated(ops).await.map(Outcomes) },
        )
    }

    /// Applied operations with `timestamp >= since_ms`, in (timestamp,
    /// op_id) order: a cursor of SignedOperation.
    #[pyo3(signature = (since_ms=0))]
    fn ops_since(&self, since_ms: u64) -> Cursor {
        Cursor::new(Pager::Ops(self.store.ops_since(since_ms)))
    }

    /// Number of operations in the log.
    fn log_len<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let s = self.s();
        spawn(py, async move { s.log_len().await })
    }

    /// BLAKE3 digest (hex) of the store's whole state: every live key, its
    /// type, value, container contents and blobs. Equal digests mean equal
    /// contents; used to show that a rejected input changed nothing.
    fn state_digest<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let s = self.s();
        spawn(py, async move { s.state_digest().await })
    }

    /// Counters of this store's signature verifier: verified, cache_hits,
    /// cache_misses, batches, batch_fallbacks.
    fn verify_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let v = self.s().verifier().stats();
        let d = PyDict::new(py);
        d.set_item("verified", v.verified)?;
        d.set_item("cache_hits", v.cache_hits)?;
        d.set_item("cache_misses", v.cache_misses)?;
        d.set_item("batches", v.batches)?;
        d.set_item("batch_fallbacks", v.batch_fallbacks)?;
        Ok(d)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PySignedOperation>()?;
    m.add_class::<PyOutcome>()?;
    Ok(())
}
