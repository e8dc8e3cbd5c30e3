//! Signed operations (`src/oplog/`): build, sign, serialise, apply one or
//! many with per-operation outcomes, and read the operation log.

use std::ffi::{c_char, c_void};

use super::buffers::Owned;
use super::castable::{
    castable, free_box, opt_ref_from_ptr, to_boxed_mut_ptr, try_mut_from_ptr, try_ref_from_ptr,
};
use super::error::Fail;
use super::keys::cfs_keypair;
use super::page::Pages;
use super::store::{spawn_completion, UserData};
use super::{
    array, block, cfs_bytes, cfs_error, cfs_result, cfs_store, cfs_str, cfs_string, text, Out,
};
use cyberfly_store::decode_hex;
use cyberfly_store::ValueKind;
use cyberfly_store::{Outcome, SignedOperation};

/// A signed operation (the Cyberfly node's fields); free with
/// `cfs_signed_op_free`.
pub struct cfs_signed_op {
    pub(crate) op: SignedOperation,
}

castable!(OwnershipBox:
    cfs_signed_op => "op",
    cfs_outcome_list => "list",
    cfs_op_scan => "scan",
);

/// What applying one operation did.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum cfs_outcome {
    /// Applied.
    Applied = 0,
    /// Older (by timestamp, op_id) than what the store holds for the same
    /// key and field: no change, but recorded.
    Superseded = 1,
    /// This op_id was applied before: no change.
    Duplicate = 2,
    /// Refused; `code` and `message` say why. Nothing changed.
    Rejected = 3,
}

/// The outcome of one operation of `apply_many`: for `CFS_OUTCOME_REJECTED`,
/// `code` is the error and `message` (borrowed from the list) explains it;
/// otherwise `code` is `CFS_RESULT_OK` and `message.data` is NULL.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct cfs_op_outcome {
    pub outcome: cfs_outcome,
    pub code: cfs_result,
    pub message: cfs_str,
}

/// Per-operation outcomes, in the order of the operations; free with
/// `cfs_outcome_list_free`.
pub struct cfs_outcome_list {
    items: Vec<(cfs_outcome, cfs_result, Option<Owned>)>,
}

/// Completion of `cfs_store_apply_many_async`: on success `outcomes` (owned
/// by the callback, freed with `cfs_outcome_list_free`), NULL on failure;
/// `err` is owned by the callback, NULL on success.
pub type cfs_outcome_list_callback = Option<
    extern "C" fn(
        userdata: *mut c_void,
        result: cfs_result,
        outcomes: *mut cfs_outcome_list,
        err: *mut cfs_error,
    ),
>;

fn outcome_list(v: Vec<Outcome>) -> *mut cfs_outcome_list {
    to_boxed_mut_ptr(cfs_outcome_list {
        items: v
            .into_iter()
            .map(|o| match o {
                Outcome::Applied => (cfs_outcome::Applied, cfs_result::Ok, None),
                Outcome::Superseded => (cfs_outcome::Superseded, cfs_result::Ok, None),
                Outcome::Duplicate => (cfs_outcome::Duplicate, cfs_result::Ok, None),
                Outcome::Rejected(e) => (
                    cfs_outcome::Rejected,
                    e.code().into(),
                    Some(Owned::new(e.to_string().as_bytes())),
                ),
            })
            .collect(),
    })
}

fn value_kind(k: u32) -> Result<ValueKind, Fail> {
    ValueKind::from_u8(u8::try_from(k).unwrap_or(u8::MAX))
        .map_err(|_| Fail::invalid(format!("{k} is not a CFS_VALUE_KIND_* value")))
}

fn op_ref<'a>(op: *const cfs_signed_op) -> Result<&'a SignedOperation, Fail> {
    try_ref_from_ptr(op).map(|o| &o.op)
}

fn op_mut<'a>(op: *mut cfs_signed_op) -> Result<&'a mut SignedOperation, Fail> {
    try_mut_from_ptr(op).map(|o| &mut o.op)
}

