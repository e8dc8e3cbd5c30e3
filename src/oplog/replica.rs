//! What makes signed operations converge: the pieces of the operation log
//! that replication relies on (see "Replication" in `docs/ARCHITECTURE.md`).
//!
//! - **Arrival sequence.** Every logged operation gets the next number of a
//!   per-store counter (`Q | seq → log key`), in the order this store
//!   applied it. A peer's watermark is a position in this sequence, not a
//!   timestamp: an operation with an old timestamp that arrives late still
//!   gets a new number, so a peer that synced past its timestamp gets it on
//!   the next sync.
//! - **Key marker.** `w | len | key | 0x01 → (timestamp, op_id)` of the
//!   greatest operation recorded for the key. The entry's signature metadata
//!   is that operation's, whatever the arrival order.
//! - **Type epoch.** `w | len | key | 0x03 → kind | (timestamp, op_id)`:
//!   the key's type (the type of its greatest operation) and the greatest
//!   operation of another type, B. The key holds the merge of its
//!   operations of that type greater than B; anything at or below B was
//!   replaced by a write of another type (see "Operations of different
//!   types on one key" in `docs/ARCHITECTURE.md`).
//! - **Operation count.** `w | len | key | 0x04 → u64`, advanced by every
//!   operation recorded for the key: what the writer checks a value
//!   computed before it (a Json replay or rebuild) against.
//! - **Operations of a key.** `j | len | key | ts | op_id` lists every
//!   logged operation of a key, in (timestamp, op_id) order. Json path
//!   updates do not commute (`$.a` then `$` is not `$` then `$.a`), so a
//!   Json operation older than the key's marker rebuilds the document by
//!   replaying them from the last whole-document write; an operation of
//!   another type that moves B rebuilds a container from them.

use crate::engine::index::Index;
use crate::engine::writer::Txn;
use crate::error::{Error, Result};
use crate::oplog::SignedOperation;
use crate::types::json::set_at_path;
use crate::value::{SigMeta, ValueKind};

use super::{be_u64, key_prefix, NS_LOG};

pub(crate) use crate::keyspace::{
    ENDPOINT_KEY, NS_KEY_OPS, NS_SEQ, SEQ_KEY, STORE_ID_KEY, WATERMARK_PREFIX,
};

