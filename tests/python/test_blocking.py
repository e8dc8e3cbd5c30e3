"""The blocking client (`open_blocking`, `BlockingStore`) and the asyncio
idioms of issue 20: no event loop anywhere in the tests of the blocking
client (plain `def` tests), the same exception classes, the same method
surface as `Store`; `asyncio.run(open(p))`, `asyncio.run(store.close())`,
and an async method called with no running loop (`NoEventLoop`).

The method families also run through BlockingStore in test_strings.py,
test_types.py, test_signed.py and test_bad_input.py (``BOTH_CLIENTS``,
conftest.py)."""

from __future__ import annotations

import asyncio
import gc
import inspect
import os
import pathlib
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, cast

import pytest

import cyberfly_store
from cyberfly_store import BlockingCursor, BlockingStore, Keypair, SignedOperation, Store


@pytest.fixture
def bstore(store_path: pathlib.Path) -> Iterator[BlockingStore]:
    with cyberfly_store.open_blocking(store_path, durability="none", sweep_interval=0) as s:
        yield s


def _public(cls: type) -> set[str]:
    return {n for n in dir(cls) if not n.startswith("__")}


def test_same_methods_as_store() -> None:
    # (`store`: the async Store a BlockingStore blocks on)
    assert _public(BlockingStore) - {"store"} == _public(Store)
    assert hasattr(Store, "__aenter__") and hasattr(BlockingStore, "__enter__")
    assert hasattr(Store, "__aexit__") and hasattr(BlockingStore, "__exit__")


def test_every_method_has_a_docstring() -> None:
    for name in _public(BlockingStore):
        assert inspect.getdoc(getattr(BlockingStore, name)), name


def test_no_event_loop_values_not_awaitables(bstore: BlockingStore) -> None:
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()
    assert bstore.set("db:a", "1") is None
    assert bstore.get("db:a") == "1"  # a cache hit: the value itself
    assert bstore.get("db:none") is None
    assert bstore.set("db:a", "2", nx=True) is None
    assert bstore.set("db:a", "3", get=True) == "1"
    assert bstore.exists("db:a") == 1 and bstore.exists("db:a", "db:none", "db:a") == 2
    bstore.set_many({"db:b": "x", "db:c": "y"})
    assert bstore.get_many(["db:b", "db:none", "db:c"]) == ["x", None, "y"]
    assert bstore.delete("db:b") == 1 and bstore.delete("db:b", "db:c") == 1
    assert bstore.type("db:a") == "string" and bstore.key_type("db:a") == "string"
    bstore.flush()
    assert bstore.sweep() == {"expired_keys": 0, "orphan_sub_entries": 0}


def test_cache_hit_and_inline_miss_need_no_thread(store_path: pathlib.Path) -> None:
    with cyberfly_store.open_blocking(store_path, durability="none") as s:
        for i in range(100):
            s.set(f"db:k{i}", f"v{i}")
        s.flush()
        assert [s.get(f"db:k{i}") for i in range(100)] == [f"v{i}" for i in range(100)]
        before = s.stats()
        assert [s.get(f"db:k{i}") for i in range(100)] == [f"v{i}" for i in range(100)]
        after = s.stats()
        hits = after["cache"]["hot"]["hits"] + after["cache"]["warm"]["hits"]
        assert hits - (before["cache"]["hot"]["hits"] + before["cache"]["warm"]["hits"]) == 100
        # Hits touch neither the reader pool nor the index.
        assert after["reads"] == before["reads"]
    # No cache at all: every get is a miss. Read on this thread from sled's
    # memory (inline_read_limit=1 s, its maximum: a guard that does not trip
    # here, so where a miss is read does not depend on the machine's load)...
    with cyberfly_store.open_blocking(store_path, inline_read_limit=1, hot_cache_bytes=0, warm_cache_bytes=0) as s:
        assert [s.get(f"db:k{i}") for i in range(100)] == [f"v{i}" for i in range(100)]
        reads = s.stats()["reads"]
        assert reads["inline"] == 100 and reads["pool"] == 0
    # ...or, with inline_read_limit=0, on the reader pool while this thread
    # waits without the GIL: the same answers.
    with cyberfly_store.open_blocking(store_path, inline_read_limit=0, hot_cache_bytes=0, warm_cache_bytes=0) as s:
        assert [s.get(f"db:k{i}") for i in range(100)] == [f"v{i}" for i in range(100)]
        assert s.get_many([f"db:k{i}" for i in range(3)]) == ["v0", "v1", "v2"]
        reads = s.stats()["reads"]
        assert reads["inline"] == 0 and reads["pool"] >= 100


