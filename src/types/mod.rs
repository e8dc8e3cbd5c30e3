//! The eight container-shaped Cyberfly types on top of the core, stored the
//! way Apache Kvrocks stores Redis types on RocksDB:
//!
//! - a **metadata entry** under the user key (kind, version, size, and per
//!   type: list head/tail, stream last id), carrying the expiry and signature
//!   metadata like any entry;
//! - one **sub-entry** per field, item, member, stream entry or point, keyed
//!   `s | len(key) | key | version | tag | suffix` and ordered so that ranges
//!   are scans (scores and timestamps use order-preserving encodings).
//!
//! An append touches one sub-entry and the metadata: O(1) in the container's
//! size. Deleting or expiring a container removes the metadata entry only;
//! the sub-entries of that version are orphans from then on (a new container
//! under the same key gets a new version) and the sweeper removes them later.
//!
//! Json is a whole document per key, like String (inline or blob), updated by
//! compare-and-swap on its hash.

pub mod geo;
pub mod hash;
pub mod json;
pub mod list;
pub mod set;
pub mod stream;
pub mod string;
pub mod timeseries;
pub mod ttl;
pub mod zset;

pub(crate) mod scan;
pub use scan::{GetAll, SubScan, TypedValue};

use crate::engine::index::{entry_key, sub_prefix, Index};
use crate::engine::writer::{Reply, Txn};
use crate::error::{Error, Result};
use crate::value::{Entry, Payload, ValueKind};

/// Container metadata, the inline payload of a container's entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub version: u64,
    pub size: u64,
    /// List: index of the first item.
    pub head: i64,
    /// List: index one past the last item.
    pub tail: i64,
    /// Stream: last id.
    pub last_ms: u64,
    pub last_seq: u64,
}

const META_LEN: usize = 48;

impl Meta {
    pub fn new(version: u64) -> Self {
        Meta {
            version,
            size: 0,
            head: 0,
            tail: 0,
            last_ms: 0,
            last_seq: 0,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(META_LEN);
        b.extend_from_slice(&self.version.to_le_bytes());
        b.extend_from_slice(&self.size.to_le_bytes());
        b.extend_from_slice(&self.head.to_le_bytes());
        b.extend_from_slice(&self.tail.to_le_bytes());
        b.extend_from_slice(&self.last_ms.to_le_bytes());
        b.extend_from_slice(&self.last_seq.to_le_bytes());
        b
    }

    pub fn decode(b: &[u8]) -> Result<Self> {
        if b.len() != META_LEN {
            return Err(Error::Corrupt(format!(
                "container metadata is {} bytes, expected {META_LEN}",
                b.len()
            )));
        }
        let u = |i: usize| u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().expect("8"));
        Ok(Meta {
            version: u(0),
            size: u(1),
            head: u(2) as i64,
            tail: u(3) as i64,
            last_ms: u(4),
            last_seq: u(5),
        })
    }
}

/// A writer reply that must be an integer (a count, a length).
pub(crate) fn int(r: Reply) -> Result<i64> {
    match r {
        Reply::Int(n) => Ok(n),
        other => Err(Error::internal(format!(
            "expected an integer reply, got {other:?}"
        ))),
    }
}

/// Sub-entry tags (declared in `crate::keyspace`).
pub(crate) use crate::keyspace::tag;

/// Prefix of one tag's sub-entries in one version of a container.
pub(crate) fn tag_prefix(key: &str, version: u64, tag: u8) -> Vec<u8> {
    let mut p = sub_prefix(key.as_bytes(), version);
    p.push(tag);
    p
}

pub(crate) fn sub_key(key: &str, version: u64, tag: u8, suffix: &[u8]) -> Vec<u8> {
    let mut p = tag_prefix(key, version, tag);
    p.extend_from_slice(suffix);
    p
}

/// Order-preserving encodings.
pub(crate) fn enc_i64(v: i64) -> [u8; 8] {
    ((v as u64) ^ (1 << 63)).to_be_bytes()
}

pub(crate) fn dec_i64(b: &[u8]) -> Result<i64> {
    let a: [u8; 8] = b
        .get(..8)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| Error::Corrupt("short ordered integer".into()))?;
    Ok((u64::from_be_bytes(a) ^ (1 << 63)) as i64)
}