fn ops_arg(ops: *const *const cfs_signed_op, count: usize) -> Result<Vec<SignedOperation>, Fail> {
    array(ops, count, "ops")?
        .iter()
        .enumerate()
        .map(|(i, p)| {
            op_ref(*p)
                .cloned()
                .map_err(|_| Fail::null(&format!("ops[{i}]")))
        })
        .collect()
}

// ------------------------------------------------------------- building

/// A new unsigned operation writing `value` at `{db_name}:{key}` as a value
/// of `kind` (a `CFS_VALUE_KIND_*`), with a fresh op_id and the current
/// time. Set the type's extra fields with the setters, then sign it.
#[no_mangle]
pub extern "C" fn cfs_signed_op_new(
    db_name: *const c_char,
    db_name_len: usize,
    key: *const c_char,
    key_len: usize,
    value: *const c_char,
    value_len: usize,
    kind: u32,
    out: *mut *mut cfs_signed_op,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let db = text(db_name, db_name_len, "db_name")?;
        let key = text(key, key_len, "key")?;
        let value = text(value, value_len, "value")?;
        let kind = value_kind(kind)?;
        let out = Out::new(out, "out")?;
        out.write(to_boxed_mut_ptr(cfs_signed_op {
            op: SignedOperation::new(db, key, value, kind),
        }));
        Ok(())
    })
}

/// Parse an operation from its JSON form (the node's field names).
#[no_mangle]
pub extern "C" fn cfs_signed_op_from_json(
    json: *const c_char,
    json_len: usize,
    out: *mut *mut cfs_signed_op,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let json = text(json, json_len, "json")?;
        let out = Out::new(out, "out")?;
        out.write(to_boxed_mut_ptr(cfs_signed_op {
            op: SignedOperation::from_json(json)?,
        }));
        Ok(())
    })
}

/// The operation as JSON into `*out_json`; free with `cfs_string_free`.
#[no_mangle]
pub extern "C" fn cfs_signed_op_to_json(
    op: *const cfs_signed_op,
    out_json: *mut cfs_string,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let op = op_ref(op)?;
        let out = Out::new(out_json, "out_json")?;
        out.write(cfs_string::from_str(&op.to_json()));
        Ok(())
    })
}

/// Free an operation. NULL is accepted.
#[no_mangle]
pub extern "C" fn cfs_signed_op_free(op: *mut cfs_signed_op) {
    ffi_boundary!(value, { free_box(op) });
}

/// A copy of the op_id into `*out_op_id`; free with `cfs_string_free`.
#[no_mangle]
pub extern "C" fn cfs_signed_op_op_id(
    op: *const cfs_signed_op,
    out_op_id: *mut cfs_string,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let op = op_ref(op)?;
        let out = Out::new(out_op_id, "out_op_id")?;
        out.write(cfs_string::from_str(&op.op_id));
        Ok(())
    })
}

fn set_text(
    op: *mut cfs_signed_op,
    s: *const c_char,
    len: usize,
    what: &str,
    f: impl FnOnce(&mut SignedOperation, String),
) -> Result<(), Fail> {
    let op = op_mut(op)?;
    let s = text(s, len, what)?;
    f(op, s.to_owned());
    Ok(())
}

fn set_with(op: *mut cfs_signed_op, f: impl FnOnce(&mut SignedOperation)) -> Result<(), Fail> {
    f(op_mut(op)?);
    Ok(())
}

/// The hash field (Hash operations).
#[no_mangle]
pub extern "C" fn cfs_signed_op_set_field(
    op: *mut cfs_signed_op,
    field: *const c_char,
    field_len: usize,
) -> cfs_result {
    ffi_boundary!(code, {
        set_text(op, field, field_len, "field", |o, s| o.field = Some(s))
    })
}