def test_method_families(bstore: BlockingStore) -> None:
    s = bstore
    assert s.hset("db:h", "a", "1") == 1 and s.hset("db:h", mapping={"b": "2"}) == 1
    assert s.hgetall("db:h") == {"a": "1", "b": "2"} and s.hget("db:h", "a") == "1"
    assert s.hdel("db:h", "a") == 1 and s.hlen("db:h") == 1
    assert s.rpush("db:l", "a", "b") == 2 and s.lpush("db:l", "z") == 3
    assert s.lrange("db:l", 0, -1) == ["z", "a", "b"] and s.llen("db:l") == 3
    assert s.sadd("db:s", "a", "b") == 2 and s.srem("db:s", "a") == 1
    assert s.smembers("db:s") == {"b"} and s.sismember("db:s", "b") and s.scard("db:s") == 1
    assert s.zadd("db:z", {"a": 1.0, "b": 2.0}) == 2 and s.zscore("db:z", "b") == 2.0
    assert s.zrange("db:z", 0, -1, withscores=True) == [("a", 1.0), ("b", 2.0)]
    assert s.zrangebyscore("db:z", 1.5, "+inf") == ["b"] and s.zcount("db:z", "-inf", "+inf") == 2
    assert s.zrem("db:z", "a") == 1 and s.zcard("db:z") == 1
    s.json_set("db:j", {"a": {"b": [1, 2]}})
    assert s.json_get("db:j") == {"a": {"b": [1, 2]}} and s.json_get("db:j", "$.a.b") == [[1, 2]]
    assert s.json_filter("db:j", "$.a.b[*]") == [1, 2]
    i1 = s.xadd("db:x", {"f": "1"})
    s.xadd("db:x", [("f", "2")])
    assert [e[1] for e in s.xrange("db:x")] == [{"f": "1"}, {"f": "2"}]
    assert s.xrevrange("db:x", count=1)[0][1] == {"f": "2"} and s.xlen("db:x") == 2
    assert s.xrange("db:x", count=1)[0][0] == i1
    assert s.ts_add("db:t", 1000, 1.5) == 1000 and s.ts_add("db:t", 2000, 2.5) == 2000
    assert s.ts_range("db:t", 0, 5000) == [(1000, 1.5), (2000, 2.5)] and s.ts_get("db:t") == (2000, 2.5)
    assert s.geoadd("db:g", 13.361389, 38.115556, "Palermo") == 1
    assert s.geoadd("db:g", 15.087269, 37.502669, "Catania") == 1
    d = s.geodist("db:g", "Palermo", "Catania", "km")
    assert d is not None and 166 < d < 167
    assert s.georadius("db:g", 15, 37, 200, "km", sort="ASC") == ["Catania", "Palermo"]
    assert s.georadiusbymember("db:g", "Palermo", 10, "km") == ["Palermo"]
    pos = s.geopos("db:g", "Palermo", "nowhere")
    assert pos[0] is not None and pos[1] is None
    # TTL
    assert s.expire("db:h", 100) and 0 < s.ttl("db:h") <= 100 and s.pttl("db:h") > 0
    assert s.persist("db:h") and s.ttl("db:h") == -1
    assert s.pexpire("db:l", 100_000) and s.ttl("db:none") == -2
    # blobs
    h = s.add_blob(b"\x00blob")
    assert s.get_blob(h) == b"\x00blob" and s.blob_count() >= 1
    assert s.remove_blob(h) is True
    s.collect_garbage()
    # filters and get_all: plain iterators
    f = s.filter_hash("db:h", "b")
    assert isinstance(f, BlockingCursor) and list(f) == [("b", "2")]
    assert list(s.filter_list("db:l", "a")) == ["a"]
    assert list(s.filter_set("db:s", "b")) == ["b"]
    assert list(s.filter_sorted_set("db:z", 0, 10)) == [("b", 2.0)]
    assert [e[1] for e in s.filter_stream("db:x", pattern="2")] == [{"f": "2"}]
    assert list(s.filter_timeseries("db:t", 0, 5000, min=2.0)) == [(2000, 2.5)]
    assert [k for k, _v, _sig in s.get_all("db", "hash")] == ["db:h"]
    # the synchronous accessors
    assert s.config()["durability"] == "none" and s.disk_usage() > 0
    assert "ops" in s.stats() and "cyberfly" in s.metrics_text()


