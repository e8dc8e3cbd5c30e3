//! Signed operations on real stores: all nine types, ownership, freshness,
//! forged signatures in a batch, duplicates, last-write-wins, legacy
//! messages, the log, and replay into a second store.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cyberfly_store::Keypair;
use cyberfly_store::{Config, ErrorCode, LogCheck, Store, TypedValue, ValueKind};
use cyberfly_store::{Outcome, SignedOperation};
use serde_json::json;

fn cfg() -> Config {
    Config::builder()
        .sweep_interval(Duration::ZERO)
        .gc_interval(Duration::ZERO)
        .build()
        .unwrap()
}

fn db(kp: &Keypair) -> String {
    format!("sensors-{}", kp.public_key_hex())
}

fn op(kp: &Keypair, key: &str, value: &str, kind: ValueKind) -> SignedOperation {
    SignedOperation::new(db(kp), key, value, kind)
}

fn signed(kp: &Keypair, mut o: SignedOperation) -> SignedOperation {
    o.sign(kp);
    o
}

/// One operation of each type.
fn nine(kp: &Keypair) -> Vec<SignedOperation> {
    let mut v = vec![signed(kp, op(kp, "s", "hello", ValueKind::String))];
    let mut h = op(kp, "h", "v1", ValueKind::Hash);
    h.field = Some("f1".into());
    v.push(signed(kp, h));
    v.push(signed(kp, op(kp, "l", "item", ValueKind::List)));
    v.push(signed(kp, op(kp, "set", "member", ValueKind::Set)));
    let mut z = op(kp, "z", "m", ValueKind::SortedSet);
    z.score = Some(2.5);
    v.push(signed(kp, z));
    v.push(signed(kp, op(kp, "j", r#"{"a":{"b":1}}"#, ValueKind::Json)));
    let mut x = op(kp, "x", "", ValueKind::Stream);
    x.stream_fields = Some(vec![("temp".into(), "21".into())]);
    v.push(signed(kp, x));
    let mut t = op(kp, "t", "20.5", ValueKind::TimeSeries);
    t.ts_timestamp = Some(1000);
    v.push(signed(kp, t));
    let mut g = op(kp, "g", "here", ValueKind::Geo);
    g.longitude = Some(13.4);
    g.latitude = Some(52.5);
    v.push(signed(kp, g));
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_nine_types_apply_with_signature_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), cfg()).await.unwrap();
    let kp = Keypair::generate();
    let d = db(&kp);
    let out = s.apply_many(nine(&kp)).await.unwrap();
    assert!(out.iter().all(Outcome::is_applied), "{out:?}");
    assert_eq!(
        s.get(&format!("{d}:s")).await.unwrap().as_deref(),
        Some("hello")
    );
    assert_eq!(
        s.hget(&format!("{d}:h"), "f1").await.unwrap().as_deref(),
        Some("v1")
    );
    assert_eq!(s.lrange(&format!("{d}:l"), 0, -1).await.unwrap(), ["item"]);
    assert!(s.sismember(&format!("{d}:set"), "member").await.unwrap());
    assert_eq!(s.zscore(&format!("{d}:z"), "m").await.unwrap(), Some(2.5));
    assert_eq!(
        s.json_get(&format!("{d}:j"), None).await.unwrap(),
        Some(json!({"a": {"b": 1}}))
    );
    assert_eq!(s.xlen(&format!("{d}:x")).await.unwrap(), 1);
    assert_eq!(
        s.ts_get(&format!("{d}:t")).await.unwrap(),
        Some((1000, 20.5))
    );
    assert!(s.geopos(&format!("{d}:g"), &["here"]).await.unwrap()[0].is_some());
    let info = s.key_info(&format!("{d}:h")).await.unwrap().unwrap();
    let sig = info.sig.expect("signature metadata stored");
    assert_eq!(sig.public_key, kp.public_key().to_vec());
    assert_eq!(sig.signature.len(), 64);
    // a JSON path update, signed
    let mut jp = op(&kp, "j", "5", ValueKind::Json);
    jp.json_path = Some("$.a.b".into());
    assert_eq!(s.apply(signed(&kp, jp)).await.unwrap(), Outcome::Applied);
    assert_eq!(
        s.json_get(&format!("{d}:j"), Some("$.a.b")).await.unwrap(),
        Some(json!([5]))
    );
    assert_eq!(s.log_len().await.unwrap(), 10);
    s.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forgery_hidden_in_a_thousand_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), cfg()).await.unwrap();
    let kp = Keypair::generate();
    let mut ops: Vec<SignedOperation> = (0..1000)
        .map(|i| {
            signed(
                &kp,
                op(&kp, &format!("k{i}"), &format!("v{i}"), ValueKind::String),
            )
        })
        .collect();
    ops[421].value = "forged".into(); // signature no longer matches
    let out = s.apply_many(ops).await.unwrap();
    assert_eq!(out.iter().filter(|o| o.is_applied()).count(), 999);
    match &out[421] {
        Outcome::Rejected(e) => assert_eq!(e.code(), ErrorCode::InvalidSignature),
        o => panic!("expected rejection, got {o:?}"),
    }
    let d = db(&kp);
    assert_eq!(s.get(&format!("{d}:k421")).await.unwrap(), None);
    assert_eq!(
        s.get(&format!("{d}:k420")).await.unwrap().as_deref(),
        Some("v420")
    );
    assert!(s.verifier().stats().batch_fallbacks >= 1);
    s.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ownership_freshness_and_bad_input_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), cfg()).await.unwrap();
    let (kp, other) = (Keypair::generate(), Keypair::generate());
    s.apply(signed(&kp, op(&kp, "k", "v", ValueKind::String)))
        .await
        .unwrap();
    let before = s.state_digest().await.unwrap();

    // signed by another key for kp's database
    let mut o = op(&kp, "k", "x", ValueKind::String);
    o.sign(&other);
    assert_eq!(s.apply(o).await.unwrap_err().code(), ErrorCode::NotOwner);
    // malformed database names
    for name in ["", "bad name"] {
        let mut o = SignedOperation::new(
            format!("{name}-{}", kp.public_key_hex()),
            "k",
            "x",
            ValueKind::String,
        );
        o.sign(&kp);
        assert_eq!(
            s.apply(o).await.unwrap_err().code(),
            ErrorCode::NotOwner,
            "{name:?}"
        );
    }
    // stale and future timestamps
    for skew in [-2 * 3_600_000i64, 2 * 3_600_000] {
        let mut o = op(&kp, "k", "x", ValueKind::String);
        o.timestamp = (o.timestamp as i64 + skew) as u64;
        let o = signed(&kp, o);
        assert_eq!(s.apply(o).await.unwrap_err().code(), ErrorCode::Stale);
    }
    // tampered type (the node's message would not cover it; ours does)
    let mut o = signed(&kp, op(&kp, "k", "x", ValueKind::String));
    o.store_type = "List".into();
    assert_eq!(
        s.apply(o).await.unwrap_err().code(),
        ErrorCode::InvalidSignature
    );
    // malformed hex, wrong lengths
    let mut o = signed(&kp, op(&kp, "k", "x", ValueKind::String));
    o.signature.truncate(10);
    assert_eq!(
        s.apply(o).await.unwrap_err().code(),
        ErrorCode::InvalidArgument
    );
    // type-specific shape errors
    let mut o = op(&kp, "z", "m", ValueKind::SortedSet);
    o.score = Some(f64::NAN);
    assert_eq!(
        s.apply(signed(&kp, o)).await.unwrap_err().code(),
        ErrorCode::InvalidArgument
    );
    let mut o = op(&kp, "g", "m", ValueKind::Geo);
    o.longitude = Some(200.0);
    o.latitude = Some(0.0);
    assert_eq!(
        s.apply(signed(&kp, o)).await.unwrap_err().code(),
        ErrorCode::InvalidArgument
    );
    // wrong type against the existing String key
    let o = signed(&kp, op(&kp, "k", "item", ValueKind::List));
    assert_eq!(s.apply(o).await.unwrap_err().code(), ErrorCode::WrongType);
    assert_eq!(s.state_digest().await.unwrap(), before);
    assert_eq!(s.log_len().await.unwrap(), 1);
    s.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_and_last_write_wins() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), cfg()).await.unwrap();
    let kp = Keypair::generate();
    let d = db(&kp);
    let newer = signed(&kp, op(&kp, "k", "new", ValueKind::String));
    let mut older = op(&kp, "k", "old", ValueKind::String);
    older.timestamp = newer.timestamp - 10;
    let older = signed(&kp, older);
    assert_eq!(s.apply(newer.clone()).await.unwrap(), Outcome::Applied);
    assert_eq!(s.apply(newer.clone()).await.unwrap(), Outcome::Duplicate);
    assert_eq!(s.apply(older.clone()).await.unwrap(), Outcome::Superseded);
    assert_eq!(s.apply(older).await.unwrap(), Outcome::Duplicate);
    assert_eq!(
        s.get(&format!("{d}:k")).await.unwrap().as_deref(),
        Some("new")
    );
    // per field for Hash: an older write to another field still applies
    let mut h1 = op(&kp, "h", "a2", ValueKind::Hash);
    h1.field = Some("a".into());
    let mut h0 = op(&kp, "h", "b1", ValueKind::Hash);
    h0.field = Some("b".into());
    h0.timestamp = h1.timestamp - 5;
    let out = s
        .apply_many(vec![signed(&kp, h1), signed(&kp, h0)])
        .await
        .unwrap();
    assert_eq!(out, vec![Outcome::Applied, Outcome::Applied]);
    assert_eq!(s.hlen(&format!("{d}:h")).await.unwrap(), 2);
    // a replayed list append is applied once
    let l = signed(&kp, op(&kp, "l", "x", ValueKind::List));
    let out = s.apply_many(vec![l.clone(), l]).await.unwrap();
    assert_eq!(out, vec![Outcome::Applied, Outcome::Duplicate]);
    assert_eq!(s.llen(&format!("{d}:l")).await.unwrap(), 1);
    s.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_messages_only_when_enabled() {
    let kp = Keypair::generate();
    let mut o = op(&kp, "k", "v", ValueKind::String);
    o.public_key = kp.public_key_hex();
    o.signature = hex_sig(&kp, &o.legacy_message());
    for (legacy, expect) in [(false, Err(ErrorCode::InvalidSignature)), (true, Ok(()))] {
        let dir = tempfile::tempdir().unwrap();
        let c = Config::builder().legacy_signatures(legacy).build().unwrap();
        let s = Store::open(dir.path(), c).await.unwrap();
        let r = s.apply(o.clone()).await.map(|_| ()).map_err(|e| e.code());
        assert_eq!(r, expect, "legacy={legacy}");
        s.close().await.unwrap();
    }
}

