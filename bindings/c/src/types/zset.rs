//! Sorted sets (`src/types/zset.rs`): members with finite scores.

use std::ffi::c_char;

use crate::buffers::Owned;
use crate::castable::{to_boxed_mut_ptr, try_ref_from_ptr};
use crate::error::Fail;
use crate::{
    array, block, cfs_error, cfs_result, cfs_scored, cfs_scored_list, cfs_store, cfs_str, text,
    texts, OptOut, Out,
};

fn scored_list(v: Vec<(String, f64)>) -> *mut cfs_scored_list {
    to_boxed_mut_ptr(cfs_scored_list {
        items: v
            .into_iter()
            .map(|(m, s)| (Owned::new(m.as_bytes()), s))
            .collect(),
    })
}

/// Add or re-score `count` members of the sorted set at `key` (scores must
/// be finite); `*out_added` (optional) is how many were new.
#[no_mangle]
pub extern "C" fn cfs_store_zadd(
    store: *mut cfs_store,
    key: *const c_char,
    key_len: usize,
    items: *const cfs_scored,
    count: usize,
    out_added: *mut i64,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let key = text(key, key_len, "key")?;
        let items = array(items, count, "items")?
            .iter()
            .enumerate()
            .map(|(i, it)| {
                Ok((
                    text(it.member.data, it.member.len, &format!("items[{i}].member"))?,
                    it.score,
                ))
            })
            .collect::<Result<Vec<_>, Fail>>()?;
        let n = block(&s.store, s.store.zadd(key, items))?;
        OptOut::new(out_added).write(n);
        Ok(())
    })
}

/// Remove `count` members; `*out_removed` (optional) is how many were there.
#[no_mangle]
pub extern "C" fn cfs_store_zrem(
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
        let n = block(&s.store, s.store.zrem(key, members))?;
        OptOut::new(out_removed).write(n);
        Ok(())
    })
}

/// Members of ranks `start..=stop` by ascending score (negative counts from
/// the end) into a new list (free with `cfs_scored_list_free`).
#[no_mangle]
pub extern "C" fn cfs_store_zrange(
    store: *const cfs_store,
    key: *const c_char,
    key_len: usize,
    start: i64,
    stop: i64,
    out_items: *mut *mut cfs_scored_list,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let key = text(key, key_len, "key")?;
        let out = Out::new(out_items, "out_items")?;
        out.write(scored_list(block(
            &s.store,
            s.store.zrange(key, start, stop),
        )?));
        Ok(())
    })
}

/// Members with `min <= score <= max`, by ascending score, into a new list
/// (free with `cfs_scored_list_free`).
#[no_mangle]
pub extern "C" fn cfs_store_zrangebyscore(
    store: *const cfs_store,
    key: *const c_char,
    key_len: usize,
    min: f64,
    max: f64,
    out_items: *mut *mut cfs_scored_list,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let key = text(key, key_len, "key")?;
        let out = Out::new(out_items, "out_items")?;
        out.write(scored_list(block(
            &s.store,
            s.store.zrangebyscore(key, min, max),
        )?));
        Ok(())
    })
}

/// The score of a member: `*out_found` false when absent.
#[no_mangle]
pub extern "C" fn cfs_store_zscore(
    store: *const cfs_store,
    key: *const c_char,
    key_len: usize,
    member: *const c_char,
    member_len: usize,
    out_score: *mut f64,
    out_found: *mut bool,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let key = text(key, key_len, "key")?;
        let member = text(member, member_len, "member")?;
        let out_score = Out::new(out_score, "out_score")?;
        let out_found = Out::new(out_found, "out_found")?;
        let v = block(&s.store, s.store.zscore(key, member))?;
        out_score.write(v.unwrap_or(0.0));
        out_found.write(v.is_some());
        Ok(())
    })
}

/// Number of members (0 for an absent key).
#[no_mangle]
pub extern "C" fn cfs_store_zcard(
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
        out.write(block(&s.store, s.store.zcard(key))?);
        Ok(())
    })
}
