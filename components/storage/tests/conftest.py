from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlops_storage import Store
from mlops_storage.server import make_server


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store")


@pytest.fixture
def served_store(store: Store) -> Iterator[tuple[Store, str]]:
    """A store and the base URL of a live service over it on a free port."""
    server = make_server(store, "127.0.0.1", 0)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    host, port = server.server_address[:2]
    try:
        yield store, f"http://{host!s}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def storage_script() -> str:
    """Path of the ``mlops-storage`` console script of the running venv."""
    path = Path(sys.executable).parent / "mlops-storage"
    assert path.exists(), f"console script not installed at {path}"
    return str(path)
