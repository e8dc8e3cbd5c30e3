//! JSON documents (`src/types/json.rs`), as text, with JSONPath.

use std::ffi::c_char;

use crate::buffers::str_list;
use crate::castable::try_ref_from_ptr;
use crate::error::Fail;
use crate::store::put_opt_string;
use crate::{
    block, cfs_error, cfs_result, cfs_store, cfs_str_list, cfs_string, opt_text, text, Out,
};

/// Set the JSON document at `key` (`path` "$") or the value at a JSONPath
/// inside the existing document; `json` is JSON text. Text that is not JSON
/// is `CFS_RESULT_INVALID_ARGUMENT`.
#[no_mangle]
pub extern "C" fn cfs_store_json_set(
    store: *mut cfs_store,
    key: *const c_char,
    key_len: usize,
    path: *const c_char,
    path_len: usize,
    json: *const c_char,
    json_len: usize,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let key = text(key, key_len, "key")?;
        let path = text(path, path_len, "path")?;
        let json = text(json, json_len, "json")?;
        let value: serde_json::Value = serde_json::from_str(json)
            .map_err(|e| Fail::invalid(format!("json is not valid JSON: {e}")))?;
        block(&s.store, s.store.json_set(key, path, value))
    })
}

/// The JSON document at `key` as text (`path` NULL), or the array of the
/// values a JSONPath selects: `*out_found` false when the key is absent;
/// otherwise free `*out_json` with `cfs_string_free`.
#[no_mangle]
pub extern "C" fn cfs_store_json_get(
    store: *const cfs_store,
    key: *const c_char,
    key_len: usize,
    path: *const c_char,
    path_len: usize,
    out_json: *mut cfs_string,
    out_found: *mut bool,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let key = text(key, key_len, "key")?;
        let path = opt_text(path, path_len, "path")?;
        let out_json = Out::new(out_json, "out_json")?;
        let out_found = Out::new(out_found, "out_found")?;
        let v = block(&s.store, s.store.json_get(key, path))?;
        let t = v.map(|v| v.to_string());
        put_opt_string(out_json, out_found, t.as_deref());
        Ok(())
    })
}

/// The values a JSONPath selects in the document at `key`, each as JSON
/// text, into a new list (free with `cfs_str_list_free`); empty for an
/// absent key.
#[no_mangle]
pub extern "C" fn cfs_store_json_filter(
    store: *const cfs_store,
    key: *const c_char,
    key_len: usize,
    path: *const c_char,
    path_len: usize,
    out_values: *mut *mut cfs_str_list,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let key = text(key, key_len, "key")?;
        let path = text(path, path_len, "path")?;
        let out = Out::new(out_values, "out_values")?;
        let v = block(&s.store, s.store.json_filter(key, path))?;
        out.write(str_list(
            v.into_iter().map(|j| Some(j.to_string())).collect(),
        ));
        Ok(())
    })
}
