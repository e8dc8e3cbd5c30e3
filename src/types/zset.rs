//! SortedSet: member → score. Three kinds of sub-entries:
//! `m|member → score`, `z|ordered(score)|member → ()` (ranges by score and
//! rank are scans), and for JSON members with a string `_id`,
//! `i|_id → member`, so that adding a new version of a document replaces the
//! old one (the node's de-duplication).

use super::int;
use super::{
    at_least_one, dec_f64, enc_f64, f64_from_le, f64_le, finite, load, load_or_new, prefix_end,
    range, rank_range, read_meta, save, sub_key, tag, utf8, Meta, SubScan,
};
use crate::engine::writer::{Reply, Txn};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::value::ValueKind;

/// The `_id` of a JSON-object member, if it has a string one.
pub(crate) fn doc_id(member: &str) -> Option<String> {
    if !member.starts_with('{') {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(member).ok()?;
    v.get("_id")?.as_str().map(str::to_owned)
}

fn remove_member(txn: &mut Txn<'_>, k: &str, meta: &mut Meta, member: &str) -> Result<bool> {
    let mk = sub_key(k, meta.version, tag::ZMEMBER, member.as_bytes());
    let Some(old) = txn.get_raw(&mk)? else {
        return Ok(false);
    };
    let score = f64_from_le(&old)?;
    let mut zk = enc_f64(score).to_vec();
    zk.extend_from_slice(member.as_bytes());
    txn.remove_raw(sub_key(k, meta.version, tag::ZSCORE, &zk));
    txn.remove_raw(mk);
    if let Some(id) = doc_id(member) {
        let ik = sub_key(k, meta.version, tag::ZID, id.as_bytes());
        if txn.get_raw(&ik)?.as_deref() == Some(member.as_bytes()) {
            txn.remove_raw(ik);
        }
    }
    meta.size -= 1;
    Ok(true)
}

/// `zadd` on the writer thread (scores already checked).
pub(crate) fn txn_zadd(txn: &mut Txn<'_>, k: &str, items: Vec<(String, f64)>) -> Result<i64> {
    let (entry, mut meta) = load_or_new(txn, k, ValueKind::SortedSet)?;
    let mut added = 0;
    for (member, score) in items {
        let id = doc_id(&member);
        if let Some(id) = &id {
            let ik = sub_key(k, meta.version, tag::ZID, id.as_bytes());
            if let Some(prev) = txn.get_raw(&ik)? {
                let prev = utf8(&prev)?;
                if prev != member {
                    remove_member(txn, k, &mut meta, &prev)?;
                }
            }
            txn.put_raw(ik, member.as_bytes().to_vec());
        }
        let mk = sub_key(k, meta.version, tag::ZMEMBER, member.as_bytes());
        match txn.get_raw(&mk)? {
            Some(old) => {
                let mut zk = enc_f64(f64_from_le(&old)?).to_vec();
                zk.extend_from_slice(member.as_bytes());
                txn.remove_raw(sub_key(k, meta.version, tag::ZSCORE, &zk));
            }
            None => {
                meta.size += 1;
                added += 1;
            }
        }
        txn.put_raw(mk, f64_le(score).to_vec());
        let mut zk = enc_f64(score).to_vec();
        zk.extend_from_slice(member.as_bytes());
        txn.put_raw(sub_key(k, meta.version, tag::ZSCORE, &zk), Vec::new());
    }
    save(txn, k, entry, &meta);
    Ok(added)
}

/// Add members with scores (or update their scores); returns how many
/// members are new. Scores must be finite. A JSON-object member with a
/// string `_id` replaces the member that had the same `_id`.
pub(crate) async fn zadd<M: Into<String>>(
    e: &Engine,
    key: &str,
    items: impl IntoIterator<Item = (M, f64)>,
) -> Result<i64> {
    let items: Vec<(String, f64)> = items.into_iter().map(|(m, s)| (m.into(), s)).collect();
    for (m, s) in &items {
        finite(*s, "score")?;
        e.check_value(m.len())?;
    }
    let k = key.to_owned();
    let r = e
        .update(key, move |txn| txn_zadd(txn, &k, items).map(Reply::Int))
        .await?;
    int(r)
}
/// Remove members; returns how many were present.
pub(crate) async fn zrem<M: Into<String>>(
    e: &Engine,
    key: &str,
    members: impl IntoIterator<Item = M>,
) -> Result<i64> {
    let members: Vec<String> = members.into_iter().map(Into::into).collect();
    at_least_one(&members, "zrem", "member")?;
    let k = key.to_owned();
    let r = e
        .update(key, move |txn| {
            let Some((entry, mut meta)) = load(txn, &k, ValueKind::SortedSet)? else {
                return Ok(Reply::Int(0));
            };
            let mut removed = 0;
            for m in members {
                if remove_member(txn, &k, &mut meta, &m)? {
                    removed += 1;
                }
            }
            if removed > 0 {
                save(txn, &k, entry, &meta);
            }
            Ok(Reply::Int(removed))
        })
        .await?;
    int(r)
}
/// Members by rank from `start` to `stop` inclusive (negative from the
/// end), lowest score first, with their scores.
pub(crate) async fn zrange(
    e: &Engine,
    key: &str,
    start: i64,
    stop: i64,
) -> Result<Vec<(String, f64)>> {
    e.check_key(key)?;
    let k = key.to_owned();
    e.read(move |ix| {
        let Some(m) = read_meta(ix, &k, ValueKind::SortedSet)? else {
            return Ok(Vec::new());
        };
        let len = m.size as i64;
        let Some((s, e)) = rank_range(start, stop, len) else {
            return Ok(Vec::new());
        };
        let want = (e - s + 1) as usize;
        // Walk from whichever end is nearer.
        let rows = if s <= len - 1 - e {
            let mut rows = range(
                ix,
                &k,
                m.version,
                tag::ZSCORE,
                &[],
                None,
                (e + 1) as usize,
                false,
            )?;
            rows.drain(..s as usize);
            rows
        } else {
            let mut rows = range(
                ix,
                &k,
                m.version,
                tag::ZSCORE,
                &[],
                None,
                (len - s) as usize,
                true,
            )?;
            rows.reverse();
            rows.truncate(want);
            rows
        };
        rows.into_iter().map(|(sfx, _)| decode_z(&sfx)).collect()
    })
    .await
}
/// Members with `min <= score <= max`, lowest first, with scores. The
/// bounds may be infinite; NaN is an error.
pub(crate) async fn zrangebyscore(
    e: &Engine,
    key: &str,
    min: f64,
    max: f64,
) -> Result<Vec<(String, f64)>> {
    filter_sorted_set(e, key, min, max)?.collect_all().await
}
/// The score of a member.
pub(crate) async fn zscore(e: &Engine, key: &str, member: &str) -> Result<Option<f64>> {
    e.check_key(key)?;
    let (k, mb) = (key.to_owned(), member.to_owned());
    e.read(move |ix| {
        let Some(m) = read_meta(ix, &k, ValueKind::SortedSet)? else {
            return Ok(None);
        };
        match ix.get_raw(&sub_key(&k, m.version, tag::ZMEMBER, mb.as_bytes()))? {
            Some(v) => Ok(Some(f64_from_le(&v)?)),
            None => Ok(None),
        }
    })
    .await
}
/// Number of members.
pub(crate) async fn zcard(e: &Engine, key: &str) -> Result<u64> {
    e.container_len(key, ValueKind::SortedSet).await
}
/// Members with `min <= score <= max` (the node's `filter_sorted_set`),
/// streamed: a range scan over the score-ordered sub-entries.
pub(crate) fn filter_sorted_set(
    e: &Engine,
    key: &str,
    min: f64,
    max: f64,
) -> Result<SubScan<(String, f64)>> {
    if min.is_nan() || max.is_nan() {
        return Err(Error::invalid("score bounds must not be NaN"));
    }
    Ok(SubScan::new(
        e.clone(),
        key,
        ValueKind::SortedSet,
        tag::ZSCORE,
        enc_f64(min).to_vec(),
        Some(prefix_end(&enc_f64(max))),
        Box::new(|sfx, _| decode_z(sfx).map(Some)),
    ))
}

pub(crate) fn decode_z(sfx: &[u8]) -> Result<(String, f64)> {
    let score = dec_f64(sfx)?;
    Ok((utf8(&sfx[8..])?, score))
}
