//! Store configuration: defaults chosen by measurement (docs/PERFORMANCE.md),
//! a builder, and validation at open.

use std::time::Duration;

use crate::error::{Error, Result};

/// When a write is acknowledged, and what survives a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Durability {
    /// Acknowledged once applied to the index in memory; sled flushes only when
    /// asked ([`crate::Store::flush`]) or at close.
    None,
    /// Acknowledged once applied; flushed every `flush_every_ms` by sled's
    /// flusher, so a crash loses at most that interval.
    #[default]
    Batch,
    /// Acknowledged only after the writer's group has been flushed and fsynced.
    Sync,
}

impl Durability {
    /// Parse the names the bindings use: `none`, `batch`, `sync`.
    pub fn parse(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Ok(Durability::None),
            "batch" => Ok(Durability::Batch),
            "sync" => Ok(Durability::Sync),
            other => Err(Error::config(
                "durability",
                format!("`{other}` is not one of none, batch, sync"),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Durability::None => "none",
            Durability::Batch => "batch",
            Durability::Sync => "sync",
        }
    }
}

/// sled's two page-cache modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ThroughputMode {
    /// sled's default (`Mode::LowSpace`). Measured faster for our batches here.
    #[default]
    LowSpace,
    /// `Mode::HighThroughput`.
    HighThroughput,
}

impl ThroughputMode {
    pub fn parse(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().replace('-', "_").as_str() {
            "low_space" | "lowspace" => Ok(ThroughputMode::LowSpace),
            "high_throughput" | "highthroughput" => Ok(ThroughputMode::HighThroughput),
            other => Err(Error::config(
                "throughput_mode",
                format!("`{other}` is not one of low_space, high_throughput"),
            )),
        }
    }
}

/// What opening a store does with its operation log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LogCheck {
    /// Trust the signatures this store verified when it applied them, and
    /// check each entry's shape once in the store's life: an open reads the
    /// entries that arrived since the last check (the whole log the first
    /// time) and reports the corrupt ones found then or before, skipped.
    #[default]
    Trust,
    /// Decode and re-verify every signature, in parallel chunks.
    Verify,
    /// Do not read the log at open.
    Skip,
}

impl LogCheck {
    pub fn parse(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "trust" => Ok(LogCheck::Trust),
            "verify" => Ok(LogCheck::Verify),
            "skip" => Ok(LogCheck::Skip),
            other => Err(Error::config(
                "log_check",
                format!("`{other}` is not one of trust, verify, skip"),
            )),
        }
    }
}

