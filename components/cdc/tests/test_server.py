from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from cdc_testing import create, delete, jsonl, serving, update
from mlops_cdc import CdcServer, ChangeApplier
from mlops_storage import Store
from mlops_storage.auth import TokenSource

TOKEN = "cdc-server-token"


@pytest.fixture
def server(applier: ChangeApplier) -> Iterator[CdcServer]:
    with serving(applier, max_body=4096, token=TokenSource(value=TOKEN)) as srv:
        yield srv


def request(
    server: CdcServer,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    token: str | None = TOKEN,
) -> tuple[int, Any]:
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(str(host), int(port), timeout=10)
    sent = {} if token is None else {"Authorization": f"Bearer {token}"}
    try:
        conn.request(method, path, body=body, headers={**sent, **(headers or {})})
        response = conn.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else None
    finally:
        conn.close()


def test_healthz(server: CdcServer) -> None:
    assert request(server, "GET", "/healthz") == (200, {"status": "ok"})
    assert server.url.startswith("http://127.0.0.1:")


def test_post_events_end_to_end(server: CdcServer, store: Store) -> None:
    body = jsonl(create(1, id=1, name="ada"), create(2, id=2, name="bob"), "oops")
    status, result = request(server, "POST", "/events?table=users", body.encode())
    assert status == 200
    assert result["applied"] == 2
    assert result["skipped"] == 0
    assert result["version"] == 1
    assert result["high_water_offset"] == 2
    assert [(d["line"], d["raw"]) for d in result["dead_letters"]] == [(3, "oops")]

    body = jsonl(update(3, id=1, name="ada l."), delete(4, id=2), create(2, id=2))
    status, result = request(server, "POST", "/events?table=users", body.encode())
    assert status == 200
    assert (result["applied"], result["skipped"], result["version"]) == (2, 1, 2)
    assert store.read("users").to_pylist() == [{"id": 1, "name": "ada l."}]

    # Replaying the same request changes nothing.
    status, result = request(server, "POST", "/events?table=users", body.encode())
    assert (status, result["applied"], result["version"]) == (200, 0, None)
    assert store.versions("users") == [1, 2]


def test_key_override_and_conflict(server: CdcServer) -> None:
    body = jsonl(create(1, sku="x", qty=1)).encode()
    status, result = request(server, "POST", "/events?table=stock&key=sku", body)
    assert (status, result["applied"]) == (200, 1)
    status, result = request(server, "POST", "/events?table=stock", body)
    assert status == 409
    assert "keyed by (sku)" in result["error"]


@pytest.mark.parametrize(
    "path",
    ["/events", "/events?table=a&table=b", "/events?table=../x", "/events?table="],
)
def test_bad_table_parameter(server: CdcServer, path: str) -> None:
    status, result = request(server, "POST", path, b"{}\n")
    assert status == 400
    assert "error" in result


def test_unknown_paths_and_methods(server: CdcServer) -> None:
    assert request(server, "GET", "/nope")[0] == 404
    assert request(server, "POST", "/nope", b"")[0] == 404
    assert request(server, "GET", "/events")[0] == 405


def test_body_limits(server: CdcServer) -> None:
    status, result = request(server, "POST", "/events?table=t", b"x" * 5000)
    assert status == 413
    status, _ = request(
        server,
        "POST",
        "/events?table=t",
        headers={"Transfer-Encoding": "chunked"},
        body=b"0\r\n\r\n",
    )
    assert status == 411


def test_concurrent_requests(server: CdcServer, store: Store) -> None:
    """As many batches at once as the service takes (beyond: 503, test_http_limits)."""
    statuses: list[int] = []
    tables = [f"t{i}" for i in range(server.limits.max_batches)]

    def post(table: str) -> None:
        body = jsonl(*(create(n, id=n) for n in range(1, 21))).encode()
        statuses.append(request(server, "POST", f"/events?table={table}", body)[0])

    threads = [threading.Thread(target=post, args=(table,)) for table in tables]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * len(tables) and len(tables) >= 2
    assert store.datasets() == tables


def _metric(text: str, name: str, route: str, status: str | None = None) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and f'route="{route}"' in line:
            if status is None or f'status="{status}"' in line:
                total += float(line.rsplit(" ", 1)[1])
    return total


def _scrape(server: CdcServer) -> str:
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(str(host), int(port), timeout=10)
    try:
        conn.request("GET", "/metrics")
        response = conn.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type", "").startswith("text/plain")
        return response.read().decode()
    finally:
        conn.close()


def test_metrics_count_requests_by_route_and_status(server: CdcServer) -> None:
    before = _scrape(server)
    assert request(server, "GET", "/healthz")[0] == 200
    assert request(server, "GET", "/events")[0] == 405
    assert request(server, "GET", "/nope/1")[0] == 404
    after = _scrape(server)

    def delta(name: str, route: str, status: str | None = None) -> float:
        return _metric(after, name, route, status) - _metric(
            before, name, route, status
        )

    assert delta("http_requests_total", "/healthz", "200") == 1
    assert delta("http_requests_total", "/events", "405") == 1
    assert delta("http_requests_total", "other", "404") == 1
    assert delta("http_request_duration_seconds_count", "/events") == 1
    assert 'route="/metrics"' not in after


def test_metrics_label_unknown_methods_other(server: CdcServer) -> None:
    """A client's made-up methods add no series: they count as ``other``."""
    for number in range(3):
        assert request(server, f"BREW{number}", "/events")[0] == 501
    after = _scrape(server)
    assert "BREW" not in after
    assert 'method="other"' in after
