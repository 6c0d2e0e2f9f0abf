"""Fixtures: a real storage service on a free loopback port, seeded with data."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from mlops_storage import Store
from mlops_storage.server import make_server


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "store")
    store.write("events", pa.table({"id": [1, 2], "label": ["a", "b"]}))
    store.write(
        "events",
        pa.table({"id": [3, 4], "label": ["c", None], "score": [0.5, 1.25]}),
        metadata={"source": "test"},
    )
    store.write("users", pa.table({"name": ["ann"], "tags": [["x", "y"]]}))
    return store


@pytest.fixture
def url(store: Store) -> Iterator[str]:
    """Base URL of a live storage service over ``store``."""
    server = make_server(store, "127.0.0.1", 0)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    host, port = server.server_address[:2]
    try:
        yield f"http://{host!s}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def down_url() -> str:
    """A loopback URL on which nothing listens (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def silent_url() -> Iterator[str]:
    """A loopback URL that accepts connections but never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
