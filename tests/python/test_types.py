"""The nine types with redis-py's shapes, TTLs, filters and get_all."""

from __future__ import annotations

import datetime

import pytest

import cyberfly_store
from cyberfly_store import Store

# Each test taking `store` runs over Store and BlockingStore (conftest.py).
BOTH_CLIENTS = True


async def test_hash(store: Store) -> None:
    assert await store.hset("db:h", "a", "1") == 1
    assert await store.hset("db:h", "a", "2") == 0
    assert await store.hset_many("db:h", {"b": "3", "c": "4"}) == 2
    assert await store.hget("db:h", "a") == "2"
    assert await store.hget("db:h", "zz") is None
    assert await store.hget("db:none", "a") is None
    assert await store.hgetall("db:h") == {"a": "2", "b": "3", "c": "4"}
    assert await store.hgetall("db:none") == {}
    assert await store.hlen("db:h") == 3
    assert await store.hdel("db:h", "a", "b", "zz") == 2
    with pytest.raises(cyberfly_store.InvalidArgument):  # as Redis: no fields, an error
        await store.hdel("db:h")
    assert await store.hgetall("db:h") == {"c": "4"}
    assert await store.key_type("db:h") == "hash"


async def test_list(store: Store) -> None:
    assert await store.rpush("db:l", "a", "b") == 2
    assert await store.lpush("db:l", "x", "y") == 4
    assert await store.lrange("db:l", 0, -1) == ["y", "x", "a", "b"]
    assert await store.lrange("db:l", 1, 2) == ["x", "a"]
    assert await store.lrange("db:l", -2, -1) == ["a", "b"]
    assert await store.lrange("db:none", 0, -1) == []
    assert await store.llen("db:l") == 4
    assert await store.key_type("db:l") == "list"


async def test_set(store: Store) -> None:
    assert await store.sadd("db:s", "a", "b", "a") == 2
    assert await store.sadd("db:s", "c") == 1
    assert await store.smembers("db:s") == {"a", "b", "c"}
    assert isinstance(await store.smembers("db:s"), set)
    assert await store.sismember("db:s", "a") is True
    assert await store.sismember("db:s", "z") is False
    assert await store.srem("db:s", "a", "z") == 1
    assert await store.scard("db:s") == 2
    assert await store.smembers("db:none") == set()


async def test_sorted_set(store: Store) -> None:
    assert await store.zadd("db:z", {"a": 1.0, "b": 2, "c": 3.5}) == 3
    assert await store.zadd("db:z", {"a": 5.0}) == 0
    assert await store.zrange("db:z", 0, -1) == ["b", "c", "a"]
    assert await store.zrange("db:z", 0, 1, withscores=True) == [("b", 2.0), ("c", 3.5)]
    assert await store.zrangebyscore("db:z", 2, 4) == ["b", "c"]
    assert await store.zrangebyscore("db:z", 2, 4, withscores=True) == [("b", 2.0), ("c", 3.5)]
    assert await store.zscore("db:z", "a") == 5.0
    assert await store.zscore("db:z", "zz") is None
    assert await store.zcard("db:z") == 3
    assert await store.zrem("db:z", "a", "zz") == 1
    assert await store.zcard("db:z") == 2
    with pytest.raises(cyberfly_store.InvalidArgument):
        await store.zadd("db:z", {"n": float("nan")})
    with pytest.raises(TypeError):
        await store.zadd("db:z", [("a", 1.0)])  # type: ignore[call-overload]
    with pytest.raises(TypeError):
        await store.zadd("db:z", {"a": "x"})  # type: ignore[dict-item]


async def test_json(store: Store) -> None:
    doc = {"name": "n", "n": 1, "f": 1.5, "ok": True, "none": None, "items": [{"p": 5}, {"p": 20}]}
    await store.json_set("db:j", doc)
    assert await store.json_get("db:j") == doc
    assert await store.json_get("db:j", "$.name") == ["n"]
    await store.json_set("db:j", 42, "$.n")
    assert (await store.json_get("db:j"))["n"] == 42
    assert await store.json_filter("db:j", "$.items[?@.p < 10]") == [{"p": 5}]
    assert await store.json_get("db:none") is None
    assert await store.json_filter("db:none", "$.x") == []
    await store.json_set("db:j2", [1, "two", (3, 4)])
    assert await store.json_get("db:j2") == [1, "two", [3, 4]]
    with pytest.raises(cyberfly_store.InvalidArgument):
        await store.json_set("db:j", 1, "$[")
    with pytest.raises(cyberfly_store.InvalidArgument):
        await store.json_set("db:new", 1, "$.a")
    with pytest.raises(cyberfly_store.InvalidArgument):
        await store.json_set("db:j", float("inf"))
    with pytest.raises(TypeError):
        await store.json_set("db:j", {1, 2})
    assert await store.key_type("db:j") == "json"


