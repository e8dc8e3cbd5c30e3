"""Shared fixtures: a fresh store per test in pytest's tmp_path."""

from __future__ import annotations

import pathlib
from collections.abc import AsyncIterator

import pytest

import cyberfly_store


@pytest.fixture
def store_path(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "store"


@pytest.fixture
async def store(store_path: pathlib.Path) -> AsyncIterator[cyberfly_store.Store]:
    s = await cyberfly_store.open(store_path, durability="none", sweep_interval=0)
    try:
        yield s
    finally:
        await s.close()
