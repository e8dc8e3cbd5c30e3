"""Use from many threads (each with its own event loop) and from many tasks
on one loop; an open store does not keep the interpreter from exiting."""

from __future__ import annotations

import asyncio
import pathlib
import subprocess
import sys
import textwrap
import threading
import time
from typing import cast

import pytest

import cyberfly_store
from cyberfly_store import Store


async def test_64_threads_each_with_its_own_event_loop(store: Store) -> None:
    n_threads, per_thread = 64, 50
    errors: list[BaseException] = []
    barrier = threading.Barrier(n_threads)

    async def work(t: int) -> None:
        for i in range(per_thread):
            key = f"db:t{t}:{i}"
            await store.set(key, str(i))
            assert await store.get(key) == str(i)
        await store.set_many({f"db:t{t}:m{i}": "m" for i in range(20)})
        got = await store.get_many([f"db:t{t}:m{i}" for i in range(20)])
        assert got == ["m"] * 20
        assert await store.rpush("db:shared-list", str(t)) >= 1
        await store.hset("db:shared-hash", str(t), "x")

    def run(t: int) -> None:
        try:
            barrier.wait()
            asyncio.run(work(t))
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=run, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    # The test's own loop stays responsive meanwhile (nothing blocks it).
    while any(th.is_alive() for th in threads):  # noqa: ASYNC110 - OS threads, no event to await
        await asyncio.sleep(0.01)
    assert not errors, errors[:3]
    assert await store.llen("db:shared-list") == n_threads
    assert await store.hlen("db:shared-hash") == n_threads
    assert await store.get(f"db:t63:{per_thread - 1}") == str(per_thread - 1)


async def test_1000_tasks_on_one_loop(store: Store) -> None:
    n = 1000

    async def writer(i: int) -> None:
        await store.set(f"db:task{i}", str(i))
        await store.sadd("db:members", str(i))

    await asyncio.gather(*(writer(i) for i in range(n)))

    async def reader(i: int) -> str | None:
        return await store.get(f"db:task{i}")

    got = await asyncio.gather(*(reader(i) for i in range(n)))
    assert got == [str(i) for i in range(n)]
    assert await store.scard("db:members") == n
    # Mixed reads and writes at once, including misses and deletes.
    await asyncio.gather(
        *(store.delete(f"db:task{i}") for i in range(0, n, 2)),
        *(store.get(f"db:task{i}") for i in range(1, n, 2)),
        *(store.exists(f"db:absent{i}") for i in range(100)),
    )
    left = await store.get_many([f"db:task{i}" for i in range(n)])
    assert left == [None if i % 2 == 0 else str(i) for i in range(n)]


async def test_cancelled_waits_do_not_break_the_store(store: Store) -> None:
    tasks = [asyncio.ensure_future(store.set(f"db:c{i}", "v")) for i in range(200)]
    for t in tasks[::2]:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await store.set("db:after", "ok")
    assert await store.get("db:after") == "ok"


