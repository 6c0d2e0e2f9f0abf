"""The caller's trace context (``$TRACEPARENT``, set by the xtask in its smoke
and load Jobs) goes with every request, so storage logs them in that trace."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import cast

import pytest
from mlops_client import Client
from mlops_client.client import traceparent_from_environment

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE}-00f067aa0ba902b7-01"


class _Server(ThreadingHTTPServer):
    #: The traceparent header of each request (None when absent).
    seen: list[str | None]


class _Recording(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        cast(_Server, self.server).seen.append(self.headers.get("traceparent"))
        body = b'{"datasets": ["x"]}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[_Server]:
    server = _Server(("127.0.0.1", 0), _Recording)
    server.seen = []
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_the_environments_trace_goes_with_every_request(
    server: _Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("TRACEPARENT", TRACEPARENT)
    assert Client(url).list_datasets() == ["x"]
    monkeypatch.setenv("TRACEPARENT", "garbage")
    assert Client(url).list_datasets() == ["x"]
    monkeypatch.delenv("TRACEPARENT")
    assert Client(url).list_datasets() == ["x"]
    other = f"00-{'1' * 32}-{'2' * 16}-01"
    assert Client(url, traceparent=other).list_datasets() == ["x"]
    assert server.seen == [TRACEPARENT, None, None, other]


def test_only_a_valid_w3c_traceparent_is_taken() -> None:
    assert traceparent_from_environment({"TRACEPARENT": f" {TRACEPARENT}\n"}) == (
        TRACEPARENT
    )
    for bad in [
        "",
        f"00-{TRACE.upper()}-00f067aa0ba902b7-01",
        f"00-{'0' * 32}-00f067aa0ba902b7-01",
        f"00-{TRACE}-{'0' * 16}-01",
        f"00-{TRACE}-00f067aa0ba902b7-01-extra",
    ]:
        assert traceparent_from_environment({"TRACEPARENT": bad}) is None, bad
    assert traceparent_from_environment({}) is None
