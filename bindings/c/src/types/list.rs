//! Lists (`src/types/list.rs`): push at either end, ranges, length.

use std::ffi::c_char;

use crate::buffers::str_list;
use crate::castable::try_ref_from_ptr;
use crate::error::Fail;
use crate::{
    array, block, cfs_error, cfs_result, cfs_store, cfs_str, cfs_str_list, text, texts, OptOut, Out,
};

/// The body of the calls below (run behind their boundary).
fn push(
    store: *mut cfs_store,
    key: *const c_char,
    key_len: usize,
    values: *const cfs_str,
    count: usize,
    out_len: *mut i64,
    left: bool,
) -> Result<(), Fail> {
    let s = try_ref_from_ptr(store)?;
    let key = text(key, key_len, "key")?;
    let values = texts(array(values, count, "values")?, "values")?;
    let n = if left {
        block(&s.store, s.store.lpush(key, values))?
    } else {
        block(&s.store, s.store.rpush(key, values))?
    };
    OptOut::new(out_len).write(n);
    Ok(())
}

/// Append `count` values to the list at `key`; `*out_len` (optional) is the
/// new length.
#[no_mangle]
pub extern "C" fn cfs_store_rpush(
    store: *mut cfs_store,
    key: *const c_char,
    key_len: usize,
    values: *const cfs_str,
    count: usize,
    out_len: *mut i64,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        push(store, key, key_len, values, count, out_len, false)
    })
}

/// Prepend `count` values, one at a time (so the last ends up first);
/// `*out_len` (optional) is the new length.
#[no_mangle]
pub extern "C" fn cfs_store_lpush(
    store: *mut cfs_store,
    key: *const c_char,
    key_len: usize,
    values: *const cfs_str,
    count: usize,
    out_len: *mut i64,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        push(store, key, key_len, values, count, out_len, true)
    })
}

/// Items `start..=stop` of the list (negative counts from the end, as in
/// Redis) into a new list (free with `cfs_str_list_free`).
#[no_mangle]
pub extern "C" fn cfs_store_lrange(
    store: *const cfs_store,
    key: *const c_char,
    key_len: usize,
    start: i64,
    stop: i64,
    out_items: *mut *mut cfs_str_list,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let key = text(key, key_len, "key")?;
        let out = Out::new(out_items, "out_items")?;
        let v = block(&s.store, s.store.lrange(key, start, stop))?;
        out.write(str_list(v.into_iter().map(Some).collect()));
        Ok(())
    })
}

/// Length of the list (0 for an absent key).
#[no_mangle]
pub extern "C" fn cfs_store_llen(
    store: *const cfs_store,
    key: *const c_char,
    key_len: usize,
    out_len: *mut u64,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let key = text(key, key_len, "key")?;
        let out = Out::new(out_len, "out_len")?;
        out.write(block(&s.store, s.store.llen(key))?);
        Ok(())
    })
}
