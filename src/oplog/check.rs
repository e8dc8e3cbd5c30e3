//! Checking the log at open, and the log's key layout.

use super::*;

/// The result of reading the log at open (or with [`Store::load_log`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadReport {
    pub total: u64,
    pub ok: u64,
    /// (log key in hex, error) of entries that do not decode; skipped.
    pub corrupt: Vec<(String, String)>,
    /// op_ids whose signature does not verify (with `LogCheck::Verify`).
    pub invalid_signatures: Vec<String>,
    pub elapsed: Duration,
}

/// `L | ts | op_id | signer (32 bytes)`, `o | signer | op_id`.
const LAYOUT: u8 = 2;

/// Bring the log's keys to the current layout (at open, before the writer
/// runs). A store of the first layout has its `L` keys suffixed with their
/// signer's key, its `o` keys prefixed with it, and its arrival numbers
/// pointed at the new `L` keys, in one atomic batch: a one-off pass over
/// the log. An entry that does not decode keeps its key (it is reported
/// as corrupt at open, as before); a layout this build does not know is
/// `Corrupt`.
pub(crate) fn upgrade_log_layout(ix: &crate::engine::index::Index) -> Result<()> {
    match ix.get_raw(LAYOUT_KEY)? {
        Some(v) if v.as_ref() == [LAYOUT] => return Ok(()),
        Some(v) => {
            return Err(Error::Corrupt(format!(
                "operation log layout {v:?} is not one this version knows ({LAYOUT})"
            )))
        }
        None => {}
    }
    let mut batch = sled::Batch::default();
    let mut moved = std::collections::HashMap::new();
    for item in ix.tree.scan_prefix([NS_LOG]) {
        let (k, v) = item?;
        let Ok(op) = serde_json::from_slice::<SignedOperation>(&v) else {
            continue;
        };
        let owner = replica::owner_of(&op);
        let mut nk = k.to_vec();
        nk.extend_from_slice(&owner);
        let mut old_o = vec![NS_OPID];
        old_o.extend_from_slice(op.op_id.as_bytes());
        if ix.get_raw(&old_o)?.is_some_and(|l| l == k) {
            batch.remove(old_o);
        }
        batch.insert(opid_key(&owner, &op.op_id), nk.clone());
        batch.remove(k.clone());
        batch.insert(nk.clone(), v);
        moved.insert(k.to_vec(), nk);
    }
    if !moved.is_empty() {
        for item in ix.tree.scan_prefix([replica::NS_SEQ]) {
            let (k, v) = item?;
            if let Some(nk) = moved.get(v.as_ref()) {
                batch.insert(k, nk.clone());
            }
        }
        tracing::info!(entries = moved.len(), "operation log: keys upgraded");
    }
    batch.insert(LAYOUT_KEY, &[LAYOUT][..]);
    ix.tree.apply_batch(batch)?;
    // (sled makes writes durable in order: an operation logged later is
    // never durable without the marker)
    if !moved.is_empty() {
        ix.tree.flush()?;
    }
    Ok(())
}

