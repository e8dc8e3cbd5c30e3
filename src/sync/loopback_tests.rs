//! In-process tests of serving and syncing on loopback (the multi-process
//! convergence and kill tests are in `tests/replication.rs`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::oplog::{Outcome, SignedOperation};
use crate::verify::Keypair;
use crate::{Config, Store, ValueKind};

fn cfg() -> Config {
    Config::builder()
        .sweep_interval(Duration::ZERO)
        .gc_interval(Duration::ZERO)
        .build()
        .unwrap()
}

fn op(kp: &Keypair, key: &str, value: &str, kind: ValueKind) -> SignedOperation {
    let mut o = SignedOperation::new(format!("db-{}", kp.public_key_hex()), key, value, kind);
    o.sign(kp);
    o
}

/// Serving to anyone on loopback.
fn open_loopback() -> SyncConfig {
    SyncConfig {
        access: ServeAccess::Open,
        ..SyncConfig::loopback()
    }
}

fn small_config() -> SyncConfig {
    SyncConfig {
        page_ops: 64,
        checkpoint_pages: 2,
        ..SyncConfig::loopback()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_resume_and_forgeries() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Store::open(da.path(), cfg()).await.unwrap();
    let b = Store::open(db.path(), cfg()).await.unwrap();
    let kp = Keypair::generate();
    let ops: Vec<_> = (0..300)
        .map(|i| op(&kp, &format!("k{i}"), &format!("v{i}"), ValueKind::String))
        .collect();
    a.apply_many(ops).await.unwrap();
    // served to b alone
    let only_b = SyncConfig {
        access: ServeAccess::peers([b.sync_node_id().await.unwrap()]).unwrap(),
        ..SyncConfig::loopback()
    };
    let server = a.serve(only_b).await.unwrap();
    let ticket = server.ticket();

    let seen = Arc::new(AtomicU64::new(0));
    let s2 = seen.clone();
    let progress: ProgressFn = Arc::new(move |r: &SyncReport| {
        s2.store(r.received, Ordering::Relaxed);
    });
    let r = b
        .sync_from_with_progress(&ticket, &small_config(), Some(progress))
        .await
        .unwrap();
    assert_eq!((r.received, r.applied, r.forged), (300, 300, 0), "{r:?}");
    assert_eq!(r.pages, 5);
    assert_eq!(seen.load(Ordering::Relaxed), 300);
    assert_eq!(r.watermark, 300);
    assert_eq!(r.peer_store, a.store_id().await.unwrap());
    assert_eq!(
        a.state_digest().await.unwrap(),
        b.state_digest().await.unwrap()
    );
    assert_eq!(
        b.sync_watermarks().await.unwrap(),
        vec![(a.store_id().await.unwrap(), 300)]
    );

    // Nothing new: nothing received. Then only what is new travels.
    let r = b.sync_from(&ticket, &small_config()).await.unwrap();
    assert_eq!(r.received, 0);
    let more: Vec<_> = (0..10)
        .map(|i| op(&kp, &format!("n{i}"), "x", ValueKind::List))
        .collect();
    a.apply_many(more).await.unwrap();

    // A forged operation in the peer's log (written behind its writer's
    // back, with an arrival number) is counted and dropped.
    {
        let ix = a.engine().index().unwrap();
        let mut forged = op(&kp, "evil", "x", ValueKind::String);
        forged.value = "tampered".into();
        let mut lk = vec![crate::keyspace::NS_LOG];
        lk.extend_from_slice(&forged.timestamp.to_be_bytes());
        lk.extend_from_slice(forged.op_id.as_bytes());
        ix.tree.insert(&lk, forged.to_json().as_bytes()).unwrap();
        let head = replica::head_seq(&ix).unwrap();
        ix.tree.insert(replica::seq_key(head + 1), lk).unwrap();
        ix.tree
            .insert(replica::SEQ_KEY, &(head + 1).to_be_bytes())
            .unwrap();
        let other = Keypair::generate();
        let mut not_owner = op(&kp, "evil2", "x", ValueKind::String);
        not_owner.sign(&other); // signed by a key that does not own the db
        let mut lk = vec![crate::keyspace::NS_LOG];
        lk.extend_from_slice(&not_owner.timestamp.to_be_bytes());
        lk.extend_from_slice(not_owner.op_id.as_bytes());
        ix.tree.insert(&lk, not_owner.to_json().as_bytes()).unwrap();
        ix.tree.insert(replica::seq_key(head + 2), lk).unwrap();
        ix.tree
            .insert(replica::SEQ_KEY, &(head + 2).to_be_bytes())
            .unwrap();
    }
    let r = b.sync_from(&ticket, &small_config()).await.unwrap();
    assert_eq!((r.received, r.applied, r.forged), (12, 10, 2), "{r:?}");
    assert_eq!(
        b.get(&format!("db-{}:evil", kp.public_key_hex()))
            .await
            .unwrap(),
        None
    );
    assert_eq!(b.log_len().await.unwrap(), 310);
    assert_eq!(b.sync_watermarks().await.unwrap()[0].1, 312);

    // A forgotten watermark only costs a transfer: everything is a duplicate.
    write_raw(
        b.engine(),
        vec![(
            replica::watermark_key(
                &hex::decode(a.store_id().await.unwrap())
                    .unwrap()
                    .try_into()
                    .unwrap(),
            ),
            0u64.to_be_bytes().to_vec(),
        )],
    )
    .await
    .unwrap();
    let r = b.sync_from(&ticket, &small_config()).await.unwrap();
    assert_eq!(
        (r.received, r.applied, r.duplicate, r.forged),
        (312, 0, 310, 2)
    );

    server.shutdown().await.unwrap();
    // the blob store outlives the server
    assert!(a.add_blob(b"still here".to_vec()).await.is_ok());
    a.close().await.unwrap();
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_values_travel_as_blobs_once() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Store::open(da.path(), cfg()).await.unwrap();
    let b = Store::open(db.path(), cfg()).await.unwrap();
    let kp = Keypair::generate();
    let big = |c: char| c.to_string().repeat(300_000);
    // b already holds the value of k1 (written by its own operation)
    b.apply(op(&kp, "mine", &big('x'), ValueKind::String))
        .await
        .unwrap();
    a.apply_many(vec![
        op(&kp, "k1", &big('x'), ValueKind::String),
        op(&kp, "k2", &big('y'), ValueKind::String),
        op(
            &kp,
            "j",
            &format!("{{\"t\":\"{}\"}}", big('z')),
            ValueKind::Json,
        ),
    ])
    .await
    .unwrap();
    let server = a.serve(open_loopback()).await.unwrap();
    let r = b
        .sync_from(&server.ticket(), &small_config())
        .await
        .unwrap();
    assert_eq!(r.applied, 3, "{r:?}");
    // two values of 300 000 bytes travel; the one b had does not
    assert!(r.bytes > 600_000 && r.bytes < 900_000, "{r:?}");
    let d = format!("db-{}", kp.public_key_hex());
    assert_eq!(
        b.get(&format!("{d}:k2")).await.unwrap().as_deref(),
        Some(big('y').as_str())
    );
    let r = a
        .sync_from(
            &b.serve(open_loopback()).await.unwrap().ticket(),
            &small_config(),
        )
        .await
        .unwrap();
    assert_eq!((r.applied, r.duplicate), (1, 3), "{r:?}");
    assert_eq!(
        a.state_digest().await.unwrap(),
        b.state_digest().await.unwrap()
    );
    server.shutdown().await.unwrap();
    a.close().await.unwrap();
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continuous_sync_follows_new_operations() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Store::open(da.path(), cfg()).await.unwrap();
    let b = Store::open(db.path(), cfg()).await.unwrap();
    let kp = Keypair::generate();
    let server = a.serve(open_loopback()).await.unwrap();
    let config = SyncConfig {
        poll_wait: Duration::from_millis(500),
        retry_after: Duration::from_millis(50),
        ..small_config()
    };
    let h = b.sync_continuous(&server.ticket(), config, None).unwrap();
    for round in 0..3u64 {
        let ops: Vec<_> = (0..50)
            .map(|i| op(&kp, &format!("r{round}"), &i.to_string(), ValueKind::List))
            .collect();
        a.apply_many(ops).await.unwrap();
        // wait for b to catch up (bounded: a failure, not a hang)
        let target = a.log_head().await.unwrap();
        for _ in 0..1000 {
            if h.report().watermark >= target {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(h.report().watermark, target, "{:?}", h.errors());
    }
    let r = h.stop().await.unwrap();
    assert_eq!(r.applied, 150);
    assert_eq!(
        a.state_digest().await.unwrap(),
        b.state_digest().await.unwrap()
    );
    // stopped with everything checkpointed
    assert_eq!(b.sync_watermarks().await.unwrap()[0].1, 150);
    server.shutdown().await.unwrap();
    a.close().await.unwrap();
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_goes_away_is_an_io_error_then_resumes() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Store::open(da.path(), cfg()).await.unwrap();
    let b = Store::open(db.path(), cfg()).await.unwrap();
    let kp = Keypair::generate();
    a.apply_many(
        (0..20)
            .map(|i| op(&kp, &format!("k{i}"), "v", ValueKind::Set))
            .collect(),
    )
    .await
    .unwrap();
    let server = a.serve(open_loopback()).await.unwrap();
    let ticket = server.ticket();
    let node = server.node_id();
    server.shutdown().await.unwrap();
    let quick = SyncConfig {
        connect_timeout: Duration::from_secs(2),
        ..small_config()
    };
    let e = b.sync_from(&ticket, &quick).await.unwrap_err();
    assert_eq!(e.code(), crate::ErrorCode::Io, "{e}");
    // Serving again: the same node id (the key is kept in the store).
    let server = a.serve(open_loopback()).await.unwrap();
    assert_eq!(server.node_id(), node);
    let r = b
        .sync_from(&server.addr().to_direct_string(), &small_config())
        .await
        .unwrap();
    assert_eq!(r.applied, 20);
    server.shutdown().await.unwrap();
    a.close().await.unwrap();
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_not_allowed_is_refused_on_both_protocols() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let a = Store::open(dirs[0].path(), cfg()).await.unwrap();
    let b = Store::open(dirs[1].path(), cfg()).await.unwrap();
    let c = Store::open(dirs[2].path(), cfg()).await.unwrap();
    let kp = Keypair::generate();
    a.apply_many(vec![op(&kp, "k", &"v".repeat(50_000), ValueKind::String)])
        .await
        .unwrap();
    let secret = a.add_blob(vec![9u8; 70_000]).await.unwrap();
    let hash = iroh_blobs::Hash::from_bytes(secret.0);
    let b_id = b.sync_node_id().await.unwrap();
    assert_eq!(b_id, b.sync_node_id().await.unwrap(), "a stable node id");
    let config = SyncConfig {
        access: b_id.parse().unwrap(),
        ..SyncConfig::loopback()
    };
    let server = a.serve(config).await.unwrap();
    let empty = c.state_digest().await.unwrap();

    // c: refused on cyberfly-sync/1, nothing applied
    let e = c
        .sync_from(&server.ticket(), &small_config())
        .await
        .unwrap_err();
    assert_eq!(e.code(), crate::ErrorCode::Io, "{e}");
    assert!(e.to_string().contains("not allowed"), "{e}");
    assert_eq!(c.state_digest().await.unwrap(), empty);
    assert!(c.sync_watermarks().await.unwrap().is_empty());

    // iroh-blobs: a blob whose hash is known is refused to c, served to b.
    let fetch = |s: Store| {
        let addr = server.addr().0.clone();
        async move {
            let sk = endpoint_secret(s.engine()).await.unwrap();
            let ep = bind_endpoint(&SyncConfig::loopback(), Some(sk), vec![])
                .await
                .unwrap();
            let conn = ep.connect(addr, iroh_blobs::ALPN).await.unwrap();
            let r = s
                .engine()
                .blobs()
                .api()
                .remote()
                .fetch(conn, iroh_blobs::HashAndFormat::raw(hash))
                .complete()
                .await;
            ep.close().await;
            r.map(|_| ()).map_err(|e| e.to_string())
        }
    };
    // (iroh-blobs reports the close as "connection lost", without reason)
    fetch(c.clone()).await.unwrap_err();
    assert!(!c.engine().blobs().api().has(hash).await.unwrap());
    fetch(b.clone()).await.unwrap();
    assert_eq!(
        b.engine()
            .blobs()
            .api()
            .blobs()
            .get_bytes(hash)
            .await
            .unwrap()
            .len(),
        70_000
    );

    // b syncs; the default serves nobody, not even b.
    let r = b
        .sync_from(&server.ticket(), &small_config())
        .await
        .unwrap();
    assert_eq!(r.applied, 1, "{r:?}");
    server.shutdown().await.unwrap();
    let closed = a.serve(SyncConfig::loopback()).await.unwrap();
    let e = b
        .sync_from(&closed.ticket(), &small_config())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("not allowed"), "{e}");
    closed.shutdown().await.unwrap();

    // bad allow lists are typed errors
    for bad in ["nothex", "abc,def"] {
        let e = bad.parse::<ServeAccess>().unwrap_err();
        assert_eq!(e.code(), crate::ErrorCode::InvalidArgument, "{e}");
    }
    assert_eq!("*".parse::<ServeAccess>().unwrap(), ServeAccess::Open);
    assert_eq!("".parse::<ServeAccess>().unwrap(), ServeAccess::default());
    for s in [a, b, c] {
        s.close().await.unwrap();
    }
}

/// A Json op of `kp` on `key` at `ts`, op_id `id`.
fn json_at(
    kp: &Keypair,
    key: &str,
    path: Option<&str>,
    v: &str,
    ts: u64,
    id: &str,
) -> SignedOperation {
    let mut o = SignedOperation::new(
        format!("db-{}", kp.public_key_hex()),
        key,
        v,
        ValueKind::Json,
    );
    o.timestamp = ts;
    o.op_id = id.into();
    o.json_path = path.map(str::to_owned);
    o.sign(kp);
    o
}

/// Issue 15, through a real sync: (1) a path write that selects nothing is
/// superseded, not rejected, so the puller's watermark passes nothing it
/// did not record; (2) one page holding a Json key's older op of another
/// type and the ops it must see; (4) two owners' ops with one op_id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_converges_whatever_its_order() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Store::open(da.path(), cfg()).await.unwrap();
    let b = Store::open(db.path(), cfg()).await.unwrap();
    let (kp, kp2) = (Keypair::generate(), Keypair::generate());
    let t = 1_700_000_000_000u64;
    let mut z = SignedOperation::new(
        format!("db-{}", kp.public_key_hex()),
        "k",
        "f0",
        ValueKind::SortedSet,
    );
    z.timestamp = t;
    z.op_id = "z".into();
    z.score = Some(1.0);
    z.sign(&kp);
    let r = json_at(&kp, "k", None, r#"{"a":1,"b":{"c":null}}"#, t + 10, "r");
    let p = json_at(&kp, "k", Some("$.arr"), r#"{"c":{"b":0}}"#, t + 11, "p");
    // a's arrival order: one at a time, newest first
    let x = json_at(&kp, "d", None, r#"{"x":1}"#, t, "x");
    let desc = json_at(&kp, "d", Some("$.a..b"), r#"{"b":3}"#, t + 1, "desc");
    let same_a = json_at(&kp, "s", None, "1", t, "same");
    let same_b = json_at(&kp2, "s", None, "2", t, "same");
    for o in [&p, &r, &z, &desc, &x, &same_a, &same_b] {
        let out = a.apply_replicated(vec![o.clone()]).await.unwrap();
        assert!(!matches!(out[0], Outcome::Rejected(_)), "{out:?}");
    }
    assert_eq!(a.log_len().await.unwrap(), 7);
    let server = a.serve(open_loopback()).await.unwrap();
    // b already holds the other owner's op with the same op_id
    b.apply_replicated(vec![same_b.clone()]).await.unwrap();
    let rep = b
        .sync_from(&server.ticket(), &small_config())
        .await
        .unwrap();
    assert_eq!(
        (
            rep.received,
            rep.applied + rep.superseded,
            rep.duplicate,
            rep.rejected
        ),
        (7, 6, 1, 0),
        "{rep:?}"
    );
    assert_eq!(b.log_len().await.unwrap(), 7);
    assert_eq!(
        a.state_digest().await.unwrap(),
        b.state_digest().await.unwrap()
    );
    let d = format!("db-{}", kp.public_key_hex());
    assert_eq!(
        b.json_get(&format!("{d}:k"), None).await.unwrap(),
        Some(serde_json::json!({"a": 1, "b": {"c": null}, "arr": {"c": {"b": 0}}}))
    );
    assert_eq!(
        b.json_get(&format!("{d}:d"), None).await.unwrap(),
        Some(serde_json::json!({"x": 1}))
    );
    assert_eq!(
        b.json_get(&format!("{d}:s"), None).await.unwrap(),
        Some(serde_json::json!(1))
    );
    server.shutdown().await.unwrap();
    a.close().await.unwrap();
    b.close().await.unwrap();
}

/// Issue 15.3 through two concurrent syncs from different peers: each
/// peer holds one of two older Json ops of a key the puller already has
/// newer ops of. Whatever the interleaving, the document is the one of
/// (timestamp, op_id) order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_syncs_of_older_json_ops_converge() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let c = Store::open(dirs[0].path(), cfg()).await.unwrap();
    let p1 = Store::open(dirs[1].path(), cfg()).await.unwrap();
    let p2 = Store::open(dirs[2].path(), cfg()).await.unwrap();
    let kp = Keypair::generate();
    let t = 1_700_000_000_000u64;
    let (s1, s2) = (
        p1.serve(open_loopback()).await.unwrap(),
        p2.serve(open_loopback()).await.unwrap(),
    );
    let d = format!("db-{}", kp.public_key_hex());
    for i in 0..10 {
        let key = format!("doc{i}");
        let id = |n: u64| format!("{i}-{n}");
        c.apply_replicated(vec![
            json_at(&kp, &key, None, "{}", t + 1, &id(1)),
            json_at(&kp, &key, Some("$.c"), "1", t + 5, &id(5)),
        ])
        .await
        .unwrap();
        p1.apply_replicated(vec![json_at(&kp, &key, None, r#"{"a":{}}"#, t + 2, &id(2))])
            .await
            .unwrap();
        p2.apply_replicated(vec![json_at(&kp, &key, Some("$.a.b"), "1", t + 3, &id(3))])
            .await
            .unwrap();
        let (t1, t2, conf) = (s1.ticket(), s2.ticket(), small_config());
        let (r1, r2) = tokio::join!(c.sync_from(&t1, &conf), c.sync_from(&t2, &conf),);
        for r in [r1.unwrap(), r2.unwrap()] {
            assert_eq!((r.received, r.rejected), (1, 0), "{r:?}");
        }
        assert_eq!(
            c.json_get(&format!("{d}:{key}"), None).await.unwrap(),
            Some(serde_json::json!({"a": {"b": 1}, "c": 1})),
            "try {i}"
        );
    }
    s1.shutdown().await.unwrap();
    s2.shutdown().await.unwrap();
    for s in [c, p1, p2] {
        s.close().await.unwrap();
    }
}
