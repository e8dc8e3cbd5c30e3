"""Stress (issue 7, point 4): 64 Python threads, each running its own event
loop, and 1 000 asyncio tasks among them doing mixed reads, writes and
signed applies on one store for CYBERFLY_STRESS_SECONDS (default 5; the long
run is 60, see docs/RELIABILITY.md). No deadlock (every thread finishes
within a deadline), no error, no lost update: every task's last write to
each of its keys is what the store holds at the end, and the shared list and
hash hold every acknowledged append and field."""

from __future__ import annotations

import asyncio
import os
import pathlib
import random
import threading
import time
from dataclasses import dataclass, field

import cyberfly_store
from cyberfly_store import Keypair, SignedOperation, Store

THREADS = 64
TASKS = 1000


@dataclass
class Task:
    tid: int
    last_set: int = 0
    last_hset: int = 0
    last_signed: int = 0
    signed: int = 0
    pushed: list[int] = field(default_factory=list)
    ops: int = 0


async def task_loop(store: Store, t: Task, kp: Keypair, db: str, deadline: float) -> None:
    rnd = random.Random(t.tid)
    ts = 0
    i = 0
    while time.monotonic() < deadline:
        i += 1
        kind = rnd.randrange(5)
        if kind == 0:
            await store.set(f"s:{t.tid}", str(i))
            t.last_set = i
            # read your own write, through the cache
            assert await store.get(f"s:{t.tid}") == str(i)
        elif kind == 1:
            await store.hset("shared-h", str(t.tid), str(i))
            t.last_hset = i
            assert await store.rpush("shared-l", f"{t.tid}:{i}") >= len(t.pushed) + 1
            t.pushed.append(i)
        elif kind == 2:
            ts = max(ts + 1, int(time.time() * 1000))
            op = SignedOperation(db_name=db, key=f"t{t.tid}", value=str(i), timestamp=ts)
            out = await store.apply(op.sign(kp))
            assert out == "applied", (out, out.error)
            t.last_signed = i
            t.signed += 1
            if rnd.random() < 0.2:  # a replay is a no-op
                assert await store.apply(op) == "duplicate"
        elif kind == 3:
            others = [f"s:{rnd.randrange(TASKS)}" for _ in range(8)]
            for v in await store.get_many(others):
                assert v is None or v.isdigit()
        else:
            v = await store.get(f"{db}:t{t.tid}")
            assert v == (str(t.last_signed) if t.last_signed else None)
            assert await store.hget("shared-h", str(t.tid)) == (str(t.last_hset) if t.last_hset else None)
        t.ops += 1


async def test_64_threads_1000_tasks_mixed(tmp_path: pathlib.Path) -> None:
    seconds = float(os.environ.get("CYBERFLY_STRESS_SECONDS", "5"))
    store = await cyberfly_store.open(tmp_path / "s", durability="batch", sweep_interval=0)
    tasks = [Task(tid) for tid in range(TASKS)]
    keys = [Keypair.generate() for _ in range(THREADS)]
    dbs = [f"stress-{kp.public_key}" for kp in keys]
    errors: list[BaseException] = []
    barrier = threading.Barrier(THREADS)
    deadline_box: list[float] = []

    def run(th: int) -> None:
        async def main() -> None:
            mine = tasks[th::THREADS]
            await asyncio.gather(*(task_loop(store, t, keys[th], dbs[th], deadline_box[0]) for t in mine))

        try:
            if barrier.wait() == 0:
                deadline_box.append(time.monotonic() + seconds)
            barrier.wait()
            asyncio.run(main())
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=run, args=(th,), daemon=True) for th in range(THREADS)]
    t0 = time.monotonic()
    for th in threads:
        th.start()
    # No deadlock: everything ends within a generous margin of the deadline.
    limit = t0 + seconds + 120
    while any(th.is_alive() for th in threads) and time.monotonic() < limit:  # noqa: ASYNC110 - OS threads
        await asyncio.sleep(0.05)
    stuck = [i for i, th in enumerate(threads) if th.is_alive()]
    assert not stuck, f"threads still running after {seconds + 120:.0f} s: {stuck[:8]}"
    assert not errors, errors[:3]

    total = sum(t.ops for t in tasks)
    assert all(t.ops > 0 for t in tasks), "a task never ran"
    # No lost update: the store holds every task's last acknowledged write.
    sets = await store.get_many([f"s:{t.tid}" for t in tasks])
    assert sets == [str(t.last_set) if t.last_set else None for t in tasks]
    h = await store.hgetall("shared-h")
    assert h == {str(t.tid): str(t.last_hset) for t in tasks if t.last_hset}
    signed = await store.get_many([f"{dbs[t.tid % THREADS]}:t{t.tid}" for t in tasks])
    assert signed == [str(t.last_signed) if t.last_signed else None for t in tasks]
    # Every acknowledged append is there once, each task's in its order.
    items = await store.lrange("shared-l", 0, -1)
    assert len(items) == sum(len(t.pushed) for t in tasks)
    per_task: dict[int, list[int]] = {}
    for it in items:
        tid, i = it.split(":")
        per_task.setdefault(int(tid), []).append(int(i))
    assert per_task == {t.tid: t.pushed for t in tasks if t.pushed}
    # The log holds one entry per applied (not replayed) signed op.
    assert await store.log_len() == sum(t.signed for t in tasks)
    print(f"stress: {seconds:.0f} s, {total} operations, {len(items)} appends")
    await store.close()
