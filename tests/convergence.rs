//! Randomized convergence of replicas (issue 15): several stores in
//! separate processes get random subsets of a random set of signed
//! operations, in random orders and random batch sizes, then sync in a
//! random pairwise order, with restarts and a continuous phase, until a
//! round of syncs applies nothing. They must end with equal state digests
//! and equal logs, equal to the union of the operations, and a fresh store
//! that applies the union in (timestamp, op_id) order — one at a time — or
//! in reverse order — in batches — must reach the same digest.
//!
//! The operations are all nine types on three keys per owner, so types
//! collide on a key; two owners, whose op_ids collide on purpose (op_ids
//! are scoped to their signer); timestamps from a span of 12 ms, so they
//! repeat; odd op_ids (empty-looking, non-ASCII, prefixes of each other);
//! Json path writes, some that select nothing and some with descendant
//! segments; values large enough to travel as blobs.
//!
//! Each store runs in a child process (this binary re-executed with
//! `CYBERFLY_CONVERGENCE_NODE` set: the `node` test), as in
//! `tests/replication.rs`. Seeds: `CYBERFLY_CONVERGENCE_SEEDS` (how many,
//! default 10) from `CYBERFLY_CONVERGENCE_SEED` (the first, default 1); a
//! failing seed is named in the panic message, so it can be run alone.
//! `CYBERFLY_CONVERGENCE_OWNERS=1` writes for one owner only (no op_id
//! shared between owners).

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use cyberfly_store::Keypair;
use cyberfly_store::{Config, Store, ValueKind};
use cyberfly_store::{Outcome, SignedOperation};
use cyberfly_store::{ServeAccess, SyncConfig};

fn cfg() -> Config {
    Config::builder()
        .sweep_interval(Duration::ZERO)
        .gc_interval(Duration::from_secs(5))
        .inline_threshold(1024)
        .build()
        .unwrap()
}

/// splitmix64: small, deterministic, good enough to pick things.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len() as u64) as usize]
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }
}

const KINDS: [ValueKind; 9] = [
    ValueKind::String,
    ValueKind::Hash,
    ValueKind::List,
    ValueKind::Set,
    ValueKind::SortedSet,
    ValueKind::Json,
    ValueKind::Stream,
    ValueKind::TimeSeries,
    ValueKind::Geo,
];

