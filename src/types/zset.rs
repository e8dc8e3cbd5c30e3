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
    match txn_zadd_with(txn, k, items, ZaddOptions::default())? {
        ZaddReply::Count(n) => Ok(n),
        ZaddReply::Score(_) => Err(Error::internal("zadd without incr answered a score")),
    }
}

/// Write `member` with `score` (a new member, or a new score for one):
/// its `_id` replaces the member that had it.
fn put_member(
    txn: &mut Txn<'_>,
    k: &str,
    meta: &mut Meta,
    member: &str,
    old: Option<f64>,
    score: f64,
) -> Result<()> {
    if let Some(id) = doc_id(member) {
        let ik = sub_key(k, meta.version, tag::ZID, id.as_bytes());
        if let Some(prev) = txn.get_raw(&ik)? {
            let prev = utf8(&prev)?;
            if prev != member {
                remove_member(txn, k, meta, &prev)?;
            }
        }
        txn.put_raw(ik, member.as_bytes().to_vec());
    }
    let mk = sub_key(k, meta.version, tag::ZMEMBER, member.as_bytes());
    match old {
        Some(o) => {
            let mut zk = enc_f64(o).to_vec();
            zk.extend_from_slice(member.as_bytes());
            txn.remove_raw(sub_key(k, meta.version, tag::ZSCORE, &zk));
        }
        None => meta.size += 1,
    }
    txn.put_raw(mk, f64_le(score).to_vec());
    let mut zk = enc_f64(score).to_vec();
    zk.extend_from_slice(member.as_bytes());
    txn.put_raw(sub_key(k, meta.version, tag::ZSCORE, &zk), Vec::new());
    Ok(())
}

/// Redis's `ZADD` options (NX, XX, GT, LT, CH, INCR).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ZaddOptions {
    /// Only add new members, never update.
    pub nx: bool,
    /// Only update members that exist, never add.
    pub xx: bool,
    /// Update a member only when its new score is greater.
    pub gt: bool,
    /// Update a member only when its new score is less.
    pub lt: bool,
    /// Count changed members too (added plus updated), not only added ones.
    pub ch: bool,
    /// Add the score to the member's (one member only); answer the new
    /// score, or none when a condition said no.
    pub incr: bool,
}

impl ZaddOptions {
    /// The combinations Redis refuses, with its words.
    pub fn check(self, items: usize) -> Result<Self> {
        if self.nx && self.xx {
            return Err(Error::invalid(
                "XX and NX options at the same time are not compatible",
            ));
        }
        if (self.gt && self.lt) || (self.nx && (self.gt || self.lt)) {
            return Err(Error::invalid(
                "GT, LT, and/or NX options at the same time are not compatible",
            ));
        }
        if self.incr && items != 1 {
            return Err(Error::invalid(
                "INCR option supports a single increment-element pair",
            ));
        }
        Ok(self)
    }
}

/// What [`zadd_with`] answers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ZaddReply {
    /// Members added (with `ch`: added or whose score changed).
    Count(i64),
    /// With `incr`: the member's new score, or `None` when NX, XX, GT or LT
    /// said no.
    Score(Option<f64>),
}

