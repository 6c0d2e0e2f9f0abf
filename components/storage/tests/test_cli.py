from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import tomllib
import urllib.request
from pathlib import Path

import pyarrow as pa
import pytest
from mlops_storage import Store
from mlops_storage.cli import build_parser, main


def test_console_script_help(storage_script: str) -> None:
    proc = subprocess.run(
        [storage_script, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0
    assert "serve" in proc.stdout


def test_serve_help_lists_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["serve", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for option in ("--root", "--host", "--port", "MLOPS_STORAGE_ROOT"):
        assert option in out


def test_defaults() -> None:
    args = build_parser().parse_args(["serve"])
    assert (args.root, args.host, args.port) == (None, "127.0.0.1", 8080)


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in ([], ["bogus"], ["serve", "--port", "http"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2


def test_serve_subprocess_until_sigterm(tmp_path: Path, storage_script: str) -> None:
    Store(tmp_path).write("ds", pa.table({"x": [1]}))
    proc = subprocess.Popen(
        [
            storage_script,
            "serve",
            "--root",
            str(tmp_path),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        assert match, line
        url = f"http://127.0.0.1:{match.group(1)}"
        with urllib.request.urlopen(f"{url}/datasets", timeout=10) as response:
            assert json.load(response) == {"datasets": ["ds"]}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


def test_bind_failure_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = ["serve", "--root", str(tmp_path), "--host", "127.0.0.1"]
        assert main([*argv, "--port", str(port)]) == 1
    assert "cannot bind" in capsys.readouterr().err


def test_missing_root_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no" / "such" / "dir"
    assert main(["serve", "--root", str(missing), "--port", "0"]) == 2
    assert capsys.readouterr().err == (
        f"mlops-storage: error: store root {missing} does not exist (--root); "
        "create it or pass --create\n"
    )
    assert not missing.exists()


def test_root_that_is_a_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "file"
    path.write_text("")
    assert main(["serve", "--root", str(path), "--create"]) == 2
    assert "is not a directory" in capsys.readouterr().err


def test_create_makes_the_root(tmp_path: Path, storage_script: str) -> None:
    root = tmp_path / "new" / "root"
    proc = subprocess.Popen(
        [storage_script, "serve", "--root", str(root), "--create", "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        assert proc.stderr.readline() == f"mlops-storage: created store root {root}\n"
        assert root.is_dir()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


def test_readme_says_where_the_cli_is() -> None:
    """`cargo xtask test storage` installs the commands in the component's environment,
    target/venvs/storage (xtask/src/python.rs); the README is where one looks."""
    component = Path(__file__).resolve().parents[1]
    readme = (component / "README.md").read_text(encoding="utf-8")
    project = tomllib.loads((component / "pyproject.toml").read_text("utf-8"))
    assert "cargo xtask test storage" in readme
    for script in project["project"]["scripts"]:
        assert f"target/venvs/storage/bin/{script}" in readme, script