/// The log check at open. `Verify` re-reads and re-verifies the whole
/// log. `Trust` checks the shape of each entry once in the store's life:
/// a persisted record (`#oplog_checked`: arrival number checked
/// through, entries found well-formed, the corrupt ones) lets a later
/// open check only the entries that arrived since, reached through
/// their arrival numbers (`Q` keys). Without a usable record (a new
/// store, a log older than arrival numbers, an undecodable record) or
/// when more than half the log is new, the whole log is read. Either
/// way the report covers the whole log, and the record is rewritten.
pub(crate) async fn load_log_at_open(
    e: &Engine,
    check: LogCheck,
    progress: Option<Arc<dyn Fn(u64, u64) + Send + Sync>>,
) -> Result<LoadReport> {
    if check == LogCheck::Skip {
        return Ok(LoadReport::default());
    }
    let t0 = Instant::now();
    let (total, head, record) = e
        .read(|ix| {
            let total = ix
                .get_raw(LOG_COUNT_KEY)?
                .and_then(|v| v.as_ref().try_into().ok())
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            let record = ix
                .get_raw(CHECKED_KEY)?
                .and_then(|v| serde_json::from_slice::<CheckedLog>(&v).ok());
            Ok((total, replica::head_seq(ix)?, record))
        })
        .await?;
    // arrival numbers cover the log exactly (a log from before they
    // existed is numbered by its next write)
    let numbered = head == total;
    let usable = record.filter(|r| {
        check == LogCheck::Trust
            && numbered
            && r.seq <= head
            && r.ok + r.corrupt.len() as u64 == r.seq
            && head - r.seq <= total / 2
    });
    // nothing to record for an empty log, nor when nothing arrived
    let unchanged = total == 0 || usable.as_ref().is_some_and(|r| r.seq == head);
    let (report, shape_ok) = match usable {
        Some(rec) => {
            let progress = progress.clone();
            let report = e
                .read(move |ix| check_since(ix, rec, head, total, progress))
                .await?;
            let ok = report.ok;
            (report, ok)
        }
        None => {
            let r = load_log(e, check, progress).await?;
            let ok = r.ok + r.invalid_signatures.len() as u64;
            (r, ok)
        }
    };
    if numbered && !unchanged && report.total == total {
        let rec = CheckedLog {
            seq: head,
            ok: shape_ok,
            corrupt: report.corrupt.clone(),
        };
        let v = serde_json::to_vec(&rec).map_err(Error::internal)?;
        // not fatal: without the record the next open reads the log
        let written = e
            .submit(
                vec![WriteOp::Update {
                    key: "#oplog".into(),
                    f: Box::new(move |txn| {
                        txn.put_raw(CHECKED_KEY.to_vec(), v);
                        Ok(Reply::Unit)
                    }),
                }],
                vec![],
            )
            .await;
        if let Err(e) = written {
            tracing::warn!("could not record the checked log: {e}");
        }
    }
    Ok(LoadReport {
        elapsed: t0.elapsed(),
        ..report
    })
}
/// Read the whole log in parallel, decoding every entry and, with
/// `LogCheck::Verify`, re-verifying every signature. A corrupt entry is
/// reported and skipped; the load never aborts on one. `progress` gets
/// (done, total), every `LOAD_CHUNK` entries per range.
///
/// The log's key range is split by timestamp into a few ranges per CPU
/// thread, each scanned and decoded by one task of the rayon pool (so
/// the sled scan runs in parallel too, and at most one task per thread
/// is in flight). Trusting the log checks each entry's shape without
/// building the operation ([`OpShape`]); verifying builds it and checks
/// its signature in batches of `LOAD_CHUNK`.
pub(crate) async fn load_log(
    e: &Engine,
    check: LogCheck,
    progress: Option<Arc<dyn Fn(u64, u64) + Send + Sync>>,
) -> Result<LoadReport> {
    if check == LogCheck::Skip {
        return Ok(LoadReport::default());
    }
    let total = scan::log_len(e).await?;
    let verifier = e.verifier().clone();
    let legacy = e.config().legacy_signatures;
    let t0 = Instant::now();
    e.read(move |ix| {
        use rayon::prelude::*;
        // under a lock, so that the callback sees `done` only grow and
        // its last call is (total, total)
        let done = std::sync::Mutex::new(0u64);
        let tick = |n: usize| {
            let mut d = done
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            *d += n as u64;
            if let Some(p) = &progress {
                p(*d, total);
            }
        };
        // verify a batch of decoded operations into the range's report
        let verify_batch = |ops: &mut Vec<SignedOperation>, part: &mut LoadReport| {
            if check == LogCheck::Verify && !ops.is_empty() {
                let items: Vec<VerifyItem> = ops.iter().map(SignedOperation::verify_item).collect();
                for (op, ok) in ops.iter().zip(verifier.verify_many(&items)) {
                    if ok || (legacy && op.verify_legacy(&verifier)) {
                        part.ok += 1;
                    } else {
                        part.invalid_signatures.push(op.op_id.clone());
                    }
                }
            }
            ops.clear();
        };
        let scan_range = |(lo, hi): (Vec<u8>, Vec<u8>)| -> Result<LoadReport> {
            let mut part = LoadReport::default();
            let mut ops = Vec::new();
            let mut n = 0;
            for item in ix.tree.range(lo..hi) {
                let (k, v) = item?;
                let bad = if check == LogCheck::Verify {
                    match serde_json::from_slice::<SignedOperation>(&v) {
                        Ok(op) => {
                            ops.push(op);
                            None
                        }
                        Err(e) => Some(e),
                    }
                } else {
                    match serde_json::from_slice::<OpShape<'_>>(&v) {
                        Ok(_) => {
                            part.ok += 1;
                            None
                        }
                        Err(e) => Some(e),
                    }
                };
                if let Some(e) = bad {
                    part.corrupt.push((hex::encode(&k), e.to_string()));
                }
                n += 1;
                if n == LOAD_CHUNK {
                    verify_batch(&mut ops, &mut part);
                    tick(n);
                    n = 0;
                }
            }
            verify_batch(&mut ops, &mut part);
            if n > 0 {
                tick(n);
            }
            Ok(part)
        };
        let ranges = log_ranges(ix, rayon::current_num_threads().max(1) * 4)?;
        let parts: Vec<LoadReport> = ranges
            .into_par_iter()
            .map(scan_range)
            .collect::<Result<_>>()?;
        let mut r = LoadReport {
            total,
            ..Default::default()
        };
        // ranges are in key order and each is scanned in order, so the
        // report lists bad entries in log order
        for p in parts {
            r.ok += p.ok;
            r.corrupt.extend(p.corrupt);
            r.invalid_signatures.extend(p.invalid_signatures);
        }
        r.elapsed = t0.elapsed();
        Ok(r)
    })
    .await
}

