//! `check` (issue 18, point 1) and fault injection into the blob store:
//! `check` verifies a closed store without changing a byte of it, and
//! flipped or truncated bytes in blob data files and in the blob store's
//! database give a typed error or the exact data at open and on every read
//! (never a panic, never wrong bytes, a damaged blob never reported as
//! merely missing), are reported by `check`, and garbage collection
//! deletes no blob a key refers to.

#[path = "support/fs.rs"]
mod fs;
use fs::copy_dir;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Once};

use cyberfly_store::{check, Config, Error, Keypair, Problem, SignedOperation, Store, ValueKind};

#[path = "support/rt.rs"]
mod support_rt;
use support_rt::rt;

fn cfg() -> Config {
    Config::builder()
        .inline_threshold(64)
        .warm_restart(false)
        .gc_interval(std::time::Duration::ZERO)
        .build()
        .unwrap()
}

/// Panics anywhere in the process (the blob store's own threads included),
/// except those the store catches and turns into errors.
static PANICS: AtomicUsize = AtomicUsize::new(0);

fn count_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            previous(info);
        }));
    });
}

/// The values written: small inline ones, values over the index's inline
/// threshold but under iroh-blobs' 16 KiB (inline in `blobs.db`), and three
/// over it (files in `blobs/data`).
fn values() -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for i in 0..40 {
        m.insert(format!("small{i:02}"), format!("value {i}"));
    }
    for i in 0..6 {
        m.insert(
            format!("mid{i}"),
            format!("{i}-{}", "m".repeat(500 + i * 300)),
        );
    }
    for (i, n) in [20_000usize, 70_000, 150_000].into_iter().enumerate() {
        let body: String = (0..n)
            .map(|j| char::from(b'a' + ((j * 7 + i) % 26) as u8))
            .collect();
        m.insert(format!("big{i}"), body);
    }
    m
}

/// A store holding [`values`], a pinned blob, a hash, and 20 signed
/// operations; flushed and closed. Returns the signed keys' values.
fn populated(dir: &Path) -> BTreeMap<String, String> {
    let kp = Keypair::generate();
    let db = format!("db-{}", kp.public_key_hex());
    rt().block_on(async {
        let s = Store::open(dir, cfg()).await.unwrap();
        for (k, v) in values() {
            s.set(&k, v).await.unwrap();
        }
        s.add_blob(vec![9u8; 30_000]).await.unwrap();
        s.hset("h", "f", "x").await.unwrap();
        let ops: Vec<SignedOperation> = (0..20)
            .map(|i| {
                let mut o = SignedOperation::new(
                    db.clone(),
                    format!("s{i}"),
                    format!("sv{i}"),
                    ValueKind::String,
                );
                o.sign(&kp);
                o
            })
            .collect();
        s.apply_many(ops).await.unwrap();
        s.flush().await.unwrap();
        s.close().await.unwrap();
    });
    (0..20)
        .map(|i| (format!("{db}:s{i}"), format!("sv{i}")))
        .collect()
}

#[test]
fn check_on_an_intact_store_is_clean_and_changes_no_file() {
    let dir = tempfile::tempdir().unwrap();
    populated(dir.path());
    let before = fs::tree_hashes(dir.path());
    let r = check(dir.path()).unwrap();
    assert!(r.is_clean(), "{r}");
    assert_eq!(fs::tree_hashes(dir.path()), before, "check changed a file");
    assert_eq!(r.keys, 40 + 6 + 3 + 1 + 20, "{r}");
    assert_eq!(r.blob_values, 9, "{r}");
    assert_eq!(r.pins, 1);
    assert_eq!(r.blobs, 10, "{r}");
    assert_eq!(r.log_entries, 20);
    assert!(r.unreferenced_blobs.is_empty(), "{r}");
    assert!(r.recorded_mark.is_some() && r.index_mark >= r.recorded_mark);
    let j = r.to_json();
    assert_eq!(j["clean"], true);
    assert_eq!(j["log_entries"], 20);
    // Twice: a check leaves nothing that changes the next one.
    let again = check(dir.path()).unwrap();
    assert!(again.is_clean());
    assert_eq!(fs::tree_hashes(dir.path()), before);
    // The store still opens and reads after being checked.
    rt().block_on(async {
        let s = Store::open(dir.path(), cfg()).await.unwrap();
        for (k, v) in values() {
            assert_eq!(s.get(&k).await.unwrap().as_deref(), Some(v.as_str()));
        }
        s.close().await.unwrap();
    });
}