def test_scan_is_a_plain_iterator(store_path: pathlib.Path) -> None:
    with cyberfly_store.open_blocking(store_path, scan_page_size=7) as s:
        s.set_many({f"db:{i:03}": str(i) for i in range(50)})
        cur = s.scan("db:")
        assert iter(cur) is cur
        first = next(cur)
        assert first == ("db:000", "0")
        rest = list(cur)
        assert [k for k, _ in rest] == [f"db:{i:03}" for i in range(1, 50)]
        assert list(cur) == [] and list(s.scan("nothing:")) == []


def test_signed_operations(bstore: BlockingStore) -> None:
    kp = Keypair.generate()
    db = f"app-{kp.public_key}"
    op = SignedOperation(db, "k", "v").sign(kp)
    assert bstore.apply(op) == "applied"
    assert bstore.apply(op) == "duplicate"
    ops = [SignedOperation(db, f"k{i}", str(i)).sign(kp) for i in range(5)]
    assert bstore.apply_many(ops) == ["applied"] * 5
    assert bstore.get(f"{db}:k3") == "3" and bstore.log_len() == 6
    assert len(list(bstore.ops_since(0))) == 6
    bad = SignedOperation(db, "x", "y").sign(kp)
    bad.value = "tampered"
    with pytest.raises(cyberfly_store.InvalidSignature):
        bstore.apply(bad)
    outs = bstore.apply_many([bad, op])
    assert [str(o) for o in outs] == ["rejected", "duplicate"]
    assert isinstance(outs[0].error, cyberfly_store.InvalidSignature)
    assert bstore.apply_replicated(list(bstore.ops_since(0))) == ["duplicate"] * 6
    assert len(bstore.state_digest()) == 64 and bstore.verify_stats()["verified"] >= 1


def test_errors_are_the_same_classes(store_path: pathlib.Path) -> None:
    with cyberfly_store.open_blocking(store_path, max_key_len=8) as s:
        s.rpush("db:l", "a")
        with pytest.raises(cyberfly_store.WrongType):
            s.get("db:l")
        with pytest.raises(cyberfly_store.WrongType):
            s.hset("db:l", "f", "v")
        with pytest.raises(cyberfly_store.KeyTooLong):
            s.set("db:waytoolong", "v")
        with pytest.raises(cyberfly_store.InvalidArgument):
            s.set("db:a", "v", nx=True, xx=True)
        with pytest.raises(TypeError):
            s.set("db:a", 1)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            s.get()  # type: ignore[call-arg]
        with pytest.raises(TypeError):
            s.hdel("db:h", "a", nope=1)  # type: ignore[call-arg]
        with pytest.raises(cyberfly_store.AlreadyOpen):
            cyberfly_store.open_blocking(store_path)
    assert s.closed
    s.close()  # idempotent
    with pytest.raises(cyberfly_store.StoreClosed):
        s.get("db:a")
    with pytest.raises(cyberfly_store.StoreClosed):
        s.set("db:a", "v")
    with pytest.raises(cyberfly_store.StoreClosed):
        s.stats()
    with pytest.raises(cyberfly_store.InvalidConfig):
        cyberfly_store.open_blocking(store_path, durability="sometimes")


