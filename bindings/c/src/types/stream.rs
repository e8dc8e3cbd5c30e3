//! Streams (`src/types/stream.rs`): entries of (field, value)
//! pairs under increasing ids.

use std::ffi::c_char;

use crate::buffers::Owned;
use crate::castable::{to_boxed_mut_ptr, try_ref_from_ptr};
use crate::error::Fail;
use crate::{
    array, block, cfs_error, cfs_result, cfs_store, cfs_str_pair, cfs_stream_entry_list,
    cfs_string, text, text_pairs, Out,
};

fn stream_entries(v: Vec<cyberfly_store::StreamEntry>) -> *mut cfs_stream_entry_list {
    to_boxed_mut_ptr(cfs_stream_entry_list {
        items: v
            .into_iter()
            .map(|(id, fields)| {
                (
                    Owned::new(id.as_bytes()),
                    fields
                        .into_iter()
                        .map(|(f, v)| (Owned::new(f.as_bytes()), Owned::new(v.as_bytes())))
                        .collect(),
                )
            })
            .collect(),
    })
}

/// Append an entry of `count` (field, value) pairs to the stream at `key`
/// with the id `id` (`"*"` for an automatic id, `"{ms}-*"`, or
/// `"{ms}-{seq}"` greater than the last); `*out_id` receives the id used
/// (free with `cfs_string_free`).
#[no_mangle]
pub extern "C" fn cfs_store_xadd(
    store: *mut cfs_store,
    key: *const c_char,
    key_len: usize,
    id: *const c_char,
    id_len: usize,
    fields: *const cfs_str_pair,
    count: usize,
    out_id: *mut cfs_string,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let key = text(key, key_len, "key")?;
        let id = text(id, id_len, "id")?;
        let fields = text_pairs(array(fields, count, "fields")?, "fields")?;
        let out = Out::new(out_id, "out_id")?;
        let id = block(&s.store, s.store.xadd(key, id, fields))?;
        out.write(cfs_string::from_str(&id));
        Ok(())
    })
}

/// The body of the calls below (run behind their boundary).
fn xrange(
    store: *const cfs_store,
    key: *const c_char,
    key_len: usize,
    first: (*const c_char, usize),
    second: (*const c_char, usize),
    count: usize,
    out_entries: *mut *mut cfs_stream_entry_list,
    reverse: bool,
) -> Result<(), Fail> {
    let s = try_ref_from_ptr(store)?;
    let key = text(key, key_len, "key")?;
    let (a, b) = if reverse {
        ("end", "start")
    } else {
        ("start", "end")
    };
    let first = text(first.0, first.1, a)?;
    let second = text(second.0, second.1, b)?;
    let out = Out::new(out_entries, "out_entries")?;
    let count = (count > 0).then_some(count);
    let v = if reverse {
        block(&s.store, s.store.xrevrange(key, first, second, count))?
    } else {
        block(&s.store, s.store.xrange(key, first, second, count))?
    };
    out.write(stream_entries(v));
    Ok(())
}

/// Entries with ids in `[start, end]` (`"-"` and `"+"` for the extremes), in
/// id order, at most `count` (0 for no limit), into a new list (free with
/// `cfs_stream_entry_list_free`).
#[no_mangle]
pub extern "C" fn cfs_store_xrange(
    store: *const cfs_store,
    key: *const c_char,
    key_len: usize,
    start: *const c_char,
    start_len: usize,
    end: *const c_char,
    end_len: usize,
    count: usize,
    out_entries: *mut *mut cfs_stream_entry_list,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        xrange(
            store,
            key,
            key_len,
            (start, start_len),
            (end, end_len),
            count,
            out_entries,
            false,
        )
    })
}

/// `cfs_store_xrange` newest first: from `end` down to `start`.
#[no_mangle]
pub extern "C" fn cfs_store_xrevrange(
    store: *const cfs_store,
    key: *const c_char,
    key_len: usize,
    end: *const c_char,
    end_len: usize,
    start: *const c_char,
    start_len: usize,
    count: usize,
    out_entries: *mut *mut cfs_stream_entry_list,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        xrange(
            store,
            key,
            key_len,
            (end, end_len),
            (start, start_len),
            count,
            out_entries,
            true,
        )
    })
}

/// Number of entries of the stream (0 for an absent key).
#[no_mangle]
pub extern "C" fn cfs_store_xlen(
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
        out.write(block(&s.store, s.store.xlen(key))?);
        Ok(())
    })
}
