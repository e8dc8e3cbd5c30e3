//! Sets (`src/types/set.rs`): members in byte order.

use std::ffi::c_char;

use crate::buffers::str_list;
use crate::castable::try_ref_from_ptr;
use crate::{
    array, block, cfs_error, cfs_result, cfs_store, cfs_str, cfs_str_list, text, texts, OptOut, Out,
};

/// Add `count` members to the set at `key`; `*out_added` (optional) is how
/// many were new.
#[no_mangle]
pub extern "C" fn cfs_store_sadd(
    store: *mut cfs_store,
    key: *const c_char,
    key_len: usize,
    members: *const cfs_str,
    count: usize,
    out_added: *mut i64,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let key = text(key, key_len, "key")?;
        let members = texts(array(members, count, "members")?, "members")?;
        let n = block(&s.store, s.store.sadd(key, members))?;
        OptOut::new(out_added).write(n);
        Ok(())
    })
}

/// Remove `count` members; `*out_removed` (optional) is how many were there.
#[no_mangle]
pub extern "C" fn cfs_store_srem(
    store: *mut cfs_store,
    key: *const c_char,
    key_len: usize,
    members: *const cfs_str,
    count: usize,
    out_removed: *mut i64,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let key = text(key, key_len, "key")?;
        let members = texts(array(members, count, "members")?, "members")?;
        let n = block(&s.store, s.store.srem(key, members))?;
        OptOut::new(out_removed).write(n);
        Ok(())
    })
}

/// Every member, in byte order, into a new list (free with
/// `cfs_str_list_free`).
#[no_mangle]
pub extern "C" fn cfs_store_smembers(
    store: *const cfs_store,
    key: *const c_char,
    key_len: usize,
    out_members: *mut *mut cfs_str_list,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let key = text(key, key_len, "key")?;
        let out = Out::new(out_members, "out_members")?;
        let v = block(&s.store, s.store.smembers(key))?;
        out.write(str_list(v.into_iter().map(Some).collect()));
        Ok(())
    })
}

/// Whether `member` is in the set.
#[no_mangle]
pub extern "C" fn cfs_store_sismember(
    store: *const cfs_store,
    key: *const c_char,
    key_len: usize,
    member: *const c_char,
    member_len: usize,
    out_is_member: *mut bool,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let key = text(key, key_len, "key")?;
        let member = text(member, member_len, "member")?;
        let out = Out::new(out_is_member, "out_is_member")?;
        out.write(block(&s.store, s.store.sismember(key, member))?);
        Ok(())
    })
}

/// Number of members (0 for an absent key).
#[no_mangle]
pub extern "C" fn cfs_store_scard(
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
        out.write(block(&s.store, s.store.scard(key))?);
        Ok(())
    })
}
