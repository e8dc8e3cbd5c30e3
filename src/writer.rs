//! The group-commit writer: one OS thread per store, the only code that
//! mutates the index.
//!
//! Requests arrive on a bounded queue (a full queue makes submitters wait:
//! back-pressure). The thread blocks for the first request, then takes what is
//! already queued — up to `max_batch` writes, for at most `max_delay` — without
//! ever waiting for more to arrive. It applies the group as one atomic sled
//! batch, flushes (fsync) once if the durability mode asks for it, invalidates
//! the cache for the keys it touched, and acknowledges each request with its own
//! result.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use iroh_blobs::api::TempTag;
use tokio::sync::{mpsc, oneshot};

use crate::blobs::Blobs;
use crate::cache::TieredCache;
use crate::config::Durability;
use crate::error::{Error, Result};
use crate::index::Index;
use crate::metrics::Metrics;

/// One mutation.
#[derive(Debug)]
pub enum WriteOp {
    /// Store an encoded entry under a key.
    Put { key: String, entry: Vec<u8> },
    /// Remove a key.
    Delete { key: String },
    /// Keep a raw blob alive.
    Pin { hash: [u8; 32] },
    /// Let a raw blob go.
    Unpin { hash: [u8; 32] },
}

/// What one op did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpOutcome {
    Written,
    /// Whether the key (or pin) existed before.
    Removed(bool),
}

pub type Ack = oneshot::Sender<Result<Vec<OpOutcome>>>;

pub enum Msg {
    Write {
        ops: Vec<WriteOp>,
        tags: Vec<TempTag>,
        ack: Ack,
    },
    Flush(oneshot::Sender<Result<()>>),
    Shutdown,
}

pub struct WriterCtx {
    pub index: Arc<Index>,
    pub cache: Arc<TieredCache>,
    pub blobs: Arc<Blobs>,
    pub metrics: Arc<Metrics>,
    pub durability: Durability,
    pub max_batch: usize,
    pub max_delay: Duration,
}

struct Pending {
    ops: Vec<WriteOp>,
    tags: Vec<TempTag>,
    ack: Ack,
}

/// Run the writer until `Shutdown` (after draining) or until every sender is gone.
pub fn run(ctx: WriterCtx, mut rx: mpsc::Receiver<Msg>, queue_cap: usize) {
    let mut shutting_down = false;
    while !shutting_down {
        let Some(first) = rx.blocking_recv() else {
            break;
        };
        let mut group: Vec<Pending> = Vec::new();
        let mut n_ops = 0usize;
        let mut control: Option<Msg> = None;
        let started = Instant::now();
        let mut next = Some(first);
        loop {
            match next.take() {
                Some(Msg::Write { ops, tags, ack }) => {
                    n_ops += ops.len();
                    group.push(Pending { ops, tags, ack });
                }
                Some(other) => {
                    control = Some(other);
                    break;
                }
                None => {}
            }
            if n_ops >= ctx.max_batch || started.elapsed() >= ctx.max_delay {
                break;
            }
            match rx.try_recv() {
                Ok(m) => next = Some(m),
                Err(_) => break,
            }
        }
        ctx.metrics
            .queue_depth
            .set((queue_cap - rx.capacity().min(queue_cap)) as i64);
        if !group.is_empty() {
            apply_group(&ctx, group, n_ops);
        }
        match control {
            Some(Msg::Flush(ack)) => {
                let _ = ack.send(ctx.index.flush());
            }
            Some(Msg::Shutdown) => {
                shutting_down = true;
            }
            _ => {}
        }
    }
    // Drain what was queued before the queue closed: it was submitted before
    // close returned and must not be dropped unanswered.
    rx.close();
    let mut rest = Vec::new();
    let mut n = 0;
    while let Ok(m) = rx.try_recv() {
        match m {
            Msg::Write { ops, tags, ack } => {
                n += ops.len();
                rest.push(Pending { ops, tags, ack });
            }
            Msg::Flush(ack) => {
                let _ = ack.send(Err(Error::Closed));
            }
            Msg::Shutdown => {}
        }
    }
    if !rest.is_empty() {
        apply_group(&ctx, rest, n);
    }
    if let Err(e) = ctx.index.flush() {
        tracing::error!("final flush at close failed: {e}");
    }
}