/// The operations of one seed, signed.
fn generate(rng: &mut Rng, owners: &[Keypair], n: usize) -> Vec<SignedOperation> {
    const IDS: [&str; 10] = [
        "a", "ab", "a\u{0}", "é", "op:1", "0", "Z", "a b", "𝄞", "ab\n",
    ];
    let paths = [
        "$",
        "$",
        "$.a",
        "$.a.b",
        "$.a..b",
        "$..b",
        "$.arr",
        "$.no.x",
        "$['a']['c']",
        "$.a[0]",
    ];
    let docs = [
        r#"{"a":{}}"#,
        r#"{"b":1}"#,
        "1",
        r#"{"a":{"b":2},"x":[1]}"#,
        "null",
        r#"{"a":[{"b":0}],"b":{"c":null}}"#,
        r#""s""#,
    ];
    let t0 = 1_700_000_000_000u64;
    let mut used = BTreeSet::new();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let owner = rng.below(owners.len() as u64) as usize;
        let kp = &owners[owner];
        let db = format!("conv-{}", kp.public_key_hex());
        let key = format!("k{}", rng.below(3));
        // Json four times in ten: its rules are the ones with history
        let kind = if rng.below(10) < 4 {
            ValueKind::Json
        } else {
            *rng.pick(&KINDS)
        };
        let big = rng.below(25) == 0;
        let mut o = SignedOperation::new(&db, key, "", kind);
        o.timestamp = t0 + rng.below(12);
        // op_ids collide across owners; one owner never reuses its own
        let mut id = (*rng.pick(&IDS)).to_owned();
        while !used.insert((owner, id.clone())) {
            id = format!("{id}{i}");
        }
        o.op_id = id;
        let m = rng.below(3);
        match kind {
            ValueKind::String => {
                o.value = if big {
                    format!("{i}:{}", "v".repeat(20_000))
                } else {
                    format!("s{i}")
                };
            }
            ValueKind::Hash => {
                o.field = Some(format!("f{m}"));
                o.value = format!("h{i}");
            }
            ValueKind::List => o.value = format!("l{i}"),
            ValueKind::Set => o.value = format!("m{}", rng.below(4)),
            ValueKind::SortedSet => {
                o.value = if rng.below(3) == 0 {
                    format!(r#"{{"_id":"d{m}","v":{i}}}"#)
                } else {
                    format!("m{m}")
                };
                o.score = Some(rng.below(5) as f64 / 2.0);
            }
            ValueKind::Json => {
                let path = *rng.pick(&paths);
                o.value = if big && path == "$" {
                    format!(r#"{{"a":{{"big":"{}"}}}}"#, "j".repeat(20_000))
                } else {
                    (*rng.pick(&docs)).to_owned()
                };
                if path != "$" || rng.below(2) == 0 {
                    o.json_path = Some(path.to_owned());
                }
            }
            ValueKind::Stream => {
                o.stream_fields = Some(vec![("i".into(), i.to_string())]);
            }
            ValueKind::TimeSeries => {
                o.value = format!("{}.25", rng.below(100));
                o.ts_timestamp = Some(rng.below(4) as i64 * 1000);
            }
            ValueKind::Geo => {
                o.value = format!("p{m}");
                o.longitude = Some(13.0 + rng.below(10) as f64 / 10.0);
                o.latitude = Some(52.0 + rng.below(10) as f64 / 10.0);
            }
        }
        o.sign(kp);
        out.push(o);
    }
    out
}

fn sorted_log(ops: impl IntoIterator<Item = SignedOperation>) -> Vec<String> {
    let mut v: Vec<String> = ops.into_iter().map(|o| o.to_json()).collect();
    v.sort();
    v
}

// ------------------------------------------------------------ child side

#[test]
fn node() {
    let Ok(dir) = std::env::var("CYBERFLY_CONVERGENCE_NODE") else {
        return;
    };
    let store = Store::open_blocking(&dir, cfg()).unwrap();
    let server = store
        .block_on(store.serve(SyncConfig {
            access: ServeAccess::Open,
            ..SyncConfig::loopback()
        }))
        .unwrap();
    let say = |line: String| {
        let mut o = std::io::stdout().lock();
        writeln!(o, "@@ {line}").unwrap();
        o.flush().unwrap();
    };
    say(format!("ticket {}", server.ticket()));
    let mut continuous = None;
    for line in std::io::stdin().lock().lines() {
        let line = line.unwrap();
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["apply", file, chunk] => {
                let text = std::fs::read_to_string(file).unwrap();
                let ops: Vec<SignedOperation> = text
                    .lines()
                    .map(|l| serde_json::from_str(l).unwrap())
                    .collect();
                for c in ops.chunks(chunk.parse().unwrap()) {
                    for o in store.block_on(store.apply_replicated(c.to_vec())).unwrap() {
                        assert!(!matches!(o, Outcome::Rejected(_)), "{o:?}");
                    }
                }
                say("ok".into());
            }
            ["sync", ticket] => {
                let config = SyncConfig {
                    page_ops: 7,
                    checkpoint_pages: 2,
                    ..SyncConfig::loopback()
                };
                let r = store.block_on(store.sync_from(ticket, &config)).unwrap();
                say(format!(
                    "synced {} {} {} {}",
                    r.applied + r.superseded,
                    r.duplicate,
                    r.forged,
                    r.rejected
                ));
            }
            ["follow", ticket] => {
                let config = SyncConfig {
                    page_ops: 5,
                    poll_wait: Duration::from_millis(200),
                    retry_after: Duration::from_millis(50),
                    ..SyncConfig::loopback()
                };
                continuous = Some(store.sync_continuous(ticket, config, None).unwrap());
                say("ok".into());
            }
            ["unfollow"] => {
                let r = store.block_on(continuous.take().unwrap().stop()).unwrap();
                say(format!("stopped {}", r.rejected));
            }
            ["digest"] => {
                let d = store.block_on(store.state_digest()).unwrap();
                let n = store.block_on(store.log_len()).unwrap();
                say(format!("digest {d} {n}"));
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
    fn start(dir: &Path) -> Node {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "node", "--nocapture", "--test-threads", "1"])
            .env("CYBERFLY_CONVERGENCE_NODE", dir)
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
        n.ticket = n.expect("ticket");
        n
    }

    fn expect(&mut self, word: &str) -> String {
        loop {
            let mut line = String::new();
            let n = self.stdout.read_line(&mut line).unwrap();
            assert!(n > 0, "node exited while we waited for `{word}`");
            let Some(at) = line.find("@@ ") else {
                continue;
            };
            let msg = line[at + 3..].trim_end();
            let rest = msg
                .strip_prefix(word)
                .unwrap_or_else(|| panic!("expected `{word}`, got `{msg}`"));
            return rest.trim().to_owned();
        }
    }

    fn cmd(&mut self, cmd: &str, word: &str) -> String {
        writeln!(self.stdin, "{cmd}").unwrap();
        self.stdin.flush().unwrap();
        self.expect(word)
    }

    /// Ops applied or superseded by a sync (they were new to this store).
    fn sync_from(&mut self, ticket: &str) -> u64 {
        let r = self.cmd(&format!("sync {ticket}"), "synced");
        let w: Vec<u64> = r.split_whitespace().map(|x| x.parse().unwrap()).collect();
        assert_eq!((w[2], w[3]), (0, 0), "forged or rejected: {r}");
        w[0]
    }

    fn apply(&mut self, dir: &Path, ops: &[SignedOperation], chunk: u64) {
        if ops.is_empty() {
            return;
        }
        let f = dir.join("ops.jsonl");
        let text: Vec<String> = ops
            .iter()
            .map(cyberfly_store::SignedOperation::to_json)
            .collect();
        std::fs::write(&f, text.join("\n")).unwrap();
        self.cmd(&format!("apply {} {chunk}", f.display()), "ok");
    }

    fn digest(&mut self) -> (String, u64) {
        let r = self.cmd("digest", "digest");
        let (d, n) = r.split_once(' ').unwrap();
        (d.to_owned(), n.parse().unwrap())
    }

    fn dump(&mut self, path: &Path) -> Vec<String> {
        self.cmd(&format!("dump {}", path.display()), "ok");
        let text = std::fs::read_to_string(path).unwrap();
        sorted_log(text.lines().map(|l| SignedOperation::from_json(l).unwrap()))
    }

    fn quit(mut self) {
        writeln!(self.stdin, "quit").unwrap();
        self.stdin.flush().unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "node failed: {status}");
    }
}

