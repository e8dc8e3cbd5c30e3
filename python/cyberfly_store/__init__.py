"""cyberfly_store: the storage core of a Cyberfly data node, from Python.

A typed, content-addressed key-value store (Rust: sled index, iroh-blobs,
tiered cache, group-commit writer) with async methods::

    import asyncio, cyberfly_store

    async def main():
        async with cyberfly_store.open("/tmp/demo", durability="sync") as store:
            await store.set("mydb:greeting", "hello")
            print(await store.get("mydb:greeting"))

    asyncio.run(main())

`open(path, **config)` is awaitable (``store = await open(...)``), a
coroutine (``store = asyncio.run(open(...))``) and an async context manager
(``async with open(...) as store:``). Every store method that touches data
returns an awaitable; a read answered by the cache returns one that is
already complete. Errors are subclasses of :class:`StoreError`, each with
the core's numeric ``.code``.

For synchronous code (scripts, any thread, no event loop),
``open_blocking(path, **config)`` returns a :class:`BlockingStore`: the same
methods, answering values::

    with cyberfly_store.open_blocking("/tmp/demo") as store:
        store.set("mydb:greeting", "hello")
        print(store.get("mydb:greeting"))
"""

from __future__ import annotations

import atexit
import os
import weakref
from collections.abc import Coroutine, Generator
from typing import Any

from . import _native
from ._native import (
    AlreadyOpen,
    BlobMissing,
    BlobStoreFailure,
    BlockingCursor,
    BlockingStore,
    Corrupt,
    Cursor,
    IndexFailure,
    InternalError,
    InvalidArgument,
    InvalidConfig,
    InvalidSignature,
    IoError,
    Keypair,
    KeyTooLong,
    NoEventLoop,
    NotOwner,
    Outcome,
    Ready,
    SignedOperation,
    Stale,
    Store,
    StoreClosed,
    StoreError,
    SyncHandle,
    SyncServer,
    ValueTooLarge,
    WrongType,
    check,
    verify,
    verify_many,
)

__version__: str = _native.__version__

__all__ = [
    "open",
    "open_blocking",
    "Opener",
    "Store",
    "BlockingStore",
    "Cursor",
    "BlockingCursor",
    "Ready",
    "Keypair",
    "SignedOperation",
    "Outcome",
    "SyncServer",
    "SyncHandle",
    "verify",
    "verify_many",
    "check",
    "StoreError",
    "InvalidArgument",
    "InvalidConfig",
    "KeyTooLong",
    "ValueTooLarge",
    "StoreClosed",
    "AlreadyOpen",
    "WrongType",
    "Corrupt",
    "BlobMissing",
    "IoError",
    "IndexFailure",
    "BlobStoreFailure",
    "InvalidSignature",
    "NotOwner",
    "Stale",
    "InternalError",
    "NoEventLoop",
    "__version__",
]

# Stores opened through `open` that are still open at interpreter exit are
# closed (flushed) then, so that durability="none" loses nothing on a normal
# exit. Weak references: an open store never keeps itself (or the
# interpreter) alive.
_open_stores: weakref.WeakSet[Store] = weakref.WeakSet()


@atexit.register
def _at_exit() -> None:
    for store in list(_open_stores):
        try:
            store.close_blocking()
        except Exception:  # noqa: BLE001  # pragma: no cover - best effort at exit
            pass
    # No runtime thread may enter the interpreter once it finalizes.
    _native._shutdown()


