//! Applying operations: de-duplication, last-write-wins, type epochs, and
//! the writer transaction that records them.

use super::*;

/// What applying one operation did.
#[derive(Debug)]
pub enum Outcome {
    Applied,
    /// Older than what the store holds for the same key (and field): no
    /// change, but recorded so that a replay is a duplicate.
    Superseded,
    /// This `op_id` was applied before: no change.
    Duplicate,
    /// Refused with a typed error; nothing changed.
    Rejected(Error),
}

impl Outcome {
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Superseded => "superseded",
            Outcome::Duplicate => "duplicate",
            Outcome::Rejected(_) => "rejected",
        }
    }

    pub fn is_applied(&self) -> bool {
        matches!(self, Outcome::Applied)
    }
}

impl PartialEq for Outcome {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Outcome::Rejected(a), Outcome::Rejected(b)) => a.code() == b.code(),
            _ => self.name() == other.name(),
        }
    }
}

/// What the writer needs besides the op: a prepared whole-value entry
/// (String, Json) and, for Json, the document hash and the key's marker and
/// type epoch it was computed from (all must be unchanged), whether the op
/// changes nothing (a replicated path write with nothing to change), after
/// a replay the signature metadata of the key's greatest operation, and
/// for a rebuilt Json document (an older op of another type moved the
/// epoch) the document's entry, `None` if there is none.
struct Prepared {
    entry: Option<Entry>,
    expect_hash: Option<[u8; 32]>,
    expect_head: Option<Head>,
    noop: bool,
    replay_sig: Option<SigMeta>,
    rebuilt: Option<Option<Entry>>,
}

/// A key's marker, type epoch and operation count as stored.
type Head = (Option<Vec<u8>>, Option<Vec<u8>>, Option<Vec<u8>>);

impl Prepared {
    fn none() -> Self {
        Prepared {
            entry: None,
            expect_hash: None,
            expect_head: None,
            noop: false,
            replay_sig: None,
            rebuilt: None,
        }
    }
}

/// The `since` of a stored type epoch.
fn epoch_since(raw: Option<&[u8]>) -> Result<Option<Vec<u8>>> {
    Ok(raw.map(Epoch::decode).transpose()?.and_then(|e| e.since))
}

const APPLIED: &str = "applied";
const SUPERSEDED: &str = "superseded";
const DUPLICATE: &str = "duplicate";
const CONFLICT: &str = "conflict";
/// A Json document must be rebuilt before the writer (see `Prepared`).
const REBUILD: &str = "rebuild";

/// What an operation does to its key's type epoch (`replica::Epoch`).
enum Step {
    /// Merge it into the key's value (after removing the value when it
    /// replaces a key of another type).
    Apply { epoch: Epoch, replace: bool },
    /// Older than a write of another type: recorded, nothing changes.
    Superseded,
    /// Older than the key's greatest op but newer than the epoch: it
    /// becomes the epoch's `since`; the value is rebuilt without the ops it
    /// replaces.
    Rebuild(Epoch),
}

