//! Hashes (`src/types/hash.rs`): fields and values of one key.

use std::ffi::c_char;

use crate::buffers::pair_list;
use crate::castable::try_ref_from_ptr;
use crate::store::put_opt_string;
use crate::{
    array, block, cfs_error, cfs_result, cfs_store, cfs_str, cfs_str_pair, cfs_str_pair_list,
    cfs_string, text, text_pairs, texts, OptOut, Out,
};

/// Set one field of the hash at `key`; `*out_added` (optional) is 1 when
/// the field is new, else 0.
#[no_mangle]
pub extern "C" fn cfs_store_hset(
    store: *mut cfs_store,
    key: *const c_char,
    key_len: usize,
    field: *const c_char,
    field_len: usize,
    value: *const c_char,
    value_len: usize,
    out_added: *mut i64,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let key = text(key, key_len, "key")?;
        let field = text(field, field_len, "field")?;
        let value = text(value, value_len, "value")?;
        let n = block(&s.store, s.store.hset(key, field, value))?;
        OptOut::new(out_added).write(n);
        Ok(())
    })
}

/// Set `count` (field, value) pairs of the hash at `key` atomically;
/// `*out_added` (optional) is how many fields were new.
#[no_mangle]
pub extern "C" fn cfs_store_hset_many(
    store: *mut cfs_store,
    key: *const c_char,
    key_len: usize,
    fields: *const cfs_str_pair,
    count: usize,
    out_added: *mut i64,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let key = text(key, key_len, "key")?;
        let fields = text_pairs(array(fields, count, "fields")?, "fields")?;
        let n = block(&s.store, s.store.hset_many(key, fields))?;
        OptOut::new(out_added).write(n);
        Ok(())
    })
}

/// The value of a field: `*out_found` false when the key or field is
/// absent; otherwise free `*out_value` with `cfs_string_free`.
#[no_mangle]
pub extern "C" fn cfs_store_hget(
    store: *const cfs_store,
    key: *const c_char,
    key_len: usize,
    field: *const c_char,
    field_len: usize,
    out_value: *mut cfs_string,
    out_found: *mut bool,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let key = text(key, key_len, "key")?;
        let field = text(field, field_len, "field")?;
        let out_value = Out::new(out_value, "out_value")?;
        let out_found = Out::new(out_found, "out_found")?;
        let v = block(&s.store, s.store.hget(key, field))?;
        put_opt_string(out_value, out_found, v.as_deref());
        Ok(())
    })
}

/// Every (field, value) of the hash, in field order, into a new list (free
/// with `cfs_str_pair_list_free`); empty for an absent key.
#[no_mangle]
pub extern "C" fn cfs_store_hgetall(
    store: *const cfs_store,
    key: *const c_char,
    key_len: usize,
    out_fields: *mut *mut cfs_str_pair_list,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let key = text(key, key_len, "key")?;
        let out = Out::new(out_fields, "out_fields")?;
        out.write(pair_list(block(&s.store, s.store.hgetall(key))?));
        Ok(())
    })
}

/// Remove `count` fields; `*out_removed` (optional) is how many existed.
#[no_mangle]
pub extern "C" fn cfs_store_hdel(
    store: *mut cfs_store,
    key: *const c_char,
    key_len: usize,
    fields: *const cfs_str,
    count: usize,
    out_removed: *mut i64,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let key = text(key, key_len, "key")?;
        let fields = texts(array(fields, count, "fields")?, "fields")?;
        let n = block(&s.store, s.store.hdel(key, fields))?;
        OptOut::new(out_removed).write(n);
        Ok(())
    })
}

/// Number of fields of the hash (0 for an absent key).
#[no_mangle]
pub extern "C" fn cfs_store_hlen(
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
        out.write(block(&s.store, s.store.hlen(key))?);
        Ok(())
    })
}
