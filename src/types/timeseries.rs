//! TimeSeries: ms timestamp → f64, one sub-entry per point keyed by the
//! order-preserving timestamp, so time ranges are scans.

use super::int;
use super::{
    dec_i64, enc_i64, f64_from_le, f64_le, finite, load_or_new, range, read_meta, save, sub_key,
    tag, SubScan,
};
use crate::engine::writer::{Reply, Txn};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::value::ValueKind;

pub(crate) fn decode_point(sfx: &[u8], v: &[u8]) -> Result<(i64, f64)> {
    Ok((dec_i64(sfx)?, f64_from_le(v)?))
}

fn bounds(from: i64, to: i64) -> (Vec<u8>, Option<Vec<u8>>) {
    let hi = if to == i64::MAX {
        None
    } else {
        Some(enc_i64(to + 1).to_vec())
    };
    (enc_i64(from).to_vec(), hi)
}

/// `ts_add` on the writer thread; returns how many points were new.
pub(crate) fn txn_ts_add(txn: &mut Txn<'_>, k: &str, points: Vec<(i64, f64)>) -> Result<i64> {
    let (entry, mut meta) = load_or_new(txn, k, ValueKind::TimeSeries)?;
    let mut added = 0;
    for (t, v) in points {
        let sk = sub_key(k, meta.version, tag::TS, &enc_i64(t));
        if txn.get_raw(&sk)?.is_none() {
            meta.size += 1;
            added += 1;
        }
        txn.put_raw(sk, f64_le(v).to_vec());
    }
    save(txn, k, entry, &meta);
    Ok(added)
}

/// Add (or replace) the point at `timestamp_ms`; returns the timestamp.
pub(crate) async fn ts_add(e: &Engine, key: &str, timestamp_ms: i64, value: f64) -> Result<i64> {
    ts_add_many(e, key, [(timestamp_ms, value)]).await?;
    Ok(timestamp_ms)
}
/// Add many points in one atomic update; returns how many were new.
pub(crate) async fn ts_add_many(
    e: &Engine,
    key: &str,
    points: impl IntoIterator<Item = (i64, f64)>,
) -> Result<i64> {
    let points: Vec<(i64, f64)> = points.into_iter().collect();
    for (_, v) in &points {
        finite(*v, "time-series value")?;
    }
    let k = key.to_owned();
    let r = e
        .update(key, move |txn| txn_ts_add(txn, &k, points).map(Reply::Int))
        .await?;
    int(r)
}
/// Points with `from_ms <= t <= to_ms`, oldest first.
pub(crate) async fn ts_range(
    e: &Engine,
    key: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<(i64, f64)>> {
    e.check_key(key)?;
    let k = key.to_owned();
    e.read(move |ix| {
        let Some(m) = read_meta(ix, &k, ValueKind::TimeSeries)? else {
            return Ok(Vec::new());
        };
        if from_ms > to_ms {
            return Ok(Vec::new());
        }
        let (lo, hi) = bounds(from_ms, to_ms);
        range(
            ix,
            &k,
            m.version,
            tag::TS,
            &lo,
            hi.as_deref(),
            usize::MAX,
            false,
        )?
        .into_iter()
        .map(|(s, v)| decode_point(&s, &v))
        .collect()
    })
    .await
}
/// The latest point.
pub(crate) async fn ts_get(e: &Engine, key: &str) -> Result<Option<(i64, f64)>> {
    e.check_key(key)?;
    let k = key.to_owned();
    e.read(move |ix| {
        let Some(m) = read_meta(ix, &k, ValueKind::TimeSeries)? else {
            return Ok(None);
        };
        range(ix, &k, m.version, tag::TS, &[], None, 1, true)?
            .first()
            .map(|(s, v)| decode_point(s, v))
            .transpose()
    })
    .await
}
/// Number of points.
pub(crate) async fn ts_len(e: &Engine, key: &str) -> Result<u64> {
    e.container_len(key, ValueKind::TimeSeries).await
}
/// Points in `[from_ms, to_ms]` whose value is in `[min, max]` (the
/// node's `filter_timeseries`): a scan of the time range, streamed.
pub(crate) fn filter_timeseries(
    e: &Engine,
    key: &str,
    from_ms: i64,
    to_ms: i64,
    min: f64,
    max: f64,
) -> Result<SubScan<(i64, f64)>> {
    if min.is_nan() || max.is_nan() {
        return Err(Error::invalid("value bounds must not be NaN"));
    }
    let (lo, hi) = if from_ms > to_ms {
        (enc_i64(0).to_vec(), Some(enc_i64(0).to_vec()))
    } else {
        bounds(from_ms, to_ms)
    };
    Ok(SubScan::new(
        e.clone(),
        key,
        ValueKind::TimeSeries,
        tag::TS,
        lo,
        hi,
        Box::new(move |s, v| {
            let (t, x) = decode_point(s, v)?;
            Ok((x >= min && x <= max).then_some((t, x)))
        }),
    ))
}
