"""A writer killed (SIGKILL) at any step of a commit loses no acknowledged version.

``crash_writer.py`` forks writers from one zygote process and kills each at
one step of a commit: every call of the file-system functions a commit makes,
before and after it, in turn, until a write ends before its step comes. After
each kill a fresh Store over the same root must read every version that was
acknowledged (a write that returned: the service's 201) with its rows, and the
latest version of every dataset; at the end each dataset takes a conditional
write and the service answers every dataset. Both commit paths: the hard link,
and the one for file systems without hard links.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import running
from crash_writer import table
from http_testing import request
from mlops_storage import Store

WRITER = Path(__file__).with_name("crash_writer.py")
DATASETS = ("alpha", "beta", "gamma")
#: No commit takes this many steps: the loop ends before, or the test fails.
MAX_STEPS = 200


class Zygote:
    """The crash writer's process: one order in, one answer out."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(WRITER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def run(self, **order: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(order) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, "the crash writer died"
        answer: dict[str, Any] = json.loads(line)
        return answer

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        assert self.proc.wait(timeout=30) == 0


@pytest.fixture
def zygote() -> Iterator[Zygote]:
    z = Zygote()
    try:
        yield z
    finally:
        if z.proc.poll() is None:
            z.proc.kill()
            z.proc.wait(timeout=30)


def acknowledged(acks: Path) -> dict[str, dict[int, int]]:
    """dataset -> version -> tag, for every write that returned."""
    found: dict[str, dict[int, int]] = {}
    if acks.exists():
        for line in acks.read_text().splitlines():
            name, version, tag = line.split()
            found.setdefault(name, {})[int(version)] = int(tag)
    return found


def check(root: Path, acks: Path, where: str) -> None:
    """Every acknowledged version reads back; every latest version reads."""
    store = Store(root)  # fresh: nothing remembered from before the crash
    for name, versions in acknowledged(acks).items():
        for version, tag in versions.items():
            got = store.read(name, version)
            assert got.equals(table(tag)), f"{where}: {name} v{version} changed"
        latest = store.latest(name)
        assert latest >= max(versions), f"{where}: {name} lost a version"
        store.read(name)  # the latest reads, whatever the crash left
        assert set(versions) <= set(store.versions(name)), where


@pytest.mark.parametrize("nolink", [False, True], ids=["link", "no-hard-links"])
def test_sigkill_at_every_step_of_a_commit_loses_no_acknowledged_version(
    tmp_path: Path, zygote: Zygote, nolink: bool
) -> None:
    root, acks = tmp_path / "store", tmp_path / "acks"
    tag, kills = 0, 0
    for step in range(MAX_STEPS):
        # The first three runs make their dataset: its first commit is crashed.
        name = DATASETS[step % len(DATASETS)]
        before = 0 if step < len(DATASETS) else 1
        answer = zygote.run(
            root=str(root),
            acks=str(acks),
            name=name,
            tag=tag,
            before=before,
            step=step,
            nolink=nolink,
        )
        tag += before + 1
        check(root, acks, f"killed at step {step}")
        if not answer["killed"]:
            assert answer["code"] == 0, f"the writer failed at step {step}"
            break
        kills += 1
    else:
        pytest.fail(f"a commit took more than {MAX_STEPS} steps")
    zygote.close()
    assert kills >= 10, f"only {kills} steps: the hooks did not see the commit"

    store = Store(root)
    for name in DATASETS:
        latest = store.latest(name)
        assert store.write(name, table(-1), expected_version=latest) == latest + 1
    with running(Store(root)) as url:
        for name in DATASETS:
            got = request(f"{url}/datasets/{name}")
            assert got.status == 200, got.body
            assert got.json()["version"] == store.latest(name)
