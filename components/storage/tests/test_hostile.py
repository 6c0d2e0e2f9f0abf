"""Clients that hold connections without finishing a request, too many
connections at once, and metric labels a client could choose."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

from conftest import Serve
from http_testing import request


def connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    return socket.create_connection((parts.hostname, parts.port), timeout=10)


def closed_within(sock: socket.socket, seconds: float) -> bytes:
    """What the server sent before it closed the connection (fails at the deadline)."""
    deadline = time.monotonic() + seconds
    got = b""
    while True:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            raise AssertionError(f"still open after {seconds} s") from None
        except ConnectionResetError:
            return got
        if not chunk:
            return got
        got += chunk


def test_a_client_that_never_finishes_its_headers_is_cut_off(serve: Serve) -> None:
    url = serve(header_timeout=1.0)
    with connect(url) as slow:
        slow.sendall(b"GET /datasets HTTP/1.1\r\nHost: x\r\n")  # and nothing more
        started = time.monotonic()
        closed_within(slow, 10)
        assert time.monotonic() - started >= 0.5
    assert request(f"{url}/healthz").status == 200


def test_a_connection_that_sends_nothing_is_closed(serve: Serve) -> None:
    url = serve(header_timeout=1.0)
    with connect(url) as idle:
        assert closed_within(idle, 10) == b""


def test_a_second_request_on_a_connection_gets_the_same_deadline(
    serve: Serve,
) -> None:
    url = serve(header_timeout=1.0, keepalive_timeout=30.0)
    with connect(url) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        first = b""
        while not first.endswith(b'{"status":"ok"}'):
            chunk = conn.recv(4096)
            assert chunk, f"closed after {first!r}"
            first += chunk
        assert first.startswith(b"HTTP/1.1 200")
        conn.sendall(b"GET /healthz HTTP/1.1\r\n")  # the next one stalls
        closed_within(conn, 10)


def test_connections_beyond_the_limit_are_answered_503(serve: Serve) -> None:
    url = serve(max_connections=2, header_timeout=30.0)
    held = [connect(url), connect(url)]
    try:
        answer = request(f"{url}/healthz")
        assert answer.status == 503
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 10
    while request(f"{url}/healthz").status != 200:
        assert time.monotonic() < deadline, "the held connections were never freed"


def test_metric_labels_never_take_the_method_a_client_chose(serve: Serve) -> None:
    url = serve()
    for method in ("FOO1", "BAR2", "get"):
        with connect(url) as conn:
            conn.sendall(method.encode() + b" /datasets HTTP/1.1\r\nHost: x\r\n\r\n")
            assert conn.recv(4096).startswith(b"HTTP/1.1 ")
    metrics = request(f"{url}/metrics").body.decode()
    assert "FOO1" not in metrics and "BAR2" not in metrics
    assert 'method="other"' in metrics
