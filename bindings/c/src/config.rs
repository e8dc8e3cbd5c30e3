//! `cfs_config`: every field of [`Config`] settable from C. Values are
//! checked when the store opens (or by `cfs_config_validate`), with the
//! core's own validation.

use std::time::Duration;

use super::castable::{castable, free_box, to_boxed_mut_ptr, try_mut_from_ptr, try_ref_from_ptr};
use super::error::Fail;
use super::{cfs_error, cfs_result, Out};
use cyberfly_store::{Config, Durability, LogCheck, ThroughputMode};

/// Store options; start from the defaults with `cfs_config_new`, change
/// fields with the setters, pass to `cfs_store_open`, free with
/// `cfs_config_free` (the store keeps its own copy).
pub struct cfs_config {
    pub(crate) config: Config,
}

castable!(OwnershipBox: cfs_config => "config");

/// When a write is acknowledged (`cfs_config_set_durability`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum cfs_durability {
    /// Once applied in memory; durable at flush or close.
    None = 0,
    /// Once applied; flushed every `flush_every_ms` (the default).
    Batch = 1,
    /// Only after its group was fsynced.
    Sync = 2,
}

/// sled's page-cache mode (`cfs_config_set_throughput_mode`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum cfs_throughput_mode {
    LowSpace = 0,
    HighThroughput = 1,
}

/// What opening a store does with its operation log
/// (`cfs_config_set_log_check`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum cfs_log_check {
    /// Trust the signatures verified when applied; check each entry's shape
    /// once in the store's life (an open reads only the entries that arrived
    /// since the last check) and report corrupt ones, skipped (the default).
    Trust = 0,
    /// Decode and re-verify every signature, in parallel.
    Verify = 1,
    /// Do not read the log at open.
    Skip = 2,
}

/// A new config holding the defaults, into `*out`.
#[no_mangle]
pub extern "C" fn cfs_config_new(out: *mut *mut cfs_config) -> cfs_result {
    ffi_boundary!(code, {
        let out = Out::new(out, "out")?;
        out.write(to_boxed_mut_ptr(cfs_config {
            config: Config::default(),
        }));
        Ok(())
    })
}

/// Free a config. NULL is accepted.
#[no_mangle]
pub extern "C" fn cfs_config_free(config: *mut cfs_config) {
    ffi_boundary!(value, { free_box(config) });
}

/// Check every field now (`cfs_store_open` does it too); the first bad one
/// is `CFS_RESULT_INVALID_CONFIG` and the message names it.
#[no_mangle]
pub extern "C" fn cfs_config_validate(
    config: *const cfs_config,
    err: *mut *mut cfs_error,
) -> cfs_result {
    ffi_boundary!(err, {
        let c = try_ref_from_ptr(config)?;
        c.config.validate().map_err(Fail::from)
    })
}

/// The body of a setter (run behind the caller's boundary).
fn set(
    config: *mut cfs_config,
    f: impl FnOnce(&mut Config) -> Result<(), Fail>,
) -> Result<(), Fail> {
    f(&mut try_mut_from_ptr(config)?.config)
}

/// sled page cache, bytes (at least 1 MiB; default 256 MiB).
#[no_mangle]
pub extern "C" fn cfs_config_set_sled_cache_capacity(
    config: *mut cfs_config,
    value: u64,
) -> cfs_result {
    ffi_boundary!(code, {
        set(config, |c| {
            c.sled_cache_capacity = value;
            Ok(())
        })
    })
}

/// Interval of sled's background flush with durability batch, ms (default 500).
#[no_mangle]
pub extern "C" fn cfs_config_set_flush_every_ms(config: *mut cfs_config, value: u64) -> cfs_result {
    ffi_boundary!(code, {
        set(config, |c| {
            c.flush_every_ms = value;
            Ok(())
        })
    })
}

/// zstd compression of sled pages (default false).
#[no_mangle]
pub extern "C" fn cfs_config_set_compression(config: *mut cfs_config, value: bool) -> cfs_result {
    ffi_boundary!(code, {
        set(config, |c| {
            c.compression = value;
            Ok(())
        })
    })
}

/// zstd level, 1..=22 (default 3).
#[no_mangle]
pub extern "C" fn cfs_config_set_compression_factor(
    config: *mut cfs_config,
    value: i32,
) -> cfs_result {
    ffi_boundary!(code, {
        set(config, |c| {
            c.compression_factor = value;
            Ok(())
        })
    })
}

