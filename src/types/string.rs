//! Redis's `SET` options (NX, XX, EX, PX, EXAT, PXAT, KEEPTTL, GET) and the
//! many-key `DEL` and `EXISTS`, over the engine's String values. The plain
//! `set`, `get` and `delete` with their fast paths stay in the engine.

use crate::engine::clock::now_ms;
use crate::engine::writer::{Reply, WriteOp};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::value::{Payload, ValueKind};

/// When a value written by [`set_with`] expires, as Redis's `SET` options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SetExpiry {
    /// No expiry (a TTL the key had is dropped, as Redis).
    #[default]
    Never,
    /// `EX`: after this many seconds (at least 1).
    Ex(i64),
    /// `PX`: after this many milliseconds (at least 1).
    Px(i64),
    /// `EXAT`: at this Unix time in seconds (at least 1).
    ExAt(i64),
    /// `PXAT`: at this Unix time in milliseconds (at least 1).
    PxAt(i64),
    /// `KEEPTTL`: keep the TTL the key has.
    KeepTtl,
}

impl SetExpiry {
    /// At most one of `ex`, `px`, `exat`, `pxat`, `keepttl` (Redis: "syntax
    /// error" for two of them).
    pub fn from_options(
        ex: Option<i64>,
        px: Option<i64>,
        exat: Option<i64>,
        pxat: Option<i64>,
        keepttl: bool,
    ) -> Result<Self> {
        let given = [
            ex.is_some(),
            px.is_some(),
            exat.is_some(),
            pxat.is_some(),
            keepttl,
        ];
        if given.iter().filter(|g| **g).count() > 1 {
            return Err(Error::invalid(
                "ex, px, exat, pxat and keepttl are mutually exclusive",
            ));
        }
        Ok(match (ex, px, exat, pxat) {
            (Some(s), ..) => SetExpiry::Ex(s),
            (_, Some(ms), ..) => SetExpiry::Px(ms),
            (_, _, Some(s), _) => SetExpiry::ExAt(s),
            (_, _, _, Some(ms)) => SetExpiry::PxAt(ms),
            _ if keepttl => SetExpiry::KeepTtl,
            _ => SetExpiry::Never,
        })
    }

    /// The expiry in ms since the epoch (`Ok(None)`: none, or keep the
    /// key's for `KeepTtl`). A time below 1 or one that overflows is
    /// "invalid expire time", as Redis answers.
    fn at_ms(self, now: u64) -> Result<Option<u64>> {
        let bad = || Error::invalid("invalid expire time in 'set' command");
        let (n, unit, relative) = match self {
            SetExpiry::Never | SetExpiry::KeepTtl => return Ok(None),
            SetExpiry::Ex(s) => (s, 1000, true),
            SetExpiry::Px(ms) => (ms, 1, true),
            SetExpiry::ExAt(s) => (s, 1000, false),
            SetExpiry::PxAt(ms) => (ms, 1, false),
        };
        if n <= 0 {
            return Err(bad());
        }
        let ms = n.checked_mul(unit).ok_or_else(bad)? as u64;
        if relative {
            now.checked_add(ms)
                .filter(|t| *t <= i64::MAX as u64)
                .map(Some)
                .ok_or_else(bad)
        } else {
            Ok(Some(ms))
        }
    }
}

/// Redis's `NX` / `XX`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SetCond {
    /// Write whatever the key holds.
    #[default]
    Always,
    /// `NX`: only if the key does not exist.
    IfAbsent,
    /// `XX`: only if the key exists.
    IfPresent,
}

impl SetCond {
    /// From redis-py's `nx` and `xx` flags; both is an error.
    pub fn from_flags(nx: bool, xx: bool) -> Result<Self> {
        match (nx, xx) {
            (true, true) => Err(Error::invalid(
                "nx and xx are mutually exclusive (Redis: syntax error)",
            )),
            (true, false) => Ok(SetCond::IfAbsent),
            (false, true) => Ok(SetCond::IfPresent),
            (false, false) => Ok(SetCond::Always),
        }
    }
}

/// Options of [`set_with`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SetOptions {
    pub expiry: SetExpiry,
    pub cond: SetCond,
    /// `GET`: answer the value the key held (a key of another type is
    /// WrongType and nothing is written).
    pub get: bool,
}

/// What [`set_with`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetOutcome {
    /// Whether the value was written (false when NX or XX said no).
    pub written: bool,
    /// With `get`: the string the key held before, if any.
    pub old: Option<String>,
}

