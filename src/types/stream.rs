//! Stream: entries `id → [(field, value)]` with ids `{ms}-{seq}`, stored as
//! sub-entries keyed by (ms, seq) big-endian so that id ranges are scans.

use super::{load_or_new, range, read_meta, save, sub_key, tag, utf8, SubScan};
use crate::engine::writer::{Reply, Txn};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::value::ValueKind;

/// One stream entry: its id and its field/value pairs, in the order given.
pub type StreamEntry = (String, Vec<(String, String)>);

/// A stream id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    fn encode(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.ms.to_be_bytes());
        b[8..].copy_from_slice(&self.seq.to_be_bytes());
        b
    }

    fn decode(b: &[u8]) -> Result<Self> {
        if b.len() != 16 {
            return Err(Error::Corrupt("stream id sub-key is not 16 bytes".into()));
        }
        Ok(StreamId {
            ms: u64::from_be_bytes(b[..8].try_into().expect("8")),
            seq: u64::from_be_bytes(b[8..].try_into().expect("8")),
        })
    }

    /// Parse `ms-seq` or `ms` (seq = `default_seq`).
    pub fn parse(s: &str, default_seq: u64) -> Result<Self> {
        let bad = || Error::invalid(format!("`{s}` is not a stream id (ms-seq)"));
        let (ms, seq) = match s.split_once('-') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        if ms.is_empty() || !ms.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        let ms: u64 = ms.parse().map_err(|_| bad())?;
        let seq = match seq {
            None => default_seq,
            Some(q) if !q.is_empty() && q.bytes().all(|c| c.is_ascii_digit()) => {
                q.parse().map_err(|_| bad())?
            }
            Some(_) => return Err(bad()),
        };
        Ok(StreamId { ms, seq })
    }

    /// A range bound: `-`, `+`, `ms` or `ms-seq`, or an exclusive `(ms-seq`
    /// / `(ms` (Redis 6.2+): the next id after it for a start, the one
    /// before it for an end. `(-`, `(+`, an exclusive start at the largest
    /// id and an exclusive end at `0-0` are refused, as Redis refuses them.
    pub fn parse_bound(s: &str, is_end: bool) -> Result<Self> {
        if let Some(rest) = s.strip_prefix('(') {
            let which = if is_end { "end" } else { "start" };
            let bad = || Error::invalid(format!("invalid {which} ID for the interval: `{s}`"));
            if rest == "-" || rest == "+" {
                return Err(bad());
            }
            let id = StreamId::parse(rest, if is_end { u64::MAX } else { 0 })?;
            return if is_end { id.prev() } else { id.next() }.ok_or_else(bad);
        }
        match s {
            "-" => Ok(StreamId::MIN),
            "+" => Ok(StreamId::MAX),
            _ => StreamId::parse(s, if is_end { u64::MAX } else { 0 }),
        }
    }

    /// The smallest id greater than this one.
    fn next(self) -> Option<Self> {
        match self.seq.checked_add(1) {
            Some(seq) => Some(StreamId { ms: self.ms, seq }),
            None => self.ms.checked_add(1).map(|ms| StreamId { ms, seq: 0 }),
        }
    }

    /// The largest id smaller than this one.
    fn prev(self) -> Option<Self> {
        match self.seq.checked_sub(1) {
            Some(seq) => Some(StreamId { ms: self.ms, seq }),
            None => self
                .ms
                .checked_sub(1)
                .map(|ms| StreamId { ms, seq: u64::MAX }),
        }
    }
}

/// Exclusive upper bound (encoded) of ids `<= hi`; `None` for no bound.
fn upper_bound(hi: StreamId) -> Option<Vec<u8>> {
    if hi == StreamId::MAX {
        return None;
    }
    let next = if hi.seq == u64::MAX {
        StreamId {
            ms: hi.ms + 1,
            seq: 0,
        }
    } else {
        StreamId {
            ms: hi.ms,
            seq: hi.seq + 1,
        }
    };
    Some(next.encode().to_vec())
}

