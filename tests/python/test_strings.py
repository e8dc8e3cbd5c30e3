"""Strings, blobs, scans and the store's lifecycle."""

from __future__ import annotations

import asyncio
import inspect
import pathlib

import pytest

import cyberfly_store
from cyberfly_store import Ready, Store

# Each test taking `store` runs over Store and BlockingStore (conftest.py),
# but those marked async_only (they check the awaitables themselves).
BOTH_CLIENTS = True


async def test_open_as_await_and_context_manager(store_path: pathlib.Path) -> None:
    store = await cyberfly_store.open(store_path)
    assert isinstance(store, Store)
    assert not store.closed
    await store.set("db:a", "1")
    await store.close()
    assert store.closed
    async with cyberfly_store.open(store_path, durability="sync") as s2:
        assert await s2.get("db:a") == "1"
        assert s2.config()["durability"] == "sync"
    assert s2.closed
    # A Store is itself an async context manager.
    async with await cyberfly_store.open(store_path) as s3:
        assert await s3.exists("db:a")
    assert s3.closed


async def test_set_get_delete_exists(store: Store) -> None:
    assert await store.get("db:k") is None
    assert await store.exists("db:k") is False
    assert await store.set("db:k", "v") is None
    assert await store.get("db:k") == "v"
    assert await store.exists("db:k") is True
    await store.set("db:k", "w")
    assert await store.get("db:k") == "w"
    assert await store.delete("db:k") is True
    assert await store.delete("db:k") is False
    assert await store.get("db:k") is None
    await store.set("db:unicode", "héllo ✓")
    assert await store.get("db:unicode") == "héllo ✓"
    await store.set("db:empty", "")
    assert await store.get("db:empty") == ""


@pytest.mark.async_only
async def test_cache_hit_is_an_already_complete_awaitable(store: Store) -> None:
    await store.set("db:hot", "value")
    assert await store.get("db:hot") == "value"  # miss: fills the cache
    r = store.get("db:hot")
    assert isinstance(r, Ready), type(r)
    assert r.value == "value"
    assert inspect.isawaitable(r)
    # Awaitable twice, like a completed Future, and through asyncio helpers.
    assert await r == "value"
    assert await r == "value"
    assert await asyncio.wait_for(store.get("db:hot"), 1) == "value"
    # (typeshed types gather() of two as a tuple; it returns a list)
    assert await asyncio.gather(store.get("db:hot"), store.get("db:hot")) == ["value", "value"]  # type: ignore[comparison-overlap]
    # The generator protocol: next() raises StopIteration(value).
    with pytest.raises(StopIteration) as e:
        next(iter(store.get("db:hot").__await__()))
    assert e.value.value == "value"
    # exists and get_many of cached keys are complete too.
    assert isinstance(store.exists("db:hot"), Ready)
    assert isinstance(store.get_many(["db:hot", "db:hot"]), Ready)
    assert repr(r).startswith("<Ready")
    assert r.close() is None  # type: ignore[func-returns-value]
    with pytest.raises(KeyError):
        r.throw(KeyError("x"))
    with pytest.raises(StopIteration):
        r.send(None)


async def test_a_miss_is_read_inline_or_on_the_pool(store: Store) -> None:
    await store.set_many({f"db:cold{i}": str(i) for i in range(50)})
    await store.close()
    # A miss whose page sled holds is read on the Python thread: the
    # awaitable is already complete (docs/ARCHITECTURE.md, "Reads").
    s = await cyberfly_store.open(store.path, inline_read_limit=1.0)
    try:
        for i in range(50):
            # (the warm-up after open may have preloaded the key: a hit)
            fut = s.get(f"db:cold{i}")
            assert isinstance(fut, Ready)
            assert await fut == str(i)
            assert isinstance(s.get(f"db:cold{i}"), Ready)  # now cached
        assert s.stats()["reads"]["pool"] == 0
        assert isinstance(s.get_many([f"db:cold{i}" for i in range(50)]), Ready)
    finally:
        await s.close()
    # inline_read_limit=0: misses hop to the reader pool through the loop.
    s = await cyberfly_store.open(store.path, inline_read_limit=0, hot_cache_bytes=0, warm_cache_bytes=0)
    try:
        kinds = set()
        for i in range(50):
            fut = s.get(f"db:cold{i}")
            kinds.add(type(fut))
            assert await fut == str(i)
        assert any(issubclass(k, asyncio.Future) for k in kinds)
        reads = s.stats()["reads"]
        assert reads["inline"] == 0 and reads["pool"] == 50
    finally:
        await s.close()


