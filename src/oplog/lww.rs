//! Last-write-wins keys and markers.

use super::*;

pub(super) fn lww_key(full: &str, kind: ValueKind, op: &SignedOperation) -> Option<Vec<u8>> {
    // The byte after the key: 0 for a field/member/point, 2 for a SortedSet
    // member's `_id` (members with the same `_id` replace each other, so
    // they share one marker); 1 is the key marker (`marker_key`).
    let (sep, sub): (u8, Option<String>) = match kind {
        ValueKind::String => (lww_tag::MEMBER, Some(String::new())),
        ValueKind::Hash => (lww_tag::MEMBER, op.field.clone()),
        ValueKind::SortedSet => match zset::doc_id(&op.value) {
            Some(id) => (lww_tag::DOC_ID, Some(id)),
            None => (lww_tag::MEMBER, Some(op.value.clone())),
        },
        ValueKind::Geo => (lww_tag::MEMBER, Some(op.value.clone())),
        ValueKind::TimeSeries => (
            lww_tag::MEMBER,
            Some(op.ts_timestamp.unwrap_or(op.timestamp as i64).to_string()),
        ),
        // Json is replayed in order instead (`replica::json_replay`); List,
        // Set and Stream commute.
        ValueKind::Json | ValueKind::List | ValueKind::Set | ValueKind::Stream => {
            (lww_tag::MEMBER, None)
        }
    };
    let sub = sub?;
    let mut k = key_prefix(NS_LWW, full);
    k.push(sep);
    k.extend_from_slice(sub.as_bytes());
    Some(k)
}

/// The key marker's index key (the last-write-wins markers use `0x00` after
/// the key, so `0x01` cannot collide).
pub(crate) fn marker_key(full: &str) -> Vec<u8> {
    let mut k = key_prefix(NS_LWW, full);
    k.push(lww_tag::KEY);
    k
}

/// The type epoch's index key.
pub(crate) fn epoch_key(full: &str) -> Vec<u8> {
    let mut k = key_prefix(NS_LWW, full);
    k.push(lww_tag::EPOCH);
    k
}

/// The key's operation count's index key: `w | len | key | 0x04 → u64 BE`,
/// advanced by every operation recorded for the key (applied, superseded or
/// rebuilding). A value computed before the writer (a Json document, a
/// rebuild) names the count it was computed at; the writer refuses it if
/// the count moved (`CONFLICT`, computed again). The key marker and the type
/// epoch are not enough for that: an older operation leaves both unchanged,
/// and may even leave the document's hash unchanged.
pub(crate) fn key_count_key(full: &str) -> Vec<u8> {
    let mut k = key_prefix(NS_LWW, full);
    k.push(lww_tag::OP_COUNT);
    k
}

/// Advance the key's operation count (writer thread).
pub(crate) fn bump_key_count(txn: &mut Txn<'_>, full: &str) -> Result<()> {
    let k = key_count_key(full);
    let n = txn.get_raw(&k)?.as_deref().and_then(be_u64).unwrap_or(0);
    txn.put_raw(k, (n + 1).to_be_bytes().to_vec());
    Ok(())
}

/// A key's type epoch: its type and `since`, the marker of the greatest
/// operation of another type (`None`: there is none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Epoch {
    pub kind: ValueKind,
    pub since: Option<Vec<u8>>,
}

impl Epoch {
    pub fn encode(&self) -> Vec<u8> {
        let mut v = vec![self.kind as u8];
        if let Some(s) = &self.since {
            v.extend_from_slice(s);
        }
        v
    }

    pub fn decode(b: &[u8]) -> Result<Self> {
        let (&k, rest) = b
            .split_first()
            .ok_or_else(|| Error::Corrupt("empty type epoch".into()))?;
        Ok(Epoch {
            kind: ValueKind::from_u8(k)?,
            since: (!rest.is_empty()).then(|| rest.to_vec()),
        })
    }

    /// Whether `(ts, op_id)` is greater than `since` (so it counts).
    pub fn admits(&self, ts: u64, op_id: &str) -> bool {
        is_newer(self.since.as_deref(), ts, op_id)
    }
}

pub(crate) fn marker_value(ts: u64, op_id: &str) -> Vec<u8> {
    let mut v = ts.to_be_bytes().to_vec();
    v.extend_from_slice(op_id.as_bytes());
    v
}

/// Whether `(ts, op_id)` is greater than a stored marker (or there is none).
pub(crate) fn is_newer(marker: Option<&[u8]>, ts: u64, op_id: &str) -> bool {
    match marker {
        Some(m) if m.len() >= 8 => {
            let mts = u64::from_be_bytes(m[..8].try_into().expect("8"));
            (ts, op_id.as_bytes()) > (mts, &m[8..])
        }
        _ => true,
    }
}
