"""Instructions per call of the cached read paths, for callgrind (stable on a
loaded machine, unlike wall-clock time).

Run it twice under callgrind with two loop counts; the difference of the
totals divided by the difference of the calls is the cost of one call:

    for loops in 200 1200; do
      valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.$loops \\
        .venv-test/bin/python benches/python/instructions.py get 100 $loops
    done    # then (Ir(1200) - Ir(200)) / (1000 * 100)

Workloads: `get` (awaited get of cached keys), `get_many` (chunks of 100),
`lmdb` (lmdb's txn.get on the same keys, bytes in and out, as compare.py).
"""

import asyncio
import sys
import tempfile

import cyberfly_store

what, nkeys, loops = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
keys = [f"bench:{i:08d}" for i in range(nkeys)]
values = ["v" * 100 for _ in range(nkeys)]


async def cyberfly(root: str) -> None:
    async with cyberfly_store.open(root, durability="none") as s:
        await s.set_many(list(zip(keys, values)))
        for i in range(0, nkeys, 1000):
            await s.get_many(keys[i : i + 1000])  # fills the warm tier
            await s.get_many(keys[i : i + 1000])  # promotes to the hot tier
        get, get_many = s.get, s.get_many
        if what == "get":
            for _ in range(loops):
                for k in keys:
                    await get(k)
        elif what == "get_many":
            chunks = [keys[i : i + 100] for i in range(0, nkeys, 100)]
            for _ in range(loops):
                for c in chunks:
                    await get_many(c)


def lmdb_get(root: str) -> None:
    import lmdb

    env = lmdb.open(root, map_size=1 << 30)
    bkeys = [k.encode() for k in keys]
    with env.begin(write=True) as t:
        for k, v in zip(bkeys, values):
            t.put(k, v.encode())
    with env.begin() as t:
        g = t.get
        for _ in range(loops):
            for k in bkeys:
                g(k)


with tempfile.TemporaryDirectory() as root:
    if what == "lmdb":
        lmdb_get(root)
    else:
        asyncio.run(cyberfly(root))
