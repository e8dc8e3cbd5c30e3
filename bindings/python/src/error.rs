//! Every mapping from the core's [`Error`] to a Python exception lives here.
//!
//! One class per [`ErrorCode`], all under `StoreError`, each carrying the
//! core's numeric code as the class attribute `code` (so `except StoreError
//! as e: e.code` works for every failure). The classes are created once per
//! process; a `PyErr` for them is built lazily, so converting an error never
//! needs the interpreter (the conversion runs on tokio threads too).

use pyo3::exceptions::PyException;
use pyo3::prelude::*;

use cyberfly_store::{Error, ErrorCode};

pyo3::create_exception!(
    cyberfly_store,
    StoreError,
    PyException,
    "Root of every error the store raises; `.code` is the core's numeric error code."
);
/// One class per row of the core's error-code table (`for_each_error_code!`;
/// the `Ok` row has none), the table's doc comment as its docstring, and
/// `to_pyerr`, `register` and `_raise_error` generated from the same rows.
macro_rules! python_exceptions {
    ($(#[doc = $_okdoc:literal])+ Ok = 0, $_okd:literal, $_okpy:ident, |$_okm:ident| $_oke:expr;
     $( $(#[doc = $doc:literal])+ $name:ident = $num:literal, $describe:literal, $py:ident,
        |$m:ident| $example:expr; )*) => {
        $( pyo3::create_exception!(
            cyberfly_store,
            $py,
            StoreError,
            concat!($($doc),+, " code ", stringify!($num), ".")
        ); )*

        /// Build the Python exception for a core error. Lazy: needs no interpreter.
        pub fn to_pyerr(e: Error) -> PyErr {
            let msg = e.to_string();
            match e.code() {
                $( ErrorCode::$name => $py::new_err(msg), )*
                ErrorCode::Ok => InternalError::new_err(msg),
            }
        }

        /// Add the exception classes to the module, each with its `code`.
        pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
            let py = m.py();
            let t = py.get_type::<StoreError>();
            t.setattr("code", ErrorCode::Internal as u32)?;
            m.add("StoreError", t)?;
            $(
                let t = py.get_type::<$py>();
                t.setattr("code", ErrorCode::$name as u32)?;
                m.add(stringify!($py), t)?;
            )*
            m.add("NoEventLoop", py.get_type::<NoEventLoop>())?;
            m.add_function(pyo3::wrap_pyfunction!(_raise_error, m)?)?;
            Ok(())
        }
    };
}

cyberfly_store::for_each_error_code!(python_exceptions);

pyo3::create_exception!(
    cyberfly_store,
    NoEventLoop,
    InvalidArgument,
    "An async method was called with no running asyncio event loop: await it inside a coroutine (asyncio.run(main())), or use cyberfly_store.open_blocking() for synchronous code. Not a core error: its `code` is InvalidArgument's."
);

/// `NoEventLoop`, saying what to do instead.
pub fn no_event_loop() -> PyErr {
    NoEventLoop::new_err(
        "this call needs a running asyncio event loop and none is running in this thread: \
         call it inside a coroutine (`async def main(): ... await store.get(k)`, then \
         `asyncio.run(main())`), or use `cyberfly_store.open_blocking(path)` (a BlockingStore \
         with the same methods, returning values) from synchronous code",
    )
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

/// Raise the exception the binding maps the core error of `code` to (for
/// the tests of the mapping; codes the store cannot be made to produce on
/// demand, like `Corrupt`, are checked this way).
#[pyfunction]
#[pyo3(signature = (code, message="test"))]
pub fn _raise_error(code: u32, message: &str) -> PyResult<()> {
    let e = match ErrorCode::from_u32(code) {
        Some(c) if c != ErrorCode::Ok => c.example(message),
        _ => return Err(invalid(format!("no error has code {code}"))),
    };
    Err(to_pyerr(e))
}
