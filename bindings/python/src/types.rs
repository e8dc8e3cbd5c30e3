//! The container types of `cyberfly_store::types` on `Store`, with redis-py's names,
//! arguments and result shapes where redis-py has the operation: hash, list,
//! set, sorted set, JSON, stream, time series, geo; TTLs; the node's filters
//! and `get_all`.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use super::convert::{py_to_json, Dict, Entries, Json, JsonList, Scored, Set};
use super::error::{invalid, IntoPyResult};
use super::scan::{Cursor, Pager};
use super::spawn;
use super::store::{args, text, PyStore, Text};
use cyberfly_store::types::geo::{GeoMatch, GeoUnit, RadiusOpts};
use cyberfly_store::value::ValueKind;

/// A radius query's matches in redis-py's shape: member names alone, or
/// `[member, distance?, (longitude, latitude)?]` lists when asked for.
struct GeoMatches {
    items: Vec<GeoMatch>,
    plain: bool,
}

impl<'py> IntoPyObject<'py> for GeoMatches {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;
    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let l = pyo3::types::PyList::empty(py);
        for m in self.items {
            if self.plain {
                l.append(m.member)?;
                continue;
            }
            let row = pyo3::types::PyList::empty(py);
            row.append(m.member)?;
            if let Some(d) = m.distance {
                row.append(d)?;
            }
            if let Some(c) = m.coord {
                row.append(c)?;
            }
            l.append(row)?;
        }
        Ok(l.into_any())
    }
}

fn radius_opts(
    withdist: bool,
    withcoord: bool,
    count: Option<usize>,
    sort: Option<&str>,
) -> PyResult<RadiusOpts> {
    let ascending = match sort.map(str::to_ascii_uppercase).as_deref() {
        None => None,
        Some("ASC") => Some(true),
        Some("DESC") => Some(false),
        Some(other) => return Err(invalid(format!("sort `{other}` is not ASC or DESC"))),
    };
    Ok(RadiusOpts {
        with_dist: withdist,
        with_coord: withcoord,
        count,
        ascending,
    })
}

fn kind(name: &str) -> PyResult<ValueKind> {
    Ok(match name.to_ascii_lowercase().replace('-', "_").as_str() {
        "string" => ValueKind::String,
        "hash" => ValueKind::Hash,
        "list" => ValueKind::List,
        "set" => ValueKind::Set,
        "sorted_set" | "sortedset" | "zset" => ValueKind::SortedSet,
        "json" => ValueKind::Json,
        "stream" => ValueKind::Stream,
        "timeseries" | "time_series" => ValueKind::TimeSeries,
        "geo" => ValueKind::Geo,
        other => {
            return Err(invalid(format!(
                "`{other}` is not a type: string, hash, list, set, sorted_set, json, stream, timeseries, geo"
            )))
        }
    })
}

/// A score or value: any real number, NaN refused by the core.
fn number(v: &Bound<'_, PyAny>, what: &str) -> PyResult<f64> {
    v.extract::<f64>()
        .map_err(|_| PyTypeError::new_err(format!("{what} must be a number")))
}

#[pymethods]
impl PyStore {
    // --------------------------------------------------------------- hash

