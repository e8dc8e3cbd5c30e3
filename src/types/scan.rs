//! Streamed reads: [`SubScan`] pages through one container's sub-entries
//! with a predicate applied on the blocking pool (filters), and [`GetAll`]
//! pages through the keys of one type under a database prefix (the node's
//! `get_all_*`). Neither holds more than a page in memory.

use std::sync::Arc;

use super::{range, read_meta, stream, timeseries, utf8, zset, Meta};
use crate::engine::clock::now_ms;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::value::{decode_string, Entry, Payload, SigMeta, ValueKind};

/// Decodes one sub-entry (suffix, value) and applies the predicate.
pub type Decode<T> = Box<dyn Fn(&[u8], &[u8]) -> Result<Option<T>> + Send + Sync>;

/// A paged scan over one container's sub-entries of one tag.
pub struct SubScan<T> {
    store: Engine,
    key: String,
    kind: ValueKind,
    tag: u8,
    from: Vec<u8>,
    to: Option<Vec<u8>>,
    version: Option<u64>,
    after: Option<Vec<u8>>,
    done: bool,
    decode: Arc<Decode<T>>,
}

impl<T: Send + 'static> SubScan<T> {
    pub(crate) fn new(
        store: Engine,
        key: &str,
        kind: ValueKind,
        tag: u8,
        from: Vec<u8>,
        to: Option<Vec<u8>>,
        decode: Decode<T>,
    ) -> Self {
        SubScan {
            store,
            key: key.to_owned(),
            kind,
            tag,
            from,
            to,
            version: None,
            after: None,
            done: false,
            decode: Arc::new(decode),
        }
    }

    /// The next page of matches; `None` at the end. The scan follows the
    /// container it started on: if the key is deleted or replaced meanwhile,
    /// the scan ends.
    pub async fn next_page(&mut self) -> Result<Option<Vec<T>>> {
        if self.done {
            return Ok(None);
        }
        self.store.check_key(&self.key)?;
        let page = self.store.config().scan_page_size;
        let (key, kind, tag) = (self.key.clone(), self.kind, self.tag);
        let (from, to) = (self.from.clone(), self.to.clone());
        let (version, after) = (self.version, self.after.clone());
        let decode = self.decode.clone();
        let (out, ver, last, done) = self
            .store
            .read(move |ix| {
                let Some(m) = read_meta(ix, &key, kind)? else {
                    return Ok((Vec::new(), None, None, true));
                };
                if version.is_some_and(|v| v != m.version) {
                    return Ok((Vec::new(), None, None, true));
                }
                let mut lower = match after {
                    Some(mut a) => {
                        a.push(0);
                        a
                    }
                    None => from,
                };
                let mut out = Vec::new();
                loop {
                    let rows = range(ix, &key, m.version, tag, &lower, to.as_deref(), page, false)?;
                    let n = rows.len();
                    let last = rows.last().map(|(s, _)| s.clone());
                    for (s, v) in &rows {
                        if let Some(x) = decode(s, v)? {
                            out.push(x);
                        }
                    }
                    let done = n < page;
                    if !out.is_empty() || done {
                        return Ok((out, Some(m.version), last, done));
                    }
                    // A whole page filtered out: keep going on this hop.
                    let mut l = last.expect("non-empty page");
                    l.push(0);
                    lower = l;
                }
            })
            .await?;
        self.version = ver;
        self.done = done;
        if let Some(l) = last {
            self.after = Some(l);
        }
        if out.is_empty() {
            self.done = true;
            return Ok(None);
        }
        Ok(Some(out))
    }

    /// Everything left, in one vector.
    pub async fn collect_all(mut self) -> Result<Vec<T>> {
        let mut all = Vec::new();
        while let Some(p) = self.next_page().await? {
            all.extend(p);
        }
        Ok(all)
    }
}