class Opener(Coroutine[Any, Any, Store]):
    """What :func:`open` returns: await it for a :class:`Store`, use it as
    ``async with open(path) as store:`` (the store is closed on exit), or
    hand it to ``asyncio.run`` (it is a coroutine): ``store =
    asyncio.run(open(path))``. The store outlives that loop; close it with
    ``asyncio.run(store.close())`` or ``store.close_blocking()``."""

    __slots__ = ("_path", "_config", "_store", "_coro")

    def __init__(self, path: str | os.PathLike[str], config: dict[str, Any]) -> None:
        self._path = path
        self._config = config
        self._store: Store | None = None
        # Made on first use, so that an Opener never awaited (used only
        # with ``async with``) leaves no "never awaited" warning.
        self._coro: Coroutine[Any, Any, Store] | None = None

    async def _open(self) -> Store:
        store = await Store.open(self._path, **self._config)
        _open_stores.add(store)
        self._store = store
        return store

    def _coroutine(self) -> Coroutine[Any, Any, Store]:
        # The coroutine that send/throw drive (asyncio.run, create_task).
        if self._coro is None:
            self._coro = self._open()
        return self._coro

    def __await__(self) -> Generator[Any, None, Store]:
        """``store = await open(path, **config)`` (each ``await`` opens)."""
        return self._open().__await__()

    def send(self, value: Any, /) -> Any:
        """Coroutine protocol (``asyncio.run(open(path))``)."""
        return self._coroutine().send(value)

    def throw(self, typ: Any, val: Any = None, tb: Any = None, /) -> Any:
        """Coroutine protocol."""
        if val is None and tb is None:
            return self._coroutine().throw(typ)
        return self._coroutine().throw(typ, val, tb)  # pragma: no cover - legacy form

    def close(self) -> None:
        """Coroutine protocol."""
        if self._coro is not None:
            self._coro.close()

    async def __aenter__(self) -> Store:
        """Open the store for the ``async with`` block."""
        return await self._open()

    async def __aexit__(self, *exc: object) -> None:
        """Close the store at the end of the ``async with`` block."""
        if self._store is not None:
            await self._store.close()


def open(path: str | os.PathLike[str], **config: Any) -> Opener:  # noqa: A001
    """Open (or create) the store at ``path``.

    Keywords mirror the Rust ``Config``: ``durability`` ("none", "batch"
    (default) or "sync"), ``hot_cache_bytes``, ``warm_cache_bytes``,
    ``warm_ttl`` (seconds), ``inline_threshold``, ``flush_every_ms``,
    ``max_key_len``, ``max_value_len``, ``max_member_len`` (bytes of a set, sorted-set or geo
    member or a hash field name; default 64 KiB), ``writer_max_batch``,
    ``writer_max_delay`` (seconds), ``writer_queue_depth``, ``gc_interval``,
    ``sweep_interval`` and ``memory_trim_interval`` (seconds), ``scan_page_size``,
    ``sled_cache_capacity``, ``throughput_mode``, ``compression``,
    ``compression_factor``, ``runtime_threads``, ``reader_threads``,
    ``inline_read_limit`` (seconds: the longest a cache miss may be read on
    the calling thread before misses go to the reader pool for a while; 0 =
    always the pool; the same guard decides whether a ``set`` or ``delete``
    under durability none or batch is applied on the calling thread),
    ``warm_restart`` (bool, default True: write the hot cache to a snapshot
    at a clean close and load it at the next open), ``recovery`` (bool,
    default False: open an index that is behind the store's durability mark
    — damaged or rolled back, which a normal open refuses with
    :class:`Corrupt` — to salvage what it holds and restore the signed
    operations it lost from the operation journal; see ``Store.recovery()``),
    ``oplog_journal`` (bool, default True: keep the journal of applied
    signed operations, ``oplog.journal`` beside the index, that a recovery
    open restores from; about the bytes of every signed operation once more
    on disk).
    An unknown
    keyword or a bad value raises :class:`InvalidConfig`.

    Use as ``store = await open(path)``, ``async with open(path) as store:``
    or ``store = asyncio.run(open(path))``. For synchronous code, see
    :func:`open_blocking`.
    """
    return Opener(path, config)


def open_blocking(path: str | os.PathLike[str], **config: Any) -> BlockingStore:
    """Open (or create) the store at ``path`` for synchronous code and wait
    for it: a :class:`BlockingStore`, with the methods of :class:`Store`
    answering values instead of awaitables. Needs no event loop; usable
    from any thread and as ``with open_blocking(path) as store:`` (closed on
    exit). Keywords as for :func:`open`. As ``redis.Redis`` beside
    ``redis.asyncio.Redis``: a cache hit (or a read from the index's memory)
    is answered on the calling thread; anything else blocks the calling
    thread, without the GIL, until the store answers.
    """
    store = BlockingStore.open(path, **config)
    _open_stores.add(store.store)
    return store
