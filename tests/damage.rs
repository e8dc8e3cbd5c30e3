//! A damaged or rolled-back index is reported, never silently absorbed
//! (issue 18, point 1 and 2): the durability mark beside the index makes a
//! normal open refuse an index that holds less than was made durable; a
//! recovery open salvages what it holds, lists the blobs nobody refers to
//! any more, and keeps blob GC off; and flipped bytes anywhere in the
//! index's file give a typed error or the exact data, never a panic, a
//! wrong value or a silently shorter store.

#[path = "support/fs.rs"]
mod fs;
use fs::copy_dir;
use std::path::Path;

use cyberfly_store::{Config, Error, Store, DURABILITY_MARK_FILE};

#[path = "support/rt.rs"]
mod support_rt;
use support_rt::rt;

const KEYS: usize = 200;

fn value(i: usize) -> String {
    // Every tenth value is blob-backed (over the 64-byte inline threshold).
    if i.is_multiple_of(10) {
        format!("{i:04}-{}", "b".repeat(200))
    } else {
        format!("{i:04}-small")
    }
}

fn cfg(recovery: bool) -> Config {
    Config::builder()
        .inline_threshold(64)
        .warm_restart(false)
        .gc_interval(std::time::Duration::ZERO)
        .recovery(recovery)
        .build()
        .unwrap()
}

/// Write `KEYS` keys (flushed and closed) into a new store.
fn populated(dir: &Path) {
    rt().block_on(async {
        let s = Store::open(dir, cfg(false)).await.unwrap();
        for i in 0..KEYS {
            s.set(&format!("k{i:04}"), value(i)).await.unwrap();
        }
        s.flush().await.unwrap();
        s.close().await.unwrap();
    });
}

/// Every key, read back: `Ok(n)` if all `KEYS` have their exact value,
/// otherwise the first typed error; a wrong value panics (the test fails).
async fn read_all(s: &Store) -> Result<usize, Error> {
    let mut n = 0;
    for i in 0..KEYS {
        if let Some(v) = s.get(&format!("k{i:04}")).await? {
            assert_eq!(v.as_ref(), value(i), "k{i:04}: a wrong value");
            n += 1;
        }
    }
    Ok(n)
}

fn is_damage(e: &Error) -> bool {
    matches!(e, Error::Corrupt(_) | Error::Io(_) | Error::Index(_))
}

/// Deleting the index no longer opens an empty store.
#[test]
fn a_deleted_index_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    populated(dir.path());
    assert!(dir.path().join(DURABILITY_MARK_FILE).exists());
    std::fs::remove_dir_all(dir.path().join("index")).unwrap();
    let e = rt()
        .block_on(Store::open(dir.path(), cfg(false)))
        .unwrap_err();
    assert!(matches!(e, Error::Corrupt(_)), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("behind") && msg.contains("recovery"), "{msg}");
}

/// An index rolled back to an older copy (what sled does with a damaged
/// page: it takes it for the torn end of its log) is refused; a recovery
/// open answers from it, lists the blobs of the lost values, refuses GC,
/// and after its close a normal open accepts the recovered store.
#[test]
fn a_rolled_back_index_is_refused_then_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    // The first half, closed; keep a copy of that index.
    rt().block_on(async {
        let s = Store::open(p, cfg(false)).await.unwrap();
        for i in 0..KEYS / 2 {
            s.set(&format!("k{i:04}"), value(i)).await.unwrap();
        }
        s.close().await.unwrap();
    });
    let old = tempfile::tempdir().unwrap();
    copy_dir(&p.join("index"), old.path());
    // The second half, flushed and closed; then the old index put back.
    rt().block_on(async {
        let s = Store::open(p, cfg(false)).await.unwrap();
        for i in KEYS / 2..KEYS {
            s.set(&format!("k{i:04}"), value(i)).await.unwrap();
        }
        s.close().await.unwrap();
    });
    std::fs::remove_dir_all(p.join("index")).unwrap();
    copy_dir(old.path(), &p.join("index"));

    let e = rt().block_on(Store::open(p, cfg(false))).unwrap_err();
    assert!(matches!(e, Error::Corrupt(_)), "{e}");

    rt().block_on(async {
        let s = Store::open(p, cfg(true)).await.unwrap();
        assert_eq!(
            read_all(&s).await.unwrap(),
            KEYS / 2,
            "the first half is there"
        );
        let r = s.recovery().await.unwrap().expect("behind");
        assert!(r.index_mark < Some(r.recorded_mark), "{r:?}");
        // The blob-backed values of the second half (keys 100, 110, ...,
        // 190) are unreferenced, and still readable by hash.
        let lost: Vec<String> = (KEYS / 2..KEYS)
            .filter(|i| i.is_multiple_of(10))
            .map(|i| blake3::hash(value(i).as_bytes()).to_hex().to_string())
            .collect();
        for h in &lost {
            assert!(r.unreferenced_blobs.contains(h), "{h} not listed: {r:?}");
        }
        let e = s.collect_garbage().await.unwrap_err();
        assert!(matches!(e, Error::Corrupt(_)), "{e}");
        assert_eq!(
            s.blob_count().await.unwrap(),
            KEYS / 10,
            "no blob was deleted"
        );
        s.set("after", "recovery").await.unwrap();
        s.close().await.unwrap();
    });
    rt().block_on(async {
        let s = Store::open(p, cfg(false)).await.unwrap();
        assert!(s.recovery().await.unwrap().is_none());
        assert_eq!(s.get("after").await.unwrap().as_deref(), Some("recovery"));
        assert_eq!(read_all(&s).await.unwrap(), KEYS / 2);
        s.close().await.unwrap();
    });
}

