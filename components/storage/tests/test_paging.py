"""JSON reads come in pages (``limit``, ``cursor``); CSV downloads are streamed;
neither holds a whole version in memory."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from http_testing import request
from mlops_storage import Store, formats
from mlops_storage.settings import DEFAULT_PAGE_ROWS, MAX_PAGE_ROWS

JSON = {"Accept": "application/json"}


def rows_table(count: int, start: int = 0) -> pa.Table:
    return pa.table(
        {
            "id": list(range(start, start + count)),
            "label": [f"row {i}" for i in range(start, start + count)],
        }
    )


def pages_of(url: str, limit: int | None = None) -> list[dict[str, Any]]:
    """Every page of a read of ``url``, following next_cursor."""
    extra = "" if limit is None else f"&limit={limit}"
    got = []
    answer = request(f"{url}?{extra[1:]}", headers=JSON)
    while True:
        assert answer.status == 200, answer.body
        got.append(answer.json())
        cursor = got[-1]["next_cursor"]
        if cursor is None:
            return got
        answer = request(f"{url}?cursor={cursor}{extra}", headers=JSON)


@pytest.fixture
def big(served_store: tuple[Store, str]) -> tuple[Store, str]:
    store, url = served_store
    store.write("big", rows_table(2500))
    return store, url


def test_json_reads_come_in_pages_with_a_cursor(big: tuple[Store, str]) -> None:
    store, url = big
    pages = pages_of(f"{url}/datasets/big", 1000)
    assert [len(p["rows"]) for p in pages] == [1000, 1000, 500]
    assert [p["version"] for p in pages] == [1, 1, 1]
    rows = [row for page in pages for row in page["rows"]]
    assert rows == rows_table(2500).to_pylist()
    first = request(f"{url}/datasets/big", headers=JSON).json()
    assert len(first["rows"]) == DEFAULT_PAGE_ROWS
    assert first["next_cursor"] == f"1:{DEFAULT_PAGE_ROWS}"


def test_a_cursor_stays_on_its_version(big: tuple[Store, str]) -> None:
    store, url = big
    first = request(f"{url}/datasets/big?limit=2000", headers=JSON).json()
    store.write("big", rows_table(10, start=9000))  # version 2 while paging
    rest = request(
        f"{url}/datasets/big?cursor={first['next_cursor']}", headers=JSON
    ).json()
    assert rest["version"] == 1 and rest["next_cursor"] is None
    assert [r["id"] for r in rest["rows"]] == list(range(2000, 2500))
    both = request(
        f"{url}/datasets/big?version=1&cursor={first['next_cursor']}&limit=1",
        headers=JSON,
    ).json()
    assert both["rows"] == [{"id": 2000, "label": "row 2000"}]


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("limit=0", "invalid limit"),
        (f"limit={MAX_PAGE_ROWS + 1}", "invalid limit"),
        ("cursor=nonsense", "invalid cursor"),
        ("cursor=0:5", "invalid cursor"),
        ("cursor=1:9999", "past the last row"),
        ("cursor=1:10&version=2", "is of version 1, not 2"),
        ("cursor=1:10&cursor=1:20", "at most once"),
        ("limit=5&limit=6", "at most once"),
    ],
)
def test_bad_limits_and_cursors_are_400(
    big: tuple[Store, str], query: str, words: str
) -> None:
    store, url = big
    store.write("big", rows_table(1))
    answer = request(f"{url}/datasets/big?{query}", headers=JSON)
    assert answer.status == 400, answer.body
    assert words in answer.json()["error"]


def test_a_page_stops_near_its_byte_bound(served_store: tuple[Store, str]) -> None:
    store, url = served_store
    wide = pa.table({"id": list(range(100)), "blob": ["x" * 200_000] * 100})
    store.write("wide", wide)
    pages = pages_of(f"{url}/datasets/wide", 100)
    assert len(pages) > 1
    assert all(len(p["rows"]) <= 21 for p in pages)  # 4 MiB / 200 kB
    assert [r["id"] for p in pages for r in p["rows"]] == list(range(100))


def test_an_empty_version_is_one_empty_page(served_store: tuple[Store, str]) -> None:
    store, url = served_store
    store.write("empty", rows_table(0))
    answer = request(f"{url}/datasets/empty", headers=JSON).json()
    assert (answer["rows"], answer["next_cursor"]) == ([], None)


def test_reads_never_decode_a_whole_version(
    big: tuple[Store, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, url = big

    def whole(*args: Any, **kwargs: Any) -> pa.Table:
        raise AssertionError("a read decoded the whole version")

    monkeypatch.setattr(Store, "read", whole)
    page = request(f"{url}/datasets/big?limit=10", headers=JSON)
    assert page.status == 200, page.body
    assert len(page.json()["rows"]) == 10
    csv = request(f"{url}/datasets/big", headers={"Accept": "text/csv"})
    assert csv.status == 200, csv.body
    assert csv.body == formats.write_csv(rows_table(2500))


def test_csv_downloads_are_streamed(big: tuple[Store, str]) -> None:
    store, url = big
    answer = request(f"{url}/datasets/big", headers={"Accept": "text/csv"})
    assert answer.status == 200
    assert answer.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in answer.headers
    assert answer.body == formats.write_csv(rows_table(2500))
    store.write("empty", rows_table(0))
    answer = request(f"{url}/datasets/empty", headers={"Accept": "text/csv"})
    assert answer.body == b'"id","label"\n'