def test_an_open_store_does_not_keep_the_interpreter_alive(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "s"
    script = textwrap.dedent(
        f"""
        import asyncio, cyberfly_store
        async def main():
            global store
            store = await cyberfly_store.open({str(path)!r}, durability="none")
            await store.set("db:k", "kept")
            store.get("db:k")          # an awaitable never awaited
            await store.hset("db:h", "f", "v")
        asyncio.run(main())
        print("done", flush=True)
        """
    )
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "done"
    assert time.monotonic() - t0 < 30
    # The store was closed (flushed) at exit: durability="none" lost nothing.
    check = textwrap.dedent(
        f"""
        import asyncio, cyberfly_store
        async def main():
            async with cyberfly_store.open({str(path)!r}) as s:
                print(await s.get("db:k"), await s.hget("db:h", "f"))
        asyncio.run(main())
        """
    )
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["kept", "v"]


async def test_writes_acknowledged_by_callback(store_path: pathlib.Path) -> None:
    """set / set(ex=) / delete go to the writer without a tokio task and are
    completed by its acknowledgement; the results and errors are those of
    the awaitable API (errors raise at ``await``, not at the call)."""
    async with cyberfly_store.open(store_path, durability="sync", max_value_len=100_000) as s:
        futs = [s.set(f"k{i}", "v" * (i % 3)) for i in range(500)]
        assert all(isinstance(f, asyncio.Future) for f in futs)
        assert await asyncio.gather(*futs) == [None] * 500
        assert await s.get_many([f"k{i}" for i in range(500)]) == ["v" * (i % 3) for i in range(500)]
        big = "b" * 50_000  # stored as a blob: through the runtime first
        assert await s.set("big", big) is None
        assert await s.get("big") == big
        assert await s.set("ttl", "x", ex=100) is None
        assert 0 < await s.ttl("ttl") <= 100
        assert await s.delete("ttl") is True
        assert await s.delete("ttl") is False
        bad = s.set("", "v")  # no exception at the call
        with pytest.raises(cyberfly_store.InvalidArgument):
            await bad
        with pytest.raises(cyberfly_store.ValueTooLarge):
            await s.set("k", "v" * 100_001)
        with pytest.raises(cyberfly_store.InvalidArgument):
            await s.delete("")
    with pytest.raises(cyberfly_store.StoreClosed):
        await s.set("k", "v")
    with pytest.raises(cyberfly_store.StoreClosed):
        await s.delete("k")
    async with cyberfly_store.open(store_path) as s:
        assert await s.get("k499") == "v"
        assert await s.get("big") == big


async def test_cancelled_write_futures_are_skipped_quietly(store_path: pathlib.Path) -> None:
    """A future cancelled before the writer acknowledges it is left alone
    (its write may still be applied): no error reaches
    sys.unraisablehook, and the futures of the same batch complete.
    (durability="sync": every write goes to the writer's queue; under
    none and batch an idle store applies it inline, already complete.)"""
    async with cyberfly_store.open(store_path, durability="sync", sweep_interval=0) as store:
        await _cancel_writes(store)


async def _cancel_writes(store: Store) -> None:
    seen: list[object] = []
    old = sys.unraisablehook
    sys.unraisablehook = lambda u: seen.append(u)
    try:
        for _ in range(5):
            # Queued writes: asyncio futures (cancellable), not Ready.
            futs = [cast("asyncio.Future[None]", store.set(f"db:q{i}", str(i))) for i in range(300)]
            for f in futs[::3]:
                f.cancel()
            res = await asyncio.gather(*futs, return_exceptions=True)
            assert all(f.cancelled() for f in futs[::3])
            assert all(r is None for i, r in enumerate(res) if i % 3)
            dels = [cast("asyncio.Future[bool]", store.delete(f"db:q{i}")) for i in range(300)]
            for d in dels[1::3]:
                d.cancel()
            await asyncio.gather(*dels, return_exceptions=True)
        await store.set("db:after", "ok")
        assert await store.get("db:after") == "ok"
    finally:
        sys.unraisablehook = old
    assert seen == []


async def test_writes_applied_inline_are_complete_awaitables(store_path: pathlib.Path) -> None:
    """Under durability none or batch a set or delete from the event loop
    of an idle store is applied on the loop's thread: an awaitable that is
    already complete (no Future, no loop round trip), counted in
    stats()["writer"]["inline"]; errors still raise at await; the values
    survive close. Under sync every write is queued (a Future)."""
    # A generous inline limit: a loaded machine must not trip the guard.
    async with cyberfly_store.open(store_path, durability="batch", sweep_interval=0, inline_read_limit=1.0) as s:
        aw = s.set("k", "v")
        assert not isinstance(aw, asyncio.Future)
        assert await aw is None
        assert await s.set("t", "x", ex=100) is None
        assert 0 < await s.ttl("t") <= 100
        assert await s.delete("t") is True
        assert await s.delete("t") is False
        bad = s.set("", "v")  # no exception at the call
        with pytest.raises(cyberfly_store.InvalidArgument):
            await bad
        with pytest.raises(cyberfly_store.InvalidArgument):
            await s.delete("")
        for i in range(1000):
            await s.set(f"n{i}", str(i))
        st = s.stats()["writer"]
        assert st["inline"] >= 1000, st
        assert await s.get("n999") == "999"
    async with cyberfly_store.open(store_path, durability="sync") as s:
        assert await s.get("k") == "v"
        assert await s.get("n500") == "500"
        f = s.set("k", "w")
        assert isinstance(f, asyncio.Future)
        await f
        assert s.stats()["writer"]["inline"] == 0
