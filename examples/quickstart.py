"""The main Python example: open a store, use strings, a few of the nine
types and blobs, read the stats, close.

    pip install .                       # from the repository root
    python examples/quickstart.py [store-dir]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time

import cyberfly_store


async def main(path: str) -> None:
    async with cyberfly_store.open(path, durability="batch", hot_cache_bytes=32 << 20) as store:
        # Strings: keys are "{db}:{key}".
        await store.set("mydb:greeting", "hello")
        print("get        ", await store.get("mydb:greeting"))
        await store.set_many({f"mydb:user:{i}": f"name-{i}" for i in range(1000)})
        print("get_many   ", await store.get_many(["mydb:user:1", "mydb:user:999", "mydb:nobody"]))
        n = 0
        async for _key, _value in store.scan("mydb:user:"):
            n += 1
        print("scan       ", n, "keys")

        # A cache hit returns an awaitable that is already complete.
        t0 = time.perf_counter()
        for _ in range(100_000):
            await store.get("mydb:greeting")
        dt = time.perf_counter() - t0
        print(f"cached get  {100_000 / dt:,.0f} awaited gets/s")

        # A few of the nine types, with redis-py's shapes.
        await store.hset("mydb:profile", "name", "Ada")
        print("hgetall    ", await store.hgetall("mydb:profile"))
        await store.rpush("mydb:queue", "a", "b", "c")
        print("lrange     ", await store.lrange("mydb:queue", 0, -1))
        await store.zadd("mydb:scores", {"ada": 3.0, "bob": 1.5})
        print("zrange     ", await store.zrange("mydb:scores", 0, -1, withscores=True))
        await store.json_set("mydb:doc", {"items": [{"price": 5}, {"price": 50}]})
        print("json_filter", await store.json_filter("mydb:doc", "$.items[?@.price < 10]"))
        entry_id = await store.xadd("mydb:events", {"kind": "login"})
        print("xrange     ", await store.xrange("mydb:events", entry_id, entry_id))
        await store.ts_add("mydb:temp", 1_700_000_000_000, 21.5)
        print("ts_get     ", await store.ts_get("mydb:temp"))
        await store.geoadd("mydb:places", 13.361389, 38.115556, "Palermo")
        await store.geoadd("mydb:places", 15.087269, 37.502669, "Catania")
        km = await store.geodist("mydb:places", "Palermo", "Catania", unit="km")
        print("geodist km ", round(km or 0.0, 1))

        # Blobs are content-addressed by BLAKE3.
        h = await store.add_blob(b"raw bytes")
        print("blob       ", h[:16], "...", await store.get_blob(h))

        await store.flush()  # everything before is durable
        st = store.stats()
        print("hit rate   ", f"{st['cache']['hit_rate']:.3f}", "| writer batches", st["writer"]["batches"])

        try:
            await store.hget("mydb:greeting", "field")
        except cyberfly_store.WrongType as e:
            print("error      ", type(e).__name__, "code", e.code)
    print("closed")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp() + "/store"))