fn apply_in_txn(
    txn: &mut Txn<'_>,
    op: &SignedOperation,
    kind: ValueKind,
    prep: Prepared,
    fresh: bool,
    journal: bool,
) -> Result<Reply> {
    let full = op.full_key();
    let owner = replica::owner_of(op);
    let okey = opid_key(&owner, &op.op_id);
    if txn.get_raw(&okey)?.is_some() {
        return Ok(Reply::Str(DUPLICATE.into()));
    }
    let lk = replica::log_key(op.timestamp, &op.op_id, &owner);
    let mk = marker_key(&full);
    let ek = epoch_key(&full);
    let head: Head = (
        txn.get_raw(&mk)?,
        txn.get_raw(&ek)?,
        txn.get_raw(&key_count_key(&full))?,
    );
    // A value computed before the writer is stale if any operation of the
    // key was recorded since (the count moved), or an unsigned write
    // changed the document (its hash).
    if let Some(exp) = &prep.expect_head {
        if head != *exp {
            return Ok(Reply::Str(CONFLICT.into()));
        }
    }
    if let Some(h) = prep.expect_hash {
        if txn.entry(&full)?.map(|e| e.hash) != Some(h) {
            return Ok(Reply::Str(CONFLICT.into()));
        }
    }
    let (marker, epoch_raw, _) = head;
    let newest = is_newer(marker.as_deref(), op.timestamp, &op.op_id);
    // A key written before type epochs existed: its entry's type, no `since`.
    let epoch = match &epoch_raw {
        Some(b) => Some(Epoch::decode(b)?),
        None => txn.entry(&full)?.map(|e| Epoch {
            kind: e.kind,
            since: None,
        }),
    };
    let this = marker_value(op.timestamp, &op.op_id);
    let step = match epoch {
        None => Step::Apply {
            epoch: Epoch { kind, since: None },
            replace: false,
        },
        Some(e) if !e.admits(op.timestamp, &op.op_id) => Step::Superseded,
        Some(e) if e.kind == kind => Step::Apply {
            epoch: e,
            replace: false,
        },
        Some(e) => {
            // A new submission gets the local API's answer for a key that
            // holds another type; replicated ops follow the epoch rule.
            if fresh {
                if let Some(cur) = txn.entry(&full)?.filter(|c| c.kind != kind) {
                    return Err(Error::WrongType {
                        expected: kind.name(),
                        actual: cur.kind.name(),
                    });
                }
            }
            if newest {
                Step::Apply {
                    epoch: Epoch {
                        kind,
                        since: marker.clone(),
                    },
                    replace: true,
                }
            } else {
                Step::Rebuild(Epoch {
                    kind: e.kind,
                    since: Some(this),
                })
            }
        }
    };
    // Log the op with its arrival number and under its key, move the key
    // marker if it is the key's greatest operation so far, and store the
    // type epoch if it changed.
    let record = |txn: &mut Txn<'_>, epoch: Option<&Epoch>| -> Result<()> {
        txn.put_raw(okey.clone(), lk.clone());
        let body = op.to_json().into_bytes();
        if journal {
            txn.journal(body.clone());
        }
        txn.put_raw(lk.clone(), body);
        let n = txn
            .get_raw(LOG_COUNT_KEY)?
            .and_then(|v| v.try_into().ok())
            .map(u64::from_be_bytes)
            .unwrap_or(0);
        txn.put_raw(LOG_COUNT_KEY.to_vec(), (n + 1).to_be_bytes().to_vec());
        let seq = replica::next_seq(txn, n)?;
        txn.put_raw(replica::seq_key(seq), lk.clone());
        txn.put_raw(replica::SEQ_KEY.to_vec(), seq.to_be_bytes().to_vec());
        txn.put_raw(
            replica::key_op_key(&full, op.timestamp, &op.op_id),
            Vec::new(),
        );
        bump_key_count(txn, &full)?;
        if newest {
            txn.put_raw(mk.clone(), marker_value(op.timestamp, &op.op_id));
        }
        if let Some(e) = epoch.map(Epoch::encode) {
            if epoch_raw.as_ref() != Some(&e) {
                txn.put_raw(ek.clone(), e);
            }
        }
        Ok(())
    };
    let (epoch, replace) = match step {
        Step::Superseded => {
            record(txn, None)?;
            return Ok(Reply::Str(SUPERSEDED.into()));
        }
        Step::Rebuild(epoch) => {
            let sig = match epoch.kind {
                // The value is the greatest op's, which is newer.
                ValueKind::String => None,
                ValueKind::Json => {
                    let Some(rebuilt) = prep.rebuilt else {
                        return Ok(Reply::Str(REBUILD.into()));
                    };
                    match rebuilt {
                        Some(e) => txn.put_entry(&full, &e),
                        None if txn.entry_exists_raw(&full)? => txn.remove_entry(&full),
                        None => {}
                    }
                    prep.replay_sig
                }
                k => {
                    let since = epoch.since.as_deref().unwrap_or_default();
                    let ops = replica::key_ops_after(txn, &full, &owner, k, since)?;
                    if txn.entry_exists_raw(&full)? {
                        txn.remove_entry(&full);
                    }
                    for o in &ops {
                        merge_into_key(txn, &full, o, k, None)?;
                    }
                    ops.last().map(replica::sig_meta)
                }
            };
            set_sig(txn, &full, sig)?;
            record(txn, Some(&epoch))?;
            return Ok(Reply::Str(APPLIED.into()));
        }
        Step::Apply { epoch, replace } => (epoch, replace),
    };
    if replace && txn.entry_exists_raw(&full)? {
        txn.remove_entry(&full);
    }
    if prep.noop {
        // Nothing to change, but a newest op still names the signer.
        if newest {
            set_sig(txn, &full, Some(replica::sig_meta(op)))?;
        }
        record(txn, Some(&epoch))?;
        let r = if replace { APPLIED } else { SUPERSEDED };
        return Ok(Reply::Str(r.into()));
    }
    if !merge_into_key(txn, &full, op, kind, prep.entry)? {
        record(txn, Some(&epoch))?;
        return Ok(Reply::Str(SUPERSEDED.into()));
    }
    // The entry carries the signature metadata of the key's greatest
    // operation, whatever the arrival order: this op's if it is the newest,
    // the replayed newest for a Json replay, else what it already had.
    let sig = if newest {
        Some(replica::sig_meta(op))
    } else {
        prep.replay_sig
    };
    set_sig(txn, &full, sig)?;
    record(txn, Some(&epoch))?;
    Ok(Reply::Str(APPLIED.into()))
}