/// `zadd` with options on the writer thread (options checked).
pub(crate) fn txn_zadd_with(
    txn: &mut Txn<'_>,
    k: &str,
    items: Vec<(String, f64)>,
    opts: ZaddOptions,
) -> Result<ZaddReply> {
    let (entry, mut meta) = if opts.xx {
        // XX never creates the key.
        match load(txn, k, ValueKind::SortedSet)? {
            Some(x) => x,
            None => {
                return Ok(if opts.incr {
                    ZaddReply::Score(None)
                } else {
                    ZaddReply::Count(0)
                })
            }
        }
    } else {
        load_or_new(txn, k, ValueKind::SortedSet)?
    };
    let (mut added, mut changed) = (0, 0);
    let mut score_reply = None;
    for (member, score) in items {
        let mk = sub_key(k, meta.version, tag::ZMEMBER, member.as_bytes());
        let old = txn.get_raw(&mk)?.map(|b| f64_from_le(&b)).transpose()?;
        match old {
            Some(o) => {
                if opts.nx {
                    continue;
                }
                let new = if opts.incr { o + score } else { score };
                if new.is_nan() {
                    return Err(Error::invalid("resulting score is not a number (NaN)"));
                }
                finite(new, "resulting score")?;
                if (opts.gt && new <= o) || (opts.lt && new >= o) {
                    continue;
                }
                if new != o {
                    put_member(txn, k, &mut meta, &member, Some(o), new)?;
                    changed += 1;
                }
                score_reply = Some(new);
            }
            None => {
                if opts.xx {
                    continue;
                }
                put_member(txn, k, &mut meta, &member, None, score)?;
                added += 1;
                score_reply = Some(score);
            }
        }
    }
    save(txn, k, entry, &meta);
    Ok(if opts.incr {
        ZaddReply::Score(score_reply)
    } else if opts.ch {
        ZaddReply::Count(added + changed)
    } else {
        ZaddReply::Count(added)
    })
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
        e.check_member(m.len())?;
    }
    let k = key.to_owned();
    let r = e
        .update(key, move |txn| txn_zadd(txn, &k, items).map(Reply::Int))
        .await?;
    int(r)
}
/// `ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member ...` as Redis 7.0
/// (the combinations it refuses are InvalidArgument, and so is no member).
/// Scores, and with `incr` the sum, must be finite.
pub(crate) async fn zadd_with<M: Into<String>>(
    e: &Engine,
    key: &str,
    items: impl IntoIterator<Item = (M, f64)>,
    opts: ZaddOptions,
) -> Result<ZaddReply> {
    let items: Vec<(String, f64)> = items.into_iter().map(|(m, s)| (m.into(), s)).collect();
    at_least_one(&items, "zadd", "member")?;
    let opts = opts.check(items.len())?;
    for (m, s) in &items {
        finite(*s, "score")?;
        e.check_member(m.len())?;
    }
    let k = key.to_owned();
    let r = e
        .update(key, move |txn| {
            Ok(match txn_zadd_with(txn, &k, items, opts)? {
                ZaddReply::Count(n) => Reply::Int(n),
                ZaddReply::Score(None) => Reply::Unit,
                // Display of an f64 parses back to the same f64.
                ZaddReply::Score(Some(s)) => Reply::Str(s.to_string()),
            })
        })
        .await?;
    match r {
        Reply::Int(n) => Ok(ZaddReply::Count(n)),
        Reply::Unit => Ok(ZaddReply::Score(None)),
        Reply::Str(s) => s
            .parse()
            .map(|s| ZaddReply::Score(Some(s)))
            .map_err(|_| Error::internal(format!("zadd score reply {s:?}"))),
        other => Err(Error::internal(format!("zadd reply {other:?}"))),
    }
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
    zrange_by(e, key, ZRangeBy::Rank(start, stop), false, None).await
}

/// Ranks `start..=stop` (Redis's, negative from the end) of the order
/// highest score first with `rev`, lowest first without.
fn ranks_at(
    ix: &crate::engine::index::Index,
    k: &str,
    start: i64,
    stop: i64,
    rev: bool,
) -> Result<Vec<(String, f64)>> {
    let Some(m) = read_meta(ix, k, ValueKind::SortedSet)? else {
        return Ok(Vec::new());
    };
    let len = m.size as i64;
    let Some((s, e)) = rank_range(start, stop, len) else {
        return Ok(Vec::new());
    };
    // In ascending ranks: s..=e, or for `rev` the mirror of it.
    let (s, e) = if rev {
        (len - 1 - e, len - 1 - s)
    } else {
        (s, e)
    };
    let want = (e - s + 1) as usize;
    // Walk from whichever end is nearer.
    let rows = if s <= len - 1 - e {
        let mut rows = range(
            ix,
            k,
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
            k,
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
    let mut out = rows
        .into_iter()
        .map(|(sfx, _)| decode_z(&sfx))
        .collect::<Result<Vec<_>>>()?;
    if rev {
        out.reverse();
    }
    Ok(out)
}

/// A score bound as Redis takes it: a number (inclusive), `-inf`, `+inf`
/// (or `inf`), or `(` before either for an exclusive bound.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreBound {
    pub value: f64,
    pub exclusive: bool,
}

impl ScoreBound {
    /// `value` itself is in the range.
    pub fn inclusive(value: f64) -> Self {
        ScoreBound {
            value,
            exclusive: false,
        }
    }

    /// `value` itself is not in the range.
    pub fn exclusive(value: f64) -> Self {
        ScoreBound {
            value,
            exclusive: true,
        }
    }

    /// Parse Redis's text form; anything else (NaN included) is
    /// "min or max is not a float", as Redis answers.
    pub fn parse(s: &str) -> Result<Self> {
        let (exclusive, t) = match s.strip_prefix('(') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let bad = || Error::invalid(format!("min or max is not a float: `{s}`"));
        let value = match t.to_ascii_lowercase().as_str() {
            "-inf" => f64::NEG_INFINITY,
            "+inf" | "inf" => f64::INFINITY,
            v if v.contains(['n', 'i']) => return Err(bad()), // nan, infinity
            v => v.parse::<f64>().map_err(|_| bad())?,
        };
        Ok(ScoreBound { value, exclusive })
    }

    fn check(self) -> Result<Self> {
        if self.value.is_nan() {
            return Err(Error::invalid("score bounds must not be NaN"));
        }
        Ok(self)
    }

    fn below(self, score: f64) -> bool {
        // `self` as a minimum admits `score`
        if self.exclusive {
            score > self.value
        } else {
            score >= self.value
        }
    }

    fn above(self, score: f64) -> bool {
        // `self` as a maximum admits `score`
        if self.exclusive {
            score < self.value
        } else {
            score <= self.value
        }
    }
}

/// What a [`zrange_by`] selects.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ZRangeBy {
    /// Ranks `start..=stop` (negative from the end).
    Rank(i64, i64),
    /// Scores between two bounds, given in Redis's order: (min, max), or
    /// (max, min) with `rev`.
    Score(ScoreBound, ScoreBound),
}