/// Everything tunable about a store. Build with [`Config::builder`] or start
/// from [`Config::default`] and set fields; [`Config::validate`] runs at open.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// sled page cache, bytes.
    pub sled_cache_capacity: u64,
    /// Interval of sled's background flush (used by `Durability::Batch`).
    pub flush_every_ms: u64,
    /// sled page-cache mode.
    pub throughput_mode: ThroughputMode,
    /// zstd compression of sled pages.
    pub compression: bool,
    /// zstd level when `compression` is on (1..=22).
    pub compression_factor: i32,
    /// Hot cache tier (no TTL), bytes. Charged per entry with its real
    /// overhead (about 256 bytes on top of key and value), so the 48 MiB
    /// default holds about 100 000 entries of 100-byte values.
    pub hot_cache_bytes: u64,
    /// Warm cache tier, bytes.
    pub warm_cache_bytes: u64,
    /// Time-to-live of warm entries.
    pub warm_ttl: Duration,
    /// Values at or below this size live inline in the index entry; larger
    /// ones in the iroh-blobs store. Both are addressed by their BLAKE3 hash.
    pub inline_threshold: usize,
    /// Longest key accepted, bytes.
    pub max_key_len: usize,
    /// Largest value accepted, bytes.
    pub max_value_len: usize,
    /// Longest container member, field name or geo member name accepted,
    /// bytes (default 64 KiB). These live in the index's keys, where sled
    /// keeps a copy of a large item per rewrite and never reclaims it (a
    /// 20 MiB set member grew `index/` to 1.1 GiB: docs/RELIABILITY.md).
    pub max_member_len: usize,
    /// Most writes the group-commit writer applies in one sled batch.
    pub writer_max_batch: usize,
    /// Longest the writer keeps collecting a group once it has one write and
    /// more are already queued. It never waits for an empty queue to fill.
    pub writer_max_delay: Duration,
    /// Bound of the writer's queue (in requests); a full queue makes writers
    /// wait (back-pressure).
    pub writer_queue_depth: usize,
    /// When a write is acknowledged.
    pub durability: Durability,
    /// Interval of the scheduled blob garbage collection (0 = only on demand).
    pub gc_interval: Duration,
    /// Interval of the background sweeper that removes expired keys and the
    /// orphaned sub-entries of deleted containers (0 = only on demand with
    /// `Store::sweep`).
    pub sweep_interval: Duration,
    /// The store hands freed heap memory back to the operating system
    /// (glibc `malloc_trim`) after every 4 096 keys read from the index or
    /// written (checked ten times per interval), and at least once per
    /// interval if it did any work; 0 = never. Without it, glibc's per-thread arenas
    /// keep the memory that cache and page-cache churn freed, and RSS grows
    /// far past the configured budgets (docs/RELIABILITY.md, "Memory
    /// budget"). No effect on other platforms or allocators.
    pub memory_trim_interval: Duration,
    /// Entries per page when scanning.
    pub scan_page_size: usize,
    /// A newly submitted signed operation must carry a timestamp within this
    /// window of now (ms). Operations from the log or from sync are exempt.
    pub freshness_window_ms: u64,
    /// Also accept the Cyberfly node's short signed message
    /// `"{db_name}:{key}:{value}"` (which leaves type, field, score,
    /// timestamp and op_id unsigned). Off by default.
    pub legacy_signatures: bool,
    /// What open does with the operation log.
    pub log_check: LogCheck,
    /// Entries of the signature verdict cache.
    pub verdict_cache_entries: u64,
    /// Worker threads of the runtime a store creates for itself
    /// ([`crate::Store::open_blocking`]).
    pub runtime_threads: usize,
    /// Threads of the store's reader pool, which runs every blocking index
    /// read (cache misses, `get_many` misses in parallel chunks, scans,
    /// `exists`, the typed reads). A fixed pool instead of tokio's elastic
    /// blocking pool bounds the threads that allocate on the read path, and
    /// with them glibc's arenas (docs/RELIABILITY.md, "Memory budget").
    /// Default: the number of cores, at least 2.
    pub reader_threads: usize,
    /// A cache miss from a thread that is not inside an async runtime (a
    /// Python thread, a C host thread, a blocking Rust caller) is read from
    /// the index on that thread, not on the reader pool, while such reads
    /// stay under this time: one that takes longer (its page came from the
    /// disk) sends the store's misses to the pool for a while (50 ms,
    /// doubling while probes stay slow, up to 3.2 s), so that a caller
    /// such as an event loop is held for at most about one slow read per
    /// such period. `Duration::ZERO` = never read on the caller's thread.
    /// Callers inside a tokio runtime always use the pool. The same guard
    /// (and the same zero) governs writes applied on the caller's thread
    /// (`Store::set_now`; docs/ARCHITECTURE.md, "Inline writes").
    pub inline_read_limit: Duration,
    /// Warm restart: at a clean close the hot tier's entries are written to
    /// a snapshot file bound to the index state, and the next open loads
    /// it before answering reads (docs/ARCHITECTURE.md, "Warm restart").
    /// Off: no snapshot is written or loaded (a snapshot left from before is
    /// still invalidated at open). Default true.
    pub warm_restart: bool,
    /// Open an index that is behind the store's durability mark (damaged or
    /// rolled back: src/engine/mark.rs) instead of refusing it with
    /// `Corrupt`: the store answers from what the index holds, blob GC is
    /// off for the whole open (blobs the index lost stay on disk, listed by
    /// `Store::recovery`), and the next close records a new mark, so that
    /// the next normal open accepts the recovered index. Default false.
    pub recovery: bool,
    /// Keep the journal of applied signed operations, the file
    /// `oplog.journal` beside `index/` (src/engine/journal.rs): outside
    /// sled, so a recovery open of an index that was rolled back can
    /// restore the operations it lost. Costs about the bytes of every
    /// signed operation once more on disk, and under `Durability::Sync`
    /// one more fdatasync per group of writes. Default true.
    pub oplog_journal: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            sled_cache_capacity: 256 * 1024 * 1024,
            flush_every_ms: 500,
            throughput_mode: ThroughputMode::LowSpace,
            compression: false,
            compression_factor: 3,
            hot_cache_bytes: 48 * 1024 * 1024,
            warm_cache_bytes: 96 * 1024 * 1024,
            warm_ttl: Duration::from_secs(300),
            inline_threshold: 4096,
            max_key_len: 1024,
            max_value_len: 64 * 1024 * 1024,
            max_member_len: 64 * 1024,
            writer_max_batch: 1024,
            writer_max_delay: Duration::from_millis(2),
            writer_queue_depth: 4096,
            durability: Durability::Batch,
            gc_interval: Duration::from_secs(60),
            sweep_interval: Duration::from_secs(60),
            memory_trim_interval: Duration::from_secs(1),
            scan_page_size: 256,
            freshness_window_ms: 3_600_000,
            legacy_signatures: false,
            log_check: LogCheck::Trust,
            verdict_cache_entries: 1 << 20,
            runtime_threads: 2,
            reader_threads: std::thread::available_parallelism()
                .map_or(2, std::num::NonZero::get)
                .max(2),
            inline_read_limit: Duration::from_micros(500),
            warm_restart: true,
            recovery: false,
            oplog_journal: true,
        }
    }
}

