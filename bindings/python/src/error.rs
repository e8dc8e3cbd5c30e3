//! Every mapping from the core's [`Error`] to a Python exception lives here.
//!
//! One class per [`ErrorCode`], all under `StoreError`, each carrying the
//! core's numeric code as the class attribute `code` (so `except StoreError
//! as e: e.code` works for every failure). The classes are created once per
//! process; a `PyErr` for them is built lazily, so converting an error never
//! needs the interpreter (the conversion runs on tokio threads too).

use pyo3::exceptions::PyException;
use pyo3::prelude::*;

use cyberfly_store::error::{Error, ErrorCode};

pyo3::create_exception!(
    cyberfly_store,
    StoreError,
    PyException,
    "Root of every error the store raises; `.code` is the core's numeric error code."
);
pyo3::create_exception!(
    cyberfly_store,
    InvalidArgument,
    StoreError,
    "An argument was malformed (empty key, bad hex, NaN score, bad JSONPath, ...). code 1."
);
pyo3::create_exception!(
    cyberfly_store,
    InvalidConfig,
    StoreError,
    "A configuration keyword was unknown or out of range. code 2."
);
pyo3::create_exception!(
    cyberfly_store,
    KeyTooLong,
    StoreError,
    "A key is longer than the store's max_key_len. code 3."
);
pyo3::create_exception!(
    cyberfly_store,
    ValueTooLarge,
    StoreError,
    "A value is larger than the store's max_value_len. code 4."
);
pyo3::create_exception!(
    cyberfly_store,
    StoreClosed,
    StoreError,
    "The store was closed; every call after close() raises this. code 5."
);
pyo3::create_exception!(
    cyberfly_store,
    AlreadyOpen,
    StoreError,
    "The store directory is already open, in this process or another. code 6."
);
pyo3::create_exception!(
    cyberfly_store,
    WrongType,
    StoreError,
    "The key holds a value of another type than the operation needs. code 7."
);
pyo3::create_exception!(
    cyberfly_store,
    Corrupt,
    StoreError,
    "Stored bytes could not be decoded. code 8."
);
pyo3::create_exception!(
    cyberfly_store,
    BlobMissing,
    StoreError,
    "A value refers to a blob the blob store does not hold. code 9."
);
pyo3::create_exception!(
    cyberfly_store,
    IoError,
    StoreError,
    "An input/output error from the file system. code 10."
);
pyo3::create_exception!(
    cyberfly_store,
    IndexFailure,
    StoreError,
    "An error reported by the index (sled). code 11."
);
pyo3::create_exception!(
    cyberfly_store,
    BlobStoreFailure,
    StoreError,
    "An error reported by the blob store (iroh-blobs). code 12."
);
pyo3::create_exception!(
    cyberfly_store,
    InvalidSignature,
    StoreError,
    "A signature did not verify. code 13."
);
pyo3::create_exception!(
    cyberfly_store,
    NotOwner,
    StoreError,
    "The signer does not own the database it writes to. code 14."
);
pyo3::create_exception!(
    cyberfly_store,
    Stale,
    StoreError,
    "An operation's timestamp is outside the freshness window. code 15."
);
pyo3::create_exception!(
    cyberfly_store,
    InternalError,
    StoreError,
    "An internal invariant broke (a bug in the store). code 99."
);

/// Build the Python exception for a core error. Lazy: needs no interpreter.
pub fn to_pyerr(e: Error) -> PyErr {
    let msg = e.to_string();
    match e.code() {
        ErrorCode::InvalidArgument => InvalidArgument::new_err(msg),
        ErrorCode::InvalidConfig => InvalidConfig::new_err(msg),
        ErrorCode::KeyTooLong => KeyTooLong::new_err(msg),
        ErrorCode::ValueTooLarge => ValueTooLarge::new_err(msg),
        ErrorCode::Closed => StoreClosed::new_err(msg),
        ErrorCode::AlreadyOpen => AlreadyOpen::new_err(msg),
        ErrorCode::WrongType => WrongType::new_err(msg),
        ErrorCode::Corrupt => Corrupt::new_err(msg),
        ErrorCode::BlobMissing => BlobMissing::new_err(msg),
        ErrorCode::Io => IoError::new_err(msg),
        ErrorCode::Index => IndexFailure::new_err(msg),
        ErrorCode::Blobs => BlobStoreFailure::new_err(msg),
        ErrorCode::InvalidSignature => InvalidSignature::new_err(msg),
        ErrorCode::NotOwner => NotOwner::new_err(msg),
        ErrorCode::Stale => Stale::new_err(msg),
        ErrorCode::Internal | ErrorCode::Ok => InternalError::new_err(msg),
    }
}

