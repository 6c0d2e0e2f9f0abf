from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from mlops_storage import Store
from mlops_storage.server import make_server
from mlops_storage.settings import Settings

TOKEN = "t0ken-for-tests"

Serve = Callable[..., str]


@contextmanager
def running(store: Store, settings: Settings | None = None) -> Iterator[str]:
    """A live service over ``store`` on a free loopback port; yields its URL."""
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
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store")


@pytest.fixture
def served_store(store: Store) -> Iterator[tuple[Store, str]]:
    """A store and the base URL of a live service over it on a free port."""
    with running(store) as url:
        yield store, url


@pytest.fixture
def serve(store: Store) -> Iterator[Serve]:
    """Start services over ``store`` with the given settings; stopped at the end."""
    with ExitStack() as stack:

        def start(**settings: Any) -> str:
            return stack.enter_context(running(store, Settings(**settings)))

        yield start


@pytest.fixture
def storage_script() -> str:
    """Path of the ``mlops-storage`` console script of the running venv."""
    path = Path(sys.executable).parent / "mlops-storage"
    assert path.exists(), f"console script not installed at {path}"
    return str(path)


@dataclass
class Service:
    """A ``mlops-storage serve`` subprocess and the lines of its stderr."""

    proc: subprocess.Popen[str]
    url: str = ""
    lines: list[str] = field(default_factory=list)
    _queue: queue.Queue[str | None] = field(default_factory=queue.Queue)

    def next_line(self, deadline: float) -> str | None:
        """The next stderr line, None at end of output; fails at the deadline."""
        while True:
            try:
                line = self._queue.get(timeout=0.05)
            except queue.Empty:
                assert time.monotonic() < deadline, "no output before the deadline"
                continue
            if line is not None:
                self.lines.append(line)
            return line

    def wait_for(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        for line in self.lines:
            found = re.search(pattern, line)
            if found:
                return found
        while True:
            next_line = self.next_line(deadline)
            assert next_line is not None, f"exited before {pattern!r}: {self.lines}"
            found = re.search(pattern, next_line)
            if found:
                return found

    def drain(self, timeout: float = 30) -> list[str]:
        """Every remaining stderr line (the process must have ended)."""
        deadline = time.monotonic() + timeout
        while self.next_line(deadline) is not None:
            pass
        return self.lines

    def json_lines(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.lines if line.startswith("{")]


@pytest.fixture
def spawn(storage_script: str) -> Iterator[Callable[..., Service]]:
    """Start ``mlops-storage serve ARGS`` on a free port; wait until it serves."""
    started: list[Service] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Service:
        environ = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("MLOPS_STORAGE_")
        }
        environ.update(env or {})
        proc = subprocess.Popen(
            [storage_script, "serve", "--host", "127.0.0.1", "--port", "0", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=environ,
        )
        service = Service(proc)
        started.append(service)
        stderr = proc.stderr
        assert stderr is not None

        def pump() -> None:
            for line in stderr:
                service._queue.put(line.rstrip("\n"))
            service._queue.put(None)

        threading.Thread(target=pump, daemon=True).start()
        service.url = service.wait_for(r"http://127\.0\.0\.1:\d+").group(0)
        return service

    try:
        yield start
    finally:
        for service in started:
            if service.proc.poll() is None:
                # SIGTERM: with workers, the supervisor stops them too (and
                # they release stderr) before it exits.
                service.proc.terminate()
                try:
                    service.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    service.proc.kill()
            service.proc.wait(timeout=30)
            if service.proc.stderr is not None:
                service.proc.stderr.close()