/// Hot cache tier, bytes (default 48 MiB).
#[no_mangle]
pub extern "C" fn cfs_config_set_hot_cache_bytes(
    config: *mut cfs_config,
    value: u64,
) -> cfs_result {
    ffi_boundary!(code, {
        set(config, |c| {
            c.hot_cache_bytes = value;
            Ok(())
        })
    })
}

/// Warm cache tier, bytes (default 96 MiB).
#[no_mangle]
pub extern "C" fn cfs_config_set_warm_cache_bytes(
    config: *mut cfs_config,
    value: u64,
) -> cfs_result {
    ffi_boundary!(code, {
        set(config, |c| {
            c.warm_cache_bytes = value;
            Ok(())
        })
    })
}

/// Time-to-live of warm cache entries, ms (> 0; default 300 000).
#[no_mangle]
pub extern "C" fn cfs_config_set_warm_ttl_ms(config: *mut cfs_config, value: u64) -> cfs_result {
    ffi_boundary!(code, {
        set(config, |c| {
            c.warm_ttl = Duration::from_millis(value);
            Ok(())
        })
    })
}

/// Values up to this size live inline in the index, larger ones in the
/// blob store, bytes (at most 1 MiB; default 4096).
#[no_mangle]
pub extern "C" fn cfs_config_set_inline_threshold(
    config: *mut cfs_config,
    value: usize,
) -> cfs_result {
    ffi_boundary!(code, {
        set(config, |c| {
            c.inline_threshold = value;
            Ok(())
        })
    })
}

/// Longest key, bytes (1..=65536; default 1024).
#[no_mangle]
pub extern "C" fn cfs_config_set_max_key_len(config: *mut cfs_config, value: usize) -> cfs_result {
    ffi_boundary!(code, {
        set(config, |c| {
            c.max_key_len = value;
            Ok(())
        })
    })
}

/// Largest value, bytes (1 B..=4 GiB; default 64 MiB).
#[no_mangle]
pub extern "C" fn cfs_config_set_max_value_len(
    config: *mut cfs_config,
    value: usize,
) -> cfs_result {
    ffi_boundary!(code, {
        set(config, |c| {
            c.max_value_len = value;
            Ok(())
        })
    })
}

/// Longest set, sorted-set or geo member or hash field name, bytes
/// (1 B..=16 MiB; default 64 KiB). These live in the index's keys.
#[no_mangle]
pub extern "C" fn cfs_config_set_max_member_len(
    config: *mut cfs_config,
    value: usize,
) -> cfs_result {
    ffi_boundary!(code, {
        set(config, |c| {
            c.max_member_len = value;
            Ok(())
        })
    })
}

/// Most writes in one group commit (default 1024).
#[no_mangle]
pub extern "C" fn cfs_config_set_writer_max_batch(
    config: *mut cfs_config,
    value: usize,
) -> cfs_result {
    ffi_boundary!(code, {
        set(config, |c| {
            c.writer_max_batch = value;
            Ok(())
        })
    })
}

/// Longest the writer keeps collecting a group, microseconds (at most 1 s;
/// default 2000).
#[no_mangle]
pub extern "C" fn cfs_config_set_writer_max_delay_us(
    config: *mut cfs_config,
    value: u64,
) -> cfs_result {
    ffi_boundary!(code, {
        set(config, |c| {
            c.writer_max_delay = Duration::from_micros(value);
            Ok(())
        })
    })
}

/// Bound of the writer's queue, requests (default 4096).
#[no_mangle]
pub extern "C" fn cfs_config_set_writer_queue_depth(
    config: *mut cfs_config,
    value: usize,
) -> cfs_result {
    ffi_boundary!(code, {
        set(config, |c| {
            c.writer_queue_depth = value;
            Ok(())
        })
    })
}

/// Interval of the scheduled blob garbage collection, ms (0 = only on
/// demand; default 60 000).
#[no_mangle]
pub extern "C" fn cfs_config_set_gc_interval_ms(config: *mut cfs_config, value: u64) -> cfs_result {
    ffi_boundary!(code, {
        set(config, |c| {
            c.gc_interval = Duration::from_millis(value);
            Ok(())
        })
    })
}

