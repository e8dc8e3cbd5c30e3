//! The node's `get_all` (`src/types/scan.rs`, `GetAll`): every key
//! of one type in one database, as a cursor. The filters of each type are in
//! that type's file.

use pyo3::prelude::*;

use crate::error::invalid;
use crate::scan::{Cursor, Pager};
use crate::store::PyStore;
use cyberfly_store::ValueKind;

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

#[pymethods]
impl PyStore {
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