    /// Set one field of a hash; 1 if the field is new, 0 if updated.
    fn hset<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        field: &Bound<'py, PyAny>,
        value: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (k, f, v) = (
            text(key, "key")?,
            text(field, "field")?,
            text(value, "value")?,
        );
        let s = self.s();
        spawn(py, async move { s.hset(&k, &f, v).await })
    }

    /// Set many fields of a hash from a mapping, in one atomic update;
    /// returns how many fields are new.
    fn hset_many<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        mapping: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let fields = super::store::pairs(mapping)?;
        let s = self.s();
        spawn(py, async move { s.hset_many(&k, fields).await })
    }

    /// The value of a field, or None.
    fn hget<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        field: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (k, f) = (text(key, "key")?, text(field, "field")?);
        let s = self.s();
        spawn(py, async move { s.hget(&k, &f).await })
    }

    /// Every field and value, as a dict (empty for a missing key).
    fn hgetall<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let s = self.s();
        spawn(py, async move { s.hgetall(&k).await.map(Dict) })
    }

    /// Remove fields; returns how many existed.
    #[pyo3(signature = (key, *fields))]
    fn hdel<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        fields: &Bound<'py, PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let fields = args(fields, "field")?;
        let s = self.s();
        spawn(py, async move { s.hdel(&k, fields).await })
    }

    /// Number of fields of a hash.
    fn hlen<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let s = self.s();
        spawn(py, async move { s.hlen(&k).await })
    }

    // --------------------------------------------------------------- list

    /// Prepend values (the last given ends first, as in Redis); returns the
    /// new length.
    #[pyo3(signature = (key, *values))]
    fn lpush<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        values: &Bound<'py, PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let v = args(values, "value")?;
        let s = self.s();
        spawn(py, async move { s.lpush(&k, v).await })
    }

    /// Append values; returns the new length.
    #[pyo3(signature = (key, *values))]
    fn rpush<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        values: &Bound<'py, PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let v = args(values, "value")?;
        let s = self.s();
        spawn(py, async move { s.rpush(&k, v).await })
    }

    /// Items from `start` to `stop` inclusive; negative indices count from
    /// the end (-1 is the last).
    fn lrange<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        start: i64,
        stop: i64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let s = self.s();
        spawn(py, async move { s.lrange(&k, start, stop).await })
    }

    /// Length of a list.
    fn llen<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let s = self.s();
        spawn(py, async move { s.llen(&k).await })
    }

    // ---------------------------------------------------------------- set

    /// Add members; returns how many were new.
    #[pyo3(signature = (key, *members))]
    fn sadd<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        members: &Bound<'py, PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let m = args(members, "member")?;
        let s = self.s();
        spawn(py, async move { s.sadd(&k, m).await })
    }

    /// Remove members; returns how many were present.
    #[pyo3(signature = (key, *members))]
    fn srem<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        members: &Bound<'py, PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let m = args(members, "member")?;
        let s = self.s();
        spawn(py, async move { s.srem(&k, m).await })
    }

    /// Every member, as a set.
    fn smembers<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let s = self.s();
        spawn(py, async move { s.smembers(&k).await.map(Set) })
    }

    /// Whether `member` is in the set.
    fn sismember<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        member: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (k, m) = (text(key, "key")?, text(member, "member")?);
        let s = self.s();
        spawn(py, async move { s.sismember(&k, &m).await })
    }

    /// Number of members of a set.
    fn scard<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let s = self.s();
        spawn(py, async move { s.scard(&k).await })
    }

    // --------------------------------------------------------- sorted set

    /// Add members with scores from a mapping {member: score} (or update
    /// their scores); returns how many members are new.
    fn zadd<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        mapping: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let d = mapping
            .cast::<PyDict>()
            .map_err(|_| PyTypeError::new_err("zadd takes a mapping {member: score}"))?;
        let mut items = Vec::with_capacity(d.len());
        for (m, sc) in d.iter() {
            items.push((text(&m, "member")?, number(&sc, "score")?));
        }
        let s = self.s();
        spawn(py, async move { s.zadd(&k, items).await })
    }

    /// Remove members; returns how many were present.
    #[pyo3(signature = (key, *members))]
    fn zrem<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        members: &Bound<'py, PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let m = args(members, "member")?;
        let s = self.s();
        spawn(py, async move { s.zrem(&k, m).await })
    }

    /// Members by rank from `start` to `stop` inclusive (negative from the
    /// end), lowest score first; with `withscores`, (member, score) tuples.
    #[pyo3(signature = (key, start, stop, withscores=false))]
    fn zrange<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        start: i64,
        stop: i64,
        withscores: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let s = self.s();
        spawn(py, async move {
            s.zrange(&k, start, stop)
                .await
                .map(|items| Scored { items, withscores })
        })
    }

    /// Members with `min <= score <= max`, lowest first; with
    /// `withscores`, (member, score) tuples.
    #[pyo3(signature = (key, min, max, withscores=false))]
    fn zrangebyscore<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        min: f64,
        max: f64,
        withscores: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let s = self.s();
        spawn(py, async move {
            s.zrangebyscore(&k, min, max)
                .await
                .map(|items| Scored { items, withscores })
        })
    }

    /// The score of a member, or None.
    fn zscore<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        member: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (k, m) = (text(key, "key")?, text(member, "member")?);
        let s = self.s();
        spawn(py, async move { s.zscore(&k, &m).await })
    }

    /// Number of members of a sorted set.
    fn zcard<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let s = self.s();
        spawn(py, async move { s.zcard(&k).await })
    }

    // --------------------------------------------------------------- json

    /// Set a JSON document (`path="$"`) or the value at a JSONPath inside
    /// the existing document. `value` is any JSON-shaped Python object.
    #[pyo3(signature = (key, value, path="$"))]
    fn json_set<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        value: &Bound<'py, PyAny>,
        path: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let v = py_to_json(value)?;
        let p = path.to_owned();
        let s = self.s();
        spawn(py, async move { super::none(s.json_set(&k, &p, v).await) })
    }

    /// The whole document (`path=None`), or the list of values a JSONPath
    /// selects; None for a missing key.
    #[pyo3(signature = (key, path=None))]
    fn json_get<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        path: Option<Text>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let s = self.s();
        spawn(py, async move {
            s.json_get(&k, path.as_deref()).await.map(Json)
        })
    }

    /// The values a JSONPath filter expression selects in the document of
    /// `key` (e.g. `$.items[?@.price < 10]`), as a list.
    fn json_filter<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        jsonpath: Text,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let p = jsonpath.0;
        let s = self.s();
        spawn(py, async move { s.json_filter(&k, &p).await.map(JsonList) })
    }

    // ------------------------------------------------------------- stream

    /// Append an entry with `fields` {field: value}; `id` is "*" (a new,
    /// increasing id), "{ms}-*" or an explicit "{ms}-{seq}". Returns the id.
    #[pyo3(signature = (key, fields, id="*"))]
    fn xadd<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        fields: &Bound<'py, PyAny>,
        id: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let f = super::store::pairs(fields)?;
        let id = id.to_owned();
        let s = self.s();
        spawn(py, async move { s.xadd(&k, &id, f).await })
    }

    /// Entries with `start <= id <= end` ("-" and "+" for the extremes),
    /// oldest first, at most `count`: a list of (id, {field: value}).
    #[pyo3(signature = (key, start="-", end="+", count=None))]
    fn xrange<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        start: &str,
        end: &str,
        count: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let (a, b) = (start.to_owned(), end.to_owned());
        let s = self.s();
        spawn(
            py,
            async move { s.xrange(&k, &a, &b, count).await.map(Entries) },
        )
    }

    /// Like `xrange`, newest first; `end` comes first, as in Redis.
    #[pyo3(signature = (key, end="+", start="-", count=None))]
    fn xrevrange<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        end: &str,
        start: &str,
        count: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let (a, b) = (start.to_owned(), end.to_owned());
        let s = self.s();
        spawn(py, async move {
            s.xrevrange(&k, &b, &a, count).await.map(Entries)
        })
    }

    /// Number of entries of a stream.
    fn xlen<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let s = self.s();
        spawn(py, async move { s.xlen(&k).await })
    }

    // -------------------------------------------------------- time series

    /// Add (or replace) the point at `timestamp_ms`; returns the timestamp.
    fn ts_add<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        timestamp_ms: i64,
        value: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let v = number(value, "value")?;
        let s = self.s();
        spawn(py, async move { s.ts_add(&k, timestamp_ms, v).await })
    }

    /// Points with `from_ms <= t <= to_ms`, oldest first, as
    /// (timestamp_ms, value) tuples.
    fn ts_range<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        from_ms: i64,
        to_ms: i64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let s = self.s();
        spawn(py, async move { s.ts_range(&k, from_ms, to_ms).await })
    }

    /// The latest point (timestamp_ms, value), or None.
    fn ts_get<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let s = self.s();
        spawn(py, async move { s.ts_get(&k).await })
    }

    // ---------------------------------------------------------------- geo

    /// Add or move a member at (longitude, latitude); returns 1 if it is
    /// new, 0 if it moved.
    fn geoadd<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        longitude: f64,
        latitude: f64,
        member: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let m = text(member, "member")?;
        let s = self.s();
        spawn(
            py,
            async move { s.geoadd(&k, [(longitude, latitude, m)]).await },
        )
    }

    /// Positions (longitude, latitude) of members, in order; None for a
    /// missing member.
    #[pyo3(signature = (key, *members))]
    fn geopos<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        members: &Bound<'py, PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let m = args(members, "member")?;
        let s = self.s();
        spawn(py, async move { s.geopos(&k, &m).await })
    }

    /// Distance between two members in `unit` (m, km, mi, ft); None if
    /// either is missing.
    #[pyo3(signature = (key, member1, member2, unit="m"))]
    fn geodist<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        member1: &Bound<'py, PyAny>,
        member2: &Bound<'py, PyAny>,
        unit: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let (a, b) = (text(member1, "member")?, text(member2, "member")?);
        let u = GeoUnit::parse(unit).py_err()?;
        let s = self.s();
        spawn(py, async move { s.geodist(&k, &a, &b, u).await })
    }

    /// Members within `radius` (in `unit`) of (longitude, latitude). Plain
    /// member names; with `withdist`/`withcoord`, [member, distance?,
    /// (longitude, latitude)?] lists as redis-py returns them. `sort` is
    /// "ASC" (nearest first), "DESC" or None; `count` keeps the first n.
    #[pyo3(signature = (key, longitude, latitude, radius, unit="m", withdist=false, withcoord=false, count=None, sort=None))]
    #[allow(clippy::too_many_arguments)]
    fn georadius<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        longitude: f64,
        latitude: f64,
        radius: f64,
        unit: &str,
        withdist: bool,
        withcoord: bool,
        count: Option<usize>,
        sort: Option<Text>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let u = GeoUnit::parse(unit).py_err()?;
        let opts = radius_opts(withdist, withcoord, count, sort.as_deref())?;
        let plain = !withdist && !withcoord;
        let s = self.s();
        spawn(py, async move {
            s.georadius(&k, longitude, latitude, radius, u, opts)
                .await
                .map(|items| GeoMatches { items, plain })
        })
    }

    /// Like `georadius`, centred on an existing member (empty if missing).
    #[pyo3(signature = (key, member, radius, unit="m", withdist=false, withcoord=false, count=None, sort=None))]
    #[allow(clippy::too_many_arguments)]
    fn georadiusbymember<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        member: &Bound<'py, PyAny>,
        radius: f64,
        unit: &str,
        withdist: bool,
        withcoord: bool,
        count: Option<usize>,
        sort: Option<Text>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let m = text(member, "member")?;
        let u = GeoUnit::parse(unit).py_err()?;
        let opts = radius_opts(withdist, withcoord, count, sort.as_deref())?;
        let plain = !withdist && !withcoord;
        let s = self.s();
        spawn(py, async move {
            s.georadiusbymember(&k, &m, radius, u, opts)
                .await
                .map(|items| GeoMatches { items, plain })
        })
    }

    // ---------------------------------------------------------------- ttl

    /// Expire `key` after `seconds` (0 expires it now); whether it exists.
    fn expire<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        seconds: u64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let s = self.s();
        spawn(py, async move { s.expire(&k, seconds).await })
    }

    /// Seconds to live: -2 if the key does not exist, -1 if it has no
    /// expiry (as Redis answers).
    fn ttl<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let s = self.s();
        spawn(py, async move { s.ttl(&k).await })
    }

    /// Milliseconds to live: -2 absent, -1 no expiry.
    fn pttl<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let s = self.s();
        spawn(py, async move { s.pttl(&k).await })
    }

    /// Remove the expiry of `key`; whether it had one.
    fn persist<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let s = self.s();
        spawn(py, async move { s.persist(&k).await })
    }

    /// The type name of a key ("string", "hash", "list", "set",
    /// "sorted_set", "json", "stream", "timeseries", "geo"), or None.
    fn key_type<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let s = self.s();
        spawn(py, async move {
            s.key_type(&k).await.map(|t| t.map(|t| t.name()))
        })
    }

    // ------------------------------------------------------------ filters

    /// Fields of a hash whose name contains `pattern`: a cursor of
    /// (field, value) (`async for`, or `await` for a list).
    fn filter_hash(&self, key: &Bound<'_, PyAny>, pattern: &str) -> PyResult<Cursor> {
        let k = text(key, "key")?;
        Ok(Cursor::new(Pager::Pair(
            self.store.filter_hash(&k, pattern),
        )))
    }

    /// Items of a list containing `pattern`, in order: a cursor of str.
    fn filter_list(&self, key: &Bound<'_, PyAny>, pattern: &str) -> PyResult<Cursor> {
        let k = text(key, "key")?;
        Ok(Cursor::new(Pager::Text(
            self.store.filter_list(&k, pattern),
        )))
    }

    /// Members of a set containing `pattern`: a cursor of str.
    fn filter_set(&self, key: &Bound<'_, PyAny>, pattern: &str) -> PyResult<Cursor> {
        let k = text(key, "key")?;
        Ok(Cursor::new(Pager::Text(self.store.filter_set(&k, pattern))))
    }

    /// Members with `min <= score <= max`, lowest first: a cursor of
    /// (member, score).
    fn filter_sorted_set(&self, key: &Bound<'_, PyAny>, min: f64, max: f64) -> PyResult<Cursor> {
        let k = text(key, "key")?;
        let sc = self.store.filter_sorted_set(&k, min, max).py_err()?;
        Ok(Cursor::new(Pager::Scored(sc)))
    }

    /// Stream entries with ids in [start, end] having a value that contains
    /// `pattern` (every entry when None): a cursor of (id, {field: value}).
    #[pyo3(signature = (key, start="-", end="+", pattern=None))]
    fn filter_stream(
        &self,
        key: &Bound<'_, PyAny>,
        start: &str,
        end: &str,
        pattern: Option<Text>,
    ) -> PyResult<Cursor> {
        let k = text(key, "key")?;
        let sc = self
            .store
            .filter_stream(&k, start, end, pattern.as_deref())
            .py_err()?;
        Ok(Cursor::new(Pager::Entry(sc)))
    }

    /// Points with `from_ms <= t <= to_ms` and `min <= value <= max`: a
    /// cursor of (timestamp_ms, value).
    #[pyo3(signature = (key, from_ms, to_ms, min=f64::NEG_INFINITY, max=f64::INFINITY))]
    fn filter_timeseries(
        &self,
        key: &Bound<'_, PyAny>,
        from_ms: i64,
        to_ms: i64,
        min: f64,
        max: f64,
    ) -> PyResult<Cursor> {
        let k = text(key, "key")?;
        let sc = self
            .store
            .filter_timeseries(&k, from_ms, to_ms, min, max)
            .py_err()?;
        Ok(Cursor::new(Pager::Point(sc)))
    }

    /// Every key of type `type` ("string", "hash", ...) in database `db`
    /// (keys "{db}:..."): a cursor of (key, value, signature) where value
    /// has the shape of the type's own read and signature is None or
    /// {"public_key", "signature", "timestamp_ms"}.
    #[pyo3(signature = (db, r#type))]
    fn get_all(&self, db: &str, r#type: &str) -> PyResult<Cursor> {
        let kind = kind(r#type)?;
        Ok(Cursor::new(Pager::All(self.store.get_all(db, kind))))
    }
}
