//! cyberfly_store: the storage core of a Cyberfly data node.
//!
//! A typed key-value store whose values are content-addressed by BLAKE3:
//! small values live inline in a sled index, large ones in an iroh-blobs
//! `FsStore`. Reads are served from a tiered moka cache; writes go through a
//! group-commit writer with three durability modes. See `docs/ARCHITECTURE.md`.
//!
//! ```no_run
//! # async fn demo() -> cyberfly_store::Result<()> {
//! use cyberfly_store::{Config, Store};
//! let store = Store::open("/tmp/demo-store", Config::default()).await?;
//! store.set("mydb:greeting", "hello").await?;
//! assert_eq!(store.get("mydb:greeting").await?.as_deref(), Some("hello"));
//! store.close().await?;
//! # Ok(()) }
//! ```

// Every module is private; the public API is the list below (rustc then
// reports what nothing uses). docs/ARCHITECTURE.md draws the layers.
mod check;
mod engine;
mod error;
mod keyspace;
mod oplog;
mod store;
mod sync;
mod types;
mod value;
mod verify;

pub use check::{check, CheckReport, Problem};
pub use engine::config::{Config, ConfigBuilder, Durability, LogCheck, ThroughputMode};
pub use engine::journal::FILE as OPLOG_JOURNAL_FILE;
pub use engine::mark::FILE as DURABILITY_MARK_FILE;
pub use engine::{JournalReplay, Recovery};
pub use error::{Error, ErrorCode, Result};
pub use oplog::{
    check_owner, new_op_id, parse_store_type, store_type_name, LoadReport, OpLogScan, Outcome,
    SignedOperation,
};
pub use store::{
    now_ms, ContentHash, GetMany, GetManyPending, Miss, PendingGet, Scan, Stats, Store,
};
pub use sync::{ProgressFn, ServeAccess, SyncConfig, SyncHandle, SyncReport, SyncServer, ALPN};
pub use types::geo::{GeoMatch, GeoUnit, RadiusOpts};
pub use types::stream::{StreamEntry, StreamId};
pub use types::string::{SetCond, SetExpiry, SetOptions, SetOutcome};
pub use types::ttl::{ExpireIf, KeyInfo, SweepReport};
pub use types::zset::{limit_of, ScoreBound, ZRangeBy, ZaddOptions, ZaddReply};
pub use types::{GetAll, SubScan, TypedValue};
pub use value::{hash_hex, SigMeta, ValueKind};
pub use verify::{decode_hex, verify, verify_many, verify_uncached, Keypair, Verifier, VerifyItem};

/// Internals that the crate's own benches, fuzz targets, examples and tests
/// reach for: not API, no stability promise, hidden from the docs.
#[doc(hidden)]
pub mod internals {
    pub use crate::engine::cache::{Cached, CachedValue, TieredCache};
    pub use crate::engine::memory::trim;
    pub use crate::engine::metrics::Metrics;
    pub use crate::engine::snapshot::FILE as WARM_RESTART_FILE;
    pub use crate::types::json::set_at_path;
    pub use crate::types::Meta;
    pub use crate::value::{Entry, EntryHeader};
}

/// The README's Rust examples, compiled as doc tests so they cannot drift.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