pub(crate) fn seq_key(seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(9);
    k.push(NS_SEQ);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

pub(crate) fn key_op_key(full: &str, ts: u64, op_id: &str) -> Vec<u8> {
    let mut k = key_prefix(NS_KEY_OPS, full);
    k.extend_from_slice(&ts.to_be_bytes());
    k.extend_from_slice(op_id.as_bytes());
    k
}

pub(crate) fn sig_meta(op: &SignedOperation) -> SigMeta {
    SigMeta {
        public_key: hex::decode(&op.public_key).unwrap_or_default(),
        signature: hex::decode(&op.signature).unwrap_or_default(),
        timestamp_ms: op.timestamp,
    }
}

/// The arrival number of the operation being recorded (writer thread).
/// `logged` is the log's length before it. A log written before arrival
/// numbers existed is numbered first, in (timestamp, op_id) order, and its
/// operations indexed by key: a one-off cost on the first write after an
/// upgrade. Every read sees sled plus the group, and an earlier record in
/// the same group would have set the counter, so nothing is numbered twice.
pub(crate) fn next_seq(txn: &mut Txn<'_>, logged: u64) -> Result<u64> {
    if let Some(v) = txn.get_raw(SEQ_KEY)? {
        let n = be_u64(&v).ok_or_else(|| Error::Corrupt("arrival counter".into()))?;
        return Ok(n + 1);
    }
    if logged == 0 {
        return Ok(1);
    }
    let mut n = 0u64;
    let mut rows = Vec::new();
    for item in txn.index().tree.scan_prefix([NS_LOG]) {
        let (k, v) = item?;
        n += 1;
        rows.push((seq_key(n), k.to_vec()));
        if let Ok(op) = serde_json::from_slice::<SignedOperation>(&v) {
            rows.push((key_op_key(&op.full_key(), op.timestamp, &op.op_id), vec![]));
        }
    }
    for (k, v) in rows {
        txn.put_raw(k, v);
    }
    tracing::info!(numbered = n, "operation log: arrival numbers assigned");
    Ok(n + 1)
}

/// The highest arrival number (reader side).
pub(crate) fn head_seq(ix: &Index) -> Result<u64> {
    Ok(ix.get_raw(SEQ_KEY)?.and_then(|v| be_u64(&v)).unwrap_or(0))
}

/// Logged operations with arrival numbers after `after`, in arrival order:
/// (seq, the operation's JSON), at most `max_ops` and about `max_bytes`.
pub(crate) fn ops_after(
    ix: &Index,
    after: u64,
    max_ops: usize,
    max_bytes: usize,
) -> Result<Vec<(u64, sled::IVec)>> {
    let mut out = Vec::new();
    let mut bytes = 0usize;
    let lo = seq_key(after.saturating_add(1));
    for item in ix.tree.range(lo..) {
        let (k, lk) = item?;
        if k.first() != Some(&NS_SEQ) {
            break;
        }
        let seq = be_u64(&k[1..]).ok_or_else(|| Error::Corrupt("arrival key".into()))?;
        let Some(body) = ix.get_raw(&lk)? else {
            tracing::warn!(seq, "arrival number without a log entry");
            continue;
        };
        bytes += body.len();
        out.push((seq, body));
        if out.len() >= max_ops || bytes >= max_bytes {
            break;
        }
    }
    Ok(out)
}

/// The Json operations of `full` a replay needs: with `op`, the key's Json
/// operations read newest first down to a whole-document write older than
/// `op` (which resets the document), plus `op`; without, down to the newest
/// whole-document write. Only operations greater than `after` (the type
/// epoch's `since`) count. Returned in (timestamp, op_id) order.
pub(crate) fn json_history(
    ix: &Index,
    full: &str,
    owner: &[u8],
    op: Option<&SignedOperation>,
    after: Option<&[u8]>,
) -> Result<Vec<SignedOperation>> {
    let prefix = key_prefix(NS_KEY_OPS, full);
    let mut ops: Vec<SignedOperation> = op.into_iter().cloned().collect();
    for item in ix.tree.scan_prefix(&prefix).rev() {
        let (k, _) = item?;
        let rest = &k[prefix.len()..];
        if after.is_some_and(|a| rest <= a) {
            break;
        }
        let id = rest
            .get(8..)
            .and_then(|b| std::str::from_utf8(b).ok())
            .ok_or_else(|| Error::Corrupt("key op key".into()))?;
        if op.is_some_and(|o| o.op_id == id) {
            continue;
        }
        let Some(o) = logged_op(ix.get_raw(&log_key_of(rest, owner))?.as_deref())? else {
            continue;
        };
        if o.kind().ok() != Some(ValueKind::Json) {
            continue;
        }
        let older =
            op.is_none_or(|p| (o.timestamp, o.op_id.as_str()) < (p.timestamp, p.op_id.as_str()));
        let root = is_root(&o);
        ops.push(o);
        if root && older {
            break;
        }
    }
    ops.sort_by(|a, b| (a.timestamp, &a.op_id).cmp(&(b.timestamp, &b.op_id)));
    Ok(ops)
}

/// The operations of `full` (owned by `owner`) of type `kind` greater than
/// `after`, in (timestamp, op_id) order, as the writer's transaction sees
/// them.
pub(crate) fn key_ops_after(
    txn: &Txn<'_>,
    full: &str,
    owner: &[u8],
    kind: ValueKind,
    after: &[u8],
) -> Result<Vec<SignedOperation>> {
    let prefix = key_prefix(NS_KEY_OPS, full);
    let mut out = Vec::new();
    for k in txn.keys_with_prefix(&prefix)? {
        let rest = &k[prefix.len()..];
        if rest <= after {
            continue;
        }
        if let Some(o) = logged_op(txn.get_raw(&log_key_of(rest, owner))?.as_deref())? {
            if o.kind().ok() == Some(kind) {
                out.push(o);
            }
        }
    }
    Ok(out)
}

/// The log key of a key-op suffix (`ts | op_id`) of a key owned by
/// `owner` (every operation of a key is signed by the key's owner).
fn log_key_of(ts_op_id: &[u8], owner: &[u8]) -> Vec<u8> {
    let mut lk = Vec::with_capacity(1 + ts_op_id.len() + owner.len());
    lk.push(NS_LOG);
    lk.extend_from_slice(ts_op_id);
    lk.extend_from_slice(owner);
    lk
}

/// The log key of an operation: `L | timestamp | op_id | public key (32
/// bytes)`. The signer's key is part of it because an operation is
/// identified by (signer, op_id): two owners may use the same op_id (and
/// the same timestamp), and neither may displace the other's operation.
pub(crate) fn log_key(ts: u64, op_id: &str, owner: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(9 + op_id.len() + owner.len());
    k.push(NS_LOG);
    k.extend_from_slice(&ts.to_be_bytes());
    k.extend_from_slice(op_id.as_bytes());
    k.extend_from_slice(owner);
    k
}

/// The signer's public key of a checked operation, as bytes.
pub(crate) fn owner_of(op: &SignedOperation) -> Vec<u8> {
    hex::decode(&op.public_key).unwrap_or_default()
}

fn logged_op(body: Option<&[u8]>) -> Result<Option<SignedOperation>> {
    body.map(|b| {
        serde_json::from_slice(b).map_err(|e| Error::Corrupt(format!("logged operation: {e}")))
    })
    .transpose()
}

fn is_root(op: &SignedOperation) -> bool {
    op.json_path.as_deref().is_none_or(|p| p.trim() == "$")
}

/// **The rule for one Json operation**, the only place it is written down
/// in code: whatever order operations arrive in, a key's document is what
/// folding this over its Json operations in (timestamp, op_id) order gives.
///
/// - a whole-document write (`$` or no path) replaces the document;
/// - a path write sets every location its path selects, creating a missing
///   last member of an object (`$.a.b` on `{"a":{}}`), as RedisJSON does;
/// - a path write that selects nothing — no document yet, nothing at the
///   path, or a path whose missing member cannot be created (`$.a..b`: a
///   descendant segment creates nothing) — changes nothing. It is still a
///   logged operation: a replica records it as superseded and every replay
///   includes it, so a later whole-document write it follows makes it
///   count. A new submission (`Store::apply`) that changes nothing is
///   refused instead, as the local API refuses it.
///
/// Returns whether the operation changed (selected) anything. Used by the
/// writer's inputs for the newest operation and by every replay.
pub(crate) fn json_apply(
    doc: &mut Option<serde_json::Value>,
    op: &SignedOperation,
    value: serde_json::Value,
) -> bool {
    if is_root(op) {
        *doc = Some(value);
        return true;
    }
    let Some(d) = doc.as_mut() else {
        return false;
    };
    let path = op.json_path.as_deref().unwrap_or("$");
    // `set_at_path` changes nothing when it fails
    set_at_path(d, path, &value).is_ok_and(|n| n > 0)
}

/// Replay Json operations in order, by [`json_apply`].
pub(crate) fn json_replay(ops: &[SignedOperation]) -> Option<serde_json::Value> {
    let mut doc: Option<serde_json::Value> = None;
    for o in ops {
        // a logged Json operation has a valid value (its shape was checked)
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&o.value) else {
            continue;
        };
        json_apply(&mut doc, o, v);
    }
    doc
}

