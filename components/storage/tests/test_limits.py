"""Uploads bounded in rows and decoded bytes (413), a full disk (507), and the
memory writes in flight may take (503 when none is free in time)."""

from __future__ import annotations

import errno
import io
import socket
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import TOKEN, Serve
from http_testing import parquet, put, request
from mlops_storage import Store
from mlops_storage.auth import TokenSource
from mlops_storage.settings import DEFAULT_MAX_ROWS, DEFAULT_MAX_TABLE

AUTH = TokenSource(value=TOKEN)


def constant_parquet(rows: int, groups: int = 1, **columns: pa.Scalar) -> bytes:
    """A small Parquet file of ``rows`` rows of one value per column, in
    ``groups`` row groups: run-length encoded, it takes a few kilobytes."""
    sink = io.BytesIO()
    per_group = rows // groups
    group = pa.table({k: pa.repeat(v, per_group) for k, v in columns.items()})
    with pq.ParquetWriter(sink, group.schema, compression="zstd") as writer:
        for _ in range(groups):
            writer.write_table(group)
    return sink.getvalue()


def still_serves(url: str, store: Store) -> None:
    assert request(f"{url}/healthz").status == 200
    ok = put(url, "fine", parquet(pa.table({"x": [1, 2]})), token=TOKEN)
    assert ok.status == 201, ok.body
    assert request(f"{url}/datasets/fine").json()["rows"] == [{"x": 1}, {"x": 2}]
    assert "bomb" not in store.datasets()


def test_a_parquet_bomb_is_refused_from_its_footer(serve: Serve, store: Store) -> None:
    # The incident: a file of a few kilobytes holding tens of millions of rows
    # of one value; decoded whole it takes gigabytes (here 4 x the row limit,
    # 20 row groups, about 1.3 GB of int64 once decoded).
    rows = 4 * DEFAULT_MAX_ROWS
    body = constant_parquet(rows, 20, n=pa.scalar(7, pa.int64()))
    assert len(body) < 200_000
    url = serve(token=AUTH)  # the default limits
    answer = put(url, "bomb", body, token=TOKEN)
    assert answer.status == 413, answer.body
    message = answer.json()["error"]
    assert f"{rows} rows" in message and f"limit is {DEFAULT_MAX_ROWS} rows" in message
    still_serves(url, store)


def test_decoded_size_over_the_limit_is_413_before_decoding(
    serve: Serve, store: Store
) -> None:
    body = constant_parquet(
        1_000_000,
        a=pa.scalar(1, pa.int64()),
        b=pa.scalar(2.5, pa.float64()),
    )
    url = serve(token=AUTH, max_table_bytes=8_000_000)
    answer = put(url, "bomb", body, token=TOKEN)
    assert answer.status == 413, answer.body
    message = answer.json()["error"]
    # 1,000,000 rows of two 8-byte values, each with its validity bit.
    assert "decodes to 16250000 bytes" in message
    assert "limit is 8000000 bytes" in message
    assert str(DEFAULT_MAX_TABLE) not in message
    still_serves(url, store)


def test_a_footer_declaring_far_more_than_the_limit_is_413_before_decoding(
    serve: Serve, store: Store
) -> None:
    # Distinct 1000-character strings compress to almost nothing; the footer
    # declares their uncompressed size (about 10 MB), past the limit and its
    # slack, so nothing is decoded.
    rows = 10_000
    column = pa.array([f"{i:08d}" + "x" * 992 for i in range(rows)])
    sink = io.BytesIO()
    pq.write_table(pa.table({"s": column}), sink, compression="zstd")
    body = sink.getvalue()
    assert len(body) < 200_000
    url = serve(token=AUTH, max_table_bytes=4 * 1024 * 1024)
    answer = put(url, "bomb", body, token=TOKEN)
    assert answer.status == 413, answer.body
    message = answer.json()["error"]
    assert "the Parquet body declares" in message, message
    assert "limit is 4194304 bytes" in message
    still_serves(url, store)


def test_strings_that_expand_as_they_decode_are_stopped_at_the_limit(
    serve: Serve, store: Store
) -> None:
    # One 1000-character value, dictionary encoded for 200,000 rows (200 MB
    # decoded): the footer cannot tell, so the decoding counts and stops.
    rows = 200_000
    indices = pa.array([0] * rows, pa.int32())
    column = pa.DictionaryArray.from_arrays(indices, pa.array(["x" * 1000]))
    sink = io.BytesIO()
    # Without the Arrow schema the reader decodes the strings (no dictionary).
    pq.write_table(pa.table({"s": column}), sink, store_schema=False)
    body = sink.getvalue()
    assert len(body) < 100_000
    url = serve(token=AUTH, max_table_bytes=4 * 1024 * 1024)
    answer = put(url, "bomb", body, token=TOKEN)
    assert answer.status == 413, answer.body
    assert "limit is 4194304 bytes" in answer.json()["error"]
    still_serves(url, store)


