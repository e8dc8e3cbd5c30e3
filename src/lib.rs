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

pub mod engine;
pub mod error;

// Private: the wall clock, and the key space's bytes and reserved keys.
mod keyspace;

pub mod oplog;
pub mod store;
pub mod sync;
pub mod types;
pub mod value;
pub mod verify;

pub use engine::config;
pub use engine::config::{Config, ConfigBuilder, Durability, LogCheck, ThroughputMode};
pub use error::{Error, ErrorCode, Result};
pub use store::{ContentHash, GetMany, GetManyPending, Miss, PendingGet, Scan, Stats, Store};
pub use types::geo::{GeoMatch, GeoUnit, RadiusOpts};
pub use types::stream::{StreamEntry, StreamId};
pub use types::ttl::{KeyInfo, SweepReport};
pub use types::{GetAll, SubScan, TypedValue};
pub use value::{SigMeta, ValueKind};

/// The README's Rust examples, compiled as doc tests so they cannot drift.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