/// The score (SortedSet operations; the member is the value).
#[no_mangle]
pub extern "C" fn cfs_signed_op_set_score(op: *mut cfs_signed_op, score: f64) -> cfs_result {
    ffi_boundary!(code, { set_with(op, |o| o.score = Some(score)) })
}

/// The JSONPath to set (Json operations; "$" or unset for the document).
#[no_mangle]
pub extern "C" fn cfs_signed_op_set_json_path(
    op: *mut cfs_signed_op,
    path: *const c_char,
    path_len: usize,
) -> cfs_result {
    ffi_boundary!(code, {
        set_text(op, path, path_len, "path", |o, s| o.json_path = Some(s))
    })
}

/// Append a (field, value) pair to the entry (Stream operations; without
/// any, the entry is `value = {value}`).
#[no_mangle]
pub extern "C" fn cfs_signed_op_add_stream_field(
    op: *mut cfs_signed_op,
    field: *const c_char,
    field_len: usize,
    value: *const c_char,
    value_len: usize,
) -> cfs_result {
    ffi_boundary!(code, {
        let op = op_mut(op)?;
        let f = text(field, field_len, "field")?.to_owned();
        let v = text(value, value_len, "value")?.to_owned();
        op.stream_fields.get_or_insert_with(Vec::new).push((f, v));
        Ok(())
    })
}

/// The point's timestamp, ms (TimeSeries operations; default: the
/// operation's timestamp; the value is the number as text).
#[no_mangle]
pub extern "C" fn cfs_signed_op_set_ts_timestamp(
    op: *mut cfs_signed_op,
    timestamp_ms: i64,
) -> cfs_result {
    ffi_boundary!(code, {
        set_with(op, |o| o.ts_timestamp = Some(timestamp_ms))
    })
}

/// The position (Geo operations; the member is the value).
#[no_mangle]
pub extern "C" fn cfs_signed_op_set_position(
    op: *mut cfs_signed_op,
    longitude: f64,
    latitude: f64,
) -> cfs_result {
    ffi_boundary!(code, {
        set_with(op, |o| {
            o.longitude = Some(longitude);
            o.latitude = Some(latitude);
        })
    })
}

/// The operation's timestamp, ms since the epoch (default: when it was
/// created). Newly submitted operations must be within the store's
/// freshness window.
#[no_mangle]
pub extern "C" fn cfs_signed_op_set_timestamp(
    op: *mut cfs_signed_op,
    timestamp_ms: u64,
) -> cfs_result {
    ffi_boundary!(code, { set_with(op, |o| o.timestamp = timestamp_ms) })
}

/// Replace the op_id (1..=256 bytes; default: a fresh unique id).
#[no_mangle]
pub extern "C" fn cfs_signed_op_set_op_id(
    op: *mut cfs_signed_op,
    op_id: *const c_char,
    op_id_len: usize,
) -> cfs_result {
    ffi_boundary!(code, {
        set_text(op, op_id, op_id_len, "op_id", |o, s| o.op_id = s)
    })
}

/// Sign the operation's canonical message with `kp`, filling its public key
/// and signature. Sign after the last change: any change afterwards makes
/// the signature invalid.
#[no_mangle]
pub extern "C" fn cfs_signed_op_sign(
    op: *mut cfs_signed_op,
    kp: *const cfs_keypair,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let op = op_mut(op)?;
        let kp = try_ref_from_ptr(kp)?;
        op.sign(&kp.kp);
        Ok(())
    })
}

/// The canonical (versioned) message the signature covers, for signing
/// elsewhere; free `*out_message` with `cfs_bytes_free`.
#[no_mangle]
pub extern "C" fn cfs_signed_op_canonical_message(
    op: *const cfs_signed_op,
    out_message: *mut cfs_bytes,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let op = op_ref(op)?;
        let out = Out::new(out_message, "out_message")?;
        out.write(cfs_bytes::from_slice(&op.canonical_message()));
        Ok(())
    })
}