fn apply_group(ctx: &WriterCtx, group: Vec<Pending>, n_ops: usize) {
    let t0 = Instant::now();
    let mut batch = sled::Batch::default();
    let mut pins = sled::Batch::default();
    let mut has_pins = false;
    // State of keys touched earlier in this group: true = present.
    let mut overlay: HashMap<&str, bool> = HashMap::new();
    let mut pin_overlay: HashMap<[u8; 32], bool> = HashMap::new();
    let mut results: Vec<Result<Vec<OpOutcome>>> = Vec::with_capacity(group.len());
    for p in &group {
        let mut out = Vec::with_capacity(p.ops.len());
        let mut err = None;
        for op in &p.ops {
            match op {
                WriteOp::Put { key, entry } => {
                    batch.insert(key.as_bytes(), entry.as_slice());
                    overlay.insert(key.as_str(), true);
                    out.push(OpOutcome::Written);
                }
                WriteOp::Delete { key } => {
                    let existed = match overlay.get(key.as_str()) {
                        Some(p) => Ok(*p),
                        None => ctx.index.contains(key.as_bytes()),
                    };
                    match existed {
                        Ok(e) => {
                            batch.remove(key.as_bytes());
                            overlay.insert(key.as_str(), false);
                            out.push(OpOutcome::Removed(e));
                        }
                        Err(e) => {
                            err = Some(e);
                            break;
                        }
                    }
                }
                WriteOp::Pin { hash } => {
                    pins.insert(&hash[..], &[][..]);
                    has_pins = true;
                    pin_overlay.insert(*hash, true);
                    out.push(OpOutcome::Written);
                }
                WriteOp::Unpin { hash } => {
                    let existed = match pin_overlay.get(hash) {
                        Some(p) => Ok(*p),
                        None => ctx.index.pins.contains_key(&hash[..]).map_err(Error::from),
                    };
                    match existed {
                        Ok(e) => {
                            pins.remove(&hash[..]);
                            has_pins = true;
                            pin_overlay.insert(*hash, false);
                            out.push(OpOutcome::Removed(e));
                        }
                        Err(e) => {
                            err = Some(e);
                            break;
                        }
                    }
                }
            }
        }
        results.push(match err {
            Some(e) => Err(e),
            None => Ok(out),
        });
    }
    // A read error in one request fails the whole group: the batch is built
    // from all of them and is applied atomically or not at all.
    let first_err = results
        .iter()
        .find_map(|r| r.as_ref().err().map(|e| e.to_string()));
    let applied: Result<()> = match first_err {
        Some(msg) => Err(Error::Index(msg)),
        None => (|| {
            // Pins first: a crash between the two leaves an extra pin (kept
            // blob), never an entry whose blob may be collected.
            if has_pins {
                ctx.index.pins.apply_batch(pins)?;
            }
            ctx.index.kv.apply_batch(batch)?;
            if ctx.durability == Durability::Sync {
                ctx.index.flush()?;
            }
            Ok(())
        })(),
    };
    let t_apply = t0.elapsed();
    ctx.cache.invalidate(overlay.keys().copied());
    ctx.metrics.batch_size.observe(n_ops as f64);
    ctx.metrics
        .batch_apply
        .with_label_values(&["apply"])
        .observe(t_apply.as_secs_f64());
    match applied {
        Ok(()) => {
            let mut tags = Vec::new();
            for (p, r) in group.into_iter().zip(results) {
                tags.extend(p.tags);
                ctx.metrics.writes_acked.inc_by(p.ops.len() as u64);
                let _ = p.ack.send(r);
            }
            ctx.blobs.committed(tags);
        }
        Err(e) => {
            let msg = e.to_string();
            tracing::error!("writer batch of {n_ops} writes failed: {msg}");
            for p in group {
                let _ = p.ack.send(Err(match &e {
                    Error::Io(io) => Error::Io(std::io::Error::new(io.kind(), msg.clone())),
                    Error::Corrupt(m) => Error::Corrupt(m.clone()),
                    _ => Error::Index(msg.clone()),
                }));
            }
        }
    }
}
