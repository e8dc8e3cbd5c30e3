//! The group-commit writer: one OS thread per store, the only code that
//! mutates the index.
//!
//! Requests arrive on a bounded queue (a full queue makes submitters wait:
//! back-pressure). The thread blocks for the first request, then takes what is
//! already queued — up to `max_batch` writes, for at most `max_delay` — without
//! ever waiting for more to arrive. It runs every request against a
//! transaction view (sled plus the group's pending writes), applies the whole
//! group as one atomic sled batch, flushes (fsync) once if the durability mode
//! asks for it, invalidates the cache for the keys it touched, and
//! acknowledges each request with its own result.
//!
//! Read-modify-write operations (hset, rpush, zadd, …) run here, on the one
//! thread that writes, so they are atomic per key without locks: no update is
//! lost. A request whose operation fails changes nothing; the other requests of
//! the group are unaffected.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use iroh_blobs::api::TempTag;
use tokio::sync::{mpsc, oneshot};

use crate::engine::blobs::Blobs;
use crate::engine::cache::TieredCache;
use crate::engine::config::Durability;
use crate::engine::index::{entry_key, pin_key, Index};
use crate::engine::metrics::Metrics;
use crate::error::{Error, Result};
use crate::value::{Entry, EntryHeader};

/// A read-modify-write function run on the writer thread.
pub type UpdateFn = Box<dyn FnOnce(&mut Txn<'_>) -> Result<Reply> + Send>;

/// One mutation.
pub enum WriteOp {
    /// Store an encoded entry under a key (replacing whatever was there).
    Put { key: String, entry: Vec<u8> },
    /// Store an entry only if the key's current value hash is `expected`
    /// (`None`: the key must be absent). Replies `Bool(false)` on a mismatch.
    PutIfHash {
        key: String,
        expected: Option<[u8; 32]>,
        entry: Vec<u8>,
    },
    /// Remove a key (of any type); replies whether it existed.
    Delete { key: String },
    /// Keep a raw blob alive.
    Pin { hash: [u8; 32] },
    /// Let a raw blob go; replies whether it was kept.
    Unpin { hash: [u8; 32] },
    /// Remove raw index keys (sub-entries found orphaned by the sweeper).
    RemoveRaw { keys: Vec<Vec<u8>> },
    /// A read-modify-write of one key.
    Update { key: String, f: UpdateFn },
}

impl std::fmt::Debug for WriteOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteOp::Put { key, .. } => write!(f, "Put({key})"),
            WriteOp::PutIfHash { key, .. } => write!(f, "PutIfHash({key})"),
            WriteOp::Delete { key } => write!(f, "Delete({key})"),
            WriteOp::Pin { .. } => write!(f, "Pin"),
            WriteOp::Unpin { .. } => write!(f, "Unpin"),
            WriteOp::RemoveRaw { keys } => write!(f, "RemoveRaw({})", keys.len()),
            WriteOp::Update { key, .. } => write!(f, "Update({key})"),
        }
    }
}

/// What one op answered.
#[derive(Debug, PartialEq)]
pub enum Reply {
    Unit,
    Bool(bool),
    Int(i64),
    Str(String),
    /// The op failed and changed nothing (only in independent requests).
    Failed(OpError),
}

/// A typed error inside a reply.
#[derive(Debug)]
pub struct OpError(pub Error);

impl PartialEq for OpError {
    fn eq(&self, other: &Self) -> bool {
        self.0.code() == other.0.code() && self.0.to_string() == other.0.to_string()
    }
}

/// A callback that receives a request's result on the writer thread (see
/// [`Ack::Call`]).
pub type AckFn = Box<dyn FnOnce(Result<Vec<Reply>>) + Send>;

/// How the writer answers one request, after the group's commit point (the
/// index apply, and the fsync under `Durability::Sync`).
pub enum Ack {
    /// Send the result over a channel (the `async fn` API awaits it).
    Chan(oneshot::Sender<Result<Vec<Reply>>>),
    /// Run a callback with the result, on the writer thread: it must be
    /// short and must not block (it delays the rest of the group's
    /// acknowledgements and the next group). A callback dropped without
    /// being run (the writer gone) is run with `Error::Closed`, so every
    /// submitter gets an answer.
    Call(CallAck),
}

impl Ack {
    /// Deliver the result (a receiver that went away is not an error).
    pub fn send(self, r: Result<Vec<Reply>>) {
        match self {
            Ack::Chan(tx) => {
                let _ = tx.send(r);
            }
            Ack::Call(mut c) => {
                if let Some(f) = c.0.take() {
                    f(r);
                }
            }
        }
    }
}