/// Set a signature made elsewhere: the public key (64 hex digits) and the
/// signature (128 hex digits) of the canonical message.
#[no_mangle]
pub extern "C" fn cfs_signed_op_set_signature(
    op: *mut cfs_signed_op,
    public_key_hex: *const c_char,
    public_key_hex_len: usize,
    signature_hex: *const c_char,
    signature_hex_len: usize,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let op = op_mut(op)?;
        let pk = text(public_key_hex, public_key_hex_len, "public_key_hex")?;
        let sig = text(signature_hex, signature_hex_len, "signature_hex")?;
        decode_hex(pk, 32, "public key")?;
        decode_hex(sig, 64, "signature")?;
        op.public_key = pk.to_ascii_lowercase();
        op.signature = sig.to_ascii_lowercase();
        Ok(())
    })
}

/// Check everything that needs no store: fields per type, ownership of the
/// database by the public key, hex lengths (not the signature itself).
#[no_mangle]
pub extern "C" fn cfs_signed_op_check(
    op: *const cfs_signed_op,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        op_ref(op)?.check_shape()?;
        Ok(())
    })
}

// -------------------------------------------------------------- outcomes

/// Number of outcomes (0 for NULL).
#[no_mangle]
pub extern "C" fn cfs_outcome_list_len(list: *const cfs_outcome_list) -> usize {
    ffi_boundary!(value, {
        opt_ref_from_ptr(list).map_or(0, |l| l.items.len())
    })
}

/// Outcome `i` (out of range: `CFS_OUTCOME_REJECTED` with
/// `CFS_RESULT_INVALID_ARGUMENT` and no message).
#[no_mangle]
pub extern "C" fn cfs_outcome_list_get(list: *const cfs_outcome_list, i: usize) -> cfs_op_outcome {
    ffi_boundary!(value, {
        match opt_ref_from_ptr(list).and_then(|l| l.items.get(i)) {
            Some((o, c, m)) => cfs_op_outcome {
                outcome: *o,
                code: *c,
                message: m.as_ref().map_or(cfs_str::NONE, Owned::view),
            },
            None => cfs_op_outcome {
                outcome: cfs_outcome::Rejected,
                code: cfs_result::InvalidArgument,
                message: cfs_str::NONE,
            },
        }
    })
}

/// Free a list. NULL is accepted.
#[no_mangle]
pub extern "C" fn cfs_outcome_list_free(list: *mut cfs_outcome_list) {
    ffi_boundary!(value, { free_box(list) });
}

// ---------------------------------------------------------------- apply

/// Apply one newly submitted operation: `*out_outcome` (optional) is
/// `CFS_OUTCOME_APPLIED`, `_SUPERSEDED` or `_DUPLICATE`. A refused operation
/// is an error (`CFS_RESULT_INVALID_SIGNATURE`, `_NOT_OWNER`, `_STALE`,
/// `_INVALID_ARGUMENT`, …) and changes nothing.
#[no_mangle]
pub extern "C" fn cfs_store_apply(
    store: *mut cfs_store,
    op: *const cfs_signed_op,
    out_outcome: *mut cfs_outcome,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let op = op_ref(op)?.clone();
        let o = block(&s.store, s.store.apply(op))?;
        let o = match o {
            Outcome::Applied => cfs_outcome::Applied,
            Outcome::Superseded => cfs_outcome::Superseded,
            Outcome::Duplicate => cfs_outcome::Duplicate,
            Outcome::Rejected(e) => return Err(e.into()),
        };
        super::OptOut::new(out_outcome).write(o);
        Ok(())
    })
}

/// Apply `count` newly submitted operations in order, signatures verified
/// in parallel batches; `*out_outcomes` receives one outcome per operation
/// (free with `cfs_outcome_list_free`). A refused operation is an outcome,
/// not a failure of the call.
#[no_mangle]
pub extern "C" fn cfs_store_apply_many(
    store: *mut cfs_store,
    ops: *const *const cfs_signed_op,
    count: usize,
    out_outcomes: *mut *mut cfs_outcome_list,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let ops = ops_arg(ops, count)?;
        let out = Out::new(out_outcomes, "out_outcomes")?;
        out.write(outcome_list(block(&s.store, s.store.apply_many(ops))?));
        Ok(())
    })
}