/// What `xadd` was asked for.
pub(crate) enum IdSpec {
    Auto,
    AutoSeq(u64),
    Explicit(StreamId),
}

pub(crate) fn parse_spec(id: &str) -> Result<IdSpec> {
    if id == "*" {
        return Ok(IdSpec::Auto);
    }
    if let Some(ms) = id.strip_suffix("-*") {
        let ms = StreamId::parse(ms, 0)
            .map_err(|_| Error::invalid(format!("`{id}` is not a stream id")))?;
        return Ok(IdSpec::AutoSeq(ms.ms));
    }
    Ok(IdSpec::Explicit(StreamId::parse(id, 0)?))
}

fn encode_fields(fields: &[(String, String)]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&(fields.len() as u32).to_le_bytes());
    for (f, v) in fields {
        b.extend_from_slice(&(f.len() as u32).to_le_bytes());
        b.extend_from_slice(f.as_bytes());
        b.extend_from_slice(&(v.len() as u32).to_le_bytes());
        b.extend_from_slice(v.as_bytes());
    }
    b
}

pub(crate) fn decode_fields(b: &[u8]) -> Result<Vec<(String, String)>> {
    let bad = || Error::Corrupt("stream entry fields truncated".into());
    let mut pos = 0usize;
    let mut take = |n: usize| -> Result<&[u8]> {
        let s = b.get(pos..pos + n).ok_or_else(bad)?;
        pos += n;
        Ok(s)
    };
    let n = u32::from_le_bytes(take(4)?.try_into().expect("4")) as usize;
    let mut out = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        let l = u32::from_le_bytes(take(4)?.try_into().expect("4")) as usize;
        let f = utf8(take(l)?)?;
        let l = u32::from_le_bytes(take(4)?.try_into().expect("4")) as usize;
        let v = utf8(take(l)?)?;
        out.push((f, v));
    }
    Ok(out)
}

pub(crate) fn decode_entry(sfx: &[u8], v: &[u8]) -> Result<StreamEntry> {
    Ok((StreamId::decode(sfx)?.to_string(), decode_fields(v)?))
}

/// `xadd` on the writer thread.
pub(crate) fn txn_xadd(
    txn: &mut Txn<'_>,
    k: &str,
    spec: IdSpec,
    fields: Vec<(String, String)>,
) -> Result<StreamId> {
    let (entry, mut meta) = load_or_new(txn, k, ValueKind::Stream)?;
    let last = StreamId {
        ms: meta.last_ms,
        seq: meta.last_seq,
    };
    let next_in = |ms: u64| -> Result<StreamId> {
        if ms > last.ms {
            Ok(StreamId { ms, seq: 0 })
        } else if ms == last.ms && last.seq < u64::MAX {
            Ok(StreamId {
                ms,
                seq: last.seq + 1,
            })
        } else {
            Err(Error::invalid(format!(
                "stream id must be greater than the last id {last}"
            )))
        }
    };
    let new = match spec {
        IdSpec::Auto => next_in(txn.now_ms.max(last.ms))?,
        IdSpec::AutoSeq(ms) => next_in(ms)?,
        IdSpec::Explicit(id) => {
            if id <= last || id == StreamId::MIN {
                return Err(Error::invalid(format!(
                    "stream id {id} must be greater than the last id {last} (and than 0-0)"
                )));
            }
            id
        }
    };
    txn.put_raw(
        sub_key(k, meta.version, tag::STREAM, &new.encode()),
        encode_fields(&fields),
    );
    meta.last_ms = new.ms;
    meta.last_seq = new.seq;
    meta.size += 1;
    save(txn, k, entry, &meta);
    Ok(new)
}

/// The id of an entry written by a signed operation: its timestamp, and a
/// sequence number derived from its `op_id` (the first 53 bits of
/// BLAKE3(op_id), so that it also fits a JavaScript number). It depends on
/// the operation only, so replicas receiving operations in any order give
/// every entry the same id and the same place.
pub(crate) fn op_stream_id(timestamp: u64, op_id: &str) -> StreamId {
    let h = blake3::hash(op_id.as_bytes());
    let seq = u64::from_be_bytes(h.as_bytes()[..8].try_into().expect("8")) >> 11;
    StreamId {
        ms: timestamp,
        seq: seq.max(u64::from(timestamp == 0)),
    }
}

