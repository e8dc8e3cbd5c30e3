//! The C ABI (crate `cyberfly_store_capi`; the library is bindings/c/lib),
//! modelled on rustls-ffi. The header
//! `include/cyberfly_store.h` is generated from this module by cbindgen
//! (`cbindgen.toml`; `tests/c_header.rs` fails when it is stale).
//!
//! Conventions, for every function:
//!
//! - A fallible call returns a `cfs_result` (`CFS_RESULT_OK` is 0; the other
//!   values are the core's stable `ErrorCode` numbers plus a few that only the
//!   C boundary can produce: `CFS_RESULT_NULL_POINTER`, `CFS_RESULT_PANIC`,
//!   `CFS_RESULT_INVALID_UTF8`, `CFS_RESULT_BUFFER_TOO_SMALL`).
//! - Outputs go through out-parameters, written only on success. An
//!   out-parameter documented as *optional* may be NULL.
//! - The last parameter of a fallible call is `cfs_error **err`; it may be
//!   NULL. On failure, when it is not NULL, `*err` receives a new error
//!   object (code + message) that the caller frees with `cfs_error_free`. On
//!   success it is left untouched. There is no thread-local last error.
//! - Opaque handles are created by `_new`/`_open` and released by
//!   `_free`/`_close`. Calls that do not change the store take a
//!   `const cfs_store *`; all store calls are safe from many threads at once
//!   on one handle and block the calling thread until done.
//! - A buffer argument is always followed by its `size_t` length. Text must
//!   be UTF-8 (not NUL-terminated; the length says where it ends).
//! - Buffers and lists the library returns are freed with the library's own
//!   `_free` function. Returned text is also NUL-terminated for convenience.
//! - A NULL pointer where one is required is `CFS_RESULT_NULL_POINTER`,
//!   never a crash; a Rust panic is caught at the boundary and becomes
//!   `CFS_RESULT_PANIC`.
//!
//! How the code is laid out (as rustls-ffi does it):
//!
//! - One file per C type or family: `store.rs` (`cfs_store`, string values,
//!   the key scan `cfs_scan`, blobs, stats), `config.rs`, `error.rs`,
//!   `keys.rs`, `ops.rs` (signed operations, the log scan `cfs_op_scan`),
//!   `sync.rs`, `buffers.rs` (returned buffers and lists), and `types/`, one
//!   file per container type as in the core's `src/types/`.
//! - Result codes are declared once, in `error.rs` (`cfs_result`, mapped to
//!   and from the core's error-code table).
//! - The panic boundary (`boundary.rs`): the body of every `extern "C"`
//!   function is one `ffi_boundary!` (`tests/boundary.rs` checks it). Calls
//!   returning a `cfs_result` turn a panic into `CFS_RESULT_PANIC` (with an
//!   error object when `err` is not NULL); the others (frees, list
//!   accessors, `cfs_version`, the error accessors) swallow it and return a
//!   neutral value (nothing, 0, an absent item, an empty string). No panic
//!   unwinds into C and none aborts.
//! - Handles (`castable.rs`): every opaque type implements `Castable` (its
//!   ownership: boxed by the library, or owned by C and only borrowed); all
//!   pointer-to-Rust conversions go through `try_ref_from_ptr`,
//!   `try_mut_from_ptr`, `to_boxed_mut_ptr`, `try_box_from_ptr` and
//!   `free_box`, which turn a NULL into `CFS_RESULT_NULL_POINTER`.
//! - Scans (`page.rs`): every scan handle is one page adapter (`Pages`)
//!   over a core pager, so paging, buffering and the borrowed current item
//!   are written once.
//!
//! These functions are `extern "C"` for C callers; Rust code should use the
//! safe [`cyberfly_store::Store`] API instead (hence the clippy allowance below: the
//! pointer contract is the C caller's).

#![allow(non_camel_case_types)]
#![allow(clippy::not_unsafe_ptr_arg_deref)]
#![allow(clippy::too_many_arguments)]

#[macro_use]
mod boundary;
pub mod buffers;
mod castable;
pub mod config;
pub mod error;
pub mod keys;
pub mod ops;
mod page;
pub mod store;
pub mod sync;
pub mod types;

use std::ffi::c_char;
use std::future::Future;

use cyberfly_store::Store;

pub use buffers::*;
pub use config::*;
pub use error::*;
pub use keys::*;
pub use ops::*;
pub use store::*;
pub use sync::*;
pub use types::*;

/// Major version of the library (also `CYBERFLY_STORE_VERSION` in the header).
pub const CYBERFLY_STORE_VERSION_MAJOR: u32 = 0;
/// Minor version of the library.
pub const CYBERFLY_STORE_VERSION_MINOR: u32 = 1;
/// Patch version of the library.
pub const CYBERFLY_STORE_VERSION_PATCH: u32 = 0;

static VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

/// The library's version as a static NUL-terminated string ("0.1.0"); compare
/// with the header's `CYBERFLY_STORE_VERSION` to detect a mismatch.
#[no_mangle]
pub extern "C" fn cfs_version() -> *const c_char {
    ffi_boundary!(value, { VERSION.as_ptr().cast() })
}

/// A borrowed view of text: `len` bytes at `data`, not necessarily
/// NUL-terminated (views the library hands out are, at `data[len]`). Used for
/// input arrays and for items of returned lists; `data` is NULL for an absent
/// item.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct cfs_str {
    pub data: *const c_char,
    pub len: usize,
}

