//! Time series (`src/types/timeseries.rs`): (timestamp, value)
//! points.

use std::ffi::c_char;

use crate::castable::{to_boxed_mut_ptr, try_ref_from_ptr};
use crate::{
    array, block, cfs_error, cfs_result, cfs_store, cfs_ts_point, cfs_ts_point_list, text, OptOut,
    Out,
};

/// Add (or replace) the point at `timestamp_ms` of the time series at
/// `key`; `value` must be finite.
#[no_mangle]
pub extern "C" fn cfs_store_ts_add(
    store: *mut cfs_store,
    key: *const c_char,
    key_len: usize,
    timestamp_ms: i64,
    value: f64,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let key = text(key, key_len, "key")?;
        block(&s.store, s.store.ts_add(key, timestamp_ms, value)).map(drop)
    })
}

/// Add `count` points atomically; `*out_added` (optional) is how many were
/// new.
#[no_mangle]
pub extern "C" fn cfs_store_ts_add_many(
    store: *mut cfs_store,
    key: *const c_char,
    key_len: usize,
    points: *const cfs_ts_point,
    count: usize,
    out_added: *mut i64,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let key = text(key, key_len, "key")?;
        let points: Vec<(i64, f64)> = array(points, count, "points")?
            .iter()
            .map(|p| (p.timestamp_ms, p.value))
            .collect();
        let n = block(&s.store, s.store.ts_add_many(key, points))?;
        OptOut::new(out_added).write(n);
        Ok(())
    })
}

/// Points with `from_ms <= timestamp <= to_ms`, in time order, into a new
/// list (free with `cfs_ts_point_list_free`).
#[no_mangle]
pub extern "C" fn cfs_store_ts_range(
    store: *const cfs_store,
    key: *const c_char,
    key_len: usize,
    from_ms: i64,
    to_ms: i64,
    out_points: *mut *mut cfs_ts_point_list,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let key = text(key, key_len, "key")?;
        let out = Out::new(out_points, "out_points")?;
        let v = block(&s.store, s.store.ts_range(key, from_ms, to_ms))?;
        out.write(to_boxed_mut_ptr(cfs_ts_point_list {
            items: v
                .into_iter()
                .map(|(t, v)| cfs_ts_point {
                    timestamp_ms: t,
                    value: v,
                })
                .collect(),
        }));
        Ok(())
    })
}

/// The latest point: `*out_found` false for an empty or absent series.
#[no_mangle]
pub extern "C" fn cfs_store_ts_get(
    store: *const cfs_store,
    key: *const c_char,
    key_len: usize,
    out_point: *mut cfs_ts_point,
    out_found: *mut bool,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let key = text(key, key_len, "key")?;
        let out_point = Out::new(out_point, "out_point")?;
        let out_found = Out::new(out_found, "out_found")?;
        let v = block(&s.store, s.store.ts_get(key))?;
        out_point.write(v.map_or_else(cfs_ts_point::default, |(t, v)| cfs_ts_point {
            timestamp_ms: t,
            value: v,
        }));
        out_found.write(v.is_some());
        Ok(())
    })
}

/// Number of points (0 for an absent key).
#[no_mangle]
pub extern "C" fn cfs_store_ts_len(
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
        out.write(block(&s.store, s.store.ts_len(key))?);
        Ok(())
    })
}
