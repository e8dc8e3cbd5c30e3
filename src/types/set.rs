//! Set: unique texts, one sub-entry per member (ordered bytewise).

use super::int;
use super::{at_least_one, load, load_or_new, range, read_meta, save, sub_key, tag, utf8, SubScan};
use crate::engine::writer::{Reply, Txn};
use crate::engine::Engine;
use crate::error::Result;
use crate::value::ValueKind;

/// `sadd` on the writer thread.
pub(crate) fn txn_sadd(txn: &mut Txn<'_>, k: &str, members: Vec<String>) -> Result<i64> {
    let (entry, mut meta) = load_or_new(txn, k, ValueKind::Set)?;
    let mut added = 0;
    for m in members {
        let sk = sub_key(k, meta.version, tag::SET, m.as_bytes());
        if txn.get_raw(&sk)?.is_none() {
            txn.put_raw(sk, Vec::new());
            meta.size += 1;
            added += 1;
        }
    }
    save(txn, k, entry, &meta);
    Ok(added)
}

/// Add members; returns how many were new.
pub(crate) async fn sadd<M: Into<String>>(
    e: &Engine,
    key: &str,
    members: impl IntoIterator<Item = M>,
) -> Result<i64> {
    let members: Vec<String> = members.into_iter().map(Into::into).collect();
    at_least_one(&members, "sadd", "member")?;
    for m in &members {
        e.check_member(m.len())?;
    }
    let k = key.to_owned();
    let r = e
        .update(key, move |txn| txn_sadd(txn, &k, members).map(Reply::Int))
        .await?;
    int(r)
}
/// Remove members; returns how many were present.
pub(crate) async fn srem<M: Into<String>>(
    e: &Engine,
    key: &str,
    members: impl IntoIterator<Item = M>,
) -> Result<i64> {
    let members: Vec<String> = members.into_iter().map(Into::into).collect();
    at_least_one(&members, "srem", "member")?;
    let k = key.to_owned();
    let r = e
        .update(key, move |txn| {
            let Some((entry, mut meta)) = load(txn, &k, ValueKind::Set)? else {
                return Ok(Reply::Int(0));
            };
            let mut removed = 0;
            for m in members {
                let sk = sub_key(&k, meta.version, tag::SET, m.as_bytes());
                if txn.get_raw(&sk)?.is_some() {
                    txn.remove_raw(sk);
                    meta.size -= 1;
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
/// Every member, ordered bytewise.
pub(crate) async fn smembers(e: &Engine, key: &str) -> Result<Vec<String>> {
    e.check_key(key)?;
    let k = key.to_owned();
    e.read(move |ix| {
        let Some(m) = read_meta(ix, &k, ValueKind::Set)? else {
            return Ok(Vec::new());
        };
        range(ix, &k, m.version, tag::SET, &[], None, usize::MAX, false)?
            .into_iter()
            .map(|(s, _)| utf8(&s))
            .collect()
    })
    .await
}
/// Whether `member` is in the set.
pub(crate) async fn sismember(e: &Engine, key: &str, member: &str) -> Result<bool> {
    e.check_key(key)?;
    let (k, mb) = (key.to_owned(), member.to_owned());
    e.read(move |ix| {
        let Some(m) = read_meta(ix, &k, ValueKind::Set)? else {
            return Ok(false);
        };
        Ok(ix
            .get_raw(&sub_key(&k, m.version, tag::SET, mb.as_bytes()))?
            .is_some())
    })
    .await
}
/// Number of members.
pub(crate) async fn scard(e: &Engine, key: &str) -> Result<u64> {
    e.container_len(key, ValueKind::Set).await
}
/// Members containing `pattern` (the node's `filter_set`), streamed.
pub(crate) fn filter_set(e: &Engine, key: &str, pattern: &str) -> SubScan<String> {
    let pattern = pattern.to_owned();
    SubScan::new(
        e.clone(),
        key,
        ValueKind::Set,
        tag::SET,
        Vec::new(),
        None,
        Box::new(move |s, _| {
            let m = utf8(s)?;
            Ok(m.contains(&pattern).then_some(m))
        }),
    )
}