pub(crate) fn enc_f64(v: f64) -> [u8; 8] {
    let v = if v == 0.0 { 0.0 } else { v }; // -0.0 sorts with 0.0
    let bits = v.to_bits();
    let ordered = if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    };
    ordered.to_be_bytes()
}

pub(crate) fn dec_f64(b: &[u8]) -> Result<f64> {
    let a: [u8; 8] = b
        .get(..8)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| Error::Corrupt("short ordered float".into()))?;
    let o = u64::from_be_bytes(a);
    let bits = if o >> 63 == 1 { o & !(1 << 63) } else { !o };
    Ok(f64::from_bits(bits))
}

pub(crate) fn f64_le(v: f64) -> [u8; 8] {
    v.to_le_bytes()
}

pub(crate) fn f64_from_le(b: &[u8]) -> Result<f64> {
    b.get(..8)
        .and_then(|s| s.try_into().ok())
        .map(f64::from_le_bytes)
        .ok_or_else(|| Error::Corrupt("short float".into()))
}

pub(crate) fn utf8(b: &[u8]) -> Result<String> {
    String::from_utf8(b.to_vec()).map_err(|_| Error::Corrupt("stored text is not UTF-8".into()))
}

pub(crate) fn finite(v: f64, what: &str) -> Result<f64> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(Error::invalid(format!(
            "{what} must be a finite number, got {v}"
        )))
    }
}

fn wrong_type(expected: ValueKind, actual: ValueKind) -> Error {
    Error::WrongType {
        expected: expected.name(),
        actual: actual.name(),
    }
}

/// Writer side: the live container at `key`, checking its kind.
pub(crate) fn load(txn: &Txn<'_>, key: &str, kind: ValueKind) -> Result<Option<(Entry, Meta)>> {
    let Some(e) = txn.entry(key)? else {
        return Ok(None);
    };
    if e.kind != kind {
        return Err(wrong_type(kind, e.kind));
    }
    let Payload::Inline(b) = &e.payload else {
        return Err(Error::Corrupt(format!(
            "{} metadata is not inline",
            kind.name()
        )));
    };
    let m = Meta::decode(b)?;
    Ok(Some((e, m)))
}

/// Writer side: the container at `key`, or a new empty one.
pub(crate) fn load_or_new(txn: &Txn<'_>, key: &str, kind: ValueKind) -> Result<(Entry, Meta)> {
    match load(txn, key, kind)? {
        Some(x) => Ok(x),
        None => {
            let m = Meta::new(txn.new_version()?);
            Ok((Entry::inline(kind, m.encode()), m))
        }
    }
}

/// Writer side: save the metadata; an empty container is removed (as Redis
/// does).
pub(crate) fn save(txn: &mut Txn<'_>, key: &str, mut entry: Entry, meta: &Meta) {
    if meta.size == 0 {
        if txn.entry_exists_raw(key).unwrap_or(true) {
            txn.remove_entry(key);
        }
        return;
    }
    let b = meta.encode();
    entry.hash = *blake3::hash(&b).as_bytes();
    entry.len = b.len() as u64;
    entry.payload = Payload::Inline(b);
    txn.put_entry(key, &entry);
}

/// Redis refuses these commands with no elements ("wrong number of
/// arguments"); so does the store, changing nothing.
pub(crate) fn at_least_one<T>(items: &[T], command: &str, what: &str) -> Result<()> {
    if items.is_empty() {
        return Err(Error::invalid(format!(
            "wrong number of arguments: {command} needs at least one {what}"
        )));
    }
    Ok(())
}

impl crate::engine::Engine {
    /// Number of elements of the container at `key` (0 if absent), checking
    /// its kind: hlen, llen, scard, zcard, xlen, ts_len.
    pub(crate) async fn container_len(&self, key: &str, kind: ValueKind) -> Result<u64> {
        self.check_key(key)?;
        let k = key.to_owned();
        self.read(move |ix| Ok(read_meta(ix, &k, kind)?.map_or(0, |m| m.size)))
            .await
    }
}

