//! A Prometheus registry per store. Handles are resolved once at open so the
//! hot paths only do an atomic add.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

use crate::error::{Error, Result};

/// Operation kinds counted in `cyberfly_ops_total{op}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Get = 0,
    GetMany,
    Set,
    SetMany,
    Delete,
    Exists,
    Scan,
    AddBlob,
    GetBlob,
    Flush,
    Gc,
}

const OPS: [&str; 11] = [
    "get", "get_many", "set", "set_many", "delete", "exists", "scan", "add_blob", "get_blob",
    "flush", "gc",
];

pub struct Metrics {
    pub registry: Registry,
    ops: Vec<IntCounter>,
    pub hot_hits: IntCounter,
    pub warm_hits: IntCounter,
    pub misses: IntCounter,
    pub read_latency: Histogram,
    pub write_latency: Histogram,
    pub batch_size: Histogram,
    pub batch_apply: HistogramVec,
    pub queue_depth: IntGauge,
    pub gc_runs: IntCounter,
    pub writes_acked: IntCounter,
    /// Keys of cache misses read from the index on the caller's thread.
    pub inline_reads: IntCounter,
    /// Keys of cache misses read from the index on the reader pool.
    pub pool_reads: IntCounter,
    /// Writes applied on the caller's thread (`Store::set_now`).
    pub inline_writes: IntCounter,
    /// Opens by what the warm-restart snapshot turned out to be
    /// (`loaded`, `missing`, `mismatch`, `invalid`, `off`).
    pub warm_restart: IntCounterVec,
    /// Hot-tier entries loaded from warm-restart snapshots.
    pub warm_restart_entries: IntCounter,
}

impl Metrics {
    pub fn new() -> Result<Self> {
        let registry =
            Registry::new_custom(Some("cyberfly".into()), None).map_err(Error::internal)?;
        let ops = IntCounterVec::new(Opts::new("ops_total", "operations by kind"), &["op"])
            .map_err(Error::internal)?;
        let cache = IntCounterVec::new(
            Opts::new("cache_lookups_total", "cache lookups by tier and result"),
            &["tier", "result"],
        )
        .map_err(Error::internal)?;
        let lat_buckets =
            prometheus::exponential_buckets(1e-6, 2.0, 24).map_err(Error::internal)?;
        let read_latency = Histogram::with_opts(
            HistogramOpts::new(
                "read_miss_latency_seconds",
                "latency of reads that missed the cache",
            )
            .buckets(lat_buckets.clone()),
        )
        .map_err(Error::internal)?;
        let write_latency = Histogram::with_opts(
            HistogramOpts::new(
                "write_latency_seconds",
                "latency from submission to acknowledgement",
            )
            .buckets(lat_buckets.clone()),
        )
        .map_err(Error::internal)?;
        let batch_size = Histogram::with_opts(
            HistogramOpts::new("writer_batch_size", "writes applied per sled batch")
                .buckets(prometheus::exponential_buckets(1.0, 2.0, 16).map_err(Error::internal)?),
        )
        .map_err(Error::internal)?;
        let batch_apply = HistogramVec::new(
            HistogramOpts::new(
                "writer_phase_seconds",
                "time the writer spends per batch, by phase",
            )
            .buckets(lat_buckets),
            &["phase"],
        )
        .map_err(Error::internal)?;
        let queue_depth = IntGauge::new("writer_queue_depth", "requests waiting for the writer")
            .map_err(Error::internal)?;
        let gc_runs = IntCounter::new("gc_runs_total", "blob garbage collections")
            .map_err(Error::internal)?;
        let writes_acked = IntCounter::new("writes_acked_total", "writes acknowledged")
            .map_err(Error::internal)?;
        let miss_reads = IntCounterVec::new(
            Opts::new(
                "miss_reads_total",
                "keys of cache misses read from the index, by thread (inline: the caller's)",
            ),
            &["path"],
        )
        .map_err(Error::internal)?;
        let inline_writes = IntCounter::new(
            "inline_writes_total",
            "writes applied on the caller's thread instead of the writer's",
        )
        .map_err(Error::internal)?;
        let warm_restart = IntCounterVec::new(
            Opts::new(
                "warm_restart_total",
                "opens by the state of the warm-restart snapshot",
            ),
            &["result"],
        )
        .map_err(Error::internal)?;
        let warm_restart_entries = IntCounter::new(
            "warm_restart_entries_total",
            "hot-tier entries loaded from warm-restart snapshots",
        )
        .map_err(Error::internal)?;
        for c in [
            Box::new(ops.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(cache.clone()),
            Box::new(read_latency.clone()),
            Box::new(write_latency.clone()),
            Box::new(batch_size.clone()),
            Box::new(batch_apply.clone()),
            Box::new(queue_depth.clone()),
            Box::new(gc_runs.clone()),
            Box::new(writes_acked.clone()),
            Box::new(miss_reads.clone()),
            Box::new(inline_writes.clone()),
            Box::new(warm_restart.clone()),
            Box::new(warm_restart_entries.clone()),
        ] {
            registry.register(c).map_err(Error::internal)?;
        }
        let ops_handles: Vec<IntCounter> =
            OPS.iter().map(|op| ops.with_label_values(&[op])).collect();
        Ok(Metrics {
            hot_hits: cache.with_label_values(&["hot", "hit"]),
            warm_hits: cache.with_label_values(&["warm", "hit"]),
            misses: cache.with_label_values(&["all", "miss"]),
            registry,
            ops: ops_handles,
            read_latency,
            write_latency,
            batch_size,
            batch_apply,
            queue_depth,
            gc_runs,
            writes_acked,
            inline_reads: miss_reads.with_label_values(&["inline"]),
            pool_reads: miss_reads.with_label_values(&["pool"]),
            inline_writes,
            warm_restart,
            warm_restart_entries,
        })
    }

    #[inline]
    pub fn op(&self, op: Op) {
        self.ops[op as usize].inc();
    }

    /// Count of one operation kind, and all kinds by name.
    pub fn op_counts(&self) -> Vec<(&'static str, u64)> {
        OPS.iter()
            .zip(&self.ops)
            .map(|(n, c)| (*n, c.get()))
            .collect()
    }

    /// Prometheus text exposition.
    pub fn text(&self) -> Result<String> {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .map_err(Error::internal)?;
        String::from_utf8(buf).map_err(Error::internal)
    }
}

/// Approximate quantile from a histogram's cumulative buckets (upper bound of
/// the bucket holding the quantile), in seconds.
pub fn histogram_quantile(h: &Histogram, q: f64) -> Option<f64> {
    use prometheus::core::Metric;
    let m = h.metric();
    let hist = m.get_histogram();
    let total = hist.get_sample_count();
    if total == 0 {
        return None;
    }
    let want = (q * total as f64).ceil() as u64;
    for b in hist.get_bucket() {
        if b.cumulative_count() >= want {
            return Some(b.upper_bound());
        }
    }
    Some(f64::INFINITY)
}