fn hex_sig(kp: &Keypair, msg: &[u8]) -> String {
    kp.sign(msg).iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_the_log_gives_an_identical_store() {
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Store::open(a_dir.path(), cfg()).await.unwrap();
    let kp = Keypair::generate();
    let mut ops = nine(&kp);
    for i in 0..300 {
        let mut h = op(&kp, "h", &format!("v{i}"), ValueKind::Hash);
        h.field = Some(format!("f{}", i % 17));
        ops.push(signed(&kp, h));
        ops.push(signed(
            &kp,
            op(
                &kp,
                &format!("s{}", i % 50),
                &"x".repeat(i * 30),
                ValueKind::String,
            ),
        ));
        ops.push(signed(&kp, op(&kp, "l", &i.to_string(), ValueKind::List)));
    }
    for chunk in ops.chunks(100) {
        a.apply_many(chunk.to_vec()).await.unwrap();
    }
    let log = a.ops_since(0).collect_all().await.unwrap();
    assert_eq!(log.len(), ops.len());
    let b = Store::open(b_dir.path(), cfg()).await.unwrap();
    // old operations are not rejected for their age when replayed
    let out = b.apply_replicated(log.clone()).await.unwrap();
    assert!(out
        .iter()
        .all(|o| *o != Outcome::Duplicate && !matches!(o, Outcome::Rejected(_))));
    assert_eq!(
        a.state_digest().await.unwrap(),
        b.state_digest().await.unwrap()
    );
    // replaying again changes nothing
    let out = b.apply_replicated(log).await.unwrap();
    assert!(out.iter().all(|o| *o == Outcome::Duplicate));
    assert_eq!(
        a.state_digest().await.unwrap(),
        b.state_digest().await.unwrap()
    );
    a.close().await.unwrap();
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_is_loaded_at_open_with_progress() {
    let dir = tempfile::tempdir().unwrap();
    let kp = Keypair::generate();
    {
        let s = Store::open(dir.path(), cfg()).await.unwrap();
        let ops: Vec<SignedOperation> = (0..10_000)
            .map(|i| signed(&kp, op(&kp, &format!("k{i}"), "v", ValueKind::String)))
            .collect();
        s.apply_many(ops).await.unwrap();
        s.close().await.unwrap();
    }
    for check in [LogCheck::Trust, LogCheck::Verify] {
        let seen = Arc::new(AtomicU64::new(0));
        let seen2 = seen.clone();
        let c = Config::builder().log_check(check).build().unwrap();
        let s = Store::open_with_progress(
            dir.path(),
            c,
            Arc::new(move |done, total| {
                assert!(done <= total);
                seen2.store(done, Ordering::SeqCst);
            }),
        )
        .await
        .unwrap();
        let r = s.log_report().unwrap();
        assert_eq!((r.total, r.ok), (10_000, 10_000), "{check:?}");
        assert!(r.corrupt.is_empty() && r.invalid_signatures.is_empty());
        assert_eq!(seen.load(Ordering::SeqCst), 10_000);
        s.close().await.unwrap();
    }
}

/// Every order of `ops` (each order under its own owner key, so in its own
/// database of one store), applied one at a time as replicated ops: the
/// key `k` ends with the same type, contents and signer timestamp in every
/// order, and that is `want`.
async fn every_order_gives(template: Vec<SignedOperation>, want: (ValueKind, TypedValue, u64)) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), cfg()).await.unwrap();
    let n = template.len();
    let mut orders: Vec<Vec<usize>> = vec![vec![]];
    for _ in 0..n {
        let mut longer = Vec::new();
        for o in &orders {
            for i in (0..n).filter(|i| !o.contains(i)) {
                longer.push([o.as_slice(), &[i]].concat());
            }
        }
        orders = longer;
    }
    for (p, order) in orders.iter().enumerate() {
        let mut seed = [7u8; 32];
        seed[..8].copy_from_slice(&(p as u64).to_le_bytes());
        let kp = Keypair::from_secret(&seed).unwrap();
        for &i in order {
            let mut o = template[i].clone();
            o.db_name = db(&kp);
            o.op_id = format!("{}-{p}", o.op_id); // op_ids are unique store-wide
            o.sign(&kp);
            let out = s.apply_replicated(vec![o]).await.unwrap();
            assert!(
                !matches!(out[0], Outcome::Rejected(_)),
                "{order:?}: {out:?}"
            );
        }
        let mut found = vec![];
        for kind in [
            ValueKind::String,
            ValueKind::Hash,
            ValueKind::List,
            ValueKind::Set,
            ValueKind::SortedSet,
            ValueKind::Json,
            ValueKind::Stream,
            ValueKind::TimeSeries,
            ValueKind::Geo,
        ] {
            for (_, v, sig) in s.get_all(&db(&kp), kind).collect_all().await.unwrap() {
                found.push((kind, v, sig.unwrap().timestamp_ms));
            }
        }
        assert_eq!(found, vec![want.clone()], "order {order:?}");
    }
    s.close().await.unwrap();
}