impl cfs_str {
    pub(crate) const NONE: cfs_str = cfs_str {
        data: std::ptr::null(),
        len: 0,
    };
}

/// A key and a value (or a field and a value): input of `set_many`,
/// `hset_many`, `xadd`; items of `hgetall` and scan pages.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct cfs_str_pair {
    pub key: cfs_str,
    pub value: cfs_str,
}

impl cfs_str_pair {
    pub(crate) const NONE: cfs_str_pair = cfs_str_pair {
        key: cfs_str::NONE,
        value: cfs_str::NONE,
    };
}

// ------------------------------------------------------------ argument helpers

/// A required text argument: NULL is an error, the bytes must be UTF-8.
pub(crate) fn text<'a>(p: *const c_char, len: usize, what: &str) -> Result<&'a str, Fail> {
    let b = bytes(p.cast(), len, what)?;
    std::str::from_utf8(b).map_err(|e| {
        Fail::new(
            cfs_result::InvalidUtf8,
            format!("{what} is not valid UTF-8: {e}"),
        )
    })
}

/// An optional text argument: NULL means absent.
pub(crate) fn opt_text<'a>(
    p: *const c_char,
    len: usize,
    what: &str,
) -> Result<Option<&'a str>, Fail> {
    if p.is_null() {
        Ok(None)
    } else {
        text(p, len, what).map(Some)
    }
}

/// A required byte buffer.
pub(crate) fn bytes<'a>(p: *const u8, len: usize, what: &str) -> Result<&'a [u8], Fail> {
    if p.is_null() {
        return Err(Fail::null(what));
    }
    if len > isize::MAX as usize {
        return Err(Fail::new(
            cfs_result::InvalidArgument,
            format!("{what}: length {len} is too large"),
        ));
    }
    // SAFETY: the caller promises `len` readable bytes at `p` (C contract).
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// An array argument of `n` items; NULL is accepted when `n` is 0.
pub(crate) fn array<'a, T>(p: *const T, n: usize, what: &str) -> Result<&'a [T], Fail> {
    if n == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Fail::null(what));
    }
    if n > isize::MAX as usize / size_of::<T>().max(1) {
        return Err(Fail::new(
            cfs_result::InvalidArgument,
            format!("{what}: count {n} is too large"),
        ));
    }
    // SAFETY: the caller promises `n` items at `p` (C contract).
    Ok(unsafe { std::slice::from_raw_parts(p, n) })
}

/// Texts of an array of `cfs_str`.
pub(crate) fn texts<'a>(items: &[cfs_str], what: &str) -> Result<Vec<&'a str>, Fail> {
    items
        .iter()
        .enumerate()
        .map(|(i, s)| text(s.data, s.len, &format!("{what}[{i}]")))
        .collect()
}

/// (key, value) texts of an array of `cfs_str_pair`.
pub(crate) fn text_pairs<'a>(
    items: &[cfs_str_pair],
    what: &str,
) -> Result<Vec<(&'a str, &'a str)>, Fail> {
    items
        .iter()
        .enumerate()
        .map(|(i, p)| {
            Ok((
                text(p.key.data, p.key.len, &format!("{what}[{i}].key"))?,
                text(p.value.data, p.value.len, &format!("{what}[{i}].value"))?,
            ))
        })
        .collect()
}

/// A required out-parameter, checked before any work is done and written
/// only at the end, on success.
pub(crate) struct Out<T>(*mut T);

// (by hand: a derive would ask `T: Copy`; this copies the pointer)
impl<T> Clone for Out<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Out<T> {}

impl<T> Out<T> {
    pub(crate) fn new(p: *mut T, what: &str) -> Result<Self, Fail> {
        if p.is_null() {
            Err(Fail::null(what))
        } else {
            Ok(Out(p))
        }
    }

    pub(crate) fn write(self, v: T) {
        // SAFETY: non-null, and the caller promises it is writable. `write`
        // does not drop whatever (possibly uninitialised) value was there.
        unsafe { self.0.write(v) }
    }
}

/// An optional out-parameter: NULL means the caller does not want it.
pub(crate) struct OptOut<T>(*mut T);

impl<T> OptOut<T> {
    pub(crate) fn new(p: *mut T) -> Self {
        OptOut(p)
    }

    pub(crate) fn write(self, v: T) {
        if !self.0.is_null() {
            // SAFETY: as for `Out::write`.
            unsafe { self.0.write(v) }
        }
    }
}

/// Run a store future to completion on the calling thread. Refuses (instead
/// of panicking) when the caller is itself a thread of an async runtime:
/// blocking there could stall the library's own workers.
pub(crate) fn block<T>(
    store: &Store,
    fut: impl Future<Output = cyberfly_store::Result<T>>,
) -> Result<T, Fail> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(Fail::new(
            cfs_result::InvalidArgument,
            "a blocking cyberfly_store call was made from a thread that runs an async runtime",
        ));
    }
    store.block_on(fut).map_err(Fail::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_constants_match_the_crate() {
        let v = format!(
            "{CYBERFLY_STORE_VERSION_MAJOR}.{CYBERFLY_STORE_VERSION_MINOR}.{CYBERFLY_STORE_VERSION_PATCH}"
        );
        assert_eq!(v, env!("CARGO_PKG_VERSION"));
        // SAFETY: the pointer was just returned by the library under test and is valid.
        let s = unsafe { std::ffi::CStr::from_ptr(cfs_version()) };
        assert_eq!(s.to_str().unwrap(), v);
    }
}
