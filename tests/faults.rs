//! Holes found by fault injection (issue 18), each closed with a test that
//! fails without its fix: partial blob imports a crash leaves behind, writes
//! racing `close()`, `disk_usage()` racing blob GC, and a key scan over
//! many keys of other types.

use std::sync::Arc;
use std::time::Duration;

use cyberfly_store::{Config, Error, Store};

#[path = "support/rt.rs"]
mod support_rt;
use support_rt::rt;

/// A SIGKILL during a large blob import leaves `blobs/temp/*.temp` (iroh-blobs
/// writes there first); nothing else ever removes it. Reopening does, under
/// the directory lock, and the data written before is intact.
#[test]
fn partial_blob_imports_are_removed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = || Config::builder().inline_threshold(64).build().unwrap();
    rt().block_on(async {
        let s = Store::open(dir.path(), cfg()).await.unwrap();
        s.set("big", "b".repeat(10_000)).await.unwrap();
        s.close().await.unwrap();
    });
    let temp = dir.path().join("blobs").join("temp");
    std::fs::create_dir_all(&temp).unwrap();
    let left = temp.join("0123456789abcdef0123456789abcdef.temp");
    std::fs::write(&left, vec![7u8; 1 << 20]).unwrap();
    let other = temp.join("notes.txt"); // not an import: left alone
    std::fs::write(&other, b"x").unwrap();
    rt().block_on(async {
        let s = Store::open(dir.path(), cfg()).await.unwrap();
        assert!(!left.exists(), "the partial import is still there");
        assert!(other.exists(), "a file that is not an import was removed");
        assert_eq!(
            s.get("big").await.unwrap().as_deref(),
            Some("b".repeat(10_000).as_str())
        );
        s.close().await.unwrap();
    });
}

/// Writers of blob-sized values racing `close()`: every write either
/// succeeds or fails with `Closed` (it said BlobStoreFailure, "Oneshot recv
/// error", 29 times in 160), and every acknowledged write is there after
/// reopening.
#[test]
fn writes_racing_close_fail_with_closed() {
    let value = "v".repeat(20_000);
    for round in 0..20u64 {
        let dir = tempfile::tempdir().unwrap();
        let acked = rt().block_on(async {
            let s = Store::open(dir.path(), Config::default()).await.unwrap();
            let mut writers = Vec::new();
            for w in 0..8u64 {
                let (s, value) = (s.clone(), value.clone());
                writers.push(tokio::spawn(async move {
                    let mut acked = Vec::new();
                    for i in 0u64.. {
                        let key = format!("w{w}:{i}");
                        match s.set(&key, value.as_str()).await {
                            Ok(()) => acked.push(key),
                            Err(Error::Closed) => return acked,
                            Err(e) => panic!("round {round}: {key}: {e:?}"),
                        }
                    }
                    unreachable!()
                }));
            }
            tokio::time::sleep(Duration::from_millis(20 + round * 3)).await;
            s.close().await.unwrap();
            let mut acked = Vec::new();
            for w in writers {
                acked.extend(w.await.unwrap());
            }
            acked
        });
        rt().block_on(async {
            let s = Store::open(dir.path(), Config::default()).await.unwrap();
            for k in &acked {
                assert_eq!(
                    s.get(k).await.unwrap().as_deref(),
                    Some(value.as_str()),
                    "round {round}: acknowledged {k} lost"
                );
            }
            s.close().await.unwrap();
        });
    }
}

