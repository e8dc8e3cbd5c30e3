//! Replication between stores in separate processes, over iroh on loopback.
//!
//! Each store runs in a child process (this test binary, re-executed with
//! `CYBERFLY_SYNC_NODE` set: the `node_process` test), which serves its
//! store and takes commands on stdin, answering on stdout with lines that
//! start with `@@`.
//!
//! - `two_stores_converge` / `three_stores_converge`: the stores write
//!   concurrently — all nine types, keys shared between the stores, some
//!   timestamps in the past so that operations arrive out of order, keys
//!   that the stores write with different types — sync
//!   with each other in different orders (and, for three, one of them
//!   continuously while the others write), and end with identical state
//!   digests; a fresh store applying the union of their logs in reverse
//!   order reaches the same digest.
//! - `killed_mid_sync_resumes_without_loss_or_double_apply`: a store pulling
//!   100 000 operations is killed (SIGKILL) part way; restarted, it syncs
//!   again and ends with exactly the peer's operations: list and stream
//!   lengths equal the number of appends, and what the second sync applied
//!   plus what survived the kill is the total.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use cyberfly_store::Keypair;
use cyberfly_store::{Config, Store, ValueKind};
use cyberfly_store::{Outcome, SignedOperation};
use cyberfly_store::{ServeAccess, SyncConfig};

/// Every store writes for one database, owned by this key (the owner's
/// devices each write through their own store).
const OWNER: [u8; 32] = [42; 32];

fn cfg() -> Config {
    Config::builder()
        .sweep_interval(Duration::ZERO)
        .gc_interval(Duration::from_secs(5))
        .inline_threshold(1024)
        .build()
        .unwrap()
}

fn db(kp: &Keypair) -> String {
    format!("shared-{}", kp.public_key_hex())
}