async def test_stream(store: Store) -> None:
    i1 = await store.xadd("db:x", {"a": "1"})
    i2 = await store.xadd("db:x", {"b": "2", "c": "3"})
    assert i1 < i2 or int(i1.split("-")[0]) <= int(i2.split("-")[0])
    i3 = await store.xadd("db:x", [("d", "4")], id="99999999999999-1")
    assert i3 == "99999999999999-1"
    assert await store.xlen("db:x") == 3
    entries = await store.xrange("db:x")
    assert entries == [(i1, {"a": "1"}), (i2, {"b": "2", "c": "3"}), (i3, {"d": "4"})]
    assert await store.xrange("db:x", count=1) == [(i1, {"a": "1"})]
    assert await store.xrange("db:x", start=i2, end=i2) == [(i2, {"b": "2", "c": "3"})]
    assert await store.xrevrange("db:x", count=2) == [(i3, {"d": "4"}), (i2, {"b": "2", "c": "3"})]
    assert await store.xrevrange("db:x", "+", i3) == [(i3, {"d": "4"})]
    with pytest.raises(cyberfly_store.InvalidArgument):
        await store.xadd("db:x", {"e": "5"}, id="1-1")  # not greater than the last id
    with pytest.raises(cyberfly_store.InvalidArgument):
        await store.xadd("db:x", {})


async def test_timeseries(store: Store) -> None:
    assert await store.ts_add("db:t", 1000, 1.5) == 1000
    await store.ts_add("db:t", 2000, 2)
    await store.ts_add("db:t", 3000, -3.25)
    assert await store.ts_range("db:t", 0, 2500) == [(1000, 1.5), (2000, 2.0)]
    assert await store.ts_range("db:t", 0, 10_000) == [(1000, 1.5), (2000, 2.0), (3000, -3.25)]
    assert await store.ts_get("db:t") == (3000, -3.25)
    assert await store.ts_get("db:none") is None
    with pytest.raises(cyberfly_store.InvalidArgument):
        await store.ts_add("db:t", 4000, float("nan"))


async def test_geo(store: Store) -> None:
    assert await store.geoadd("db:g", 13.361389, 38.115556, "Palermo") == 1
    assert await store.geoadd("db:g", 15.087269, 37.502669, "Catania") == 1
    assert await store.geoadd("db:g", 15.087269, 37.502669, "Catania") == 0
    pos = await store.geopos("db:g", "Palermo", "Nowhere")
    assert pos[1] is None
    assert pos[0] == pytest.approx((13.361389, 38.115556))
    d = await store.geodist("db:g", "Palermo", "Catania", unit="km")
    assert d == pytest.approx(166.27, abs=0.5)
    assert await store.geodist("db:g", "Palermo", "Nowhere") is None
    assert sorted(await store.georadius("db:g", 15, 37, 200, unit="km")) == ["Catania", "Palermo"]
    near = await store.georadius("db:g", 15, 37, 200, unit="km", withdist=True, sort="ASC")
    assert [r[0] for r in near] == ["Catania", "Palermo"]
    assert near[0][1] < near[1][1]
    one = await store.georadius("db:g", 15, 37, 200, "km", withcoord=True, count=1, sort="ASC")
    assert one[0][0] == "Catania" and one[0][1] == pytest.approx((15.087269, 37.502669))
    far = await store.georadius("db:g", 15, 37, 200, "km", withdist=True, withcoord=True, sort="DESC")
    assert far[0][0] == "Palermo" and len(far[0]) == 3
    assert await store.georadiusbymember("db:g", "Palermo", 100, unit="km") == ["Palermo"]
    # as Redis: commands with no elements are refused and change nothing
    for call in (store.sadd, store.srem, store.rpush, store.lpush, store.hdel, store.zrem):
        with pytest.raises(cyberfly_store.InvalidArgument):
            await call("db:empty")
    assert await store.exists("db:empty") is False
    # as Redis: a member not in the set is an error, a key not there is empty
    with pytest.raises(cyberfly_store.InvalidArgument):
        await store.georadiusbymember("db:g", "Nowhere", 100)
    assert await store.georadiusbymember("db:nogeo", "Palermo", 100) == []
    # as Redis: a count with no sort keeps the nearest, and must be > 0
    assert await store.georadius("db:g", 15, 37, 200, "km", count=1) == ["Catania"]
    with pytest.raises(cyberfly_store.InvalidArgument):
        await store.georadius("db:g", 15, 37, 200, "km", count=0)
    with pytest.raises(cyberfly_store.InvalidArgument):
        await store.geoadd("db:g", 200, 0, "bad")
    with pytest.raises(cyberfly_store.InvalidArgument):
        await store.geodist("db:g", "a", "b", unit="yards")
    with pytest.raises(cyberfly_store.InvalidArgument):
        await store.georadius("db:g", 15, 37, 1, sort="UP")