/// The callback of [`Ack::Call`]; answers `Error::Closed` if dropped unrun.
pub struct CallAck(Option<AckFn>);

impl CallAck {
    pub fn new(f: AckFn) -> Self {
        CallAck(Some(f))
    }
}

impl Drop for CallAck {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f(Err(Error::Closed));
        }
    }
}

/// Who may apply a write group: the writer thread, or a caller applying
/// its own write inline ([`WriteGate::try_inline`]). The lock is held for
/// the whole apply of a group, so groups never interleave; `in_flight`
/// counts the requests submitted to the queue and not yet applied, so that
/// an inline write is never ordered before a write queued earlier (a
/// caller's own pipelined writes keep their order).
#[derive(Default)]
pub struct WriteGate {
    /// `false` once the writer has drained its queue at close: an inline
    /// write after that answers `Error::Closed` (it could miss the final
    /// flush).
    open: parking_lot::Mutex<bool>,
    in_flight: AtomicUsize,
}

impl WriteGate {
    pub fn new() -> Arc<Self> {
        Arc::new(WriteGate {
            open: parking_lot::Mutex::new(true),
            in_flight: AtomicUsize::new(0),
        })
    }

    /// A token for one request about to be queued (decremented when the
    /// request is applied or dropped unsent).
    pub fn queued(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }

    /// The right to apply a write on the caller's thread, now: the gate
    /// is free (no group being applied), nothing queued is waiting, and the
    /// writer has not shut down. `None` otherwise: queue the write.
    pub fn try_inline(&self) -> Option<parking_lot::MutexGuard<'_, bool>> {
        let g = self.open.try_lock()?;
        (*g && self.in_flight.load(Ordering::Acquire) == 0).then_some(g)
    }
}

/// A queued request's place in [`WriteGate`]'s count.
pub struct InFlight(Arc<WriteGate>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

pub enum Msg {
    Write {
        ops: Vec<WriteOp>,
        tags: Vec<TempTag>,
        /// Ops succeed or fail one by one (`Reply::Failed`) instead of the
        /// request failing as a whole.
        independent: bool,
        ack: Ack,
        /// Dropped once the request is applied (or never sent).
        token: InFlight,
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
    pub gate: Arc<WriteGate>,
}

impl WriterCtx {
    fn parts(&self) -> Parts<'_> {
        Parts {
            index: &self.index,
            cache: &self.cache,
            blobs: &self.blobs,
            metrics: &self.metrics,
            durability: self.durability,
        }
    }
}

/// What applying a group needs (the writer's, or an inline caller's).
pub struct Parts<'a> {
    pub index: &'a Index,
    pub cache: &'a TieredCache,
    pub blobs: &'a Blobs,
    pub metrics: &'a Metrics,
    pub durability: Durability,
}

struct Pending {
    ops: Vec<WriteOp>,
    tags: Vec<TempTag>,
    independent: bool,
    ack: Ack,
    token: Option<InFlight>,
}

/// Apply one request on the caller's thread, holding the gate from
/// [`WriteGate::try_inline`]: the same transaction, commit point, cache
/// update and acknowledgement as a group of one on the writer thread.
pub fn apply_inline(parts: &Parts<'_>, ops: Vec<WriteOp>) -> Result<Vec<Reply>> {
    let (tx, mut rx) = oneshot::channel();
    let n = ops.len();
    apply_group(
        parts,
        vec![Pending {
            ops,
            tags: Vec::new(),
            independent: false,
            ack: Ack::Chan(tx),
            token: None,
        }],
        n,
    );
    rx.try_recv().map_err(|_| Error::Closed)?
}

/// A transaction view for one request: reads see sled, then the group's
/// earlier writes, then this request's own writes.
pub struct Txn<'a> {
    index: &'a Index,
    group: &'a BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    staged: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// Writes of the current op when ops are independent (a savepoint).
    op_staged: Option<BTreeMap<Vec<u8>, Option<Vec<u8>>>>,
    /// Hashes of the keys written, for the cache (see `cache.rs`).
    touched: Vec<u64>,
    op_touched: Vec<u64>,
    /// Records for the operation journal (src/engine/journal.rs), of the
    /// request and of the current op when ops are independent.
    journal: Vec<Vec<u8>>,
    op_journal: Vec<Vec<u8>>,
    /// Wall-clock time of the group, ms since the epoch (one value for the
    /// whole request so that expiry checks agree).
    pub now_ms: u64,
}