/// The contents of a key of any type.
#[derive(Debug, Clone, PartialEq)]
pub enum TypedValue {
    String(String),
    Hash(Vec<(String, String)>),
    List(Vec<String>),
    Set(Vec<String>),
    SortedSet(Vec<(String, f64)>),
    Json(serde_json::Value),
    Stream(Vec<stream::StreamEntry>),
    TimeSeries(Vec<(i64, f64)>),
    Geo(Vec<(String, f64, f64)>),
}

/// One row of `get_all`: key, contents, signature metadata.
pub type GetAllRow = (String, TypedValue, Option<SigMeta>);

/// Pages through the keys of one type under `{db}:`.
pub struct GetAll {
    store: Engine,
    prefix: Vec<u8>,
    kind: ValueKind,
    after: Option<Vec<u8>>,
    done: bool,
}

enum Pending {
    Ready(TypedValue),
    Blob([u8; 32]),
}

/// Read a blob-backed String or Json value that `materialize` left pending.
async fn finish(store: &Engine, kind: ValueKind, p: Pending) -> Result<TypedValue> {
    Ok(match p {
        Pending::Ready(v) => v,
        Pending::Blob(hash) => {
            let b = store.blobs().get_referenced(&hash).await?;
            match kind {
                ValueKind::Json => TypedValue::Json(super::json::parse_doc(&b)?),
                _ => TypedValue::String(decode_string(b.to_vec())?),
            }
        }
    })
}

fn materialize(ix: &crate::engine::index::Index, key: &str, e: &Entry) -> Result<Pending> {
    let all = |tag: u8, m: &Meta| range(ix, key, m.version, tag, &[], None, usize::MAX, false);
    let meta = || match &e.payload {
        Payload::Inline(b) => Meta::decode(b),
        Payload::Blob => Err(Error::Corrupt("container metadata in a blob".into())),
    };
    use super::tag;
    Ok(Pending::Ready(match e.kind {
        ValueKind::String => match &e.payload {
            Payload::Inline(b) => TypedValue::String(decode_string(b.clone())?),
            Payload::Blob => return Ok(Pending::Blob(e.hash)),
        },
        ValueKind::Json => match super::json::inline_doc(e) {
            Some(d) => TypedValue::Json(d?),
            None => return Ok(Pending::Blob(e.hash)),
        },
        ValueKind::Hash => TypedValue::Hash(
            all(tag::HASH, &meta()?)?
                .into_iter()
                .map(|(f, v)| Ok((utf8(&f)?, utf8(&v)?)))
                .collect::<Result<_>>()?,
        ),
        ValueKind::List => TypedValue::List(
            all(tag::LIST, &meta()?)?
                .into_iter()
                .map(|(_, v)| utf8(&v))
                .collect::<Result<_>>()?,
        ),
        ValueKind::Set => TypedValue::Set(
            all(tag::SET, &meta()?)?
                .into_iter()
                .map(|(s, _)| utf8(&s))
                .collect::<Result<_>>()?,
        ),
        ValueKind::SortedSet => TypedValue::SortedSet(
            all(tag::ZSCORE, &meta()?)?
                .into_iter()
                .map(|(s, _)| zset::decode_z(&s))
                .collect::<Result<_>>()?,
        ),
        ValueKind::Stream => TypedValue::Stream(
            all(tag::STREAM, &meta()?)?
                .into_iter()
                .map(|(s, v)| stream::decode_entry(&s, &v))
                .collect::<Result<_>>()?,
        ),
        ValueKind::TimeSeries => TypedValue::TimeSeries(
            all(tag::TS, &meta()?)?
                .into_iter()
                .map(|(s, v)| timeseries::decode_point(&s, &v))
                .collect::<Result<_>>()?,
        ),
        ValueKind::Geo => TypedValue::Geo(
            all(tag::GEO, &meta()?)?
                .into_iter()
                .map(|(m, v)| {
                    let (lo, la) = super::geo::decode_pos(&v)?;
                    Ok((utf8(&m)?, lo, la))
                })
                .collect::<Result<_>>()?,
        ),
    }))
}