fn set_sig(txn: &mut Txn<'_>, full: &str, sig: Option<SigMeta>) -> Result<()> {
    if let Some(sig) = sig {
        if let Some(mut e) = txn.entry(full)? {
            e.sig = Some(sig);
            txn.put_entry(full, &e);
        }
    }
    Ok(())
}

/// Merge one op into the key's value of its type: per field / member /
/// point last-write-wins, ordered placement for List and Stream items.
/// `entry` is the prepared whole value of a String or Json op. Whether it
/// changed anything (`false`: an op of the same field/member is newer).
fn merge_into_key(
    txn: &mut Txn<'_>,
    full: &str,
    op: &SignedOperation,
    kind: ValueKind,
    entry: Option<Entry>,
) -> Result<bool> {
    if let Some(wk) = lww_key(full, kind, op) {
        if let Some(prev) = txn.get_raw(&wk)? {
            if prev.len() >= 8 {
                let pts = u64::from_be_bytes(prev[..8].try_into().expect("8"));
                let pid = &prev[8..];
                if (pts, pid) > (op.timestamp, op.op_id.as_bytes()) {
                    return Ok(false);
                }
            }
        }
        txn.put_raw(wk, marker_value(op.timestamp, &op.op_id));
    }
    match kind {
        ValueKind::String | ValueKind::Json => {
            let entry = entry.ok_or_else(|| Error::internal("whole-value op without an entry"))?;
            if let Some(e) = txn.entry(full)? {
                if e.kind != kind {
                    return Err(Error::WrongType {
                        expected: kind.name(),
                        actual: e.kind.name(),
                    });
                }
            }
            txn.put_entry(full, &entry);
        }
        ValueKind::Hash => {
            let f = op.field.clone().unwrap_or_default();
            hash::txn_hset(txn, full, vec![(f, op.value.clone())])?;
        }
        ValueKind::List => {
            // placed by (timestamp, op_id), not by arrival
            list::txn_insert_ordered(txn, full, op.timestamp, &op.op_id, op.value.clone())?;
        }
        ValueKind::Set => {
            set::txn_sadd(txn, full, vec![op.value.clone()])?;
        }
        ValueKind::SortedSet => {
            zset::txn_zadd(txn, full, vec![(op.value.clone(), op.score.unwrap_or(0.0))])?;
        }
        ValueKind::Stream => {
            let fields = op
                .stream_fields
                .clone()
                .unwrap_or_else(|| vec![("value".into(), op.value.clone())]);
            // The id comes from the operation alone (its timestamp and a
            // hash of its op_id), so every replica gives it the same place.
            let id = stream::op_stream_id(op.timestamp, &op.op_id);
            stream::txn_xadd_at(txn, full, id, fields)?;
        }
        ValueKind::TimeSeries => {
            let v: f64 = op
                .value
                .trim()
                .parse()
                .map_err(|_| Error::invalid("time-series value is not a number"))?;
            let t = op.ts_timestamp.unwrap_or(op.timestamp as i64);
            timeseries::txn_ts_add(txn, full, vec![(t, v)])?;
        }
        ValueKind::Geo => {
            let (lo, la) = (op.longitude.unwrap_or(0.0), op.latitude.unwrap_or(0.0));
            geo::txn_geoadd(txn, full, vec![(lo, la, op.value.clone())])?;
        }
    }
    Ok(true)
}

