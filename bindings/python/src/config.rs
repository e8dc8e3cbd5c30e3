//! `open(path, **config)`: keywords mirror the fields of [`Config`].
//! Durations are seconds (int or float) or a `datetime.timedelta`; enums are
//! their names as strings. An unknown keyword or a bad value is
//! `InvalidConfig`.

use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use super::error::{invalid_config, IntoPyResult};
use cyberfly_store::{Config, Durability, LogCheck, ThroughputMode};

/// The keywords `open` accepts, in the order of [`Config`].
pub const KEYWORDS: &[&str] = &[
    "sled_cache_capacity",
    "flush_every_ms",
    "throughput_mode",
    "compression",
    "compression_factor",
    "hot_cache_bytes",
    "warm_cache_bytes",
    "warm_ttl",
    "inline_threshold",
    "max_key_len",
    "max_value_len",
    "max_member_len",
    "writer_max_batch",
    "writer_max_delay",
    "writer_queue_depth",
    "durability",
    "gc_interval",
    "sweep_interval",
    "memory_trim_interval",
    "scan_page_size",
    "freshness_window_ms",
    "legacy_signatures",
    "log_check",
    "verdict_cache_entries",
    "runtime_threads",
    "reader_threads",
    "inline_read_limit",
    "warm_restart",
    "recovery",
    "oplog_journal",
];

fn int<T: TryFrom<u64>>(field: &'static str, v: &Bound<'_, PyAny>) -> PyResult<T> {
    if v.is_instance_of::<pyo3::types::PyBool>() {
        return Err(invalid_config(field, "expected an integer, got a bool"));
    }
    let n: u64 = v
        .extract()
        .map_err(|_| invalid_config(field, format!("expected a non-negative integer, got {v}")))?;
    T::try_from(n).map_err(|_| invalid_config(field, format!("{n} is out of range")))
}

fn boolean(field: &'static str, v: &Bound<'_, PyAny>) -> PyResult<bool> {
    v.extract()
        .map_err(|_| invalid_config(field, format!("expected a bool, got {v}")))
}

fn text(field: &'static str, v: &Bound<'_, PyAny>) -> PyResult<String> {
    if !v.is_instance_of::<PyString>() {
        return Err(invalid_config(field, format!("expected a string, got {v}")));
    }
    v.extract()
}

/// Seconds (int/float) or a timedelta.
fn duration(field: &'static str, v: &Bound<'_, PyAny>) -> PyResult<Duration> {
    let secs: f64 = if v.hasattr("total_seconds")? {
        v.call_method0("total_seconds")?.extract()?
    } else if v.is_instance_of::<pyo3::types::PyBool>() {
        return Err(invalid_config(field, "expected seconds, got a bool"));
    } else {
        v.extract().map_err(|_| {
            invalid_config(
                field,
                format!("expected seconds (number) or a timedelta, got {v}"),
            )
        })?
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(invalid_config(
            field,
            format!("{secs} is not a non-negative number of seconds"),
        ));
    }
    Duration::try_from_secs_f64(secs).map_err(|e| invalid_config(field, e.to_string()))
}