#[test]
fn check_refuses_an_open_store_and_a_directory_that_is_no_store() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let s = Store::open(dir.path(), cfg()).await.unwrap();
        s.set("k", "v").await.unwrap();
        let e = check(dir.path()).unwrap_err();
        assert!(matches!(e, Error::AlreadyOpen { .. }), "{e}");
        s.close().await.unwrap();
    });
    assert!(check(dir.path()).unwrap().is_clean());
    let empty = tempfile::tempdir().unwrap();
    let e = check(empty.path()).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
    let e = check(empty.path().join("nothing-here")).unwrap_err();
    assert!(matches!(e, Error::Io(_)), "{e}");
    assert!(e.to_string().contains("nothing-here"), "{e}");
}

/// Unreferenced blobs are listed, not problems; a rolled-back index, a
/// deleted blob file, a forged and an undecodable log entry are problems.
#[test]
fn check_reports_a_rolled_back_index_missing_blobs_and_a_damaged_log() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    populated(p);
    rt().block_on(async {
        let s = Store::open(p, cfg()).await.unwrap();
        s.set("big0", "replaced").await.unwrap();
        s.close().await.unwrap();
    });
    let r = check(p).unwrap();
    assert!(r.is_clean(), "{r}");
    let big0 = blake3::hash(values()["big0"].as_bytes())
        .to_hex()
        .to_string();
    assert_eq!(r.unreferenced_blobs, vec![big0.clone()], "{r}");

    // The log, damaged behind the store's back (through sled directly).
    {
        let db = sled::open(p.join("index")).unwrap();
        let t = db.open_tree("data").unwrap();
        let mut it = t.scan_prefix(b"L");
        let (k1, _) = it.next().unwrap().unwrap();
        let (k2, v2) = it.next().unwrap().unwrap();
        drop(it);
        t.insert(&k1, &b"{not json"[..]).unwrap();
        let mut forged: SignedOperation = serde_json::from_slice(&v2).unwrap();
        forged.value = "tampered".into();
        t.insert(&k2, serde_json::to_vec(&forged).unwrap()).unwrap();
        db.flush().unwrap();
    }
    let big1 = blake3::hash(values()["big1"].as_bytes())
        .to_hex()
        .to_string();
    std::fs::remove_file(p.join("blobs/data").join(format!("{big1}.data"))).unwrap();
    let r = check(p).unwrap();
    let kinds: Vec<&Problem> = r.problems.iter().collect();
    assert!(
        kinds
            .iter()
            .any(|p| matches!(p, Problem::LogEntryUndecodable { .. })),
        "{r}"
    );
    assert!(
        kinds
            .iter()
            .any(|p| matches!(p, Problem::LogSignatureInvalid { .. })),
        "{r}"
    );
    assert!(
        kinds.iter().any(
            |p| matches!(p, Problem::BlobDamaged { hash, keys, .. } if *hash == big1 && keys == &["big1".to_string()])
        ),
        "{r}"
    );
    // Exit status 1 from the command line, and its report names the blob.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cyberfly-store"))
        .arg("check")
        .arg(p)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&big1));

    // An older index put back: behind the mark.
    let old = tempfile::tempdir().unwrap();
    copy_dir(&p.join("index"), old.path());
    rt().block_on(async {
        let s = Store::open(p, cfg()).await.unwrap();
        // A deleted data file reads as missing (a damaged one as Corrupt).
        let e = s.get("big1").await.unwrap_err();
        assert!(matches!(e, Error::BlobMissing(_)), "{e:?}");
        assert!(e.to_string().contains(".data gone"), "{e}");
        s.set("later", "x").await.unwrap();
        s.close().await.unwrap();
    });
    std::fs::remove_dir_all(p.join("index")).unwrap();
    copy_dir(old.path(), &p.join("index"));
    let r = check(p).unwrap();
    assert!(
        matches!(r.problems.first(), Some(Problem::IndexBehindMark { .. })),
        "{r}"
    );
    std::fs::remove_dir_all(p.join("index")).unwrap();
    let r = check(p).unwrap();
    assert!(r.problems.contains(&Problem::IndexMissing), "{r}");
}

#[test]
fn the_command_line_exits_0_when_clean_and_2_on_error() {
    let dir = tempfile::tempdir().unwrap();
    populated(dir.path());
    let run = |args: &[&std::ffi::OsStr]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_cyberfly-store"))
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["check".as_ref(), dir.path().as_os_str()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("no problem found"));
    let out = run(&["check".as_ref(), "--json".as_ref(), dir.path().as_os_str()]);
    assert_eq!(out.status.code(), Some(0));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["clean"], true);
    let out = run(&["check".as_ref(), dir.path().join("missing").as_os_str()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("No such file"));
    let out = run(&["frobnicate".as_ref()]);
    assert_eq!(out.status.code(), Some(2));
}

/// What one damaged copy gave.
#[derive(Debug, Default)]
struct Tally(BTreeMap<String, usize>);

impl Tally {
    fn add(&mut self, what: impl Into<String>) {
        *self.0.entry(what.into()).or_default() += 1;
    }
}

