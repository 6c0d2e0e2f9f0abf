"""cdc logs as storage does: JSON lines on stderr, the same access fields."""

from __future__ import annotations

import http.client
import json
import logging
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from cdc_testing import create, jsonl
from mlops_cdc import ChangeApplier, make_server
from mlops_storage import Store
from mlops_storage import server as storage_server
from mlops_storage.auth import TokenSource
from mlops_storage.logs import JsonFormatter
from mlops_storage.settings import Settings

TOKEN = "cdc-log-token"


def call(
    url: str, method: str, path: str, body: bytes = b"", **headers: str
) -> http.client.HTTPResponse:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request(method, path, body=body or None, headers=headers)
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def test_serve_logs_json_lines_with_request_ids(tmp_path: Path) -> None:
    root = tmp_path / "store"
    root.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_STORAGE_")}
    env.update(MLOPS_STORAGE_TOKEN=TOKEN, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlops_cdc", "serve", "--port", "0"]
        + ["--root", str(root), "--log-level", "debug"],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stderr is not None
    lines: queue.Queue[str] = queue.Queue()
    stderr = proc.stderr

    def pump() -> None:
        for line in stderr:
            lines.put(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 30
        url = None
        while url is None and time.monotonic() < deadline:
            try:
                seen.append(lines.get(timeout=0.1))
            except queue.Empty:
                assert proc.poll() is None, f"server exited early: {seen}"
                continue
            match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", seen[-1])
            url = match.group(1) if match else None
        assert url is not None, f"server did not report its address: {seen}"

        body = jsonl(create(1, id=1, name="ada")).encode()
        ok = call(
            url,
            "POST",
            "/events?table=users",
            body,
            Authorization=f"Bearer {TOKEN}",
            **{"X-Request-ID": "batch-7"},
        )
        assert ok.status == 200
        refused = call(url, "POST", "/events?table=users", body)
        assert refused.status == 401
        wrong = call(url, "POST", "/events?table=x", body, Authorization=TOKEN + "x")
        assert wrong.status == 401
        assert call(url, "PUT", "/events").status == 501
        traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        assert call(url, "GET", "/healthz", traceparent=traceparent).status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    reader.join(timeout=10)  # the process exited: its stderr is at its end
    while not lines.empty():
        seen.append(lines.get_nowait())

    assert seen and all(TOKEN not in line for line in seen)
    entries = [json.loads(line) for line in seen]  # every line is JSON
    for entry in entries:
        assert {"ts", "level", "logger", "message"} <= set(entry), entry
    # Sorted: a line is written after its answer, so the next request's
    # thread may log first.
    access = sorted(
        (e for e in entries if e["logger"] == "mlops_cdc.access"),
        key=lambda e: (e["method"], e["path"], e["query"], e["status"]),
    )
    assert [(e["method"], e["path"], e["query"], e["status"]) for e in access] == [
        ("GET", "/healthz", "", 200),
        ("POST", "/events", "table=users", 200),
        ("POST", "/events", "table=users", 401),
        ("POST", "/events", "table=x", 401),
        ("PUT", "/events", "", 501),
    ]
    assert access[1]["request_id"] == "batch-7"
    # A request with a traceparent logs its trace and its own span; no other does.
    assert access[0]["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert (
        len(access[0]["span_id"]) == 16 and access[0]["span_id"] != "00f067aa0ba902b7"
    )
    assert all("trace_id" not in e for e in access[1:])
    # The id is echoed: the client's when sane, else the new one.
    assert ok.headers["X-Request-ID"] == "batch-7"
    assert refused.headers["X-Request-ID"] == access[2]["request_id"]
    assert len(access[2]["request_id"]) == 32
    assert len({e["request_id"] for e in access}) == len(access)
    for entry in access:
        assert isinstance(entry["duration_ms"], float) and entry["duration_ms"] >= 0
        assert entry["client"] == "127.0.0.1" and entry["bytes_out"] > 0


def _access_fields(records: list[logging.LogRecord], logger: str) -> set[str]:
    formatter = JsonFormatter()
    [entry] = [
        json.loads(formatter.format(record))
        for record in records
        if record.name == logger
    ]
    return set(entry)


def test_access_lines_have_the_fields_of_storage(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    store = Store(tmp_path / "store")
    store.write("users", pa.table({"id": [1]}))

    storage = storage_server.make_server(
        store, "127.0.0.1", 0, Settings(token=TokenSource(value=TOKEN))
    )
    thread = threading.Thread(target=storage.serve_forever, daemon=True)
    thread.start()
    try:
        assert call(storage.url, "GET", "/datasets").status == 200
    finally:
        storage.shutdown(timeout=10)
        storage.server_close()
        thread.join(timeout=10)

    cdc = make_server(ChangeApplier(store), port=0, token=TokenSource(value=TOKEN))
    cdc_thread = threading.Thread(target=cdc.serve_forever, daemon=True)
    cdc_thread.start()
    try:
        body = jsonl(create(1, id=2)).encode()
        headers: dict[str, Any] = {"Authorization": f"Bearer {TOKEN}"}
        assert (
            call(cdc.url, "POST", "/events?table=users", body, **headers).status == 200
        )
    finally:
        cdc.shutdown()
        cdc.server_close()
        cdc_thread.join(timeout=10)

    storage_fields = _access_fields(caplog.records, "mlops_storage.access")
    assert _access_fields(caplog.records, "mlops_cdc.access") == storage_fields


def test_an_unexpected_error_is_a_json_500_with_its_request_id(
    applier: ChangeApplier,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(applier, "apply_lines", broken)
    caplog.set_level(logging.INFO)
    cdc = make_server(applier, port=0, allow_anonymous_writes=True)
    thread = threading.Thread(target=cdc.serve_forever, daemon=True)
    thread.start()
    try:
        answer = call(
            cdc.url, "POST", "/events?table=t", b"{}\n", **{"X-Request-ID": "r9"}
        )
    finally:
        cdc.shutdown()
        cdc.server_close()
        thread.join(timeout=10)
    assert answer.status == 500
    formatter = JsonFormatter()
    entries = [json.loads(formatter.format(record)) for record in caplog.records]
    [error] = [e for e in entries if e["level"] == "error"]
    assert error["request_id"] == "r9" and "RuntimeError: a bug" in error["exception"]
    [access] = [e for e in entries if e["logger"] == "mlops_cdc.access"]
    assert (access["status"], access["request_id"]) == (500, "r9")
