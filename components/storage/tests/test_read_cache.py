"""Reads of immutable versions: ETag and 304, bodies encoded once, the encoder."""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import json
import math
import threading
from pathlib import Path

import pyarrow as pa
import pytest
from conftest import TOKEN, running
from http_testing import PARQUET, request
from mlops_storage import Store, encoding
from mlops_storage.app import entity_tag, not_modified
from mlops_storage.auth import TokenSource
from mlops_storage.cache import BodyCache
from mlops_storage.settings import Settings

JSON = {"Accept": "application/json"}


def test_a_version_has_an_etag_per_representation(
    served_store: tuple[Store, str],
) -> None:
    store, url = served_store
    store.write("ds", pa.table({"x": [1, 2]}))
    tags = {}
    for accept in ("application/json", "text/csv", PARQUET):
        answer = request(f"{url}/datasets/ds", headers={"Accept": accept})
        assert answer.status == 200
        assert answer.headers["x-dataset-version"] == "1"
        assert answer.headers["cache-control"] == "no-cache"
        tags[accept] = answer.headers["etag"]
    assert len(set(tags.values())) == 3
    assert all(tag.startswith('"1-') and tag.endswith('"') for tag in tags.values())


def test_if_none_match_answers_304_until_a_new_version(
    served_store: tuple[Store, str],
) -> None:
    store, url = served_store
    store.write("ds", pa.table({"x": [1]}))
    first = request(f"{url}/datasets/ds", headers=JSON)
    etag = first.headers["etag"]
    for method in ("GET", "HEAD"):
        again = request(
            f"{url}/datasets/ds", method, headers={**JSON, "If-None-Match": etag}
        )
        assert again.status == 304 and again.body == b""
        assert again.headers["etag"] == etag
        assert again.headers["x-dataset-version"] == "1"
    weak = request(f"{url}/datasets/ds", headers={**JSON, "If-None-Match": f"W/{etag}"})
    assert weak.status == 304
    store.write("ds", pa.table({"x": [2]}))
    changed = request(f"{url}/datasets/ds", headers={**JSON, "If-None-Match": etag})
    assert changed.status == 200 and changed.json()["rows"] == [{"x": 2}]
    assert changed.headers["etag"] != etag
    pinned = request(
        f"{url}/datasets/ds?version=1", headers={**JSON, "If-None-Match": etag}
    )
    assert pinned.status == 304


def test_a_dataset_made_again_has_other_etags(served_store: tuple[Store, str]) -> None:
    store, url = served_store
    store.write("ds", pa.table({"x": [1]}))
    etag = request(f"{url}/datasets/ds", headers=JSON).headers["etag"]
    for path in (store.root / "ds" / "versions").iterdir():
        path.unlink()
    Store(store.root).write("ds", pa.table({"x": [5]}))
    answer = request(f"{url}/datasets/ds", headers={**JSON, "If-None-Match": etag})
    assert answer.status == 200 and answer.json()["rows"] == [{"x": 5}]


