//! Redis's command options in the core (issue 19, docs/REDIS.md): `SET`
//! with NX/XX/EX/PX/EXAT/PXAT/KEEPTTL/GET, `DEL`/`EXISTS` of many keys,
//! `EXPIRE` with zero or negative times and NX/XX/GT/LT, score bounds and
//! `ZRANGE` options, `ZCOUNT`, `ZADD` flags, exclusive stream ids and the
//! `TYPE` names. Bad input is a typed error and changes nothing.

use std::time::Duration;

use cyberfly_store::{
    now_ms, Config, ErrorCode, ExpireIf, ScoreBound, SetCond, SetExpiry, SetOptions, Store,
    ZRangeBy, ZaddOptions, ZaddReply,
};

async fn open(dir: &tempfile::TempDir) -> Store {
    let cfg = Config::builder()
        .sweep_interval(Duration::ZERO)
        .gc_interval(Duration::ZERO)
        .inline_threshold(64)
        .build()
        .unwrap();
    Store::open(dir.path(), cfg).await.unwrap()
}

fn opts(expiry: SetExpiry, cond: SetCond, get: bool) -> SetOptions {
    SetOptions { expiry, cond, get }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_options_answer_as_redis() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir).await;
    let never = SetExpiry::Never;
    // NX: only when absent; XX: only when present
    let r = s
        .set_with("k", "1", opts(never, SetCond::IfPresent, false))
        .await
        .unwrap();
    assert!(!r.written);
    assert_eq!(s.get("k").await.unwrap(), None);
    let r = s
        .set_with("k", "1", opts(never, SetCond::IfAbsent, false))
        .await
        .unwrap();
    assert!(r.written);
    let r = s
        .set_with("k", "2", opts(never, SetCond::IfAbsent, true))
        .await
        .unwrap();
    assert_eq!((r.written, r.old.as_deref()), (false, Some("1")));
    assert_eq!(s.get("k").await.unwrap().as_deref(), Some("1"));
    // GET answers the old value; a big (blob) value too
    let big = "x".repeat(1000);
    s.set("k", big.clone()).await.unwrap();
    let r = s
        .set_with("k", "3", opts(never, SetCond::Always, true))
        .await
        .unwrap();
    assert_eq!(r.old.as_deref(), Some(big.as_str()));
    // EX, then KEEPTTL keeps it and a plain set drops it
    s.set_with("k", "4", opts(SetExpiry::Ex(100), SetCond::Always, false))
        .await
        .unwrap();
    assert_eq!(s.ttl("k").await.unwrap(), 100);
    s.set_with("k", "5", opts(SetExpiry::KeepTtl, SetCond::Always, false))
        .await
        .unwrap();
    assert_eq!(s.ttl("k").await.unwrap(), 100);
    assert_eq!(s.get("k").await.unwrap().as_deref(), Some("5"));
    s.set_with("k", "6", SetOptions::default()).await.unwrap();
    assert_eq!(s.ttl("k").await.unwrap(), -1);
    // PX, EXAT, PXAT
    s.set_with(
        "k",
        "7",
        opts(SetExpiry::Px(100_000), SetCond::Always, false),
    )
    .await
    .unwrap();
    assert_eq!(s.ttl("k").await.unwrap(), 100);
    let at = (now_ms() / 1000 + 1000) as i64;
    s.set_with("k", "8", opts(SetExpiry::ExAt(at), SetCond::Always, false))
        .await
        .unwrap();
    assert!((999..=1000).contains(&s.ttl("k").await.unwrap()));
    // a time already past: written, and gone at once (as Redis)
    let r = s
        .set_with("k", "9", opts(SetExpiry::PxAt(5), SetCond::Always, true))
        .await
        .unwrap();
    assert_eq!((r.written, r.old.as_deref()), (true, Some("8")));
    assert_eq!(s.get("k").await.unwrap(), None);
    assert!(!s.exists("k").await.unwrap());
    // GET on another type: WrongType, nothing written; without GET the
    // value replaces it
    s.hset("h", "f", "v").await.unwrap();
    let e = s
        .set_with("h", "x", opts(never, SetCond::Always, true))
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::WrongType);
    assert_eq!(s.hget("h", "f").await.unwrap().as_deref(), Some("v"));
    s.set_with("h", "x", SetOptions::default()).await.unwrap();
    assert_eq!(s.get("h").await.unwrap().as_deref(), Some("x"));
    // invalid expire times and option mixes: InvalidArgument, nothing written
    for bad in [
        SetExpiry::Ex(0),
        SetExpiry::Ex(-1),
        SetExpiry::Px(0),
        SetExpiry::ExAt(0),
        SetExpiry::Ex(i64::MAX),
    ] {
        let e = s
            .set_with("n", "v", opts(bad, SetCond::Always, false))
            .await
            .unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidArgument, "{bad:?}");
    }
    assert_eq!(s.get("n").await.unwrap(), None);
    assert!(SetExpiry::from_options(Some(1), Some(1), None, None, false).is_err());
    assert!(SetCond::from_flags(true, true).is_err());
    s.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_and_exists_count_keys() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir).await;
    s.set("a", "1").await.unwrap();
    s.sadd("b", ["m"]).await.unwrap();
    assert_eq!(s.exists_many(&["a", "b", "c", "a"]).await.unwrap(), 3);
    assert_eq!(s.delete_many(&["a", "c", "b", "a"]).await.unwrap(), 2);
    assert_eq!(s.exists_many(&["a", "b"]).await.unwrap(), 0);
    // a bad key fails the call and removes nothing
    s.set("a", "1").await.unwrap();
    let e = s.delete_many(&["a", ""]).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidArgument);
    assert!(s.exists("a").await.unwrap());
    let none: [&str; 0] = [];
    assert!(s.delete_many(&none).await.is_err());
    assert!(s.exists_many(&none).await.is_err());
    s.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expire_follows_redis() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir).await;
    let always = ExpireIf::default();
    let c = |nx, xx, gt, lt| ExpireIf { nx, xx, gt, lt };
    assert!(!s.expire_with("none", 10, always).await.unwrap());
    // zero or negative removes the key, of any type
    s.hset("h", "f", "v").await.unwrap();
    assert!(s.expire_with("h", 0, always).await.unwrap());
    assert!(!s.exists("h").await.unwrap());
    s.set("k", "v").await.unwrap();
    assert!(s.expire_with("k", -5, always).await.unwrap());
    assert_eq!(s.get("k").await.unwrap(), None);
    // NX / XX / GT / LT
    s.set("k", "v").await.unwrap();
    assert!(!s
        .expire_with("k", 100, c(false, true, false, false))
        .await
        .unwrap());
    assert!(!s
        .expire_with("k", 100, c(false, false, true, false))
        .await
        .unwrap());
    assert!(s
        .expire_with("k", 100, c(true, false, false, false))
        .await
        .unwrap());
    assert!(!s
        .expire_with("k", 50, c(true, false, false, false))
        .await
        .unwrap());
    assert!(!s
        .expire_with("k", 50, c(false, false, true, false))
        .await
        .unwrap());
    assert!(s
        .expire_with("k", 200, c(false, true, true, false))
        .await
        .unwrap());
    assert_eq!(s.ttl("k").await.unwrap(), 200);
    assert!(!s
        .expire_with("k", 300, c(false, false, false, true))
        .await
        .unwrap());
    assert!(s
        .expire_with("k", 50, c(false, false, false, true))
        .await
        .unwrap());
    assert_eq!(s.ttl("k").await.unwrap(), 50);
    // a condition that says no keeps the key even for a past time
    assert!(!s
        .expire_with("k", -1, c(true, false, false, false))
        .await
        .unwrap());
    assert!(s.exists("k").await.unwrap());
    // refused combinations and overflow: InvalidArgument, nothing changed
    for bad in [c(true, true, false, false), c(false, false, true, true)] {
        let e = s.expire_with("k", 10, bad).await.unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidArgument);
    }
    let e = s.expire_with("k", i64::MAX, always).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidArgument);
    assert_eq!(s.ttl("k").await.unwrap(), 50);
    assert!(s.pexpire_with("k", 100_000, always).await.unwrap());
    assert_eq!(s.ttl("k").await.unwrap(), 100);
    s.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zset_bounds_ranges_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir).await;
    s.zadd("z", [("a", 1.0), ("b", 2.0), ("c", 3.0), ("d", 3.0)])
        .await
        .unwrap();
    let b = |t: &str| ScoreBound::parse(t).unwrap();
    let names = |v: Vec<(String, f64)>| v.into_iter().map(|(m, _)| m).collect::<Vec<_>>();
    let by = |lo: &str, hi: &str| ZRangeBy::Score(b(lo), b(hi));
    assert_eq!(
        names(
            s.zrange_by("z", by("(1", "+inf"), false, None)
                .await
                .unwrap()
        ),
        ["b", "c", "d"]
    );
    assert_eq!(
        names(
            s.zrange_by("z", by("-inf", "(3"), false, None)
                .await
                .unwrap()
        ),
        ["a", "b"]
    );
    assert_eq!(
        names(
            s.zrange_by("z", by("+inf", "2"), true, Some((1, 1)))
                .await
                .unwrap()
        ),
        ["c"]
    );
    assert_eq!(
        names(
            s.zrange_by("z", by("0", "9"), false, Some((1, -1)))
                .await
                .unwrap()
        ),
        ["b", "c", "d"]
    );
    assert!(s
        .zrange_by("z", by("0", "9"), false, Some((-1, 2)))
        .await
        .unwrap()
        .is_empty());
    assert!(s
        .zrange_by("z", by("3", "1"), false, None)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        names(
            s.zrange_by("z", ZRangeBy::Rank(0, 1), true, None)
                .await
                .unwrap()
        ),
        ["d", "c"]
    );
    assert_eq!(
        names(
            s.zrange_by("z", ZRangeBy::Rank(-1, -1), true, None)
                .await
                .unwrap()
        ),
        ["a"]
    );
    let e = s
        .zrange_by("z", ZRangeBy::Rank(0, 1), false, Some((0, 1)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidArgument);
    assert_eq!(s.zcount("z", b("(1"), b("3")).await.unwrap(), 3);
    // zadd flags
    let o = |f: fn(&mut ZaddOptions)| {
        let mut x = ZaddOptions::default();
        f(&mut x);
        x
    };
    let nx = o(|x| x.nx = true);
    let xx = o(|x| x.xx = true);
    let gt_ch = o(|x| {
        x.gt = true;
        x.ch = true;
    });
    let lt = o(|x| x.lt = true);
    let incr = o(|x| x.incr = true);
    assert_eq!(
        s.zadd_with("z", [("a", 9.0), ("e", 5.0)], nx)
            .await
            .unwrap(),
        ZaddReply::Count(1)
    );
    assert_eq!(s.zscore("z", "a").await.unwrap(), Some(1.0));
    assert_eq!(
        s.zadd_with("z", [("a", 9.0), ("f", 5.0)], xx)
            .await
            .unwrap(),
        ZaddReply::Count(0)
    );
    assert_eq!(s.zscore("z", "a").await.unwrap(), Some(9.0));
    assert_eq!(s.zscore("z", "f").await.unwrap(), None);
    assert_eq!(
        s.zadd_with("z", [("a", 5.0), ("b", 7.0), ("g", 1.0)], gt_ch)
            .await
            .unwrap(),
        ZaddReply::Count(2),
        "b raised and g added; a not lowered"
    );
    assert_eq!(s.zscore("z", "a").await.unwrap(), Some(9.0));
    assert_eq!(
        s.zadd_with("z", [("a", 10.0)], lt).await.unwrap(),
        ZaddReply::Count(0)
    );
    assert_eq!(s.zscore("z", "a").await.unwrap(), Some(9.0));
    assert_eq!(
        s.zadd_with("z", [("a", 1.5)], incr).await.unwrap(),
        ZaddReply::Score(Some(10.5))
    );
    assert_eq!(
        s.zadd_with("z", [("new", 2.0)], incr).await.unwrap(),
        ZaddReply::Score(Some(2.0))
    );
    let incr_nx = o(|x| {
        x.incr = true;
        x.nx = true;
    });
    assert_eq!(
        s.zadd_with("z", [("a", 1.0)], incr_nx).await.unwrap(),
        ZaddReply::Score(None)
    );
    // XX never creates the key
    assert_eq!(
        s.zadd_with("none", [("a", 1.0)], xx).await.unwrap(),
        ZaddReply::Count(0)
    );
    assert!(!s.exists("none").await.unwrap());
    // refused: nothing changes
    let card = s.zcard("z").await.unwrap();
    let both = o(|x| {
        x.nx = true;
        x.xx = true;
    });
    for (items, opts) in [
        (vec![("q", 1.0)], both),
        (vec![("q", 1.0), ("r", 2.0)], incr),
        (vec![], ZaddOptions::default()),
        (vec![("q", f64::INFINITY)], ZaddOptions::default()),
    ] {
        let e = s.zadd_with("z", items, opts).await.unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidArgument);
    }
    s.zadd("z", [("big", f64::MAX)]).await.unwrap();
    let card = card + 1;
    let e = s
        .zadd_with("z", [("big", f64::MAX)], incr)
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidArgument, "an infinite sum");
    assert_eq!(s.zcard("z").await.unwrap(), card);
    assert_eq!(s.zscore("z", "a").await.unwrap(), Some(10.5));
    s.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclusive_stream_ids_and_type_names() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir).await;
    for id in ["1-0", "1-1", "2-0", "3-5"] {
        s.xadd("x", id, [("f", "v")]).await.unwrap();
    }
    let ids = |v: Vec<cyberfly_store::StreamEntry>| v.into_iter().map(|e| e.0).collect::<Vec<_>>();
    assert_eq!(
        ids(s.xrange("x", "(1-0", "(3-5", None).await.unwrap()),
        ["1-1", "2-0"]
    );
    assert_eq!(
        ids(s.xrange("x", "(1", "+", None).await.unwrap()),
        ["1-1", "2-0", "3-5"]
    );
    // `(3` as an end is before 3-max: 3-5 is in (as Redis)
    assert_eq!(
        ids(s.xrevrange("x", "(3", "-", Some(1)).await.unwrap()),
        ["3-5"]
    );
    assert_eq!(
        ids(s.xrevrange("x", "(3-0", "-", Some(1)).await.unwrap()),
        ["2-0"]
    );
    assert!(s.xrange("x", "(-", "+", None).await.is_err());
    assert_eq!(s.redis_type("x").await.unwrap(), "stream");
    assert_eq!(s.redis_type("nothing").await.unwrap(), "none");
    s.zadd("z", [("a", 1.0)]).await.unwrap();
    assert_eq!(s.redis_type("z").await.unwrap(), "zset");
    s.set("s", "v").await.unwrap();
    assert_eq!(s.redis_type("s").await.unwrap(), "string");
    s.close().await.unwrap();
}
