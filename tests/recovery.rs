//! A recovery open restores what a rolled-back index lost (issue 18): the
//! signed operations from the operation journal beside the index
//! (`oplog.journal`, src/engine/journal.rs), and from peers by sync; and
//! the journal's own damage (a torn tail, a flipped byte, a forged record)
//! is truncated, counted or refused, never applied. Real sled, real files.

#[path = "support/fs.rs"]
mod fs;
use fs::copy_dir;
use std::path::Path;

use cyberfly_store::{
    Config, Durability, Error, JournalReplay, Keypair, ServeAccess, SignedOperation, Store,
    SyncConfig, ValueKind, OPLOG_JOURNAL_FILE,
};

#[path = "support/rt.rs"]
mod support_rt;
use support_rt::rt;

const OPS: usize = 60;

fn cfg(recovery: bool, journal: bool) -> Config {
    Config::builder()
        .inline_threshold(64)
        .warm_restart(false)
        .gc_interval(std::time::Duration::ZERO)
        .recovery(recovery)
        .oplog_journal(journal)
        .build()
        .unwrap()
}

/// Signed String writes of keys `k{i}`; every tenth value is blob-backed.
fn ops(kp: &Keypair, range: std::ops::Range<usize>) -> Vec<SignedOperation> {
    let db = format!("db-{}", kp.public_key_hex());
    range
        .map(|i| {
            let v = if i.is_multiple_of(10) {
                format!("{i:04}-{}", "b".repeat(200))
            } else {
                format!("{i:04}-small")
            };
            let mut o = SignedOperation::new(db.clone(), format!("k{i:04}"), v, ValueKind::String);
            o.sign(kp);
            o
        })
        .collect()
}

/// The keys of `ops` holding their exact values.
async fn present(s: &Store, ops: &[SignedOperation]) -> usize {
    let mut n = 0;
    for o in ops {
        if let Some(v) = s.get(&o.full_key()).await.unwrap() {
            assert_eq!(v.as_ref(), o.value, "{}: a wrong value", o.full_key());
            n += 1;
        }
    }
    n
}

/// Apply signed operations; every one must be applied.
async fn apply_all(s: &Store, ops: &[SignedOperation]) {
    let out = s.apply_many(ops.to_vec()).await.unwrap();
    assert!(
        out.iter().all(cyberfly_store::Outcome::is_applied),
        "{out:?}"
    );
}

/// After a recovery open's close: a normal open accepts the store, has
/// nothing to report, and holds every key of `all` exactly.
fn accepted_by_a_normal_open(p: &Path, all: &[SignedOperation]) {
    rt().block_on(async {
        let s = Store::open(p, cfg(false, true)).await.unwrap();
        assert!(s.recovery().await.unwrap().is_none());
        assert_eq!(present(&s, all).await, OPS);
        s.close().await.unwrap();
    });
}

/// `OPS` signed operations by a new signer, the first half applied and
/// the store closed, a copy of the index kept, the second half applied and
/// closed, the old index put back: an index in `p` that lost the second
/// half. Returns the signer and every operation.
fn rolled_back(p: &Path, journal: bool) -> (Keypair, Vec<SignedOperation>) {
    let kp = Keypair::generate();
    let all = ops(&kp, 0..OPS);
    let (first, second) = all.split_at(OPS / 2);
    let config = cfg(false, journal);
    rt().block_on(async {
        let s = Store::open(p, config.clone()).await.unwrap();
        apply_all(&s, first).await;
        s.close().await.unwrap();
    });
    let old = tempfile::tempdir().unwrap();
    copy_dir(&p.join("index"), old.path());
    rt().block_on(async {
        let s = Store::open(p, config.clone()).await.unwrap();
        apply_all(&s, second).await;
        s.close().await.unwrap();
    });
    std::fs::remove_dir_all(p.join("index")).unwrap();
    copy_dir(old.path(), &p.join("index"));
    (kp, all)
}

/// The journal's records: (offset, length with header) of each, walked
/// by the framing (`u32 len | u32 crc32 | payload`, little-endian).
fn frames(p: &Path) -> Vec<(usize, usize)> {
    let b = std::fs::read(p.join(OPLOG_JOURNAL_FILE)).unwrap();
    let mut out = Vec::new();
    let mut at = 0;
    while at + 8 <= b.len() {
        let n = u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize;
        if at + 8 + n > b.len() {
            break;
        }
        out.push((at, 8 + n));
        at += 8 + n;
    }
    out
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut b = (payload.len() as u32).to_le_bytes().to_vec();
    b.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    b.extend_from_slice(payload);
    b
}

