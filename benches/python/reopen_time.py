"""Open and close times with and without a warm-restart snapshot (issue 16).

N keys with 100-byte values (durability none, as compare.py's cold rows),
then per round: a close that writes the snapshot, an open that loads it
(and how many entries it loaded), and an open and close with
warm_restart=False on the same directory without a snapshot (the baseline).

    .venv-test/bin/python benches/python/reopen_time.py --n 100000 --rounds 3
"""

import argparse
import asyncio
import statistics
import tempfile
import time

import cyberfly_store


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="reopen-")
    keys = [f"k:{i:08d}" for i in range(a.n)]
    val = "v" * 100
    s = await cyberfly_store.open(d, durability="none")
    for i in range(0, a.n, 1000):
        await s.set_many([(k, val) for k in keys[i : i + 1000]])
    res: dict = {k: [] for k in ("close_on", "open_on", "open_off", "close_off")}
    loaded = []
    for _ in range(a.rounds):
        for k in keys:
            await s.get(k)
        t0 = time.perf_counter()
        await s.close()
        res["close_on"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        s = await cyberfly_store.open(d, durability="none")
        res["open_on"].append(time.perf_counter() - t0)
        loaded.append(s.stats()["cache"]["hot"]["entries"])
        await s.close()
        # Discard the snapshot that close wrote, then the baseline pair.
        s = await cyberfly_store.open(d, durability="none", warm_restart=False)
        await s.close()
        t0 = time.perf_counter()
        s = await cyberfly_store.open(d, durability="none", warm_restart=False)
        res["open_off"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        await s.close()
        res["close_off"].append(time.perf_counter() - t0)
        s = await cyberfly_store.open(d, durability="none")
    await s.close()
    for k, v in res.items():
        print(f"{k:10} median {statistics.median(v) * 1e3:8.1f} ms  all {[round(x * 1e3, 1) for x in v]}")
    print("hot entries right after the warm open:", loaded)


asyncio.run(main())
