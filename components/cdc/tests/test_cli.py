from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cdc_testing import create, delete, jsonl, update
from mlops_cdc.cli import main
from mlops_storage import Store

CLI = [sys.executable, "-m", "mlops_cdc"]


def write_events(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_apply_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = str(tmp_path / "store")
    events = write_events(
        tmp_path / "events.jsonl",
        jsonl(create(1, id=1, name="ada"), update(2, id=1, name="ada l.")),
    )
    code = main(["apply", events, "--table", "users", "--root", root, "--create"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["applied"], printed["version"], printed["dead_letters"]) == (
        2,
        1,
        [],
    )
    assert Store(root).read("users").to_pylist() == [{"id": 1, "name": "ada l."}]

    # Replay: nothing new, still success.
    assert main(["apply", events, "--table", "users", "--root", root]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["applied"], printed["skipped"], printed["version"]) == (0, 2, None)


def test_apply_exits_1_on_dead_letters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = str(tmp_path / "store")
    events = write_events(
        tmp_path / "events.jsonl",
        jsonl(create(1, sku="a", qty=1), "{broken", delete(3, qty=1)),
    )
    argv = ["apply", events, "--table", "stock", "--key", "sku", "--root", root]
    code = main([*argv, "--create"])
    assert code == 1
    printed = json.loads(capsys.readouterr().out)
    assert printed["applied"] == 1
    assert [d["line"] for d in printed["dead_letters"]] == [2, 3]
    assert Store(root).read("stock").to_pylist() == [{"sku": "a", "qty": 1}]


def test_apply_errors_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = str(tmp_path / "store")
    Path(root).mkdir()
    code = main(
        ["apply", str(tmp_path / "missing.jsonl"), "--table", "t", "--root", root]
    )
    assert code == 2
    assert "mlops-cdc: error:" in capsys.readouterr().err

    events = write_events(tmp_path / "e.jsonl", jsonl(create(1, id=1)))
    assert main(["apply", events, "--table", "bad/name", "--root", root]) == 2
    assert "invalid table name" in capsys.readouterr().err

    with pytest.raises(SystemExit) as exc:
        main(["apply", events])
    assert exc.value.code == 2


def test_apply_from_stdin_as_a_subprocess(tmp_path: Path) -> None:
    root = tmp_path / "store"
    proc = subprocess.run(
        [*CLI, "apply", "-", "--table", "users", "--root", str(root), "--create"],
        input=jsonl(create(1, id=1, name="ada")).encode(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert json.loads(proc.stdout)["version"] == 1


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "mlops-cdc"
    assert script.exists()
    proc = subprocess.run(
        [str(script), "--help"], capture_output=True, timeout=60, check=False
    )
    assert proc.returncode == 0
    assert b"serve" in proc.stdout and b"apply" in proc.stdout


def test_serve_end_to_end(tmp_path: Path) -> None:
    root = tmp_path / "store"
    token = tmp_path / "token"
    token.write_text("e2e-token\n")  # as the Secret storage-token is mounted
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_STORAGE_")}
    env.update(MLOPS_STORAGE_TOKEN_FILE=str(token), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [*CLI, "serve", "--host", "127.0.0.1", "--port", "0", "--root", str(root)]
        + ["--create"],
        stdout=subprocess.DEVNULL,
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

    threading.Thread(target=pump, daemon=True).start()
    try:
        deadline = time.monotonic() + 30
        url = None
        while url is None and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.1)
            except queue.Empty:
                assert proc.poll() is None, "server exited early"
                continue
            match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
            url = match.group(1) if match else None
        assert url is not None, "server did not report its address"

        with urllib.request.urlopen(f"{url}/healthz", timeout=10) as response:
            assert response.status == 200
        body = jsonl(create(1, id=1, name="ada"), create(2, id=2, name="bob")).encode()
        post = urllib.request.Request(
            f"{url}/events?table=users", data=body, method="POST"
        )
        # What a release manager hit: this wrote a version without any token.
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(post, timeout=10)
        assert refused.value.code == 401
        refused.value.close()
        assert not (root / "users").exists()

        post.add_header("Authorization", "Bearer e2e-token")
        with urllib.request.urlopen(post, timeout=10) as response:
            result = json.load(response)
        assert (result["applied"], result["version"]) == (2, 1)
        assert Store(root).read("users").num_rows == 2
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0


@pytest.mark.parametrize("command", ["apply", "replay"])
def test_missing_root_is_refused_without_create(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """The rule of `mlops-storage serve`: a typo in --root must not start a store."""
    missing = tmp_path / "no" / "such" / "root"
    events = write_events(tmp_path / "e.jsonl", jsonl(create(1, id=1)))
    argv = [command, events, "--table", "users", "--root", str(missing)]
    assert main(argv) == 2
    assert capsys.readouterr().err == (
        f"mlops-cdc: error: store root {missing} does not exist (--root); "
        "create it or pass --create\n"
    )
    assert not missing.exists()


def test_serve_refuses_a_missing_root(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "root"
    proc = subprocess.run(
        [*CLI, "serve", "--port", "0", "--root", str(missing)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr == (
        f"mlops-cdc: error: store root {missing} does not exist (--root); "
        "create it or pass --create\n"
    )
    assert not missing.exists()


def test_missing_default_root_names_the_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "typo"
    monkeypatch.setenv("MLOPS_STORAGE_ROOT", str(missing))
    events = write_events(tmp_path / "e.jsonl", jsonl(create(1, id=1)))
    assert main(["apply", events, "--table", "users"]) == 2
    err = capsys.readouterr().err
    assert "does not exist ($MLOPS_STORAGE_ROOT" in err and len(err.splitlines()) == 1
    assert not missing.exists()


def test_create_makes_the_root(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "new" / "root"
    events = write_events(tmp_path / "e.jsonl", jsonl(create(1, id=1)))
    assert (
        main(["apply", events, "--table", "users", "--root", str(root), "--create"])
        == 0
    )
    assert capsys.readouterr().err == f"mlops-cdc: created store root {root}\n"
    assert Store(root).read("users").to_pylist() == [{"id": 1}]


def test_root_that_is_a_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_events(tmp_path / "file", "")
    assert main(["apply", path, "--table", "t", "--root", path, "--create"]) == 2
    err = capsys.readouterr().err
    assert err == f"mlops-cdc: error: store root {path} is not a directory\n"


def test_readme_says_where_the_cli_is() -> None:
    """`cargo xtask test cdc` installs the commands in the component's environment,
    target/venvs/cdc (xtask/src/python.rs); the README is where one looks."""
    component = Path(__file__).resolve().parents[1]
    readme = (component / "README.md").read_text(encoding="utf-8")
    project = tomllib.loads((component / "pyproject.toml").read_text("utf-8"))
    assert "cargo xtask test cdc" in readme
    for script in project["project"]["scripts"]:
        assert f"target/venvs/cdc/bin/{script}" in readme, script
