//! Every type round-trips through its codec after close and reopen, and
//! after cache eviction (tiny cache), with arbitrary contents: unicode,
//! empty strings, large and empty containers. (The Cyberfly node lost its
//! Json values this way.)

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use cyberfly_store::{Config, Store};
use proptest::prelude::*;
use serde_json::Value;

fn cfg() -> Config {
    Config::builder()
        .hot_cache_bytes(0)
        .warm_cache_bytes(1)
        .inline_threshold(512)
        .sweep_interval(Duration::ZERO)
        .gc_interval(Duration::ZERO)
        .scan_page_size(7)
        .build()
        .unwrap()
}

#[path = "support/rt.rs"]
mod support_rt;
use support_rt::rt;

/// Write with `w`, then check with `r` on the open store and again after a
/// close and reopen.
fn check<W, R>(w: W, r: R)
where
    W: AsyncFnOnce(&Store),
    R: AsyncFn(&Store),
{
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let s = Store::open(dir.path(), cfg()).await.unwrap();
        w(&s).await;
        r(&s).await;
        r(&s).await; // second read: whatever the cache holds
        s.close().await.unwrap();
        let s = Store::open(dir.path(), cfg()).await.unwrap();
        r(&s).await;
        s.close().await.unwrap();
    });
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => any::<String>(),
        1 => Just(String::new()),
        1 => (any::<char>(), 500usize..3000).prop_map(|(c, n)| std::iter::repeat_n(c, n).collect()),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e15f64..1e15).prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, .. ProptestConfig::default() })]

    #[test]
    fn string_round_trips(v in text()) {
        check(async |s: &Store| s.set("k", v.clone()).await.unwrap(),
              async |s: &Store| assert_eq!(s.get("k").await.unwrap().as_deref(), Some(v.as_str())));
    }

    #[test]
    fn hash_round_trips(m in prop::collection::btree_map(text(), text(), 0..40)) {
        check(async |s: &Store| { if !m.is_empty() { s.hset_many("k", m.clone()).await.unwrap(); } },
              async |s: &Store| {
                  let got: BTreeMap<String, String> = s.hgetall("k").await.unwrap().into_iter().collect();
                  assert_eq!(got, m);
              });
    }

    #[test]
    fn list_round_trips(v in prop::collection::vec(text(), 0..120)) {
        check(async |s: &Store| { if !v.is_empty() { s.rpush("k", v.clone()).await.unwrap(); } },
              async |s: &Store| assert_eq!(s.lrange("k", 0, -1).await.unwrap(), v));
    }

    #[test]
    fn set_round_trips(v in prop::collection::btree_set(text(), 0..60)) {
        check(async |s: &Store| { if !v.is_empty() { s.sadd("k", v.clone()).await.unwrap(); } },
              async |s: &Store| {
                  let got: BTreeSet<String> = s.smembers("k").await.unwrap().into_iter().collect();
                  assert_eq!(got, v);
              });
    }

    #[test]
    fn sorted_set_round_trips(m in prop::collection::btree_map("[^{].*", -1e12f64..1e12, 0..60)) {
        check(async |s: &Store| { if !m.is_empty() { s.zadd("k", m.clone()).await.unwrap(); } },
              async |s: &Store| {
                  let got: BTreeMap<String, f64> = s.zrange("k", 0, -1).await.unwrap().into_iter().collect();
                  assert_eq!(got, m);
                  let by_score = s.zrangebyscore("k", f64::NEG_INFINITY, f64::INFINITY).await.unwrap();
                  assert!(by_score.windows(2).all(|w| w[0].1 <= w[1].1));
              });
    }

    #[test]
    fn json_round_trips(v in json_value()) {
        check(async |s: &Store| s.json_set("k", "$", v.clone()).await.unwrap(),
              async |s: &Store| assert_eq!(s.json_get("k", None).await.unwrap(), Some(v.clone())));
    }

    #[test]
    fn stream_round_trips(entries in prop::collection::vec(prop::collection::vec((text(), text()), 1..5), 0..40)) {
        check(async |s: &Store| {
                  for (i, f) in entries.iter().enumerate() {
                      s.xadd("k", &format!("{}-{}", i / 3 + 1, i % 3), f.clone()).await.unwrap();
                  }
              },
              async |s: &Store| {
                  let got = s.xrange("k", "-", "+", None).await.unwrap();
                  assert_eq!(got.len(), entries.len());
                  for (i, (id, f)) in got.iter().enumerate() {
                      assert_eq!(id, &format!("{}-{}", i / 3 + 1, i % 3));
                      assert_eq!(f, &entries[i]);
                  }
              });
    }

    #[test]
    fn timeseries_round_trips(m in prop::collection::btree_map(any::<i64>(), -1e300f64..1e300, 0..80)) {
        check(async |s: &Store| { if !m.is_empty() { s.ts_add_many("k", m.clone()).await.unwrap(); } },
              async |s: &Store| {
                  let got: BTreeMap<i64, f64> = s.ts_range("k", i64::MIN, i64::MAX).await.unwrap().into_iter().collect();
                  assert_eq!(got, m);
                  assert_eq!(s.ts_get("k").await.unwrap(), m.iter().next_back().map(|(a, b)| (*a, *b)));
              });
    }

    #[test]
    fn geo_round_trips(m in prop::collection::btree_map(text(), (-180f64..=180.0, -85f64..=85.0), 0..50)) {
        check(async |s: &Store| {
                  if !m.is_empty() {
                      s.geoadd("k", m.iter().map(|(k, (lo, la))| (*lo, *la, k.clone()))).await.unwrap();
                  }
              },
              async |s: &Store| {
                  let got: BTreeMap<String, (f64, f64)> = s.geo_members("k").await.unwrap()
                      .into_iter().map(|(m, lo, la)| (m, (lo, la))).collect();
                  assert_eq!(got, m);
              });
    }
}
