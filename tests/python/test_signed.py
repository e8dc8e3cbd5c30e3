"""Signed operations: keys, signatures, verify / verify_many, apply /
apply_many with outcomes, the operation log."""

from __future__ import annotations

import time
from typing import Any

import pytest

import cyberfly_store
from cyberfly_store import Keypair, Outcome, SignedOperation, Store

# Each test taking `store` runs over Store and BlockingStore (conftest.py).
BOTH_CLIENTS = True


def test_keypair() -> None:
    kp = Keypair.generate()
    assert len(kp.public_key) == 64 and int(kp.public_key, 16) >= 0
    again = Keypair.from_secret(kp.secret_key)
    assert again.public_key == kp.public_key
    assert Keypair.from_secret(bytes.fromhex(kp.secret_key)).public_key == kp.public_key
    sig = kp.sign(b"hello")
    assert isinstance(sig, bytes) and len(sig) == 64
    assert kp.sign(bytearray(b"hello")) == sig
    assert kp.public_key in repr(kp) and kp.secret_key not in repr(kp)
    with pytest.raises(cyberfly_store.InvalidArgument):
        Keypair.from_secret("abcd")
    with pytest.raises(cyberfly_store.InvalidArgument):
        Keypair.from_secret(b"short")
    with pytest.raises(TypeError):
        kp.sign("text")  # type: ignore[arg-type]


def test_verify_accepts_bytes_and_hex() -> None:
    kp = Keypair.generate()
    sig = kp.sign(b"msg")
    pk = kp.public_key
    assert cyberfly_store.verify(pk, b"msg", sig) is True
    assert cyberfly_store.verify(bytes.fromhex(pk), b"msg", sig.hex()) is True
    assert cyberfly_store.verify(pk, b"other", sig) is False
    assert cyberfly_store.verify(Keypair.generate().public_key, b"msg", sig) is False
    with pytest.raises(cyberfly_store.InvalidArgument):
        cyberfly_store.verify("zz", b"msg", sig)
    with pytest.raises(cyberfly_store.InvalidArgument):
        cyberfly_store.verify(pk, b"msg", sig[:10])


async def test_verify_many() -> None:
    kps = [Keypair.generate() for _ in range(4)]
    items = []
    for i in range(600):
        kp = kps[i % 4]
        msg = f"message {i}".encode()
        sig = kp.sign(msg)
        if i % 97 == 0:
            msg = b"tampered"
        items.append((kp.public_key, msg, sig))
    got = await cyberfly_store.verify_many(items)
    assert got == [i % 97 != 0 for i in range(600)]
    assert await cyberfly_store.verify_many([]) == []
    with pytest.raises(TypeError):
        await cyberfly_store.verify_many([("a", b"b")])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        await cyberfly_store.verify_many([(1, b"m", b"s")])  # type: ignore[list-item]


async def test_verify_many_malformed_item_is_false_alone() -> None:
    """One malformed item among 64 (short signature, bad hex, long key) is
    False; every other item keeps its verdict, from bytes or hex alike."""
    kp = Keypair.generate()
    items: list[tuple[Any, bytes, Any]] = []
    for i in range(64):
        msg = f"m{i}".encode()
        sig = kp.sign(msg)
        items.append((kp.public_key if i % 2 else bytes.fromhex(kp.public_key), msg, sig))
    items[5] = (items[5][0], items[5][1], items[5][2][:63])  # short signature
    items[9] = ("zz" * 32, items[9][1], items[9][2])  # bad hex key
    items[13] = (items[13][0], items[13][1], items[13][2].hex() + "0")  # odd hex
    items[40] = (bytes.fromhex(kp.public_key) + b"\0", items[40][1], items[40][2])  # long key
    got = await cyberfly_store.verify_many(items)
    assert got == [i not in (5, 9, 13, 40) for i in range(64)]


def signed(kp: Keypair, db: str, key: str, value: str, **kw: Any) -> SignedOperation:
    return SignedOperation(db_name=f"{db}-{kp.public_key}", key=key, value=value, **kw).sign(kp)


async def test_apply_outcomes_and_errors(store: Store) -> None:
    kp = Keypair.generate()
    db = f"mydb-{kp.public_key}"
    op = signed(kp, "mydb", "greeting", "hello")
    assert op.verify() and op.public_key == kp.public_key and len(op.signature) == 128
    out = await store.apply(op)
    assert isinstance(out, Outcome)
    assert out == "applied" and out.applied and out.error is None
    assert await store.get(f"{db}:greeting") == "hello"
    assert await store.apply(op) == "duplicate"
    older = signed(kp, "mydb", "greeting", "old", timestamp=op.timestamp - 1000)
    assert await store.apply(older) == "superseded"
    assert await store.get(f"{db}:greeting") == "hello"

    forged = signed(kp, "mydb", "greeting", "x")
    forged.value = "changed after signing"
    with pytest.raises(cyberfly_store.InvalidSignature) as e:
        await store.apply(forged)
    assert e.value.code == 13
    other = Keypair.generate()
    not_mine = SignedOperation(db_name=db, key="k", value="v").sign(other)
    with pytest.raises(cyberfly_store.NotOwner) as e2:
        await store.apply(not_mine)
    assert e2.value.code == 14
    stale = signed(kp, "mydb", "k", "v", timestamp=int(time.time() * 1000) - 10 * 3600_000)
    with pytest.raises(cyberfly_store.Stale) as e3:
        await store.apply(stale)
    assert e3.value.code == 15
    unsigned = SignedOperation(db_name=db, key="k", value="v")
    with pytest.raises(cyberfly_store.StoreError):
        await store.apply(unsigned)
    assert await store.get(f"{db}:k") is None


