//! List: ordered texts. Items are sub-entries keyed by an order-preserving
//! i64 index in `[head, tail)`; `lpush` decrements head, `rpush` increments
//! tail, so both ends are O(1).
//!
//! Items appended by signed operations are placed by the operation, not by
//! arrival: their suffix is `enc_i64(i64::MAX) ‖ timestamp ‖ op_id`, an
//! *ordered band* after every indexed item, so replicas that receive the
//! same operations in any order hold the same list (see "Replication" in
//! `docs/ARCHITECTURE.md`). The band holds `size - (tail - head)` items;
//! ranks past the indexed items are found by scanning the band.

use super::int;
use super::{
    at_least_one, enc_i64, load_or_new, range, rank_range, read_meta, save, sub_key, tag, utf8,
    Meta, SubScan,
};
use crate::engine::index::Index;
use crate::engine::writer::{Reply, Txn};
use crate::engine::Engine;
use crate::error::Result;
use crate::value::ValueKind;

/// `lpush/rpush` on the writer thread; returns the new length.
pub(crate) fn txn_push(txn: &mut Txn<'_>, k: &str, values: Vec<String>, left: bool) -> Result<i64> {
    let (entry, mut meta) = load_or_new(txn, k, ValueKind::List)?;
    for v in values {
        let idx = if left {
            meta.head -= 1;
            meta.head
        } else {
            meta.tail += 1;
            meta.tail - 1
        };
        txn.put_raw(
            sub_key(k, meta.version, tag::LIST, &enc_i64(idx)),
            v.into_bytes(),
        );
        meta.size += 1;
    }
    let len = meta.size as i64;
    save(txn, k, entry, &meta);
    Ok(len)
}

/// First bytes of every ordered-band suffix.
const BAND: i64 = i64::MAX;

/// The suffix of an item placed by a signed operation.
fn band_suffix(timestamp: u64, op_id: &str) -> Vec<u8> {
    let mut s = Vec::with_capacity(16 + op_id.len());
    s.extend_from_slice(&enc_i64(BAND));
    s.extend_from_slice(&timestamp.to_be_bytes());
    s.extend_from_slice(op_id.as_bytes());
    s
}

/// Insert an item at the position given by `(timestamp, op_id)` in the
/// ordered band, on the writer thread; returns the new length. Inserting
/// the same operation twice is prevented by op_id de-duplication upstream;
/// here a taken position is left as it is.
pub(crate) fn txn_insert_ordered(
    txn: &mut Txn<'_>,
    k: &str,
    timestamp: u64,
    op_id: &str,
    value: String,
) -> Result<i64> {
    let (entry, mut meta) = load_or_new(txn, k, ValueKind::List)?;
    let sk = sub_key(k, meta.version, tag::LIST, &band_suffix(timestamp, op_id));
    if txn.get_raw(&sk)?.is_none() {
        txn.put_raw(sk, value.into_bytes());
        meta.size += 1;
    }
    let len = meta.size as i64;
    save(txn, k, entry, &meta);
    Ok(len)
}

/// Items of ranks `[s, e]` (inclusive, already clamped to the list): the
/// indexed items by seek, the ordered band by a scan from whichever end is
/// nearer.
fn read_ranks(ix: &Index, k: &str, m: &Meta, s: i64, e: i64) -> Result<Vec<String>> {
    let n_idx = m.tail - m.head;
    let mut out = Vec::new();
    if s < n_idx {
        let from = enc_i64(m.head + s);
        let to = enc_i64(m.head + e.min(n_idx - 1) + 1);
        for (_, v) in range(
            ix,
            k,
            m.version,
            tag::LIST,
            &from,
            Some(&to),
            usize::MAX,
            false,
        )? {
            out.push(utf8(&v)?);
        }
    }
    if e >= n_idx {
        let n_band = m.size as i64 - n_idx;
        let (bs, be) = (s.max(n_idx) - n_idx, (e - n_idx).min(n_band - 1));
        if bs > be {
            return Ok(out);
        }
        let band = enc_i64(BAND);
        let take = (be - bs + 1) as usize;
        // From the front, skipping `bs`; or from the back, skipping the rest.
        let from_back = n_band - 1 - be;
        let rows = if bs <= from_back {
            let r = range(
                ix,
                k,
                m.version,
                tag::LIST,
                &band,
                None,
                bs as usize + take,
                false,
            )?;
            r.into_iter().skip(bs as usize).collect::<Vec<_>>()
        } else {
            let mut r = range(
                ix,
                k,
                m.version,
                tag::LIST,
                &band,
                None,
                from_back as usize + take,
                true,
            )?;
            r.drain(..from_back as usize);
            r.reverse();
            r
        };
        for (_, v) in rows {
            out.push(utf8(&v)?);
        }
    }
    Ok(out)
}

async fn push(e: &Engine, key: &str, values: Vec<String>, left: bool) -> Result<i64> {
    at_least_one(&values, if left { "lpush" } else { "rpush" }, "element")?;
    for v in &values {
        e.check_value(v.len())?;
    }
    let k = key.to_owned();
    let r = e
        .update(key, move |txn| {
            txn_push(txn, &k, values, left).map(Reply::Int)
        })
        .await?;
    int(r)
}
/// Append values at the tail; returns the new length.
pub(crate) async fn rpush<V: Into<String>>(
    e: &Engine,
    key: &str,
    values: impl IntoIterator<Item = V>,
) -> Result<i64> {
    push(e, key, values.into_iter().map(Into::into).collect(), false).await
}
/// Prepend values at the head, one after the other (so the last given
/// ends first, as in Redis); returns the new length.
pub(crate) async fn lpush<V: Into<String>>(
    e: &Engine,
    key: &str,
    values: impl IntoIterator<Item = V>,
) -> Result<i64> {
    push(e, key, values.into_iter().map(Into::into).collect(), true).await
}
/// Items from `start` to `stop` inclusive; negative indices count from
/// the end (-1 is the last), as in Redis.
pub(crate) async fn lrange(e: &Engine, key: &str, start: i64, stop: i64) -> Result<Vec<String>> {
    e.check_key(key)?;
    let k = key.to_owned();
    e.read(move |ix| {
        let Some(m) = read_meta(ix, &k, ValueKind::List)? else {
            return Ok(Vec::new());
        };
        let Some((s, e)) = rank_range(start, stop, m.size as i64) else {
            return Ok(Vec::new());
        };
        read_ranks(ix, &k, &m, s, e)
    })
    .await
}
/// Number of items.
pub(crate) async fn llen(e: &Engine, key: &str) -> Result<u64> {
    e.container_len(key, ValueKind::List).await
}
/// Items containing `pattern` (the node's `filter_list`), in order,
/// streamed in pages.
pub(crate) fn filter_list(e: &Engine, key: &str, pattern: &str) -> SubScan<String> {
    let pattern = pattern.to_owned();
    SubScan::new(
        e.clone(),
        key,
        ValueKind::List,
        tag::LIST,
        Vec::new(),
        None,
        Box::new(move |_, v| {
            let s = utf8(v)?;
            Ok(s.contains(&pattern).then_some(s))
        }),
    )
}