def test_reads_behind_a_token_are_private(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    store.write("ds", pa.table({"x": [1]}))
    settings = Settings(token=TokenSource(value=TOKEN), auth_reads=True)
    with running(store, settings) as url:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        answer = request(f"{url}/datasets/ds", headers=auth)
        assert answer.headers["cache-control"] == "private, no-cache"
        refused = request(
            f"{url}/datasets/ds", headers={"If-None-Match": answer.headers["etag"]}
        )
        assert refused.status == 401  # no 304 without the token


def test_other_responses_stay_no_store(served_store: tuple[Store, str]) -> None:
    _, url = served_store
    assert request(f"{url}/datasets").headers["cache-control"] == "no-store"
    assert request(f"{url}/datasets/none").headers["cache-control"] == "no-store"


def test_not_modified_matching() -> None:
    assert not_modified('"a", "b"', '"b"')
    assert not_modified("*", '"b"')
    assert not_modified('W/"b"', '"b"')
    assert not not_modified('"a"', '"b"')
    assert not not_modified(None, '"b"')
    assert not not_modified("", '"b"')
    assert entity_tag(3, "0123456789abcdef0123.parquet", "json") == (
        '"3-0123456789abcdef-json"'
    )


# ------------------------------------------------------------------ the cache


def test_cache_is_bounded_in_bytes_least_recent_first() -> None:
    cache = BodyCache(80)
    for key in "abc":
        cache.put(key, b"x" * 10)
    assert cache.get("a") is not None  # a is now the most recent
    for key in "defghij":
        cache.put(key, b"y" * 10)
    assert cache.size == 80
    assert cache.get("b") is None and cache.get("c") is None
    assert cache.get("a") == b"x" * 10
    assert cache.get("j") == b"y" * 10
    cache.put("big", b"z" * 11)  # over an eighth of the cache: not kept
    assert cache.get("big") is None


def test_concurrent_readers_share_one_encoding() -> None:
    cache = BodyCache(1 << 20)
    calls = []

    def make() -> bytes:
        calls.append(1)
        return b"body"

    async def main() -> list[bytes]:
        return await asyncio.gather(*(cache.get_or_make("k", make) for _ in range(8)))

    assert asyncio.run(main()) == [b"body"] * 8
    assert len(calls) == 1 and cache.made == 1
    assert asyncio.run(cache.get_or_make("k", make)) == b"body"
    assert len(calls) == 1 and cache.hits >= 1


def test_a_failed_encoding_reaches_every_waiter_and_is_not_kept() -> None:
    cache = BodyCache(1 << 20)

    def fail() -> bytes:
        raise ValueError("cannot")

    async def main() -> list[object]:
        calls = (cache.get_or_make("k", fail) for _ in range(3))
        return await asyncio.gather(*calls, return_exceptions=True)

    results = asyncio.run(main())
    assert all(isinstance(result, ValueError) for result in results)
    assert len(cache) == 0
    assert asyncio.run(cache.get_or_make("k", lambda: b"ok")) == b"ok"


def test_the_service_encodes_a_version_once(store: Store) -> None:
    from fastapi import FastAPI
    from mlops_storage.server import make_server

    store.write("ds", pa.table({"x": [1]}))
    server = make_server(store, "127.0.0.1", 0)
    # Metrics, then the request context, then FastAPI.
    inner = getattr(getattr(server.app, "app", None), "app", None)
    assert isinstance(inner, FastAPI)
    bodies: BodyCache = inner.state.bodies
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        for _ in range(3):
            assert request(f"{server.url}/datasets/ds", headers=JSON).status == 200
    finally:
        server.shutdown(timeout=10)
        server.server_close()
        thread.join(timeout=10)
    assert (bodies.made, bodies.hits) == (1, 2)


# ---------------------------------------------------------------- the encoder


def old_encoding(payload: object) -> object:
    return json.loads(json.dumps(encoding.to_jsonable(payload), allow_nan=False))


def test_orjson_output_means_what_the_old_encoder_meant() -> None:
    table = pa.table(
        {
            "i": pa.array([1, None], pa.int64()),
            "u": pa.array([2**64 - 1, 0], pa.uint64()),
            "f": pa.array([math.nan, 1.5]),
            "inf": pa.array([math.inf, -math.inf]),
            "s": ["é", ""],
            "b": pa.array([b"\x00\xff", None], pa.binary()),
            "d": pa.array([dt.date(2024, 1, 2), None]),
            "ts": pa.array(
                [dt.datetime(2024, 1, 2, 3, 4, 5, 6), None], pa.timestamp("us")
            ),
            "tz": pa.array(
                [dt.datetime(2024, 1, 2, tzinfo=dt.timezone.utc), None],
                pa.timestamp("ms", tz="UTC"),
            ),
            "t": pa.array([dt.time(1, 2, 3), None]),
            "dur": pa.array([dt.timedelta(seconds=90), None]),
            "dec": pa.array([decimal.Decimal("1.10"), None], pa.decimal128(5, 2)),
            "l": [[1, 2], []],
            "st": [{"a": 1, "b": "x"}, None],
            "m": pa.array([[("k", 1)], None], pa.map_(pa.string(), pa.int64())),
        }
    )
    payload = {"name": "ds", "version": 1, "rows": table.to_pylist()}
    assert json.loads(encoding.dumps(payload)) == old_encoding(payload)


def test_values_orjson_refuses_fall_back() -> None:
    payload = {"rows": [{"big": 2**70, "x": 1.0}]}
    assert json.loads(encoding.dumps(payload)) == old_encoding(payload)


@pytest.mark.parametrize("kind", ["json", "csv"])
def test_served_bodies_match_a_fresh_encoding(
    served_store: tuple[Store, str], kind: str
) -> None:
    store, url = served_store
    store.write("ds", pa.table({"x": [1.5, None], "s": ["a", "b"]}))
    accept = {"json": "application/json", "csv": "text/csv"}[kind]
    first = request(f"{url}/datasets/ds", headers={"Accept": accept})
    second = request(f"{url}/datasets/ds", headers={"Accept": accept})
    assert first.body == second.body
    if kind == "json":
        assert first.json()["rows"] == [{"x": 1.5, "s": "a"}, {"x": None, "s": "b"}]
    else:
        assert first.body.decode().splitlines()[0] == '"x","s"'


def test_a_write_waiting_for_the_commit_lock_does_not_hold_up_reads(
    tmp_path: Path,
) -> None:
    import fcntl
    import os
    import time

    from http_testing import parquet, put

    store = Store(tmp_path / "store")
    store.write("ds", pa.table({"x": [1]}))
    settings = Settings(allow_anonymous_writes=True, threads=1)
    with running(store, settings) as url:
        fd = os.open(store.root / "ds" / "versions", os.O_RDONLY)
        fcntl.flock(fd, fcntl.LOCK_EX)
        answers: list[int] = []
        writer = threading.Thread(
            target=lambda: answers.append(
                put(url, "ds", parquet(pa.table({"x": [2]}))).status
            )
        )
        try:
            writer.start()
            deadline = time.monotonic() + 10
            while len(list((store.root / "ds" / "data").iterdir())) < 2:
                assert time.monotonic() < deadline, "the write never started"
            # The one write thread waits for the lock; the read pool is free.
            read = request(f"{url}/datasets/ds", headers=JSON, timeout=10)
            assert read.status == 200 and read.json()["rows"] == [{"x": 1}]
            assert writer.is_alive() and not answers
        finally:
            os.close(fd)
        writer.join(timeout=30)
    assert answers == [201]