async def test_set_with_expiry(store: Store) -> None:
    await store.set("db:ex", "v", ex=100)
    assert 98 <= await store.ttl("db:ex") <= 100
    # as Redis: ex=0 is refused and nothing is written
    with pytest.raises(cyberfly_store.InvalidArgument):
        await store.set("db:ex0", "v", ex=0)
    assert await store.get("db:ex0") is None


async def test_set_many_mapping_pairs_and_generators(store: Store) -> None:
    await store.set_many({"db:a": "1", "db:b": "2"})
    await store.set_many([("db:c", "3"), ("db:d", "4")])
    await store.set_many((f"db:g{i}", str(i)) for i in range(3))
    assert await store.get_many(["db:a", "db:b", "db:c", "db:d", "db:zz"]) == ["1", "2", "3", "4", None]
    assert await store.get_many(("db:g0", "db:g2")) == ["0", "2"]
    assert await store.get_many([]) == []

    class M:
        def items(self) -> list[tuple[str, str]]:  # a Mapping-like object
            return [("db:m", "x")]

    await store.set_many(M())  # type: ignore[arg-type]  # Mapping-like, not a Mapping
    assert await store.get("db:m") == "x"


async def test_set_many_is_all_or_nothing(store: Store) -> None:
    with pytest.raises(cyberfly_store.InvalidArgument):
        await store.set_many([("db:ok", "1"), ("", "2")])
    assert await store.get("db:ok") is None
    with pytest.raises(TypeError):
        await store.set_many([("db:ok", 1)])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        await store.set_many(["ab"])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        await store.get_many("db:ok")


async def test_get_many_mixes_hits_and_misses(store: Store) -> None:
    await store.set_many({f"db:k{i}": str(i) for i in range(500)})
    await store.close()
    s = await cyberfly_store.open(store.path)
    try:
        assert await s.get("db:k7") == "7"
        keys = [f"db:k{i}" for i in range(0, 600, 3)]
        got = await s.get_many(keys)
        assert got == [str(i) if i < 500 else None for i in range(0, 600, 3)]
    finally:
        await s.close()


async def test_scan_is_an_async_iterator_in_key_order(store_path: pathlib.Path) -> None:
    async with cyberfly_store.open(store_path, scan_page_size=7) as store:
        items = {f"db:{i:03}": f"v{i}" for i in range(50)}
        await store.set_many(items)
        await store.set("other:x", "y")
        await store.hset("db:hash", "f", "v")  # not a string: skipped
        seen = [kv async for kv in store.scan("db:")]
        assert seen == sorted(items.items())
        assert all(isinstance(kv, tuple) for kv in seen)
        # Awaiting the cursor collects everything left.
        cur = store.scan("db:0")
        first = await cur.__anext__()
        rest = await cur
        assert [first, *rest] == sorted(items.items())[:50]
        assert await store.scan("nothing:") == []
        everything = await store.scan()
        assert len(everything) == 51


async def test_blobs(store: Store) -> None:
    data = b"\x00raw bytes\xff" * 1000
    h = await store.add_blob(data)
    assert isinstance(h, str) and len(h) == 64
    assert await store.get_blob(h) == data
    assert await store.get_blob(bytes.fromhex(h)) == data
    assert await store.add_blob(bytearray(data)) == h
    assert await store.add_blob(memoryview(data)) == h
    assert await store.get_blob("00" * 32) is None
    assert await store.blob_count() >= 1
    assert await store.remove_blob(h) is True
    assert await store.remove_blob(h) is False
    await store.collect_garbage()
    with pytest.raises(TypeError):
        await store.add_blob("text")  # type: ignore[arg-type]
    with pytest.raises(cyberfly_store.InvalidArgument):
        await store.get_blob("zz")
    with pytest.raises(cyberfly_store.InvalidArgument):
        await store.get_blob(b"short")


async def test_large_values_go_to_blobs_and_back(store_path: pathlib.Path) -> None:
    async with cyberfly_store.open(store_path, inline_threshold=64) as store:
        big = "x" * 100_000
        await store.set("db:big", big)
        await store.set_many({"db:big2": big + "2", "db:small": "s"})
        assert await store.get("db:big") == big
        assert await store.get_many(["db:big2", "db:small"]) == [big + "2", "s"]