pub(crate) fn watermark_key(peer: &[u8; 16]) -> Vec<u8> {
    let mut k = WATERMARK_PREFIX.to_vec();
    k.extend_from_slice(peer);
    k
}

pub(crate) fn read_u64(ix: &Index, k: &[u8]) -> Result<Option<u64>> {
    Ok(ix.get_raw(k)?.and_then(|v| be_u64(&v)))
}

#[cfg(test)]
mod tests {
    use super::super::lww::{is_newer, marker_value};
    use super::*;

    fn j(ts: u64, id: &str, path: Option<&str>, v: &str) -> SignedOperation {
        let mut o = SignedOperation::new("db", "k", v, ValueKind::Json);
        o.timestamp = ts;
        o.op_id = id.into();
        o.json_path = path.map(str::to_owned);
        o
    }

    #[test]
    fn replay_is_whole_writes_then_paths_in_order() {
        let ops = vec![
            j(1, "a", None, r#"{"a":{"b":1}}"#),
            j(2, "b", Some("$.a.c"), "2"),
            j(3, "c", None, r#"{"x":1}"#),
            j(4, "d", Some("$.x"), "5"),
            j(5, "e", Some("$.nothere.y"), "5"),
        ];
        assert_eq!(json_replay(&ops), Some(serde_json::json!({"x": 5})));
        assert_eq!(
            json_replay(&ops[..2]),
            Some(serde_json::json!({"a": {"b": 1, "c": 2}}))
        );
        assert_eq!(
            json_replay(&ops[1..2]),
            None,
            "a path write without a document"
        );
    }

    #[test]
    fn logged_floats_round_trip_exactly() {
        // Scores and coordinates are signed by their bits; the log is JSON.
        // serde_json parses some floats 1 ulp off unless `float_roundtrip`
        // is on (13.0 + 0.7 + 0.01 was one of them), and the logged op then
        // no longer verifies: on replay, on reload with `verify`, on sync.
        let mut o = SignedOperation::new("db", "g", "p", ValueKind::Geo);
        for i in 0..2000u32 {
            o.longitude = Some(13.0 + f64::from(i % 10) / 10.0 + f64::from(i % 7) / 100.0);
            o.latitude = Some(f64::from(i) / 3.0 - 300.0);
            o.score = Some(f64::from(i) * 1.1);
            let back = SignedOperation::from_json(&o.to_json()).unwrap();
            assert_eq!(back.canonical_message(), o.canonical_message(), "{o:?}");
        }
    }

    #[test]
    fn markers_order_by_timestamp_then_op_id() {
        let m = marker_value(5, "b");
        assert!(is_newer(None, 0, ""));
        assert!(is_newer(Some(&m), 6, "a"));
        assert!(is_newer(Some(&m), 5, "c"));
        assert!(!is_newer(Some(&m), 5, "b"));
        assert!(!is_newer(Some(&m), 5, "a"));
        assert!(!is_newer(Some(&m), 4, "z"));
    }
}
