"""The write path, PUT /datasets/{name}, on a live service."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow as pa
import pytest
from conftest import TOKEN, Serve
from http_testing import PARQUET, from_parquet, parquet, put, request
from mlops_storage import Store
from mlops_storage.auth import TokenSource


@pytest.fixture
def url(serve: Serve) -> str:
    return serve(token=TokenSource(value=TOKEN))


def test_new_dataset_then_next_version(url: str, store: Store) -> None:
    first = pa.table({"id": [1, 2], "label": ["a", "b"]})
    answer = put(url, "events", parquet(first), token=TOKEN)
    assert answer.status == 201
    assert answer.json() == {"name": "events", "version": 1, "num_rows": 2}
    assert answer.headers["location"] == "/datasets/events?version=1"
    assert answer.headers["x-dataset-version"] == "1"
    assert store.read("events").equals(first)

    second = pa.table({"id": [3], "label": ["c"], "score": [0.5]})
    answer = put(url, "events", parquet(second), token=TOKEN)
    assert (answer.status, answer.json()["version"]) == (201, 2)
    assert store.read("events").equals(second)
    assert store.read("events", 1).equals(first)
    assert store.metadata("events")["source"] == "http"


def test_csv_body_takes_the_existing_column_types(url: str, store: Store) -> None:
    store.write("m", pa.table({"id": pa.array([1], pa.int32()), "x": [1.5]}))
    answer = put(
        url,
        "m",
        b"id,x,note\n2,2.5,hi\n3,,\n",
        token=TOKEN,
        content_type="text/csv; charset=utf-8",
    )
    assert answer.status == 201, answer.body
    table = store.read("m")
    assert table.schema.field("id").type == pa.int32()
    assert table.to_pylist() == [
        {"id": 2, "x": 2.5, "note": "hi"},
        {"id": 3, "x": None, "note": None},
    ]


def test_csv_new_dataset(url: str, store: Store) -> None:
    answer = put(url, "c", b"a,b\n1,x\n2,y\n", token=TOKEN, content_type="text/csv")
    assert answer.json() == {"name": "c", "version": 1, "num_rows": 2}
    assert store.read("c").to_pylist() == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]


@pytest.mark.parametrize(
    ("table", "column", "words"),
    [
        (pa.table({"id": [1]}), "label", "dropped"),
        (pa.table({"id": ["1"], "label": ["a"]}), "id", "change type"),
    ],
)
def test_schema_rejection_names_the_column(
    url: str, store: Store, table: pa.Table, column: str, words: str
) -> None:
    store.write("s", pa.table({"id": [1], "label": ["a"]}))
    answer = put(url, "s", parquet(table), token=TOKEN)
    assert answer.status == 400
    body = answer.json()
    assert body["column"] == column
    assert f"'{column}'" in body["error"] and words in body["error"]
    assert store.versions("s") == [1]


def test_csv_value_that_does_not_fit_names_the_column(url: str, store: Store) -> None:
    store.write("s", pa.table({"id": [1], "n": [2]}))
    answer = put(url, "s", b"id,n\n1,many\n", token=TOKEN, content_type="text/csv")
    assert answer.status == 400
    assert answer.json()["column"] == "n"
    assert store.versions("s") == [1]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "words"),
    [
        (b"not parquet", PARQUET, 400, "not a readable Parquet"),
        (b"", "text/csv", 400, "header line"),
        (b"{}", "application/json", 415, "unsupported Content-Type"),
        (b"a\n1\n", "", 415, "unsupported Content-Type"),
    ],
)
def test_bad_bodies(
    url: str, store: Store, body: bytes, content_type: str, status: int, words: str
) -> None:
    answer = put(url, "b", body, token=TOKEN, content_type=content_type)
    assert answer.status == status
    assert words in answer.json()["error"]
    assert store.datasets() == []


def test_expected_version_conflict(url: str, store: Store) -> None:
    table = parquet(pa.table({"x": [1]}))
    assert put(url, "d", table, token=TOKEN, query="expected_version=0").status == 201
    again = put(url, "d", table, token=TOKEN, query="expected_version=0")
    assert again.status == 409
    assert "is at version 1" in again.json()["error"]
    assert put(url, "d", table, token=TOKEN, query="expected_version=1").status == 201
    stale = put(url, "d", table, token=TOKEN, query="expected_version=1")
    assert stale.status == 409
    assert store.versions("d") == [1, 2]
    bad = put(url, "d", table, token=TOKEN, query="expected_version=-1")
    assert bad.status == 400
    assert "expected_version" in bad.json()["error"]


def test_concurrent_conditional_writes_one_wins(url: str, store: Store) -> None:
    store.write("race", pa.table({"w": [-1]}))
    writers = 6
    barrier = threading.Barrier(writers)
    statuses: list[int] = []
    lock = threading.Lock()

    def write(index: int) -> None:
        body = parquet(pa.table({"w": [index]}))
        barrier.wait()
        answer = put(url, "race", body, token=TOKEN, query="expected_version=1")
        with lock:
            statuses.append(answer.status)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [201] + [409] * (writers - 1)
    assert store.versions("race") == [1, 2]


def test_body_size_limit(serve: Serve, store: Store) -> None:
    url = serve(token=TokenSource(value=TOKEN), max_body_bytes=1000)
    small = parquet(pa.table({"x": [1]}))
    assert len(small) < 1000
    assert put(url, "d", small, token=TOKEN).status == 201
    big = parquet(pa.table({"x": list(range(1000))}))
    answer = put(url, "d", big, token=TOKEN)
    assert answer.status == 413
    assert "limit of 1000 bytes" in answer.json()["error"]
    assert store.versions("d") == [1]


def test_body_size_limit_without_content_length(serve: Serve, store: Store) -> None:
    """A chunked body is counted as it arrives."""
    url = serve(token=TokenSource(value=TOKEN), max_body_bytes=1000)
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        head = (
            "PUT /datasets/d HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            f"Content-Type: {PARQUET}\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
        )
        sock.sendall(head.encode())
        chunk = b"x" * 600
        sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk) * 2)
        reply = sock.recv(65536)
    assert reply.startswith(b"HTTP/1.1 413 "), reply
    assert store.datasets() == []


@pytest.mark.parametrize(
    ("headers", "status", "words"),
    [
        ({}, 401, "authentication required"),
        ({"Authorization": "Basic dXNlcjpwdw=="}, 401, "authentication required"),
        ({"Authorization": "Bearer"}, 401, "authentication required"),
        ({"Authorization": "Bearer wrong"}, 403, "invalid token"),
        ({"Authorization": f"Bearer {TOKEN}x"}, 403, "invalid token"),
        ({"Authorization": f"bearer {TOKEN}"}, 201, None),
    ],
)
def test_auth(
    url: str, store: Store, headers: dict[str, str], status: int, words: str | None
) -> None:
    answer = put(url, "a", parquet(pa.table({"x": [1]})), headers=headers)
    assert answer.status == status
    if words is not None:
        assert words in answer.json()["error"]
        assert TOKEN not in answer.body.decode()
        assert store.datasets() == []
    if status == 401:
        assert answer.headers["www-authenticate"].startswith("Bearer")


def test_reads_stay_open_by_default(url: str, store: Store) -> None:
    store.write("r", pa.table({"x": [1]}))
    assert request(f"{url}/datasets/r").status == 200


def test_reads_can_need_the_token(serve: Serve, store: Store) -> None:
    store.write("r", pa.table({"x": [1]}))
    url = serve(token=TokenSource(value=TOKEN), auth_reads=True)
    for path in ("/datasets", "/datasets/r", "/datasets/r/versions"):
        assert request(url + path).status == 401
        assert request(url + path, headers={"Authorization": "Bearer no"}).status == 403
        ok = request(url + path, headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status == 200
    assert request(f"{url}/healthz").status == 200
    assert request(f"{url}/openapi.json").status == 200


def test_no_token_configured_refuses_writes(serve: Serve, store: Store) -> None:
    url = serve()
    answer = put(url, "a", parquet(pa.table({"x": [1]})), token="anything")
    assert answer.status == 403
    error = answer.json()["error"]
    assert "writes are disabled" in error and "MLOPS_STORAGE_TOKEN_FILE" in error
    assert store.datasets() == []


def test_anonymous_writes_when_allowed(serve: Serve, store: Store) -> None:
    url = serve(allow_anonymous_writes=True)
    assert put(url, "a", parquet(pa.table({"x": [1]}))).status == 201
    assert store.versions("a") == [1]


def test_token_file_is_reread_when_rotated(
    serve: Serve, store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "token"
    path.write_text("first-token\n")
    url = serve(token=TokenSource(path=path))
    body = parquet(pa.table({"x": [1]}))
    assert put(url, "a", body, token="first-token").status == 201
    rotated = tmp_path / "token.new"
    rotated.write_text("second-token\n")
    rotated.replace(path)
    assert put(url, "a", body, token="first-token").status == 403
    assert put(url, "a", body, token="second-token").status == 201
    path.unlink()
    answer = put(url, "a", body, token="second-token")
    assert answer.status == 503
    assert "cannot read token file" in answer.json()["error"]


def test_invalid_name_is_400(url: str) -> None:
    answer = put(url, "..", parquet(pa.table({"x": [1]})), token=TOKEN)
    assert answer.status == 400
    assert "invalid dataset name" in answer.json()["error"]


def test_download_parquet_and_csv(url: str, store: Store) -> None:
    table = pa.table({"id": [1, 2], "label": ["a", None]})
    store.write("dl", table)
    store.write("dl", pa.table({"id": [3], "label": ["c"]}))
    answer = request(f"{url}/datasets/dl?version=1", headers={"Accept": PARQUET})
    assert answer.status == 200
    assert answer.headers["content-type"] == PARQUET
    assert answer.headers["x-dataset-version"] == "1"
    assert from_parquet(answer.body).equals(table)

    answer = request(f"{url}/datasets/dl", headers={"Accept": "text/csv"})
    assert answer.status == 200
    assert answer.headers["x-dataset-version"] == "2"
    assert answer.body.decode().splitlines() == ['"id","label"', '3,"c"']

    answer = request(f"{url}/datasets/dl", headers={"Accept": "image/png"})
    assert answer.status == 406


def test_nested_columns_cannot_be_csv(url: str, store: Store) -> None:
    store.write("n", pa.table({"tags": [["a", "b"]]}))
    answer = request(f"{url}/datasets/n", headers={"Accept": "text/csv"})
    assert answer.status == 406
    assert "cannot be written as CSV" in answer.json()["error"]


def test_request_id_is_echoed_or_made(url: str) -> None:
    given = request(f"{url}/healthz", headers={"X-Request-ID": "job-42.a:b"})
    assert given.headers["x-request-id"] == "job-42.a:b"
    made = request(f"{url}/healthz", headers={"X-Request-ID": "bad id\u00e9"})
    assert made.headers["x-request-id"] != "bad id"
    assert len(made.headers["x-request-id"]) == 32