def test_from_many_threads(bstore: BlockingStore) -> None:
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(200):
                bstore.set(f"db:t{t}:{i}", str(i))
                assert bstore.get(f"db:t{t}:{i}") == str(i)
            assert bstore.rpush(f"db:l{t}", *[str(i) for i in range(10)]) == 10
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert len(list(bstore.scan("db:t"))) == 8 * 200


def test_shared_with_the_async_store(store_path: pathlib.Path) -> None:
    async def main() -> tuple[Store, str | None]:
        s = await cyberfly_store.open(store_path)
        await s.set("db:a", "from async")
        return s, await s.get("db:a")

    store, v = asyncio.run(main())
    assert v == "from async"
    b = BlockingStore(store)
    assert b.store is store and b.path == store.path
    assert b.get("db:a") == "from async"
    b.set("db:b", "from blocking")
    assert asyncio.run(_get(store, "db:b")) == "from blocking"
    with b:
        pass
    assert store.closed and b.closed and "closed" in repr(b)


async def _get(store: Store, key: str) -> str | None:
    return await store.get(key)


def test_blocking_inside_a_running_loop_still_works(store_path: pathlib.Path) -> None:
    # As redis.Redis: it blocks the loop's thread, but answers.
    async def main() -> str | None:
        with cyberfly_store.open_blocking(store_path) as s:
            s.set("db:a", "1")
            return s.get("db:a")

    assert asyncio.run(main()) == "1"


# ------------------------------------------------------ the asyncio idioms


def test_asyncio_run_open_then_close(store_path: pathlib.Path) -> None:
    store = asyncio.run(cyberfly_store.open(store_path))
    assert isinstance(store, Store) and not store.closed
    assert asyncio.run(_set_get(store)) == "v"
    # The loop that opened it has ended; close from outside any loop.
    asyncio.run(_closing(store))
    assert store.closed
    asyncio.run(_closing(store))  # idempotent
    # Reopened: the write was kept.
    again = asyncio.run(cyberfly_store.open(store_path))
    assert asyncio.run(_get(again, "db:k")) == "v"
    again.close_blocking()


def _closing(store: Store) -> Coroutine[Any, Any, None]:
    """`store.close()` for asyncio.run: called here, with no loop running,
    it closes the store and answers a Ready, which is a coroutine (typed
    Awaitable: inside a loop it is an asyncio Future)."""
    aw = store.close()
    assert isinstance(aw, Coroutine), type(aw)
    return aw


async def _set_get(store: Store) -> str | None:
    await store.set("db:k", "v")
    return await store.get("db:k")


def test_opener_is_a_coroutine_and_still_awaitable(store_path: pathlib.Path) -> None:
    import collections.abc

    opener = cyberfly_store.open(store_path)
    assert isinstance(opener, collections.abc.Coroutine)

    async def both() -> None:
        s = await cyberfly_store.open(store_path)
        await s.close()
        async with cyberfly_store.open(store_path) as s2:
            assert not s2.closed
        assert s2.closed

    asyncio.run(both())
    opener.close()  # never started: nothing to release


def test_async_method_without_loop_says_what_to_do(store_path: pathlib.Path) -> None:
    store = asyncio.run(cyberfly_store.open(store_path))
    try:
        with pytest.raises(cyberfly_store.NoEventLoop, match="open_blocking") as e:
            store.set("db:k", "v", nx=True)
        assert isinstance(e.value, cyberfly_store.StoreError)
        assert isinstance(e.value, cyberfly_store.InvalidArgument)
        assert e.value.code == cyberfly_store.InvalidArgument.code
        with pytest.raises(cyberfly_store.NoEventLoop):
            store.hset("db:h", "f", "v")
        with pytest.raises(cyberfly_store.NoEventLoop):
            store.flush()
        with pytest.raises(cyberfly_store.NoEventLoop):
            cyberfly_store.Store.open(store_path / "other")
        with pytest.raises(cyberfly_store.NoEventLoop):
            asyncio.run(cast("Coroutine[Any, Any, Any]", store.hgetall("db:h")))  # made before the loop
        # Bad input still raises its own class first.
        with pytest.raises(cyberfly_store.InvalidArgument) as bad:
            store.set("db:k", "v", nx=True, xx=True)
        assert not isinstance(bad.value, cyberfly_store.NoEventLoop)
        # What works without a loop: the blocking twin, and close().
        assert BlockingStore(store).set("db:k", "v", nx=True) is True
    finally:
        asyncio.run(_closing(store))
    assert store.closed


