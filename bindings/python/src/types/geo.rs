//! Geo sets (`src/types/geo.rs`): `geoadd`, `geopos`, `geodist`,
//! `georadius`, `georadiusbymember`, with redis-py's result shapes.

use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::error::{invalid, IntoPyResult};
use crate::spawn;
use crate::store::{args, text, PyStore, Text};
use cyberfly_store::{GeoMatch, GeoUnit, RadiusOpts};

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

#[pymethods]
impl PyStore {
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
    /// "ASC" (nearest first), "DESC" or None; `count` keeps the nearest n
    /// (with no `sort`, as Redis: COUNT implies ASC) and must be > 0.
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
}