/// `n` operations of node `node`, round `round`: all nine types on a small
/// key space that every node writes too, every third one dated up to two
/// seconds back (so that it arrives after newer ones), a few large values.
fn workload(kp: &Keypair, node: u64, round: u64, n: u64) -> Vec<SignedOperation> {
    let d = db(kp);
    let mut out = Vec::new();
    for i in 0..n {
        let tag = format!("n{node}r{round}i{i}");
        let mut o = match i % 9 {
            0 => SignedOperation::new(&d, format!("s{}", i % 4), &tag, ValueKind::String),
            1 => {
                let mut o = SignedOperation::new(&d, format!("h{}", i % 2), &tag, ValueKind::Hash);
                o.field = Some(format!("f{}", i % 5));
                o
            }
            2 => SignedOperation::new(&d, format!("l{}", i % 2), &tag, ValueKind::List),
            3 => SignedOperation::new(&d, "set", format!("m{}", i % 10), ValueKind::Set),
            4 => {
                let member = if i % 2 == 0 {
                    format!("m{}", i % 6)
                } else {
                    format!(r#"{{"_id":"d{}","by":"{tag}"}}"#, i % 3)
                };
                let mut o = SignedOperation::new(&d, "z", member, ValueKind::SortedSet);
                o.score = Some((i % 7) as f64 + node as f64 / 10.0);
                o
            }
            5 => {
                let (path, value) = match i % 4 {
                    // even nodes' documents have no `a`: their peers' path
                    // writes then select nothing there
                    0 if node.is_multiple_of(2) => ("$".to_string(), format!(r#"{{"q":"{tag}"}}"#)),
                    0 => (
                        "$".to_string(),
                        format!(r#"{{"a":{{"b":"{tag}"}},"n":{node}}}"#),
                    ),
                    1 => ("$.a.c".to_string(), format!(r#""{tag}""#)),
                    2 => ("$.a.b".to_string(), format!("{i}")),
                    _ => ("$.nothere.x".to_string(), "1".to_string()),
                };
                let mut o = SignedOperation::new(&d, format!("j{}", i % 2), value, ValueKind::Json);
                o.json_path = Some(path);
                o
            }
            6 => {
                let mut o = SignedOperation::new(&d, "x", "", ValueKind::Stream);
                o.stream_fields = Some(vec![
                    ("by".into(), tag.clone()),
                    ("i".into(), i.to_string()),
                ]);
                o
            }
            7 => {
                let mut o =
                    SignedOperation::new(&d, "t", format!("{}.5", i % 50), ValueKind::TimeSeries);
                o.ts_timestamp = Some(((i % 20) * 1000) as i64);
                o
            }
            _ => {
                let mut o = SignedOperation::new(&d, "g", format!("p{}", i % 5), ValueKind::Geo);
                o.longitude = Some(13.0 + (i % 10) as f64 / 10.0 + node as f64 / 100.0);
                o.latitude = Some(52.0 + (i % 7) as f64 / 10.0);
                o
            }
        };
        if i % 3 == 0 {
            o.timestamp -= (i * 37) % 2000;
        }
        if i % 50 == 7 {
            // a large value: travels as a blob
            o.key = format!("big{}", i % 3);
            o.store_type = "String".into();
            o.value = format!("{tag}:{}", "v".repeat(40_000));
        }
        if i % 11 == 5 {
            // Keys written with different types by the nodes (each node's
            // first write to a mix key has another type than its peers';
            // its own later writes of other types are refused, WrongType,
            // but its peers' arrive): the newest write's type wins.
            o.key = format!("mix{}", (i + node) % 3);
        }
        o.sign(kp);
        out.push(o);
    }
    out
}

/// 100 000 small operations: appends (list, stream, set) and overwrites.
fn bulk(kp: &Keypair, n: u64) -> Vec<SignedOperation> {
    let d = db(kp);
    (0..n)
        .map(|i| {
            let mut o = match i % 4 {
                0 => SignedOperation::new(&d, "bulk:list", i.to_string(), ValueKind::List),
                1 => {
                    let mut o = SignedOperation::new(&d, "bulk:stream", "", ValueKind::Stream);
                    o.stream_fields = Some(vec![("i".into(), i.to_string())]);
                    o
                }
                2 => SignedOperation::new(
                    &d,
                    format!("bulk:s{}", i % 1000),
                    i.to_string(),
                    ValueKind::String,
                ),
                _ => SignedOperation::new(&d, "bulk:set", format!("m{}", i % 5000), ValueKind::Set),
            };
            o.sign(kp);
            o
        })
        .collect()
}

// ------------------------------------------------------------ child side

#[test]
fn node_process() {
    let Ok(dir) = std::env::var("CYBERFLY_SYNC_NODE") else {
        return;
    };
    let node: u64 = std::env::var("CYBERFLY_SYNC_NODE_ID")
        .unwrap()
        .parse()
        .unwrap();
    let store = Store::open_blocking(&dir, cfg()).unwrap();
    let kp = Keypair::from_secret(&OWNER).unwrap();
    let server = store
        .block_on(store.serve(SyncConfig {
            access: ServeAccess::Open,
            ..SyncConfig::loopback()
        }))
        .unwrap();
    let out = std::io::stdout();
    let say = |line: String| {
        let mut o = out.lock();
        writeln!(o, "@@ {line}").unwrap();
        o.flush().unwrap();
    };
    say(format!("ticket {}", server.ticket()));
    let mut continuous = None;
    for line in std::io::stdin().lock().lines() {
        let line = line.unwrap();
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["write", round, n] => {
                let ops = workload(&kp, node, round.parse().unwrap(), n.parse().unwrap());
                // in small batches, so that writes of the nodes interleave
                for chunk in ops.chunks(10) {
                    store.block_on(store.apply_many(chunk.to_vec())).unwrap();
                }
                say("ok".into());
            }
            ["bulk", n] => {
                let ops = bulk(&kp, n.parse().unwrap());
                for chunk in ops.chunks(5000) {
                    store.block_on(store.apply_many(chunk.to_vec())).unwrap();
                }
                store.block_on(store.flush()).unwrap();
                say("ok".into());
            }
            ["sync", ticket] => {
                let progress: cyberfly_store::ProgressFn = std::sync::Arc::new(|r| {
                    let mut o = std::io::stdout().lock();
                    writeln!(o, "@@ progress {}", r.received).unwrap();
                    o.flush().unwrap();
                });
                let config = SyncConfig {
                    page_ops: 500,
                    checkpoint_pages: 4,
                    ..SyncConfig::loopback()
                };
                let r = store
                    .block_on(store.sync_from_with_progress(ticket, &config, Some(progress)))
                    .unwrap();
                say(format!(
                    "synced received={} applied={} duplicate={} superseded={} forged={} rejected={}",
                    r.received, r.applied, r.duplicate, r.superseded, r.forged, r.rejected
                ));
            }
            ["follow", ticket] => {
                let config = SyncConfig {
                    poll_wait: Duration::from_millis(300),
                    retry_after: Duration::from_millis(100),
                    ..SyncConfig::loopback()
                };
                let h = store.sync_continuous(ticket, config, None).unwrap();
                continuous = Some(h);
                say("ok".into());
            }
            ["unfollow"] => {
                let h = continuous.take().unwrap();
                let r = store.block_on(h.stop()).unwrap();
                say(format!("stopped applied={}", r.applied));
            }
            ["digest"] => {
                let d = store.block_on(store.state_digest()).unwrap();
                let n = store.block_on(store.log_len()).unwrap();
                let kp_db = db(&kp);
                let l = store
                    .block_on(store.llen(&format!("{kp_db}:bulk:list")))
                    .unwrap();
                let x = store
                    .block_on(store.xlen(&format!("{kp_db}:bulk:stream")))
                    .unwrap();
                say(format!("digest {d} {n} {l} {x}"));
            }
            ["dump", path] => {
                let log = store.block_on(store.ops_since(0).collect_all()).unwrap();
                let text: Vec<String> = log
                    .iter()
                    .map(cyberfly_store::SignedOperation::to_json)
                    .collect();
                std::fs::write(path, text.join("\n")).unwrap();
                say("ok".into());
            }
            ["quit"] => break,
            other => panic!("unknown command {other:?}"),
        }
    }
    if let Some(h) = continuous {
        store.block_on(h.stop()).unwrap();
    }
    store.block_on(server.shutdown()).unwrap();
    store.close_blocking().unwrap();
}

// ----------------------------------------------------------- parent side

struct Node {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    ticket: String,
}

impl Node {
    fn start(dir: &Path, id: u64) -> Node {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "node_process",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env("CYBERFLY_SYNC_NODE", dir)
            .env("CYBERFLY_SYNC_NODE_ID", id.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut n = Node {
            child,
            stdin,
            stdout,
            ticket: String::new(),
        };
        let t = n.expect("ticket");
        n.ticket = t;
        n
    }

    /// The next `@@` line, which must start with `word`; the rest of it.
    fn expect(&mut self, word: &str) -> String {
        loop {
            let mut line = String::new();
            let n = self.stdout.read_line(&mut line).unwrap();
            assert!(n > 0, "node exited while we waited for `{word}`");
            // (libtest may print "test node_process ... " before ours)
            let Some(at) = line.find("@@ ") else {
                continue;
            };
            let msg = line[at + 3..].trim_end();
            if word != "progress" && msg.starts_with("progress ") {
                continue;
            }
            let rest = msg
                .strip_prefix(word)
                .unwrap_or_else(|| panic!("expected `{word}`, got `{msg}`"));
            return rest.trim().to_owned();
        }
    }

    fn send(&mut self, cmd: &str) {
        writeln!(self.stdin, "{cmd}").unwrap();
        self.stdin.flush().unwrap();
    }

    fn cmd(&mut self, cmd: &str, word: &str) -> String {
        self.send(cmd);
        self.expect(word)
    }

    fn sync_from(&mut self, other: &str) -> Vec<(String, u64)> {
        let r = self.cmd(&format!("sync {other}"), "synced");
        r.split_whitespace()
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                (k.to_owned(), v.parse().unwrap())
            })
            .collect()
    }

    /// (digest, log length, bulk list length, bulk stream length)
    fn digest(&mut self) -> (String, u64, u64, u64) {
        let r = self.cmd("digest", "digest");
        let w: Vec<&str> = r.split_whitespace().collect();
        (
            w[0].to_owned(),
            w[1].parse().unwrap(),
            w[2].parse().unwrap(),
            w[3].parse().unwrap(),
        )
    }

    fn quit(mut self) {
        self.send("quit");
        let status = self.child.wait().unwrap();
        assert!(status.success(), "node failed: {status}");
    }

    fn kill(mut self) {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
    }
}

fn get(r: &[(String, u64)], k: &str) -> u64 {
    r.iter().find(|(n, _)| n == k).map(|(_, v)| *v).unwrap()
}

fn dirs(base: &Path, n: usize) -> Vec<PathBuf> {
    (0..n)
        .map(|i| {
            let d = base.join(format!("node{i}"));
            std::fs::create_dir_all(&d).unwrap();
            d
        })
        .collect()
}

/// Write concurrently on every node: each gets its command, then all answers
/// are awaited.
fn write_all(nodes: &mut [Node], round: u64, n: u64) {
    for node in nodes.iter_mut() {
        node.send(&format!("write {round} {n}"));
    }
    for node in nodes.iter_mut() {
        node.expect("ok");
    }
}

/// A fresh store applying the union of the nodes' logs, newest first, must
/// reach the nodes' digest.
fn replay_union_reversed(nodes: &mut [Node], base: &Path) -> String {
    let mut all = std::collections::BTreeMap::new();
    for (i, node) in nodes.iter_mut().enumerate() {
        let p = base.join(format!("dump{i}"));
        node.cmd(&format!("dump {}", p.display()), "ok");
        for line in std::fs::read_to_string(&p).unwrap().lines() {
            let o = SignedOperation::from_json(line).unwrap();
            all.insert(o.op_id.clone(), o);
        }
    }
    let mut ops: Vec<SignedOperation> = all.into_values().collect();
    ops.sort_by(|a, b| (b.timestamp, &b.op_id).cmp(&(a.timestamp, &a.op_id)));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let dir = base.join("replay");
        let s = Store::open(&dir, cfg()).await.unwrap();
        for chunk in ops.chunks(7) {
            for o in s.apply_replicated(chunk.to_vec()).await.unwrap() {
                assert!(!matches!(o, Outcome::Rejected(_)), "{o:?}");
            }
        }
        let d = s.state_digest().await.unwrap();
        s.close().await.unwrap();
        d
    })
}

#[test]
fn two_stores_converge() {
    let base = tempfile::tempdir().unwrap();
    let d = dirs(base.path(), 2);
    let mut nodes = vec![Node::start(&d[0], 1), Node::start(&d[1], 2)];
    let tickets: Vec<String> = nodes.iter().map(|n| n.ticket.clone()).collect();
    write_all(&mut nodes, 0, 300);
    let r = nodes[1].sync_from(&tickets[0]);
    assert_eq!(get(&r, "forged"), 0, "{r:?}");
    assert_eq!(get(&r, "rejected"), 0, "{r:?}");
    nodes[0].sync_from(&tickets[1]);
    let (da, na, _, _) = nodes[0].digest();
    let (db, nb, _, _) = nodes[1].digest();
    assert_eq!(na, nb);
    assert_eq!(da, db, "digests differ after one exchange");
    // another round, synced the other way round; then a no-op sync
    write_all(&mut nodes, 1, 200);
    nodes[0].sync_from(&tickets[1]);
    nodes[1].sync_from(&tickets[0]);
    let r = nodes[0].sync_from(&tickets[1]);
    assert_eq!(get(&r, "applied"), 0, "{r:?}");
    let (da, _, _, _) = nodes[0].digest();
    let (db, _, _, _) = nodes[1].digest();
    assert_eq!(da, db);
    assert_eq!(replay_union_reversed(&mut nodes, base.path()), da);
    for n in nodes {
        n.quit();
    }
}

#[test]
fn three_stores_converge() {
    let base = tempfile::tempdir().unwrap();
    let d = dirs(base.path(), 3);
    let mut nodes: Vec<Node> = (0..3).map(|i| Node::start(&d[i], i as u64 + 1)).collect();
    let t: Vec<String> = nodes.iter().map(|n| n.ticket.clone()).collect();
    // C follows A continuously while everyone writes.
    nodes[2].cmd(&format!("follow {}", t[0]), "ok");
    write_all(&mut nodes, 0, 250);
    write_all(&mut nodes, 1, 150);
    let stopped = nodes[2].cmd("unfollow", "stopped");
    assert!(stopped.starts_with("applied="), "{stopped}");
    // A chain, then the rest in another order.
    nodes[1].sync_from(&t[2]); // B ← C (C has A's, partly)
    nodes[0].sync_from(&t[1]); // A ← B
    nodes[2].sync_from(&t[0]); // C ← A: everything
    nodes[1].sync_from(&t[0]); // B ← A: everything
    nodes[0].sync_from(&t[2]); // A ← C
    let digests: Vec<_> = nodes.iter_mut().map(Node::digest).collect();
    assert_eq!(digests[0], digests[1]);
    assert_eq!(digests[1], digests[2]);
    // everyone writes again, mesh in yet another order
    write_all(&mut nodes, 2, 100);
    for (a, b) in [(2, 1), (1, 0), (0, 2), (2, 0), (1, 2), (0, 1)] {
        let tb = t[b].clone();
        let r = nodes[a].sync_from(&tb);
        assert_eq!(get(&r, "forged"), 0, "{r:?}");
    }
    let digests: Vec<_> = nodes.iter_mut().map(Node::digest).collect();
    assert_eq!(digests[0], digests[1]);
    assert_eq!(digests[1], digests[2]);
    assert_eq!(replay_union_reversed(&mut nodes, base.path()), digests[0].0);
    for n in nodes {
        n.quit();
    }
}

#[test]
fn killed_mid_sync_resumes_without_loss_or_double_apply() {
    const N: u64 = 100_000;
    let base = tempfile::tempdir().unwrap();
    let d = dirs(base.path(), 2);
    let mut server = Node::start(&d[0], 1);
    server.cmd(&format!("bulk {N}"), "ok");
    let (want, n_server, lists, streams) = server.digest();
    assert_eq!((n_server, lists, streams), (N, N / 4, N / 4));

    // Pull, and kill the puller part way.
    let mut puller = Node::start(&d[1], 2);
    puller.send(&format!("sync {}", server.ticket));
    loop {
        let got: u64 = puller.expect("progress").parse().unwrap();
        if got >= N / 3 {
            break;
        }
    }
    puller.kill();

    // Restarted: what survived, then the rest.
    let mut puller = Node::start(&d[1], 2);
    let (_, survived, _, _) = puller.digest();
    assert!(survived < N, "the kill came too late to test anything");
    let r = puller.sync_from(&server.ticket);
    assert_eq!(get(&r, "forged"), 0, "{r:?}");
    assert_eq!(get(&r, "rejected"), 0);
    // it resumed from its last checkpoint, not from the start
    assert!(get(&r, "received") < N, "{r:?}");
    // nothing lost: every op is now in the log; nothing applied twice: the
    // second sync applied exactly what was missing (the rest it received
    // were recognised as duplicates), and appends were not repeated
    assert_eq!(
        survived + get(&r, "applied") + get(&r, "superseded"),
        N,
        "{r:?}"
    );
    let (got, n, l, x) = puller.digest();
    assert_eq!((n, l, x), (N, N / 4, N / 4));
    assert_eq!(got, want);
    puller.quit();
    server.quit();
}
