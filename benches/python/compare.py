"""cyberfly_store from Python against the stores Python users pick today:
the same workloads, in one process, on the same data, printed as ratios.

    pip install .                                   # the module (release build)
    pip install aiosqlite lmdb rocksdict pynacl     # the peers (optional: missing ones are skipped)
    python benches/python/compare.py [--n 100000] [--rounds 3] [--value-size 100] [--json out.json]

Workloads (N keys "bench:%08d", values of --value-size bytes):

- set_many: batches of 1 000, durable at the end (one flush/fsync), against
  sqlite3, aiosqlite, lmdb, rocksdict, and the core's own set_many driven
  from Rust on the same items (Store._bench_set_many).
- get: sequential awaited get of cached keys, against each peer's
  synchronous (or awaited, for aiosqlite) point read.
- get_many: batches of 100.
- blocking (issue 20; `--only blocking`): seq_set / seq_get, one call at
  a time through BlockingStore (`open_blocking`, no event loop) and, for
  reference, awaited through the async Store, against sqlite3 (one
  autocommit statement per set) and lmdb (one write transaction per set).
- tasks_write / tasks_read: 1 000 concurrent asyncio tasks, each write
  acknowledged, against aiosqlite (the asyncio peer). Writes overwrite keys
  the store already holds, for both (aiosqlite's table holds the set_many
  rows); tasks_insert is the same with fresh keys into an empty store or
  table.
- verify_many_16keys / verify_many_distinct: ed25519 verification of 10 000
  fresh signatures from 16 keys / from 10 000 keys against PyNaCl's loop;
  verify_cached: the same items again (verdict-cache hits).
- cold (issue 16), against lmdb read the same way in the same round, keys
  in one shuffled order: cold_get_after_write (sequential awaited get of
  every key right after writing them), cold_get_after_reopen (after close
  and reopen), get_second_pass (the same keys again), cold_get_many (get_many
  of 100 after another reopen), get_shuffled (cached get, shuffled).
- zipf: 1 000 000 Zipf(0.99) reads over 200 000 keys with an 8 MiB cache
  (7 MiB hot, 1 MiB warm): the hit rate over the last three quarters
  against that of the ideal static top-k keys that fit the same 8 MiB, and
  against a perfect-history LFU of as many entries on the same reads (the
  best an online policy can know of the popularity); the read rate.
- mixed: 1 000 tasks each doing 50 operations (90 % get, 10 % set) on
  random keys of N, on a reopened store (cold cache), durability batch and
  sync: throughput and p99 latency of reads and writes; and "yield", the
  harness's own floor in the same run: each set replaced by
  `await asyncio.sleep(0)` (free, but it gives the loop up once, as a
  write waiting for its fsync must).

Every figure is operations per second, the best of --rounds runs (the
machine is shared with other builds); a ratio is cyberfly / peer (higher is
better for cyberfly). Targets are those of issue 5.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable
from typing import Any, Callable

import cyberfly_store

try:
    import aiosqlite
except ImportError:  # pragma: no cover
    aiosqlite = None  # type: ignore[assignment]
try:
    import lmdb
except ImportError:  # pragma: no cover
    lmdb = None  # type: ignore[assignment]
try:
    import rocksdict
except ImportError:  # pragma: no cover
    rocksdict = None  # type: ignore[assignment]
try:
    import nacl.signing
except ImportError:  # pragma: no cover
    nacl = None  # type: ignore[assignment]


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


class Bench:
    def __init__(self, n: int, value_size: int, root: str) -> None:
        self.n = n
        self.root = root
        self.keys = [f"bench:{i:08d}" for i in range(n)]
        self.values = [(f"{i:08d}" * (value_size // 8 + 1))[:value_size] for i in range(n)]
        self.bkeys = [k.encode() for k in self.keys]
        self.bvalues = [v.encode() for v in self.values]
        self.results: dict[str, dict[str, float]] = {}

    def dir(self, name: str) -> str:
        p = os.path.join(self.root, name)
        shutil.rmtree(p, ignore_errors=True)
        os.makedirs(p, exist_ok=True)
        return p

    def record(self, workload: str, engine: str, ops_per_s: float) -> None:
        # Best of the rounds: the machine is shared, a slow round is noise.
        r = self.results.setdefault(workload, {})
        r[engine] = max(r.get(engine, 0.0), ops_per_s)
        print(f"  {workload:<15} {engine:<22} {ops_per_s:>14,.0f} ops/s", flush=True)

    # ------------------------------------------------------------ cyberfly

    async def cyberfly(self) -> None:
        n = self.n
        items = list(zip(self.keys, self.values))
        batches = [items[i : i + 1000] for i in range(0, n, 1000)]

        # set_many from Python and the core's set_many driven from Rust on
        # the same items, each on a fresh store, alternated twice (best of
        # two: the machine is shared).
        best_rust = best_py = 0.0
        for rnd in range(2):
            async with cyberfly_store.open(self.dir(f"cf-rust{rnd}"), durability="none") as s:
                best_rust = max(best_rust, rate(n, s._bench_set_many(items, 1000)))
            async with cyberfly_store.open(self.dir(f"cf{rnd}"), durability="none") as s:
                gc.collect()
                t0 = time.perf_counter()
                for b in batches:
                    await s.set_many(b)
                await s.flush()
                best_py = max(best_py, rate(n, time.perf_counter() - t0))
        self.record("set_many", "cyberfly core (Rust)", best_rust)
        self.record("set_many", "cyberfly", best_py)

        # Reads on the store the last set_many wrote (reopened: cold cache).
        async with cyberfly_store.open(os.path.join(self.root, "cf1"), durability="none") as store:
            # Warm the cache (a miss fills the warm tier, the next read
            # promotes to the hot one), then sequential awaited gets of
            # cached keys.
            get = store.get
            keys = self.keys
            for i in range(0, n, 1000):
                await store.get_many(keys[i : i + 1000])
            t0 = time.perf_counter()
            for k in keys:
                await get(k)
            self.record("get_promote", "cyberfly", rate(n, time.perf_counter() - t0))
            t0 = time.perf_counter()
            for k in keys:
                await get(k)
            self.record("get", "cyberfly", rate(n, time.perf_counter() - t0))
            assert await get(keys[-1]) == self.values[-1]
            hot = keys[:100] * (n // 100)
            t0 = time.perf_counter()
            for k in hot:
                await get(k)
            self.record("get_hot100", "cyberfly", rate(len(hot), time.perf_counter() - t0))

            chunks = [keys[i : i + 100] for i in range(0, n, 100)]
            get_many = store.get_many
            t0 = time.perf_counter()
            for c in chunks:
                await get_many(c)
            self.record("get_many", "cyberfly", rate(n, time.perf_counter() - t0))

        # 1 000 concurrent tasks, each write acknowledged (durability=batch,
        # the default: applied to the index, flushed every flush_every_ms).
        async with cyberfly_store.open(self.dir("cf-tasks")) as store:
            secs = await self.tasks(lambda k, v: store.set(k, v))
            self.record("tasks_insert", "cyberfly", rate(n, secs))
            # Overwrites, as aiosqlite's tasks_write below.
            secs = await self.tasks(lambda k, v: store.set(k, v + "2"))
            self.record("tasks_write", "cyberfly", rate(n, secs))
            # First reads after the writes are misses (writes invalidate,
            # reads fill); the second pass reads cached keys.
            secs = await self.tasks(lambda k, v: store.get(k))
            self.record("tasks_read_miss", "cyberfly", rate(n, secs))
            await self.tasks(lambda k, v: store.get(k))
            secs = await self.tasks(lambda k, v: store.get(k))
            self.record("tasks_read", "cyberfly", rate(n, secs))

    async def tasks(self, op: Callable[[str, str], Awaitable[Any]], n: int | None = None) -> float:
        n = n or self.n
        per = max(1, n // 1000)
        keys, values = self.keys, self.values

        async def task(t: int) -> None:
            for i in range(t * per, min(n, (t + 1) * per)):
                await op(keys[i], values[i])

        t0 = time.perf_counter()
        await asyncio.gather(*(task(t) for t in range(1000)))
        return time.perf_counter() - t0

    # ---------------------------------------------------- cold (issue 16)

    async def cold(self) -> None:
        """First reads after writing and after reopening, against lmdb read
        the same way in the same round, keys in one shuffled order."""
        if lmdb is None:
            print("  (lmdb not installed: cold skipped)")
            return
        import random

        n = self.n
        order = list(range(n))
        random.Random(16).shuffle(order)
        keys = [self.keys[i] for i in order]
        bkeys = [self.bkeys[i] for i in order]
        chunks = [keys[i : i + 100] for i in range(0, n, 100)]
        bchunks = [bkeys[i : i + 100] for i in range(0, n, 100)]
        items = list(zip(self.keys, self.values))
        pairs = list(zip(self.bkeys, self.bvalues))
        cf_dir, lm_dir = self.dir("cold-cf"), self.dir("cold-lmdb")

        def lmdb_get_pass(env: Any, wl: str) -> None:
            with env.begin() as txn:
                get = txn.get
                t0 = time.perf_counter()
                for k in bkeys:
                    get(k)
                self.record(wl, "lmdb", rate(n, time.perf_counter() - t0))

        async def cf_get_pass(s: Any, wl: str) -> None:
            get = s.get
            gc.collect()
            t0 = time.perf_counter()
            for k in keys:
                await get(k)
            self.record(wl, "cyberfly", rate(n, time.perf_counter() - t0))

        env = lmdb.open(lm_dir, map_size=8 << 30, sync=False, metasync=False)
        for i in range(0, n, 1000):
            with env.begin(write=True) as txn:
                for k, v in pairs[i : i + 1000]:
                    txn.put(k, v)
        lmdb_get_pass(env, "cold_get_after_write")
        env.close()
        async with cyberfly_store.open(cf_dir, durability="none") as s:
            for i in range(0, n, 1000):
                await s.set_many(items[i : i + 1000])
            await cf_get_pass(s, "cold_get_after_write")
        # Reopened: nothing cached, sled's page cache empty.
        async with cyberfly_store.open(cf_dir, durability="none") as s:
            await cf_get_pass(s, "cold_get_after_reopen")
            await cf_get_pass(s, "get_second_pass")
            await cf_get_pass(s, "get_shuffled")
            assert await s.get(keys[0]) == self.values[order[0]]
        env = lmdb.open(lm_dir, map_size=8 << 30, sync=False, metasync=False)
        lmdb_get_pass(env, "cold_get_after_reopen")
        lmdb_get_pass(env, "get_second_pass")
        lmdb_get_pass(env, "get_shuffled")
        env.close()
        async with cyberfly_store.open(cf_dir, durability="none") as s:
            get_many = s.get_many
            gc.collect()
            t0 = time.perf_counter()
            for c in chunks:
                await get_many(c)
            self.record("cold_get_many", "cyberfly", rate(n, time.perf_counter() - t0))
            st = s.stats()["reads"]
            print(f"  (cold get_many: {st['inline']} keys read inline, {st['pool']} on the pool)")
        env = lmdb.open(lm_dir, map_size=8 << 30, sync=False, metasync=False)
        with env.begin() as txn:
            cur = txn.cursor()
            t0 = time.perf_counter()
            for c in bchunks:
                cur.getmulti(c)
            self.record("cold_get_many", "lmdb", rate(n, time.perf_counter() - t0))
        env.close()

    async def zipf(self) -> None:
        """Zipf(0.99) over 200 000 keys, 8 MiB of cache: the hit rate
        against the ideal static top-k of the same bytes and against a
        perfect-history LFU."""
        import bisect
        import heapq
        import itertools
        import random

        # 1 000 000 reads: with 400 000 a key at the cache's boundary is read
        # ~1.5 times in the whole trace and even a perfect-history LFU gets
        # only 0.942x of the ideal (docs/PERFORMANCE.md).
        nkeys, reads, alpha = 200_000, 1_000_000, 0.99
        budget, hot = 8 << 20, 7 << 20
        keys = [f"zipf:{i:08d}" for i in range(nkeys)]
        value = "z" * 100
        rng = random.Random(99)
        weights = [1.0 / (r + 1) ** alpha for r in range(nkeys)]
        cum = list(itertools.accumulate(weights))
        total = cum[-1]
        ranks = [min(bisect.bisect_left(cum, rng.random() * total), nkeys - 1) for _ in range(reads)]
        perm = list(range(nkeys))
        rng.shuffle(perm)  # popularity is not key order
        trace = [keys[perm[r]] for r in ranks]
        warm = reads // 4  # the first quarter warms the cache
        # The hot tier's charge per entry: key + value + 256 bytes.
        k = budget // (len(keys[0]) + len(value) + 256)
        ideal = sum(weights[:k]) / total
        # Perfect-history LFU of k entries: exact counts since the start; a
        # miss replaces the least counted entry if it is now counted more.
        count = [0] * nkeys
        held: set[int] = set()
        heap: list[tuple[int, int]] = []  # (count, rank); stale pairs skipped
        lfu_hits = 0
        for i, r in enumerate(ranks):
            count[r] += 1
            c = count[r]
            if r in held:
                lfu_hits += i >= warm
                heapq.heappush(heap, (c, r))
            elif len(held) < k:
                held.add(r)
                heapq.heappush(heap, (c, r))
            else:
                while heap[0][1] not in held or count[heap[0][1]] != heap[0][0]:
                    heapq.heappop(heap)
                if c > heap[0][0]:
                    held.discard(heapq.heappop(heap)[1])
                    held.add(r)
                    heapq.heappush(heap, (c, r))
        async with cyberfly_store.open(
            self.dir("zipf"), durability="none", hot_cache_bytes=hot, warm_cache_bytes=budget - hot
        ) as s:
            for i in range(0, nkeys, 1000):
                await s.set_many([(kk, value) for kk in keys[i : i + 1000]])
        async with cyberfly_store.open(
            os.path.join(self.root, "zipf"), durability="none", hot_cache_bytes=hot, warm_cache_bytes=budget - hot
        ) as s:
            get = s.get
            for kk in trace[:warm]:
                await get(kk)
            before = s.stats()["cache"]
            t0 = time.perf_counter()
            for kk in trace[warm:]:
                await get(kk)
            secs = time.perf_counter() - t0
            after = s.stats()["cache"]
            hits = (after["hot"]["hits"] + after["warm"]["hits"]) - (before["hot"]["hits"] + before["warm"]["hits"])
            lookups = after["lookups"] - before["lookups"]
        hit_rate = hits / lookups
        self.record("zipf_reads", "cyberfly", rate(reads - warm, secs))
        self.record("zipf_hit_rate", "cyberfly", hit_rate)
        self.record("zipf_hit_rate", "ideal static top-k", ideal)
        self.record("zipf_hit_rate", "perfect-history LFU", lfu_hits / (reads - warm))

    async def mixed(self) -> None:
        """1 000 tasks x 50 operations, 90 % get and 10 % set on random keys
        of N, on a reopened store; p99 latency of reads and writes."""
        import random

        n = self.n
        items = list(zip(self.keys, self.values))
        # "yield": the baseline of the harness, on the same kind of store:
        # each write replaced by `await asyncio.sleep(0)`, a write that
        # costs nothing and completes at once but gives the loop up once,
        # as an fsync-acknowledged write must. Its p99 is what 1 000 tasks
        # on this event loop wait for a turn, whatever the store.
        for mode in ("batch", "sync", "yield"):
            d = self.dir(f"mixed-{mode}")
            async with cyberfly_store.open(d, durability="none") as s:
                for i in range(0, n, 1000):
                    await s.set_many(items[i : i + 1000])
            noop = mode == "yield"
            async with cyberfly_store.open(d, durability="batch" if noop else mode) as s:
                rng = random.Random(5)
                plan = [[(rng.random() < 0.9, self.keys[rng.randrange(n)]) for _ in range(50)] for _ in range(1000)]
                rlat: list[float] = []
                wlat: list[float] = []
                get, set_ = s.get, s.set
                clock = time.perf_counter

                # Every task is gathered below, within this iteration: the
                # closure's loop variables (B023) are the ones of this round.
                async def task(ops: list[tuple[bool, str]]) -> None:
                    for is_read, k in ops:
                        t = clock()  # noqa: B023
                        if is_read:
                            await get(k)  # noqa: B023
                            rlat.append(clock() - t)  # noqa: B023
                        elif noop:  # noqa: B023
                            await asyncio.sleep(0)
                            wlat.append(clock() - t)  # noqa: B023
                        else:
                            await set_(k, "w" * 100)  # noqa: B023
                            wlat.append(clock() - t)  # noqa: B023

                gc.collect()
                t0 = clock()
                await asyncio.gather(*(task(p) for p in plan))
                secs = clock() - t0
            rlat.sort()
            wlat.sort()
            self.record(f"mixed_{mode}", "cyberfly", rate(50_000, secs))
            # Latencies: lower is better; kept as the best (lowest) round.
            for name, lat in (("read", rlat), ("write", wlat)):
                p99 = lat[int(len(lat) * 0.99)] * 1e3
                wl = f"mixed_{mode}_p99_{name}_ms"
                r = self.results.setdefault(wl, {})
                r["cyberfly"] = min(r.get("cyberfly", float("inf")), p99)
                print(f"  {wl:<26} {p99:8.2f} ms (max {lat[-1] * 1e3:.2f} ms)", flush=True)

    # ------------------------------------------------------------ blocking

    async def blocking(self) -> None:
        """Sequential set then get, one call at a time, through the
        blocking client (no awaitable) and the async one (awaited), against
        sqlite3 (one autocommit INSERT OR REPLACE per set, WAL,
        synchronous=OFF) and lmdb (one write transaction per set,
        sync=False; gets in one read transaction, as lmdb is used). The
        store's durability is the default (batch): a set is acknowledged
        once applied to the index, flushed every flush_every_ms; the fresh
        keys of the first pass are inserts, as for the peers."""
        n = self.n
        keys, values = self.keys, self.values
        with cyberfly_store.open_blocking(self.dir("cf-blocking")) as s:
            set_, get = s.set, s.get
            gc.collect()
            t0 = time.perf_counter()
            for k, v in zip(keys, values):
                set_(k, v)
            s.flush()
            self.record("seq_set", "cyberfly blocking", rate(n, time.perf_counter() - t0))
            for k in keys:  # written through: hits; once more to settle the tiers
                get(k)
            t0 = time.perf_counter()
            for k in keys:
                get(k)
            self.record("seq_get", "cyberfly blocking", rate(n, time.perf_counter() - t0))
            assert get(keys[-1]) == values[-1]
        async with cyberfly_store.open(self.dir("cf-async-seq")) as a:
            aset, aget = a.set, a.get
            gc.collect()
            t0 = time.perf_counter()
            for k, v in zip(keys, values):
                await aset(k, v)
            await a.flush()
            self.record("seq_set", "cyberfly async", rate(n, time.perf_counter() - t0))
            for k in keys:
                await aget(k)
            t0 = time.perf_counter()
            for k in keys:
                await aget(k)
            self.record("seq_get", "cyberfly async", rate(n, time.perf_counter() - t0))
        path = os.path.join(self.dir("sqlite-seq"), "db.sqlite")
        con = sqlite3.connect(path, isolation_level=None)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=OFF")
        con.execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID")
        ins, q = "INSERT OR REPLACE INTO kv VALUES (?, ?)", "SELECT v FROM kv WHERE k = ?"
        t0 = time.perf_counter()
        for k, v in zip(keys, values):
            con.execute(ins, (k, v))
        self.record("seq_set", "sqlite3", rate(n, time.perf_counter() - t0))
        t0 = time.perf_counter()
        for k in keys:
            con.execute(q, (k,)).fetchone()
        self.record("seq_get", "sqlite3", rate(n, time.perf_counter() - t0))
        con.close()
        if lmdb is None:
            print("  (lmdb not installed: skipped)")
            return
        env = lmdb.open(self.dir("lmdb-seq"), map_size=8 << 30, sync=False, metasync=False)
        t0 = time.perf_counter()
        for k, v in zip(self.bkeys, self.bvalues):
            with env.begin(write=True) as txn:
                txn.put(k, v)
        env.sync(True)
        self.record("seq_set", "lmdb", rate(n, time.perf_counter() - t0))
        with env.begin() as txn:
            lget = txn.get
            t0 = time.perf_counter()
            for bk in self.bkeys:
                lget(bk)
            self.record("seq_get", "lmdb", rate(n, time.perf_counter() - t0))
        env.close()

    # -------------------------------------------------------------- sqlite

    def sqlite(self) -> None:
        path = os.path.join(self.dir("sqlite"), "db.sqlite")
        con = sqlite3.connect(path, isolation_level=None)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=OFF")
        con.execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID")
        items = list(zip(self.keys, self.values))
        t0 = time.perf_counter()
        for i in range(0, self.n, 1000):
            con.execute("BEGIN")
            con.executemany("INSERT OR REPLACE INTO kv VALUES (?, ?)", items[i : i + 1000])
            con.execute("COMMIT")
        con.execute("PRAGMA wal_checkpoint(FULL)")
        for f in (path, path + "-wal"):
            if os.path.exists(f):
                fd = os.open(f, os.O_RDONLY)
                os.fsync(fd)
                os.close(fd)
        self.record("set_many", "sqlite3", rate(self.n, time.perf_counter() - t0))
        q = "SELECT v FROM kv WHERE k = ?"
        t0 = time.perf_counter()
        for k in self.keys:
            con.execute(q, (k,)).fetchone()
        self.record("get", "sqlite3", rate(self.n, time.perf_counter() - t0))
        q100 = "SELECT k, v FROM kv WHERE k IN ({})".format(",".join("?" * 100))
        t0 = time.perf_counter()
        for i in range(0, self.n, 100):
            chunk = self.keys[i : i + 100]
            found = dict(con.execute(q100, chunk).fetchall())
            [found.get(k) for k in chunk]
        self.record("get_many", "sqlite3", rate(self.n, time.perf_counter() - t0))
        con.close()

    async def aiosqlite(self) -> None:
        if aiosqlite is None:
            print("  (aiosqlite not installed: skipped)")
            return
        path = os.path.join(self.dir("aiosqlite"), "db.sqlite")
        async with aiosqlite.connect(path, isolation_level=None) as db:
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=NORMAL")
            await db.execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID")
            items = list(zip(self.keys, self.values))
            t0 = time.perf_counter()
            for i in range(0, self.n, 1000):
                await db.execute("BEGIN")
                await db.executemany("INSERT OR REPLACE INTO kv VALUES (?, ?)", items[i : i + 1000])
                await db.execute("COMMIT")
            await db.execute("PRAGMA wal_checkpoint(FULL)")
            self.record("set_many", "aiosqlite", rate(self.n, time.perf_counter() - t0))

            sub = min(self.n, 20_000)  # aiosqlite is slow: a subset
            q = "SELECT v FROM kv WHERE k = ?"
            t0 = time.perf_counter()
            for k in self.keys[:sub]:
                async with db.execute(q, (k,)) as cur:
                    await cur.fetchone()
            self.record("get", "aiosqlite", rate(sub, time.perf_counter() - t0))

            q100 = "SELECT k, v FROM kv WHERE k IN ({})".format(",".join("?" * 100))
            t0 = time.perf_counter()
            for i in range(0, sub, 100):
                chunk = self.keys[i : i + 100]
                async with db.execute(q100, chunk) as cur:
                    found = dict(await cur.fetchall())
                [found.get(k) for k in chunk]
            self.record("get_many", "aiosqlite", rate(sub, time.perf_counter() - t0))

            # 1 000 tasks, autocommit: each write is its own transaction.
            async def write(k: str, v: str) -> None:
                await db.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", (k, v + "2"))

            async def read(k: str, v: str) -> None:
                async with db.execute(q, (k,)) as cur:
                    await cur.fetchone()

            sub = min(self.n, 20_000)
            secs = await self.tasks(write, sub)
            self.record("tasks_write", "aiosqlite", rate(sub, secs))

            # Fresh keys into an empty table.
            await db.execute("CREATE TABLE kv2 (k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID")

            async def insert(k: str, v: str) -> None:
                await db.execute("INSERT INTO kv2 VALUES (?, ?)", (k, v))

            secs = await self.tasks(insert, sub)
            self.record("tasks_insert", "aiosqlite", rate(sub, secs))
            secs = await self.tasks(read, sub)
            self.record("tasks_read", "aiosqlite", rate(sub, secs))

    # ---------------------------------------------------------------- lmdb

    def lmdb(self) -> None:
        if lmdb is None:
            print("  (lmdb not installed: skipped)")
            return
        env = lmdb.open(self.dir("lmdb"), map_size=8 << 30, sync=False, metasync=False)
        pairs = list(zip(self.bkeys, self.bvalues))
        t0 = time.perf_counter()
        for i in range(0, self.n, 1000):
            with env.begin(write=True) as txn:
                for k, v in pairs[i : i + 1000]:
                    txn.put(k, v)
        env.sync(True)
        self.record("set_many", "lmdb", rate(self.n, time.perf_counter() - t0))
        with env.begin() as txn:
            get = txn.get
            for k in self.bkeys:
                get(k)
            t0 = time.perf_counter()
            for k in self.bkeys:
                get(k)
            self.record("get", "lmdb", rate(self.n, time.perf_counter() - t0))
            hot = self.bkeys[:100] * (self.n // 100)
            t0 = time.perf_counter()
            for k in hot:
                get(k)
            self.record("get_hot100", "lmdb", rate(len(hot), time.perf_counter() - t0))
            cur = txn.cursor()
            t0 = time.perf_counter()
            for i in range(0, self.n, 100):
                cur.getmulti(self.bkeys[i : i + 100])
            self.record("get_many", "lmdb", rate(self.n, time.perf_counter() - t0))
        env.close()

    # ----------------------------------------------------------- rocksdict

    def rocksdict(self) -> None:
        if rocksdict is None:
            print("  (rocksdict not installed: skipped)")
            return
        path = self.dir("rocks")
        db = rocksdict.Rdict(path, options=rocksdict.Options(raw_mode=True))
        pairs = list(zip(self.bkeys, self.bvalues))
        t0 = time.perf_counter()
        for i in range(0, self.n, 1000):
            wb = rocksdict.WriteBatch(raw_mode=True)
            for k, v in pairs[i : i + 1000]:
                wb.put(k, v)
            db.write(wb)
        db.flush_wal(True)
        self.record("set_many", "rocksdict", rate(self.n, time.perf_counter() - t0))
        get = db.get
        t0 = time.perf_counter()
        for k in self.bkeys:
            get(k)
        self.record("get", "rocksdict", rate(self.n, time.perf_counter() - t0))
        t0 = time.perf_counter()
        for i in range(0, self.n, 100):
            db.get(self.bkeys[i : i + 100])
        self.record("get_many", "rocksdict", rate(self.n, time.perf_counter() - t0))
        db.close()

    # -------------------------------------------------------------- verify

    async def verify(self) -> None:
        if nacl is None:
            print("  (pynacl not installed: skipped)")
            return
        # 10 000 fresh signatures (no cached verdicts) from 16 keys, as a
        # database's owners sign them, and from 10 000 distinct keys.
        n = min(self.n, 10_000)
        for workload, nkeys in (("verify_many_16keys", 16), ("verify_many_distinct", n)):
            signers = [nacl.signing.SigningKey.generate() for _ in range(nkeys)]
            items = []
            for i in range(n):
                sk = signers[i % nkeys]
                msg = self.bvalues[i] + os.urandom(8)
                items.append((bytes(sk.verify_key), msg, sk.sign(msg).signature))
            vks = {bytes(sk.verify_key): sk.verify_key for sk in signers}
            t0 = time.perf_counter()
            for pk, msg, sig in items:
                vks[pk].verify(msg, sig)
            self.record(workload, "pynacl loop", rate(n, time.perf_counter() - t0))
            t0 = time.perf_counter()
            ok = await cyberfly_store.verify_many(items)
            self.record(workload, "cyberfly", rate(n, time.perf_counter() - t0))
            assert all(ok)
            # The core's verify_many on the same items driven from Rust, with
            # a verifier of its own (no cached verdicts): what the binding costs.
            hook = getattr(cyberfly_store._native, "_bench_verify_many", None)
            if hook is not None:
                self.record(workload, "cyberfly core (Rust)", rate(n, hook(items)))
            t0 = time.perf_counter()
            await cyberfly_store.verify_many(items)
            self.record("verify_cached", "cyberfly", rate(n, time.perf_counter() - t0))


TARGETS = [
    # (workload, cyberfly engine, peer engine, target ratio, what limits it)
    ("set_many", "cyberfly", "cyberfly core (Rust)", 0.8, "sled's batch apply; Python adds one conversion pass"),
    ("set_many", "cyberfly", "sqlite3", None, "sled's batch apply"),
    ("set_many", "cyberfly", "lmdb", None, "sled's batch apply"),
    ("set_many", "cyberfly", "rocksdict", None, "sled's batch apply"),
    ("get", "cyberfly", "lmdb", 1.0, "method call (no vectorcall in abi3 3.9) + str creation + hot-tier lookup"),
    ("get_hot100", "cyberfly", "lmdb", None, "same, 100 keys (all in CPU caches)"),
    ("get", "cyberfly", "rocksdict", None, ""),
    ("get", "cyberfly", "sqlite3", None, ""),
    ("get_many", "cyberfly", "lmdb", 1.5, "one str per value"),
    ("get_many", "cyberfly", "rocksdict", None, ""),
    ("tasks_write", "cyberfly", "aiosqlite", 5.0, "overwrites; asyncio Future per write, writer acks by callback"),
    ("tasks_insert", "cyberfly", "aiosqlite", None, "fresh keys: sled's inserts split leaves"),
    ("tasks_read", "cyberfly", "aiosqlite", 20.0, "cache hits: no hop"),
    ("tasks_read_miss", "cyberfly", "aiosqlite", None, "misses: as tasks_write"),
    ("verify_many_16keys", "cyberfly", "pynacl loop", 4.0, "cofactored batch equation, one term per key, 2 cores"),
    ("verify_many_16keys", "cyberfly", "cyberfly core (Rust)", None, "item conversion + asyncio round trip"),
    ("verify_many_distinct", "cyberfly", "pynacl loop", 4.0, "one key decompression and one point per signature"),
    ("verify_many_distinct", "cyberfly", "cyberfly core (Rust)", None, "item conversion + asyncio round trip"),
    # issue 20: the blocking client, one call at a time
    (
        "seq_get",
        "cyberfly blocking",
        "lmdb",
        None,
        "method call + str creation + hot-tier lookup; lmdb in one read txn",
    ),
    ("seq_get", "cyberfly blocking", "sqlite3", None, ""),
    ("seq_get", "cyberfly blocking", "cyberfly async", None, "no awaitable to make and await"),
    ("seq_set", "cyberfly blocking", "lmdb", None, "lmdb: one write txn per set, no fsync"),
    ("seq_set", "cyberfly blocking", "sqlite3", None, "sqlite3: one autocommit statement per set, no fsync"),
    ("seq_set", "cyberfly blocking", "cyberfly async", None, "no awaitable to make and await"),
    # issue 16: reads that miss the cache (keys shuffled, lmdb read the same way)
    ("cold_get_after_write", "cyberfly", "lmdb", 1.0, "written through: hot hits"),
    ("cold_get_after_reopen", "cyberfly", "lmdb", 0.5, "inline sled get + hot admission"),
    ("get_second_pass", "cyberfly", "lmdb", 1.0, "hot hits, shuffled"),
    ("cold_get_many", "cyberfly", "lmdb", 1.0, "inline sled gets without the GIL"),
    ("get_shuffled", "cyberfly", "lmdb", 1.0, "hot hits, shuffled: the slot and the block, one after the other"),
    ("zipf_hit_rate", "cyberfly", "ideal static top-k", 0.95, "CLOCK + TinyLFU admission; 1M reads"),
    ("zipf_hit_rate", "cyberfly", "perfect-history LFU", None, "the best an online policy can know"),
]

# Latency targets (issue 16): workload, target p99 in ms.
LATENCY = [
    ("mixed_batch_p99_read_ms", 5.0),
    ("mixed_batch_p99_write_ms", 10.0),
    ("mixed_sync_p99_read_ms", 5.0),
    ("mixed_sync_p99_write_ms", 10.0),
]


def latency_table(results: dict[str, dict[str, float]]) -> str:
    lines = ["| workload | cyberfly | target | met |", "|---|---:|---:|---|"]
    for wl in ("mixed_batch", "mixed_sync", "mixed_yield", "zipf_reads"):
        if wl in results:
            lines.append(f"| {wl} | {results[wl]['cyberfly']:,.0f} ops/s | | |")
    for wl, target in LATENCY:
        if wl in results:
            v = results[wl]["cyberfly"]
            lines.append(f"| {wl} | {v:.2f} ms | ≤ {target:g} ms | {'✓' if v <= target else '✗'} |")
    base = results.get("mixed_yield_p99_write_ms", {}).get("cyberfly")
    sync = results.get("mixed_sync_p99_write_ms", {}).get("cyberfly")
    if base and sync:
        lines.append(f"| mixed_yield_p99_write_ms (the loop's own turn) | {base:.2f} ms | | |")
        lines.append(f"| sync p99 write / the loop's own turn | {sync / base:.2f}x | | |")
    return "\n".join(lines)


def table(results: dict[str, dict[str, float]]) -> str:
    lines = [
        "| workload | cyberfly ops/s | peer | peer ops/s | ratio | target |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for wl, a, b, target, _why in TARGETS:
        r = results.get(wl, {})
        if a not in r or b not in r:
            continue
        ratio = r[a] / r[b]
        t = f"≥ {target:g}x" if target else ""
        mark = ""
        if target:
            mark = " ✓" if ratio >= target else " ✗"
        fmt = "{:,.3f}" if r[a] < 10 else "{:,.0f}"
        lines.append(f"| {wl} | {fmt.format(r[a])} | {b} | {fmt.format(r[b])} | {ratio:.2f}x{mark} | {t} |")
    return "\n".join(lines)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--value-size", type=int, default=100)
    ap.add_argument("--dir", default=None, help="work directory (default: a temporary one)")
    ap.add_argument("--json", default=None, help="also write the results here")
    ap.add_argument("--rounds", type=int, default=3, help="run everything this many times, keep the best")
    ap.add_argument(
        "--only",
        default=None,
        help="comma-separated steps: cyberfly,blocking,sqlite,aiosqlite,lmdb,rocksdict,verify,cold,zipf,mixed",
    )
    args = ap.parse_args()
    root = args.dir or tempfile.mkdtemp(prefix="cf-compare-")
    b = Bench(args.n, args.value_size, root)
    only = set(args.only.split(",")) if args.only else None
    print(
        f"N = {args.n:,}, values {args.value_size} B, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, cyberfly_store {cyberfly_store.__version__}",
        flush=True,
    )
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("cyberfly", b.cyberfly),
        ("blocking", b.blocking),
        ("sqlite", b.sqlite),
        ("aiosqlite", b.aiosqlite),
        ("lmdb", b.lmdb),
        ("rocksdict", b.rocksdict),
        ("verify", b.verify),
        ("cold", b.cold),
        ("zipf", b.zipf),
        ("mixed", b.mixed),
    ]
    try:
        for rnd in range(args.rounds):
            print(f"round {rnd + 1}/{args.rounds}", flush=True)
            for name, fn in steps:
                if only and name not in only:
                    continue
                r = fn()
                if asyncio.iscoroutine(r):
                    await r
                gc.collect()
    finally:
        if not args.dir:
            shutil.rmtree(root, ignore_errors=True)
    print()
    print(table(b.results))
    print()
    print(latency_table(b.results))
    if args.json:
        with open(args.json, "w") as f:  # noqa: ASYNC230 - after the measurements
            json.dump({"n": args.n, "results": b.results}, f, indent=2)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
