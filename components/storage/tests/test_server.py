"""The HTTP service end to end on a free loopback port."""

from __future__ import annotations

import decimal
import json
import urllib.error
import urllib.request
from typing import Any

import pyarrow as pa
import pytest
from mlops_storage import Store


def get(url: str, method: str = "GET") -> tuple[int, Any]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        body = exc.read()
        status = exc.code
        assert exc.headers["Content-Type"] == "application/json"
    return status, json.loads(body) if body else None


@pytest.fixture
def seeded(served_store: tuple[Store, str]) -> str:
    store, url = served_store
    store.write("events", pa.table({"id": [1, 2], "label": ["a", "b"]}))
    store.write("events", pa.table({"id": [3], "label": ["c"], "score": [0.5]}))
    store.write("users", pa.table({"name": ["ann"]}))
    return url


def test_healthz(served_store: tuple[Store, str]) -> None:
    _, url = served_store
    assert get(f"{url}/healthz") == (200, {"status": "ok"})


def test_empty_store(served_store: tuple[Store, str]) -> None:
    _, url = served_store
    assert get(f"{url}/datasets") == (200, {"datasets": []})


def test_list_datasets(seeded: str) -> None:
    assert get(f"{seeded}/datasets") == (200, {"datasets": ["events", "users"]})
    assert get(f"{seeded}/datasets/") == (200, {"datasets": ["events", "users"]})


def test_list_versions(seeded: str) -> None:
    status, body = get(f"{seeded}/datasets/events/versions")
    assert status == 200
    assert (body["name"], body["versions"]) == ("events", [1, 2])
    assert [d["version"] for d in body["details"]] == [1, 2]
    assert [d["num_rows"] for d in body["details"]] == [2, 1]
    assert all(d["created_at"].endswith("+00:00") for d in body["details"])


def test_rows_latest(seeded: str) -> None:
    assert get(f"{seeded}/datasets/events") == (
        200,
        {
            "name": "events",
            "version": 2,
            "rows": [{"id": 3, "label": "c", "score": 0.5}],
            "next_cursor": None,
        },
    )


def test_rows_of_version(seeded: str) -> None:
    status, body = get(f"{seeded}/datasets/events?version=1")
    assert status == 200
    assert body == {
        "name": "events",
        "version": 1,
        "rows": [{"id": 1, "label": "a"}, {"id": 2, "label": "b"}],
        "next_cursor": None,
    }


@pytest.mark.parametrize(
    "path",
    [
        "/datasets/missing",
        "/datasets/missing/versions",
        "/datasets/missing?version=1",
    ],
)
def test_unknown_dataset_is_404(seeded: str, path: str) -> None:
    status, body = get(seeded + path)
    assert status == 404
    assert "missing" in body["error"]


def test_unknown_version_is_404(seeded: str) -> None:
    status, body = get(f"{seeded}/datasets/events?version=7")
    assert status == 404
    assert "version 7" in body["error"]


@pytest.mark.parametrize(
    "query",
    [
        "version=abc",
        "version=0",
        "version=-1",
        "version=",
        "version=1.5",
        "version=1&version=2",
    ],
)
def test_bad_version_is_400(seeded: str, query: str) -> None:
    status, body = get(f"{seeded}/datasets/events?{query}")
    assert status == 400
    assert "version" in body["error"]


@pytest.mark.parametrize("name", ["..", "bad%20name", "..%2F..%2Fetc", "%2e%2e"])
def test_invalid_name_is_400(seeded: str, name: str) -> None:
    status, body = get(f"{seeded}/datasets/{name}")
    assert status == 400
    assert "invalid dataset name" in body["error"]


def test_unknown_route_is_404(seeded: str) -> None:
    status, body = get(f"{seeded}/nope")
    assert status == 404
    assert "no such route" in body["error"]
    assert get(f"{seeded}/datasets/events/versions/1")[0] == 404


def test_other_methods_are_refused(seeded: str) -> None:
    status, body = get(f"{seeded}/datasets", method="POST")
    assert status == 405
    assert body["error"] == ("method POST not allowed on /datasets; allowed: GET, HEAD")
    status, body = get(f"{seeded}/datasets/events", method="DELETE")
    assert status == 405
    assert body["error"].endswith("allowed: GET, HEAD, PUT")


def test_head(seeded: str) -> None:
    assert get(f"{seeded}/healthz", method="HEAD") == (200, None)


def test_non_json_types_are_converted(served_store: tuple[Store, str]) -> None:
    store, url = served_store
    store.write(
        "rich",
        pa.table(
            {
                "ts": pa.array([0], pa.timestamp("s", tz="UTC")),
                "day": pa.array([0], pa.date32()),
                "price": pa.array([decimal.Decimal("1.50")], pa.decimal128(5, 2)),
                "blob": pa.array([b"hi"], pa.binary()),
                "nan": pa.array([float("nan")], pa.float64()),
                "tags": pa.array([["x", None]], pa.list_(pa.string())),
            }
        ),
    )
    status, body = get(f"{url}/datasets/rich")
    assert status == 200
    assert body["rows"] == [
        {
            "ts": "1970-01-01T00:00:00+00:00",
            "day": "1970-01-01",
            "price": "1.50",
            "blob": "aGk=",
            "nan": None,
            "tags": ["x", None],
        }
    ]


def test_new_versions_are_visible_without_restart(seeded: str, store: Store) -> None:
    store.write("users", pa.table({"name": ["bob"]}))
    assert get(f"{seeded}/datasets/users")[1]["version"] == 2
