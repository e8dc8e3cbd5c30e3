"""Shared fixtures: a fresh store per test in pytest's tmp_path.

A test module that sets ``BOTH_CLIENTS = True`` runs each test taking the
``store`` fixture twice: over the async :class:`cyberfly_store.Store` and
over :class:`cyberfly_store.BlockingStore` (the same store opened with
``open_blocking``), seen through :class:`AwaitBlocking`, which makes each
blocking answer awaitable so that the same test body checks both clients.
"""

from __future__ import annotations

import pathlib
from collections.abc import AsyncIterator, Generator, Iterator
from typing import Any, cast

import pytest

import cyberfly_store


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "async_only: in a BOTH_CLIENTS module, run over the async Store only")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if (
        getattr(metafunc.module, "BOTH_CLIENTS", False)
        and "store" in metafunc.fixturenames
        and metafunc.definition.get_closest_marker("async_only") is None
    ):
        metafunc.parametrize("client", ["async", "blocking"])


@pytest.fixture
def client() -> str:
    return "async"


@pytest.fixture
def store_path(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "store"


class _Done:
    """An answer the blocking client already gave, as an awaitable."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __await__(self) -> Generator[Any, None, Any]:
        return self.value
        yield  # pragma: no cover - makes this a generator


class _AsyncCursor:
    """A BlockingCursor seen as the async Cursor: ``async for`` and ``await``."""

    def __init__(self, cursor: cyberfly_store.BlockingCursor) -> None:
        self._it: Iterator[Any] = iter(cursor)

    def __aiter__(self) -> _AsyncCursor:
        return self

    async def __anext__(self) -> Any:
        try:
            return next(self._it)
        except StopIteration:
            raise StopAsyncIteration from None

    def __await__(self) -> Generator[Any, None, list[Any]]:
        return _Done(list(self._it)).__await__()


class AwaitBlocking:
    """A BlockingStore with the async Store's face: each method is called on
    the BlockingStore (it blocks and answers the value, or raises at the
    call) and its answer is handed back as an awaitable."""

    def __init__(self, blocking: cyberfly_store.BlockingStore) -> None:
        self.blocking = blocking

    def __repr__(self) -> str:
        return repr(self.blocking)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.blocking, name)
        if not callable(attr):
            return attr
        if name in ("config", "disk_usage", "stats", "metrics_text", "verify_stats", "close_blocking"):
            return attr  # synchronous in both clients

        def call(*args: Any, **kwargs: Any) -> Any:
            out = attr(*args, **kwargs)
            if isinstance(out, cyberfly_store.BlockingCursor):
                return _AsyncCursor(out)
            return _Done(out)

        return call


@pytest.fixture
async def store(store_path: pathlib.Path, client: str) -> AsyncIterator[cyberfly_store.Store]:
    if client == "blocking":
        b = cyberfly_store.open_blocking(store_path, durability="none", sweep_interval=0)
        try:
            yield cast(cyberfly_store.Store, AwaitBlocking(b))
        finally:
            b.close()
        return
    s = await cyberfly_store.open(store_path, durability="none", sweep_interval=0)
    try:
        yield s
    finally:
        await s.close()