/// `disk_usage()` while blob-sized values are written and deleted and GC
/// runs: files vanish during the walk, which is not an error.
#[test]
fn disk_usage_while_gc_deletes_files() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let cfg = Config::builder()
            .inline_threshold(64)
            .gc_interval(Duration::from_millis(20))
            .build()
            .unwrap();
        let s = Store::open(dir.path(), cfg).await.unwrap();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let churn: Vec<_> = (0..3u64)
            .map(|w| {
                let (s, stop) = (s.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut i = 0u64;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let key = format!("k{w}:{}", i % 8);
                        s.set(&key, format!("{i}:{}", "x".repeat(100_000)))
                            .await
                            .unwrap();
                        if i.is_multiple_of(2) {
                            s.delete(&key).await.unwrap();
                        }
                        if i.is_multiple_of(4) {
                            s.collect_garbage().await.unwrap();
                        }
                        i += 1;
                    }
                })
            })
            .collect();
        // walk for three seconds while the churn runs (the walk is cheap:
        // thousands of walks, each a chance to meet a vanishing file)
        let s2 = s.clone();
        let walks = tokio::task::spawn_blocking(move || {
            let t0 = std::time::Instant::now();
            let mut n = 0u64;
            while t0.elapsed() < Duration::from_secs(3) {
                s2.disk_usage().expect("disk_usage failed while GC ran");
                n += 1;
            }
            n
        })
        .await
        .unwrap();
        assert!(walks > 0);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for c in churn {
            c.await.unwrap();
        }
        s.close().await.unwrap();
    });
    let path = dir.path().to_path_buf();
    drop(dir);
    rt().block_on(async {
        // a fresh store, then its directory removed behind its back
        let s = Store::open(&path, Config::default()).await.unwrap();
        s.close().await.unwrap();
        std::fs::remove_dir_all(&path).unwrap();
        assert!(matches!(s.disk_usage(), Err(Error::Io(_))));
    });
}

/// A key scan whose prefix covers 100 000 keys of other types before its
/// strings: the empty pages are walked in a loop (the scan called itself
/// once per empty page, nesting a future per page).
#[test]
fn a_scan_over_many_container_keys_finds_the_strings_after_them() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let cfg = Config::builder().scan_page_size(64).build().unwrap();
        let s = Store::open(dir.path(), cfg).await.unwrap();
        let mut tasks = Vec::new();
        for t in 0..128u64 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                for i in (t..100_000).step_by(128) {
                    s.sadd(&format!("p:a:{i:06}"), ["m"]).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        s.set("p:z:1", "one").await.unwrap();
        s.set("p:z:2", "two").await.unwrap();
        let mut scan = s.scan("p:");
        let page = scan.next_page().await.unwrap().expect("the strings");
        assert_eq!(
            page.iter()
                .map(|(k, v)| (k.as_str(), &**v))
                .collect::<Vec<_>>(),
            [("p:z:1", "one"), ("p:z:2", "two")]
        );
        assert!(scan.next_page().await.unwrap().is_none());
        s.close().await.unwrap();
    });
}

/// Set, sorted-set and geo members and hash field names live in the index's
/// keys, where sled keeps a copy of a large item per rewrite (a 20 MiB
/// member grew `index/` past 1 GiB). They are limited to `max_member_len`
/// (`hset` took a 100 MiB field name): over it, `ValueTooLarge` and nothing
/// written; at it, accepted.
#[test]
fn members_and_field_names_are_limited() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config::builder().max_member_len(1000).build().unwrap();
    assert_eq!(Config::default().max_member_len, 64 * 1024);
    rt().block_on(async {
        let s = Store::open(dir.path(), cfg).await.unwrap();
        let (ok, long) = ("m".repeat(1000), "m".repeat(1001));
        let too_large = |r: cyberfly_store::Result<i64>| {
            assert!(
                matches!(
                    r,
                    Err(Error::ValueTooLarge {
                        len: 1001,
                        max: 1000
                    })
                ),
                "{r:?}"
            );
        };
        too_large(s.sadd("s", [long.clone()]).await);
        too_large(s.zadd("z", [(long.clone(), 1.0)]).await);
        too_large(s.hset("h", &long, "v").await);
        too_large(s.geoadd("g", [(13.4, 52.5, long.clone())]).await);
        let digest = s.state_digest().await.unwrap();
        assert!(!s.exists("s").await.unwrap(), "nothing written");
        assert_eq!(s.sadd("s", [ok.clone()]).await.unwrap(), 1);
        assert_eq!(s.zadd("z", [(ok.clone(), 1.0)]).await.unwrap(), 1);
        assert_eq!(s.hset("h", &ok, "v").await.unwrap(), 1);
        assert_eq!(s.geoadd("g", [(13.4, 52.5, ok.clone())]).await.unwrap(), 1);
        assert_ne!(s.state_digest().await.unwrap(), digest);
        s.close().await.unwrap();
    });
}

