//! Geo: member → (longitude, latitude), one sub-entry per member. Distances
//! are haversine on a sphere of radius 6 371 km, as the Cyberfly node
//! computes them.

use super::int;
use super::{f64_from_le, load_or_new, range, read_meta, save, sub_key, tag, utf8};
use crate::engine::writer::{Reply, Txn};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::value::ValueKind;

const EARTH_RADIUS_M: f64 = 6_371_000.0;
/// The latitude limits of Web-Mercator, as Redis enforces them.
pub const LAT_LIMIT: f64 = 85.051_128_78;

/// Distance units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeoUnit {
    M,
    Km,
    Mi,
    Ft,
}

impl GeoUnit {
    pub fn parse(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "m" => Ok(GeoUnit::M),
            "km" => Ok(GeoUnit::Km),
            "mi" => Ok(GeoUnit::Mi),
            "ft" => Ok(GeoUnit::Ft),
            other => Err(Error::invalid(format!(
                "unit `{other}` is not one of m, km, mi, ft"
            ))),
        }
    }

    fn metres(self) -> f64 {
        match self {
            GeoUnit::M => 1.0,
            GeoUnit::Km => 1000.0,
            GeoUnit::Mi => 1609.34,
            GeoUnit::Ft => 0.3048,
        }
    }
}

/// Options of a radius query.
#[derive(Debug, Clone, Default)]
pub struct RadiusOpts {
    /// Include each match's distance (in the query's unit).
    pub with_dist: bool,
    /// Include each match's coordinates.
    pub with_coord: bool,
    /// At most this many matches, the nearest unless `ascending` is
    /// `Some(false)` (a count with no order sorts nearest first, as Redis);
    /// `Some(0)` is `InvalidArgument`.
    pub count: Option<usize>,
    /// `Some(true)` nearest first, `Some(false)` farthest first, `None`:
    /// member order.
    pub ascending: Option<bool>,
}

/// One match of a radius query.
#[derive(Debug, Clone, PartialEq)]
pub struct GeoMatch {
    pub member: String,
    pub distance: Option<f64>,
    pub coord: Option<(f64, f64)>,
}

pub fn check_coords(lon: f64, lat: f64) -> Result<()> {
    if !(lon.is_finite() && (-180.0..=180.0).contains(&lon)) {
        return Err(Error::invalid(format!(
            "longitude {lon} is outside -180..180"
        )));
    }
    if !(lat.is_finite() && (-LAT_LIMIT..=LAT_LIMIT).contains(&lat)) {
        return Err(Error::invalid(format!(
            "latitude {lat} is outside -{LAT_LIMIT}..{LAT_LIMIT}"
        )));
    }
    Ok(())
}

/// Haversine distance in metres.
pub fn haversine_m(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = (lat2 - lat1).to_radians();
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * a.sqrt().asin()
}

fn encode_pos(lon: f64, lat: f64) -> Vec<u8> {
    let mut b = lon.to_le_bytes().to_vec();
    b.extend_from_slice(&lat.to_le_bytes());
    b
}

pub(crate) fn decode_pos(b: &[u8]) -> Result<(f64, f64)> {
    if b.len() != 16 {
        return Err(Error::Corrupt("geo position is not 16 bytes".into()));
    }
    Ok((f64_from_le(&b[..8])?, f64_from_le(&b[8..])?))
}

/// `geoadd` on the writer thread (coordinates already checked).
pub(crate) fn txn_geoadd(
    txn: &mut Txn<'_>,
    k: &str,
    items: Vec<(f64, f64, String)>,
) -> Result<i64> {
    let (entry, mut meta) = load_or_new(txn, k, ValueKind::Geo)?;
    let mut added = 0;
    for (lo, la, m) in items {
        let sk = sub_key(k, meta.version, tag::GEO, m.as_bytes());
        if txn.get_raw(&sk)?.is_none() {
            meta.size += 1;
            added += 1;
        }
        txn.put_raw(sk, encode_pos(lo, la));
    }
    save(txn, k, entry, &meta);
    Ok(added)
}

