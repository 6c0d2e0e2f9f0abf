"""``mlops-storage serve`` as a real process: SIGTERM, logs, configuration."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow as pa
import pytest
from conftest import TOKEN, Service
from http_testing import PARQUET, parquet, put, request
from mlops_storage import Store
from mlops_storage.cli import main

Spawn = Callable[..., Service]


def token_file(tmp_path: Path, token: str = TOKEN) -> str:
    path = tmp_path / "token"
    path.write_text(token + "\n")
    return str(path)


def refused(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=2):
            return False
    except (ConnectionRefusedError, ConnectionResetError):
        return True


def recv_until(sock: socket.socket, marker: bytes, deadline: float) -> bytes:
    data = b""
    while marker not in data:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_sigterm_lets_the_request_in_flight_finish(
    tmp_path: Path, spawn: Spawn
) -> None:
    root = tmp_path / "store"
    root.mkdir()
    service = spawn("--root", str(root), "--token-file", token_file(tmp_path))
    body = parquet(pa.table({"id": list(range(100))}))
    half = len(body) // 2
    parts = urlsplit(service.url)
    deadline = time.monotonic() + 30
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        head = (
            f"PUT /datasets/inflight HTTP/1.1\r\nHost: test\r\n"
            f"Content-Type: {PARQUET}\r\nContent-Length: {len(body)}\r\n"
            f"Authorization: Bearer {TOKEN}\r\nX-Request-ID: in-flight-1\r\n"
            "Expect: 100-continue\r\n\r\n"
        )
        sock.sendall(head.encode())
        # 100 Continue: the handler runs and is reading the body.
        assert recv_until(sock, b"\r\n\r\n", deadline).startswith(b"HTTP/1.1 100 ")
        sock.sendall(body[:half])

        service.proc.send_signal(signal.SIGTERM)
        service.wait_for("Shutting down")
        while not refused(service.url):  # no new connections from now on
            assert time.monotonic() < deadline, "still accepting after SIGTERM"
        assert service.proc.poll() is None, "exited with a request in flight"

        sock.sendall(body[half:])
        reply = recv_until(sock, b'"num_rows":100}', deadline)
        assert reply.startswith(b"HTTP/1.1 201 "), reply
        # ... and then the server closes the connection instead of keeping it.
        assert recv_until(sock, b"never sent", deadline) == b""
    assert service.proc.wait(timeout=30) == 0
    assert Store(root).read("inflight").num_rows == 100

    logs = service.drain()
    entries = service.json_lines()
    assert len(entries) == len(logs), "every line is JSON"
    access = [e for e in entries if e["logger"] == "mlops_storage.access"]
    assert [(e["method"], e["status"], e["request_id"]) for e in access] == [
        ("PUT", 201, "in-flight-1")
    ]


def test_log_lines_are_json_and_hold_no_token(tmp_path: Path, spawn: Spawn) -> None:
    root = tmp_path / "store"
    root.mkdir()
    service = spawn("--root", str(root), "--token-file", token_file(tmp_path))
    body = parquet(pa.table({"x": [1]}))
    assert put(service.url, "d", body, token=TOKEN).status == 201
    assert put(service.url, "d", body, token=TOKEN + "-wrong").status == 403
    assert put(service.url, "d", body).status == 401
    answer = request(f"{service.url}/datasets/d?version=1")
    assert answer.status == 200
    assert request(f"{service.url}/nope", headers={"X-Request-ID": "r-1"}).status == 404
    service.proc.send_signal(signal.SIGTERM)
    assert service.proc.wait(timeout=30) == 0

    lines = service.drain()
    assert lines and all(TOKEN not in line for line in lines)
    assert all("Bearer" not in line for line in lines)
    entries = [json.loads(line) for line in lines]  # every line parses
    access = [e for e in entries if e["logger"] == "mlops_storage.access"]
    # Two workers log each its own requests: the lines' order may differ.
    assert sorted((e["method"], e["path"], e["status"]) for e in access) == sorted(
        [
            ("PUT", "/datasets/d", 201),
            ("PUT", "/datasets/d", 403),
            ("PUT", "/datasets/d", 401),
            ("GET", "/datasets/d", 200),
            ("GET", "/nope", 404),
        ]
    )
    for entry in access:
        assert {"ts", "level", "method", "path", "status", "duration_ms"} <= set(entry)
        assert isinstance(entry["duration_ms"], float) and entry["duration_ms"] >= 0
        assert isinstance(entry["request_id"], str) and entry["request_id"]
    by_path = {(e["method"], e["path"]): e for e in access}
    assert by_path[("GET", "/datasets/d")]["query"] == "version=1"
    assert by_path[("GET", "/nope")]["request_id"] == "r-1"
    assert len({e["request_id"] for e in access}) == len(access)


def test_settings_from_the_environment(tmp_path: Path, spawn: Spawn) -> None:
    root = tmp_path / "store"
    root.mkdir()
    service = spawn(
        env={
            "MLOPS_STORAGE_ROOT": str(root),
            "MLOPS_STORAGE_TOKEN": TOKEN,
            "MLOPS_STORAGE_MAX_BODY_BYTES": "1k",
        }
    )
    small = parquet(pa.table({"x": [1]}))
    assert put(service.url, "d", small, token=TOKEN).status == 201
    big = parquet(pa.table({"x": list(range(1000))}))
    assert put(service.url, "d", big, token=TOKEN).status == 413
    assert Store(root).versions("d") == [1]


def test_missing_root_from_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_STORAGE_ROOT", str(tmp_path / "gone"))
    assert main(["serve", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "does not exist ($MLOPS_STORAGE_ROOT" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize(
    ("argv", "env", "words"),
    [
        (["--max-body-bytes", "lots"], {}, "argument --max-body-bytes: invalid size"),
        (["--max-body-bytes", "0"], {}, "at least 1 byte"),
        (["--body-timeout", "nan"], {}, "argument --body-timeout"),
        (["--graceful-timeout", "-1"], {}, "argument --graceful-timeout"),
        (["--port", "70000"], {}, "argument --port"),
        (["--workers", "0"], {}, "argument --workers: invalid count"),
        (["--workers", "many"], {}, "argument --workers"),
        (["--threads", "100000"], {}, "argument --threads"),
        (["--max-rows", "0"], {}, "argument --max-rows"),
        (["--max-table-bytes", "big"], {}, "argument --max-table-bytes"),
        (["--header-timeout", "0"], {}, "argument --header-timeout"),
        (["--max-connections", "0"], {}, "argument --max-connections"),
        ([], {"MLOPS_STORAGE_WRITE_MEMORY": "x"}, "$MLOPS_STORAGE_WRITE_MEMORY"),
        ([], {"MLOPS_STORAGE_WORKERS": "-2"}, "$MLOPS_STORAGE_WORKERS"),
        ([], {"MLOPS_STORAGE_THREADS": "x"}, "$MLOPS_STORAGE_THREADS"),
        ([], {"MLOPS_STORAGE_MAX_BODY_BYTES": "x"}, "$MLOPS_STORAGE_MAX_BODY_BYTES"),
        ([], {"MLOPS_STORAGE_BODY_TIMEOUT": "0"}, "$MLOPS_STORAGE_BODY_TIMEOUT"),
        ([], {"MLOPS_STORAGE_AUTH_READS": "maybe"}, "$MLOPS_STORAGE_AUTH_READS"),
        (["--auth-reads"], {}, "--auth-reads needs a token"),
        (["--token-file", "/no/such/token"], {}, "cannot read token file"),
        ([], {"MLOPS_STORAGE_TOKEN": " "}, "is empty"),
        (
            ["--token-file", "TOKENFILE"],
            {"MLOPS_STORAGE_TOKEN": "x"},
            "configure only one",
        ),
        (
            ["--allow-anonymous-writes"],
            {"MLOPS_STORAGE_TOKEN": "x"},
            "contradicts",
        ),
    ],
)
def test_bad_configuration_is_one_line_exit_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    env: dict[str, str],
    words: str,
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    argv = [token_file(tmp_path) if arg == "TOKENFILE" else arg for arg in argv]
    assert exit_code(["serve", "--root", str(tmp_path), "--port", "0", *argv]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("mlops-storage: error: ") and words in err


def exit_code(argv: list[str]) -> object:
    """main's exit status, whether it returns it or argparse exits with it."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def worker_pids(service: Service, count: int) -> set[int]:
    """The pids uvicorn logs as each worker starts (waits for ``count``)."""
    pids: set[int] = set()
    while len(pids) < count:
        found = service.wait_for(r"Started server process \[(\d+)\]")
        pids.add(int(found.group(1)))
        service.lines.remove(found.string)
    return pids


