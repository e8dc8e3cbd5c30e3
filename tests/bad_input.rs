//! The bad-input matrix (docs/RELIABILITY.md), Rust column: every row gives
//! its typed error, and the digest of the store's whole state is the same
//! before and after.

use std::time::Duration;

use cyberfly_store::Keypair;
use cyberfly_store::{Config, ContentHash, ErrorCode, GeoUnit, RadiusOpts, Store, ValueKind};
use cyberfly_store::{Outcome, SignedOperation};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_is_typed_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let c = Config::builder()
        .max_key_len(128)
        .max_value_len(10_000)
        .sweep_interval(Duration::ZERO)
        .gc_interval(Duration::ZERO)
        .build()
        .unwrap();
    let s = Store::open(dir.path(), c).await.unwrap();
    let kp = Keypair::generate();
    let db = format!("db-{}", kp.public_key_hex());
    // some state of every kind
    s.set("str", "v").await.unwrap();
    s.rpush("list", ["a"]).await.unwrap();
    s.zadd("z", [("m", 1.0)]).await.unwrap();
    s.json_set("j", "$", json!({"a": 1})).await.unwrap();
    s.xadd("x", "5-0", [("f", "v")]).await.unwrap();
    s.geoadd("g", [(1.0, 1.0, "m")]).await.unwrap();
    let mut good = SignedOperation::new(&db, "k", "v", ValueKind::String);
    good.sign(&kp);
    s.apply(good.clone()).await.unwrap();
    let before = s.state_digest().await.unwrap();

    let code = |r: cyberfly_store::Error| r.code();
    use ErrorCode::*;
    let mut rows: Vec<(&str, ErrorCode, ErrorCode)> = Vec::new();
    macro_rules! row {
        ($name:expr, $expect:expr, $call:expr) => {
            let got = code($call.await.map(|_| ()).expect_err($name));
            rows.push(($name, $expect, got));
        };
    }
    row!("empty key", InvalidArgument, s.set("", "v"));
    row!("over-long key", KeyTooLong, s.set(&"k".repeat(129), "v"));
    row!(
        "value over the maximum",
        ValueTooLarge,
        s.set("k", "v".repeat(10_001))
    );
    row!(
        "blob over the maximum",
        ValueTooLarge,
        s.add_blob(vec![0u8; 10_001])
    );
    row!("malformed hex hash", InvalidArgument, async {
        ContentHash::from_hex("xyz")
    });
    row!("NaN score", InvalidArgument, s.zadd("z", [("m", f64::NAN)]));
    row!(
        "infinite score",
        InvalidArgument,
        s.zadd("z", [("m", f64::INFINITY)])
    );
    row!(
        "NaN time-series value",
        InvalidArgument,
        s.ts_add("t", 1, f64::NAN)
    );
    row!(
        "longitude out of range",
        InvalidArgument,
        s.geoadd("g", [(180.5, 0.0, "m")])
    );
    row!(
        "latitude out of range",
        InvalidArgument,
        s.geoadd("g", [(0.0, 86.0, "m")])
    );
    row!(
        "radius query out of range",
        InvalidArgument,
        s.georadius("g", 0.0, 91.0, 1.0, GeoUnit::M, RadiusOpts::default())
    );
    row!(
        "invalid JSONPath",
        InvalidArgument,
        s.json_get("j", Some("$[?"))
    );
    // found by the jsonpath fuzz target: serde_json_path panicked on it
    row!(
        "JSONPath ending inside a \\u escape",
        InvalidArgument,
        s.json_get("j", Some("$['\\u"))
    );
    row!(
        "malformed stream id",
        InvalidArgument,
        s.xadd("x", "1-x", [("f", "v")])
    );
    row!(
        "stream id not increasing",
        InvalidArgument,
        s.xadd("x", "4-0", [("f", "v")])
    );
    row!("wrong-type operation", WrongType, s.hset("list", "f", "v"));
    let mut o = good.clone();
    o.public_key = "zz".repeat(32);
    row!("malformed hex public key", InvalidArgument, s.apply(o));
    let mut o = good.clone();
    o.public_key.truncate(62);
    row!("wrong-length public key", InvalidArgument, s.apply(o));
    let mut o = good.clone();
    o.signature.push_str("00");
    row!("wrong-length signature", InvalidArgument, s.apply(o));
    let mut o = good.clone();
    o.op_id = "forged".into();
    row!("forged signature", InvalidSignature, s.apply(o));
    let other = Keypair::generate();
    let mut o = SignedOperation::new(&db, "k", "x", ValueKind::String);
    o.sign(&other);
    row!("wrong owner", NotOwner, s.apply(o));
    let mut o = SignedOperation::new(&db, "k", "x", ValueKind::String);
    o.timestamp -= 2 * 3_600_000;
    o.sign(&kp);
    row!("stale timestamp", Stale, s.apply(o));
    let mut o = SignedOperation::new(&db, "jp", "1", ValueKind::Json);
    o.json_path = Some("$['\\u".into());
    o.sign(&kp);
    row!(
        "signed op with a JSONPath ending inside a \\u escape",
        InvalidArgument,
        s.apply(o)
    );
    row!("invalid signed-op JSON", InvalidArgument, async {
        SignedOperation::from_json("{\"op_id\":")
    });
    // a replayed op_id is an outcome, not an error, and changes nothing
    assert_eq!(s.apply(good.clone()).await.unwrap(), Outcome::Duplicate);

    for (name, expect, got) in &rows {
        assert_eq!(expect, got, "{name}");
    }
    assert_eq!(s.state_digest().await.unwrap(), before);
    s.close().await.unwrap();
    row!("use after close", Closed, s.get("str"));
    row!("use after close (write)", Closed, s.set("str", "x"));
    let (name, expect, got) = rows.last().unwrap();
    assert_eq!(expect, got, "{name}");
    let s = Store::open(dir.path(), Config::default()).await.unwrap();
    assert_eq!(s.state_digest().await.unwrap(), before);
    s.close().await.unwrap();
}