fn is_typed_damage(e: &Error) -> bool {
    matches!(
        e,
        Error::Corrupt(_) | Error::Io(_) | Error::Blobs(_) | Error::BlobMissing(_)
    )
}

/// The blob hashes every key refers to.
fn referenced() -> Vec<String> {
    values()
        .values()
        .filter(|v| v.len() > 64)
        .map(|v| blake3::hash(v.as_bytes()).to_hex().to_string())
        .collect()
}

/// Open `trial` and read everything back. Each read gives the exact value
/// or a typed error; a value whose blob `damaged` names gives `Corrupt`.
/// Then GC: every blob file a key refers to that existed before is still
/// there. Returns what happened, and whether any read failed.
fn open_read_collect(
    trial: &Path,
    signed: &BTreeMap<String, String>,
    damaged: Option<&str>,
    tally: &mut Tally,
) -> bool {
    let data = trial.join("blobs/data");
    let files_before: Vec<PathBuf> = referenced()
        .iter()
        .map(|h| data.join(format!("{h}.data")))
        .filter(|p| p.exists())
        .collect();
    rt().block_on(async {
        let s = match Store::open(trial, cfg()).await {
            Ok(s) => s,
            Err(e) => {
                assert!(matches!(e, Error::Corrupt(_)), "open said {e:?}");
                if std::env::var_os("CHECK_VERBOSE").is_some() {
                    eprintln!("open: {e}");
                }
                tally.add(format!("refused at open ({:?})", e.code()));
                return true;
            }
        };
        let mut failed = false;
        for (k, v) in values().iter().chain(signed.iter()) {
            match s.get(k).await {
                Ok(Some(got)) => assert_eq!(got.as_ref(), v, "{k}: wrong bytes"),
                Ok(None) => panic!("{k}: gone without an error"),
                Err(e) => {
                    assert!(is_typed_damage(&e), "{k}: {e:?}");
                    if let Some(h) = damaged {
                        if blake3::hash(v.as_bytes()).to_hex().as_str() == h {
                            assert!(
                                matches!(e, Error::Corrupt(_)),
                                "{k}: a damaged blob read as {e:?}"
                            );
                        }
                    }
                    tally.add(format!("read error ({:?})", e.code()));
                    failed = true;
                }
            }
        }
        match s.collect_garbage().await {
            Ok(()) => {}
            Err(e) => {
                assert!(is_typed_damage(&e), "gc said {e:?}");
                tally.add(format!("gc error ({:?})", e.code()));
            }
        }
        let _ = s.close().await;
        for f in &files_before {
            assert!(f.exists(), "GC deleted {}", f.display());
        }
        if !failed {
            tally.add("all data exact");
        }
        failed
    })
}

fn flip(f: &Path, at: usize, n: usize) {
    let mut b = std::fs::read(f).unwrap();
    let end = (at + n).min(b.len());
    for x in &mut b[at..end] {
        *x ^= 0x5a;
    }
    std::fs::write(f, &b).unwrap();
}

fn truncate(f: &Path, to: u64) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(f)
        .unwrap()
        .set_len(to)
        .unwrap();
}

/// Flipped and truncated bytes at offsets across the three blob data files
/// (20, 70 and 150 KB values): `check` names the blob, the open works, the
/// damaged value reads as `Corrupt` (never as missing, never wrong bytes),
/// every other value reads back exactly, and GC keeps the damaged blob.
#[test]
fn damaged_blob_data_files_are_reported_and_read_as_corrupt() {
    count_panics();
    let pristine = tempfile::tempdir().unwrap();
    let signed = populated(pristine.path());
    let mut tally = Tally::default();
    let bigs: Vec<String> = (0..3)
        .map(|i| {
            blake3::hash(values()[&format!("big{i}")].as_bytes())
                .to_hex()
                .to_string()
        })
        .collect();
    let mut trials = 0;
    for h in &bigs {
        let name = format!("{h}.data");
        let len = std::fs::metadata(pristine.path().join("blobs/data").join(&name))
            .unwrap()
            .len() as usize;
        // Flips at 6 offsets (first byte, last byte, between), truncations at 3.
        let faults: Vec<(&str, usize)> = [0, len / 5, len / 2, len * 4 / 5, len - 1]
            .into_iter()
            .map(|o| ("flip", o))
            .chain([0, len / 3, len - 1].into_iter().map(|o| ("truncate", o)))
            .collect();
        for (what, at) in faults {
            trials += 1;
            let trial = tempfile::tempdir().unwrap();
            copy_dir(pristine.path(), trial.path());
            let f = trial.path().join("blobs/data").join(&name);
            if what == "flip" {
                flip(&f, at, 1);
            } else {
                truncate(&f, at as u64);
            }
            let r = check(trial.path()).unwrap();
            assert!(
                r.problems.iter().any(
                    |p| matches!(p, Problem::BlobDamaged { hash, keys, .. } if hash == h && keys.len() == 1)
                ),
                "{what} at {at} of {name}: {r}"
            );
            assert_eq!(r.problems.len(), 1, "{what} at {at}: {r}");
            let failed = open_read_collect(trial.path(), &signed, Some(h), &mut tally);
            assert!(failed, "{what} at {at} of {name}: every read succeeded");
            // After GC, still reported (the damaged blob was kept).
            assert!(!check(trial.path()).unwrap().is_clean());
        }
    }
    eprintln!("{trials} faults in blob data files: {:?}", tally.0);
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "a panic was reported");
}

