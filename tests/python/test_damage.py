"""A damaged or rolled-back index is refused with Corrupt, and a recovery
open salvages what it holds (issue 18): the same behaviour as the core's
tests/damage.rs, through the Python module."""

from __future__ import annotations

import pathlib
import shutil

import pytest

import cyberfly_store


async def test_deleted_index_is_refused_then_recovered(store_path: pathlib.Path) -> None:
    big = "b" * 10_000
    kp = cyberfly_store.Keypair.generate()
    op = cyberfly_store.SignedOperation(db_name=f"db-{kp.public_key}", key="signed", value="sv").sign(kp)
    async with cyberfly_store.open(store_path, inline_threshold=64, gc_interval=0) as s:
        await s.set("small", "v")
        await s.set("big", big)
        assert (await s.apply(op)).applied
    shutil.rmtree(store_path / "index")

    with pytest.raises(cyberfly_store.Corrupt, match=r"behind.*recovery") as e:
        await cyberfly_store.open(store_path)
    assert e.value.code == 8
    # Nothing was changed by the refused open: the blob is still there.
    async with cyberfly_store.open(store_path, recovery=True, gc_interval=0) as s:
        assert await s.get("small") is None
        report = await s.recovery()
        assert report is not None
        assert report["index_mark"] is None and report["recorded_mark"] >= 1
        [h] = report["unreferenced_blobs"]  # the lost value's blob
        assert report["marks_lost"] is None  # the index holds no mark
        assert report["damaged_index"] is None  # deleted, not unreadable
        # The signed operation comes back from the journal beside the index.
        assert report["journal"] == {
            "read": 1,
            "restored": 1,
            "present": 0,
            "rejected": 0,
            "damaged": 0,
            "unreadable_bytes": 0,
        }
        assert await s.get(op.full_key) == "sv"
        assert await s.get_blob(h) == big.encode()
        with pytest.raises(cyberfly_store.Corrupt, match="garbage collection is off"):
            await s.collect_garbage()
    # After the recovery open's close, a normal open accepts the store.
    async with cyberfly_store.open(store_path) as s:
        assert await s.recovery() is None
        assert await s.get("small") is None


async def test_an_index_sled_cannot_open_is_set_aside(store_path: pathlib.Path) -> None:
    kp = cyberfly_store.Keypair.generate()
    op = cyberfly_store.SignedOperation(db_name=f"db-{kp.public_key}", key="signed", value="sv").sign(kp)
    async with cyberfly_store.open(store_path) as s:
        await s.set("plain", "v")
        assert (await s.apply(op)).applied
    conf = store_path / "index" / "conf"
    conf.write_bytes(bytes(b ^ 0xFF for b in conf.read_bytes()))
    before = _tree(store_path / "index")

    with pytest.raises(cyberfly_store.Corrupt, match="conf"):
        await cyberfly_store.open(store_path)
    async with cyberfly_store.open(store_path, recovery=True) as s:
        report = await s.recovery()
        assert report is not None
        moved = pathlib.Path(report["damaged_index"])
        assert moved.parent == store_path and moved.name.startswith("index.damaged-")
        assert report["journal"]["restored"] == 1
        assert await s.get(op.full_key) == "sv"
        assert await s.get("plain") is None  # unsigned: only the index held it
    assert _tree(moved) == before, "the damaged index is kept as it was"


def _tree(path: pathlib.Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


async def test_check_reports_clean_then_a_damaged_blob(store_path: pathlib.Path) -> None:
    big = "".join(chr(97 + i % 26) for i in range(40_000))
    async with cyberfly_store.open(store_path, inline_threshold=64, gc_interval=0) as s:
        await s.set("small", "v")
        await s.set("big", big)
        # An open store is refused: check needs a closed one.
        with pytest.raises(cyberfly_store.AlreadyOpen):
            cyberfly_store.check(store_path)
    before = _tree(store_path)
    report = cyberfly_store.check(store_path)
    assert report["clean"] is True and report["problems"] == []
    assert report["keys"] == 2 and report["blob_values"] == 1
    assert _tree(store_path) == before, "check changed a file"

    # One flipped byte in the big value's data file.
    [data] = (store_path / "blobs" / "data").glob("*.data")
    b = bytearray(data.read_bytes())
    b[len(b) // 2] ^= 0x5A
    data.write_bytes(bytes(b))
    report = cyberfly_store.check(store_path)
    assert report["clean"] is False
    [p] = report["problems"]
    assert p["kind"] == "blob_damaged" and p["keys"] == ["big"]
    assert data.name.startswith(p["hash"]) and p["hash"] in p["message"]
    async with cyberfly_store.open(store_path, gc_interval=0) as s:
        with pytest.raises(cyberfly_store.Corrupt, match="damaged"):
            await s.get("big")
        assert await s.get("small") == "v"

    with pytest.raises(cyberfly_store.IoError, match="nothing-here"):
        cyberfly_store.check(store_path / "nothing-here")