/// `SET key value [NX|XX] [GET] [EX|PX|EXAT|PXAT|KEEPTTL]` as Redis 7.0:
/// the condition and the old value are judged and the write is applied in
/// one step on the writer (a value read for `get` is checked again there by
/// its hash, and the call retried if another write came between). An
/// expiry time already past writes nothing and removes the key, as Redis.
pub(crate) async fn set_with(
    e: &Engine,
    key: &str,
    value: String,
    opts: SetOptions,
) -> Result<SetOutcome> {
    e.check_open()?;
    e.check_key(key)?;
    e.check_value(value.len())?;
    let at = opts.expiry.at_ms(now_ms())?;
    for _ in 0..64 {
        // The old value (for `get`): read first, its hash checked on the
        // writer.
        let (old, expected) = if opts.get {
            read_string(e, key).await?
        } else {
            (None, None)
        };
        let (entry, tag) = e
            .prepare_entry(ValueKind::String, value.clone().into_bytes())
            .await?;
        let k = key.to_owned();
        let f = move |txn: &mut crate::engine::writer::Txn<'_>| -> Result<Reply> {
            let cur = txn.entry(&k)?;
            if opts.get {
                if let Some(c) = &cur {
                    if c.kind != ValueKind::String {
                        return Err(Error::WrongType {
                            expected: ValueKind::String.name(),
                            actual: c.kind.name(),
                        });
                    }
                }
                if cur.as_ref().map(|c| c.hash) != expected {
                    return Ok(Reply::Int(-1)); // changed since read: retry
                }
            }
            let go = match opts.cond {
                SetCond::Always => true,
                SetCond::IfAbsent => cur.is_none(),
                SetCond::IfPresent => cur.is_some(),
            };
            if !go {
                return Ok(Reply::Int(0));
            }
            let mut entry = entry;
            entry.expires_at_ms = match opts.expiry {
                SetExpiry::KeepTtl => cur.as_ref().and_then(|c| c.expires_at_ms),
                _ => at,
            };
            if matches!(entry.expires_at_ms, Some(t) if t <= txn.now_ms) {
                if txn.entry_exists_raw(&k)? {
                    txn.remove_entry(&k);
                }
            } else {
                txn.put_entry(&k, &entry);
            }
            Ok(Reply::Int(1))
        };
        let r = e
            .submit(
                vec![WriteOp::Update {
                    key: key.to_owned(),
                    f: Box::new(f),
                }],
                tag.into_iter().collect(),
            )
            .await?;
        match r.first() {
            Some(Reply::Int(-1)) => continue,
            Some(Reply::Int(n)) => {
                return Ok(SetOutcome {
                    written: *n == 1,
                    old,
                })
            }
            other => return Err(Error::internal(format!("set reply {other:?}"))),
        }
    }
    Err(Error::internal(
        "set: too many concurrent conflicting updates",
    ))
}

/// The live string value of `key` and its hash; WrongType for another type.
async fn read_string(e: &Engine, key: &str) -> Result<(Option<String>, Option<[u8; 32]>)> {
    let k = key.to_owned();
    let entry = e
        .read(move |ix| {
            let Some(en) = ix.get_entry(k.as_bytes())? else {
                return Ok(None);
            };
            if matches!(en.expires_at_ms, Some(t) if t <= now_ms()) {
                return Ok(None);
            }
            if en.kind != ValueKind::String {
                return Err(Error::WrongType {
                    expected: ValueKind::String.name(),
                    actual: en.kind.name(),
                });
            }
            Ok(Some(en))
        })
        .await?;
    let Some(en) = entry else {
        return Ok((None, None));
    };
    let bytes = match &en.payload {
        Payload::Inline(b) => b.clone(),
        Payload::Blob => e.blobs().get_referenced(&en.hash).await?.to_vec(),
    };
    let s =
        String::from_utf8(bytes).map_err(|_| Error::Corrupt("stored text is not UTF-8".into()))?;
    Ok((Some(s), Some(en.hash)))
}

/// `DEL key [key ...]`: remove every key (of any type) in one atomic
/// group; how many existed (a key named twice counts once). Every key is
/// checked first: a bad one fails the call and nothing is removed.
pub(crate) async fn delete_many<K: AsRef<str>>(e: &Engine, keys: &[K]) -> Result<u64> {
    e.check_open()?;
    crate::types::at_least_one(keys, "delete", "key")?;
    for k in keys {
        e.check_key(k.as_ref())?;
    }
    let ops = keys
        .iter()
        .map(|k| WriteOp::Delete {
            key: k.as_ref().to_owned(),
        })
        .collect();
    let r = e.submit(ops, vec![]).await?;
    Ok(r.iter().filter(|r| **r == Reply::Bool(true)).count() as u64)
}

/// `EXISTS key [key ...]`: how many of the keys hold a value (a key named
/// twice counts twice, as Redis). Every key is checked first.
pub(crate) async fn exists_many<K: AsRef<str>>(e: &Engine, keys: &[K]) -> Result<u64> {
    e.check_open()?;
    crate::types::at_least_one(keys, "exists", "key")?;
    for k in keys {
        e.check_key(k.as_ref())?;
    }
    let mut n = 0;
    for k in keys {
        if e.exists(k.as_ref()).await? {
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_options() {
        assert_eq!(
            SetExpiry::from_options(None, None, None, None, false).unwrap(),
            SetExpiry::Never
        );
        assert_eq!(
            SetExpiry::from_options(None, Some(5), None, None, false).unwrap(),
            SetExpiry::Px(5)
        );
        assert_eq!(
            SetExpiry::from_options(None, None, None, None, true).unwrap(),
            SetExpiry::KeepTtl
        );
        assert!(SetExpiry::from_options(Some(1), Some(1), None, None, false).is_err());
        assert!(SetExpiry::from_options(Some(1), None, None, None, true).is_err());
        assert!(SetCond::from_flags(true, true).is_err());
        let now = 1_000_000;
        assert_eq!(SetExpiry::Ex(2).at_ms(now).unwrap(), Some(1_002_000));
        assert_eq!(SetExpiry::Px(2).at_ms(now).unwrap(), Some(1_000_002));
        assert_eq!(SetExpiry::ExAt(2).at_ms(now).unwrap(), Some(2_000));
        assert_eq!(SetExpiry::PxAt(2).at_ms(now).unwrap(), Some(2));
        for bad in [
            SetExpiry::Ex(0),
            SetExpiry::Px(-1),
            SetExpiry::ExAt(0),
            SetExpiry::PxAt(-5),
            SetExpiry::Ex(i64::MAX),
            SetExpiry::Px(i64::MAX),
        ] {
            assert!(bad.at_ms(now).is_err(), "{bad:?}");
        }
    }
}