/// (a) The signed operations an index lost come back from the journal:
/// a normal open refuses the index, a recovery open restores every lost
/// key's exact value and says what it did, and the next normal open
/// accepts the store.
#[test]
fn signed_operations_a_rolled_back_index_lost_come_back_from_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let (_, all) = rolled_back(p, true);
    assert_eq!(frames(p).len(), OPS, "one record per applied operation");

    let e = rt().block_on(Store::open(p, cfg(false, true))).unwrap_err();
    assert!(matches!(e, Error::Corrupt(_)), "{e}");

    rt().block_on(async {
        let s = Store::open(p, cfg(true, true)).await.unwrap();
        assert_eq!(present(&s, &all).await, OPS, "every key is back");
        assert_eq!(s.log_len().await.unwrap(), OPS as u64, "and the log");
        let r = s.recovery().await.unwrap().expect("behind");
        assert_eq!(
            r.journal,
            Some(JournalReplay {
                read: OPS as u64,
                restored: (OPS / 2) as u64,
                present: (OPS / 2) as u64,
                rejected: 0,
                damaged: 0,
                unreadable_bytes: 0,
            }),
            "{r:?}"
        );
        assert!(r.marks_lost.unwrap() >= 1, "{r:?}");
        s.close().await.unwrap();
    });
    assert_eq!(
        frames(p).len(),
        OPS,
        "restored operations are not journaled twice"
    );
    accepted_by_a_normal_open(p, &all);
}

/// (b) With the journal off nothing can be restored, and the recovery
/// report says there was no journal.
#[test]
fn with_the_journal_off_nothing_is_restored() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let (_, all) = rolled_back(p, false);
    let (first, second) = all.split_at(OPS / 2);
    assert!(!p.join(OPLOG_JOURNAL_FILE).exists());
    rt().block_on(async {
        let s = Store::open(p, cfg(true, false)).await.unwrap();
        assert_eq!(present(&s, first).await, OPS / 2);
        assert_eq!(present(&s, second).await, 0, "nothing to restore from");
        let r = s.recovery().await.unwrap().expect("behind");
        assert_eq!(r.journal, None, "{r:?}");
        s.close().await.unwrap();
    });
}

/// (c) A torn last record, and garbage after the last record, are
/// truncated by a normal open; every acknowledged operation is still
/// there, and the journal takes new records after the cut.
#[test]
fn a_torn_journal_tail_is_truncated_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let kp = Keypair::generate();
    let all = ops(&kp, 0..OPS);
    let config = Config {
        durability: Durability::Sync,
        ..cfg(false, true)
    };
    rt().block_on(async {
        let s = Store::open(p, config.clone()).await.unwrap();
        s.apply_many(all.clone()).await.unwrap();
        s.close().await.unwrap();
    });
    let path = p.join(OPLOG_JOURNAL_FILE);
    let full = std::fs::read(&path).unwrap();
    let f = frames(p);
    let (last, _) = f[OPS - 1];
    // Cut in the middle of the last record.
    std::fs::write(&path, &full[..full.len() - 5]).unwrap();
    rt().block_on(async {
        let s = Store::open(p, config.clone()).await.unwrap();
        assert_eq!(present(&s, &all).await, OPS, "the index is the authority");
        s.close().await.unwrap();
    });
    assert_eq!(std::fs::metadata(&path).unwrap().len(), last as u64);
    // Garbage after the last whole record.
    let mut b = std::fs::read(&path).unwrap();
    let good = b.len();
    b.extend_from_slice(b"\x05\x00\x00\x00garbage-after-a-crash");
    std::fs::write(&path, &b).unwrap();
    let more = ops(&kp, OPS..OPS + 3);
    rt().block_on(async {
        let s = Store::open(p, config.clone()).await.unwrap();
        assert_eq!(present(&s, &all).await, OPS);
        s.apply_many(more.clone()).await.unwrap();
        s.close().await.unwrap();
    });
    let f = frames(p);
    assert_eq!(f.len(), OPS - 1 + 3, "{f:?}");
    assert_eq!(f[OPS - 1].0, good, "the new records follow the cut");
}

