"""The bad-input matrix (docs/RELIABILITY.md), Python column: every row
raises its typed exception, and the digest of the store's whole state is the
same before and after (and after a reopen)."""

from __future__ import annotations

import math
import pathlib
import time
from collections.abc import Awaitable
from typing import Any, Callable

import pytest

import cyberfly_store
from cyberfly_store import Keypair, SignedOperation, Store

# Each test taking `store` runs over Store and BlockingStore (conftest.py).
BOTH_CLIENTS = True

Row = tuple[str, type[BaseException], Callable[[], Awaitable[Any]]]


def signed(kp: Keypair, db: str, key: str, value: str, **kw: Any) -> SignedOperation:
    return SignedOperation(db_name=db, key=key, value=value, **kw).sign(kp)


async def seeded(path: pathlib.Path) -> tuple[Store, Keypair, str, SignedOperation]:
    s = await cyberfly_store.open(path, max_key_len=128, max_value_len=10_000, sweep_interval=0, gc_interval=0)
    kp = Keypair.generate()
    db = f"db-{kp.public_key}"
    # some state of every kind
    await s.set("str", "v")
    await s.rpush("list", "a")
    await s.zadd("z", {"m": 1.0})
    await s.json_set("j", {"a": 1})
    await s.xadd("x", {"f": "v"}, id="5-0")
    await s.geoadd("g", 1.0, 1.0, "m")
    await s.ts_add("t", 1, 1.0)
    good = signed(kp, db, "k", "v")
    assert (await s.apply(good)).applied
    return s, kp, db, good


def tampered(op: SignedOperation, **fields: Any) -> SignedOperation:
    """A copy of `op` (signature kept) with `fields` changed; setting a field
    may already raise (malformed hex is refused by the setter)."""
    o = SignedOperation.from_json(op.to_json())
    for k, v in fields.items():
        setattr(o, k, v)
    return o


