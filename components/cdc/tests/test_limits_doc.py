"""The README's "Limits and errors" names every limit with its real default."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from mlops_cdc import Limits
from mlops_cdc.cli import build_parser

README = Path(__file__).resolve().parents[1] / "README.md"
MIB = 1024 * 1024


def shown(name: str, value: float) -> str:
    """A default as the README writes it."""
    if name in ("max_body", "max_line_bytes"):
        return f"{value // MIB:g} MiB"
    if name.endswith("_timeout"):
        return f"{value:g} s"
    if isinstance(value, int) and value > 2**20 and value & (value - 1) == 0:
        return f"2^{value.bit_length() - 1}"
    return f"{value:,}"


def table_rows() -> dict[str, str]:
    """The rows of the limits table, by flag."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Limits and errors", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        if line.startswith("| `--"):
            flag = line.split("`")[1]
            rows[flag] = line
    return rows


def test_every_limit_flag_is_in_the_table_with_its_default() -> None:
    rows = table_rows()
    # Every option of `serve` (the one command with all limits), by its name.
    options = vars(build_parser().parse_args(["serve"]))
    defaults = Limits()
    documented = set()
    for field in fields(Limits):
        flag = "--" + field.name.replace("_", "-")
        if field.name not in options:
            continue  # not a flag: the README says it in prose (below)
        documented.add(flag)
        assert flag in rows, f"README's limits table misses {flag}"
        value = getattr(defaults, field.name)
        assert f"| {shown(field.name, value)}" in rows[flag], (flag, rows[flag])
    assert set(rows) == documented, "the table names a flag that is not a limit"


def test_the_answer_bound_is_said() -> None:
    text = README.read_text(encoding="utf-8")
    assert f"lists at most {Limits().max_answer_dead_letters:,}" in text
