//! Key-level operations for every type: TTLs, type, signature metadata, and
//! the sweeper that removes expired keys (reading entry headers only) and
//! the orphaned sub-entries of deleted or replaced containers.

use std::collections::HashMap;

use crate::engine::clock::now_ms;
use crate::engine::index::{entry_key, parse_sub_key, NS_ENTRY, NS_SUB};
use crate::engine::writer::{header_expiry, Reply, WriteOp};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::value::{Entry, EntryHeader, Payload, SigMeta, ValueKind};

/// What a key holds, without its value.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyInfo {
    pub kind: ValueKind,
    /// Bytes of a String/Json value; number of elements of a container.
    pub len: u64,
    pub expires_at_ms: Option<u64>,
    pub sig: Option<SigMeta>,
}

/// What one sweep removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub expired_keys: u64,
    pub orphan_sub_entries: u64,
}

fn bool_reply(r: Reply) -> Result<bool> {
    match r {
        Reply::Bool(b) => Ok(b),
        other => Err(Error::internal(format!(
            "expected a boolean reply, got {other:?}"
        ))),
    }
}

/// Expire `key` after `seconds` (0 expires it now). Whether the key exists.
pub(crate) async fn expire(e: &Engine, key: &str, seconds: u64) -> Result<bool> {
    let at = now_ms().saturating_add(seconds.saturating_mul(1000));
    expire_at_ms(e, key, Some(at)).await
}
/// The conditions of Redis's `EXPIRE` (7.0): `NX` (only a key without a
/// TTL), `XX` (only a key with one), `GT` (only a later time; no TTL counts
/// as infinite, so never), `LT` (only an earlier time; no TTL counts as
/// infinite, so always). XX may go with GT or LT.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExpireIf {
    pub nx: bool,
    pub xx: bool,
    pub gt: bool,
    pub lt: bool,
}

impl ExpireIf {
    /// The combinations Redis refuses: NX with XX, GT or LT; GT with LT.
    pub fn check(self) -> Result<Self> {
        if self.nx && (self.xx || self.gt || self.lt) {
            return Err(Error::invalid(
                "NX and XX, GT or LT options at the same time are not compatible",
            ));
        }
        if self.gt && self.lt {
            return Err(Error::invalid(
                "GT and LT options at the same time are not compatible",
            ));
        }
        Ok(self)
    }

    /// Whether a key whose expiry is `current` (ms; `None`: none) may get
    /// the expiry `when`.
    fn allows(self, current: Option<u64>, when: i128) -> bool {
        let cur = current.map(i128::from);
        !(self.nx && cur.is_some()
            || self.xx && cur.is_none()
            || self.gt && cur.is_none_or(|c| when <= c)
            || self.lt && cur.is_some_and(|c| when >= c))
    }
}

/// `EXPIRE key seconds [NX|XX|GT|LT]` as Redis 7.0: whether the expiry
/// was set. A key that does not exist, or a condition that says no,
/// answers false and changes nothing; a time of zero or less (now or in
/// the past) removes the key and answers true. A time whose milliseconds
/// overflow is "invalid expire time".
pub(crate) async fn expire_with(
    e: &Engine,
    key: &str,
    seconds: i64,
    cond: ExpireIf,
) -> Result<bool> {
    let ms = seconds
        .checked_mul(1000)
        .ok_or_else(|| Error::invalid("invalid expire time in 'expire' command"))?;
    pexpire_with(e, key, ms, cond).await
}

