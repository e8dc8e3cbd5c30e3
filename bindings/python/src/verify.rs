//! `src/verify.rs` for Python: `Keypair`, and the module-level `verify` and
//! `verify_many`. Public keys and signatures are accepted as bytes or hex
//! strings, messages as bytes.

use std::sync::{Arc, OnceLock};

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString, PyTuple};

use super::convert::hex;
use super::error::{invalid, IntoPyResult};
use super::spawn;
use cyberfly_store::{decode_hex, Keypair, Verifier, VerifyItem};

/// The verifier behind the module-level functions (its verdict cache is
/// keyed by public key, message and signature together).
fn verifier() -> &'static Arc<Verifier> {
    static V: OnceLock<Arc<Verifier>> = OnceLock::new();
    V.get_or_init(|| Arc::new(Verifier::new(1 << 20)))
}

/// A public key, signature or secret: `len` raw bytes, or hex of them.
pub(crate) fn key_bytes(v: &Bound<'_, PyAny>, len: usize, what: &str) -> PyResult<Vec<u8>> {
    if let Ok(s) = v.cast::<PyString>() {
        return decode_hex(&s.extract::<String>()?, len, what).py_err();
    }
    if let Ok(b) = v.cast::<PyBytes>() {
        let b = b.as_bytes();
        if b.len() != len {
            return Err(invalid(format!(
                "{what} is {} bytes, expected {len}",
                b.len()
            )));
        }
        return Ok(b.to_vec());
    }
    Err(PyTypeError::new_err(format!(
        "{what} must be bytes or a hex str, not {}",
        v.get_type().name()?
    )))
}

/// A message: bytes-like.
fn message(v: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(b) = v.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    super::store::data(v)
        .map(|b| b.to_vec())
        .map_err(|_| PyTypeError::new_err("a message must be bytes-like"))
}

/// An ed25519 key pair.
#[pyclass(module = "cyberfly_store._native", name = "Keypair", frozen)]
pub struct PyKeypair {
    pub(crate) kp: Keypair,
}

#[pymethods]
impl PyKeypair {
    /// A new random key pair (OS randomness).
    #[staticmethod]
    fn generate() -> Self {
        PyKeypair {
            kp: Keypair::generate(),
        }
    }

    /// The key pair of a 32-byte secret, given as bytes or 64 hex characters.
    #[staticmethod]
    fn from_secret(secret: &Bound<'_, PyAny>) -> PyResult<Self> {
        let s = key_bytes(secret, 32, "secret key")?;
        Ok(PyKeypair {
            kp: Keypair::from_secret(&s).py_err()?,
        })
    }

    /// The public key, 64 lowercase hex characters.
    #[getter]
    fn public_key(&self) -> String {
        self.kp.public_key_hex()
    }

    /// The secret key, 64 lowercase hex characters (keep it secret).
    #[getter]
    fn secret_key(&self) -> String {
        hex(&self.kp.secret_bytes())
    }

    /// Sign `data` (bytes); returns the 64-byte signature.
    fn sign<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let msg = message(data)?;
        Ok(PyBytes::new(py, &self.kp.sign(&msg)))
    }

    fn __repr__(&self) -> String {
        format!("Keypair(public_key='{}')", self.kp.public_key_hex())
    }
}

/// Whether `signature` is a valid ed25519 signature of `message` by
/// `public_key` (the store's rule, ZIP-215 with small-order keys refused;
/// verdicts are cached). Keys and
/// signatures are bytes or hex; a malformed one raises InvalidArgument.
#[pyfunction]
pub fn verify(
    py: Python<'_>,
    public_key: &Bound<'_, PyAny>,
    message: &Bound<'_, PyAny>,
    signature: &Bound<'_, PyAny>,
) -> PyResult<bool> {
    let pk = key_bytes(public_key, 32, "public key")?;
    let sig = key_bytes(signature, 64, "signature")?;
    let msg = self::message(message)?;
    Ok(py.detach(move || verifier().verify(&pk, &msg, &sig)))
}

/// A public key or signature of a `verify_many` item: bytes as given, or
/// decoded hex. Malformed data (bad hex, and any wrong length, which the
/// core refuses) becomes bytes the core finds invalid, so that the item is
/// `False` and every other item keeps its verdict; a value that is neither
/// bytes nor str is a TypeError.
fn item_bytes(v: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<u8>> {
    if let Ok(b) = v.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    if let Ok(s) = v.cast::<PyString>() {
        return Ok(::hex::decode(s.extract::<String>()?).unwrap_or_default());
    }
    Err(PyTypeError::new_err(format!(
        "{what} must be bytes or a hex str, not {}",
        v.get_type().name()?
    )))
}

/// The (public_key, message, signature) tuples of `items`, converted.
fn verify_items(items: &Bound<'_, PyAny>) -> PyResult<Vec<VerifyItem>> {
    let mut all: Vec<VerifyItem> = Vec::with_capacity(items.len().unwrap_or(0));
    for it in items.try_iter()? {
        let it = it?;
        let t = it.cast::<PyTuple>().map_err(|_| {
            PyTypeError::new_err("items are (public_key, message, signature) tuples")
        })?;
        if t.len() != 3 {
            return Err(PyTypeError::new_err(
                "items are (public_key, message, signature) tuples",
            ));
        }
        all.push((
            item_bytes(&t.get_item(0)?, "public key")?,
            message(&t.get_item(1)?)?,
            item_bytes(&t.get_item(2)?, "signature")?,
        ));
    }
    Ok(all)
}

/// Verdicts for many (public_key, message, signature) tuples, in order:
/// verified in parallel batches off the event loop. Awaitable. A malformed
/// item (wrong length, bad hex) is `False` and changes no other verdict;
/// an item that is not such a tuple of bytes/str raises TypeError.
#[pyfunction]
pub fn verify_many<'py>(py: Python<'py>, items: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let items = Arc::new(verify_items(items)?);
    spawn(py, async move { verifier().verify_many_async(items).await })
}

/// Benchmark hook (benches/python/compare.py): the seconds the core's
/// `verify_many` takes on `items` when driven from Rust, with a verifier of
/// its own (an empty verdict cache, as fresh signatures see), without the
/// conversion of the items or the asyncio round trip. Compared with an
/// awaited `verify_many` on other fresh items in the same process, the
/// difference is what the binding costs.
/// `chunk`: items per batch (0: the library's default).
#[pyfunction]
#[pyo3(signature = (items, chunk = 0))]
fn _bench_verify_many(py: Python<'_>, items: &Bound<'_, PyAny>, chunk: usize) -> PyResult<f64> {
    let items = verify_items(items)?;
    let v = Verifier::new(items.len() as u64 * 2);
    Ok(py.detach(move || {
        let t0 = std::time::Instant::now();
        let r = if chunk == 0 {
            v.verify_many(&items)
        } else {
            v.verify_many_chunked(&items, chunk)
        };
        let secs = t0.elapsed().as_secs_f64();
        std::hint::black_box(r);
        secs
    }))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyKeypair>()?;
    m.add_function(pyo3::wrap_pyfunction!(verify, m)?)?;
    m.add_function(pyo3::wrap_pyfunction!(verify_many, m)?)?;
    m.add_function(pyo3::wrap_pyfunction!(_bench_verify_many, m)?)?;
    Ok(())
}
