from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from mlops_client.cli import format_table, main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_table(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--url", url, "datasets", "list")
    assert (code, err) == (0, "")
    assert out.splitlines() == ["NAME", "------", "events", "users"]


def test_list_json(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--url", url, "--json", "datasets", "list")
    assert code == 0
    assert json.loads(out) == {"datasets": ["events", "users"]}


def test_options_after_subcommand(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "datasets", "list", "--json", "--url", url)
    assert code == 0
    assert json.loads(out) == {"datasets": ["events", "users"]}


def test_url_from_environment(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_STORAGE_URL", url)
    code, out, _ = run(capsys, "--json", "datasets", "list")
    assert code == 0
    assert json.loads(out)["datasets"] == ["events", "users"]


def test_show_table(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--url", url, "datasets", "show", "events")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "id  label  score",
        "--  -----  -----",
        "3   c      0.5",
        "4   null   1.25",
        "(2 rows, events version 2)",
    ]


def test_show_version_table(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "--url", url, "datasets", "show", "events", "--version", "1"
    )
    assert code == 0
    assert out.splitlines()[-1] == "(2 rows, events version 1)"
    assert "score" not in out


def test_show_json(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--url", url, "datasets", "show", "users", "--json")
    assert code == 0
    assert json.loads(out) == {
        "name": "users",
        "version": 1,
        "rows": [{"name": "ann", "tags": ["x", "y"]}],
    }


def test_unknown_dataset(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--url", url, "datasets", "show", "nope")
    assert (code, out) == (3, "")
    assert err == "mlops: error: dataset not found: 'nope'\n"


def test_unknown_version(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        capsys, "--url", url, "datasets", "show", "events", "--version", "5"
    )
    assert code == 3
    assert "version 5" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("version", ["x", "0", "-1", "1.5", ""])
def test_bad_version_is_usage_error(
    url: str, capsys: pytest.CaptureFixture[str], version: str
) -> None:
    code, out, err = run(
        capsys, "--url", url, "datasets", "show", "events", "--version", version
    )
    assert (code, out) == (2, "")
    assert err == (
        f"mlops: error: argument --version: invalid value {version!r}: expected "
        "a positive integer (see mlops datasets show --help)\n"
    )


@pytest.mark.parametrize("timeout", ["-1", "nan", "0", "inf", "-inf", "soon", ""])
def test_bad_timeout_is_usage_error(
    url: str, capsys: pytest.CaptureFixture[str], timeout: str
) -> None:
    code, out, err = run(
        capsys, f"--timeout={timeout}", "--url", url, "datasets", "list"
    )
    assert (code, out) == (2, "")
    assert err == (
        f"mlops: error: argument --timeout: invalid value {timeout!r}: expected a "
        "positive number of seconds (see mlops --help)\n"
    )


def test_bad_timeout_after_the_command(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "--url", url, "datasets", "list", "--timeout", "-1")
    assert code == 2
    assert err.startswith("mlops: error: argument --timeout: invalid value '-1'")
    assert len(err.splitlines()) == 1


def test_small_timeout_is_fine(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--timeout", "0.5", "--url", url, "datasets", "list")
    assert code == 0 and "events" in out


def test_service_down(down_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--url", down_url, "datasets", "list")
    assert (code, out) == (6, "")
    assert err.startswith(f"mlops: error: storage service unavailable at {down_url}")
    assert len(err.splitlines()) == 1


def test_invalid_url(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--url", "localhost:8080", "datasets", "list")
    assert code == 2
    assert err == (
        "mlops: error: --url: invalid service URL 'localhost:8080': expected "
        "http(s)://host[:port]\n"
    )


def test_invalid_url_from_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLOPS_STORAGE_URL", "ftp://x")
    code, _, err = run(capsys, "datasets", "list")
    assert code == 2
    assert err.startswith("mlops: error: $MLOPS_STORAGE_URL: invalid service URL")


@pytest.mark.parametrize(
    "argv", [[], ["datasets"], ["datasets", "drop"], ["datasets", "show"], ["--bogus"]]
)
def test_usage_errors_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("mlops: error: ") and "--help)" in err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "datasets" in capsys.readouterr().out


def test_format_table_mixed_rows() -> None:
    table = format_table([{"a": 1, "b": "x\ny"}, {"c": True, "a": {"k": [1]}}])
    assert table.splitlines() == [
        "a          b     c",
        "---------  ----  ----",
        "1          x\\ny  null",
        '{"k":[1]}  null  true',
    ]


def test_console_script_subprocess(url: str) -> None:
    script = Path(sys.executable).parent / "mlops"
    assert script.exists(), f"console script not installed at {script}"
    proc = subprocess.run(
        [str(script), "--url", url, "--json", "datasets", "show", "events"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["version"] == 2

    proc = subprocess.run(
        [str(script), "--url", url, "datasets", "show", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (proc.returncode, proc.stdout) == (3, "")
    assert proc.stderr == "mlops: error: dataset not found: 'nope'\n"


def test_readme_says_where_the_cli_is() -> None:
    """`cargo xtask test client` installs the commands in the component's environment,
    target/venvs/client (xtask/src/python.rs); the README is where one looks."""
    component = Path(__file__).resolve().parents[1]
    readme = (component / "README.md").read_text(encoding="utf-8")
    project = tomllib.loads((component / "pyproject.toml").read_text("utf-8"))
    assert "cargo xtask test client" in readme
    for script in project["project"]["scripts"]:
        assert f"target/venvs/client/bin/{script}" in readme, script
