//! Key-level calls for every type (`src/types/ttl.rs`): expiry and
//! the type of a key.

use std::ffi::c_char;

use super::cfs_value_kind;
use crate::castable::try_ref_from_ptr;
use crate::{block, cfs_error, cfs_result, cfs_store, text, OptOut, Out};

/// Expire `key` (of any type) after `seconds`; `*out_existed` (optional)
/// tells whether the key exists.
#[no_mangle]
pub extern "C" fn cfs_store_expire(
    store: *mut cfs_store,
    key: *const c_char,
    key_len: usize,
    seconds: u64,
    out_existed: *mut bool,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let key = text(key, key_len, "key")?;
        let r = block(&s.store, s.store.expire(key, seconds))?;
        OptOut::new(out_existed).write(r);
        Ok(())
    })
}

/// Seconds `key` has to live (rounded): -2 when absent, -1 without expiry.
#[no_mangle]
pub extern "C" fn cfs_store_ttl(
    store: *const cfs_store,
    key: *const c_char,
    key_len: usize,
    out_seconds: *mut i64,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let key = text(key, key_len, "key")?;
        let out = Out::new(out_seconds, "out_seconds")?;
        out.write(block(&s.store, s.store.ttl(key))?);
        Ok(())
    })
}

/// Milliseconds `key` has to live: -2 when absent, -1 without expiry.
#[no_mangle]
pub extern "C" fn cfs_store_pttl(
    store: *const cfs_store,
    key: *const c_char,
    key_len: usize,
    out_ms: *mut i64,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let key = text(key, key_len, "key")?;
        let out = Out::new(out_ms, "out_ms")?;
        out.write(block(&s.store, s.store.pttl(key))?);
        Ok(())
    })
}

/// Remove the expiry of `key`; `*out_changed` (optional) tells whether it
/// had one.
#[no_mangle]
pub extern "C" fn cfs_store_persist(
    store: *mut cfs_store,
    key: *const c_char,
    key_len: usize,
    out_changed: *mut bool,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let key = text(key, key_len, "key")?;
        let r = block(&s.store, s.store.persist(key))?;
        OptOut::new(out_changed).write(r);
        Ok(())
    })
}

/// The type of the value at `key`: `*out_found` false when absent.
#[no_mangle]
pub extern "C" fn cfs_store_key_type(
    store: *const cfs_store,
    key: *const c_char,
    key_len: usize,
    out_kind: *mut cfs_value_kind,
    out_found: *mut bool,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let key = text(key, key_len, "key")?;
        let out_kind = Out::new(out_kind, "out_kind")?;
        let out_found = Out::new(out_found, "out_found")?;
        match block(&s.store, s.store.key_type(key))? {
            Some(k) => {
                out_kind.write(k.into());
                out_found.write(true);
            }
            None => {
                out_kind.write(cfs_value_kind::String);
                out_found.write(false);
            }
        }
        Ok(())
    })
}
