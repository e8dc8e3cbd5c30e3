//! A recovery open's replay of the operation journal
//! (src/engine/journal.rs): the operations an index rolled back behind its
//! durability mark lost come back from the file outside it, verified and
//! applied like replicated ones (last write wins; an op_id already in the
//! index is a `Duplicate` no-op). Then the store forgets its sync
//! watermarks and takes a new store id, so that no peer cursor skips what
//! was lost (see `reset_sync`).

use super::*;
use crate::engine::journal::{self, Item, Reader};
use crate::engine::JournalReplay;

/// Operations (and about bytes) read and applied at a time.
const CHUNK_OPS: usize = 1024;
const CHUNK_BYTES: usize = 8 << 20;

/// Replay the journal into a recovering store. `None` when the journal is
/// off (nothing to restore from).
pub(crate) async fn restore_from_journal(e: &Engine) -> Result<Option<JournalReplay>> {
    if !e.config().oplog_journal {
        return Ok(None);
    }
    let path = e.path().join(journal::FILE);
    let mut out = JournalReplay::default();
    let mut reader = {
        let p = path.clone();
        e.handle()
            .spawn_blocking(move || Reader::open(&p))
            .await??
    };
    while let Some(mut r) = reader.take() {
        // Read a chunk off the executor, decode, verify and apply it.
        let (r, chunk, damaged, more) = e
            .handle()
            .spawn_blocking(move || {
                let mut chunk = Vec::new();
                let mut bytes = 0;
                let mut damaged = 0u64;
                let mut more = false;
                while let Some(item) = r.next()? {
                    match item {
                        Item::Record(b) => {
                            match std::str::from_utf8(&b)
                                .map_err(|e| Error::Corrupt(e.to_string()))
                                .and_then(SignedOperation::from_json)
                            {
                                Ok(op) => chunk.push(op),
                                Err(err) => {
                                    tracing::warn!("operation journal: undecodable record: {err}");
                                    damaged += 1;
                                }
                            }
                            bytes += b.len();
                        }
                        // Counted by the walk (`r.scan.damaged`).
                        Item::Damaged => {}
                    }
                    if chunk.len() >= CHUNK_OPS || bytes >= CHUNK_BYTES {
                        more = true;
                        break;
                    }
                }
                Ok::<_, Error>((r, chunk, damaged, more))
            })
            .await??;
        out.damaged += damaged;
        out.read += chunk.len() as u64;
        for o in apply::apply_restored(e, chunk).await? {
            match o {
                Outcome::Applied | Outcome::Superseded => out.restored += 1,
                Outcome::Duplicate => out.present += 1,
                Outcome::Rejected(err) => {
                    tracing::warn!("operation journal: operation refused on replay: {err}");
                    out.rejected += 1;
                }
            }
        }
        if more {
            reader = Some(r);
        } else {
            out.damaged += r.scan.damaged;
            // The open truncated an unreadable end already (`Journal::open`).
            let at_open = e.journal_scan()?.map_or(0, |s| s.unreadable_bytes);
            out.unreadable_bytes = r.scan.unreadable_bytes + at_open;
        }
    }
    tracing::warn!(
        read = out.read,
        restored = out.restored,
        present = out.present,
        rejected = out.rejected,
        damaged = out.damaged,
        unreadable_bytes = out.unreadable_bytes,
        "recovery open: operation journal replayed"
    );
    Ok(Some(out))
}

/// Forget every per-peer sync watermark and the store id. A pulling
/// store's watermark for a peer lives in the index that was rolled back:
/// it is reset so the next sync from each peer starts over (a full
/// transfer, every operation already held a duplicate) whatever the
/// rollback kept. The store id keys the watermarks peers hold for this
/// store, positions in this store's arrival sequence, which the rollback
/// moved back: with the old id a peer would skip this store's next
/// operations up to the position it had reached.
pub(crate) async fn reset_sync(e: &Engine) -> Result<()> {
    use crate::engine::writer::{Reply, WriteOp};
    use crate::keyspace::{STORE_ID_KEY, WATERMARK_PREFIX};
    e.submit(
        vec![WriteOp::Update {
            key: "#sync".into(),
            f: Box::new(move |txn| {
                for k in txn.keys_with_prefix(WATERMARK_PREFIX)? {
                    txn.remove_raw(k);
                }
                txn.remove_raw(STORE_ID_KEY.to_vec());
                Ok(Reply::Unit)
            }),
        }],
        vec![],
    )
    .await
    .map(|_| ())
}