/// Add or move members: (longitude, latitude, member). Returns how many
/// were new.
pub(crate) async fn geoadd<M: Into<String>>(
    e: &Engine,
    key: &str,
    items: impl IntoIterator<Item = (f64, f64, M)>,
) -> Result<i64> {
    let items: Vec<(f64, f64, String)> = items
        .into_iter()
        .map(|(lo, la, m)| (lo, la, m.into()))
        .collect();
    for (lo, la, m) in &items {
        check_coords(*lo, *la)?;
        e.check_member(m.len())?;
    }
    let k = key.to_owned();
    let r = e
        .update(key, move |txn| txn_geoadd(txn, &k, items).map(Reply::Int))
        .await?;
    int(r)
}
/// Positions (longitude, latitude) of members, in order.
pub(crate) async fn geopos<M: AsRef<str>>(
    e: &Engine,
    key: &str,
    members: &[M],
) -> Result<Vec<Option<(f64, f64)>>> {
    e.check_key(key)?;
    let k = key.to_owned();
    let members: Vec<String> = members.iter().map(|m| m.as_ref().to_owned()).collect();
    e.read(move |ix| {
        let Some(meta) = read_meta(ix, &k, ValueKind::Geo)? else {
            return Ok(vec![None; members.len()]);
        };
        members
            .iter()
            .map(|m| {
                ix.get_raw(&sub_key(&k, meta.version, tag::GEO, m.as_bytes()))?
                    .map(|v| decode_pos(&v))
                    .transpose()
            })
            .collect()
    })
    .await
}
/// Distance between two members in `unit`; `None` if either is missing.
pub(crate) async fn geodist(
    e: &Engine,
    key: &str,
    m1: &str,
    m2: &str,
    unit: GeoUnit,
) -> Result<Option<f64>> {
    let p = geopos(e, key, &[m1, m2]).await?;
    Ok(match (p[0], p[1]) {
        (Some((lo1, la1)), Some((lo2, la2))) => {
            Some(haversine_m(lo1, la1, lo2, la2) / unit.metres())
        }
        _ => None,
    })
}
/// Members within `radius` of (longitude, latitude).
pub(crate) async fn georadius(
    e: &Engine,
    key: &str,
    longitude: f64,
    latitude: f64,
    radius: f64,
    unit: GeoUnit,
    opts: RadiusOpts,
) -> Result<Vec<GeoMatch>> {
    e.check_key(key)?;
    check_coords(longitude, latitude)?;
    if opts.count == Some(0) {
        return Err(Error::invalid("count must be > 0"));
    }
    if !(radius.is_finite() && radius >= 0.0) {
        return Err(Error::invalid(format!(
            "radius {radius} must be finite and >= 0"
        )));
    }
    let k = key.to_owned();
    e.read(move |ix| {
        let Some(meta) = read_meta(ix, &k, ValueKind::Geo)? else {
            return Ok(Vec::new());
        };
        let limit_m = radius * unit.metres();
        let mut out = Vec::new();
        // Latitude band pre-filter: a degree of latitude is ~111 km
        // everywhere, so points outside the band are skipped before the
        // trigonometry.
        let band = limit_m / 111_000.0 + 1e-9;
        for (m, v) in range(ix, &k, meta.version, tag::GEO, &[], None, usize::MAX, false)? {
            let (lo, la) = decode_pos(&v)?;
            if (la - latitude).abs() > band {
                continue;
            }
            let d = haversine_m(longitude, latitude, lo, la);
            if d <= limit_m {
                out.push((utf8(&m)?, d, lo, la));
            }
        }
        // As Redis: a count without an order keeps the nearest (COUNT
        // implies ASC), not the first members by name.
        let ascending = opts.ascending.or(opts.count.map(|_| true));
        match ascending {
            Some(true) => out.sort_by(|a, b| a.1.total_cmp(&b.1)),
            Some(false) => out.sort_by(|a, b| b.1.total_cmp(&a.1)),
            None => {}
        }
        if let Some(c) = opts.count {
            out.truncate(c);
        }
        Ok(out
            .into_iter()
            .map(|(member, d, lo, la)| GeoMatch {
                member,
                distance: opts.with_dist.then(|| d / unit.metres()),
                coord: opts.with_coord.then_some((lo, la)),
            })
            .collect())
    })
    .await
}
/// Members within `radius` of another member (see `Store::georadiusbymember`).
pub(crate) async fn georadiusbymember(
    e: &Engine,
    key: &str,
    member: &str,
    radius: f64,
    unit: GeoUnit,
    opts: RadiusOpts,
) -> Result<Vec<GeoMatch>> {
    match geopos(e, key, &[member]).await?[0] {
        Some((lo, la)) => georadius(e, key, lo, la, radius, unit, opts).await,
        // As Redis: no key, no matches; a key without the member is an
        // error ("could not decode requested zset member").
        None => match crate::types::ttl::key_type(e, key).await? {
            Some(_) => Err(Error::invalid(format!(
                "member {member:?} is not in the geo set {key:?}"
            ))),
            None => Ok(Vec::new()),
        },
    }
}

/// Every member with its position.
pub(crate) async fn geo_members(e: &Engine, key: &str) -> Result<Vec<(String, f64, f64)>> {
    e.check_key(key)?;
    let k = key.to_owned();
    e.read(move |ix| {
        let Some(meta) = read_meta(ix, &k, ValueKind::Geo)? else {
            return Ok(Vec::new());
        };
        range(ix, &k, meta.version, tag::GEO, &[], None, usize::MAX, false)?
            .into_iter()
            .map(|(m, v)| {
                let (lo, la) = decode_pos(&v)?;
                Ok((utf8(&m)?, lo, la))
            })
            .collect()
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn haversine_known_distance() {
        // Palermo – Catania, the Redis documentation's example: ~166 km.
        let d = haversine_m(13.361389, 38.115556, 15.087269, 37.502669);
        assert!((d - 166_274.0).abs() < 500.0, "{d}");
        assert_eq!(haversine_m(1.0, 2.0, 1.0, 2.0), 0.0);
    }

    #[test]
    fn coordinates_are_checked() {
        assert!(check_coords(180.0, 85.0).is_ok());
        assert!(check_coords(180.1, 0.0).is_err());
        assert!(check_coords(0.0, 86.0).is_err());
        assert!(check_coords(f64::NAN, 0.0).is_err());
        assert!(GeoUnit::parse("KM").is_ok());
        assert!(GeoUnit::parse("yd").is_err());
    }
}
