"""POST /events needs storage's bearer token, by storage's own rules."""

from __future__ import annotations

import hmac
import http.client
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cdc_testing import create, jsonl
from mlops_cdc import CdcServer, ChangeApplier, make_server
from mlops_storage import Store
from mlops_storage.auth import TokenSource

TOKEN = "cdc-test-token"
BODY = jsonl(create(1, id=1, name="ada")).encode()

Serve = Callable[..., CdcServer]


@pytest.fixture
def serve(applier: ChangeApplier) -> Iterator[Serve]:
    """Start a server with the given auth settings; stopped after the test."""
    servers: list[tuple[CdcServer, threading.Thread]] = []

    def start(**settings: Any) -> CdcServer:
        srv = make_server(applier, host="127.0.0.1", port=0, **settings)
        thread = threading.Thread(
            target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        servers.append((srv, thread))
        return srv

    yield start
    for srv, thread in servers:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=10)


def post(
    server: CdcServer, authorization: str | None, path: str = "/events?table=users"
) -> tuple[int, dict[str, Any], http.client.HTTPMessage]:
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(str(host), int(port), timeout=10)
    headers = {} if authorization is None else {"Authorization": authorization}
    try:
        conn.request("POST", path, body=BODY, headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read()), response.headers
    finally:
        conn.close()


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer   ", f"Basic {TOKEN}", TOKEN, f"Token {TOKEN}"],
)
def test_missing_or_malformed_credentials_are_401(
    serve: Serve, store: Store, authorization: str | None
) -> None:
    server = serve(token=TokenSource(value=TOKEN))
    status, body, headers = post(server, authorization)
    assert status == 401
    assert body == {
        "error": "authentication required: send Authorization: Bearer TOKEN"
    }
    assert headers["WWW-Authenticate"] == 'Bearer realm="mlops-cdc"'
    assert store.datasets() == []


@pytest.mark.parametrize("given", ["wrong", TOKEN + "x", TOKEN[:-1], "ć" * 3])
def test_wrong_token_is_403(serve: Serve, store: Store, given: str) -> None:
    server = serve(token=TokenSource(value=TOKEN))
    status, body, _ = post(server, f"Bearer {given}".encode().decode("latin-1"))
    assert (status, body) == (403, {"error": "invalid token"})
    assert store.datasets() == []


def test_right_token_writes(serve: Serve, store: Store) -> None:
    server = serve(token=TokenSource(value=TOKEN))
    status, body, _ = post(server, f"bearer  {TOKEN} ")
    assert (status, body["version"]) == (200, 1)
    assert store.read("users").to_pylist() == [{"id": 1, "name": "ada"}]


def test_the_compare_is_storage_constant_time_one(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    server = serve(token=TokenSource(value=TOKEN))
    assert post(server, "Bearer nope")[0] == 403
    assert calls == [(b"nope", TOKEN.encode())]


def test_no_token_configured_refuses_writes_as_storage_does(
    serve: Serve, store: Store
) -> None:
    status, body, _ = post(serve(), f"Bearer {TOKEN}")
    assert status == 403
    assert "no token is configured" in body["error"]
    assert "--token-file" in body["error"] and "$MLOPS_STORAGE_TOKEN" in body["error"]
    assert store.datasets() == []


def test_anonymous_writes_only_when_asked(serve: Serve, store: Store) -> None:
    status, _, _ = post(serve(allow_anonymous_writes=True), None)
    assert status == 200
    assert store.versions("users") == [1]


def test_unreadable_token_file_is_503(
    serve: Serve, store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    server = serve(token=TokenSource(path=path))
    path.unlink()
    status, body, _ = post(server, f"Bearer {TOKEN}")
    assert status == 503
    assert body["error"].startswith("cannot check credentials: cannot read token file")
    assert store.datasets() == []


def test_healthz_stays_open(serve: Serve) -> None:
    server = serve(token=TokenSource(value=TOKEN))
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(str(host), int(port), timeout=10)
    try:
        conn.request("GET", "/healthz")
        assert conn.getresponse().status == 200
    finally:
        conn.close()


def test_the_token_is_never_logged(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server = serve(token=TokenSource(value=TOKEN))
    for authorization in [f"Bearer {TOKEN}", f"Bearer {TOKEN}-wrong", TOKEN]:
        post(server, authorization)
        post(server, authorization, "/events?table=../bad")
    assert caplog.records, "the requests were not logged at all"
    for record in caplog.records:
        assert TOKEN not in record.getMessage()
        assert TOKEN not in json.dumps(record.__dict__, default=str)


@pytest.mark.parametrize(
    ("argv", "env", "words"),
    [
        (["--token-file", "/no/such/token"], {}, "cannot read token file"),
        ([], {"MLOPS_STORAGE_TOKEN_FILE": "/no/such/token"}, "cannot read token"),
        ([], {"MLOPS_STORAGE_TOKEN": " "}, "is empty"),
        (
            ["--token-file", "TOKENFILE"],
            {"MLOPS_STORAGE_TOKEN": "x"},
            "configure only one",
        ),
        (["--allow-anonymous-writes"], {"MLOPS_STORAGE_TOKEN": "x"}, "contradicts"),
    ],
)
def test_bad_token_configuration_is_one_line_exit_2(
    tmp_path: Path, argv: list[str], env: dict[str, str], words: str
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    argv = [str(token_file) if arg == "TOKENFILE" else arg for arg in argv]
    environ = {
        name: value
        for name, value in os.environ.items()
        if name not in ("MLOPS_STORAGE_TOKEN", "MLOPS_STORAGE_TOKEN_FILE")
    }
    # A subprocess with a deadline: a server that starts anyway must not hang.
    proc = subprocess.run(
        [sys.executable, "-m", "mlops_cdc", "serve", "--root", str(tmp_path)]
        + ["--port", "0", *argv],
        env={**environ, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert (proc.returncode, proc.stdout) == (2, "")
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("mlops-cdc: error: ") and words in proc.stderr
    assert TOKEN not in proc.stderr