async def test_apply_many_and_types(store: Store) -> None:
    kp = Keypair.generate()
    db = f"app-{kp.public_key}"
    ops = [
        signed(kp, "app", "s", "text"),
        signed(kp, "app", "h", "v1", store_type="Hash", field="f1"),
        signed(kp, "app", "l", "item", store_type="List"),
        signed(kp, "app", "set", "m", store_type="Set"),
        signed(kp, "app", "z", "member", store_type="SortedSet", score=2.5),
        signed(kp, "app", "j", '{"a": 1}', store_type="Json"),
        signed(kp, "app", "x", "", store_type="Stream", stream_fields={"f": "v"}),
        signed(kp, "app", "t", "21.5", store_type="TimeSeries", ts_timestamp=1000),
        signed(kp, "app", "g", "place", store_type="Geo", longitude=13.4, latitude=52.5),
    ]
    bad = signed(kp, "app", "bad", "v")
    bad.signature = "00" * 64
    outcomes = await store.apply_many([*ops, bad, ops[0]])
    assert [str(o) for o in outcomes] == ["applied"] * 9 + ["rejected", "duplicate"]
    assert isinstance(outcomes[9].error, cyberfly_store.InvalidSignature)
    assert outcomes[9].error.code == 13
    assert "rejected" in repr(outcomes[9])
    assert await store.get(f"{db}:s") == "text"
    assert await store.hgetall(f"{db}:h") == {"f1": "v1"}
    assert await store.lrange(f"{db}:l", 0, -1) == ["item"]
    assert await store.smembers(f"{db}:set") == {"m"}
    assert await store.zrange(f"{db}:z", 0, -1, withscores=True) == [("member", 2.5)]
    assert await store.json_get(f"{db}:j") == {"a": 1}
    assert [e[1] for e in await store.xrange(f"{db}:x")] == [{"f": "v"}]
    assert await store.ts_get(f"{db}:t") == (1000, 21.5)
    assert (await store.geopos(f"{db}:g", "place"))[0] == pytest.approx((13.4, 52.5))
    rows = await store.get_all(db, "string")
    assert rows[0][0] == f"{db}:s"
    assert rows[0][2]["public_key"] == kp.public_key
    assert len(rows[0][2]["signature"]) == 128
    # The operation log.
    assert await store.log_len() == 9  # not the rejected one nor the duplicate
    log = await store.ops_since(0)
    assert len(log) == 9 and all(isinstance(o, SignedOperation) for o in log)
    assert log[0] == ops[0] or ops[0] in log
    assert [o async for o in store.ops_since(int(time.time() * 1000) + 60_000)] == []
    replayed = await store.apply_replicated(log)
    assert all(o == "duplicate" for o in replayed)
    vs = store.verify_stats()
    assert vs["verified"] >= 9 and set(vs) >= {"cache_hits", "batches"}


def test_signed_operation_fields_and_json() -> None:
    kp = Keypair.generate()
    op = SignedOperation(f"db-{kp.public_key}", "k", "v", "sorted_set", score=1.5, op_id="id-1", timestamp=123)
    assert op.store_type == "SortedSet" and op.score == 1.5 and op.op_id == "id-1"
    assert op.timestamp == 123 and op.full_key == f"db-{kp.public_key}:k"
    assert "unsigned" in repr(op)
    assert op.public_key == "" and op.signature == ""
    assert not op.verify()
    msg = op.canonical_message()
    assert isinstance(msg, bytes) and b"SortedSet" in msg
    op.sign(kp)
    assert cyberfly_store.verify(kp.public_key, op.canonical_message(), op.signature)
    again = SignedOperation.from_json(op.to_json())
    assert again == op and again is not op
    d = op.to_dict()
    assert d["key"] == "k" and d["score"] == 1.5
    op.field = "f"
    op.json_path = "$.a"
    op.stream_fields = [("a", "b")]
    assert op.stream_fields == [("a", "b")]
    op.ts_timestamp = 5
    op.longitude, op.latitude = 1.0, 2.0
    op.public_key = bytes.fromhex(kp.public_key)
    assert op.public_key == kp.public_key
    op.signature = b"\x00" * 64
    assert op.signature == "00" * 64
    op.store_type = "Hash"
    op.db_name, op.key, op.value = "d", "k2", "v2"
    assert (op.db_name, op.key, op.value, op.field) == ("d", "k2", "v2", "f")
    with pytest.raises(cyberfly_store.InvalidArgument):
        op.store_type = "Blob"
    with pytest.raises(cyberfly_store.InvalidArgument):
        op.public_key = "xyz"
    with pytest.raises(cyberfly_store.InvalidArgument):
        SignedOperation("d", "k", "v", "Nope")
    a = SignedOperation("d", "k", "v")
    b = SignedOperation("d", "k", "v")
    assert a.op_id != b.op_id  # filled in, unique
    assert abs(a.timestamp - time.time() * 1000) < 60_000
    o = Outcome  # the class is exported
    assert o.__doc__
