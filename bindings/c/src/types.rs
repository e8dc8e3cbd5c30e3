//! The typed operations of the container types: hash, list, set, sorted set,
//! JSON (as text), stream, time series, geo. Each is a thin conversion to
//! the core's method of the same name; a key holding another type is
//! `CFS_RESULT_WRONG_TYPE`.

use std::ffi::c_char;

use super::buffers::{boxed, pair_list, str_list, Owned};
use super::error::{guard, Fail};
use super::store::{put_opt_string, store_ref};
use super::{
    array, block, cfs_error, cfs_geo_match_list, cfs_geo_pos, cfs_geo_pos_list, cfs_result,
    cfs_scored, cfs_scored_list, cfs_store, cfs_str, cfs_str_list, cfs_str_pair, cfs_str_pair_list,
    cfs_stream_entry_list, cfs_string, cfs_ts_point, cfs_ts_point_list, opt_text, text, text_pairs,
    texts, OptOut, Out,
};
use cyberfly_store::types::geo::{GeoUnit, RadiusOpts};
use cyberfly_store::value::ValueKind;

/// The type of a stored value (`cfs_store_key_type`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum cfs_value_kind {
    String = 0,
    Hash = 1,
    List = 2,
    Set = 3,
    SortedSet = 4,
    Json = 5,
    Stream = 6,
    TimeSeries = 7,
    Geo = 8,
}

impl From<ValueKind> for cfs_value_kind {
    fn from(k: ValueKind) -> Self {
        match k {
            ValueKind::String => cfs_value_kind::String,
            ValueKind::Hash => cfs_value_kind::Hash,
            ValueKind::List => cfs_value_kind::List,
            ValueKind::Set => cfs_value_kind::Set,
            ValueKind::SortedSet => cfs_value_kind::SortedSet,
            ValueKind::Json => cfs_value_kind::Json,
            ValueKind::Stream => cfs_value_kind::Stream,
            ValueKind::TimeSeries => cfs_value_kind::TimeSeries,
            ValueKind::Geo => cfs_value_kind::Geo,
        }
    }
}

/// Distance units of the geo calls (pass as `uint32_t`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum cfs_geo_unit {
    M = 0,
    Km = 1,
    Mi = 2,
    Ft = 3,
}

fn geo_unit(u: u32) -> Result<GeoUnit, Fail> {
    Ok(match u {
        0 => GeoUnit::M,
        1 => GeoUnit::Km,
        2 => GeoUnit::Mi,
        3 => GeoUnit::Ft,
        v => return Err(Fail::invalid(format!("{v} is not a CFS_GEO_UNIT_* value"))),
    })
}

/// A geo member with its position (input of `cfs_store_geoadd`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct cfs_geo_member {
    pub member: cfs_str,
    pub longitude: f64,
    pub latitude: f64,
}

/// Options of a radius query; NULL means all false / 0.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct cfs_radius_opts {
    /// Include each match's distance (in the query's unit).
    pub with_dist: bool,
    /// Include each match's position.
    pub with_coord: bool,
    /// At most this many matches; 0 for no limit.
    pub count: usize,
    /// 1 nearest first, -1 farthest first, 0 member order.
    pub order: i32,
}

fn radius_opts(p: *const cfs_radius_opts) -> RadiusOpts {
    // SAFETY: a non-NULL pointer points to a readable cfs_radius_opts.
    match unsafe { p.as_ref() } {
        None => RadiusOpts::default(),
        Some(o) => RadiusOpts {
            with_dist: o.with_dist,
            with_coord: o.with_coord,
            count: (o.count > 0).then_some(o.count),
            ascending: match o.order {
                0 => None,
                n => Some(n > 0),
            },
        },
    }
}

fn scored_list(v: Vec<(String, f64)>) -> *mut cfs_scored_list {
    boxed(cfs_scored_list {
        items: v
            .into_iter()
            .map(|(m, s)| (Owned::new(m.as_bytes()), s))
            .collect(),
    })
}

fn geo_matches(v: Vec<cyberfly_store::GeoMatch>) -> *mut cfs_geo_match_list {
    boxed(cfs_geo_match_list {
        items: v
            .into_iter()
            .map(|g| (Owned::new(g.member.as_bytes()), g))
            .collect(),
    })
}

