"""Issue #31, item 6: the service refuses before it reads, and reads in time.

Route, credentials and the declared length are checked before a body byte is
read; a client that sends too slowly gets 408 and loses its connection; the
connections and batches served at once are bounded (503 beyond).
"""

from __future__ import annotations

import http.client
import select
import socket
import time
from collections.abc import Iterator

import pytest
from cdc_testing import create, jsonl, post, serving
from mlops_cdc import CdcServer, ChangeApplier
from mlops_storage import Store
from mlops_storage.auth import TokenSource

TOKEN = "limits-token"


@pytest.fixture
def server(applier: ChangeApplier) -> Iterator[CdcServer]:
    """Deadlines of a second, three connections, one batch at a time."""
    from mlops_cdc import Limits

    fast = Limits(
        header_timeout=1.0, body_timeout=1.0, max_connections=3, max_batches=1
    )
    with serving(applier, token=TokenSource(value=TOKEN), limits=fast) as srv:
        yield srv


def connect(server: CdcServer) -> socket.socket:
    host, port = server.server_address[:2]
    return socket.create_connection((str(host), int(port)), timeout=10)


def answer(sock: socket.socket, within: float = 5.0) -> tuple[int, bytes, float]:
    """Read until the server closes: the status, the whole text and the time taken."""
    started = time.monotonic()
    sock.settimeout(within)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    elapsed = time.monotonic() - started
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0
    return status, data, elapsed


def head(path: str, length: int, *extra: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: cdc", f"Content-Length: {length}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_unauthenticated_post_is_refused_before_its_body(
    applier: ChangeApplier,
) -> None:
    """It read up to 64 MiB before answering 401; now it answers at once."""
    with serving(applier, token=TokenSource(value=TOKEN)) as server:
        with connect(server) as sock:
            sock.sendall(head("/events?table=users", 50_000_000))
            status, data, elapsed = answer(sock)
    assert status == 401 and b"Connection: close" in data
    assert elapsed < 3


def test_unknown_path_is_refused_before_its_body(applier: ChangeApplier) -> None:
    with serving(applier, token=TokenSource(value=TOKEN)) as server:
        with connect(server) as sock:
            sock.sendall(head("/nope", 50_000_000, f"Authorization: Bearer {TOKEN}"))
            status, _, elapsed = answer(sock)
    assert status == 404 and elapsed < 3


def test_expect_continue_gets_the_refusal_not_a_continue(server: CdcServer) -> None:
    with connect(server) as sock:
        sock.sendall(head("/events?table=users", 1000, "Expect: 100-continue"))
        status, data, _ = answer(sock)
    assert status == 401 and b"100 Continue" not in data


def test_expect_continue_when_the_body_is_wanted(
    server: CdcServer, store: Store
) -> None:
    body = jsonl(create(1, id=1)).encode()
    with connect(server) as sock:
        auth = f"Authorization: Bearer {TOKEN}"
        sock.sendall(
            head(
                "/events?table=users",
                len(body),
                auth,
                "Expect: 100-continue",
                "Connection: close",
            )
        )
        assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(body)
        status, _, _ = answer(sock)
    assert status == 200 and store.read("users").num_rows == 1


def test_a_half_sent_body_is_timed_out(server: CdcServer, store: Store) -> None:
    """1 byte of a declared 1000: the connection was held for ever."""
    with connect(server) as sock:
        sock.sendall(
            head("/events?table=users", 1000, f"Authorization: Bearer {TOKEN}") + b"{"
        )
        status, data, elapsed = answer(sock, within=10)
    assert status == 408 and b"request body not received within 1 s" in data
    assert elapsed < 4
    assert store.datasets() == []


def test_a_trickled_body_is_timed_out_though_never_silent(server: CdcServer) -> None:
    """A byte every 0.2 s: never silent for a second, still over the deadline."""
    with connect(server) as sock:
        sock.sendall(
            head("/events?table=users", 1000, f"Authorization: Bearer {TOKEN}")
        )
        started = time.monotonic()
        while not select.select([sock], [], [], 0.2)[0]:  # the client's pace
            assert time.monotonic() - started < 5, "no answer while trickling"
            sock.sendall(b" ")
        status, data, _ = answer(sock)
    assert status == 408 and time.monotonic() - started < 5


def test_slow_headers_are_timed_out(server: CdcServer) -> None:
    with connect(server) as sock:
        sock.sendall(b"POST /events?table=users HTTP/1.1\r\nHost: cdc\r\n")
        status, data, elapsed = answer(sock, within=10)
    assert status == 408 and b"headers not received within 1 s" in data
    assert elapsed < 4


def test_an_idle_connection_is_closed(server: CdcServer) -> None:
    with connect(server) as sock:
        status, data, elapsed = answer(sock, within=10)
    assert (status, data) == (0, b"") and elapsed < 4


def test_batches_beyond_the_bound_get_503(server: CdcServer) -> None:
    with connect(server) as holder:
        holder.sendall(
            head("/events?table=users", 1000, f"Authorization: Bearer {TOKEN}")
        )
        deadline = time.monotonic() + 10
        while server.batches == 0:  # until the server takes the one place
            assert time.monotonic() < deadline
        status, result = post(server, jsonl(create(1, id=1)).encode(), token=TOKEN)
        assert status == 503 and "1 batches at once" in result["error"]
    # Once the held request timed out, batches are taken again.
    deadline = time.monotonic() + 10
    while post(server, jsonl(create(1, id=1)).encode(), token=TOKEN)[0] != 200:
        assert time.monotonic() < deadline


def test_connections_beyond_the_bound_get_503(server: CdcServer) -> None:
    held = [connect(server) for _ in range(3)]
    try:
        deadline = time.monotonic() + 10
        while True:  # the third may still be on its way to a thread
            with connect(server) as extra:
                status, data, _ = answer(extra)
            if status == 503 or time.monotonic() > deadline:
                break
        assert status == 503 and b"Retry-After: 1" in data
    finally:
        for sock in held:
            sock.close()


def test_healthz_still_answers_on_a_kept_alive_connection(server: CdcServer) -> None:
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(str(host), int(port), timeout=10)
    try:
        for _ in range(3):
            conn.request("GET", "/healthz")
            response = conn.getresponse()
            assert (response.status, response.read()) == (200, b'{"status": "ok"}\n')
    finally:
        conn.close()
