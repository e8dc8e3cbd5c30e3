//! The typed operations of the container types, one file per type as in the
//! core's `src/types/`: hash, list, set, sorted set (zset), JSON (as text),
//! stream, time series, geo, and the key-level calls (ttl: expiry and type).
//! Each is a thin conversion to the core's method of the same name; a key
//! holding another type is `CFS_RESULT_WRONG_TYPE`.

pub mod geo;
pub mod hash;
pub mod json;
pub mod list;
pub mod set;
pub mod stream;
pub mod timeseries;
pub mod ttl;
pub mod zset;

pub use geo::*;
pub use hash::*;
pub use json::*;
pub use list::*;
pub use set::*;
pub use stream::*;
pub use timeseries::*;
pub use ttl::*;
pub use zset::*;

use cyberfly_store::ValueKind;

/// The type of a stored value (`cfs_store_key_type`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum cfs_value_kind {
    String = 0,
    Hash = 1,
    List = 2,
    Set = 3,
    SortedSet = 4,
    Json = 5,
    Stream = 6,
    TimeSeries = 7,
    Geo = 8,
}

impl From<ValueKind> for cfs_value_kind {
    fn from(k: ValueKind) -> Self {
        match k {
            ValueKind::String => cfs_value_kind::String,
            ValueKind::Hash => cfs_value_kind::Hash,
            ValueKind::List => cfs_value_kind::List,
            ValueKind::Set => cfs_value_kind::Set,
            ValueKind::SortedSet => cfs_value_kind::SortedSet,
            ValueKind::Json => cfs_value_kind::Json,
            ValueKind::Stream => cfs_value_kind::Stream,
            ValueKind::TimeSeries => cfs_value_kind::TimeSeries,
            ValueKind::Geo => cfs_value_kind::Geo,
        }
    }
}