/// (d) A flipped byte inside a record in the middle: a normal open keeps
/// it (and the records after it); a recovery replay counts one damaged
/// record and restores every other lost operation. A record whose length
/// is damaged cannot be skipped safely: what follows is unreadable.
#[test]
fn a_damaged_journal_record_is_counted_and_the_rest_restored() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let (_, all) = rolled_back(p, true);
    let path = p.join(OPLOG_JOURNAL_FILE);
    let mut b = std::fs::read(&path).unwrap();
    // The 41st record (key k0040, lost with the index): a payload byte.
    let (at, _) = frames(p)[40];
    b[at + 8 + 30] ^= 0x01;
    std::fs::write(&path, &b).unwrap();
    rt().block_on(async {
        let s = Store::open(p, cfg(true, true)).await.unwrap();
        let r = s.recovery().await.unwrap().expect("behind");
        let j = r.journal.unwrap();
        assert_eq!(
            (j.damaged, j.read, j.unreadable_bytes),
            (1, OPS as u64 - 1, 0)
        );
        assert_eq!(j.restored, (OPS / 2 - 1) as u64);
        assert_eq!(present(&s, &all).await, OPS - 1);
        assert!(s.get(&all[40].full_key()).await.unwrap().is_none());
        s.close().await.unwrap();
    });
    let report = cyberfly_store::check(p).unwrap();
    assert!(!report.is_clean(), "check reports the damaged record");
    assert!(format!("{report:?}").contains("journal"), "{report:?}");
}

/// (e) A record with valid framing whose operation does not verify (its
/// value changed after signing): refused, counted, not applied.
#[test]
fn a_forged_journal_record_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let (kp, all) = rolled_back(p, true);
    let mut forged = ops(&kp, 900..901).remove(0);
    forged.value = "not what was signed".into();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(p.join(OPLOG_JOURNAL_FILE))
        .unwrap();
    std::io::Write::write_all(&mut f, &frame(forged.to_json().as_bytes())).unwrap();
    drop(f);
    let report = cyberfly_store::check(p).unwrap();
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.to_string().contains(&format!(
                "record {}: op {}: the signature does not verify",
                OPS, forged.op_id
            ))),
        "{report}"
    );
    assert_eq!(report.journal_records, Some(OPS as u64 + 1));
    rt().block_on(async {
        let s = Store::open(p, cfg(true, true)).await.unwrap();
        let j = s.recovery().await.unwrap().unwrap().journal.unwrap();
        assert_eq!((j.read, j.rejected), (OPS as u64 + 1, 1), "{j:?}");
        assert_eq!(j.restored, (OPS / 2) as u64);
        assert!(s.get(&forged.full_key()).await.unwrap().is_none());
        assert_eq!(present(&s, &all).await, OPS);
        s.close().await.unwrap();
    });
}

/// (f) Peers restore what was lost. A and B hold the same operations (B
/// pulled A's, A pulled B's); A's index is rolled back and opened for
/// recovery with the journal off (peers are the only source); A pulls from
/// B and gets every operation back, and the two states agree. A's store id
/// is new after the recovery open: B's cursor for A (past A's rolled-back
/// arrival numbers) would otherwise skip what A writes next.
#[test]
fn peers_restore_what_a_rolled_back_index_lost() {
    let a_dir = tempfile::tempdir().unwrap();
    let b_dir = tempfile::tempdir().unwrap();
    let (pa, pb) = (a_dir.path(), b_dir.path());
    let (ka, kb) = (Keypair::generate(), Keypair::generate());
    let a_ops = ops(&ka, 0..OPS);
    let b_ops = ops(&kb, 0..20);
    let sync = SyncConfig::loopback();
    let serve = || SyncConfig {
        access: ServeAccess::Open,
        ..SyncConfig::loopback()
    };
    let rt = rt();
    let b = rt.block_on(Store::open(pb, cfg(false, true))).unwrap();
    let b_server = rt.block_on(b.serve(serve())).unwrap();
    let old = tempfile::tempdir().unwrap();
    let a_id = rt.block_on(async {
        // The first half; both ways; A closed and its index copied.
        let a = Store::open(pa, cfg(false, false)).await.unwrap();
        a.apply_many(a_ops[..OPS / 2].to_vec()).await.unwrap();
        let a_server = a.serve(serve()).await.unwrap();
        b.sync_from(&a_server.ticket(), &sync).await.unwrap();
        b.apply_many(b_ops[..10].to_vec()).await.unwrap();
        a.sync_from(&b_server.ticket(), &sync).await.unwrap();
        let id = a.store_id().await.unwrap();
        a_server.shutdown().await.unwrap();
        a.close().await.unwrap();
        id
    });
    copy_dir(&pa.join("index"), old.path());
    rt.block_on(async {
        // The second half: B pulls it, A pulls B's new ones; then lost.
        let a = Store::open(pa, cfg(false, false)).await.unwrap();
        a.apply_many(a_ops[OPS / 2..].to_vec()).await.unwrap();
        let a_server = a.serve(serve()).await.unwrap();
        b.sync_from(&a_server.ticket(), &sync).await.unwrap();
        b.apply_many(b_ops[10..].to_vec()).await.unwrap();
        a.sync_from(&b_server.ticket(), &sync).await.unwrap();
        assert_eq!(
            a.state_digest().await.unwrap(),
            b.state_digest().await.unwrap()
        );
        a_server.shutdown().await.unwrap();
        a.close().await.unwrap();
    });
    std::fs::remove_dir_all(pa.join("index")).unwrap();
    copy_dir(old.path(), &pa.join("index"));

    rt.block_on(async {
        let a = Store::open(pa, cfg(true, false)).await.unwrap();
        assert_eq!(present(&a, &a_ops).await, OPS / 2, "the rolled-back index");
        assert_eq!(present(&a, &b_ops).await, 10);
        assert_ne!(a.store_id().await.unwrap(), a_id, "a new store id");
        assert!(
            a.sync_watermarks().await.unwrap().is_empty(),
            "cursors reset"
        );
        // A writes before it pulls: B must still get these.
        let after = ops(&ka, 500..505);
        a.apply_many(after.clone()).await.unwrap();
        let a_server = a.serve(serve()).await.unwrap();
        b.sync_from(&a_server.ticket(), &sync).await.unwrap();
        assert_eq!(
            present(&b, &after).await,
            after.len(),
            "B skipped A's new writes"
        );
        let r = a.sync_from(&b_server.ticket(), &sync).await.unwrap();
        assert!(r.applied >= (OPS / 2 + 10) as u64, "{r:?}");
        assert_eq!(present(&a, &a_ops).await, OPS, "every operation is back");
        assert_eq!(present(&a, &b_ops).await, 20);
        assert_eq!(a.log_len().await.unwrap(), b.log_len().await.unwrap());
        assert_eq!(
            a.state_digest().await.unwrap(),
            b.state_digest().await.unwrap()
        );
        a_server.shutdown().await.unwrap();
        a.close().await.unwrap();
    });
    rt.block_on(async {
        b_server.shutdown().await.unwrap();
        b.close().await.unwrap();
    });
}