impl Config {
    /// Start a builder from the defaults.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder(Config::default())
    }

    /// Check every field; the first bad one is a [`Error::InvalidConfig`].
    pub fn validate(&self) -> Result<()> {
        fn need(ok: bool, field: &'static str, reason: &str) -> Result<()> {
            if ok {
                Ok(())
            } else {
                Err(Error::config(field, reason))
            }
        }
        need(
            self.sled_cache_capacity >= 1024 * 1024,
            "sled_cache_capacity",
            "must be at least 1 MiB",
        )?;
        need(
            self.durability != Durability::Batch || self.flush_every_ms > 0,
            "flush_every_ms",
            "must be > 0 with durability=batch",
        )?;
        need(
            self.flush_every_ms <= 3_600_000,
            "flush_every_ms",
            "must be at most one hour",
        )?;
        need(
            (1..=22).contains(&self.compression_factor),
            "compression_factor",
            "must be in 1..=22",
        )?;
        need(
            self.hot_cache_bytes <= 1 << 40 && self.warm_cache_bytes <= 1 << 40,
            "hot_cache_bytes",
            "cache tiers must be at most 1 TiB",
        )?;
        need(!self.warm_ttl.is_zero(), "warm_ttl", "must be > 0")?;
        need(
            self.inline_threshold <= 1024 * 1024,
            "inline_threshold",
            "must be at most 1 MiB (larger values belong in blobs)",
        )?;
        need(
            (1..=65_536).contains(&self.max_key_len),
            "max_key_len",
            "must be in 1..=65536",
        )?;
        need(
            self.max_value_len >= 1 && self.max_value_len <= 1 << 32,
            "max_value_len",
            "must be in 1..=4 GiB",
        )?;
        need(
            (1..=16 << 20).contains(&self.max_member_len),
            "max_member_len",
            "must be in 1..=16 MiB",
        )?;
        need(
            (1..=1_000_000).contains(&self.writer_max_batch),
            "writer_max_batch",
            "must be in 1..=1000000",
        )?;
        need(
            self.writer_max_delay <= Duration::from_secs(1),
            "writer_max_delay",
            "must be at most 1 s",
        )?;
        need(
            (1..=1_000_000).contains(&self.writer_queue_depth),
            "writer_queue_depth",
            "must be in 1..=1000000",
        )?;
        need(
            (1..=100_000).contains(&self.scan_page_size),
            "scan_page_size",
            "must be in 1..=100000",
        )?;
        need(
            self.freshness_window_ms >= 1000,
            "freshness_window_ms",
            "must be at least 1000",
        )?;
        need(
            self.verdict_cache_entries >= 1,
            "verdict_cache_entries",
            "must be at least 1",
        )?;
        need(
            (1..=256).contains(&self.runtime_threads),
            "runtime_threads",
            "must be in 1..=256",
        )?;
        need(
            (1..=256).contains(&self.reader_threads),
            "reader_threads",
            "must be in 1..=256",
        )?;
        need(
            self.inline_read_limit <= Duration::from_secs(1),
            "inline_read_limit",
            "must be at most 1 s",
        )?;
        Ok(())
    }
}