/// Flipped bytes at offsets across the index's file, one trial each on a
/// fresh copy: the open fails with a typed error, or every key reads back
/// exactly (a flip in space sled no longer uses) or a read fails with a
/// typed error. Never a panic, a wrong value, or keys gone without an
/// error (172 of 200 were, before the durability mark).
#[test]
fn flipped_bytes_in_the_index_give_a_typed_error_or_the_exact_data() {
    let pristine = tempfile::tempdir().unwrap();
    populated(pristine.path());
    let db = pristine.path().join("index").join("db");
    let len = std::fs::metadata(&db).unwrap().len();
    let mut outcomes = std::collections::BTreeMap::<&str, usize>::new();
    for t in 0..24u64 {
        let trial = tempfile::tempdir().unwrap();
        copy_dir(pristine.path(), trial.path());
        let f = trial.path().join("index").join("db");
        let mut bytes = std::fs::read(&f).unwrap();
        let at = (len * (2 * t + 1) / 48) as usize;
        for b in &mut bytes[at..(at + 16).min(len as usize)] {
            *b ^= 0x5a;
        }
        std::fs::write(&f, &bytes).unwrap();
        // `check` runs before the open (which may repair what it can).
        let report = cyberfly_store::check(trial.path()).unwrap();
        let outcome = rt().block_on(async {
            match Store::open(trial.path(), cfg(false)).await {
                Err(e) => {
                    assert!(is_damage(&e), "flip at {at}: open said {e:?}");
                    assert!(
                        !report.is_clean(),
                        "flip at {at}: open said {e}, check found nothing"
                    );
                    "refused at open"
                }
                Ok(s) => {
                    let r = read_all(&s).await;
                    let _ = s.close().await;
                    match r {
                        Ok(n) => {
                            assert_eq!(n, KEYS, "flip at {at}: keys gone without an error");
                            "all data intact"
                        }
                        Err(e) => {
                            assert!(is_damage(&e), "flip at {at}: a read said {e:?}");
                            "typed error on read"
                        }
                    }
                }
            }
        });
        *outcomes.entry(outcome).or_default() += 1;
    }
    eprintln!("{len}-byte index, 24 flips: {outcomes:?}");
}

/// A deleted `blobs.db` opened silently and then every blob-backed value
/// read as missing although its data file was intact: now `Corrupt` at
/// open, saying what is missing; a recovery open goes on without it.
#[test]
fn a_deleted_blob_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    rt().block_on(async {
        let s = Store::open(p, cfg(false)).await.unwrap();
        // Over iroh-blobs' inline size (16 KiB): a file in blobs/data.
        s.set("big", "b".repeat(100_000)).await.unwrap();
        s.close().await.unwrap();
    });
    std::fs::remove_file(p.join("blobs").join("blobs.db")).unwrap();
    let e = rt().block_on(Store::open(p, cfg(false))).unwrap_err();
    assert!(matches!(e, Error::Corrupt(_)), "{e}");
    assert!(e.to_string().contains("blobs.db"), "{e}");
    rt().block_on(async {
        let s = Store::open(p, cfg(true)).await.unwrap();
        s.close().await.unwrap();
    });
}