/// Interval of the expired-key sweeper, ms (0 = only on demand; default
/// 60 000).
#[no_mangle]
pub extern "C" fn cfs_config_set_sweep_interval_ms(
    config: *mut cfs_config,
    value: u64,
) -> cfs_result {
    ffi_boundary!(code, {
        set(config, |c| {
            c.sweep_interval = Duration::from_millis(value);
            Ok(())
        })
    })
}

/// Interval of handing freed heap memory back to the OS, ms (glibc
/// `malloc_trim`, only after the store did work; 0 = never; default 1 000).
#[no_mangle]
pub extern "C" fn cfs_config_set_memory_trim_interval_ms(
    config: *mut cfs_config,
    value: u64,
) -> cfs_result {
    ffi_boundary!(code, {
        set(config, |c| {
            c.memory_trim_interval = Duration::from_millis(value);
            Ok(())
        })
    })
}

/// Entries per page when scanning (default 256).
#[no_mangle]
pub extern "C" fn cfs_config_set_scan_page_size(
    config: *mut cfs_config,
    value: usize,
) -> cfs_result {
    ffi_boundary!(code, {
        set(config, |c| {
            c.scan_page_size = value;
            Ok(())
        })
    })
}

/// Threads of the store's reader pool, which runs its blocking index reads
/// (default: the number of cores, at least 2; 1..=256).
#[no_mangle]
pub extern "C" fn cfs_config_set_reader_threads(
    config: *mut cfs_config,
    value: usize,
) -> cfs_result {
    ffi_boundary!(code, {
        set(config, |c| {
            c.reader_threads = value;
            Ok(())
        })
    })
}

/// The longest a cache miss may be read on the calling thread before the
/// store sends misses to its reader pool for a while, microseconds
/// (default 500; 0 = always use the pool; at most 1 000 000).
#[no_mangle]
pub extern "C" fn cfs_config_set_inline_read_limit_us(
    config: *mut cfs_config,
    value: u64,
) -> cfs_result {
    ffi_boundary!(code, {
        set(config, |c| {
            c.inline_read_limit = Duration::from_micros(value);
            Ok(())
        })
    })
}

/// Warm restart: write the hot tier to a snapshot at a clean close and load
/// it at the next open (default true).
#[no_mangle]
pub extern "C" fn cfs_config_set_warm_restart(config: *mut cfs_config, value: bool) -> cfs_result {
    ffi_boundary!(code, {
        set(config, |c| {
            c.warm_restart = value;
            Ok(())
        })
    })
}

/// Open an index that is behind the store's durability mark (damaged or
/// rolled back; a normal open refuses it with `CFS_RESULT_CORRUPT`) to
/// salvage what it holds: blob GC is off for that open, and
/// `cfs_store_recovery_json` lists what was lost (default false).
#[no_mangle]
pub extern "C" fn cfs_config_set_recovery(config: *mut cfs_config, value: bool) -> cfs_result {
    ffi_boundary!(code, {
        set(config, |c| {
            c.recovery = value;
            Ok(())
        })
    })
}

/// Keep the journal of applied signed operations, `oplog.journal` beside
/// the index (default true): a recovery open restores from it the
/// operations a rolled-back index lost. Costs about the bytes of every
/// signed operation once more on disk, and under `CFS_DURABILITY_SYNC`
/// one more fdatasync per group of writes.
#[no_mangle]
pub extern "C" fn cfs_config_set_oplog_journal(config: *mut cfs_config, value: bool) -> cfs_result {
    ffi_boundary!(code, {
        set(config, |c| {
            c.oplog_journal = value;
            Ok(())
        })
    })
}

/// Worker threads of the store's own runtime (default 2).
#[no_mangle]
pub extern "C" fn cfs_config_set_runtime_threads(
    config: *mut cfs_config,
    value: usize,
) -> cfs_result {
    ffi_boundary!(code, {
        set(config, |c| {
            c.runtime_threads = value;
            Ok(())
        })
    })
}

/// A newly submitted signed operation must carry a timestamp within this
/// window of now, ms (at least 1000; default 3 600 000). Operations from the
/// log or from sync are exempt.
#[no_mangle]
pub extern "C" fn cfs_config_set_freshness_window_ms(
    config: *mut cfs_config,
    value: u64,
) -> cfs_result {
    ffi_boundary!(code, {
        set(config, |c| {
            c.freshness_window_ms = value;
            Ok(())
        })
    })
}

