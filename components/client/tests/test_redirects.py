"""A redirect never carries the token to another host, port or scheme."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import cast

import pytest
from mlops_client import Client


class _Server(ThreadingHTTPServer):
    #: What each request asked for and the Authorization it carried.
    seen: list[tuple[str, str | None]]
    #: Where /elsewhere/... redirects.
    target: str = ""


class _Recording(BaseHTTPRequestHandler):
    """Answers /datasets with one dataset; redirects /elsewhere/... to the
    server's ``target`` and /here/... to its own /datasets."""

    def do_GET(self) -> None:
        server = cast(_Server, self.server)
        server.seen.append((self.path, self.headers.get("Authorization")))
        if self.path.startswith("/elsewhere/"):
            self.send_response(302)
            self.send_header("Location", server.target + "/datasets")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path.startswith("/here/"):
            self.send_response(307)
            self.send_header("Location", "/datasets")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b'{"datasets": ["x"]}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def servers() -> Iterator[list[_Server]]:
    made = []
    for _ in range(2):
        server = _Server(("127.0.0.1", 0), _Recording)
        server.seen = []
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        made.append((server, thread))
    first, other = (s for s, _ in made)
    first.target = f"http://127.0.0.1:{other.server_address[1]}"
    try:
        yield [first, other]
    finally:
        for server, thread in made:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)


def test_a_redirect_to_another_port_loses_the_token(
    servers: list[_Server],
) -> None:
    first, other = servers
    url = f"http://127.0.0.1:{first.server_address[1]}/elsewhere"
    assert Client(url, token="s3cret").list_datasets() == ["x"]
    assert first.seen == [("/elsewhere/datasets", "Bearer s3cret")]
    assert other.seen == [("/datasets", None)]


def test_a_redirect_on_the_same_host_keeps_the_token(
    servers: list[_Server],
) -> None:
    first, _ = servers
    url = f"http://127.0.0.1:{first.server_address[1]}/here"
    assert Client(url, token="s3cret").list_datasets() == ["x"]
    assert first.seen == [
        ("/here/datasets", "Bearer s3cret"),
        ("/datasets", "Bearer s3cret"),
    ]