async def test_ttl(store: Store) -> None:
    await store.set("db:a", "1")
    assert await store.ttl("db:a") == -1
    assert await store.ttl("db:none") == -2
    assert await store.expire("db:a", 100) is True
    assert 99 <= await store.ttl("db:a") <= 100
    assert 98_000 < await store.pttl("db:a") <= 100_000
    assert await store.persist("db:a") is True
    assert await store.persist("db:a") is False
    assert await store.ttl("db:a") == -1
    assert await store.expire("db:none", 10) is False
    await store.sadd("db:s", "x")
    assert await store.expire("db:s", 0) is True
    assert await store.smembers("db:s") == set()
    assert await store.exists("db:s") is False
    assert await store.key_type("db:s") is None


async def test_filters(store: Store) -> None:
    await store.hset_many("db:h", {"apple": "1", "banana": "2", "pineapple": "3"})
    assert await store.filter_hash("db:h", "apple") == [("apple", "1"), ("pineapple", "3")]
    await store.rpush("db:l", "red", "green", "reed")
    assert await store.filter_list("db:l", "re") == ["red", "green", "reed"]
    assert [x async for x in store.filter_list("db:l", "ee")] == ["green", "reed"]
    await store.sadd("db:s", "alpha", "beta", "alphabet")
    assert sorted(await store.filter_set("db:s", "alpha")) == ["alpha", "alphabet"]
    await store.zadd("db:z", {"a": 1, "b": 2, "c": 3})
    assert await store.filter_sorted_set("db:z", 1.5, 3) == [("b", 2.0), ("c", 3.0)]
    i1 = await store.xadd("db:x", {"t": "hot"}, id="1-1")
    await store.xadd("db:x", {"t": "cold"}, id="2-1")
    assert await store.filter_stream("db:x", pattern="hot") == [(i1, {"t": "hot"})]
    assert len(await store.filter_stream("db:x")) == 2
    for t, v in [(1, 1.0), (2, 5.0), (3, 9.0)]:
        await store.ts_add("db:t", t, v)
    assert await store.filter_timeseries("db:t", 0, 10, 2, 9) == [(2, 5.0), (3, 9.0)]
    assert await store.filter_timeseries("db:t", 2, 2) == [(2, 5.0)]
    with pytest.raises(cyberfly_store.InvalidArgument):
        store.filter_sorted_set("db:z", float("nan"), 1)
    with pytest.raises(cyberfly_store.InvalidArgument):
        store.filter_stream("db:x", start="bad")


