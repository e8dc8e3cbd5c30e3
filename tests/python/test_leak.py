"""No leak over 1 000 000 get calls: resident memory stays flat (within
10 %) once warmed up."""

from __future__ import annotations

import gc
import os

from cyberfly_store import Store


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def test_one_million_gets_do_not_leak(store: Store) -> None:
    keys = [f"db:leak{i}" for i in range(100)]
    await store.set_many({k: "v" * 100 for k in keys})
    get = store.get

    async def round_(n: int) -> None:
        for i in range(n):
            await get(keys[i % 100])

    # Warm up: cache filled, allocator pools and freelists at steady state.
    await round_(100_000)
    await store.get_many(keys)
    gc.collect()
    before = rss_bytes()
    await round_(1_000_000)
    # Misses and the asyncio path too (evicted keys go through the runtime).
    for i in range(2_000):
        await store.get(f"db:absent{i}")
    gc.collect()
    after = rss_bytes()
    assert after <= before * 1.10, (before, after)