/// Build and validate a [`Config`] from `**config`.
pub fn from_kwargs(kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Config> {
    let mut c = Config::default();
    let Some(kwargs) = kwargs else {
        return Ok(c);
    };
    for (k, v) in kwargs.iter() {
        let k: String = k.extract()?;
        let v = &v;
        match k.as_str() {
            "sled_cache_capacity" => c.sled_cache_capacity = int("sled_cache_capacity", v)?,
            "flush_every_ms" => c.flush_every_ms = int("flush_every_ms", v)?,
            "throughput_mode" => {
                c.throughput_mode = ThroughputMode::parse(&text("throughput_mode", v)?).py_err()?;
            }
            "compression" => c.compression = boolean("compression", v)?,
            "compression_factor" => c.compression_factor = int("compression_factor", v)?,
            "hot_cache_bytes" => c.hot_cache_bytes = int("hot_cache_bytes", v)?,
            "warm_cache_bytes" => c.warm_cache_bytes = int("warm_cache_bytes", v)?,
            "warm_ttl" => c.warm_ttl = duration("warm_ttl", v)?,
            "inline_threshold" => c.inline_threshold = int("inline_threshold", v)?,
            "max_key_len" => c.max_key_len = int("max_key_len", v)?,
            "max_value_len" => c.max_value_len = int("max_value_len", v)?,
            "max_member_len" => c.max_member_len = int("max_member_len", v)?,
            "writer_max_batch" => c.writer_max_batch = int("writer_max_batch", v)?,
            "writer_max_delay" => c.writer_max_delay = duration("writer_max_delay", v)?,
            "writer_queue_depth" => c.writer_queue_depth = int("writer_queue_depth", v)?,
            "durability" => c.durability = Durability::parse(&text("durability", v)?).py_err()?,
            "gc_interval" => c.gc_interval = duration("gc_interval", v)?,
            "sweep_interval" => c.sweep_interval = duration("sweep_interval", v)?,
            "memory_trim_interval" => c.memory_trim_interval = duration("memory_trim_interval", v)?,
            "scan_page_size" => c.scan_page_size = int("scan_page_size", v)?,
            "freshness_window_ms" => c.freshness_window_ms = int("freshness_window_ms", v)?,
            "legacy_signatures" => c.legacy_signatures = boolean("legacy_signatures", v)?,
            "log_check" => c.log_check = LogCheck::parse(&text("log_check", v)?).py_err()?,
            "verdict_cache_entries" => c.verdict_cache_entries = int("verdict_cache_entries", v)?,
            "runtime_threads" => c.runtime_threads = int("runtime_threads", v)?,
            "reader_threads" => c.reader_threads = int("reader_threads", v)?,
            "inline_read_limit" => c.inline_read_limit = duration("inline_read_limit", v)?,
            "warm_restart" => c.warm_restart = boolean("warm_restart", v)?,
            "recovery" => c.recovery = boolean("recovery", v)?,
            "oplog_journal" => c.oplog_journal = boolean("oplog_journal", v)?,
            other => {
                return Err(invalid_config(
                    "config",
                    format!(
                        "unknown keyword `{other}`; expected one of: {}",
                        KEYWORDS.join(", ")
                    ),
                ))
            }
        }
    }
    c.validate().py_err()?;
    Ok(c)
}

/// The config as a dict (durations in seconds), for `Store.config()`.
pub fn to_dict<'py>(py: Python<'py>, c: &Config) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("sled_cache_capacity", c.sled_cache_capacity)?;
    d.set_item("flush_every_ms", c.flush_every_ms)?;
    d.set_item(
        "throughput_mode",
        match c.throughput_mode {
            ThroughputMode::LowSpace => "low_space",
            ThroughputMode::HighThroughput => "high_throughput",
        },
    )?;
    d.set_item("compression", c.compression)?;
    d.set_item("compression_factor", c.compression_factor)?;
    d.set_item("hot_cache_bytes", c.hot_cache_bytes)?;
    d.set_item("warm_cache_bytes", c.warm_cache_bytes)?;
    d.set_item("warm_ttl", c.warm_ttl.as_secs_f64())?;
    d.set_item("inline_threshold", c.inline_threshold)?;
    d.set_item("max_key_len", c.max_key_len)?;
    d.set_item("max_value_len", c.max_value_len)?;
    d.set_item("max_member_len", c.max_member_len)?;
    d.set_item("writer_max_batch", c.writer_max_batch)?;
    d.set_item("writer_max_delay", c.writer_max_delay.as_secs_f64())?;
    d.set_item("writer_queue_depth", c.writer_queue_depth)?;
    d.set_item("durability", c.durability.as_str())?;
    d.set_item("gc_interval", c.gc_interval.as_secs_f64())?;
    d.set_item("sweep_interval", c.sweep_interval.as_secs_f64())?;
    d.set_item("memory_trim_interval", c.memory_trim_interval.as_secs_f64())?;
    d.set_item("scan_page_size", c.scan_page_size)?;
    d.set_item("freshness_window_ms", c.freshness_window_ms)?;
    d.set_item("legacy_signatures", c.legacy_signatures)?;
    d.set_item(
        "log_check",
        match c.log_check {
            LogCheck::Trust => "trust",
            LogCheck::Verify => "verify",
            LogCheck::Skip => "skip",
        },
    )?;
    d.set_item("verdict_cache_entries", c.verdict_cache_entries)?;
    d.set_item("runtime_threads", c.runtime_threads)?;
    d.set_item("reader_threads", c.reader_threads)?;
    d.set_item("inline_read_limit", c.inline_read_limit.as_secs_f64())?;
    d.set_item("warm_restart", c.warm_restart)?;
    d.set_item("recovery", c.recovery)?;
    d.set_item("oplog_journal", c.oplog_journal)?;
    Ok(d)
}