/// Entries per progress report (and per verification batch) in `load_log`.
const LOAD_CHUNK: usize = 4096;

/// What a trusted open checked, persisted under `#oplog_checked`: the log
/// through arrival number `seq` holds `ok` well-formed entries and the
/// `corrupt` ones, (log key in hex, error).
#[derive(Serialize, Deserialize)]
struct CheckedLog {
    seq: u64,
    ok: u64,
    corrupt: Vec<(String, String)>,
}

/// The trusted check of the entries that arrived after `rec.seq`, through
/// `head`, added to the record's counts.
fn check_since(
    ix: &crate::engine::index::Index,
    rec: CheckedLog,
    head: u64,
    total: u64,
    progress: Option<Arc<dyn Fn(u64, u64) + Send + Sync>>,
) -> Result<LoadReport> {
    let mut r = LoadReport {
        total,
        ok: rec.ok,
        corrupt: rec.corrupt,
        ..Default::default()
    };
    let mut done = r.ok + r.corrupt.len() as u64;
    if let Some(p) = &progress {
        p(done, total);
    }
    if rec.seq >= head {
        return Ok(r);
    }
    for item in ix
        .tree
        .range(replica::seq_key(rec.seq + 1)..replica::seq_key(head + 1))
    {
        let (_, lk) = item?;
        match ix.tree.get(&lk)? {
            Some(v) => match serde_json::from_slice::<OpShape<'_>>(&v) {
                Ok(_) => r.ok += 1,
                Err(e) => r.corrupt.push((hex::encode(&lk), e.to_string())),
            },
            None => r
                .corrupt
                .push((hex::encode(&lk), "log entry missing".into())),
        }
        done += 1;
        if done.is_multiple_of(LOAD_CHUNK as u64) || done == total {
            if let Some(p) = &progress {
                p(done, total);
            }
        }
    }
    Ok(r)
}

/// The log's key range split into at most `parts` consecutive ranges of
/// equal timestamp span, covering every `L` key.
fn log_ranges(ix: &crate::engine::index::Index, parts: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let end = vec![NS_LOG + 1];
    let ts = |k: &[u8]| {
        k.get(1..9)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_be_bytes)
    };
    let mut it = ix.tree.scan_prefix([NS_LOG]);
    let (first, last) = match (it.next().transpose()?, it.next_back().transpose()?) {
        (Some((a, _)), Some((b, _))) => (ts(&a), ts(&b)),
        _ => return Ok(vec![(vec![NS_LOG], end)]),
    };
    let (Some(first), Some(last)) = (first, last) else {
        return Ok(vec![(vec![NS_LOG], end)]);
    };
    let span = u128::from(last - first) + 1;
    let mut bounds = vec![vec![NS_LOG]];
    for i in 1..parts as u128 {
        let t = u128::from(first) + span * i / parts as u128;
        let mut k = vec![NS_LOG];
        k.extend_from_slice(&(t as u64).to_be_bytes());
        if Some(&k) != bounds.last() {
            bounds.push(k);
        }
    }
    bounds.push(end);
    Ok(bounds
        .windows(2)
        .map(|w| (w[0].clone(), w[1].clone()))
        .collect())
}

/// The shape of a logged [`SignedOperation`], borrowed: the same fields,
/// types and defaults, so it accepts exactly the entries that decode as an
/// operation (test `op_shape_accepts_what_signed_operation_accepts`), but
/// builds no strings. Trusting the log checks this much per entry at open.
#[derive(Deserialize)]
#[allow(dead_code)] // read only by serde: decoding is the check
pub(super) struct OpShape<'a> {
    #[serde(borrow)]
    op_id: std::borrow::Cow<'a, str>,
    timestamp: u64,
    #[serde(borrow)]
    db_name: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    key: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    value: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    store_type: std::borrow::Cow<'a, str>,
    #[serde(default, borrow)]
    field: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    score: Option<f64>,
    #[serde(default, borrow)]
    json_path: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    stream_fields: Option<Vec<(std::borrow::Cow<'a, str>, std::borrow::Cow<'a, str>)>>,
    #[serde(default)]
    ts_timestamp: Option<i64>,
    #[serde(default)]
    longitude: Option<f64>,
    #[serde(default)]
    latitude: Option<f64>,
    #[serde(default, borrow)]
    public_key: std::borrow::Cow<'a, str>,
    #[serde(default, borrow)]
    signature: std::borrow::Cow<'a, str>,
}