async def test_get_all(store: Store) -> None:
    await store.set("db1:a", "1")
    await store.set("db1:b", "2")
    await store.set("db2:c", "3")
    await store.hset("db1:h", "f", "v")
    await store.sadd("db1:s", "m")
    await store.zadd("db1:z", {"m": 1})
    await store.json_set("db1:j", {"k": [1]})
    await store.xadd("db1:x", {"f": "v"}, id="5-1")
    await store.ts_add("db1:t", 7, 0.5)
    await store.geoadd("db1:g", 1.0, 2.0, "p")
    await store.rpush("db1:l", "i")
    assert await store.get_all("db1", "string") == [("db1:a", "1", None), ("db1:b", "2", None)]
    assert await store.get_all("db1", "hash") == [("db1:h", {"f": "v"}, None)]
    assert await store.get_all("db1", "list") == [("db1:l", ["i"], None)]
    assert await store.get_all("db1", "set") == [("db1:s", {"m"}, None)]
    assert await store.get_all("db1", "sorted_set") == [("db1:z", [("m", 1.0)], None)]
    assert await store.get_all("db1", "json") == [("db1:j", {"k": [1]}, None)]
    assert await store.get_all("db1", "stream") == [("db1:x", [("5-1", {"f": "v"})], None)]
    assert await store.get_all("db1", "timeseries") == [("db1:t", [(7, 0.5)], None)]
    rows = await store.get_all("db1", "geo")
    assert rows[0][0] == "db1:g" and rows[0][1][0][0] == "p"
    assert [r async for r in store.get_all("db2", "string")] == [("db2:c", "3", None)]
    with pytest.raises(cyberfly_store.InvalidArgument):
        store.get_all("db1", "blob")


async def test_wrong_type(store: Store) -> None:
    await store.set("db:str", "v")
    await store.hset("db:h", "f", "v")
    for call in (
        lambda: store.hget("db:str", "f"),
        lambda: store.rpush("db:str", "x"),
        lambda: store.sadd("db:h", "x"),
        lambda: store.zadd("db:h", {"x": 1}),
        lambda: store.xadd("db:h", {"x": "1"}),
        lambda: store.ts_add("db:h", 1, 1),
        lambda: store.geoadd("db:h", 1, 1, "x"),
        lambda: store.json_get("db:h"),
        lambda: store.get("db:h"),
    ):
        with pytest.raises(cyberfly_store.WrongType) as e:
            await call()
        assert e.value.code == 7


async def test_redis_py_shapes_of_times_and_arguments(store: Store) -> None:
    """Issue 19: times as redis-py takes them (int, timedelta, datetime);
    bad shapes are typed errors and change nothing."""
    now = datetime.datetime.now(datetime.timezone.utc)
    assert await store.set("db:a", "v", ex=datetime.timedelta(seconds=100)) is None
    assert await store.ttl("db:a") == 100
    assert await store.set("db:a", "v", px=datetime.timedelta(seconds=50), xx=True) is True
    assert await store.ttl("db:a") == 50
    assert await store.set("db:a", "w", exat=now + datetime.timedelta(seconds=200), get=True) == "v"
    assert 199 <= await store.ttl("db:a") <= 200
    assert await store.expire("db:a", datetime.timedelta(seconds=30)) is True
    assert await store.ttl("db:a") == 30
    assert await store.pexpire("db:a", 40_000) is True
    assert await store.ttl("db:a") == 40
    with pytest.raises(TypeError):
        await store.expire("db:a", 1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await store.set("db:a", "x", ex="1")  # type: ignore[arg-type]
    assert await store.get("db:a") == "w"
    # hset: a field needs its value; nothing to set is refused
    with pytest.raises(TypeError):
        await store.hset("db:h", "f")
    with pytest.raises(cyberfly_store.InvalidArgument):
        await store.hset("db:h")
    assert await store.exists("db:h") is False
    assert await store.hset("db:h", "f", "v", mapping={"f": "w", "g": "x"}) == 2
    assert await store.hgetall("db:h") == {"f": "w", "g": "x"}
    # zrange: ranks are ints, bounds are numbers or Redis's text
    await store.zadd("db:z", {"a": 1, "b": 2})
    with pytest.raises(TypeError):
        await store.zrange("db:z", "0", 1)
    with pytest.raises(cyberfly_store.InvalidArgument):
        await store.zrangebyscore("db:z", "(x", 2)
    with pytest.raises(cyberfly_store.InvalidArgument):
        await store.zrangebyscore("db:z", float("nan"), 2)
    assert await store.zrange("db:z", "(1", "+inf", byscore=True) == ["b"]
    assert await store.zadd("db:z", {"a": 2.5}, incr=True) == 3.5
    assert await store.type("db:z") == "zset"
    assert await store.type("db:none") == "none"
    await store.json_set("db:j", {"x": 1})
    assert (await store.type("db:j"), await store.key_type("db:j")) == ("ReJSON-RL", "json")