/// Also accept the Cyberfly node's short signed message
/// `"{db_name}:{key}:{value}"` (default false).
#[no_mangle]
pub extern "C" fn cfs_config_set_legacy_signatures(
    config: *mut cfs_config,
    value: bool,
) -> cfs_result {
    ffi_boundary!(code, {
        set(config, |c| {
            c.legacy_signatures = value;
            Ok(())
        })
    })
}

/// Entries of the signature verdict cache (at least 1; default 1 048 576).
#[no_mangle]
pub extern "C" fn cfs_config_set_verdict_cache_entries(
    config: *mut cfs_config,
    value: u64,
) -> cfs_result {
    ffi_boundary!(code, {
        set(config, |c| {
            c.verdict_cache_entries = value;
            Ok(())
        })
    })
}

/// What open does with the operation log: one of `CFS_LOG_CHECK_*`; another
/// value is `CFS_RESULT_INVALID_CONFIG`.
#[no_mangle]
pub extern "C" fn cfs_config_set_log_check(config: *mut cfs_config, value: u32) -> cfs_result {
    ffi_boundary!(code, {
        set(config, |c| {
            c.log_check = match value {
                0 => LogCheck::Trust,
                1 => LogCheck::Verify,
                2 => LogCheck::Skip,
                v => {
                    return Err(Fail::new(
                        cfs_result::InvalidConfig,
                        format!("log_check: {v} is not a CFS_LOG_CHECK_* value"),
                    ))
                }
            };
            Ok(())
        })
    })
}

/// When a write is acknowledged: one of `CFS_DURABILITY_*`; another value is
/// `CFS_RESULT_INVALID_CONFIG`.
#[no_mangle]
pub extern "C" fn cfs_config_set_durability(config: *mut cfs_config, value: u32) -> cfs_result {
    ffi_boundary!(code, {
        set(config, |c| {
            c.durability = match value {
                0 => Durability::None,
                1 => Durability::Batch,
                2 => Durability::Sync,
                v => {
                    return Err(Fail::new(
                        cfs_result::InvalidConfig,
                        format!("durability: {v} is not a CFS_DURABILITY_* value"),
                    ))
                }
            };
            Ok(())
        })
    })
}