async def test_flush_close_idempotent_and_closed_errors(store_path: pathlib.Path) -> None:
    store = await cyberfly_store.open(store_path, durability="none")
    await store.set("db:a", "1")
    await store.flush()
    await store.close()
    await store.close()  # idempotent
    store.close_blocking()
    for call in (
        lambda: store.get("db:a"),
        lambda: store.set("db:a", "2"),
        lambda: store.delete("db:a"),
        lambda: store.exists("db:a"),
        lambda: store.get_many(["db:a"]),
        lambda: store.set_many({"db:a": "2"}),
        lambda: store.flush(),
        lambda: store.hset("db:h", "f", "v"),
        lambda: store.lrange("db:l", 0, -1),
        lambda: store.add_blob(b"x"),
    ):
        with pytest.raises(cyberfly_store.StoreClosed) as e:
            await call()
        assert e.value.code == 5
    with pytest.raises(cyberfly_store.StoreClosed):
        await store.scan("db:").__anext__()
    with pytest.raises(cyberfly_store.StoreClosed):
        await store.sweep()
    for sync_call in (store.stats, store.metrics_text, store.config, store.disk_usage):
        with pytest.raises(cyberfly_store.StoreClosed):
            sync_call()
    # Reopen: the data survived.
    async with cyberfly_store.open(store_path) as again:
        assert await again.get("db:a") == "1"


async def test_properties_and_config(store: Store, store_path: pathlib.Path) -> None:
    assert pathlib.Path(store.path) == store_path.resolve()  # noqa: ASYNC240 - a local path
    cfg = store.config()
    assert cfg["durability"] == "none"
    assert cfg["sweep_interval"] == 0
    assert set(cfg) >= {"hot_cache_bytes", "warm_cache_bytes", "inline_threshold", "flush_every_ms"}
    assert store.disk_usage() > 0
    assert "Store" in repr(store)
    assert await store.sweep() == {"expired_keys": 0, "orphan_sub_entries": 0}


async def test_config_keywords(tmp_path: pathlib.Path) -> None:
    import datetime

    async with cyberfly_store.open(
        tmp_path / "c",
        durability="batch",
        flush_every_ms=100,
        hot_cache_bytes=1 << 20,
        warm_cache_bytes=2 << 20,
        warm_ttl=datetime.timedelta(seconds=30),
        inline_threshold=128,
        max_key_len=64,
        max_value_len=1 << 20,
        writer_max_batch=64,
        writer_max_delay=0.001,
        writer_queue_depth=128,
        gc_interval=0,
        sweep_interval=5,
        scan_page_size=10,
        sled_cache_capacity=8 << 20,
        throughput_mode="high_throughput",
        compression=True,
        compression_factor=3,
        runtime_threads=2,
        reader_threads=3,
    ) as s:
        c = s.config()
        assert c["reader_threads"] == 3
        assert c["warm_ttl"] == 30.0
        assert c["writer_max_delay"] == pytest.approx(0.001)
        assert c["throughput_mode"] == "high_throughput"
        assert c["compression"] is True
        await s.set("db:x", "y")
        assert await s.get("db:x") == "y"


async def test_stats_and_metrics_text(store: Store) -> None:
    prometheus_client = pytest.importorskip("prometheus_client.parser")
    await store.set("db:a", "1")
    for _ in range(10):
        await store.get("db:a")
    await store.get("db:missing")
    st = store.stats()
    assert st["ops"]["get"] >= 11
    assert st["ops"]["set"] >= 1
    assert st["cache"]["hot"]["hits"] + st["cache"]["warm"]["hits"] >= 9
    assert 0 < st["cache"]["hit_rate"] <= 1
    assert set(st["cache"]) == {"hot", "warm", "misses", "lookups", "hit_rate"}
    assert set(st["cache"]["hot"]) == {"hits", "hit_rate", "entries", "bytes"}
    assert st["writer"]["batches"] >= 1
    assert st["writer"]["writes_acked"] >= 1
    assert st["latency"]["write_p50"] is not None
    assert set(st["latency"]) == {"write_p50", "write_p99", "read_miss_p50", "read_miss_p99"}
    assert isinstance(st["gc_runs"], int)
    text = store.metrics_text()
    families = {f.name: f for f in prometheus_client.text_string_to_metric_families(text)}
    assert "cyberfly_ops" in families or "cyberfly_ops_total" in families
    ops = families.get("cyberfly_ops") or families["cyberfly_ops_total"]
    got = {s.labels["op"]: s.value for s in ops.samples if s.name.endswith("_total")}
    assert got["get"] >= 11
    assert "cyberfly_write_latency_seconds" in families


async def test_already_open_in_this_process(store: Store) -> None:
    with pytest.raises(cyberfly_store.AlreadyOpen) as e:
        await cyberfly_store.open(store.path)
    assert e.value.code == 6