def test_csv_over_the_row_limit_is_413(serve: Serve, store: Store) -> None:
    url = serve(token=AUTH, max_rows=100)
    body = ("x\n" + "".join(f"{i}\n" for i in range(101))).encode()
    answer = put(url, "bomb", body, token=TOKEN, content_type="text/csv")
    assert answer.status == 413, answer.body
    assert "101 rows; the limit is 100 rows" in answer.json()["error"]
    fits = body[: body.rindex(b"100\n")]
    answer = put(url, "ok", fits, token=TOKEN, content_type="text/csv")
    assert answer.status == 201, answer.body


@pytest.mark.parametrize(
    ("failure", "words"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), "volume is full"),
        (pa.ArrowIOError("IOError: write failed"), "check the store's volume"),
    ],
    ids=["disk-full", "arrow-error"],
)
def test_a_store_that_cannot_write_answers_507_with_a_message(
    serve: Serve,
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
    failure: Exception,
    words: str,
) -> None:
    import pyarrow.parquet

    def fail(*args: Any, **kwargs: Any) -> None:
        raise failure

    url = serve(token=AUTH)
    assert put(url, "ds", parquet(pa.table({"x": [1]})), token=TOKEN).status == 201
    body = parquet(pa.table({"x": [2]}))
    monkeypatch.setattr(pyarrow.parquet, "write_table", fail)
    answer = put(url, "ds", body, token=TOKEN)
    assert answer.status == 507, answer.body
    message = answer.json()["error"]
    assert "nothing was committed" in message and words in message
    monkeypatch.undo()
    assert store.versions("ds") == [1]
    assert len(list((store.root / "ds" / "data").iterdir())) == 1  # no debris
    assert put(url, "ds", parquet(pa.table({"x": [3]})), token=TOKEN).status == 201


def test_a_write_waits_for_memory_and_gives_up_with_503(
    serve: Serve, store: Store
) -> None:
    # One write holds all the memory for writes: its body keeps coming, fast
    # enough never to time out, never finished. The next write waits its
    # time, then is told to come back; once the first is gone, it fits.
    import threading

    url = serve(token=AUTH, write_memory=1_000_000, body_timeout=1.0)

    def put_next() -> Any:
        return put(url, "next", b"x\n1\n", token=TOKEN, content_type="text/csv")

    parts = urlsplit(url)
    stop = threading.Event()
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as slow:
        slow.sendall(
            b"PUT /datasets/slow HTTP/1.1\r\nHost: x\r\n"
            b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
            b"Content-Type: text/csv\r\nContent-Length: 1000000\r\n\r\nx\n"
        )

        def trickle() -> None:
            # 40 KiB/s: above the service's minimum rate, 1 MB takes 25 s.
            while not stop.wait(0.25):
                slow.sendall(b"1\n" * 5120)

        sender = threading.Thread(target=trickle, daemon=True)
        sender.start()
        try:
            # Until the slow body's first bytes reach the service, the next
            # write may still fit (poll, with a deadline).
            deadline = time.monotonic() + 10
            while True:
                answer = put_next()
                if answer.status != 201 or time.monotonic() > deadline:
                    break
            assert answer.status == 503, answer.body
            assert answer.headers["retry-after"] == "1"
            assert "busy writing other versions" in answer.json()["error"]
        finally:
            stop.set()
            sender.join()
    # The slow writer is gone and its memory with it.
    deadline = time.monotonic() + 10
    while True:
        answer = put_next()
        if answer.status == 201 or time.monotonic() > deadline:
            break
    assert answer.status == 201, answer.body


def test_writes_that_fit_together_run_together(tmp_path: Path, serve: Serve) -> None:
    from concurrent.futures import ThreadPoolExecutor

    url = serve(token=AUTH, write_memory=64 * 1024 * 1024)
    body = parquet(pa.table({"x": list(range(1000))}))
    with ThreadPoolExecutor(4) as pool:
        answers = list(
            pool.map(lambda i: put(url, f"d{i}", body, token=TOKEN), range(8))
        )
    assert [a.status for a in answers] == [201] * 8