def test_several_workers_serve_one_port_and_stop_on_sigterm(
    tmp_path: Path, spawn: Spawn
) -> None:
    root = tmp_path / "store"
    root.mkdir()
    service = spawn(
        "--root",
        str(root),
        "--workers",
        "2",
        "--threads",
        "4",
        env={"MLOPS_STORAGE_TOKEN": TOKEN},
    )
    pids = worker_pids(service, 2)
    assert service.proc.pid not in pids
    body = parquet(pa.table({"x": [1]}))
    answers = [put(service.url, "d", body, token=TOKEN) for _ in range(6)]
    assert [answer.status for answer in answers] == [201] * 6
    assert sorted(int(a.json()["version"]) for a in answers) == list(range(1, 7))
    assert request(f"{service.url}/datasets/d").json()["version"] == 6
    service.proc.send_signal(signal.SIGTERM)
    assert service.proc.wait(timeout=30) == 0
    assert refused(service.url)


def test_a_dead_worker_is_replaced_and_the_others_keep_serving(
    tmp_path: Path, spawn: Spawn
) -> None:
    # A worker killed (the kernel's OOM killer, say) must not take the other
    # worker's requests down with it.
    root = tmp_path / "store"
    root.mkdir()
    service = spawn("--root", str(root), "--workers", "2")
    first = worker_pids(service, 2)
    os.kill(first.pop(), signal.SIGKILL)
    assert service.wait_for(r"worker \d \(pid \d+\) exited with -9; starting another")
    replacement = worker_pids(service, 1)
    assert not replacement & first
    for _ in range(10):
        assert request(f"{service.url}/healthz").status == 200
    assert service.proc.poll() is None
    service.proc.send_signal(signal.SIGTERM)
    assert service.proc.wait(timeout=30) == 0