fn at(mut o: SignedOperation, ts: u64) -> SignedOperation {
    o.timestamp = ts;
    o.op_id = format!("op{ts}");
    o
}

fn hash_op(kp: &Keypair, field: &str, value: &str, ts: u64) -> SignedOperation {
    let mut o = op(kp, "k", value, ValueKind::Hash);
    o.field = Some(field.into());
    at(o, ts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_of_different_types_on_one_key_converge() {
    let kp = Keypair::generate();
    let t = |d: u64| 1_700_000_000_000 + d;
    // A newer write of another type replaces the key; an older one cuts
    // off what is older than itself: the String at 200 replaces the Hash
    // field `a` of 100, the List item at 250 (older than the Hash at 300)
    // removes nothing left, the Hash field `a` at 150 is older than the
    // String. Left: the Hash {b} of 300.
    every_order_gives(
        vec![
            hash_op(&kp, "a", "h1", t(100)),
            at(op(&kp, "k", "s2", ValueKind::String), t(200)),
            hash_op(&kp, "b", "h3", t(300)),
            at(op(&kp, "k", "l4", ValueKind::List), t(250)),
            hash_op(&kp, "a", "h5", t(150)),
        ],
        (
            ValueKind::Hash,
            TypedValue::Hash(vec![("b".into(), "h3".into())]),
            t(300),
        ),
    )
    .await;
    // Json: the Set member at 200 replaces the document of 100; the
    // document is what the Json writes after 200 make of it, in order.
    let mut path = at(op(&kp, "k", "2", ValueKind::Json), t(300));
    path.json_path = Some("$.b".into());
    every_order_gives(
        vec![
            at(op(&kp, "k", r#"{"a":1}"#, ValueKind::Json), t(100)),
            path,
            at(op(&kp, "k", "m", ValueKind::Set), t(200)),
            at(op(&kp, "k", r#"{"x":0}"#, ValueKind::Json), t(250)),
            at(op(&kp, "k", "n", ValueKind::Set), t(50)),
        ],
        (
            ValueKind::Json,
            TypedValue::Json(json!({"x": 0, "b": 2})),
            t(300),
        ),
    )
    .await;
    // A container older than a String changes nothing; a newer one after
    // an older String holds only what is newer than that String.
    let mut z = at(op(&kp, "k", "m", ValueKind::SortedSet), t(120));
    z.score = Some(1.0);
    let mut z2 = at(op(&kp, "k", "n", ValueKind::SortedSet), t(400));
    z2.score = Some(2.0);
    every_order_gives(
        vec![
            z,
            at(op(&kp, "k", "s", ValueKind::String), t(300)),
            at(op(&kp, "k", "s0", ValueKind::String), t(110)),
            z2,
        ],
        (
            ValueKind::SortedSet,
            TypedValue::SortedSet(vec![("n".into(), 2.0)]),
            t(400),
        ),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_submission_of_another_type_is_wrong_type_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), cfg()).await.unwrap();
    let kp = Keypair::generate();
    s.apply(signed(&kp, op(&kp, "k", "v", ValueKind::String)))
        .await
        .unwrap();
    let before = s.state_digest().await.unwrap();
    let mut h = op(&kp, "k", "x", ValueKind::Hash);
    h.field = Some("f".into());
    let e = s.apply(signed(&kp, h)).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::WrongType, "{e}");
    assert_eq!(s.state_digest().await.unwrap(), before);
    assert_eq!(s.log_len().await.unwrap(), 1);
    s.close().await.unwrap();
}

// ------------------------------------------------ issue 15: convergence

/// The keys of `db`, each with its type, value and signer timestamp.
async fn contents(s: &Store, db: &str) -> Vec<(ValueKind, TypedValue, Option<u64>)> {
    let mut found = vec![];
    for kind in [
        ValueKind::String,
        ValueKind::Hash,
        ValueKind::List,
        ValueKind::Set,
        ValueKind::SortedSet,
        ValueKind::Json,
        ValueKind::Stream,
        ValueKind::TimeSeries,
        ValueKind::Geo,
    ] {
        for (_, v, sig) in s.get_all(db, kind).collect_all().await.unwrap() {
            found.push((kind, v, sig.map(|m| m.timestamp_ms)));
        }
    }
    found
}

fn json_at(kp: &Keypair, key: &str, path: Option<&str>, v: &str, ts: u64) -> SignedOperation {
    let mut o = at(op(kp, key, v, ValueKind::Json), ts);
    o.json_path = path.map(str::to_owned);
    signed(kp, o)
}

/// Issue 15.1: a path write with a descendant segment (`$.a..b`, whose
/// missing member cannot be created) was refused in (timestamp, op_id)
/// order and kept newest-first. It selects nothing: recorded, never
/// refused, in either order, and the document is the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_path_write_that_selects_nothing_is_recorded_in_any_order() {
    let kp = Keypair::generate();
    let t = 1_700_000_000_000;
    let root = json_at(&kp, "k", None, r#"{"x":1}"#, t);
    let desc = json_at(&kp, "k", Some("$.a..b"), r#"{"b":3}"#, t + 1);
    let mut digests = vec![];
    for (order, one_call) in [
        (vec![&root, &desc], false),
        (vec![&desc, &root], false),
        (vec![&root, &desc], true),
        (vec![&desc, &root], true),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), cfg()).await.unwrap();
        let ops: Vec<SignedOperation> = order.into_iter().cloned().collect();
        let out = if one_call {
            s.apply_replicated(ops).await.unwrap()
        } else {
            let mut out = vec![];
            for o in ops {
                out.extend(s.apply_replicated(vec![o]).await.unwrap());
            }
            out
        };
        assert!(
            out.iter().all(|o| !matches!(o, Outcome::Rejected(_))),
            "{out:?}"
        );
        assert_eq!(s.log_len().await.unwrap(), 2);
        assert_eq!(
            s.json_get(&format!("{}:k", db(&kp)), None).await.unwrap(),
            Some(json!({"x": 1}))
        );
        digests.push(s.state_digest().await.unwrap());
        s.close().await.unwrap();
    }
    assert!(digests.windows(2).all(|w| w[0] == w[1]), "{digests:?}");

    // A new submission that selects nothing is refused, as before, and a
    // descendant path that selects something is applied.
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), cfg()).await.unwrap();
    let mut r = op(&kp, "k", r#"{"x":{"b":1}}"#, ValueKind::Json);
    r.op_id = format!("0-{}", r.op_id);
    s.apply(signed(&kp, r)).await.unwrap();
    let mut p = op(&kp, "k", "7", ValueKind::Json);
    p.json_path = Some("$.a..b".into());
    let e = s.apply_many(vec![signed(&kp, p)]).await.unwrap();
    assert!(
        matches!(&e[0], Outcome::Rejected(e) if e.code() == ErrorCode::InvalidArgument),
        "{e:?}"
    );
    let mut p = op(&kp, "k", "7", ValueKind::Json);
    p.json_path = Some("$..b".into());
    assert!(s.apply(signed(&kp, p)).await.unwrap().is_applied());
    assert_eq!(
        s.json_get(&format!("{}:k", db(&kp)), None).await.unwrap(),
        Some(json!({"x": {"b": 7}}))
    );
    s.close().await.unwrap();
}

/// Issue 15.2: an older op of another type (z) and a Json op (r) of one
/// key in one call: z's rebuild was computed from a log without r and
/// deleted the document. Every order, in one call and one at a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_rebuild_in_one_batch_sees_the_ops_before_it() {
    let kp = Keypair::generate();
    let t = 1_700_000_000_000;
    let mut z = at(op(&kp, "k", "f0", ValueKind::SortedSet), t);
    z.score = Some(1.0);
    let z = signed(&kp, z);
    let r = json_at(&kp, "k", None, r#"{"a":1,"b":{"c":null}}"#, t + 10);
    let p = json_at(&kp, "k", Some("$.arr"), r#"{"c":{"b":0}}"#, t + 11);
    let want = vec![(
        ValueKind::Json,
        TypedValue::Json(json!({"a": 1, "b": {"c": null}, "arr": {"c": {"b": 0}}})),
        Some(t + 11),
    )];
    let all = [z, r, p];
    for order in [
        [2, 1, 0],
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
    ] {
        for one_call in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let s = Store::open(dir.path(), cfg()).await.unwrap();
            let ops: Vec<SignedOperation> = order.iter().map(|&i| all[i].clone()).collect();
            if one_call {
                let out = s.apply_replicated(ops).await.unwrap();
                assert!(out.iter().all(|o| !matches!(o, Outcome::Rejected(_))));
            } else {
                for o in ops {
                    s.apply_replicated(vec![o]).await.unwrap();
                }
            }
            assert_eq!(
                contents(&s, &db(&kp)).await,
                want,
                "{order:?} one call: {one_call}"
            );
            s.close().await.unwrap();
        }
    }
}

/// Issue 15.3: two older Json ops arriving concurrently were each replayed
/// from a log without the other; the first write left marker, epoch and
/// document hash unchanged, so the stale second passed the writer's check.
/// The key's operation count catches it. Not timing-based: whatever the
/// interleaving, the document must be the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_older_json_ops_give_the_document_of_their_order() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path(), cfg()).await.unwrap();
    let kp = Keypair::generate();
    let t = 1_700_000_000_000;
    for i in 0..30 {
        let key = format!("doc{i}");
        let at_ts = |path: Option<&str>, v: &str, d: u64| {
            let mut o = json_at(&kp, &key, path, v, t + d);
            o.op_id = format!("op{i}-{d}");
            signed(&kp, o)
        };
        s.apply_replicated(vec![at_ts(None, "{}", 1), at_ts(Some("$.c"), "1", 5)])
            .await
            .unwrap();
        let (a, b) = (at_ts(None, r#"{"a":{}}"#, 2), at_ts(Some("$.a.b"), "1", 3));
        let (s1, s2) = (s.clone(), s.clone());
        let (ra, rb) = tokio::join!(
            tokio::spawn(async move { s1.apply_replicated(vec![a]).await }),
            tokio::spawn(async move { s2.apply_replicated(vec![b]).await }),
        );
        for r in [ra, rb] {
            let out = r.unwrap().unwrap();
            assert!(!matches!(out[0], Outcome::Rejected(_)), "{out:?}");
        }
        assert_eq!(
            s.json_get(&format!("{}:{key}", db(&kp)), None)
                .await
                .unwrap(),
            Some(json!({"a": {"b": 1}, "c": 1})),
            "try {i}"
        );
    }
    s.close().await.unwrap();
}

/// Issue 15.4: an operation is identified by (signer, op_id). Two owners'
/// operations with the same op_id and timestamp are both applied, in
/// either order; the same signer's op_id again is a duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn op_ids_are_scoped_to_their_signer() {
    let (a, b) = (Keypair::generate(), Keypair::generate());
    let now = SignedOperation::new("x", "k", "v", ValueKind::String).timestamp;
    let mk = |kp: &Keypair, v: &str| {
        let mut o = op(kp, "k", v, ValueKind::String);
        o.timestamp = now;
        o.op_id = "same-op-id".into();
        signed(kp, o)
    };
    let (oa, ob) = (mk(&a, "from a"), mk(&b, "from b"));
    let mut digests = vec![];
    for order in [[&oa, &ob], [&ob, &oa]] {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), cfg()).await.unwrap();
        let out = s
            .apply_many(order.iter().map(|o| (*o).clone()).collect())
            .await
            .unwrap();
        assert!(out.iter().all(Outcome::is_applied), "{out:?}");
        // replays of either are duplicates, in both kinds of call
        let again = s
            .apply_replicated(vec![oa.clone(), ob.clone()])
            .await
            .unwrap();
        assert_eq!(again, [Outcome::Duplicate, Outcome::Duplicate]);
        // the same signer reusing its op_id: a duplicate (its own choice)
        let again = s.apply_many(vec![mk(&a, "other")]).await.unwrap();
        assert_eq!(again, [Outcome::Duplicate]);
        assert_eq!(s.log_len().await.unwrap(), 2);
        assert_eq!(s.ops_since(0).collect_all().await.unwrap().len(), 2);
        assert_eq!(
            s.get(&format!("{}:k", db(&a))).await.unwrap().as_deref(),
            Some("from a")
        );
        assert_eq!(
            s.get(&format!("{}:k", db(&b))).await.unwrap().as_deref(),
            Some("from b")
        );
        digests.push(s.state_digest().await.unwrap());
        s.close().await.unwrap();
    }
    assert_eq!(digests[0], digests[1]);
}