async def test_every_bad_input_is_typed_and_changes_nothing(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "s"
    s, kp, db, good = await seeded(path)
    before = await s.state_digest()
    assert len(before) == 64 and int(before, 16) >= 0
    other = Keypair.generate()
    stale = int(time.time() * 1000) - 2 * 3_600_000

    rows: list[Row] = [
        ("empty key", cyberfly_store.InvalidArgument, lambda: s.set("", "v")),
        ("over-long key", cyberfly_store.KeyTooLong, lambda: s.set("k" * 129, "v")),
        ("over-long key (read)", cyberfly_store.KeyTooLong, lambda: s.get("k" * 129)),
        ("value over the maximum", cyberfly_store.ValueTooLarge, lambda: s.set("k", "v" * 10_001)),
        ("blob over the maximum", cyberfly_store.ValueTooLarge, lambda: s.add_blob(b"\0" * 10_001)),
        ("invalid UTF-8 key", cyberfly_store.InvalidArgument, lambda: s.set("\ud800", "v")),
        ("invalid UTF-8 value", cyberfly_store.InvalidArgument, lambda: s.set("str", "\udcff")),
        ("invalid UTF-8 read", cyberfly_store.InvalidArgument, lambda: s.get("\ud800")),
        ("malformed hex hash", cyberfly_store.InvalidArgument, lambda: s.get_blob("xyz")),
        ("wrong-length hash", cyberfly_store.InvalidArgument, lambda: s.get_blob(b"\0" * 31)),
        ("NaN score", cyberfly_store.InvalidArgument, lambda: s.zadd("z", {"m": math.nan})),
        ("infinite score", cyberfly_store.InvalidArgument, lambda: s.zadd("z", {"m": math.inf})),
        ("NaN time-series value", cyberfly_store.InvalidArgument, lambda: s.ts_add("t", 2, math.nan)),
        ("infinite time-series value", cyberfly_store.InvalidArgument, lambda: s.ts_add("t", 2, -math.inf)),
        ("longitude out of range", cyberfly_store.InvalidArgument, lambda: s.geoadd("g", 180.5, 0.0, "m")),
        ("latitude out of range", cyberfly_store.InvalidArgument, lambda: s.geoadd("g", 0.0, 86.0, "m")),
        ("radius query out of range", cyberfly_store.InvalidArgument, lambda: s.georadius("g", 0.0, 91.0, 1.0)),
        ("invalid JSONPath", cyberfly_store.InvalidArgument, lambda: s.json_get("j", "$[?")),
        # found by the jsonpath fuzz target (serde_json_path panicked on it)
        ("JSONPath ending inside a \\u escape", cyberfly_store.InvalidArgument, lambda: s.json_get("j", "$['\\u")),
        ("invalid JSONPath (write)", cyberfly_store.InvalidArgument, lambda: s.json_set("j", 1, "$[?")),
        ("malformed stream id", cyberfly_store.InvalidArgument, lambda: s.xadd("x", {"f": "v"}, id="1-x")),
        ("stream id not increasing", cyberfly_store.InvalidArgument, lambda: s.xadd("x", {"f": "v"}, id="4-0")),
        ("wrong-type operation", cyberfly_store.WrongType, lambda: s.hset("list", "f", "v")),
        ("wrong-type read", cyberfly_store.WrongType, lambda: s.lrange("str", 0, -1)),
        ("forged signature", cyberfly_store.InvalidSignature, lambda: s.apply(tampered(good, op_id="forged"))),
        ("forged value", cyberfly_store.InvalidSignature, lambda: s.apply(tampered(good, value="x"))),
        ("wrong owner", cyberfly_store.NotOwner, lambda: s.apply(signed(other, db, "k", "x"))),
        ("stale timestamp", cyberfly_store.Stale, lambda: s.apply(signed(kp, db, "k", "x", timestamp=stale))),
    ]

    async def malformed_public_key() -> Any:
        return await s.apply(tampered(good, public_key="zz" * 32))

    async def short_public_key() -> Any:
        return await s.apply(tampered(good, public_key=good.public_key[:62]))

    async def long_signature() -> Any:
        return await s.apply(tampered(good, signature=good.signature + "00"))

    async def raw_short_signature() -> Any:
        return await s.apply(tampered(good, signature=b"\1" * 63))

    async def bad_json() -> Any:
        return await s.apply(SignedOperation.from_json('{"op_id":'))

    async def bad_store_type() -> Any:
        return await s.apply(signed(kp, db, "k", "x", store_type="Bogus"))

    async def surrogate_op_key() -> Any:
        return await s.apply(signed(kp, db, "\ud800", "x"))

    async def surrogate_op_field() -> Any:
        op = SignedOperation(db_name=db, key="h", value="x", store_type="Hash")
        op.field = "\udcff"
        return await s.apply(op)

    rows += [
        ("invalid UTF-8 in a signed-op field", cyberfly_store.InvalidArgument, surrogate_op_key),
        ("invalid UTF-8 set on a signed op", cyberfly_store.InvalidArgument, surrogate_op_field),
        ("invalid UTF-8 JSONPath", cyberfly_store.InvalidArgument, lambda: s.json_filter("j", "$\ud800")),
        ("invalid UTF-8 in a JSON value", cyberfly_store.InvalidArgument, lambda: s.json_set("j2", {"a": "\ud800"})),
        ("invalid UTF-8 JSON object key", cyberfly_store.InvalidArgument, lambda: s.json_set("j2", {"\ud800": 1})),
        ("malformed hex public key", cyberfly_store.InvalidArgument, malformed_public_key),
        ("wrong-length public key", cyberfly_store.InvalidArgument, short_public_key),
        ("wrong-length signature (hex)", cyberfly_store.InvalidArgument, long_signature),
        ("wrong-length signature (bytes)", cyberfly_store.InvalidArgument, raw_short_signature),
        ("invalid signed-op JSON", cyberfly_store.InvalidArgument, bad_json),
        ("unknown store type", cyberfly_store.InvalidArgument, bad_store_type),
        # The Python counterpart of C's null pointer: None where str is due.
        ("None key", TypeError, lambda: s.set(None, "v")),  # type: ignore[arg-type]
        ("None value", TypeError, lambda: s.set("str", None)),  # type: ignore[arg-type]
    ]

    failures = []
    for name, exc, call in rows:
        try:
            await call()
        except exc as e:
            if isinstance(e, cyberfly_store.StoreError):
                assert type(e).code == e.code, name
            continue
        except BaseException as e:  # noqa: BLE001 - report the wrong type
            failures.append(f"{name}: {type(e).__name__}: {e}")
            continue
        failures.append(f"{name}: no error")
    assert failures == []

    # A replayed op_id is an outcome, not an error, and changes nothing.
    assert await s.apply(good) == "duplicate"
    outs = await s.apply_many([good, tampered(good, value="z")])
    assert outs[0] == "duplicate" and not outs[1].applied
    assert isinstance(outs[1].error, cyberfly_store.InvalidSignature)

    assert await s.state_digest() == before
    await s.close()

    # use after close
    for call in (lambda: s.get("str"), lambda: s.set("str", "x"), lambda: s.apply(good), s.state_digest):
        with pytest.raises(cyberfly_store.StoreClosed):
            await call()

    again = await cyberfly_store.open(path)
    try:
        assert await again.state_digest() == before
    finally:
        await again.close()


async def test_digest_sees_every_change(store: Store) -> None:
    """The digest is not constant: each kind of write moves it."""
    seen = {await store.state_digest()}
    for write in (
        lambda: store.set("a", "1"),
        lambda: store.set("a", "2"),
        lambda: store.rpush("l", "x"),
        lambda: store.zadd("z", {"m": 2.0}),
        lambda: store.hset("h", "f", "v"),
        lambda: store.delete("a"),
    ):
        await write()
        d = await store.state_digest()
        assert d not in seen
        seen.add(d)
