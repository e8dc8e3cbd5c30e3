"""Replication from Python: serve to allowed peers, sync_from with
progress, a continuous sync with its handle, a peer not allowed, and the
errors (stores in one process, on loopback)."""

from __future__ import annotations

import asyncio
import pathlib
from typing import Any

import pytest

import cyberfly_store
from cyberfly_store import Keypair, SignedOperation, Store


def ops(kp: Keypair, n: int, prefix: str) -> list[SignedOperation]:
    db = f"sync-{kp.public_key}"
    out = []
    for i in range(n):
        out.append(SignedOperation(db_name=db, key=f"{prefix}{i}", value=str(i)).sign(kp))
        out.append(SignedOperation(db_name=db, key="log", value=f"{prefix}{i}", store_type="List").sign(kp))
    return out


async def open_store(path: pathlib.Path) -> Store:
    return await cyberfly_store.open(path, durability="none", sweep_interval=0)


async def test_serve_and_sync_from(tmp_path: pathlib.Path) -> None:
    a, b = await open_store(tmp_path / "a"), await open_store(tmp_path / "b")
    kp = Keypair.generate()
    await a.apply_many(ops(kp, 50, "k"))
    b_id = await b.sync_node_id()
    assert len(b_id) == 64 and b_id == await b.sync_node_id()
    server = await a.serve(bind="127.0.0.1:0", allow=[b_id])
    assert isinstance(server, cyberfly_store.SyncServer)
    assert str(server) == server.ticket and "@127.0.0.1:" in server.address
    assert len(server.node_id) == 64

    seen: list[dict[str, Any]] = []
    report = await b.sync_from(server.ticket, progress=seen.append, bind="127.0.0.1:0", page_ops=16)
    assert report["received"] == report["applied"] == 100
    assert report["forged"] == 0 and report["pages"] == 7
    assert report["peer_store"] == await a.store_id()
    assert isinstance(report["transfer"], float)
    await asyncio.sleep(0.05)  # progress arrives through the loop
    assert seen and seen[-1]["received"] == 100
    assert await b.sync_watermarks() == {await a.store_id(): 100}
    assert await b.llen(f"sync-{kp.public_key}:log") == 50

    # resumes: nothing new, nothing received; the direct address works too
    again = await b.sync_from(server.address, bind="127.0.0.1:0")
    assert again["received"] == 0

    await server.shutdown()
    await server.shutdown()  # idempotent
    await a.close()
    await b.close()


async def test_continuous(tmp_path: pathlib.Path) -> None:
    a, b = await open_store(tmp_path / "a"), await open_store(tmp_path / "b")
    kp = Keypair.generate()
    server = await a.serve(bind="127.0.0.1:0", allow="*")
    handle = b.sync_continuous(server.ticket, bind="127.0.0.1:0", poll_wait=0.5, retry_after=0.05)
    assert handle.running
    await a.apply_many(ops(kp, 20, "c"))
    for _ in range(500):
        if handle.report()["watermark"] >= 40:
            break
        await asyncio.sleep(0.01)
    final = await handle.stop()
    assert final["applied"] == 40 and not handle.running
    assert (await handle.stop())["applied"] == 40
    assert handle.errors() == []
    await server.shutdown()
    await a.close()
    await b.close()


async def test_bad_peers_and_config(store: Store) -> None:
    with pytest.raises(cyberfly_store.InvalidArgument):
        await store.sync_from("not a peer")
    with pytest.raises(cyberfly_store.InvalidArgument):
        await store.serve(bind="nowhere")
    with pytest.raises(cyberfly_store.InvalidArgument):
        await store.serve(bind="127.0.0.1:0", allow=["not-a-node-id"])
    with pytest.raises(cyberfly_store.InvalidArgument):
        store.sync_continuous("x@", poll_wait=-1)
    # a peer that went away: an I/O error after the connect timeout
    server = await store.serve(bind="127.0.0.1:0")
    address = server.address
    await server.shutdown()
    with pytest.raises(cyberfly_store.IoError):
        await store.sync_from(address, bind="127.0.0.1:0", connect_timeout=1)


async def test_a_peer_not_allowed_is_refused(tmp_path: pathlib.Path) -> None:
    a, c = await open_store(tmp_path / "a"), await open_store(tmp_path / "c")
    kp = Keypair.generate()
    await a.apply_many(ops(kp, 5, "k"))
    for allow in (None, [await a.sync_node_id()]):  # nobody; someone else
        server = await a.serve(bind="127.0.0.1:0", allow=allow)
        with pytest.raises(cyberfly_store.IoError, match="not allowed"):
            await c.sync_from(server.ticket, bind="127.0.0.1:0")
        await server.shutdown()
    assert await c.log_len() == 0
    assert await c.get(f"sync-{kp.public_key}:k0") is None
    assert await c.sync_watermarks() == {}
    await a.close()
    await c.close()
