"""Interleaved A/B of cached reads: cyberfly's awaited `get` and `get_many`
of 100 against lmdb's `txn.get` and `cursor.getmulti`, on the same keys
(`bench:%08d`, 100-byte values), alternated `--rounds` times in one process;
prints the median rate of each and the ratios. On a shared machine the
alternation matters more than the absolute figures.

    .venv-test/bin/python benches/python/ab_get.py --n 100000 --rounds 7
    .venv-test/bin/python benches/python/ab_get.py --n 100000 --shuffle

`--shuffle` reads the keys in a random order (the same order for both).
"""

import argparse
import asyncio
import gc
import random
import statistics
import tempfile
import time

import lmdb

import cyberfly_store


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--shuffle", action="store_true")
    a = ap.parse_args()
    n = a.n
    keys = [f"bench:{i:08d}" for i in range(n)]
    values = ["v" * 100 for _ in range(n)]
    with tempfile.TemporaryDirectory() as root:
        env = lmdb.open(f"{root}/lmdb", map_size=1 << 30, sync=False, metasync=False)
        with env.begin(write=True) as t:
            for k, v in zip(keys, values):
                t.put(k.encode(), v.encode())
        async with cyberfly_store.open(f"{root}/cf", durability="none") as s:
            await s.set_many(list(zip(keys, values)))
            for i in range(0, n, 1000):
                await s.get_many(keys[i : i + 1000])  # miss: fills the warm tier
                await s.get_many(keys[i : i + 1000])  # promotes to the hot tier
            order = list(keys)
            if a.shuffle:
                random.Random(1).shuffle(order)
            border = [k.encode() for k in order]
            chunks = [order[i : i + 100] for i in range(0, n, 100)]
            bchunks = [border[i : i + 100] for i in range(0, n, 100)]
            get, get_many = s.get, s.get_many
            rates: dict[str, list[float]] = {"cf get": [], "lmdb get": [], "cf get_many": [], "lmdb getmulti": []}
            with env.begin() as txn:
                lget, cur = txn.get, txn.cursor()
                for _ in range(a.rounds):
                    gc.collect()
                    t0 = time.perf_counter()
                    for k in order:
                        await get(k)
                    rates["cf get"].append(n / (time.perf_counter() - t0))
                    t0 = time.perf_counter()
                    for k in border:
                        lget(k)
                    rates["lmdb get"].append(n / (time.perf_counter() - t0))
                    t0 = time.perf_counter()
                    for c in chunks:
                        await get_many(c)
                    rates["cf get_many"].append(n / (time.perf_counter() - t0))
                    t0 = time.perf_counter()
                    for c in bchunks:
                        cur.getmulti(c)
                    rates["lmdb getmulti"].append(n / (time.perf_counter() - t0))
            assert await get(keys[-1]) == values[-1]
        env.close()
    med = {k: statistics.median(v) for k, v in rates.items()}
    for k, v in med.items():
        print(f"{k:14} median {v:12,.0f}/s  rounds {', '.join(f'{x:,.0f}' for x in rates[k])}")
    print(f"get      ratio {med['cf get'] / med['lmdb get']:.2f}x")
    print(f"get_many ratio {med['cf get_many'] / med['lmdb getmulti']:.2f}x")


asyncio.run(main())