/// `InvalidArgument` for input the binding rejects before the core sees it.
pub fn invalid(msg: impl Into<String>) -> PyErr {
    to_pyerr(Error::InvalidArgument(msg.into()))
}

/// `InvalidConfig` for a bad configuration keyword.
pub fn invalid_config(field: &'static str, reason: impl Into<String>) -> PyErr {
    to_pyerr(Error::InvalidConfig {
        field,
        reason: reason.into(),
    })
}

/// Core results into Python results.
pub trait IntoPyResult<T> {
    fn py_err(self) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for cyberfly_store::Result<T> {
    #[inline]
    fn py_err(self) -> PyResult<T> {
        self.map_err(to_pyerr)
    }
}

/// Add the exception classes to the module, each with its `code`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    macro_rules! add {
        ($($ty:ident = $code:expr),* $(,)?) => {$(
            let t = py.get_type::<$ty>();
            t.setattr("code", $code as u32)?;
            m.add(stringify!($ty), t)?;
        )*};
    }
    add!(
        StoreError = ErrorCode::Internal,
        InvalidArgument = ErrorCode::InvalidArgument,
        InvalidConfig = ErrorCode::InvalidConfig,
        KeyTooLong = ErrorCode::KeyTooLong,
        ValueTooLarge = ErrorCode::ValueTooLarge,
        StoreClosed = ErrorCode::Closed,
        AlreadyOpen = ErrorCode::AlreadyOpen,
        WrongType = ErrorCode::WrongType,
        Corrupt = ErrorCode::Corrupt,
        BlobMissing = ErrorCode::BlobMissing,
        IoError = ErrorCode::Io,
        IndexFailure = ErrorCode::Index,
        BlobStoreFailure = ErrorCode::Blobs,
        InvalidSignature = ErrorCode::InvalidSignature,
        NotOwner = ErrorCode::NotOwner,
        Stale = ErrorCode::Stale,
        InternalError = ErrorCode::Internal,
    );
    m.add_function(pyo3::wrap_pyfunction!(_raise_error, m)?)?;
    Ok(())
}

/// Raise the exception the binding maps the core error of `code` to (for
/// the tests of the mapping; codes the store cannot be made to produce on
/// demand, like `Corrupt`, are checked this way).
#[pyfunction]
#[pyo3(signature = (code, message="test"))]
pub fn _raise_error(code: u32, message: &str) -> PyResult<()> {
    let m = message.to_owned();
    let e = match code {
        1 => Error::InvalidArgument(m),
        2 => Error::InvalidConfig {
            field: "test",
            reason: m,
        },
        3 => Error::KeyTooLong { len: 2, max: 1 },
        4 => Error::ValueTooLarge { len: 2, max: 1 },
        5 => Error::Closed,
        6 => Error::AlreadyOpen {
            path: m.into(),
            detail: "test".into(),
        },
        7 => Error::WrongType {
            expected: "hash",
            actual: "string",
        },
        8 => Error::Corrupt(m),
        9 => Error::BlobMissing(m),
        10 => Error::Io(std::io::Error::other(m)),
        11 => Error::Index(m),
        12 => Error::Blobs(m),
        13 => Error::InvalidSignature,
        14 => Error::NotOwner(m),
        15 => Error::Stale(m),
        99 => Error::Internal(m),
        other => return Err(invalid(format!("no error has code {other}"))),
    };
    Err(to_pyerr(e))
}
