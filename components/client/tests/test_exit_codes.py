"""The exit codes of `mlops`: one table, the README's, and the CLI keeps to it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from mlops_client import cli

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_table() -> dict[int, str]:
    """The README's "Exit codes" table: code -> its name (the words before ':')."""
    text = README.read_text(encoding="utf-8")
    section = text.split("### Exit codes", 1)[1].split("\n#", 1)[0]
    rows = re.findall(r"^\| (\d+) \| ([^|:]+?)(?::[^|]*)? \|$", section, re.M)
    assert rows, "no exit-code table under '### Exit codes' in the README"
    return {int(code): name for code, name in rows}


def test_the_readme_table_is_the_cli_table() -> None:
    assert readme_table() == cli.EXIT_CODES


def test_help_shows_the_same_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    listed = ", ".join(f"{code} {name}" for code, name in readme_table().items())
    assert f"exit codes: {listed}" in shown


def scenario(code: int, url: str, down_url: str, token: str, tmp: Path) -> list[str]:
    """A command line that must end with ``code``."""
    data = tmp / "d.csv"
    data.write_text("id\n1\n")
    put = ["--url", url, "--token-file", token, "datasets", "put"]
    return {
        0: ["--url", url, "datasets", "list"],
        1: [*put, "events", str(data)],  # drops the dataset's columns: 400
        2: ["--url", url, "datasets", "show", "events", "--version", "0"],
        3: ["--url", url, "datasets", "show", "nope"],
        4: ["--url", url, "datasets", "put", "d", str(data)],  # no token
        5: [*put, "d", str(data), "--expected-version", "3"],
        6: ["--url", down_url, "datasets", "list"],
    }[code]


@pytest.mark.parametrize("code", sorted(readme_table()))
def test_each_documented_code_is_what_the_cli_exits_with(
    code: int,
    url: str,
    down_url: str,
    token_file: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = scenario(code, url, down_url, token_file, tmp_path)
    assert cli.main(argv) == code
    err = capsys.readouterr().err
    if code == 0:
        assert err == ""
    else:
        assert err.startswith("mlops: error: ") and len(err.splitlines()) == 1