/// Insert an entry at a given id, which need not be after the last one (on
/// the writer thread, for signed operations). A taken id is an error.
pub(crate) fn txn_xadd_at(
    txn: &mut Txn<'_>,
    k: &str,
    id: StreamId,
    fields: Vec<(String, String)>,
) -> Result<StreamId> {
    let (entry, mut meta) = load_or_new(txn, k, ValueKind::Stream)?;
    let sk = sub_key(k, meta.version, tag::STREAM, &id.encode());
    if txn.get_raw(&sk)?.is_some() {
        return Err(Error::invalid(format!("stream id {id} is taken")));
    }
    txn.put_raw(sk, encode_fields(&fields));
    let last = StreamId {
        ms: meta.last_ms,
        seq: meta.last_seq,
    };
    if id > last {
        meta.last_ms = id.ms;
        meta.last_seq = id.seq;
    }
    meta.size += 1;
    save(txn, k, entry, &meta);
    Ok(id)
}

/// Append an entry. `id` is `*` (a new id `{now ms}-{seq}`, strictly
/// increasing even within one millisecond), `{ms}-*`, or an explicit
/// `{ms}-{seq}` that must be greater than the last id. Returns the id.
pub(crate) async fn xadd<F: Into<String>, V: Into<String>>(
    e: &Engine,
    key: &str,
    id: &str,
    fields: impl IntoIterator<Item = (F, V)>,
) -> Result<String> {
    let fields: Vec<(String, String)> = fields
        .into_iter()
        .map(|(f, v)| (f.into(), v.into()))
        .collect();
    if fields.is_empty() {
        return Err(Error::invalid("a stream entry needs at least one field"));
    }
    let spec = parse_spec(id)?;
    // As Redis, the id is judged before the key's type.
    if matches!(spec, IdSpec::Explicit(id) if id == StreamId { ms: 0, seq: 0 }) {
        return Err(Error::invalid("the id in xadd must be greater than 0-0"));
    }
    let size: usize = fields.iter().map(|(f, v)| f.len() + v.len()).sum();
    e.check_value(size)?;
    let k = key.to_owned();
    let r = e
        .update(key, move |txn| {
            txn_xadd(txn, &k, spec, fields).map(|id| Reply::Str(id.to_string()))
        })
        .await?;
    match r {
        Reply::Str(s) => Ok(s),
        other => Err(Error::internal(format!("xadd reply {other:?}"))),
    }
}
async fn xrange_inner(
    e: &Engine,
    key: &str,
    start: &str,
    end: &str,
    count: Option<usize>,
    reverse: bool,
) -> Result<Vec<StreamEntry>> {
    e.check_key(key)?;
    let lo = StreamId::parse_bound(start, false)?;
    let hi = StreamId::parse_bound(end, true)?;
    let k = key.to_owned();
    e.read(move |ix| {
        let Some(m) = read_meta(ix, &k, ValueKind::Stream)? else {
            return Ok(Vec::new());
        };
        if lo > hi {
            return Ok(Vec::new());
        }
        let to = upper_bound(hi);
        range(
            ix,
            &k,
            m.version,
            tag::STREAM,
            &lo.encode(),
            to.as_deref(),
            count.unwrap_or(usize::MAX),
            reverse,
        )?
        .into_iter()
        .map(|(s, v)| decode_entry(&s, &v))
        .collect()
    })
    .await
}
/// Entries with `start <= id <= end` (`-` and `+` for the extremes),
/// oldest first, at most `count`.
pub(crate) async fn xrange(
    e: &Engine,
    key: &str,
    start: &str,
    end: &str,
    count: Option<usize>,
) -> Result<Vec<StreamEntry>> {
    xrange_inner(e, key, start, end, count, false).await
}
/// Like [`xrange`](Self::xrange), newest first; note the argument order
/// (`end` first), as in Redis.
pub(crate) async fn xrevrange(
    e: &Engine,
    key: &str,
    end: &str,
    start: &str,
    count: Option<usize>,
) -> Result<Vec<StreamEntry>> {
    xrange_inner(e, key, start, end, count, true).await
}
/// Number of entries.
pub(crate) async fn xlen(e: &Engine, key: &str) -> Result<u64> {
    e.container_len(key, ValueKind::Stream).await
}
/// Entries with ids in `[start, end]` having a value containing
/// `pattern` (the node's `filter_stream`), streamed in id order.
pub(crate) fn filter_stream(
    e: &Engine,
    key: &str,
    start: &str,
    end: &str,
    pattern: Option<&str>,
) -> Result<SubScan<StreamEntry>> {
    let lo = StreamId::parse_bound(start, false)?;
    let hi = StreamId::parse_bound(end, true)?;
    let pattern = pattern.map(str::to_owned);
    Ok(SubScan::new(
        e.clone(),
        key,
        ValueKind::Stream,
        tag::STREAM,
        lo.encode().to_vec(),
        upper_bound(hi),
        Box::new(move |s, v| {
            let id = StreamId::decode(s)?;
            let fields = decode_fields(v)?;
            let keep = match &pattern {
                Some(p) => fields.iter().any(|(_, val)| val.contains(p.as_str())),
                None => true,
            };
            Ok(keep.then(|| (id.to_string(), fields)))
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse() {
        assert_eq!(
            StreamId::parse("5-3", 0).unwrap(),
            StreamId { ms: 5, seq: 3 }
        );
        assert_eq!(StreamId::parse("5", 9).unwrap(), StreamId { ms: 5, seq: 9 });
        for bad in [
            "",
            "-",
            "a-1",
            "1-",
            "1-b",
            "1-2-3",
            " 1",
            "18446744073709551616",
        ] {
            assert!(StreamId::parse(bad, 0).is_err(), "{bad}");
        }
        assert!(matches!(parse_spec("*"), Ok(IdSpec::Auto)));
        assert!(matches!(parse_spec("7-*"), Ok(IdSpec::AutoSeq(7))));
        assert!(parse_spec("x-*").is_err());
    }

    /// Exclusive bounds as Redis 6.2+: `(5-3` starts after 5-3, ends
    /// before it; `(5` as a start is after 5-0, as an end before 5-max.
    #[test]
    fn exclusive_bounds() {
        let id = |ms, seq| StreamId { ms, seq };
        assert_eq!(StreamId::parse_bound("(5-3", false).unwrap(), id(5, 4));
        assert_eq!(StreamId::parse_bound("(5-3", true).unwrap(), id(5, 2));
        assert_eq!(StreamId::parse_bound("(5", false).unwrap(), id(5, 1));
        assert_eq!(
            StreamId::parse_bound("(5", true).unwrap(),
            id(5, u64::MAX - 1)
        );
        assert_eq!(
            StreamId::parse_bound("(5-0", true).unwrap(),
            id(4, u64::MAX)
        );
        assert_eq!(
            StreamId::parse_bound(&format!("(5-{}", u64::MAX), false).unwrap(),
            id(6, 0)
        );
        for (bad, is_end) in [
            ("(-", false),
            ("(+", true),
            ("(0-0", true),
            ("(", false),
            ("(x", false),
        ] {
            assert!(StreamId::parse_bound(bad, is_end).is_err(), "{bad}");
        }
        let max = format!("({}-{}", u64::MAX, u64::MAX);
        assert!(StreamId::parse_bound(&max, false).is_err());
    }

    #[test]
    fn fields_round_trip() {
        let f = vec![("a".to_string(), "".to_string()), ("ü".into(), "v".into())];
        assert_eq!(decode_fields(&encode_fields(&f)).unwrap(), f);
        assert!(decode_fields(&encode_fields(&f)[..5]).is_err());
    }
}
