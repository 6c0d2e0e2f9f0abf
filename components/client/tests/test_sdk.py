from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pyarrow as pa
import pytest
from mlops_client import (
    Client,
    ClientError,
    DatasetRows,
    NotFound,
    ServiceError,
    ServiceUnavailable,
)
from mlops_storage import Store


def test_health(url: str) -> None:
    assert Client(url).health() is True


def test_list_datasets(url: str) -> None:
    assert Client(url).list_datasets() == ["events", "users"]


def test_list_versions(url: str) -> None:
    assert Client(url).list_versions("events") == [1, 2]


def test_fetch_rows_latest(url: str) -> None:
    assert Client(url).fetch_rows("events") == [
        {"id": 3, "label": "c", "score": 0.5},
        {"id": 4, "label": None, "score": 1.25},
    ]


def test_fetch_follows_every_page(url: str, store: Store) -> None:
    # The service answers JSON a page at a time (at most 10,000 rows).
    rows = 25_001
    store.write("big", pa.table({"n": list(range(rows))}))
    got = Client(url).fetch("big")
    assert got.version == 1
    assert [r["n"] for r in got.rows] == list(range(rows))


def test_fetch_rows_of_version(url: str) -> None:
    assert Client(url).fetch_rows("events", version=1) == [
        {"id": 1, "label": "a"},
        {"id": 2, "label": "b"},
    ]


def test_fetch_reports_served_version(url: str) -> None:
    assert Client(url).fetch("users") == DatasetRows(
        name="users", version=1, rows=[{"name": "ann", "tags": ["x", "y"]}]
    )


def test_sees_new_versions(url: str, store: Store) -> None:
    client = Client(url + "/")
    tags = pa.array([[]], pa.list_(pa.string()))
    store.write("users", pa.table({"name": ["bob"], "tags": tags}))
    assert client.list_versions("users") == [1, 2]
    assert client.fetch_rows("users") == [{"name": "bob", "tags": []}]


def test_unknown_dataset_is_not_found(url: str) -> None:
    client = Client(url)
    with pytest.raises(NotFound, match="dataset not found: 'nope'") as info:
        client.fetch_rows("nope")
    assert info.value.status == 404
    with pytest.raises(NotFound, match="'nope'"):
        client.list_versions("nope")


def test_unknown_version_is_not_found(url: str) -> None:
    with pytest.raises(NotFound, match="version 9 of dataset 'events' not found"):
        Client(url).fetch_rows("events", version=9)


@pytest.mark.parametrize("version", [0, -3])
def test_bad_version_is_service_error(url: str, version: int) -> None:
    with pytest.raises(ServiceError, match="invalid version") as info:
        Client(url).fetch_rows("events", version=version)
    assert info.value.status == 400
    assert not isinstance(info.value, NotFound)


def test_invalid_name_is_service_error(url: str) -> None:
    with pytest.raises(ServiceError, match="invalid dataset name") as info:
        Client(url).fetch_rows("../etc")
    assert info.value.status == 400


def test_service_down(down_url: str) -> None:
    client = Client(down_url, timeout=5)
    with pytest.raises(ServiceUnavailable, match="unavailable at " + down_url) as info:
        client.list_datasets()
    assert info.value.url == down_url
    assert "refused" in str(info.value).lower()
    with pytest.raises(ClientError):
        client.fetch_rows("events")


def test_service_silent_times_out(silent_url: str) -> None:
    with pytest.raises(ServiceUnavailable, match="no answer within 0.2 s"):
        Client(silent_url, timeout=0.2).list_datasets()


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), float("inf"), True, "5"])
def test_invalid_timeout(timeout: object) -> None:
    with pytest.raises(ClientError, match="invalid timeout"):
        Client("http://127.0.0.1:8080", timeout=timeout)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["", "127.0.0.1:8080", "ftp://host", "file:///etc"])
def test_invalid_base_url(bad: str) -> None:
    with pytest.raises(ClientError, match="invalid service URL"):
        Client(bad)


class _BrokenHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status, body = (500, b"<html>oops</html>")
        if self.path == "/datasets":
            status, body = (200, b"not json")
        elif self.path == "/datasets/x/versions":
            status, body = (200, b'{"unexpected": true}')
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def broken_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _BrokenHandler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_non_json_error_body(broken_url: str) -> None:
    with pytest.raises(ServiceError, match="HTTP 500") as info:
        Client(broken_url).fetch_rows("x")
    assert info.value.status == 500


def test_malformed_responses(broken_url: str) -> None:
    with pytest.raises(ServiceError, match="malformed response"):
        Client(broken_url).list_datasets()
    with pytest.raises(ServiceError, match="malformed response.*'versions'"):
        Client(broken_url).list_versions("x")
