//! Hash: field → text. `hset`, `hget`, `hgetall`, `hdel`, `hlen`, `filter_hash`.

use super::{
    at_least_one, int, load, load_or_new, range, read_meta, save, sub_key, tag, utf8, SubScan,
};
use crate::engine::writer::{Reply, Txn};
use crate::engine::Engine;
use crate::error::Result;
use crate::value::ValueKind;

/// Set fields of a hash; returns how many fields are new.
pub(crate) async fn hset_many<F, V, I>(e: &Engine, key: &str, fields: I) -> Result<i64>
where
    F: Into<String>,
    V: Into<String>,
    I: IntoIterator<Item = (F, V)>,
{
    let fields: Vec<(String, String)> = fields
        .into_iter()
        .map(|(f, v)| (f.into(), v.into()))
        .collect();
    at_least_one(&fields, "hset", "field")?;
    for (f, v) in &fields {
        e.check_member(f.len())?;
        e.check_value(v.len())?;
    }
    let k = key.to_owned();
    let r = e
        .update(key, move |txn| txn_hset(txn, &k, fields).map(Reply::Int))
        .await?;
    int(r)
}
/// Set one field; returns 1 if the field is new, 0 if it was updated.
pub(crate) async fn hset(
    e: &Engine,
    key: &str,
    field: &str,
    value: impl Into<String>,
) -> Result<i64> {
    hset_many(e, key, [(field.to_owned(), value.into())]).await
}
/// The value of a field.
pub(crate) async fn hget(e: &Engine, key: &str, field: &str) -> Result<Option<String>> {
    e.check_key(key)?;
    let (k, f) = (key.to_owned(), field.to_owned());
    e.read(move |ix| {
        let Some(m) = read_meta(ix, &k, ValueKind::Hash)? else {
            return Ok(None);
        };
        match ix.get_raw(&sub_key(&k, m.version, tag::HASH, f.as_bytes()))? {
            Some(v) => Ok(Some(utf8(&v)?)),
            None => Ok(None),
        }
    })
    .await
}
/// Every (field, value), ordered by field.
pub(crate) async fn hgetall(e: &Engine, key: &str) -> Result<Vec<(String, String)>> {
    e.check_key(key)?;
    let k = key.to_owned();
    e.read(move |ix| {
        let Some(m) = read_meta(ix, &k, ValueKind::Hash)? else {
            return Ok(Vec::new());
        };
        range(ix, &k, m.version, tag::HASH, &[], None, usize::MAX, false)?
            .into_iter()
            .map(|(f, v)| Ok((utf8(&f)?, utf8(&v)?)))
            .collect()
    })
    .await
}
/// Remove fields; returns how many existed.
pub(crate) async fn hdel<F: Into<String>>(
    e: &Engine,
    key: &str,
    fields: impl IntoIterator<Item = F>,
) -> Result<i64> {
    let fields: Vec<String> = fields.into_iter().map(Into::into).collect();
    at_least_one(&fields, "hdel", "field")?;
    let k = key.to_owned();
    let r = e
        .update(key, move |txn| {
            let Some((entry, mut meta)) = load(txn, &k, ValueKind::Hash)? else {
                return Ok(Reply::Int(0));
            };
            let mut removed = 0;
            for f in fields {
                let sk = sub_key(&k, meta.version, tag::HASH, f.as_bytes());
                if txn.get_raw(&sk)?.is_some() {
                    txn.remove_raw(sk);
                    removed += 1;
                    meta.size -= 1;
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
/// Number of fields.
pub(crate) async fn hlen(e: &Engine, key: &str) -> Result<u64> {
    e.container_len(key, ValueKind::Hash).await
}
/// Fields whose name contains `pattern` (the node's `filter_hash`),
/// streamed in pages.
pub(crate) fn filter_hash(e: &Engine, key: &str, pattern: &str) -> SubScan<(String, String)> {
    let pattern = pattern.to_owned();
    SubScan::new(
        e.clone(),
        key,
        ValueKind::Hash,
        tag::HASH,
        Vec::new(),
        None,
        Box::new(move |suffix, value| {
            let f = utf8(suffix)?;
            if f.contains(&pattern) {
                Ok(Some((f, utf8(value)?)))
            } else {
                Ok(None)
            }
        }),
    )
}

/// `hset` on the writer thread.
pub(crate) fn txn_hset(txn: &mut Txn<'_>, k: &str, fields: Vec<(String, String)>) -> Result<i64> {
    let (entry, mut meta) = load_or_new(txn, k, ValueKind::Hash)?;
    let mut added = 0;
    for (f, v) in fields {
        let sk = sub_key(k, meta.version, tag::HASH, f.as_bytes());
        if txn.get_raw(&sk)?.is_none() {
            added += 1;
            meta.size += 1;
        }
        txn.put_raw(sk, v.into_bytes());
    }
    save(txn, k, entry, &meta);
    Ok(added)
}