/// sled's page-cache mode: one of `CFS_THROUGHPUT_MODE_*`; another value is
/// `CFS_RESULT_INVALID_CONFIG`.
#[no_mangle]
pub extern "C" fn cfs_config_set_throughput_mode(
    config: *mut cfs_config,
    value: u32,
) -> cfs_result {
    ffi_boundary!(code, {
        set(config, |c| {
            c.throughput_mode = match value {
                0 => ThroughputMode::LowSpace,
                1 => ThroughputMode::HighThroughput,
                v => {
                    return Err(Fail::new(
                        cfs_result::InvalidConfig,
                        format!("throughput_mode: {v} is not a CFS_THROUGHPUT_MODE_* value"),
                    ))
                }
            };
            Ok(())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field of `Config` has a setter: the struct literal below names
    /// every field (no `..`), so a new field fails to compile here until it
    /// gets a setter and a line in this test.
    #[test]
    fn every_field_is_settable() {
        let mut p: *mut cfs_config = std::ptr::null_mut();
        assert_eq!(cfs_config_new(&mut p), cfs_result::Ok);
        assert_eq!(
            cfs_config_set_sled_cache_capacity(p, 2 << 20),
            cfs_result::Ok
        );
        assert_eq!(cfs_config_set_flush_every_ms(p, 7), cfs_result::Ok);
        assert_eq!(cfs_config_set_throughput_mode(p, 1), cfs_result::Ok);
        assert_eq!(cfs_config_set_compression(p, true), cfs_result::Ok);
        assert_eq!(cfs_config_set_compression_factor(p, 5), cfs_result::Ok);
        assert_eq!(cfs_config_set_hot_cache_bytes(p, 11), cfs_result::Ok);
        assert_eq!(cfs_config_set_warm_cache_bytes(p, 12), cfs_result::Ok);
        assert_eq!(cfs_config_set_warm_ttl_ms(p, 13), cfs_result::Ok);
        assert_eq!(cfs_config_set_inline_threshold(p, 14), cfs_result::Ok);
        assert_eq!(cfs_config_set_max_key_len(p, 15), cfs_result::Ok);
        assert_eq!(cfs_config_set_max_value_len(p, 16), cfs_result::Ok);
        assert_eq!(cfs_config_set_max_member_len(p, 8), cfs_result::Ok);
        assert_eq!(cfs_config_set_writer_max_batch(p, 17), cfs_result::Ok);
        assert_eq!(cfs_config_set_writer_max_delay_us(p, 18), cfs_result::Ok);
        assert_eq!(cfs_config_set_writer_queue_depth(p, 19), cfs_result::Ok);
        assert_eq!(cfs_config_set_durability(p, 2), cfs_result::Ok);
        assert_eq!(cfs_config_set_gc_interval_ms(p, 20), cfs_result::Ok);
        assert_eq!(cfs_config_set_sweep_interval_ms(p, 21), cfs_result::Ok);
        assert_eq!(
            cfs_config_set_memory_trim_interval_ms(p, 24),
            cfs_result::Ok
        );
        assert_eq!(cfs_config_set_scan_page_size(p, 22), cfs_result::Ok);
        assert_eq!(cfs_config_set_runtime_threads(p, 3), cfs_result::Ok);
        assert_eq!(cfs_config_set_reader_threads(p, 4), cfs_result::Ok);
        assert_eq!(cfs_config_set_freshness_window_ms(p, 5000), cfs_result::Ok);
        assert_eq!(cfs_config_set_legacy_signatures(p, true), cfs_result::Ok);
        assert_eq!(cfs_config_set_log_check(p, 1), cfs_result::Ok);
        assert_eq!(cfs_config_set_verdict_cache_entries(p, 23), cfs_result::Ok);
        assert_eq!(cfs_config_set_inline_read_limit_us(p, 25), cfs_result::Ok);
        assert_eq!(cfs_config_set_warm_restart(p, false), cfs_result::Ok);
        assert_eq!(cfs_config_set_recovery(p, true), cfs_result::Ok);
        assert_eq!(cfs_config_set_oplog_journal(p, false), cfs_result::Ok);
        let expected = Config {
            sled_cache_capacity: 2 << 20,
            flush_every_ms: 7,
            throughput_mode: ThroughputMode::HighThroughput,
            compression: true,
            compression_factor: 5,
            hot_cache_bytes: 11,
            warm_cache_bytes: 12,
            warm_ttl: Duration::from_millis(13),
            inline_threshold: 14,
            max_key_len: 15,
            max_value_len: 16,
            max_member_len: 8,
            writer_max_batch: 17,
            writer_max_delay: Duration::from_micros(18),
            writer_queue_depth: 19,
            durability: Durability::Sync,
            gc_interval: Duration::from_millis(20),
            sweep_interval: Duration::from_millis(21),
            memory_trim_interval: Duration::from_millis(24),
            scan_page_size: 22,
            freshness_window_ms: 5000,
            legacy_signatures: true,
            log_check: LogCheck::Verify,
            verdict_cache_entries: 23,
            runtime_threads: 3,
            reader_threads: 4,
            inline_read_limit: Duration::from_micros(25),
            warm_restart: false,
            recovery: true,
            oplog_journal: false,
        };
        // SAFETY: the pointer was just returned by the library under test and is valid.
        assert_eq!(unsafe { &(*p).config }, &expected);
        assert_eq!(cfs_config_validate(p, std::ptr::null_mut()), cfs_result::Ok);
        assert_eq!(cfs_config_set_durability(p, 9), cfs_result::InvalidConfig);
        assert_eq!(cfs_config_set_log_check(p, 9), cfs_result::InvalidConfig);
        assert_eq!(cfs_config_set_max_key_len(p, 0), cfs_result::Ok);
        let mut err: *mut cfs_error = std::ptr::null_mut();
        assert_eq!(cfs_config_validate(p, &mut err), cfs_result::InvalidConfig);
        // SAFETY: the pointer was just returned by the library under test and is valid.
        let m = unsafe { std::ffi::CStr::from_ptr(super::super::cfs_error_message(err)) };
        assert!(m.to_str().unwrap().contains("max_key_len"));
        super::super::cfs_error_free(err);
        cfs_config_free(p);
        assert_eq!(
            cfs_config_set_runtime_threads(std::ptr::null_mut(), 1),
            cfs_result::NullPointer
        );
    }
}
