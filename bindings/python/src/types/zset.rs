//! Sorted sets (`src/types/zset.rs`): `zadd`, `zrem`, `zrange`,
//! `zrangebyscore`, `zscore`, `zcard`, and the filter `filter_sorted_set`.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};
use pyo3::IntoPyObjectExt;

use cyberfly_store::{limit_of, ScoreBound, ZRangeBy, ZaddOptions, ZaddReply};

use super::number;
use crate::convert::Scored;
use crate::error::IntoPyResult;
use crate::scan::{Cursor, Pager};
use crate::spawn;
use crate::store::{args, text, PyStore};

/// A score bound: a number (inclusive), or Redis's text ("-inf", "+inf",
/// "(1" exclusive) parsed by the core.
fn bound(v: &Bound<'_, PyAny>) -> PyResult<ScoreBound> {
    if v.is_instance_of::<PyString>() {
        return ScoreBound::parse(&text(v, "score bound")?).py_err();
    }
    Ok(ScoreBound::inclusive(number(v, "score bound")?))
}

/// A rank: an int.
fn rank(v: &Bound<'_, PyAny>, what: &str) -> PyResult<i64> {
    v.extract::<i64>()
        .map_err(|_| PyTypeError::new_err(format!("{what} must be an int (a rank)")))
}

/// `zadd`'s answer: a count, or with `incr` the new score or None.
enum ZaddAnswer {
    Count(i64),
    Score(Option<f64>),
}

impl<'py> IntoPyObject<'py> for ZaddAnswer {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;
    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self {
            ZaddAnswer::Count(n) => n.into_bound_py_any(py),
            ZaddAnswer::Score(v) => v.into_bound_py_any(py),
        }
    }
}

#[pymethods]
impl PyStore {
    /// Add members with scores from a mapping {member: score} (or update
    /// their scores); returns how many members are new. redis-py's options:
    /// `nx` (only add), `xx` (only update), `gt`/`lt` (update only to a
    /// greater/smaller score), `ch` (count changed members too), `incr`
    /// (add the score to the one member's; answers the new score, or None
    /// when a condition said no).
    #[pyo3(signature = (key, mapping, nx=false, xx=false, ch=false, incr=false, gt=false, lt=false))]
    #[allow(clippy::too_many_arguments)]
    fn zadd<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        mapping: &Bound<'py, PyAny>,
        nx: bool,
        xx: bool,
        ch: bool,
        incr: bool,
        gt: bool,
        lt: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let d = mapping
            .cast::<PyDict>()
            .map_err(|_| PyTypeError::new_err("zadd takes a mapping {member: score}"))?;
        let mut items = Vec::with_capacity(d.len());
        for (m, sc) in d.iter() {
            items.push((text(&m, "member")?, number(&sc, "score")?));
        }
        let opts = ZaddOptions {
            nx,
            xx,
            gt,
            lt,
            ch,
            incr,
        };
        let s = self.s();
        spawn(py, async move {
            Ok(match s.zadd_with(&k, items, opts).await? {
                ZaddReply::Count(n) => ZaddAnswer::Count(n),
                ZaddReply::Score(v) => ZaddAnswer::Score(v),
            })
        })
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

    /// Members by rank from `start` to `end` inclusive (negative from the
    /// end), lowest score first; with `withscores`, (member, score)
    /// tuples. redis-py's options: `desc` (highest first), `byscore`
    /// (`start` and `end` are score bounds: numbers, "-inf", "+inf",
    /// "(1" for exclusive; with `desc`, `start` is the maximum), and with
    /// it `offset`/`num` (skip, then at most `num`; negative: all).
    #[pyo3(signature = (key, start, end, desc=false, withscores=false, byscore=false, offset=None, num=None))]
    #[allow(clippy::too_many_arguments)]
    fn zrange<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        start: &Bound<'py, PyAny>,
        end: &Bound<'py, PyAny>,
        desc: bool,
        withscores: bool,
        byscore: bool,
        offset: Option<i64>,
        num: Option<i64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let by = if byscore {
            ZRangeBy::Score(bound(start)?, bound(end)?)
        } else {
            ZRangeBy::Rank(rank(start, "start")?, rank(end, "end")?)
        };
        let limit = limit_of(offset, num).py_err()?;
        let s = self.s();
        spawn(py, async move {
            s.zrange_by(&k, by, desc, limit)
                .await
                .map(|items| Scored { items, withscores })
        })
    }

    /// Members with `min <= score <= max`, lowest first; bounds as redis-py
    /// passes them (numbers, "-inf", "+inf", "(1" for exclusive); `start`
    /// and `num` (together) skip `start` members, then keep at most `num`;
    /// with `withscores`, (member, score) tuples.
    #[pyo3(signature = (key, min, max, start=None, num=None, withscores=false))]
    #[allow(clippy::too_many_arguments)]
    fn zrangebyscore<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        min: &Bound<'py, PyAny>,
        max: &Bound<'py, PyAny>,
        start: Option<i64>,
        num: Option<i64>,
        withscores: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let by = ZRangeBy::Score(bound(min)?, bound(max)?);
        let limit = limit_of(start, num).py_err()?;
        let s = self.s();
        spawn(py, async move {
            s.zrange_by(&k, by, false, limit)
                .await
                .map(|items| Scored { items, withscores })
        })
    }

    /// How many members have a score between `min` and `max` (bounds as
    /// in `zrangebyscore`).
    fn zcount<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        min: &Bound<'py, PyAny>,
        max: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = text(key, "key")?;
        let (lo, hi) = (bound(min)?, bound(max)?);
        let s = self.s();
        spawn(py, async move { s.zcount(&k, lo, hi).await })
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

    /// Members with `min <= score <= max`, lowest first: a cursor of
    /// (member, score).
    fn filter_sorted_set(&self, key: &Bound<'_, PyAny>, min: f64, max: f64) -> PyResult<Cursor> {
        let k = text(key, "key")?;
        let sc = self.store.filter_sorted_set(&k, min, max).py_err()?;
        Ok(Cursor::new(Pager::Scored(sc)))
    }
}