def test_replication_without_loop(tmp_path: pathlib.Path) -> None:
    kp = Keypair.generate()
    db = f"sync-{kp.public_key}"
    a = cyberfly_store.open_blocking(tmp_path / "a", durability="none")
    b = cyberfly_store.open_blocking(tmp_path / "b", durability="none")
    with a, b:
        a.apply_many([SignedOperation(db, f"k{i}", str(i)).sign(kp) for i in range(20)])
        server = a.serve(bind="127.0.0.1:0", allow=[b.sync_node_id()])
        assert isinstance(server, cyberfly_store.SyncServer)
        # Progress is called on a runtime thread (no loop to carry it).
        seen: list[dict[str, object]] = []
        done = threading.Event()

        def progress(r: dict[str, object]) -> None:
            seen.append(r)
            if r["received"] == 20:
                done.set()

        report = b.sync_from(server.ticket, progress=progress, bind="127.0.0.1:0", page_ops=8)
        assert report["received"] == report["applied"] == 20
        assert done.wait(30) and seen[-1]["received"] == 20
        assert b.get(f"{db}:k7") == "7" and b.sync_watermarks() == {a.store_id(): 20}
        handle = b.sync_continuous(server.ticket, bind="127.0.0.1:0")
        assert handle.running
        # stop() and shutdown() with no running loop finish before returning.
        handle.stop()
        assert not handle.running
        server.shutdown()
        server.shutdown()  # idempotent


def test_writes_acknowledged_by_the_writer(store_path: pathlib.Path) -> None:
    # durability="sync": no write is applied on the calling thread; each
    # one waits (without the GIL) for the writer's acknowledgement.
    with cyberfly_store.open_blocking(store_path, durability="sync") as s:
        errors: list[BaseException] = []

        def work(t: int) -> None:
            try:
                for i in range(25):
                    assert s.set(f"db:w{t}:{i}", str(i)) is None
                assert s.delete(f"db:w{t}:0") is True
                assert s.delete(f"db:w{t}:0") is False
                assert s.set(f"db:w{t}:1", "x", ex=100) is None
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert errors == []
        w = s.stats()["writer"]
        assert w["inline"] == 0 and w["writes_acked"] >= 4 * 28
        assert s.get("db:w3:24") == "24" and s.get("db:w3:0") is None and 0 < s.ttl("db:w3:1") <= 100
        with pytest.raises(cyberfly_store.KeyTooLong):
            s.set("db:" + "k" * 100_000, "v")


def test_blocking_gets_and_misses_do_not_leak(store_path: pathlib.Path) -> None:
    def rss_bytes() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    with cyberfly_store.open_blocking(store_path, durability="none") as s:
        keys = [f"db:leak{i}" for i in range(100)]
        s.set_many({k: "v" * 100 for k in keys})
        get = s.get

        def round_(n: int) -> None:
            for i in range(n):
                get(keys[i % 100])
            for i in range(n // 100):
                get(f"db:absent{i}")  # misses, read inline
                s.exists(f"db:absent{i}")

        round_(100_000)
        gc.collect()
        before = rss_bytes()
        round_(300_000)
        gc.collect()
        assert rss_bytes() <= before * 1.10


def test_opener_in_create_task_and_awaited_twice(store_path: pathlib.Path) -> None:
    async def main() -> None:
        opener = cyberfly_store.open(store_path)
        store = await asyncio.get_running_loop().create_task(opener)
        assert isinstance(store, Store)
        await store.close()
        # Each await opens (the second finds the first still open).
        s1 = await opener
        with pytest.raises(cyberfly_store.AlreadyOpen):
            await opener
        await s1.close()

    asyncio.run(main())