/// `PEXPIRE key milliseconds [NX|XX|GT|LT]`: [`expire_with`] in ms.
pub(crate) async fn pexpire_with(e: &Engine, key: &str, ms: i64, cond: ExpireIf) -> Result<bool> {
    let cond = cond.check()?;
    e.check_key(key)?;
    let when = i128::from(now_ms()) + i128::from(ms);
    if when > i128::from(i64::MAX) {
        return Err(Error::invalid("invalid expire time in 'expire' command"));
    }
    let k = key.to_owned();
    let r = e
        .update(key, move |txn| {
            let Some(mut en) = txn.entry(&k)? else {
                return Ok(Reply::Bool(false));
            };
            if !cond.allows(en.expires_at_ms, when) {
                return Ok(Reply::Bool(false));
            }
            if when <= i128::from(txn.now_ms) {
                txn.remove_entry(&k);
            } else {
                en.expires_at_ms = Some(when as u64);
                txn.put_entry(&k, &en);
            }
            Ok(Reply::Bool(true))
        })
        .await?;
    bool_reply(r)
}
/// Set (or with `None` clear) the expiry of `key`, in ms since the epoch.
/// Whether the key exists.
pub(crate) async fn expire_at_ms(e: &Engine, key: &str, at: Option<u64>) -> Result<bool> {
    let k = key.to_owned();
    let r = e
        .update(key, move |txn| {
            let Some(mut e) = txn.entry(&k)? else {
                return Ok(Reply::Bool(false));
            };
            e.expires_at_ms = at;
            txn.put_entry(&k, &e);
            Ok(Reply::Bool(true))
        })
        .await?;
    bool_reply(r)
}
/// Remove the expiry of `key`; whether it had one.
pub(crate) async fn persist(e: &Engine, key: &str) -> Result<bool> {
    let k = key.to_owned();
    let r = e
        .update(key, move |txn| {
            let Some(mut e) = txn.entry(&k)? else {
                return Ok(Reply::Bool(false));
            };
            if e.expires_at_ms.is_none() {
                return Ok(Reply::Bool(false));
            }
            e.expires_at_ms = None;
            txn.put_entry(&k, &e);
            Ok(Reply::Bool(true))
        })
        .await?;
    bool_reply(r)
}
/// Seconds to live, as Redis answers: -2 if the key does not exist, -1 if
/// it has no expiry.
pub(crate) async fn ttl(e: &Engine, key: &str) -> Result<i64> {
    Ok(match pttl(e, key).await? {
        n if n < 0 => n,
        ms => (ms + 500) / 1000,
    })
}
/// Milliseconds to live; -2 absent, -1 no expiry.
pub(crate) async fn pttl(e: &Engine, key: &str) -> Result<i64> {
    Ok(match key_info(e, key).await? {
        None => -2,
        Some(KeyInfo {
            expires_at_ms: None,
            ..
        }) => -1,
        Some(KeyInfo {
            expires_at_ms: Some(t),
            ..
        }) => t.saturating_sub(now_ms()) as i64,
    })
}
/// The type, size, expiry and signature metadata of a key.
pub(crate) async fn key_info(e: &Engine, key: &str) -> Result<Option<KeyInfo>> {
    e.check_key(key)?;
    let k = key.to_owned();
    e.read(move |ix| {
        let Some(e) = ix.get_entry(k.as_bytes())? else {
            return Ok(None);
        };
        if matches!(e.expires_at_ms, Some(t) if t <= now_ms()) {
            return Ok(None);
        }
        let len = match (e.kind, &e.payload) {
            (ValueKind::String | ValueKind::Json, _) => e.len,
            (_, Payload::Inline(b)) => super::Meta::decode(b)?.size,
            (_, Payload::Blob) => {
                return Err(Error::Corrupt("container metadata in a blob".into()))
            }
        };
        Ok(Some(KeyInfo {
            kind: e.kind,
            len,
            expires_at_ms: e.expires_at_ms,
            sig: e.sig,
        }))
    })
    .await
}
/// The type of a key.
pub(crate) async fn key_type(e: &Engine, key: &str) -> Result<Option<ValueKind>> {
    Ok(key_info(e, key).await?.map(|i| i.kind))
}
/// Attach signature metadata to an existing key (any type). Whether the
/// key exists.
pub(crate) async fn set_signature(e: &Engine, key: &str, sig: SigMeta) -> Result<bool> {
    if sig.public_key.len() > 1024 || sig.signature.len() > 1024 {
        return Err(Error::invalid(
            "signature metadata fields are limited to 1 KiB",
        ));
    }
    let k = key.to_owned();
    let r = e
        .update(key, move |txn| {
            let Some(mut e) = txn.entry(&k)? else {
                return Ok(Reply::Bool(false));
            };
            e.sig = Some(sig);
            txn.put_entry(&k, &e);
            Ok(Reply::Bool(true))
        })
        .await?;
    bool_reply(r)
}
/// Set a string value with an expiry, in one write.
pub(crate) async fn set_ex(
    e: &Engine,
    key: &str,
    value: impl Into<String>,
    seconds: u64,
) -> Result<()> {
    Engine::check_ex(seconds)?;
    let at = now_ms().saturating_add(seconds.saturating_mul(1000));
    e.set_entry(
        key,
        ValueKind::String,
        value.into().into_bytes(),
        Some(at),
        None,
    )
    .await
}
/// Remove expired keys and orphaned container sub-entries now. Reads
/// entry headers and sub-entry keys only; never decodes a value.
pub(crate) async fn sweep(e: &Engine) -> Result<SweepReport> {
    let mut report = SweepReport::default();
    let page = e.config().scan_page_size.max(256);
    // 1. expired keys
    let mut after: Option<Vec<u8>> = None;
    loop {
        let a = after.clone();
        let (expired, last, n) = e
            .read(move |ix| {
                let rows = ix.raw_page(&[NS_ENTRY], a.as_deref(), page)?;
                let now = now_ms();
                let last = rows.last().map(|(k, _)| k.to_vec());
                let n = rows.len();
                let expired: Vec<String> = rows
                    .into_iter()
                    .filter(|(_, v)| matches!(header_expiry(v), Some(t) if t <= now))
                    .filter_map(|(k, _)| String::from_utf8(k[1..].to_vec()).ok())
                    .collect();
                Ok((expired, last, n))
            })
            .await?;
        for key in expired {
            let k = key.clone();
            let r = e
                .update(&key, move |txn| {
                    // Re-check on the writer: it may have been persisted
                    // or rewritten since the scan.
                    let raw = txn.get_raw(&entry_key(k.as_bytes()))?;
                    let due = raw
                        .as_deref()
                        .and_then(header_expiry)
                        .is_some_and(|t| t <= txn.now_ms);
                    if due {
                        txn.remove_entry(&k);
                    }
                    Ok(Reply::Bool(due))
                })
                .await?;
            if r == Reply::Bool(true) {
                report.expired_keys += 1;
            }
        }
        if n < page {
            break;
        }
        after = last;
    }
    // 2. orphaned sub-entries: their (key, version) is not the live
    // container's. Versions are never reused, so an orphan stays one.
    let mut after: Option<Vec<u8>> = None;
    loop {
        let a = after.clone();
        let (orphans, last, n) = e
            .read(move |ix| {
                let rows = ix.raw_page(&[NS_SUB], a.as_deref(), page * 4)?;
                let last = rows.last().map(|(k, _)| k.to_vec());
                let n = rows.len();
                let mut live: HashMap<Vec<u8>, Option<u64>> = HashMap::new();
                let mut orphans = Vec::new();
                for (k, _) in rows {
                    let Some((key, version)) = parse_sub_key(&k) else {
                        orphans.push(k.to_vec());
                        continue;
                    };
                    let current = match live.get(key) {
                        Some(v) => *v,
                        None => {
                            let v = ix.get_raw(&entry_key(key))?.and_then(|raw| {
                                let h = EntryHeader::decode(&raw).ok()?;
                                if matches!(h.kind, ValueKind::String | ValueKind::Json) {
                                    return None;
                                }
                                let e = Entry::decode(&raw).ok()?;
                                match e.payload {
                                    Payload::Inline(b) => {
                                        super::Meta::decode(&b).ok().map(|m| m.version)
                                    }
                                    Payload::Blob => None,
                                }
                            });
                            live.insert(key.to_vec(), v);
                            v
                        }
                    };
                    if current != Some(version) {
                        orphans.push(k.to_vec());
                    }
                }
                Ok((orphans, last, n))
            })
            .await?;
        if !orphans.is_empty() {
            report.orphan_sub_entries += orphans.len() as u64;
            e.submit(vec![WriteOp::RemoveRaw { keys: orphans }], vec![])
                .await?;
        }
        if n < page * 4 {
            break;
        }
        after = last;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expire_conditions_follow_redis() {
        let c = |nx, xx, gt, lt| ExpireIf { nx, xx, gt, lt };
        assert!(c(true, true, false, false).check().is_err());
        assert!(c(true, false, true, false).check().is_err());
        assert!(c(false, false, true, true).check().is_err());
        assert!(c(false, true, true, false).check().is_ok());
        // NX: only without a TTL; XX: only with one
        assert!(c(true, false, false, false).allows(None, 5));
        assert!(!c(true, false, false, false).allows(Some(9), 5));
        assert!(!c(false, true, false, false).allows(None, 5));
        assert!(c(false, true, false, false).allows(Some(9), 5));
        // GT: no TTL is infinite, so never later; LT: always earlier
        assert!(!c(false, false, true, false).allows(None, 5));
        assert!(c(false, false, true, false).allows(Some(4), 5));
        assert!(!c(false, false, true, false).allows(Some(5), 5));
        assert!(c(false, false, false, true).allows(None, 5));
        assert!(c(false, false, false, true).allows(Some(6), 5));
        assert!(!c(false, false, false, true).allows(Some(5), 5));
    }
}
