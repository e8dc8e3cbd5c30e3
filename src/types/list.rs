//! List: ordered texts. Items are sub-entries keyed by an order-preserving
//! i64 index in `[head, tail)`; `lpush` decrements head, `rpush` increments
//! tail, so both ends are O(1).

use super::hash::int;
use super::{
    enc_i64, load_or_new, range, rank_range, read_meta, save, sub_key, tag, utf8, SubScan,
};
use crate::error::Result;
use crate::store::Store;
use crate::value::ValueKind;
use crate::writer::{Reply, Txn};

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

impl Store {
    async fn push(&self, key: &str, values: Vec<String>, left: bool) -> Result<i64> {
        for v in &values {
            self.check_value(v.len())?;
        }
        let k = key.to_owned();
        let r = self
            .update(key, move |txn| {
                txn_push(txn, &k, values, left).map(Reply::Int)
            })
            .await?;
        int(r)
    }

    /// Append values at the tail; returns the new length.
    pub async fn rpush<V: Into<String>>(
        &self,
        key: &str,
        values: impl IntoIterator<Item = V>,
    ) -> Result<i64> {
        self.push(key, values.into_iter().map(Into::into).collect(), false)
            .await
    }

    /// Prepend values at the head, one after the other (so the last given
    /// ends first, as in Redis); returns the new length.
    pub async fn lpush<V: Into<String>>(
        &self,
        key: &str,
        values: impl IntoIterator<Item = V>,
    ) -> Result<i64> {
        self.push(key, values.into_iter().map(Into::into).collect(), true)
            .await
    }

    /// Items from `start` to `stop` inclusive; negative indices count from
    /// the end (-1 is the last), as in Redis.
    pub async fn lrange(&self, key: &str, start: i64, stop: i64) -> Result<Vec<String>> {
        self.check_key(key)?;
        let k = key.to_owned();
        self.read(move |ix| {
            let Some(m) = read_meta(ix, &k, ValueKind::List)? else {
                return Ok(Vec::new());
            };
            let Some((s, e)) = rank_range(start, stop, m.size as i64) else {
                return Ok(Vec::new());
            };
            let from = enc_i64(m.head + s);
            let to = enc_i64(m.head + e + 1);
            range(
                ix,
                &k,
                m.version,
                tag::LIST,
                &from,
                Some(&to),
                usize::MAX,
                false,
            )?
            .into_iter()
            .map(|(_, v)| utf8(&v))
            .collect()
        })
        .await
    }

    /// Number of items.
    pub async fn llen(&self, key: &str) -> Result<u64> {
        self.check_key(key)?;
        let k = key.to_owned();
        self.read(move |ix| Ok(read_meta(ix, &k, ValueKind::List)?.map_or(0, |m| m.size)))
            .await
    }

    /// Items containing `pattern` (the node's `filter_list`), in order,
    /// streamed in pages.
    pub fn filter_list(&self, key: &str, pattern: &str) -> SubScan<String> {
        let pattern = pattern.to_owned();
        SubScan::new(
            self.clone(),
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
}
