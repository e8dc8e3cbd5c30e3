"""Notebook-friendly: run a small mixed workload and plot `store.stats()`
over time with matplotlib (an optional dependency: without it the numbers
are printed instead).

In a notebook, paste the body of `main` into a cell and `await main()`
(Jupyter runs an event loop already). From a shell:

    python examples/plot_stats.py [out.png]
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
import time

import cyberfly_store


async def collect(store: cyberfly_store.Store, seconds: float = 2.0) -> list[dict]:
    """Run writes and reads for `seconds`, sampling stats() every 100 ms."""
    samples: list[dict] = []
    keys = [f"demo:k{i}" for i in range(5000)]
    t0 = time.perf_counter()

    async def load() -> None:
        while time.perf_counter() - t0 < seconds:
            batch = random.sample(keys, 100)
            await store.set_many({k: "v" * 64 for k in batch})
            await asyncio.gather(*(store.get(k) for k in random.sample(keys, 200)))

    async def sample() -> None:
        while time.perf_counter() - t0 < seconds:
            st = store.stats()
            st["t"] = time.perf_counter() - t0
            samples.append(st)
            await asyncio.sleep(0.1)

    await asyncio.gather(load(), sample())
    return samples


def plot(samples: list[dict], out: str | None) -> bool:
    """Plot hit rate, operations and writer batches; False without matplotlib."""
    try:
        import matplotlib

        if out:
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    t = [s["t"] for s in samples]
    fig, ax = plt.subplots(1, 3, figsize=(13, 3.5))
    ax[0].plot(t, [s["cache"]["hit_rate"] for s in samples], label="all tiers")
    ax[0].plot(t, [s["cache"]["hot"]["hit_rate"] for s in samples], label="hot")
    ax[0].set_title("cache hit rate")
    ax[0].legend()
    ax[1].plot(t, [s["ops"]["get"] for s in samples], label="get")
    ax[1].plot(t, [s["ops"]["set_many"] for s in samples], label="set_many")
    ax[1].set_title("operations")
    ax[1].legend()
    ax[2].plot(t, [s["writer"]["mean_batch_size"] for s in samples])
    ax[2].set_title("writer: mean batch size")
    for a in ax:
        a.set_xlabel("s")
    fig.tight_layout()
    if out:
        fig.savefig(out)
        print("wrote", out)
    else:
        plt.show()
    return True


async def main(out: str | None = None) -> list[dict]:
    async with cyberfly_store.open(tempfile.mkdtemp() + "/store") as store:
        samples = await collect(store)
    if not plot(samples, out):
        last = samples[-1]
        print("matplotlib is not installed; last sample:")
        print("  hit rate", round(last["cache"]["hit_rate"], 3), "ops", last["ops"])
    return samples


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else None))