fn stream_entries(v: Vec<cyberfly_store::StreamEntry>) -> *mut cfs_stream_entry_list {
    boxed(cfs_stream_entry_list {
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

// ------------------------------------------------------------------- hash

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
    guard(err, || {
        let s = store_ref(store)?;
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
    guard(err, || {
        let s = store_ref(store)?;
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
    guard(err, || {
        let s = store_ref(store)?;
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
    guard(err, || {
        let s = store_ref(store)?;
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
    guard(err, || {
        let s = store_ref(store)?;
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
    guard(err, || {
        let s = store_ref(store)?;
        let key = text(key, key_len, "key")?;
        let out = Out::new(out_len, "out_len")?;
        out.write(block(&s.store, s.store.hlen(key))?);
        Ok(())
    })
}

// ------------------------------------------------------------------- list

fn push(
    store: *mut cfs_store,
    key: *const c_char,
    key_len: usize,
    values: *const cfs_str,
    count: usize,
    out_len: *mut i64,
    err: *mut *mut cfs_error,
    left: bool,
) -> cfs_result {
    guard(err, || {
        let s = store_ref(store)?;
        let key = text(key, key_len, "key")?;
        let values = texts(array(values, count, "values")?, "values")?;
        let n = if left {
            block(&s.store, s.store.lpush(key, values))?
        } else {
            block(&s.store, s.store.rpush(key, values))?
        };
        OptOut::new(out_len).write(n);
        Ok(())
    })
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
    push(store, key, key_len, values, count, out_len, err, false)
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
    push(store, key, key_len, values, count, out_len, err, true)
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
    guard(err, || {
        let s = store_ref(store)?;
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
    guard(err, || {
        let s = store_ref(store)?;
        let key = text(key, key_len, "key")?;
        let out = Out::new(out_len, "out_len")?;
        out.write(block(&s.store, s.store.llen(key))?);
        Ok(())
    })
}

// -------------------------------------------------------------------- set

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
    guard(err, || {
        let s = store_ref(store)?;
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
    guard(err, || {
        let s = store_ref(store)?;
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
    guard(err, || {
        let s = store_ref(store)?;
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
    guard(err, || {
        let s = store_ref(store)?;
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
    guard(err, || {
        let s = store_ref(store)?;
        let key = text(key, key_len, "key")?;
        let out = Out::new(out_len, "out_len")?;
        out.write(block(&s.store, s.store.scard(key))?);
        Ok(())
    })
}

// ------------------------------------------------------------- sorted set

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
    guard(err, || {
        let s = store_ref(store)?;
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
    guard(err, || {
        let s = store_ref(store)?;
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
    guard(err, || {
        let s = store_ref(store)?;
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
    guard(err, || {
        let s = store_ref(store)?;
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
    guard(err, || {
        let s = store_ref(store)?;
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
    guard(err, || {
        let s = store_ref(store)?;
        let key = text(key, key_len, "key")?;
        let out = Out::new(out_len, "out_len")?;
        out.write(block(&s.store, s.store.zcard(key))?);
        Ok(())
    })
}

// ------------------------------------------------------------------- json

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
    guard(err, || {
        let s = store_ref(store)?;
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
    guard(err, || {
        let s = store_ref(store)?;
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
    guard(err, || {
        let s = store_ref(store)?;
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

// ----------------------------------------------------------------- stream

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
    guard(err, || {
        let s = store_ref(store)?;
        let key = text(key, key_len, "key")?;
        let id = text(id, id_len, "id")?;
        let fields = text_pairs(array(fields, count, "fields")?, "fields")?;
        let out = Out::new(out_id, "out_id")?;
        let id = block(&s.store, s.store.xadd(key, id, fields))?;
        out.write(cfs_string::from_str(&id));
        Ok(())
    })
}

fn xrange(
    store: *const cfs_store,
    key: *const c_char,
    key_len: usize,
    first: (*const c_char, usize),
    second: (*const c_char, usize),
    count: usize,
    out_entries: *mut *mut cfs_stream_entry_list,
    err: *mut *mut cfs_error,
    reverse: bool,
) -> cfs_result {
    guard(err, || {
        let s = store_ref(store)?;
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
    })
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
    xrange(
        store,
        key,
        key_len,
        (start, start_len),
        (end, end_len),
        count,
        out_entries,
        err,
        false,
    )
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
    xrange(
        store,
        key,
        key_len,
        (end, end_len),
        (start, start_len),
        count,
        out_entries,
        err,
        true,
    )
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
    guard(err, || {
        let s = store_ref(store)?;
        let key = text(key, key_len, "key")?;
        let out = Out::new(out_len, "out_len")?;
        out.write(block(&s.store, s.store.xlen(key))?);
        Ok(())
    })
}

// ------------------------------------------------------------ time series

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
    guard(err, || {
        let s = store_ref(store)?;
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
    guard(err, || {
        let s = store_ref(store)?;
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
    guard(err, || {
        let s = store_ref(store)?;
        let key = text(key, key_len, "key")?;
        let out = Out::new(out_points, "out_points")?;
        let v = block(&s.store, s.store.ts_range(key, from_ms, to_ms))?;
        out.write(boxed(cfs_ts_point_list {
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
    guard(err, || {
        let s = store_ref(store)?;
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
    guard(err, || {
        let s = store_ref(store)?;
        let key = text(key, key_len, "key")?;
        let out = Out::new(out_len, "out_len")?;
        out.write(block(&s.store, s.store.ts_len(key))?);
        Ok(())
    })
}

// -------------------------------------------------------------------- geo

/// Add or move `count` members of the geo set at `key` (longitude in
/// [-180, 180], latitude within ±85.05112878); `*out_added` (optional) is
/// how many were new.
#[no_mangle]
pub extern "C" fn cfs_store_geoadd(
    store: *mut cfs_store,
    key: *const c_char,
    key_len: usize,
    items: *const super::types::cfs_geo_member,
    count: usize,
    out_added: *mut i64,
    err: *mut *mut cfs_error,
) -> cfs_result {
    guard(err, || {
        let s = store_ref(store)?;
        let key = text(key, key_len, "key")?;
        let items = array(items, count, "items")?
            .iter()
            .enumerate()
            .map(|(i, it)| {
                let m = text(it.member.data, it.member.len, &format!("items[{i}].member"))?;
                Ok((it.longitude, it.latitude, m))
            })
            .collect::<Result<Vec<_>, Fail>>()?;
        let n = block(&s.store, s.store.geoadd(key, items))?;
        OptOut::new(out_added).write(n);
        Ok(())
    })
}

/// Positions of `count` members, in order, into a new list (free with
/// `cfs_geo_pos_list_free`); a missing member's item has `found` false.
#[no_mangle]
pub extern "C" fn cfs_store_geopos(
    store: *const cfs_store,
    key: *const c_char,
    key_len: usize,
    members: *const cfs_str,
    count: usize,
    out_positions: *mut *mut cfs_geo_pos_list,
    err: *mut *mut cfs_error,
) -> cfs_result {
    guard(err, || {
        let s = store_ref(store)?;
        let key = text(key, key_len, "key")?;
        let members = texts(array(members, count, "members")?, "members")?;
        let out = Out::new(out_positions, "out_positions")?;
        let v = block(&s.store, s.store.geopos(key, &members))?;
        out.write(boxed(cfs_geo_pos_list {
            items: v
                .into_iter()
                .map(|p| match p {
                    Some((lo, la)) => cfs_geo_pos {
                        found: true,
                        longitude: lo,
                        latitude: la,
                    },
                    None => cfs_geo_pos::default(),
                })
                .collect(),
        }));
        Ok(())
    })
}

/// Distance between two members in `unit` (a `CFS_GEO_UNIT_*`):
/// `*out_found` false when either is missing.
#[no_mangle]
pub extern "C" fn cfs_store_geodist(
    store: *const cfs_store,
    key: *const c_char,
    key_len: usize,
    member1: *const c_char,
    member1_len: usize,
    member2: *const c_char,
    member2_len: usize,
    unit: u32,
    out_distance: *mut f64,
    out_found: *mut bool,
    err: *mut *mut cfs_error,
) -> cfs_result {
    guard(err, || {
        let s = store_ref(store)?;
        let key = text(key, key_len, "key")?;
        let m1 = text(member1, member1_len, "member1")?;
        let m2 = text(member2, member2_len, "member2")?;
        let unit = geo_unit(unit)?;
        let out_distance = Out::new(out_distance, "out_distance")?;
        let out_found = Out::new(out_found, "out_found")?;
        let d = block(&s.store, s.store.geodist(key, m1, m2, unit))?;
        out_distance.write(d.unwrap_or(0.0));
        out_found.write(d.is_some());
        Ok(())
    })
}

/// Members within `radius` (in `unit`, a `CFS_GEO_UNIT_*`) of (longitude,
/// latitude) into a new list (free with `cfs_geo_match_list_free`); `opts`
/// may be NULL.
#[no_mangle]
pub extern "C" fn cfs_store_georadius(
    store: *const cfs_store,
    key: *const c_char,
    key_len: usize,
    longitude: f64,
    latitude: f64,
    radius: f64,
    unit: u32,
    opts: *const cfs_radius_opts,
    out_matches: *mut *mut cfs_geo_match_list,
    err: *mut *mut cfs_error,
) -> cfs_result {
    guard(err, || {
        let s = store_ref(store)?;
        let key = text(key, key_len, "key")?;
        let unit = geo_unit(unit)?;
        let opts = radius_opts(opts);
        let out = Out::new(out_matches, "out_matches")?;
        let v = block(
            &s.store,
            s.store
                .georadius(key, longitude, latitude, radius, unit, opts),
        )?;
        out.write(geo_matches(v));
        Ok(())
    })
}

/// Members within `radius` of the member `member` (empty when it is
/// missing); as `cfs_store_georadius` otherwise.
#[no_mangle]
pub extern "C" fn cfs_store_georadiusbymember(
    store: *const cfs_store,
    key: *const c_char,
    key_len: usize,
    member: *const c_char,
    member_len: usize,
    radius: f64,
    unit: u32,
    opts: *const cfs_radius_opts,
    out_matches: *mut *mut cfs_geo_match_list,
    err: *mut *mut cfs_error,
) -> cfs_result {
    guard(err, || {
        let s = store_ref(store)?;
        let key = text(key, key_len, "key")?;
        let member = text(member, member_len, "member")?;
        let unit = geo_unit(unit)?;
        let opts = radius_opts(opts);
        let out = Out::new(out_matches, "out_matches")?;
        let v = block(
            &s.store,
            s.store.georadiusbymember(key, member, radius, unit, opts),
        )?;
        out.write(geo_matches(v));
        Ok(())
    })
}