/// Redis's `LIMIT offset count` from redis-py's `start`/`offset` and
/// `num`: both or neither.
pub fn limit_of(offset: Option<i64>, count: Option<i64>) -> Result<Option<(i64, i64)>> {
    match (offset, count) {
        (None, None) => Ok(None),
        (Some(o), Some(c)) => Ok(Some((o, c))),
        _ => Err(Error::invalid(
            "offset (start) and num must be given together",
        )),
    }
}

/// `ZRANGE key start stop [BYSCORE] [REV] [LIMIT offset count]` as Redis
/// 7.0 (also `ZRANGEBYSCORE` and `ZREVRANGE`): members with their scores,
/// lowest first, highest first with `rev`. `limit` (skip `offset`, then at
/// most `count`, all when negative; a negative offset selects nothing)
/// goes with scores only, as in Redis.
pub(crate) async fn zrange_by(
    e: &Engine,
    key: &str,
    by: ZRangeBy,
    rev: bool,
    limit: Option<(i64, i64)>,
) -> Result<Vec<(String, f64)>> {
    e.check_key(key)?;
    let (min, max) = match by {
        ZRangeBy::Rank(start, stop) => {
            if limit.is_some() {
                return Err(Error::invalid(
                    "syntax error, LIMIT is only supported in combination with BYSCORE",
                ));
            }
            let k = key.to_owned();
            return e.read(move |ix| ranks_at(ix, &k, start, stop, rev)).await;
        }
        ZRangeBy::Score(a, b) if rev => (b.check()?, a.check()?),
        ZRangeBy::Score(a, b) => (a.check()?, b.check()?),
    };
    if let Some((o, c)) = limit {
        if o < 0 || c == 0 {
            // Redis still checks the key's type.
            e.container_len(key, ValueKind::SortedSet).await?;
            return Ok(Vec::new());
        }
    }
    if min.value > max.value {
        e.container_len(key, ValueKind::SortedSet).await?;
        return Ok(Vec::new());
    }
    let mut rows: Vec<(String, f64)> = filter_sorted_set(e, key, min.value, max.value)?
        .collect_all()
        .await?
        .into_iter()
        .filter(|(_, s)| min.below(*s) && max.above(*s))
        .collect();
    if rev {
        rows.reverse();
    }
    if let Some((o, c)) = limit {
        let rest = rows.into_iter().skip(o as usize);
        rows = if c < 0 {
            rest.collect()
        } else {
            rest.take(c as usize).collect()
        };
    }
    Ok(rows)
}

/// `ZCOUNT key min max`: how many members have a score within the bounds.
pub(crate) async fn zcount(e: &Engine, key: &str, min: ScoreBound, max: ScoreBound) -> Result<u64> {
    Ok(zrange_by(e, key, ZRangeBy::Score(min, max), false, None)
        .await?
        .len() as u64)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_bounds_parse_as_redis() {
        assert_eq!(
            ScoreBound::parse("1.5").unwrap(),
            ScoreBound::inclusive(1.5)
        );
        assert_eq!(ScoreBound::parse("(1").unwrap(), ScoreBound::exclusive(1.0));
        assert_eq!(
            ScoreBound::parse("-inf").unwrap(),
            ScoreBound::inclusive(f64::NEG_INFINITY)
        );
        assert_eq!(
            ScoreBound::parse("+inf").unwrap(),
            ScoreBound::inclusive(f64::INFINITY)
        );
        assert_eq!(
            ScoreBound::parse("(+inf").unwrap(),
            ScoreBound::exclusive(f64::INFINITY)
        );
        assert_eq!(
            ScoreBound::parse("1e3").unwrap(),
            ScoreBound::inclusive(1000.0)
        );
        for bad in ["", "(", "x", "nan", "(nan", "1.5.2", "[1", "infinity"] {
            assert!(ScoreBound::parse(bad).is_err(), "{bad}");
        }
        assert!(ScoreBound::exclusive(1.0).below(1.5));
        assert!(!ScoreBound::exclusive(1.0).below(1.0));
        assert!(ScoreBound::inclusive(1.0).below(1.0));
        assert!(!ScoreBound::exclusive(2.0).above(2.0));
        assert!(limit_of(Some(1), None).is_err());
        assert_eq!(limit_of(Some(1), Some(-1)).unwrap(), Some((1, -1)));
    }

    #[test]
    fn zadd_options_refused_as_redis() {
        let o = |nx, xx, gt, lt, incr| ZaddOptions {
            nx,
            xx,
            gt,
            lt,
            ch: false,
            incr,
        };
        assert!(o(true, true, false, false, false).check(1).is_err());
        assert!(o(true, false, true, false, false).check(1).is_err());
        assert!(o(false, false, true, true, false).check(1).is_err());
        assert!(o(false, false, false, false, true).check(2).is_err());
        assert!(o(false, true, true, false, true).check(1).is_ok());
    }
}
