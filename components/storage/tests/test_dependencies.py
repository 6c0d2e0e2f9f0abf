"""No dependency floor admits a release with a known hole."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

COMPONENTS = Path(__file__).resolve().parents[2]
#: pyarrow 14.0.0 deserialises arbitrary Python objects from IPC and Parquet
#: files (CVE-2023-47248), and storage reads Parquet uploads.
PYARROW_FLOOR = (14, 0, 1)


def release(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def test_pyarrow_floor_excludes_cve_2023_47248() -> None:
    for component in ("storage", "spark"):
        project = tomllib.loads((COMPONENTS / component / "pyproject.toml").read_text())
        specs = [
            d for d in project["project"]["dependencies"] if d.startswith("pyarrow")
        ]
        assert len(specs) == 1, (component, specs)
        floor = re.fullmatch(r"pyarrow>=([0-9.]+)(,.*)?", specs[0].replace(" ", ""))
        assert floor, f"{component}: {specs[0]} has no >= floor"
        assert release(floor.group(1)) >= PYARROW_FLOOR, f"{component}: {specs[0]}"


def test_the_installed_pyarrow_is_past_the_floor() -> None:
    installed = re.match(r"[0-9.]+", version("pyarrow"))
    assert installed and release(installed.group(0).rstrip(".")) >= PYARROW_FLOOR