/// Reader side: the live container's metadata, checking its kind.
pub(crate) fn read_meta(ix: &Index, key: &str, kind: ValueKind) -> Result<Option<Meta>> {
    let Some(raw) = ix.get_raw(&entry_key(key.as_bytes()))? else {
        return Ok(None);
    };
    let e = Entry::decode(&raw)?;
    if matches!(e.expires_at_ms, Some(t) if t <= crate::engine::clock::now_ms()) {
        return Ok(None);
    }
    if e.kind != kind {
        return Err(wrong_type(kind, e.kind));
    }
    match e.payload {
        Payload::Inline(b) => Ok(Some(Meta::decode(&b)?)),
        Payload::Blob => Err(Error::Corrupt(format!(
            "{} metadata is not inline",
            kind.name()
        ))),
    }
}

#[allow(clippy::too_many_arguments)]
/// Reader side: sub-entries of one tag with suffix in `[from, to)` (`to`
/// `None` = to the end of the tag), at most `limit`, as (suffix, value).
pub(crate) fn range(
    ix: &Index,
    key: &str,
    version: u64,
    tag: u8,
    from: &[u8],
    to: Option<&[u8]>,
    limit: usize,
    reverse: bool,
) -> Result<Vec<(Vec<u8>, sled::IVec)>> {
    let prefix = tag_prefix(key, version, tag);
    let mut lo = prefix.clone();
    lo.extend_from_slice(from);
    let hi = match to {
        Some(t) => {
            let mut h = prefix.clone();
            h.extend_from_slice(t);
            h
        }
        None => prefix_end(&prefix),
    };
    let mut out = Vec::new();
    if limit == 0 || lo >= hi {
        return Ok(out);
    }
    let iter = ix.tree.range(lo..hi);
    let mut push = |item: sled::Result<(sled::IVec, sled::IVec)>| -> Result<bool> {
        let (k, v) = item?;
        out.push((k[prefix.len()..].to_vec(), v));
        Ok(out.len() < limit)
    };
    if reverse {
        for item in iter.rev() {
            if !push(item)? {
                break;
            }
        }
    } else {
        for item in iter {
            if !push(item)? {
                break;
            }
        }
    }
    Ok(out)
}

/// The smallest byte string greater than every string with this prefix.
pub(crate) fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0xff; prefix.len() + 1]
}

/// Redis-style inclusive rank range over `len` elements with negative
/// indices counted from the end; `None` when empty.
pub(crate) fn rank_range(start: i64, stop: i64, len: i64) -> Option<(i64, i64)> {
    let s = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let e = if stop < 0 {
        len + stop
    } else {
        stop.min(len - 1)
    };
    if s > e || s >= len || len == 0 {
        None
    } else {
        Some((s, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn f64_encoding_sorts(a in proptest::num::f64::NORMAL | proptest::num::f64::SUBNORMAL | proptest::num::f64::ZERO,
                              b in proptest::num::f64::NORMAL | proptest::num::f64::ZERO) {
            prop_assert_eq!(a.partial_cmp(&b).unwrap(), enc_f64(a).cmp(&enc_f64(b)));
            prop_assert_eq!(dec_f64(&enc_f64(a)).unwrap(), if a == 0.0 { 0.0 } else { a });
        }

        #[test]
        fn i64_encoding_sorts(a: i64, b: i64) {
            prop_assert_eq!(a.cmp(&b), enc_i64(a).cmp(&enc_i64(b)));
            prop_assert_eq!(dec_i64(&enc_i64(a)).unwrap(), a);
        }
    }

    #[test]
    fn ranks_follow_redis() {
        assert_eq!(rank_range(0, -1, 5), Some((0, 4)));
        assert_eq!(rank_range(-2, -1, 5), Some((3, 4)));
        assert_eq!(rank_range(1, 100, 5), Some((1, 4)));
        assert_eq!(rank_range(3, 1, 5), None);
        assert_eq!(rank_range(0, -1, 0), None);
        assert_eq!(rank_range(-100, 0, 5), Some((0, 0)));
        assert_eq!(rank_range(5, 10, 5), None);
    }

    #[test]
    fn meta_round_trips() {
        let m = Meta {
            version: 7,
            size: 3,
            head: -2,
            tail: 1,
            last_ms: 99,
            last_seq: 4,
        };
        assert_eq!(Meta::decode(&m.encode()).unwrap(), m);
        assert!(Meta::decode(&[0; 3]).is_err());
    }
}