/// An index sled cannot open at all (its config file damaged): a normal
/// open is `Corrupt` and changes nothing; a recovery open moves the damaged
/// `index/` aside untouched, starts an empty index, restores every signed
/// operation from the journal, and reports where the old index went. What
/// only the index held (an unsigned write) is lost, and said to be.
#[test]
fn an_index_sled_cannot_open_is_set_aside_and_the_journal_restores() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let kp = Keypair::generate();
    let all = ops(&kp, 0..OPS);
    rt().block_on(async {
        let s = Store::open(p, cfg(false, true)).await.unwrap();
        apply_all(&s, &all).await;
        s.set("plain", "only in the index").await.unwrap();
        s.close().await.unwrap();
    });
    // sled checks its `conf` file at open: every byte of it flipped.
    let conf = p.join("index").join("conf");
    let bytes: Vec<u8> = std::fs::read(&conf).unwrap().iter().map(|b| !b).collect();
    std::fs::write(&conf, &bytes).unwrap();
    let before = fs::tree_hashes(&p.join("index"));

    let err = rt()
        .block_on(Store::open(p, cfg(false, true)))
        .expect_err("a damaged index must not open");
    assert!(matches!(err, Error::Corrupt(_)), "{err}");
    assert_eq!(
        fs::tree_hashes(&p.join("index")),
        before,
        "a refused open changed the index"
    );

    let moved = rt().block_on(async {
        let s = Store::open(p, cfg(true, true)).await.unwrap();
        let r = s.recovery().await.unwrap().expect("a recovery");
        let moved =
            std::path::PathBuf::from(r.damaged_index.clone().expect("the index was set aside"));
        assert_eq!(r.index_mark, None);
        let j: JournalReplay = r.journal.clone().unwrap();
        assert_eq!(
            (j.read, j.restored, j.present, j.rejected, j.damaged),
            (OPS as u64, OPS as u64, 0, 0, 0)
        );
        assert_eq!(
            present(&s, &all).await,
            OPS,
            "every signed operation restored"
        );
        assert_eq!(s.log_len().await.unwrap(), OPS as u64);
        assert_eq!(
            s.get("plain").await.unwrap(),
            None,
            "an unsigned write lives only in the index"
        );
        // GC stays off while the store recovers: the old index may hold
        // the only reference to a blob.
        assert!(matches!(s.collect_garbage().await, Err(Error::Corrupt(_))));
        s.close().await.unwrap();
        moved
    });
    assert!(
        moved.starts_with(p) && moved != p.join("index"),
        "{}",
        moved.display()
    );
    assert_eq!(
        fs::tree_hashes(&moved),
        before,
        "the damaged index is kept as it was"
    );

    // The recovered store is accepted by a normal open.
    accepted_by_a_normal_open(p, &all);
}