/// A size-limited tmpfs mounted over a temporary directory (root with
/// CAP_SYS_ADMIN, as in the project's container); `None` where mounting is
/// not allowed. Unmounted on drop.
struct SmallDisk(tempfile::TempDir);

impl SmallDisk {
    fn mount(bytes: u64) -> Option<SmallDisk> {
        let d = tempfile::tempdir().ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(d.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(SmallDisk(d))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let st = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.0.path())
            .status();
        if !st.as_ref().is_ok_and(std::process::ExitStatus::success) {
            eprintln!("umount -l {}: {st:?}", self.0.path().display());
        }
    }
}

/// Issue 18, point 7: once sled hits ENOSPC it stays failed until the store
/// is reopened, even after space returns. The error says so (the OS's words,
/// the errno's name, "reopen"); after a reopen, with space back, the store
/// works and holds every acknowledged write (durability `sync`).
#[test]
fn a_full_disk_fails_the_index_with_a_reopen_hint() {
    let Some(disk) = SmallDisk::mount(3 << 20) else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN)");
        return;
    };
    let dir = disk.0.path().join("store");
    // Space to give back once the disk is full.
    let filler = disk.0.path().join("filler");
    std::fs::write(&filler, vec![1u8; 1 << 20]).unwrap();
    let cfg = || {
        Config::builder()
            .durability(cyberfly_store::Durability::Sync)
            .inline_threshold(64 * 1024)
            .warm_restart(false)
            .build()
            .unwrap()
    };
    let value = |i: usize| format!("{i:06}{}", "x".repeat(32 * 1024));
    let acked = rt().block_on(async {
        let s = Store::open(&dir, cfg()).await.unwrap();
        let mut acked = 0;
        let err = loop {
            match s.set(&format!("k{acked}"), value(acked)).await {
                Ok(()) => acked += 1,
                Err(e) => break e,
            }
            assert!(acked < 1000, "the disk never filled");
        };
        let msg = err.to_string();
        eprintln!("after {acked} writes: {msg}");
        assert!(matches!(err, Error::Io(_)), "{err:?}");
        assert!(
            msg.contains("No space left on device") && msg.contains("ENOSPC"),
            "{msg}"
        );
        assert!(
            msg.contains("reopen") || msg.contains("open it again"),
            "{msg}"
        );
        // Space comes back; sled does not: the next write says the same.
        std::fs::remove_file(&filler).unwrap();
        let again = s.set("after", "space returned").await.unwrap_err();
        let flushed = s.flush().await.unwrap_err();
        assert!(flushed.to_string().contains("open it again"), "{flushed}");
        eprintln!("after space returned: {again}");
        assert!(again.to_string().contains("open it again"), "{again}");
        let closed = s.close().await;
        eprintln!("close: {closed:?}");
        assert!(msg.contains("new process"), "{msg}");
        // This process keeps sled's lock (its failed store's drop never
        // returns): a reopen here is refused as AlreadyOpen, saying so,
        // after sled's own lock wait (5 s), never hanging.
        let reopen = tokio::time::timeout(Duration::from_secs(60), Store::open(&dir, cfg()))
            .await
            .expect("a reopen after the failure returns");
        let Err(e) = reopen else {
            panic!("a reopen in this process succeeded while it holds sled's lock");
        };
        eprintln!("reopen in this process: {e}");
        assert!(matches!(e, Error::AlreadyOpen { .. }), "{e:?}");
        assert!(e.to_string().contains("new process"), "{e}");
        acked
    });
    assert!(acked > 0);
    // sled's own lock stays with this process (its stuck drop, see
    // Inner::shutdown_writer_and_index): another process reads the store.
    // `check` (the command line) opens a copy of the index with sled: every
    // acknowledged write is in it, and nothing is damaged.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cyberfly-store"))
        .args(["check", "--json"])
        .arg(&dir)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert!(report["keys"].as_u64().unwrap() >= acked as u64, "{report}");
    drop(disk);
}