impl GetAll {
    /// The next page of rows; `None` at the end.
    pub async fn next_page(&mut self) -> Result<Option<Vec<GetAllRow>>> {
        while !self.done {
            let page = self.store.config().scan_page_size;
            let (prefix, after, kind) = (self.prefix.clone(), self.after.clone(), self.kind);
            let (rows, last, n) = self
                .store
                .read(move |ix| {
                    let raw = ix.scan_page(&prefix, after.as_deref(), page)?;
                    let n = raw.len();
                    let last = raw.last().map(|(k, _)| k.clone());
                    let now = now_ms();
                    let mut rows = Vec::new();
                    for (k, v) in raw {
                        let e = Entry::decode(&v)?;
                        if e.kind != kind || matches!(e.expires_at_ms, Some(t) if t <= now) {
                            continue;
                        }
                        let key = String::from_utf8(k)
                            .map_err(|_| Error::Corrupt("key is not UTF-8".into()))?;
                        let p = materialize(ix, &key, &e)?;
                        rows.push((key, p, e.sig));
                    }
                    Ok((rows, last, n))
                })
                .await?;
            self.done = n < page;
            self.after = last;
            if rows.is_empty() {
                continue;
            }
            let mut out = Vec::with_capacity(rows.len());
            for (key, p, sig) in rows {
                let v = finish(&self.store, kind, p).await?;
                out.push((key, v, sig));
            }
            return Ok(Some(out));
        }
        Ok(None)
    }

    pub async fn collect_all(mut self) -> Result<Vec<GetAllRow>> {
        let mut all = Vec::new();
        while let Some(p) = self.next_page().await? {
            all.extend(p);
        }
        Ok(all)
    }
}

/// Every key of `kind` in database `db` (keys `{db}:…`), with contents
/// and signature metadata, streamed a page of keys at a time.
pub(crate) fn get_all(e: &Engine, db: &str, kind: ValueKind) -> GetAll {
    GetAll {
        store: e.clone(),
        prefix: format!("{db}:").into_bytes(),
        kind,
        after: None,
        done: false,
    }
}

/// A BLAKE3 digest of the store's whole logical state: every live key
/// with its type, contents, expiry and signature metadata, in key order.
/// Internal details (container versions, blob placement, orphans not yet
/// swept) do not affect it, so two stores holding the same data agree.
pub(crate) async fn state_digest(e: &Engine) -> Result<String> {
    let mut h = blake3::Hasher::new();
    let mut after: Option<Vec<u8>> = None;
    loop {
        let page = e.config().scan_page_size;
        let a = after.clone();
        let (rows, last, n) = e
            .read(move |ix| {
                let raw = ix.scan_page(&[], a.as_deref(), page)?;
                let n = raw.len();
                let last = raw.last().map(|(k, _)| k.clone());
                let now = now_ms();
                let mut rows = Vec::new();
                for (k, v) in raw {
                    let e = Entry::decode(&v)?;
                    if matches!(e.expires_at_ms, Some(t) if t <= now) {
                        continue;
                    }
                    let key = String::from_utf8(k)
                        .map_err(|_| Error::Corrupt("key is not UTF-8".into()))?;
                    let p = materialize(ix, &key, &e)?;
                    rows.push((key, e, p));
                }
                Ok((rows, last, n))
            })
            .await?;
        for (key, ent, p) in rows {
            let v = finish(e, ent.kind, p).await?;
            let row = format!(
                "{key}\u{0}{}\u{0}{v:?}\u{0}{:?}\u{0}{:?}\n",
                ent.kind.name(),
                ent.expires_at_ms,
                ent.sig
            );
            h.update(&(row.len() as u64).to_le_bytes());
            h.update(row.as_bytes());
        }
        if n < page {
            break;
        }
        after = last;
    }
    Ok(h.finalize().to_hex().to_string())
}
