"""Disk-bound run: 1 MiB sled cache, 1 MiB hot tier, the store's files dropped
from the OS page cache (posix_fadvise DONTNEED) before reading 100 000 keys in
shuffled order from an asyncio loop; reports the longest inline read (what
the loop waited for one key), the guard's trips, inline vs pool reads, and
the longest gap seen by a 1 ms ticker task on the same loop."""

import asyncio
import os
import random
import sys
import tempfile
import time

import cyberfly_store


def drop_cache(root):
    for d, _, fs in os.walk(root):
        for f in fs:
            try:
                fd = os.open(os.path.join(d, f), os.O_RDONLY)
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                os.close(fd)
            except OSError:
                pass


async def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    keys = [f"bench:{i:08d}" for i in range(n)]
    order = list(keys)
    random.Random(7).shuffle(order)
    cfg = dict(
        inline_read_limit=float(sys.argv[2]) if len(sys.argv) > 2 else 0.0005,
        durability="none",
        sled_cache_capacity=1 << 20,
        hot_cache_bytes=1 << 20,
        warm_cache_bytes=1 << 20,
    )
    with tempfile.TemporaryDirectory(dir=os.getcwd()) as d:
        async with cyberfly_store.open(d, **cfg) as s:
            for i in range(0, n, 1000):
                await s.set_many([(k, "v" * 100) for k in keys[i : i + 1000]])
        drop_cache(d)
        async with cyberfly_store.open(d, **cfg) as s:
            drop_cache(d)
            gaps = []
            stop = False

            async def ticker():
                last = time.perf_counter()
                while not stop:
                    await asyncio.sleep(0.001)
                    now = time.perf_counter()
                    gaps.append(now - last)
                    last = now

            t = asyncio.create_task(ticker())
            t0 = time.perf_counter()
            for i, k in enumerate(order):
                await s.get(k)
                if i % 64 == 0:
                    await asyncio.sleep(0)  # let the ticker run
            dt = time.perf_counter() - t0
            stop = True
            await t
            st = s.stats()["reads"]
            gaps.sort()
            print(
                f"{n} shuffled gets, disk-bound: {n / dt:,.0f}/s; reads {st}; "
                f"ticker gap p99 {gaps[int(len(gaps) * 0.99)] * 1e3:.2f} ms, max {gaps[-1] * 1e3:.2f} ms"
            )


asyncio.run(main())