impl<'a> Txn<'a> {
    /// Read a raw index key.
    pub fn get_raw(&self, k: &[u8]) -> Result<Option<Vec<u8>>> {
        if let Some(v) = self.op_staged.as_ref().and_then(|m| m.get(k)) {
            return Ok(v.clone());
        }
        if let Some(v) = self.staged.get(k) {
            return Ok(v.clone());
        }
        if let Some(v) = self.group.get(k) {
            return Ok(v.clone());
        }
        Ok(self.index.get_raw(k)?.map(|v| v.to_vec()))
    }

    pub fn put_raw(&mut self, k: Vec<u8>, v: Vec<u8>) {
        match &mut self.op_staged {
            Some(m) => m.insert(k, Some(v)),
            None => self.staged.insert(k, Some(v)),
        };
    }

    pub fn remove_raw(&mut self, k: Vec<u8>) {
        match &mut self.op_staged {
            Some(m) => m.insert(k, None),
            None => self.staged.insert(k, None),
        };
    }

    /// The keys under `prefix` as this transaction sees them (sled, then
    /// the group's, the request's and the op's pending writes), in order.
    pub fn keys_with_prefix(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>> {
        let mut keys: BTreeMap<Vec<u8>, bool> = BTreeMap::new();
        for item in self.index.tree.scan_prefix(prefix) {
            keys.insert(item?.0.to_vec(), true);
        }
        let layers = [
            Some(self.group),
            Some(&self.staged),
            self.op_staged.as_ref(),
        ];
        for layer in layers.into_iter().flatten() {
            for (k, v) in layer.range(prefix.to_vec()..) {
                if !k.starts_with(prefix) {
                    break;
                }
                keys.insert(k.clone(), v.is_some());
            }
        }
        Ok(keys
            .into_iter()
            .filter(|(_, live)| *live)
            .map(|(k, _)| k)
            .collect())
    }

    /// The live entry of a key: `None` if absent or expired.
    pub fn entry(&self, key: &str) -> Result<Option<Entry>> {
        match self.get_raw(&entry_key(key.as_bytes()))? {
            None => Ok(None),
            Some(raw) => {
                let e = Entry::decode(&raw)?;
                if matches!(e.expires_at_ms, Some(t) if t <= self.now_ms) {
                    Ok(None)
                } else {
                    Ok(Some(e))
                }
            }
        }
    }

    /// Whether the key has an entry (expired or not).
    pub fn entry_exists_raw(&self, key: &str) -> Result<bool> {
        Ok(self.get_raw(&entry_key(key.as_bytes()))?.is_some())
    }

    pub fn put_entry(&mut self, key: &str, e: &Entry) {
        self.put_raw(entry_key(key.as_bytes()), e.encode());
        self.touch(key);
    }

    pub fn remove_entry(&mut self, key: &str) {
        self.remove_raw(entry_key(key.as_bytes()));
        self.touch(key);
    }

    /// Stage a record for the operation journal: appended after the
    /// group's sled apply succeeded, dropped with the op if it fails.
    pub fn journal(&mut self, record: Vec<u8>) {
        if self.op_staged.is_some() {
            self.op_journal.push(record);
        } else {
            self.journal.push(record);
        }
    }

    /// Mark a key for cache invalidation.
    pub fn touch(&mut self, key: &str) {
        let s = crate::engine::cache::key_hash(key);
        if self.op_staged.is_some() {
            self.op_touched.push(s);
        } else {
            self.touched.push(s);
        }
    }

    fn begin_op(&mut self) {
        self.op_staged = Some(BTreeMap::new());
    }

    fn commit_op(&mut self) {
        if let Some(m) = self.op_staged.take() {
            self.staged.extend(m);
        }
        self.touched.append(&mut self.op_touched);
        self.journal.append(&mut self.op_journal);
    }

    fn rollback_op(&mut self) {
        self.op_staged = None;
        self.op_touched.clear();
        self.op_journal.clear();
    }

    /// A fresh container version.
    pub fn new_version(&self) -> Result<u64> {
        self.index.new_version()
    }

    /// Range read of sub-entries from sled only (sees nothing staged). Used
    /// by operations that read before they write, e.g. collecting a range.
    pub fn index(&self) -> &Index {
        self.index
    }
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
                Some(Msg::Write {
                    ops,
                    tags,
                    independent,
                    ack,
                    token,
                }) => {
                    n_ops += ops.len();
                    group.push(Pending {
                        ops,
                        tags,
                        independent,
                        ack,
                        token: Some(token),
                    });
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
            let _gate = ctx.gate.open.lock();
            apply_group(&ctx.parts(), group, n_ops);
        }
        match control {
            Some(Msg::Flush(ack)) => {
                // An explicit flush (and a sync checkpoint per page): the
                // mark at most once a second, like the writer's own.
                let _ = ack.send(ctx.index.flush_routine());
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
    // No inline write from here on: the final flush below must cover every
    // acknowledged write.
    let mut gate = ctx.gate.open.lock();
    *gate = false;
    let mut rest = Vec::new();
    let mut n = 0;
    while let Ok(m) = rx.try_recv() {
        match m {
            Msg::Write {
                ops,
                tags,
                independent,
                ack,
                token,
            } => {
                n += ops.len();
                rest.push(Pending {
                    ops,
                    tags,
                    independent,
                    ack,
                    token: Some(token),
                });
            }
            Msg::Flush(ack) => {
                let _ = ack.send(Err(Error::Closed));
            }
            Msg::Shutdown => {}
        }
    }
    if !rest.is_empty() {
        apply_group(&ctx.parts(), rest, n);
    }
    drop(gate);
    if let Err(e) = ctx.index.flush() {
        tracing::error!("final flush at close failed: {e}");
    }
}

fn run_op(txn: &mut Txn<'_>, op: WriteOp) -> Result<Reply> {
    match op {
        WriteOp::Put { key, entry } => {
            txn.put_raw(entry_key(key.as_bytes()), entry);
            txn.touch(&key);
            Ok(Reply::Unit)
        }
        WriteOp::PutIfHash {
            key,
            expected,
            entry,
        } => {
            let current = txn.entry(&key)?.map(|e| e.hash);
            if current != expected {
                return Ok(Reply::Bool(false));
            }
            txn.put_raw(entry_key(key.as_bytes()), entry);
            txn.touch(&key);
            Ok(Reply::Bool(true))
        }
        WriteOp::Delete { key } => {
            let existed = txn.entry(&key)?.is_some();
            if txn.entry_exists_raw(&key)? {
                // Containers: removing the entry is enough (O(1)); their
                // sub-entries are orphaned and collected by the sweeper.
                txn.remove_entry(&key);
            }
            Ok(Reply::Bool(existed))
        }
        WriteOp::Pin { hash } => {
            txn.put_raw(pin_key(&hash), Vec::new());
            Ok(Reply::Unit)
        }
        WriteOp::Unpin { hash } => {
            let k = pin_key(&hash);
            let existed = txn.get_raw(&k)?.is_some();
            txn.remove_raw(k);
            Ok(Reply::Bool(existed))
        }
        WriteOp::RemoveRaw { keys } => {
            let n = keys.len();
            for k in keys {
                txn.remove_raw(k);
            }
            Ok(Reply::Int(n as i64))
        }
        // The writer's panic boundary: a panic in one operation's closure
        // (a bug) fails that operation with Internal, its staged writes are
        // dropped like any failed op's, and the writer goes on.
        WriteOp::Update { key, f } => {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(txn))).unwrap_or_else(|p| {
                let what = p
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                Err(Error::internal(format!(
                    "the operation on {key:?} panicked: {what}"
                )))
            })
        }
    }
}

fn apply_group(ctx: &Parts<'_>, group: Vec<Pending>, n_ops: usize) {
    let t0 = Instant::now();
    let now_ms = crate::engine::clock::now_ms();
    let mut pending_writes: BTreeMap<Vec<u8>, Option<Vec<u8>>> = BTreeMap::new();
    let mut touched: Vec<u64> = Vec::new();
    let mut acks = Vec::with_capacity(group.len());
    let mut tags = Vec::new();
    let mut journal: Vec<Vec<u8>> = Vec::new();
    // Released (the requests counted as applied) when the group is done.
    let mut tokens = Vec::with_capacity(group.len());
    for p in group {
        let Pending {
            ops,
            tags: t,
            independent,
            ack,
            token,
        } = p;
        tokens.extend(token);
        let n = ops.len();
        let mut txn = Txn {
            index: ctx.index,
            group: &pending_writes,
            staged: BTreeMap::new(),
            op_staged: None,
            touched: Vec::new(),
            op_touched: Vec::new(),
            journal: Vec::new(),
            op_journal: Vec::new(),
            now_ms,
        };
        let mut replies = Vec::with_capacity(n);
        let mut failed = None;
        for op in ops {
            if independent {
                txn.begin_op();
                match run_op(&mut txn, op) {
                    Ok(r) => {
                        txn.commit_op();
                        replies.push(r);
                    }
                    Err(e) => {
                        txn.rollback_op();
                        replies.push(Reply::Failed(OpError(e)));
                    }
                }
                continue;
            }
            match run_op(&mut txn, op) {
                Ok(r) => replies.push(r),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        match failed {
            None => {
                let Txn {
                    staged,
                    touched: tk,
                    journal: jr,
                    ..
                } = txn;
                pending_writes.extend(staged);
                journal.extend(jr);
                touched.extend(tk);
                tags.extend(t);
                acks.push((ack, Ok(replies), n));
            }
            // The request changes nothing: its staged writes are dropped.
            Some(e) => acks.push((ack, Err(e), n)),
        }
    }
    // Write-through: the string values of this group, for the hot tier.
    let through: Vec<_> = if ctx.cache.writes_through() {
        pending_writes
            .iter()
            .filter_map(|(k, v)| crate::engine::cache::written_string(k, v.as_deref()?, now_ms))
            .collect()
    } else {
        Vec::new()
    };
    let mut batch = sled::Batch::default();
    let single_write = pending_writes.len() <= 1;
    let mut single = None;
    if single_write {
        single = pending_writes.into_iter().next();
    } else {
        for (k, v) in pending_writes {
            match v {
                Some(v) => batch.insert(k, v),
                None => batch.remove(k),
            }
        }
    }
    let applied: Result<()> = ctx.index.guard(|| {
        if single_write {
            // One key: a plain insert/remove. sled forces a log write and
            // wakes its IO threads for every batch; a single write does not
            // need the batch's atomicity.
            if let Some((k, v)) = single {
                match v {
                    Some(v) => ctx.index.tree.insert(k, v)?,
                    None => ctx.index.tree.remove(k)?,
                };
            }
        } else {
            ctx.index.tree.apply_batch(batch)?;
        }
        // After the apply succeeded; under `sync` the flush below
        // fdatasyncs it before the writes are acknowledged.
        ctx.index.journal_append(&journal);
        if ctx.durability == Durability::Sync {
            ctx.index.flush_routine()?;
        }
        Ok(())
    });
    if ctx.durability == Durability::Batch && applied.is_ok() {
        // The writes are acknowledged as applied whatever this says: a
        // failed mark only weakens the check at the next open.
        if let Err(e) = ctx.index.mark_if_due() {
            tracing::warn!("durability mark not recorded: {e}");
        }
    }
    let t_apply = t0.elapsed();
    drop(tokens);
    ctx.cache.written(touched.into_iter());
    ctx.metrics.batch_size.observe(n_ops as f64);
    ctx.metrics
        .batch_apply
        .with_label_values(&["apply"])
        .observe(t_apply.as_secs_f64());
    match applied {
        Ok(()) => {
            ctx.cache.write_through(through.into_iter());
            for (ack, r, n) in acks {
                if r.is_ok() {
                    ctx.metrics.writes_acked.inc_by(n as u64);
                }
                ack.send(r);
            }
            ctx.blobs.committed(tags);
        }
        Err(e) => {
            let msg = e.to_string();
            tracing::error!("writer batch of {n_ops} writes failed: {msg}");
            for (ack, r, _) in acks {
                ack.send(match r {
                    Err(op_err) => Err(op_err),
                    Ok(_) => Err(match &e {
                        Error::Io(io) => Error::Io(std::io::Error::new(io.kind(), io.to_string())),
                        Error::Corrupt(m) => Error::Corrupt(m.clone()),
                        _ => Error::Index(msg.clone()),
                    }),
                });
            }
        }
    }
}

/// Header of a raw entry, for sweepers that must not decode values.
pub fn header_expiry(raw: &[u8]) -> Option<u64> {
    EntryHeader::decode(raw)
        .ok()
        .and_then(|h| h.expires_at_ms(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A callback ack that is dropped unrun (the writer gone) still answers,
    /// with `Error::Closed`; one that is sent answers once, with the result.
    #[test]
    fn a_callback_ack_answers_exactly_once() {
        let (tx, rx) = std::sync::mpsc::channel();
        let t = tx.clone();
        drop(Ack::Call(CallAck::new(Box::new(move |r| {
            t.send(r).unwrap();
        }))));
        assert!(matches!(rx.try_recv().unwrap(), Err(Error::Closed)));
        let t = tx.clone();
        Ack::Call(CallAck::new(Box::new(move |r| t.send(r).unwrap())))
            .send(Ok(vec![Reply::Bool(true)]));
        assert_eq!(rx.try_recv().unwrap().unwrap(), vec![Reply::Bool(true)]);
        assert!(rx.try_recv().is_err(), "answered once");
    }
}