/// Builder for [`Config`]; `build()` validates.
#[derive(Debug, Clone)]
pub struct ConfigBuilder(Config);

macro_rules! setters {
    ($($(#[$m:meta])* $name:ident : $ty:ty),* $(,)?) => {
        impl ConfigBuilder {
            $(
                $(#[$m])*
                pub fn $name(mut self, v: $ty) -> Self {
                    self.0.$name = v;
                    self
                }
            )*
        }
    };
}

setters! {
    sled_cache_capacity: u64,
    flush_every_ms: u64,
    throughput_mode: ThroughputMode,
    compression: bool,
    compression_factor: i32,
    hot_cache_bytes: u64,
    warm_cache_bytes: u64,
    warm_ttl: Duration,
    inline_threshold: usize,
    max_key_len: usize,
    max_value_len: usize,
    max_member_len: usize,
    writer_max_batch: usize,
    writer_max_delay: Duration,
    writer_queue_depth: usize,
    durability: Durability,
    gc_interval: Duration,
    sweep_interval: Duration,
    memory_trim_interval: Duration,
    scan_page_size: usize,
    freshness_window_ms: u64,
    legacy_signatures: bool,
    log_check: LogCheck,
    verdict_cache_entries: u64,
    runtime_threads: usize,
    reader_threads: usize,
    inline_read_limit: Duration,
    warm_restart: bool,
    recovery: bool,
    oplog_journal: bool,
}

impl ConfigBuilder {
    /// Validate and return the config.
    pub fn build(self) -> Result<Config> {
        self.0.validate()?;
        Ok(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().unwrap();
    }

    #[test]
    fn bad_values_are_typed_errors() {
        let e = Config::builder().writer_max_batch(0).build().unwrap_err();
        assert!(matches!(
            e,
            Error::InvalidConfig {
                field: "writer_max_batch",
                ..
            }
        ));
        let e = Config::builder()
            .durability(Durability::Batch)
            .flush_every_ms(0)
            .build()
            .unwrap_err();
        assert!(matches!(
            e,
            Error::InvalidConfig {
                field: "flush_every_ms",
                ..
            }
        ));
        assert!(Config::builder().compression_factor(0).build().is_err());
        assert!(Config::builder().max_key_len(0).build().is_err());
        let e = Config::builder().reader_threads(0).build().unwrap_err();
        assert!(matches!(
            e,
            Error::InvalidConfig {
                field: "reader_threads",
                ..
            }
        ));
        assert!(Config::default().reader_threads >= 2);
        assert!(Config::builder()
            .durability(Durability::None)
            .flush_every_ms(0)
            .build()
            .is_ok());
    }

    #[test]
    fn durability_parses() {
        assert_eq!(Durability::parse("SYNC").unwrap(), Durability::Sync);
        assert!(Durability::parse("fast").is_err());
    }
}