/// Flipped and truncated bytes across `blobs/blobs.db` (redb): the open
/// refuses with a typed error, or every value reads back exactly or with a
/// typed error; `check` is clean only if every value read back exactly; GC
/// deletes no blob file a key refers to.
#[test]
fn a_damaged_blob_database_gives_a_typed_error_or_the_exact_data() {
    count_panics();
    let pristine = tempfile::tempdir().unwrap();
    let signed = populated(pristine.path());
    let db = pristine.path().join("blobs/blobs.db");
    let len = std::fs::metadata(&db).unwrap().len() as usize;
    let mut tally = Tally::default();
    let mut checks = Tally::default();
    const FLIPS: usize = 16;
    let faults: Vec<(&str, usize)> = (0..FLIPS)
        .map(|t| ("flip", len * (2 * t + 1) / (2 * FLIPS)))
        .chain(
            [0, 512, len / 4, len / 2, len - 4096]
                .into_iter()
                .map(|o| ("truncate", o)),
        )
        .collect();
    for (what, at) in faults {
        let trial = tempfile::tempdir().unwrap();
        copy_dir(pristine.path(), trial.path());
        let f = trial.path().join("blobs/blobs.db");
        if what == "flip" {
            flip(&f, at, 16);
        } else {
            truncate(&f, at as u64);
        }
        let r = check(trial.path()).unwrap();
        checks.add(if r.is_clean() {
            "clean".to_string()
        } else {
            format!("{} problems", r.problems.len())
        });
        let failed = open_read_collect(trial.path(), &signed, None, &mut tally);
        if std::env::var_os("CHECK_VERBOSE").is_some() {
            eprintln!("{what} at {at}: failed {failed}: {r}");
        }
        if failed {
            assert!(
                !r.is_clean(),
                "{what} at {at}: reads failed, check said clean"
            );
        }
    }
    eprintln!(
        "{len}-byte blobs.db, {} faults: open/read {:?}; check {:?}",
        FLIPS + 5,
        tally.0,
        checks.0
    );
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "a panic was reported");
}

/// The `check` of a store left alone is the same however often it runs,
/// from several threads at once (each takes the lock shared).
#[test]
fn concurrent_checks_agree() {
    let dir = tempfile::tempdir().unwrap();
    populated(dir.path());
    let p = Arc::new(dir.path().to_path_buf());
    let hs: Vec<_> = (0..3)
        .map(|_| {
            let p = p.clone();
            std::thread::spawn(move || check(&*p).unwrap())
        })
        .collect();
    for h in hs {
        let r = h.join().unwrap();
        assert!(r.is_clean(), "{r}");
    }
}

/// A value over 4 MiB has its outboard in a file of its own
/// (`.obao4`; iroh-blobs verifies reads against it): a flipped byte there
/// is reported by `check` and makes the read `Corrupt`.
#[test]
fn a_damaged_outboard_file_is_reported_and_reads_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let big: String = (0..5_000_000)
        .map(|j: usize| char::from(b'a' + (j % 23) as u8))
        .collect();
    let h = blake3::hash(big.as_bytes()).to_hex().to_string();
    rt().block_on(async {
        let s = Store::open(p, cfg()).await.unwrap();
        s.set("huge", big.clone()).await.unwrap();
        s.close().await.unwrap();
    });
    let ob = p.join("blobs/data").join(format!("{h}.obao4"));
    assert!(ob.exists(), "no outboard file");
    assert!(check(p).unwrap().is_clean());
    let len = std::fs::metadata(&ob).unwrap().len() as usize;
    flip(&ob, len / 2, 1);
    let r = check(p).unwrap();
    assert!(
        matches!(&r.problems[..], [Problem::BlobDamaged { hash, detail, .. }] if *hash == h && detail.contains("outboard")),
        "{r}"
    );
    rt().block_on(async {
        let s = Store::open(p, cfg()).await.unwrap();
        let e = s.get("huge").await.unwrap_err();
        assert!(matches!(e, Error::Corrupt(_)), "{e:?}");
        s.close().await.unwrap();
    });
}