/// A fresh store applying `ops` in `chunk`s: its digest.
async fn fresh_digest(dir: &Path, ops: &[SignedOperation], chunk: usize) -> String {
    let s = Store::open(dir, cfg()).await.unwrap();
    for c in ops.chunks(chunk) {
        for o in s.apply_replicated(c.to_vec()).await.unwrap() {
            assert!(!matches!(o, Outcome::Rejected(_)), "{o:?}");
        }
    }
    let d = s.state_digest().await.unwrap();
    s.close().await.unwrap();
    d
}

const NODES: usize = 3;

fn run_seed(seed: u64) {
    let mut rng = Rng(seed);
    let base = tempfile::tempdir().unwrap();
    // one owner: no op_id shared between owners (to look at the other
    // rules alone)
    let n_owners = std::env::var("CYBERFLY_CONVERGENCE_OWNERS").map_or(2, |v| v.parse().unwrap());
    let owners: Vec<Keypair> = (0..n_owners)
        .map(|i| {
            let mut s = [i + 1; 32];
            s[..8].copy_from_slice(&seed.to_le_bytes());
            Keypair::from_secret(&s).unwrap()
        })
        .collect();
    let n_ops = 30 + rng.below(30) as usize;
    let union = generate(&mut rng, &owners, n_ops);
    // who gets what, in which order: each op reaches one to all stores
    let mut share: Vec<Vec<SignedOperation>> = vec![vec![]; NODES];
    for o in &union {
        let first = rng.below(NODES as u64) as usize;
        for (j, s) in share.iter_mut().enumerate() {
            if j == first || rng.below(3) == 0 {
                s.push(o.clone());
            }
        }
    }
    for s in &mut share {
        rng.shuffle(s);
    }
    let dirs: Vec<_> = (0..NODES)
        .map(|i| {
            let d = base.path().join(format!("node{i}"));
            std::fs::create_dir_all(&d).unwrap();
            d
        })
        .collect();
    let mut nodes: Vec<Node> = dirs.iter().map(|d| Node::start(d)).collect();
    // Phase 1: each store gets its first part, then random pairwise syncs
    // interleaved with the rest and with a restart.
    let mut rest: Vec<Vec<SignedOperation>> = Vec::new();
    for (i, node) in nodes.iter_mut().enumerate() {
        let cut = rng.below(share[i].len() as u64 + 1) as usize;
        let chunk = 1 + rng.below(8);
        node.apply(base.path(), &share[i][..cut], chunk);
        rest.push(share[i][cut..].to_vec());
    }
    let restart_at = rng.below(6);
    for step in 0..6 {
        let a = rng.below(NODES as u64) as usize;
        let b = (a + 1 + rng.below(NODES as u64 - 1) as usize) % NODES;
        let t = nodes[b].ticket.clone();
        nodes[a].sync_from(&t);
        // part of a's remaining ops
        let take = rng.below(rest[a].len() as u64 + 1) as usize;
        let now: Vec<_> = rest[a].drain(..take).collect();
        let chunk = 1 + rng.below(8);
        nodes[a].apply(base.path(), &now, chunk);
        if step == restart_at {
            let r = rng.below(NODES as u64) as usize;
            nodes.remove(r).quit();
            nodes.insert(r, Node::start(&dirs[r]));
        }
    }
    // Phase 2: one store follows another while the other gets the rest
    // of its ops; the third gets its rest too.
    let f = rng.below(NODES as u64) as usize;
    let l = (f + 1) % NODES;
    let t = nodes[l].ticket.clone();
    nodes[f].cmd(&format!("follow {t}"), "ok");
    for i in [l, (l + 1) % NODES, f] {
        let now = std::mem::take(&mut rest[i]);
        let chunk = 1 + rng.below(8);
        nodes[i].apply(base.path(), &now, chunk);
    }
    let stopped = nodes[f].cmd("unfollow", "stopped");
    assert_eq!(stopped, "0", "seed {seed}: the follower rejected some");
    // Phase 3: random pairwise rounds until a round brings nothing new.
    let mut rounds = 0;
    loop {
        let mut pairs: Vec<(usize, usize)> = (0..NODES)
            .flat_map(|a| (0..NODES).filter(move |b| *b != a).map(move |b| (a, b)))
            .collect();
        rng.shuffle(&mut pairs);
        let mut new = 0;
        for (a, b) in pairs {
            let t = nodes[b].ticket.clone();
            new += nodes[a].sync_from(&t);
        }
        rounds += 1;
        if new == 0 {
            break;
        }
        assert!(rounds < 5, "seed {seed}: still not settled");
    }
    let want_log = sorted_log(union.iter().cloned());
    let mut digests = BTreeSet::new();
    for (i, node) in nodes.iter_mut().enumerate() {
        let (d, n) = node.digest();
        assert_eq!(
            n,
            union.len() as u64,
            "seed {seed}: log length of store {i}"
        );
        let log = node.dump(&base.path().join(format!("dump{i}")));
        assert!(log == want_log, "seed {seed}: log of store {i} differs");
        digests.insert(d);
    }
    assert_eq!(digests.len(), 1, "seed {seed}: digests differ: {digests:?}");
    let d = digests.into_iter().next().unwrap();
    // A fresh store: the union in (timestamp, op_id) order one at a time,
    // and in reverse in batches.
    let mut ordered = union.clone();
    ordered.sort_by(|a, b| {
        (a.timestamp, &a.op_id, &a.public_key).cmp(&(b.timestamp, &b.op_id, &b.public_key))
    });
    let mut reversed = ordered.clone();
    reversed.reverse();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (d1, d2) = rt.block_on(async {
        (
            fresh_digest(&base.path().join("fresh-in-order"), &ordered, 1).await,
            fresh_digest(&base.path().join("fresh-reversed"), &reversed, 5).await,
        )
    });
    assert_eq!(d1, d, "seed {seed}: the union in order gives another state");
    assert_eq!(
        d2, d,
        "seed {seed}: the union in reverse gives another state"
    );
    for n in nodes {
        n.quit();
    }
}

#[test]
fn randomized_stores_converge() {
    if std::env::var("CYBERFLY_CONVERGENCE_NODE").is_ok() {
        return;
    }
    let var = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .map(|v| v.parse().expect(k))
            .unwrap_or(d)
    };
    let n = var("CYBERFLY_CONVERGENCE_SEEDS", 10);
    let first = var("CYBERFLY_CONVERGENCE_SEED", 1);
    let t0 = std::time::Instant::now();
    for seed in first..first + n {
        run_seed(seed);
    }
    eprintln!(
        "convergence: {n} seeds from {first} converged in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
}
