"""Fixtures: a real storage service on a free loopback port, seeded with data."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from mlops_storage import Store
from mlops_storage.auth import TokenSource
from mlops_storage.server import make_server
from mlops_storage.settings import Settings

TOKEN = "client-test-token"


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


@pytest.fixture(autouse=True)
def no_token_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests decide about tokens, not the environment they run in."""
    for name in ("MLOPS_TOKEN", "MLOPS_TOKEN_FILE", "MLOPS_STORAGE_URL", "TRACEPARENT"):
        monkeypatch.delenv(name, raising=False)


def _serve(store: Store, settings: Settings | None = None) -> Iterator[str]:
    server = make_server(store, "127.0.0.1", 0, settings)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.url
    finally:
        server.shutdown(timeout=10)
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def url(store: Store) -> Iterator[str]:
    """Base URL of a live storage service over ``store`` (writes need TOKEN)."""
    yield from _serve(store, Settings(token=TokenSource(value=TOKEN)))


@pytest.fixture
def writes_disabled_url(store: Store) -> Iterator[str]:
    """A live storage service with no token configured: it refuses every write."""
    yield from _serve(store, Settings())


@pytest.fixture
def token_file(tmp_path: Path) -> str:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    return str(path)


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
