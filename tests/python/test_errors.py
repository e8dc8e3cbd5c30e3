"""Every error mapping: one class per core error code, all under StoreError,
each carrying the core's numeric code."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

import cyberfly_store
from cyberfly_store import _native

CODES = {
    "InvalidArgument": 1,
    "InvalidConfig": 2,
    "KeyTooLong": 3,
    "ValueTooLarge": 4,
    "StoreClosed": 5,
    "AlreadyOpen": 6,
    "WrongType": 7,
    "Corrupt": 8,
    "BlobMissing": 9,
    "IoError": 10,
    "IndexFailure": 11,
    "BlobStoreFailure": 12,
    "InvalidSignature": 13,
    "NotOwner": 14,
    "Stale": 15,
    "InternalError": 99,
}


@pytest.mark.parametrize("name,code", sorted(CODES.items()))
def test_each_core_code_maps_to_its_class(name: str, code: int) -> None:
    cls = getattr(cyberfly_store, name)
    assert issubclass(cls, cyberfly_store.StoreError)
    assert issubclass(cls, Exception)
    assert cls.code == code
    assert cls.__doc__
    with pytest.raises(cls) as e:
        _native._raise_error(code, "boom")
    assert type(e.value) is cls
    assert e.value.code == code
    assert isinstance(e.value, cyberfly_store.StoreError)


def test_root_and_unknown_code() -> None:
    assert cyberfly_store.StoreError.code == 99
    with pytest.raises(cyberfly_store.InvalidArgument):
        _native._raise_error(42)
    # No class is shared between two codes.
    assert len({getattr(cyberfly_store, n) for n in CODES}) == len(CODES)


async def test_invalid_config(tmp_path: pathlib.Path) -> None:
    for bad in (
        {"durability": "fast"},
        {"no_such_option": 1},
        {"writer_max_batch": 0},
        {"durability": "batch", "flush_every_ms": 0},
        {"hot_cache_bytes": -1},
        {"hot_cache_bytes": "big"},
        {"warm_ttl": -1.0},
        {"compression": "yes"},
        {"throughput_mode": "turbo"},
        {"scan_page_size": True},
    ):
        with pytest.raises(cyberfly_store.InvalidConfig) as e:
            await cyberfly_store.open(tmp_path / "s", **bad)
        assert e.value.code == 2, bad
    assert not (tmp_path / "s").exists()  # nothing was created


async def test_key_and_value_limits(tmp_path: pathlib.Path) -> None:
    async with cyberfly_store.open(tmp_path / "s", max_key_len=8, max_value_len=16) as s:
        with pytest.raises(cyberfly_store.KeyTooLong) as e:
            await s.set("k" * 9, "v")
        assert e.value.code == 3
        with pytest.raises(cyberfly_store.KeyTooLong):
            await s.get("k" * 9)
        with pytest.raises(cyberfly_store.ValueTooLarge) as e2:
            await s.set("k", "v" * 17)
        assert e2.value.code == 4
        with pytest.raises(cyberfly_store.ValueTooLarge):
            await s.add_blob(b"x" * 17)
        with pytest.raises(cyberfly_store.InvalidArgument) as e3:
            await s.set("", "v")
        assert e3.value.code == 1
        assert await s.get("k") is None  # nothing was written


async def test_io_error(tmp_path: pathlib.Path) -> None:
    f = tmp_path / "file"
    f.write_text("not a directory")
    with pytest.raises(cyberfly_store.IoError) as e:
        await cyberfly_store.open(f)
    assert e.value.code == 10


async def test_already_open_in_another_process(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "s"
    holder = subprocess.Popen(  # noqa: ASYNC220 - a holder process that runs alongside
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import asyncio, sys, cyberfly_store
                async def main():
                    s = await cyberfly_store.open({str(path)!r})
                    print("open", flush=True)
                    sys.stdin.readline()
                    await s.close()
                asyncio.run(main())
                """
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        with pytest.raises(cyberfly_store.AlreadyOpen) as e:
            await cyberfly_store.open(path)
        assert e.value.code == 6
        assert "another process" in str(e.value)
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.wait(timeout=60) == 0
    async with cyberfly_store.open(path):
        pass


async def test_blob_missing(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "s"
    big = "b" * 200_000  # over iroh-blobs' own inline limit: a data file
    async with cyberfly_store.open(path, inline_threshold=64) as s:
        await s.set("db:big", big)
    removed = 0
    for root, _dirs, files in os.walk(path / "blobs"):
        for name in files:
            p = pathlib.Path(root) / name
            if p.stat().st_size >= 200_000:
                p.unlink()
                removed += 1
    if removed == 0:
        pytest.skip("the blob store kept the value in its database")
    async with cyberfly_store.open(path) as s:
        with pytest.raises(cyberfly_store.StoreError) as e:
            await s.get("db:big")
        assert e.value.code in (9, 10, 12), e.value


def test_exceptions_are_documented() -> None:
    for name in [*list(CODES), "StoreError"]:
        assert getattr(cyberfly_store, name).__module__ == "cyberfly_store"