/// Apply one newly submitted signed operation. A refused operation is a
/// typed error (`InvalidSignature`, `NotOwner`, `Stale`, …) and changes
/// nothing.
pub(crate) async fn apply(e: &Engine, op: SignedOperation) -> Result<Outcome> {
    match apply_many(e, vec![op]).await?.pop() {
        Some(Outcome::Rejected(e)) => Err(e),
        Some(o) => Ok(o),
        None => Err(Error::internal("no outcome")),
    }
}
/// Apply newly submitted operations, in order, with one outcome each.
/// Signatures are verified in parallel batches off the async executor.
pub(crate) async fn apply_many(e: &Engine, ops: Vec<SignedOperation>) -> Result<Vec<Outcome>> {
    apply_ops(e, ops, true, true).await
}
/// Apply operations loaded from a log or received for sync: like
/// `apply_many` but never rejected for their age.
pub(crate) async fn apply_replicated(
    e: &Engine,
    ops: Vec<SignedOperation>,
) -> Result<Vec<Outcome>> {
    apply_ops(e, ops, false, true).await
}
/// Apply operations read back from the operation journal by a recovery
/// open: like `apply_replicated`, but not journaled again (they are
/// there already).
pub(crate) async fn apply_restored(e: &Engine, ops: Vec<SignedOperation>) -> Result<Vec<Outcome>> {
    apply_ops(e, ops, false, false).await
}
async fn apply_ops(
    e: &Engine,
    ops: Vec<SignedOperation>,
    fresh: bool,
    journal: bool,
) -> Result<Vec<Outcome>> {
    e.check_open()?;
    let n = ops.len();
    let mut outcomes: Vec<Option<Outcome>> = (0..n).map(|_| None).collect();
    let mut kinds: Vec<Option<ValueKind>> = vec![None; n];
    let window = e.config().freshness_window_ms;
    let now = now_ms();
    let mut items: Vec<VerifyItem> = Vec::new();
    let mut item_of: Vec<usize> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let checked = op.check_shape().and_then(|k| {
            e.check_key(&op.full_key())?;
            if fresh && now.abs_diff(op.timestamp) > window {
                return Err(Error::Stale(format!(
                    "timestamp {} is more than {window} ms from now ({now})",
                    op.timestamp
                )));
            }
            Ok(k)
        });
        match checked {
            Ok(k) => {
                kinds[i] = Some(k);
                items.push(op.verify_item());
                item_of.push(i);
            }
            Err(e) => outcomes[i] = Some(Outcome::Rejected(e)),
        }
    }
    let verifier = e.verifier().clone();
    let verdicts = verifier.verify_many_async(Arc::new(items)).await?;
    for (j, ok) in verdicts.into_iter().enumerate() {
        let i = item_of[j];
        let ok = ok || (e.config().legacy_signatures && ops[i].verify_legacy(&verifier));
        if !ok {
            outcomes[i] = Some(Outcome::Rejected(Error::InvalidSignature));
            kinds[i] = None;
        }
    }
    // Prepare whole values (blobs are added before the writer runs) and
    // build one independent writer request, in order.
    // A Json op is computed from the document as it was read, so two Json
    // ops of one key go to the writer in successive rounds (in order);
    // only a round with a conflict (a concurrent writer) counts against
    // the limit.
    let mut pending: Vec<usize> = (0..n).filter(|i| kinds[*i].is_some()).collect();
    // Ops that move a Json key's type epoch: the document is rebuilt
    // before they go to the writer again.
    let mut rebuild = std::collections::HashSet::new();
    let mut conflict_rounds = 0;
    while !pending.is_empty() && conflict_rounds < 16 {
        let mut wops = Vec::with_capacity(pending.len());
        let mut tags = Vec::new();
        let mut sent = Vec::with_capacity(pending.len());
        let mut json_keys = std::collections::HashSet::new();
        let mut deferred = Vec::new();
        for &i in &pending {
            let kind = kinds[i].expect("checked");
            // one op computed before the writer per key and round: a
            // later one would be computed from a log without the
            // earlier (the writer would refuse it as stale anyway)
            let computed = kind == ValueKind::Json || rebuild.contains(&i);
            if computed && !json_keys.insert(ops[i].full_key()) {
                deferred.push(i);
                continue;
            }
            let op = ops[i].clone();
            let prepared = if rebuild.contains(&i) {
                prepare_json_rebuild(e, &op).await
            } else {
                prepare_op(e, &op, kind, fresh).await
            };
            match prepared {
                Ok((prep, tag)) => {
                    tags.extend(tag);
                    wops.push(WriteOp::Update {
                        key: op.full_key(),
                        f: Box::new(move |txn| apply_in_txn(txn, &op, kind, prep, fresh, journal)),
                    });
                    sent.push(i);
                }
                Err(e) => outcomes[i] = Some(Outcome::Rejected(e)),
            }
        }
        let replies = e.submit_with(wops, tags, true).await?;
        let mut retry = Vec::new();
        for (i, r) in sent.into_iter().zip(replies) {
            outcomes[i] = Some(match r {
                Reply::Str(s) if s == APPLIED => Outcome::Applied,
                Reply::Str(s) if s == SUPERSEDED => Outcome::Superseded,
                Reply::Str(s) if s == DUPLICATE => Outcome::Duplicate,
                Reply::Str(s) if s == CONFLICT => {
                    retry.push(i);
                    continue;
                }
                Reply::Str(s) if s == REBUILD && rebuild.insert(i) => {
                    deferred.push(i);
                    continue;
                }
                Reply::Failed(e) => Outcome::Rejected(e.0),
                other => Outcome::Rejected(Error::internal(format!("reply {other:?}"))),
            });
        }
        if !retry.is_empty() {
            conflict_rounds += 1;
        }
        // keep the submission order among what is left
        retry.extend(deferred);
        retry.sort_unstable();
        pending = retry;
    }
    for i in pending {
        outcomes[i] = Some(Outcome::Rejected(Error::internal(
            "too many concurrent updates of the same document",
        )));
    }
    Ok(outcomes
        .into_iter()
        .map(|o| o.unwrap_or_else(|| Outcome::Rejected(Error::internal("no outcome"))))
        .collect())
}
async fn prepare_op(
    e: &Engine,
    op: &SignedOperation,
    kind: ValueKind,
    fresh: bool,
) -> Result<(Prepared, Option<iroh_blobs::api::TempTag>)> {
    match kind {
        ValueKind::String => {
            e.check_value(op.value.len())?;
            let (e, t) = e
                .prepare_entry(ValueKind::String, op.value.clone().into_bytes())
                .await?;
            let mut p = Prepared::none();
            p.entry = Some(e);
            Ok((p, t))
        }
        ValueKind::Json => prepare_json(e, op, fresh).await,
        _ => {
            e.check_value(op.value.len())?;
            Ok((Prepared::none(), None))
        }
    }
}
/// A Json op newer than every op of its key applies to the current
/// document (a new submission whose path has nothing to change is
/// refused; a replicated one is recorded as a no-op). An older one
/// rebuilds the document by replay (`replica::json_history`).
async fn prepare_json(
    e: &Engine,
    op: &SignedOperation,
    fresh: bool,
) -> Result<(Prepared, Option<iroh_blobs::api::TempTag>)> {
    let value: serde_json::Value =
        serde_json::from_str(&op.value).map_err(|e| Error::invalid(format!("Json value: {e}")))?;
    let full = op.full_key();
    let head = read_head(e, &full).await?;
    let (marker, epoch, _) = &head;
    let mut p = Prepared::none();
    let current = match crate::types::json::read_json_doc(e, &full).await {
        // A replicated op on a key of another type: the epoch rule
        // decides in the writer (the op replaces it or is older).
        Err(Error::WrongType { .. }) if !fresh => None,
        r => r?,
    };
    p.expect_hash = current.as_ref().map(|(_, h)| *h);
    let doc = if is_newer(marker.as_deref(), op.timestamp, &op.op_id) {
        // the newest op: the rule applied to the current document
        let had_doc = current.is_some();
        let mut doc = current.map(|(d, _)| d);
        if replica::json_apply(&mut doc, op, value) {
            doc
        } else if fresh && had_doc {
            let path = op.json_path.as_deref().unwrap_or("$").trim();
            return Err(Error::invalid(format!("JSONPath `{path}` selects nothing")));
        } else if fresh {
            return Err(Error::invalid(format!(
                "no document at `{full}`: set it at `$` first"
            )));
        } else {
            None
        }
    } else {
        let o = op.clone();
        let since = epoch_since(epoch.as_deref())?;
        let history = e
            .read(move |ix| {
                let owner = replica::owner_of(&o);
                replica::json_history(ix, &o.full_key(), &owner, Some(&o), since.as_deref())
            })
            .await?;
        p.replay_sig = history.last().map(replica::sig_meta);
        replica::json_replay(&history)
    };
    p.expect_head = Some(head);
    let Some(doc) = doc else {
        p.noop = true;
        return Ok((p, None));
    };
    let text = serde_json::to_vec(&doc).map_err(Error::internal)?;
    e.check_value(text.len())?;
    let (e, t) = e.prepare_entry(ValueKind::Json, text).await?;
    p.entry = Some(e);
    Ok((p, t))
}
/// The key's marker, type epoch and operation count, as the writer
/// compares them. Read before anything a value is computed from, so a
/// write in between makes the value stale, never wrongly fresh.
async fn read_head(e: &Engine, full: &str) -> Result<Head> {
    let (mk, ek, ck) = (marker_key(full), epoch_key(full), key_count_key(full));
    e.read(move |ix| {
        let get = |k: &[u8]| -> Result<Option<Vec<u8>>> { Ok(ix.get_raw(k)?.map(|v| v.to_vec())) };
        Ok((get(&mk)?, get(&ek)?, get(&ck)?))
    })
    .await
}
/// `op` (of another type, older than the Json key's greatest op) moves
/// the key's type epoch to itself: the document is replayed from the
/// key's Json operations greater than `op`.
async fn prepare_json_rebuild(
    e: &Engine,
    op: &SignedOperation,
) -> Result<(Prepared, Option<iroh_blobs::api::TempTag>)> {
    let full = op.full_key();
    let head = read_head(e, &full).await?;
    let after = marker_value(op.timestamp, &op.op_id);
    let f = full.clone();
    let owner = replica::owner_of(op);
    let history = e
        .read(move |ix| replica::json_history(ix, &f, &owner, None, Some(&after)))
        .await?;
    let mut p = Prepared::none();
    p.expect_head = Some(head);
    p.replay_sig = history.last().map(replica::sig_meta);
    let mut tag = None;
    p.rebuilt = Some(match replica::json_replay(&history) {
        Some(doc) => {
            let text = serde_json::to_vec(&doc).map_err(Error::internal)?;
            let (e, t) = e.prepare_entry(ValueKind::Json, text).await?;
            tag = t;
            Some(e)
        }
        None => None,
    });
    Ok((p, tag))
}