/// `cfs_store_apply_many` for operations from a log or from sync: never
/// refused for their age.
#[no_mangle]
pub extern "C" fn cfs_store_apply_replicated(
    store: *mut cfs_store,
    ops: *const *const cfs_signed_op,
    count: usize,
    out_outcomes: *mut *mut cfs_outcome_list,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let ops = ops_arg(ops, count)?;
        let out = Out::new(out_outcomes, "out_outcomes")?;
        out.write(outcome_list(block(
            &s.store,
            s.store.apply_replicated(ops),
        )?));
        Ok(())
    })
}

/// `cfs_store_apply_many` with a completion callback (see
/// `cfs_store_set_many_async` for how callbacks are run). The operations are
/// copied before this returns.
#[no_mangle]
pub extern "C" fn cfs_store_apply_many_async(
    store: *mut cfs_store,
    ops: *const *const cfs_signed_op,
    count: usize,
    callback: cfs_outcome_list_callback,
    userdata: *mut c_void,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let cb = callback.ok_or_else(|| Fail::null("callback"))?;
        let ops = ops_arg(ops, count)?;
        let st = s.store.clone();
        let ud = UserData(userdata);
        spawn_completion(
            s,
            async move { st.apply_many(ops).await },
            move |r| match r {
                Ok(v) => cb(
                    ud.get(),
                    cfs_result::Ok,
                    outcome_list(v),
                    std::ptr::null_mut(),
                ),
                Err(f) => {
                    let code = f.code;
                    cb(ud.get(), code, std::ptr::null_mut(), cfs_error::boxed(f));
                }
            },
        )
    })
}

// ------------------------------------------------------------------ log

/// Number of operations in the store's log.
#[no_mangle]
pub extern "C" fn cfs_store_log_len(
    store: *const cfs_store,
    out_len: *mut u64,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let out = Out::new(out_len, "out_len")?;
        out.write(block(&s.store, s.store.log_len())?);
        Ok(())
    })
}

/// A scan of the applied operations with `timestamp >= since_ms`, in
/// (timestamp, op_id) order (for sync and replay); free with
/// `cfs_op_scan_free`.
pub struct cfs_op_scan {
    pages: Pages<cyberfly_store::OpLogScan>,
}

/// Start a scan of the operation log from `since_ms`.
#[no_mangle]
pub extern "C" fn cfs_store_ops_since(
    store: *const cfs_store,
    since_ms: u64,
    out: *mut *mut cfs_op_scan,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let s = try_ref_from_ptr(store)?;
        let out = Out::new(out, "out")?;
        s.store.check_open()?;
        out.write(to_boxed_mut_ptr(cfs_op_scan {
            pages: Pages::new(s.store.clone(), s.store.ops_since(since_ms)),
        }));
        Ok(())
    })
}

/// The next operation into `*out_op` (a new operation, free with
/// `cfs_signed_op_free`), or NULL at the end.
#[no_mangle]
pub extern "C" fn cfs_op_scan_next(
    scan: *mut cfs_op_scan,
    out_op: *mut *mut cfs_signed_op,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let sc = try_ref_from_ptr(scan)?;
        let out = Out::new(out_op, "out_op")?;
        let op = sc.pages.with(super::page::PageState::take_next)?;
        out.write(match op {
            Some(op) => to_boxed_mut_ptr(cfs_signed_op { op }),
            None => std::ptr::null_mut(),
        });
        Ok(())
    })
}

/// Free a log scan. NULL is accepted.
#[no_mangle]
pub extern "C" fn cfs_op_scan_free(scan: *mut cfs_op_scan) {
    ffi_boundary!(value, { free_box(scan) });
}