def test_workers_that_keep_dying_stop_the_service_with_exit_1(
    tmp_path: Path, spawn: Spawn
) -> None:
    from mlops_storage.server import MAX_RESTARTS

    root = tmp_path / "store"
    root.mkdir()
    service = spawn("--root", str(root), "--workers", "2")
    alive = worker_pids(service, 2)
    for kill in range(MAX_RESTARTS + 1):
        os.kill(alive.pop(), signal.SIGKILL)
        if kill < MAX_RESTARTS:
            alive |= worker_pids(service, 1)  # its replacement
    assert service.proc.wait(timeout=60) == 1
    assert any(re.search("stopping the others", line) for line in service.drain())


@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [
        ([], {}, (2, 8, 64 * 1024 * 1024)),
        (
            [],
            {
                "MLOPS_STORAGE_WORKERS": "3",
                "MLOPS_STORAGE_THREADS": "5",
                "MLOPS_STORAGE_CACHE_BYTES": "1M",
            },
            (3, 5, 1024 * 1024),
        ),
        (
            ["--workers", "2", "--threads", "6", "--cache-bytes", "2k"],
            {"MLOPS_STORAGE_WORKERS": "3"},
            (2, 6, 2048),
        ),
    ],
)
def test_worker_settings_from_flags_then_variables_then_defaults(
    argv: list[str], env: dict[str, str], expected: tuple[int, int, int]
) -> None:
    from mlops_storage.cli import build_parser, settings_from
    from mlops_storage.settings import (
        DEFAULT_CACHE_BYTES,
        DEFAULT_THREADS,
        DEFAULT_WORKERS,
    )

    if not argv and not env:
        expected = (DEFAULT_WORKERS, DEFAULT_THREADS, DEFAULT_CACHE_BYTES)
    args = build_parser().parse_args(["serve", "--allow-anonymous-writes", *argv])
    settings = settings_from(args, env)
    assert (settings.workers, settings.threads, settings.cache_bytes) == expected


def test_workers_go_when_the_supervisor_is_killed(tmp_path: Path, spawn: Spawn) -> None:
    root = tmp_path / "store"
    root.mkdir()
    service = spawn("--root", str(root), "--workers", "2")
    worker_pids(service, 2)
    assert request(f"{service.url}/healthz").status == 200
    service.proc.kill()
    service.proc.wait(timeout=30)
    deadline = time.monotonic() + 30
    while not refused(service.url):  # both workers closed the socket
        assert time.monotonic() < deadline, "workers outlived their supervisor"
    service.drain()  # end of output: no worker holds stderr any more


def test_limit_settings_from_flags_then_variables_then_defaults() -> None:
    from mlops_storage import settings as s
    from mlops_storage.cli import build_parser, settings_from

    def limits(argv: list[str], env: dict[str, str]) -> tuple[object, ...]:
        args = build_parser().parse_args(["serve", "--allow-anonymous-writes", *argv])
        got = settings_from(args, env)
        return (
            got.max_rows,
            got.max_table_bytes,
            got.write_memory,
            got.header_timeout,
            got.max_connections,
        )

    assert limits([], {}) == (
        s.DEFAULT_MAX_ROWS,
        s.DEFAULT_MAX_TABLE,
        s.DEFAULT_WRITE_MEMORY,
        s.DEFAULT_HEADER_TIMEOUT,
        s.DEFAULT_MAX_CONNECTIONS,
    )
    env = {
        s.MAX_ROWS_ENV: "10",
        s.MAX_TABLE_ENV: "1M",
        s.WRITE_MEMORY_ENV: "2M",
        s.HEADER_TIMEOUT_ENV: "3",
        s.MAX_CONNECTIONS_ENV: "4",
    }
    assert limits([], env) == (10, 1024**2, 2 * 1024**2, 3.0, 4)
    flags = ["--max-rows", "20", "--max-table-bytes", "3M", "--write-memory", "4M"]
    flags += ["--header-timeout", "5", "--max-connections", "6"]
    assert limits(flags, env) == (20, 3 * 1024**2, 4 * 1024**2, 5.0, 6)
